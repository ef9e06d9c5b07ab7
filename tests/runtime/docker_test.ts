/**
 * The Compose side of `up` without an engine: which files Compose v1 reads
 * (a copy without the top-level `name:` it refuses, read from the output
 * folder), and how a container's state is judged while `up` waits.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { composeArgs, type DockerTarget, judgeContainer } from "../../runtime/docker.ts";
import type { ContainerSummary } from "../../runtime/docker_api.ts";
import { build } from "../../compiler/compile.ts";
import { referenceSpec, TEST_SECRETS, withTempDir } from "../helpers/build.ts";

const v1: DockerTarget = {
  dockerHost: "unix:///x.sock",
  compose: ["docker-compose"],
  composeVersion: 1,
};
const v2: DockerTarget = {
  dockerHost: "unix:///x.sock",
  compose: ["docker", "compose"],
  composeVersion: 2,
};

Deno.test("compose: v1 reads copies without name:, from the output folder", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "out");
    await build(referenceSpec(), { outDir: out, env: { ...TEST_SECRETS }, profile: "production" });
    assert.deepEqual(await composeArgs(v2, out, "production", "procos"), [
      "-p",
      "procos",
      "-f",
      join(out, "compose.yaml"),
      "-f",
      join(out, "compose.production.yaml"),
      "--profile",
      "production",
    ]);
    const args = await composeArgs(v1, out, "production", "procos");
    assert.deepEqual(args.slice(0, 4), ["-p", "procos", "--project-directory", out]);
    assert.deepEqual(args.slice(-2), ["--profile", "production"]);
    const files = args.filter((_, i) => args[i - 1] === "-f");
    assert.equal(files.length, 2);
    for (const f of files) {
      assert.ok(f.startsWith(join(out, "runtime", "compose-v1")), f);
      const doc = parse(await Deno.readTextFile(f)) as Record<string, unknown>;
      assert.equal(doc.name, undefined, `${f} has no top-level name`);
      assert.ok(doc.services, `${f} keeps its services`);
    }
    // the copy differs from the original only by the name and the builds
    type Port = { host_ip?: string; published: number; target: number };
    type Doc = { name?: string; services: Record<string, { build?: unknown; ports?: unknown[] }> };
    const original = parse(await Deno.readTextFile(join(out, "compose.yaml"))) as Doc;
    const copy = parse(await Deno.readTextFile(files[0])) as Doc;
    delete original.name;
    for (const s of Object.values(original.services)) {
      delete s.build;
      // v1's long port syntax has no host_ip: the short one carries it
      if (s.ports) {
        s.ports = (s.ports as Port[]).map((p) =>
          `${p.host_ip ? `${p.host_ip}:` : ""}${p.published}:${p.target}`
        );
      }
    }
    assert.deepEqual(copy, original);
    assert.ok(
      (copy.services.postgres.ports as string[]).every((p) => p.startsWith("127.0.0.1:")),
      "production binds postgres to 127.0.0.1",
    );
  });
});

Deno.test("compose: how up judges a container while it waits", () => {
  const c = (over: Partial<ContainerSummary>): ContainerSummary => ({
    id: "1",
    name: "procos_x_1",
    service: "x",
    status: "running",
    restarting: false,
    exitCode: 0,
    health: "healthy",
    oneShot: false,
    addresses: {},
    ...over,
  });
  assert.equal(judgeContainer(c({})), "ready");
  assert.equal(judgeContainer(c({ health: "starting" })), "waiting");
  assert.equal(judgeContainer(c({ health: "unhealthy" })), "failed");
  assert.equal(judgeContainer(c({ health: undefined })), "ready");
  assert.equal(judgeContainer(c({ status: "exited", exitCode: 1, health: undefined })), "failed");
  assert.equal(judgeContainer(c({ status: "restarting", restarting: true })), "waiting");
  // a job: done when it exited 0, failed on any other code, waiting while it runs
  const job = { oneShot: true, health: undefined };
  assert.equal(judgeContainer(c({ ...job, status: "exited", exitCode: 0 })), "ready");
  assert.equal(judgeContainer(c({ ...job, status: "exited", exitCode: 3 })), "failed");
  assert.equal(judgeContainer(c({ ...job, status: "running" })), "waiting");
});

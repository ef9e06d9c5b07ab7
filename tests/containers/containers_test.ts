/**
 * The containers domain against a real engine: podman 4.3 and its Docker API
 * (tools/podman-setup.sh), no Docker needed.
 *
 * The reference spec's model is changed so nothing collides with this
 * machine (project `procosct<rand>`, network `<project>-net`, Redis published
 * on a free port), compiled, and its Compose file reduced to the Redis service
 * (and, for Compose v1, without the top-level `name:`). Debian's
 * `docker-compose` 1.29 starts it on the podman socket, with the compose
 * labels, limits, restart policy, network, named volume, port and health
 * check of the generated file; the image is a stand-in for `redis:7-alpine`
 * built from Debian's package (tests/fixtures/containers/redis). Then every
 * container check of the service must pass, and each fault (another memory
 * limit, another restart policy, another network, stopped) must fail exactly
 * its own check.
 *
 * Everything the test creates is removed in `finally` (containers, networks,
 * volumes, the API service and the health-check loop it started); the images
 * stay cached in /var/tmp/procos-podman (PROCOS_PODMAN_DIR).
 *
 * Skipped only with PROCOS_SKIP_CONTAINERS=1. When podman cannot run
 * containers here the test fails with podman's error.
 *
 * @module
 */
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { expect } from "expect";
import { emitAll } from "../../compiler/compile.ts";
import type { StackModel } from "../../compiler/model.ts";
import type { Result } from "../../verify/check.ts";
import { containersChecks } from "../../verify/checks/containers.ts";
import { DockerClient } from "../../verify/clients/docker.ts";
import { REPO_ROOT } from "../helpers/build.ts";
import { contextFor, freePort, referenceModel, runAll } from "../verify/helpers.ts";

const SKIP = Deno.env.get("PROCOS_SKIP_CONTAINERS") === "1";
const SETUP = join(REPO_ROOT, "tools", "podman-setup.sh");
const FIXTURE = join(REPO_ROOT, "tests", "fixtures", "containers", "redis");

/** What a command printed and how it ended. */
interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (no stdin), killed after `timeoutMs`. */
async function sh(
  cmd: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<Ran> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), opts.timeoutMs ?? 120_000);
  try {
    const out = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      env: opts.env,
      cwd: opts.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    }).output();
    const dec = new TextDecoder();
    return {
      code: ac.signal.aborted ? 124 : out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr) +
        (ac.signal.aborted ? `\n(killed after ${opts.timeoutMs ?? 120_000} ms)` : ""),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** The last lines of a command's output, for an error message. */
function tail(r: Ran, lines = 25): string {
  return `${r.stdout}\n${r.stderr}`.trim().split("\n").slice(-lines).join("\n");
}

/** Runs a command and throws with its output unless it succeeds. */
async function must(what: string, cmd: string[], opts: Parameters<typeof sh>[1] = {}) {
  const r = await sh(cmd, opts);
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${tail(r)}`);
  return r;
}

/** The fully qualified name of an image reference (`redis:7` → `docker.io/library/redis:7`). */
function qualified(image: string): string {
  const first = image.split("/")[0];
  if (
    image.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")
  ) {
    return image;
  }
  return image.includes("/") ? `docker.io/${image}` : `docker.io/library/${image}`;
}

async function sleep(ms: number) {
  await new Promise((r) => setTimeout(r, ms));
}

function describe(results: Map<string, Result>): string {
  return [...results].sort(([a], [b]) => a.localeCompare(b)).map(([id, r]) =>
    r.status === "fail"
      ? `  ${id}: FAIL\n      expected: ${r.expected}\n      actual  : ${r.actual}`
      : r.status === "skip"
      ? `  ${id}: skip (${r.reason})`
      : `  ${id}: pass${r.detail ? ` (${r.detail})` : ""}`
  ).join("\n");
}

Deno.test({
  name: "containers: a compose-started Redis on podman is all green; " +
    "memory, restart, network and stop faults each fail exactly their check",
  ignore: SKIP,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const rand = crypto.randomUUID().replaceAll("-", "").slice(0, 8);
    const project = `procosct${rand}`;
    const network = `${project}-net`;
    const otherNetwork = `${project}-other`;
    const runDir = await Deno.makeTempDir({ prefix: "procos-podman-run-" });
    const outDir = await Deno.makeTempDir({ prefix: "procos-containers-out-" });
    const baseFile = join(outDir, "compose.v1.yaml");
    let podmanEnv: Record<string, string> | undefined;
    let client: DockerClient | undefined;

    const composeEnv = () => ({ ...Deno.env.toObject(), ...podmanEnv! });
    const compose = (file: string, ...args: string[]) =>
      must(`docker-compose ${args.join(" ")}`, [
        "docker-compose",
        "--no-ansi",
        "-p",
        project,
        "-f",
        file,
        ...args,
      ], { env: composeEnv(), cwd: outDir, timeoutMs: 180_000 });

    try {
      // 1. podman, its API service and the health-check loop, in a run folder of ours.
      let started = performance.now();
      const setup = await sh(["bash", SETUP, "up"], {
        env: { ...Deno.env.toObject(), PROCOS_PODMAN_RUN: runDir },
        timeoutMs: 15 * 60_000,
      });
      const setupSeconds = (performance.now() - started) / 1000;
      if (setup.code !== 0) {
        throw new Error(
          `podman cannot run containers here: tools/podman-setup.sh failed ` +
            `(exit ${setup.code}) after ${setupSeconds.toFixed(0)} s:\n${tail(setup)}`,
        );
      }
      podmanEnv = Object.fromEntries(
        setup.stdout.split("\n").map((l) => /^([A-Z_]+)=(.*)$/.exec(l.trim()))
          .filter((m): m is RegExpExecArray => m !== null).map((m) => [m[1], m[2]]),
      );
      expect(podmanEnv.DOCKER_HOST).toBe(`unix://${runDir}/podman.sock`);
      console.log(`podman set-up: ${setupSeconds.toFixed(1)} s`);
      client = new DockerClient({ dockerHost: podmanEnv.DOCKER_HOST });

      // 2. The model: only Redis, under names of its own, on a free port.
      const full = await referenceModel();
      const redis = full.services.find((s) => s.name === full.redis.service)!;
      const port = freePort();
      redis.ports = [{ target: 6379, published: port }];
      expect(redis.resources).toBeDefined();
      expect(redis.volumes.some((v) => !v.source.startsWith("."))).toBe(true);
      const model: StackModel = {
        ...full,
        project,
        network: { ...full.network, name: network },
      };
      const image = qualified(redis.image);

      // 3. The image, a stand-in for the official one (layers cached after the first build).
      started = performance.now();
      await must(`podman build of ${image}`, [
        "podman",
        "build",
        "-q",
        "-t",
        image,
        "-f",
        join(FIXTURE, "Containerfile"),
        FIXTURE,
      ], { env: composeEnv(), timeoutMs: 600_000 });
      console.log(`image ${image}: ${((performance.now() - started) / 1000).toFixed(1)} s`);

      // 4. The generated files, and the Compose file reduced to Redis for Compose v1.
      for (const a of emitAll(model)) {
        const path = join(outDir, a.path);
        await Deno.mkdir(join(path, ".."), { recursive: true });
        await Deno.writeTextFile(path, a.content, { mode: a.mode ?? 0o644 });
      }
      const doc = parse(await Deno.readTextFile(join(outDir, "compose.yaml")));
      expect(doc.name).toBe(project);
      delete doc.name; // Compose v1 rejects it; -p gives the project instead
      const service = doc.services[redis.name];
      doc.services = { [redis.name]: service };
      const used = new Set(
        (service.volumes as string[]).map((v) => v.split(":")[0]).filter((v) => !v.startsWith(".")),
      );
      doc.volumes = Object.fromEntries(
        Object.entries(doc.volumes ?? {}).filter(([k]) => used.has(k)),
      );
      await Deno.writeTextFile(baseFile, stringify(doc));
      /** A copy of the reduced file with `change` applied to the Redis service. */
      const variant = async (
        name: string,
        change: (svc: Record<string, unknown>, d: typeof doc) => void,
      ) => {
        const d = structuredClone(doc);
        change(d.services[redis.name], d);
        const file = join(outDir, `compose.v1.${name}.yaml`);
        await Deno.writeTextFile(file, stringify(d));
        return file;
      };

      // 5. The checks of Redis only.
      const checkModel: StackModel = { ...model, services: [redis] };
      const checks = containersChecks(checkModel, undefined, { client });
      const ctx = await contextFor(checkModel, {}, { outDir });
      const ids = checks.map((c) => c.id).sort();
      const id = (k: string) => `containers.${redis.name}.${k}`;
      expect(ids).toEqual(
        [
          "running",
          "healthy",
          "memory",
          "cpus",
          "restart",
          "network",
          ...redis.volumes.filter((v) => !v.source.startsWith(".")).map((v) =>
            `volume.${v.source}`
          ),
          `port.${port}`,
        ].map(id).sort(),
      );

      const container = async () => (await client!.composeContainers(project, redis.name))[0];
      const waitFor = async (what: string, ok: () => Promise<boolean>, ms = 120_000) => {
        const end = Date.now() + ms;
        while (Date.now() < end) {
          if (await ok()) return;
          await sleep(1_000);
        }
        const c = await container();
        throw new Error(
          `${what}: not within ${ms / 1000} s; state ${JSON.stringify(c?.State ?? "no container")}`,
        );
      };
      const healthy = () =>
        waitFor("Redis healthy", async () => {
          const c = await container();
          return c?.State?.Running === true && c.State.Health?.Status === "healthy";
        });
      /** Runs every check; asserts that exactly `failing` fail and the rest pass (or `skipped` skip). */
      const expectExactly = async (failing: string[], skipped: string[] = []) => {
        const results = await runAll(checks, ctx);
        const fails = [...results].filter(([, r]) => r.status === "fail").map(([i]) => i).sort();
        const skips = [...results].filter(([, r]) => r.status === "skip").map(([i]) => i).sort();
        const msg = `expected failing [${failing.join(", ")}], skipped [${skipped.join(", ")}]:\n` +
          describe(results);
        if (
          JSON.stringify(fails) !== JSON.stringify([...failing].sort()) ||
          JSON.stringify(skips) !== JSON.stringify([...skipped].sort())
        ) {
          throw new Error(msg);
        }
        for (const f of failing) {
          const r = results.get(f)!;
          if (r.status === "fail") {
            expect(r.expected.length).toBeGreaterThan(0);
            expect(r.actual.length).toBeGreaterThan(0);
            expect(r.hint ?? "").not.toBe("");
          }
        }
        return results;
      };

      // 6. Up through Compose v1 on the podman socket.
      started = performance.now();
      await compose(baseFile, "up", "-d");
      await healthy();
      console.log(
        `compose up until healthy: ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );

      await t.step("compose-started container: every check passes", async () => {
        const results = await expectExactly([]);
        const c = await container();
        expect(c.HostConfig?.Memory).toBeGreaterThan(0);
        // the published port answers
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conn.close();
        expect(results.get(id("running"))!.status).toBe("pass");
      });

      await t.step("another memory limit: only the memory check fails", async () => {
        const file = await variant("memory", (svc) => {
          const limits =
            (svc.deploy as { resources: { limits: { memory: string } } }).resources.limits;
          limits.memory = limits.memory === "256m" ? "128m" : "256m";
        });
        await compose(file, "up", "-d");
        await healthy();
        const r = (await expectExactly([id("memory")])).get(id("memory"))!;
        if (r.status === "fail") expect(r.actual).toContain("268435456");
      });

      await t.step("another restart policy: only the restart check fails", async () => {
        const other = redis.restart === "always" ? "unless-stopped" : "always";
        const file = await variant("restart", (svc) => {
          svc.restart = other;
        });
        await compose(file, "up", "-d");
        await healthy();
        const r = (await expectExactly([id("restart")])).get(id("restart"))!;
        if (r.status === "fail") expect(r.actual).toContain(other);
      });

      await t.step("not on the spec's network: only the network check fails", async () => {
        const file = await variant("network", (svc, d) => {
          svc.networks = ["other"];
          d.networks = { other: { name: otherNetwork, driver: "bridge" } };
        });
        await compose(file, "up", "-d");
        await healthy();
        const r = (await expectExactly([id("network")])).get(id("network"))!;
        if (r.status === "fail") expect(r.actual).toContain(otherNetwork);
      });

      await t.step("stopped: only the running check fails (healthy is skipped)", async () => {
        await compose(baseFile, "up", "-d");
        await healthy();
        await expectExactly([]);
        await compose(baseFile, "stop", "-t", "5");
        await waitFor("Redis stopped", async () => (await container())?.State?.Running === false);
        await expectExactly([id("running")], [id("healthy")]);
      });
    } finally {
      const problems: string[] = [];
      const attempt = async (what: string, fn: () => Promise<unknown>) => {
        try {
          await fn();
        } catch (e) {
          problems.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
        }
      };
      if (podmanEnv && client) {
        const docker = await client.raw();
        await attempt("compose down", async () => {
          if (await Deno.stat(baseFile).then(() => true, () => false)) {
            await sh([
              "docker-compose",
              "--no-ansi",
              "-p",
              project,
              "-f",
              baseFile,
              "down",
              "-v",
              "-t",
              "5",
            ], {
              env: composeEnv(),
              cwd: outDir,
              timeoutMs: 120_000,
            });
          }
        });
        await attempt("containers", async () => {
          for (
            const c of await docker.listContainers({
              all: true,
              filters: { label: [`com.docker.compose.project=${project}`] },
            })
          ) {
            await docker.getContainer(c.Id).remove({ force: true, v: true });
          }
        });
        for (const n of [network, otherNetwork]) {
          await attempt(`network ${n}`, async () => {
            const nets = await docker.listNetworks();
            if (nets.some((x: { Name: string }) => x.Name === n)) {
              await docker.getNetwork(n).remove();
            }
          });
        }
        await attempt("volumes", async () => {
          const { Volumes } = await docker.listVolumes();
          for (const v of (Volumes ?? []) as { Name: string }[]) {
            if (v.Name.startsWith(`${project}_`)) await docker.getVolume(v.Name).remove();
          }
        });
      }
      await attempt(
        "podman service and health loop",
        () =>
          must("podman-setup.sh down", ["bash", SETUP, "down"], {
            env: { ...Deno.env.toObject(), PROCOS_PODMAN_RUN: runDir },
          }),
      );
      await attempt("temporary folders", async () => {
        await Deno.remove(runDir, { recursive: true });
        await Deno.remove(outDir, { recursive: true });
      });
      if (problems.length > 0) {
        console.error(`containers test clean-up:\n  ${problems.join("\n  ")}`);
      }
    }
  },
});

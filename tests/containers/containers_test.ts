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
 * check of the generated file; the image is the stand-in for `redis:7-alpine`
 * built from Debian's package (tests/images/redis, `deno task images`). Then every
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
import { ensureImage, formatResult, IMAGES } from "../../runtime/images.ts";
import { contextFor, freePort, referenceModel, runAll } from "../verify/helpers.ts";
import { must, podmanDown, podmanUp, qualified, sh, sleep } from "./podman.ts";

const SKIP = Deno.env.get("PROCOS_SKIP_CONTAINERS") === "1";
const REDIS_IMAGE = IMAGES.find((i) => i.name === "redis")!;

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
      podmanEnv = await podmanUp(runDir);
      expect(podmanEnv.DOCKER_HOST).toBe(`unix://${runDir}/podman.sock`);
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

      // 3. The image, the redis stand-in (tests/images/redis; built once by deno task images).
      expect(REDIS_IMAGE.tags).toContain(image);
      console.log(formatResult(await ensureImage(REDIS_IMAGE, composeEnv())));

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
      const started = performance.now();
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
      await attempt("podman service and health loop", () => podmanDown(runDir));
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

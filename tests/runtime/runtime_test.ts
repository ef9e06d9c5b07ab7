/**
 * The local runtime's pieces: dependency order with health gating, idempotent
 * `up`, `down` stopping only its own pids, a failed start naming the service
 * with its log tail, and Redis settings restored exactly by `down --purge`.
 *
 * Runs against this machine's PostgreSQL, RabbitMQ and Redis with unique
 * names (`procos_t_<rand>`); Ollama, Camunda and the workers are small fakes
 * (a fake `ollama` binary on PATH, an in-process Camunda endpoint, fake
 * `workers/<kind>/main.ts` under a temporary root), so the whole chain
 * postgres → ... → kernel → ai-worker is exercised without the real ones.
 *
 * @module
 */
import { expect } from "expect";
import { join } from "node:path";
import { build } from "../../compiler/compile.ts";
import { loadSpec } from "../../compiler/load_spec.ts";
import { buildModel } from "../../compiler/model.ts";
import { RuntimeError } from "../../runtime/errors.ts";
import { gateTimings, waitHealthy } from "../../runtime/health.ts";
import { localDown, localUp, selectServices } from "../../runtime/local.ts";
import { isRunning, procStat, spawnLogged, stopProcess } from "../../runtime/procs.ts";
import {
  parseRedisConf,
  provisionRedis,
  purgeRedis,
  redisSettings,
  scrub,
} from "../../runtime/provision.ts";
import { readState, writeState } from "../../runtime/state.ts";
import { freePort, makeStackSpec } from "../fixtures/stack/make_spec.ts";
import {
  killLeftovers,
  pgState,
  rabbitState,
  redisSnapshot,
  runDeno,
} from "../fixtures/stack/machine.ts";

const quiet = () => {};

// ------------------------------------------------------------------ pure pieces

Deno.test("runtime: selectServices adds dependencies, keeps model order, refuses unknown names", async () => {
  const spec = await makeStackSpec();
  try {
    const model = buildModel(await loadSpec(spec.config, { profile: "development" }), {
      addressing: "host",
    });
    const names = (xs: { name: string }[]) => xs.map((s) => s.name);
    expect(names(selectServices(model, ["camunda"]))).toEqual(["postgres", "redis", "camunda"]);
    expect(names(selectServices(model, ["ai-worker"]))).toEqual(
      ["ollama", "postgres", "redis", "camunda", "kernel", "ai-worker"],
    );
    expect(names(selectServices(model))).toEqual(names(model.services));
    expect(() => selectServices(model, ["camunda", "nope"])).toThrow(/unknown service nope/);
    // host addressing: published ports on 127.0.0.1, in every URL and env value
    expect(model.camunda).toMatchObject({ host: "127.0.0.1", port: spec.camundaPort });
    const ca = model.services.find((s) => s.name === "camunda")!;
    expect(ca.env.DB_URL).toBe(`jdbc:postgresql://127.0.0.1:5432/${spec.name}`);
    expect(ca.env.SERVER_PORT).toBe(String(spec.camundaPort));
    const kernel = model.services.find((s) => s.name === "kernel")!;
    expect(kernel.env.OLLAMA_BASE_URL).toBe(`http://127.0.0.1:${spec.ollamaPort}`);
    expect(kernel.env.CAMUNDA_BASE_URL).toBe(`http://127.0.0.1:${spec.camundaPort}/engine-rest`);
    // the default stays compose addressing
    const compose = buildModel(await loadSpec(spec.config, { profile: "development" }));
    expect(compose.camunda).toMatchObject({ host: "camunda", port: 8080 });
    expect(compose.services.find((s) => s.name === "camunda")!.env.SERVER_PORT).toBeUndefined();
  } finally {
    await spec.remove();
  }
});

Deno.test("runtime: the health gate follows start_period and retries, and stops at an exit", async () => {
  const timings = { startPeriodMs: 300, intervalMs: 50, timeoutMs: 500, retries: 3 };
  // failures during the start period do not count: healthy on the 6th probe
  let n = 0;
  const ms = await waitHealthy("x", () => Promise.resolve({ ok: ++n >= 6, detail: `probe ${n}` }), {
    timings,
  });
  expect(n).toBe(6);
  expect(ms).toBeGreaterThanOrEqual(250);
  // after the start period, `retries` failures in a row: unhealthy, with the last probe's detail
  await expect(
    waitHealthy("svc", () => Promise.resolve({ ok: false, detail: "nope" }), { timings }),
  ).rejects.toThrow(/svc: not healthy after .*3 failed checks\): nope/);
  // a process that exits fails the gate at once
  const t0 = Date.now();
  await expect(
    waitHealthy("svc", () => Promise.resolve({ ok: false, detail: "" }), {
      timings: { ...timings, startPeriodMs: 60_000 },
      exited: new Promise((r) => setTimeout(() => r(3), 100)),
    }),
  ).rejects.toThrow("svc: exited with code 3 before it was healthy");
  expect(Date.now() - t0).toBeLessThan(5000);
  // the spec's timings are capped for a local run
  expect(
    gateTimings({ test: [], interval: "30s", timeout: "10s", retries: 5, start_period: "90s" }),
  )
    .toEqual({ startPeriodMs: 90_000, intervalMs: 2000, timeoutMs: 10_000, retries: 5 });
});

Deno.test("runtime: redis.conf parsing and the settings applied; secrets scrubbed", () => {
  const conf = parseRedisConf(
    '# c\nbind 0.0.0.0\nsave ""\nappendonly yes\nappendfsync everysec\nmaxmemory 402653184\nmaxmemory-policy allkeys-lru\ndir /data\n',
  );
  expect(conf.save).toBe("");
  const model = { redis: { auth: true, password: "pw" } } as Parameters<typeof redisSettings>[1];
  expect(redisSettings(conf, model)).toEqual({
    "maxmemory-policy": "allkeys-lru",
    maxmemory: "402653184",
    appendonly: "yes",
    appendfsync: "everysec",
    save: "",
    requirepass: "pw",
  });
  expect(parseRedisConf("save 900 1\nsave 300 10\n").save).toBe("900 1 300 10");
  expect(scrub("LINE 1: ALTER ROLE x PASSWORD 's3cret'", ["s3cret"])).toBe(
    "LINE 1: ALTER ROLE x PASSWORD '***'",
  );
});

// ------------------------------------------------------------------ Redis restore

Deno.test("runtime: Redis settings are recorded once and restored exactly", async () => {
  const before = await redisSnapshot();
  const spec = await makeStackSpec();
  const out = join(spec.dir, "out");
  try {
    const model = buildModel(await loadSpec(spec.config, { profile: "development" }), {
      addressing: "host",
    });
    await Deno.mkdir(join(out, "redis"), { recursive: true });
    // settings that differ from the machine's, whatever they are
    const policy = before["maxmemory-policy"] === "volatile-ttl" ? "allkeys-lfu" : "volatile-ttl";
    const appendonly = before.appendonly === "yes" ? "no" : "yes";
    await Deno.writeTextFile(
      join(out, "redis", "redis.conf"),
      `maxmemory-policy ${policy}\nappendonly ${appendonly}\nmaxmemory 123456789\n`,
    );
    let recorded = 0;
    const p1 = await provisionRedis("redis", model, out, {}, {
      record: () => Promise.resolve(void recorded++),
    });
    expect(recorded).toBe(1);
    expect(p1.previous).toEqual({
      "maxmemory-policy": before["maxmemory-policy"],
      appendonly: before.appendonly,
      maxmemory: before.maxmemory,
    });
    const during = await redisSnapshot();
    expect(during).toMatchObject({
      "maxmemory-policy": policy,
      appendonly,
      maxmemory: "123456789",
    });
    // a second up keeps the first record of the previous values
    const p2 = await provisionRedis("redis", model, out, {}, { prev: p1 });
    expect(p2.previous).toEqual(p1.previous);
    await purgeRedis(p2, {});
    expect(await redisSnapshot()).toEqual(before);
  } finally {
    // whatever happened, leave Redis as found
    const { configSet, orThrow, withRedis } = await import("../../verify/clients/redis.ts");
    await withRedis({ host: "127.0.0.1", port: 6379 }, async (c) => {
      for (const [k, v] of Object.entries(before)) {
        if (k !== "requirepass") orThrow(await configSet(c, k, v));
      }
    }).catch(() => {});
    await spec.remove();
  }
});

// ------------------------------------------------------------------ a whole stack of fakes

const FAKE_SERVER = `
// A fake service for the runtime tests: records when it starts and when it
// listens in $PROCOS_FAKE_EVENTS, waits $PROCOS_FAKE_DELAY_MS, then answers
// every request with 200 and a JSON body.
const name = Deno.env.get("PROCOS_WORKER") ?? "ollama";
const events = Deno.env.get("PROCOS_FAKE_EVENTS")!;
const log = (what: string) =>
  Deno.writeTextFileSync(events, \`\${name} \${what} \${Date.now()}\\n\`, { append: true });
log("start");
let hostname = "127.0.0.1";
let port = 0;
const manifest = Deno.env.get("PROCOS_MANIFEST");
if (manifest) port = JSON.parse(Deno.readTextFileSync(manifest)).healthPort;
else [hostname, port] = [Deno.env.get("OLLAMA_HOST")!.split(":")[0], Number(Deno.env.get("OLLAMA_HOST")!.split(":")[1])];
await new Promise((r) => setTimeout(r, Number(Deno.env.get("PROCOS_FAKE_DELAY_MS") ?? "600")));
Deno.serve({ hostname, port, onListen: () => log("listening") }, () => Response.json({ models: [], ok: true }));
`;

interface FakeStack {
  spec: Awaited<ReturnType<typeof makeStackSpec>>;
  out: string;
  root: string;
  events: string;
  env: Record<string, string>;
  camunda: Deno.HttpServer;
  redisPort: number;
  ports: Record<string, number>;
}

async function fakeStack(): Promise<FakeStack> {
  const redisPort = freePort();
  const ports = { kernel: freePort(), "ai-worker": freePort(), "generic-worker": freePort() };
  const spec = await makeStackSpec({
    edit: (s) => {
      const services = s.services as Record<string, Record<string, unknown>>;
      services.redis.external = false; // a redis-server of our own
      services.redis.ports = [{ target: 6379, published: redisPort }];
      services.redis.healthcheck = {
        interval: "1s",
        timeout: "2s",
        retries: 5,
        start_period: "10s",
      };
      services.ollama.external = false; // the fake `ollama` binary
      services.ollama.healthcheck = {
        interval: "1s",
        timeout: "2s",
        retries: 5,
        start_period: "20s",
      };
      services.camunda.external = true; // the in-process endpoint below
      const workers = s.workers as Record<string, Record<string, unknown>>;
      for (const [name, port] of Object.entries(ports)) workers[name].health_port = port;
    },
  });
  const out = join(spec.dir, "out");
  const root = join(spec.dir, "root");
  const bin = join(spec.dir, "bin");
  const events = join(spec.dir, "events.log");
  await Deno.mkdir(bin, { recursive: true });
  const fake = join(spec.dir, "fake_server.ts");
  await Deno.writeTextFile(fake, FAKE_SERVER);
  for (const kind of ["kernel", "ai", "generic"]) {
    await Deno.mkdir(join(root, "workers", kind), { recursive: true });
    await Deno.writeTextFile(join(root, "workers", kind, "main.ts"), `import "${fake}";\n`);
  }
  await Deno.writeTextFile(
    join(bin, "ollama"),
    `#!/bin/sh\n[ "$1" = serve ] || exit 2\nexec "${Deno.execPath()}" run --allow-all "${fake}"\n`,
    { mode: 0o755 },
  );
  const camunda = Deno.serve(
    { hostname: "127.0.0.1", port: spec.camundaPort, onListen: quiet },
    () => Response.json([{ name: "default" }]),
  );
  await build(spec.config, { outDir: out, env: spec.secretsEnv, profile: "development" });
  const env = {
    ...Deno.env.toObject(),
    ...spec.secretsEnv,
    PATH: `${bin}:${Deno.env.get("PATH")}`,
    PROCOS_FAKE_EVENTS: events,
    PROCOS_FAKE_DELAY_MS: "700",
  };
  return { spec, out, root, events, env, camunda, redisPort, ports };
}

async function readEvents(
  file: string,
): Promise<Record<string, { start: number; listening: number }>> {
  const out: Record<string, { start: number; listening: number }> = {};
  for (const line of (await Deno.readTextFile(file)).trim().split("\n")) {
    const [name, what, ts] = line.split(" ");
    out[name] ??= { start: 0, listening: 0 };
    out[name][what as "start" | "listening"] = Number(ts);
  }
  return out;
}

Deno.test({
  name:
    "runtime: up gates each service on its dependencies' health, is idempotent; down stops only its own",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const f = await fakeStack();
    const bystander = await spawnLogged({
      command: ["sleep", "300"],
      log: join(f.spec.dir, "bystander.log"),
    });
    try {
      const firstPids: Record<string, number> = {};
      await t.step(
        "up starts every service in dependency order, each after its dependencies are healthy",
        async () => {
          const lines: string[] = [];
          const { outcomes, state } = await localUp({
            config: f.spec.config,
            profile: "development",
            outDir: f.out,
            env: f.env,
            root: f.root,
            log: (l) => lines.push(l),
          });
          expect(outcomes.map((o) => [o.name, o.action])).toEqual([
            ["ollama", "started"],
            ["postgres", "provisioned"],
            ["rabbitmq", "provisioned"],
            ["redis", "started"],
            ["camunda", "checked"],
            ["kernel", "started"],
            ["ai-worker", "started"],
            ["generic-worker", "started"],
          ]);
          const ev = await readEvents(f.events);
          // the kernel waits for camunda (external, checked) ; the ai-worker for kernel AND ollama
          expect(ev["ai-worker"].start).toBeGreaterThanOrEqual(ev.kernel.listening);
          expect(ev["ai-worker"].start).toBeGreaterThanOrEqual(ev.ollama.listening);
          expect(ev["generic-worker"].start).toBeGreaterThanOrEqual(ev.kernel.listening);
          // ... and nothing starts while the one before it is still starting (sequential gating)
          expect(ev.kernel.start).toBeGreaterThanOrEqual(ev.ollama.listening);
          expect(ev["generic-worker"].start).toBeGreaterThanOrEqual(ev["ai-worker"].listening);
          // state: pids with start times, provisioning, and endpoints for verify
          for (const name of ["ollama", "redis", "kernel", "ai-worker", "generic-worker"]) {
            const s = state.services[name];
            expect(s.mode).toBe("started");
            if (s.mode !== "started") continue;
            expect(isRunning(s.process.pid, s.process.startTime)).toBe(true);
            firstPids[name] = s.process.pid;
          }
          const saved = await readState(f.out);
          expect(saved?.services.postgres).toMatchObject({
            mode: "provisioned",
            postgres: {
              database: f.spec.name,
              role: f.spec.name,
              createdDatabase: true,
              createdRole: true,
            },
          });
          expect(saved?.services.rabbitmq).toMatchObject({
            mode: "provisioned",
            rabbitmq: {
              vhost: f.spec.name,
              user: f.spec.name,
              createdVhost: true,
              createdUser: true,
            },
          });
          expect(saved?.services.camunda).toEqual({ kind: "camunda", mode: "external" });
          expect(await pgState(f.spec.name)).toEqual({ database: true, role: true });
          expect(await rabbitState(f.spec.name)).toEqual({ vhost: true, user: true });
          const endpoints = JSON.parse(
            await Deno.readTextFile(join(f.out, "runtime", "endpoints.json")),
          );
          expect(endpoints).toEqual({
            postgres: { host: "127.0.0.1", port: 5432 },
            redis: { host: "127.0.0.1", port: f.redisPort },
            rabbitmq: { host: "127.0.0.1", port: 5672, managementPort: 15672 },
            camunda: { url: `http://127.0.0.1:${f.spec.camundaPort}` },
            ollama: { url: `http://127.0.0.1:${f.spec.ollamaPort}` },
            workers: Object.fromEntries(
              Object.entries(f.ports).map(([name, port]) => [name, {
                url: `http://127.0.0.1:${port}`,
              }]),
            ),
          });
          // the started redis-server answers on its port with the generated settings
          const { configGet, withRedis } = await import("../../verify/clients/redis.ts");
          const policy = await withRedis(
            { host: "127.0.0.1", port: f.redisPort },
            (c) => configGet(c, "maxmemory-policy"),
          );
          expect(policy).toBe("allkeys-lru");
          // the state file may hold a Redis password to restore: owner-only
          expect((await Deno.stat(join(f.out, "runtime", "state.json"))).mode! & 0o777).toBe(0o600);
          // logs per service
          expect(await Deno.readTextFile(join(f.out, "runtime", "kernel.log"))).toContain(
            "procos up:",
          );
        },
      );

      await t.step(
        "a second up leaves healthy services alone and re-applies provisioning",
        async () => {
          const { outcomes, state } = await localUp({
            config: f.spec.config,
            profile: "development",
            outDir: f.out,
            env: f.env,
            root: f.root,
            log: quiet,
          });
          expect(Object.fromEntries(outcomes.map((o) => [o.name, o.action]))).toEqual({
            ollama: "already-running",
            postgres: "provisioned",
            rabbitmq: "provisioned",
            redis: "already-running",
            camunda: "checked",
            kernel: "already-running",
            "ai-worker": "already-running",
            "generic-worker": "already-running",
          });
          for (const [name, pid] of Object.entries(firstPids)) {
            const s = state.services[name];
            expect(s.mode === "started" && s.process.pid).toBe(pid);
          }
          // nothing was started twice
          const starts = (await Deno.readTextFile(f.events)).split("\n").filter((l) =>
            l.includes(" start ")
          );
          expect(starts.length).toBe(4);
        },
      );

      await t.step(
        "down stops only the pids up started (not a recycled or foreign pid)",
        async () => {
          // pretend the state also lists the bystander, but with another start time (a recycled pid)
          const state = (await readState(f.out))!;
          state.services.impostor = {
            kind: "generic",
            mode: "started",
            process: { ...bystander.record, startTime: bystander.record.startTime + 1 },
          };
          await writeState(f.out, state);
          const { actions } = await localDown({
            outDir: f.out,
            env: f.env,
            log: quiet,
            stopGraceMs: 5000,
          });
          expect(actions).toContain(
            `impostor: was not running any more (pid ${bystander.record.pid})`,
          );
          for (const [name, pid] of Object.entries(firstPids)) {
            expect(actions).toContain(`${name}: stopped (pid ${pid})`);
            expect(isRunning(pid)).toBe(false);
          }
          expect(isRunning(bystander.record.pid, bystander.record.startTime)).toBe(true);
          // provisioning stays until --purge
          expect(await pgState(f.spec.name)).toEqual({ database: true, role: true });
          const after = await readState(f.out);
          expect(Object.keys(after?.services ?? {}).sort()).toEqual([
            "camunda",
            "postgres",
            "rabbitmq",
          ]);
        },
      );

      await t.step(
        "down --purge drops the database and role, deletes the vhost and user",
        async () => {
          await localDown({ outDir: f.out, purge: true, env: f.env, log: quiet });
          expect(await pgState(f.spec.name)).toEqual({ database: false, role: false });
          expect(await rabbitState(f.spec.name)).toEqual({ vhost: false, user: false });
          expect(await readState(f.out)).toBeUndefined();
          // a second down is harmless
          const { actions } = await localDown({
            outDir: f.out,
            purge: true,
            env: f.env,
            log: quiet,
          });
          expect(actions[0]).toMatch(/nothing to do/);
        },
      );
    } finally {
      await killLeftovers(f.out);
      await localDown({ outDir: f.out, purge: true, env: f.env, log: quiet }).catch(() => {});
      await stopProcess(bystander.record, 1000);
      await f.camunda.shutdown();
      await f.spec.remove();
    }
  },
});

// ------------------------------------------------------------------ failures, as a person sees them

Deno.test({
  name:
    "runtime: a failed start names the service, says why and shows its log tail (camunda with a bad DB_URL)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const deadPort = freePort();
    const spec = await makeStackSpec({
      edit: (s) => {
        // the model points camunda at a port where no PostgreSQL listens ...
        const pg = (s.services as Record<string, Record<string, unknown>>).postgres;
        pg.ports = [{ target: 5432, published: deadPort }];
      },
    });
    const out = join(spec.dir, "out");
    // ... while provisioning goes to the real server
    const env = {
      ...spec.secretsEnv,
      PROCOS_PG_ADMIN_URL: "postgres://postgres@127.0.0.1:5432/postgres",
    };
    try {
      await build(spec.config, { outDir: out, env, profile: "development" });
      const r = await runDeno("runtime/cli.ts", [
        "up",
        "--engine",
        "local",
        "--config",
        spec.config,
        "--out",
        out,
        "--services",
        "camunda",
      ], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /^procos: camunda: exited with code \d+ before it was healthy; its log says: Caused by: .*Connection refused/m,
      );
      expect(r.stderr).toContain(`--- last 20 lines of ${join(out, "runtime", "camunda.log")} ---`);
      expect(r.stderr).toMatch(
        new RegExp(`Connection to 127\\.0\\.0\\.1:${deadPort} refused|Connection refused`),
      );
      expect(r.stderr).not.toMatch(/^\s+at .*\.ts:\d+/m); // no stack trace of ours
      // the failed process was stopped and forgotten; the provisioning is recorded for purge
      const state = await readState(out);
      expect(state?.services.camunda).toBeUndefined();
      expect(state?.services.postgres?.mode).toBe("provisioned");
    } finally {
      await killLeftovers(out);
      await runDeno("runtime/cli.ts", ["down", "--purge", "--out", out], env);
      expect(await pgState(spec.name)).toEqual({ database: false, role: false });
      await spec.remove();
    }
  },
});

Deno.test({
  name:
    "runtime: clear errors for an unbuilt out, an unreachable external service, a taken port, bad arguments",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const spec = await makeStackSpec();
    const out = join(spec.dir, "out");
    const emptyRoot = join(spec.dir, "root");
    await Deno.mkdir(emptyRoot);
    try {
      // not built yet
      await expect(
        localUp({ config: spec.config, profile: "development", outDir: out, log: quiet, env: {} }),
      ).rejects.toThrow(/has no manifest\.json: build first/);
      await build(spec.config, { outDir: out, env: {}, profile: "development" });
      // the Ollama double is not running: an external service that is down
      const err = await localUp({
        config: spec.config,
        profile: "development",
        outDir: out,
        services: ["ollama"],
        log: quiet,
        env: {},
      }).catch((e) => e);
      expect(err).toBeInstanceOf(RuntimeError);
      expect(err.service).toBe("ollama");
      expect(err.message).toMatch(
        /ollama: it is marked external but is not healthy: GET http:\/\/127\.0\.0\.1:\d+\/api\/tags: Connection refused/,
      );
      // a port taken by a process up did not start
      const double = Deno.serve(
        { hostname: "127.0.0.1", port: spec.ollamaPort, onListen: quiet },
        () => Response.json({ models: [] }),
      );
      const camunda = Deno.serve(
        { hostname: "127.0.0.1", port: spec.camundaPort, onListen: quiet },
        () => Response.json([{ name: "default" }]),
      );
      try {
        const e2 = await localUp({
          config: spec.config,
          profile: "development",
          outDir: out,
          services: ["kernel"],
          root: emptyRoot,
          log: quiet,
          env: {},
        }).catch((e) => e);
        // camunda is not external in this spec and its port is taken by the fake: refused clearly
        expect(e2.message).toMatch(
          /camunda: port \d+ is already in use by a process `up` did not start/,
        );
      } finally {
        await double.shutdown();
        await camunda.shutdown();
      }
      // unknown service and bad arguments: exit 2
      const bad = await runDeno("runtime/cli.ts", [
        "up",
        "--engine",
        "local",
        "--config",
        spec.config,
        "--out",
        out,
        "--services",
        "nope",
      ]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("procos: unknown service nope in --services");
      const usage = await runDeno("runtime/cli.ts", ["sideways"]);
      expect(usage.code).toBe(2);
    } finally {
      await localDown({ outDir: out, purge: true, log: quiet, env: {} }).catch(() => {});
      await spec.remove();
    }
  },
});

Deno.test({
  name: "runtime: a worker whose main.ts does not exist yet is refused by name",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const spec = await makeStackSpec({
      edit: (s) => {
        const services = s.services as Record<string, Record<string, unknown>>;
        services.camunda.external = true;
      },
    });
    const out = join(spec.dir, "out");
    const emptyRoot = join(spec.dir, "root");
    await Deno.mkdir(emptyRoot);
    const camunda = Deno.serve(
      { hostname: "127.0.0.1", port: spec.camundaPort, onListen: quiet },
      () => Response.json([{ name: "default" }]),
    );
    try {
      await build(spec.config, { outDir: out, env: {}, profile: "development" });
      const e = await localUp({
        config: spec.config,
        profile: "development",
        outDir: out,
        services: ["kernel"],
        root: emptyRoot,
        log: quiet,
        env: {},
      }).catch((x) => x);
      expect(e).toBeInstanceOf(RuntimeError);
      expect(e.message).toBe("worker kernel: workers/kernel/main.ts is not built yet");
    } finally {
      await camunda.shutdown();
      await localDown({ outDir: out, purge: true, log: quiet, env: {} }).catch(() => {});
      expect(await pgState(spec.name)).toEqual({ database: false, role: false });
      await spec.remove();
    }
  },
});

Deno.test("runtime: procStat reads the start time that identifies a pid", async () => {
  const p = await spawnLogged({ command: ["sleep", "30"], log: await Deno.makeTempFile() });
  try {
    expect(procStat(p.record.pid)?.startTime).toBe(p.record.startTime);
    expect(procStat(p.record.pid)?.pgrp).toBe(p.record.pid); // its own process group
    expect(isRunning(p.record.pid, p.record.startTime)).toBe(true);
  } finally {
    expect(await stopProcess(p.record, 2000)).toBe("stopped");
    await p.exited;
  }
  expect(isRunning(p.record.pid, p.record.startTime)).toBe(false);
});

Deno.test("runtime: the compose files and profile of a Docker host", async () => {
  const { composeFileArgs, dockerAvailable, dockerHostCandidates, PODMAN_SOCKET } = await import(
    "../../runtime/docker.ts"
  );
  expect(composeFileArgs("out", "development")).toEqual(["-f", "out/compose.yaml"]);
  expect(composeFileArgs("out", "production")).toEqual([
    "-f",
    "out/compose.yaml",
    "-f",
    "out/compose.production.yaml",
    "--profile",
    "production",
  ]);
  // PROCOS_RUNTIME=local forces the local runtime even where a Docker engine answers
  expect(await dockerAvailable({ PROCOS_RUNTIME: "local" })).toBe(false);
  // DOCKER_HOST first, then Docker's socket, then the podman socket of tools/podman-setup.sh
  expect(dockerHostCandidates({ DOCKER_HOST: "tcp://h:2375" })).toEqual([
    "tcp://h:2375",
    "unix:///var/run/docker.sock",
    `unix://${PODMAN_SOCKET}`,
  ]);
  expect(dockerHostCandidates({ PROCOS_PODMAN_RUN: "/x/run" }).at(-1)).toBe(
    "unix:///x/run/podman.sock",
  );
  expect(dockerHostCandidates({ PROCOS_PODMAN_DIR: "/y" }).at(-1)).toBe(
    "unix:///y/run/podman.sock",
  );
});

Deno.test("runtime: out/runtime (state, logs) survives a rebuild of the out folder", async () => {
  const spec = await makeStackSpec();
  const out = join(spec.dir, "out");
  try {
    await build(spec.config, { outDir: out, env: {}, profile: "development" });
    const state = {
      version: 1 as const,
      engine: "local" as const,
      project: "procos",
      profile: "development",
      specHash: "x",
      config: spec.config,
      outDir: out,
      updatedAt: "",
      services: {},
    };
    await writeState(out, state);
    await Deno.writeTextFile(join(out, "runtime", "camunda.log"), "log line\n");
    await build(spec.config, { outDir: out, env: {}, profile: "development" });
    expect((await readState(out))?.project).toBe("procos");
    expect(await Deno.readTextFile(join(out, "runtime", "camunda.log"))).toBe("log line\n");
  } finally {
    await spec.remove();
  }
});

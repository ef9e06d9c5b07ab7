/**
 * The end-to-end suite: a real stack on this machine, checked by
 * `deno task verify`, then broken one way at a time.
 *
 * The test spec is generated from `procos.config.yaml`
 * (`tests/fixtures/stack/make_spec.ts`): this machine's PostgreSQL, Redis and
 * RabbitMQ are external services that `up` provisions under unique names
 * (`procos_t_<rand>`), Ollama is the Ollama double (external, on a free
 * port), and Camunda is started from `engine/target/procos-engine.jar` on a
 * free port. Until the workers exist, `up` brings up the infrastructure and
 * Camunda only (`--services camunda,rabbitmq,ollama`), and the test deploys
 * `processes/` itself, as the kernel will.
 *
 * After an all-green verify, each fault is introduced, verify runs, and the
 * test asserts that EXACTLY the checks of that fault fail (by check id) and
 * nothing else; then the fault is repaired (mostly by running `up` again,
 * which re-applies the provisioning). Finally `down --purge`, and the machine
 * must be as found: no test database, role, vhost or user, the Redis settings
 * restored, no process left.
 *
 * @module
 */
import { join } from "node:path";
import { build } from "../../compiler/compile.ts";
import type { JsonReport } from "../../verify/reporters/json.ts";
import { type OllamaDouble, startOllamaDouble } from "../ollama_double.ts";
import {
  isRunning,
  portOpen,
  type ProcessRecord,
  spawnLogged,
  stopProcess,
} from "../../runtime/procs.ts";
import { localRedisConf } from "../../runtime/local.ts";
import { loadSpec } from "../../compiler/load_spec.ts";
import { buildModel } from "../../compiler/model.ts";
import { readState } from "../../runtime/state.ts";
import { freePort, makeStackSpec } from "../fixtures/stack/make_spec.ts";
import {
  killLeftovers,
  pgState,
  psql,
  rabbit,
  rabbitState,
  redisSet,
  redisSnapshot,
  runDeno,
} from "../fixtures/stack/machine.ts";

/** What `up` brings up until the workers exist: the infrastructure and Camunda. */
const SERVICES = "camunda,rabbitmq,ollama";

class StackFailure extends Error {}

function fail(message: string): never {
  throw new StackFailure(message);
}

function checkLine(c: JsonReport["checks"][number]): string {
  return c.status === "fail"
    ? `  ${c.id}: ${c.name}\n      expected: ${c.expected}\n      actual  : ${c.actual}`
    : `  ${c.id}: ${c.status}`;
}

/** Asserts that exactly `expected` (check ids) fail, naming the fault in the message. */
function expectFailing(report: JsonReport, expected: readonly string[], fault: string): void {
  const failing = report.checks.filter((c) => c.status === "fail").map((c) => c.id).sort();
  const want = [...expected].sort();
  const ids = new Set(report.checks.map((c) => c.id));
  const unknown = want.filter((id) => !ids.has(id));
  if (unknown.length > 0) {
    fail(`${fault}: verify has no check ${unknown.join(", ")} (checks: ${[...ids].join(", ")})`);
  }
  const missed = want.filter((id) => !failing.includes(id));
  const extra = failing.filter((id) => !want.includes(id));
  if (missed.length === 0 && extra.length === 0) return;
  const byId = new Map(report.checks.map((c) => [c.id, c]));
  let msg = `${fault}: expected exactly [${want.join(", ")}] to fail`;
  if (missed.length) {
    msg += `\n not detected (these passed or were skipped):\n${
      missed.map((id) => checkLine(byId.get(id)!)).join("\n")
    }`;
  }
  if (extra.length) {
    msg += `\n failed too, but should not have:\n${
      extra.map((id) => checkLine(byId.get(id)!)).join("\n")
    }`;
  }
  fail(msg);
}

Deno.test({
  name:
    "stack: up, verify all green, twelve-plus faults each caught by exactly its check, down --purge",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const redisBefore = await redisSnapshot();
    const spec = await makeStackSpec();
    const out = join(spec.dir, "out");
    const outProd = join(spec.dir, "out-prod");
    const env: Record<string, string> = { ...spec.secretsEnv };
    const api = `http://127.0.0.1:${spec.camundaPort}/engine-rest`;
    const db = (sql: string) => psql(sql, spec.name);
    let double: OllamaDouble | undefined;
    let upRan = false;
    let camundaProc: { pid: number; startTime: number } | undefined;

    const up = async () => {
      upRan = true;
      const r = await runDeno("runtime/cli.ts", [
        "up",
        "--config",
        spec.config,
        "--out",
        out,
        "--services",
        SERVICES,
      ], env);
      if (r.code !== 0) fail(`deno task up failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
      const s = await readState(out);
      const ca = s?.services.camunda;
      if (ca?.mode === "started") camundaProc = ca.process;
      return r;
    };
    const verify = async (args: string[] = []): Promise<JsonReport> => {
      const r = await runDeno("verify/cli.ts", [
        "--config",
        spec.config,
        "--out",
        out,
        "--reporter",
        "json",
        ...args,
      ], env);
      if (r.code !== 0 && r.code !== 1) fail(`verify failed to run (exit ${r.code}): ${r.stderr}`);
      try {
        return JSON.parse(r.stdout) as JsonReport;
      } catch {
        return fail(`verify printed no JSON report (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
      }
    };
    const camunda = async (method: string, path: string, body?: BodyInit, json?: unknown) => {
      const res = await fetch(`${api}${path}`, {
        method,
        body: json === undefined ? body : JSON.stringify(json),
        headers: json === undefined ? {} : { "content-type": "application/json" },
      });
      const text = await res.text();
      if (!res.ok) fail(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
      return text ? JSON.parse(text) : undefined;
    };
    /** Deploys one BPMN file of the spec's processes folder, as the kernel does. */
    const deploy = async (file: string) => {
      const form = new FormData();
      form.append("deployment-name", file);
      form.append("deployment-source", "procos-stack-test");
      form.append("deploy-changed-only", "true");
      form.append(file, new Blob([await Deno.readFile(join(spec.dir, "processes", file))]), file);
      return await camunda("POST", "/deployment/create", form);
    };
    const processFiles: string[] = [];
    for await (const e of Deno.readDir(join(spec.dir, "processes"))) {
      if (e.isFile && e.name.endsWith(".bpmn")) processFiles.push(e.name);
    }
    processFiles.sort();

    try {
      await t.step("build the test spec (development and production)", async () => {
        await build(spec.config, { outDir: out, env, profile: "development" });
        await build(spec.config, { outDir: outProd, env, profile: "production" });
      });

      const defaultModel = (await loadSpec(spec.config, { profile: "development", env })).spec.ai
        .default_model;
      double = startOllamaDouble({ port: spec.ollamaPort, models: [defaultModel] });

      await t.step("up: provision PostgreSQL, RabbitMQ, Redis; start Camunda", async () => {
        const r = await up();
        for (
          const line of [
            "postgres: external; provisioned",
            "rabbitmq: external; imported",
            "redis: external; CONFIG SET",
            "ollama: external; healthy",
            "camunda: started",
          ]
        ) {
          if (!r.stdout.includes(line)) fail(`up printed no "${line}":\n${r.stdout}`);
        }
        const endpoints = JSON.parse(
          await Deno.readTextFile(join(out, "runtime", "endpoints.json")),
        );
        if (endpoints.camunda.url !== `http://127.0.0.1:${spec.camundaPort}`) {
          fail(`endpoints.json: ${JSON.stringify(endpoints)}`);
        }
      });

      await t.step("deploy processes/ (the kernel's job, until the kernel exists)", async () => {
        for (const f of processFiles) await deploy(f);
      });

      let green: JsonReport;
      await t.step("verify: all green", async () => {
        green = await verify();
        expectFailing(green, [], "the stack as built");
        if (green.summary.pass < 50) fail(`only ${green.summary.pass} checks passed`);
      });

      // ------------------------------------------------------------ faults
      const queue = "procos.task-events";
      const vhostPath = encodeURIComponent(spec.name);
      const redisConf = join(out, "redis", "redis.conf");
      let redisConfBytes: Uint8Array | undefined;
      let prodRedis: (ProcessRecord & { port: number }) | undefined;
      let incidentInstance: string | undefined;

      interface Fault {
        name: string;
        /** Check ids that must fail, and nothing else. */
        expect: () => string[];
        break: () => Promise<void>;
        repair: () => Promise<void>;
        /** Extra verify arguments (e.g. another profile). */
        verifyArgs?: () => string[];
      }
      const faults: Fault[] = [
        {
          name: "an index dropped (procos_ai_context_task_idx)",
          expect: () => ["postgres.index.procos_ai_context_task_idx"],
          break: () => db("DROP INDEX procos_ai_context_task_idx").then(() => {}),
          repair: () => up().then(() => {}),
        },
        {
          name: "a column type changed (procos_ai_context.model_used varchar(100) → varchar(4000))",
          expect: () => ["postgres.table.procos_ai_context"],
          break: () =>
            db("ALTER TABLE procos_ai_context ALTER COLUMN model_used TYPE varchar(4000)").then(
              () => {},
            ),
          repair: () =>
            db("ALTER TABLE procos_ai_context ALTER COLUMN model_used TYPE varchar(100)").then(
              () => {},
            ),
        },
        {
          name: "AI content truncatable (procos_ai_context.content_text TEXT → varchar(4000))",
          // the table's columns differ; the full-text and trigram indexes are rebuilt on the
          // new type (still gin, still on content_text), so only the table check fails
          expect: () => ["postgres.table.procos_ai_context"],
          break: () =>
            db("ALTER TABLE procos_ai_context ALTER COLUMN content_text TYPE varchar(4000)").then(
              () => {},
            ),
          repair: () =>
            db("ALTER TABLE procos_ai_context ALTER COLUMN content_text TYPE text").then(() => {}),
        },
        {
          name: "extension pg_trgm dropped (CASCADE also drops the trigram index)",
          expect:
            () => ["postgres.extension.pg_trgm", "postgres.index.procos_ai_context_content_trgm"],
          break: () => db("DROP EXTENSION pg_trgm CASCADE").then(() => {}),
          repair: () => up().then(() => {}),
        },
        {
          name: "an updated_at trigger dropped",
          expect: () => ["postgres.trigger.procos_ai_context_touch_updated_at"],
          break: () =>
            db("DROP TRIGGER procos_ai_context_touch_updated_at ON procos_ai_context").then(
              () => {},
            ),
          repair: () => up().then(() => {}),
        },
        {
          name: "Redis persistence turned off (CONFIG SET appendonly no)",
          expect: () => ["redis.persistence"],
          break: () => redisSet("appendonly", "no"),
          repair: () => up().then(() => {}),
        },
        {
          name: "Redis eviction policy changed (CONFIG SET maxmemory-policy noeviction)",
          expect: () => ["redis.maxmemory-policy"],
          break: () => redisSet("maxmemory-policy", "noeviction"),
          repair: () => up().then(() => {}),
        },
        {
          name: `a queue deleted (${queue}; its binding goes with it)`,
          expect:
            () => [`rabbitmq.queue.${queue}`, `rabbitmq.binding.procos.events.${queue}.task.#`],
          break: async () => {
            const r = await rabbit("DELETE", `/queues/${vhostPath}/${encodeURIComponent(queue)}`);
            await r.body?.cancel();
            if (r.status !== 204) fail(`DELETE queue: HTTP ${r.status}`);
          },
          repair: () => up().then(() => {}),
        },
        {
          name: "a wrong vhost permission (configure ^$ instead of .*)",
          expect: () => ["rabbitmq.permissions"],
          break: async () => {
            const r = await rabbit(
              "PUT",
              `/permissions/${vhostPath}/${encodeURIComponent(spec.name)}`,
              {
                configure: "^$",
                write: ".*",
                read: ".*",
              },
            );
            await r.body?.cancel();
            if (r.status !== 204 && r.status !== 201) fail(`PUT permissions: HTTP ${r.status}`);
          },
          repair: () => up().then(() => {}),
        },
        {
          name: "a BPMN not deployed (procos-smoke's deployment deleted)",
          expect: () => ["camunda.deployed.procos-smoke.bpmn"],
          break: async () => {
            const list = await camunda("GET", "/deployment?name=procos-smoke.bpmn") as {
              id: string;
            }[];
            if (list.length === 0) fail("no deployment named procos-smoke.bpmn to delete");
            for (const d of list) {
              await camunda("DELETE", `/deployment/${d.id}?cascade=true`);
            }
          },
          repair: () => deploy("procos-smoke.bpmn").then(() => {}),
        },
        {
          name: "an open incident",
          expect: () => ["camunda.incidents"],
          break: async () => {
            const pi = await camunda(
              "POST",
              "/process-definition/key/procos-smoke/start",
              undefined,
              {},
            ) as {
              id: string;
            };
            incidentInstance = pi.id;
            // the instance waits at its first external task (no worker runs): its execution
            const tasks = await camunda("GET", `/external-task?processInstanceId=${pi.id}`) as {
              executionId: string;
            }[];
            if (tasks.length === 0) fail("procos-smoke did not stop at an external task");
            await camunda("POST", `/execution/${tasks[0].executionId}/create-incident`, undefined, {
              incidentType: "procos-stack-test",
              configuration: "injected",
              message: "injected by tests/stack/stack_test.ts",
            });
          },
          repair: () =>
            camunda("DELETE", `/process-instance/${incidentInstance}?skipCustomListeners=true`)
              .then(() => {}),
        },
        {
          name: "the default model missing from Ollama",
          expect: () => [`ollama.model.${defaultModel}`],
          break: () => Promise.resolve(double!.setModels([])),
          repair: () => Promise.resolve(double!.setModels([defaultModel])),
        },
        {
          name: "an artifact edited after the build (out/redis/redis.conf)",
          expect: () => ["drift.artifacts"],
          break: async () => {
            redisConfBytes = await Deno.readFile(redisConf);
            await Deno.writeTextFile(redisConf, "\n# edited by hand\n", { append: true });
          },
          repair: () => Deno.writeFile(redisConf, redisConfBytes!),
        },
        {
          // The production build of the same spec, checked against the running stack whose
          // Camunda has REST auth off. The rest is made production-like so that REST auth is
          // the one difference: the production RabbitMQ definitions are imported (`up` of the
          // production build, RabbitMQ only; its user has other tags), and verify is pointed
          // at a private redis-server with the production settings and password (never the
          // machine's shared Redis).
          name: "REST auth off while the spec is production (rest_auth: true)",
          expect: () => ["camunda.rest-auth.enforced"],
          verifyArgs: () => [
            "--profile",
            "production",
            "--out",
            outProd,
            "--redis-url",
            `redis://127.0.0.1:${prodRedis!.port}`,
          ],
          break: async () => {
            const port = freePort();
            const dir = join(spec.dir, "redis-prod");
            await Deno.mkdir(dir, { recursive: true });
            const conf = join(dir, "redis.conf");
            const prodModel = buildModel(
              await loadSpec(spec.config, { profile: "production", env }),
            );
            if (!prodModel.redis.auth) fail("the production test spec has no Redis password");
            await Deno.writeTextFile(
              conf,
              localRedisConf(await Deno.readTextFile(join(outProd, "redis", "redis.conf")), {
                host: "127.0.0.1",
                port,
                dir,
                password: prodModel.redis.password,
              }),
              { mode: 0o600 },
            );
            const p = await spawnLogged({
              command: ["redis-server", conf],
              log: join(dir, "redis.log"),
            });
            prodRedis = { ...p.record, port };
            for (let i = 0; i < 50 && !(await portOpen("127.0.0.1", port)); i++) {
              await new Promise((r) => setTimeout(r, 100));
            }
            const r = await runDeno("runtime/cli.ts", [
              "up",
              "--config",
              spec.config,
              "--profile",
              "production",
              "--out",
              outProd,
              "--services",
              "rabbitmq",
            ], env);
            if (r.code !== 0) fail(`up (production, rabbitmq): ${r.stdout}\n${r.stderr}`);
          },
          repair: async () => {
            if (prodRedis) await stopProcess(prodRedis, 5000);
            // the vhost and user existed before this up: purge leaves them
            const r = await runDeno("runtime/cli.ts", ["down", "--purge", "--out", outProd], env);
            if (!r.stdout.includes(`left vhost ${spec.name} (it existed before up)`)) {
              fail(`down --purge of the production out: ${r.stdout}\n${r.stderr}`);
            }
            await up(); // the development definitions again
          },
        },
        {
          name: "Camunda stopped",
          // everything that asks Camunda, and nothing else
          expect: () => [
            "services.tcp.camunda",
            "services.health.camunda",
            ...green.checks.filter((c) => c.domain === "camunda" && c.status === "pass").map((c) =>
              c.id
            ),
          ],
          break: async () => {
            const s = await readState(out);
            const ca = s?.services.camunda;
            if (ca?.mode !== "started") fail("camunda is not in state.json as started");
            const r = await runDeno("runtime/cli.ts", ["down", "--out", out], env);
            if (r.code !== 0) fail(`down: ${r.stderr}`);
            if (isRunning(ca.process.pid, ca.process.startTime)) {
              fail("camunda still runs after down");
            }
          },
          // up starts it again (the deployments are in the database)
          repair: () => up().then(() => {}),
        },
      ];

      for (const f of faults) {
        await t.step(`fault: ${f.name}`, async () => {
          await f.break();
          try {
            const report = await verify(f.verifyArgs?.());
            expectFailing(report, f.expect(), `fault "${f.name}"`);
          } finally {
            await f.repair();
          }
        });
      }

      await t.step("verify: all green again after the repairs", async () => {
        expectFailing(await verify(), [], "the stack after every repair");
      });

      await t.step("down --purge leaves the machine as found", async () => {
        const r = await runDeno("runtime/cli.ts", ["down", "--purge", "--out", out], env);
        if (r.code !== 0) fail(`down --purge failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
        upRan = false;
        const pg = await pgState(spec.name);
        if (pg.database || pg.role) {
          fail(`PostgreSQL still has ${JSON.stringify(pg)} for ${spec.name}`);
        }
        const mq = await rabbitState(spec.name);
        if (mq.vhost || mq.user) fail(`RabbitMQ still has ${JSON.stringify(mq)} for ${spec.name}`);
        const redisAfter = await redisSnapshot();
        if (JSON.stringify(redisAfter) !== JSON.stringify(redisBefore)) {
          fail(
            `Redis settings not restored: before ${JSON.stringify(redisBefore)}, after ${
              JSON.stringify(redisAfter)
            }`,
          );
        }
        if (camundaProc && isRunning(camundaProc.pid, camundaProc.startTime)) {
          fail(`camunda (pid ${camundaProc.pid}) still runs`);
        }
        if (await portOpen("127.0.0.1", spec.camundaPort)) {
          fail(`something still listens on ${spec.camundaPort}`);
        }
        for (const f of ["state.json", "endpoints.json"]) {
          const there = await Deno.stat(join(out, "runtime", f)).then(() => true, () => false);
          if (there) fail(`out/runtime/${f} is still there`);
        }
      });
    } finally {
      if (upRan) {
        await runDeno("runtime/cli.ts", ["down", "--purge", "--out", out], env).catch(() => {});
      }
      await killLeftovers(out);
      if (camundaProc && isRunning(camundaProc.pid, camundaProc.startTime)) {
        try {
          Deno.kill(camundaProc.pid, "SIGKILL");
        } catch { /* gone */ }
      }
      // belt and braces: whatever failed, leave the machine as found
      const pg = await pgState(spec.name).catch(() => ({ database: false, role: false }));
      if (pg.database) {
        await psql(`DROP DATABASE IF EXISTS "${spec.name}" WITH (FORCE)`).catch(() => {});
      }
      if (pg.role) await psql(`DROP ROLE IF EXISTS "${spec.name}"`).catch(() => {});
      for (
        const path of [
          `/vhosts/${encodeURIComponent(spec.name)}`,
          `/users/${encodeURIComponent(spec.name)}`,
        ]
      ) {
        await rabbit("DELETE", path).then((r) => r.body?.cancel()).catch(() => {});
      }
      const now = await redisSnapshot().catch(() => redisBefore);
      if (JSON.stringify(now) !== JSON.stringify(redisBefore)) {
        for (const [k, v] of Object.entries(redisBefore)) {
          if (k !== "requirepass") await redisSet(k, v).catch(() => {});
        }
      }
      await double?.close();
      await spec.remove();
    }
  },
});

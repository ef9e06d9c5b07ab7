/**
 * The end-to-end suite: a real stack on this machine, checked by
 * `deno task verify`, then broken one way at a time.
 *
 * The test spec is generated from `procos.config.yaml`
 * (`tests/fixtures/stack/make_spec.ts`): this machine's PostgreSQL, Redis and
 * RabbitMQ are external services that `up` provisions under unique names
 * (`procos_t_<rand>`), Ollama is the Ollama double (external, on a free
 * port), the engine is started from its jar on a free port (the whole test
 * runs once per distribution whose jar is built, by the spec's
 * `engine.distribution`: Camunda's `engine/target/procos-engine.jar`, then
 * Operaton's), and the three workers (kernel, ai-worker, generic-worker) are started
 * from `workers/<kind>/main.ts` with their health ports on free ports: `up`
 * brings up the WHOLE stack (local runtime, every service). The kernel
 * deploys `processes/` and starts the boot process, which the generic worker
 * completes.
 *
 * After an all-green verify (the workers domain included), each fault is
 * introduced, verify runs, and the test asserts that EXACTLY the checks of
 * that fault fail (by check id) and nothing else; then the fault is repaired
 * (mostly by running `up` again, which re-applies the provisioning and starts
 * again what died). Finally `down --purge`, and the machine must be as found:
 * no test database, role, vhost or user, the Redis settings restored, no
 * process left, no port held.
 *
 * Every process of the test runs with `PROCOS_POLL_MAX_BACKOFF_MS=2000`, so
 * the workers notice a restarted Camunda within two seconds.
 *
 * @module
 */
import { DISTRIBUTIONS, ENGINES } from "../../compiler/engines.ts";
import { engineAvailable } from "../helpers/engine.ts";
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

/** The workers of the reference spec, in start order. */
const WORKERS = ["kernel", "ai-worker", "generic-worker"] as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

for (const distribution of DISTRIBUTIONS) {
  Deno.test({
    name: `stack (${
      ENGINES[distribution].title
    }): up (whole stack and workers), verify all green, eighteen faults each caught by exactly its checks, down --purge`,
    ignore: !engineAvailable(distribution),
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const redisBefore = await redisSnapshot();
      const spec = await makeStackSpec({ distribution });
      const out = join(spec.dir, "out");
      const outProd = join(spec.dir, "out-prod");
      const env: Record<string, string> = {
        ...spec.secretsEnv,
        // the local runtime, even where a Docker engine answers
        PROCOS_RUNTIME: "local",
        // workers back off at most 2 s while Camunda is away
        PROCOS_POLL_MAX_BACKOFF_MS: "2000",
      };
      const api = `http://127.0.0.1:${spec.camundaPort}/engine-rest`;
      const db = (sql: string) => psql(sql, spec.name);
      let double: OllamaDouble | undefined;
      let upRan = false;
      /** Every process `up` ever started (to prove none is left). */
      const started = new Map<number, ProcessRecord & { service: string }>();

      const up = async () => {
        upRan = true;
        const r = await runDeno("runtime/cli.ts", [
          "up",
          "--config",
          spec.config,
          "--out",
          out,
          "--engine",
          "local",
        ], env);
        if (r.code !== 0) fail(`deno task up failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
        const s = await readState(out);
        for (const [service, x] of Object.entries(s?.services ?? {})) {
          if (x.mode === "started") started.set(x.process.pid, { ...x.process, service });
        }
        return r;
      };
      /** The process `up` started for a service, from state.json. */
      const processOf = async (service: string): Promise<ProcessRecord> => {
        const x = (await readState(out))?.services[service];
        if (x?.mode !== "started") fail(`${service} is not in state.json as started`);
        return x.process;
      };
      /** HTTP status of a worker's /health (0: nothing answers). */
      const workerHealth = async (name: string): Promise<number> => {
        try {
          const res = await fetch(`http://127.0.0.1:${spec.workerPorts[name]}/health`);
          await res.body?.cancel();
          return res.status;
        } catch {
          return 0;
        }
      };
      const until = async (what: string, fn: () => Promise<boolean>, timeoutMs = 30_000) => {
        for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(250)) {
          if (await fn()) return;
        }
        fail(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
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
        if (r.code !== 0 && r.code !== 1) {
          fail(`verify failed to run (exit ${r.code}): ${r.stderr}`);
        }
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

      try {
        await t.step("build the test spec (development and production)", async () => {
          await build(spec.config, { outDir: out, env, profile: "development" });
          await build(spec.config, { outDir: outProd, env, profile: "production" });
        });

        const resolved = await loadSpec(spec.config, { profile: "development", env });
        const defaultModel = resolved.spec.ai.default_model;
        const project = resolved.spec.project;
        const bootKey = `procos-boot:${resolved.specHash}`;
        double = startOllamaDouble({ port: spec.ollamaPort, models: [defaultModel] });

        await t.step(
          "up: provision PostgreSQL, RabbitMQ, Redis; start Camunda, the kernel and the workers",
          async () => {
            const r = await up();
            for (
              const line of [
                "postgres: external; provisioned",
                "rabbitmq: external; imported",
                "redis: external; CONFIG SET",
                "ollama: external; healthy",
                "camunda: started",
                ...WORKERS.map((w) => `${w}: started`),
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
            for (const w of WORKERS) {
              if (endpoints.workers?.[w]?.url !== `http://127.0.0.1:${spec.workerPorts[w]}`) {
                fail(`endpoints.json has no workers.${w}: ${JSON.stringify(endpoints)}`);
              }
            }
          },
        );

        await t.step(
          "the kernel deployed processes/ and started the boot process; the generic worker completed it",
          async () => {
            const deployments = await camunda("GET", `/deployment?name=${project}`) as {
              id: string;
              source?: string;
            }[];
            if (deployments.length !== 1 || deployments[0].source !== "procos-kernel") {
              fail(`deployments named ${project}: ${JSON.stringify(deployments)}`);
            }
            await until("the boot process to complete", async () => {
              const h = await camunda(
                "GET",
                `/history/process-instance?processDefinitionKey=procos-boot&businessKey=${
                  encodeURIComponent(bootKey)
                }`,
              ) as { state: string }[];
              return h.some((x) => x.state === "COMPLETED");
            });
          },
        );

        let green: JsonReport;
        await t.step("verify: all green, the workers domain included", async () => {
          green = await verify();
          expectFailing(green, [], "the stack as built");
          if (green.summary.pass < 50) fail(`only ${green.summary.pass} checks passed`);
          const workers = green.checks.filter((c) => c.domain === "workers");
          const wantIds = [
            ...WORKERS.flatMap((w) => [`workers.health.${w}`, `workers.metrics.${w}`]),
            "workers.deployed.kernel",
            "workers.models.kernel",
            "workers.boot.kernel",
          ].sort();
          const have = workers.filter((c) => c.status === "pass").map((c) => c.id).sort();
          if (JSON.stringify(have) !== JSON.stringify(wantIds)) {
            fail(`workers checks passing: ${have.join(", ")}; want ${wantIds.join(", ")}`);
          }
        });

        // ------------------------------------------------------------ faults
        const queue = "procos.task-events";
        const vhostPath = encodeURIComponent(spec.name);
        const redisConf = join(out, "redis", "redis.conf");
        let redisConfBytes: Uint8Array | undefined;
        let prodRedis: (ProcessRecord & { port: number }) | undefined;
        let incidentInstance: string | undefined;

        /**
         * Checks of other domains that ask Camunda about a deployment: before the first retention
         * run, `postgres.retention.last-run` judges by when the schedule process was deployed
         * (skipped while that is recent), so it fails when the deployment or Camunda is gone.
         */
        const askCamundaForDeployment = () =>
          green.checks.filter((c) => c.id === "postgres.retention.last-run" && c.status === "skip")
            .map((c) => c.id);

        interface Fault {
          name: string;
          /** Check ids that must fail, and nothing else. */
          expect: () => string[];
          break: () => Promise<void>;
          repair: () => Promise<void>;
          /** Extra verify arguments (e.g. another profile). */
          verifyArgs?: () => string[];
          /** More assertions on the report of the broken stack. */
          inspect?: (report: JsonReport) => void;
        }
        const faults: Fault[] = [
          {
            name: "an index dropped (procos_ai_context_task_idx)",
            expect: () => ["postgres.index.procos_ai_context_task_idx"],
            break: () => db("DROP INDEX procos_ai_context_task_idx").then(() => {}),
            repair: () => up().then(() => {}),
          },
          {
            name:
              "a column type changed (procos_ai_context.model_used varchar(100) → varchar(4000))",
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
              db("ALTER TABLE procos_ai_context ALTER COLUMN content_text TYPE text").then(
                () => {},
              ),
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
            // The kernel deploys processes/ as ONE deployment named after the project, and only
            // when it starts: deleting it undeploys every file (and the boot processes'
            // definitions), and a running kernel does not put it back, so verify sees it. The
            // kernel's own report (workers.deployed.kernel) is about what it did at boot: green.
            name: "the BPMNs not deployed (the kernel's deployment deleted)",
            expect: () => [
              // every camunda check about deployed definitions (not the engine, webapps, auth, incidents;
              // nor the diagrams check, which skips when nothing is deployed to draw)
              ...green.checks.filter((c) =>
                c.domain === "camunda" && c.status === "pass" &&
                !/^camunda\.(engine|webapps|rest-auth\.|incidents|diagrams)/.test(c.id)
              ).map((c) => c.id),
              ...askCamundaForDeployment(),
            ],
            break: async () => {
              const list = await camunda("GET", `/deployment?name=${project}`) as { id: string }[];
              if (list.length === 0) fail(`no deployment named ${project} to delete`);
              for (const d of list) {
                await camunda("DELETE", `/deployment/${d.id}?cascade=true`);
              }
            },
            // restarting the kernel deploys the folder again (up starts what is not running)
            repair: async () => {
              await stopProcess(await processOf("kernel"), 10_000);
              const r = await up();
              if (!r.stdout.includes("kernel: started")) {
                fail(`up did not restart the kernel:\n${r.stdout}`);
              }
            },
          },
          {
            name: "an open incident",
            expect: () => ["camunda.incidents"],
            // procos-smoke started without variables: its first task is the AI worker's, whose
            // prompt needs "instruction"; the worker raises an incident at once (retrying cannot
            // help) and stays healthy
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
              await until("the AI worker's incident", async () => {
                const list = await camunda("GET", `/incident?processInstanceId=${pi.id}`) as {
                  incidentMessage?: string;
                }[];
                return list.length > 0;
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
                "--engine",
                "local",
              ], env);
              if (r.code !== 0) fail(`up (production, rabbitmq): ${r.stdout}\n${r.stderr}`);
            },
            repair: async () => {
              if (prodRedis) await stopProcess(prodRedis, 5000);
              // the vhost and user existed before this up: purge leaves them
              const r = await runDeno(
                "runtime/cli.ts",
                ["down", "--purge", "--out", outProd, "--engine", "local"],
                env,
              );
              if (!r.stdout.includes(`left vhost ${spec.name} (it existed before up)`)) {
                fail(`down --purge of the production out: ${r.stdout}\n${r.stderr}`);
              }
              await up(); // the development definitions again
            },
          },
          {
            name: "Camunda stopped",
            // everything that asks Camunda, and the task workers' health (they answer 503 while
            // they cannot poll); the kernel has booted and stays healthy
            expect: () => [
              "services.tcp.camunda",
              "services.health.camunda",
              ...green.checks.filter((c) => c.domain === "camunda" && c.status === "pass").map((
                c,
              ) => c.id),
              ...askCamundaForDeployment(),
              "workers.health.ai-worker",
              "workers.health.generic-worker",
            ],
            break: async () => {
              const ca = await processOf("camunda");
              if ((await stopProcess(ca, 20_000)) === "not-running") {
                fail("camunda was not running");
              }
              await until(
                "the task workers to report Camunda unreachable",
                async () =>
                  (await workerHealth("ai-worker")) === 503 &&
                  (await workerHealth("generic-worker")) === 503,
              );
            },
            // up starts it again (the deployments are in the database); the workers poll again
            repair: async () => {
              const r = await up();
              if (!r.stdout.includes("camunda: started")) {
                fail(`up did not start camunda:\n${r.stdout}`);
              }
            },
          },
          // a worker SIGKILLed: exactly its checks fail; up starts it again and only it
          ...WORKERS.map((w): Fault => {
            let killed: ProcessRecord | undefined;
            return {
              name: `worker ${w} killed (SIGKILL)`,
              expect: () => [`workers.health.${w}`, `workers.metrics.${w}`],
              break: async () => {
                killed = await processOf(w);
                Deno.kill(killed.pid, "SIGKILL");
                await until(
                  `${w} to die`,
                  () => Promise.resolve(!isRunning(killed!.pid, killed!.startTime)),
                  10_000,
                );
              },
              inspect: (report) => {
                // the kernel's boot report cannot be read: skipped (health says why), not failed
                for (const c of report.checks) {
                  if (c.domain !== "workers" || !c.id.endsWith(`.${w}`)) continue;
                  if (/^workers\.(health|metrics)\./.test(c.id)) continue;
                  if (c.status !== "skip") {
                    fail(`worker ${w} killed: ${c.id} is ${c.status}, not skip`);
                  }
                }
              },
              repair: async () => {
                const r = await up();
                if (!r.stdout.includes(`${w}: started`)) {
                  fail(`up did not restart ${w}:\n${r.stdout}`);
                }
                for (const other of WORKERS.filter((x) => x !== w)) {
                  if (!r.stdout.includes(`${other}: already running`)) {
                    fail(`up touched ${other} (it should be left alone):\n${r.stdout}`);
                  }
                }
                const now = await processOf(w);
                if (now.pid === killed!.pid) fail(`${w} has the killed pid ${now.pid}`);
                if ((await workerHealth(w)) !== 200) fail(`${w} is not healthy after up`);
              },
            };
          }),
        ];

        for (const f of faults) {
          await t.step(`fault: ${f.name}`, async () => {
            await f.break();
            try {
              const report = await verify(f.verifyArgs?.());
              expectFailing(report, f.expect(), `fault "${f.name}"`);
              f.inspect?.(report);
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
          if (mq.vhost || mq.user) {
            fail(`RabbitMQ still has ${JSON.stringify(mq)} for ${spec.name}`);
          }
          const redisAfter = await redisSnapshot();
          if (JSON.stringify(redisAfter) !== JSON.stringify(redisBefore)) {
            fail(
              `Redis settings not restored: before ${JSON.stringify(redisBefore)}, after ${
                JSON.stringify(redisAfter)
              }`,
            );
          }
          for (const p of started.values()) {
            if (isRunning(p.pid, p.startTime)) fail(`${p.service} (pid ${p.pid}) still runs`);
          }
          for (const port of [spec.camundaPort, ...Object.values(spec.workerPorts)]) {
            if (await portOpen("127.0.0.1", port)) fail(`something still listens on ${port}`);
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
        for (const p of started.values()) {
          if (!isRunning(p.pid, p.startTime)) continue;
          try {
            Deno.kill(p.pid, "SIGKILL");
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
}

/**
 * The workers on the real stack: PostgreSQL (scratch database with the
 * generated init SQL), the Camunda engine jar, RabbitMQ (a scratch vhost with
 * the generated topology), Redis (a scratch key prefix) and the Ollama double.
 * The kernel, the AI worker and the generic worker run as subprocesses, as
 * the runtime runs them; processes are deployed by the kernel and started
 * through the REST API.
 *
 * One engine serves every step (it takes ~20 s to start on 2 cores). The
 * whole test runs once per distribution whose jar is built (Camunda 7.24.0
 * and Operaton 1.0.3, `compiler/engines.ts`): the same workers, kernel and
 * BPMN files, unchanged, on either engine.
 * `PROCOS_TEST_ECHO=1` echoes every child's output.
 *
 * @module
 */
import { expect } from "expect";
import { createClient } from "redis";
import { fixedAnswer, type OllamaDouble, startOllamaDouble } from "../ollama_double.ts";
import { contextRowId } from "../../workers/lib/store.ts";
import {
  bpmn,
  type Child,
  createDatabase,
  createVhost,
  type Engine,
  freePort,
  manifestOf,
  newScratch,
  referenceModel,
  rest,
  sleep,
  startEngine,
  startWorker,
  takeMessages,
  type TestDatabase,
  until,
} from "./helpers.ts";

import { DISTRIBUTIONS, ENGINES } from "../../compiler/engines.ts";
import { engineAvailable } from "../helpers/engine.ts";

type Worker = Awaited<ReturnType<typeof startWorker>>;

interface HistVar {
  name: string;
  type: string;
  value: unknown;
}

for (const distribution of DISTRIBUTIONS) {
  const dist = ENGINES[distribution];
  Deno.test({
    name: `workers on the real stack (kernel, AI worker, generic worker) on ${dist.title} ` +
      dist.version,
    ignore: !engineAvailable(distribution),
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const cleanups: Array<[string, () => Promise<unknown>]> = [];
      const cleanup = (name: string, fn: () => Promise<unknown>) => cleanups.unshift([name, fn]);
      const workers = new Set<Child>();
      const prefix = `procos:test:${crypto.randomUUID().slice(0, 8)}:`;
      let db: TestDatabase | undefined;
      let engine: Engine | undefined;
      let double: OllamaDouble | undefined;
      try {
        // ---- fixtures ------------------------------------------------------
        const scratch = newScratch();
        const model = await referenceModel(scratch);
        cleanup("database", async () => {
          if (db) await db.drop();
          else await (await import("../helpers/pg.ts")).dropScratch(scratch).catch(() => {});
        });
        db = await createDatabase(model, scratch);
        const vhost = await createVhost(model);
        cleanup("vhost", () => vhost.drop());
        const ollamaPort = freePort();
        double = startOllamaDouble({ port: ollamaPort, models: [] });
        cleanup("ollama double", () => double!.close());
        cleanup("redis keys", async () => {
          const r = createClient({ url: "redis://127.0.0.1:6379" });
          await r.connect();
          const keys: string[] = [];
          for await (const batch of r.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
            keys.push(...(batch as unknown as string[]));
          }
          if (keys.length) await r.del(keys);
          await r.close();
        });
        // (cleanups run in reverse order: the workers stop before the engine)
        cleanup("engine", () => engine?.stop("SIGKILL") ?? Promise.resolve());
        cleanup("workers", async () => {
          await Promise.all([...workers].map((w) => w.stop(5000)));
        });
        const engineStarted = performance.now();
        engine = await startEngine(db, undefined, {}, distribution);
        console.error(`engine up in ${Math.round(performance.now() - engineStarted)} ms`);
        const api = engine.url;

        const env: Record<string, string> = {
          CAMUNDA_BASE_URL: api,
          OLLAMA_BASE_URL: double.url,
          DATABASE_URL: db.url,
          REDIS_URL: "redis://127.0.0.1:6379",
          RABBITMQ_URL: vhost.url,
          PROCOS_REDIS_PREFIX: prefix,
          PROCOS_POLL_INTERVAL_MS: "100",
          PROCOS_POLL_TIMEOUT_MS: "1000",
          PROCOS_POLL_MAX_BACKOFF_MS: "2000",
          PROCOS_SHUTDOWN_GRACE_MS: "3000",
        };
        const track = <W extends Child>(w: W): W => {
          workers.add(w);
          w.status.finally(() => workers.delete(w));
          return w;
        };

        const processes = await Deno.makeTempDir({ prefix: "procos-processes-" });
        cleanup("processes folder", () => Deno.remove(processes, { recursive: true }));
        await Deno.writeTextFile(`${processes}/t-ai.bpmn`, bpmn("t-ai", ["ai-generate"]));
        await Deno.writeTextFile(
          `${processes}/t-ai-cached.bpmn`,
          bpmn("t-ai-cached", ["ai-cached"]),
        );
        await Deno.writeTextFile(
          `${processes}/t-generic.bpmn`,
          bpmn("t-generic", [
            "generic-http",
            "generic-sql",
            "generic-publish",
            "generic-redis",
            "generic-noop",
          ]),
        );
        await Deno.writeTextFile(`${processes}/t-boot.bpmn`, bpmn("t-boot", ["generic-noop"]));

        const kernelManifest = (models: string[]) =>
          manifestOf(model, "kernel", (m) => {
            m.camunda.baseUrl = api;
            m.ollama.baseUrl = double!.url;
            m.processes.boot = ["t-boot"];
            m.models = models.map((name) => ({ provider: "ollama", name }));
          });
        const runKernel = async (models: string[]) =>
          track(
            await startWorker("kernel", kernelManifest(models), {
              ...env,
              PROCOS_PROCESSES_PATH: processes,
              PROCOS_KERNEL_WAIT_MS: "20000",
            }, "kernel"),
          );
        const health = async (w: Worker) => {
          const r = await fetch(`http://127.0.0.1:${w.healthPort}/health`).catch(() => undefined);
          if (!r) return undefined;
          return { status: r.status, body: await r.json() as Record<string, unknown> };
        };
        const definitions = async () =>
          (await rest<{ key: string; version: number }[]>(
            api,
            "GET",
            "/process-definition?sortBy=key&sortOrder=asc",
          ))
            .map((d) => `${d.key}:${d.version}`).sort();

        // ---- kernel --------------------------------------------------------
        await t.step(
          "kernel: deploys, pulls the models, starts the boot processes, /health",
          async () => {
            const k = await runKernel(["llama3.2:1b"]);
            await until("kernel ready", async () => (await health(k))?.status === 200, 30_000);
            expect(await definitions()).toEqual([
              "t-ai-cached:1",
              "t-ai:1",
              "t-boot:1",
              "t-generic:1",
            ]);
            expect(double!.models()).toContain("llama3.2:1b");
            const pulls = k.out.json().filter((l) => l.msg === "pull progress");
            expect(pulls.length).toBeGreaterThan(2);
            const boot = await rest<{ id: string; businessKey: string }[]>(
              api,
              "GET",
              "/process-instance?processDefinitionKey=t-boot",
            );
            expect(boot.length).toBe(1);
            expect(boot[0].businessKey).toBe(`procos-boot:${model.specHash}`);
            const metrics = await (await fetch(`http://127.0.0.1:${k.healthPort}/metrics`)).text();
            expect(metrics).toContain("procos_kernel_ready 1");
            expect((await k.stop()).code).toBe(0);
          },
        );

        await t.step(
          "kernel: deploy-changed-only (unchanged: nothing; changed: a new version)",
          async () => {
            let k = await runKernel(["llama3.2:1b"]);
            await until("kernel ready", async () => (await health(k))?.status === 200, 30_000);
            expect((await k.stop()).code).toBe(0);
            expect(await definitions()).toEqual([
              "t-ai-cached:1",
              "t-ai:1",
              "t-boot:1",
              "t-generic:1",
            ]);
            // the boot process still runs (no generic worker yet): not started twice
            expect(
              (await rest<unknown[]>(api, "GET", "/process-instance?processDefinitionKey=t-boot"))
                .length,
            )
              .toBe(1);
            const text = await Deno.readTextFile(`${processes}/t-boot.bpmn`);
            await Deno.writeTextFile(
              `${processes}/t-boot.bpmn`,
              text.replace('isExecutable="true"', 'name="Boot v2" isExecutable="true"'),
            );
            k = await runKernel(["llama3.2:1b"]);
            await until("kernel ready", async () => (await health(k))?.status === 200, 30_000);
            expect((await k.stop()).code).toBe(0);
            expect(await definitions()).toEqual([
              "t-ai-cached:1",
              "t-ai:1",
              "t-boot:1",
              "t-boot:2",
              "t-generic:1",
            ]);
          },
        );

        await t.step("kernel: a model that cannot be had is a clear error", async () => {
          const k = await runKernel(["missing/nomodel:1b"]);
          const s = await k.status;
          await k.out.done;
          expect(s.code).toBe(1);
          const failed = k.out.json().find((l) => l.msg === "kernel failed");
          expect(String(failed?.error)).toContain("model missing/nomodel:1b cannot be had");
          expect(String(failed?.error)).toContain("file does not exist");
        });

        // ---- AI worker -----------------------------------------------------
        const aiManifest = manifestOf(model, "ai", (m) => {
          m.camunda.baseUrl = api;
          m.ollama.baseUrl = double!.url;
          const base = m.topics[0];
          base.lockDurationMs = 4000;
          base.retries = 3;
          base.backoff = { initialMs: 1000, factor: 2, maxMs: 4000 };
          m.topics = [base, { ...base, name: "ai-cached", prompt: "{{input}}", cache: true }];
        });
        const startAi = async () => {
          const w = track(await startWorker("ai", aiManifest, env, "ai"));
          await until("AI worker healthy", async () => (await health(w))?.status === 200, 30_000);
          return w;
        };
        let ai = await startAi();

        const start = async (key: string, vars: Record<string, unknown>) => {
          const variables = Object.fromEntries(
            Object.entries(vars).map((
              [k, v],
            ) => [
              k,
              typeof v === "string"
                ? { value: v, type: "String" }
                : { value: JSON.stringify(v), type: "Json" },
            ]),
          );
          return (await rest<{ id: string }>(api, "POST", `/process-definition/key/${key}/start`, {
            variables,
          })).id;
        };
        const ended = (pid: string, timeoutMs = 30_000) =>
          until(`process ${pid} to complete`, async () => {
            const h = await rest<{ state: string }>(api, "GET", `/history/process-instance/${pid}`);
            return h.state === "COMPLETED";
          }, timeoutMs);
        const histVars = async (pid: string) =>
          Object.fromEntries(
            (await rest<HistVar[]>(
              api,
              "GET",
              `/history/variable-instance?processInstanceId=${pid}&deserializeValues=false`,
            ))
              .map((v) => [v.name, v]),
          );
        const rows = (pid: string) =>
          db!
            .sql`SELECT id::text, task_id, context_type, content_text, content_data, model_used, token_usage
                FROM procos_ai_context WHERE process_instance_id = ${pid} ORDER BY context_type`;
        const answerOf = (v: HistVar) => v.type === "Json" ? JSON.parse(String(v.value)) : v.value;
        /** A short form for assertions (a failed comparison of 10 MB would print 10 MB). */
        const short = (x: unknown) => {
          const s = String(x);
          return s.length > 200 ? `${s.slice(0, 200)}... (${s.length} chars)` : s;
        };
        const resetDouble = () => {
          double!.setAnswer(null);
          double!.setAnswerBytes(null);
          double!.setLatency(0);
        };
        const completions = async (pid: string, activity = "task_0") =>
          (await rest<unknown[]>(
            api,
            "GET",
            `/history/activity-instance?processInstanceId=${pid}&activityId=${activity}&finished=true`,
          )).length;

        await t.step(
          "AI: 1 MB and 10 MB answers arrive byte-identical in the table and the variables",
          async () => {
            for (const size of [1_000_000, 10_000_000]) {
              double!.setAnswerBytes(size);
              const expected = fixedAnswer(size);
              const pid = await start("t-ai", { instruction: "Write", input: `${size} bytes` });
              await ended(pid, 60_000);
              const r = await rows(pid);
              expect(r.map((x) => x.context_type)).toEqual(["input", "output"]);
              const out = r.find((x) => x.context_type === "output")!;
              expect(out.content_text.length).toBe(size);
              expect(out.content_text === expected).toBe(true);
              expect(r.find((x) => x.context_type === "input")!.content_text).toBe(
                `Write\n\n${size} bytes`,
              );
              expect(out.model_used).toBe("llama3.2:1b");
              expect(out.token_usage.eval_count).toBeGreaterThan(0);
              expect(out.token_usage.prompt_eval_count).toBeGreaterThan(0);
              expect(out.content_data.doneReason).toBe("stop");
              expect(out.content_data.truncated).toBe(false);
              expect(out.id).toBe(contextRowId(out.task_id, "output"));
              const v = await histVars(pid);
              expect(v.aiAnswer.type).toBe("Json");
              const got = answerOf(v.aiAnswer);
              expect(got.length).toBe(size);
              expect(got === expected).toBe(true);
              expect(v.aiContextId.value).toBe(out.id);
              expect(v.aiTruncated.value).toBe(false);
              expect(v.aiAnswerChars.value).toBe(size);
            }
            double!.setAnswerBytes(null);
            // a short answer is a String; done_reason length is flagged as truncated
            double!.setAnswer("short answer");
            const pid = await start("t-ai", { instruction: "a", input: "b" });
            await ended(pid);
            const v = await histVars(pid);
            expect(v.aiAnswer).toMatchObject({ type: "String", value: "short answer" });
            double!.setAnswer(null);
          },
        );

        await t.step(
          "AI: a missing prompt variable raises an incident at once, naming it",
          async () => {
            const pid = await start("t-ai", { instruction: "only this" });
            const inc = await until("incident", async () => {
              const xs = await rest<{ incidentMessage: string }[]>(
                api,
                "GET",
                `/incident?processInstanceId=${pid}`,
              );
              return xs[0];
            }, 15_000);
            expect(inc.incidentMessage).toContain('"input"');
            expect(inc.incidentMessage).toContain("not retried");
            await rest(api, "DELETE", `/process-instance/${pid}?skipCustomListeners=true`);
          },
        );

        await t.step(
          "AI: SIGKILL mid-task: after the lock expires the task completes once, one row",
          async () => {
            resetDouble();
            double!.setLatency(3000);
            const pid = await start("t-ai", { instruction: "slow", input: "kill" });
            await until("the task locked by the worker", async () => {
              const xs = await rest<{ workerId: string | null }[]>(
                api,
                "GET",
                `/external-task?processInstanceId=${pid}&locked=true`,
              );
              return xs.length === 1;
            });
            await sleep(300);
            ai.kill("SIGKILL");
            await ai.status;
            double!.setLatency(0);
            ai = await startAi();
            await ended(pid, 30_000);
            const r = await rows(pid);
            expect(r.filter((x) => x.context_type === "output").length).toBe(1);
            expect(r.length).toBe(2);
            expect(await completions(pid)).toBe(1);
            expect(short(answerOf((await histVars(pid)).aiAnswer))).toBe("echo: slow\n\nkill");
          },
        );

        await t.step(
          "AI: Ollama down: retries, then an incident; other topic served; back: a retried task completes",
          async () => {
            resetDouble();
            // warm the cache of the cached topic while Ollama is up
            const warm = await start("t-ai-cached", { input: "cached question" });
            await ended(warm);
            await double!.close();
            const a = await start("t-ai", { instruction: "down", input: "a" });
            // the cached topic is still served
            const cached = await start("t-ai-cached", { input: "cached question" });
            await ended(cached, 15_000);
            expect(short(answerOf((await histVars(cached)).aiAnswer))).toBe(
              "echo: cached question",
            );
            expect(
              (await rows(cached)).find((x) => x.context_type === "output")!.content_data.cached,
            )
              .toBe(true);
            // a: 1 + 3 attempts (back-off 1 s, 2 s, 4 s), then the incident
            const inc = await until("incident", async () => {
              const xs = await rest<{ incidentMessage: string }[]>(
                api,
                "GET",
                `/incident?processInstanceId=${a}`,
              );
              return xs[0];
            }, 30_000);
            expect(inc.incidentMessage).toContain("ai-generate");
            expect(inc.incidentMessage).toContain("unreachable");
            expect(inc.incidentMessage).toContain("gave up after 4 attempts");
            expect((await rows(a)).length).toBe(0);
            // b fails once, then Ollama comes back: the retry completes it
            const b = await start("t-ai", { instruction: "back", input: "b" });
            await until("b's first failure", async () => {
              const xs = await rest<{ retries: number | null }[]>(
                api,
                "GET",
                `/external-task?processInstanceId=${b}`,
              );
              return xs[0]?.retries === 3;
            }, 15_000);
            double = startOllamaDouble({ port: ollamaPort, models: ["llama3.2:1b"] });
            await ended(b, 20_000);
            expect(short(answerOf((await histVars(b)).aiAnswer))).toBe("echo: back\n\nb");
            await rest(api, "DELETE", `/process-instance/${a}?skipCustomListeners=true`);
          },
        );

        await t.step(
          "AI: Camunda stopped and restarted: the worker reconnects, no task is lost",
          async () => {
            resetDouble();
            double!.setLatency(1500);
            const pids = [];
            for (let i = 0; i < 3; i++) {
              pids.push(await start("t-ai", { instruction: "restart", input: String(i) }));
            }
            await until("tasks locked", async () => {
              const xs = await rest<unknown[]>(
                api,
                "GET",
                `/external-task?topicName=ai-generate&locked=true`,
              );
              return xs.length >= 2;
            });
            await engine!.stop("SIGKILL");
            await sleep(2000);
            await until(
              "the worker to notice",
              async () => (await health(ai))?.status === 503,
              15_000,
            );
            await engine!.start();
            double!.setLatency(0);
            for (const pid of pids) {
              await ended(pid, 60_000);
              const r = await rows(pid);
              expect(r.length).toBe(2);
              expect(await completions(pid)).toBe(1);
              expect(short(answerOf((await histVars(pid)).aiAnswer))).toBe(
                `echo: restart\n\n${pids.indexOf(pid)}`,
              );
            }
            await until(
              "the worker healthy again",
              async () => (await health(ai))?.status === 200,
              15_000,
            );
          },
        );

        await t.step(
          "AI: SIGTERM hands back the task in hand and exits 0; the task completes later",
          async () => {
            resetDouble();
            double!.setLatency(8000);
            const pid = await start("t-ai", { instruction: "term", input: "x" });
            const task = await until("the task locked", async () => {
              const xs = await rest<{ id: string }[]>(
                api,
                "GET",
                `/external-task?processInstanceId=${pid}&locked=true`,
              );
              return xs[0];
            });
            const t0 = performance.now();
            const s = await ai.stop();
            expect(s.code).toBe(0);
            expect(performance.now() - t0).toBeLessThan(15_000);
            expect(ai.out.json().some((l) => l.msg === "task handed back" && l.taskId === task.id))
              .toBe(true);
            const after = await rest<{ lockExpirationTime: string | null }>(
              api,
              "GET",
              `/external-task/${task.id}`,
            );
            expect(after.lockExpirationTime).toBeNull();
            double!.setLatency(0);
            ai = await startAi();
            await ended(pid, 20_000);
            expect((await rows(pid)).length).toBe(2);
            const metrics = await (await fetch(`http://127.0.0.1:${ai.healthPort}/metrics`)).text();
            expect(metrics).toMatch(/procos_worker_tasks_completed_total\{topic="ai-generate"\} 1/);
            expect(metrics).toContain("procos_worker_task_duration_seconds_bucket");
            expect(metrics).toContain("procos_worker_tasks_in_flight");
          },
        );

        // ---- generic worker ------------------------------------------------
        await t.step(
          "generic: http, sql, publish, redis, noop; the boot process completes",
          async () => {
            const seen: unknown[] = [];
            const http = Deno.serve(
              { port: 0, hostname: "127.0.0.1", onListen: () => {} },
              async (req) => {
                seen.push({ method: req.method, body: await req.json() });
                return Response.json({ ok: true, n: 7 });
              },
            );
            cleanup("http server", () => http.shutdown());
            const gm = manifestOf(model, "generic", (m) => {
              m.camunda.baseUrl = api;
              for (const x of m.topics) {
                x.lockDurationMs = 5000;
                x.retries = 1;
                x.backoff = { initialMs: 500, factor: 2, maxMs: 1000 };
              }
            });
            const g = track(await startWorker("generic", gm, env, "generic"));
            await until(
              "generic worker healthy",
              async () => (await health(g))?.status === 200,
              30_000,
            );
            const boot = await rest<{ id: string }[]>(
              api,
              "GET",
              "/process-instance?processDefinitionKey=t-boot",
            );
            const pid = await start("t-generic", {
              httpUrl: `http://127.0.0.1:${(http.addr as Deno.NetAddr).port}/hook`,
              httpMethod: "POST",
              httpBody: { hello: "http" },
              sqlStatement: "SELECT $1::int + 1 AS n, current_database() AS db",
              sqlParams: [41],
              publishRoutingKey: "notification.test",
              publishMessage: { hello: "rabbit" },
              redisOp: "set",
              redisKey: "k1",
              redisValue: "v1",
            });
            await ended(pid, 30_000);
            const v = await histVars(pid);
            expect(v.httpStatus.value).toBe(200);
            expect(JSON.parse(String(v.httpResponse.value))).toEqual({ ok: true, n: 7 });
            expect(seen).toEqual([{ method: "POST", body: { hello: "http" } }]);
            expect(JSON.parse(String(v.sqlRows.value))).toEqual([{
              n: 42,
              db: db!.scratch.database,
            }]);
            expect(v.redisResult.value).toBe("OK");
            const r = createClient({ url: "redis://127.0.0.1:6379" });
            await r.connect();
            expect(await r.get(`${prefix}kv:k1`)).toBe("v1");
            await r.close();
            const notes = await takeMessages(vhost.vhost, "procos.notifications");
            expect(notes.map((n) => JSON.parse(n.payload))).toEqual([{ hello: "rabbit" }]);
            for (const b of boot) await ended(b.id, 15_000);

            // an unroutable message ends in the alternate exchange's queue
            const lost = await start("t-generic", {
              httpUrl: `http://127.0.0.1:${(http.addr as Deno.NetAddr).port}/hook`,
              httpMethod: "POST",
              httpBody: {},
              sqlStatement: "SELECT 1",
              publishRoutingKey: "nobody.listens",
              publishMessage: { lost: false },
              redisOp: "get",
              redisKey: "k1",
            });
            await ended(lost, 30_000);
            expect((await histVars(lost)).redisResult.value).toBe("v1");
            const unroutable = await takeMessages(vhost.vhost, `${model.project}.unroutable`);
            expect(unroutable.map((n) => JSON.parse(n.payload))).toEqual([{ lost: false }]);
            expect((await g.stop()).code).toBe(0);
          },
        );

        await t.step(
          "events: task.completed and task.failed reached the task-events queue",
          async () => {
            const evs = (await takeMessages(vhost.vhost, "procos.task-events", 5000)).map((m) => ({
              key: m.routing_key,
              body: JSON.parse(m.payload),
            }));
            const completed = evs.filter((e) => e.key === "task.completed");
            const failed = evs.filter((e) => e.key === "task.failed");
            expect(completed.some((e) => e.body.topic === "ai-generate" && e.body.contextId)).toBe(
              true,
            );
            expect(completed.some((e) => e.body.topic === "generic-sql")).toBe(true);
            expect(failed.some((e) => e.body.topic === "ai-generate" && e.body.incident === true))
              .toBe(true);
            expect(failed.some((e) => e.body.incident === false && e.body.retriesLeft > 0)).toBe(
              true,
            );
            for (const e of evs) {
              expect(e.body).toMatchObject({
                worker: expect.any(String),
                taskId: expect.any(String),
              });
            }
            // nothing printed a password
            for (const w of [ai]) {
              for (const line of w.out.lines) expect(line).not.toContain("guest:guest@");
            }
          },
        );
      } finally {
        for (const [name, fn] of cleanups) {
          try {
            await fn();
          } catch (e) {
            console.error(`cleanup ${name} failed:`, e);
          }
        }
      }
    },
  });
}

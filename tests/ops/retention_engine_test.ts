/**
 * The retention schedule end to end on the real engine
 * (engine/target/procos-engine.jar, Camunda 7) and the real PostgreSQL, in a
 * throwaway database holding both the engine's tables and the init script's:
 * processes/procos-retention.bpmn deploys and its timer job exists (the
 * verify schedule check is green); a copy whose timer fires every 2 seconds
 * starts an instance whose external task (topic procos-retention) the generic
 * worker's `retention` handler serves, moving aged rows; the run is recorded
 * and the verify last-run check is green; the copy's cycle is reported as
 * not the spec's schedule. Ignored when the jar or java is missing.
 */
import { expect } from "expect";
import { emitSql } from "../../compiler/emit/sql.ts";
import { retentionCamundaChecks, retentionPostgresChecks } from "../../verify/checks/retention.ts";
import { genericTopicHandler } from "../../workers/generic/handlers.ts";
import type { TaskContext } from "../../workers/lib/runner.ts";
import { REPO_ROOT, withTempDir } from "../helpers/build.ts";
import { connect, PG, psql, withScratch } from "../helpers/pg.ts";
import { byId, contextFor, freePort, referenceModel, run } from "../verify/helpers.ts";
import { ENGINE_JAR, engineAvailable } from "../helpers/engine.ts";

const BPMN = `${REPO_ROOT}/processes/procos-retention.bpmn`;

async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined>) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${what} within ${ms / 1000}s`);
}

Deno.test({
  name: "retention schedule on the real engine: deployed, timer fires, the task runs the retention",
  ignore: !engineAvailable(),
  fn: async () => {
    await withScratch(async (s) => {
      const model = await referenceModel();
      model.postgres.database = s.database;
      model.postgres.user = s.role;
      await withTempDir(async (dir) => {
        await Deno.writeTextFile(`${dir}/init-db.sql`, emitSql(model)[0].content);
        const r = await psql({ file: `${dir}/init-db.sql` });
        if (r.code !== 0) throw new Error(`init-db.sql failed: ${r.stderr}`);
      });
      const port = freePort();
      const engine = new Deno.Command("java", {
        args: ["-Xmx512m", "-jar", ENGINE_JAR],
        env: {
          SERVER_PORT: String(port),
          DB_URL: `jdbc:postgresql://${PG.host}:${PG.port}/${s.database}`,
          DB_USERNAME: s.role,
          DB_PASSWORD: "unused-with-trust-auth",
          CAMUNDA_BPM_RUN_AUTH_ENABLED: "false",
        },
        stdout: "null",
        stderr: "null",
        stdin: "null",
      }).spawn();
      let exited = false;
      const status = engine.status.then((st) => {
        exited = true;
        return st;
      });
      const sql = connect(s.database, s.role);
      try {
        const url = `http://127.0.0.1:${port}`;
        const rest = async (path: string, init?: RequestInit) => {
          const res = await fetch(`${url}/engine-rest${path}`, init);
          const text = await res.text();
          if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
          return text ? JSON.parse(text) : undefined;
        };
        await waitFor("the engine answered", 180_000, async () => {
          if (exited) throw new Error("the engine exited");
          return (await fetch(`${url}/engine-rest/engine`).then((r) => r.ok)) || undefined;
        });
        const deploy = async (xml: string) => {
          const form = new FormData();
          form.append("deployment-name", "procos-retention.bpmn");
          form.append("procos-retention.bpmn", new Blob([xml]), "procos-retention.bpmn");
          return await rest("/deployment/create", { method: "POST", body: form });
        };
        const original = await Deno.readTextFile(BPMN);
        await deploy(original);

        const ctx = await contextFor(model, {
          camunda: { url },
          postgres: { host: PG.host, port: PG.port },
        });
        const schedule = retentionCamundaChecks(model)[0];
        const green = await run(schedule, ctx);
        expect(green).toMatchObject({ status: "pass" });
        expect((green as { detail: string }).detail).toMatch(/^version 1, R\/PT1H, next run /);
        // before any run, the just-deployed schedule is given its first period
        const lastRun = byId(retentionPostgresChecks(model), "postgres.retention.last-run");
        expect(await run(lastRun, ctx)).toMatchObject({
          status: "skip",
          reason: expect.stringMatching(/^no retention run yet; procos-retention was deployed/),
        });

        // rows due for the historical phase (input after 7 days)
        await sql`
          INSERT INTO procos_ai_context (process_instance_id, context_type, content_data,
            created_at)
          SELECT 'pi-' || g, 'input', '{}', now() - interval '8 days'
          FROM generate_series(1, 25) AS g`;

        // a copy firing every 2 s: an instance reaches the external task
        await deploy(original.replace("R/PT1H", "R/PT2S"));
        const handler = genericTopicHandler({
          name: "procos-retention",
          type: "retention",
          lockDurationMs: 60_000,
          retries: 0,
          backoff: { initialMs: 1000, factor: 1, maxMs: 1000 },
        }, { sql, eventsExchange: "procos.events" });
        const [task] = await waitFor("a procos-retention external task", 60_000, async () => {
          const tasks = await rest("/external-task/fetchAndLock", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({
              workerId: "procos-test",
              maxTasks: 1,
              topics: [{ topicName: "procos-retention", lockDuration: 60_000 }],
            }),
          }) as { id: string; processInstanceId: string }[];
          return tasks.length ? tasks : undefined;
        });
        const result = await handler.handle({
          task: { ...task, values: {} },
          signal: new AbortController().signal,
          attempt: 1,
        } as unknown as TaskContext);
        expect(JSON.parse(String(result.variables?.retentionCounts.value)).historical.input)
          .toBe(25);
        await rest(`/external-task/${task.id}/complete`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ workerId: "procos-test", variables: result.variables }),
        });
        const done = await rest(`/history/process-instance/${task.processInstanceId}`);
        expect(done.state).toBe("COMPLETED");
        const [{ n }] = await sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM procos_ai_context_history`;
        expect(n).toBe(25);

        // the run is recorded: the last-run check is green
        expect(await run(lastRun, ctx)).toMatchObject({ status: "pass" });
        // and the deployed copy's cycle is not the spec's schedule
        expect(await run(schedule, ctx)).toMatchObject({
          status: "fail",
          actual: "timeCycle R/PT2S",
        });
        expect(exited).toBe(false);
      } finally {
        await sql.end();
        if (!exited) engine.kill("SIGTERM");
        await status;
      }
    }, { create: true });
  },
});

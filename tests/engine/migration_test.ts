/**
 * Migrating in place from Camunda 7.24.0 to Operaton 1.0.3 (docs/engine.md):
 * a database created by the Camunda jar is opened by the Operaton jar, with
 * the same environment, on the same port.
 *
 * Operaton 1.0.3 ships Camunda's upgrade scripts up to
 * `postgres_engine_7.23_to_7.24.sql` and creates a 7.24.0 schema itself
 * (`ACT_GE_SCHEMA_LOG` `7.24.0`): a 7.24.0 database needs no script, and
 * the test proves it, checking that the schema log is the same before and
 * after.
 *
 * On Camunda: a process with two external tasks is deployed, one instance
 * runs to its end (history), two wait at the first task, one of them with a
 * `Json` variable, and an AI exchange is stored in `procos_ai_context` as the
 * AI worker stores it. Then Camunda stops and Operaton starts: the history,
 * the running instances and their variables, the AI context and the admin
 * login are there, and the instances complete on Operaton.
 *
 * Ignored when either jar or java is missing.
 *
 * @module
 */
import { expect } from "expect";
import {
  bpmn,
  createDatabase,
  type Engine,
  freePort,
  newScratch,
  referenceModel,
  startEngine,
  type TestDatabase,
} from "../workers/helpers.ts";
import { dropScratch } from "../helpers/pg.ts";
import { engineAvailable } from "../helpers/engine.ts";
import { ENGINES } from "../../compiler/engines.ts";
import { AI_CONTEXT_TABLE } from "../../compiler/worker_manifest.ts";
import { saveAiExchange } from "../../workers/lib/store.ts";

const ADMIN = "procosadmin";
const PASSWORD = `m-${crypto.randomUUID()}`; // test-only, never printed
const AUTH = { authorization: `Basic ${btoa(`${ADMIN}:${PASSWORD}`)}` };
const ENV = {
  CAMUNDA_BPM_ADMINUSER_ID: ADMIN,
  CAMUNDA_BPM_ADMINUSER_PASSWORD: PASSWORD,
  CAMUNDA_BPM_RUN_AUTH_ENABLED: "true",
};
const KEY = "procos_t_migrate";

/** A JSON REST call with the admin's credentials; throws on a status other than 2xx. */
async function call<T = unknown>(api: string, method: string, path: string, body?: unknown) {
  const r = await fetch(`${api}${path}`, {
    method,
    headers: { ...AUTH, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status}: ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Fetches and locks up to `max` tasks of `topic`, completes them; returns their instances. */
async function work(api: string, topic: string, max: number, only?: string[]) {
  const tasks = await call<{ id: string; processInstanceId: string }[]>(
    api,
    "POST",
    "/external-task/fetchAndLock",
    {
      workerId: "migration-test",
      maxTasks: max,
      topics: [{ topicName: topic, lockDuration: 60_000 }],
    },
  );
  const done: string[] = [];
  for (const t of tasks) {
    if (only && !only.includes(t.processInstanceId)) {
      await call(api, "POST", `/external-task/${t.id}/unlock`);
      continue;
    }
    await call(api, "POST", `/external-task/${t.id}/complete`, {
      workerId: "migration-test",
      variables: { [`${topic}Done`]: { value: true, type: "Boolean" } },
    });
    done.push(t.processInstanceId);
  }
  return done;
}

const schemaLog = (db: TestDatabase) =>
  db.sql`SELECT id_, version_ FROM act_ge_schema_log ORDER BY id_`.then((rs) =>
    rs.map((r) => `${r.id_} ${r.version_}`)
  );

Deno.test({
  name: "migration: a Camunda 7.24.0 database opened by Operaton 1.0.3, instances complete there",
  ignore: !engineAvailable("camunda") || !engineAvailable("operaton"),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const scratch = newScratch();
    const port = freePort();
    let db: TestDatabase | undefined;
    let engine: Engine | undefined;
    try {
      db = await createDatabase(await referenceModel(scratch), scratch);
      engine = await startEngine(db, port, ENV, "camunda");
      const api = engine.url;
      let finished = "";
      let running: string[] = [];
      let log: string[] = [];

      await t.step(
        "on Camunda 7.24.0: history, two waiting instances, an AI exchange",
        async () => {
          expect(await call(api, "GET", "/version")).toEqual({ version: ENGINES.camunda.version });
          const form = new FormData();
          form.append("deployment-name", KEY);
          form.append(`${KEY}.bpmn`, new Blob([bpmn(KEY, ["t-mig-a", "t-mig-b"])]), `${KEY}.bpmn`);
          const dep = await fetch(`${api}/deployment/create`, {
            method: "POST",
            headers: AUTH,
            body: form,
          });
          expect(dep.status).toBe(200);
          await dep.body?.cancel();
          const start = async (variables: Record<string, unknown>) =>
            (await call<{ id: string }>(api, "POST", `/process-definition/key/${KEY}/start`, {
              variables,
            })).id;
          finished = await start({ n: { value: 0, type: "Integer" } });
          running = [
            await start({
              n: { value: 1, type: "Integer" },
              order: { value: JSON.stringify({ id: 7, items: ["a", "b"] }), type: "Json" },
            }),
            await start({ n: { value: 2, type: "Integer" } }),
          ];
          expect(await work(api, "t-mig-a", 10, [finished])).toEqual([finished]);
          expect(await work(api, "t-mig-b", 10, [finished])).toEqual([finished]);
          const hist = await call<{ state: string }>(
            api,
            "GET",
            `/history/process-instance/${finished}`,
          );
          expect(hist.state).toBe("COMPLETED");
          await saveAiExchange(db!.sql, {
            table: AI_CONTEXT_TABLE,
            taskId: `migration-${running[0]}`,
            processInstanceId: running[0],
            activityId: "task_0",
            provider: "ollama",
            model: "test-model",
            tokenUsage: { prompt: 3, completion: 2 },
            input: { text: "the prompt", data: { topic: "t-mig-a" } },
            output: { text: "the answer", data: { topic: "t-mig-a" } },
          });
          log = await schemaLog(db!);
          expect(log.at(-1)).toMatch(/ 7\.24\.0$/);
        },
      );

      await engine.stop();
      engine = await startEngine(db, port, ENV, "operaton");

      await t.step("on Operaton 1.0.3: no schema change, everything is there", async () => {
        expect(await call(api, "GET", "/version")).toEqual({ version: ENGINES.operaton.version });
        expect(await schemaLog(db!)).toEqual(log);
        const hist = await call<{ state: string }>(
          api,
          "GET",
          `/history/process-instance/${finished}`,
        );
        expect(hist.state).toBe("COMPLETED");
        const acts = await call<{ activityId: string }[]>(
          api,
          "GET",
          `/history/activity-instance?processInstanceId=${finished}&sortBy=startTime&sortOrder=asc`,
        );
        expect(acts.map((a) => a.activityId)).toEqual(["start", "task_0", "task_1", "end"]);
        const live = await call<{ id: string }[]>(
          api,
          "GET",
          `/process-instance?processDefinitionKey=${KEY}`,
        );
        expect(live.map((p) => p.id).sort()).toEqual([...running].sort());
        const order = await call<{ type: string; value: string }>(
          api,
          "GET",
          `/process-instance/${running[0]}/variables/order?deserializeValue=false`,
        );
        expect(order.type).toBe("Json");
        expect(JSON.parse(order.value)).toEqual({ id: 7, items: ["a", "b"] });
        const rows = await db!.sql`
          SELECT context_type, content_text FROM ${db!.sql(AI_CONTEXT_TABLE)}
          WHERE process_instance_id = ${running[0]} ORDER BY context_type`;
        expect(rows.map((r) => [r.context_type, r.content_text])).toEqual([
          ["input", "the prompt"],
          ["output", "the answer"],
        ]);
        const groups = await call<{ id: string }[]>(api, "GET", `/group?member=${ADMIN}`);
        expect(groups.map((g) => g.id).sort()).toEqual(["camunda-admin", "operaton-admin"]);
      });

      await t.step("on Operaton: the instances started on Camunda complete", async () => {
        expect((await work(api, "t-mig-a", 10)).sort()).toEqual([...running].sort());
        expect((await work(api, "t-mig-b", 10)).sort()).toEqual([...running].sort());
        for (const id of running) {
          const h = await call<{ state: string }>(api, "GET", `/history/process-instance/${id}`);
          expect({ id, state: h.state }).toEqual({ id, state: "COMPLETED" });
        }
        const count = await call<{ count: number }>(
          api,
          "GET",
          `/history/process-instance/count?processDefinitionKey=${KEY}&finished=true`,
        );
        expect(count).toEqual({ count: 3 });
        const vars = await call<{ name: string }[]>(
          api,
          "GET",
          `/history/variable-instance?processInstanceId=${running[0]}`,
        );
        expect(vars.map((v) => v.name).sort()).toEqual([
          "n",
          "order",
          "t-mig-aDone",
          "t-mig-bDone",
        ]);
      });
    } finally {
      await engine?.stop().catch((e) => console.error("engine stop failed:", e));
      if (db) await db.drop();
      else await dropScratch(scratch).catch(() => {});
    }
  },
});

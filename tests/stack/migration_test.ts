/**
 * The migration of docs/engine.md, as an operator runs it: `up` a stack on
 * Camunda 7.24.0 (the local runtime, the test spec of
 * `tests/fixtures/stack/make_spec.ts`), run processes, switch the spec to
 * `engine.distribution: operaton`, see `up` refuse to keep the running
 * Camunda, `down` (the database stays), `up` again: Operaton 1.0.3 on the
 * same database, the history, the waiting instances and the AI context are
 * there, the instances complete, and `deno task verify` is green with
 * `Operaton 1.0.3`. Then `down --purge` leaves the machine as found.
 *
 * Ignored unless both jars are built.
 *
 * @module
 */
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { build } from "../../compiler/compile.ts";
import { ENGINES } from "../../compiler/engines.ts";
import { AI_CONTEXT_TABLE } from "../../compiler/worker_manifest.ts";
import type { JsonReport } from "../../verify/reporters/json.ts";
import { saveAiExchange } from "../../workers/lib/store.ts";
import { type OllamaDouble, startOllamaDouble } from "../ollama_double.ts";
import { engineAvailable } from "../helpers/engine.ts";
import { connect } from "../helpers/pg.ts";
import { bpmn } from "../workers/helpers.ts";
import { loadSpec } from "../../compiler/load_spec.ts";
import { makeStackSpec } from "../fixtures/stack/make_spec.ts";
import { killLeftovers, pgState, psql, rabbit, runDeno } from "../fixtures/stack/machine.ts";

type Obj = Record<string, unknown>;
const KEY = "procos-t-migrate";

function fail(msg: string): never {
  throw new Error(msg);
}

Deno.test({
  name: "migration through up: Camunda 7.24.0 → down, switch the spec → Operaton 1.0.3, same data",
  ignore: !engineAvailable("camunda") || !engineAvailable("operaton"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const spec = await makeStackSpec({ distribution: "camunda" });
    const out = join(spec.dir, "out");
    const env = {
      ...spec.secretsEnv,
      PROCOS_RUNTIME: "local",
      PROCOS_POLL_MAX_BACKOFF_MS: "2000",
    };
    const api = `http://127.0.0.1:${spec.camundaPort}/engine-rest`;
    let double: OllamaDouble | undefined;
    let upRan = false;
    const cli = (args: string[]) => runDeno("runtime/cli.ts", args, env);
    const up = () => {
      upRan = true;
      return cli(["up", "--config", spec.config, "--out", out, "--engine", "local"]);
    };
    const camunda = async <T = unknown>(method: string, path: string, body?: unknown) => {
      const res = await fetch(`${api}${path}`, {
        method,
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: body === undefined ? {} : { "content-type": "application/json" },
      });
      const text = await res.text();
      if (!res.ok) fail(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
      return (text ? JSON.parse(text) : undefined) as T;
    };
    const until = async (what: string, fn: () => Promise<boolean>, ms = 60_000) => {
      for (
        const end = Date.now() + ms;
        Date.now() < end;
        await new Promise((r) => setTimeout(r, 250))
      ) {
        if (await fn()) return;
      }
      fail(`timed out after ${ms / 1000} s waiting for ${what}`);
    };
    const bootDone = async () => {
      const h = await camunda<{ state: string }[]>(
        "GET",
        "/history/process-instance?processDefinitionKey=procos-boot&finished=true",
      );
      return h.length;
    };
    const waiting: string[] = [];
    let bootFinished = 0;
    try {
      await build(spec.config, { outDir: out, env, profile: "development" });
      const resolved = await loadSpec(spec.config, { profile: "development", env });
      double = startOllamaDouble({
        port: spec.ollamaPort,
        models: [resolved.spec.ai.default_model],
      });

      await t.step(
        "on Camunda 7.24.0: up, the boot process completes, instances wait",
        async () => {
          const r = await up();
          if (r.code !== 0) fail(`up failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
          const v = await camunda<{ version: string }>("GET", "/version");
          if (v.version !== ENGINES.camunda.version) fail(`version ${v.version}`);
          await until("the boot process to complete", async () => (await bootDone()) > 0);
          bootFinished = await bootDone();
          const form = new FormData();
          form.append("deployment-name", KEY);
          form.append(`${KEY}.bpmn`, new Blob([bpmn(KEY, ["t-mig-wait"])]), `${KEY}.bpmn`);
          const dep = await fetch(`${api}/deployment/create`, { method: "POST", body: form });
          if (dep.status !== 200) fail(`deploy: HTTP ${dep.status} ${await dep.text()}`);
          await dep.body?.cancel();
          for (let i = 0; i < 2; i++) {
            const p = await camunda<{ id: string }>(
              "POST",
              `/process-definition/key/${KEY}/start`,
              {
                variables: { order: { value: JSON.stringify({ i }), type: "Json" } },
              },
            );
            waiting.push(p.id);
          }
          const sql = connect(spec.name);
          try {
            await saveAiExchange(sql, {
              table: AI_CONTEXT_TABLE,
              taskId: `migration-${waiting[0]}`,
              processInstanceId: waiting[0],
              activityId: "task_0",
              provider: "ollama",
              model: resolved.spec.ai.default_model,
              tokenUsage: {},
              input: { text: "before the switch", data: {} },
              output: { text: "kept after it", data: {} },
            });
          } finally {
            await sql.end();
          }
        },
      );

      await t.step(
        "switch the spec: up refuses the running Camunda; down, up: Operaton",
        async () => {
          const raw = parse(await Deno.readTextFile(spec.config)) as Obj;
          const ca = Object.values(raw.services as Obj).find((s) => (s as Obj).kind === "camunda");
          ((ca as Obj).engine as Obj).distribution = "operaton";
          await Deno.writeTextFile(spec.config, stringify(raw, { lineWidth: 0 }));
          await build(spec.config, { outDir: out, env, profile: "development" });
          const refused = await up();
          const said = refused.stdout + refused.stderr;
          if (refused.code === 0 || !said.includes("running Camunda 7.24.0")) {
            fail(`up with the switched spec did not refuse (exit ${refused.code}):\n${said}`);
          }
          if (!said.includes("deno task down")) fail(`the error names no step:\n${said}`);
          const down = await cli(["down", "--out", out]);
          if (down.code !== 0) fail(`down failed (exit ${down.code}):\n${down.stdout}`);
          const r = await up();
          if (r.code !== 0) {
            fail(`up on Operaton failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
          }
          if (!r.stdout.includes("camunda: started")) {
            fail(`up did not start the engine:\n${r.stdout}`);
          }
          const v = await camunda<{ version: string }>("GET", "/version");
          if (v.version !== ENGINES.operaton.version) fail(`version ${v.version} after the switch`);
        },
      );

      await t.step(
        "on Operaton: history, waiting instances and AI context there; they complete",
        async () => {
          if ((await bootDone()) < bootFinished) fail("the boot process history is gone");
          const live = await camunda<{ id: string }[]>(
            "GET",
            `/process-instance?processDefinitionKey=${KEY}`,
          );
          if (
            JSON.stringify(live.map((p) => p.id).sort()) !== JSON.stringify([...waiting].sort())
          ) {
            fail(`running instances ${JSON.stringify(live)}, expected ${JSON.stringify(waiting)}`);
          }
          const rows = await psql(
            `SELECT content_text FROM ${AI_CONTEXT_TABLE} WHERE process_instance_id = '${
              waiting[0]
            }' ORDER BY context_type`,
            spec.name,
          );
          if (rows.trim().split("\n").join("|") !== "before the switch|kept after it") {
            fail(`AI context rows: ${rows}`);
          }
          const tasks = await camunda<{ id: string }[]>("POST", "/external-task/fetchAndLock", {
            workerId: "migration-test",
            maxTasks: 10,
            topics: [{ topicName: "t-mig-wait", lockDuration: 60_000 }],
          });
          if (tasks.length !== 2) fail(`${tasks.length} tasks fetched on Operaton, expected 2`);
          for (const task of tasks) {
            await camunda("POST", `/external-task/${task.id}/complete`, {
              workerId: "migration-test",
            });
          }
          for (const id of waiting) {
            const h = await camunda<{ state: string }>("GET", `/history/process-instance/${id}`);
            if (h.state !== "COMPLETED") fail(`${id}: ${h.state} on Operaton`);
          }
          // the test's own process has no diagram (verify's camunda.diagrams): remove it
          const deps = await camunda<{ id: string }[]>("GET", `/deployment?name=${KEY}`);
          for (const d of deps) await camunda("DELETE", `/deployment/${d.id}?cascade=true`);
        },
      );

      await t.step("verify: green on Operaton, which reports 1.0.3", async () => {
        const r = await runDeno("verify/cli.ts", [
          "--config",
          spec.config,
          "--out",
          out,
          "--reporter",
          "json",
          "--only",
          "camunda",
        ], env);
        const report = JSON.parse(r.stdout) as JsonReport;
        const failed = report.checks.filter((c) => c.status === "fail");
        if (failed.length > 0) fail(`failing: ${JSON.stringify(failed)}`);
        const engine = report.checks.find((c) => c.id === "camunda.engine");
        if (engine?.status !== "pass" || !JSON.stringify(engine).includes("Operaton 1.0.3")) {
          fail(`camunda.engine: ${JSON.stringify(engine)}`);
        }
        const webapps = report.checks.find((c) => c.id === "camunda.webapps");
        if (webapps?.status !== "pass") fail(`camunda.webapps: ${JSON.stringify(webapps)}`);
      });

      await t.step("down --purge", async () => {
        const r = await cli(["down", "--purge", "--out", out]);
        if (r.code !== 0) fail(`down --purge failed (exit ${r.code}):\n${r.stdout}`);
        upRan = false;
        const pg = await pgState(spec.name);
        if (pg.database || pg.role) fail(`PostgreSQL still has ${JSON.stringify(pg)}`);
      });
    } finally {
      if (upRan) await cli(["down", "--purge", "--out", out]).catch(() => {});
      await killLeftovers(out);
      await double?.close();
      const pg = await pgState(spec.name).catch(() => ({ database: false, role: false }));
      if (pg.database) {
        await psql(`DROP DATABASE IF EXISTS "${spec.name}" WITH (FORCE)`).catch(() => {});
      }
      if (pg.role) await psql(`DROP ROLE IF EXISTS "${spec.name}"`).catch(() => {});
      for (
        const p of [
          `/vhosts/${encodeURIComponent(spec.name)}`,
          `/users/${encodeURIComponent(spec.name)}`,
        ]
      ) {
        await rabbit("DELETE", p).then((r) => r.body?.cancel()).catch(() => {});
      }
      await spec.remove();
    }
  },
});

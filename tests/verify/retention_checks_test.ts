/**
 * The retention checks (verify/checks/retention.ts): planned into the
 * postgres and camunda domains; the policy, last-run and export checks on the
 * real PostgreSQL (a throwaway database with the real init script), and the
 * schedule check against a stand-in of the few Camunda 7 REST endpoints it
 * reads. Each is green when it should be, then fails naming what is wrong.
 */
import { expect } from "expect";
import { emitSql } from "../../compiler/emit/sql.ts";
import { isoDuration, parseIsoDuration } from "../../compiler/emit/retention.ts";
import type { StackModel } from "../../compiler/model.ts";
import {
  cyclePeriodMs,
  describeMs,
  retentionCamundaChecks,
  retentionPostgresChecks,
  timerCycleOf,
} from "../../verify/checks/retention.ts";
import { postgresChecks } from "../../verify/checks/postgres.ts";
import { planChecks } from "../../verify/plan.ts";
import { applyRetention } from "../../workers/generic/handlers.ts";
import { connect, PG, psql, withScratch } from "../helpers/pg.ts";
import { withTempDir } from "../helpers/build.ts";
import { byId, contextFor, failing, referenceModel, run, runAll } from "./helpers.ts";

async function modelFor(database: string, user: string): Promise<StackModel> {
  const model = await referenceModel();
  model.postgres.database = database;
  model.postgres.user = user;
  return model;
}

async function sh(database: string, command: string) {
  const r = await psql({ database, command });
  if (r.code !== 0) throw new Error(`${command}: ${r.stderr}`);
}

Deno.test("retention checks: ISO durations and timer cycles", () => {
  expect(isoDuration("1h")).toBe("PT1H");
  expect(isoDuration("2d")).toBe("P2D");
  expect(isoDuration("90m")).toBe("PT90M");
  expect(parseIsoDuration("PT1H")).toBe(3_600_000);
  expect(parseIsoDuration("PT60M")).toBe(3_600_000);
  expect(parseIsoDuration("P1DT1H")).toBe(25 * 3_600_000);
  expect(parseIsoDuration("P1Y")).toBeUndefined();
  expect(parseIsoDuration("PT")).toBeUndefined();
  expect(cyclePeriodMs("R/PT1H")).toBe(3_600_000);
  expect(cyclePeriodMs("R5/PT10M")).toBe(600_000);
  expect(cyclePeriodMs("R/2025-01-01T00:00:00Z/P1D")).toBe(86_400_000);
  expect(cyclePeriodMs("PT1H")).toBeUndefined();
  expect(timerCycleOf(Deno.readTextFileSync(
    new URL("../../processes/procos-retention.bpmn", import.meta.url),
  ))).toBe("R/PT1H");
  expect(describeMs(5_400_000)).toBe("1h 30m");
});

Deno.test("retention checks: planned in the postgres and camunda domains", async () => {
  const model = await referenceModel();
  const ctx = await contextFor(model);
  const pg = (await planChecks(model, ctx, ["postgres"])).map((c) => c.id);
  expect(pg).toEqual(expect.arrayContaining([
    "postgres.function.procos_apply_retention",
    "postgres.function.procos_retention_policy",
    "postgres.retention.policy",
    "postgres.retention.last-run",
    "postgres.retention.export",
  ]));
  const ca = await planChecks(model, ctx, ["camunda"]);
  expect(ca.map((c) => c.id)).toContain("camunda.retention.schedule");
  expect(byId(ca, "camunda.retention.schedule").name).toBe(
    "camunda: process procos-retention deployed with a timer every 1h, timer active",
  );
  // without a worker topic of type retention the schedule checks say why they skip
  const bare = structuredClone(model);
  for (const w of bare.workers) w.topics = w.topics.filter((t) => t.type !== "retention");
  const skipped = await run(retentionCamundaChecks(bare)[0], ctx);
  expect(skipped).toMatchObject({ status: "skip" });
  expect((skipped as { reason: string }).reason).toContain("no generic worker topic");
});

Deno.test("retention checks on PostgreSQL: policy drift, last run, export backlog", async () => {
  await withScratch(async (s) => {
    const model = await modelFor(s.database, s.role);
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/init-db.sql`, emitSql(model)[0].content);
      const r = await psql({ file: `${dir}/init-db.sql` });
      if (r.code !== 0) throw new Error(`init-db.sql failed: ${r.stderr}`);
    });
    // Camunda is unreachable here: the last-run check cannot excuse a missing run
    const ctx = await contextFor(model, {
      postgres: { host: PG.host, port: PG.port },
      camunda: { url: "http://127.0.0.1:9" },
    });
    const checks = [...postgresChecks(model), ...retentionPostgresChecks(model)];
    let now = await runAll(checks, ctx);
    expect(failing(now)).toEqual(["postgres.retention.last-run"]);
    expect(now.get("postgres.retention.policy")).toEqual({ status: "pass" });
    expect(now.get("postgres.retention.export")).toEqual({ status: "pass" });
    expect(now.get("postgres.retention.last-run")).toMatchObject({
      status: "fail",
      actual: "no retention run recorded in procos_retention_runs",
    });

    const sql = connect(s.database, s.role);
    try {
      // a run: green
      await applyRetention(sql, {});
      now = await runAll(checks, ctx);
      expect(failing(now)).toEqual([]);
      expect(now.get("postgres.retention.last-run")).toMatchObject({ status: "pass" });

      // a dry run does not count; an old run is late
      await sql`UPDATE procos_retention_runs SET started_at = now() - interval '2 hours',
                  finished_at = now() - interval '2 hours'`;
      await applyRetention(sql, { dryRun: true });
      const late = await run(byId(checks, "postgres.retention.last-run"), ctx);
      expect(late).toMatchObject({
        status: "fail",
        expected: "a successful run started within the last 1h 30m (schedule 1h + grace)",
        actual: "the last successful run (1) started 2h ago",
      });

      // the latest run failed
      await sql`INSERT INTO procos_retention_runs (at, batch_size, counts, finished_at, error)
                VALUES (now(), 1000, '{}', now(), 'disk full')`;
      const failed = await run(byId(checks, "postgres.retention.last-run"), ctx);
      expect(failed).toMatchObject({ status: "fail" });
      expect((failed as { actual: string }).actual).toMatch(/^run 3 .* failed: disk full$/);

      // a row past its last phase, not exported
      await sql`INSERT INTO procos_ai_context_archive (id, process_instance_id, context_type,
                  content_data, created_at, moved_at)
                VALUES (uuid_generate_v4(), 'pi', 'input', '{}', now() - interval '400 days',
                  now())`;
      const backlog = await run(byId(checks, "postgres.retention.export"), ctx);
      expect(backlog).toMatchObject({
        status: "fail",
        actual: "1 row(s) past their last phase are not exported, so not purged",
      });
      await sql`UPDATE procos_ai_context_archive SET exported_at = now()`;
      expect(await run(byId(checks, "postgres.retention.export"), ctx)).toEqual({
        status: "pass",
      });
    } finally {
      await sql.end();
    }

    // the database's policy is not the spec's any more
    await sh(
      s.database,
      `CREATE OR REPLACE FUNCTION procos_retention_policy()
       RETURNS TABLE (context_type text, realtime interval, historical interval,
                      archived interval, export_required boolean)
       LANGUAGE sql STABLE AS $$ VALUES ('input', '1 hour'::interval, '2 hours'::interval,
         '3 hours'::interval, false) $$`,
    );
    const drift = await run(byId(checks, "postgres.retention.policy"), ctx);
    expect(drift).toMatchObject({
      status: "fail",
      actual: "input: leaves real-time at 3600s, historical at 7200s, archived at 10800s",
    });
    expect((drift as { expected: string }).expected).toContain(
      "system: leaves real-time at 2592000s, historical at 15552000s, archived at 63072000s, " +
        "purged once exported",
    );

    // the procedure with another signature
    await sh(s.database, "DROP PROCEDURE procos_apply_retention");
    await sh(
      s.database,
      "CREATE PROCEDURE procos_apply_retention(at timestamptz) LANGUAGE sql AS $$ SELECT 1 $$",
    );
    const sig = await run(byId(checks, "postgres.function.procos_apply_retention"), ctx);
    expect(sig).toMatchObject({
      status: "fail",
      actual: "procedure procos_apply_retention(IN at timestamp with time zone)",
    });
  }, { create: true });
});

interface FakeCamunda {
  url: string;
  xml: string;
  jobs: { dueDate: string; suspended: boolean }[];
  deployed: boolean;
  close(): Promise<void>;
}

function startFakeCamunda(xml: string): FakeCamunda {
  const state = {
    xml,
    jobs: [{ dueDate: "2025-06-01T01:00:00.000+0000", suspended: false }],
    deployed: true,
  };
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json" },
    });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
    const u = new URL(req.url);
    const p = decodeURIComponent(u.pathname).replace(/^\/engine-rest/, "");
    if (p === "/process-definition/key/procos-retention") {
      return state.deployed
        ? json({ id: "procos-retention:1:abc", key: "procos-retention", version: 1 })
        : json({ type: "RestException", message: "no definition" }, 404);
    }
    if (p === "/process-definition/procos-retention:1:abc/xml") {
      return json({ id: "procos-retention:1:abc", bpmn20Xml: state.xml });
    }
    if (p === "/job") {
      expect(u.searchParams.get("processDefinitionId")).toBe("procos-retention:1:abc");
      expect(u.searchParams.get("timers")).toBe("true");
      return json(state.jobs);
    }
    return json({ message: `not found: ${p}` }, 404);
  });
  const addr = server.addr as Deno.NetAddr;
  return Object.assign(state, {
    url: `http://127.0.0.1:${addr.port}`,
    close: () => server.shutdown(),
  });
}

Deno.test("retention checks on Camunda: deployed, the spec's timer cycle, an active timer job", async () => {
  const xml = await Deno.readTextFile(
    new URL("../../processes/procos-retention.bpmn", import.meta.url),
  );
  const fake = startFakeCamunda(xml);
  try {
    const model = await referenceModel();
    const ctx = await contextFor(model, { camunda: { url: fake.url } });
    const check = retentionCamundaChecks(model)[0];
    expect(await run(check, ctx)).toEqual({
      status: "pass",
      detail: "version 1, R/PT1H, next run 2025-06-01T01:00:00.000+0000",
    });

    fake.xml = xml.replace("R/PT1H", "R/PT2H");
    expect(await run(check, ctx)).toMatchObject({
      status: "fail",
      expected: "a timer start event with timeCycle R/PT1H (ai.retention.schedule 1h)",
      actual: "timeCycle R/PT2H",
    });
    fake.xml = xml.replace("R/PT1H", "R/PT60M"); // the same period, written otherwise
    expect(await run(check, ctx)).toMatchObject({ status: "pass" });

    fake.jobs = [];
    expect(await run(check, ctx)).toMatchObject({ status: "fail", actual: "no timer job" });
    fake.jobs = [{ dueDate: "x", suspended: true }];
    expect(await run(check, ctx)).toMatchObject({
      status: "fail",
      actual: "its timer job is suspended",
    });

    fake.deployed = false;
    const missing = await run(check, ctx);
    expect(missing).toMatchObject({
      status: "fail",
      expected: "a process definition with key procos-retention",
    });
  } finally {
    await fake.close();
  }
});

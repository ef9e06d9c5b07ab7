/**
 * AI context retention (docs/retention.md), beyond the routines that
 * `postgres.ts` checks from `AI_RETENTION_FUNCTIONS`:
 *
 * - postgres: the policy in the database (`procos_retention_policy()`) is the
 *   spec's (`ai.retention`, overrides included): init-db.sql was re-run after
 *   the spec changed;
 * - postgres: the last retention run succeeded and started within the
 *   schedule's period (`ai.retention.schedule`) plus a grace of half a period
 *   (at least 5 minutes) for the timer's jitter and the run itself; before
 *   any run, the schedule process must have been deployed less than that
 *   long ago;
 * - postgres: with export enabled, no row past its last phase waits to be
 *   exported (the purge keeps such rows; `deno task retention` exports);
 * - camunda: the schedule process `procos-retention` is deployed, its timer
 *   cycle is the spec's schedule, and its timer job is active.
 *
 * The schedule checks are planned when a generic worker serves a topic of
 * type `retention`; without one they are skipped, saying so.
 *
 * @module
 */
import {
  AI_RETENTION_RUNS_TABLE,
  RETENTION_PLAN_FUNCTION,
  RETENTION_POLICY_FUNCTION,
} from "../../compiler/ai_schema.ts";
import {
  isoDuration,
  parseIsoDuration,
  RETENTION_PROCESS_KEY,
  retentionPolicy,
} from "../../compiler/emit/retention.ts";
import type { RetentionPolicy } from "../../compiler/emit/retention.ts";
import type { StackModel } from "../../compiler/model.ts";
import type { Check, Result, RunContext } from "../check.ts";
import { errorMessage, fail, pass, skip } from "../check.ts";
import { describeStatus, httpRequest, jsonOf } from "../clients/http.ts";
import type { HttpResponse } from "../clients/http.ts";
import { camundaAuth } from "./camunda.ts";
import { query } from "./postgres.ts";

/** The grace beyond one period before the last run counts as late, ms. */
export function retentionGraceMs(scheduleMs: number): number {
  return Math.max(scheduleMs / 2, 5 * 60_000);
}

/** A duration in ms as a person reads it: `1h`, `90m`, `2d 3h`. */
export function describeMs(ms: number): string {
  const parts: string[] = [];
  let s = Math.round(ms / 1000);
  for (const [unit, n] of [["d", 86_400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (s >= n) {
      parts.push(`${Math.floor(s / n)}${unit}`);
      s %= n;
    }
  }
  return parts.length ? parts.slice(0, 2).join(" ") : "0s";
}

/** Whether a generic worker of the model serves a topic of type `retention`. */
export function hasRetentionTopic(model: StackModel): boolean {
  return model.workers.some((w) =>
    w.kind === "generic" && w.topics.some((t) => (t as { type?: unknown }).type === "retention")
  );
}

const noTopic = "no generic worker topic of type retention in the spec: nothing runs the " +
  "retention on a schedule";

async function camunda(ctx: RunContext, path: string): Promise<HttpResponse> {
  return await httpRequest(`${ctx.targets.camunda.url}/engine-rest${path}`, {
    auth: camundaAuth(ctx.model),
    signal: ctx.signal,
  });
}

/** The policy of the database equals the spec's. */
export function policyCheck(policy: RetentionPolicy): Check {
  return {
    id: "postgres.retention.policy",
    domain: "postgres",
    name: "postgres: the retention policy in the database is the spec's (ai.retention)",
    run: (ctx) =>
      query(ctx, async (sql) => {
        let live: {
          type: string;
          rt: string | null;
          hi: string | null;
          ar: string | null;
          ex: boolean;
        }[];
        try {
          live = await sql`
            SELECT context_type AS type,
                   extract(epoch FROM realtime)::text AS rt,
                   extract(epoch FROM historical)::text AS hi,
                   extract(epoch FROM archived)::text AS ar,
                   export_required AS ex
            FROM ${sql(RETENTION_POLICY_FUNCTION)}() ORDER BY context_type`;
        } catch (e) {
          return fail(
            `function ${RETENTION_POLICY_FUNCTION}()`,
            errorMessage(e),
            "run out/sql/init-db.sql",
          );
        }
        const secs = (ms: number | null) => (ms === null ? "never" : String(ms / 1000));
        const fromDb = (x: string | null) => (x === null ? "never" : String(Number(x)));
        const line = (t: string, rt: string, hi: string, ar: string, ex: boolean) =>
          `${t}: leaves real-time at ${rt}s, historical at ${hi}s, archived at ${ar}s` +
          (ex ? ", purged once exported" : "");
        const want = [...policy.types]
          .sort((a, b) => a.contextType < b.contextType ? -1 : 1)
          .map((t) =>
            line(
              t.contextType,
              secs(t.realtime.ms),
              secs(t.historical.ms),
              secs(t.archived.ms),
              policy.exportRequired,
            )
          );
        const have = live.map((r) => line(r.type, fromDb(r.rt), fromDb(r.hi), fromDb(r.ar), r.ex));
        return want.join("\n") === have.join("\n") ? pass() : fail(
          want.join("\n"),
          have.join("\n") || "no policy rows",
          "the spec's ai.retention changed since the database was initialised: run " +
            "out/sql/init-db.sql again (deno task build writes it)",
        );
      }),
  };
}

/** When the schedule process was deployed (its latest version), if Camunda answers. */
async function scheduleDeployedAt(ctx: RunContext): Promise<Date | undefined> {
  try {
    const def = await camunda(ctx, `/process-definition/key/${RETENTION_PROCESS_KEY}`);
    if (def.status !== 200) return undefined;
    const { deploymentId } = jsonOf<{ deploymentId?: string }>(def);
    if (!deploymentId) return undefined;
    const dep = await camunda(ctx, `/deployment/${encodeURIComponent(deploymentId)}`);
    if (dep.status !== 200) return undefined;
    const t = jsonOf<{ deploymentTime?: string }>(dep).deploymentTime;
    const d = t ? new Date(t.replace(/([+-]\d{2})(\d{2})$/, "$1:$2")) : undefined;
    return d && !Number.isNaN(d.getTime()) ? d : undefined;
  } catch {
    return undefined;
  }
}

/** The last run succeeded and started within the period (plus grace). */
export function lastRunCheck(model: StackModel, policy: RetentionPolicy): Check {
  const allowed = policy.scheduleMs + retentionGraceMs(policy.scheduleMs);
  const planned = hasRetentionTopic(model);
  return {
    id: "postgres.retention.last-run",
    domain: "postgres",
    name:
      `postgres: the last retention run succeeded within the schedule (every ${policy.schedule})`,
    run: (ctx) => {
      if (!planned) return Promise.resolve(skip(noTopic));
      return query(ctx, async (sql): Promise<Result> => {
        type Run = {
          id: string;
          started_at: Date;
          finished_at: Date | null;
          error: string | null;
          age_ms: string;
        };
        let last: Run | undefined;
        let ok: Run | undefined;
        try {
          const runs = (where: "any" | "ok") =>
            sql<Run[]>`
              SELECT id::text, started_at, finished_at, error,
                     (extract(epoch FROM now() - started_at) * 1000)::bigint::text AS age_ms
              FROM ${sql(AI_RETENTION_RUNS_TABLE)}
              WHERE NOT dry_run ${
              where === "ok" ? sql`AND finished_at IS NOT NULL AND error IS NULL` : sql``
            }
              ORDER BY started_at DESC LIMIT 1`;
          [last] = await runs("any");
          [ok] = await runs("ok");
        } catch (e) {
          return fail(
            `table ${AI_RETENTION_RUNS_TABLE}`,
            errorMessage(e),
            "run out/sql/init-db.sql",
          );
        }
        const expected = `a successful run started within the last ${describeMs(allowed)} ` +
          `(schedule ${policy.schedule} + grace)`;
        if (last && last.error !== null && (!ok || last.started_at > ok.started_at)) {
          return fail(
            expected,
            `run ${last.id} (started ${last.started_at.toISOString()}) failed: ${last.error}`,
            "see procos_retention_runs and the procos-retention incidents in Camunda",
          );
        }
        if (ok) {
          const age = Number(ok.age_ms);
          const detail = `run ${ok.id}, ${describeMs(age)} ago`;
          return age <= allowed ? pass(detail) : fail(
            expected,
            `the last successful run (${ok.id}) started ${describeMs(age)} ago`,
            "is the procos-retention process deployed and the generic worker serving " +
              "procos-retention? (deno task retention runs it by hand)",
          );
        }
        const deployed = await scheduleDeployedAt(ctx);
        if (deployed) {
          const [{ now }] = await sql<{ now: Date }[]>`SELECT now() AS now`;
          const since = now.getTime() - deployed.getTime();
          if (since <= allowed) {
            return skip(
              `no retention run yet; ${RETENTION_PROCESS_KEY} was deployed ${
                describeMs(since)
              } ago, its first run is due within ${policy.schedule}`,
            );
          }
        }
        return fail(
          expected,
          `no retention run recorded in ${AI_RETENTION_RUNS_TABLE}` +
            (deployed ? ` (${RETENTION_PROCESS_KEY} deployed ${deployed.toISOString()})` : ""),
          "is the procos-retention process deployed and the generic worker serving " +
            "procos-retention? (deno task retention runs it by hand)",
        );
      });
    },
  };
}

/** With export enabled: no row past its last phase waits for the export. */
export function exportBacklogCheck(policy: RetentionPolicy): Check {
  return {
    id: "postgres.retention.export",
    domain: "postgres",
    name: "postgres: every AI context row past its last phase is exported (and so purged)",
    run: (ctx) => {
      if (!policy.exportRequired) {
        return Promise.resolve(skip("ai.retention.export.enabled is false: rows are purged"));
      }
      return query(ctx, async (sql) => {
        let n: number;
        try {
          const [r] = await sql<{ n: string }[]>`
            SELECT coalesce(sum(v::text::bigint), 0)::text AS n
            FROM jsonb_each(${sql(RETENTION_PLAN_FUNCTION)}(now()) -> 'unexported') AS e(k, v)`;
          n = Number(r.n);
        } catch (e) {
          return fail(
            `function ${RETENTION_PLAN_FUNCTION}()`,
            errorMessage(e),
            "run out/sql/init-db.sql",
          );
        }
        return n === 0 ? pass() : fail(
          "no row past ai.retention.archived waiting to be exported",
          `${n} row(s) past their last phase are not exported, so not purged`,
          "deno task retention exports them (or deno task ai:export), then purges",
        );
      });
    },
  };
}

/** The first timer cycle of a BPMN document (`R/PT1H`), if any. */
export function timerCycleOf(xml: string): string | undefined {
  const m = /<(?:[A-Za-z_][\w.-]*:)?timeCycle\b[^>]*>([^<]*)</.exec(xml);
  return m ? m[1].trim() : undefined;
}

/** The period of a repeating ISO 8601 interval (`R/PT1H`, `R5/PT10M`, `R/2025-01-01T00:00Z/P1D`), ms. */
export function cyclePeriodMs(cycle: string): number | undefined {
  const parts = cycle.split("/");
  if (!/^R\d*$/.test(parts[0] ?? "")) return undefined;
  const p = parts.find((x, i) => i > 0 && x.startsWith("P"));
  return p === undefined ? undefined : parseIsoDuration(p);
}

/** The schedule process is deployed, its timer is the spec's schedule, its timer job active. */
export function scheduleCheck(model: StackModel, policy: RetentionPolicy): Check {
  const key = RETENTION_PROCESS_KEY;
  const want = `R/${isoDuration(policy.schedule)}`;
  const planned = hasRetentionTopic(model);
  return {
    id: "camunda.retention.schedule",
    domain: "camunda",
    name: `camunda: process ${key} deployed with a timer every ${policy.schedule}, timer active`,
    run: async (ctx) => {
      if (!planned) return skip(noTopic);
      const def = await camunda(ctx, `/process-definition/key/${encodeURIComponent(key)}`);
      if (def.status !== 200) {
        return fail(
          `a process definition with key ${key}`,
          describeStatus(def),
          "the kernel deploys processes/procos-retention.bpmn at boot: is it in processes.path?",
        );
      }
      const d = jsonOf<{ id: string; version?: number; suspended?: boolean }>(def);
      if (d.suspended) {
        return fail(`${key} active`, `${key} version ${d.version} is suspended`, "activate it");
      }
      const xmlRes = await camunda(ctx, `/process-definition/${encodeURIComponent(d.id)}/xml`);
      if (xmlRes.status !== 200) return fail("its BPMN XML", describeStatus(xmlRes));
      const cycle = timerCycleOf(jsonOf<{ bpmn20Xml?: string }>(xmlRes).bpmn20Xml ?? "");
      const period = cycle === undefined ? undefined : cyclePeriodMs(cycle);
      if (period !== policy.scheduleMs) {
        return fail(
          `a timer start event with timeCycle ${want} (ai.retention.schedule ${policy.schedule})`,
          cycle === undefined ? "no timeCycle" : `timeCycle ${cycle}`,
          "make processes/procos-retention.bpmn's timer and ai.retention.schedule agree, " +
            "then redeploy (restart the kernel)",
        );
      }
      const jobs = await camunda(
        ctx,
        `/job?processDefinitionId=${encodeURIComponent(d.id)}&timers=true`,
      );
      if (jobs.status !== 200) return fail("GET /job: HTTP 200", describeStatus(jobs));
      const list = jsonOf<{ dueDate?: string; suspended?: boolean }[]>(jobs);
      const active = list.filter((j) => !j.suspended);
      if (active.length === 0) {
        return fail(
          `an active timer job of ${key}`,
          list.length ? "its timer job is suspended" : "no timer job",
          "redeploy the process (a new version gets a new timer job) or activate the job",
        );
      }
      return pass(`version ${d.version ?? "?"}, ${cycle}, next run ${active[0].dueDate ?? "?"}`);
    },
  };
}

/** The retention checks of the postgres domain. */
export function retentionPostgresChecks(model: StackModel): Check[] {
  const policy = retentionPolicy(model.ai);
  return [policyCheck(policy), lastRunCheck(model, policy), exportBacklogCheck(policy)];
}

/** The retention checks of the camunda domain. */
export function retentionCamundaChecks(model: StackModel): Check[] {
  return [scheduleCheck(model, retentionPolicy(model.ai))];
}

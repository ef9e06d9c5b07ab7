/**
 * The AI context retention policy, compiled from `ai.retention`: the SQL of
 * `templates/retention.sql.hbs` (the policy function, the batch function, the
 * dry-run plan and the procedure `procos_apply_retention`), which the SQL
 * emitter writes into `out/sql/init-db.sql`, and the policy as data for the
 * ops tasks and `verify`.
 *
 * Durations become intervals in hours (days are written as 24 hours) or
 * smaller units, never calendar days: `timestamptz - interval '7 days'`
 * depends on the session's time zone across a daylight-saving change, `- '168
 * hours'` does not. A duration longer than {@link NEVER_MS} compiles to NULL,
 * "never leaves this phase" (PostgreSQL cannot subtract it from a timestamp).
 *
 * @module
 */
import {
  AI_CONTEXT_ARCHIVE_TABLE,
  AI_CONTEXT_HISTORY_TABLE,
  AI_CONTEXT_TABLE,
  AI_CONTEXT_TYPES,
  AI_RETENTION_RUNS_TABLE,
  aiTable,
  APPLY_RETENTION_PROCEDURE,
  RETENTION_BATCH_FUNCTION,
  RETENTION_PHASES,
  RETENTION_PLAN_FUNCTION,
  RETENTION_POLICY_FUNCTION,
} from "../ai_schema.ts";
import { parseDuration } from "../duration.ts";
import type { StackModel } from "../model.ts";
import type { Spec } from "../schema.ts";
import { compileSqlTemplate } from "../sql_quote.ts";
import type { SqlTemplate } from "../sql_quote.ts";

/** Durations longer than this (1000 years) mean "never": the row stays in that phase. */
export const NEVER_MS = 1000 * 365.25 * 86_400_000;

/** The schedule when the spec gives none (`ai.retention.schedule`). */
export const DEFAULT_RETENTION_SCHEDULE = "1h";

/** The process that runs the retention on the schedule (`processes/procos-retention.bpmn`). */
export const RETENTION_PROCESS_KEY = "procos-retention";

/** The external task topic of that process, served by a generic worker topic of type `retention`. */
export const RETENTION_TOPIC = "procos-retention";

/** One phase of one context type. */
export interface PhaseLimit {
  /** The spec's duration, e.g. `7d`. */
  duration: string;
  /** The same in milliseconds, or null for "never" (longer than {@link NEVER_MS}). */
  ms: number | null;
  /** The PostgreSQL interval text, e.g. `168 hours`, or null for "never". */
  interval: string | null;
}

/** The policy of one context type. */
export interface TypePolicy {
  /** `input`, `output` or `system`. */
  contextType: string;
  /** Whether it comes from `ai.retention.overrides`. */
  overridden: boolean;
  /** The age at which a row leaves the real-time phase (moves to historical). */
  realtime: PhaseLimit;
  /** The age at which a row leaves the historical phase (moves to archived). */
  historical: PhaseLimit;
  /** The age at which a row leaves the archived phase (is purged). */
  archived: PhaseLimit;
}

/** The retention policy of a spec. */
export interface RetentionPolicy {
  /** One entry per context type, in {@link AI_CONTEXT_TYPES} order. */
  types: TypePolicy[];
  /** `ai.retention.export.enabled`: nothing is purged that was not exported. */
  exportRequired: boolean;
  /** `ai.retention.export.path`. */
  exportPath: string;
  /** `ai.retention.schedule`, e.g. `1h`. */
  schedule: string;
  /** The schedule in milliseconds. */
  scheduleMs: number;
}

const UNIT_NAMES: Record<string, string> = {
  ms: "milliseconds",
  s: "seconds",
  m: "minutes",
  h: "hours",
};

/** A spec duration as a PostgreSQL interval without calendar units (`7d` is `168 hours`). */
export function durationInterval(text: string): string | null {
  const ms = parseDuration(text);
  if (ms > NEVER_MS) return null;
  const m = /^([0-9]+)(ms|s|m|h|d)$/.exec(text)!;
  const n = Number(m[1]);
  return m[2] === "d" ? `${n * 24} hours` : `${n} ${UNIT_NAMES[m[2]]}`;
}

/** A spec duration as an ISO 8601 duration of a BPMN timer (`1h` is `PT1H`, `2d` is `P2D`). */
export function isoDuration(text: string): string {
  const ms = parseDuration(text);
  const m = /^([0-9]+)(ms|s|m|h|d)$/.exec(text)!;
  const n = Number(m[1]);
  switch (m[2]) {
    case "d":
      return `P${n}D`;
    case "h":
      return `PT${n}H`;
    case "m":
      return `PT${n}M`;
    case "s":
      return `PT${n}S`;
    default:
      return `PT${ms / 1000}S`;
  }
}

/**
 * Milliseconds of an ISO 8601 duration of days and time (`P1D`, `PT1H`,
 * `PT90M`, `PT0.5S`), as BPMN timers write them; undefined for anything else
 * (years, months and weeks have no fixed length here).
 */
export function parseIsoDuration(text: string): number | undefined {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text.trim());
  if (!m || text.trim() === "P" || text.trim().endsWith("T")) return undefined;
  const [, d, h, min, s] = m;
  if (d === undefined && h === undefined && min === undefined && s === undefined) return undefined;
  return (Number(d ?? 0) * 86_400 + Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 +
    Number(s ?? 0)) * 1000;
}

function limit(duration: string): PhaseLimit {
  const ms = parseDuration(duration);
  const interval = durationInterval(duration);
  return { duration, ms: interval === null ? null : ms, interval };
}

/** Compiles `ai.retention` into one policy per context type. Pure. */
export function retentionPolicy(ai: Spec["ai"]): RetentionPolicy {
  const r = ai.retention;
  const overrides = r.overrides as Partial<Record<string, Record<string, string>>>;
  const schedule = r.schedule ?? DEFAULT_RETENTION_SCHEDULE;
  return {
    types: AI_CONTEXT_TYPES.map((contextType) => {
      const o = overrides[contextType];
      const phases = o ?? r;
      return {
        contextType,
        overridden: o !== undefined,
        realtime: limit(phases.realtime),
        historical: limit(phases.historical),
        archived: limit(phases.archived),
      };
    }),
    exportRequired: r.export.enabled,
    exportPath: r.export.path,
    schedule,
    scheduleMs: parseDuration(schedule),
  };
}

const TEMPLATE_URL = new URL("../../templates/retention.sql.hbs", import.meta.url);
let compiled: SqlTemplate | undefined;

/** The view `retention.sql.hbs` renders. */
function retentionView(model: StackModel): Record<string, unknown> {
  const policy = retentionPolicy(model.ai);
  const columns = aiTable(AI_CONTEXT_TABLE).columns.map((c) => c.name);
  for (const t of [AI_CONTEXT_HISTORY_TABLE, AI_CONTEXT_ARCHIVE_TABLE]) {
    const names = aiTable(t).columns.map((c) => c.name);
    if (columns.some((c, i) => names[i] !== c)) {
      throw new Error(`${t} must start with the columns of ${AI_CONTEXT_TABLE}, in order`);
    }
  }
  if (RETENTION_PHASES.length !== 3) throw new Error("three retention phases expected");
  return {
    user: model.postgres.user,
    contextTable: AI_CONTEXT_TABLE,
    historyTable: AI_CONTEXT_HISTORY_TABLE,
    archiveTable: AI_CONTEXT_ARCHIVE_TABLE,
    runsTable: AI_RETENTION_RUNS_TABLE,
    policyFunction: RETENTION_POLICY_FUNCTION,
    batchFunction: RETENTION_BATCH_FUNCTION,
    planFunction: RETENTION_PLAN_FUNCTION,
    procedure: APPLY_RETENTION_PROCEDURE,
    columns,
    exportRequired: policy.exportRequired,
    policies: policy.types.map((t) => ({
      contextType: t.contextType,
      source: t.overridden ? `ai.retention.overrides.${t.contextType}` : "ai.retention",
      realtime: t.realtime.interval,
      historical: t.historical.interval,
      archived: t.archived.interval,
      durations:
        `realtime ${t.realtime.duration}, historical ${t.historical.duration}, archived ${t.archived.duration}`,
    })),
  };
}

/**
 * The retention SQL (policy, batch and plan functions, the procedure) for
 * the model's spec, to run inside init-db.sql's transaction after the
 * tables exist.
 */
export function retentionSql(model: StackModel): string {
  compiled ??= compileSqlTemplate(Deno.readTextFileSync(TEMPLATE_URL), "retention.sql.hbs");
  return compiled(retentionView(model));
}

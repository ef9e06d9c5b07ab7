/**
 * `deno task ai:usage`: tokens and latency per model and per day (UTC).
 *
 *     deno task ai:usage [--since ISO] [--until ISO] [--json]
 *
 * From the model statistics table (`AI_MODEL_STATS_TABLE`, which the AI
 * worker adds to on every answer and failure), joined to the model table for
 * the provider and model names. A bucket counts on the day it starts. When the
 * statistics hold nothing in the range (a stack where the worker has not
 * counted yet, or whose statistics were purged), the numbers are worked out
 * from the AI context itself instead: every row with `token_usage`, of every
 * lifecycle phase, counts as one request — Ollama's `prompt_eval_count`,
 * `eval_count` and `total_duration` (ns), or `prompt_tokens`,
 * `completion_tokens` and `latency_ms`.
 *
 * @module
 */
import { AI_MODEL_STATS_TABLE, AI_MODELS_TABLE } from "../compiler/ai_schema.ts";
import { quoteIdent, quoteLiteral } from "../compiler/sql_quote.ts";
import {
  COMMON_USAGE,
  connectSpec,
  describeConn,
  loadOps,
  OpsError,
  parseOpsArgs,
  processIo,
  runOps,
  UsageError,
  withSql,
} from "./db.ts";
import type { OpsContext, OpsIo } from "./db.ts";
import { contextPhases, parseTime } from "./search.ts";
import type { ContextPhase } from "./search.ts";
import type postgres from "postgres";

/** One model on one day. */
export interface UsageRow {
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  provider: string;
  model: string;
  requests: number;
  failures: number;
  truncated: number;
  promptTokens: number;
  completionTokens: number;
  /** Summed latency, ms. */
  totalLatencyMs: number;
  /** totalLatencyMs / requests, or null without requests. */
  avgLatencyMs: number | null;
}

/** What {@link usage} found, and where. */
export interface UsageReport {
  /** The table the numbers come from. */
  source: string;
  rows: UsageRow[];
}

/** Options of {@link usage}. */
export interface UsageOptions {
  since?: Date;
  until?: Date;
  /** The context tables for the fallback (default every phase). */
  phases?: readonly ContextPhase[];
}

type Raw = Record<string, unknown>;

function toRow(r: Raw): UsageRow {
  const n = (k: string) => Number(r[k] ?? 0);
  const requests = n("requests");
  const total = n("total_latency_ms");
  return {
    day: String(r.day),
    provider: String(r.provider ?? "-"),
    model: String(r.model ?? "-"),
    requests,
    failures: n("failures"),
    truncated: n("truncated"),
    promptTokens: n("prompt_tokens"),
    completionTokens: n("completion_tokens"),
    totalLatencyMs: total,
    avgLatencyMs: requests > 0 ? Math.round((total / requests) * 10) / 10 : null,
  };
}

/** The statistics statement. */
export function statsQuery(o: UsageOptions): { text: string; params: Date[] } {
  const params: Date[] = [];
  const where: string[] = [];
  if (o.since) where.push(`s.bucket_start >= $${params.push(o.since)}::timestamptz`);
  if (o.until) where.push(`s.bucket_start < $${params.push(o.until)}::timestamptz`);
  return {
    text: `SELECT to_char(s.bucket_start AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
       m.provider, m.name AS model,
       sum(s.request_count) AS requests, sum(s.failure_count) AS failures,
       sum(s.truncated_count) AS truncated, sum(s.prompt_tokens) AS prompt_tokens,
       sum(s.completion_tokens) AS completion_tokens,
       sum(s.total_latency_ms) AS total_latency_ms
FROM ${quoteIdent(AI_MODEL_STATS_TABLE)} s
JOIN ${quoteIdent(AI_MODELS_TABLE)} m ON m.id = s.model_id
${where.length ? `WHERE ${where.join(" AND ")}\n` : ""}GROUP BY 1, 2, 3
ORDER BY 1, 2, 3`,
    params,
  };
}

/** A numeric key of `token_usage`, or NULL when absent or not a number. */
const num = (key: string) =>
  `CASE WHEN jsonb_typeof(token_usage -> ${quoteLiteral(key)}) = 'number' ` +
  `THEN (token_usage ->> ${quoteLiteral(key)})::numeric END`;

/** The fallback statement, over the AI context of every phase. */
export function contextQuery(o: UsageOptions): { text: string; params: Date[] } {
  const params: Date[] = [];
  const where = ["token_usage IS NOT NULL"];
  if (o.since) where.push(`created_at >= $${params.push(o.since)}::timestamptz`);
  if (o.until) where.push(`created_at < $${params.push(o.until)}::timestamptz`);
  const branches = (o.phases ?? contextPhases()).map((ph) =>
    `  SELECT created_at, ai_provider, model_used, token_usage, content_data
  FROM ${quoteIdent(ph.table)} WHERE ${where.join(" AND ")}`
  );
  return {
    text: `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
       ai_provider AS provider, model_used AS model, count(*) AS requests, 0 AS failures,
       count(*) FILTER (WHERE content_data ->> 'doneReason' = 'length') AS truncated,
       sum(coalesce(${num("prompt_tokens")}, ${num("prompt_eval_count")}, 0)) AS prompt_tokens,
       sum(coalesce(${num("completion_tokens")}, ${num("eval_count")}, 0)) AS completion_tokens,
       round(sum(coalesce(${num("latency_ms")}, ${num("total_duration")} / 1000000, 0)))
         AS total_latency_ms
FROM (
${branches.join("\n  UNION ALL\n")}
) AS c
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3`,
    params,
  };
}

/** Tokens and latency per model per day; see the module doc. */
export async function usage(sql: postgres.Sql, o: UsageOptions = {}): Promise<UsageReport> {
  const s = statsQuery(o);
  const stats = await sql.unsafe<Raw[]>(s.text, s.params);
  if (stats.length > 0) return { source: AI_MODEL_STATS_TABLE, rows: stats.map(toRow) };
  const phases = o.phases ?? contextPhases();
  const c = contextQuery({ ...o, phases });
  const rows = await sql.unsafe<Raw[]>(c.text, c.params);
  return { source: phases.map((p) => p.table).join(" + "), rows: rows.map(toRow) };
}

/** Formats rows as an aligned table, with a total line per model. */
export function usageTable(rows: readonly UsageRow[]): string[] {
  const head = [
    "day",
    "provider",
    "model",
    "requests",
    "failed",
    "truncated",
    "prompt tok",
    "completion tok",
    "avg ms",
  ];
  const line = (r: UsageRow) => [
    r.day,
    r.provider,
    r.model,
    String(r.requests),
    String(r.failures),
    String(r.truncated),
    String(r.promptTokens),
    String(r.completionTokens),
    r.avgLatencyMs === null ? "-" : r.avgLatencyMs.toFixed(1),
  ];
  const totals = new Map<string, UsageRow>();
  for (const r of rows) {
    const k = JSON.stringify([r.provider, r.model]);
    const t = totals.get(k) ??
      {
        ...r,
        day: "total",
        requests: 0,
        failures: 0,
        truncated: 0,
        promptTokens: 0,
        completionTokens: 0,
        totalLatencyMs: 0,
      };
    t.requests += r.requests;
    t.failures += r.failures;
    t.truncated += r.truncated;
    t.promptTokens += r.promptTokens;
    t.completionTokens += r.completionTokens;
    t.totalLatencyMs += r.totalLatencyMs;
    t.avgLatencyMs = t.requests > 0 ? t.totalLatencyMs / t.requests : null;
    totals.set(k, t);
  }
  const cells = [head, ...rows.map(line), ...[...totals.values()].map(line)];
  const widths = head.map((_, i) => Math.max(...cells.map((c) => c[i].length)));
  const fmt = (c: string[]) =>
    c.map((v, i) => (i < 3 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ").trimEnd();
  return [
    fmt(head),
    ...rows.map((r) => fmt(line(r))),
    ...(rows.length ? [...totals.values()].map((t) => fmt(line(t))) : []),
  ];
}

/** The usage text. */
export const USAGE = `usage: deno task ai:usage [options]

Tokens and latency per model per day (UTC), from ${AI_MODEL_STATS_TABLE}; when it
holds nothing in the range, from the token_usage of the stored AI context.

options:
  --since ISO       from this day or time (2026-01-31, 2026-01-31T12:00Z)
  --until ISO       up to (not including) this day or time
  --json            print the rows as JSON
${COMMON_USAGE}

Connects as the spec's role. Exit codes: 0 done; 1 failed; 2 bad arguments.`;

/** `deno task ai:usage`; returns the exit code. */
export function main(args: string[], io: OpsIo): Promise<number> {
  let ctx: OpsContext | undefined;
  return runOps("ai:usage", io, async () => {
    const a = parseOpsArgs(args, {
      since: { type: "string" },
      until: { type: "string" },
      json: { type: "boolean", default: false },
    });
    if (a.help) {
      io.stdout(USAGE);
      return 0;
    }
    const v = a.values;
    const o: UsageOptions = {
      since: v.since === undefined ? undefined : parseTime(String(v.since), "--since"),
      until: v.until === undefined ? undefined : parseTime(String(v.until), "--until"),
    };
    if (o.since && o.until && o.since >= o.until) {
      throw new UsageError("--since must be before --until");
    }
    ctx = await loadOps({ ...a.common, env: io.env });
    const c = ctx;
    const report = await withSql(
      connectSpec(c, { applicationName: "procos-ai-usage" }),
      (sql) => usage(sql, o),
    ).catch((e) => {
      throw new OpsError(
        `reading usage from ${describeConn(c.spec)} (address from ${c.source}): ` +
          (e instanceof Error ? e.message : String(e)),
      );
    });
    if (v.json) {
      io.stdout(JSON.stringify(report, null, 2));
      return 0;
    }
    io.stdout(`procos ai:usage: from ${report.source}`);
    if (report.rows.length === 0) {
      io.stdout("  no AI requests recorded in this range");
      return 0;
    }
    for (const l of usageTable(report.rows)) io.stdout(`  ${l}`);
    return 0;
  }, () => ctx?.scrub);
}

if (import.meta.main) Deno.exit(await main(Deno.args, processIo()));

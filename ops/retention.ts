/**
 * `deno task retention`: applies the spec's AI context retention policy to
 * its database now (or `--at` an instant) and prints what moved, or with
 * `--dry-run` what would move, per phase and context type.
 *
 *     deno task retention [--config F] [--at ISO] [--dry-run] [--batch-size N]
 *                         [--export-dir DIR] [--no-export] [--json]
 *
 * It CALLs `procos_apply_retention` (compiled from `ai.retention` into
 * out/sql/init-db.sql; docs/retention.md). With `ai.retention.export.enabled`
 * it then exports the archived rows not exported yet and, when it exported
 * any, CALLs the procedure again at the same instant so that rows past their
 * last phase that were just exported are purged in the same run of the task.
 * That sequence is `retentionWithExport` (`ops/archive.ts`), which the generic
 * worker's `retention` task type runs too, for the `procos-retention`
 * process.
 *
 * @module
 */
import {
  AI_CONTEXT_ARCHIVE_TABLE,
  AI_CONTEXT_TYPES,
  RETENTION_COUNTS,
  type RetentionCount,
} from "../compiler/ai_schema.ts";
import { retentionPolicy } from "../compiler/emit/retention.ts";
import type { RetentionPolicy } from "../compiler/emit/retention.ts";
import { retentionWithExport } from "./archive.ts";
import {
  COMMON_USAGE,
  connectSpec,
  describeConn,
  loadOps,
  parseOpsArgs,
  processIo,
  runOps,
  UsageError,
  withSql,
} from "./db.ts";
import type { OpsContext, OpsIo } from "./db.ts";
import { exportDirOf, parseInstant } from "./export.ts";
import type { ExportResult } from "./export.ts";

/** Rows per batch unless `--batch-size` says otherwise. */
export const DEFAULT_BATCH_SIZE = 1000;

/** Counts per phase and context type. */
export type Counts = Record<string, Record<string, number>>;

/** What {@link runRetention} did. */
export interface RetentionReport {
  /** The instant the policy was applied at (ISO). */
  at: string;
  /** Whether nothing was moved. */
  dryRun: boolean;
  /** The runs recorded in procos_retention_runs (two when an export was followed by a purge). */
  runIds: number[];
  /** Rows moved (or that would move) per phase and context type, all runs summed. */
  counts: Counts;
  /** The export, when it ran. */
  export?: ExportResult & { dir: string; why: string };
  /** Why there was no export, when there was none. */
  exportSkipped?: string;
  /** With `--dry-run` and export enabled: archived rows not exported yet, and those a run would archive. */
  wouldExport?: number;
}

/** Options of {@link runRetention}. */
export interface RunRetentionOptions {
  /** The instant (default the server's now()). */
  at?: Date;
  /** Count only. */
  dryRun?: boolean;
  /** Rows per batch. */
  batchSize?: number;
  /** Skip the export even when the spec enables it. */
  noExport?: boolean;
  /** The export folder (see `exportDirOf`). */
  exportDir?: string;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** Applies the policy (and the export) with an open connection to the spec's database. */
export async function runRetention(
  ctx: Pick<OpsContext, "model" | "outDir">,
  sql: Parameters<typeof retentionWithExport>[0],
  o: RunRetentionOptions = {},
): Promise<RetentionReport> {
  const policy = retentionPolicy(ctx.model.ai);
  const exporting = policy.exportRequired && !o.dryRun && !o.noExport;
  const where = exporting ? await exportDirOf(ctx, o.exportDir) : undefined;
  const r = await retentionWithExport(sql, {
    at: o.at,
    batchSize: o.batchSize ?? DEFAULT_BATCH_SIZE,
    dryRun: o.dryRun,
    exportDir: where?.dir,
    log: o.log,
  });
  const first = r.runs[0];
  const report: RetentionReport = {
    at: new Date(first.at).toISOString(),
    dryRun: o.dryRun === true,
    runIds: r.runs.map((x) => Number(x.run_id)),
    counts: r.counts,
  };
  if (r.export && where) report.export = { ...r.export, ...where };
  if (!policy.exportRequired) {
    report.exportSkipped = "ai.retention.export.enabled is false";
  } else if (o.dryRun) {
    const [c] = await sql<{ n: string }[]>`
      SELECT count(*) AS n FROM ${sql(AI_CONTEXT_ARCHIVE_TABLE)} WHERE exported_at IS NULL`;
    const entering = Object.values(first.counts.archived ?? {}).reduce((s, n) => s + Number(n), 0);
    report.wouldExport = Number(c.n) + entering;
    report.exportSkipped = "dry run";
  } else if (o.noExport) {
    report.exportSkipped = "--no-export";
  }
  return report;
}

/** The counts as a table: one row per phase, one column per context type, and a total. */
export function formatCounts(counts: Counts, types: readonly string[] = AI_CONTEXT_TYPES): string {
  const head = ["phase", ...types, "total"];
  const rows = RETENTION_COUNTS.map((k: RetentionCount) => {
    const per = types.map((t) => counts[k]?.[t] ?? 0);
    return [k, ...per.map(String), String(per.reduce((s, n) => s + n, 0))];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), ...rows.map(line)].join("\n");
}

/** The policy as lines a person reads. */
export function formatPolicy(p: RetentionPolicy): string[] {
  return p.types.map((t) =>
    `${t.contextType}: real-time until ${t.realtime.duration}, historical until ` +
    `${t.historical.duration}, archived until ${t.archived.duration}` +
    (t.overridden ? " (override)" : "")
  );
}

/** The usage text. */
export const USAGE = `usage: deno task retention [options]

Applies the spec's AI context retention (ai.retention) to its database:
real-time -> historical -> archived -> purged, by each row's age at --at (default
now), in batches of short transactions (CALL procos_apply_retention). With
ai.retention.export.enabled, archived rows are exported (gzip JSONL) and only
exported rows are purged. Prints the rows per phase and context type.

options:
${COMMON_USAGE}
  --at ISO          apply the policy at this instant (default: the database's now())
  --dry-run         count what would move; move nothing (the run is recorded)
  --batch-size N    rows per batch, each its own transaction (default ${DEFAULT_BATCH_SIZE})
  --export-dir DIR  the export folder (default: ai.retention.export.path if writable,
                    else <out>/runtime/archive)
  --no-export       do not export (un-exported rows are then not purged)
  --json            print the report as JSON

Exit codes: 0 done; 1 failed (why, on one line); 2 bad arguments.`;

/** `deno task retention`; returns the exit code. */
export function main(args: string[], io: OpsIo): Promise<number> {
  let ctx: OpsContext | undefined;
  return runOps("retention", io, async () => {
    const a = parseOpsArgs(args, {
      at: { type: "string" },
      "dry-run": { type: "boolean", default: false },
      "batch-size": { type: "string" },
      "export-dir": { type: "string" },
      "no-export": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    });
    if (a.help) {
      io.stdout(USAGE);
      return 0;
    }
    const at = parseInstant("--at", a.values.at as string | undefined);
    const bs = a.values["batch-size"] as string | undefined;
    let batchSize = DEFAULT_BATCH_SIZE;
    if (bs !== undefined) {
      batchSize = Number(bs);
      if (!/^\d+$/.test(bs) || batchSize < 1 || batchSize > 1_000_000) {
        throw new UsageError(`--batch-size: a whole number from 1 to 1000000, not ${bs}`);
      }
    }
    ctx = await loadOps({ ...a.common, env: io.env });
    const c = ctx;
    const json = a.values.json === true;
    const dryRun = a.values["dry-run"] === true;
    const policy = retentionPolicy(c.model.ai);
    if (!json) {
      io.stdout(
        `procos retention: ${describeConn(c.spec)} (${c.source})${dryRun ? ", dry run" : ""}`,
      );
      for (const l of formatPolicy(policy)) io.stdout(`  ${l}`);
    }
    const r = await withSql(
      connectSpec(c, { applicationName: "procos-retention" }),
      (sql) =>
        runRetention(c, sql, {
          at,
          dryRun,
          batchSize,
          noExport: a.values["no-export"] === true,
          exportDir: a.values["export-dir"] as string | undefined,
          log: json ? undefined : (l) => io.stdout(`  export: ${l}`),
        }),
    );
    if (json) {
      io.stdout(JSON.stringify(r, null, 2));
      return 0;
    }
    io.stdout(
      `${dryRun ? "would move" : "moved"} at ${r.at} (run ${r.runIds.join(", ")}):`,
    );
    io.stdout(formatCounts(r.counts));
    if (r.export) {
      io.stdout(
        `exported ${r.export.rows} row(s), ${r.export.conversations} conversation(s), ` +
          `${r.export.files.length} file(s) into ${r.export.dir} (${r.export.why})`,
      );
    } else if (r.wouldExport !== undefined) {
      io.stdout(`would export up to ${r.wouldExport} archived row(s)`);
    } else if (r.exportSkipped) {
      io.stdout(`no export: ${r.exportSkipped}`);
    }
    const kept = Object.values(r.counts.unexported ?? {}).reduce((s, n) => s + n, 0);
    if (kept > 0 && !dryRun) {
      io.stdout(
        `${kept} row(s) past their last phase are kept until exported (deno task ai:export)`,
      );
    }
    return 0;
  }, () => ctx?.scrub);
}

if (import.meta.main) Deno.exit(await main(Deno.args, processIo()));

/**
 * `deno task ai:export`: the archive export on demand. Archived AI context
 * not exported yet (`procos_ai_context_archive.exported_at IS NULL`) is
 * written as gzip JSONL, one conversation per line, and marked exported in the
 * same transaction, after the file is fsynced and renamed into place. With
 * `ai.retention.export.enabled`, the retention purges only rows marked so.
 *
 *     deno task ai:export [--since ISO] [--until ISO] [--out FILE | --dir DIR]
 *
 * The export itself (format, guarantees) is in `ops/archive.ts`, shared with
 * `deno task retention` and the generic worker's `retention` task, which run
 * it after moving rows (into the export folder, one file per batch of
 * conversations).
 *
 * Where files go: `--out FILE` (one file, every conversation of the range),
 * else `--dir DIR`, else the spec's `ai.retention.export.path` when it can be
 * created and written, else `<out>/runtime/archive` (the local runtime: the
 * spec's `/var/lib/procos/archive` is usually not writable on a workstation).
 *
 * @module
 */
import { join, resolve } from "node:path";
import { AI_CONTEXT_ARCHIVE_TABLE } from "../compiler/ai_schema.ts";
import { retentionPolicy } from "../compiler/emit/retention.ts";
import { DEFAULT_CONVERSATIONS_PER_FILE, exportArchive, writableDir } from "./archive.ts";
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

export {
  DEFAULT_CONVERSATIONS_PER_FILE,
  EXPORT_FORMAT,
  exportArchive,
  fileStamp,
  PARTIAL_SUFFIX,
  writableDir,
} from "./archive.ts";
export type { ExportedFile, ExportOptions, ExportResult } from "./archive.ts";

/** The local runtime's export folder, relative to the build output folder. */
export const LOCAL_EXPORT_DIR = "runtime/archive";

/**
 * The export folder: `explicit` (a flag), else the spec's
 * `ai.retention.export.path` if writable, else `<out>/runtime/archive`.
 */
export async function exportDirOf(
  ctx: Pick<OpsContext, "model" | "outDir">,
  explicit?: string,
): Promise<{ dir: string; why: string }> {
  if (explicit !== undefined) return { dir: resolve(explicit), why: "--dir" };
  const configured = retentionPolicy(ctx.model.ai).exportPath;
  if (await writableDir(configured)) {
    return { dir: configured, why: "ai.retention.export.path" };
  }
  return {
    dir: join(ctx.outDir, LOCAL_EXPORT_DIR),
    why: `ai.retention.export.path ${configured} is not writable here; the local runtime's folder`,
  };
}

/** Parses an ISO 8601 instant of a flag. */
export function parseInstant(flag: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const iso = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
  const d = new Date(text);
  if (!iso.test(text) || Number.isNaN(d.getTime())) {
    throw new UsageError(`${flag}: an ISO 8601 instant such as 2025-01-31T00:00:00Z, not ${text}`);
  }
  return d;
}

/**
 * The common options' text, with `--out` replaced: here `--out FILE` is the
 * export file (as the issue asks), and the build output folder is `--out-dir`.
 */
const EXPORT_COMMON_USAGE = COMMON_USAGE.split("\n").map((l) =>
  l.startsWith("  --out DIR")
    ? "  --out-dir DIR     the build output folder (default out; runtime/endpoints.json is read)"
    : l.replace("the profile --out was built with", "the profile --out-dir was built with")
).join("\n");

/** The usage text. */
export const USAGE = `usage: deno task ai:export [options]

Writes archived AI context not exported yet (${AI_CONTEXT_ARCHIVE_TABLE}, exported_at
NULL) created in [--since, --until) as gzip JSONL, one conversation (process
instance and task) per line, and marks the rows exported once the file is
fsynced. With ai.retention.export.enabled, only exported rows are ever purged.

options:
${EXPORT_COMMON_USAGE}
  --since ISO       rows created at or after this instant (default: the oldest)
  --until ISO       rows created before this instant (default: now and later)
  --out FILE        one file for the whole range (must not exist)
  --dir DIR         a folder, one file per ${DEFAULT_CONVERSATIONS_PER_FILE} conversations (default: the
                    spec's ai.retention.export.path if writable, else
                    <out>/${LOCAL_EXPORT_DIR})
  --json            print what was written as JSON

Exit codes: 0 done; 1 failed (why, on one line); 2 bad arguments.`;

/** `deno task ai:export`; returns the exit code. */
export function main(args: string[], io: OpsIo): Promise<number> {
  let ctx: OpsContext | undefined;
  return runOps("ai:export", io, async () => {
    const a = parseOpsArgs(args, {
      since: { type: "string" },
      until: { type: "string" },
      // `--out` is the export file here; the build folder is `--out-dir`.
      out: { type: "string" },
      "out-dir": { type: "string", default: "out" },
      dir: { type: "string" },
      json: { type: "boolean", default: false },
    });
    if (a.help) {
      io.stdout(USAGE);
      return 0;
    }
    const since = parseInstant("--since", a.values.since as string | undefined);
    const until = parseInstant("--until", a.values.until as string | undefined);
    if (since && until && since >= until) throw new UsageError("--since must be before --until");
    const file = a.values.out as string | undefined;
    if (file !== undefined && a.values.dir !== undefined) {
      throw new UsageError("give --out FILE or --dir DIR, not both");
    }
    ctx = await loadOps({ ...a.common, out: a.values["out-dir"] as string, env: io.env });
    const c = ctx;
    const where = file === undefined
      ? await exportDirOf(c, a.values.dir as string | undefined)
      : undefined;
    const json = a.values.json === true;
    if (!json) {
      io.stdout(
        `procos ai:export: ${describeConn(c.spec)} (${c.source}) → ${
          where ? `${where.dir} (${where.why})` : resolve(file!)
        }`,
      );
    }
    const r = await withSql(
      connectSpec(c, { applicationName: "procos-ai-export" }),
      (sql) =>
        exportArchive(sql, {
          file,
          dir: where?.dir,
          since,
          until,
          log: json ? undefined : (l) => io.stdout(`  ${l}`),
        }),
    );
    if (json) io.stdout(JSON.stringify(r, null, 2));
    else {
      io.stdout(
        `procos ai:export: ${r.rows} row(s), ${r.conversations} conversation(s), ` +
          `${r.files.length} file(s)`,
      );
    }
    return 0;
  }, () => ctx?.scrub);
}

if (import.meta.main) Deno.exit(await main(Deno.args, processIo()));

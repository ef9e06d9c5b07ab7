/**
 * Archive export: archived AI context not exported yet
 * (`procos_ai_context_archive.exported_at IS NULL`) is written as gzip JSONL,
 * one conversation per line, and marked exported in the same transaction,
 * after the file is fsynced and renamed into place. With
 * `ai.retention.export.enabled`, the retention purges only rows marked so.
 *
 *     deno task ai:export [--since ISO] [--until ISO] [--out FILE | --dir DIR]
 *
 * `deno task retention` runs the same export after moving rows (into the
 * export folder, one file per batch of conversations).
 *
 * A line (format `procos-ai-archive/1`) is one conversation: the archived rows
 * of one process instance and external task (`process_instance_id`,
 * `task_id`) exported together, messages in order (`created_at`, then system,
 * input, output), with the provider, the model, the token usage summed over
 * the messages, and metadata. A conversation whose rows reach the archive at
 * different times (system rows are kept longer by default) is exported once
 * per batch of rows: consumers merge lines by those two keys and rows by
 * `id`.
 *
 * Guarantees: a row is marked exported only once its line is in a file that
 * was fsynced under its final name (and the folder fsynced). A crash after
 * the rename and before the commit leaves the rows unmarked: they are
 * exported again into a later file (at least once, never lost); rows are
 * told apart by `id`. The rows being exported are locked (`FOR UPDATE SKIP
 * LOCKED`), so two exports never write the same row, and the purge cannot
 * take a row while it is being written.
 *
 * Where files go: `--out FILE` (one file, every conversation of the range),
 * else `--dir DIR`, else the spec's `ai.retention.export.path` when it can be
 * created and written, else `<out>/runtime/archive` (the local runtime: the
 * spec's `/var/lib/procos/archive` is usually not writable on a workstation).
 *
 * @module
 */
import { join, resolve } from "node:path";
import type postgres from "postgres";
import { AI_CONTEXT_ARCHIVE_TABLE } from "../compiler/ai_schema.ts";
import { retentionPolicy } from "../compiler/emit/retention.ts";
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

/** The `format` of every exported line. */
export const EXPORT_FORMAT = "procos-ai-archive/1";

/** The local runtime's export folder, relative to the build output folder. */
export const LOCAL_EXPORT_DIR = "runtime/archive";

/** Conversations per file when exporting into a folder. */
export const DEFAULT_CONVERSATIONS_PER_FILE = 1000;

/** Suffix of a file being written (renamed away once fsynced). */
export const PARTIAL_SUFFIX = ".partial";

/** Options of {@link exportArchive}. */
export interface ExportOptions {
  /** One file for the whole range (refused when it exists). Exclusive with `dir`. */
  file?: string;
  /** A folder: one new file per batch of conversations. */
  dir?: string;
  /** Rows created at or after this instant (default: all). */
  since?: Date;
  /** Rows created before this instant (default: all). */
  until?: Date;
  /** Conversations per file in a folder (default {@link DEFAULT_CONVERSATIONS_PER_FILE}). */
  conversationsPerFile?: number;
  /** Called once per file written. */
  log?: (line: string) => void;
}

/** One file written. */
export interface ExportedFile {
  /** Its path. */
  path: string;
  /** Lines (conversations) in it. */
  conversations: number;
  /** Rows in it (now marked exported). */
  rows: number;
  /** Its size, bytes. */
  bytes: number;
}

/** What {@link exportArchive} did. */
export interface ExportResult {
  /** The files, in the order written. */
  files: ExportedFile[];
  /** Conversations exported. */
  conversations: number;
  /** Rows exported (and marked). */
  rows: number;
}

type Sql = postgres.Sql;

const enc = new TextEncoder();

async function writeAll(f: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await f.write(bytes.subarray(off));
}

/** A gzip file being written: lines in, fsynced on close. */
class GzipLines {
  #file: Deno.FsFile;
  #writer: WritableStreamDefaultWriter<BufferSource>;
  #pump: Promise<void>;
  bytes = 0;

  constructor(file: Deno.FsFile) {
    this.#file = file;
    const gz = new CompressionStream("gzip");
    this.#writer = gz.writable.getWriter();
    this.#pump = (async () => {
      for await (const chunk of gz.readable) {
        await writeAll(file, chunk);
        this.bytes += chunk.length;
      }
    })();
  }

  async line(text: string): Promise<void> {
    await this.#writer.write(enc.encode(text + "\n"));
  }

  /** Finishes the gzip stream and fsyncs the file, then closes it. */
  async close(): Promise<void> {
    await this.#writer.close();
    await this.#pump;
    await this.#file.sync();
    this.#file.close();
  }

  /** Gives up (the caller removes the file). */
  async abort(): Promise<void> {
    await this.#writer.abort().catch(() => {});
    await this.#pump.catch(() => {});
    try {
      this.#file.close();
    } catch {
      // already closed
    }
  }
}

/** fsyncs a folder, so a rename in it survives a crash (best effort where unsupported). */
async function syncDir(dir: string): Promise<void> {
  let f: Deno.FsFile | undefined;
  try {
    f = await Deno.open(dir, { read: true });
    await f.sync();
  } catch {
    // not supported on this platform/file system
  } finally {
    f?.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** `YYYYMMDDTHHMMSSZ` of an instant. */
export function fileStamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z").replace(/[-:]/g, "");
}

/**
 * The SQL of one batch: the next conversations of the range with rows not
 * exported yet, their rows locked, one JSON line per conversation.
 */
function batchQuery(
  tx: postgres.TransactionSql,
  since: Date | null,
  until: Date | null,
  limit: number | null,
) {
  const t = tx(AI_CONTEXT_ARCHIVE_TABLE);
  return tx`
    WITH keys AS (
      SELECT a.process_instance_id, a.task_id, min(a.created_at) AS first_at
      FROM ${t} AS a
      WHERE a.exported_at IS NULL
        AND a.created_at >= coalesce(${since}::timestamptz, '-infinity')
        AND a.created_at < coalesce(${until}::timestamptz, 'infinity')
      GROUP BY a.process_instance_id, a.task_id
      ORDER BY first_at, a.process_instance_id, a.task_id NULLS FIRST
      LIMIT ${limit}::bigint
    ), locked AS (
      SELECT a.*, k.first_at
      FROM ${t} AS a
      JOIN keys AS k ON k.process_instance_id = a.process_instance_id
        AND k.task_id IS NOT DISTINCT FROM a.task_id
      WHERE a.exported_at IS NULL
        AND a.created_at >= coalesce(${since}::timestamptz, '-infinity')
        AND a.created_at < coalesce(${until}::timestamptz, 'infinity')
      FOR UPDATE OF a SKIP LOCKED
    )
    SELECT json_build_object(
      'format', ${EXPORT_FORMAT}::text,
      'process_instance_id', l.process_instance_id,
      'task_id', l.task_id,
      'first_at', min(l.created_at),
      'last_at', max(l.created_at),
      'ai_provider', (array_agg(l.ai_provider ORDER BY l.created_at, l.id)
        FILTER (WHERE l.ai_provider IS NOT NULL))[1],
      'model', (array_agg(l.model_used ORDER BY l.created_at DESC, l.id)
        FILTER (WHERE l.model_used IS NOT NULL))[1],
      'token_usage', (
        SELECT jsonb_object_agg(u.key, u.total ORDER BY u.key)
        FROM (
          SELECT e.key, sum(e.value::text::numeric) AS total
          FROM jsonb_array_elements(
                 coalesce(jsonb_agg(l.token_usage) FILTER (WHERE l.token_usage IS NOT NULL),
                          '[]'::jsonb)) AS o(obj)
          CROSS JOIN LATERAL jsonb_each(
                 CASE WHEN jsonb_typeof(o.obj) = 'object' THEN o.obj ELSE '{}'::jsonb END) AS e
          WHERE jsonb_typeof(e.value) = 'number'
          GROUP BY e.key
        ) AS u),
      'metadata', json_build_object(
        'rows', count(*),
        'context_types', array_agg(DISTINCT l.context_type),
        'activity_ids', coalesce(array_agg(DISTINCT l.activity_id)
          FILTER (WHERE l.activity_id IS NOT NULL), '{}'),
        'archived_from', min(l.archived_at),
        'archived_to', max(l.archived_at),
        'exported_at', now(),
        'source_table', ${AI_CONTEXT_ARCHIVE_TABLE}::text),
      'messages', json_agg(json_build_object(
          'id', l.id,
          'context_type', l.context_type,
          'activity_id', l.activity_id,
          'created_at', l.created_at,
          'updated_at', l.updated_at,
          'ai_provider', l.ai_provider,
          'model_used', l.model_used,
          'token_usage', l.token_usage,
          'content_text', l.content_text,
          'content_data', l.content_data,
          'moved_at', l.moved_at,
          'archived_at', l.archived_at)
        ORDER BY l.created_at,
          array_position(ARRAY['system', 'input', 'output']::text[], l.context_type::text),
          l.id)
    )::text AS line,
    array_agg(l.id::text) AS ids
    FROM locked AS l
    GROUP BY l.process_instance_id, l.task_id, l.first_at
    ORDER BY l.first_at, l.process_instance_id, l.task_id NULLS FIRST`;
}

/**
 * Exports one batch into `path` (written as `path.partial`, fsynced, renamed,
 * folder fsynced) and marks its rows, all in one transaction. Returns the
 * file, or undefined when there was nothing to export (and `keepEmpty` is
 * off: no file is left).
 */
async function exportBatch(
  sql: Sql,
  path: string,
  o: { since: Date | null; until: Date | null; limit: number | null; keepEmpty: boolean },
): Promise<ExportedFile | undefined> {
  const partial = `${path}${PARTIAL_SUFFIX}`;
  return await sql.begin(async (tx) => {
    await tx`SET LOCAL TimeZone = 'UTC'`;
    await tx`SET LOCAL lock_timeout = '10s'`;
    const file = await Deno.open(partial, { write: true, createNew: true, mode: 0o640 });
    const gz = new GzipLines(file);
    const ids: string[] = [];
    let conversations = 0;
    try {
      // (the async iterator, not the callback: postgres.js does not await the callback's last call)
      for await (const rows of batchQuery(tx, o.since, o.until, o.limit).cursor(50)) {
        for (const r of rows) {
          await gz.line(r.line as string);
          for (const id of r.ids as string[]) ids.push(id);
          conversations++;
        }
      }
      await gz.close();
    } catch (e) {
      await gz.abort();
      await Deno.remove(partial).catch(() => {});
      throw e;
    }
    if (conversations === 0 && !o.keepEmpty) {
      await Deno.remove(partial);
      return undefined;
    }
    await Deno.rename(partial, path);
    await syncDir(resolve(path, ".."));
    // The file is durable under its name: now the rows may count as exported.
    // (Were the commit to fail, they stay unmarked and are exported again.)
    for (let i = 0; i < ids.length; i += 10_000) {
      await tx`
        UPDATE ${tx(AI_CONTEXT_ARCHIVE_TABLE)} SET exported_at = now()
        WHERE id = ANY(${ids.slice(i, i + 10_000)}::uuid[])`;
    }
    const { size } = await Deno.stat(path);
    return { path, conversations, rows: ids.length, bytes: size };
  });
}

/** Exports archived rows not exported yet; see the module doc. */
export async function exportArchive(sql: Sql, opts: ExportOptions): Promise<ExportResult> {
  if ((opts.file === undefined) === (opts.dir === undefined)) {
    throw new Error("exportArchive: give exactly one of file and dir");
  }
  const since = opts.since ?? null;
  const until = opts.until ?? null;
  const result: ExportResult = { files: [], conversations: 0, rows: 0 };
  const add = (f: ExportedFile) => {
    result.files.push(f);
    result.conversations += f.conversations;
    result.rows += f.rows;
    opts.log?.(`${f.path}: ${f.conversations} conversation(s), ${f.rows} row(s)`);
  };
  if (opts.file !== undefined) {
    const path = resolve(opts.file);
    if (await exists(path)) throw new OpsError(`${path} exists; give another --out`);
    const f = await exportBatch(sql, path, { since, until, limit: null, keepEmpty: true });
    if (f) add(f);
    return result;
  }
  const dir = resolve(opts.dir!);
  await Deno.mkdir(dir, { recursive: true });
  const per = opts.conversationsPerFile ?? DEFAULT_CONVERSATIONS_PER_FILE;
  if (!Number.isInteger(per) || per < 1) throw new Error("conversationsPerFile: 1 or more");
  const stamp = fileStamp(new Date());
  const tag = [...crypto.getRandomValues(new Uint8Array(3))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  for (let seq = 1;; seq++) {
    const name = `procos-ai-archive-${stamp}-${tag}-${String(seq).padStart(4, "0")}.jsonl.gz`;
    const f = await exportBatch(sql, join(dir, name), {
      since,
      until,
      limit: per,
      keepEmpty: false,
    });
    if (!f) break;
    add(f);
  }
  return result;
}

/** Whether `dir` can be created and written (probed with a file that is removed). */
export async function writableDir(dir: string): Promise<boolean> {
  try {
    await Deno.mkdir(dir, { recursive: true });
    const probe = join(dir, `.procos-write-probe-${crypto.randomUUID()}`);
    await Deno.writeTextFile(probe, "");
    await Deno.remove(probe);
    return true;
  } catch {
    return false;
  }
}

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

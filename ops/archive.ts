/**
 * The library part of the AI data lifecycle, shared by `deno task retention`
 * and `deno task ai:export` (`ops/retention.ts`, `ops/export.ts`) and by the
 * generic worker's `retention` task type (`workers/generic/handlers.ts`): it
 * loads no spec and prints nothing, so a worker container can run it.
 *
 * - {@link applyRetention}: one `CALL procos_apply_retention`;
 * - {@link exportArchive}: the archive export;
 * - {@link retentionWithExport}: what a retention run is, wherever it runs:
 *   apply the policy; with the export enabled, export the archived rows not
 *   exported yet, then, if any were, apply the policy again at the same
 *   instant so that the rows past their last phase just exported are purged.
 *
 * Archive export: archived AI context not exported yet
 * (`procos_ai_context_archive.exported_at IS NULL`) is written as gzip JSONL,
 * one conversation per line, and marked exported in the same transaction,
 * after the file is fsynced and renamed into place. With
 * `ai.retention.export.enabled`, the retention purges only rows marked so.
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
 * @module
 */
import { join, resolve } from "node:path";
import type postgres from "postgres";
import { AI_CONTEXT_ARCHIVE_TABLE, RETENTION_COUNTS } from "../compiler/ai_schema.ts";

/** The `format` of every exported line. */
export const EXPORT_FORMAT = "procos-ai-archive/1";

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
    if (await exists(path)) throw new Error(`${path} exists; give another --out`);
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

/** Options of {@link applyRetention}. */
export interface RetentionCall {
  /** The instant to apply the policy at (an ISO string PostgreSQL reads); default the server's now(). */
  at?: string | Date;
  /** Rows per batch (each batch its own transaction); default 1000. */
  batchSize?: number;
  /** Count what would move, move nothing. */
  dryRun?: boolean;
}

/** What `procos_apply_retention` returned. */
export interface RetentionSummary {
  /** The run's id in `procos_retention_runs`. */
  run_id: number;
  /** The instant applied, as PostgreSQL wrote it. */
  at: string;
  /** Whether nothing was moved. */
  dry_run: boolean;
  /** Rows per phase (`historical`, `archived`, `purged`, `unexported`) and context type. */
  counts: Record<string, Record<string, number>>;
}

/**
 * CALLs `procos_apply_retention` (one short transaction per batch, inside
 * the procedure). Must not run inside a transaction: pass the pool itself.
 */
export async function applyRetention(sql: Sql, c: RetentionCall = {}): Promise<RetentionSummary> {
  const at = c.at instanceof Date ? c.at.toISOString() : c.at ?? null;
  const [row] = await sql`
    CALL procos_apply_retention(coalesce(${at}::timestamptz, now()),
      ${c.batchSize ?? 1000}::integer, ${c.dryRun ?? false}::boolean, NULL::jsonb)`;
  return row.summary as RetentionSummary;
}

/** Options of {@link retentionWithExport}. */
export interface RetentionWithExportOptions extends RetentionCall {
  /**
   * The export folder, when the archived rows are to be exported (the spec's
   * `ai.retention.export.enabled`); undefined: no export. Never used by a
   * dry run.
   */
  exportDir?: string;
  /** Called once per file written. */
  log?: (line: string) => void;
}

/** What {@link retentionWithExport} did. */
export interface RetentionWithExportResult {
  /** The runs: the first, and the second when rows were exported. */
  runs: RetentionSummary[];
  /**
   * Rows moved (or that would move) per phase and context type, the runs
   * summed; `unexported` is the last run's.
   */
  counts: Record<string, Record<string, number>>;
  /** The export, when it ran. */
  export?: ExportResult;
}

/** Counts as numbers (PostgreSQL's JSON may hold them as big integers). */
function numericCounts(c: Record<string, Record<string, unknown>>) {
  return Object.fromEntries(
    Object.entries(c).map((
      [k, v],
    ) => [k, Object.fromEntries(Object.entries(v).map(([t, n]) => [t, Number(n)]))]),
  );
}

/** The counts of the runs: moves summed, `unexported` from the last run. */
function sumCounts(runs: RetentionSummary[]): Record<string, Record<string, number>> {
  const out = numericCounts(runs[0].counts);
  for (const r of runs.slice(1)) {
    const c = numericCounts(r.counts);
    for (const k of RETENTION_COUNTS) {
      if (k === "unexported") {
        out[k] = c[k] ?? {};
        continue;
      }
      out[k] ??= {};
      for (const [t, n] of Object.entries(c[k] ?? {})) out[k][t] = (out[k][t] ?? 0) + n;
    }
  }
  return out;
}

/**
 * A retention run, as `deno task retention` and the generic worker's
 * `retention` task do it: applies the policy; with `exportDir`, exports the
 * archived rows not exported yet into it and, when it exported any, applies
 * the policy again at the same instant, so that the exported rows past their
 * last phase are purged in the same run.
 */
export async function retentionWithExport(
  sql: Sql,
  o: RetentionWithExportOptions = {},
): Promise<RetentionWithExportResult> {
  const first = await applyRetention(sql, { at: o.at, batchSize: o.batchSize, dryRun: o.dryRun });
  if (o.dryRun || o.exportDir === undefined) return { runs: [first], counts: sumCounts([first]) };
  const ex = await exportArchive(sql, { dir: o.exportDir, log: o.log });
  if (ex.rows === 0) return { runs: [first], counts: sumCounts([first]), export: ex };
  const again = await applyRetention(sql, { at: first.at, batchSize: o.batchSize });
  return { runs: [first, again], counts: sumCounts([first, again]), export: ex };
}

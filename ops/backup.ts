/**
 * `deno task backup`: a `pg_dump --format=custom` of the spec's database into
 * the backup folder, with a sidecar `.json` (sha256, size, row counts of the
 * AI tables, ...), fsynced, then the spec's retention applied.
 *
 *     deno task backup [--config F] [--profile P] [--out DIR] [--dir DIR]
 *                      [--retention-days N] [--json]
 *
 * The folder: `--dir`, else the spec's `backup.path` (relative to the spec's
 * folder, as the production `backup` service mounts it), else
 * `<out>/runtime/backups` (the local runtime, whose spec has no `backup`).
 *
 * Files are named like those of the production backup loop
 * (`compiler/emit/compose.ts`): `<database>-<YYYYMMDDTHHMMSSZ>.dump`, the UTC
 * time the dump started, and `<that>.json` beside it ({@link Sidecar}). The
 * helpers here (listing, hashing, sidecars, retention) are shared by
 * `ops/restore.ts` and the verify `backup` domain.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import type postgres from "postgres";
import { AI_TABLES } from "../compiler/ai_schema.ts";
import {
  connectSpec,
  describeConn,
  libpqEnv,
  loadOps,
  OpsError,
  parseOpsArgs,
  processIo,
  runOps,
  UsageError,
  withSql,
} from "./db.ts";
import type { OpsContext, OpsIo, PgConn } from "./db.ts";
import { COMMON_USAGE } from "./db.ts";

/** Suffix of a dump. */
export const DUMP_SUFFIX = ".dump";
/** Suffix of a sidecar, appended to the dump's name. */
export const SIDECAR_SUFFIX = ".json";
/** `format` of a sidecar. */
export const SIDECAR_FORMAT = "procos-backup/1";
/** The local runtime's backup folder, relative to the build output folder. */
export const LOCAL_BACKUP_DIR = "runtime/backups";
/** Suffix of a file being written (never listed as a backup). */
export const PARTIAL_SUFFIX = ".partial";

/** What a sidecar `<dump>.json` records about its dump. */
export interface Sidecar {
  /** {@link SIDECAR_FORMAT}. */
  format: string;
  /** The dump's file name (no folder). */
  file: string;
  /** sha256 of the dump's bytes, hex. */
  sha256: string;
  /** Size of the dump, bytes. */
  size: number;
  /** The database dumped. */
  database: string;
  /** When pg_dump started and finished (ISO, UTC). */
  started: string;
  finished: string;
  /** `pg_dump --version`. */
  pgDumpVersion: string;
  /** The server's `server_version`, when known. */
  serverVersion?: string;
  /** Rows of each AI table of `compiler/ai_schema.ts` present in the database. */
  rowCounts: Record<string, number>;
  /**
   * True when the counts were taken in the dump's own snapshot (so they are
   * exactly the dump's); false when counted just after it (the backup loop).
   */
  rowCountsExact: boolean;
  /** `deno task backup` or `backup service`. */
  producer: string;
  /** The spec's project and profile, and the spec's sha256, when known. */
  project?: string;
  profile?: string;
  specSha256?: string;
}

/** A dump found in a backup folder. */
export interface BackupFile {
  /** Absolute path of the dump. */
  path: string;
  /** File name. */
  name: string;
  database: string;
  /** When it started (from its name). */
  time: Date;
  /** Path of its sidecar (which may not exist). */
  sidecar: string;
}

const STAMP = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const NAME = /^(.+)-(\d{8}T\d{6}Z)\.dump$/;

/** `2026-01-02T03:04:05.678Z` → `20260102T030405Z`. */
export function stampOf(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z").replace(/[-:]/g, "");
}

/** `20260102T030405Z` → the Date; undefined when malformed. */
export function parseStamp(s: string): Date | undefined {
  const m = STAMP.exec(s);
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  return stampOf(d) === s ? d : undefined;
}

/** The dump name of `database` started at `d`. */
export function dumpName(database: string, d: Date): string {
  return `${database}-${stampOf(d)}${DUMP_SUFFIX}`;
}

/** Parses a dump name; undefined when it is not one. */
export function parseDumpName(name: string): { database: string; time: Date } | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const time = parseStamp(m[2]);
  return time ? { database: m[1], time } : undefined;
}

/** The sidecar path of a dump. */
export function sidecarPath(dump: string): string {
  return dump + SIDECAR_SUFFIX;
}

/**
 * The dumps in `dir` (of `database`, when given), oldest first, by the time
 * in their names. A missing folder has none.
 */
export async function listBackups(dir: string, database?: string): Promise<BackupFile[]> {
  const out: BackupFile[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile) continue;
      const p = parseDumpName(e.name);
      if (!p || (database !== undefined && p.database !== database)) continue;
      const path = resolve(dir, e.name);
      out.push({
        path,
        name: e.name,
        database: p.database,
        time: p.time,
        sidecar: sidecarPath(path),
      });
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return out.sort((a, b) => a.time.getTime() - b.time.getTime() || (a.name < b.name ? -1 : 1));
}

/** sha256 (hex) and size of a file, read in chunks (dumps can be large). */
export async function hashFile(
  path: string,
  signal?: AbortSignal,
): Promise<{ sha256: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  const f = await Deno.open(path, { read: true });
  try {
    const buf = new Uint8Array(1 << 20);
    while (true) {
      signal?.throwIfAborted();
      const n = await f.read(buf);
      if (n === null) break;
      h.update(buf.subarray(0, n));
      size += n;
    }
  } finally {
    f.close();
  }
  return { sha256: h.digest("hex"), size };
}

/** Parses and checks a sidecar's text; throws OpsError naming the file. */
export function parseSidecar(text: string, file: string): Sidecar {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new OpsError(`${file}: not JSON (${e instanceof Error ? e.message : e})`);
  }
  const s = raw as Partial<Sidecar> | null;
  if (
    !s || typeof s !== "object" || typeof s.sha256 !== "string" ||
    !/^[0-9a-f]{64}$/.test(s.sha256) || typeof s.size !== "number" ||
    typeof s.database !== "string"
  ) {
    throw new OpsError(`${file}: not a ProcOS backup sidecar (needs sha256, size, database)`);
  }
  return s as Sidecar;
}

/** Reads the sidecar of a dump; throws OpsError when missing or malformed. */
export async function readSidecar(dump: string): Promise<Sidecar> {
  const file = sidecarPath(dump);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new OpsError(
        `${file} is missing: the dump cannot be verified (deno task backup and the ` +
          `production backup service write one beside every dump)`,
      );
    }
    throw new OpsError(`${file}: ${e instanceof Error ? e.message : e}`);
  }
  return parseSidecar(text, file);
}

/**
 * Checks a dump against its sidecar (size, then sha256). Returns the sidecar;
 * throws OpsError saying what differs.
 */
export async function verifyDump(dump: string, signal?: AbortSignal): Promise<Sidecar> {
  const side = await readSidecar(dump);
  let actual;
  try {
    actual = await hashFile(dump, signal);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new OpsError(`${dump}: no such file`);
    throw e;
  }
  if (actual.size !== side.size || actual.sha256 !== side.sha256) {
    throw new OpsError(
      `${dump} is corrupt: its sha256 is ${actual.sha256} (${actual.size} bytes) but its ` +
        `sidecar records ${side.sha256} (${side.size} bytes); refusing to use it`,
    );
  }
  return side;
}

const DAY_MS = 86_400_000;

/**
 * The dumps retention removes: those that started more than `days` days
 * before `now`, never the newest one (even when every dump is older).
 * `list` as {@link listBackups} returns it (oldest first). Pure.
 */
export function expiredBackups(list: readonly BackupFile[], days: number, now: Date): BackupFile[] {
  const cutoff = now.getTime() - days * DAY_MS;
  return list.slice(0, -1).filter((b) => b.time.getTime() < cutoff);
}

/** Applies retention in `dir` to the dumps of `database`; returns the dumps removed. */
export async function pruneBackups(
  dir: string,
  database: string,
  days: number,
  now: Date = new Date(),
): Promise<string[]> {
  const gone: string[] = [];
  for (const b of expiredBackups(await listBackups(dir, database), days, now)) {
    await Deno.remove(b.sidecar).catch(() => {});
    await Deno.remove(b.path);
    gone.push(b.path);
  }
  if (gone.length > 0) await fsyncPath(dir);
  return gone;
}

/** fsyncs a file or a folder. */
export async function fsyncPath(path: string): Promise<void> {
  const f = await Deno.open(path, { read: true });
  try {
    await f.sync();
  } finally {
    f.close();
  }
}

/** Where backups of this spec go, and why there. */
export function backupDirOf(ctx: OpsContext, override?: string): { dir: string; why: string } {
  if (override) return { dir: resolve(override), why: "--dir" };
  const b = ctx.model.backup;
  if (b) return { dir: resolve(ctx.specDir, b.path), why: `backup.path of the spec (${b.path})` };
  return { dir: join(ctx.outDir, LOCAL_BACKUP_DIR), why: "the local runtime's folder" };
}

/**
 * Rows of each AI table of `compiler/ai_schema.ts` that exists in the
 * database (a table not created yet is left out), in the session's snapshot.
 */
export async function aiRowCounts(
  sql: postgres.Sql | postgres.TransactionSql,
): Promise<Record<string, number>> {
  const names = AI_TABLES.map((t) => t.name);
  const present = await sql<{ name: string }[]>`
    SELECT n AS name FROM unnest(${names}::text[]) AS n
    WHERE to_regclass(format('public.%I', n)) IS NOT NULL`;
  const out: Record<string, number> = {};
  for (const { name } of present) {
    const [r] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM ${sql("public")}.${sql(name)}`;
    out[name] = Number(r.n);
  }
  return out;
}

/** Runs a tool; its exit code and output. */
export async function runTool(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let out;
  try {
    out = await new Deno.Command(command, {
      args,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new OpsError(`${command} is not installed (it comes with the PostgreSQL client tools)`);
    }
    throw e;
  }
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** `pg_dump --version`. */
async function pgDumpVersion(): Promise<string> {
  const r = await runTool("pg_dump", ["--version"]);
  if (r.code !== 0) throw new OpsError(`pg_dump --version failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** Writes a file atomically and durably: temp file, fsync, rename. */
async function writeDurable(path: string, text: string): Promise<void> {
  const tmp = path + PARTIAL_SUFFIX;
  await Deno.writeTextFile(tmp, text, { mode: 0o600 });
  await fsyncPath(tmp);
  await Deno.rename(tmp, path);
}

/** Options of {@link backup}. */
export interface BackupOptions {
  /** The folder (default {@link backupDirOf}). */
  dir?: string;
  /** Days to keep (default the spec's backup.retention_days; none: keep all). */
  retentionDays?: number;
  /** The clock, for retention. */
  now?: () => Date;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What {@link backup} did. */
export interface BackupResult {
  /** The dump, absolute. */
  file: string;
  sidecar: Sidecar;
  /** The dumps retention removed. */
  pruned: string[];
  dir: string;
}

/**
 * Dumps the spec's database as its role. The AI tables are counted in a
 * REPEATABLE READ transaction whose snapshot pg_dump then uses
 * (`--snapshot`), so the counts are exactly the dump's.
 */
export async function backup(ctx: OpsContext, opts: BackupOptions = {}): Promise<BackupResult> {
  const now = opts.now ?? (() => new Date());
  const log = opts.log ?? (() => {});
  const { dir } = opts.dir ? { dir: resolve(opts.dir) } : backupDirOf(ctx);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const version = await pgDumpVersion();
  const conn: PgConn = ctx.spec;
  const database = conn.database;

  let started = now();
  let file = join(dir, dumpName(database, started));
  for (let i = 0; i < 3 && (await exists(file) || await exists(sidecarPath(file))); i++) {
    await new Promise((r) => setTimeout(r, 1000));
    started = now();
    file = join(dir, dumpName(database, started));
  }
  if (await exists(file)) throw new OpsError(`${file} exists already; not overwriting it`);
  const partial = file + PARTIAL_SUFFIX;

  let counts: Record<string, number> = {};
  let serverVersion = "";
  const sql = connectSpec(ctx, { applicationName: "procos-backup" });
  try {
    await withSql(
      sql,
      (sql) =>
        sql.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", async (tx) => {
          const [s] = await tx<{ snapshot: string; version: string }[]>`
          SELECT pg_export_snapshot() AS snapshot, current_setting('server_version') AS version`;
          serverVersion = s.version;
          counts = await aiRowCounts(tx);
          log(`dumping ${describeConn(conn)} (snapshot ${s.snapshot}) into ${partial}`);
          const r = await runTool("pg_dump", [
            "--format=custom",
            "--no-password",
            `--snapshot=${s.snapshot}`,
            `--file=${partial}`,
          ], libpqEnv(conn));
          if (r.code !== 0) {
            throw new OpsError(
              `pg_dump of ${describeConn(conn)} failed (exit ${r.code}): ` +
                ctx.scrub(r.stderr.trim()),
            );
          }
        }),
    );
  } catch (e) {
    await Deno.remove(partial).catch(() => {});
    if (e instanceof OpsError) throw e;
    throw new OpsError(
      `cannot back up ${describeConn(conn)} (address from ${ctx.source}): ` +
        ctx.scrub(e instanceof Error ? e.message : String(e)),
    );
  }
  const finished = now();
  try {
    await Deno.chmod(partial, 0o600);
    await fsyncPath(partial);
    const { sha256, size } = await hashFile(partial);
    const sidecar: Sidecar = {
      format: SIDECAR_FORMAT,
      file: file.slice(dir.length + 1),
      sha256,
      size,
      database,
      started: started.toISOString(),
      finished: finished.toISOString(),
      pgDumpVersion: version,
      serverVersion,
      rowCounts: counts,
      rowCountsExact: true,
      producer: "deno task backup",
      project: ctx.model.project,
      profile: ctx.profile,
      specSha256: ctx.model.specHash,
    };
    await writeDurable(sidecarPath(partial), JSON.stringify(sidecar, null, 2) + "\n");
    await Deno.rename(partial, file);
    await Deno.rename(sidecarPath(partial), sidecarPath(file));
    await fsyncPath(dir);
    const days = opts.retentionDays ?? ctx.model.backup?.retention_days;
    const pruned = days === undefined ? [] : await pruneBackups(dir, database, days, now());
    return { file, sidecar, pruned, dir };
  } finally {
    await Deno.remove(partial).catch(() => {});
    await Deno.remove(sidecarPath(partial)).catch(() => {});
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Human-readable byte count. */
export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** The usage text. */
export const USAGE = `usage: deno task backup [options]

Dumps the spec's database (pg_dump --format=custom, as the spec's role) into the
backup folder as <database>-<YYYYMMDDTHHMMSSZ>.dump, with a sidecar .json
(sha256, size, row counts of the AI tables, ...), fsynced; then deletes dumps
older than backup.retention_days (never the newest).

options:
${COMMON_USAGE}
  --dir DIR         the backup folder (default: the spec's backup.path, relative
                    to the spec's folder; without one, <out>/runtime/backups)
  --retention-days N  days to keep (default backup.retention_days; none: keep all)
  --json            print the sidecar as JSON

Exit codes: 0 done; 1 failed (why, on one line); 2 bad arguments.`;

/** `deno task backup`; returns the exit code. */
export function main(args: string[], io: OpsIo): Promise<number> {
  let ctx: OpsContext | undefined;
  return runOps("backup", io, async () => {
    const a = parseOpsArgs(args, {
      dir: { type: "string" },
      "retention-days": { type: "string" },
      json: { type: "boolean", default: false },
    });
    if (a.help) {
      io.stdout(USAGE);
      return 0;
    }
    let retentionDays: number | undefined;
    const rd = a.values["retention-days"] as string | undefined;
    if (rd !== undefined) {
      retentionDays = Number(rd);
      if (!/^\d+$/.test(rd) || retentionDays < 1) {
        throw new UsageError(`--retention-days: a whole number of days, 1 or more, not ${rd}`);
      }
    }
    ctx = await loadOps({ ...a.common, env: io.env });
    const dirOpt = a.values.dir as string | undefined;
    const where = backupDirOf(ctx, dirOpt);
    if (!a.values.json) io.stdout(`procos backup: into ${where.dir} (${where.why})`);
    const r = await backup(ctx, {
      dir: where.dir,
      retentionDays,
      log: a.values.json ? undefined : (l) => io.stdout(`  ${l}`),
    });
    if (a.values.json) {
      io.stdout(JSON.stringify({ ...r.sidecar, path: r.file, pruned: r.pruned }, null, 2));
      return 0;
    }
    const s = r.sidecar;
    const counts = Object.entries(s.rowCounts).map(([t, n]) => `${t} ${n}`).join(", ");
    io.stdout(
      `procos backup: wrote ${r.file} (${formatBytes(s.size)}, sha256 ${s.sha256.slice(0, 16)}…)`,
    );
    io.stdout(`  rows: ${counts || "(no AI tables)"}`);
    for (const p of r.pruned) io.stdout(`  retention: removed ${p}`);
    return 0;
  }, () => ctx?.scrub);
}

if (import.meta.main) Deno.exit(await main(Deno.args, processIo()));

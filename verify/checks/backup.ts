/**
 * Backups: the spec's `backup` section is honoured. The folder is the spec's
 * `backup.path` (relative to the spec's folder, as the production `backup`
 * service mounts it and `deno task backup` writes to it); the dumps are those
 * of the spec's database, named `<database>-<YYYYMMDDTHHMMSSZ>.dump`
 * (`ops/backup.ts`).
 *
 * - `backup.fresh`: the newest dump is younger than the schedule allows: the
 *   longest gap between two runs of `backup.schedule` plus a quarter of it
 *   (at least an hour) of slack for the dump itself — 30 h for a daily
 *   schedule. With no dump at all, a stack that came up (out/runtime/state.json)
 *   less than that long ago is skipped: its first backup is not due yet.
 * - `backup.sidecar`: the newest dump's sidecar `.json` exists and its size
 *   and sha256 are the dump's (the whole dump is read: raise `--timeout` for
 *   dumps of many GB).
 * - `backup.retention`: no dump but the newest is older than
 *   `backup.retention_days` plus one schedule gap (retention runs after each
 *   backup).
 *
 * - with `backup.wal_archive` (point-in-time recovery): `backup.wal-archive`,
 *   PostgreSQL runs with `archive_mode = on` and its last archiving attempt
 *   did not fail (`pg_stat_archiver`); `backup.base`, the newest base backup
 *   in `<path>/base` is as fresh as the dumps must be.
 *
 * A spec without a `backup` section (development) gets one skipped check.
 *
 * @module
 */
import { join, resolve } from "node:path";
import type { StackModel } from "../../compiler/model.ts";
import type { Check, RunContext } from "../check.ts";
import { errorMessage, fail, pass, skip } from "../check.ts";
import { formatBytes, listBackups, parseStamp, verifyDump } from "../../ops/backup.ts";
import { withPg } from "../clients/pg.ts";
import type { BackupFile } from "../../ops/backup.ts";
import { readState } from "../../runtime/state.ts";
import { scheduleMaxGapMs } from "../../compiler/cron.ts";

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** How old the newest backup may be: the schedule's longest gap plus max(1 h, a quarter of it). */
export function maxBackupAgeMs(schedule: string): number {
  const gap = scheduleMaxGapMs(schedule);
  return gap + Math.max(HOUR_MS, gap / 4);
}

/** `1d 6h`, `5h 3m`, `42s`. */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms)) return "never";
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m ? `${h}h ${m}m` : `${h}h`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

type Backup = NonNullable<StackModel["backup"]>;

/** The backup folder of a spec with a backup section. */
export function backupFolder(b: Backup, ctx: { specDir: string }): string {
  return resolve(ctx.specDir, b.path);
}

async function dumps(model: StackModel, ctx: RunContext): Promise<BackupFile[]> {
  return await listBackups(backupFolder(model.backup!, ctx), model.postgres.database);
}

function cannotList(dir: string, e: unknown) {
  return fail(
    `a readable backup folder ${dir}`,
    errorMessage(e),
    "run verify as a user that can read the backup folder",
  );
}

function guarded(f: () => number): number | Error {
  try {
    return f();
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

function badSchedule(b: Backup, e: Error) {
  return fail(
    `a cron schedule of numbers, *, ranges, steps and lists`,
    `backup.schedule "${b.schedule}": ${e.message}`,
  );
}

/** The newest dump is younger than the schedule allows. */
export function freshCheck(model: StackModel, b: Backup, now: () => Date): Check {
  const maxAge = guarded(() => maxBackupAgeMs(b.schedule));
  return {
    id: "backup.fresh",
    domain: "backup",
    name: `backup: a backup of ${model.postgres.database} younger than ${
      maxAge instanceof Error ? "the schedule allows" : formatAge(maxAge)
    } (schedule "${b.schedule}")`,
    run: async (ctx) => {
      if (maxAge instanceof Error) return badSchedule(b, maxAge);
      const dir = backupFolder(b, ctx);
      let list: BackupFile[];
      try {
        list = await dumps(model, ctx);
      } catch (e) {
        return cannotList(dir, e);
      }
      const t = now().getTime();
      const hint = `run deno task backup --config ${ctx.specFile}, and check that the backup ` +
        `service runs (docker compose ... logs backup)`;
      if (list.length === 0) {
        if (!Number.isFinite(maxAge)) {
          return fail(`backups on schedule "${b.schedule}"`, "the schedule never runs", hint);
        }
        const state = await readState(ctx.outDir).catch(() => undefined);
        const upAt = state?.updatedAt ? Date.parse(state.updatedAt) : NaN;
        if (Number.isFinite(upAt) && t - upAt < maxAge) {
          return skip(
            `no backup in ${dir} yet; the stack came up ${formatAge(t - upAt)} ago ` +
              `(${ctx.outDir}/runtime/state.json), the first is due within ${formatAge(maxAge)}`,
          );
        }
        return fail(`a backup younger than ${formatAge(maxAge)} in ${dir}`, "no backup", hint);
      }
      const newest = list[list.length - 1];
      const age = t - newest.time.getTime();
      if (age > maxAge) {
        return fail(
          `a backup younger than ${formatAge(maxAge)} in ${dir}`,
          `the newest is ${newest.name}, ${formatAge(age)} old`,
          hint,
        );
      }
      let size = "";
      try {
        size = `, ${formatBytes((await Deno.stat(newest.path)).size)}`;
      } catch { /* reported by the sidecar check */ }
      return pass(`${newest.name}, ${formatAge(age)} old${size}`);
    },
  };
}

/** The newest dump matches its sidecar. */
export function sidecarCheck(model: StackModel, b: Backup): Check {
  return {
    id: "backup.sidecar",
    domain: "backup",
    name: "backup: the newest backup's sha256 matches its sidecar",
    run: async (ctx) => {
      const dir = backupFolder(b, ctx);
      let list: BackupFile[];
      try {
        list = await dumps(model, ctx);
      } catch (e) {
        return cannotList(dir, e);
      }
      if (list.length === 0) return skip(`no backup in ${dir} to check`);
      const newest = list[list.length - 1];
      try {
        const s = await verifyDump(newest.path, ctx.signal);
        return pass(`${newest.name}: sha256 ${s.sha256.slice(0, 12)}…, ${formatBytes(s.size)}`);
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        return fail(
          `${newest.name} as its sidecar ${newest.name}.json records it (size, sha256)`,
          errorMessage(e),
          "the dump is damaged or incomplete: take a new backup (deno task backup), and do " +
            "not restore from this one",
        );
      }
    },
  };
}

/** No dump outlives the retention (bar the newest). */
export function retentionCheck(model: StackModel, b: Backup, now: () => Date): Check {
  const gap = guarded(() => scheduleMaxGapMs(b.schedule));
  return {
    id: "backup.retention",
    domain: "backup",
    name: `backup: no backup older than ${b.retention_days} days is kept (retention_days)`,
    run: async (ctx) => {
      if (gap instanceof Error) return badSchedule(b, gap);
      const limit = b.retention_days * DAY_MS + gap;
      const dir = backupFolder(b, ctx);
      let list: BackupFile[];
      try {
        list = await dumps(model, ctx);
      } catch (e) {
        return cannotList(dir, e);
      }
      if (list.length === 0) return skip(`no backup in ${dir}`);
      const t = now().getTime();
      const old = list.slice(0, -1).filter((x) => t - x.time.getTime() > limit);
      if (old.length === 0) {
        return pass(
          `${list.length} backup(s), the oldest ${formatAge(t - list[0].time.getTime())} old`,
        );
      }
      return fail(
        `no backup but the newest older than ${b.retention_days} days (+ ${
          formatAge(limit - b.retention_days * DAY_MS)
        } until the next run prunes)`,
        `${old.length} older: ${old.slice(0, 3).map((x) => x.name).join(", ")}${
          old.length > 3 ? ", …" : ""
        }`,
        "retention runs after each backup (deno task backup, or the backup service): are " +
          "backups running?",
      );
    },
  };
}

/** The base backups of a spec with `wal_archive`, oldest first (folders `<path>/base/<UTC time>`). */
export async function baseBackups(dir: string): Promise<{ name: string; time: Date }[]> {
  const out: { name: string; time: Date }[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const time = e.isDirectory ? parseStamp(e.name) : undefined;
      if (time) out.push({ name: e.name, time });
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return out.sort((a, b) => a.time.getTime() - b.time.getTime());
}

/** With `wal_archive`: PostgreSQL archives its WAL, and has not failed since it last succeeded. */
export function walArchiveCheck(model: StackModel): Check {
  return {
    id: "backup.wal-archive",
    domain: "backup",
    name: "backup: PostgreSQL archives its WAL (backup.wal_archive)",
    run: async (ctx) => {
      const t = ctx.targets.postgres;
      const m = ctx.model.postgres;
      type Row = {
        mode: string;
        archived: string;
        last_wal: string | null;
        last_time: Date | null;
        failed: string;
        failed_wal: string | null;
        failed_time: Date | null;
      };
      let r: Row;
      try {
        [r] = await withPg({
          host: t.host,
          port: t.port,
          database: m.database,
          user: m.user,
          password: m.password,
          signal: ctx.signal,
          pools: ctx.pools,
        }, (sql) =>
          sql<Row[]>`
          SELECT current_setting('archive_mode') AS mode, archived_count AS archived,
                 last_archived_wal AS last_wal, last_archived_time AS last_time,
                 failed_count AS failed, last_failed_wal AS failed_wal,
                 last_failed_time AS failed_time
          FROM pg_stat_archiver`);
      } catch (e) {
        return fail(`a session as ${m.user} on database ${m.database}`, errorMessage(e));
      }
      if (r.mode !== "on" && r.mode !== "always") {
        return fail(
          "archive_mode = on",
          `archive_mode = ${r.mode}`,
          "the production compose file starts PostgreSQL with WAL archiving: rebuild, and " +
            "recreate the postgres container",
        );
      }
      if (r.failed_time && (!r.last_time || r.failed_time > r.last_time)) {
        return fail(
          "WAL segments archived, none failing",
          `archiving ${r.failed_wal} failed at ${r.failed_time.toISOString()} ` +
            `(${r.failed} failure(s) since the statistics were reset)`,
          `see the postgres container's log; is ${model.backup?.path}/wal writable?`,
        );
      }
      return pass(
        r.last_wal
          ? `${r.archived} segment(s) archived, the last ${r.last_wal} at ${r.last_time?.toISOString()}`
          : "archiving on; no segment completed yet",
      );
    },
  };
}

/** With `wal_archive`: the newest base backup is younger than the schedule allows. */
export function baseBackupCheck(b: Backup, now: () => Date): Check {
  const maxAge = guarded(() => maxBackupAgeMs(b.schedule));
  return {
    id: "backup.base",
    domain: "backup",
    name: `backup: a base backup (for point-in-time recovery) younger than ${
      maxAge instanceof Error ? "the schedule allows" : formatAge(maxAge)
    }`,
    run: async (ctx) => {
      if (maxAge instanceof Error) return badSchedule(b, maxAge);
      const dir = join(backupFolder(b, ctx), "base");
      let list;
      try {
        list = await baseBackups(dir);
      } catch (e) {
        return cannotList(dir, e);
      }
      const t = now().getTime();
      const newest = list.at(-1);
      if (!newest) {
        const state = await readState(ctx.outDir).catch(() => undefined);
        const upAt = state?.updatedAt ? Date.parse(state.updatedAt) : NaN;
        if (Number.isFinite(upAt) && t - upAt < maxAge) {
          return skip(`no base backup in ${dir} yet; the stack came up ${formatAge(t - upAt)} ago`);
        }
        return fail(
          `a base backup younger than ${formatAge(maxAge)} in ${dir}`,
          "no base backup",
          "the backup service takes one after each scheduled dump: see its log",
        );
      }
      const age = t - newest.time.getTime();
      return age <= maxAge ? pass(`${newest.name}, ${formatAge(age)} old`) : fail(
        `a base backup younger than ${formatAge(maxAge)} in ${dir}`,
        `the newest is ${newest.name}, ${formatAge(age)} old`,
        "the backup service takes one after each scheduled dump: see its log",
      );
    },
  };
}

/** The backup domain, with a clock (for tests). */
export function backupChecksAt(model: StackModel, now: () => Date): Check[] {
  const b = model.backup;
  if (!b) {
    return [{
      id: "backup.configured",
      domain: "backup",
      name: "backup: backups of the database",
      run: () =>
        Promise.resolve(
          skip(`the spec has no backup section (profile ${model.profile}); nothing to check`),
        ),
    }];
  }
  return [
    freshCheck(model, b, now),
    sidecarCheck(model, b),
    retentionCheck(model, b, now),
    ...(b.wal_archive ? [walArchiveCheck(model), baseBackupCheck(b, now)] : []),
  ];
}

/** The backup domain. */
export function backupChecks(model: StackModel): Check[] {
  return backupChecksAt(model, () => new Date());
}

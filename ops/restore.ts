/**
 * `deno task restore`: puts a dump written by `deno task backup` (or the
 * production backup service) back as the spec's database.
 *
 *     deno task restore [--config F] [--profile P] [--out DIR] [--dir DIR]
 *                       [--from FILE|latest] [--yes]
 *
 * 1. The dump (`--from FILE`, or the newest of the backup folder) is checked
 *    against its sidecar: size and sha256. A mismatch refuses the restore.
 * 2. When the spec's database exists and holds any table, the restore is
 *    refused unless `--yes` is given (it replaces the database).
 * 3. As the administrator (`PROCOS_PG_ADMIN_URL`): the dump is restored with
 *    `pg_restore --exit-on-error --single-transaction` into a new database
 *    beside the current one; only when that succeeded is the current one
 *    dropped (`WITH (FORCE)`: sessions on it are ended) and the new one
 *    renamed into its place. A failed restore leaves the current database as
 *    it was.
 * 4. The spec's role (created when missing) gets its password from the
 *    spec's secret again; the database is ANALYZEd.
 *
 * Row counts of the AI tables are printed before and after.
 *
 * @module
 */
import { quoteIdent, quoteLiteral } from "../compiler/sql_quote.ts";
import {
  aiRowCounts,
  backupDirOf,
  formatBytes,
  listBackups,
  runTool,
  verifyDump,
} from "./backup.ts";
import type { Sidecar } from "./backup.ts";
import {
  COMMON_USAGE,
  connect,
  connectAdmin,
  describeConn,
  libpqEnv,
  loadOps,
  OpsError,
  parseOpsArgs,
  processIo,
  runOps,
  withSql,
} from "./db.ts";
import type { OpsContext, OpsIo } from "./db.ts";
import { resolve } from "node:path";

/** What the spec's database holds right now. */
export interface DatabaseState {
  exists: boolean;
  /** Tables in the database's own schemas (not pg_catalog / information_schema). */
  tables: number;
  /** Rows of each AI table present. */
  rowCounts: Record<string, number>;
}

/** Looks at the spec's database as the administrator. */
export async function databaseState(ctx: OpsContext): Promise<DatabaseState> {
  const db = ctx.spec.database;
  const exists = await withSql(connectAdmin(ctx), async (sql) => {
    const r = await sql`SELECT 1 FROM pg_database WHERE datname = ${db}`;
    return r.length > 0;
  });
  if (!exists) return { exists, tables: 0, rowCounts: {} };
  return await withSql(connect(ctx.admin, { database: db }), async (sql) => {
    const [t] = await sql<{ n: string }[]>`
      SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%'`;
    return { exists, tables: Number(t.n), rowCounts: await aiRowCounts(sql) };
  });
}

/** Resolves `--from`: a file, or `latest` (the newest dump of the spec's database). */
export async function findDump(ctx: OpsContext, from: string, dir?: string): Promise<string> {
  if (from !== "latest") return resolve(from);
  const where = backupDirOf(ctx, dir);
  const list = await listBackups(where.dir, ctx.spec.database);
  if (list.length === 0) {
    throw new OpsError(
      `no backup of database ${ctx.spec.database} in ${where.dir} (${where.why}); ` +
        `pass --from FILE or --dir DIR`,
    );
  }
  return list[list.length - 1].path;
}

/** A name for the database restored beside `db` (at most 63 bytes). */
export function stagingName(db: string): string {
  const tag = [...crypto.getRandomValues(new Uint8Array(4))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const suffix = `_restore_${tag}`;
  let base = db;
  while (new TextEncoder().encode(base + suffix).length > 63) base = base.slice(0, -1);
  return base + suffix;
}

/** Options of {@link restore}. */
export interface RestoreOptions {
  /** The dump (absolute or relative path). */
  file: string;
  /** Replace a database that holds tables. */
  yes?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What {@link restore} did. */
export interface RestoreResult {
  file: string;
  sidecar: Sidecar;
  before: DatabaseState;
  after: DatabaseState;
}

/** Restores a verified dump as the spec's database; see the module doc. */
export async function restore(ctx: OpsContext, opts: RestoreOptions): Promise<RestoreResult> {
  const log = opts.log ?? (() => {});
  const file = resolve(opts.file);
  const sidecar = await verifyDump(file);
  log(`${file}: sha256 ${sidecar.sha256.slice(0, 16)}… and size match its sidecar`);
  const list = await runTool("pg_restore", ["--list", file]);
  if (list.code !== 0) {
    throw new OpsError(`pg_restore cannot read ${file}: ${list.stderr.trim()}`);
  }

  const db = ctx.spec.database;
  const role = ctx.spec.user;
  let before: DatabaseState;
  try {
    before = await databaseState(ctx);
  } catch (e) {
    throw new OpsError(
      `cannot reach PostgreSQL as the administrator ${describeConn(ctx.admin)}: ` +
        `${ctx.scrub(e instanceof Error ? e.message : String(e))} (set PROCOS_PG_ADMIN_URL)`,
    );
  }
  if (before.exists && before.tables > 0 && !opts.yes) {
    const counts = Object.entries(before.rowCounts).map(([t, n]) => `${t}: ${n} rows`);
    throw new OpsError(
      `database ${db} is not empty (${before.tables} table(s)${
        counts.length ? `; ${counts.join(", ")}` : ""
      }); restoring replaces it: pass --yes to go ahead`,
    );
  }

  const staging = stagingName(db);
  await withSql(connectAdmin(ctx), async (sql) => {
    const [r] = await sql`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = ${role}`;
    if (r.n === 0) {
      log(`role ${role} is missing: creating it`);
      await sql.unsafe(`CREATE ROLE ${quoteIdent(role)} LOGIN`);
    }
    await sql.unsafe(
      `CREATE DATABASE ${quoteIdent(staging)} OWNER ${quoteIdent(role)} ` +
        `ENCODING 'UTF8' TEMPLATE template0`,
    );
  });
  let swapped = false;
  try {
    log(`pg_restore into ${staging} as ${describeConn(ctx.admin, staging)}`);
    const r = await runTool("pg_restore", [
      "--exit-on-error",
      "--single-transaction",
      "--no-password",
      `--dbname=${staging}`,
      file,
    ], libpqEnv(ctx.admin, staging));
    if (r.code !== 0) {
      throw new OpsError(
        `pg_restore of ${file} failed (exit ${r.code}); database ${db} is unchanged: ` +
          ctx.scrub(r.stderr.trim().split("\n").slice(-5).join(" ")),
      );
    }
    await withSql(connect(ctx.admin, { database: staging }), (sql) => sql`ANALYZE`);
    await withSql(connectAdmin(ctx), async (sql) => {
      if (before.exists) {
        log(`dropping database ${db} (WITH FORCE: its sessions are ended)`);
        await sql.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(db)} WITH (FORCE)`);
      }
      await sql.unsafe(`ALTER DATABASE ${quoteIdent(staging)} RENAME TO ${quoteIdent(db)}`);
      swapped = true;
      await sql.unsafe(
        `GRANT CONNECT, TEMPORARY ON DATABASE ${quoteIdent(db)} TO ${quoteIdent(role)}`,
      );
      // the password: from the spec's secret, never logged
      await sql.unsafe(
        `ALTER ROLE ${quoteIdent(role)} WITH LOGIN PASSWORD ${quoteLiteral(ctx.spec.password)}`,
      );
    });
    log(`database ${db} restored; role ${role}'s password set from the spec's secret`);
  } catch (e) {
    if (!swapped) {
      await withSql(
        connectAdmin(ctx),
        (sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(staging)} WITH (FORCE)`),
      ).catch(() => {});
    }
    if (e instanceof OpsError) throw e;
    throw new OpsError(ctx.scrub(e instanceof Error ? e.message : String(e)));
  }
  const after = await databaseState(ctx);
  return { file, sidecar, before, after };
}

/** The before/after table of row counts. */
export function countsTable(
  before: Record<string, number>,
  after: Record<string, number>,
  recorded?: Record<string, number>,
): string[] {
  const names = [
    ...new Set([...Object.keys(recorded ?? {}), ...Object.keys(after), ...Object.keys(before)]),
  ];
  const w = Math.max(5, ...names.map((n) => n.length));
  const col = (v: number | undefined) => String(v ?? "-").padStart(10);
  const lines = [
    `  ${"table".padEnd(w)} ${"before".padStart(10)} ${"after".padStart(10)} ${
      "in dump".padStart(10)
    }`,
  ];
  for (const n of names) {
    lines.push(`  ${n.padEnd(w)} ${col(before[n])} ${col(after[n])} ${col(recorded?.[n])}`);
  }
  return lines;
}

/** The usage text. */
export const USAGE = `usage: deno task restore [options]

Restores a dump of deno task backup as the spec's database: checks it against
its sidecar (size, sha256), restores it with pg_restore as the administrator
into a new database, then swaps it in place of the spec's database and sets the
role's password from the spec. Prints the AI tables' row counts before and after.

options:
${COMMON_USAGE}
  --from FILE|latest  the dump (default latest: the newest in the backup folder)
  --dir DIR         the backup folder for latest (default as deno task backup)
  --yes             replace the database even when it holds tables

environment: PROCOS_PG_ADMIN_URL (default postgres://postgres@<host>:<port>/postgres),
and the spec's secrets.

Exit codes: 0 restored; 1 refused or failed (why, on one line); 2 bad arguments.`;

/** `deno task restore`; returns the exit code. */
export function main(args: string[], io: OpsIo): Promise<number> {
  let ctx: OpsContext | undefined;
  return runOps("restore", io, async () => {
    const a = parseOpsArgs(args, {
      from: { type: "string", default: "latest" },
      dir: { type: "string" },
      yes: { type: "boolean", default: false },
    });
    if (a.help) {
      io.stdout(USAGE);
      return 0;
    }
    ctx = await loadOps({ ...a.common, env: io.env });
    const file = await findDump(ctx, a.values.from as string, a.values.dir as string | undefined);
    io.stdout(
      `procos restore: ${file} → database ${ctx.spec.database} (${describeConn(ctx.spec)})`,
    );
    const r = await restore(ctx, {
      file,
      yes: a.values.yes === true,
      log: (l) => io.stdout(`  ${l}`),
    });
    io.stdout(
      `procos restore: done (${formatBytes(r.sidecar.size)} dump of ${r.sidecar.database}, ` +
        `taken ${r.sidecar.started ?? "at an unknown time"})`,
    );
    for (const l of countsTable(r.before.rowCounts, r.after.rowCounts, r.sidecar.rowCounts)) {
      io.stdout(l);
    }
    return 0;
  }, () => ctx?.scrub);
}

if (import.meta.main) Deno.exit(await main(Deno.args, processIo()));

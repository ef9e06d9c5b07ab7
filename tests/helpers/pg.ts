/**
 * Throwaway databases and roles on the real PostgreSQL server, for tests.
 *
 * The server is 127.0.0.1:5432 with trust authentication and the superuser
 * `postgres` (override with `PROCOS_TEST_PGHOST`, `PROCOS_TEST_PGPORT`,
 * `PROCOS_TEST_PGUSER`). Every name this helper makes starts with
 * {@link SCRATCH_PREFIX}, and it refuses to drop anything else, so a test can
 * never drop a real `procos` database or role.
 *
 * @module
 */
import postgres from "postgres";
import { quoteIdent, quoteLiteral } from "../../compiler/sql_quote.ts";

/** Where the test server is, and its superuser. */
export const PG: Readonly<{ host: string; port: number; superuser: string }> = Object.freeze({
  host: Deno.env.get("PROCOS_TEST_PGHOST") ?? "127.0.0.1",
  port: Number(Deno.env.get("PROCOS_TEST_PGPORT") ?? 5432),
  superuser: Deno.env.get("PROCOS_TEST_PGUSER") ?? "postgres",
});

/** Prefix of every scratch database and role name. */
export const SCRATCH_PREFIX = "procos_t_";

/** A scratch database and role (which may or may not exist yet). */
export interface Scratch {
  /** Database name. */
  database: string;
  /** Role name. */
  role: string;
}

/** A fresh name `procos_t_<12 hex digits><suffix>`. */
export function scratchName(suffix = ""): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return SCRATCH_PREFIX + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("") +
    suffix;
}

/** What `psql` printed and returned. */
export interface PsqlResult {
  /** Exit status (0 on success; 3 when a script stopped on an error). */
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link psql}. */
export interface PsqlOptions {
  /** Database to connect to (default `postgres`). */
  database?: string;
  /** User to connect as (default the superuser). */
  user?: string;
  /** A script to run with `-f`. */
  file?: string;
  /** A command to run with `-c`. */
  command?: string;
}

/**
 * Runs `psql -X -q -v ON_ERROR_STOP=1` against the test server. Does not throw
 * on failure: check {@link PsqlResult.code}.
 */
export async function psql(opts: PsqlOptions): Promise<PsqlResult> {
  const args = [
    "-X",
    "-q",
    "-v",
    "ON_ERROR_STOP=1",
    "-h",
    PG.host,
    "-p",
    String(PG.port),
    "-U",
    opts.user ?? PG.superuser,
    "-d",
    opts.database ?? "postgres",
  ];
  if (opts.file !== undefined) args.push("-f", opts.file);
  if (opts.command !== undefined) args.push("-c", opts.command);
  const out = await new Deno.Command("psql", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { PGCONNECT_TIMEOUT: "10" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs a superuser command with {@link psql}; throws with psql's stderr when it fails. */
async function admin(command: string): Promise<void> {
  const r = await psql({ command });
  if (r.code !== 0) throw new Error(`psql -c ${JSON.stringify(command)} failed: ${r.stderr}`);
}

/**
 * Opens a postgres.js client (one connection) on the test server. Close it
 * with `await sql.end()`.
 */
export function connect(database: string, user: string = PG.superuser): postgres.Sql {
  return postgres({
    host: PG.host,
    port: PG.port,
    database,
    username: user,
    max: 1,
    onnotice: () => {},
    connect_timeout: 10,
  });
}

function checkScratch(name: string): void {
  if (!name.startsWith(SCRATCH_PREFIX)) {
    throw new Error(`refusing to touch ${JSON.stringify(name)}: not a ${SCRATCH_PREFIX}* name`);
  }
}

/** Options of {@link createScratch}. */
export interface CreateScratchOptions {
  /** Make the role a superuser, as POSTGRES_USER is in the postgres image. */
  superuser?: boolean;
}

/** Creates the scratch role (LOGIN) and a database it owns. */
export async function createScratch(s: Scratch, opts: CreateScratchOptions = {}): Promise<void> {
  checkScratch(s.database);
  checkScratch(s.role);
  await admin(`CREATE ROLE ${quoteIdent(s.role)} LOGIN${opts.superuser ? " SUPERUSER" : ""}`);
  await admin(`CREATE DATABASE ${quoteIdent(s.database)} OWNER ${quoteIdent(s.role)}`);
}

/**
 * Drops the scratch database (closing its connections) and role, whichever
 * exist. Refuses names without {@link SCRATCH_PREFIX}.
 */
export async function dropScratch(s: Scratch): Promise<void> {
  checkScratch(s.database);
  checkScratch(s.role);
  const role = quoteLiteral(s.role);
  if (role.includes("$scratch$")) throw new Error(`unusable role name ${JSON.stringify(s.role)}`);
  const errors: unknown[] = [];
  for (
    const command of [
      `DROP DATABASE IF EXISTS ${quoteIdent(s.database)} WITH (FORCE)`,
      // Whatever the role may still own or hold elsewhere goes with it.
      `DO $scratch$ BEGIN IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = ${role}) ` +
      `THEN EXECUTE format('DROP OWNED BY %I', ${role}); EXECUTE format('DROP ROLE %I', ${role}); ` +
      `END IF; END $scratch$`,
    ]
  ) {
    await admin(command).catch((e) => errors.push(e));
  }
  if (errors.length > 0) throw errors[0];
}

/** Options of {@link withScratch}. */
export interface WithScratchOptions extends CreateScratchOptions {
  /** Create the role and database before `fn` (default false: `fn` creates them). */
  create?: boolean;
  /** Suffix of both names (e.g. hostile characters). */
  suffix?: string;
}

/**
 * Runs `fn` with fresh scratch names (created first when `create` is set),
 * and drops the database and role afterwards, even when `fn` throws.
 */
export async function withScratch<T>(
  fn: (s: Scratch) => Promise<T>,
  opts: WithScratchOptions = {},
): Promise<T> {
  const s: Scratch = { database: scratchName(opts.suffix), role: scratchName(opts.suffix) };
  let result: T;
  try {
    if (opts.create) await createScratch(s, opts);
    result = await fn(s);
  } catch (e) {
    // Clean up, but report the test's own failure rather than a cleanup one.
    await dropScratch(s).catch((c) => console.error(`cleanup of ${s.database} failed:`, c));
    throw e;
  }
  await dropScratch(s);
  return result;
}

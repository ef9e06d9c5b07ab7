/**
 * The shared plumbing of the ops tasks (`deno task backup`, `restore`,
 * `ai:search`, `ai:usage`, retention, export): load the spec, build the
 * host-addressed stack model, find the spec's PostgreSQL as verify does, and
 * connect to it — as the spec's role, or as an administrator.
 *
 * Where the database is (highest precedence first), exactly as
 * `verify/targets.ts` resolves it:
 *
 * 1. `pgUrl` (a `--pg-url` flag), then `PROCOS_PG_URL` (host and port only);
 * 2. `<out>/runtime/endpoints.json`, written by `deno task up`;
 * 3. the port the spec publishes on this host (127.0.0.1, or the mapping's
 *    `host_ip`).
 *
 * As whom: the spec's role and its resolved password (`connectSpec`), or the
 * administrator of `PROCOS_PG_ADMIN_URL` (`connectAdmin`; default
 * `postgres://postgres@<host>:<port>/postgres` at the address above, the same
 * variable and default `deno task up` provisions with).
 *
 * Passwords never go on a command line: tools run by {@link libpqEnv} get them
 * as `PGPASSWORD`, and error messages are scrubbed ({@link OpsContext.scrub}).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dirname, join, resolve } from "node:path";
import postgres from "postgres";
import { formatDiagnostic, SpecError } from "../compiler/diagnostics.ts";
import { MANIFEST_FILE, parseManifest } from "../compiler/emit/manifest.ts";
import { loadSpec } from "../compiler/load_spec.ts";
import { buildModel } from "../compiler/model.ts";
import type { ResolvedSpec, StackModel } from "../compiler/model.ts";
import { PROFILES } from "../compiler/schema.ts";
import type { ProfileName } from "../compiler/schema.ts";
import { resolveTargets, TargetError } from "../verify/targets.ts";

/** Environment variables, as `Deno.env.toObject()` gives them. */
export type Env = Record<string, string | undefined>;

/** A failure a person can act on: printed as one line, exit 1. */
export class OpsError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "OpsError";
  }
}

/** A usage mistake (bad flag or value): exit 2. */
export class UsageError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Where a PostgreSQL session goes, and as whom. */
export interface PgConn {
  host: string;
  port: number;
  database: string;
  user: string;
  /** Empty for none (trust or .pgpass). */
  password: string;
}

/** Options of {@link loadOps}. */
export interface OpsOptions {
  /** The spec (default `procos.config.yaml`). */
  config?: string;
  /** Default: the profile `out` was built with, else `development`. */
  profile?: ProfileName;
  /** The build output folder (default `out`). */
  out?: string;
  /** Where PostgreSQL is (host and port used), above everything else. */
  pgUrl?: string;
  /** Secrets, `PROCOS_PG_URL`, `PROCOS_PG_ADMIN_URL` (default: none). */
  env?: Env;
}

/** What every ops task works from. */
export interface OpsContext {
  /** The spec file, as given. */
  config: string;
  /** The spec's folder, absolute: relative spec paths (`backup.path`) resolve from here. */
  specDir: string;
  /** The build output folder, absolute. */
  outDir: string;
  profile: ProfileName;
  resolved: ResolvedSpec;
  /** The host-addressed stack model (holds resolved secrets: never print it). */
  model: StackModel;
  /** The spec's database as its role, at the resolved address. */
  spec: PgConn;
  /** The administrator (PROCOS_PG_ADMIN_URL), on database `postgres` by default. */
  admin: PgConn;
  /** Where the address came from (`runtime/endpoints.json`, `PROCOS_PG_URL`, ...). */
  source: string;
  env: Env;
  /** Replaces every secret value of the spec (and the admin password) with `***`. */
  scrub: (text: string) => string;
}

/** The profile an output folder was built with (from its manifest), if any. */
export async function builtProfile(outDir: string): Promise<ProfileName | undefined> {
  try {
    const m = parseManifest(await Deno.readTextFile(join(outDir, MANIFEST_FILE)));
    return m && (PROFILES as readonly string[]).includes(m.profile)
      ? m.profile as ProfileName
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The administrator connection: `PROCOS_PG_ADMIN_URL`, else
 * `postgres://postgres@<host>:<port>/postgres` at `at`.
 */
export function adminConn(env: Env, at: { host: string; port: number }): PgConn {
  const raw = env.PROCOS_PG_ADMIN_URL;
  if (!raw) {
    return { host: at.host, port: at.port, database: "postgres", user: "postgres", password: "" };
  }
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(
      "PROCOS_PG_ADMIN_URL is not a URL such as postgres://postgres@127.0.0.1:5432/postgres",
    );
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1") || at.host;
  return {
    host,
    port: u.port ? Number(u.port) : 5432,
    database: decodeURIComponent(u.pathname.replace(/^\//, "")) || "postgres",
    user: decodeURIComponent(u.username) || "postgres",
    password: decodeURIComponent(u.password),
  };
}

/** Loads the spec and works out where its database is. Throws SpecError / TargetError / UsageError. */
export async function loadOps(opts: OpsOptions = {}): Promise<OpsContext> {
  const env = opts.env ?? {};
  const config = opts.config ?? "procos.config.yaml";
  const outDir = resolve(opts.out ?? "out");
  const profile = opts.profile ?? (await builtProfile(outDir)) ?? "development";
  const resolved = await loadSpec(config, { profile, env });
  const model = buildModel(resolved, { addressing: "host" });
  const targets = await resolveTargets(model, {
    mode: "local",
    outDir,
    env,
    overrides: { pgUrl: opts.pgUrl },
  });
  const at = targets.postgres;
  const spec: PgConn = {
    host: at.host,
    port: at.port,
    database: model.postgres.database,
    user: model.postgres.user,
    password: model.postgres.password,
  };
  const admin = adminConn(env, at);
  const secrets = [...Object.values(resolved.secrets).map((s) => s.value), admin.password]
    .filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  return {
    config,
    specDir: dirname(resolve(config)),
    outDir,
    profile,
    resolved,
    model,
    spec,
    admin,
    source: targets.sources.postgres,
    env,
    scrub: (text) => secrets.reduce((t, s) => t.split(s).join("***"), text),
  };
}

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** Another database than the connection's. */
  database?: string;
  /** Connections in the pool (default 1). */
  max?: number;
  /** `application_name` (default `procos-ops`). */
  applicationName?: string;
  /** Seconds to wait for the connection (default 10). */
  connectTimeout?: number;
}

/** A postgres.js client. Close it with `await sql.end()` (or use {@link withSql}). */
export function connect(c: PgConn, opts: ConnectOptions = {}): postgres.Sql {
  return postgres({
    host: c.host,
    port: c.port,
    database: opts.database ?? c.database,
    username: c.user,
    password: c.password || undefined,
    max: opts.max ?? 1,
    connect_timeout: opts.connectTimeout ?? 10,
    idle_timeout: 5,
    onnotice: () => {},
    connection: { application_name: opts.applicationName ?? "procos-ops" },
  });
}

/** The spec's database, as the spec's role. */
export function connectSpec(ctx: OpsContext, opts: ConnectOptions = {}): postgres.Sql {
  return connect(ctx.spec, opts);
}

/** The administrator, on `postgres` (or `opts.database`). */
export function connectAdmin(ctx: OpsContext, opts: ConnectOptions = {}): postgres.Sql {
  return connect(ctx.admin, opts);
}

/** Runs `fn` with a client and always closes it. */
export async function withSql<T>(
  sql: postgres.Sql,
  fn: (sql: postgres.Sql) => Promise<T>,
): Promise<T> {
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/**
 * The libpq environment of a connection, for `pg_dump`, `pg_restore` and
 * `psql` (the password as PGPASSWORD, never an argument).
 */
export function libpqEnv(c: PgConn, database?: string): Record<string, string> {
  const env: Record<string, string> = {
    PGHOST: c.host,
    PGPORT: String(c.port),
    PGDATABASE: database ?? c.database,
    PGUSER: c.user,
    PGCONNECT_TIMEOUT: "10",
    PGAPPNAME: "procos-ops",
  };
  if (c.password) env.PGPASSWORD = c.password;
  return env;
}

/** A connection as a person reads it: `procos@127.0.0.1:5432/procos` (no password). */
export function describeConn(c: PgConn, database?: string): string {
  const h = c.host.includes(":") ? `[${c.host}]` : c.host;
  return `${c.user}@${h}:${c.port}/${database ?? c.database}`;
}

/** The flags every ops task takes, for `node:util` `parseArgs`. */
export const COMMON_OPTIONS = {
  config: { type: "string", default: "procos.config.yaml" },
  profile: { type: "string" },
  out: { type: "string", default: "out" },
  "pg-url": { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

/** Usage lines of {@link COMMON_OPTIONS}. */
export const COMMON_USAGE = `  --config FILE     the spec (default procos.config.yaml)
  --profile NAME    development or production (default: the profile --out was built with)
  --out DIR         the build output folder (default out; runtime/endpoints.json is read)
  --pg-url URL      where PostgreSQL is (host and port; also PROCOS_PG_URL)
  -h, --help        this text`;

/** Parses `args` with {@link COMMON_OPTIONS} plus `extra`; usage errors become {@link UsageError}. */
export function parseOpsArgs<E extends NonNullable<Parameters<typeof parseArgs>[0]>["options"]>(
  args: string[],
  extra: E,
  allowPositionals = false,
) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals,
      strict: true,
      options: { ...COMMON_OPTIONS, ...extra },
    });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const profile = v.profile as string | undefined;
  if (profile !== undefined && !(PROFILES as readonly string[]).includes(profile)) {
    throw new UsageError(`unknown profile "${profile}": use ${PROFILES.join(" or ")}`);
  }
  return {
    values: v,
    positionals: parsed.positionals,
    help: v.help === true,
    common: {
      config: v.config as string,
      profile: profile as ProfileName | undefined,
      out: v.out as string,
      pgUrl: v["pg-url"] as string | undefined,
    },
  };
}

/** Where an ops CLI prints. */
export interface OpsIo {
  /** One line (or block) to stdout. */
  stdout: (text: string) => void;
  /** One line to stderr. */
  stderr: (text: string) => void;
  env: Env;
}

/** The process's own io. */
export function processIo(): OpsIo {
  return {
    stdout: (t) => console.log(t),
    stderr: (t) => console.error(t),
    env: Deno.env.toObject(),
  };
}

/**
 * Runs an ops CLI body and turns errors into exit codes: 0 done; 1 a failure
 * (one line, `procos <task>: why`; spec errors located); 2 bad arguments.
 * A stack trace only with `PROCOS_DEBUG=1`.
 */
export async function runOps(
  task: string,
  io: OpsIo,
  body: () => Promise<number>,
  scrub: () => ((t: string) => string) | undefined = () => undefined,
): Promise<number> {
  try {
    return await body();
  } catch (e) {
    const clean = scrub() ?? ((t: string) => t);
    if (e instanceof UsageError) {
      io.stderr(`procos ${task}: ${clean(e.message)} (see --help)`);
      return 2;
    }
    if (e instanceof SpecError) {
      for (const d of e.diagnostics) io.stderr(formatDiagnostic(d));
      io.stderr(`procos ${task}: ${e.diagnostics.length} error(s) in the spec; nothing done`);
      return 1;
    }
    if (e instanceof TargetError) {
      io.stderr(`procos ${task}: ${clean(e.message)}`);
      return 2;
    }
    const msg = e instanceof Error ? e.message : String(e);
    io.stderr(`procos ${task}: ${clean(msg).trim()}`);
    if (io.env.PROCOS_DEBUG === "1" && e instanceof Error && e.stack) io.stderr(clean(e.stack));
    return 1;
  }
}

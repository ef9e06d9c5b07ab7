/**
 * Provisioning of external services (already running elsewhere, such as this
 * machine's PostgreSQL, RabbitMQ and Redis): what `up` applies to them
 * instead of starting them, and what `down --purge` undoes.
 *
 * - PostgreSQL: `out/sql/*.sql` in order with `psql -v ON_ERROR_STOP=1` as a
 *   superuser, then the role's password from the resolved secret.
 * - RabbitMQ: `out/rabbitmq/definitions.json` imported through the management API.
 * - Redis: the runtime-settable settings of `out/redis/redis.conf` with
 *   CONFIG SET, after recording the previous values.
 *
 * Secrets are never logged: psql reads the password statement from stdin, and
 * any error text is scrubbed of it.
 *
 * @module
 */
import type { StackModel } from "../compiler/model.ts";
import { quoteIdent, quoteLiteral } from "../compiler/sql_quote.ts";
import { RuntimeError } from "./errors.ts";
import { run, tailLines } from "./procs.ts";
import type { RedisConnection } from "../verify/clients/redis.ts";
import {
  configGet,
  configSet,
  connectRedis,
  orThrow,
  RedisError,
} from "../verify/clients/redis.ts";
import type { PostgresProvision, RabbitmqProvision, RedisProvision } from "./state.ts";

type Env = Record<string, string | undefined>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Replaces every occurrence of each secret with `***`. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.replaceAll(s, "***");
  return out;
}

async function appendLog(log: string | undefined, text: string): Promise<void> {
  if (!log) return;
  await Deno.writeTextFile(log, text.endsWith("\n") ? text : text + "\n", {
    append: true,
    create: true,
  });
}

// ---------------------------------------------------------------- PostgreSQL

/** A superuser connection for psql: the URL without its password, and PGPASSWORD. */
export interface PgAdmin {
  /** The URL psql is given (no password in it). */
  url: string;
  host: string;
  port: number;
  /** Extra environment for psql (PGPASSWORD when the URL had one). */
  env: Record<string, string>;
}

/**
 * The admin connection: `PROCOS_PG_ADMIN_URL`, by default
 * `postgres://postgres@<host>:<port>/postgres` at the model's (host) address,
 * which is `postgres://postgres@127.0.0.1:5432/postgres` for the reference spec.
 */
export function pgAdmin(model: StackModel, env: Env): PgAdmin {
  const raw = env.PROCOS_PG_ADMIN_URL ||
    `postgres://postgres@${model.postgres.host}:${model.postgres.port}/postgres`;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new RuntimeError(
      "PROCOS_PG_ADMIN_URL is not a URL such as postgres://postgres@127.0.0.1:5432/postgres",
    );
  }
  const extra: Record<string, string> = {};
  if (u.password) {
    extra.PGPASSWORD = decodeURIComponent(u.password);
    u.password = "";
  }
  return {
    url: u.toString(),
    host: u.hostname || "127.0.0.1",
    port: u.port ? Number(u.port) : 5432,
    env: extra,
  };
}

async function psql(
  admin: PgAdmin,
  args: string[],
  stdin?: string,
): Promise<{ code: number; out: string }> {
  const r = await run(
    ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-q", "-d", admin.url, ...args],
    { env: { ...admin.env, PGCONNECT_TIMEOUT: "10" }, stdin, timeoutMs: 120_000 },
  );
  return { code: r.code, out: (r.stdout + r.stderr).trim() };
}

async function pgScalar(admin: PgAdmin, sql: string): Promise<string> {
  const r = await psql(admin, ["-tA", "-c", sql]);
  if (r.code !== 0) throw new Error(r.out.split("\n").slice(-3).join(" "));
  return r.out.trim();
}

/** Waits until the server accepts connections (pg_isready), `attempts` times 1 s apart. */
export async function waitPostgres(admin: PgAdmin, attempts: number): Promise<string | undefined> {
  let last = "";
  for (let i = 0; i < attempts; i++) {
    const r = await run(["pg_isready", "-h", admin.host, "-p", String(admin.port)], {
      timeoutMs: 10_000,
    });
    if (r.code === 0) return undefined;
    last = (r.stdout + r.stderr).trim() || `pg_isready exit ${r.code}`;
    if (i + 1 < attempts) await sleep(1000);
  }
  return last;
}

/** The SQL files of an output folder, in order. */
export async function sqlFiles(outDir: string): Promise<string[]> {
  const files: string[] = [];
  try {
    for await (const e of Deno.readDir(`${outDir}/sql`)) {
      if (e.isFile && e.name.endsWith(".sql")) files.push(`sql/${e.name}`);
    }
  } catch { /* no folder */ }
  return files.sort();
}

/**
 * Applies the init SQL and sets the role's password. Idempotent (the SQL is;
 * the password is set again). `prev` is what an earlier `up` recorded.
 */
export async function provisionPostgres(
  service: string,
  model: StackModel,
  outDir: string,
  env: Env,
  opts: { prev?: PostgresProvision; log?: string; attempts?: number; admin?: PgAdmin } = {},
): Promise<PostgresProvision> {
  const admin = opts.admin ?? pgAdmin(model, env);
  const notReady = await waitPostgres(admin, opts.attempts ?? 5);
  if (notReady) {
    throw new RuntimeError(
      `PostgreSQL at ${admin.host}:${admin.port} is not accepting connections (${notReady}); ` +
        `it is marked external: start it, or set PROCOS_PG_ADMIN_URL`,
      { service },
    );
  }
  const { database, user, password } = model.postgres;
  let createdDatabase = opts.prev?.createdDatabase;
  let createdRole = opts.prev?.createdRole;
  try {
    if (createdDatabase === undefined) {
      createdDatabase = (await pgScalar(
        admin,
        `SELECT count(*) FROM pg_database WHERE datname = ${quoteLiteral(database)}`,
      )) === "0";
    }
    if (createdRole === undefined) {
      createdRole = (await pgScalar(
        admin,
        `SELECT count(*) FROM pg_roles WHERE rolname = ${quoteLiteral(user)}`,
      )) === "0";
    }
  } catch (e) {
    throw new RuntimeError(
      `cannot query PostgreSQL as ${admin.url}: ${e instanceof Error ? e.message : e} ` +
        `(set PROCOS_PG_ADMIN_URL to a superuser connection)`,
      { service },
    );
  }
  const files = await sqlFiles(outDir);
  if (files.length === 0) {
    throw new RuntimeError(`no SQL in ${outDir}/sql: run \`deno task build\` first`, { service });
  }
  for (const f of files) {
    const r = await psql(admin, ["-f", `${outDir}/${f}`]);
    const out = scrub(r.out, [password]);
    await appendLog(opts.log, `--- psql -f ${f}: exit ${r.code}\n${out}`);
    if (r.code !== 0) {
      throw new RuntimeError(`applying ${f} with psql failed (exit ${r.code})`, {
        service,
        logTail: tailLines(out, 20),
        logFile: opts.log,
      });
    }
  }
  // the password: from stdin, never on a command line or in a log
  const stmt = `ALTER ROLE ${quoteIdent(user)} WITH LOGIN PASSWORD ${quoteLiteral(password)};\n`;
  const r = await psql(admin, ["-f", "-"], stmt);
  if (r.code !== 0) {
    const out = scrub(r.out, [password]);
    await appendLog(opts.log, `--- ALTER ROLE ... PASSWORD: exit ${r.code}\n${out}`);
    throw new RuntimeError(`setting the password of role ${user} failed (exit ${r.code})`, {
      service,
      logTail: tailLines(out, 20),
      logFile: opts.log,
    });
  }
  await appendLog(opts.log, `--- role ${user}: password set from the resolved secret`);
  return {
    admin: admin.url,
    database,
    role: user,
    createdDatabase,
    createdRole,
    applied: files,
  };
}

/** Drops the database and the role, if `up` created them. Returns what was done. */
export async function purgePostgres(
  p: PostgresProvision,
  env: Env,
  model?: StackModel,
): Promise<string[]> {
  const fromEnv = env.PROCOS_PG_ADMIN_URL;
  const admin = fromEnv
    ? pgAdmin(model ?? ({ postgres: { host: "127.0.0.1", port: 5432 } } as StackModel), env)
    : pgAdminFromUrl(p.admin);
  const done: string[] = [];
  if (p.createdDatabase) {
    const r = await psql(admin, [
      "-c",
      `DROP DATABASE IF EXISTS ${quoteIdent(p.database)} WITH (FORCE)`,
    ]);
    if (r.code !== 0) throw new Error(`DROP DATABASE ${p.database}: ${r.out}`);
    done.push(`dropped database ${p.database}`);
  } else done.push(`left database ${p.database} (it existed before up)`);
  if (p.createdRole) {
    const exists = await pgScalar(
      admin,
      `SELECT count(*) FROM pg_roles WHERE rolname = ${quoteLiteral(p.role)}`,
    );
    if (exists !== "0") {
      const r = await psql(admin, [
        "-c",
        `DROP OWNED BY ${quoteIdent(p.role)}`,
        "-c",
        `DROP ROLE IF EXISTS ${quoteIdent(p.role)}`,
      ]);
      if (r.code !== 0) throw new Error(`DROP ROLE ${p.role}: ${r.out}`);
    }
    done.push(`dropped role ${p.role}`);
  } else done.push(`left role ${p.role} (it existed before up)`);
  return done;
}

function pgAdminFromUrl(url: string): PgAdmin {
  const u = new URL(url);
  return { url, host: u.hostname, port: u.port ? Number(u.port) : 5432, env: {} };
}

// ---------------------------------------------------------------- RabbitMQ

/** The management API as an administrator. */
export interface RabbitAdmin {
  /** Base URL without credentials, e.g. `http://127.0.0.1:15672`. */
  base: string;
  user: string;
  password: string;
}

/**
 * The admin of `PROCOS_RABBITMQ_ADMIN`: `user:password`,
 * `user:password@host:port` or `http://user:password@host:port`; by default
 * guest:guest at the model's management address (127.0.0.1:15672).
 */
export function rabbitAdmin(model: StackModel, env: Env): RabbitAdmin {
  const raw = env.PROCOS_RABBITMQ_ADMIN || "guest:guest";
  const defHost = `${model.rabbitmq.host}:${model.rabbitmq.managementPort}`;
  const withScheme = /^https?:\/\//.test(raw)
    ? raw
    : `http://${raw.includes("@") ? raw : `${raw}@${defHost}`}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new RuntimeError("PROCOS_RABBITMQ_ADMIN must be user:password[@host:port]");
  }
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  return { base: `${u.protocol}//${u.host}`, user, password };
}

async function mgmt(
  a: RabbitAdmin,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${a.base}${path}`, {
    method,
    headers: {
      authorization: `Basic ${btoa(`${a.user}:${a.password}`)}`,
      ...(body ? { "content-type": "application/json" } : {}),
    },
    body,
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, text: await res.text() };
}

/** Imports the definitions (idempotent: the import merges). */
export async function provisionRabbitmq(
  service: string,
  model: StackModel,
  outDir: string,
  env: Env,
  opts: { prev?: RabbitmqProvision; log?: string; attempts?: number } = {},
): Promise<RabbitmqProvision> {
  const a = rabbitAdmin(model, env);
  let last = "";
  for (let i = 0; i < (opts.attempts ?? 5); i++) {
    try {
      const r = await mgmt(a, "GET", "/api/overview");
      if (r.status === 200) {
        last = "";
        break;
      }
      last = `HTTP ${r.status}${
        r.status === 401 ? " (wrong admin credentials: set PROCOS_RABBITMQ_ADMIN)" : ""
      }`;
      if (r.status === 401) break;
    } catch (e) {
      last = e instanceof Error ? e.message.split("\n")[0] : String(e);
    }
    await sleep(1000);
  }
  if (last) {
    throw new RuntimeError(
      `RabbitMQ management API at ${a.base} does not answer: ${last}; it is marked external: ` +
        `start it with the management plugin, or set PROCOS_RABBITMQ_ADMIN`,
      { service },
    );
  }
  const { vhost, user, password } = model.rabbitmq;
  const createdVhost = opts.prev?.createdVhost ??
    (await mgmt(a, "GET", `/api/vhosts/${encodeURIComponent(vhost)}`)).status === 404;
  const createdUser = opts.prev?.createdUser ??
    (await mgmt(a, "GET", `/api/users/${encodeURIComponent(user)}`)).status === 404;
  const file = `${outDir}/rabbitmq/definitions.json`;
  let defs: string;
  try {
    defs = await Deno.readTextFile(file);
  } catch {
    throw new RuntimeError(`${file} is missing: run \`deno task build\` first`, { service });
  }
  const r = await mgmt(a, "POST", "/api/definitions", defs);
  await appendLog(opts.log, `--- POST ${a.base}/api/definitions: HTTP ${r.status}`);
  if (r.status < 200 || r.status > 299) {
    const text = scrub(r.text, [password]);
    throw new RuntimeError(`importing ${file} failed: HTTP ${r.status}`, {
      service,
      logTail: tailLines(text, 20),
    });
  }
  return { management: a.base, vhost, user, createdVhost, createdUser };
}

/** Deletes the vhost and the user, if `up` created them. */
export async function purgeRabbitmq(
  p: RabbitmqProvision,
  env: Env,
  model?: StackModel,
): Promise<string[]> {
  const fromEnv = rabbitAdmin(
    model ?? ({ rabbitmq: { host: "127.0.0.1", managementPort: 15672 } } as StackModel),
    env,
  );
  const a = env.PROCOS_RABBITMQ_ADMIN?.includes("@") ? fromEnv : { ...fromEnv, base: p.management };
  const done: string[] = [];
  if (p.createdVhost) {
    const r = await mgmt(a, "DELETE", `/api/vhosts/${encodeURIComponent(p.vhost)}`);
    if (r.status !== 204 && r.status !== 404 && r.status !== 200) {
      throw new Error(`DELETE vhost ${p.vhost}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
    }
    done.push(`deleted vhost ${p.vhost}`);
  } else done.push(`left vhost ${p.vhost} (it existed before up)`);
  if (p.createdUser) {
    const r = await mgmt(a, "DELETE", `/api/users/${encodeURIComponent(p.user)}`);
    if (r.status !== 204 && r.status !== 404 && r.status !== 200) {
      throw new Error(`DELETE user ${p.user}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
    }
    done.push(`deleted user ${p.user}`);
  } else done.push(`left user ${p.user} (it existed before up)`);
  return done;
}

// ---------------------------------------------------------------- Redis

/** Settings of redis.conf that CONFIG SET can change at run time and `up` applies. */
export const REDIS_RUNTIME_SETTINGS = [
  "maxmemory-policy",
  "maxmemory",
  "appendonly",
  "appendfsync",
  "save",
] as const;

/** Parses redis.conf into `setting → value` (last one wins; quotes removed). */
export function parseRedisConf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1].toLowerCase();
    let value = m[2].trim();
    if (/^"(.*)"$/.test(value) || /^'(.*)'$/.test(value)) value = value.slice(1, -1);
    // several `save` lines add up
    if (key === "save" && key in out && out.save !== "" && value !== "") {
      out.save = `${out.save} ${value}`;
    } else out[key] = value;
  }
  return out;
}

/** Normalises a memory size the way CONFIG GET reports it (bytes). */
export function redisBytes(v: string): string {
  const m = /^(\d+)\s*(b|k|kb|m|mb|g|gb)?$/i.exec(v.trim());
  if (!m) return v;
  const n = Number(m[1]);
  const unit = (m[2] ?? "b").toLowerCase();
  const mult: Record<string, number> = {
    b: 1,
    k: 1000,
    kb: 1024,
    m: 1_000_000,
    mb: 1024 * 1024,
    g: 1_000_000_000,
    gb: 1024 * 1024 * 1024,
  };
  return String(n * mult[unit]);
}

/** The settings `up` applies to an external Redis: from redis.conf, plus requirepass when auth. */
export function redisSettings(
  conf: Record<string, string>,
  model: StackModel,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of REDIS_RUNTIME_SETTINGS) if (k in conf) out[k] = conf[k];
  if (model.redis.auth) out.requirepass = model.redis.password;
  return out;
}

/** How long the admin waits to connect to Redis, and for each reply. */
const REDIS_TIMEOUT_MS = 5000;

/**
 * Connects as an admin: tries no password, then each candidate, so it works
 * before `up` set `requirepass`, after it, and with `PROCOS_REDIS_ADMIN_URL`.
 */
export async function connectRedisAdmin(
  host: string,
  port: number,
  passwords: (string | undefined)[],
): Promise<RedisConnection> {
  let lastErr: unknown;
  for (const pw of [undefined, ...passwords.filter((p) => p)]) {
    let c: RedisConnection | undefined;
    try {
      c = await connectRedis({ host, port, password: pw, timeoutMs: REDIS_TIMEOUT_MS });
      orThrow(await c.command("PING"));
      return c;
    } catch (e) {
      c?.close();
      lastErr = e;
      if (!(e instanceof RedisError)) throw e; // not an auth problem
    }
  }
  throw lastErr;
}

function redisAdminPassword(env: Env): string | undefined {
  const raw = env.PROCOS_REDIS_ADMIN_URL;
  if (!raw) return undefined;
  try {
    const u = new URL(raw);
    return u.password ? decodeURIComponent(u.password) : undefined;
  } catch {
    return undefined;
  }
}

/** Where the admin reaches Redis: `PROCOS_REDIS_ADMIN_URL` or the model's address. */
export function redisAdminAddress(model: StackModel, env: Env): { host: string; port: number } {
  const raw = env.PROCOS_REDIS_ADMIN_URL;
  if (raw) {
    try {
      const u = new URL(raw);
      return { host: u.hostname || "127.0.0.1", port: u.port ? Number(u.port) : 6379 };
    } catch {
      throw new RuntimeError("PROCOS_REDIS_ADMIN_URL is not a URL such as redis://127.0.0.1:6379");
    }
  }
  return { host: model.redis.host, port: model.redis.port };
}

/**
 * Records the previous values (once: a later `up` keeps the first record, so
 * `down --purge` restores what was there before the first `up`), calls
 * `record` so the state is saved before anything changes, then CONFIG SETs
 * the settings (requirepass last).
 */
export async function provisionRedis(
  service: string,
  model: StackModel,
  outDir: string,
  env: Env,
  opts: {
    prev?: RedisProvision;
    log?: string;
    attempts?: number;
    record?: (p: RedisProvision) => Promise<void>;
  } = {},
): Promise<RedisProvision> {
  const file = `${outDir}/redis/redis.conf`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch {
    throw new RuntimeError(`${file} is missing: run \`deno task build\` first`, { service });
  }
  const settings = redisSettings(parseRedisConf(text), model);
  const { host, port } = redisAdminAddress(model, env);
  const passwords = [opts.prev?.applied.requirepass, model.redis.password, redisAdminPassword(env)];
  let c: RedisConnection | undefined;
  let last = "";
  for (let i = 0; i < (opts.attempts ?? 5) && !c; i++) {
    try {
      c = await connectRedisAdmin(host, port, passwords);
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
      if (e instanceof RedisError) break;
      await sleep(1000);
    }
  }
  if (!c) {
    throw new RuntimeError(
      `Redis at ${host}:${port} is not usable: ${
        scrub(last, passwords as string[])
      }; it is marked ` +
        `external: start it, or set PROCOS_REDIS_ADMIN_URL`,
      { service },
    );
  }
  try {
    const previous: Record<string, string> = { ...(opts.prev?.previous ?? {}) };
    for (const k of Object.keys(settings)) {
      if (k in previous) continue;
      const v = orThrow(await configGet(c, k));
      if (v === undefined) {
        throw new RuntimeError(`this Redis has no setting ${k} (CONFIG GET ${k} is empty)`, {
          service,
        });
      }
      previous[k] = v;
    }
    const applied: Record<string, string> = { ...(opts.prev?.applied ?? {}), ...settings };
    const p: RedisProvision = { host, port, applied, previous };
    await opts.record?.(p);
    const keys = Object.keys(settings).sort((a, b) =>
      (a === "requirepass" ? 1 : 0) - (b === "requirepass" ? 1 : 0)
    );
    for (const k of keys) {
      try {
        orThrow(await configSet(c, k, settings[k]));
      } catch (e) {
        throw new RuntimeError(
          `CONFIG SET ${k} failed: ${
            scrub(e instanceof Error ? e.message : String(e), [model.redis.password])
          }`,
          { service },
        );
      }
      await appendLog(opts.log, `--- CONFIG SET ${k} ${k === "requirepass" ? "***" : settings[k]}`);
    }
    return p;
  } finally {
    c.close();
  }
}

/** Restores the settings `up` changed to their previous values (requirepass last). */
export async function purgeRedis(p: RedisProvision, env: Env): Promise<string[]> {
  const c = await connectRedisAdmin(p.host, p.port, [
    p.applied.requirepass,
    p.previous.requirepass,
    redisAdminPassword(env),
  ]);
  try {
    const keys = Object.keys(p.previous).sort((a, b) =>
      (a === "requirepass" ? 1 : 0) - (b === "requirepass" ? 1 : 0)
    );
    for (const k of keys) orThrow(await configSet(c, k, p.previous[k]));
    return [`restored Redis ${keys.join(", ")}`];
  } finally {
    c.close();
  }
}

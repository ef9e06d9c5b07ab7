/**
 * PostgreSQL access for checks: one short-lived connection per use, through
 * postgres.js, closed whatever happens.
 *
 * @module
 */
import postgres from "postgres";

/** Where and as whom to connect. */
export interface PgConnectOptions {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** Closes the connection when aborted. */
  signal?: AbortSignal;
  /** Seconds to wait for the connection (default 5). */
  connectTimeout?: number;
}

/** A tagged-template SQL client (postgres.js). */
export type Sql = postgres.Sql;

/** A PostgreSQL error's SQLSTATE (`3D000`, `28P01`, ...), when there is one. */
export function sqlState(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Connects, runs `fn`, and always closes the connection. */
export async function withPg<T>(opts: PgConnectOptions, fn: (sql: Sql) => Promise<T>): Promise<T> {
  opts.signal?.throwIfAborted();
  const sql = postgres({
    host: opts.host,
    port: opts.port,
    database: opts.database,
    username: opts.user,
    password: opts.password,
    max: 1,
    connect_timeout: opts.connectTimeout ?? 5,
    idle_timeout: 1,
    max_lifetime: 60,
    prepare: false,
    onnotice: () => {},
    connection: { application_name: "procos-verify" },
  });
  const abort = () => void sql.end({ timeout: 0 });
  opts.signal?.addEventListener("abort", abort, { once: true });
  try {
    return await fn(sql);
  } finally {
    opts.signal?.removeEventListener("abort", abort);
    await sql.end({ timeout: 1 });
  }
}

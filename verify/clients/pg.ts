/**
 * PostgreSQL access for checks, through postgres.js: with a run's
 * {@link PgPools}, one small pool per server, database and role, shared by
 * every check of the run and closed at its end; without, one short-lived
 * connection per use, closed whatever happens.
 *
 * @module
 */
import type postgres from "postgres";

/** postgres.js, loaded on first use (a verify run without a PostgreSQL check never loads it). */
let driver: Promise<typeof postgres> | undefined;
function loadDriver(): Promise<typeof postgres> {
  driver ??= import("postgres").then((m) => m.default);
  return driver;
}

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
  /** The run's shared connections; without it, a connection of its own. */
  pools?: PgPools;
}

/** A tagged-template SQL client (postgres.js). */
export type Sql = postgres.Sql;

/** A PostgreSQL error's SQLSTATE (`3D000`, `28P01`, ...), when there is one. */
export function sqlState(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

async function connect(opts: PgConnectOptions, max: number): Promise<Sql> {
  const postgres = await loadDriver();
  return postgres({
    host: opts.host,
    port: opts.port,
    database: opts.database,
    username: opts.user,
    password: opts.password,
    max,
    connect_timeout: opts.connectTimeout ?? 5,
    idle_timeout: 1,
    max_lifetime: 60,
    prepare: false,
    onnotice: () => {},
    connection: { application_name: "procos-verify" },
  });
}

/** The connections one verify run shares: a pool per server, database and role. */
export class PgPools {
  #pools = new Map<string, Promise<Sql>>();

  /** The pool for these options, opened on first use (at most `max` connections). */
  get(opts: PgConnectOptions, max = 2): Promise<Sql> {
    const key = JSON.stringify([opts.host, opts.port, opts.database, opts.user, opts.password]);
    let sql = this.#pools.get(key);
    if (!sql) this.#pools.set(key, sql = connect(opts, max));
    return sql;
  }

  /** How many pools are open. */
  get size(): number {
    return this.#pools.size;
  }

  /** Closes every pool. */
  async close(): Promise<void> {
    const all = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(all.map(async (sql) => (await sql).end({ timeout: 1 })));
  }
}

/**
 * Runs `fn` on a connection: the run's shared pool when `opts.pools` is
 * given (left open for the next check), else a connection of its own that
 * is always closed.
 */
export async function withPg<T>(opts: PgConnectOptions, fn: (sql: Sql) => Promise<T>): Promise<T> {
  opts.signal?.throwIfAborted();
  if (opts.pools) return await fn(await opts.pools.get(opts));
  const sql = await connect(opts, 1);
  const abort = () => void sql.end({ timeout: 0 });
  opts.signal?.addEventListener("abort", abort, { once: true });
  try {
    return await fn(sql);
  } finally {
    opts.signal?.removeEventListener("abort", abort);
    await sql.end({ timeout: 1 });
  }
}

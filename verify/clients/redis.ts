/**
 * The project's one Redis client (RESP2 over TCP), used by the checks, the
 * runtime's provisioning and the tests: commands such as PING, AUTH,
 * CONFIG GET/SET, one at a time per connection (no caller pipelines).
 *
 * Error replies are values: {@link RedisConnection.command} returns a
 * {@link RedisError} for `-NOAUTH ...`, never throws it, so a check can look at
 * it. What has no reply to return throws: a failed connection, a timeout, and
 * {@link connectRedis} when its AUTH is refused. {@link orThrow} turns an
 * error reply into an exception for callers that treat it as a failure.
 *
 * @module
 */

/** An error reply from the server, such as `NOAUTH Authentication required.`. */
export class RedisError extends Error {
  /** Builds the error from the reply text. */
  constructor(message: string) {
    super(message);
    this.name = "RedisError";
  }
  /** The first word of the reply: `NOAUTH`, `WRONGPASS`, `ERR`, ... */
  get code(): string {
    return this.message.split(" ", 1)[0];
  }
}

/** A decoded reply. */
export type RespValue = string | number | null | RedisError | RespValue[];

/** An open connection. */
export interface RedisConnection {
  /**
   * Sends one command and waits for its reply (concurrent calls are sent in
   * turn). An error reply is returned as a {@link RedisError}; connection
   * errors and timeouts are thrown.
   */
  command(...args: string[]): Promise<RespValue>;
  /** Closes the connection (idempotent). */
  close(): void;
}

/** Returns `value`, or throws it when it is an error reply. */
export function orThrow<T>(value: T | RedisError): T {
  if (value instanceof RedisError) throw value;
  return value;
}

/** Encodes a command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly string[]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [enc.encode(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = enc.encode(a);
    parts.push(enc.encode(`$${b.length}\r\n`), b, enc.encode("\r\n"));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Decodes one reply from `buf` at `start`: the value and the offset after it,
 * or `undefined` when the buffer does not yet hold a whole reply.
 */
export function decodeReply(
  buf: Uint8Array,
  start = 0,
): { value: RespValue; end: number } | undefined {
  const lineEnd = (from: number) => {
    for (let i = from; i + 1 < buf.length; i++) {
      if (buf[i] === 13 && buf[i + 1] === 10) return i;
    }
    return -1;
  };
  if (start >= buf.length) return undefined;
  const type = String.fromCharCode(buf[start]);
  const e = lineEnd(start + 1);
  if (e < 0) return undefined;
  const line = new TextDecoder().decode(buf.subarray(start + 1, e));
  const next = e + 2;
  switch (type) {
    case "+":
      return { value: line, end: next };
    case "-":
      return { value: new RedisError(line), end: next };
    case ":":
      return { value: Number(line), end: next };
    case "$": {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      if (buf.length < next + n + 2) return undefined;
      return { value: new TextDecoder().decode(buf.subarray(next, next + n)), end: next + n + 2 };
    }
    case "*": {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const r = decodeReply(buf, at);
        if (!r) return undefined;
        items.push(r.value);
        at = r.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}

/** Options of {@link connectRedis}. */
export interface RedisConnectOptions {
  /** Host name or address. */
  host: string;
  /** TCP port. */
  port: number;
  /** Sends `AUTH [user] password` on connect; a refusal is thrown as its {@link RedisError}. */
  password?: string;
  /** The ACL user for AUTH (Redis 6+); only with `password`. */
  user?: string;
  /** Closes the connection when aborted. */
  signal?: AbortSignal;
  /** Fails the connect, and each reply, that takes longer (default: no limit). */
  timeoutMs?: number;
}

/** Races `p` against `ms` (when set); `onTimeout` cleans up what `p` may still yield. */
async function within<T>(
  p: Promise<T>,
  ms: number | undefined,
  message: string,
  onTimeout?: () => void,
): Promise<T> {
  if (ms === undefined) return await p;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          onTimeout?.();
          reject(new Error(message));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Opens a connection, authenticated when `password` is given (a refused AUTH
 * closes it and throws the {@link RedisError}).
 */
export async function connectRedis(opts: RedisConnectOptions): Promise<RedisConnection> {
  opts.signal?.throwIfAborted();
  const connecting = Deno.connect({ hostname: opts.host, port: opts.port });
  const conn = await within(
    connecting,
    opts.timeoutMs,
    `connect to ${opts.host}:${opts.port} timed out`,
    () => connecting.then((c) => c.close(), () => {}),
  );
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    opts.signal?.removeEventListener("abort", close);
    try {
      conn.close();
    } catch {
      // already closed by the peer
    }
  };
  opts.signal?.addEventListener("abort", close, { once: true });
  let pending = new Uint8Array(0);
  const chunk = new Uint8Array(64 * 1024);
  let queue: Promise<unknown> = Promise.resolve();

  const readReply = async (): Promise<RespValue> => {
    while (true) {
      const r = pending.length ? decodeReply(pending) : undefined;
      if (r) {
        pending = pending.slice(r.end);
        return r.value;
      }
      const n = await within(conn.read(chunk), opts.timeoutMs, "redis: reply timed out");
      if (n === null) throw new Error("connection closed by Redis");
      const merged = new Uint8Array(pending.length + n);
      merged.set(pending);
      merged.set(chunk.subarray(0, n), pending.length);
      pending = merged;
    }
  };

  const command = (...args: string[]): Promise<RespValue> => {
    const run = async () => {
      if (closed) throw new Error("connection closed");
      const data = encodeCommand(args);
      let off = 0;
      while (off < data.length) off += await conn.write(data.subarray(off));
      return await readReply();
    };
    const p = queue.then(run, run);
    queue = p.catch(() => {});
    return p;
  };
  const c: RedisConnection = { command, close };
  if (opts.password) {
    try {
      const auth = opts.user ? ["AUTH", opts.user, opts.password] : ["AUTH", opts.password];
      orThrow(await c.command(...auth));
    } catch (e) {
      close();
      throw e;
    }
  }
  return c;
}

/** Opens a connection, runs `fn`, and always closes it. */
export async function withRedis<T>(
  opts: RedisConnectOptions,
  fn: (c: RedisConnection) => Promise<T>,
): Promise<T> {
  const c = await connectRedis(opts);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/**
 * `CONFIG GET name`: its value, `undefined` when the server has no such
 * setting, or the error reply (such as CONFIG renamed away, or NOAUTH).
 */
export async function configGet(
  c: RedisConnection,
  name: string,
): Promise<string | undefined | RedisError> {
  const r = await c.command("CONFIG", "GET", name);
  if (r instanceof RedisError) return r;
  if (Array.isArray(r) && r.length >= 2 && typeof r[1] === "string") return r[1];
  if (Array.isArray(r) && r.length === 0) return undefined;
  return new RedisError(`ERR unexpected reply to CONFIG GET ${name}`);
}

/** `CONFIG SET name value`: `OK`, or the error reply. */
export async function configSet(
  c: RedisConnection,
  name: string,
  value: string,
): Promise<string | RedisError> {
  const r = await c.command("CONFIG", "SET", name, value);
  return r instanceof RedisError ? r : String(r);
}

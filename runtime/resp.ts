/**
 * A minimal Redis client (RESP2 over TCP) for provisioning: AUTH, PING,
 * CONFIG GET/SET. Error replies are thrown as {@link RespError}.
 *
 * @module
 */

/** An error reply, such as `NOAUTH Authentication required.`. */
export class RespError extends Error {
  /** Builds it from the reply text. */
  constructor(message: string) {
    super(message);
    this.name = "RespError";
  }
}

/** A reply value. */
export type Reply = string | number | null | Reply[];

function encode(args: string[]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [enc.encode(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = enc.encode(a);
    parts.push(enc.encode(`$${b.length}\r\n`), b, enc.encode("\r\n"));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One connection. */
export class RespClient {
  #conn: Deno.TcpConn;
  #buf = new Uint8Array(0);
  #timeoutMs: number;

  private constructor(conn: Deno.TcpConn, timeoutMs: number) {
    this.#conn = conn;
    this.#timeoutMs = timeoutMs;
  }

  /** Connects (and authenticates when a password is given). */
  static async connect(
    opts: { host: string; port: number; password?: string; user?: string; timeoutMs?: number },
  ): Promise<RespClient> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const connP = Deno.connect({ hostname: opts.host, port: opts.port });
    const conn = await Promise.race([
      connP,
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => {
          connP.then((c) => c.close(), () => {});
          rej(new Error(`connect to ${opts.host}:${opts.port} timed out`));
        }, timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    const c = new RespClient(conn, timeoutMs);
    if (opts.password) {
      try {
        await c.command(
          opts.user ? ["AUTH", opts.user, opts.password] : ["AUTH", opts.password],
        );
      } catch (e) {
        c.close();
        throw e;
      }
    }
    return c;
  }

  /** Sends one command and reads its reply. */
  async command(args: string[]): Promise<Reply> {
    await this.#conn.write(encode(args));
    return await this.#read();
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }

  async #fill(): Promise<void> {
    const chunk = new Uint8Array(16 * 1024);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      this.#conn.read(chunk),
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error("redis: reply timed out")), this.#timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    if (n === null) throw new Error("redis: connection closed");
    const b = new Uint8Array(this.#buf.length + n);
    b.set(this.#buf);
    b.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = b;
  }

  async #line(): Promise<string> {
    for (;;) {
      const i = this.#buf.findIndex((v, k) => v === 13 && this.#buf[k + 1] === 10);
      if (i >= 0) {
        const s = new TextDecoder().decode(this.#buf.subarray(0, i));
        this.#buf = this.#buf.subarray(i + 2);
        return s;
      }
      await this.#fill();
    }
  }

  async #read(): Promise<Reply> {
    const line = await this.#line();
    const t = line[0];
    const rest = line.slice(1);
    switch (t) {
      case "+":
        return rest;
      case "-":
        throw new RespError(rest);
      case ":":
        return Number(rest);
      case "$": {
        const len = Number(rest);
        if (len < 0) return null;
        while (this.#buf.length < len + 2) await this.#fill();
        const s = new TextDecoder().decode(this.#buf.subarray(0, len));
        this.#buf = this.#buf.subarray(len + 2);
        return s;
      }
      case "*": {
        const n = Number(rest);
        if (n < 0) return null;
        const out: Reply[] = [];
        for (let i = 0; i < n; i++) out.push(await this.#read());
        return out;
      }
      default:
        throw new Error(`redis: unexpected reply ${JSON.stringify(line.slice(0, 40))}`);
    }
  }

  /** `CONFIG GET key` → its value, or `undefined` when the server has no such setting. */
  async configGet(key: string): Promise<string | undefined> {
    const r = await this.command(["CONFIG", "GET", key]);
    if (!Array.isArray(r) || r.length < 2) return undefined;
    return String(r[1]);
  }

  /** `CONFIG SET key value`. */
  async configSet(key: string, value: string): Promise<void> {
    await this.command(["CONFIG", "SET", key, value]);
  }
}

/** Connects, runs `fn`, closes. */
export async function withRedis<T>(
  opts: { host: string; port: number; password?: string; timeoutMs?: number },
  fn: (c: RespClient) => Promise<T>,
): Promise<T> {
  const c = await RespClient.connect(opts);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

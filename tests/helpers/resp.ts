/**
 * A tiny Redis (RESP2) client for tests: one connection, one command at a
 * time. Error replies are returned as {@link RespError} values, not thrown.
 *
 * @module
 */

/** An error reply such as `-NOAUTH Authentication required.` */
export class RespError {
  /** The reply's text, without the leading `-`. */
  readonly message: string;
  /** Wraps an error reply's text. */
  constructor(message: string) {
    this.message = message;
  }
}

/** A decoded reply. */
export type RespValue = string | number | null | RespError | RespValue[];

/** A connection to a Redis server. */
export interface RespClient {
  /** Sends one command and reads its reply. */
  command(...args: string[]): Promise<RespValue>;
  /** Closes the connection. */
  close(): void;
}

/** Connects to a Redis server on `host:port`. */
export async function respConnect(port: number, host = "127.0.0.1"): Promise<RespClient> {
  const conn = await Deno.connect({ hostname: host, port });
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  let buf = new Uint8Array(0);

  const fill = async () => {
    const chunk = new Uint8Array(64 * 1024);
    const n = await conn.read(chunk);
    if (n === null) throw new Error("redis closed the connection");
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(chunk.subarray(0, n), buf.length);
    buf = next;
  };
  const line = async (): Promise<string> => {
    for (;;) {
      const i = buf.findIndex((b, k) => b === 13 && buf[k + 1] === 10);
      if (i >= 0) {
        const s = dec.decode(buf.subarray(0, i));
        buf = buf.subarray(i + 2);
        return s;
      }
      await fill();
    }
  };
  const bytes = async (n: number): Promise<string> => {
    while (buf.length < n + 2) await fill();
    const s = dec.decode(buf.subarray(0, n));
    buf = buf.subarray(n + 2);
    return s;
  };
  const reply = async (): Promise<RespValue> => {
    const l = await line();
    const rest = l.slice(1);
    switch (l[0]) {
      case "+":
        return rest;
      case "-":
        return new RespError(rest);
      case ":":
        return Number(rest);
      case "$":
        return Number(rest) < 0 ? null : await bytes(Number(rest));
      case "*": {
        const n = Number(rest);
        if (n < 0) return null;
        const out: RespValue[] = [];
        for (let i = 0; i < n; i++) out.push(await reply());
        return out;
      }
      default:
        throw new Error(`unexpected RESP reply: ${JSON.stringify(l)}`);
    }
  };

  return {
    async command(...args: string[]) {
      const parts = [`*${args.length}\r\n`];
      for (const a of args) parts.push(`$${enc.encode(a).length}\r\n${a}\r\n`);
      const data = enc.encode(parts.join(""));
      for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
      return await reply();
    },
    close() {
      try {
        conn.close();
      } catch {
        // already closed
      }
    },
  };
}

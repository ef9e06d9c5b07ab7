/**
 * Redis (node-redis): the per-model rate limit and the AI response cache,
 * plus plain get/set for the generic worker's `redis` tasks.
 *
 * Every key starts with a prefix (`PROCOS_REDIS_PREFIX`, default `procos:`):
 * - `<prefix>ratelimit:<model>:<minute>`: requests to a model in one minute
 *   (a fixed window: `INCR`, expiring after the minute);
 * - `<prefix>aicache:<sha256(model NUL prompt)>`: a cached answer (JSON);
 * - `<prefix>kv:<key>`: the generic worker's keys.
 *
 * Redis is a cache: when it is unreachable, rate limiting and the response
 * cache are skipped (fail open, logged and visible in `/health`), and the AI
 * worker keeps working. Commands fail at once while disconnected (no offline
 * queue) and the client reconnects with back-off.
 *
 * @module
 */
import { createClient } from "redis";
import { createHash } from "node:crypto";
import { errorMessage, type Logger } from "./log.ts";

/** Options of {@link createCache}. */
export interface CacheOptions {
  /** `redis://[user:password@]host:port[/db]` (never logged). */
  url: string;
  /** Key prefix (default `procos:`). */
  prefix?: string;
  /** The logger. */
  log: Logger;
  /** A command's timeout, ms (default 2000). */
  commandTimeoutMs?: number;
}

/** A cached AI answer. */
export interface CachedAnswer {
  /** The answer text. */
  answer: string;
  /** The model that produced it. */
  model: string;
  /** Ollama's `done_reason`. */
  doneReason: string;
  /** Token counts and durations of the original generation. */
  usage: Record<string, number>;
  /** When it was cached (ISO). */
  cachedAt: string;
}

/** The cache. */
export interface Cache {
  /** The key prefix. */
  readonly prefix: string;
  /** Connected and ready. */
  ready(): boolean;
  /**
   * Waits until a request to `model` fits in `perMinute` (fixed one-minute
   * windows shared by every worker). Resolves at once when Redis is down.
   * Rejects with the signal's reason when aborted.
   */
  acquireRate(
    model: string,
    perMinute: number,
    signal?: AbortSignal,
  ): Promise<{ waitedMs: number }>;
  /** The cached answer of `model` to `prompt`, if any (undefined when Redis is down). */
  getAnswer(model: string, prompt: string): Promise<CachedAnswer | undefined>;
  /** Caches an answer for `ttlSeconds` (best effort). */
  setAnswer(model: string, prompt: string, value: CachedAnswer, ttlSeconds: number): Promise<void>;
  /** `GET <prefix>kv:<key>`; throws when Redis is unreachable. */
  get(key: string): Promise<string | null>;
  /** `SET <prefix>kv:<key>` (with `EX` when `ttlSeconds` is given); throws when Redis is unreachable. */
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** `DEL <prefix>kv:<key>`; returns how many keys were removed. */
  del(key: string): Promise<number>;
  /** Closes the connection. */
  close(): Promise<void>;
}

/** The cache key of a model's answer to a prompt. */
export function answerKey(prefix: string, model: string, prompt: string): string {
  return `${prefix}aicache:${
    createHash("sha256").update(model).update("\0").update(prompt)
      .digest("hex")
  }`;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** Connects (in the background) and returns the cache. */
export function createCache(opts: CacheOptions): Cache {
  const prefix = opts.prefix ?? "procos:";
  const log = opts.log;
  const timeoutMs = opts.commandTimeoutMs ?? 2000;
  let errors = 0;
  const client = createClient({
    url: opts.url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 5000,
      reconnectStrategy: (retries: number) => Math.min(30_000, 200 * 2 ** Math.min(retries, 10)),
    },
  });
  client.on("error", (e: unknown) => {
    errors++;
    if (errors <= 3 || errors % 20 === 0) {
      log.warn("Redis error", { error: errorMessage(e), count: errors });
    }
  });
  client.on("ready", () => {
    if (errors > 0) log.info("Redis connection ready");
    errors = 0;
  });
  let closed = false;
  const connecting = client.connect().catch((e: unknown) => {
    if (!closed) log.warn("connecting to Redis failed", { error: errorMessage(e) });
  });

  const withTimeout = <T>(p: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`Redis command timed out (${timeoutMs} ms)`)),
        timeoutMs,
      );
      p.then((v) => {
        clearTimeout(t);
        resolve(v);
      }, (e) => {
        clearTimeout(t);
        reject(e);
      });
    });

  const ready = () => client.isReady;

  return {
    prefix,
    ready,
    async acquireRate(model, perMinute, signal) {
      const started = Date.now();
      for (;;) {
        if (signal?.aborted) throw signal.reason;
        if (!ready()) return { waitedMs: Date.now() - started };
        const now = Date.now();
        const minute = Math.floor(now / 60_000);
        const key = `${prefix}ratelimit:${model}:${minute}`;
        let count: number;
        try {
          const r = await withTimeout(
            client.multi().incr(key).pExpire(key, 61_000).exec(),
          );
          count = Number((r as unknown[])[0]);
        } catch (e) {
          log.warn("rate limit skipped: Redis unavailable", { model, error: errorMessage(e) });
          return { waitedMs: Date.now() - started };
        }
        if (count <= perMinute) return { waitedMs: Date.now() - started };
        const wait = (minute + 1) * 60_000 - now + Math.floor(Math.random() * 250);
        log.info("rate limit reached; waiting for the next minute", {
          model,
          perMinute,
          waitMs: wait,
        });
        await sleep(wait, signal);
      }
    },
    async getAnswer(model, prompt) {
      if (!ready()) return undefined;
      try {
        const v = await withTimeout(client.get(answerKey(prefix, model, prompt)));
        return v === null || v === undefined ? undefined : JSON.parse(String(v)) as CachedAnswer;
      } catch (e) {
        log.warn("response cache read failed", { error: errorMessage(e) });
        return undefined;
      }
    },
    async setAnswer(model, prompt, value, ttlSeconds) {
      if (!ready()) return;
      try {
        await withTimeout(
          client.set(answerKey(prefix, model, prompt), JSON.stringify(value), {
            expiration: { type: "EX", value: Math.max(1, Math.floor(ttlSeconds)) },
          }),
        );
      } catch (e) {
        log.warn("response cache write failed", { error: errorMessage(e) });
      }
    },
    async get(key) {
      const v = await withTimeout(client.get(`${prefix}kv:${key}`));
      return v === null || v === undefined ? null : String(v);
    },
    async set(key, value, ttlSeconds) {
      await withTimeout(
        ttlSeconds
          ? client.set(`${prefix}kv:${key}`, value, {
            expiration: { type: "EX", value: Math.max(1, Math.floor(ttlSeconds)) },
          })
          : client.set(`${prefix}kv:${key}`, value),
      );
    },
    async del(key) {
      return Number(await withTimeout(client.del(`${prefix}kv:${key}`)));
    },
    async close() {
      closed = true;
      try {
        if (client.isReady) await client.close();
        else if (client.isOpen) client.destroy();
      } catch {
        client.destroy();
      }
      await connecting;
    },
  };
}

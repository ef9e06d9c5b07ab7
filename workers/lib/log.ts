/**
 * Structured logging for the workers: one JSON object per line on stdout
 * (`{"ts":..., "level":..., "worker":..., "msg":..., ...fields}`).
 *
 * Nothing secret is ever printed: every string goes through {@link redact},
 * which masks the password of any URL (`amqp://procos:***@rabbitmq/`), and
 * every field whose name looks like a credential (`password`, `secret`,
 * `authorization`, `apiKey`, ...) is replaced by `"[redacted]"`, however deep
 * it sits. Errors are logged as `{name, message, code?, status?}` (redacted),
 * never with their request options (which may hold auth headers).
 *
 * The level comes from `PROCOS_LOG_LEVEL` (`debug`, `info` (default), `warn`,
 * `error`).
 *
 * @module
 */

/** Log levels, in increasing severity. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const SEVERITY: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A structured logger. */
export interface Logger {
  /** Logs at `debug`. */
  debug(msg: string, fields?: Record<string, unknown>): void;
  /** Logs at `info`. */
  info(msg: string, fields?: Record<string, unknown>): void;
  /** Logs at `warn`. */
  warn(msg: string, fields?: Record<string, unknown>): void;
  /** Logs at `error`. */
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line. */
  child(fields: Record<string, unknown>): Logger;
}

/** Field names whose values are never printed. */
const SECRET_KEY = /pass(word|wd)?$|secret|authorization|api_?key|credential|cookie|^auth$/i;

/** `scheme://user:password@` (the password part is masked). */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^\s:@\/]*):([^\s@\/]*)@/gi;

/** Masks credentials inside a string: passwords of URLs and `Basic`/`Bearer` tokens. */
export function redact(text: string): string {
  return text
    .replace(URL_CREDENTIALS, (_m, scheme: string, user: string) => `${scheme}${user}:***@`)
    .replace(/\b(Basic|Bearer)\s+[A-Za-z0-9+/=._-]{8,}/g, "$1 ***");
}

/** A URL for logs: credentials masked, or the input masked as a whole when it does not parse. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return redact(u.toString());
  } catch {
    return redact(url);
  }
}

/** An error as a plain, redacted object fit for a log line. */
export function errorFields(e: unknown): Record<string, unknown> {
  if (e instanceof Error) {
    const out: Record<string, unknown> = { name: e.name, message: redact(e.message) };
    const any = e as unknown as Record<string, unknown>;
    for (const k of ["code", "status", "status_code", "httpStatusCode", "type"]) {
      const v = any[k];
      if (typeof v === "string" || typeof v === "number") out[k] = v;
    }
    if (e.cause !== undefined) out.cause = errorFields(e.cause);
    return out;
  }
  return { message: redact(String(e)) };
}

/** The message of any thrown value, redacted. */
export function errorMessage(e: unknown): string {
  return redact(e instanceof Error ? e.message : String(e));
}

/** Deep-copies a value for logging, masking secrets. Bounded depth and string length. */
export function sanitize(value: unknown, depth = 0): unknown {
  if (typeof value === "string") {
    const r = redact(value);
    return r.length > 2000 ? `${r.slice(0, 2000)}... (${r.length} chars)` : r;
  }
  if (value === null || typeof value !== "object") {
    return typeof value === "bigint" ? value.toString() : value;
  }
  if (value instanceof Error) return errorFields(value);
  if (value instanceof Date) return value.toISOString();
  if (depth > 6) return "[deep]";
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => sanitize(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) ? "[redacted]" : sanitize(v, depth + 1);
  }
  return out;
}

function levelFromEnv(): LogLevel {
  let v: string | undefined;
  try {
    v = Deno.env.get("PROCOS_LOG_LEVEL")?.toLowerCase();
  } catch {
    v = undefined;
  }
  return v === "debug" || v === "warn" || v === "error" ? v : "info";
}

/** Where lines go (tests replace it). */
export type LogSink = (line: string) => void;

const encoder = new TextEncoder();

/** The default sink: stdout, synchronously (lines are never interleaved). */
export const stdoutSink: LogSink = (line) => {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
};

/**
 * Creates a logger writing JSON lines. `base` fields (e.g. `{worker: "ai-worker"}`)
 * are on every line.
 */
export function createLogger(
  base: Record<string, unknown> = {},
  opts: { level?: LogLevel; sink?: LogSink } = {},
): Logger {
  const min = SEVERITY[opts.level ?? levelFromEnv()];
  const sink = opts.sink ?? stdoutSink;
  const write = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (SEVERITY[level] < min) return;
    const line = {
      ts: new Date().toISOString(),
      level,
      ...(sanitize(base) as Record<string, unknown>),
      msg: redact(msg),
      ...(fields ? sanitize(fields) as Record<string, unknown> : {}),
    };
    try {
      sink(JSON.stringify(line));
    } catch {
      // a closed stdout must not take the worker down
    }
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger({ ...base, ...fields }, { level: opts.level, sink }),
  };
}

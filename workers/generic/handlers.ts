/**
 * The generic worker's built-in task types. Inputs are process variables,
 * outputs are process variables (names below); a variable too long for a
 * Camunda `String` (4000 characters) is set as `Json` instead.
 *
 * | type | inputs | outputs |
 * | --- | --- | --- |
 * | `http` | `httpUrl`, `httpMethod` (GET), `httpBody` (String or Json), `httpHeaders` (Json object) | `httpStatus`, `httpResponse`, `httpContentType` |
 * | `sql` | `sqlStatement` (one statement, `$1`.. placeholders), `sqlParams` (Json array) | `sqlRows` (Json), `sqlRowCount`, `sqlCommand` |
 * | `publish` | `publishRoutingKey`, `publishMessage` (any), `publishExchange` (default: the events exchange) | `publishMessageId` |
 * | `redis` | `redisOp` (`get`, `set`, `del`), `redisKey`, `redisValue`, `redisTtlSeconds` | `redisResult` |
 * | `noop` | none | none |
 * | `retention` | `retentionAt` (String, ISO instant; default now), `retentionBatchSize` (default 1000), `retentionDryRun` (Boolean) | `retentionRunId` (the first run), `retentionCounts` (Json: phase → context type → rows, the runs summed), `retentionExportedRows` (with the export) |
 *
 * `retention` does what `deno task retention` does (`retentionWithExport`,
 * `ops/archive.ts`; docs/retention.md): CALLs `procos_apply_retention`; with
 * the manifest's `retentionExport.enabled`, exports the archived rows not
 * exported yet into its `path` (gzip JSONL), then, if it exported any, CALLs
 * the procedure again at the same instant so that they are purged when past
 * their last phase. The `procos-retention` process runs it on the spec's
 * schedule. It needs the database (`DATABASE_URL`).
 *
 * Failures: a missing or malformed input, an HTTP 4xx (other than 408/429),
 * an SQL error other than a lost connection or a serialization failure, and
 * an unknown Redis operation cannot pass on a retry: the incident is raised
 * at once. Everything else (unreachable services, HTTP 5xx, time-outs) is
 * retried with the topic's back-off.
 *
 * @module
 */
import type { GenericTopicManifest } from "../../compiler/worker_manifest.ts";
import type { TypedValue } from "../lib/camunda.ts";
import type { Cache } from "../lib/cache.ts";
import type { EventPublisher } from "../lib/events.ts";
import { errorMessage } from "../lib/log.ts";
import {
  type TaskContext,
  TaskFailure,
  type TaskResult,
  type TopicHandler,
} from "../lib/runner.ts";
import { isTransientDbError, runStatement, type Sql } from "../lib/store.ts";
import { retentionWithExport } from "../../ops/archive.ts";

export { applyRetention } from "../../ops/archive.ts";
export type { RetentionCall, RetentionSummary } from "../../ops/archive.ts";

/** Longest text set as a `String` variable. */
const MAX_STRING = 4000;

/** A value as a typed Camunda variable that is never cut. */
export function toVariable(v: unknown): TypedValue {
  if (v === null || v === undefined) return { type: "Null", value: null };
  if (typeof v === "string") {
    return v.length <= MAX_STRING
      ? { type: "String", value: v }
      : { type: "Json", value: JSON.stringify(v) };
  }
  if (typeof v === "boolean") return { type: "Boolean", value: v };
  if (typeof v === "number") {
    if (Number.isInteger(v)) {
      return Math.abs(v) < 2 ** 31 ? { type: "Integer", value: v } : { type: "Long", value: v };
    }
    return { type: "Double", value: v };
  }
  return {
    type: "Json",
    value: JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x)),
  };
}

const permanent = (message: string) => new TaskFailure(message, { permanent: true });

function need(values: Record<string, unknown>, name: string): unknown {
  const v = values[name];
  if (v === undefined || v === null || v === "") {
    throw permanent(`process variable ${name} is missing`);
  }
  return v;
}

function needString(values: Record<string, unknown>, name: string): string {
  const v = need(values, name);
  if (typeof v !== "string") throw permanent(`process variable ${name} must be a String`);
  return v;
}

/** What the handlers use. */
export interface GenericDeps {
  /** The ProcOS database (for `sql`). */
  sql?: Sql;
  /** Redis (for `redis`). */
  cache?: Cache;
  /** RabbitMQ (for `publish`). */
  publisher?: EventPublisher;
  /** The default exchange of `publish`. */
  eventsExchange: string;
  /**
   * The archive export folder of `retention` (the manifest's
   * `retentionExport.path` when enabled); unset: `retention` does not export.
   */
  archiveDir?: string;
}

/** The variables each type reads (fetched with the task). */
export const INPUTS: Record<GenericTopicManifest["type"], string[]> = {
  http: ["httpUrl", "httpMethod", "httpBody", "httpHeaders"],
  sql: ["sqlStatement", "sqlParams"],
  publish: ["publishRoutingKey", "publishMessage", "publishExchange"],
  redis: ["redisOp", "redisKey", "redisValue", "redisTtlSeconds"],
  noop: [],
  retention: ["retentionAt", "retentionBatchSize", "retentionDryRun"],
};

async function http(ctx: TaskContext, timeoutMs: number): Promise<TaskResult> {
  const v = ctx.task.values;
  const url = needString(v, "httpUrl");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw permanent(`httpUrl is not a URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw permanent(`httpUrl must be http(s), not ${parsed.protocol}`);
  }
  const method = (typeof v.httpMethod === "string" ? v.httpMethod : "GET").toUpperCase();
  const headers = new Headers();
  if (v.httpHeaders !== undefined && v.httpHeaders !== null) {
    if (typeof v.httpHeaders !== "object" || Array.isArray(v.httpHeaders)) {
      throw permanent("httpHeaders must be a Json object");
    }
    for (const [k, x] of Object.entries(v.httpHeaders as Record<string, unknown>)) {
      headers.set(k, String(x));
    }
  }
  let body: string | undefined;
  if (v.httpBody !== undefined && v.httpBody !== null && method !== "GET" && method !== "HEAD") {
    if (typeof v.httpBody === "string") body = v.httpBody;
    else {
      body = JSON.stringify(v.httpBody);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
    }
  }
  let res: Response;
  try {
    res = await fetch(parsed, {
      method,
      headers,
      body,
      signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]),
      redirect: "follow",
    });
  } catch (e) {
    throw new TaskFailure(
      `${method} ${parsed.origin}${parsed.pathname} failed: ${errorMessage(e)}`,
    );
  }
  const text = await res.text();
  const where = `${method} ${parsed.origin}${parsed.pathname}`;
  if (!res.ok) {
    const retry = res.status >= 500 || res.status === 408 || res.status === 429;
    throw new TaskFailure(`${where} answered HTTP ${res.status}`, {
      permanent: !retry,
      details: text.slice(0, 4000),
    });
  }
  return {
    variables: {
      httpStatus: toVariable(res.status),
      httpResponse: toVariable(text),
      httpContentType: toVariable(res.headers.get("content-type")),
    },
    event: { httpStatus: res.status },
  };
}

async function sqlTask(ctx: TaskContext, sql: Sql | undefined): Promise<TaskResult> {
  if (!sql) throw new TaskFailure("no database configured (DATABASE_URL)", { permanent: true });
  const statement = needString(ctx.task.values, "sqlStatement");
  const params = ctx.task.values.sqlParams ?? [];
  if (!Array.isArray(params)) throw permanent("sqlParams must be a Json array");
  try {
    const r = await runStatement(sql, statement, params);
    return {
      variables: {
        sqlRows: {
          type: "Json",
          value: JSON.stringify(r.rows, (_k, x) => typeof x === "bigint" ? x.toString() : x),
        },
        sqlRowCount: toVariable(r.count),
        sqlCommand: toVariable(r.command),
      },
      event: { sqlCommand: r.command, sqlRowCount: r.count },
    };
  } catch (e) {
    if (e instanceof TaskFailure) throw e;
    throw new TaskFailure(`SQL statement failed: ${errorMessage(e)}`, {
      permanent: !isTransientDbError(e),
      cause: e,
    });
  }
}

async function publish(ctx: TaskContext, d: GenericDeps): Promise<TaskResult> {
  if (!d.publisher) {
    throw new TaskFailure("no broker configured (RABBITMQ_URL)", { permanent: true });
  }
  const v = ctx.task.values;
  const routingKey = needString(v, "publishRoutingKey");
  const exchange = typeof v.publishExchange === "string" && v.publishExchange !== ""
    ? v.publishExchange
    : d.eventsExchange;
  const messageId = `${ctx.task.id}:publish`;
  try {
    await d.publisher.publish(routingKey, v.publishMessage ?? null, {
      exchange,
      messageId,
      headers: { "x-procos-process-instance": ctx.task.processInstanceId },
    });
  } catch (e) {
    throw new TaskFailure(`publishing to ${exchange} (${routingKey}) failed: ${errorMessage(e)}`);
  }
  return {
    variables: { publishMessageId: toVariable(messageId) },
    event: { exchange, routingKey },
  };
}

async function redis(ctx: TaskContext, cache: Cache | undefined): Promise<TaskResult> {
  if (!cache) throw new TaskFailure("no Redis configured (REDIS_URL)", { permanent: true });
  const v = ctx.task.values;
  const op = typeof v.redisOp === "string" ? v.redisOp.toLowerCase() : "get";
  const key = needString(v, "redisKey");
  try {
    switch (op) {
      case "get":
        return { variables: { redisResult: toVariable(await cache.get(key)) } };
      case "set": {
        const raw = need(v, "redisValue");
        const value = typeof raw === "string" ? raw : JSON.stringify(raw);
        const ttl = typeof v.redisTtlSeconds === "number" ? v.redisTtlSeconds : undefined;
        await cache.set(key, value, ttl);
        return { variables: { redisResult: toVariable("OK") } };
      }
      case "del":
        return { variables: { redisResult: toVariable(await cache.del(key)) } };
      default:
        throw permanent(`redisOp must be get, set or del, not ${JSON.stringify(op)}`);
    }
  } catch (e) {
    if (e instanceof TaskFailure) throw e;
    throw new TaskFailure(`Redis ${op} failed: ${errorMessage(e)}`);
  }
}

async function retention(
  ctx: TaskContext,
  sql: Sql | undefined,
  archiveDir: string | undefined,
): Promise<TaskResult> {
  if (!sql) throw new TaskFailure("no database configured (DATABASE_URL)", { permanent: true });
  const v = ctx.task.values;
  let at: Date | undefined;
  if (v.retentionAt !== undefined && v.retentionAt !== null && v.retentionAt !== "") {
    // Camunda writes Date variables as 2025-01-31T00:00:00.000+0000.
    const text = typeof v.retentionAt === "string"
      ? v.retentionAt.replace(/([+-]\d{2})(\d{2})$/, "$1:$2")
      : undefined;
    at = text === undefined ? undefined : new Date(text);
    if (at === undefined || Number.isNaN(at.getTime())) {
      throw permanent("retentionAt must be a String (an ISO 8601 instant)");
    }
  }
  const batch = v.retentionBatchSize;
  if (
    batch !== undefined && batch !== null &&
    (typeof batch !== "number" || !Number.isInteger(batch) || batch < 1)
  ) {
    throw permanent("retentionBatchSize must be a positive Integer");
  }
  const dry = v.retentionDryRun;
  if (dry !== undefined && dry !== null && typeof dry !== "boolean") {
    throw permanent("retentionDryRun must be a Boolean");
  }
  try {
    const r = await retentionWithExport(sql, {
      at,
      batchSize: (batch as number | null) ?? undefined,
      dryRun: (dry as boolean | null) ?? undefined,
      exportDir: archiveDir,
    });
    const runIds = r.runs.map((x) => Number(x.run_id));
    return {
      variables: {
        retentionRunId: toVariable(runIds[0]),
        retentionCounts: { type: "Json", value: JSON.stringify(r.counts) },
        ...(r.export ? { retentionExportedRows: toVariable(r.export.rows) } : {}),
      },
      event: {
        retentionRunId: runIds[0],
        retentionRunIds: runIds,
        retentionCounts: r.counts,
        ...(r.export
          ? {
            retentionExport: {
              rows: r.export.rows,
              conversations: r.export.conversations,
              files: r.export.files.map((f) => f.path),
            },
          }
          : {}),
      },
    };
  } catch (e) {
    throw new TaskFailure(`retention failed: ${errorMessage(e)}`, {
      permanent: !isTransientDbError(e),
      cause: e,
    });
  }
}

/** Builds the handler of one generic topic. */
export function genericTopicHandler(t: GenericTopicManifest, d: GenericDeps): TopicHandler {
  const timeoutMs = Math.max(1000, Math.floor(t.lockDurationMs * 0.8));
  const handle = (ctx: TaskContext): Promise<TaskResult> => {
    switch (t.type) {
      case "http":
        return http(ctx, timeoutMs);
      case "sql":
        return sqlTask(ctx, d.sql);
      case "publish":
        return publish(ctx, d);
      case "redis":
        return redis(ctx, d.cache);
      case "noop":
        return Promise.resolve({});
      case "retention":
        return retention(ctx, d.sql, d.archiveDir);
    }
  };
  return {
    topic: { topicName: t.name, lockDurationMs: t.lockDurationMs, variables: INPUTS[t.type] },
    retries: t.retries,
    backoff: t.backoff,
    handle,
  };
}

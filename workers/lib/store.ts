/**
 * PostgreSQL access (postgres.js): the AI context writes to
 * `procos_ai_context` (the table is named by the manifest), the model
 * statistics, and plain statements for the generic worker's `sql` tasks.
 *
 * Idempotency: the rows of an external task have deterministic ids, UUID v5
 * of `<external task id>:<context type>` ({@link contextRowId}), inserted
 * with `ON CONFLICT (id) DO NOTHING` in one transaction. A task fetched again
 * (a retry, a lock that expired after the worker died, a completion that did
 * not reach Camunda) never makes a second row; the worker finds the stored
 * output with {@link findAiOutput} and completes the task from it. This needs
 * no index beyond the primary key.
 *
 * @module
 */
import postgres from "postgres";
import { createHash } from "node:crypto";

/** The postgres.js client type. */
export type Sql = postgres.Sql;

/** The UUID namespace of ProcOS context rows (a fixed random UUID). */
export const CONTEXT_ID_NAMESPACE = "7d9f6c1e-4b2a-5e8d-9c3f-2a1b0e4d6f80";

/** UUID v5 (SHA-1, RFC 9562) of `name` in `namespace`. */
export function uuidV5(namespace: string, name: string): string {
  const ns = Uint8Array.from(
    namespace.replace(/-/g, "").match(/../g)!.map((h) => parseInt(h, 16)),
  );
  const hash = createHash("sha1").update(ns).update(name, "utf8").digest();
  const b = new Uint8Array(hash.subarray(0, 16));
  b[6] = (b[6] & 0x0f) | 0x50;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
    hex.slice(20)
  }`;
}

/** The id of the context row of type `type` of an external task. */
export function contextRowId(externalTaskId: string, type: "input" | "output" | "system"): string {
  return uuidV5(CONTEXT_ID_NAMESPACE, `${externalTaskId}:${type}`);
}

/** Opens a pool on `url` (`postgres://...`). Close it with `await sql.end()`. */
export function connectDatabase(url: string, opts: { max?: number } = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 4,
    onnotice: () => {},
    connect_timeout: 10,
    idle_timeout: 60,
  });
}

/** One row of the AI context table to write. */
export interface ContextRow {
  /** Text content (the prompt or the answer), stored whole in `content_text`. */
  text: string;
  /** Structured data (`content_data`, JSONB). */
  data: Record<string, unknown>;
}

/** An AI exchange to store: the prompt (input) and the answer (output). */
export interface AiExchange {
  /** The table (from the manifest). */
  table: string;
  /** The external task id. */
  taskId: string;
  /** The process instance. */
  processInstanceId: string;
  /** The BPMN activity. */
  activityId: string;
  /** The provider (`ollama`). */
  provider: string;
  /** The model used. */
  model: string;
  /** Token usage (JSONB), on the output row. */
  tokenUsage: Record<string, unknown>;
  /** The input row. */
  input: ContextRow;
  /** The output row. */
  output: ContextRow;
  /** Counters to add to `procos_ai_model_stats` (skipped when the model row is missing). */
  stats?: {
    modelsTable: string;
    statsTable: string;
    truncated: boolean;
    promptTokens: number;
    completionTokens: number;
    latencyMs: number;
  };
}

/** What {@link saveAiExchange} did. */
export interface SavedExchange {
  /** The input row id. */
  inputId: string;
  /** The output row id. */
  outputId: string;
  /** Whether this call inserted the output row (false: it was there already). */
  inserted: boolean;
}

/**
 * Stores both rows of an exchange in one transaction, idempotently (see the
 * module doc). Model statistics are only counted when the output row is new.
 */
export async function saveAiExchange(sql: Sql, x: AiExchange): Promise<SavedExchange> {
  const inputId = contextRowId(x.taskId, "input");
  const outputId = contextRowId(x.taskId, "output");
  const inserted = await sql.begin(async (tx) => {
    const row = (id: string, type: string, r: ContextRow, usage: unknown) =>
      tx`
      INSERT INTO ${tx(x.table)} (id, process_instance_id, task_id, activity_id, context_type,
        content_data, content_text, ai_provider, model_used, token_usage)
      VALUES (${id}, ${x.processInstanceId}, ${x.taskId}, ${x.activityId}, ${type},
        ${sql.json(r.data as postgres.JSONValue)}, ${r.text}, ${x.provider}, ${x.model},
        ${usage === null ? null : sql.json(usage as postgres.JSONValue)})
      ON CONFLICT (id) DO NOTHING
      RETURNING id`;
    await row(inputId, "input", x.input, null);
    const out = await row(outputId, "output", x.output, x.tokenUsage);
    const fresh = out.length === 1;
    if (fresh && x.stats) {
      const s = x.stats;
      await tx`
        INSERT INTO ${tx(s.statsTable)} AS st (model_id, bucket_start, request_count,
          truncated_count, prompt_tokens, completion_tokens, total_latency_ms)
        SELECT m.id, date_trunc('day', now()), 1, ${s.truncated ? 1 : 0}, ${s.promptTokens},
          ${s.completionTokens}, ${Math.round(s.latencyMs)}
        FROM ${tx(s.modelsTable)} m WHERE m.provider = ${x.provider} AND m.name = ${x.model}
        ON CONFLICT (model_id, bucket_width, bucket_start) DO UPDATE SET
          request_count = st.request_count + 1,
          truncated_count = st.truncated_count + EXCLUDED.truncated_count,
          prompt_tokens = st.prompt_tokens + EXCLUDED.prompt_tokens,
          completion_tokens = st.completion_tokens + EXCLUDED.completion_tokens,
          total_latency_ms = st.total_latency_ms + EXCLUDED.total_latency_ms`;
    }
    return fresh;
  });
  return { inputId, outputId, inserted };
}

/** A stored AI output. */
export interface StoredOutput {
  /** The row id. */
  id: string;
  /** The answer. */
  text: string;
  /** `content_data`. */
  data: Record<string, unknown>;
  /** `model_used`. */
  model: string | null;
  /** `token_usage`. */
  tokenUsage: Record<string, unknown> | null;
}

/** The stored output of an external task, if any. */
export async function findAiOutput(
  sql: Sql,
  table: string,
  taskId: string,
): Promise<StoredOutput | undefined> {
  const id = contextRowId(taskId, "output");
  const rows = await sql`
    SELECT id::text AS id, content_text, content_data, model_used, token_usage
    FROM ${sql(table)} WHERE id = ${id}`;
  if (rows.length === 0) return undefined;
  const r = rows[0];
  return {
    id: r.id,
    text: r.content_text ?? "",
    data: (r.content_data ?? {}) as Record<string, unknown>,
    model: r.model_used,
    tokenUsage: r.token_usage,
  };
}

/** Adds one failed request to a model's statistics (best effort). */
export async function countAiFailure(
  sql: Sql,
  t: { modelsTable: string; statsTable: string; provider: string; model: string },
): Promise<void> {
  await sql`
    INSERT INTO ${sql(t.statsTable)} AS st (model_id, bucket_start, request_count, failure_count)
    SELECT m.id, date_trunc('day', now()), 1, 1
    FROM ${sql(t.modelsTable)} m WHERE m.provider = ${t.provider} AND m.name = ${t.model}
    ON CONFLICT (model_id, bucket_width, bucket_start) DO UPDATE SET
      request_count = st.request_count + 1, failure_count = st.failure_count + 1`;
}

/** SQLSTATE classes worth retrying: connection, transaction rollback, resources, operator intervention. */
const TRANSIENT_SQLSTATE = /^(08|40|53|57P0[1-3])/;

/** Whether a database error may pass on a retry (connection lost, serialization failure, ...). */
export function isTransientDbError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== "string") return true; // not from the server: connection-level
  if (/^[0-9A-Z]{5}$/.test(code)) return TRANSIENT_SQLSTATE.test(code);
  return true; // postgres.js client codes (CONNECTION_CLOSED, CONNECT_TIMEOUT, ...)
}

/** Result of {@link runStatement}. */
export interface StatementResult {
  /** Rows returned (empty for statements without a result set). */
  rows: Record<string, unknown>[];
  /** Rows affected or returned. */
  count: number;
  /** The command (`SELECT`, `INSERT`, ...). */
  command: string;
}

/** Runs one statement with `$1`-style parameters. */
export async function runStatement(
  sql: Sql,
  statement: string,
  params: unknown[],
): Promise<StatementResult> {
  const r = await sql.unsafe(statement, params as postgres.ParameterOrJSON<never>[]);
  const rows = [...r].map((row) => ({ ...row }));
  return { rows, count: r.count ?? rows.length, command: r.command ?? "" };
}

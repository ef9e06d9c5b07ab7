/**
 * The AI storage schema, as data: the one source that the SQL emitter
 * (`compiler/emit/sql.ts`) renders into DDL and that `verify` checks a live
 * database against.
 *
 * Types are written exactly as PostgreSQL's `format_type()` prints them
 * (`character varying(64)`, `timestamp with time zone`), which is also valid
 * DDL, so a live column compares to its spec with a plain string equality.
 *
 * `procos_ai_context` is the seed's table column for column
 * (shared/seed/procos-infrastructure.md, "AI Context Table Schema"); the model
 * tables hold "AI model configurations and performance stats".
 *
 * @module
 */
import { quoteLiteral } from "./sql_quote.ts";

/**
 * How an index is built: a plain `btree` or `brin`, a `gin` over JSONB
 * (`jsonb_ops`), a `gin-trgm` (trigram, `gin_trgm_ops`, for `%`, `LIKE`,
 * `ILIKE`) or a `gin-fts` (full text, over a `to_tsvector(...)` expression).
 */
export type IndexMethod = "btree" | "brin" | "gin" | "gin-trgm" | "gin-fts";

/** The PostgreSQL access method (`pg_am.amname`) of each {@link IndexMethod}. */
export const ACCESS_METHOD: Readonly<Record<IndexMethod, "btree" | "brin" | "gin">> = Object.freeze(
  { btree: "btree", brin: "brin", gin: "gin", "gin-trgm": "gin", "gin-fts": "gin" },
);

/** One column. */
export interface ColumnSpec {
  /** Column name. */
  readonly name: string;
  /** SQL type as `format_type()` prints it, e.g. `character varying(64)`. */
  readonly type: string;
  /** Whether NULL is allowed (`information_schema.columns.is_nullable`). */
  readonly nullable: boolean;
  /** Default expression (SQL), if any. */
  readonly default?: string;
  /** `GENERATED ALWAYS AS IDENTITY`. */
  readonly identity?: boolean;
  /** Expression of a `GENERATED ALWAYS AS (...) STORED` column. */
  readonly generated?: string;
  /** Written as the column's `COMMENT`. */
  readonly comment?: string;
}

/** A table constraint. Primary keys and unique constraints are backed by a btree index of the same name. */
export interface ConstraintSpec {
  /** Constraint name (and, for a key, its index's name). */
  readonly name: string;
  /** Kind, as in `pg_constraint.contype`: p, u, c, f. */
  readonly kind: "primary-key" | "unique" | "check" | "foreign-key";
  /** The constraint's SQL, as after `CONSTRAINT name`. */
  readonly definition: string;
}

/** One key of an index: a column or an expression, with an optional operator class. */
export interface IndexKey {
  /** A column name (exclusive with `expression`). */
  readonly column?: string;
  /** An SQL expression (exclusive with `column`). */
  readonly expression?: string;
  /** Operator class, when not the type's default (e.g. `gin_trgm_ops`). */
  readonly opclass?: string;
}

/** A secondary index (not one backing a constraint). */
export interface IndexSpec {
  /** Index name, unique in the schema. */
  readonly name: string;
  /** How it is built. */
  readonly method: IndexMethod;
  /** Its keys, in order. */
  readonly keys: readonly IndexKey[];
  /** Storage parameters (`WITH (...)`), SQL. */
  readonly with?: string;
  /** What queries it serves, and why this kind of index. */
  readonly why: string;
}

/** One table. */
export interface TableSpec {
  /** Table name (in schema `public`). */
  readonly name: string;
  /** Written as the table's `COMMENT`. */
  readonly comment: string;
  /** Columns, in order. */
  readonly columns: readonly ColumnSpec[];
  /** Constraints; the first is the primary key. */
  readonly constraints: readonly ConstraintSpec[];
  /** Secondary indexes. */
  readonly indexes: readonly IndexSpec[];
}

/** A `BEFORE UPDATE` trigger that sets a timestamp column to `now()`. */
export interface TriggerSpec {
  /** Trigger name. */
  readonly name: string;
  /** The table it is on. */
  readonly table: string;
  /** The trigger function ({@link UPDATED_AT_FUNCTION}). */
  readonly function: string;
}

/** Extensions the schema needs, created in the ProcOS database. */
export const AI_EXTENSIONS: readonly string[] = Object.freeze(["uuid-ossp", "pg_trgm"]);

/** The AI context table. */
export const AI_CONTEXT_TABLE = "procos_ai_context";
/** The model configuration table. */
export const AI_MODELS_TABLE = "procos_ai_models";
/** The model performance statistics table. */
export const AI_MODEL_STATS_TABLE = "procos_ai_model_stats";

/** The values of `procos_ai_context.context_type` (also the retention override keys). */
export const AI_CONTEXT_TYPES = ["input", "output", "system"] as const;

/** Longest provider name `procos_ai_context.ai_provider` (VARCHAR(50)) holds. */
export const AI_PROVIDER_MAX_CHARS = 50;
/** Longest model name `procos_ai_context.model_used` (VARCHAR(100)) holds. */
export const AI_MODEL_NAME_MAX_CHARS = 100;

/** Text search configuration of the full-text index. */
export const AI_FTS_CONFIG = "english";

/**
 * How many leading characters of `content_text` the full-text index covers.
 * A `tsvector` cannot exceed 1 MB: `to_tsvector` over a whole 1 MB response of
 * distinct tokens fails ("string is too long for tsvector"), and with the index
 * in place that failure would reject the INSERT, i.e. lose the AI context the
 * table exists to keep. A tsvector entry costs at most 6.5 bytes per input
 * character (a one-character word and its separator), so 100 000 characters
 * stay under 650 kB whatever the text. The trigram index covers the whole text.
 */
export const AI_FTS_MAX_CHARS = 100_000;

/**
 * The full-text document of a `procos_ai_context` row, exactly as indexed.
 * Queries must use this expression verbatim for the index to apply:
 * `WHERE ${AI_CONTEXT_FTS_DOCUMENT} @@ websearch_to_tsquery('english', $1)`.
 */
export const AI_CONTEXT_FTS_DOCUMENT = `to_tsvector(${
  quoteLiteral(AI_FTS_CONFIG)
}, left(coalesce(content_text, ''), ${AI_FTS_MAX_CHARS}))`;

/** The trigger function that stamps `updated_at` on every UPDATE. */
export const UPDATED_AT_FUNCTION = "procos_touch_updated_at";

const tstz = "timestamp with time zone";

const timestamps = (nullable: boolean): ColumnSpec[] => [
  { name: "created_at", type: tstz, nullable, default: "now()" },
  {
    name: "updated_at",
    type: tstz,
    nullable,
    default: "now()",
    comment: `Set to now() on every UPDATE by trigger function ${UPDATED_AT_FUNCTION}.`,
  },
];

const contextTable: TableSpec = {
  name: AI_CONTEXT_TABLE,
  comment: "AI prompts, responses and system context of process instances, stored in full " +
    "(TEXT/JSONB: never truncated). Written by the AI worker alongside the Camunda variables.",
  columns: [
    { name: "id", type: "uuid", nullable: false, default: "uuid_generate_v4()" },
    { name: "process_instance_id", type: "character varying(64)", nullable: false },
    { name: "task_id", type: "character varying(64)", nullable: true },
    { name: "activity_id", type: "character varying(255)", nullable: true },
    {
      name: "context_type",
      type: "character varying(50)",
      nullable: false,
      comment: `One of ${AI_CONTEXT_TYPES.join(", ")}.`,
    },
    { name: "content_data", type: "jsonb", nullable: false, comment: "Structured data." },
    { name: "content_text", type: "text", nullable: true, comment: "Full text content." },
    { name: "ai_provider", type: `character varying(${AI_PROVIDER_MAX_CHARS})`, nullable: true },
    { name: "model_used", type: `character varying(${AI_MODEL_NAME_MAX_CHARS})`, nullable: true },
    { name: "token_usage", type: "jsonb", nullable: true },
    // The seed leaves both nullable; the defaults fill them on INSERT.
    ...timestamps(true),
  ],
  constraints: [
    { name: "procos_ai_context_pkey", kind: "primary-key", definition: "PRIMARY KEY (id)" },
    {
      name: "procos_ai_context_context_type_check",
      kind: "check",
      definition: `CHECK (context_type IN (${AI_CONTEXT_TYPES.map(quoteLiteral).join(", ")}))`,
    },
    // No foreign key to procos_ai_models on purpose: storing context must never
    // fail because a model row is missing or renamed.
  ],
  indexes: [
    {
      name: "procos_ai_context_content_data_gin",
      method: "gin",
      keys: [{ column: "content_data" }],
      why: "JSONB containment and key existence (@>, ?, ?|, ?&) on structured content; " +
        "default jsonb_ops rather than jsonb_path_ops so key-existence queries are served too.",
    },
    {
      name: "procos_ai_context_token_usage_gin",
      method: "gin",
      keys: [{ column: "token_usage" }],
      why: "Token usage analytics: containment and key existence on token_usage.",
    },
    {
      name: "procos_ai_context_content_fts",
      method: "gin-fts",
      keys: [{ expression: AI_CONTEXT_FTS_DOCUMENT }],
      why: `Full-text search (@@) over the first ${AI_FTS_MAX_CHARS} characters of content_text; ` +
        "see AI_FTS_MAX_CHARS for why it is bounded.",
    },
    {
      name: "procos_ai_context_content_trgm",
      method: "gin-trgm",
      keys: [{ column: "content_text", opclass: "gin_trgm_ops" }],
      why: "Similarity (%) and substring (LIKE/ILIKE '%...%') search over the whole content_text.",
    },
    {
      name: "procos_ai_context_instance_created_idx",
      method: "btree",
      keys: [{ column: "process_instance_id" }, { column: "created_at" }],
      why: "Process instance correlation: a conversation's rows, in order.",
    },
    {
      name: "procos_ai_context_task_idx",
      method: "btree",
      keys: [{ column: "task_id" }],
      why: "Process instance correlation: the rows of one external task.",
    },
    {
      name: "procos_ai_context_provider_model_idx",
      method: "btree",
      keys: [{ column: "ai_provider" }, { column: "model_used" }],
      why: "Per-provider and per-model analytics.",
    },
    {
      name: "procos_ai_context_created_idx",
      method: "btree",
      keys: [{ column: "created_at" }],
      // BRIN would be far smaller, but it is only as good as the correlation
      // between created_at and the rows' physical order. The lifecycle purges
      // rows by age and by type (system rows live longer than input/output), and
      // the space they free is refilled by new rows, so old page ranges end up
      // holding both two-year-old and brand-new rows and BRIN ranges stop
      // excluding anything; UPDATEs (stamped by the trigger) move rows too.
      // A btree stays exact under that churn and also serves ORDER BY
      // created_at DESC LIMIT n, which BRIN cannot.
      why: "Time-range analytics and 'latest activity' across all instances. btree, not BRIN: " +
        "retention deletes and updates destroy the physical ordering BRIN relies on.",
    },
    {
      name: "procos_ai_context_type_created_idx",
      method: "btree",
      keys: [{ column: "context_type" }, { column: "created_at" }],
      why: "Lifecycle: retention is per context type (ai.retention.overrides), so phase moves " +
        "and purges select by (context_type, created_at < cutoff).",
    },
  ],
};

const modelsTable: TableSpec = {
  name: AI_MODELS_TABLE,
  comment: "AI model configuration, one row per provider and model; seeded from ai.providers " +
    "of procos.config.yaml (models no longer in the spec are disabled, not deleted).",
  columns: [
    { name: "id", type: "bigint", nullable: false, identity: true },
    { name: "provider", type: `character varying(${AI_PROVIDER_MAX_CHARS})`, nullable: false },
    { name: "name", type: `character varying(${AI_MODEL_NAME_MAX_CHARS})`, nullable: false },
    {
      name: "context_window",
      type: "integer",
      nullable: false,
      comment: "Context window, in tokens.",
    },
    { name: "rate_limit_per_minute", type: "integer", nullable: false },
    {
      name: "parameters",
      type: "jsonb",
      nullable: false,
      default: "'{}'::jsonb",
      comment: "Provider-specific generation parameters (temperature, ...). Not overwritten " +
        "by the seed.",
    },
    { name: "enabled", type: "boolean", nullable: false, default: "true" },
    ...timestamps(false),
  ],
  constraints: [
    { name: "procos_ai_models_pkey", kind: "primary-key", definition: "PRIMARY KEY (id)" },
    {
      name: "procos_ai_models_provider_name_key",
      kind: "unique",
      definition: "UNIQUE (provider, name)",
    },
    {
      name: "procos_ai_models_limits_check",
      kind: "check",
      definition: "CHECK (context_window > 0 AND rate_limit_per_minute > 0)",
    },
  ],
  indexes: [],
};

const statsCounters = [
  ["request_count", "Requests in the bucket, failed ones included."],
  ["failure_count", "Requests that failed."],
  ["truncated_count", "Generations cut short (by the context window or a token limit)."],
  ["prompt_tokens", "Prompt tokens, summed."],
  ["completion_tokens", "Completion tokens, summed."],
  ["total_latency_ms", "Latency, summed, in milliseconds."],
] as const;

const statsTable: TableSpec = {
  name: AI_MODEL_STATS_TABLE,
  comment: "AI model performance, one row per model and time bucket; workers add to it with " +
    "INSERT ... ON CONFLICT (model_id, bucket_width, bucket_start) DO UPDATE SET x = x + ....",
  columns: [
    { name: "id", type: "bigint", nullable: false, identity: true },
    { name: "model_id", type: "bigint", nullable: false },
    {
      name: "bucket_start",
      type: tstz,
      nullable: false,
      comment: "Start of the bucket (e.g. date_trunc('day', now())).",
    },
    { name: "bucket_width", type: "interval", nullable: false, default: "'1 day'::interval" },
    ...statsCounters.map(([name, comment]): ColumnSpec => ({
      name,
      type: "bigint",
      nullable: false,
      default: "0",
      comment,
    })),
    {
      name: "avg_latency_ms",
      type: "double precision",
      nullable: true,
      generated: "CASE WHEN request_count > 0 " +
        "THEN total_latency_ms::double precision / request_count END",
      comment: "total_latency_ms / request_count (NULL without requests); computed.",
    },
    ...timestamps(false),
  ],
  constraints: [
    { name: "procos_ai_model_stats_pkey", kind: "primary-key", definition: "PRIMARY KEY (id)" },
    {
      name: "procos_ai_model_stats_model_id_fkey",
      kind: "foreign-key",
      definition: `FOREIGN KEY (model_id) REFERENCES ${AI_MODELS_TABLE} (id) ON DELETE CASCADE`,
    },
    {
      name: "procos_ai_model_stats_bucket_key",
      kind: "unique",
      definition: "UNIQUE (model_id, bucket_width, bucket_start)",
    },
    {
      name: "procos_ai_model_stats_counts_check",
      kind: "check",
      definition: `CHECK (${
        statsCounters.map(([c]) => `${c} >= 0`).join(" AND ")
      } AND bucket_width > '0'::interval)`,
    },
  ],
  indexes: [
    {
      name: "procos_ai_model_stats_bucket_idx",
      method: "btree",
      keys: [{ column: "bucket_start" }],
      why: "Time-range reports across all models (the unique key leads with model_id).",
    },
  ],
};

// ------------------------------------------------------------ the lifecycle
//
// AI context lives in three tables, one per storage phase of the seed ("AI
// Data Lifecycle Management"): real-time (procos_ai_context), historical
// (procos_ai_context_history) and archived (procos_ai_context_archive); past
// the archived phase it is purged. The copies have the context table's
// columns, in the same order and with the same types, plus the times the row
// changed phase; rows are moved between them by procos_apply_retention()
// (templates/retention.sql.hbs), each batch with one
// `WITH moved AS (DELETE ... RETURNING ...) INSERT ...` statement, so a row is
// always in exactly one of the three. docs/retention.md explains why tables
// and not partitions.

/** The historical phase of the AI context. */
export const AI_CONTEXT_HISTORY_TABLE = "procos_ai_context_history";
/** The archived phase of the AI context. */
export const AI_CONTEXT_ARCHIVE_TABLE = "procos_ai_context_archive";
/** One row per retention run. */
export const AI_RETENTION_RUNS_TABLE = "procos_retention_runs";

/** The AI context tables of the lifecycle, in phase order: real-time, historical, archived. */
export const AI_CONTEXT_PHASE_TABLES = Object.freeze(
  [AI_CONTEXT_TABLE, AI_CONTEXT_HISTORY_TABLE, AI_CONTEXT_ARCHIVE_TABLE] as const,
);

/**
 * The retention phases as the spec names them (`ai.retention`): the duration
 * of each is the age (since `created_at`) at which a row LEAVES that phase.
 */
export const RETENTION_PHASES = ["realtime", "historical", "archived"] as const;

/**
 * What a retention run counts, per context type: rows moved into the
 * historical phase, into the archived phase, rows purged, and rows past their
 * last phase kept because they are not exported yet (only when
 * `ai.retention.export.enabled`).
 */
export const RETENTION_COUNTS = ["historical", "archived", "purged", "unexported"] as const;

/** A key of a retention run's counts. */
export type RetentionCount = (typeof RETENTION_COUNTS)[number];

/** The procedure that applies the policy (see templates/retention.sql.hbs). */
export const APPLY_RETENTION_PROCEDURE = "procos_apply_retention";
/** The function returning the compiled policy, one row per context type. */
export const RETENTION_POLICY_FUNCTION = "procos_retention_policy";
/** The function moving or purging one batch of one phase and context type. */
export const RETENTION_BATCH_FUNCTION = "procos_retention_batch";
/** The function counting what a run at a given instant would do. */
export const RETENTION_PLAN_FUNCTION = "procos_retention_plan";

/** A routine of the retention SQL. */
export interface RetentionRoutine {
  /** Its name (in schema `public`). */
  readonly name: string;
  /** `p` procedure or `f` function (`pg_proc.prokind`). */
  readonly kind: "p" | "f";
  /** Its arguments as `pg_get_function_identity_arguments()` prints them. */
  readonly identityArguments: string;
  /** What it does. */
  readonly what: string;
}

/**
 * The retention routines, as data: rendered by templates/retention.sql.hbs
 * and checked by `verify` (`verify/checks/postgres.ts` reads this export).
 */
export const AI_RETENTION_FUNCTIONS: readonly RetentionRoutine[] = Object.freeze([
  {
    name: APPLY_RETENTION_PROCEDURE,
    kind: "p",
    identityArguments:
      "IN at timestamp with time zone, IN batch_size integer, IN dry_run boolean, INOUT summary jsonb",
    what: "Applies the policy at an instant, one short transaction per batch; records the run.",
  },
  {
    name: RETENTION_POLICY_FUNCTION,
    kind: "f",
    identityArguments: "",
    what: "The policy compiled from ai.retention: one row per context type.",
  },
  {
    name: RETENTION_BATCH_FUNCTION,
    kind: "f",
    identityArguments:
      "phase text, context_type text, at timestamp with time zone, batch_size integer",
    what: "Moves (or purges) one batch of one phase and context type; returns the row count.",
  },
  {
    name: RETENTION_PLAN_FUNCTION,
    kind: "f",
    identityArguments: "at timestamp with time zone",
    what: "Counts what a run at an instant would move, purge and keep un-exported (dry run).",
  },
]);

/** A copy of a context column for a phase table: same name, type and nullability, no default. */
function phaseColumn(c: ColumnSpec): ColumnSpec {
  const comment = c.name === "updated_at"
    ? `Copied from ${AI_CONTEXT_TABLE}: its value when the row left the real-time phase.`
    : c.comment;
  return { name: c.name, type: c.type, nullable: c.nullable, ...(comment ? { comment } : {}) };
}

const movedAt: ColumnSpec = {
  name: "moved_at",
  type: tstz,
  nullable: false,
  default: "now()",
  comment: `When the row left ${AI_CONTEXT_TABLE} (the real-time phase).`,
};

const historyTable: TableSpec = {
  name: AI_CONTEXT_HISTORY_TABLE,
  comment: `The historical phase of the AI context: rows of ${AI_CONTEXT_TABLE} older than ` +
    "ai.retention.realtime, kept for analytics and improvement until ai.retention.historical. " +
    "Moved here by procos_apply_retention(); same columns, plus moved_at.",
  columns: [...contextTable.columns.map(phaseColumn), movedAt],
  constraints: [
    { name: "procos_ai_context_history_pkey", kind: "primary-key", definition: "PRIMARY KEY (id)" },
    {
      name: "procos_ai_context_history_context_type_check",
      kind: "check",
      definition: contextTable.constraints[1].definition,
    },
  ],
  indexes: [
    {
      name: "procos_ai_context_history_type_created_idx",
      method: "btree",
      keys: [{ column: "context_type" }, { column: "created_at" }],
      why: "Lifecycle: the next phase takes the oldest rows of one context type " +
        "(context_type, created_at < cutoff ORDER BY created_at LIMIT n).",
    },
    {
      name: "procos_ai_context_history_instance_created_idx",
      method: "btree",
      keys: [{ column: "process_instance_id" }, { column: "created_at" }],
      why: "Analytics: a conversation's rows, in order.",
    },
    {
      name: "procos_ai_context_history_created_idx",
      method: "btree",
      keys: [{ column: "created_at" }],
      why: "Time-range analytics over the historical phase.",
    },
    {
      name: "procos_ai_context_history_provider_model_idx",
      method: "btree",
      keys: [{ column: "ai_provider" }, { column: "model_used" }],
      why: "Per-provider and per-model analytics.",
    },
    {
      name: "procos_ai_context_history_token_usage_gin",
      method: "gin",
      keys: [{ column: "token_usage" }],
      why: "Token usage analytics: containment and key existence on token_usage.",
    },
    {
      name: "procos_ai_context_history_content_fts",
      method: "gin-fts",
      keys: [{ expression: AI_CONTEXT_FTS_DOCUMENT }],
      why: "Full-text search (ai:search) finds past conversations in every phase; without it a " +
        "search over history is a sequential scan (36 s at 500k rows, docs/benchmarks.md). " +
        "No trigram index here: it costs twice the FTS index and fuzzy search over long texts " +
        "gains little from it.",
    },
  ],
};

const archiveTable: TableSpec = {
  name: AI_CONTEXT_ARCHIVE_TABLE,
  comment: "The archived phase of the AI context, kept for compliance until " +
    "ai.retention.archived, then purged (when ai.retention.export.enabled, only once exported: " +
    "exported_at set). Moved here by procos_apply_retention(); same columns, plus moved_at, " +
    "archived_at and exported_at.",
  columns: [
    ...contextTable.columns.map(phaseColumn),
    withoutDefault({ ...movedAt, comment: "Copied from the historical phase." }),
    {
      name: "archived_at",
      type: tstz,
      nullable: false,
      default: "now()",
      comment: `When the row left ${AI_CONTEXT_HISTORY_TABLE}.`,
    },
    {
      name: "exported_at",
      type: tstz,
      nullable: true,
      comment: "When the row was written to an export file (gzip JSONL) that was fsynced; " +
        "NULL: not exported yet.",
    },
  ],
  constraints: [
    { name: "procos_ai_context_archive_pkey", kind: "primary-key", definition: "PRIMARY KEY (id)" },
    {
      name: "procos_ai_context_archive_context_type_check",
      kind: "check",
      definition: contextTable.constraints[1].definition,
    },
  ],
  indexes: [
    {
      name: "procos_ai_context_archive_type_created_idx",
      method: "btree",
      keys: [{ column: "context_type" }, { column: "created_at" }],
      why: "Lifecycle: the purge takes the oldest rows of one context type past its last phase.",
    },
    {
      name: "procos_ai_context_archive_export_idx",
      method: "btree",
      keys: [{ column: "exported_at" }, { column: "created_at" }],
      why: "Export: the rows not exported yet (exported_at IS NULL), by time range.",
    },
    {
      name: "procos_ai_context_archive_conversation_idx",
      method: "btree",
      keys: [{ column: "process_instance_id" }, { column: "task_id" }, { column: "created_at" }],
      why: "Export: one conversation (process instance and task) per line, its rows in order.",
    },
    {
      name: "procos_ai_context_archive_content_fts",
      method: "gin-fts",
      keys: [{ expression: AI_CONTEXT_FTS_DOCUMENT }],
      why: "Full-text search (ai:search) over archived conversations, as in the other phases.",
    },
  ],
};

function withoutDefault(c: ColumnSpec): ColumnSpec {
  const { default: _d, ...rest } = c;
  return rest;
}

const runsTable: TableSpec = {
  name: AI_RETENTION_RUNS_TABLE,
  comment: "One row per run of procos_apply_retention(): when it ran, the instant the policy " +
    "was applied at, and what it moved or purged (counts). A run that was killed keeps " +
    "finished_at NULL and the counts of the batches it committed.",
  columns: [
    { name: "id", type: "bigint", nullable: false, identity: true },
    { name: "started_at", type: tstz, nullable: false, default: "now()" },
    {
      name: "finished_at",
      type: tstz,
      nullable: true,
      comment: "NULL while running, or when the run died.",
    },
    {
      name: "at",
      type: tstz,
      nullable: false,
      comment: "The instant the policy was applied at (ages are measured to it).",
    },
    { name: "batch_size", type: "integer", nullable: false },
    { name: "dry_run", type: "boolean", nullable: false, default: "false" },
    {
      name: "counts",
      type: "jsonb",
      nullable: false,
      default: "'{}'::jsonb",
      comment: `{${RETENTION_COUNTS.join(", ")}}: each an object of row counts by context type.`,
    },
    { name: "error", type: "text", nullable: true, comment: "Why the run failed, if it did." },
  ],
  constraints: [
    { name: "procos_retention_runs_pkey", kind: "primary-key", definition: "PRIMARY KEY (id)" },
    {
      name: "procos_retention_runs_batch_size_check",
      kind: "check",
      definition: "CHECK (batch_size > 0)",
    },
  ],
  indexes: [
    {
      name: "procos_retention_runs_started_idx",
      method: "btree",
      keys: [{ column: "started_at" }],
      why: "The latest run (verify checks it is within the schedule's period).",
    },
  ],
};

/** The AI tables, in creation order (a table comes after those it references). */
export const AI_TABLES: readonly TableSpec[] = Object.freeze([
  contextTable,
  modelsTable,
  statsTable,
  historyTable,
  archiveTable,
  runsTable,
]);

/**
 * The `updated_at` triggers, one per table written in place (the context,
 * model and statistics tables). The phase copies keep the value the row had
 * when it left the real-time phase, so they have none.
 */
export const AI_TRIGGERS: readonly TriggerSpec[] = Object.freeze(
  [contextTable, modelsTable, statsTable].map((t) => ({
    name: `${t.name}_touch_updated_at`,
    table: t.name,
    function: UPDATED_AT_FUNCTION,
  })),
);

/** Finds a table of {@link AI_TABLES} by name; throws when there is none. */
export function aiTable(name: string): TableSpec {
  const t = AI_TABLES.find((x) => x.name === name);
  if (!t) throw new Error(`no AI table ${name}`);
  return t;
}

/** Every secondary index of {@link AI_TABLES}, with its table's name. */
export function aiIndexes(): Array<IndexSpec & { table: string }> {
  return AI_TABLES.flatMap((t) => t.indexes.map((i) => ({ ...i, table: t.name })));
}

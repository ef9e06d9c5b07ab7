/**
 * The worker manifest: everything a worker (kernel, AI worker, generic worker)
 * needs to run without reading `procos.config.yaml`. The compiler writes one
 * per worker to `out/workers/<name>.json` (`compiler/emit/workers.ts`); the
 * worker reads the file named by `PROCOS_MANIFEST` and checks it with
 * {@link parseWorkerManifest}.
 *
 * This module is the single source of the format: the TypeScript types are
 * inferred from the zod schema, and `schema/worker-manifest.schema.json` is
 * exported from it by `compiler/export_worker_schema.ts` (never edit that file
 * by hand).
 *
 * A manifest holds no credential. Connections that need one name the
 * environment variable the worker reads it from (`*Env` fields); those
 * variables are written to the worker's env file.
 *
 * Durations are integers in milliseconds (`*Ms` fields).
 *
 * @module
 */
import { z } from "zod";

/** The manifest format version written in `manifestVersion`. */
export const WORKER_MANIFEST_VERSION = 1;

/** The table the AI context is stored in (see the infrastructure seed). */
export const AI_CONTEXT_TABLE = "procos_ai_context";

/** Where the kernel container sees the BPMN processes folder. */
export const KERNEL_PROCESSES_PATH = "/procos/processes";

/** The file endings the kernel deploys from the processes folder (lower case). */
export const DEPLOYABLE_EXTENSIONS: readonly string[] = [
  ".bpmn",
  ".bpmn20.xml",
  ".dmn",
  ".dmn11.xml",
  ".form",
];

/** Whether the kernel deploys a file of this name. */
export function isDeployable(name: string): boolean {
  const lower = name.toLowerCase();
  return DEPLOYABLE_EXTENSIONS.some((x) => lower.endsWith(x));
}

/** Environment variables a worker reads connection credentials from. */
export const WORKER_ENV = {
  camundaUsername: "CAMUNDA_USERNAME",
  camundaPassword: "CAMUNDA_PASSWORD",
  rabbitmqUrl: "RABBITMQ_URL",
  databaseUrl: "DATABASE_URL",
  redisUrl: "REDIS_URL",
} as const;

const Milliseconds = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const EnvName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/).meta({
  description: "Name of the environment variable (from the worker's env file) holding the value",
});

const HttpUrl = z.string().regex(/^https?:\/\/[^\s\/]+(\/[^\s]*)?$/).meta({
  description: "An http(s) base URL without credentials",
});

const Name = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/);

const TopicName = z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,127}$/).meta({
  description: "The Camunda external task topic",
});

const RabbitName = z.string().regex(/^[A-Za-z0-9_.-]{1,255}$/);

/** Exponential back-off between retries of a failed task. */
export const BackoffManifest = z.strictObject({
  initialMs: Milliseconds.meta({ description: "Wait before the first retry" }),
  factor: z.number().min(1).max(10).meta({ description: "Multiplier applied after each retry" }),
  maxMs: Milliseconds.meta({ description: "Upper bound of the wait" }),
}).meta({
  id: "Backoff",
  description: "Exponential back-off: wait = min(initialMs * factor^n, maxMs)",
});

const topicCommon = {
  name: TopicName,
  lockDurationMs: Milliseconds.meta({ description: "Camunda fetchAndLock lockDuration" }),
  retries: z.number().int().min(0).max(100).meta({
    description: "Retries after the first failure before an incident is raised",
  }),
  backoff: BackoffManifest,
};

/** A topic served by the AI worker. */
export const AiTopicManifest = z.strictObject({
  ...topicCommon,
  provider: Name.meta({ description: "The AI provider offering the model" }),
  model: z.string().min(1).max(200).meta({ description: "Model name as the provider knows it" }),
  contextWindow: z.number().int().min(1).meta({
    description: "The model's context window (tokens)",
  }),
  rateLimitPerMinute: z.number().int().min(1).meta({
    description: "Requests per minute the model may receive",
  }),
  prompt: z.string().min(1).max(100_000).meta({
    description: "Handlebars template, rendered by the worker with the task's variables",
  }),
  cache: z.boolean().meta({ description: "Whether responses may be cached" }),
}).meta({ id: "AiTopic" });

/** A topic served by the generic worker. */
export const GenericTopicManifest = z.strictObject({
  ...topicCommon,
  type: z.enum(["http", "sql", "publish", "redis", "noop", "retention"]).meta({
    description: "The built-in task handler",
  }),
}).meta({ id: "GenericTopic" });

/** How to reach the Camunda engine's REST API. */
export const CamundaConnection = z.strictObject({
  baseUrl: HttpUrl.meta({ description: "The engine-rest base URL" }),
  auth: z.boolean().meta({ description: "Whether the REST API requires HTTP basic auth" }),
  usernameEnv: EnvName,
  passwordEnv: EnvName,
}).meta({ id: "CamundaConnection" });

/** Where workers publish task events. */
export const EventsManifest = z.strictObject({
  urlEnv: EnvName.meta({ description: "Environment variable holding the AMQP URL" }),
  exchange: RabbitName,
  routingKeys: z.strictObject({
    taskCompleted: z.string().min(1).max(255),
    taskFailed: z.string().min(1).max(255),
  }),
  deadLetterExchange: RabbitName,
}).meta({ id: "Events" });

const common = {
  manifestVersion: z.literal(WORKER_MANIFEST_VERSION),
  project: Name,
  profile: z.enum(["development", "production"]),
  specHash: z.string().regex(/^[0-9a-f]{64}$/).meta({
    description: "sha256 of the spec file the manifest was compiled from",
  }),
  name: Name.meta({ description: "The worker's name (its service name)" }),
  healthPort: z.number().int().min(1).max(65535).meta({
    description: "Port of the worker's GET /health endpoint",
  }),
  camunda: CamundaConnection,
  ollama: z.strictObject({ baseUrl: HttpUrl }),
  events: EventsManifest,
  aiContext: z.strictObject({
    table: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/),
    databaseUrlEnv: EnvName,
  }),
  redis: z.strictObject({ urlEnv: EnvName }),
};

/** The kernel's manifest: deploys processes, pulls models, starts the workers. */
export const KernelManifest = z.strictObject({
  ...common,
  kind: z.literal("kernel"),
  processes: z.strictObject({
    path: z.string().regex(/^\//).meta({ description: "Container path of the BPMN folder" }),
    boot: z.array(z.string().min(1)).meta({ description: "Process ids started at boot" }),
  }),
  models: z.array(z.strictObject({ provider: Name, name: z.string().min(1).max(200) })).meta({
    description: "Every model of every provider, pulled if absent",
  }),
  startOrder: z.array(Name).meta({ description: "The other workers, in start order" }),
}).meta({ id: "KernelManifest" });

/** The AI worker's manifest. */
export const AiWorkerManifest = z.strictObject({
  ...common,
  kind: z.literal("ai"),
  concurrency: z.number().int().min(1).max(256),
  topics: z.array(AiTopicManifest).min(1),
}).meta({ id: "AiWorkerManifest" });

/** The archive export of the `retention` task type (the spec's `ai.retention.export`). */
export const RetentionExportManifest = z.strictObject({
  enabled: z.boolean().meta({
    description: "Whether archived rows are exported (and only exported rows purged)",
  }),
  path: z.string().regex(/^\/[^\0]*$/).meta({
    description: "Container path of the export folder (gzip JSONL files)",
  }),
}).meta({ id: "RetentionExport" });

/** The generic worker's manifest. */
export const GenericWorkerManifest = z.strictObject({
  ...common,
  kind: z.literal("generic"),
  concurrency: z.number().int().min(1).max(256),
  topics: z.array(GenericTopicManifest).min(1),
  retentionExport: RetentionExportManifest.optional().meta({
    description: "Present when a topic has the type retention",
  }),
}).meta({ id: "GenericWorkerManifest" });

/** Any worker manifest, told apart by `kind`. */
export const WorkerManifest = z.discriminatedUnion("kind", [
  KernelManifest,
  AiWorkerManifest,
  GenericWorkerManifest,
]).meta({
  title: "ProcOS worker manifest",
  description: "Generated by the ProcOS compiler into out/workers/<name>.json. Do not edit.",
});

/** Any worker manifest. */
export type WorkerManifest = z.infer<typeof WorkerManifest>;
/** The kernel's manifest. */
export type KernelManifest = z.infer<typeof KernelManifest>;
/** The AI worker's manifest. */
export type AiWorkerManifest = z.infer<typeof AiWorkerManifest>;
/** The generic worker's manifest. */
export type GenericWorkerManifest = z.infer<typeof GenericWorkerManifest>;
/** One AI topic. */
export type AiTopicManifest = z.infer<typeof AiTopicManifest>;
/** One generic topic. */
export type GenericTopicManifest = z.infer<typeof GenericTopicManifest>;

/**
 * Parses and checks a manifest (the value of the JSON file). Throws an Error
 * naming every problem.
 */
export function parseWorkerManifest(value: unknown): WorkerManifest {
  const r = WorkerManifest.safeParse(value);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) =>
    `${i.path.map(String).join(".") || "(root)"}: ${i.message}`
  );
  throw new Error(`invalid worker manifest:\n  ${problems.join("\n  ")}`);
}

/** The manifest format as a JSON Schema (draft 2020-12) value. */
export function workerManifestJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(WorkerManifest, { target: "draft-2020-12" }) as Record<string, unknown>;
}

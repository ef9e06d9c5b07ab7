/**
 * The schema of `procos.config.yaml`, written once in zod.
 *
 * Everything structural lives here; rules that span several fields (a
 * dependency on a service that does not exist, a port used twice, ...) live in
 * `compiler/rules/`, one file each. `schema/procos.schema.json` is exported
 * from this module by `deno task schema` and must never be edited by hand.
 *
 * @module
 */
import { z } from "zod";
import { WORKER_IMAGE } from "./images.ts";
import { DEFAULT_DISTRIBUTION, DISTRIBUTIONS } from "./engines.ts";
import { IMAGE_REFERENCE } from "./image_ref.ts";

/** A duration such as `30s`, `5m`, `7d` (units: ms, s, m, h, d). */
export const Duration = z.string().regex(/^[0-9]{1,9}(ms|s|m|h|d)$/, {
  message: "a duration such as 30s, 5m, 12h or 7d",
});

/** A memory size for Compose, such as `512m` or `2g`. */
export const MemorySize = z.string().regex(/^[1-9][0-9]{0,6}(k|m|g)$/, {
  message: "a memory size such as 512m or 2g",
});

/** A DNS-label-like name used for services, workers, volumes. */
export const Name = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, {
  message: "a lower-case name of letters, digits, '-' or '_', starting with a letter",
});

/**
 * A container image reference, `[host[:port]/]path[:tag][@digest]` (the OCI
 * distribution grammar, `compiler/image_ref.ts`).
 */
export const Image = z.string().max(512).regex(IMAGE_REFERENCE, {
  message:
    "an image reference such as postgres:15-alpine or registry.example.com:5000/team/app@sha256:...",
});

/** A TCP port number. */
export const Port = z.number().int().min(1).max(65535);

/** A credential: read from an environment variable or a secret file. */
export const Secret = z.strictObject({
  env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, {
    message: "an environment variable name such as PROCOS_POSTGRES_PASSWORD",
  }).optional(),
  file: z.string().min(1).optional(),
  default: z.string().min(1).max(256).optional(),
});

/** A published port. */
export const PortMapping = z.strictObject({
  target: Port,
  published: Port,
  host_ip: z.union([z.ipv4(), z.ipv6()]).optional(),
});

/** A volume mount: a named volume or a relative host path (`./...`). */
export const VolumeMount = z.strictObject({
  source: z.string().regex(/^([a-z][a-z0-9_-]*|\.\/[A-Za-z0-9_.\/-]*)$/, {
    message: "a volume name such as postgres_data, or a relative path such as ./processes",
  }),
  target: z.string().regex(/^\/[^\0]*$/, { message: "an absolute path in the container" }),
  read_only: z.boolean().optional(),
});

/** Health check timings (the command comes from the service kind). */
export const Healthcheck = z.strictObject({
  interval: Duration,
  timeout: Duration,
  retries: z.number().int().min(1).max(100),
  start_period: Duration,
});

/** CPU and memory allocation. */
export const Resources = z.strictObject({
  cpus: z.number().positive().max(256),
  memory: MemorySize,
});

/** Compose restart policies. */
export const RestartPolicy = z.enum(["no", "always", "on-failure", "unless-stopped"]);

const serviceBase = {
  image: Image,
  ports: z.array(PortMapping).max(32).default([]),
  volumes: z.array(VolumeMount).max(32).default([]),
  healthcheck: Healthcheck,
  resources: Resources,
  restart: RestartPolicy.default("unless-stopped"),
  depends_on: z.array(Name).max(32).default([]),
  external: z.boolean().default(false),
  /**
   * Where an external service runs (a host name or an IPv4 address); its
   * ports' `published` numbers are where it listens there. Without it, an
   * external service runs on the Docker host.
   */
  host: z.string().regex(
    /^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/,
    { message: "a host name or an IPv4 address, such as gpu-1.example.com" },
  ).max(253).optional(),
};

/** PostgreSQL: the process engine's and the AI context's database. */
export const PostgresService = z.strictObject({
  kind: z.literal("postgres"),
  ...serviceBase,
  database: z.strictObject({
    name: Name,
    user: Name,
    password: Name,
    /**
     * The secret of the cluster's superuser (`postgres`), which only the
     * set-up job uses; the application role is an ordinary one. Defaults to
     * `password`'s secret.
     */
    superuser_password: Name.optional(),
  }),
});

/** Redis: cache, sessions and rate limits. */
export const RedisService = z.strictObject({
  kind: z.literal("redis"),
  ...serviceBase,
  cache: z.strictObject({
    persistence: z.enum(["none", "rdb", "aof"]),
    maxmemory_policy: z.enum([
      "noeviction",
      "allkeys-lru",
      "allkeys-lfu",
      "volatile-lru",
      "volatile-lfu",
      "allkeys-random",
      "volatile-random",
      "volatile-ttl",
    ]),
    auth: z.boolean(),
    password: Name,
  }),
});

/** RabbitMQ: worker messaging. */
export const RabbitmqService = z.strictObject({
  kind: z.literal("rabbitmq"),
  ...serviceBase,
  broker: z.strictObject({
    vhost: z.string().regex(/^[A-Za-z0-9_.\/-]{1,64}$/, { message: "a vhost name such as procos" }),
    user: Name,
    password: Name,
  }),
});

/** Ollama: local LLM inference. */
export const OllamaService = z.strictObject({
  kind: z.literal("ollama"),
  ...serviceBase,
});

/** The Camunda 7 engine: Camunda 7 CE or Operaton (`engine.distribution`, `engines.ts`). */
export const CamundaService = z.strictObject({
  kind: z.literal("camunda"),
  ...serviceBase,
  // The ProcOS engine, built from engine/: what the tests run is what users run. Without
  // `image:`, the distribution's (compiler/engines.ts): procos/engine:7.24.0 for Camunda.
  image: Image.optional(),
  engine: z.strictObject({
    distribution: z.enum(DISTRIBUTIONS).default(DEFAULT_DISTRIBUTION),
    database: Name,
    admin_user: Name,
    admin_password: Name,
    rest_auth: z.boolean(),
    history_level: z.enum(["none", "activity", "audit", "full"]),
  }),
});

/** Any infrastructure service, told apart by `kind`. */
export const Service = z.discriminatedUnion("kind", [
  PostgresService,
  RedisService,
  RabbitmqService,
  OllamaService,
  CamundaService,
]);

/** Exponential back-off between retries of a failed task. */
export const Backoff = z.strictObject({
  initial: Duration,
  factor: z.number().min(1).max(10),
  max: Duration,
});

const topicBase = {
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,127}$/, {
    message: "a topic name such as ai-generate",
  }),
  lock_duration: Duration,
  retries: z.number().int().min(0).max(100),
  backoff: Backoff,
};

/** A topic served by the AI worker. */
export const AiTopic = z.strictObject({
  ...topicBase,
  model: z.string().min(1).max(200),
  prompt: z.string().min(1).max(100_000),
  cache: z.boolean().default(false),
});

/** A topic served by the generic worker, with its built-in task type. */
export const GenericTopic = z.strictObject({
  ...topicBase,
  type: z.enum(["http", "sql", "publish", "redis", "noop", "retention"]),
});

const workerBase = {
  depends_on: z.array(Name).max(32).default([]),
  health_port: Port,
  image: Image.default(WORKER_IMAGE),
};

/** The kernel: deploys processes, pulls models, starts the workers. */
export const KernelWorker = z.strictObject({ kind: z.literal("kernel"), ...workerBase });

/** The AI worker. */
export const AiWorker = z.strictObject({
  kind: z.literal("ai"),
  ...workerBase,
  concurrency: z.number().int().min(1).max(256),
  topics: z.array(AiTopic).min(1).max(256),
});

/** The generic worker. */
export const GenericWorker = z.strictObject({
  kind: z.literal("generic"),
  ...workerBase,
  concurrency: z.number().int().min(1).max(256),
  topics: z.array(GenericTopic).min(1).max(256),
});

/** Any worker, told apart by `kind`. */
export const Worker = z.discriminatedUnion("kind", [KernelWorker, AiWorker, GenericWorker]);

/** A retention policy: the age at which a row leaves each phase. */
export const RetentionPhases = z.strictObject({
  realtime: Duration,
  historical: Duration,
  archived: Duration,
});

/** The AI section: providers, models and the context retention policy. */
export const Ai = z.strictObject({
  providers: z.array(z.strictObject({
    name: Name,
    service: Name,
    models: z.array(z.strictObject({
      name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:\/-]{0,199}$/, {
        message: "a model name such as llama3.2:1b",
      }),
      context_window: z.number().int().min(256).max(10_000_000),
      rate_limit_per_minute: z.number().int().min(1).max(1_000_000),
    })).min(1).max(64),
  })).min(1).max(16),
  default_model: z.string().min(1),
  retention: z.strictObject({
    ...RetentionPhases.shape,
    export: z.strictObject({
      enabled: z.boolean(),
      path: z.string().regex(/^\/[^\0]*$/, { message: "an absolute path" }),
    }),
    overrides: z.partialRecord(z.enum(["input", "output", "system"]), RetentionPhases).default({}),
    /** How often the procos-retention process applies the policy (its BPMN timer cycle). */
    schedule: Duration.default("1h"),
  }),
});

/** RabbitMQ topology and the events the workers publish. */
export const Messaging = z.strictObject({
  broker: Name,
  dead_letter_exchange: z.string().regex(/^[A-Za-z0-9_.-]{1,255}$/),
  exchanges: z.array(z.strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,255}$/, { message: "an exchange name" }),
    type: z.enum(["direct", "topic", "fanout", "headers"]),
  })).min(1).max(64),
  queues: z.array(z.strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,255}$/, { message: "a queue name" }),
    exchange: z.string().min(1),
    routing_key: z.string().max(255),
    dead_letter: z.boolean(),
  })).max(256),
  events: z.strictObject({
    exchange: z.string().min(1),
    task_completed: z.string().min(1).max(255),
    task_failed: z.string().min(1).max(255),
  }),
});

/** Production extras: backups. */
export const Backup = z.strictObject({
  schedule: z.string().regex(/^(\S+\s+){4}\S+$/, {
    message: "a cron expression such as 0 3 * * *",
  }),
  retention_days: z.number().int().min(1).max(3650),
  path: z.string().regex(/^\.\/[A-Za-z0-9_.\/-]*$/, {
    message: "a relative path such as ./backups",
  }),
  /**
   * Point-in-time recovery: PostgreSQL archives its WAL into `<path>/wal`, and
   * each scheduled run also takes a base backup into `<path>/base`.
   */
  wal_archive: z.boolean().optional(),
});

/** The whole spec, after a profile has been applied. */
export const Spec = z.strictObject({
  version: z.literal(1),
  project: Name,
  network: z.strictObject({
    name: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/),
    driver: z.enum(["bridge"]),
    subnet: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, {
      message: "a CIDR such as 172.28.0.0/16",
    }).optional(),
  }),
  secrets: z.record(Name, Secret),
  services: z.record(Name, Service),
  messaging: Messaging,
  ai: Ai,
  processes: z.strictObject({
    path: z.string().min(1),
    boot: z.array(z.string().min(1)).default([]),
  }),
  workers: z.record(Name, Worker),
  backup: Backup.optional(),
  monitoring: z.strictObject({
    exporters: z.boolean(),
    /**
     * Production: a `verify` container serving `deno task verify serve`
     * (`/healthz`, `/metrics`) on 127.0.0.1:9200 (docs/verify.md).
     */
    verify: z.boolean().optional(),
  }).optional(),
  security: z.strictObject({ hardening: z.boolean() }).optional(),
});

/**
 * The file as written: the spec plus `profiles`, overlays merged over the base
 * (objects deep-merged, arrays replaced). Overlays are checked after merging,
 * so an overlay error is located in the overlay.
 */
export const SpecFile = Spec.extend({
  profiles: z.strictObject({
    development: z.record(z.string(), z.unknown()).optional(),
    production: z.record(z.string(), z.unknown()).optional(),
  }).optional(),
});

/** A validated spec with a profile applied. */
export type Spec = z.infer<typeof Spec>;
/** One infrastructure service. */
export type Service = z.infer<typeof Service>;
/** One worker. */
export type Worker = z.infer<typeof Worker>;
export { type ProfileName, PROFILES } from "./profile.ts";

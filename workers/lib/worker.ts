/**
 * The common start of a task worker process (AI and generic): load the
 * manifest, connect (PostgreSQL, Redis, RabbitMQ, Camunda), serve `/health`
 * and `/metrics`, subscribe the topics, poll, and shut down cleanly on
 * SIGTERM (see `lifecycle.ts`).
 *
 * Environment (besides the connections the manifest names):
 * - `PROCOS_MANIFEST`: the manifest file (default `/procos/manifest.json`);
 * - `PROCOS_HEALTH_PORT`: overrides the manifest's health port (0: any);
 * - `PROCOS_POLL_INTERVAL_MS` (default 0: long polling already keeps an idle worker quiet), `PROCOS_POLL_TIMEOUT_MS` (long
 *   polling, default 5000), `PROCOS_POLL_MAX_BACKOFF_MS` (default 30000);
 * - `PROCOS_REDIS_PREFIX` (default `procos:`);
 * - `PROCOS_SHUTDOWN_GRACE_MS`, `PROCOS_SHUTDOWN_TIMEOUT_MS`, `PROCOS_LOG_LEVEL`.
 *
 * @module
 */
import { createWorkerClient, type WorkerClient } from "./camunda.ts";
import { type Cache, createCache } from "./cache.ts";
import { createEventPublisher, type EventPublisher } from "./events.ts";
import { startHealthServer, type TaskMetrics, taskMetrics } from "./health.ts";
import { installLifecycle, type Lifecycle } from "./lifecycle.ts";
import { createLogger, errorMessage, type Logger, safeUrl } from "./log.ts";
import {
  type AiWorkerManifest,
  type Connections,
  envInt,
  type GenericWorkerManifest,
  loadManifestOf,
  resolveConnections,
} from "./manifest.ts";
import { createRunner, type TopicHandler } from "./runner.ts";
import { connectDatabase, type Sql } from "./store.ts";

/** What a worker's topic handlers are built from. */
export interface WorkerDeps<M> {
  /** The manifest. */
  manifest: M;
  /** The logger. */
  log: Logger;
  /** The connections (hold secrets: never log). */
  conn: Connections;
  /** The database pool, when `DATABASE_URL` (the manifest's variable) is set. */
  sql?: Sql;
  /** The Redis cache, when the Redis URL is set. */
  cache?: Cache;
  /** The RabbitMQ publisher, when the AMQP URL is set. */
  publisher?: EventPublisher;
  /** The polling client. */
  client: WorkerClient;
  /** The metrics. */
  metrics: TaskMetrics;
  /** The lifecycle. */
  lifecycle: Lifecycle;
}

/** Options of {@link runTaskWorker}. */
export interface RunTaskWorkerOptions<M> {
  /** The worker kind the manifest must have. */
  kind: "ai" | "generic";
  /** Fail at start when the database URL is missing. */
  needsDatabase: boolean;
  /** Builds the topic handlers. */
  topics: (deps: WorkerDeps<M>) => TopicHandler[];
}

/** A unique id for this process (a restarted worker is another worker to Camunda). */
export function workerId(name: string): string {
  let host = "local";
  try {
    host = Deno.hostname();
  } catch {
    // no --allow-sys
  }
  const rnd = [...crypto.getRandomValues(new Uint8Array(3))].map((b) =>
    b.toString(16).padStart(2, "0")
  ).join("");
  return `${name}@${host}:${Deno.pid}:${rnd}`;
}

/** Runs a task worker until SIGTERM. Exits with status 2 on a start-up error. */
export async function runTaskWorker<M extends AiWorkerManifest | GenericWorkerManifest>(
  opts: RunTaskWorkerOptions<M>,
): Promise<void> {
  let log = createLogger({ kind: opts.kind });
  let manifest: M;
  let conn: Connections;
  try {
    manifest = await loadManifestOf(opts.kind) as M;
    log = createLogger({ worker: manifest.name, kind: opts.kind });
    conn = resolveConnections(manifest);
    if (opts.needsDatabase && !conn.databaseUrl) {
      throw new Error(`${manifest.aiContext.databaseUrlEnv} is not set`);
    }
  } catch (e) {
    log.error("cannot start", { error: errorMessage(e) });
    Deno.exit(2);
  }
  const lifecycle = installLifecycle({ log });
  const id = workerId(manifest.name);
  log.info("starting", {
    workerId: id,
    camunda: safeUrl(conn.camundaUrl),
    ollama: safeUrl(conn.ollamaUrl),
    topics: manifest.topics.map((t) => t.name),
    concurrency: manifest.concurrency,
    specHash: manifest.specHash,
  });

  const sql = conn.databaseUrl
    ? connectDatabase(conn.databaseUrl, { max: manifest.concurrency + 1 })
    : undefined;
  const cache = conn.redisUrl
    ? createCache({
      url: conn.redisUrl,
      prefix: Deno.env.get("PROCOS_REDIS_PREFIX") ?? "procos:",
      log: log.child({ component: "redis" }),
    })
    : undefined;
  const publisher = conn.rabbitmqUrl
    ? createEventPublisher({
      url: conn.rabbitmqUrl,
      exchange: manifest.events.exchange,
      deadLetterExchange: manifest.events.deadLetterExchange,
      appId: manifest.name,
      log: log.child({ component: "events" }),
    })
    : undefined;
  if (!conn.redisUrl) log.warn(`${manifest.redis.urlEnv} not set: no rate limit, no cache`);
  if (!conn.rabbitmqUrl) log.warn(`${manifest.events.urlEnv} not set: no task events`);

  const metrics = taskMetrics();
  const client = createWorkerClient({
    baseUrl: conn.camundaUrl,
    auth: conn.camundaAuth,
    workerId: id,
    maxTasks: manifest.concurrency,
    pollIntervalMs: envInt("PROCOS_POLL_INTERVAL_MS", 0),
    asyncResponseTimeoutMs: envInt("PROCOS_POLL_TIMEOUT_MS", 5000),
    maxPollIntervalMs: envInt("PROCOS_POLL_MAX_BACKOFF_MS", 30_000),
    log: log.child({ component: "camunda" }),
  });
  const runner = createRunner({
    worker: manifest.name,
    client,
    metrics,
    log,
    events: publisher
      ? {
        publisher,
        taskCompleted: manifest.events.routingKeys.taskCompleted,
        taskFailed: manifest.events.routingKeys.taskFailed,
      }
      : undefined,
  });
  const deps: WorkerDeps<M> = {
    manifest,
    log,
    conn,
    sql,
    cache,
    publisher,
    client,
    metrics,
    lifecycle,
  };
  try {
    for (const h of opts.topics(deps)) runner.add(h);
  } catch (e) {
    log.error("cannot start", { error: errorMessage(e) });
    Deno.exit(2);
  }

  const health = startHealthServer({
    port: envInt("PROCOS_HEALTH_PORT", manifest.healthPort),
    metrics: metrics.registry,
    log,
    check: () => {
      const s = client.status();
      const ev = publisher?.status();
      return {
        ok: !lifecycle.stopping() && s.polling && s.reachable,
        worker: manifest.name,
        workerId: id,
        camunda: { polling: s.polling, reachable: s.reachable, lastError: s.lastError ?? null },
        tasksInFlight: runner.inFlight(),
        redis: cache ? { ready: cache.ready() } : null,
        events: ev ?? null,
      };
    },
  });

  lifecycle.onStop("polling and tasks in hand", () => runner.stop());
  if (publisher) lifecycle.onStop("events", () => publisher.close(5000));
  if (cache) lifecycle.onStop("redis", () => cache.close());
  if (sql) lifecycle.onStop("database", () => sql.end({ timeout: 5 }));
  lifecycle.onStop("health", () => health.close());
  runner.start();
}

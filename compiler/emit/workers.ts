/**
 * Worker manifests: `workers/<name>.json`, one per worker of the spec, in the
 * format of `compiler/worker_manifest.ts`. A manifest holds everything the
 * worker needs to run without reading the spec, and no credential: those stay
 * in the worker's env file, named by the manifest's `*Env` fields.
 *
 * @module
 */
import type { Artifact } from "./artifact.ts";
import type { StackModel } from "../model.ts";
import { AiTopic, GenericTopic } from "../schema.ts";
import { parseDuration } from "../duration.ts";
import {
  AI_CONTEXT_TABLE,
  type AiTopicManifest,
  type GenericTopicManifest,
  KERNEL_PROCESSES_PATH,
  WORKER_ENV,
  WORKER_MANIFEST_VERSION,
  WorkerManifest,
} from "../worker_manifest.ts";

type WorkerModel = StackModel["workers"][number];

/** Emits `workers/<name>.json` for every worker of the model. Pure. */
export function emitWorkers(model: StackModel): Artifact[] {
  return model.workers.map((w) => ({
    path: `workers/${w.name}.json`,
    content: JSON.stringify(workerManifest(model, w), null, 2) + "\n",
  }));
}

/**
 * Builds one worker's manifest. Keys are inserted in a fixed order, so the
 * serialised manifest is byte-stable. Throws if the result does not satisfy
 * the manifest schema (a compiler bug) or a topic names an unknown model.
 */
export function workerManifest(model: StackModel, w: WorkerModel): WorkerManifest {
  const head: Pick<
    WorkerManifest,
    "manifestVersion" | "project" | "profile" | "specHash" | "name"
  > = {
    manifestVersion: WORKER_MANIFEST_VERSION,
    project: model.project,
    profile: model.profile,
    specHash: model.specHash,
    name: w.name,
  };
  const common = {
    healthPort: w.healthPort,
    camunda: {
      baseUrl: `http://${model.camunda.host}:${model.camunda.port}/engine-rest`,
      auth: model.camunda.restAuth,
      usernameEnv: WORKER_ENV.camundaUsername,
      passwordEnv: WORKER_ENV.camundaPassword,
    },
    ollama: { baseUrl: `http://${model.ollama.host}:${model.ollama.port}` },
    events: {
      urlEnv: WORKER_ENV.rabbitmqUrl,
      exchange: model.messaging.events.exchange,
      routingKeys: {
        taskCompleted: model.messaging.events.task_completed,
        taskFailed: model.messaging.events.task_failed,
      },
      deadLetterExchange: model.messaging.dead_letter_exchange,
    },
    aiContext: { table: AI_CONTEXT_TABLE, databaseUrlEnv: WORKER_ENV.databaseUrl },
    redis: { urlEnv: WORKER_ENV.redisUrl },
  };
  let manifest: WorkerManifest;
  switch (w.kind) {
    case "kernel":
      manifest = {
        ...head,
        kind: "kernel",
        ...common,
        processes: { path: KERNEL_PROCESSES_PATH, boot: [...model.processes.boot] },
        models: model.ai.providers.flatMap((p) =>
          p.models.map((m) => ({ provider: p.name, name: m.name }))
        ),
        startOrder: model.services
          .filter((s) => s.role === "worker" && s.name !== w.name)
          .map((s) => s.name),
      };
      break;
    case "ai":
      manifest = {
        ...head,
        kind: "ai",
        ...common,
        concurrency: w.concurrency,
        topics: w.topics.map((t) => aiTopic(model, w.name, t)),
      };
      break;
    case "generic":
      manifest = {
        ...head,
        kind: "generic",
        ...common,
        concurrency: w.concurrency,
        topics: w.topics.map((t) => genericTopic(t)),
      };
      // The retention task type exports the archive as `deno task retention` does.
      if (manifest.topics.some((t) => t.type === "retention")) {
        const { enabled, path } = model.ai.retention.export;
        manifest.retentionExport = { enabled, path };
      }
      break;
  }
  const checked = WorkerManifest.safeParse(manifest);
  if (!checked.success) {
    throw new Error(`worker ${w.name}: emitted manifest is invalid: ${checked.error.message}`);
  }
  return manifest;
}

function topicCommon(t: {
  name: string;
  lock_duration: string;
  retries: number;
  backoff: { initial: string; factor: number; max: string };
}) {
  return {
    name: t.name,
    lockDurationMs: parseDuration(t.lock_duration),
    retries: t.retries,
    backoff: {
      initialMs: parseDuration(t.backoff.initial),
      factor: t.backoff.factor,
      maxMs: parseDuration(t.backoff.max),
    },
  };
}

function aiTopic(model: StackModel, worker: string, raw: unknown): AiTopicManifest {
  const t = AiTopic.parse(raw);
  for (const p of model.ai.providers) {
    const m = p.models.find((x) => x.name === t.model);
    if (m) {
      return {
        ...topicCommon(t),
        provider: p.name,
        model: m.name,
        contextWindow: m.context_window,
        rateLimitPerMinute: m.rate_limit_per_minute,
        prompt: t.prompt,
        cache: t.cache,
      };
    }
  }
  throw new Error(`worker ${worker}, topic ${t.name}: no AI provider offers model ${t.model}`);
}

function genericTopic(raw: unknown): GenericTopicManifest {
  const t = GenericTopic.parse(raw);
  return { ...topicCommon(t), type: t.type };
}

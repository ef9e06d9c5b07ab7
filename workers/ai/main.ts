/**
 * The ProcOS AI worker: serves the AI topics of its manifest (Camunda
 * external tasks) with Ollama, storing every prompt and answer in the AI
 * context table before completing the task. See `handler.ts` for one task's
 * life and `docs/workers.md` for the whole picture.
 *
 * Run: `deno run -A workers/ai/main.ts` with `PROCOS_MANIFEST` naming the
 * manifest (`out/workers/ai-worker.json`) and the env file's variables.
 * Extra settings: `PROCOS_AI_TIMEOUT_MS` (default 600000),
 * `PROCOS_AI_IDLE_TIMEOUT_MS` (default 300000), `PROCOS_AI_CACHE_TTL_S`
 * (default 86400), and those of `workers/lib/worker.ts`.
 *
 * @module
 */
import type { AiWorkerManifest } from "../../compiler/worker_manifest.ts";
import { envInt } from "../lib/manifest.ts";
import { runTaskWorker } from "../lib/worker.ts";
import { aiTopicHandler } from "./handler.ts";

/** Starts the AI worker. */
export async function main(): Promise<void> {
  await runTaskWorker<AiWorkerManifest>({
    kind: "ai",
    needsDatabase: true,
    topics: ({ manifest, conn, sql, cache, metrics }) => {
      const r = metrics.registry;
      const aiMetrics = {
        tokens: r.counter("procos_ai_tokens_total", "Tokens processed, by model and kind."),
        truncated: r.counter(
          "procos_ai_truncated_total",
          "Generations cut short (done_reason length), by model.",
        ),
        cacheHits: r.counter("procos_ai_cache_hits_total", "Answers served from the cache."),
        generation: r.histogram(
          "procos_ai_generation_seconds",
          "Wall time of a streamed generation, by model.",
        ),
      };
      return manifest.topics.map((topic) =>
        aiTopicHandler({
          topic,
          table: manifest.aiContext.table,
          sql: sql!,
          cache,
          ollamaUrl: conn.ollamaUrl,
          timeoutMs: envInt("PROCOS_AI_TIMEOUT_MS", 600_000),
          idleTimeoutMs: envInt("PROCOS_AI_IDLE_TIMEOUT_MS", 300_000),
          cacheTtlSeconds: envInt("PROCOS_AI_CACHE_TTL_S", 86_400),
          metrics: aiMetrics,
        })
      );
    },
  });
}

if (import.meta.main) await main();

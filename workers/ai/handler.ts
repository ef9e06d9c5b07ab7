/**
 * One AI topic: render the prompt, ask Ollama (streaming), store prompt and
 * answer in the AI context table, then hand the answer to Camunda.
 *
 * Order of work for a task:
 * 1. If the task's output row exists already (the task was fetched again
 *    after its worker died, or after a completion that did not reach
 *    Camunda), complete from that row: no second generation, no second row.
 * 2. Render the prompt (a missing variable: incident at once).
 * 3. With `cache: true`, look the answer up in Redis (model + prompt hash).
 * 4. Otherwise wait for the model's rate limit (Redis), then generate.
 * 5. Store input and output rows in one transaction, idempotently
 *    (`store.ts`), before completing.
 * 6. Return the variables ({@link answerVariables}).
 *
 * Failures (Ollama unreachable, model missing, timeout, database down) are
 * thrown to the runner, which retries with the topic's back-off and raises
 * the incident after the last retry.
 *
 * @module
 */
import type { AiTopicManifest } from "../../compiler/worker_manifest.ts";
import { AI_MODEL_STATS_TABLE, AI_MODELS_TABLE } from "../../compiler/ai_schema.ts";
import type { TypedValue } from "../lib/camunda.ts";
import type { Cache, CachedAnswer } from "../lib/cache.ts";
import type { Counter, Histogram } from "../lib/health.ts";
import { errorMessage } from "../lib/log.ts";
import {
  type TaskContext,
  TaskFailure,
  type TaskResult,
  type TopicHandler,
} from "../lib/runner.ts";
import {
  contextRowId,
  countAiFailure,
  findAiOutput,
  isTransientDbError,
  saveAiExchange,
  type Sql,
} from "../lib/store.ts";
import { generate, GenerationError } from "./generate.ts";
import { compilePrompt, MissingVariablesError } from "./prompt.ts";

/**
 * Longest answer sent as a `String` variable. Camunda keeps String variables
 * in `varchar(4000)` columns (characters; a JS string's length in UTF-16
 * units is never less than its count of characters), so longer answers go as
 * a `Json` variable, which Camunda stores in a byte array and never cuts.
 */
export const MAX_STRING_VARIABLE_CHARS = 4000;

/** Names of the variables an AI task sets. */
export const AI_VARIABLES = {
  answer: "aiAnswer",
  contextId: "aiContextId",
  inputContextId: "aiInputContextId",
  model: "aiModel",
  doneReason: "aiDoneReason",
  truncated: "aiTruncated",
  promptTokens: "aiPromptTokens",
  completionTokens: "aiCompletionTokens",
  answerChars: "aiAnswerChars",
} as const;

/** The answer as a Camunda variable that cannot be cut: `String` up to 4000 characters, else `Json` (a JSON string). */
export function answerValue(answer: string): TypedValue {
  return answer.length <= MAX_STRING_VARIABLE_CHARS
    ? { type: "String", value: answer }
    : { type: "Json", value: JSON.stringify(answer) };
}

/** The variables a completed AI task sets. */
export function answerVariables(a: {
  answer: string;
  outputId: string;
  inputId: string;
  model: string;
  doneReason: string;
  promptTokens: number;
  completionTokens: number;
}): Record<string, TypedValue> {
  const int = (n: number): TypedValue =>
    Number.isSafeInteger(n) && Math.abs(n) < 2 ** 31
      ? { type: "Integer", value: n }
      : { type: "Long", value: n };
  return {
    [AI_VARIABLES.answer]: answerValue(a.answer),
    [AI_VARIABLES.contextId]: { type: "String", value: a.outputId },
    [AI_VARIABLES.inputContextId]: { type: "String", value: a.inputId },
    [AI_VARIABLES.model]: { type: "String", value: a.model },
    [AI_VARIABLES.doneReason]: { type: "String", value: a.doneReason },
    [AI_VARIABLES.truncated]: { type: "Boolean", value: a.doneReason === "length" },
    [AI_VARIABLES.promptTokens]: int(a.promptTokens),
    [AI_VARIABLES.completionTokens]: int(a.completionTokens),
    [AI_VARIABLES.answerChars]: int(a.answer.length),
  };
}

/** What an AI topic handler needs. */
export interface AiTopicDeps {
  /** The topic, from the manifest. */
  topic: AiTopicManifest;
  /** The AI context table (the manifest's `aiContext.table`). */
  table: string;
  /** The database. */
  sql: Sql;
  /** Redis (rate limit, cache), if configured. */
  cache?: Cache;
  /** Ollama's base URL. */
  ollamaUrl: string;
  /** Generation timeouts, ms. */
  timeoutMs: number;
  /** Longest silence in a stream, ms. */
  idleTimeoutMs: number;
  /** TTL of cached answers, s. */
  cacheTtlSeconds: number;
  /** AI metrics. */
  metrics: { tokens: Counter; truncated: Counter; cacheHits: Counter; generation: Histogram };
}

/** Builds the handler of one AI topic. Throws when the template does not compile. */
export function aiTopicHandler(d: AiTopicDeps): TopicHandler {
  const t = d.topic;
  let template;
  try {
    template = compilePrompt(t.prompt);
  } catch (e) {
    throw new Error(`topic ${t.name}: the prompt template does not compile: ${errorMessage(e)}`);
  }
  const tpl = template;
  const stats = { modelsTable: AI_MODELS_TABLE, statsTable: AI_MODEL_STATS_TABLE };

  async function handle(ctx: TaskContext): Promise<TaskResult> {
    const { task, log, signal } = ctx;
    const db = <T>(what: string, p: Promise<T>): Promise<T> =>
      p.catch((e) => {
        throw new TaskFailure(`${what}: database error: ${errorMessage(e)}`, {
          permanent: !isTransientDbError(e),
          cause: e,
        });
      });

    // 1. Already answered?
    const stored = await db("reading the AI context", findAiOutput(d.sql, d.table, task.id));
    if (stored) {
      log.info("answer already stored for this task: completing from it", { contextId: stored.id });
      const usage = (stored.tokenUsage ?? {}) as Record<string, number>;
      return {
        variables: answerVariables({
          answer: stored.text,
          outputId: stored.id,
          inputId: String(stored.data.inputContextId ?? ""),
          model: stored.model ?? t.model,
          doneReason: String(stored.data.doneReason ?? "stop"),
          promptTokens: Number(usage.prompt_eval_count ?? 0),
          completionTokens: Number(usage.eval_count ?? 0),
        }),
        event: { contextId: stored.id, reused: true },
      };
    }

    // 2. The prompt.
    let prompt: string;
    try {
      prompt = tpl.render(task.values);
    } catch (e) {
      throw new TaskFailure(
        e instanceof MissingVariablesError ? e.message : `rendering the prompt: ${errorMessage(e)}`,
        { permanent: true, cause: e },
      );
    }

    // 3./4. The answer.
    let answer: string;
    let model = t.model;
    let doneReason: string;
    let usage: Record<string, number>;
    let cached = false;
    let wallMs = 0;
    const hit = t.cache && d.cache ? await d.cache.getAnswer(t.model, prompt) : undefined;
    if (hit) {
      cached = true;
      answer = hit.answer;
      model = hit.model;
      doneReason = hit.doneReason;
      usage = hit.usage;
      d.metrics.cacheHits.inc({ model: t.model });
      log.info("answer served from the cache", { model });
    } else {
      if (d.cache) {
        const { waitedMs } = await d.cache.acquireRate(t.model, t.rateLimitPerMinute, signal);
        if (waitedMs > 1000) log.info("rate limit waited", { model: t.model, waitedMs });
      }
      try {
        const g = await generate({
          baseUrl: d.ollamaUrl,
          model: t.model,
          prompt,
          options: { num_ctx: t.contextWindow },
          signal,
          timeoutMs: d.timeoutMs,
          idleTimeoutMs: d.idleTimeoutMs,
        });
        answer = g.answer;
        model = g.model || t.model;
        doneReason = g.doneReason;
        usage = g.usage;
        wallMs = g.wallMs;
        d.metrics.generation.observe({ model: t.model }, g.wallMs / 1000);
        d.metrics.tokens.inc({ model: t.model, kind: "prompt" }, g.usage.prompt_eval_count);
        d.metrics.tokens.inc({ model: t.model, kind: "completion" }, g.usage.eval_count);
        if (g.truncated) {
          d.metrics.truncated.inc({ model: t.model });
          log.warn("answer truncated (done_reason: length)", {
            model,
            evalCount: g.usage.eval_count,
            contextWindow: t.contextWindow,
          });
        }
      } catch (e) {
        await countAiFailure(d.sql, { ...stats, provider: t.provider, model: t.model }).catch(
          () => {},
        );
        if (e instanceof GenerationError) {
          throw new TaskFailure(`${e.message}`, { cause: e, details: `kind: ${e.kind}` });
        }
        throw e;
      }
    }

    // 5. Store, one transaction, idempotent.
    const truncated = doneReason === "length";
    const saved = await db(
      "storing the AI context",
      saveAiExchange(d.sql, {
        table: d.table,
        taskId: task.id,
        processInstanceId: task.processInstanceId,
        activityId: task.activityId,
        provider: t.provider,
        model,
        tokenUsage: usage,
        input: {
          text: prompt,
          data: {
            topic: t.name,
            template: t.prompt,
            model: t.model,
            options: { num_ctx: t.contextWindow },
            processDefinitionKey: task.processDefinitionKey ?? null,
            businessKey: task.businessKey ?? null,
            externalTaskId: task.id,
            chars: prompt.length,
          },
        },
        output: {
          text: answer,
          data: {
            topic: t.name,
            doneReason,
            truncated,
            cached,
            chars: answer.length,
            externalTaskId: task.id,
            inputContextId: contextRowId(task.id, "input"),
            wallMs,
            attempt: ctx.attempt,
          },
        },
        stats: cached ? undefined : {
          ...stats,
          truncated,
          promptTokens: usage.prompt_eval_count ?? 0,
          completionTokens: usage.eval_count ?? 0,
          latencyMs: wallMs,
        },
      }),
    );
    let finalAnswer = answer;
    let finalReason = doneReason;
    if (!saved.inserted) {
      // Another delivery of this task stored its answer first: use that one,
      // so the row and the variables agree.
      const other = await db("reading the AI context", findAiOutput(d.sql, d.table, task.id));
      if (other) {
        finalAnswer = other.text;
        finalReason = String(other.data.doneReason ?? doneReason);
      }
      log.info("answer already stored by another delivery: using it", {
        contextId: saved.outputId,
      });
    }
    if (t.cache && d.cache && !cached && doneReason === "stop") {
      const entry: CachedAnswer = {
        answer,
        model,
        doneReason,
        usage,
        cachedAt: new Date().toISOString(),
      };
      await d.cache.setAnswer(t.model, prompt, entry, d.cacheTtlSeconds);
    }

    // 6. Variables.
    return {
      variables: answerVariables({
        answer: finalAnswer,
        outputId: saved.outputId,
        inputId: saved.inputId,
        model,
        doneReason: finalReason,
        promptTokens: usage.prompt_eval_count ?? 0,
        completionTokens: usage.eval_count ?? 0,
      }),
      event: {
        contextId: saved.outputId,
        model,
        doneReason: finalReason,
        truncated: finalReason === "length",
        cached,
        promptTokens: usage.prompt_eval_count ?? 0,
        completionTokens: usage.eval_count ?? 0,
        answerChars: finalAnswer.length,
      },
    };
  }

  return {
    topic: { topicName: t.name, lockDurationMs: t.lockDurationMs, variables: tpl.fetch },
    retries: t.retries,
    backoff: t.backoff,
    handle,
  };
}

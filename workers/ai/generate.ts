/**
 * Generation with Ollama through ollama-js, always streaming: a long
 * non-streaming call dies at the fetch layer's 300 s header timeout (Node's
 * fetch), while a stream keeps bytes flowing. The answer is gathered from the
 * chunks; the final chunk carries `done_reason` and the usage counts.
 *
 * Timeouts: the whole generation (`PROCOS_AI_TIMEOUT_MS`, default 10 min) and
 * the silence between two chunks (`PROCOS_AI_IDLE_TIMEOUT_MS`, default 5 min:
 * loading a model can take a while before the first token).
 *
 * @module
 */
import { Ollama } from "ollama";

/** A finished generation. */
export interface Generation {
  /** The whole answer. */
  answer: string;
  /** The model as Ollama reports it. */
  model: string;
  /** `stop`, `length` (cut by the token limit or context window), ... */
  doneReason: string;
  /** `doneReason === "length"`. */
  truncated: boolean;
  /** Ollama's counts and durations (nanoseconds), as reported. */
  usage: {
    prompt_eval_count: number;
    eval_count: number;
    total_duration: number;
    load_duration: number;
    prompt_eval_duration: number;
    eval_duration: number;
  };
  /** Wall time of the call, ms. */
  wallMs: number;
  /** Chunks received. */
  chunks: number;
}

/** Why a generation failed, for the incident message. */
export class GenerationError extends Error {
  /** `unreachable`, `model-missing`, `timeout`, `http`, `stream`, `aborted`. */
  readonly kind: "unreachable" | "model-missing" | "timeout" | "http" | "stream" | "aborted";
  /** The HTTP status, when Ollama answered with an error. */
  readonly status?: number;
  /** Creates one. */
  constructor(
    kind: GenerationError["kind"],
    message: string,
    opts: { status?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = "GenerationError";
    this.kind = kind;
    this.status = opts.status;
  }
}

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** Ollama's base URL. */
  baseUrl: string;
  /** The model. */
  model: string;
  /** The prompt. */
  prompt: string;
  /** Model options (`num_ctx`, `num_predict`, ...). */
  options?: Record<string, unknown>;
  /** Abort (shutdown, lock lost). */
  signal?: AbortSignal;
  /** Whole-call timeout, ms. */
  timeoutMs: number;
  /** Longest silence between chunks, ms. */
  idleTimeoutMs: number;
}

function classify(e: unknown, model: string, baseUrl: string): GenerationError {
  if (e instanceof GenerationError) return e;
  const err = e as { name?: string; message?: string; status_code?: number; cause?: unknown };
  let msg = String(err?.message ?? e);
  const cause = (err?.cause as { message?: string } | undefined)?.message;
  if (cause && !msg.includes(cause)) msg = `${msg}: ${cause}`;
  if (typeof err?.status_code === "number") {
    const status = err.status_code;
    if (status === 404 || /not found/i.test(msg)) {
      return new GenerationError(
        "model-missing",
        `model ${model} is not available on Ollama at ${baseUrl} (${msg})`,
        { status, cause: e },
      );
    }
    return new GenerationError("http", `Ollama at ${baseUrl} answered HTTP ${status}: ${msg}`, {
      status,
      cause: e,
    });
  }
  if (err?.name === "AbortError") {
    return new GenerationError("aborted", `generation aborted: ${msg}`, { cause: e });
  }
  if (
    err?.name === "TypeError" ||
    /connect|ECONNREFUSED|network|fetch failed|error sending request/i.test(msg)
  ) {
    return new GenerationError("unreachable", `Ollama at ${baseUrl} is unreachable: ${msg}`, {
      cause: e,
    });
  }
  return new GenerationError("stream", `Ollama stream failed: ${msg}`, { cause: e });
}

/** Generates an answer, streaming. Throws {@link GenerationError}. */
export async function generate(o: GenerateOptions): Promise<Generation> {
  const started = performance.now();
  // Our own controller aborts the request at any stage (before the headers
  // too), through a fetch that adds its signal.
  const controller = new AbortController();
  const ollama = new Ollama({
    host: o.baseUrl,
    fetch: (input, init) =>
      fetch(input, {
        ...init,
        signal: init?.signal
          ? AbortSignal.any([init.signal, controller.signal])
          : controller.signal,
      }),
  });
  let timedOut: string | undefined;
  const abortStream = () => controller.abort();
  const onAbort = () => abortStream();
  o.signal?.addEventListener("abort", onAbort, { once: true });
  const total = setTimeout(() => {
    timedOut = `no complete answer within ${o.timeoutMs} ms`;
    abortStream();
  }, o.timeoutMs);
  let idle: ReturnType<typeof setTimeout> | undefined;
  const armIdle = () => {
    if (idle !== undefined) clearTimeout(idle);
    idle = setTimeout(() => {
      timedOut = `no data from Ollama for ${o.idleTimeoutMs} ms`;
      abortStream();
    }, o.idleTimeoutMs);
  };
  try {
    if (o.signal?.aborted) throw new GenerationError("aborted", "generation aborted before start");
    armIdle();
    const stream = await ollama.generate({
      model: o.model,
      prompt: o.prompt,
      stream: true,
      options: o.options,
    });
    const parts: string[] = [];
    let chunks = 0;
    let last: Record<string, unknown> | undefined;
    for await (const chunk of stream) {
      armIdle();
      chunks++;
      if (chunk.response) parts.push(chunk.response);
      if (chunk.done) last = chunk as unknown as Record<string, unknown>;
    }
    if (!last) {
      throw new GenerationError("stream", "Ollama's stream ended without a final chunk");
    }
    const n = (k: string) => (typeof last![k] === "number" ? last![k] as number : 0);
    const doneReason = typeof last.done_reason === "string" ? last.done_reason : "stop";
    return {
      answer: parts.join(""),
      model: typeof last.model === "string" ? last.model : o.model,
      doneReason,
      truncated: doneReason === "length",
      usage: {
        prompt_eval_count: n("prompt_eval_count"),
        eval_count: n("eval_count"),
        total_duration: n("total_duration"),
        load_duration: n("load_duration"),
        prompt_eval_duration: n("prompt_eval_duration"),
        eval_duration: n("eval_duration"),
      },
      wallMs: Math.round(performance.now() - started),
      chunks,
    };
  } catch (e) {
    if (timedOut) {
      throw new GenerationError("timeout", `Ollama at ${o.baseUrl} timed out: ${timedOut}`, {
        cause: e,
      });
    }
    if (o.signal?.aborted) {
      throw new GenerationError("aborted", `generation aborted: ${String(o.signal.reason)}`);
    }
    throw classify(e, o.model, o.baseUrl);
  } finally {
    clearTimeout(total);
    if (idle !== undefined) clearTimeout(idle);
    o.signal?.removeEventListener("abort", onAbort);
  }
}

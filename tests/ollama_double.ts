/**
 * A test double of the Ollama HTTP API (not Ollama: no model runs here).
 *
 * It speaks the parts of Ollama's REST API ProcOS uses, with Ollama's request
 * and response shapes (docs/api.md of ollama/ollama): `GET /api/version`,
 * `GET /api/tags`, `POST /api/show`, `POST /api/pull` (NDJSON progress),
 * `DELETE /api/delete`, `GET /api/ps`, and `POST /api/generate` and
 * `POST /api/chat`, streaming (NDJSON, a final chunk with `done: true`,
 * `done_reason` and the usage fields, durations in nanoseconds) or not
 * (`"stream": false`). Errors are `{"error": "..."}` with Ollama's statuses.
 *
 * The answer is deterministic: by default an echo of the prompt (the last
 * user message for chat), or a configured responder, or a fixed answer of N
 * bytes (for large-response tests). `options.num_predict` truncates the
 * answer to that many tokens (words) with `done_reason: "length"`. Controls:
 * latency, failing the next K requests with 500, the model list.
 *
 * Pulling a model whose name starts with `missing/` fails like a pull of a
 * model the registry does not have.
 *
 * Use in tests with {@link startOllamaDouble}, or as a process in place of
 * Ollama: `deno run -A tests/ollama_double.ts --port 11434 --model llama3.2:1b`.
 *
 * @module
 */

/** What a responder is asked to answer. */
export interface RespondRequest {
  /** `generate` or `chat`. */
  endpoint: "generate" | "chat";
  /** The model, normalised (`name:tag`). */
  model: string;
  /** The prompt (generate) or the last user message (chat). */
  prompt: string;
  /** The system prompt, if any. */
  system?: string;
  /** The chat messages (chat only). */
  messages?: { role: string; content: string }[];
  /** The request's `options`. */
  options?: Record<string, unknown>;
}

/** Computes the answer to a request. Must be deterministic for tests to be. */
export type Responder = (req: RespondRequest) => string;

/** One request the double received. */
export interface LoggedRequest {
  method: string;
  path: string;
  /** The parsed JSON body, when there was one. */
  body?: unknown;
}

/** Options of {@link startOllamaDouble}. */
export interface OllamaDoubleOptions {
  /** TCP port; 0 or omitted: any free port. */
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  hostname?: string;
  /** Models it holds initially (default `["llama3.2:1b"]`). */
  models?: string[];
  /** Answers generate and chat (default {@link echoResponder}). */
  respond?: Responder;
  /** What `/api/version` reports (default 0.12.6). */
  version?: string;
  /** Delay before every answer, in milliseconds (default 0). */
  latencyMs?: number;
}

/** A running double. */
export interface OllamaDouble {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** Stops it (waits for requests in flight). */
  close(): Promise<void>;
  /** Replaces the models it holds. */
  setModels(names: string[]): void;
  /** The models it holds now (normalised names). */
  models(): string[];
  /** Fails the next `n` API requests with HTTP `status` (default 500). */
  failNext(n: number, status?: number): void;
  /** Sets the delay before every answer, in milliseconds. */
  setLatency(ms: number): void;
  /** Sets the delay between streamed chunks, in milliseconds (default 0). */
  setChunkDelay(ms: number): void;
  /** Answers every generate/chat with exactly this text (`null`: back to the responder). */
  setAnswer(text: string | null): void;
  /** Answers every generate/chat with {@link fixedAnswer}(n) (`null`: back to the responder). */
  setAnswerBytes(n: number | null): void;
  /** Replaces the responder. */
  setResponder(fn: Responder): void;
  /** Every request received, oldest first (the last 1000). */
  readonly requests: LoggedRequest[];
}

/** The default responder: `echo: <prompt>`. */
export const echoResponder: Responder = (req) => `echo: ${req.prompt}`;

/**
 * A deterministic ASCII text of exactly `bytes` bytes, made of words (so it
 * streams in many tokens): `w0000 w0001 ...`, cut to length.
 */
export function fixedAnswer(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`bytes: ${bytes}`);
  const word = (i: number) => `w${(i % 10000).toString().padStart(4, "0")} `;
  const unit = Array.from({ length: 10000 }, (_, i) => word(i)).join(""); // 60 000 bytes
  return unit.repeat(Math.ceil(bytes / unit.length) + 1).slice(0, bytes);
}

/** Ollama's name normalisation: a name without a tag means `:latest`. */
export function normalizeModel(name: string): string {
  const last = name.split("/").pop() ?? name;
  return last.includes(":") ? name : `${name}:latest`;
}

/** Splits text into tokens: words with their leading whitespace. */
export function tokenize(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

/** At most this many chunks in a stream; longer answers send several tokens per chunk. */
const MAX_CHUNKS = 2048;

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };
const NDJSON_HEADERS = { "content-type": "application/x-ndjson" };

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
}

function error(status: number, message: string): Response {
  return json(status, { error: message });
}

/** A deterministic 64-hex-digit fake digest of a text (FNV-1a over 8 salted copies). */
export function fakeDigest(text: string): string {
  let out = "";
  for (let round = 0; round < 8; round++) {
    let h = 0x811c9dc5;
    for (const ch of `${round}:${text}`) {
      h ^= ch.codePointAt(0)!;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    out += h.toString(16).padStart(8, "0");
  }
  return out;
}

const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

/** A model the double holds. */
interface HeldModel {
  name: string;
  digest: string;
  size: number;
  modifiedAt: string;
}

function modelDetails() {
  return {
    parent_model: "",
    format: "gguf",
    family: "llama",
    families: ["llama"],
    parameter_size: "1.2B",
    quantization_level: "Q8_0",
  };
}

/** Starts a double. */
export function startOllamaDouble(opts: OllamaDoubleOptions = {}): OllamaDouble {
  const version = opts.version ?? "0.12.6";
  const held = new Map<string, HeldModel>();
  let responder: Responder = opts.respond ?? echoResponder;
  let fixed: string | null = null;
  let latency = opts.latencyMs ?? 0;
  let chunkDelay = 0;
  let failures = 0;
  let failStatus = 500;
  const requests: LoggedRequest[] = [];

  const add = (name: string) => {
    const n = normalizeModel(name);
    const digest = fakeDigest(n);
    held.set(n, {
      name: n,
      digest,
      size: 1_000_000_000 + parseInt(digest.slice(0, 6), 16),
      modifiedAt: new Date().toISOString(),
    });
  };
  const setModels = (names: string[]) => {
    held.clear();
    for (const name of names) add(name);
  };
  setModels(opts.models ?? ["llama3.2:1b"]);

  const answerOf = (req: RespondRequest) => fixed ?? responder(req);

  /** The usage fields of a final chunk. */
  const usage = (started: number, promptTokens: number, evalTokens: number) => {
    const load = 1_000_000;
    const promptEval = promptTokens * 100_000;
    const evalNs = Math.max(1, evalTokens) * 1_000_000;
    const measured = Math.round((performance.now() - started) * 1e6);
    return {
      total_duration: Math.max(measured, load + promptEval + evalNs),
      load_duration: load,
      prompt_eval_count: promptTokens,
      prompt_eval_duration: promptEval,
      eval_count: evalTokens,
      eval_duration: evalNs,
    };
  };

  const generateLike = (
    endpoint: "generate" | "chat",
    body: Record<string, unknown>,
    started: number,
  ): Response => {
    const model = normalizeModel(String(body.model));
    const createdAt = () => new Date().toISOString();
    const stream = body.stream !== false;
    const messages = Array.isArray(body.messages)
      ? (body.messages as { role?: unknown; content?: unknown }[]).map((m) => ({
        role: String(m?.role ?? "user"),
        content: String(m?.content ?? ""),
      }))
      : undefined;
    if (endpoint === "chat" && body.messages !== undefined && !Array.isArray(body.messages)) {
      return error(400, "messages must be an array");
    }
    const options = (typeof body.options === "object" && body.options !== null)
      ? body.options as Record<string, unknown>
      : undefined;
    const prompt = endpoint === "generate"
      ? String(body.prompt ?? "")
      : [...(messages ?? [])].reverse().find((m) => m.role === "user")?.content ?? "";
    const system = typeof body.system === "string"
      ? body.system
      : messages?.find((m) => m.role === "system")?.content;

    // Empty prompt / no messages: load (or unload with keep_alive 0), as Ollama does.
    const empty = endpoint === "generate" ? prompt === "" : (messages ?? []).length === 0;
    if (empty) {
      const reason = body.keep_alive === 0 || body.keep_alive === "0" ? "unload" : "load";
      const base = endpoint === "generate"
        ? { model, created_at: createdAt(), response: "" }
        : { model, created_at: createdAt(), message: { role: "assistant", content: "" } };
      return json(200, { ...base, done_reason: reason, done: true });
    }

    const answer = answerOf({ endpoint, model, prompt, system, messages, options });
    let tokens = tokenize(answer);
    let reason: "stop" | "length" = "stop";
    const limit = Number(options?.num_predict);
    if (Number.isInteger(limit) && limit > 0 && tokens.length > limit) {
      tokens = tokens.slice(0, limit);
      reason = "length";
    }
    const promptTokens = Math.max(
      1,
      tokenize(messages ? messages.map((m) => m.content).join(" ") : `${system ?? ""} ${prompt}`)
        .length,
    );
    const piece = (text: string) =>
      endpoint === "generate"
        ? { response: text }
        : { message: { role: "assistant", content: text } };

    if (!stream) {
      return json(200, {
        model,
        created_at: createdAt(),
        ...piece(tokens.join("")),
        done: true,
        done_reason: reason,
        ...(endpoint === "generate" ? { context: [1, 2, 3] } : {}),
        ...usage(started, promptTokens, tokens.length),
      });
    }
    const per = Math.max(1, Math.ceil(tokens.length / MAX_CHUNKS));
    let at = 0;
    let finished = false;
    const enc = new TextEncoder();
    const body$ = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (finished) return;
        if (at < tokens.length) {
          if (at > 0) await sleep(chunkDelay);
          const text = tokens.slice(at, at + per).join("");
          at += per;
          const line = { model, created_at: createdAt(), ...piece(text), done: false };
          controller.enqueue(enc.encode(JSON.stringify(line) + "\n"));
          return;
        }
        finished = true;
        const last = {
          model,
          created_at: createdAt(),
          ...piece(""),
          done: true,
          done_reason: reason,
          ...(endpoint === "generate" ? { context: [1, 2, 3] } : {}),
          ...usage(started, promptTokens, tokens.length),
        };
        controller.enqueue(enc.encode(JSON.stringify(last) + "\n"));
        controller.close();
      },
    });
    return new Response(body$, { status: 200, headers: NDJSON_HEADERS });
  };

  const pull = (body: Record<string, unknown>): Response => {
    const name = normalizeModel(String(body.model ?? body.name));
    const stream = body.stream !== false;
    const missing = name.startsWith("missing/");
    const notFound = "pull model manifest: file does not exist";
    if (!stream) {
      if (missing) return error(500, notFound);
      add(name);
      return json(200, { status: "success" });
    }
    const digest = `sha256:${fakeDigest(name)}`;
    const total = 1_000_000;
    const lines: unknown[] = [{ status: "pulling manifest" }];
    if (missing) {
      lines.push({ error: notFound });
    } else {
      lines.push({ status: `downloading ${digest}`, digest, total });
      for (const completed of [250_000, 500_000, 750_000, total]) {
        lines.push({ status: `downloading ${digest}`, digest, total, completed });
      }
      lines.push(
        { status: "verifying sha256 digest" },
        { status: "writing manifest" },
        { status: "removing any unused layers" },
        { status: "success" },
      );
      add(name);
    }
    const enc = new TextEncoder();
    let i = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (i > 0) await sleep(chunkDelay);
          controller.enqueue(enc.encode(JSON.stringify(lines[i++]) + "\n"));
          if (i === lines.length) controller.close();
        },
      }),
      { status: 200, headers: NDJSON_HEADERS },
    );
  };

  const handler = async (req: Request): Promise<Response> => {
    const started = performance.now();
    const path = new URL(req.url).pathname;
    let body: Record<string, unknown> | undefined;
    let bodyError: string | undefined;
    if (req.method === "POST" || req.method === "DELETE") {
      const text = await req.text();
      if (text.trim() !== "") {
        try {
          const v = JSON.parse(text);
          if (typeof v === "object" && v !== null && !Array.isArray(v)) body = v;
          else bodyError = "invalid request body: expected a JSON object";
        } catch (e) {
          bodyError = `invalid character in request body: ${(e as Error).message}`;
        }
      }
    }
    requests.push({ method: req.method, path, ...(body ? { body } : {}) });
    if (requests.length > 1000) requests.shift();

    if (path === "/" && (req.method === "GET" || req.method === "HEAD")) {
      return new Response(req.method === "HEAD" ? null : "Ollama is running", {
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
    const routes: Record<string, string> = {
      "/api/version": "GET",
      "/api/tags": "GET",
      "/api/ps": "GET",
      "/api/show": "POST",
      "/api/pull": "POST",
      "/api/delete": "DELETE",
      "/api/generate": "POST",
      "/api/chat": "POST",
    };
    const method = routes[path];
    if (!method) return new Response("404 page not found", { status: 404 });
    if (req.method !== method && !(method === "GET" && req.method === "HEAD")) {
      return new Response("405 method not allowed", { status: 405 });
    }
    if (failures > 0) {
      failures--;
      return error(failStatus, "injected failure (ollama double)");
    }
    await sleep(latency);
    if (bodyError) return error(400, bodyError);

    switch (path) {
      case "/api/version":
        return json(200, { version });
      case "/api/tags":
        return json(200, {
          models: [...held.values()].map((m) => ({
            name: m.name,
            model: m.name,
            modified_at: m.modifiedAt,
            size: m.size,
            digest: m.digest,
            details: modelDetails(),
          })),
        });
      case "/api/ps":
        return json(200, { models: [] });
    }
    const b = body ?? {};
    const rawName = b.model ?? b.name;
    if (typeof rawName !== "string" || rawName === "") return error(400, "model is required");
    const name = normalizeModel(rawName);
    switch (path) {
      case "/api/pull":
        return pull(b);
      case "/api/delete":
        if (!held.delete(name)) return error(404, `model '${rawName}' not found`);
        return new Response(null, { status: 200 });
      case "/api/show": {
        const m = held.get(name);
        if (!m) return error(404, `model '${rawName}' not found`);
        return json(200, {
          license: "test double: no license",
          modelfile: `# Modelfile generated by "ollama show"\nFROM ${m.name}\n` +
            `TEMPLATE """{{ .Prompt }}"""\nPARAMETER num_ctx 8192\n`,
          parameters: "num_ctx                        8192",
          template: "{{ .Prompt }}",
          details: modelDetails(),
          model_info: {
            "general.architecture": "llama",
            "general.parameter_count": 1_235_814_432,
            "llama.context_length": 131072,
          },
          capabilities: ["completion"],
          modified_at: m.modifiedAt,
        });
      }
      case "/api/generate":
      case "/api/chat": {
        if (!held.has(name)) {
          return error(404, `model '${rawName}' not found, try pulling it first`);
        }
        return generateLike(path === "/api/chat" ? "chat" : "generate", b, started);
      }
    }
    return new Response("404 page not found", { status: 404 });
  };

  const server = Deno.serve({
    port: opts.port ?? 0,
    hostname: opts.hostname ?? "127.0.0.1",
    onListen: () => {},
  }, handler);
  const addr = server.addr as Deno.NetAddr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    close: () => (closed ??= server.shutdown()),
    setModels,
    models: () => [...held.keys()],
    failNext: (n, status = 500) => {
      failures = n;
      failStatus = status;
    },
    setLatency: (ms) => void (latency = ms),
    setChunkDelay: (ms) => void (chunkDelay = ms),
    setAnswer: (text) => void (fixed = text),
    setAnswerBytes: (n) => void (fixed = n === null ? null : fixedAnswer(n)),
    setResponder: (fn) => void (responder = fn),
    requests,
  };
}

/** Parses the standalone command line. */
export function parseDoubleArgs(args: string[]): OllamaDoubleOptions & { answerBytes?: number } {
  const out: OllamaDoubleOptions & { answerBytes?: number } = { models: [] };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].includes("=") ? args[i].split(/=(.*)/s) : [args[i], undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--port":
        out.port = Number(value());
        break;
      case "--host":
      case "--hostname":
        out.hostname = value();
        break;
      case "--model":
        out.models!.push(value());
        break;
      case "--latency":
        out.latencyMs = Number(value());
        break;
      case "--answer-bytes":
        out.answerBytes = Number(value());
        break;
      case "--version":
        out.version = value();
        break;
      default:
        throw new Error(
          `unknown argument ${flag}; use --port N --model NAME (repeatable) ` +
            `[--host H] [--latency MS] [--answer-bytes N] [--version V]`,
        );
    }
  }
  if (out.models!.length === 0) delete out.models;
  return out;
}

if (import.meta.main) {
  let parsed;
  try {
    parsed = parseDoubleArgs(Deno.args);
  } catch (e) {
    console.error(`ollama double: ${(e as Error).message}`);
    Deno.exit(2);
  }
  const double = startOllamaDouble({ port: 11434, ...parsed });
  if (parsed.answerBytes !== undefined) double.setAnswerBytes(parsed.answerBytes);
  console.log(`ollama double listening on ${double.url} (models: ${double.models().join(", ")})`);
  const stop = async () => {
    await double.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

/**
 * The Ollama test double speaks Ollama's API shapes, and its controls work.
 */
import { expect } from "expect";
import { fixedAnswer, startOllamaDouble } from "../ollama_double.ts";
import type { OllamaDouble } from "../ollama_double.ts";
import { REPO_ROOT } from "../helpers/build.ts";
import { freePort } from "./helpers.ts";

async function withDouble(
  fn: (d: OllamaDouble) => Promise<void>,
  models = ["llama3.2:1b"],
): Promise<void> {
  const d = startOllamaDouble({ models });
  try {
    await fn(d);
  } finally {
    await d.close();
  }
}

async function post(d: OllamaDouble, path: string, body: unknown, method = "POST") {
  return await fetch(`${d.url}${path}`, { method, body: JSON.stringify(body) });
}

/** Reads an NDJSON body into its objects. */
async function ndjson(res: Response): Promise<Record<string, unknown>[]> {
  const text = await res.text();
  expect(text.endsWith("\n")).toBe(true);
  return text.trimEnd().split("\n").map((l) => JSON.parse(l));
}

const USAGE_FIELDS = [
  "total_duration",
  "load_duration",
  "prompt_eval_count",
  "prompt_eval_duration",
  "eval_count",
  "eval_duration",
];

function expectUsage(chunk: Record<string, unknown>) {
  for (const f of USAGE_FIELDS) {
    expect(Number.isInteger(chunk[f])).toBe(true);
    expect(chunk[f] as number).toBeGreaterThan(0);
  }
  expect(chunk.total_duration as number).toBeGreaterThanOrEqual(
    (chunk.load_duration as number) + (chunk.eval_duration as number),
  );
}

Deno.test("ollama double: version, tags, show", () =>
  withDouble(async (d) => {
    expect(await (await fetch(`${d.url}/api/version`)).json()).toEqual({ version: "0.12.6" });
    const tags = await (await fetch(`${d.url}/api/tags`)).json();
    expect(tags.models).toHaveLength(2);
    expect(tags.models[0]).toMatchObject({
      name: "llama3.2:1b",
      model: "llama3.2:1b",
      size: expect.any(Number),
      digest: expect.stringMatching(/^[0-9a-f]{64}$/),
      modified_at: expect.any(String),
      details: { format: "gguf", family: "llama" },
    });
    expect(tags.models[1].name).toBe("qwen:latest"); // no tag: latest
    const show = await post(d, "/api/show", { model: "llama3.2:1b" });
    expect(show.status).toBe(200);
    expect(await show.json()).toMatchObject({
      modelfile: expect.any(String),
      template: expect.any(String),
      details: { family: "llama" },
      model_info: expect.any(Object),
    });
    const missing = await post(d, "/api/show", { model: "nope" });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: "model 'nope' not found" });
  }, ["llama3.2:1b", "qwen"]));

Deno.test("ollama double: pull streams progress and adds the model; missing/... fails", () =>
  withDouble(async (d) => {
    const res = await post(d, "/api/pull", { model: "phi3:mini" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = await ndjson(res);
    expect(lines[0]).toEqual({ status: "pulling manifest" });
    const downloads = lines.filter((l) => String(l.status).startsWith("downloading"));
    expect(downloads.length).toBeGreaterThan(1);
    expect(downloads[0]).toMatchObject({ digest: expect.stringMatching(/^sha256:/), total: 1e6 });
    expect(downloads.at(-1)).toMatchObject({ total: 1e6, completed: 1e6 });
    expect(lines.at(-1)).toEqual({ status: "success" });
    expect(d.models()).toContain("phi3:mini");

    const bad = await ndjson(await post(d, "/api/pull", { model: "missing/nothing" }));
    expect(bad.at(-1)).toEqual({ error: "pull model manifest: file does not exist" });
    expect(d.models()).not.toContain("missing/nothing:latest");

    const quiet = await post(d, "/api/pull", { model: "missing/x", stream: false });
    expect(quiet.status).toBe(500);
    expect(await quiet.json()).toEqual({ error: "pull model manifest: file does not exist" });
    const ok = await post(d, "/api/pull", { name: "tiny", stream: false });
    expect(await ok.json()).toEqual({ status: "success" });
    expect(d.models()).toContain("tiny:latest");
  }));

Deno.test("ollama double: delete removes a model; deleting it again is 404", () =>
  withDouble(async (d) => {
    const res = await post(d, "/api/delete", { model: "llama3.2:1b" }, "DELETE");
    expect(res.status).toBe(200);
    await res.body?.cancel();
    expect(d.models()).toEqual([]);
    const again = await post(d, "/api/delete", { model: "llama3.2:1b" }, "DELETE");
    expect(again.status).toBe(404);
    expect(await again.json()).toEqual({ error: "model 'llama3.2:1b' not found" });
  }));

Deno.test("ollama double: generate streams chunks and a final chunk with usage", () =>
  withDouble(async (d) => {
    const res = await post(d, "/api/generate", { model: "llama3.2:1b", prompt: "why blue?" });
    const chunks = await ndjson(res);
    const last = chunks.at(-1)!;
    expect(chunks.slice(0, -1).every((c) => c.done === false)).toBe(true);
    expect(chunks.map((c) => c.response).join("")).toBe("echo: why blue?");
    expect(last).toMatchObject({
      model: "llama3.2:1b",
      response: "",
      done: true,
      done_reason: "stop",
      eval_count: 3,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expectUsage(last);
  }));

Deno.test("ollama double: generate without streaming; num_predict cuts with done_reason length", () =>
  withDouble(async (d) => {
    const res = await post(d, "/api/generate", {
      model: "llama3.2:1b",
      prompt: "one two three four",
      stream: false,
    });
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = await res.json();
    expect(body).toMatchObject({ response: "echo: one two three four", done: true });
    expect(body.done_reason).toBe("stop");
    expectUsage(body);
    const cut = await (await post(d, "/api/generate", {
      model: "llama3.2:1b",
      prompt: "one two three four",
      stream: false,
      options: { num_predict: 2 },
    })).json();
    expect(cut).toMatchObject({ response: "echo: one", done_reason: "length", eval_count: 2 });
  }));

Deno.test("ollama double: chat, streaming and not, answers the last user message", () =>
  withDouble(async (d) => {
    const messages = [
      { role: "system", content: "be brief" },
      { role: "user", content: "first" },
      { role: "assistant", content: "ok" },
      { role: "user", content: "second question" },
    ];
    const chunks = await ndjson(await post(d, "/api/chat", { model: "llama3.2:1b", messages }));
    const text = chunks.map((c) => (c.message as { content: string }).content).join("");
    expect(text).toBe("echo: second question");
    expect(chunks[0].message).toMatchObject({ role: "assistant" });
    expect(chunks.at(-1)).toMatchObject({ done: true, done_reason: "stop" });
    expectUsage(chunks.at(-1)!);
    const whole = await (await post(d, "/api/chat", {
      model: "llama3.2:1b",
      messages,
      stream: false,
    })).json();
    expect(whole).toMatchObject({
      message: { role: "assistant", content: "echo: second question" },
      done: true,
      done_reason: "stop",
    });
    // no messages: load the model
    const load = await (await post(d, "/api/chat", { model: "llama3.2:1b", messages: [] })).json();
    expect(load).toMatchObject({ done: true, done_reason: "load" });
  }));

Deno.test("ollama double: unknown model, bad JSON and missing model are Ollama errors", () =>
  withDouble(async (d) => {
    const res = await post(d, "/api/generate", { model: "nope", prompt: "x" });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "model 'nope' not found, try pulling it first" });
    const bad = await fetch(`${d.url}/api/generate`, { method: "POST", body: "{nope" });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toEqual(expect.any(String));
    const none = await post(d, "/api/chat", { messages: [] });
    expect(none.status).toBe(400);
    expect(await none.json()).toEqual({ error: "model is required" });
    const notFound = await fetch(`${d.url}/api/nothing`);
    expect(notFound.status).toBe(404);
    await notFound.body?.cancel();
  }));

Deno.test("ollama double: a responder, and a fixed answer of exactly N bytes (1 MB)", () =>
  withDouble(async (d) => {
    d.setResponder((r) => `${r.endpoint}:${r.model}:${r.prompt.toUpperCase()}`);
    const a = await (await post(d, "/api/generate", {
      model: "llama3.2:1b",
      prompt: "abc",
      stream: false,
    })).json();
    expect(a.response).toBe("generate:llama3.2:1b:ABC");

    const size = 1024 * 1024;
    d.setAnswerBytes(size);
    const whole = await (await post(d, "/api/generate", {
      model: "llama3.2:1b",
      prompt: "big",
      stream: false,
    })).json();
    expect(new TextEncoder().encode(whole.response).length).toBe(size);
    expect(whole.response).toBe(fixedAnswer(size));
    const chunks = await ndjson(
      await post(d, "/api/generate", { model: "llama3.2:1b", prompt: "x" }),
    );
    expect(chunks.length).toBeLessThanOrEqual(2049);
    expect(chunks.map((c) => c.response).join("")).toBe(fixedAnswer(size));
    expect(chunks.at(-1)!.eval_count).toBe(Math.ceil(size / 6));
    d.setAnswerBytes(null);
    d.setAnswer("fixed text");
    const f = await (await post(d, "/api/chat", {
      model: "llama3.2:1b",
      messages: [{ role: "user", content: "q" }],
      stream: false,
    })).json();
    expect(f.message.content).toBe("fixed text");
  }));

Deno.test("ollama double: failNext fails exactly the next K requests with 500", () =>
  withDouble(async (d) => {
    d.failNext(2);
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${d.url}/api/tags`);
      expect(r.status).toBe(500);
      expect(await r.json()).toEqual({ error: "injected failure (ollama double)" });
    }
    const ok = await fetch(`${d.url}/api/tags`);
    expect(ok.status).toBe(200);
    await ok.body?.cancel();
    d.failNext(1, 503);
    const r = await fetch(`${d.url}/api/version`);
    expect(r.status).toBe(503);
    await r.body?.cancel();
    expect(d.requests.map((x) => x.path)).toEqual([
      "/api/tags",
      "/api/tags",
      "/api/tags",
      "/api/version",
    ]);
  }));

Deno.test("ollama double: injected latency delays the answer", () =>
  withDouble(async (d) => {
    d.setLatency(150);
    const started = performance.now();
    const r = await fetch(`${d.url}/api/version`);
    await r.body?.cancel();
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  }));

Deno.test("ollama double: runs as a process in place of Ollama", async () => {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${REPO_ROOT}/tests/ollama_double.ts`,
      "--port",
      String(port),
      "--model",
      "llama3.2:1b",
      "--model",
      "nomic-embed-text",
    ],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    reader.releaseLock();
    expect(out).toContain(`listening on http://127.0.0.1:${port}`);
    const tags = await (await fetch(`http://127.0.0.1:${port}/api/tags`)).json();
    expect(tags.models.map((m: { name: string }) => m.name)).toEqual([
      "llama3.2:1b",
      "nomic-embed-text:latest",
    ]);
  } finally {
    child.kill("SIGTERM");
    const status = await child.status;
    expect(status.success || status.signal === "SIGTERM").toBe(true);
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
  }
});

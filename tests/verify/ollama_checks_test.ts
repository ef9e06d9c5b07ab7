/**
 * The ollama and services checks against the Ollama test double.
 */
import { expect } from "expect";
import { ollamaChecks } from "../../verify/checks/ollama.ts";
import { ollamaHealthCheck } from "../../verify/checks/services.ts";
import { startOllamaDouble } from "../ollama_double.ts";
import { byId, contextFor, referenceModel, run } from "./helpers.ts";

Deno.test("ollama checks: green against a double holding the spec's model", async () => {
  const d = startOllamaDouble({ models: ["llama3.2:1b"], version: "0.12.6" });
  try {
    const model = await referenceModel();
    const ctx = await contextFor(model, { ollama: { url: d.url } });
    const checks = ollamaChecks(model);
    expect(checks.map((c) => c.id)).toEqual(["ollama.version", "ollama.model.llama3.2:1b"]);
    expect(await run(byId(checks, "ollama.version"), ctx)).toEqual({
      status: "pass",
      detail: "Ollama 0.12.6",
    });
    expect(await run(byId(checks, "ollama.model.llama3.2:1b"), ctx)).toEqual({ status: "pass" });
    expect((await run(ollamaHealthCheck(), ctx)).status).toBe("pass");
  } finally {
    await d.close();
  }
});

Deno.test("ollama checks: a missing model fails naming it and what is there", async () => {
  const d = startOllamaDouble({ models: ["qwen2:0.5b"] });
  try {
    const model = await referenceModel();
    const ctx = await contextFor(model, { ollama: { url: d.url } });
    const r = await run(byId(ollamaChecks(model), "ollama.model.llama3.2:1b"), ctx);
    expect(r).toMatchObject({
      status: "fail",
      expected: "model llama3.2:1b in /api/tags",
      actual: "models: qwen2:0.5b",
    });
    if (r.status === "fail") expect(r.hint).toContain("ollama pull llama3.2:1b");
    // pulled later: green
    const pull = await fetch(`${d.url}/api/pull`, {
      method: "POST",
      body: JSON.stringify({ model: "llama3.2:1b", stream: false }),
    });
    await pull.body?.cancel();
    expect((await run(byId(ollamaChecks(model), "ollama.model.llama3.2:1b"), ctx)).status)
      .toBe("pass");
  } finally {
    await d.close();
  }
});

Deno.test("ollama checks: an erroring server fails with its status", async () => {
  const d = startOllamaDouble();
  try {
    const model = await referenceModel();
    const ctx = await contextFor(model, { ollama: { url: d.url } });
    d.failNext(1);
    expect(await run(byId(ollamaChecks(model), "ollama.version"), ctx)).toMatchObject({
      status: "fail",
      expected: "HTTP 200",
      actual: 'HTTP 500: {"error":"injected failure (ollama double)"}',
    });
  } finally {
    await d.close();
  }
});

Deno.test("ollama checks: nothing listening fails with the connection error", async () => {
  const d = startOllamaDouble();
  const url = d.url;
  await d.close();
  const model = await referenceModel();
  const ctx = await contextFor(model, { ollama: { url } });
  const r = await run(byId(ollamaChecks(model), "ollama.version"), ctx);
  expect(r.status).toBe("fail");
  if (r.status === "fail") expect(r.actual).toMatch(/^cannot reach 127\.0\.0\.1:\d+: .*refused/i);
});

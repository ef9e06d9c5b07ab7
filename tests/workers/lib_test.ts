/**
 * Unit tests of the workers' shared library (no services), plus the event
 * publisher's unroutable path on the real RabbitMQ (a scratch vhost).
 *
 * @module
 */
import { expect } from "expect";
import { engineErrorInfo, failureRetries } from "../../workers/lib/camunda.ts";
import { createLogger, redact, safeUrl } from "../../workers/lib/log.ts";
import { backoffDelay, resolveConnections } from "../../workers/lib/manifest.ts";
import { createMetrics, taskMetrics } from "../../workers/lib/health.ts";
import { contextRowId, uuidV5 } from "../../workers/lib/store.ts";
import { createEventPublisher } from "../../workers/lib/events.ts";
import { answerValue, MAX_STRING_VARIABLE_CHARS } from "../../workers/ai/handler.ts";
import { compilePrompt, templateVariables } from "../../workers/ai/prompt.ts";
import { toVariable } from "../../workers/generic/handlers.ts";
import type { WorkerManifest } from "../../compiler/worker_manifest.ts";
import { RABBIT, rabbitApi, takeMessages, until } from "./helpers.ts";

Deno.test("failureRetries: 1 + retries attempts, exponential back-off, then an incident", () => {
  const b = { initialMs: 1000, factor: 2, maxMs: 3000 };
  expect(failureRetries(null, 3, b)).toEqual({
    retries: 3,
    retryTimeoutMs: 1000,
    attempt: 1,
    last: false,
  });
  expect(failureRetries(3, 3, b)).toEqual({
    retries: 2,
    retryTimeoutMs: 2000,
    attempt: 2,
    last: false,
  });
  expect(failureRetries(2, 3, b)).toEqual({
    retries: 1,
    retryTimeoutMs: 3000,
    attempt: 3,
    last: false,
  });
  expect(failureRetries(1, 3, b)).toEqual({
    retries: 0,
    retryTimeoutMs: 0,
    attempt: 4,
    last: true,
  });
  expect(failureRetries(null, 0, b)).toEqual({
    retries: 0,
    retryTimeoutMs: 0,
    attempt: 1,
    last: true,
  });
  // retries raised by an operator beyond the configured count: still bounded
  expect(failureRetries(10, 3, b).retries).toBe(3);
  expect(backoffDelay(b, 0)).toBe(1000);
  expect(backoffDelay(b, 50)).toBe(3000);
  expect(backoffDelay({ initialMs: 5000, factor: 10, maxMs: 300_000 }, 400)).toBe(300_000);
});

Deno.test("engineErrorInfo: unreachable and 5xx are transient, the engine's verdicts are not", () => {
  expect(engineErrorInfo(new TypeError("fetch failed")).transient).toBe(true);
  expect(engineErrorInfo(Object.assign(new Error("x"), { httpStatusCode: 503 })).transient).toBe(
    true,
  );
  expect(
    engineErrorInfo(
      Object.assign(new Error("x"), { httpStatusCode: 500, type: "BadUserRequestException" }),
    )
      .transient,
  ).toBe(false);
  expect(
    engineErrorInfo(
      Object.assign(new Error("x"), { httpStatusCode: 500, type: "OptimisticLockingException" }),
    )
      .transient,
  ).toBe(true);
  expect(engineErrorInfo(Object.assign(new Error("x"), { httpStatusCode: 404 })).transient).toBe(
    false,
  );
});

Deno.test("log: passwords of URLs and secret fields never printed", () => {
  const lines: string[] = [];
  const log = createLogger({ worker: "w" }, { level: "debug", sink: (l) => lines.push(l) });
  log.info("connecting to amqp://procos:s3cret@rabbitmq:5672/procos", {
    url: "postgres://procos:s3cret@db/procos",
    nested: { password: "s3cret", apiKey: "s3cret", ok: 1 },
    error: new Error("failed for redis://default:s3cret@redis:6379"),
    header: "Basic cHJvY29zOnMzY3JldA==",
  });
  expect(lines.length).toBe(1);
  expect(lines[0]).not.toContain("s3cret");
  expect(lines[0]).not.toContain("cHJvY29zOnMzY3JldA");
  const v = JSON.parse(lines[0]);
  expect(v).toMatchObject({
    level: "info",
    worker: "w",
    nested: { password: "[redacted]", ok: 1 },
  });
  expect(v.url).toBe("postgres://procos:***@db/procos");
  expect(redact("http://a:b@h/ and https://c:d@e/")).toBe("http://a:***@h/ and https://c:***@e/");
  expect(safeUrl("amqp://u:p@h:5672/v")).toBe("amqp://u:***@h:5672/v");
  log.debug("below");
  createLogger({}, { level: "warn", sink: (l) => lines.push(l) }).info("hidden");
  expect(lines.length).toBe(2);
});

Deno.test("store: context row ids are UUID v5, deterministic per external task and type", () => {
  // RFC 9562 test vector: DNS namespace, "www.example.com"
  expect(uuidV5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com"))
    .toBe("2ed6657d-e927-568b-95e1-2665a8aea6a2");
  const a = contextRowId("task-1", "output");
  expect(a).toBe(contextRowId("task-1", "output"));
  expect(a).not.toBe(contextRowId("task-1", "input"));
  expect(a).not.toBe(contextRowId("task-2", "output"));
  expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

Deno.test("AI answers: String up to 4000 characters, Json beyond (never cut)", () => {
  const short = "x".repeat(MAX_STRING_VARIABLE_CHARS);
  expect(answerValue(short)).toEqual({ type: "String", value: short });
  const long = 'é"\n\u2028'.repeat(2000);
  const v = answerValue(long);
  expect(v.type).toBe("Json");
  expect(JSON.parse(String(v.value)) === long).toBe(true);
  expect(toVariable("y".repeat(5000)).type).toBe("Json");
  expect(toVariable(7)).toEqual({ type: "Integer", value: 7 });
  expect(toVariable(2 ** 40)).toEqual({ type: "Long", value: 2 ** 40 });
  expect(toVariable(null)).toEqual({ type: "Null", value: null });
  expect(toVariable({ a: 1 })).toEqual({ type: "Json", value: '{"a":1}' });
});

Deno.test("prompt templates: variables fetched, missing ones named, no HTML escaping", () => {
  expect(templateVariables("{{instruction}}\n\n{{input}}")).toEqual({
    required: ["instruction", "input"],
    all: ["instruction", "input"],
    changesContext: false,
  });
  const t = compilePrompt("{{#if tone}}Tone: {{tone}}. {{/if}}{{q}} {{json data}}");
  expect(t.required).toEqual(["q"]);
  expect(t.fetch).toEqual(["tone", "q", "data"]);
  expect(t.render({ q: "<a & b>", data: { k: [1] } })).toBe('<a & b> {"k":[1]}');
  expect(() => t.render({ tone: "dry" })).toThrow(/"q"/);
  expect(compilePrompt("{{#each items}}{{name}}{{/each}}").fetch).toBeUndefined();
});

Deno.test("metrics: Prometheus text format", () => {
  const m = taskMetrics(createMetrics());
  m.completed.inc({ topic: "ai-generate" });
  m.completed.inc({ topic: "ai-generate" });
  m.failed.inc({ topic: "t", outcome: "retry" });
  m.inFlight.add({ topic: "t" }, 1);
  m.duration.observe({ topic: "t" }, 0.3);
  const text = m.registry.render();
  expect(text).toContain("# TYPE procos_worker_tasks_completed_total counter\n");
  expect(text).toContain('procos_worker_tasks_completed_total{topic="ai-generate"} 2\n');
  expect(text).toContain('procos_worker_tasks_failed_total{outcome="retry",topic="t"} 1\n');
  expect(text).toContain('procos_worker_tasks_in_flight{topic="t"} 1\n');
  expect(text).toContain('procos_worker_task_duration_seconds_bucket{topic="t",le="0.25"} 0\n');
  expect(text).toContain('procos_worker_task_duration_seconds_bucket{topic="t",le="0.5"} 1\n');
  expect(text).toContain('procos_worker_task_duration_seconds_bucket{topic="t",le="+Inf"} 1\n');
  expect(text).toContain('procos_worker_task_duration_seconds_count{topic="t"} 1\n');
});

Deno.test("manifest connections: env overrides, credentials from the named variables", () => {
  const m = {
    camunda: {
      baseUrl: "http://camunda:8080/engine-rest",
      auth: true,
      usernameEnv: "CU",
      passwordEnv: "CP",
    },
    ollama: { baseUrl: "http://ollama:11434" },
    aiContext: { table: "procos_ai_context", databaseUrlEnv: "DATABASE_URL" },
    redis: { urlEnv: "REDIS_URL" },
    events: { urlEnv: "RABBITMQ_URL" },
  } as unknown as WorkerManifest;
  const env: Record<string, string> = {
    CU: "demo",
    CP: "pw",
    OLLAMA_BASE_URL: "http://127.0.0.1:1/",
  };
  const c = resolveConnections(m, (n) => env[n]);
  expect(c).toMatchObject({
    camundaUrl: "http://camunda:8080/engine-rest",
    camundaAuth: { username: "demo", password: "pw" },
    ollamaUrl: "http://127.0.0.1:1",
  });
  expect(() => resolveConnections(m, () => undefined)).toThrow(/CU and CP/);
});

Deno.test({
  name: "events: a returned (unroutable) message is re-published to the dead-letter exchange",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const vhost = `procos_t_${crypto.randomUUID().slice(0, 8)}`;
    const v = encodeURIComponent(vhost);
    await rabbitApi("PUT", `/vhosts/${v}`, {});
    const lines: string[] = [];
    const pub = createEventPublisher({
      url: RABBIT.amqp(vhost),
      exchange: "x.events",
      deadLetterExchange: "x.dlx",
      appId: "test",
      log: createLogger({}, { level: "debug", sink: (l) => lines.push(l) }),
    });
    try {
      await rabbitApi("PUT", `/permissions/${v}/guest`, {
        configure: ".*",
        write: ".*",
        read: ".*",
      });
      await rabbitApi("POST", `/definitions/${v}`, {
        exchanges: [
          // no alternate exchange: unroutable messages come back to the publisher
          {
            name: "x.events",
            vhost,
            type: "topic",
            durable: true,
            auto_delete: false,
            internal: false,
            arguments: {},
          },
          {
            name: "x.dlx",
            vhost,
            type: "direct",
            durable: true,
            auto_delete: false,
            internal: false,
            arguments: {},
          },
        ],
        queues: [{ name: "kept", vhost, durable: true, auto_delete: false, arguments: {} }],
        bindings: [{
          source: "x.dlx",
          vhost,
          destination: "kept",
          destination_type: "queue",
          routing_key: "orphan",
          arguments: {},
        }],
      });
      await until("publisher connected", () => pub.status().connected, 10_000, 50);
      await pub.publish("orphan", { n: 1 }, { messageId: "m1" });
      const got = await until("the message in the dead-letter queue", async () => {
        const xs = await takeMessages(vhost, "kept");
        return xs.length ? xs : undefined;
      }, 10_000);
      expect(JSON.parse(got[0].payload)).toEqual({ n: 1 });
      expect(got[0].properties).toMatchObject({
        message_id: "m1",
        headers: { "x-procos-unroutable-exchange": "x.events" },
      });
      expect(pub.status()).toMatchObject({ returned: 1, lost: 0 });
      // unroutable on the dead-letter exchange too: counted and logged, not silent
      await pub.publish("nowhere", { n: 2 }, { messageId: "m2" });
      await until("counted as lost", () => pub.status().lost === 1, 10_000, 50);
      expect(lines.some((l) => l.includes("also on the dead-letter exchange") && l.includes("m2")))
        .toBe(true);
      // emit(): through the outbox, confirmed
      pub.emit("orphan", { n: 3 });
      await until(
        "outbox drained",
        () => pub.status().outbox === 0 && pub.status().confirmed >= 3,
        10_000,
        50,
      );
    } finally {
      await pub.close(2000);
      await rabbitApi("DELETE", `/vhosts/${v}`);
    }
  },
});

Deno.test({
  name:
    "generate: streams, records usage, flags done_reason length as truncated, classifies errors",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { startOllamaDouble } = await import("../ollama_double.ts");
    const { generate } = await import("../../workers/ai/generate.ts");
    const d = startOllamaDouble({ models: ["llama3.2:1b"] });
    try {
      const base = { baseUrl: d.url, model: "llama3.2:1b", timeoutMs: 10_000, idleTimeoutMs: 5000 };
      d.setAnswer("one two three four five");
      const full = await generate({ ...base, prompt: "p" });
      expect(full).toMatchObject({
        answer: "one two three four five",
        doneReason: "stop",
        truncated: false,
      });
      expect(full.usage.eval_count).toBe(5);
      expect(full.usage.prompt_eval_count).toBeGreaterThan(0);
      expect(full.usage.total_duration).toBeGreaterThan(0);
      const cut = await generate({ ...base, prompt: "p", options: { num_predict: 2 } });
      expect(cut).toMatchObject({ answer: "one two", doneReason: "length", truncated: true });
      await expect(generate({ ...base, model: "nope:1b", prompt: "p" })).rejects.toMatchObject({
        kind: "model-missing",
      });
      d.setLatency(2000);
      await expect(generate({ ...base, prompt: "p", timeoutMs: 300 })).rejects.toMatchObject({
        kind: "timeout",
      });
      d.setLatency(0);
    } finally {
      await d.close();
    }
    await expect(
      generate({
        baseUrl: d.url,
        model: "llama3.2:1b",
        prompt: "p",
        timeoutMs: 2000,
        idleTimeoutMs: 2000,
      }),
    ).rejects.toMatchObject({ kind: "unreachable" });
  },
});

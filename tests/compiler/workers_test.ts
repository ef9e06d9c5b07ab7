/**
 * Worker manifests of the reference spec: valid against the committed JSON
 * Schema (ajv) and the zod schema, durations in milliseconds, no secret.
 *
 * @module
 */
import { expect } from "expect";
import { Ajv2020 } from "ajv/dist/2020.js";
import { loadSpec } from "../../compiler/load_spec.ts";
import { buildModel } from "../../compiler/model.ts";
import type { ResolvedSpec, StackModel } from "../../compiler/model.ts";
import type { ProfileName } from "../../compiler/schema.ts";
import { emitWorkers, workerManifest } from "../../compiler/emit/workers.ts";
import {
  type AiWorkerManifest,
  type GenericWorkerManifest,
  type KernelManifest,
  parseWorkerManifest,
  WorkerManifest,
} from "../../compiler/worker_manifest.ts";
import { WORKER_SCHEMA_PATH, workerSchemaText } from "../../compiler/export_worker_schema.ts";

const ROOT = new URL("../../", import.meta.url);
const SPEC = new URL("procos.config.yaml", ROOT).pathname;

/** Production secrets, all different from the spec's development defaults. */
const PRODUCTION_ENV = {
  PROCOS_POSTGRES_PASSWORD: "pg-Secret-7f3a91",
  PROCOS_POSTGRES_SUPERUSER_PASSWORD: "su-Secret-3d4e5f",
  PROCOS_RABBITMQ_PASSWORD: "mq-Secret-2c8e44",
  PROCOS_REDIS_PASSWORD: "rd-Secret-9b1d07",
  PROCOS_CAMUNDA_ADMIN_PASSWORD: "ca-Secret-5e6f12",
};

async function resolved(profile: ProfileName): Promise<ResolvedSpec> {
  return await loadSpec(SPEC, {
    profile,
    env: profile === "production" ? PRODUCTION_ENV : {},
  });
}

async function model(profile: ProfileName): Promise<StackModel> {
  return buildModel(await resolved(profile));
}

const committedSchema = JSON.parse(
  await Deno.readTextFile(new URL(WORKER_SCHEMA_PATH, ROOT)),
);
const ajv = new Ajv2020({ strict: true, allErrors: true });
const validate = ajv.compile(committedSchema);

Deno.test("the committed worker manifest schema equals a fresh export", async () => {
  const committed = await Deno.readTextFile(new URL(WORKER_SCHEMA_PATH, ROOT));
  expect(committed).toBe(workerSchemaText());
  expect(workerSchemaText()).toBe(workerSchemaText());
});

for (const profile of ["development", "production"] as const) {
  Deno.test(`${profile}: every manifest validates against the JSON Schema and zod`, async () => {
    const m = await model(profile);
    const artifacts = emitWorkers(m);
    expect(artifacts.map((a) => a.path)).toEqual([
      "workers/kernel.json",
      "workers/ai-worker.json",
      "workers/generic-worker.json",
    ]);
    for (const a of artifacts) {
      expect(a.content.endsWith("}\n")).toBe(true);
      if (!validate(JSON.parse(a.content))) {
        throw new Error(`${a.path}: ${ajv.errorsText(validate.errors)}`);
      }
      expect(WorkerManifest.safeParse(JSON.parse(a.content)).success).toBe(true);
      const value = parseWorkerManifest(JSON.parse(a.content));
      expect(value).toEqual(JSON.parse(a.content));
      expect(value.manifestVersion).toBe(1);
      expect(value.profile).toBe(profile);
      expect(`workers/${value.name}.json`).toBe(a.path);
    }
  });

  Deno.test(`${profile}: no secret value appears in any manifest`, async () => {
    const r = await resolved(profile);
    const artifacts = emitWorkers(buildModel(r));
    const values = Object.values(r.secrets).map((s) => s.value);
    expect(values.length).toBe(5);
    if (profile === "production") {
      expect(values.sort()).toEqual(Object.values(PRODUCTION_ENV).sort());
    }
    for (const a of artifacts) {
      for (const v of values) {
        if (a.content.includes(v)) throw new Error(`${a.path} contains a secret value`);
      }
      expect(a.content).not.toMatch(/password"\s*:/i);
      expect(a.mode ?? 0o644).toBe(0o644);
    }
  });

  Deno.test(`${profile}: emitting twice gives the same bytes`, async () => {
    const m = await model(profile);
    expect(emitWorkers(m)).toEqual(emitWorkers(structuredClone(m)));
  });
}

Deno.test("AI worker manifest: topic, durations in ms, model rate limit, connections", async () => {
  const m = await model("development");
  const ai = workerManifest(m, m.workers.find((w) => w.kind === "ai")!) as AiWorkerManifest;
  expect(ai.kind).toBe("ai");
  expect(ai.healthPort).toBe(9101);
  expect(ai.concurrency).toBe(2);
  expect(ai.topics).toEqual([{
    name: "ai-generate",
    lockDurationMs: 5 * 60_000,
    retries: 3,
    backoff: { initialMs: 5_000, factor: 2, maxMs: 5 * 60_000 },
    provider: "ollama",
    model: "llama3.2:1b",
    contextWindow: 8192,
    rateLimitPerMinute: 60,
    prompt: "{{instruction}}\n\n{{input}}",
    cache: false,
  }]);
  expect(ai.camunda).toEqual({
    baseUrl: "http://camunda:8080/engine-rest",
    auth: false,
    usernameEnv: "CAMUNDA_USERNAME",
    passwordEnv: "CAMUNDA_PASSWORD",
  });
  expect(ai.ollama).toEqual({ baseUrl: "http://ollama:11434" });
  expect(ai.events).toEqual({
    urlEnv: "RABBITMQ_URL",
    exchange: "procos.events",
    routingKeys: { taskCompleted: "task.completed", taskFailed: "task.failed" },
    deadLetterExchange: "procos.dlx",
  });
  expect(ai.aiContext).toEqual({ table: "procos_ai_context", databaseUrlEnv: "DATABASE_URL" });
});

Deno.test("the env variables a manifest names are in the worker's env", async () => {
  for (const profile of ["development", "production"] as const) {
    const m = await model(profile);
    for (const w of m.workers) {
      const man = workerManifest(m, w);
      const env = m.services.find((s) => s.name === w.name)!.env;
      const names = [
        man.events.urlEnv,
        man.aiContext.databaseUrlEnv,
        man.redis.urlEnv,
        ...(man.camunda.auth ? [man.camunda.usernameEnv, man.camunda.passwordEnv] : []),
      ];
      for (const n of names) expect(Object.keys(env)).toContain(n);
      expect(env.CAMUNDA_BASE_URL).toBe(man.camunda.baseUrl);
      expect(env.OLLAMA_BASE_URL).toBe(man.ollama.baseUrl);
    }
  }
});

Deno.test("generic worker manifest: every topic with its type and durations", async () => {
  const m = await model("development");
  const g = workerManifest(
    m,
    m.workers.find((w) => w.kind === "generic")!,
  ) as GenericWorkerManifest;
  expect(g.concurrency).toBe(4);
  expect(g.topics.map((t) => [t.name, t.type, t.lockDurationMs, t.retries])).toEqual([
    ["generic-http", "http", 30_000, 3],
    ["generic-sql", "sql", 30_000, 3],
    ["generic-publish", "publish", 30_000, 3],
    ["generic-redis", "redis", 30_000, 3],
    ["generic-noop", "noop", 30_000, 0],
    ["procos-retention", "retention", 600_000, 3],
  ]);
  expect(g.topics[0].backoff).toEqual({ initialMs: 2_000, factor: 2, maxMs: 60_000 });
  expect(g.topics[4].backoff).toEqual({ initialMs: 1_000, factor: 2, maxMs: 1_000 });
});

Deno.test("kernel manifest: processes, boot ids, models, start order", async () => {
  const m = await model("production");
  const k = workerManifest(m, m.workers.find((w) => w.kind === "kernel")!) as KernelManifest;
  expect(k.healthPort).toBe(9100);
  expect(k.processes).toEqual({ path: "/procos/processes", boot: ["procos-boot"] });
  expect(k.models).toEqual([{ provider: "ollama", name: "llama3.2:1b" }]);
  expect(k.startOrder).toEqual(["ai-worker", "generic-worker"]);
  expect(k.camunda.auth).toBe(true);
  expect("topics" in k).toBe(false);
  // The kernel's processes mount in the model is the path the manifest names.
  const svc = m.services.find((s) => s.name === "kernel")!;
  expect(svc.volumes.map((v) => v.target)).toContain(k.processes.path);
});

Deno.test("every duration unit converts to milliseconds", async () => {
  const m = await model("development");
  const w = m.workers.find((x) => x.kind === "generic")!;
  const cases: [string, number][] = [
    ["250ms", 250],
    ["45s", 45_000],
    ["3m", 180_000],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
  ];
  for (const [d, ms] of cases) {
    const topic = {
      ...w.topics[0],
      lock_duration: d,
      backoff: { initial: d, factor: 1.5, max: d },
    };
    const man = workerManifest(m, { ...w, topics: [topic] }) as GenericWorkerManifest;
    expect(man.topics[0].lockDurationMs).toBe(ms);
    expect(man.topics[0].backoff).toEqual({ initialMs: ms, factor: 1.5, maxMs: ms });
    expect(validate(JSON.parse(JSON.stringify(man)))).toBe(true);
  }
});

Deno.test("an AI topic whose model no provider offers is refused", async () => {
  const m = await model("development");
  const w = m.workers.find((x) => x.kind === "ai")!;
  const topic = { ...w.topics[0], model: "nope:1b" };
  expect(() => workerManifest(m, { ...w, topics: [topic] })).toThrow(/no AI provider offers/);
});

Deno.test("the schemas refuse an unknown field (a password, say) and a wrong kind", async () => {
  const m = await model("development");
  const man = JSON.parse(emitWorkers(m)[1].content);
  expect(validate({ ...man, camunda: { ...man.camunda, password: "x" } })).toBe(false);
  expect(WorkerManifest.safeParse({ ...man, camunda: { ...man.camunda, password: "x" } }).success)
    .toBe(false);
  expect(validate({ ...man, kind: "generic" })).toBe(false);
  expect(WorkerManifest.safeParse({ ...man, kind: "generic" }).success).toBe(false);
  expect(validate({ ...man, manifestVersion: 2 })).toBe(false);
  expect(() => parseWorkerManifest({ ...man, topics: [] })).toThrow(/topics/);
});

/**
 * The workers checks: planned from the model; against the workers' own health
 * server (`workers/lib/health.ts`) serving each kind's metrics and health
 * bodies; against small HTTP servers that answer wrongly; against nothing;
 * and against the three real workers (kernel, AI, generic) started as
 * processes beside a fake Camunda REST API and the Ollama double: all green,
 * then a killed worker fails exactly its own checks.
 */
import { expect } from "expect";
import { loadSpec } from "../../compiler/load_spec.ts";
import { buildModel, type StackModel } from "../../compiler/model.ts";
import { workerManifest } from "../../compiler/emit/workers.ts";
import { WORKER_ENV } from "../../compiler/worker_manifest.ts";
import { writeEndpoints } from "../../runtime/endpoints.ts";
import type { Result, VerifyContext } from "../../verify/check.ts";
import { resolveTargets } from "../../verify/targets.ts";
import {
  AI_WORKER_METRICS,
  deployableFiles,
  expectedMetrics,
  KERNEL_DEPLOYABLE,
  KERNEL_METRICS,
  parsePrometheusText,
  TASK_WORKER_METRICS,
  workersChecks,
} from "../../verify/checks/workers.ts";
import { DEPLOYABLE, readProcesses } from "../../workers/kernel/main.ts";
import {
  createMetrics,
  type HealthReport,
  type HealthServer,
  startHealthServer,
  taskMetrics,
} from "../../workers/lib/health.ts";
import { createLogger } from "../../workers/lib/log.ts";
import { startOllamaDouble } from "../ollama_double.ts";
import { REPO_ROOT, withTempDir } from "../helpers/build.ts";
import { byId, contextFor, failing, freePort, referenceModel, run, runAll } from "./helpers.ts";

const quietLog = createLogger({}, { level: "error", sink: () => {} });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The repository's process files, as the kernel reads them (and the fake engine's definitions). */
const PROCESS_FILES = (await readProcesses(`${REPO_ROOT}/processes`)).map((r) => r.name);
const CREATED = PROCESS_FILES.filter((f) => f.endsWith(".bpmn")).map((f) =>
  `${f.replace(/\.bpmn$/, "")}:1`
);
const DEPLOYED_DETAIL = `${PROCESS_FILES.length} file(s); created ${CREATED.join(", ")}`;

/** A kernel's `/health` body once it booted (what `workers/kernel/main.ts` reports). */
function readyKernel(): HealthReport {
  return {
    ok: true,
    ready: true,
    phase: "ready",
    deployment: { files: [...PROCESS_FILES], created: [...CREATED] },
    models: { present: ["llama3.2:1b"], pulled: [] },
    boot: { started: ["procos-boot"], running: [] },
  };
}

/** A task worker's `/health` body while it polls. */
function pollingWorker(name: string): HealthReport {
  return {
    ok: true,
    worker: name,
    camunda: { polling: true, reachable: true, lastError: null },
    tasksInFlight: 0,
  };
}

/** The workers' own health servers, one per worker of the model, with settable reports. */
interface Servers {
  reports: Record<string, HealthReport>;
  servers: Record<string, HealthServer>;
  urls: Record<string, { url: string }>;
  close(): Promise<void>;
}

function startServers(model: StackModel): Servers {
  const reports: Record<string, HealthReport> = {};
  const servers: Record<string, HealthServer> = {};
  const urls: Record<string, { url: string }> = {};
  for (const w of model.workers) {
    let metrics;
    if (w.kind === "kernel") {
      metrics = createMetrics();
      metrics.gauge("procos_kernel_ready", "1 once the kernel finished booting.").set({}, 1);
      metrics.gauge("procos_kernel_deployed_definitions", "Definitions created.").set({}, 2);
      reports[w.name] = readyKernel();
    } else {
      const t = taskMetrics();
      t.completed.inc({ topic: "generic-noop" });
      t.duration.observe({ topic: "generic-noop" }, 0.02);
      if (w.kind === "ai") {
        t.registry.counter("procos_ai_tokens_total", "Tokens.").inc({ model: "m", kind: "eval" });
        t.registry.counter("procos_ai_truncated_total", "Truncated.");
        t.registry.counter("procos_ai_cache_hits_total", "Cache hits.");
        t.registry.histogram("procos_ai_generation_seconds", "Generation.");
      }
      metrics = t.registry;
      reports[w.name] = pollingWorker(w.name);
    }
    servers[w.name] = startHealthServer({
      port: 0,
      hostname: "127.0.0.1",
      metrics,
      log: quietLog,
      check: () => reports[w.name],
    });
    urls[w.name] = { url: `http://127.0.0.1:${servers[w.name].port}` };
  }
  return {
    reports,
    servers,
    urls,
    close: async () => {
      for (const s of Object.values(servers)) await s.close().catch(() => {});
    },
  };
}

async function workersContext(
  model: StackModel,
  workers: Record<string, { url: string }>,
): Promise<VerifyContext> {
  return await contextFor(model, { workers });
}

Deno.test("workers checks: planned from the model's workers, in start order", async () => {
  const model = await referenceModel();
  const checks = workersChecks(model, await workersContext(model, {}));
  expect(checks.map((c) => c.id)).toEqual([
    "workers.health.kernel",
    "workers.metrics.kernel",
    "workers.deployed.kernel",
    "workers.models.kernel",
    "workers.boot.kernel",
    "workers.health.ai-worker",
    "workers.metrics.ai-worker",
    "workers.health.generic-worker",
    "workers.metrics.generic-worker",
  ]);
  expect(new Set(checks.map((c) => c.domain))).toEqual(new Set(["workers"]));
  expect(byId(checks, "workers.health.ai-worker").name).toBe(
    "workers: ai-worker (ai) GET /health answers 200",
  );
  // a spec without workers has no worker checks
  const none = structuredClone(model);
  none.workers = [];
  none.services = none.services.filter((s) => s.role !== "worker");
  expect(workersChecks(none, await workersContext(none, {}))).toEqual([]);
});

Deno.test("workers checks: the expected names are the workers' own (metrics, deployable files)", () => {
  expect([...KERNEL_DEPLOYABLE]).toEqual([...DEPLOYABLE]);
  expect(expectedMetrics("generic")).toEqual(TASK_WORKER_METRICS);
  expect(expectedMetrics("ai")).toEqual([...TASK_WORKER_METRICS, ...AI_WORKER_METRICS]);
  expect(expectedMetrics("kernel")).toEqual(KERNEL_METRICS);
  // what taskMetrics() registers renders exactly the task-worker families, with their types
  const parsed = parsePrometheusText(taskMetrics().registry.render());
  expect(parsed.errors).toEqual([]);
  expect([...parsed.types]).toEqual(TASK_WORKER_METRICS.map(([n, t]) => [n, t]));
  expect(deployableFiles(`${REPO_ROOT}/processes`)).toEqual(PROCESS_FILES);
  expect(deployableFiles(`${REPO_ROOT}/no-such-folder`)).toBeUndefined();
});

Deno.test("workers checks: the Prometheus text parser accepts the format and names what is wrong", () => {
  const t = taskMetrics();
  t.completed.inc({ topic: 'a "quoted"\\ topic\nwith a newline' });
  t.failed.inc({ topic: "x", outcome: "retry" }, 3);
  t.inFlight.set({ topic: "x" }, 0);
  t.duration.observe({ topic: "x" }, 1e-9);
  const ok = parsePrometheusText(
    t.registry.render() + "# a comment\nup 1 1700000000000\nnan_metric NaN\ninf_metric +Inf\n",
  );
  expect(ok.errors).toEqual([]);
  expect(ok.sampleNames.has("procos_worker_task_duration_seconds_bucket")).toBe(true);
  expect(ok.types.get("procos_worker_tasks_failed_total")).toBe("counter");

  const bad = parsePrometheusText(
    [
      "<html>not metrics</html>",
      "# TYPE m sometype",
      "m{a=1} 2",
      'm{a="1"} two',
      'm{a="1"}2',
      "# TYPE dup gauge",
      "# TYPE dup gauge",
      'm{a="unterminated} 1',
    ].join("\n"),
  );
  expect(bad.errors).toEqual([
    'line 1: not a sample: "<html>not metrics</html>"',
    'line 2: unknown type "sometype"',
    'line 3: expected ="..." after label a',
    'line 4: bad value "two"',
    "line 5: no value after m",
    "line 7: second TYPE line for dup",
    "line 8: unterminated value of label a",
  ]);
});

Deno.test("workers checks: green against the workers' health servers, then each fault caught by its check", async () => {
  const model = await referenceModel();
  const s = startServers(model);
  try {
    const ctx = await workersContext(model, s.urls);
    const checks = workersChecks(model, ctx);
    const green = await runAll(checks, ctx);
    expect(failing(green)).toEqual([]);
    expect([...green.values()].every((r) => r.status === "pass")).toBe(true);
    expect(green.get("workers.health.kernel")).toEqual({ status: "pass", detail: "phase ready" });
    expect(green.get("workers.health.generic-worker")).toEqual({
      status: "pass",
      detail: "0 task(s) in flight",
    });
    expect(green.get("workers.deployed.kernel")).toEqual({
      status: "pass",
      detail: DEPLOYED_DETAIL,
    });
    expect(green.get("workers.models.kernel")).toEqual({
      status: "pass",
      detail: "present: llama3.2:1b",
    });
    expect(green.get("workers.boot.kernel")).toEqual({
      status: "pass",
      detail: "started procos-boot",
    });
    expect(green.get("workers.metrics.ai-worker")?.status).toBe("pass");

    // a worker that lost Camunda answers 503: only its health check fails, saying why
    s.reports["ai-worker"] = {
      ...pollingWorker("ai-worker"),
      ok: false,
      camunda: { polling: true, reachable: false, lastError: "connect ECONNREFUSED" },
    };
    let r = await runAll(checks, ctx);
    expect(failing(r)).toEqual(["workers.health.ai-worker"]);
    expect(r.get("workers.health.ai-worker")).toMatchObject({
      status: "fail",
      expected: `GET ${s.urls["ai-worker"].url}/health: HTTP 200`,
      actual: "HTTP 503 (Camunda not reachable: connect ECONNREFUSED)",
    });
    s.reports["ai-worker"] = pollingWorker("ai-worker");

    // the kernel deployed only one of the two files (one was added after it started)
    s.reports.kernel = {
      ...readyKernel(),
      deployment: { files: ["procos-boot.bpmn"], created: [] },
    };
    r = await runAll(checks, ctx);
    expect(failing(r)).toEqual(["workers.deployed.kernel"]);
    const dep = r.get("workers.deployed.kernel") as Result & { status: "fail" };
    expect(dep.expected).toBe(
      `the kernel's deployment holds every file of processes/ (${PROCESS_FILES.join(", ")})`,
    );
    expect(dep.actual).toBe(
      `it deployed procos-boot.bpmn; missing: ${
        PROCESS_FILES.filter((f) => f !== "procos-boot.bpmn").join(", ")
      }`,
    );
    expect(dep.hint).toContain("restart it");

    // a ready kernel that found nothing to deploy (it reads another folder)
    const { deployment: _, ...noDeployment } = readyKernel();
    s.reports.kernel = noDeployment as HealthReport;
    r = await runAll(checks, ctx);
    expect(failing(r)).toEqual(["workers.deployed.kernel"]);
    expect((r.get("workers.deployed.kernel") as Result & { status: "fail" }).hint).toContain(
      "PROCOS_PROCESSES_PATH",
    );

    // a model missing from the kernel's report; the boot process neither started nor running
    s.reports.kernel = {
      ...readyKernel(),
      models: { present: [], pulled: ["qwen2:0.5b"] },
      boot: { started: [], running: [] },
    };
    r = await runAll(checks, ctx);
    expect(failing(r)).toEqual(["workers.boot.kernel", "workers.models.kernel"]);
    expect(r.get("workers.models.kernel")).toMatchObject({
      expected: "the kernel found or pulled llama3.2:1b",
      actual: "it reports qwen2:0.5b; missing: llama3.2:1b",
    });
    expect(r.get("workers.boot.kernel")).toMatchObject({
      actual: "started: none; running: none; missing: procos-boot",
    });
    // a boot process already running (a restarted kernel) is fine; :latest is the same model
    s.reports.kernel = {
      ...readyKernel(),
      models: { present: ["llama3.2:1b"], pulled: [] },
      boot: { started: [], running: ["procos-boot"] },
    };
    expect(failing(await runAll(checks, ctx))).toEqual([]);

    // a kernel still booting: its health fails with the phase; its report is not judged yet
    s.reports.kernel = { ok: false, ready: false, phase: "waiting for Camunda" };
    r = await runAll(checks, ctx);
    expect(failing(r)).toEqual(["workers.health.kernel"]);
    expect(r.get("workers.health.kernel")).toMatchObject({
      actual: "HTTP 503 (phase: waiting for Camunda)",
    });
    for (const id of ["workers.deployed.kernel", "workers.models.kernel", "workers.boot.kernel"]) {
      expect(r.get(id)).toEqual({
        status: "skip",
        reason:
          "the kernel has not finished booting (phase waiting for Camunda; workers.health.kernel)",
      });
    }
  } finally {
    await s.close();
  }
});

Deno.test("workers checks: /metrics that is not the Prometheus format, or lacks a metric, fails naming it", async () => {
  const model = await referenceModel();
  let answer = { status: 200, type: "text/plain; version=0.0.4", body: "" };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === "/metrics"
        ? new Response(answer.body, {
          status: answer.status,
          headers: { "content-type": answer.type },
        })
        : Response.json({ status: "ok" }),
  );
  try {
    const url = `http://127.0.0.1:${server.addr.port}`;
    const ctx = await workersContext(model, { "generic-worker": { url } });
    const check = byId(workersChecks(model, ctx), "workers.metrics.generic-worker");
    const t = taskMetrics();
    answer.body = t.registry.render();
    expect(await run(check, ctx)).toEqual({
      status: "pass",
      detail: "4 metric families, 0 samples",
    });

    answer = { status: 200, type: "application/json", body: "{}" };
    expect(await run(check, ctx)).toMatchObject({
      status: "fail",
      expected: "content-type text/plain; version=0.0.4 (the Prometheus text format)",
      actual: "content-type application/json",
    });

    answer = { status: 200, type: "text/plain", body: "hello world\n" };
    expect(await run(check, ctx)).toMatchObject({
      status: "fail",
      expected: "the Prometheus text format (0.0.4)",
      actual: 'line 1: bad value "world"',
    });

    const partial = createMetrics();
    partial.counter("procos_worker_tasks_completed_total", "c");
    partial.counter("procos_worker_tasks_failed_total", "f");
    partial.counter("procos_worker_tasks_in_flight", "wrongly a counter");
    answer = { status: 200, type: "text/plain", body: partial.render() };
    expect(await run(check, ctx)).toMatchObject({
      status: "fail",
      actual: "procos_worker_tasks_in_flight is a counter, not a gauge; " +
        "procos_worker_task_duration_seconds missing",
    });

    answer = { status: 500, type: "text/plain", body: "boom" };
    expect(await run(check, ctx)).toMatchObject({
      status: "fail",
      expected: `GET ${url}/metrics: HTTP 200`,
      actual: "HTTP 500: boom",
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("workers checks: nothing listening fails health and metrics, skips the kernel's report", async () => {
  const model = await referenceModel();
  const urls = Object.fromEntries(
    model.workers.map((w) => [w.name, { url: `http://127.0.0.1:${freePort()}` }]),
  );
  const ctx = await workersContext(model, urls);
  const r = await runAll(workersChecks(model, ctx), ctx);
  expect(failing(r)).toEqual([
    "workers.health.ai-worker",
    "workers.health.generic-worker",
    "workers.health.kernel",
    "workers.metrics.ai-worker",
    "workers.metrics.generic-worker",
    "workers.metrics.kernel",
  ]);
  const h = r.get("workers.health.kernel") as Result & { status: "fail" };
  expect(h.actual).toMatch(/^cannot reach 127\.0\.0\.1:\d+: .*refused/i);
  expect(h.hint).toContain("deno task up");
  expect(h.hint).toContain("/runtime/kernel.log");
  expect(r.get("workers.models.kernel")?.status).toBe("skip");
});

Deno.test("workers targets: endpoints.json's workers, else the health port on 127.0.0.1 (local) or by name (network)", async () => {
  const model = await referenceModel();
  const local = await resolveTargets(model);
  expect(local.workers).toEqual({
    kernel: { url: "http://127.0.0.1:9100" },
    "ai-worker": { url: "http://127.0.0.1:9101" },
    "generic-worker": { url: "http://127.0.0.1:9102" },
  });
  expect(local.sources.workers).toBe("model (health port on 127.0.0.1)");
  expect((await resolveTargets(model, { mode: "network" })).workers.kernel).toEqual({
    url: "http://kernel:9100",
  });
  await withTempDir(async (out) => {
    await Deno.mkdir(`${out}/runtime`);
    // what the local runtime writes (runtime/endpoints.ts), read back by verify
    const hostModel = buildModel(
      await loadSpec(`${REPO_ROOT}/procos.config.yaml`, {
        profile: "development",
        env: {},
      }),
      {
        addressing: "host",
      },
    );
    await writeEndpoints(out, hostModel);
    const written = JSON.parse(await Deno.readTextFile(`${out}/runtime/endpoints.json`));
    expect(written.workers).toEqual({
      kernel: { url: "http://127.0.0.1:9100" },
      "ai-worker": { url: "http://127.0.0.1:9101" },
      "generic-worker": { url: "http://127.0.0.1:9102" },
    });
    written.workers["ai-worker"].url = "http://127.0.0.1:59101/";
    await Deno.writeTextFile(`${out}/runtime/endpoints.json`, JSON.stringify(written));
    const t = await resolveTargets(model, { outDir: out });
    expect(t.workers["ai-worker"]).toEqual({ url: "http://127.0.0.1:59101" });
    expect(t.sources.workers).toBe(`${out}/runtime/endpoints.json`);
    written.workers.kernel.url = "not a url";
    await Deno.writeTextFile(`${out}/runtime/endpoints.json`, JSON.stringify(written));
    await expect(resolveTargets(model, { outDir: out })).rejects.toThrow(
      "endpoints.json: workers.kernel.url: an http(s) URL",
    );
  });
});

// ------------------------------------------------------------ real workers

/**
 * A fake Camunda REST API, enough for the kernel (engine, deploy, boot start)
 * and the task workers' polling (fetchAndLock answers no task after a short wait).
 */
function fakeCamunda(): { url: string; close(): Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname.replace(/^\/engine-rest/, "");
    if (req.method === "GET" && path === "/engine") return Response.json([{ name: "default" }]);
    if (req.method === "POST" && path === "/deployment/create") {
      const form = await req.formData();
      const defs: Record<string, unknown> = {};
      for (const [name, v] of form) {
        if (v instanceof File && name.endsWith(".bpmn")) {
          const key = name.replace(/\.bpmn$/, "");
          defs[`${key}:1:x`] = { id: `${key}:1:x`, key, version: 1, resource: name };
        }
      }
      return Response.json({
        id: "d1",
        name: form.get("deployment-name"),
        deployedProcessDefinitions: defs,
      });
    }
    if (req.method === "GET" && path === "/process-instance") return Response.json([]);
    if (req.method === "POST" && /^\/process-definition\/key\/[^/]+\/start$/.test(path)) {
      await req.body?.cancel();
      return Response.json({ id: crypto.randomUUID() });
    }
    if (req.method === "POST" && path === "/external-task/fetchAndLock") {
      await req.body?.cancel();
      await sleep(200);
      return Response.json([]);
    }
    await req.body?.cancel();
    return Response.json({ type: "NotFound", message: `fake: ${req.method} ${path}` }, {
      status: 404,
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/engine-rest`,
    close: () => server.shutdown(),
  };
}

Deno.test({
  name:
    "workers checks: the real kernel, AI and generic workers are green; a killed one fails exactly its checks",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const model = await referenceModel();
    const camunda = fakeCamunda();
    const ollama = startOllamaDouble({ models: ["llama3.2:1b"] });
    const children: Record<string, Deno.ChildProcess> = {};
    await withTempDir(async (dir) => {
      try {
        const urls: Record<string, { url: string }> = {};
        for (const w of model.workers) {
          const manifest = `${dir}/${w.name}.json`;
          await Deno.writeTextFile(manifest, JSON.stringify(workerManifest(model, w)));
          const port = freePort();
          urls[w.name] = { url: `http://127.0.0.1:${port}` };
          const echo = Deno.env.get("PROCOS_TEST_ECHO") ? "inherit" : "null";
          children[w.name] = new Deno.Command(Deno.execPath(), {
            args: ["run", "--allow-all", `${REPO_ROOT}/workers/${w.kind}/main.ts`],
            cwd: REPO_ROOT,
            clearEnv: true,
            env: {
              PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
              HOME: Deno.env.get("HOME") ?? "/root",
              ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
              DENO_NO_UPDATE_CHECK: "1",
              PROCOS_MANIFEST: manifest,
              PROCOS_HEALTH_PORT: String(port),
              PROCOS_PROCESSES_PATH: `${REPO_ROOT}/processes`,
              CAMUNDA_BASE_URL: camunda.url,
              OLLAMA_BASE_URL: ollama.url,
              // never connected: no task reaches the AI worker
              [WORKER_ENV.databaseUrl]: "postgres://nobody@127.0.0.1:1/none",
              PROCOS_LOG_LEVEL: "warn",
            },
            stdin: "null",
            stdout: echo,
            stderr: echo,
          }).spawn();
        }
        const ctx = await workersContext(model, urls);
        const checks = workersChecks(model, ctx);
        // all three answer 200 once the kernel booted and the workers polled
        let r = new Map<string, Result>();
        for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
          r = await runAll(checks, ctx);
          if (failing(r).length === 0) break;
          await sleep(300);
        }
        expect(failing(r)).toEqual([]);
        expect([...r.values()].map((x) => x.status)).toEqual(checks.map(() => "pass"));
        expect(r.get("workers.deployed.kernel")).toEqual({
          status: "pass",
          detail: DEPLOYED_DETAIL,
        });
        expect(r.get("workers.boot.kernel")).toEqual({
          status: "pass",
          detail: "started procos-boot",
        });

        // SIGKILL the generic worker: exactly its two checks fail
        children["generic-worker"].kill("SIGKILL");
        await children["generic-worker"].status;
        r = await runAll(checks, ctx);
        expect(failing(r)).toEqual([
          "workers.health.generic-worker",
          "workers.metrics.generic-worker",
        ]);

        // Camunda gone: the AI worker says so on /health (503); the kernel stays ready
        await camunda.close();
        for (const deadline = Date.now() + 20_000; Date.now() < deadline;) {
          r = await runAll(checks, ctx);
          if (r.get("workers.health.ai-worker")?.status === "fail") break;
          await sleep(300);
        }
        expect(failing(r)).toEqual([
          "workers.health.ai-worker",
          "workers.health.generic-worker",
          "workers.metrics.generic-worker",
        ]);
        expect((r.get("workers.health.ai-worker") as Result & { status: "fail" }).actual).toMatch(
          /^HTTP 503 \(Camunda not reachable/,
        );
      } finally {
        for (const c of Object.values(children)) {
          try {
            c.kill("SIGKILL");
          } catch { /* gone */ }
          await c.status;
        }
        await camunda.close().catch(() => {});
        await ollama.close();
      }
    });
  },
});

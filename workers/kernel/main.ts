/**
 * The ProcOS kernel: brings the process layer up, then reports ready on
 * `/health` (the runtime starts the other workers after it):
 *
 * 1. waits for Camunda (`GET /engine`, exponential back-off; with REST auth,
 *    also an authenticated call);
 * 2. deploys every `*.bpmn`, `*.dmn` (and `*.form`) file of the processes
 *    folder as one deployment named after the project, with duplicate
 *    filtering and `deploy-changed-only`: an unchanged file creates nothing,
 *    a changed one a new version;
 * 3. makes sure every model the manifest names is in Ollama, pulling missing
 *    ones (streamed progress logged); a model that cannot be had stops the
 *    kernel with status 1 and a message naming the model and the reason;
 * 4. starts each boot process (`processes.boot`), unless an instance started
 *    by a kernel for the same spec (business key `procos-boot:<specHash>`) is
 *    still running;
 * 5. serves `/health` (200 once ready) and `/metrics` until SIGTERM.
 *
 * Environment: `PROCOS_MANIFEST`, `PROCOS_PROCESSES_PATH` (overrides the
 * manifest's container path, for runs outside a container),
 * `PROCOS_HEALTH_PORT`, `PROCOS_KERNEL_WAIT_MS` (how long to wait for Camunda
 * and Ollama, default 300000), `CAMUNDA_BASE_URL`, `OLLAMA_BASE_URL`.
 *
 * @module
 */
import { Ollama } from "ollama";
import { createRestClient, type DeployResource, type RestClient } from "../lib/camunda.ts";
import { createMetrics, startHealthServer } from "../lib/health.ts";
import { installLifecycle } from "../lib/lifecycle.ts";
import { createLogger, errorMessage, type Logger, safeUrl } from "../lib/log.ts";
import { DEPLOYABLE_EXTENSIONS, isDeployable } from "../../compiler/worker_manifest.ts";
import {
  envInt,
  type KernelManifest,
  loadManifestOf,
  resolveConnections,
} from "../lib/manifest.ts";

/** File extensions the kernel deploys (the compiler's list: the build copies the same files). */
export const DEPLOYABLE = DEPLOYABLE_EXTENSIONS;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `probe` resolves true, with exponential back-off, for at most `maxMs`. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  log: Logger,
  maxMs: number,
): Promise<void> {
  const deadline = Date.now() + maxMs;
  let delay = 250;
  for (let attempt = 1;; attempt++) {
    let ok = false;
    let error: string | undefined;
    try {
      ok = await probe();
    } catch (e) {
      error = errorMessage(e);
    }
    if (ok) {
      if (attempt > 1) log.info(`${what} is up`, { attempts: attempt });
      return;
    }
    if (Date.now() + delay > deadline) {
      throw new Error(`${what} did not come up within ${maxMs} ms${error ? `: ${error}` : ""}`);
    }
    if (attempt <= 3 || attempt % 5 === 0) {
      log.info(`waiting for ${what}`, { attempt, retryInMs: delay, ...(error ? { error } : {}) });
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 10_000);
  }
}

/** The deployable files of a folder (recursively), sorted by name. */
export async function readProcesses(dir: string): Promise<DeployResource[]> {
  const out: DeployResource[] = [];
  const walk = async (d: string, rel: string) => {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(d)) entries.push(e);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const path = `${d}/${e.name}`;
      const name = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(path, name);
      else if (e.isFile && isDeployable(e.name)) {
        out.push({ name, content: await Deno.readFile(path) });
      }
    }
  };
  await walk(dir.replace(/\/+$/, ""), "");
  return out;
}

/** Ollama's name normalisation: no tag means `:latest`. */
export function normalizeModel(name: string): string {
  const last = name.split("/").pop() ?? name;
  return last.includes(":") ? name : `${name}:latest`;
}

/** Makes sure every model is present, pulling the missing ones. Throws naming a model that cannot be had. */
export async function ensureModels(
  ollamaUrl: string,
  models: string[],
  log: Logger,
): Promise<{ present: string[]; pulled: string[] }> {
  const ollama = new Ollama({ host: ollamaUrl });
  const listed = await ollama.list();
  const have = new Set(listed.models.map((m) => normalizeModel(m.name)));
  const present: string[] = [];
  const pulled: string[] = [];
  for (const model of models) {
    if (have.has(normalizeModel(model))) {
      present.push(model);
      continue;
    }
    log.info("pulling model", { model });
    let lastPct = -1;
    let lastStatus = "";
    try {
      const stream = await ollama.pull({ model, stream: true });
      let success = false;
      for await (const p of stream) {
        const pct = p.total ? Math.floor(((p.completed ?? 0) / p.total) * 100) : undefined;
        const status = p.status.replace(/ sha256:[0-9a-f]+/, "");
        if (status !== lastStatus || (pct !== undefined && pct >= lastPct + 10)) {
          log.info("pull progress", {
            model,
            status: p.status,
            ...(pct !== undefined ? { percent: pct } : {}),
          });
          lastStatus = status;
          if (pct !== undefined) lastPct = pct;
        }
        if (p.status === "success") success = true;
      }
      if (!success) throw new Error("the pull ended without success");
    } catch (e) {
      throw new Error(
        `model ${model} cannot be had from Ollama at ${ollamaUrl}: ${errorMessage(e)}`,
      );
    }
    const after = await ollama.list();
    if (!after.models.some((m) => normalizeModel(m.name) === normalizeModel(model))) {
      throw new Error(`model ${model} was pulled but Ollama at ${ollamaUrl} does not list it`);
    }
    log.info("model pulled", { model });
    pulled.push(model);
  }
  return { present, pulled };
}

/** Starts the boot processes not already running for this spec. */
export async function startBootProcesses(
  rest: RestClient,
  keys: string[],
  specHash: string,
  log: Logger,
): Promise<{ started: string[]; running: string[] }> {
  const businessKey = `procos-boot:${specHash}`;
  const started: string[] = [];
  const running: string[] = [];
  for (const key of keys) {
    const active = await rest.request<{ id: string }[]>("GET", "/process-instance", {
      query: { processDefinitionKey: key, businessKey, active: "true" },
    });
    if (active.length > 0) {
      log.info("boot process already running", { process: key, instance: active[0].id });
      running.push(key);
      continue;
    }
    const r = await rest.startProcess(key, { businessKey });
    log.info("boot process started", { process: key, instance: r.id });
    started.push(key);
  }
  return { started, running };
}

/** Runs the kernel until SIGTERM. */
export async function main(): Promise<void> {
  let log = createLogger({ kind: "kernel" });
  let manifest: KernelManifest;
  try {
    manifest = await loadManifestOf("kernel");
  } catch (e) {
    log.error("cannot start", { error: errorMessage(e) });
    Deno.exit(2);
  }
  log = createLogger({ worker: manifest.name, kind: "kernel" });
  const lifecycle = installLifecycle({ log });
  const conn = resolveConnections(manifest);
  const rest = createRestClient({ baseUrl: conn.camundaUrl, auth: conn.camundaAuth });
  const processesPath = Deno.env.get("PROCOS_PROCESSES_PATH") || manifest.processes.path;
  const waitMs = envInt("PROCOS_KERNEL_WAIT_MS", 300_000);
  const metrics = createMetrics();
  const phase = metrics.gauge("procos_kernel_ready", "1 once the kernel finished booting.");
  const deployedGauge = metrics.gauge(
    "procos_kernel_deployed_definitions",
    "Definitions created by the last deployment.",
  );
  const state: Record<string, unknown> = { ready: false, phase: "starting" };
  const health = startHealthServer({
    port: envInt("PROCOS_HEALTH_PORT", manifest.healthPort),
    metrics,
    log,
    check: () => ({ ok: state.ready === true && !lifecycle.stopping(), ...state }),
  });
  lifecycle.onStop("health", () => health.close());

  try {
    state.phase = "waiting for Camunda";
    log.info("waiting for Camunda", { url: safeUrl(conn.camundaUrl) });
    await waitFor("Camunda", () => rest.ping(), log, waitMs);
    if (conn.camundaAuth) await rest.request("GET", "/deployment", { query: { maxResults: "1" } });

    state.phase = "deploying";
    const resources = await readProcesses(processesPath);
    if (resources.length === 0) {
      log.warn("no BPMN/DMN files to deploy", { path: processesPath });
    } else {
      const d = await rest.deploy(manifest.project, resources, { source: "procos-kernel" });
      const created = [...d.processDefinitions, ...d.decisionDefinitions];
      deployedGauge.set({}, created.length);
      state.deployment = {
        files: resources.map((r) => r.name),
        created: created.map((c) => `${c.key}:${c.version}`),
      };
      log.info(created.length ? "deployed" : "deployment unchanged: nothing new", {
        files: resources.length,
        created: created.map((c) => ({ key: c.key, version: c.version, resource: c.resource })),
      });
    }

    state.phase = "checking models";
    if (manifest.models.length > 0) {
      const ollama = new Ollama({ host: conn.ollamaUrl });
      await waitFor(
        "Ollama",
        async () => {
          await ollama.version();
          return true;
        },
        log,
        waitMs,
      );
      const m = await ensureModels(conn.ollamaUrl, manifest.models.map((x) => x.name), log);
      state.models = m;
    }

    state.phase = "starting boot processes";
    state.boot = await startBootProcesses(rest, manifest.processes.boot, manifest.specHash, log);

    state.phase = "ready";
    state.ready = true;
    phase.set({}, 1);
    log.info("kernel ready", { startOrder: manifest.startOrder });
  } catch (e) {
    state.phase = "failed";
    state.error = errorMessage(e);
    log.error("kernel failed", { error: errorMessage(e) });
    await health.close();
    Deno.exit(1);
  }
}

if (import.meta.main) await main();

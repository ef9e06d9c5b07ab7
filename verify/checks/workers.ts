/**
 * Workers: for every worker of the spec (the kernel, the AI and generic
 * workers; `model.workers`, in start order), its health port answers
 *
 * - `GET /health` with HTTP 200 (`{"status":"ok",...}`; a worker answers 503
 *   while it cannot poll Camunda, the kernel until it has booted);
 * - `GET /metrics` in the Prometheus text format (0.0.4) with the metric
 *   names its kind exports (`workers/lib/health.ts`, `workers/ai/main.ts`,
 *   `workers/kernel/main.ts`), each with its type;
 *
 * and the kernel's `/health` body reports what it did at boot: every
 * deployable file of the processes folder deployed, every model of the spec
 * present (or pulled) in Ollama, every boot process started (or already
 * running). Those three are skipped while the body cannot be read (the health
 * check says why).
 *
 * The workers' addresses are `targets.workers` (`out/runtime/endpoints.json`,
 * else the health port on 127.0.0.1; see `verify/targets.ts`).
 *
 * @module
 */
import type { StackModel } from "../../compiler/model.ts";
import { DEPLOYABLE_EXTENSIONS, isDeployable } from "../../compiler/worker_manifest.ts";
import type { Check, Result, RunContext, VerifyContext } from "../check.ts";
import { errorMessage, fail, pass, skip } from "../check.ts";
import { describeStatus, httpRequest, type HttpResponse } from "../clients/http.ts";
import { normalizeModelName } from "./ollama.ts";

/** A Prometheus metric type. */
export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

/** The metrics every task worker (AI and generic) exports (`workers/lib/health.ts`). */
export const TASK_WORKER_METRICS: ReadonlyArray<readonly [string, MetricType]> = [
  ["procos_worker_tasks_completed_total", "counter"],
  ["procos_worker_tasks_failed_total", "counter"],
  ["procos_worker_tasks_in_flight", "gauge"],
  ["procos_worker_task_duration_seconds", "histogram"],
];

/** What the AI worker adds (`workers/ai/main.ts`). */
export const AI_WORKER_METRICS: ReadonlyArray<readonly [string, MetricType]> = [
  ["procos_ai_tokens_total", "counter"],
  ["procos_ai_truncated_total", "counter"],
  ["procos_ai_cache_hits_total", "counter"],
  ["procos_ai_generation_seconds", "histogram"],
];

/** The kernel's metrics (`workers/kernel/main.ts`). */
export const KERNEL_METRICS: ReadonlyArray<readonly [string, MetricType]> = [
  ["procos_kernel_ready", "gauge"],
  ["procos_kernel_deployed_definitions", "gauge"],
];

/** The metric names and types a worker of `kind` exports. */
export function expectedMetrics(
  kind: "kernel" | "ai" | "generic",
): ReadonlyArray<readonly [string, MetricType]> {
  if (kind === "kernel") return KERNEL_METRICS;
  if (kind === "ai") return [...TASK_WORKER_METRICS, ...AI_WORKER_METRICS];
  return TASK_WORKER_METRICS;
}

/** The file endings the kernel deploys (the compiler's list, which the kernel uses). */
export const KERNEL_DEPLOYABLE: readonly string[] = DEPLOYABLE_EXTENSIONS;

// ------------------------------------------------------------ Prometheus text

/** What {@link parsePrometheusText} found. */
export interface PrometheusText {
  /** `# TYPE` of each metric family. */
  types: Map<string, MetricType>;
  /** The metric names of the samples (histogram series keep their `_bucket`/`_sum`/`_count`). */
  sampleNames: Set<string>;
  /** How many sample lines. */
  samples: number;
  /** Syntax errors, `line N: what`. */
  errors: string[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VALUE = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]?Inf|NaN)$/;
const TYPES: readonly string[] = ["counter", "gauge", "histogram", "summary", "untyped"];

/** Parses the label block at `s[i] === "{"`; returns the index after `}` or an error. */
function parseLabels(s: string, i: number): number | string {
  i++; // {
  for (;;) {
    while (s[i] === " ") i++;
    if (s[i] === "}") return i + 1;
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(s.slice(i));
    if (!m || !LABEL_NAME.test(m[0])) return `bad label name at column ${i + 1}`;
    i += m[0].length;
    if (s[i] !== "=" || s[i + 1] !== '"') return `expected ="..." after label ${m[0]}`;
    i += 2;
    for (;; i++) {
      if (i >= s.length) return `unterminated value of label ${m[0]}`;
      if (s[i] === "\\") {
        if (!["\\", '"', "n"].includes(s[i + 1])) return `bad escape in label ${m[0]}`;
        i++;
        continue;
      }
      if (s[i] === '"') break;
    }
    i++; // closing quote
    while (s[i] === " ") i++;
    if (s[i] === ",") {
      i++;
      continue;
    }
    if (s[i] === "}") return i + 1;
    return `expected , or } after label ${m[0]}`;
  }
}

/**
 * Parses the Prometheus text exposition format (0.0.4), strictly enough to
 * tell it from anything else: comment lines, `# HELP` / `# TYPE` lines,
 * samples `name{label="value",...} value [timestamp]`.
 */
export function parsePrometheusText(text: string): PrometheusText {
  const out: PrometheusText = { types: new Map(), sampleNames: new Set(), samples: 0, errors: [] };
  const lines = text.split("\n");
  lines.forEach((raw, n) => {
    const line = raw.replace(/\r$/, "");
    const at = `line ${n + 1}`;
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
      if (!m) return; // a plain comment
      if (!METRIC_NAME.test(m[2])) out.errors.push(`${at}: bad metric name ${m[2]}`);
      if (m[1] === "TYPE") {
        const type = (m[3] ?? "").trim();
        if (!TYPES.includes(type)) out.errors.push(`${at}: unknown type ${JSON.stringify(type)}`);
        else if (out.types.has(m[2])) out.errors.push(`${at}: second TYPE line for ${m[2]}`);
        else out.types.set(m[2], type as MetricType);
      }
      return;
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nm) {
      out.errors.push(`${at}: not a sample: ${JSON.stringify(line.slice(0, 60))}`);
      return;
    }
    let i = nm[0].length;
    if (line[i] === "{") {
      const r = parseLabels(line, i);
      if (typeof r === "string") {
        out.errors.push(`${at}: ${r}`);
        return;
      }
      i = r;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    if (line[i] !== " " && line[i] !== "\t") {
      out.errors.push(`${at}: no value after ${nm[0]}`);
      return;
    }
    if (rest.length < 1 || rest.length > 2 || !VALUE.test(rest[0])) {
      out.errors.push(`${at}: bad value ${JSON.stringify(rest.join(" "))}`);
      return;
    }
    if (rest.length === 2 && !/^-?\d+$/.test(rest[1])) {
      out.errors.push(`${at}: bad timestamp ${JSON.stringify(rest[1])}`);
      return;
    }
    out.sampleNames.add(nm[0]);
    out.samples++;
  });
  return out;
}

// ------------------------------------------------------------ checks

/** One worker of the model. */
export interface WorkerInfo {
  name: string;
  kind: "kernel" | "ai" | "generic";
  healthPort: number;
}

/** The workers of the model, in start order (`model.services` of role worker). */
export function workersOf(model: StackModel): WorkerInfo[] {
  const byName = new Map(model.workers.map((w) => [w.name, w]));
  const ordered = model.services
    .filter((s) => s.role === "worker" && byName.has(s.name))
    .map((s) => byName.get(s.name)!);
  const rest = model.workers.filter((w) => !ordered.includes(w));
  return [...ordered, ...rest].map((w) => ({
    name: w.name,
    kind: w.kind,
    healthPort: w.healthPort,
  }));
}

function baseUrl(ctx: RunContext, w: WorkerInfo): string {
  return ctx.targets.workers?.[w.name]?.url ?? `http://127.0.0.1:${w.healthPort}`;
}

function notRunningHint(w: WorkerInfo, ctx: RunContext): string {
  return `is ${w.name} running? \`deno task up\` starts it again (on the local runtime its log ` +
    `is ${ctx.outDir}/runtime/${w.name}.log); under Compose the health port is not published: ` +
    `run verify with --target network inside the stack's network`;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];

function bodyOf(res: HttpResponse): Obj | undefined {
  try {
    const v = JSON.parse(res.text);
    return isObj(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Why a health body says unhealthy, in a few words (the phase, Camunda's reachability). */
function unhealthyReason(body: Obj | undefined): string | undefined {
  if (!body) return undefined;
  const parts: string[] = [];
  if (typeof body.phase === "string") parts.push(`phase: ${body.phase}`);
  if (typeof body.error === "string") parts.push(`error: ${body.error}`);
  const ca = body.camunda;
  if (isObj(ca)) {
    if (ca.polling === false) parts.push("not polling");
    if (ca.reachable === false) {
      parts.push(
        `Camunda not reachable${typeof ca.lastError === "string" ? `: ${ca.lastError}` : ""}`,
      );
    }
  }
  return parts.length ? parts.join("; ") : undefined;
}

/** `GET /health` answers 200 with `{"status":"ok"}`. */
export function workerHealthCheck(w: WorkerInfo): Check {
  return {
    id: `workers.health.${w.name}`,
    domain: "workers",
    name: `workers: ${w.name} (${w.kind}) GET /health answers 200`,
    run: async (ctx) => {
      const url = `${baseUrl(ctx, w)}/health`;
      let res: HttpResponse;
      try {
        res = await httpRequest(url, { signal: ctx.signal });
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        return fail(`GET ${url}: HTTP 200`, errorMessage(e), notRunningHint(w, ctx));
      }
      const body = bodyOf(res);
      if (res.status !== 200) {
        const why = unhealthyReason(body);
        return fail(
          `GET ${url}: HTTP 200`,
          why ? `HTTP ${res.status} (${why})` : describeStatus(res),
          w.kind === "kernel"
            ? `the kernel answers 200 once it has deployed the processes, checked the models and ` +
              `started the boot processes; see its log (${ctx.outDir}/runtime/${w.name}.log)`
            : `a worker answers 200 while it polls Camunda and Camunda answers; is Camunda up?`,
        );
      }
      if (body && body.status !== undefined && body.status !== "ok") {
        return fail(`GET ${url}: {"status":"ok"}`, `status ${JSON.stringify(body.status)}`);
      }
      const detail: string[] = [];
      if (body && typeof body.phase === "string") detail.push(`phase ${body.phase}`);
      if (body && typeof body.tasksInFlight === "number") {
        detail.push(`${body.tasksInFlight} task(s) in flight`);
      }
      return pass(detail.length ? detail.join(", ") : undefined);
    },
  };
}

/** `GET /metrics` answers the Prometheus text format with the kind's metrics. */
export function workerMetricsCheck(w: WorkerInfo): Check {
  const want = expectedMetrics(w.kind);
  return {
    id: `workers.metrics.${w.name}`,
    domain: "workers",
    name: `workers: ${w.name} GET /metrics answers Prometheus text with ${
      want.map(([n]) => n).join(", ")
    }`,
    run: async (ctx) => {
      const url = `${baseUrl(ctx, w)}/metrics`;
      let res: HttpResponse;
      try {
        res = await httpRequest(url, { signal: ctx.signal, headers: { accept: "text/plain" } });
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        return fail(`GET ${url}: HTTP 200`, errorMessage(e), notRunningHint(w, ctx));
      }
      if (res.status !== 200) return fail(`GET ${url}: HTTP 200`, describeStatus(res));
      const type = res.headers.get("content-type") ?? "";
      if (!/^text\/plain\b/i.test(type)) {
        return fail(
          "content-type text/plain; version=0.0.4 (the Prometheus text format)",
          type ? `content-type ${type}` : "no content-type",
        );
      }
      const parsed = parsePrometheusText(res.text);
      if (parsed.errors.length > 0) {
        return fail(
          "the Prometheus text format (0.0.4)",
          parsed.errors.slice(0, 3).join("; ") +
            (parsed.errors.length > 3 ? ` (and ${parsed.errors.length - 3} more)` : ""),
        );
      }
      const problems: string[] = [];
      for (const [name, t] of want) {
        const got = parsed.types.get(name);
        if (got === undefined) problems.push(`${name} missing`);
        else if (got !== t) problems.push(`${name} is a ${got}, not a ${t}`);
      }
      if (problems.length > 0) {
        return fail(
          `metrics ${want.map(([n, t]) => `${n} (${t})`).join(", ")}`,
          problems.join("; "),
          `the ${w.kind} worker's code exports them (workers/lib/health.ts); is the process on ` +
            `this port a ProcOS ${w.kind} worker?`,
        );
      }
      return pass(`${parsed.types.size} metric families, ${parsed.samples} samples`);
    },
  };
}

/** The kernel's `/health` body once it is ready, or a skip saying why it cannot be judged. */
async function kernelReport(
  ctx: RunContext,
  w: WorkerInfo,
): Promise<{ body: Obj } | { result: Result }> {
  const url = `${baseUrl(ctx, w)}/health`;
  let res: HttpResponse;
  try {
    res = await httpRequest(url, { signal: ctx.signal });
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    return { result: skip(`GET ${url}: ${errorMessage(e)} (workers.health.${w.name})`) };
  }
  const body = bodyOf(res);
  if (!body) {
    return {
      result: skip(`GET ${url}: HTTP ${res.status}, no JSON body (workers.health.${w.name})`),
    };
  }
  if (res.status !== 200 || body.ready !== true) {
    const phase = typeof body.phase === "string" ? body.phase : "?";
    return {
      result: skip(
        `the kernel has not finished booting (phase ${phase}; workers.health.${w.name})`,
      ),
    };
  }
  return { body };
}

/** Deployable files of a folder (recursively), relative paths, sorted; undefined if missing. */
export function deployableFiles(dir: string): string[] | undefined {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    const entries = [...Deno.readDirSync(d)].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0
    );
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) walk(`${d}/${e.name}`, r);
      else if (e.isFile && isDeployable(e.name)) {
        out.push(r);
      }
    }
  };
  try {
    walk(dir.replace(/\/+$/, ""), "");
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  return out;
}

function processesDir(model: StackModel, ctx: VerifyContext): { folder: string; dir: string } {
  const folder = model.processes.path.replace(/\/+$/, "");
  return { folder, dir: folder.startsWith("/") ? folder : `${ctx.specDir}/${folder}` };
}

/** The kernel reports every deployable file of the processes folder deployed. */
export function kernelDeployedCheck(w: WorkerInfo): Check {
  return {
    id: `workers.deployed.${w.name}`,
    domain: "workers",
    name: `workers: ${w.name} reports every process file deployed`,
    run: async (ctx) => {
      const { folder, dir } = processesDir(ctx.model, ctx);
      const files = deployableFiles(dir);
      if (files === undefined) return skip(`the processes folder ${folder}/ does not exist`);
      const report = await kernelReport(ctx, w);
      if ("result" in report) return report.result;
      const dep = isObj(report.body.deployment) ? report.body.deployment : undefined;
      const deployed = strings(dep?.files);
      if (files.length === 0) {
        return pass(`no deployable files in ${folder}/`);
      }
      const missing = files.filter((f) => !deployed.includes(f));
      if (missing.length === 0) {
        const created = strings(dep?.created);
        return pass(
          `${deployed.length} file(s); ${
            created.length ? `created ${created.join(", ")}` : "unchanged"
          }`,
        );
      }
      return fail(
        `the kernel's deployment holds every file of ${folder}/ (${files.join(", ")})`,
        dep
          ? `it deployed ${deployed.length ? deployed.join(", ") : "nothing"}; missing: ${
            missing.join(", ")
          }`
          : "its /health reports no deployment (it found no file to deploy)",
        dep
          ? "the kernel deploys the folder once, at start: restart it to deploy files added since"
          : `does the kernel read the same folder (PROCOS_PROCESSES_PATH, the spec's processes.path)?`,
      );
    },
  };
}

/** The models the kernel makes sure of: every provider's models, de-duplicated. */
export function kernelModels(model: StackModel): string[] {
  return [...new Set(model.ai.providers.flatMap((p) => p.models.map((m) => m.name)))];
}

/** The kernel reports every model of the spec present in (or pulled into) Ollama. */
export function kernelModelsCheck(w: WorkerInfo): Check {
  return {
    id: `workers.models.${w.name}`,
    domain: "workers",
    name: `workers: ${w.name} reports every model of the spec present in Ollama`,
    run: async (ctx) => {
      const want = kernelModels(ctx.model);
      if (want.length === 0) return skip("the spec names no model");
      const report = await kernelReport(ctx, w);
      if ("result" in report) return report.result;
      const models = isObj(report.body.models) ? report.body.models : undefined;
      const present = strings(models?.present);
      const pulled = strings(models?.pulled);
      const have = new Set([...present, ...pulled].map(normalizeModelName));
      const missing = want.filter((m) => !have.has(normalizeModelName(m)));
      if (missing.length === 0) {
        return pass(
          [
            present.length ? `present: ${present.join(", ")}` : "",
            pulled.length ? `pulled: ${pulled.join(", ")}` : "",
          ].filter(Boolean).join("; "),
        );
      }
      return fail(
        `the kernel found or pulled ${want.join(", ")}`,
        models
          ? `it reports ${[...present, ...pulled].join(", ") || "no model"}; missing: ${
            missing.join(", ")
          }`
          : "its /health reports no model check",
        "the kernel checks the models once, at start: restart it after changing ai.providers",
      );
    },
  };
}

/** The kernel reports every boot process started (or already running). */
export function kernelBootCheck(w: WorkerInfo): Check {
  return {
    id: `workers.boot.${w.name}`,
    domain: "workers",
    name: `workers: ${w.name} reports every boot process started`,
    run: async (ctx) => {
      const want = ctx.model.processes.boot;
      if (want.length === 0) return skip("the spec has no boot process (processes.boot)");
      const report = await kernelReport(ctx, w);
      if ("result" in report) return report.result;
      const boot = isObj(report.body.boot) ? report.body.boot : undefined;
      const started = strings(boot?.started);
      const running = strings(boot?.running);
      const missing = want.filter((k) => !started.includes(k) && !running.includes(k));
      if (missing.length === 0) {
        return pass(
          [
            started.length ? `started ${started.join(", ")}` : "",
            running.length ? `already running ${running.join(", ")}` : "",
          ].filter(Boolean).join("; "),
        );
      }
      return fail(
        `the kernel started (or found running) ${want.join(", ")}`,
        boot
          ? `started: ${started.join(", ") || "none"}; running: ${
            running.join(", ") || "none"
          }; missing: ${missing.join(", ")}`
          : "its /health reports no boot processes",
        "the kernel starts the boot processes once, at start: restart it",
      );
    },
  };
}

/** The workers domain: health and metrics of each worker, and the kernel's boot report. */
export function workersChecks(model: StackModel, _ctx: VerifyContext): Check[] {
  return workersOf(model).flatMap((w) => [
    workerHealthCheck(w),
    workerMetricsCheck(w),
    ...(w.kind === "kernel"
      ? [kernelDeployedCheck(w), kernelModelsCheck(w), kernelBootCheck(w)]
      : []),
  ]);
}

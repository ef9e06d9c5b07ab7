/**
 * Benchmark of `deno task verify` against a real stack on this machine: a
 * full verify run with one check at a time (`--concurrency 1`, the reference)
 * against the default concurrency, spawned (what a person runs) and in process
 * through `main()` of `verify/cli.ts` (the same run without the Deno start-up
 * and module loading), plus the slowest individual checks.
 *
 * The stack is brought up exactly as `tests/stack/stack_test.ts` does: a spec
 * generated from `procos.config.yaml` with unique names
 * (`tests/fixtures/stack/make_spec.ts`), built, Ollama served by the Ollama
 * double, `runtime/cli.ts up` (the local runtime: PostgreSQL, Redis and
 * RabbitMQ are the machine's, provisioned under `procos_t_<rand>`; Camunda is
 * started from the engine jar, the kernel and the workers as processes),
 * `processes/` deployed as the kernel does, and `verify --wait 60s` all green before
 * anything is timed. Afterwards, whatever happened, `down --purge` and the
 * machine is checked to be as found (no database, role, vhost or user, the
 * Redis settings restored, no process left).
 *
 *     deno run --allow-all bench/verify_bench.ts [--runs 5]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { build } from "../compiler/compile.ts";
import { loadSpec } from "../compiler/load_spec.ts";
import { readState } from "../runtime/state.ts";
import { main as verifyMain } from "../verify/cli.ts";
import type { JsonReport } from "../verify/reporters/json.ts";
import { type OllamaDouble, startOllamaDouble } from "../tests/ollama_double.ts";
import { makeStackSpec } from "../tests/fixtures/stack/make_spec.ts";
import { redisSnapshot, runDeno } from "../tests/fixtures/stack/machine.ts";
import type { BenchRow } from "./build_bench.ts";
import { leaveAsFound } from "./leave_as_found.ts";
import { benchVerifyGoals, type GoalRow } from "./verify_goals.ts";

/** Options of {@link benchVerify}. */
export interface VerifyBenchOptions {
  /** Runs of each variant (default 5). */
  runs?: number;
  /** Progress lines (default: to stderr, so stdout stays the tables). */
  log?: (line: string) => void;
  /** Also measure the goals side by side with the baseline commit (`verify_goals.ts`). */
  goals?: boolean;
}

/** One check's duration across the runs. */
export interface CheckTiming {
  id: string;
  domain: string;
  /** Median duration with `--concurrency 1`, spawned runs, in milliseconds. */
  sequential: number;
  /** Median duration with the default concurrency, spawned runs, in milliseconds. */
  concurrent: number;
}

/** What {@link benchVerify} measured. */
export interface VerifyBenchResult {
  /** The first row is the sequential spawned run: the reference of the ratio column. */
  rows: BenchRow[];
  /** Every check, slowest (sequential) first. */
  checks: CheckTiming[];
  /** Checks in one full run, and how many passed. */
  total: number;
  passed: number;
  skippedCount: number;
  /** The skipped checks, grouped by domain and reason: `19 containers checks (why)`. */
  skipped: string[];
  /** `/proc/loadavg`'s 1-minute load before and after the timed runs. */
  loadBefore: string;
  loadAfter: string;
  /** The goals against the baseline, when asked for. */
  goals?: GoalRow[];
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** A benchmark row of `samples` (milliseconds). */
export function row(name: string, command: string, samples: number[]): BenchRow {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    name,
    command,
    samples: samples.length,
    median: median(samples),
    min: sorted[0],
    max: sorted[sorted.length - 1],
  };
}

async function loadAverage(): Promise<string> {
  try {
    return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

function failingLines(report: JsonReport): string {
  return report.checks.filter((c) => c.status === "fail")
    .map((c) => `  ${c.id}: expected ${c.expected}; actual ${c.actual}`)
    .join("\n");
}

function skippedLines(report: JsonReport): string[] {
  const groups = new Map<string, string[]>();
  for (const c of report.checks.filter((c) => c.status === "skip")) {
    const key = `${c.domain}\u0000${c.reason ?? ""}`;
    groups.set(key, [...(groups.get(key) ?? []), c.id]);
  }
  return [...groups].map(([key, ids]) => {
    const [domain, reason] = key.split("\u0000");
    return `${ids.length === 1 ? ids[0] : `${ids.length} ${domain} checks`} (${reason})`;
  });
}

/** Brings up a stack, times full verify runs, tears it down; see the module doc. */
export async function benchVerify(opts: VerifyBenchOptions = {}): Promise<VerifyBenchResult> {
  const runs = opts.runs ?? 5;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`runs: a whole number ≥ 1, not ${runs}`);
  const log = opts.log ?? ((l: string) => console.error(l));
  const redisBefore = await redisSnapshot();
  const spec = await makeStackSpec();
  const out = join(spec.dir, "out");
  const env: Record<string, string> = { ...spec.secretsEnv };
  const api = `http://127.0.0.1:${spec.camundaPort}/engine-rest`;
  let double: OllamaDouble | undefined;
  let upRan = false;
  let camundaProc: { pid: number; startTime: number } | undefined;
  let result: VerifyBenchResult | undefined;
  let benchError: unknown;

  const verifyArgs = (extra: string[]) => [
    "--config",
    spec.config,
    "--out",
    out,
    "--reporter",
    "json",
    ...extra,
  ];
  const parseReport = (text: string, what: string): JsonReport => {
    try {
      return JSON.parse(text) as JsonReport;
    } catch {
      throw new Error(`${what} printed no JSON report:\n${text.slice(0, 2000)}`);
    }
  };
  /** One spawned verify, timed from spawn to exit; the report must be all green. */
  const spawned = async (extra: string[]): Promise<{ ms: number; report: JsonReport }> => {
    const t0 = performance.now();
    const r = await runDeno("verify/cli.ts", verifyArgs(extra), env);
    const ms = performance.now() - t0;
    const report = parseReport(r.stdout, `verify ${extra.join(" ")}`);
    if (r.code !== 0) {
      throw new Error(`verify ${extra.join(" ")} exited ${r.code}:\n${failingLines(report)}`);
    }
    return { ms, report };
  };
  /** One verify through `main()` of verify/cli.ts in this process. */
  const inProcess = async (extra: string[]): Promise<{ ms: number; report: JsonReport }> => {
    let text = "";
    const errors: string[] = [];
    const t0 = performance.now();
    const code = await verifyMain(verifyArgs(extra), {
      write: (t) => {
        text += t;
      },
      stderr: (l) => errors.push(l),
      env: { ...Deno.env.toObject(), ...env },
      color: false,
    });
    const ms = performance.now() - t0;
    const report = parseReport(text, `main(${extra.join(" ")})\n${errors.join("\n")}`);
    if (code !== 0) {
      throw new Error(`main(${extra.join(" ")}) returned ${code}:\n${failingLines(report)}`);
    }
    return { ms, report };
  };
  const camunda = async (method: string, path: string, body?: BodyInit) => {
    const res = await fetch(`${api}${path}`, { method, body });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  };

  try {
    log(`verify bench: ${spec.name}, camunda :${spec.camundaPort}, ollama :${spec.ollamaPort}`);
    await build(spec.config, { outDir: out, env, profile: "development" });
    const defaultModel = (await loadSpec(spec.config, { profile: "development", env })).spec.ai
      .default_model;
    double = startOllamaDouble({ port: spec.ollamaPort, models: [defaultModel] });

    upRan = true;
    const t0 = performance.now();
    const up = await runDeno("runtime/cli.ts", [
      "up",
      "--config",
      spec.config,
      "--out",
      out,
      "--engine",
      "local",
    ], env);
    const s = await readState(out).catch(() => undefined);
    const ca = s?.services.camunda;
    if (ca?.mode === "started") camundaProc = ca.process;
    if (up.code !== 0) throw new Error(`up failed (exit ${up.code}):\n${up.stdout}\n${up.stderr}`);
    log(`verify bench: up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // deploy processes/ as the kernel will (the stack test does the same)
    const processes = join(spec.dir, "processes");
    for await (const e of Deno.readDir(processes)) {
      if (!e.isFile || !e.name.endsWith(".bpmn")) continue;
      const form = new FormData();
      form.append("deployment-name", e.name);
      form.append("deployment-source", "procos-verify-bench");
      form.append("deploy-changed-only", "true");
      form.append(e.name, new Blob([await Deno.readFile(join(processes, e.name))]), e.name);
      await camunda("POST", "/deployment/create", form);
    }

    // green first: nothing is timed until a full run passes
    const green = await spawned(["--wait", "60s"]);
    log(
      `verify bench: green (${green.report.summary.pass}/${green.report.summary.total} pass, ` +
        `${green.report.rounds} round(s))`,
    );

    const loadBefore = await loadAverage();
    const seq = ["--concurrency", "1"];
    const spawnedSeq: number[] = [];
    const spawnedPar: number[] = [];
    const runnerSeq: number[] = [];
    const runnerPar: number[] = [];
    const perCheckSeq = new Map<string, number[]>();
    const perCheckPar = new Map<string, number[]>();
    const domains = new Map<string, string>();
    const note = (m: Map<string, number[]>, r: JsonReport) => {
      for (const c of r.checks) {
        m.set(c.id, [...(m.get(c.id) ?? []), c.durationMs]);
        domains.set(c.id, c.domain);
      }
    };
    // interleaved, so a change of load on the machine hits both variants alike
    for (let i = 0; i < runs; i++) {
      const a = await spawned(seq);
      spawnedSeq.push(a.ms);
      runnerSeq.push(a.report.durationMs);
      note(perCheckSeq, a.report);
      const b = await spawned([]);
      spawnedPar.push(b.ms);
      runnerPar.push(b.report.durationMs);
      note(perCheckPar, b.report);
      log(`verify bench: spawned run ${i + 1}/${runs}: ${a.ms.toFixed(0)} / ${b.ms.toFixed(0)} ms`);
    }
    await inProcess([]); // warm up: module loading and JIT
    const mainSeq: number[] = [];
    const mainPar: number[] = [];
    for (let i = 0; i < runs; i++) {
      mainSeq.push((await inProcess(seq)).ms);
      mainPar.push((await inProcess([])).ms);
    }
    // the start-up alone: the runtime, verify's modules and npm packages, no check
    const startup: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const r = await runDeno("verify/cli.ts", ["--help"], env);
      startup.push(performance.now() - t);
      if (r.code !== 0) throw new Error(`verify --help exited ${r.code}: ${r.stderr}`);
    }
    const goals = opts.goals
      ? await benchVerifyGoals({ config: spec.config, out, env, api, runs, log })
      : undefined;
    const loadAfter = await loadAverage();

    const checks: CheckTiming[] = [...perCheckSeq].map(([id, xs]) => ({
      id,
      domain: domains.get(id) ?? "",
      sequential: median(xs),
      concurrent: median(perCheckPar.get(id) ?? []),
    })).sort((a, b) => b.sequential - a.sequential);
    result = {
      rows: [
        row("verify, spawned, one check at a time", "verify --concurrency 1", spawnedSeq),
        row("verify, spawned, default concurrency", "verify (--concurrency 8)", spawnedPar),
        row(
          "checks only, one at a time (the report's durationMs)",
          "verify --concurrency 1",
          runnerSeq,
        ),
        row(
          "checks only, default concurrency (the report's durationMs)",
          "verify (--concurrency 8)",
          runnerPar,
        ),
        row("main(), in process, one at a time", "main([... '--concurrency', '1'])", mainSeq),
        row("main(), in process, default concurrency", "main([...])", mainPar),
        row("start-up only, spawned (no check)", "verify --help", startup),
      ],
      checks,
      total: green.report.summary.total,
      passed: green.report.summary.pass,
      skippedCount: green.report.summary.skip,
      skipped: skippedLines(green.report),
      loadBefore,
      loadAfter,
      goals,
    };
  } catch (e) {
    benchError = e;
  } finally {
    const problems = await leaveAsFound({
      upRan,
      out,
      env,
      camundaProc,
      name: spec.name,
      camundaPort: spec.camundaPort,
      redisBefore,
    });
    await double?.close();
    await spec.remove();
    if (problems.length) {
      const msg = `verify bench: the machine was not left as found:\n  ${problems.join("\n  ")}`;
      if (benchError === undefined) benchError = new Error(msg);
      else log(msg);
    } else {
      log(`verify bench: down --purge; machine as found (${spec.name} gone, Redis restored)`);
    }
  }
  if (benchError !== undefined || result === undefined) throw benchError;
  return result;
}

/** Per domain: checks, and the sum and largest of their medians, as a markdown table. */
export function domainTable(checks: readonly CheckTiming[]): string {
  const by = new Map<string, CheckTiming[]>();
  for (const c of checks) by.set(c.domain, [...(by.get(c.domain) ?? []), c]);
  const sum = (xs: CheckTiming[], k: "sequential" | "concurrent") =>
    xs.reduce((a, c) => a + c[k], 0);
  return [
    "| domain | checks | sum of medians ms, one at a time | largest ms | sum of medians ms, default concurrency |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...[...by].sort((a, b) => sum(b[1], "sequential") - sum(a[1], "sequential")).map((
      [d, xs],
    ) =>
      `| ${d} | ${xs.length} | ${sum(xs, "sequential").toFixed(0)} | ${
        Math.max(...xs.map((c) => c.sequential)).toFixed(0)
      } | ${sum(xs, "concurrent").toFixed(0)} |`
    ),
  ].join("\n");
}

/** The slowest checks as a markdown table. */
export function slowestTable(checks: readonly CheckTiming[], top = 5): string {
  return [
    "| check | median ms, one at a time | median ms, default concurrency |",
    "| --- | ---: | ---: |",
    ...checks.slice(0, top).map((c) =>
      `| \`${c.id}\` | ${c.sequential.toFixed(0)} | ${c.concurrent.toFixed(0)} |`
    ),
  ].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { runs: { type: "string" } } });
  const r = await benchVerify({ runs: values.runs ? Number(values.runs) : undefined });
  console.table(r.rows);
  console.log(slowestTable(r.checks, 10));
  console.log(domainTable(r.checks));
}

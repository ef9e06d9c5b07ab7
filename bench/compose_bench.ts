/**
 * The stack under Compose against the local runtime: the time from `up` to
 * every service healthy, `verify` under both, and the memory of each
 * container at idle.
 *
 *     deno task bench --only compose [--runs 5]
 *
 * Compose runs the generated development files on the images `deno task
 * images` built (here: podman's Docker API and docker-compose 1.29); the
 * local runtime runs the same spec's services on this machine (its
 * PostgreSQL, Redis and RabbitMQ provisioned, the engine jar, the workers
 * from source, the Ollama double). Each `up` starts from nothing: no
 * container, no volume (Compose), no started process (local).
 *
 * @module
 */
import { join } from "node:path";
import { build } from "../compiler/compile.ts";
import { loadSpec } from "../compiler/load_spec.ts";
import type { JsonReport } from "../verify/reporters/json.ts";
import { ContainerApi } from "../runtime/docker_api.ts";
import { podmanEnv } from "../runtime/images.ts";
import { startOllamaDouble } from "../tests/ollama_double.ts";
import { makeStackSpec } from "../tests/fixtures/stack/make_spec.ts";
import { makeComposeSpec } from "../tests/fixtures/compose/make_compose_spec.ts";
import { runDeno } from "../tests/fixtures/stack/machine.ts";
import type { BenchRow } from "./build_bench.ts";
import { row } from "./verify_bench.ts";

/** One container's memory at idle. */
export interface ContainerMemory {
  service: string;
  /** Resident anonymous memory (cgroup `rss`, else `anon`), bytes. */
  rss: number;
  /** The cgroup's whole usage (page cache included), bytes. */
  usage: number;
}

/** What {@link benchCompose} measured. */
export interface ComposeBenchResult {
  up: BenchRow[];
  verify: BenchRow[];
  memory: ContainerMemory[];
}

const log = (line: string) => console.error(line);

async function timed(what: string, fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  log(`compose bench: ${what} in ${(ms / 1000).toFixed(1)} s`);
  return ms;
}

async function ok(script: string, args: string[], env: Record<string, string>): Promise<string> {
  const r = await runDeno(script, args, env);
  if (r.code !== 0) {
    throw new Error(`${script} ${args[0]} (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

async function verifyRuns(
  config: string,
  out: string,
  env: Record<string, string>,
  runs: number,
): Promise<number[]> {
  const args = ["--config", config, "--out", out, "--reporter", "json", "--wait", "120s"];
  const first = JSON.parse(await ok("verify/cli.ts", args, env)) as JsonReport;
  if (!first.ok) throw new Error("verify is not green before the timed runs");
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    samples.push(
      await timed(`verify ${i + 1}`, () => ok("verify/cli.ts", args, env).then(() => {})),
    );
  }
  return samples;
}

/**
 * The memory of each running container of `project`: the engine's stats, and
 * the resident memory from the container's cgroup (`memory.stat`, read
 * through its main process), which podman's Docker API does not report.
 */
export async function containerMemory(
  api: ContainerApi,
  project: string,
): Promise<ContainerMemory[]> {
  type Stats = { memory_stats?: { usage?: number; stats?: Record<string, number> } };
  const out: ContainerMemory[] = [];
  for (const c of await api.projectContainers(project)) {
    if (c.status !== "running") continue;
    const s = await api.get<Stats>(`/containers/${c.id}/stats?stream=false`);
    const m = s.memory_stats ?? {};
    const pid = (await api.get<{ State?: { Pid?: number } }>(`/containers/${c.id}/json`)).State
      ?.Pid;
    out.push({
      service: c.service,
      rss: m.stats?.rss ?? m.stats?.anon ?? (pid ? await cgroupRss(pid) : 0),
      usage: m.usage ?? 0,
    });
  }
  return out.sort((a, b) => b.rss - a.rss);
}

/** `total_rss` (cgroup v1) or `anon` (v2) of the cgroup of process `pid`; 0 when unreadable. */
async function cgroupRss(pid: number): Promise<number> {
  try {
    const lines = (await Deno.readTextFile(`/proc/${pid}/cgroup`)).split("\n");
    const v1 = lines.find((l) => /^\d+:[^:]*\bmemory\b[^:]*:/.test(l));
    const path = v1
      ? `/sys/fs/cgroup/memory${v1.split(":")[2]}/memory.stat`
      : `/sys/fs/cgroup${lines.find((l) => l.startsWith("0::"))?.slice(3)}/memory.stat`;
    const stat = await Deno.readTextFile(path);
    const value = (key: string) =>
      Number(new RegExp(`^${key} (\\d+)$`, "m").exec(stat)?.[1] ?? NaN);
    const rss = value("total_rss");
    return Number.isFinite(rss) ? rss : value("anon") || 0;
  } catch {
    return 0;
  }
}

/** Runs both stacks in turn; `runs` timed verify runs each (default 5). */
export async function benchCompose(opts: { runs?: number } = {}): Promise<ComposeBenchResult> {
  const runs = opts.runs ?? 5;
  const penv = await podmanEnv();
  const dockerHost = Deno.env.get("DOCKER_HOST") || penv.DOCKER_HOST;
  const api = new ContainerApi(dockerHost);
  if (!(await api.ping())) throw new Error(`no Docker API at ${dockerHost}: run deno task images`);

  // the local runtime
  const local = await makeStackSpec();
  const localOut = join(local.dir, "out");
  const localEnv = { ...local.secretsEnv, PROCOS_RUNTIME: "local" };
  let localUp = 0;
  let localVerify: number[] = [];
  const model = (await loadSpec(local.config, { profile: "development", env: localEnv })).spec.ai
    .default_model;
  const double = startOllamaDouble({ port: local.ollamaPort, models: [model] });
  try {
    await build(local.config, { outDir: localOut, env: localEnv, profile: "development" });
    localUp = await timed("local up", () =>
      ok("runtime/cli.ts", [
        "up",
        "--engine",
        "local",
        "--config",
        local.config,
        "--out",
        localOut,
      ], localEnv).then(() => {}));
    localVerify = await verifyRuns(local.config, localOut, localEnv, runs);
  } finally {
    await runDeno("runtime/cli.ts", ["down", "--purge", "--out", localOut], localEnv);
    await double.close();
    await local.remove();
  }

  // Compose
  const spec = await makeComposeSpec();
  const out = join(spec.dir, "out");
  const env = { ...spec.secretsEnv, ...penv, DOCKER_HOST: dockerHost };
  let composeUp = 0;
  let composeVerify: number[] = [];
  let memory: ContainerMemory[] = [];
  try {
    await build(spec.config, { outDir: out, env: spec.secretsEnv, profile: "development" });
    composeUp = await timed("compose up", () =>
      ok("runtime/cli.ts", [
        "up",
        "--engine",
        "docker",
        "--config",
        spec.config,
        "--out",
        out,
      ], env).then(() => {}));
    composeVerify = await verifyRuns(spec.config, out, env, runs);
    await new Promise((r) => setTimeout(r, 30_000)); // idle
    memory = await containerMemory(api, spec.project);
  } finally {
    await runDeno("runtime/cli.ts", ["down", "--purge", "--out", out], env);
    await spec.remove();
  }
  return {
    up: [
      row("up → all healthy, local runtime", "deno task up --engine local", [localUp]),
      row("up → all healthy, Compose", "deno task up --engine docker", [composeUp]),
    ],
    verify: [
      row("verify, local runtime", "deno task verify", localVerify),
      row("verify, Compose (containers domain too)", "deno task verify", composeVerify),
    ],
    memory,
  };
}

/** The memory table, in MiB. */
export function memoryTable(rows: readonly ContainerMemory[]): string {
  const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
  return [
    "| container | RSS MiB | cgroup usage MiB |",
    "| --- | ---: | ---: |",
    ...rows.map((r) => `| ${r.service} | ${mib(r.rss)} | ${mib(r.usage)} |`),
    `| **total** | ${mib(rows.reduce((n, r) => n + r.rss, 0))} | ${
      mib(rows.reduce((n, r) => n + r.usage, 0))
    } |`,
  ].join("\n");
}

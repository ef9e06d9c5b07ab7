/**
 * Benchmark of `deno task build`: the spawned command against the runtime's
 * own start (`deno eval ''`, the floor no Deno CLI can beat), plus the
 * in-process cost of `compile()` (load, validate, model, emit) and of
 * `build()` (the same plus the atomic, fsynced write).
 *
 *     deno run --allow-all bench/build_bench.ts [--runs 10] [--iterations 50]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { build, compile } from "../compiler/compile.ts";

/** One measured thing. */
export interface BenchRow {
  /** What was measured. */
  name: string;
  /** How it was run. */
  command: string;
  /** Number of samples. */
  samples: number;
  /** Median, in milliseconds. */
  median: number;
  /** Fastest sample, in milliseconds. */
  min: number;
  /** Slowest sample, in milliseconds. */
  max: number;
}

/** Options of {@link benchBuild}. */
export interface BuildBenchOptions {
  /** Spawned runs of each command (default 10). */
  runs?: number;
  /** In-process iterations of compile() and build() (default 50). */
  iterations?: number;
}

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SPEC = join(ROOT, "procos.config.yaml");

function row(name: string, command: string, samples: number[]): BenchRow {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return {
    name,
    command,
    samples: samples.length,
    median,
    min: sorted[0],
    max: sorted[sorted.length - 1],
  };
}

async function spawnTimes(args: string[], runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    }).output();
    times.push(performance.now() - t0);
    if (code !== 0) {
      throw new Error(`deno ${args.join(" ")} exited ${code}: ${new TextDecoder().decode(stderr)}`);
    }
  }
  return times;
}

async function inProcess(iterations: number, fn: () => Promise<unknown>): Promise<number[]> {
  await fn(); // warm up: module loading and JIT
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return times;
}

/** Runs the build benchmark; returns one row per measured thing. */
export async function benchBuild(opts: BuildBenchOptions = {}): Promise<BenchRow[]> {
  const runs = opts.runs ?? 10;
  const iterations = opts.iterations ?? 50;
  const tmp = await Deno.makeTempDir({ prefix: "procos-bench-" });
  try {
    const out = join(tmp, "out");
    // Interleave nothing: each command's runs back to back, the floor first.
    const floor = await spawnTimes(["eval", ""], runs);
    const task = await spawnTimes(["task", "-q", "build", "--out", out], runs);
    const compiled = await inProcess(iterations, () => compile(SPEC, { profile: "development" }));
    const built = await inProcess(
      iterations,
      () => build(SPEC, { profile: "development", outDir: join(tmp, "in-process") }),
    );
    return [
      row("runtime start (floor)", "deno eval ''", floor),
      row("build, spawned", "deno task build --out <tmp>/out", task),
      row("compile(), in process", "compile(spec) — load, validate, model, emit", compiled),
      row("build(), in process", "build(spec) — compile + atomic fsynced write", built),
    ];
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { runs: { type: "string" }, iterations: { type: "string" } },
  });
  const rows = await benchBuild({
    runs: values.runs ? Number(values.runs) : undefined,
    iterations: values.iterations ? Number(values.iterations) : undefined,
  });
  console.table(rows);
}

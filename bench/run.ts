/**
 * Runs every benchmark and prints the results as a markdown table (paste it
 * into `docs/benchmarks.md`).
 *
 *     deno task bench              # every benchmark, default sample counts
 *     deno task bench --runs 20 --iterations 200
 *     deno task bench --only verify   # only some: build, verify, worker, lifecycle, compose
 *
 * `build` needs nothing; `verify` and `worker` bring up a real stack on this
 * machine (its PostgreSQL, Redis and RabbitMQ, the engine jar), as
 * `deno task test` does; `worker` also needs Java 17 and Maven (the Java
 * reference client in `bench/java-client/`). Run those under
 * `flock /tmp/procos-stack.lock` so they never overlap a stack test.
 * `--runs` is the spawned runs of each variant (default 10 for build, 5 for
 * verify); `--iterations` the in-process iterations of build (default 50);
 * `--tasks` the tasks of each throughput batch of `worker` (default 2000; its
 * batches and other counts: `bench/worker_bench.ts --help`). `lifecycle`
 * runs only when named in `--only`: it loads `--rows` AI context rows
 * (default 1,000,000) into a scratch database and times the store's insert
 * against COPY, search and one retention run (`--sample`, `--queries`:
 * `bench/lifecycle_bench.ts --help`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { benchBuild } from "./build_bench.ts";
import type { BenchRow } from "./build_bench.ts";
import { benchVerify, domainTable, slowestTable } from "./verify_bench.ts";
import { BASELINE_COMMIT, goalsTable } from "./verify_goals.ts";
import { benchWorker, workerReport } from "./worker_bench.ts";
import { benchLifecycle, lifecycleReport } from "./lifecycle_bench.ts";
import { benchCompose, memoryTable } from "./compose_bench.ts";

/** The benchmarks, in the order they run. */
const BENCHES = ["build", "verify", "worker", "lifecycle", "compose"] as const;
type BenchName = typeof BENCHES[number];

/**
 * Formats rows as a markdown table. The first row is the reference (the
 * floor, or the reference tool); every row shows its median as a ratio to it.
 */
export function markdownTable(rows: readonly BenchRow[]): string {
  const ms = (n: number) => n.toFixed(1);
  const base = rows[0]?.median ?? 1;
  const lines = [
    "| benchmark | command | samples | median ms | min ms | max ms | × first row |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.name} | \`${r.command}\` | ${r.samples} | ${ms(r.median)} | ${ms(r.min)} | ${
        ms(r.max)
      } | ${(r.median / base).toFixed(2)} |`
    ),
  ];
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string" },
      iterations: { type: "string" },
      only: { type: "string" },
      tasks: { type: "string" },
      rows: { type: "string" },
      sample: { type: "string" },
      queries: { type: "string" },
    },
  });
  // lifecycle (a scratch database of 1M rows, ~20–30 min) and compose (both
  // stacks, on the images of `deno task images`) run only when named.
  const only = values.only?.split(",").map((s) => s.trim()).filter(Boolean) ??
    BENCHES.filter((n) => n !== "lifecycle" && n !== "compose");
  const unknown = only.filter((n) => !(BENCHES as readonly string[]).includes(n));
  if (unknown.length > 0 || only.length === 0) {
    console.error(
      `bench: --only takes ${BENCHES.join(", ")} (comma-separated), not ${values.only}`,
    );
    Deno.exit(2);
  }
  const wanted = (n: BenchName) => only.includes(n);
  const runs = values.runs ? Number(values.runs) : undefined;
  const opts = {
    runs,
    iterations: values.iterations ? Number(values.iterations) : undefined,
  };
  const cpus = navigator.hardwareConcurrency;
  console.log(`deno ${Deno.version.deno}, ${Deno.build.os}/${Deno.build.arch}, ${cpus} CPUs\n`);
  if (wanted("build")) {
    console.log("## build\n");
    console.log(markdownTable(await benchBuild(opts)));
  }
  if (wanted("verify")) {
    if (wanted("build")) console.log("");
    const v = await benchVerify({ runs, goals: true });
    console.log("## verify\n");
    console.log(
      `${v.total} checks (${v.passed} pass, ${v.skippedCount} skipped); load average ${v.loadBefore} before the timed runs, ` +
        `${v.loadAfter} after\n`,
    );
    console.log(markdownTable(v.rows));
    console.log("\nslowest checks (median of the spawned runs):\n");
    console.log(slowestTable(v.checks));
    console.log("\nper domain (sums of the per-check medians above):\n");
    console.log(domainTable(v.checks));
    if (v.skipped.length) console.log(`\nskipped: ${v.skipped.join("; ")}`);
    if (v.goals) {
      console.log(`\ngoals, side by side with verify at ${BASELINE_COMMIT}:\n`);
      console.log(goalsTable(v.goals));
    }
  }
  if (wanted("worker")) {
    if (wanted("build") || wanted("verify")) console.log("");
    const w = await benchWorker({ tasks: values.tasks ? Number(values.tasks) : undefined });
    console.log("## workers\n");
    console.log(workerReport(w));
  }
  if (wanted("lifecycle")) {
    if (wanted("build") || wanted("verify") || wanted("worker")) console.log("");
    const num = (s: string | undefined) => s === undefined ? undefined : Number(s);
    const l = await benchLifecycle({
      rows: num(values.rows),
      sample: num(values.sample),
      queries: num(values.queries),
    });
    console.log("## AI data lifecycle\n");
    console.log(lifecycleReport(l));
  }
  if (wanted("compose")) {
    const c = await benchCompose({ runs });
    console.log("\n## Compose and the local runtime\n");
    console.log(markdownTable(c.up));
    console.log("");
    console.log(markdownTable(c.verify));
    console.log("\nmemory of each container at idle (30 s after verify):\n");
    console.log(memoryTable(c.memory));
  }
}

/**
 * Runs every benchmark and prints the results as a markdown table (paste it
 * into `docs/benchmarks.md`).
 *
 *     deno task bench              # 10 spawned runs, 50 in-process iterations
 *     deno task bench --runs 20 --iterations 200
 *
 * @module
 */
import { parseArgs } from "node:util";
import { benchBuild } from "./build_bench.ts";
import type { BenchRow } from "./build_bench.ts";

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
    options: { runs: { type: "string" }, iterations: { type: "string" } },
  });
  const opts = {
    runs: values.runs ? Number(values.runs) : undefined,
    iterations: values.iterations ? Number(values.iterations) : undefined,
  };
  const cpus = navigator.hardwareConcurrency;
  console.log(`deno ${Deno.version.deno}, ${Deno.build.os}/${Deno.build.arch}, ${cpus} CPUs\n`);
  console.log("## build\n");
  console.log(markdownTable(await benchBuild(opts)));
}

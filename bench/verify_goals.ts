/**
 * The goals of verify's speed (issue "verify, kept running"), measured side
 * by side in one run with the verify of a baseline commit (the last one
 * before that work: `BASELINE_COMMIT`, checked out into a temporary git
 * worktree), against the stack `verify_bench.ts` brought up:
 *
 * - a full verify, spawned, default concurrency;
 * - start-up: `verify --help`, spawned (the runtime and verify's modules);
 * - `verify serve`: one `/healthz` from the cache, and one fresh (`--cache 0s`);
 * - the camunda domain on a long-lived engine: after 500 more deployments.
 *
 * Rows come interleaved (baseline, now, baseline, now, ...) so that a change
 * of load on the machine hits both alike.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { build } from "../compiler/compile.ts";
import { ROOT } from "../tests/fixtures/stack/make_spec.ts";
import type { BenchRow } from "./build_bench.ts";
import { row } from "./verify_bench.ts";

/** The commit whose verify is the baseline: main before verify serve and its speed work. */
export const BASELINE_COMMIT = "87e9b1c";

/** One goal: the baseline's row, ours, and the bound. */
export interface GoalRow {
  goal: string;
  boundMs: number;
  baseline?: BenchRow;
  now: BenchRow;
  /** The checks the baseline failed in these runs (ours passed them all). */
  baselineFailed?: string[];
}

/** What the goals bench reads: where the stack's spec, out folder and engine are. */
export interface GoalsInput {
  config: string;
  out: string;
  env: Record<string, string>;
  /** The engine's REST base, `http://127.0.0.1:<port>/engine-rest`. */
  api: string;
  runs: number;
  log: (line: string) => void;
}

/** One spawned verify, timed; its exit code must be 0, or also 1 with `mayFail`. */
async function spawnVerify(
  root: string,
  args: string[],
  env: Record<string, string>,
  failures?: string[],
): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", join(root, "verify/cli.ts"), ...args],
    cwd: root,
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  const dec = new TextDecoder();
  if (out.code === 1 && failures) {
    const report = JSON.parse(dec.decode(out.stdout)) as {
      checks: { id: string; status: string }[];
    };
    failures.push(...report.checks.filter((c) => c.status === "fail").map((c) => c.id));
  } else if (out.code !== 0) {
    throw new Error(
      `${root}: verify ${args.join(" ")} exited ${out.code}: ${
        dec.decode(out.stdout).slice(0, 1500)
      }` +
        dec.decode(out.stderr).slice(0, 500),
    );
  }
  return ms;
}

async function copyTree(from: string, to: string) {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyTree(join(from, e.name), join(to, e.name));
    else if (e.isFile) await Deno.copyFile(join(from, e.name), join(to, e.name));
  }
}

async function git(args: string[]) {
  const r = await new Deno.Command("git", { args, cwd: ROOT, stdout: "piped", stderr: "piped" })
    .output();
  if (r.code !== 0) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
}

/** `verify serve` of this checkout on a free port; its base URL and a stop function. */
async function startServe(input: GoalsInput, cache: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      join(ROOT, "verify/cli.ts"),
      "serve",
      "--port",
      "0",
      "--cache",
      cache,
      "--config",
      input.config,
      "--out",
      input.out,
    ],
    cwd: ROOT,
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...input.env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!/on (http:\/\/\S+)/.test(seen)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`verify serve ended: ${seen}`);
    seen += value;
  }
  const base = /on (http:\/\/\S+)/.exec(seen)![1];
  void reader.read().then(function drain(r): unknown {
    return r.done ? undefined : reader.read().then(drain);
  });
  return {
    base,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

async function timedFetch(url: string): Promise<number> {
  const t0 = performance.now();
  const r = await fetch(url);
  await r.arrayBuffer();
  const ms = performance.now() - t0;
  if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status}`);
  return ms;
}

/** Deploys `n` small processes, each its own deployment (a long-lived engine's history). */
async function deployMany(api: string, n: number) {
  for (let i = 0; i < n; i++) {
    const key = `bench_history_${i}`;
    // with a diagram, so that camunda.diagrams passes (every deployed process can be drawn)
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d_${i}" targetNamespace="bench">
  <bpmn:process id="${key}" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="s" /><bpmn:endEvent id="e" />
    <bpmn:sequenceFlow id="f" sourceRef="s" targetRef="e" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="dia_${i}">
    <bpmndi:BPMNPlane id="plane_${i}" bpmnElement="${key}">
      <bpmndi:BPMNShape id="s_di" bpmnElement="s"><dc:Bounds x="100" y="100" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="e_di" bpmnElement="e"><dc:Bounds x="200" y="100" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f_di" bpmnElement="f"><di:waypoint x="136" y="118" /><di:waypoint x="200" y="118" /></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>`;
    const form = new FormData();
    form.append("deployment-name", key);
    form.append("deployment-source", "procos-verify-bench");
    form.append(`${key}.bpmn`, new Blob([xml]), `${key}.bpmn`);
    const r = await fetch(`${api}/deployment/create`, { method: "POST", body: form });
    await r.body?.cancel();
    if (!r.ok) throw new Error(`deploying ${key}: HTTP ${r.status}`);
  }
}

/** Measures every goal; see the module doc. */
export async function benchVerifyGoals(input: GoalsInput): Promise<GoalRow[]> {
  const { runs, log, env } = input;
  const baseline = await Deno.makeTempDir({ prefix: "procos-verify-baseline-" });
  await Deno.remove(baseline);
  await git(["worktree", "add", "--detach", baseline, BASELINE_COMMIT]);
  const servers: { stop(): Promise<void> }[] = [];
  try {
    // The baseline's schema has no monitoring.verify: both verifies read the spec without it,
    // built into a second out folder beside the stack's runtime records.
    const config = join(dirname(input.config), "procos.goals.yaml");
    const text = await Deno.readTextFile(input.config);
    await Deno.writeTextFile(config, text.replace(/^\s*verify: true\n/m, ""));
    const out = `${input.out}-goals`;
    await build(config, { outDir: out, env, profile: "development" });
    await copyTree(join(input.out, "runtime"), join(out, "runtime"));
    input = { ...input, config, out };
    const args = ["--config", config, "--out", out, "--reporter", "json"];
    // a run of the baseline may fail where ours passes (never the reverse): say which checks
    const pair = async (what: string, extra: string[]) => {
      const a: number[] = [];
      const b: number[] = [];
      const failed: string[] = [];
      await spawnVerify(baseline, [...args, ...extra], env, failed); // warm: its npm folder
      for (let i = 0; i < runs; i++) {
        a.push(await spawnVerify(baseline, [...args, ...extra], env, failed));
        b.push(await spawnVerify(ROOT, [...args, ...extra], env));
      }

      log(
        `verify goals: ${what}: ${a.map((x) => x.toFixed(0)).join(" ")} / ${
          b.map((x) => x.toFixed(0)).join(" ")
        } ms`,
      );
      return {
        baseline: row(`${what}, ${BASELINE_COMMIT}`, `verify ${extra.join(" ")}`.trim(), a),
        now: row(`${what}, now`, `verify ${extra.join(" ")}`.trim(), b),
        ...(failed.length ? { baselineFailed: [...new Set(failed)].sort() } : {}),
      };
    };
    const full = await pair("full verify, spawned", []);
    const help = async (root: string) => {
      const t0 = performance.now();
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", join(root, "verify/cli.ts"), "--help"],
        cwd: root,
        stdout: "null",
        stderr: "null",
      }).output();
      if (r.code !== 0) throw new Error(`${root}: verify --help exited ${r.code}`);
      return performance.now() - t0;
    };
    const helpBase: number[] = [];
    const helpNow: number[] = [];
    for (let i = 0; i < runs; i++) {
      helpBase.push(await help(baseline));
      helpNow.push(await help(ROOT));
    }

    const cachedServer = await startServe(input, "1h");
    servers.push(cachedServer);
    await timedFetch(`${cachedServer.base}/healthz`); // fills the cache
    const cached: number[] = [];
    for (let i = 0; i < runs * 4; i++) {
      cached.push(await timedFetch(`${cachedServer.base}/healthz`));
    }
    const freshServer = await startServe(input, "0s");
    servers.push(freshServer);
    await timedFetch(`${freshServer.base}/healthz`); // warm: modules and JIT
    const fresh: number[] = [];
    for (let i = 0; i < runs; i++) fresh.push(await timedFetch(`${freshServer.base}/healthz`));

    log("verify goals: deploying 500 processes, each its own deployment");
    await deployMany(input.api, 500);
    const camunda = await pair("camunda domain, 500 more deployments", ["--only", "camunda"]);

    return [
      { goal: "full verify, spawned", boundMs: 300, ...full },
      {
        goal: "start-up (verify --help, spawned)",
        boundMs: 100,
        baseline: row(`start-up, ${BASELINE_COMMIT}`, "verify --help", helpBase),
        now: row("start-up, now", "verify --help", helpNow),
      },
      {
        goal: "one cached /healthz",
        boundMs: 5,
        now: row("cached /healthz", "GET /healthz (--cache 1h)", cached),
      },
      {
        goal: "one fresh /healthz",
        boundMs: 200,
        now: row("fresh /healthz", "GET /healthz (--cache 0s)", fresh),
      },
      {
        goal: "camunda domain, engine with 500 more deployments",
        boundMs: Number.NaN,
        ...camunda,
      },
    ];
  } finally {
    await Deno.remove(`${input.out.replace(/-goals$/, "")}-goals`, { recursive: true }).catch(
      () => {},
    );
    for (const s of servers) await s.stop().catch(() => {});
    await git(["worktree", "remove", "--force", baseline]).catch((e) => log(String(e)));
  }
}

/** The goals as a markdown table: the bound, the baseline and now (medians), their ratio. */
export function goalsTable(rows: readonly GoalRow[]): string {
  const ms = (
    r?: BenchRow,
  ) => (r ? `${r.median.toFixed(1)} (${r.min.toFixed(1)}–${r.max.toFixed(1)})` : "—");
  return [
    `| run | goal | ${BASELINE_COMMIT} median ms (min–max) | now median ms (min–max) | now ÷ ${BASELINE_COMMIT} | goal met | ${BASELINE_COMMIT} failed |`,
    "| --- | ---: | ---: | ---: | ---: | :---: | --- |",
    ...rows.map((g) =>
      `| ${g.goal} | ${Number.isNaN(g.boundMs) ? "—" : `≤ ${g.boundMs} ms`} | ${ms(g.baseline)} | ${
        ms(g.now)
      } | ${g.baseline ? (g.now.median / g.baseline.median).toFixed(2) : "—"} | ${
        Number.isNaN(g.boundMs) ? "—" : g.now.median <= g.boundMs ? "yes" : "no"
      } | ${g.baselineFailed ? g.baselineFailed.map((id) => `\`${id}\``).join(", ") : ""} |`
    ),
  ].join("\n");
}

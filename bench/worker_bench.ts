/**
 * Benchmark of the Deno workers on a real engine, in one run:
 *
 * 1. Throughput: the generic worker (task type `noop`, one process, the
 *    manifest's `concurrency` as `maxTasks`, its shipped polling settings)
 *    against Camunda's own Java external task client 7.24.0
 *    (`bench/java-client/`) with the same `maxTasks`, long-polling timeout and
 *    lock duration. For each client a fresh batch of N process instances (one
 *    external task each, topic `bench-noop`) is started in bulk *before* the
 *    clock starts; then the client is spawned and timed until all N tasks are
 *    completed. Java runs first: it is the reference row. A third row runs the
 *    generic worker with `PROCOS_POLL_INTERVAL_MS=0`, to show what the poll
 *    interval costs.
 * 2. The AI worker's overhead per task, generation excluded: the AI worker
 *    serves N tasks against the Ollama double answering at once with a short
 *    answer; per-task wall time (from the runner's `task started` line, logged
 *    at `debug`, to its `task completed` line, logged once Camunda answered
 *    the `complete`) against the generation time the double reports (`total_duration`,
 *    `eval_duration`) and the generation's wall time on the worker's side.
 *    Then each step of an AI task is timed alone, in this process, with the
 *    worker's own functions on the same services (prompt rendering, the
 *    PostgreSQL read and write, the Redis rate-limit counter, the call to the
 *    double, Camunda's `complete`), so the overhead can be split.
 *
 * The stack is the one of `tests/workers/stack_test.ts`: a scratch PostgreSQL
 * database initialised with the generated `init-db.sql`, the engine jar on a
 * free port (`-Xmx768m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC`, history
 * level `full`), a scratch RabbitMQ vhost with the generated topology (the
 * workers publish their task events there), a scratch Redis key prefix and the
 * Ollama double. Before anything is timed, a warm-up batch (JIT of the engine)
 * is fetched and completed over REST by this process. Times come from the
 * engine: the first and last `successLog` entry of each batch in the history
 * of external task logs (`/history/external-task-log`), and the client's
 * spawn time on the same clock. Everything made is removed in `finally`
 * (processes, database and role, vhost, Redis keys).
 *
 *     deno run --allow-all bench/worker_bench.ts [--tasks 2000] [--ai-tasks 500] [--runs 1]
 *
 * Needs `engine/target/procos-engine.jar`, Java 17 and Maven (the Java client
 * is built with `mvn -q -B package` when its jar is missing or stale), and the
 * machine's PostgreSQL, Redis and RabbitMQ, as `deno task test` does. Run it
 * under `flock /tmp/procos-stack.lock` so no stack test runs at the same time.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { createClient } from "redis";
import { AI_MODEL_STATS_TABLE, AI_MODELS_TABLE } from "../compiler/ai_schema.ts";
import { type OllamaDouble, startOllamaDouble } from "../tests/ollama_double.ts";
import { dropScratch } from "../tests/helpers/pg.ts";
import {
  bpmn,
  type Child,
  createDatabase,
  createVhost,
  type Engine,
  freePort,
  manifestOf,
  newScratch,
  referenceModel,
  rest,
  ROOT,
  sleep,
  spawn,
  startEngine,
  startWorker,
  type TestDatabase,
  until,
} from "../tests/workers/helpers.ts";
import { generate } from "../workers/ai/generate.ts";
import { answerVariables } from "../workers/ai/handler.ts";
import { compilePrompt } from "../workers/ai/prompt.ts";
import { createCache } from "../workers/lib/cache.ts";
import { createWorkerClient } from "../workers/lib/camunda.ts";
import { createEventPublisher } from "../workers/lib/events.ts";
import { createLogger } from "../workers/lib/log.ts";
import {
  connectDatabase,
  contextRowId,
  findAiOutput,
  saveAiExchange,
} from "../workers/lib/store.ts";
import type { BenchRow } from "./build_bench.ts";

/** The topic every throughput batch uses. */
export const NOOP_TOPIC = "bench-noop";
/** The Java client's folder and jar. */
const JAVA_DIR = join(ROOT, "bench", "java-client");
const JAVA_JAR = join(JAVA_DIR, "target", "procos-bench-java-client.jar");
/** Long polling of both clients: the generic worker's default `PROCOS_POLL_TIMEOUT_MS`. */
const LONG_POLL_MS = 5000;

/** Options of {@link benchWorker}. */
export interface WorkerBenchOptions {
  /** Tasks in each throughput batch (default 2000). */
  tasks?: number;
  /** Tasks the AI worker serves (default 500). */
  aiTasks?: number;
  /** Batches of each throughput client, interleaved (default 1). */
  runs?: number;
  /** Iterations of each step timed alone (default 200). */
  iterations?: number;
  /** Progress lines (default: to stderr, so stdout stays the tables). */
  log?: (line: string) => void;
}

/** One throughput batch. */
export interface Batch {
  /** Tasks completed (checked: N success log entries, no failure). */
  tasks: number;
  /** Spawn of the client to the last completion, ms. */
  wallMs: number;
  /** Spawn of the client to the first completion (start-up, first poll), ms. */
  firstMs: number;
  /** First to last completion, ms. */
  steadyMs: number;
  /** CPU time of the client process when the batch was done (its start-up included), ms. */
  clientCpuMs: number;
  /** CPU time the engine used from the client's spawn until the batch was done, ms. */
  engineCpuMs: number;
}

/** One throughput client. */
export interface ThroughputResult {
  /** What ran. */
  name: string;
  /** How it was configured. */
  command: string;
  /** Its batches, in run order. */
  batches: Batch[];
  /** What the Java client printed about itself (its last batch), if it is the Java client. */
  self?: Record<string, unknown>;
}

/** The AI worker's run against the instant double. */
export interface AiResult {
  /** Tasks served. */
  tasks: number;
  /** The AI worker's concurrency (tasks in hand at once). */
  concurrency: number;
  /** The batch, timed like the throughput batches. */
  batch: Batch;
  /** Per-task rows: the first is the worker's per-task wall time (the reference). */
  rows: BenchRow[];
  /** Each step alone, in this process. */
  steps: BenchRow[];
  /** Median per-task wall time minus median reported `total_duration`, ms. */
  overheadMs: number;
  /** Median per-task wall time minus the median generation wall time on the worker's side, ms. */
  overheadExGenerationWallMs: number;
}

/** What {@link benchWorker} measured. */
export interface WorkerBenchResult {
  /** One row per client (samples: batches; median: spawn to last completion). Java first. */
  rows: BenchRow[];
  /** The throughput clients in detail. */
  throughput: ThroughputResult[];
  /** The AI overhead. */
  ai: AiResult;
  /** Tasks per throughput batch. */
  tasks: number;
  /** The generic worker's concurrency = the Java client's maxTasks. */
  maxTasks: number;
  /** The topic's lock duration, ms (both clients). */
  lockDurationMs: number;
  /** `/proc/loadavg`'s three load averages before and after the timed work. */
  loadBefore: string;
  loadAfter: string;
  /** The warm-up batch (tasks) fetched and completed by this process before timing. */
  warmupTasks: number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function row(name: string, command: string, samples: number[]): BenchRow {
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

/** Camunda's `2026-11-28T20:55:00.123+0000` as ms since the epoch. */
function engineTime(s: string): number {
  const t = Date.parse(s.replace(/([+-]\d\d)(\d\d)$/, "$1:$2"));
  if (Number.isNaN(t)) throw new Error(`unreadable engine timestamp ${s}`);
  return t;
}

let clockTicks: number | undefined;

/** CPU time (user + system) of a running process, ms, from `/proc/<pid>/stat`; NaN when gone. */
export async function processCpuMs(pid: number): Promise<number> {
  if (clockTicks === undefined) {
    const r = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" }).output()
      .catch(() => undefined);
    clockTicks = Number(new TextDecoder().decode(r?.stdout ?? new Uint8Array()).trim()) || 100;
  }
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // the fields after the command's closing parenthesis; utime and stime are 14 and 15
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / clockTicks * 1000;
  } catch {
    return NaN;
  }
}

/** Newest input file of the Java client (sources and POM), ms. */
async function newestJavaSource(): Promise<number> {
  let newest = (await Deno.stat(join(JAVA_DIR, "pom.xml"))).mtime?.getTime() ?? 0;
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const p = join(dir, e.name);
      if (e.isDirectory) await walk(p);
      else newest = Math.max(newest, (await Deno.stat(p)).mtime?.getTime() ?? 0);
    }
  };
  await walk(join(JAVA_DIR, "src"));
  return newest;
}

/** Builds the Java client when its jar is missing or older than its sources. */
export async function ensureJavaClient(log: (l: string) => void): Promise<string> {
  const jar = await Deno.stat(JAVA_JAR).catch(() => undefined);
  if (jar?.mtime && jar.mtime.getTime() >= await newestJavaSource()) return JAVA_JAR;
  log("worker bench: building bench/java-client (mvn -q -B package)");
  const r = await new Deno.Command("mvn", {
    args: ["-q", "-B", "package"],
    cwd: JAVA_DIR,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (r.code !== 0) {
    const dec = new TextDecoder();
    throw new Error(
      `mvn package in bench/java-client failed (${r.code}):\n${dec.decode(r.stdout)}${
        dec.decode(r.stderr)
      }`,
    );
  }
  return JAVA_JAR;
}

/** Runs the worker benchmark; see the module doc. */
export async function benchWorker(opts: WorkerBenchOptions = {}): Promise<WorkerBenchResult> {
  const tasks = opts.tasks ?? 2000;
  const aiTasks = opts.aiTasks ?? 500;
  const runs = opts.runs ?? 1;
  const iterations = opts.iterations ?? 200;
  for (const [k, v] of Object.entries({ tasks, aiTasks, runs, iterations })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${k}: a whole number ≥ 1, not ${v}`);
  }
  const log = opts.log ?? ((l: string) => console.error(l));
  const jar = await ensureJavaClient(log);

  const cleanups: Array<[string, () => Promise<unknown>]> = [];
  const cleanup = (name: string, fn: () => Promise<unknown>) => cleanups.unshift([name, fn]);
  const children = new Set<Child>();
  const track = <C extends Child>(c: C): C => {
    children.add(c);
    c.status.finally(() => children.delete(c));
    return c;
  };
  const prefix = `procos:bench:${crypto.randomUUID().slice(0, 8)}:`;
  const scratch = newScratch();
  let db: TestDatabase | undefined;
  let engine: Engine | undefined;
  let double: OllamaDouble | undefined;
  let result: WorkerBenchResult | undefined;
  let benchError: unknown;

  try {
    // ---------------------------------------------------------------- stack
    const model = await referenceModel(scratch);
    cleanup("database", () => db ? db.drop() : dropScratch(scratch));
    db = await createDatabase(model, scratch);
    const vhost = await createVhost(model);
    cleanup("vhost", () => vhost.drop());
    double = startOllamaDouble({ port: freePort(), models: ["llama3.2:1b"] });
    cleanup("ollama double", () => double!.close());
    cleanup("redis keys", async () => {
      const r = createClient({ url: "redis://127.0.0.1:6379" });
      await r.connect();
      const keys: string[] = [];
      for await (const batch of r.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
        keys.push(...(batch as unknown as string[]));
      }
      if (keys.length) await r.del(keys);
      await r.close();
    });
    cleanup("engine", () => engine?.stop("SIGKILL") ?? Promise.resolve());
    cleanup("clients and workers", () => Promise.all([...children].map((c) => c.stop(5000))));
    const t0 = performance.now();
    engine = await startEngine(db);
    const api = engine.url;
    log(
      `worker bench: engine :${engine.port} up in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s`,
    );

    const env: Record<string, string> = {
      CAMUNDA_BASE_URL: api,
      OLLAMA_BASE_URL: double.url,
      DATABASE_URL: db.url,
      REDIS_URL: "redis://127.0.0.1:6379",
      RABBITMQ_URL: vhost.url,
      PROCOS_REDIS_PREFIX: prefix,
      PROCOS_LOG_LEVEL: "info",
    };

    // ------------------------------------------------------------ processes
    const deploy = async (key: string, topic: string) => {
      const form = new FormData();
      form.append("deployment-name", key);
      form.append("deployment-source", "procos-worker-bench");
      form.append(`${key}.bpmn`, new Blob([bpmn(key, [topic])]), `${key}.bpmn`);
      const r = await fetch(`${api}/deployment/create`, { method: "POST", body: form });
      if (!r.ok) throw new Error(`deploying ${key}: HTTP ${r.status} ${await r.text()}`);
      await r.body?.cancel();
    };
    /** Starts n instances of `key`, 8 requests at a time. */
    const startMany = async (key: string, n: number, vars: Record<string, unknown> = {}) => {
      const variables = Object.fromEntries(
        Object.entries(vars).map(([k, v]) => [k, { value: v, type: "String" }]),
      );
      let next = 0;
      const lane = async () => {
        while (next < n) {
          next++;
          await rest(api, "POST", `/process-definition/key/${key}/start`, { variables });
        }
      };
      await Promise.all(Array.from({ length: Math.min(8, n) }, lane));
    };
    const pending = async (topic: string) =>
      (await rest<{ count: number }>(api, "GET", `/external-task/count?topicName=${topic}`)).count;
    /** Waits until the topic has no task left; the engine's history gives the times. */
    const timeBatch = async (
      key: string,
      topic: string,
      n: number,
      spawnedAt: number,
      child: Child,
      engineCpuAtSpawn: number,
    ): Promise<Batch> => {
      const exited = child.status.then((s) => s.code);
      let clientCpuMs = NaN;
      let code: number | undefined;
      exited.then((c) => (code = c));
      await until(
        `${key}: ${n} tasks completed`,
        async () => {
          const left = await pending(topic);
          if (code === undefined) {
            const cpu = await processCpuMs(child.proc.pid);
            if (!Number.isNaN(cpu)) clientCpuMs = cpu;
          }
          if (left > 0 && code !== undefined && code !== 0) {
            throw new Error(
              `the client exited ${code} with ${left} tasks left:\n${
                child.out.lines.slice(-20).join("\n")
              }`,
            );
          }
          return left === 0;
        },
        60_000 + n * 500,
        250,
      );
      const engineCpuMs = await processCpuMs(engine!.child().proc.pid) - engineCpuAtSpawn;
      const logs = (order: "asc" | "desc") =>
        rest<{ timestamp: string }[]>(
          api,
          "GET",
          `/history/external-task-log?processDefinitionKey=${key}&successLog=true` +
            `&sortBy=timestamp&sortOrder=${order}&firstResult=0&maxResults=1`,
        );
      const count = (what: string) =>
        rest<{ count: number }>(
          api,
          "GET",
          `/history/external-task-log/count?processDefinitionKey=${key}&${what}=true`,
        ).then((r) => r.count);
      const [first] = await logs("asc");
      const [last] = await logs("desc");
      const ok = await count("successLog");
      const failed = await count("failureLog");
      if (ok !== n || failed !== 0) {
        throw new Error(`${key}: ${ok} completions and ${failed} failures, not ${n} and 0`);
      }
      const a = engineTime(first.timestamp);
      const b = engineTime(last.timestamp);
      return {
        tasks: n,
        wallMs: b - spawnedAt,
        firstMs: a - spawnedAt,
        steadyMs: b - a,
        clientCpuMs,
        engineCpuMs,
      };
    };

    // -------------------------------------------------------------- warm-up
    // The engine's JIT, the connection pool and the tables, before anything is
    // timed: a batch fetched and completed over REST by this process.
    const warmupTasks = Math.min(500, Math.max(100, Math.round(tasks / 4)));
    await deploy("bench-warmup", NOOP_TOPIC);
    await startMany("bench-warmup", warmupTasks);
    for (let done = 0; done < warmupTasks;) {
      const got = await rest<{ id: string }[]>(api, "POST", "/external-task/fetchAndLock", {
        workerId: "procos-bench-warmup",
        maxTasks: 10,
        topics: [{ topicName: NOOP_TOPIC, lockDuration: 30_000 }],
      });
      await Promise.all(
        got.map((t) =>
          rest(api, "POST", `/external-task/${t.id}/complete`, { workerId: "procos-bench-warmup" })
        ),
      );
      done += got.length;
    }
    log(`worker bench: warm-up of ${warmupTasks} tasks done`);

    // ----------------------------------------------------------- throughput
    const generic = manifestOf(model, "generic", (m) => {
      m.camunda.baseUrl = api;
      const ref = m.topics[0];
      m.topics = [{ ...ref, name: NOOP_TOPIC, type: "noop" }];
    });
    const maxTasks = generic.concurrency;
    const lockDurationMs = generic.topics[0].lockDurationMs;

    interface Client {
      name: string;
      command: string;
      key: string;
      start(): Promise<Child>;
      /** After the batch: stop it (or wait for its own exit); may return what it printed. */
      finish(c: Child): Promise<Record<string, unknown> | undefined>;
    }
    const javaArgs = [
      "-Xmx256m",
      "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
      "-jar",
      jar,
      "--base-url",
      api,
      "--topic",
      NOOP_TOPIC,
      "--tasks",
      String(tasks),
      "--max-tasks",
      String(maxTasks),
      "--async-response-timeout",
      String(LONG_POLL_MS),
      "--lock-duration",
      String(lockDurationMs),
      "--timeout-ms",
      String(60_000 + tasks * 500),
    ];
    const genericClient = (name: string, key: string, extra: Record<string, string>): Client => ({
      name,
      command: `workers/generic/main.ts, concurrency ${maxTasks}${
        Object.entries(extra).map(([k, v]) => `, ${k}=${v}`).join("")
      }`,
      key,
      start: async () => track(await startWorker("generic", generic, { ...env, ...extra })),
      finish: async (c) => {
        const s = await c.stop(20_000);
        if (s.code !== 0) throw new Error(`${name} exited ${s.code} on SIGTERM`);
        return undefined;
      },
    });
    const clients: Client[] = [
      {
        name: "Camunda Java client 7.24.0 (reference)",
        command:
          `java -jar procos-bench-java-client.jar, maxTasks ${maxTasks}, asyncResponseTimeout ${LONG_POLL_MS}`,
        key: "bench-noop-java",
        start: () => Promise.resolve(track(spawn("java", javaArgs, {}, "java-client"))),
        finish: async (c) => {
          const s = await c.status;
          await c.out.done;
          const line = c.out.json().find((l) => l.client === "camunda-external-task-client");
          if (s.code !== 0 || !line) {
            throw new Error(`the Java client exited ${s.code}:\n${c.out.lines.join("\n")}`);
          }
          return line;
        },
      },
      genericClient("generic worker, shipped settings", "bench-noop-generic", {
        PROCOS_POLL_TIMEOUT_MS: String(LONG_POLL_MS),
      }),
      genericClient("generic worker, no poll interval", "bench-noop-generic-poll0", {
        PROCOS_POLL_TIMEOUT_MS: String(LONG_POLL_MS),
        PROCOS_POLL_INTERVAL_MS: "0",
      }),
    ];
    for (const c of clients) {
      for (let run = 0; run < runs; run++) {
        await deploy(runs === 1 ? c.key : `${c.key}-r${run + 1}`, NOOP_TOPIC);
      }
    }

    const loadBefore = await loadAverage();
    const throughput: ThroughputResult[] = clients.map((c) => ({
      name: c.name,
      command: c.command,
      batches: [],
    }));
    for (let run = 0; run < runs; run++) {
      for (const [i, c] of clients.entries()) {
        // each batch its own process definition key, so the history gives its times alone
        const key = runs === 1 ? c.key : `${c.key}-r${run + 1}`;
        const s0 = performance.now();
        await startMany(key, tasks);
        log(
          `worker bench: ${tasks} instances of ${key} started in ${
            ((performance.now() - s0) / 1000).toFixed(1)
          } s`,
        );
        const left = await pending(NOOP_TOPIC);
        if (left !== tasks) throw new Error(`${key}: ${left} tasks pending, not ${tasks}`);
        await sleep(2000); // let the engine settle after the starts
        const engineCpu = await processCpuMs(engine.child().proc.pid);
        const spawnedAt = Date.now();
        const child = await c.start();
        const batch = await timeBatch(key, NOOP_TOPIC, tasks, spawnedAt, child, engineCpu);
        const self = await c.finish(child);
        if (self) {
          throughput[i].self = self;
          // the JVM's own figure, taken when its last task was completed
          if (typeof self.cpuMs === "number" && self.cpuMs >= 0) batch.clientCpuMs = self.cpuMs;
        }
        throughput[i].batches.push(batch);
        log(
          `worker bench: ${c.name}: ${tasks} tasks in ${(batch.wallMs / 1000).toFixed(1)} s ` +
            `(first completion at ${(batch.firstMs / 1000).toFixed(1)} s; ${
              ((tasks - 1) / batch.steadyMs * 1000).toFixed(0)
            } tasks/s first → last)`,
        );
      }
    }

    // ---------------------------------------------------------- AI overhead
    const aiManifest = manifestOf(model, "ai", (m) => {
      m.camunda.baseUrl = api;
      m.ollama.baseUrl = double!.url;
      // the shipped 60 requests a minute would make the run wait for the next minute
      m.topics = [{ ...m.topics[0], rateLimitPerMinute: 1_000_000_000 }];
    });
    const aiTopic = aiManifest.topics[0];
    double.setLatency(0);
    double.setAnswer("ok");
    await deploy("bench-ai", aiTopic.name);
    const vars = { instruction: "Say ok.", input: "Nothing else." };
    await startMany("bench-ai", aiTasks, vars);
    await sleep(2000);
    const aiEngineCpu = await processCpuMs(engine.child().proc.pid);
    const aiSpawned = Date.now();
    // debug: the runner's one debug line, `task started`, marks the handler's start
    const ai = track(await startWorker("ai", aiManifest, { ...env, PROCOS_LOG_LEVEL: "debug" }));
    const aiBatch = await timeBatch("bench-ai", aiTopic.name, aiTasks, aiSpawned, ai, aiEngineCpu);
    const aiStop = await ai.stop(20_000);
    if (aiStop.code !== 0) throw new Error(`the AI worker exited ${aiStop.code} on SIGTERM`);
    const lines = ai.out.json();
    const startedAt = new Map(
      lines.filter((l) => l.msg === "task started").map((
        l,
      ) => [l.taskId, Date.parse(String(l.ts))]),
    );
    const completedLines = lines.filter((l) => l.msg === "task completed");
    if (completedLines.length !== aiTasks || startedAt.size !== aiTasks) {
      throw new Error(
        `the AI worker logged ${startedAt.size} starts and ${completedLines.length} completions, ` +
          `not ${aiTasks}`,
      );
    }
    // the runner measures `seconds` before it calls complete; the line's `ts` is after
    const handlerOnly = completedLines.map((l) => Number(l.seconds) * 1000);
    const perTask = completedLines.map((l) => Date.parse(String(l.ts)) - startedAt.get(l.taskId)!);
    const stored = await db.sql<{ data: Record<string, unknown>; usage: Record<string, number> }[]>`
      SELECT content_data AS data, token_usage AS usage FROM procos_ai_context
      WHERE context_type = 'output'`;
    if (stored.length !== aiTasks) {
      throw new Error(`${stored.length} output rows in procos_ai_context, not ${aiTasks}`);
    }
    const ns = (k: string) => stored.map((r) => Number(r.usage[k]) / 1e6);
    const aiRows = [
      row(
        "per task: handler start → Camunda's complete answered",
        "`ts` of the worker's `task started` and `task completed` lines (1 ms resolution)",
        perTask,
      ),
      row(
        "  of which the handler (before complete)",
        "`seconds` of the `task completed` lines",
        handlerOnly,
      ),
      row(
        "generation, wall time on the worker's side (ollama-js, streamed)",
        "`content_data.wallMs` of the output rows",
        stored.map((r) => Number(r.data.wallMs)),
      ),
      row(
        "generation as the double reports it: total_duration",
        "`token_usage`",
        ns("total_duration"),
      ),
      row("  of which eval_duration", "`token_usage`", ns("eval_duration")),
    ];
    log(`worker bench: AI worker: ${aiTasks} tasks in ${(aiBatch.wallMs / 1000).toFixed(1)} s`);

    // ------------------------------------------- the AI task's steps, alone
    const quiet = createLogger({ bench: "worker" }, { level: "error" });
    const steps: BenchRow[] = [aiRows[0]];
    const timeIt = async (
      name: string,
      command: string,
      fn: (i: number) => Promise<unknown> | unknown,
      n = iterations,
    ) => {
      for (let i = 0; i < Math.min(20, n); i++) await fn(-1 - i); // warm-up
      const xs: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await fn(i);
        xs.push(performance.now() - t);
      }
      steps.push(row(name, command, xs));
    };
    const tpl = compilePrompt(aiTopic.prompt);
    const sql = connectDatabase(db.url, { max: 2 });
    cleanup("bench database pool", () => sql.end({ timeout: 5 }));
    const cache = createCache({ url: env.REDIS_URL, prefix, log: quiet });
    cleanup("bench redis", () => cache.close());
    await until("Redis ready", () => cache.ready(), 10_000, 50);
    const publisher = createEventPublisher({
      url: vhost.url,
      exchange: aiManifest.events.exchange,
      deadLetterExchange: aiManifest.events.deadLetterExchange,
      appId: "procos-bench",
      log: quiet,
    });
    cleanup("bench publisher", () => publisher.close(5000));
    const fakeTask = (i: number) => `bench-step-${i}-${crypto.randomUUID()}`;
    const prompt = tpl.render(vars);

    await timeIt("render the prompt (Handlebars)", "compilePrompt(t).render(vars)", () => {
      tpl.render(vars);
    });
    await timeIt(
      "PostgreSQL read: is the answer stored already?",
      "findAiOutput() — one SELECT by primary key",
      () => findAiOutput(sql, aiManifest.aiContext.table, fakeTask(0)),
    );
    await timeIt(
      "Redis: rate-limit counter",
      "cache.acquireRate() — MULTI INCR PEXPIRE",
      () => cache.acquireRate(aiTopic.model, aiTopic.rateLimitPerMinute),
    );
    await timeIt(
      "generation: the call to the double",
      "generate() — ollama-js, streamed",
      () =>
        generate({
          baseUrl: double!.url,
          model: aiTopic.model,
          prompt,
          options: { num_ctx: aiTopic.contextWindow },
          timeoutMs: 60_000,
          idleTimeoutMs: 60_000,
        }),
    );
    const usage = {
      prompt_eval_count: 5,
      eval_count: 1,
      total_duration: 2_500_000,
      load_duration: 1_000_000,
      prompt_eval_duration: 500_000,
      eval_duration: 1_000_000,
    };
    await timeIt(
      "PostgreSQL write: input and output rows + model statistics, one transaction",
      "saveAiExchange()",
      (i) => {
        const taskId = fakeTask(i);
        return saveAiExchange(sql, {
          table: aiManifest.aiContext.table,
          taskId,
          processInstanceId: crypto.randomUUID(),
          activityId: "task_0",
          provider: aiTopic.provider,
          model: aiTopic.model,
          tokenUsage: usage,
          input: { text: prompt, data: { topic: aiTopic.name, template: aiTopic.prompt } },
          output: {
            text: "ok",
            data: { topic: aiTopic.name, doneReason: "stop", cached: false, wallMs: 3 },
          },
          stats: {
            modelsTable: AI_MODELS_TABLE,
            statsTable: AI_MODEL_STATS_TABLE,
            truncated: false,
            promptTokens: 5,
            completionTokens: 1,
            latencyMs: 3,
          },
        });
      },
    );
    // Camunda complete: real tasks, locked by this process, completed with the
    // nine variables of an AI task through the workers' client.
    const completeN = 3 * (iterations + Math.min(20, iterations));
    await deploy("bench-complete", "bench-complete");
    await startMany("bench-complete", completeN);
    const workerId = "procos-bench-complete";
    const locked = await rest<{ id: string }[]>(api, "POST", "/external-task/fetchAndLock", {
      workerId,
      maxTasks: completeN,
      topics: [{ topicName: "bench-complete", lockDuration: 600_000 }],
    });
    if (locked.length !== completeN) throw new Error(`locked ${locked.length} of ${completeN}`);
    const wc = createWorkerClient({ baseUrl: api, workerId, maxTasks: 1, log: quiet });
    let nextLocked = 0;
    await timeIt(
      "Camunda: complete with the 9 answer variables",
      "client.complete() — camunda-external-task-client-js",
      () => {
        const id = locked[nextLocked++].id;
        return wc.complete(
          id,
          answerVariables({
            answer: "ok",
            outputId: contextRowId(id, "output"),
            inputId: contextRowId(id, "input"),
            model: aiTopic.model,
            doneReason: "stop",
            promptTokens: 5,
            completionTokens: 1,
          }),
        );
      },
    );
    await timeIt(
      "  the same, no variables (what a noop task sends)",
      "client.complete()",
      () => wc.complete(locked[nextLocked++].id),
    );
    await timeIt(
      "  the same over plain fetch (no client library)",
      "POST /external-task/{id}/complete",
      () => rest(api, "POST", `/external-task/${locked[nextLocked++].id}/complete`, { workerId }),
    );
    await timeIt(
      "(not on the task's path) task event, published with confirm",
      "publisher.publish() — amqplib confirm channel",
      (i) => publisher.publish(aiManifest.events.routingKeys.taskCompleted, { bench: i }),
    );
    const loadAfter = await loadAverage();

    const perTaskMedian = median(perTask);
    result = {
      rows: throughput.map((t, i) =>
        row(t.name, clients[i].command, t.batches.map((b) => b.wallMs))
      ),
      throughput,
      ai: {
        tasks: aiTasks,
        concurrency: aiManifest.concurrency,
        batch: aiBatch,
        rows: aiRows,
        steps,
        overheadMs: perTaskMedian - median(ns("total_duration")),
        overheadExGenerationWallMs: perTaskMedian -
          median(stored.map((r) => Number(r.data.wallMs))),
      },
      tasks,
      maxTasks,
      lockDurationMs,
      loadBefore,
      loadAfter,
      warmupTasks,
    };
  } catch (e) {
    benchError = e;
  } finally {
    for (const [name, fn] of cleanups) {
      try {
        await fn();
      } catch (e) {
        log(`worker bench: cleanup ${name} failed: ${e}`);
        if (benchError === undefined) benchError = e;
      }
    }
  }
  if (benchError !== undefined || result === undefined) throw benchError;
  return result;
}

const f1 = (n: number) => n.toFixed(1);

/** The throughput clients as a markdown table (tasks/s; the first row is the reference). */
export function throughputTable(r: WorkerBenchResult): string {
  const base = r.throughput[0];
  const rate = (b: Batch) => b.tasks / b.wallMs * 1000;
  const steady = (b: Batch) => (b.tasks - 1) / b.steadyMs * 1000;
  const med = (t: ThroughputResult, f: (b: Batch) => number) => median(t.batches.map(f));
  const lines = [
    "| client | batches × tasks | spawn → first completion s | spawn → last completion s | tasks/s (spawn → last) | tasks/s (first → last) | × first row | client CPU s | engine CPU s |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...r.throughput.map((t) =>
      `| ${t.name} | ${t.batches.length} × ${r.tasks} | ${f1(med(t, (b) => b.firstMs) / 1000)} | ${
        f1(med(t, (b) => b.wallMs) / 1000)
      } | ${f1(med(t, rate))} | ${f1(med(t, steady))} | ${
        (med(t, steady) / med(base, steady)).toFixed(2)
      } | ${f1(med(t, (b) => b.clientCpuMs) / 1000)} | ${f1(med(t, (b) => b.engineCpuMs) / 1000)} |`
    ),
  ];
  return lines.join("\n");
}

/** Formats BenchRows (per-task times) with the share of the first row. */
export function shareTable(rows: readonly BenchRow[], head = "measured"): string {
  const ms = (n: number) => n < 10 ? n.toFixed(2) : n.toFixed(1);
  const base = rows[0]?.median ?? 1;
  return [
    `| ${head} | how | samples | median ms | min ms | max ms | × first row |`,
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.name} | ${r.command} | ${r.samples} | ${ms(r.median)} | ${ms(r.min)} | ${
        ms(r.max)
      } | ${(r.median / base).toFixed(2)} |`
    ),
  ].join("\n");
}

/** Every table of a result, as markdown. */
export function workerReport(r: WorkerBenchResult): string {
  const ai = r.ai;
  const out = [
    `${r.tasks} tasks per batch, maxTasks ${r.maxTasks}, long polling ${LONG_POLL_MS} ms, lock ${r.lockDurationMs} ms; ` +
    `warm-up ${r.warmupTasks} tasks; load average ${r.loadBefore} before, ${r.loadAfter} after`,
    "",
    throughputTable(r),
  ];
  const self = r.throughput[0].self;
  if (self) {
    out.push(
      "",
      `Java client's own clock: JVM start → first completion ${self.startToFirstMs} ms, ` +
        `first → last ${self.firstToLastMs} ms`,
    );
  }
  out.push(
    "",
    `AI worker: ${ai.tasks} tasks, concurrency ${ai.concurrency}, the double answering \`ok\` at once: ` +
      `spawn → last completion ${f1(ai.batch.wallMs / 1000)} s, ${
        f1((ai.tasks - 1) / ai.batch.steadyMs * 1000)
      } tasks/s (first → last)`,
    "",
    shareTable(ai.rows, "per AI task"),
    "",
    `overhead per task = ${f1(ai.overheadMs)} ms (per-task wall − reported total_duration); ` +
      `${f1(ai.overheadExGenerationWallMs)} ms without the generation's wall time`,
    "",
    "each step alone, in this process, on the same services (first row: the per-task time above):",
    "",
    shareTable(ai.steps, "step"),
  );
  return out.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      tasks: { type: "string" },
      "ai-tasks": { type: "string" },
      runs: { type: "string" },
      iterations: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      `usage: deno run --allow-all bench/worker_bench.ts [options]  (see the module doc)

  --tasks N        tasks in each throughput batch (default 2000)
  --ai-tasks N     tasks the AI worker serves (default 500)
  --runs N         throughput batches of each client, interleaved (default 1)
  --iterations N   iterations of each AI step timed alone (default 200)
  --json           print the result as JSON instead of markdown tables`,
    );
    Deno.exit(0);
  }
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const r = await benchWorker({
    tasks: num(values.tasks),
    aiTasks: num(values["ai-tasks"]),
    runs: num(values.runs),
    iterations: num(values.iterations),
  });
  console.log(values.json ? JSON.stringify(r, null, 2) : workerReport(r));
}

/**
 * Fixtures of the worker tests on the real stack: a scratch PostgreSQL
 * database initialised with the compiler's `init-db.sql`, the engine jar on a
 * free port, a RabbitMQ vhost with the compiler's topology, worker manifests
 * compiled from the reference spec and pointed at all of these, and worker
 * processes. Everything made here is named uniquely and removed by its
 * `close()`/`drop()`.
 *
 * @module
 */
import { type Distribution, ENGINES } from "../../compiler/engines.ts";
import { engineJar, TEST_ENGINE } from "../helpers/engine.ts";
import { loadSpec } from "../../compiler/load_spec.ts";
import { buildModel, type StackModel } from "../../compiler/model.ts";
import { emitSql } from "../../compiler/emit/sql.ts";
import { rabbitmqDefinitions } from "../../compiler/emit/rabbitmq.ts";
import { workerManifest } from "../../compiler/emit/workers.ts";
import type { WorkerManifest } from "../../compiler/worker_manifest.ts";
import { connect, dropScratch, psql, type Scratch, scratchName } from "../helpers/pg.ts";

/** The repository root (a path). */
export const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname).replace(
  /\/$/,
  "",
);
const SPEC = `${ROOT}/procos.config.yaml`;
const DENO = Deno.execPath();

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Sleeps. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws after `timeoutMs` naming `what`. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 30_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`,
      );
    }
    await sleep(everyMs);
  }
}

/** The reference model, host addressing, pointed at a scratch database and role. */
export async function referenceModel(s: Scratch): Promise<StackModel> {
  const model = buildModel(await loadSpec(SPEC, { profile: "development", env: {} }), {
    addressing: "host",
  });
  model.postgres = { ...model.postgres, database: s.database, user: s.role };
  return model;
}

/** A scratch database with the ProcOS schema. */
export interface TestDatabase {
  /** Names. */
  scratch: Scratch;
  /** `postgres://role@127.0.0.1:5432/db`. */
  url: string;
  /** The JDBC URL. */
  jdbcUrl: string;
  /** A superuser client on it. */
  sql: ReturnType<typeof connect>;
  /** Drops everything. */
  drop(): Promise<void>;
}

/** Creates the scratch database and applies the generated init SQL. */
export async function createDatabase(model: StackModel, s: Scratch): Promise<TestDatabase> {
  const text = emitSql(model)[0].content;
  const file = await Deno.makeTempFile({ prefix: "procos-workers-init-", suffix: ".sql" });
  try {
    await Deno.writeTextFile(file, text);
    const r = await psql({ file });
    if (r.code !== 0 || /\bERROR\b/.test(r.stderr)) {
      throw new Error(`init-db.sql failed: ${r.stderr}`);
    }
  } finally {
    await Deno.remove(file);
  }
  const sql = connect(s.database);
  return {
    scratch: s,
    url: `postgres://${s.role}@127.0.0.1:5432/${s.database}`,
    jdbcUrl: `jdbc:postgresql://127.0.0.1:5432/${s.database}`,
    sql,
    async drop() {
      await sql.end({ timeout: 5 }).catch(() => {});
      await dropScratch(s);
    },
  };
}

/** Fresh scratch names. */
export function newScratch(): Scratch {
  return { database: scratchName("_w"), role: scratchName("_w") };
}

/** Collects a child's output lines. */
export interface Output {
  /** All lines so far. */
  lines: string[];
  /** The JSON lines parsed (others skipped). */
  json(): Record<string, unknown>[];
  /** Resolves when the streams end. */
  done: Promise<void>;
}

function collect(streams: ReadableStream<Uint8Array>[], echo?: string): Output {
  const lines: string[] = [];
  const pump = async (s: ReadableStream<Uint8Array>) => {
    let buf = "";
    const dec = new TextDecoder();
    for await (const chunk of s) {
      buf += dec.decode(chunk, { stream: true });
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        if (echo) console.error(`[${echo}] ${line.slice(0, 400)}`);
      }
    }
    if (buf) lines.push(buf);
  };
  const done = Promise.all(streams.map(pump)).then(() => {});
  return {
    lines,
    json: () =>
      lines.flatMap((l) => {
        try {
          const v = JSON.parse(l);
          return typeof v === "object" && v ? [v] : [];
        } catch {
          return [];
        }
      }),
    done,
  };
}

/** A child process with collected output. */
export interface Child {
  /** The process. */
  proc: Deno.ChildProcess;
  /** Its output (stdout and stderr). */
  out: Output;
  /** Resolves with the exit status. */
  status: Promise<Deno.CommandStatus>;
  /** Sends a signal (ignores an exited process). */
  kill(sig?: Deno.Signal): void;
  /** Stops it (SIGTERM, then SIGKILL after `ms`) and waits. */
  stop(ms?: number): Promise<Deno.CommandStatus>;
}

/** Spawns a process collecting its output. `PROCOS_TEST_ECHO=1` echoes it to stderr. */
export function spawn(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  name: string,
): Child {
  const proc = new Deno.Command(cmd, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = collect(
    [proc.stdout, proc.stderr],
    Deno.env.get("PROCOS_TEST_ECHO") ? name : undefined,
  );
  const status = proc.status;
  let exited = false;
  status.then(() => (exited = true));
  const kill = (sig: Deno.Signal = "SIGTERM") => {
    if (exited) return;
    try {
      proc.kill(sig);
    } catch {
      // gone
    }
  };
  return {
    proc,
    out,
    status,
    kill,
    async stop(ms = 20_000) {
      kill("SIGTERM");
      const t = setTimeout(() => kill("SIGKILL"), ms);
      try {
        const s = await status;
        await out.done;
        return s;
      } finally {
        clearTimeout(t);
      }
    },
  };
}

/** The engine jar running on a port. */
export interface Engine {
  /** `http://127.0.0.1:<port>/engine-rest`. */
  url: string;
  /** The port. */
  port: number;
  /** The current process. */
  child(): Child;
  /** Stops it (SIGTERM by default; SIGKILL to crash it). */
  stop(sig?: Deno.Signal): Promise<void>;
  /**
   * Starts it again on the same port and database, waits until it answers.
   * `env`, when given, replaces the extra environment for this and later starts.
   */
  start(env?: Record<string, string>): Promise<void>;
}

/**
 * Starts the engine jar against a database and waits for its REST API
 * (`GET /engine`, open even with REST auth on). `env` adds to or overrides
 * the environment the jar gets (e.g. `SPRING_PROFILES_ACTIVE`,
 * `CAMUNDA_BPM_ADMINUSER_PASSWORD`). `distribution` picks the jar (default:
 * `PROCOS_TEST_ENGINE`, else Camunda's; `tests/helpers/engine.ts`).
 */
export async function startEngine(
  db: TestDatabase,
  port = freePort(),
  env: Record<string, string> = {},
  distribution: Distribution = TEST_ENGINE,
): Promise<Engine> {
  const jar = engineJar(distribution);
  try {
    await Deno.stat(jar);
  } catch {
    const profile = ENGINES[distribution].mavenProfile;
    throw new Error(
      `${jar} is missing: build it (cd engine && mvn -q -B -P${profile} package -DskipTests)`,
    );
  }
  const url = `http://127.0.0.1:${port}/engine-rest`;
  let current: Child | undefined;
  let extra = env;
  const start = async (next?: Record<string, string>) => {
    if (next) extra = next;
    current = spawn("java", [
      "-Xmx768m",
      "-XX:TieredStopAtLevel=1",
      "-XX:+UseSerialGC",
      "-jar",
      jar,
    ], {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      DB_URL: db.jdbcUrl,
      DB_USERNAME: db.scratch.role,
      DB_PASSWORD: "unused",
      DB_DRIVER: "org.postgresql.Driver",
      SERVER_PORT: String(port),
      CAMUNDA_BPM_HISTORYLEVEL: "full",
      ...(Deno.env.get("JAVA_HOME") ? { JAVA_HOME: Deno.env.get("JAVA_HOME")! } : {}),
      ...extra,
    }, "engine");
    const c = current;
    const up = await until(
      "the engine's REST API",
      async () => {
        const code = await Promise.race([
          c.status.then((s) => s.code),
          sleep(10).then(() => undefined),
        ]);
        // (an exit ends the wait at once: `until` would retry a throw until its timeout)
        if (code !== undefined) return { exited: code };
        const r = await fetch(`${url}/engine`).catch(() => undefined);
        const ok = r?.ok ?? false;
        await r?.body?.cancel();
        return ok ? { exited: undefined } : false;
      },
      120_000,
      250,
    );
    if (up.exited !== undefined) {
      await c.out.done;
      throw new Error(`the engine exited (${up.exited}):\n${c.out.lines.slice(-30).join("\n")}`);
    }
  };
  await start();
  return {
    url,
    port,
    child: () => current!,
    async stop(sig: Deno.Signal = "SIGTERM") {
      if (!current) return;
      current.kill(sig);
      const t = setTimeout(() => current?.kill("SIGKILL"), 20_000);
      await current.status;
      clearTimeout(t);
      await current.out.done;
    },
    start,
  };
}

/** JSON REST call against the engine. */
export async function rest<T = unknown>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status}: ${text.slice(0, 1000)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A BPMN process: start → one external task per topic, in order → end. */
export function bpmn(processId: string, topics: string[]): string {
  const tasks = topics.map((t, i) => ({ id: `task_${i}`, topic: t }));
  const ids = ["start", ...tasks.map((t) => t.id), "end"];
  const flows = ids.slice(1).map((to, i) => ({ id: `flow_${i}`, from: ids[i], to }));
  const incoming = (id: string) =>
    flows.filter((f) => f.to === id).map((f) => `<bpmn:incoming>${f.id}</bpmn:incoming>`).join("");
  const outgoing = (id: string) =>
    flows.filter((f) => f.from === id).map((f) => `<bpmn:outgoing>${f.id}</bpmn:outgoing>`).join(
      "",
    );
  return `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_${processId}"
  targetNamespace="http://procos.dev/tests">
  <bpmn:process id="${processId}" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start">${outgoing("start")}</bpmn:startEvent>
${
    tasks.map((t) =>
      `    <bpmn:serviceTask id="${t.id}" camunda:type="external" camunda:topic="${t.topic}">${
        incoming(t.id)
      }${outgoing(t.id)}</bpmn:serviceTask>`
    ).join("\n")
  }
    <bpmn:endEvent id="end">${incoming("end")}</bpmn:endEvent>
${
    flows.map((f) =>
      `    <bpmn:sequenceFlow id="${f.id}" sourceRef="${f.from}" targetRef="${f.to}" />`
    ).join("\n")
  }
  </bpmn:process>
</bpmn:definitions>
`;
}

/** RabbitMQ management API (guest/guest on 15672). */
export const RABBIT = {
  api: Deno.env.get("PROCOS_TEST_RABBITMQ_API") ?? "http://127.0.0.1:15672/api",
  amqp: (vhost: string) => `amqp://guest:guest@127.0.0.1:5672/${encodeURIComponent(vhost)}`,
  auth: `Basic ${btoa("guest:guest")}`,
};

/** Calls the RabbitMQ management API. */
export async function rabbitApi<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const r = await fetch(`${RABBIT.api}${path}`, {
    method,
    headers: { authorization: RABBIT.auth, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`RabbitMQ API ${method} ${path}: HTTP ${r.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A vhost with the compiler's topology (exchanges, queues, bindings) of `model`. */
export async function createVhost(
  model: StackModel,
): Promise<{ vhost: string; url: string; drop(): Promise<void> }> {
  const vhost = `procos_t_${crypto.randomUUID().slice(0, 8)}`;
  const v = encodeURIComponent(vhost);
  await rabbitApi("PUT", `/vhosts/${v}`, {});
  const drop = () => rabbitApi("DELETE", `/vhosts/${v}`).then(() => {});
  try {
    await rabbitApi("PUT", `/permissions/${v}/guest`, { configure: ".*", write: ".*", read: ".*" });
    const defs = rabbitmqDefinitions(model);
    const at = <T extends { vhost: string }>(xs: T[]) => xs.map((x) => ({ ...x, vhost }));
    await rabbitApi("POST", `/definitions/${v}`, {
      exchanges: at(defs.exchanges),
      queues: at(defs.queues),
      bindings: at(defs.bindings),
    });
  } catch (e) {
    await drop().catch(() => {});
    throw e;
  }
  return { vhost, url: RABBIT.amqp(vhost), drop };
}

/** Messages in a queue (taken off it: `ack_requeue_false`). */
export async function takeMessages(
  vhost: string,
  queue: string,
  count = 1000,
): Promise<{ payload: string; routing_key: string; properties: Record<string, unknown> }[]> {
  return await rabbitApi(
    "POST",
    `/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}/get`,
    {
      count,
      ackmode: "ack_requeue_false",
      encoding: "auto",
      truncate: 50_000,
    },
  );
}

/** The reference manifest of a worker, edited by `edit`. */
export function manifestOf<K extends WorkerManifest["kind"]>(
  model: StackModel,
  kind: K,
  edit: (m: Extract<WorkerManifest, { kind: K }>) => void,
): Extract<WorkerManifest, { kind: K }> {
  const w = model.workers.find((x) => x.kind === kind)!;
  const m = structuredClone(workerManifest(model, w)) as Extract<WorkerManifest, { kind: K }>;
  edit(m);
  return m;
}

/** Starts a worker process (`workers/<kind>/main.ts`) with a manifest file and env. */
export async function startWorker(
  kind: "ai" | "generic" | "kernel",
  manifest: WorkerManifest,
  env: Record<string, string>,
  name = kind,
): Promise<Child & { manifestFile: string; healthPort: number }> {
  const manifestFile = await Deno.makeTempFile({ prefix: `procos-${kind}-`, suffix: ".json" });
  await Deno.writeTextFile(manifestFile, JSON.stringify(manifest, null, 2));
  const healthPort = env.PROCOS_HEALTH_PORT ? Number(env.PROCOS_HEALTH_PORT) : freePort();
  const child = spawn(DENO, [
    "run",
    "-A",
    "--config",
    `${ROOT}/deno.json`,
    `${ROOT}/workers/${kind}/main.ts`,
  ], {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
    ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
    PROCOS_MANIFEST: manifestFile,
    PROCOS_HEALTH_PORT: String(healthPort),
    PROCOS_LOG_LEVEL: "debug",
    ...env,
  }, name);
  child.status.finally(() => Deno.remove(manifestFile).catch(() => {}));
  return { ...child, manifestFile, healthPort };
}

/**
 * The real consumers of the acceptance property test, run on a sample of
 * the cases: RabbitMQ imports the definitions into a scratch vhost through
 * its management API, PostgreSQL runs the init SQL (`psql -v
 * ON_ERROR_STOP=1`) into a scratch database and role, and a scratch
 * `redis-server` loads the Redis configuration, and `sh -n` reads the shell
 * scripts. Each returns what its
 * consumer refused (an empty list when it took everything) and removes
 * whatever it made, in `finally`, under names unique to the run.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import amqp from "amqplib";
import type { Channel } from "amqplib";
import type { CompileResult } from "../../compiler/compile.ts";
import type { RabbitDefinitions } from "../../compiler/emit/rabbitmq.ts";
import { emitSql, INIT_DB_PATH } from "../../compiler/emit/sql.ts";
import { parseDuration } from "../../compiler/duration.ts";
import { NEVER_MS } from "../../compiler/emit/retention.ts";
import { connectRedis, RedisError } from "../../verify/clients/redis.ts";
import type { RedisConnection } from "../../verify/clients/redis.ts";
import { connect, psql, scratchName, withScratch } from "../helpers/pg.ts";

const API = "http://127.0.0.1:15672/api";
const AUTH = `Basic ${btoa("guest:guest")}`;
const enc = encodeURIComponent;

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: {
      authorization: AUTH,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text };
}

/** Makes sure RabbitMQ's management API answers, enabling its plugin if needed (idempotent). */
export async function ensureManagement(): Promise<void> {
  const answers = () => api("GET", "/overview").then((r) => r.status === 200, () => false);
  if (await answers()) return;
  const out = await new Deno.Command("rabbitmq-plugins", {
    args: ["enable", "rabbitmq_management"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `rabbitmq-plugins enable rabbitmq_management: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  for (let i = 0; i < 120; i++) {
    if (await answers()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the management plugin is enabled but ${API} does not answer`);
}

function artifact(r: CompileResult, path: string): string {
  const a = r.artifacts.find((x) => x.path === path);
  if (!a) throw new Error(`the build wrote no ${path}`);
  return a.content;
}

const json = (v: unknown) => JSON.stringify(v, Object.keys(v as object).sort());

/**
 * Imports the vhost's part of `rabbitmq/definitions.json` (queues,
 * exchanges, bindings, the vhost rewritten to a scratch one) with `POST
 * /api/definitions/<vhost>`, then compares what RabbitMQ lists with the
 * file: RabbitMQ answers 2xx even when it skips an item.
 */
export async function rabbitmqProblems(r: CompileResult): Promise<string[]> {
  const defs = JSON.parse(artifact(r, "rabbitmq/definitions.json")) as RabbitDefinitions;
  const vhost = `procos_fz_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const v = enc(vhost);
  const part = {
    rabbit_version: defs.rabbit_version,
    queues: defs.queues.map((q) => ({ ...q, vhost })),
    exchanges: defs.exchanges.map((e) => ({ ...e, vhost })),
    bindings: defs.bindings.map((b) => ({ ...b, vhost })),
  };
  const out: string[] = [];
  try {
    const made = await api("PUT", `/vhosts/${v}`);
    if (made.status >= 300) throw new Error(`PUT /vhosts/${vhost}: ${made.status} ${made.text}`);
    const imported = await api("POST", `/definitions/${v}`, part);
    if (imported.status >= 300) {
      return [
        `POST /api/definitions/<vhost> answered ${imported.status}: ${imported.text.slice(0, 400)}`,
      ];
    }
    const list = async (what: string) => {
      const res = await api("GET", `/${what}/${v}`);
      if (res.status !== 200) throw new Error(`GET /${what}/${vhost}: ${res.status} ${res.text}`);
      return JSON.parse(res.text) as Record<string, unknown>[];
    };
    const exchanges = new Map((await list("exchanges")).map((e) => [e.name, e]));
    for (const e of part.exchanges) {
      const got = exchanges.get(e.name);
      if (!got) out.push(`exchange ${JSON.stringify(e.name)} was skipped`);
      else if (
        got.type !== e.type || got.durable !== true || json(got.arguments) !== json(e.arguments)
      ) {
        out.push(`exchange ${JSON.stringify(e.name)} differs: ${JSON.stringify(got)}`);
      }
    }
    const queues = new Map((await list("queues")).map((q) => [q.name, q]));
    for (const q of part.queues) {
      const got = queues.get(q.name);
      if (!got) out.push(`queue ${JSON.stringify(q.name)} was skipped`);
      else if (got.durable !== true || json(got.arguments) !== json(q.arguments)) {
        out.push(`queue ${JSON.stringify(q.name)} differs: ${JSON.stringify(got)}`);
      }
    }
    const key = (b: Record<string, unknown>) =>
      JSON.stringify([b.source, b.destination, b.destination_type, b.routing_key]);
    const bindings = new Set((await list("bindings")).filter((b) => b.source !== "").map(key));
    for (const b of part.bindings) {
      if (!bindings.has(key(b))) out.push(`binding ${key(b)} was skipped`);
    }
    if (out.length === 0) out.push(...await amqpProblems(vhost, part));
    return out;
  } finally {
    const gone = await api("DELETE", `/vhosts/${v}`);
    if (gone.status !== 204 && gone.status !== 404) {
      console.error(`could not delete the scratch vhost ${vhost}: ${gone.status} ${gone.text}`);
    }
  }
}

/**
 * What the workers' AMQP client (amqplib) says of the imported topology:
 * every exchange and queue can be named on the wire (passive declares), and
 * a message published to each direct or topic binding's source with the
 * binding's own key reaches its queue.
 */
async function amqpProblems(
  vhost: string,
  defs: Pick<RabbitDefinitions, "exchanges" | "queues" | "bindings">,
): Promise<string[]> {
  const granted = await api("PUT", `/permissions/${enc(vhost)}/guest`, {
    configure: ".*",
    write: ".*",
    read: ".*",
  });
  if (granted.status >= 300) throw new Error(`PUT /permissions: ${granted.status} ${granted.text}`);
  const out: string[] = [];
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:5672/${enc(vhost)}`, {
    timeout: 10_000,
  });
  conn.on("error", () => {});
  try {
    const failed = new Set<string>();
    const check = async (what: string, name: string, f: (ch: Channel) => Promise<unknown>) => {
      const ch = await conn.createChannel();
      ch.on("error", () => {});
      try {
        await f(ch);
        await ch.close();
      } catch (e) {
        failed.add(name);
        out.push(
          `amqplib: ${what} ${JSON.stringify(name.slice(0, 80))}${name.length > 80 ? "…" : ""} (${
            new TextEncoder().encode(name).length
          } bytes): ${e instanceof Error ? e.message : e}`,
        );
      }
    };
    for (const e of defs.exchanges) {
      await check("exchange", e.name, (ch) => ch.checkExchange(e.name));
    }
    for (const q of defs.queues) await check("queue", q.name, (ch) => ch.checkQueue(q.name));
    const types = new Map(defs.exchanges.map((e) => [e.name, e.type]));
    const routed = defs.bindings.filter((b) =>
      ["direct", "topic"].includes(types.get(b.source) ?? "") && !failed.has(b.source) &&
      !failed.has(b.destination)
    );
    for (const b of routed) {
      await check(`publish to ${b.source} with the binding key`, b.routing_key, async (ch) => {
        const confirm = await conn.createConfirmChannel();
        try {
          confirm.publish(b.source, b.routing_key, Buffer.from("procos-fuzz"));
          await confirm.waitForConfirms();
        } finally {
          await confirm.close();
        }
        const { messageCount } = await ch.checkQueue(b.destination);
        if (messageCount < 1) throw new Error(`no message reached ${b.destination}`);
      });
    }
  } finally {
    await conn.close().catch(() => {});
  }
  return out;
}

/**
 * Runs the init SQL on the real PostgreSQL, twice (it must be idempotent),
 * with `psql -v ON_ERROR_STOP=1` as a superuser, for a scratch database and
 * role that keep the spec's names as a suffix (the script re-emitted for
 * them from the same model; the artifact itself is checked to be that
 * emitter's output); then reads the retention policy back.
 */
export async function sqlProblems(r: CompileResult): Promise<string[]> {
  const m = r.model;
  if (emitSql(m)[0].content !== artifact(r, INIT_DB_PATH)) return ["emitSql is not deterministic"];
  const keep = (n: string) => `_${n}`.slice(0, 63 - scratchName().length);
  return await withScratch(async (s) => {
    const model = { ...m, postgres: { ...m.postgres, database: s.database, user: s.role } };
    const file = await Deno.makeTempFile({ prefix: "procos-fz-init-", suffix: ".sql" });
    try {
      await Deno.writeTextFile(file, emitSql(model)[0].content);
      for (const run of ["first", "second"]) {
        const res = await psql({ file });
        if (res.code !== 0 || /\bERROR\b/.test(res.stderr)) {
          return [
            `psql -v ON_ERROR_STOP=1 -f init-db.sql (${run} run) exit ${res.code}: ${
              res.stderr.slice(0, 600)
            }`,
          ];
        }
      }
    } finally {
      await Deno.remove(file);
    }
    const sql = connect(s.database);
    try {
      const out: string[] = [];
      const rows = await sql`SELECT context_type, extract(epoch FROM realtime) AS realtime,
        extract(epoch FROM historical) AS historical, extract(epoch FROM archived) AS archived
        FROM procos_retention_policy()`;
      await sql`SELECT procos_retention_plan(now())`;
      const ret = m.ai.retention as unknown as Record<string, string> & {
        overrides: Record<string, Record<string, string>>;
      };
      for (const row of rows) {
        const phases = ret.overrides[row.context_type] ?? ret;
        for (const phase of ["realtime", "historical", "archived"]) {
          const ms = parseDuration(phases[phase]);
          const want = ms > NEVER_MS ? null : ms / 1000;
          const got = row[phase] === null ? null : Number(row[phase]);
          if (got !== want) {
            out.push(`${row.context_type}.${phase}: interval ${got} s, spec ${phases[phase]}`);
          }
        }
      }
      return out;
    } finally {
      await sql.end();
    }
  }, { suffix: keep(m.postgres.database) });
}

/** `sh -n` (a POSIX shell's own syntax check) over every shell script the build wrote. */
export async function shellProblems(r: CompileResult): Promise<string[]> {
  const out: string[] = [];
  for (const a of r.artifacts.filter((x) => x.path.endsWith(".sh"))) {
    const file = await Deno.makeTempFile({ prefix: "procos-fz-", suffix: ".sh" });
    try {
      await Deno.writeTextFile(file, a.content);
      const res = await new Deno.Command("sh", {
        args: ["-n", file],
        stdout: "null",
        stderr: "piped",
      })
        .output();
      if (!res.success) {
        out.push(`${a.path}: sh -n: ${new TextDecoder().decode(res.stderr).trim()}`);
      }
    } finally {
      await Deno.remove(file);
    }
  }
  return out;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function configGet(c: RedisConnection, key: string): Promise<string> {
  const v = await c.command("CONFIG", "GET", key);
  return Array.isArray(v) && v.length === 2 ? String(v[1]) : `?${JSON.stringify(v)}`;
}

/**
 * Starts `redis-server <conf> --port <free port> --daemonize no` on
 * `redis/redis.conf` with only `dir` (the spec's data path, under a temp dir)
 * and `bind` (loopback) rewritten, and `--requirepass` when the spec turns
 * auth on (as the container does); compares `CONFIG GET` with the spec.
 */
export async function redisProblems(r: CompileResult): Promise<string[]> {
  const m = r.model;
  const conf = artifact(r, "redis/redis.conf");
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "procos_fz_redis_" }));
  const port = freePort();
  const password = "fz-redis-pw";
  let child: Deno.ChildProcess | undefined;
  let drained: Promise<unknown> = Promise.resolve();
  let log = "";
  let exited = false;
  try {
    // The data folder keeps the spec's path (and its characters), under the temp dir.
    const data = `${dir}${/^dir (.*)$/m.exec(conf)?.[1] ?? "/data"}`;
    await Deno.mkdir(data, { recursive: true });
    const rewritten = conf.replace(/^dir .*$/m, () => `dir ${data}`)
      .replace(/^bind .*$/m, "bind 127.0.0.1");
    await Deno.writeTextFile(`${dir}/redis.conf`, rewritten);
    child = new Deno.Command("redis-server", {
      args: [
        `${dir}/redis.conf`,
        ...["--port", String(port), "--daemonize", "no"],
        ...(m.redis.auth ? ["--requirepass", password] : []),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const drain = async (s: ReadableStream<Uint8Array>) => {
      for await (const chunk of s.pipeThrough(new TextDecoderStream())) log += chunk;
    };
    drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
    child.status.then(() => exited = true);
    let c: RedisConnection | undefined;
    for (const deadline = Date.now() + 15_000; !c;) {
      if (exited) {
        await drained;
        return [`redis-server exited at start: ${log.trim().split("\n").slice(-6).join(" | ")}`];
      }
      try {
        c = await connectRedis({
          host: "127.0.0.1",
          port,
          password: m.redis.auth ? password : undefined,
        });
      } catch (e) {
        if (e instanceof RedisError) return [`AUTH refused: ${e.message}`];
        if (Date.now() > deadline) return [`redis-server did not answer: ${log}`];
        await new Promise((res) => setTimeout(res, 30));
      }
    }
    try {
      const out: string[] = [];
      const want: Record<string, string> = {
        "maxmemory-policy": m.redis.maxmemoryPolicy,
        appendonly: m.redis.persistence === "aof" ? "yes" : "no",
        save: m.redis.persistence === "rdb" ? "3600 1 300 100 60 10000" : "",
        maxmemory: /^maxmemory (\d+)$/m.exec(conf)?.[1] ?? "(none in the file)",
        dir: data,
        port: String(port),
      };
      for (const [k, v] of Object.entries(want)) {
        const got = await configGet(c, k);
        if (got !== v) out.push(`CONFIG GET ${k}: ${got}, expected ${v}`);
      }
      const set = await c.command("SET", "procos:fz", "1");
      if (set !== "OK") {
        out.push(`SET procos:fz 1 refused: ${set instanceof Error ? set.message : set}`);
      }
      return out;
    } finally {
      c.close();
    }
  } finally {
    if (child && !exited) child.kill("SIGTERM");
    await child?.status;
    await drained;
    await Deno.remove(dir, { recursive: true });
  }
}

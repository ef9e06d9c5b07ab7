/**
 * The generated RabbitMQ definitions, imported into the real broker at
 * 127.0.0.1 through its management API under a unique vhost and user (never
 * the spec's own names, so real state is untouched), then checked: the user
 * authenticates with the spec's password (the hash is right), the topology
 * exists, an unroutable message lands in the unroutable queue and a rejected
 * message in its queue's DLQ. The test vhost and user are deleted afterwards.
 *
 * @module
 */
import { expect } from "expect";
import { loadSpec } from "../../compiler/load_spec.ts";
import { buildModel } from "../../compiler/model.ts";
import type { StackModel } from "../../compiler/model.ts";
import type { ProfileName } from "../../compiler/schema.ts";
import {
  emitRabbitmq,
  type RabbitDefinitions,
  rabbitmqUserTags,
  rabbitPasswordHash,
  unroutableName,
} from "../../compiler/emit/rabbitmq.ts";

const SPEC = new URL("../../procos.config.yaml", import.meta.url).pathname;
const API = "http://127.0.0.1:15672/api";
const GUEST = { user: "guest", password: "guest" };

/** Production secrets, all different from the spec's development defaults. */
const PRODUCTION_ENV = {
  PROCOS_POSTGRES_PASSWORD: "pg-Secret-7f3a91",
  PROCOS_POSTGRES_SUPERUSER_PASSWORD: "su-Secret-3d4e5f",
  PROCOS_RABBITMQ_PASSWORD: "mq-Secret-2c8e44",
  PROCOS_REDIS_PASSWORD: "rd-Secret-9b1d07",
  PROCOS_CAMUNDA_ADMIN_PASSWORD: "ca-Secret-5e6f12",
};

async function model(profile: ProfileName): Promise<StackModel> {
  return buildModel(
    await loadSpec(SPEC, { profile, env: profile === "production" ? PRODUCTION_ENV : {} }),
  );
}

function artifact(m: StackModel, path: string) {
  const a = emitRabbitmq(m).find((x) => x.path === path);
  if (!a) throw new Error(`no ${path}`);
  return a;
}

function definitions(m: StackModel): RabbitDefinitions {
  return JSON.parse(artifact(m, "rabbitmq/definitions.json").content);
}

interface Creds {
  user: string;
  password: string;
}

interface Reply {
  status: number;
  body: unknown;
}

async function api(method: string, path: string, creds: Creds, body?: unknown): Promise<Reply> {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: {
      authorization: `Basic ${btoa(`${creds.user}:${creds.password}`)}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed };
}

/** GET that must answer 200; returns the JSON body. */
// deno-lint-ignore no-explicit-any
async function get(path: string, creds: Creds = GUEST): Promise<any> {
  const r = await api("GET", path, creds);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const enc = encodeURIComponent;

async function managementAnswers(): Promise<string | null> {
  try {
    const r = await api("GET", "/overview", GUEST);
    return r.status === 200 ? null : `GET /api/overview answered ${r.status}`;
  } catch (e) {
    return String(e);
  }
}

/** Makes sure the management API answers, enabling the plugin if needed. */
async function ensureManagement(): Promise<void> {
  if (await managementAnswers() === null) return;
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("rabbitmq-plugins", {
      args: ["enable", "rabbitmq_management"],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    throw new Error(`could not run rabbitmq-plugins enable rabbitmq_management: ${e}`);
  }
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `rabbitmq-plugins enable rabbitmq_management failed (exit ${out.code}):\n` +
        dec.decode(out.stderr) + dec.decode(out.stdout),
    );
  }
  let last: string | null = "";
  for (let i = 0; i < 120; i++) {
    last = await managementAnswers();
    if (last === null) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`management plugin enabled, but the API at ${API} did not answer: ${last}`);
}

/** The definitions with the vhost and the user renamed, for the test. */
function renamed(d: RabbitDefinitions, vhost: string, user: string): RabbitDefinitions {
  return {
    ...d,
    users: d.users.map((u) => ({ ...u, name: user })),
    vhosts: d.vhosts.map(() => ({ name: vhost })),
    permissions: d.permissions.map((p) => ({ ...p, user, vhost })),
    queues: d.queues.map((q) => ({ ...q, vhost })),
    exchanges: d.exchanges.map((e) => ({ ...e, vhost })),
    bindings: d.bindings.map((b) => ({ ...b, vhost })),
  };
}

async function publish(
  creds: Creds,
  vhost: string,
  exchange: string,
  routingKey: string,
  payload: string,
): Promise<void> {
  const r = await api(
    "POST",
    `/exchanges/${enc(vhost)}/${enc(exchange)}/publish`,
    creds,
    { properties: {}, routing_key: routingKey, payload, payload_encoding: "string" },
  );
  expect(r.status).toBe(200);
  expect(r.body).toEqual({ routed: true });
}

/**
 * Gets messages from a queue; with `wait`, retries for up to 5 s while it is
 * empty (a dead-lettered message arrives asynchronously).
 */
async function take(
  creds: Creds,
  vhost: string,
  queue: string,
  ackmode: "ack_requeue_false" | "reject_requeue_false",
  wait = true,
  // deno-lint-ignore no-explicit-any
): Promise<any[]> {
  for (let i = 0; i < (wait ? 50 : 1); i++) {
    const r = await api("POST", `/queues/${enc(vhost)}/${enc(queue)}/get`, creds, {
      count: 10,
      ackmode,
      encoding: "auto",
    });
    if (r.status !== 200) throw new Error(`get ${queue}: ${r.status} ${JSON.stringify(r.body)}`);
    // deno-lint-ignore no-explicit-any
    const msgs = r.body as any[];
    if (msgs.length > 0) return msgs;
    await new Promise((res) => setTimeout(res, 100));
  }
  return [];
}

for (const profile of ["development", "production"] as const) {
  Deno.test(`${profile}: definitions import into RabbitMQ and work`, async () => {
    await ensureManagement();
    const m = await model(profile);
    const defs = definitions(m);
    // Nothing in the file may reach beyond its vhost and user.
    expect(defs.global_parameters).toEqual([]);
    expect(defs.parameters).toEqual([]);
    expect(defs.policies).toEqual([]);
    expect(defs.topic_permissions).toEqual([]);
    expect(defs.users.length).toBe(1);
    expect(defs.vhosts).toEqual([{ name: m.rabbitmq.vhost }]);

    const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
    const vhost = `procos_test_${suffix}`;
    const user = `procos_test_${suffix}`;
    const test = renamed(defs, vhost, user);
    for (const list of [test.queues, test.exchanges, test.bindings, test.permissions]) {
      for (const x of list) expect(x.vhost).toBe(vhost);
    }
    const creds = { user, password: m.rabbitmq.password };
    const unroutable = unroutableName(m);
    const dlx = m.messaging.dead_letter_exchange;
    const events = m.messaging.events.exchange;
    const v = enc(vhost);

    try {
      const imported = await api("POST", "/definitions", GUEST, test);
      if (imported.status >= 300) {
        throw new Error(`import: ${imported.status} ${JSON.stringify(imported.body)}`);
      }

      // vhost, user (authenticates with the spec's password), permissions
      expect((await get(`/vhosts/${v}`)).name).toBe(vhost);
      const u = await get(`/users/${enc(user)}`);
      expect(u.hashing_algorithm).toBe("rabbit_password_hashing_sha256");
      expect(u.password_hash).toBe(defs.users[0].password_hash);
      expect([...u.tags].sort()).toEqual(rabbitmqUserTags(m).sort());
      expect(await get("/whoami", creds)).toEqual({ name: user, tags: rabbitmqUserTags(m) });
      const wrong = await api("GET", "/whoami", { user, password: `${m.rabbitmq.password}x` });
      expect(wrong.status).toBe(401);
      const perm = await get(`/permissions/${v}/${enc(user)}`);
      expect([perm.configure, perm.write, perm.read]).toEqual([".*", ".*", ".*"]);

      // exchanges: the spec's (with the alternate exchange), the DLX, the unroutable one
      const exchanges = (await get(`/exchanges/${v}`)) as {
        name: string;
        type: string;
        durable: boolean;
        arguments: Record<string, string>;
      }[];
      const byName = new Map(exchanges.map((e) => [e.name, e]));
      for (const e of m.messaging.exchanges) {
        expect(byName.get(e.name)?.type).toBe(e.type);
        expect(byName.get(e.name)?.durable).toBe(true);
        expect(byName.get(e.name)?.arguments).toEqual({ "alternate-exchange": unroutable });
      }
      expect(byName.get(dlx)?.type).toBe("direct");
      expect(byName.get(dlx)?.durable).toBe(true);
      expect(byName.get(unroutable)?.type).toBe("fanout");
      expect(byName.get(events)?.arguments["alternate-exchange"]).toBe(unroutable);

      // queues: x-dead-letter-exchange, and a DLQ bound to the DLX for each
      for (const q of m.messaging.queues) {
        const got = await get(`/queues/${v}/${enc(q.name)}`);
        expect(got.durable).toBe(true);
        const b = await get(`/bindings/${v}/e/${enc(q.exchange)}/q/${enc(q.name)}`);
        expect(b.map((x: { routing_key: string }) => x.routing_key)).toEqual([q.routing_key]);
        if (!q.dead_letter) continue;
        expect(got.arguments["x-dead-letter-exchange"]).toBe(dlx);
        expect(got.arguments["x-dead-letter-routing-key"]).toBe(q.name);
        const dlq = await get(`/queues/${v}/${enc(`${q.name}.dlq`)}`);
        expect(dlq.durable).toBe(true);
        expect(dlq.arguments).toEqual({});
        const dlqBinding = await get(`/bindings/${v}/e/${enc(dlx)}/q/${enc(`${q.name}.dlq`)}`);
        expect(dlqBinding.map((x: { routing_key: string }) => x.routing_key)).toEqual([q.name]);
      }
      expect((await get(`/queues/${v}/${enc(unroutable)}`)).durable).toBe(true);
      const ae = await get(`/bindings/${v}/e/${enc(unroutable)}/q/${enc(unroutable)}`);
      expect(ae.length).toBe(1);

      // an event no queue binds lands in the unroutable queue
      await publish(creds, vhost, events, "nobody.listens.here", "lost-event");
      const lost = await take(creds, vhost, unroutable, "ack_requeue_false");
      expect(lost.map((x) => [x.payload, x.routing_key, x.exchange])).toEqual([
        ["lost-event", "nobody.listens.here", events],
      ]);

      // a task event reaches its queue; rejected, it lands in that queue's DLQ
      const completed = m.messaging.events.task_completed;
      await publish(creds, vhost, events, completed, "done-1");
      const taskQueue = m.messaging.queues.find((q) =>
        q.exchange === events && q.routing_key === "task.#"
      )!;
      const first = await take(creds, vhost, taskQueue.name, "reject_requeue_false");
      expect(first.map((x) => x.payload)).toEqual(["done-1"]);
      const dead = await take(creds, vhost, `${taskQueue.name}.dlq`, "ack_requeue_false");
      expect(dead.map((x) => x.payload)).toEqual(["done-1"]);
      expect(dead[0].properties.headers["x-death"][0].queue).toBe(taskQueue.name);
      // nothing else was dead-lettered or lost
      expect(await take(creds, vhost, unroutable, "ack_requeue_false", false)).toEqual([]);
      for (const q of m.messaging.queues.filter((x) => x.dead_letter)) {
        expect(await take(creds, vhost, `${q.name}.dlq`, "ack_requeue_false", false)).toEqual([]);
      }
    } finally {
      const dv = await api("DELETE", `/vhosts/${v}`, GUEST);
      const du = await api("DELETE", `/users/${enc(user)}`, GUEST);
      expect([204, 404]).toContain(dv.status);
      expect([204, 404]).toContain(du.status);
    }
    expect((await api("GET", `/vhosts/${v}`, GUEST)).status).toBe(404);
    expect((await api("GET", `/users/${enc(user)}`, GUEST)).status).toBe(404);
  });
}

Deno.test("password hash: RabbitMQ's documented example, and the spec's password", async () => {
  // rabbitmq.com "Credentials and Passwords": test12 with salt 908D C60A.
  expect(rabbitPasswordHash("test12", new Uint8Array([0x90, 0x8d, 0xc6, 0x0a])))
    .toBe("kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR");
  const m = await model("production");
  const defs = definitions(m);
  const raw = Uint8Array.from(atob(defs.users[0].password_hash), (c) => c.charCodeAt(0));
  expect(raw.length).toBe(36);
  expect(defs.users[0].password_hash).toBe(
    rabbitPasswordHash(PRODUCTION_ENV.PROCOS_RABBITMQ_PASSWORD, raw.subarray(0, 4)),
  );
});

Deno.test("definitions.json: mode 0600, no password in clear, byte-stable", async () => {
  for (const profile of ["development", "production"] as const) {
    const a = artifact(await model(profile), "rabbitmq/definitions.json");
    const b = artifact(await model(profile), "rabbitmq/definitions.json");
    expect(a.mode).toBe(0o600);
    expect(a.content).toBe(b.content);
    const password = profile === "production"
      ? PRODUCTION_ENV.PROCOS_RABBITMQ_PASSWORD
      : "procos123";
    expect(a.content).not.toContain(password);
    for (const v of Object.values(PRODUCTION_ENV)) expect(a.content).not.toContain(v);
  }
  // A different password gives a different hash (same salt).
  const m = await model("development");
  const other = definitions({ ...m, rabbitmq: { ...m.rabbitmq, password: "another" } });
  expect(other.users[0].password_hash).not.toBe(definitions(m).users[0].password_hash);
});

Deno.test("rabbitmq.conf and enabled_plugins per profile", async () => {
  const dev = await model("development");
  const prod = await model("production");
  const devConf = artifact(dev, "rabbitmq/rabbitmq.conf").content;
  const prodConf = artifact(prod, "rabbitmq/rabbitmq.conf").content;
  for (const conf of [devConf, prodConf]) {
    expect(conf).toMatch(/^load_definitions = \/etc\/rabbitmq\/definitions\.json$/m);
    expect(conf).toMatch(/^management\.tcp\.port = 15672$/m);
    expect(conf).toMatch(/^listeners\.tcp\.default = 5672$/m);
    expect(conf).not.toMatch(/^loopback_users/m);
  }
  expect(devConf).not.toMatch(/prometheus/);
  expect(prodConf).toMatch(/^prometheus\.tcp\.port = 15692$/m);
  expect(devConf).toMatch(/^total_memory_available_override_value = 536870912$/m);
  expect(prodConf).toMatch(/^total_memory_available_override_value = 1073741824$/m);
  expect(artifact(dev, "rabbitmq/enabled_plugins").content).toBe("[rabbitmq_management].\n");
  expect(artifact(prod, "rabbitmq/enabled_plugins").content).toBe(
    "[rabbitmq_management,rabbitmq_prometheus].\n",
  );
  expect(rabbitmqUserTags(dev)).toEqual(["administrator"]);
  expect(rabbitmqUserTags(prod)).toEqual(["monitoring"]);
});

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";

Deno.test("production rabbitmq.conf, enabled_plugins and definitions boot a real node", async () => {
  const m = await model("production");
  const files = emitRabbitmq(m);
  const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "procos_rabbit_boot_" }));
  const ports = { amqp: freePort(), management: freePort(), prometheus: freePort() };
  // Only paths and ports change: the node must not collide with the machine's broker.
  for (const f of files) {
    const content = f.content
      .replace("= /etc/rabbitmq/definitions.json", `= ${dir}/definitions.json`)
      .replace(/^listeners\.tcp\.default = 5672$/m, `listeners.tcp.default = ${ports.amqp}`)
      .replace(/^management\.tcp\.port = 15672$/m, `management.tcp.port = ${ports.management}`)
      .replace(/^prometheus\.tcp\.port = 15692$/m, `prometheus.tcp.port = ${ports.prometheus}`);
    await Deno.writeTextFile(`${dir}/${f.path.split("/")[1]}`, content, { mode: f.mode ?? 0o644 });
  }
  const node = `procos_test_${suffix}@localhost`;
  const child = new Deno.Command(RABBITMQ_SERVER, {
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: {
      HOME: dir,
      RABBITMQ_NODENAME: node,
      RABBITMQ_DIST_PORT: String(freePort()),
      RABBITMQ_CONFIG_FILE: `${dir}/rabbitmq.conf`,
      RABBITMQ_ENABLED_PLUGINS_FILE: `${dir}/enabled_plugins`,
      RABBITMQ_MNESIA_BASE: `${dir}/mnesia`,
      RABBITMQ_LOG_BASE: `${dir}/log`,
      RABBITMQ_PID_FILE: `${dir}/node.pid`,
      RABBITMQ_CONF_ENV_FILE: "/dev/null",
    },
  }).spawn();
  let out = "";
  const drain = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) out += chunk;
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const mgmt = `http://127.0.0.1:${ports.management}/api`;
  const procos = `Basic ${btoa(`${m.rabbitmq.user}:${m.rabbitmq.password}`)}`;
  const call = async (path: string, auth = procos) => {
    const r = await fetch(`${mgmt}${path}`, { headers: { authorization: auth } });
    return { status: r.status, body: await r.text() };
  };
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (exited) throw new Error(`the node stopped while booting:\n${out}`);
      try {
        if ((await call("/whoami")).status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the node did not boot in 120 s:\n${out}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    // The user of the definitions, with the hardened tags; no guest, no default vhost.
    expect(JSON.parse((await call("/whoami")).body)).toEqual({
      name: m.rabbitmq.user,
      tags: ["monitoring"],
    });
    expect((await call("/whoami", `Basic ${btoa("guest:guest")}`)).status).toBe(401);
    const vhosts = JSON.parse((await call("/vhosts")).body) as { name: string }[];
    expect(vhosts.map((v) => v.name)).toEqual([m.rabbitmq.vhost]);
    const queues = JSON.parse((await call(`/queues/${enc(m.rabbitmq.vhost)}`)).body);
    expect(queues.length).toBe(definitions(m).queues.length);
    // `monitoring` may not administer users.
    expect((await call("/users")).status).not.toBe(200);
    // The memory alarm is computed from the container limit (1g), not the host's RAM.
    // (Node stats appear a few seconds after boot.)
    let memLimit: number | undefined;
    for (let i = 0; i < 60 && memLimit === undefined; i++) {
      const nodes = JSON.parse((await call("/nodes")).body) as { mem_limit?: number }[];
      memLimit = nodes[0]?.mem_limit;
      if (memLimit === undefined) await new Promise((r) => setTimeout(r, 500));
    }
    expect(memLimit).toBeGreaterThan(0);
    expect(memLimit).toBeLessThanOrEqual(1024 ** 3);
    // The Prometheus endpoint is on (monitoring.exporters).
    const metrics = await fetch(`http://127.0.0.1:${ports.prometheus}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain("rabbitmq_");
  } finally {
    if (!exited) child.kill("SIGTERM");
    await status;
    await drained;
    // The script stops the node with rabbitmqctl; make sure its VM is gone.
    const pid = await Deno.readTextFile(`${dir}/node.pid`).then((t) => Number(t.trim()))
      .catch(() => 0);
    if (pid > 0) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * RabbitMQ: `rabbitmq/definitions.json` (topology, user, permissions, loaded
 * at boot), `rabbitmq/rabbitmq.conf` and `rabbitmq/enabled_plugins`, to be
 * mounted under `/etc/rabbitmq/`.
 *
 * Topology, beyond what the spec lists:
 * - the dead letter exchange (`messaging.dead_letter_exchange`), `direct`;
 *   every queue with `dead_letter: true` gets `x-dead-letter-exchange` and
 *   `x-dead-letter-routing-key: <queue>`, and a durable `<queue>.dlq` bound to
 *   the DLX with the key `<queue>`, so each queue's dead letters land in its
 *   own DLQ whatever their original routing key;
 * - `<project>.unroutable`: a fanout exchange set as `alternate-exchange` of
 *   every exchange of the spec (the events exchange among them), bound to a
 *   durable queue of the same name, so a message no binding matches is kept
 *   there instead of being dropped.
 *
 * The user's password is stored as RabbitMQ's `rabbit_password_hashing_sha256`
 * hash, with a salt derived from project and user name so the file is
 * byte-stable; the file is still written with mode 0600.
 *
 * @module
 */
import { createHash } from "node:crypto";
import Handlebars from "handlebars";
import { parseImageRef } from "../image_ref.ts";
import { memoryBytes } from "../memory.ts";
import type { Artifact } from "./artifact.ts";
import type { StackModel } from "../model.ts";

/** Where the container reads the definitions (`load_definitions`). */
export const RABBITMQ_DEFINITIONS_PATH = "/etc/rabbitmq/definitions.json";

/** The Prometheus plugin's port, used when `monitoring.exporters` is on. */
export const RABBITMQ_PROMETHEUS_PORT = 15692;

/** One exchange of a definitions file. */
export interface ExchangeDefinition {
  name: string;
  vhost: string;
  type: string;
  durable: boolean;
  auto_delete: boolean;
  internal: boolean;
  arguments: Record<string, string>;
}

/** One queue of a definitions file. */
export interface QueueDefinition {
  name: string;
  vhost: string;
  durable: boolean;
  auto_delete: boolean;
  arguments: Record<string, string>;
}

/** One binding of a definitions file. */
export interface BindingDefinition {
  source: string;
  vhost: string;
  destination: string;
  destination_type: "queue" | "exchange";
  routing_key: string;
  arguments: Record<string, string>;
}

/** A RabbitMQ definitions file (the format of `rabbitmqctl export_definitions`). */
export interface RabbitDefinitions {
  rabbit_version: string;
  rabbitmq_version: string;
  users: {
    name: string;
    password_hash: string;
    hashing_algorithm: "rabbit_password_hashing_sha256";
    tags: string[];
    limits: Record<string, never>;
  }[];
  vhosts: { name: string }[];
  permissions: { user: string; vhost: string; configure: string; write: string; read: string }[];
  topic_permissions: never[];
  parameters: never[];
  global_parameters: never[];
  policies: never[];
  queues: QueueDefinition[];
  exchanges: ExchangeDefinition[];
  bindings: BindingDefinition[];
}

/** Emits the RabbitMQ definitions, configuration and plugin list. Pure. */
export function emitRabbitmq(model: StackModel): Artifact[] {
  const svc = model.services.find((s) => s.name === model.rabbitmq.service);
  const memory = svc?.resources?.memory;
  const prometheus = model.monitoring.exporters;
  const conf = renderConf({
    project: model.project,
    profile: model.profile,
    user: model.rabbitmq.user,
    definitionsPath: RABBITMQ_DEFINITIONS_PATH,
    amqpPort: model.rabbitmq.port,
    managementPort: model.rabbitmq.managementPort,
    prometheusPort: prometheus ? RABBITMQ_PROMETHEUS_PORT : undefined,
    memoryLimit: memory,
    memoryBytes: memory === undefined ? undefined : memoryBytes(memory),
  });
  const plugins = prometheus
    ? ["rabbitmq_management", "rabbitmq_prometheus"]
    : ["rabbitmq_management"];
  return [
    {
      path: "rabbitmq/definitions.json",
      content: JSON.stringify(rabbitmqDefinitions(model), null, 2) + "\n",
      mode: 0o600,
    },
    { path: "rabbitmq/rabbitmq.conf", content: conf },
    { path: "rabbitmq/enabled_plugins", content: `[${plugins.join(",")}].\n` },
  ];
}

/** The name of the alternate exchange, and of its queue, for unroutable messages. */
export function unroutableName(model: StackModel): string {
  return `${model.project}.unroutable`;
}

/**
 * The management tags of the procos user. Development: `administrator`, so
 * the developer can inspect and change anything in the management UI.
 * Security hardening: `monitoring` only: the management API (verify, the UI)
 * may read everything, including node health, and publish or get messages in
 * the user's vhost, but cannot create users, vhosts, permissions or policies;
 * the topology comes from the definitions file alone, and an operator
 * administers the broker with `rabbitmqctl` inside the container.
 */
export function rabbitmqUserTags(model: StackModel): string[] {
  return model.security.hardening ? ["monitoring"] : ["administrator"];
}

/** Builds the definitions file's value. Pure; keys in a fixed order. */
export function rabbitmqDefinitions(model: StackModel): RabbitDefinitions {
  const { vhost, user } = model.rabbitmq;
  const msg = model.messaging;
  const dlx = msg.dead_letter_exchange;
  const unroutable = unroutableName(model);
  const svc = model.services.find((s) => s.name === model.rabbitmq.service);
  const version = brokerVersion(svc?.image ?? "");

  const exchange = (
    name: string,
    type: string,
    args: Record<string, string> = {},
  ): ExchangeDefinition => ({
    name,
    vhost,
    type,
    durable: true,
    auto_delete: false,
    internal: false,
    arguments: args,
  });
  const queue = (name: string, args: Record<string, string> = {}): QueueDefinition => ({
    name,
    vhost,
    durable: true,
    auto_delete: false,
    arguments: args,
  });
  const binding = (source: string, destination: string, key: string): BindingDefinition => ({
    source,
    vhost,
    destination,
    destination_type: "queue",
    routing_key: key,
    arguments: {},
  });

  const declared = new Set(msg.exchanges.map((e) => e.name));
  const exchanges = [
    ...msg.exchanges.map((e) =>
      e.name === dlx ? exchange(e.name, e.type) : exchange(e.name, e.type, {
        "alternate-exchange": unroutable,
      })
    ),
    ...(declared.has(dlx) ? [] : [exchange(dlx, "direct")]),
    exchange(unroutable, "fanout"),
  ];
  const dead = msg.queues.filter((q) => q.dead_letter);
  const queues = [
    ...msg.queues.map((q) =>
      q.dead_letter
        ? queue(q.name, { "x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": q.name })
        : queue(q.name)
    ),
    ...dead.map((q) => queue(`${q.name}.dlq`)),
    queue(unroutable),
  ];
  const bindings = [
    ...msg.queues.map((q) => binding(q.exchange, q.name, q.routing_key)),
    ...dead.map((q) => binding(dlx, `${q.name}.dlq`, q.name)),
    binding(unroutable, unroutable, ""),
  ];
  assertUnique("exchange", exchanges.map((e) => e.name));
  assertUnique("queue", queues.map((q) => q.name));

  return {
    rabbit_version: version,
    rabbitmq_version: version,
    users: [{
      name: user,
      password_hash: rabbitPasswordHash(
        model.rabbitmq.password,
        deterministicSalt(model.project, user),
      ),
      hashing_algorithm: "rabbit_password_hashing_sha256",
      tags: rabbitmqUserTags(model),
      limits: {},
    }],
    vhosts: [{ name: vhost }],
    permissions: [{ user, vhost, configure: ".*", write: ".*", read: ".*" }],
    topic_permissions: [],
    parameters: [],
    global_parameters: [],
    policies: [],
    queues,
    exchanges,
    bindings,
  };
}

/**
 * RabbitMQ's `rabbit_password_hashing_sha256`:
 * base64(salt ++ sha256(salt ++ utf8(password))), with a 4-byte salt.
 */
export function rabbitPasswordHash(password: string, salt: Uint8Array): string {
  if (salt.length !== 4) throw new Error("a RabbitMQ password salt has 4 bytes");
  const digest = createHash("sha256").update(salt).update(password, "utf8").digest();
  const bytes = new Uint8Array(4 + digest.length);
  bytes.set(salt, 0);
  bytes.set(digest, 4);
  return btoa(String.fromCharCode(...bytes));
}

/** A salt fixed by project and user, so a rebuild gives the same bytes. */
function deterministicSalt(project: string, user: string): Uint8Array {
  const digest = createHash("sha256").update(`procos:rabbitmq:${project}:${user}`, "utf8")
    .digest();
  return new Uint8Array(digest.subarray(0, 4));
}

/** The broker version an image tag names (`rabbitmq:3.13-management` → 3.13). */
function brokerVersion(image: string): string {
  const tag = parseImageRef(image)?.tag ?? "";
  return /^[0-9]+(\.[0-9]+){0,2}/.exec(tag)?.[0] ?? "3";
}

function assertUnique(what: string, names: string[]) {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new Error(`RabbitMQ ${what} ${n} is declared twice`);
    seen.add(n);
  }
}

let template: HandlebarsTemplateDelegate | undefined;

function renderConf(data: Record<string, unknown>): string {
  template ??= Handlebars.compile(
    Deno.readTextFileSync(new URL("../../templates/rabbitmq.conf.hbs", import.meta.url)),
    { noEscape: true, strict: true },
  );
  return template(data);
}

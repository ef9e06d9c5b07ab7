/**
 * Where each service is reached from the verify process.
 *
 * In order of precedence, highest first:
 *
 * 1. flags (`--pg-url`, `--redis-url`, `--rabbitmq-mgmt-url`, `--rabbitmq-url`,
 *    `--camunda-url`, `--ollama-url`);
 * 2. environment: `PROCOS_PG_URL`, `PROCOS_REDIS_URL`, `PROCOS_RABBITMQ_MGMT_URL`,
 *    `PROCOS_RABBITMQ_URL` (AMQP), `PROCOS_CAMUNDA_URL`, `PROCOS_OLLAMA_URL`;
 * 3. `out/runtime/endpoints.json` ({@link Endpoints}), written by a runtime that
 *    started the stack and knows the real addresses;
 * 4. the target mode: `local` (default) reaches the ports the model publishes on
 *    the host (127.0.0.1, or the mapping's `host_ip`); `network` reaches the
 *    services by name on their container ports (verify running inside the
 *    stack's network).
 *
 * Only locations come from here: a URL's host and port (and the scheme for
 * HTTP). Credentials always come from the spec's resolved secrets.
 *
 * @module
 */
import { z } from "zod";
import type { StackModel } from "../compiler/model.ts";
import { addressOf } from "../compiler/model.ts";

import { TargetError, type TargetMode } from "./target_modes.ts";

export { TARGET_MODES, TargetError, type TargetMode } from "./target_modes.ts";

/**
 * The format of `out/runtime/endpoints.json`: where a runtime that started
 * the stack actually put each service, as reached from the host. Every key is
 * optional; a service left out falls back to the target mode's address.
 *
 * ```json
 * {
 *   "postgres": { "host": "127.0.0.1", "port": 55432 },
 *   "redis": { "host": "127.0.0.1", "port": 56379 },
 *   "rabbitmq": { "host": "127.0.0.1", "port": 55672, "managementPort": 55673 },
 *   "camunda": { "url": "http://127.0.0.1:58080" },
 *   "ollama": { "url": "http://127.0.0.1:51434" },
 *   "workers": { "kernel": { "url": "http://127.0.0.1:9100" } }
 * }
 * ```
 *
 * `camunda.url` is the server's base URL (the REST API is under
 * `/engine-rest`; a trailing `/engine-rest` is accepted and dropped).
 * `workers.<name>.url` is the base URL of a worker's health port (it serves
 * `/health` and `/metrics`).
 */
export interface Endpoints {
  postgres?: { host: string; port: number };
  redis?: { host: string; port: number };
  rabbitmq?: { host: string; port: number; managementPort: number };
  camunda?: { url: string };
  ollama?: { url: string };
  workers?: Record<string, { url: string }>;
}

/** Where `out/runtime/endpoints.json` lives, relative to the output folder. */
export const ENDPOINTS_FILE = "runtime/endpoints.json";

const port = z.number().int().min(1).max(65535);
const host = z.string().min(1);
const httpUrl = z.string().regex(/^https?:\/\/[^\s]+$/, { message: "an http(s) URL" });

/** Schema of {@link Endpoints}; unknown keys are allowed (room to grow). */
export const EndpointsSchema = z.object({
  postgres: z.object({ host, port }).optional(),
  redis: z.object({ host, port }).optional(),
  rabbitmq: z.object({ host, port, managementPort: port }).optional(),
  camunda: z.object({ url: httpUrl }).optional(),
  ollama: z.object({ url: httpUrl }).optional(),
  workers: z.record(z.string(), z.object({ url: httpUrl })).optional(),
});

/** A host and a TCP port. */
export interface HostPort {
  host: string;
  port: number;
}

/** Where every service is reached, and where each address came from. */
export interface Targets {
  mode: TargetMode;
  postgres: HostPort;
  redis: HostPort;
  /** AMQP host and port, and the management API's base URL. */
  rabbitmq: HostPort & { managementUrl: string };
  /** Camunda's base URL, without `/engine-rest`. */
  camunda: { url: string };
  /** Ollama's base URL. */
  ollama: { url: string };
  /**
   * Each worker's health endpoint base URL (`/health`, `/metrics`), by worker
   * name: `endpoints.json`, else `http://127.0.0.1:<health_port>` in local
   * mode (how the local runtime runs them; Compose does not publish the
   * health ports) or `http://<name>:<health_port>` in network mode.
   */
  workers: Record<string, { url: string }>;
  /** For each service, where its address came from (e.g. `PROCOS_PG_URL`). */
  sources: Record<"postgres" | "redis" | "rabbitmq" | "camunda" | "ollama" | "workers", string>;
}

/** Explicit overrides of {@link resolveTargets} (from flags). */
export interface TargetOverrides {
  pgUrl?: string;
  redisUrl?: string;
  rabbitmqUrl?: string;
  rabbitmqMgmtUrl?: string;
  camundaUrl?: string;
  ollamaUrl?: string;
}

/** Options of {@link resolveTargets}. */
export interface ResolveOptions {
  /** Default `local`. */
  mode?: TargetMode;
  /** The output folder holding `runtime/endpoints.json`; omit to not read it. */
  outDir?: string;
  /** Environment to read `PROCOS_*_URL` from (defaults to none). */
  env?: Record<string, string | undefined>;
  /** Flag values; they win over everything. */
  overrides?: TargetOverrides;
}

/** Brackets an IPv6 literal for use in a URL. */
export function urlHost(h: string): string {
  return h.includes(":") && !h.startsWith("[") ? `[${h}]` : h;
}

function parseUrl(value: string, what: string, defaultPort: number): URL & { portNumber: number } {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new TargetError(`${what}: not a URL: ${JSON.stringify(redactUrl(value))}`);
  }
  if (!u.hostname) throw new TargetError(`${what}: no host in ${JSON.stringify(redactUrl(value))}`);
  const portNumber = u.port ? Number(u.port) : defaultPort;
  return Object.assign(u, { portNumber });
}

/** A URL with any password replaced by `***`, for messages. */
export function redactUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, "$1***@");
}

function stripHost(h: string): string {
  return h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
}

function baseUrl(value: string): string {
  return value.replace(/\/+$/, "").replace(/\/engine-rest$/, "");
}

function httpBase(value: string, what: string, defaultPort: number): string {
  const u = parseUrl(value, what, defaultPort);
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new TargetError(`${what}: expected an http(s) URL, got ${u.protocol}`);
  }
  return baseUrl(`${u.protocol}//${u.host}${u.pathname}`);
}

/**
 * Where the host reaches a container port of a service: its published
 * mapping, as the model's `addressOf("host", ...)` computes it (127.0.0.1
 * unless bound to one IPv4 address).
 */
export function publishedAddress(
  model: StackModel,
  service: string,
  containerPort: number,
): HostPort {
  const svc = model.services.find((s) => s.name === service);
  return addressOf("host", service, svc?.ports ?? [], containerPort);
}

/** Reads and validates `endpoints.json`; `undefined` when the file does not exist. */
export async function readEndpoints(file: string): Promise<Endpoints | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new TargetError(`${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new TargetError(`${file}: not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const r = EndpointsSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new TargetError(`${file}: ${i.path.join(".") || "(root)"}: ${i.message}`);
  }
  return r.data;
}

/** Works out where every service is reached; see the module doc for precedence. */
export async function resolveTargets(
  model: StackModel,
  opts: ResolveOptions = {},
): Promise<Targets> {
  const mode = opts.mode ?? "local";
  const env = opts.env ?? {};
  const o = opts.overrides ?? {};
  const endpointsFile = opts.outDir ? `${opts.outDir}/${ENDPOINTS_FILE}` : undefined;
  const endpoints = endpointsFile ? await readEndpoints(endpointsFile) : undefined;
  const epSource = endpointsFile ?? "endpoints.json";

  const modeAddress = (service: string, host: string, port: number): HostPort =>
    mode === "local" ? publishedAddress(model, service, port) : { host, port };
  const modeSource = mode === "local" ? "model (published port)" : "model (service network)";

  /** The first of flag, env, endpoints.json; `undefined` for the mode's default. */
  const pick = (flag: string | undefined, flagName: string, envName: string) => {
    if (flag) return { value: flag, source: flagName };
    const e = env[envName];
    if (e) return { value: e, source: envName };
    return undefined;
  };

  // PostgreSQL
  let postgres = modeAddress(model.postgres.service, model.postgres.host, model.postgres.port);
  let pgSource = modeSource;
  if (endpoints?.postgres) [postgres, pgSource] = [endpoints.postgres, epSource];
  const pg = pick(o.pgUrl, "--pg-url", "PROCOS_PG_URL");
  if (pg) {
    const u = parseUrl(pg.value, pg.source, 5432);
    postgres = { host: stripHost(u.hostname), port: u.portNumber };
    pgSource = pg.source;
  }

  // Redis
  let redis = modeAddress(model.redis.service, model.redis.host, model.redis.port);
  let redisSource = modeSource;
  if (endpoints?.redis) [redis, redisSource] = [endpoints.redis, epSource];
  const rd = pick(o.redisUrl, "--redis-url", "PROCOS_REDIS_URL");
  if (rd) {
    const u = parseUrl(rd.value, rd.source, 6379);
    redis = { host: stripHost(u.hostname), port: u.portNumber };
    redisSource = rd.source;
  }

  // RabbitMQ: AMQP and management
  const mq = model.rabbitmq;
  let amqp = modeAddress(mq.service, mq.host, mq.port);
  let mgmt = modeAddress(mq.service, mq.host, mq.managementPort);
  let mgmtUrl = `http://${urlHost(mgmt.host)}:${mgmt.port}`;
  const mqSources: string[] = [];
  if (endpoints?.rabbitmq) {
    amqp = { host: endpoints.rabbitmq.host, port: endpoints.rabbitmq.port };
    mgmt = { host: endpoints.rabbitmq.host, port: endpoints.rabbitmq.managementPort };
    mgmtUrl = `http://${urlHost(mgmt.host)}:${mgmt.port}`;
    mqSources.push(epSource);
  }
  const amqpPick = pick(o.rabbitmqUrl, "--rabbitmq-url", "PROCOS_RABBITMQ_URL");
  if (amqpPick) {
    const u = parseUrl(amqpPick.value, amqpPick.source, 5672);
    amqp = { host: stripHost(u.hostname), port: u.portNumber };
    mqSources.push(amqpPick.source);
  }
  const mgmtPick = pick(o.rabbitmqMgmtUrl, "--rabbitmq-mgmt-url", "PROCOS_RABBITMQ_MGMT_URL");
  if (mgmtPick) {
    mgmtUrl = httpBase(mgmtPick.value, mgmtPick.source, 15672);
    mqSources.push(mgmtPick.source);
  }

  // Camunda
  const ca = modeAddress(model.camunda.service, model.camunda.host, model.camunda.port);
  let camundaUrl = `http://${urlHost(ca.host)}:${ca.port}`;
  let camundaSource = modeSource;
  if (endpoints?.camunda) {
    camundaUrl = httpBase(endpoints.camunda.url, `${epSource}: camunda.url`, 80);
    camundaSource = epSource;
  }
  const caPick = pick(o.camundaUrl, "--camunda-url", "PROCOS_CAMUNDA_URL");
  if (caPick) {
    camundaUrl = httpBase(caPick.value, caPick.source, 8080);
    camundaSource = caPick.source;
  }

  // Ollama
  const ol = modeAddress(model.ollama.service, model.ollama.host, model.ollama.port);
  let ollamaUrl = `http://${urlHost(ol.host)}:${ol.port}`;
  let ollamaSource = modeSource;
  if (endpoints?.ollama) {
    ollamaUrl = httpBase(endpoints.ollama.url, `${epSource}: ollama.url`, 80);
    ollamaSource = epSource;
  }
  const olPick = pick(o.ollamaUrl, "--ollama-url", "PROCOS_OLLAMA_URL");
  if (olPick) {
    ollamaUrl = httpBase(olPick.value, olPick.source, 11434);
    ollamaSource = olPick.source;
  }

  // Workers: their health ports (not published by Compose; the local runtime runs them on the host)
  const workers: Record<string, { url: string }> = {};
  let workersFromFile = false;
  for (const w of model.workers) {
    const fromFile = endpoints?.workers?.[w.name];
    if (fromFile) {
      workers[w.name] = {
        url: httpBase(fromFile.url, `${epSource}: workers.${w.name}.url`, 80),
      };
      workersFromFile = true;
    } else {
      const host = mode === "local" ? "127.0.0.1" : w.name;
      workers[w.name] = { url: `http://${host}:${w.healthPort}` };
    }
  }

  return {
    mode,
    postgres,
    redis,
    rabbitmq: { ...amqp, managementUrl: mgmtUrl },
    camunda: { url: camundaUrl },
    ollama: { url: ollamaUrl },
    workers,
    sources: {
      postgres: pgSource,
      redis: redisSource,
      rabbitmq: mqSources.length ? mqSources.join(", ") : modeSource,
      camunda: camundaSource,
      ollama: ollamaSource,
      workers: workersFromFile
        ? epSource
        : mode === "local"
        ? "model (health port on 127.0.0.1)"
        : "model (service network)",
    },
  };
}

/** Host and port of an http(s) base URL (default ports 80/443). */
export function hostPortOfUrl(url: string): HostPort {
  const u = new URL(url);
  const p = u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
  return { host: stripHost(u.hostname), port: p };
}

/**
 * Loading the worker manifest (`out/workers/<name>.json`, format and checks in
 * `compiler/worker_manifest.ts`) and resolving the connections it names.
 *
 * The manifest holds no credential: it names the environment variables the
 * URLs with passwords are read from ({@link resolveConnections}). Two
 * environment variables override the manifest's base URLs, for runs outside
 * the Compose network: `CAMUNDA_BASE_URL` and `OLLAMA_BASE_URL` (both written
 * to every worker's env file by the compiler).
 *
 * @module
 */
import {
  type AiWorkerManifest,
  type GenericWorkerManifest,
  type KernelManifest,
  parseWorkerManifest,
  type WorkerManifest,
} from "../../compiler/worker_manifest.ts";

export type { AiWorkerManifest, GenericWorkerManifest, KernelManifest, WorkerManifest };

/** Where the manifest is read from when `PROCOS_MANIFEST` is unset (the container path). */
export const DEFAULT_MANIFEST_PATH = "/procos/manifest.json";

/** Reads and checks the manifest at `path` (default: `$PROCOS_MANIFEST`). Throws naming every problem. */
export async function loadManifest(path?: string): Promise<WorkerManifest> {
  const file = path ?? Deno.env.get("PROCOS_MANIFEST") ?? DEFAULT_MANIFEST_PATH;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new Error(`cannot read the worker manifest ${file}: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`the worker manifest ${file} is not JSON: ${(e as Error).message}`);
  }
  try {
    return parseWorkerManifest(value);
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

/** Loads the manifest and checks it is of the expected kind. */
export async function loadManifestOf<K extends WorkerManifest["kind"]>(
  kind: K,
  path?: string,
): Promise<Extract<WorkerManifest, { kind: K }>> {
  const m = await loadManifest(path);
  if (m.kind !== kind) {
    throw new Error(`the manifest is for a ${m.kind} worker (${m.name}), not a ${kind} worker`);
  }
  return m as Extract<WorkerManifest, { kind: K }>;
}

/** Every address and credential a worker connects with. Holds secrets: never log it whole. */
export interface Connections {
  /** The engine-rest base URL, without a trailing slash. */
  camundaUrl: string;
  /** HTTP basic credentials for the REST API, when it requires them. */
  camundaAuth?: { username: string; password: string };
  /** Ollama's base URL. */
  ollamaUrl: string;
  /** The PostgreSQL URL (may hold a password), if set. */
  databaseUrl?: string;
  /** The Redis URL (may hold a password), if set. */
  redisUrl?: string;
  /** The AMQP URL (may hold a password), if set. */
  rabbitmqUrl?: string;
}

/** Reads the connections a manifest names from `env` (default: the process environment). */
export function resolveConnections(
  m: WorkerManifest,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): Connections {
  const nonEmpty = (name: string) => {
    const v = env(name);
    return v === undefined || v === "" ? undefined : v;
  };
  let camundaAuth: Connections["camundaAuth"];
  if (m.camunda.auth) {
    const username = nonEmpty(m.camunda.usernameEnv);
    const password = nonEmpty(m.camunda.passwordEnv);
    if (!username || !password) {
      throw new Error(
        `the Camunda REST API requires basic auth: set ${m.camunda.usernameEnv} and ` +
          `${m.camunda.passwordEnv}`,
      );
    }
    camundaAuth = { username, password };
  }
  return {
    camundaUrl: (nonEmpty("CAMUNDA_BASE_URL") ?? m.camunda.baseUrl).replace(/\/+$/, ""),
    camundaAuth,
    ollamaUrl: (nonEmpty("OLLAMA_BASE_URL") ?? m.ollama.baseUrl).replace(/\/+$/, ""),
    databaseUrl: nonEmpty(m.aiContext.databaseUrlEnv),
    redisUrl: nonEmpty(m.redis.urlEnv),
    rabbitmqUrl: nonEmpty(m.events.urlEnv),
  };
}

/** The exponential back-off of a manifest topic. */
export interface Backoff {
  /** Wait before the first retry, ms. */
  initialMs: number;
  /** Multiplier per retry. */
  factor: number;
  /** Upper bound, ms. */
  maxMs: number;
}

/** The wait before retry number `n` (0 = the first retry): `min(initialMs * factor^n, maxMs)`. */
export function backoffDelay(b: Backoff, n: number): number {
  const raw = b.initialMs * Math.pow(b.factor, Math.max(0, n));
  return Math.round(Math.min(Number.isFinite(raw) ? raw : b.maxMs, b.maxMs));
}

/** A positive integer from the environment, or `fallback`. */
export function envInt(name: string, fallback: number): number {
  const v = Deno.env.get(name);
  if (v === undefined || v.trim() === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer`);
  return n;
}

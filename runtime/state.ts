/**
 * The local runtime's state, `out/runtime/state.json`: what `up` started
 * (pids, with start times), what it provisioned on external services (and
 * whether it created it or found it), and the Redis settings it changed with
 * their previous values, so `down` stops only its own processes and
 * `down --purge` undoes exactly what `up` did. Written atomically, mode 0600
 * (a previous Redis `requirepass` is kept here to be restored).
 *
 * @module
 */
import type { ProcessRecord } from "./procs.ts";

/** What `up` did to one external PostgreSQL. */
export interface PostgresProvision {
  /** The admin connection used, without any password. */
  admin: string;
  database: string;
  role: string;
  /** False when the database existed before the first `up`: purge leaves it. */
  createdDatabase: boolean;
  /** False when the role existed before the first `up`: purge leaves it. */
  createdRole: boolean;
  /** SQL files applied, in order (relative to the output folder). */
  applied: string[];
}

/** What `up` did to one external RabbitMQ. */
export interface RabbitmqProvision {
  /** Management API base URL used, without credentials. */
  management: string;
  vhost: string;
  user: string;
  createdVhost: boolean;
  createdUser: boolean;
}

/** What `up` did to one external Redis. */
export interface RedisProvision {
  host: string;
  port: number;
  /** The settings `up` set, with the values it set. */
  applied: Record<string, string>;
  /** Each setting's value before the first `up` changed it (restored by `down --purge`). */
  previous: Record<string, string>;
}

/** One service in the state file. */
export type ServiceState =
  | {
    kind: string;
    mode: "started";
    process: ProcessRecord;
    /** Where it was told to listen, for messages. */
    address?: string;
  }
  | {
    kind: string;
    mode: "provisioned";
    postgres?: PostgresProvision;
    rabbitmq?: RabbitmqProvision;
    redis?: RedisProvision;
  }
  | {
    kind: string;
    mode: "external";
  };

/** The whole state file. */
export interface RuntimeState {
  version: 1;
  /** `local` (this runtime) or `compose` (Docker Compose did it). */
  engine: "local" | "compose";
  project: string;
  profile: string;
  specHash: string;
  /** The spec file, absolute. */
  config: string;
  /** The output folder, absolute. */
  outDir: string;
  updatedAt: string;
  /** Compose files and profile used (engine `compose` only). */
  compose?: { files: string[]; profiles: string[] };
  services: Record<string, ServiceState>;
}

/** The runtime folder of an output folder. */
export function runtimeDir(outDir: string): string {
  return `${outDir}/runtime`;
}

/** The state file of an output folder. */
export function stateFile(outDir: string): string {
  return `${runtimeDir(outDir)}/state.json`;
}

/** Reads the state; `undefined` when there is none. */
export async function readState(outDir: string): Promise<RuntimeState | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(stateFile(outDir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const s = JSON.parse(text) as RuntimeState;
  if (s?.version !== 1 || typeof s.services !== "object") {
    throw new Error(`${stateFile(outDir)}: not a state file of this runtime (version 1)`);
  }
  return s;
}

/** Writes a file atomically (temp file + rename) with the given mode. */
export async function writeFileAtomic(file: string, text: string, mode = 0o644): Promise<void> {
  const tmp = `${file}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(tmp, text, { mode });
  await Deno.chmod(tmp, mode);
  await Deno.rename(tmp, file);
}

/** Writes the state atomically, mode 0600. */
export async function writeState(outDir: string, state: RuntimeState): Promise<void> {
  await Deno.mkdir(runtimeDir(outDir), { recursive: true });
  state.updatedAt = new Date().toISOString();
  await writeFileAtomic(stateFile(outDir), JSON.stringify(state, null, 2) + "\n", 0o600);
}

/** Removes the state file (no error when it is missing). */
export async function removeState(outDir: string): Promise<void> {
  await Deno.remove(stateFile(outDir)).catch(() => {});
}

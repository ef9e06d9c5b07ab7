/**
 * A small Docker Engine API client over dockerode: where the engine is
 * (`DOCKER_HOST` or `/var/run/docker.sock`), whether it answers, the
 * containers Compose started for a service (by its labels), and what a
 * container looks like (the parts of `GET /containers/{id}/json` the checks
 * read, typed here because dockerode ships no types).
 *
 * Works against Docker and against podman's Docker-compatible API service.
 *
 * @module
 */
// dockerode is loaded on first use: most verify runs have no Docker engine,
// and importing it costs ~80 ms of every start.
import type Docker from "dockerode";

/** The label Compose puts the project name in. */
export const COMPOSE_PROJECT_LABEL = "com.docker.compose.project";
/** The label Compose puts the service name in. */
export const COMPOSE_SERVICE_LABEL = "com.docker.compose.service";

/** The default socket of a Docker engine. */
export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";

/** Where the engine's API is. */
export type DockerEndpoint =
  | { kind: "unix"; socketPath: string }
  | { kind: "tcp"; host: string; port: number; protocol: "http" | "https" };

/** Thrown for a `DOCKER_HOST` this client cannot use. */
export class DockerHostError extends Error {}

/**
 * The endpoint of `DOCKER_HOST` (`unix:///path`, `tcp://host:port`,
 * `http://` or `https://`), or the default socket when it is unset or empty.
 */
export function dockerEndpoint(dockerHost: string | undefined): DockerEndpoint {
  const v = (dockerHost ?? "").trim();
  if (v === "") return { kind: "unix", socketPath: DEFAULT_DOCKER_SOCKET };
  if (v.startsWith("unix://")) {
    const path = v.slice("unix://".length);
    if (!path.startsWith("/")) {
      throw new DockerHostError(`DOCKER_HOST ${v}: expected unix:///absolute/path`);
    }
    return { kind: "unix", socketPath: path };
  }
  if (v.startsWith("/")) return { kind: "unix", socketPath: v };
  const m = /^(tcp|http|https):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(v);
  if (m) {
    const protocol = m[1] === "https" ? "https" : "http";
    const port = m[3] ? Number(m[3]) : protocol === "https" ? 2376 : 2375;
    return { kind: "tcp", host: m[2].replace(/^\[|\]$/g, ""), port, protocol };
  }
  throw new DockerHostError(
    `DOCKER_HOST ${v}: not supported (use unix:///path/docker.sock or tcp://host:port)`,
  );
}

/** How an endpoint is shown: the socket's path, or the URL. */
export function describeEndpoint(e: DockerEndpoint): string {
  return e.kind === "unix" ? e.socketPath : `${e.protocol}://${e.host}:${e.port}`;
}

/** A port binding of `HostConfig.PortBindings`. */
export interface PortBinding {
  HostIp?: string;
  HostPort?: string;
}

/** A mount of a container. */
export interface MountInfo {
  Type?: string;
  Name?: string;
  Source?: string;
  Destination?: string;
  RW?: boolean;
}

/** The parts of a container's inspection the checks read. */
export interface ContainerInspect {
  Id: string;
  Name?: string;
  Created?: string;
  State?: {
    Status?: string;
    Running?: boolean;
    Restarting?: boolean;
    ExitCode?: number;
    Error?: string;
    Health?: {
      Status?: string;
      FailingStreak?: number;
      Log?: { ExitCode?: number; Output?: string }[];
    };
  };
  Config?: {
    Labels?: Record<string, string> | null;
    Healthcheck?: { Test?: string[] } | null;
  };
  HostConfig?: {
    Memory?: number;
    NanoCpus?: number;
    CpuQuota?: number;
    CpuPeriod?: number;
    RestartPolicy?: { Name?: string; MaximumRetryCount?: number };
    PortBindings?: Record<string, PortBinding[] | null> | null;
  };
  NetworkSettings?: { Networks?: Record<string, unknown> | null };
  Mounts?: MountInfo[] | null;
}

/** The name of a container without Docker's leading `/`. */
export function containerName(c: Pick<ContainerInspect, "Id" | "Name">): string {
  return (c.Name ?? "").replace(/^\//, "") || c.Id.slice(0, 12);
}

/** Options of {@link DockerClient}. */
export interface DockerClientOptions {
  /** `DOCKER_HOST`; unset or empty means `/var/run/docker.sock`. */
  dockerHost?: string;
  /** Milliseconds one API request may take (default 10 000). */
  timeoutMs?: number;
}

/** The calls of the Engine API the checks make. */
export class DockerClient {
  /** Where the engine is. */
  readonly endpoint: DockerEndpoint;
  readonly #timeout: number;
  #docker?: Promise<Docker>;

  constructor(opts: DockerClientOptions = {}) {
    this.endpoint = dockerEndpoint(opts.dockerHost);
    this.#timeout = opts.timeoutMs ?? 10_000;
  }

  /** The endpoint as shown in messages. */
  get where(): string {
    return describeEndpoint(this.endpoint);
  }

  /** The dockerode instance, for callers that need more of the API (tests). */
  raw(): Promise<Docker> {
    this.#docker ??= import("dockerode").then(({ default: Docker }) => {
      const timeout = this.#timeout;
      return this.endpoint.kind === "unix"
        ? new Docker({ socketPath: this.endpoint.socketPath, timeout })
        : new Docker({
          host: this.endpoint.host,
          port: this.endpoint.port,
          protocol: this.endpoint.protocol,
          timeout,
        });
    });
    return this.#docker;
  }

  /** Resolves when the engine answers `GET /_ping`; throws otherwise. */
  async ping(signal?: AbortSignal): Promise<void> {
    await (await this.raw()).ping(signal ? { abortSignal: signal } : {});
  }

  /** Whether the engine answers; `reason` says why not. */
  async reachable(signal?: AbortSignal): Promise<{ ok: true } | { ok: false; reason: string }> {
    try {
      await this.ping(signal);
      return { ok: true };
    } catch (e) {
      return { ok: false, reason: errorText(e) };
    }
  }

  /** Ids of every container (running or not) with all these labels. */
  async containerIds(labels: Record<string, string>, signal?: AbortSignal): Promise<string[]> {
    const list: { Id: string }[] = await (await this.raw()).listContainers({
      all: true,
      filters: { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) },
      ...(signal ? { abortSignal: signal } : {}),
    });
    return list.map((c) => c.Id);
  }

  /** A container's inspection. */
  async inspect(id: string, signal?: AbortSignal): Promise<ContainerInspect> {
    return await (await this.raw()).getContainer(id).inspect(signal ? { abortSignal: signal } : {});
  }

  /**
   * Every container Compose started for `service` of `project` (labels
   * `com.docker.compose.project` and `com.docker.compose.service`), inspected;
   * the running ones first, then the newest first.
   */
  async composeContainers(
    project: string,
    service: string,
    signal?: AbortSignal,
  ): Promise<ContainerInspect[]> {
    const ids = await this.containerIds(
      { [COMPOSE_PROJECT_LABEL]: project, [COMPOSE_SERVICE_LABEL]: service },
      signal,
    );
    const all = await Promise.all(ids.map((id) => this.inspect(id, signal)));
    // The label filter is the engine's; make sure (an engine that ignores it must not mislead).
    const mine = all.filter((c) =>
      c.Config?.Labels?.[COMPOSE_PROJECT_LABEL] === project &&
      c.Config?.Labels?.[COMPOSE_SERVICE_LABEL] === service
    );
    return mine.sort((a, b) =>
      Number(b.State?.Running === true) - Number(a.State?.Running === true) ||
      (b.Created ?? "").localeCompare(a.Created ?? "")
    );
  }
}

/** An error's message on one line, with its code when it has one (ENOENT, ...). */
export function errorText(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  const status = (e as { statusCode?: unknown })?.statusCode;
  let msg = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ").trim();
  if (typeof code === "string" && !msg.includes(code)) msg = `${code}: ${msg}`;
  if (typeof status === "number" && !msg.includes(String(status))) msg = `HTTP ${status}: ${msg}`;
  return msg || "error";
}

/** Bytes of a Compose memory size: `512m` → 536870912 (k, m, g are powers of 1024; b or none: bytes). */
export function memoryBytes(size: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([bkmg]?)b?\s*$/i.exec(size);
  if (!m) throw new Error(`memory size "${size}" is not like 512m or 2g`);
  const unit = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase()]!;
  return Math.round(Number(m[1]) * unit);
}

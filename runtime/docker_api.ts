/**
 * The few Docker Engine API calls `up` makes (ping, and the containers of a
 * Compose project), over `fetch`: a unix socket (`unix:///path`) or TCP
 * (`tcp://host:port`). Docker and podman's compatible API both answer them.
 *
 * @module
 */

/** The label Compose (v1 and v2) puts on a project's containers. */
export const PROJECT_LABEL = "com.docker.compose.project";
/** The label Compose (v1 and v2) puts on a service's containers. */
export const SERVICE_LABEL = "com.docker.compose.service";

/** One container of a project, as `up` judges it. */
export interface ContainerSummary {
  id: string;
  /** The container's name, without the leading `/`. */
  name: string;
  /** Its Compose service. */
  service: string;
  /** `running`, `exited`, `created`, ... */
  status: string;
  restarting: boolean;
  exitCode: number;
  /** `starting`, `healthy` or `unhealthy`; undefined without a health check. */
  health?: string;
  /** A job: restart policy `no` and no health check (it runs once and exits). */
  oneShot: boolean;
  /** Its address on each network it is attached to, by network name. */
  addresses: Record<string, string>;
}

/** A Docker Engine API at one `DOCKER_HOST` address. */
export class ContainerApi {
  readonly #base: string;
  readonly #client?: Deno.HttpClient;

  /** `dockerHost` as `DOCKER_HOST` spells it: `unix:///path` or `tcp://host:port`. */
  constructor(dockerHost: string) {
    if (dockerHost.startsWith("unix://")) {
      this.#client = Deno.createHttpClient({
        proxy: { transport: "unix", path: dockerHost.slice("unix://".length) },
      });
      this.#base = "http://docker";
    } else if (dockerHost.startsWith("tcp://")) {
      this.#base = `http://${dockerHost.slice("tcp://".length)}`;
    } else {
      throw new Error(`DOCKER_HOST ${dockerHost}: expected unix:///path or tcp://host:port`);
    }
  }

  /** GETs `path` and returns its JSON; throws on a non-2xx answer. */
  async get<T>(path: string, timeoutMs = 10_000): Promise<T> {
    const r = await fetch(`${this.#base}${path}`, {
      client: this.#client,
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!r.ok) {
      await r.body?.cancel();
      throw new Error(`GET ${path}: HTTP ${r.status}`);
    }
    return await r.json() as T;
  }

  /** POSTs to `path` (an action such as `/containers/{id}/stop`); throws on a non-2xx answer. */
  async post(path: string, timeoutMs = 60_000): Promise<void> {
    const r = await fetch(`${this.#base}${path}`, {
      method: "POST",
      client: this.#client,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await r.body?.cancel();
    if (!r.ok) throw new Error(`POST ${path}: HTTP ${r.status}`);
  }

  /** Whether the API answers `GET /_ping`. */
  async ping(timeoutMs = 3000): Promise<boolean> {
    try {
      const r = await fetch(`${this.#base}/_ping`, {
        client: this.#client,
        signal: AbortSignal.timeout(timeoutMs),
      });
      await r.body?.cancel();
      return r.ok;
    } catch {
      return false;
    }
  }

  /** Every container of Compose project `project`, running or not, sorted by name. */
  async projectContainers(project: string): Promise<ContainerSummary[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: [`${PROJECT_LABEL}=${project}`] }));
    const list = await this.get<{ Id: string }[]>(`/containers/json?all=1&filters=${filters}`);
    const out: ContainerSummary[] = [];
    for (const { Id } of list) {
      const c = await this.get<Inspect>(`/containers/${Id}/json`);
      const labels = c.Config?.Labels ?? {};
      if (labels[PROJECT_LABEL] !== project) continue; // an engine that ignores the filter
      const health = c.State?.Health?.Status;
      out.push({
        id: c.Id,
        name: (c.Name ?? "").replace(/^\//, ""),
        service: labels[SERVICE_LABEL] ?? "",
        status: c.State?.Status ?? "unknown",
        restarting: c.State?.Restarting === true,
        exitCode: c.State?.ExitCode ?? 0,
        health: health && health !== "none" && health !== "" ? health : undefined,
        oneShot: (c.HostConfig?.RestartPolicy?.Name || "no") === "no" &&
          !c.Config?.Healthcheck?.Test,
        addresses: Object.fromEntries(
          Object.entries(c.NetworkSettings?.Networks ?? {})
            .filter(([, n]) => !!n?.IPAddress)
            .map(([name, n]) => [name, n!.IPAddress!]),
        ),
      });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

/** The parts of `GET /containers/{id}/json` read here. */
interface Inspect {
  Id: string;
  Name?: string;
  State?: {
    Status?: string;
    Restarting?: boolean;
    ExitCode?: number;
    Health?: { Status?: string };
  };
  Config?: { Labels?: Record<string, string> | null; Healthcheck?: { Test?: string[] } | null };
  HostConfig?: { RestartPolicy?: { Name?: string } };
  NetworkSettings?: { Networks?: Record<string, { IPAddress?: string } | null> | null };
}

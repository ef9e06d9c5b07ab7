/**
 * Containers: what Docker (or podman's Docker API) says about the containers
 * Compose started from `out/compose.yaml`, compared with the model. For each
 * service Compose starts (not `external`), found by the labels
 * `com.docker.compose.project=<project>` and `com.docker.compose.service=<name>`:
 *
 * - running; healthy (`State.Health.Status`, when the service has a health check);
 * - memory and CPU limits (`HostConfig.Memory`, `HostConfig.NanoCpus`: Compose
 *   puts `deploy.resources.limits` there);
 * - restart policy (`HostConfig.RestartPolicy.Name`);
 * - attached to the spec's network (`NetworkSettings.Networks`; the Compose file
 *   sets the network's `name:`, so the name is literal);
 * - each named volume mounted at its target (Compose names it
 *   `<project>_<volume>`: the Compose file sets no `name:` for volumes);
 * - each published port bound (`HostConfig.PortBindings`).
 *
 * The engine is `DOCKER_HOST` (`unix:///path` or `tcp://host:port`) or
 * `/var/run/docker.sock`. When no engine answers there, every check is
 * skipped ("no Docker engine at <socket>"); so is every check when
 * `<out>/runtime/state.json` says `deno task up` ran the stack on the local
 * runtime (engine `local`): then there are no containers to look at.
 *
 * @module
 */
import type { ServiceModel, StackModel } from "../../compiler/model.ts";
import { startCommand } from "../../compiler/emit/compose.ts";
import { startedServices } from "../../compiler/emit/containers.ts";
import type { Check, Result, RunContext, VerifyContext } from "../check.ts";
import { fail, pass, skip } from "../check.ts";
import type { ContainerInspect } from "../clients/docker.ts";
import {
  COMPOSE_PROJECT_LABEL,
  COMPOSE_SERVICE_LABEL,
  containerName,
  DockerClient,
  errorText,
  memoryBytes,
} from "../clients/docker.ts";

/** Options of {@link containersChecks}; the defaults read the environment. */
export interface ContainersOptions {
  /** The client to use (tests); default: one for `dockerHost`. */
  client?: DockerClient;
  /** `DOCKER_HOST`; default: the environment's. */
  dockerHost?: string;
}

/** What a check does with the service's containers once they are found. */
type Judge = (containers: ContainerInspect[], ctx: RunContext) => Result;

function envDockerHost(): string | undefined {
  try {
    return Deno.env.get("DOCKER_HOST");
  } catch {
    return undefined; // no env permission: the default socket
  }
}

/**
 * Why containers do not apply when `deno task up` ran the stack on the local
 * runtime (`<out>/runtime/state.json` says engine `local`); undefined otherwise.
 */
async function localRuntime(outDir: string): Promise<string | undefined> {
  const file = `${outDir}/runtime/state.json`;
  try {
    const state = JSON.parse(await Deno.readTextFile(file));
    if (state?.engine === "local") {
      return `the stack runs on the local runtime, not in containers (${file}: engine local)`;
    }
  } catch {
    // no state file (or not readable): Compose or something else started the stack
  }
  return undefined;
}

/** Compose's name of a named volume of the stack. */
export function composeVolumeName(project: string, volume: string): string {
  return `${project}_${volume}`;
}

/**
 * The network Compose creates for a network key of the file: like volumes,
 * `<project>_<key>` (the file sets no `name:`, so two stacks never share one).
 */
export function composeNetworkName(project: string, network: string): string {
  return `${project}_${network}`;
}

/** Whether a volume source is a named volume (not a host path). */
export function isNamedVolume(source: string): boolean {
  return !source.startsWith(".") && !source.startsWith("/") && !source.startsWith("~");
}

/** `536870912` → `512m`, `1073741824` → `1g`; other sizes in bytes. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [["g", 1024 ** 3], ["m", 1024 ** 2], ["k", 1024]] as const) {
    if (n >= size && n % size === 0) return `${n / size}${unit}`;
  }
  return `${n} bytes`;
}

/** The CPU limit of a container in NanoCpus (from `NanoCpus`, or CPU quota/period). */
export function nanoCpusOf(c: ContainerInspect): number {
  const h = c.HostConfig ?? {};
  if (h.NanoCpus && h.NanoCpus > 0) return h.NanoCpus;
  if (h.CpuQuota && h.CpuQuota > 0 && h.CpuPeriod && h.CpuPeriod > 0) {
    return Math.round((h.CpuQuota / h.CpuPeriod) * 1e9);
  }
  return 0;
}

function stateText(c: ContainerInspect): string {
  const s = c.State ?? {};
  const status = s.Status || (s.Running ? "running" : "unknown");
  const extra = status === "exited" || status === "dead" ? ` (exit code ${s.ExitCode ?? "?"})` : "";
  const err = s.Error ? `: ${s.Error}` : "";
  return `${status}${extra}${err}`;
}

/**
 * The containers a limit or setting check looks at: the running ones, or the
 * newest when none runs (a stopped container still shows its settings).
 */
function subjects(cs: ContainerInspect[]): ContainerInspect[] {
  const running = cs.filter((c) => c.State?.Running);
  return running.length > 0 ? running : cs.slice(0, 1);
}

/**
 * Passes when `ok` holds for every subject container; otherwise fails with
 * `expected`, each offending container's `actualOf`, and `hint`.
 */
function everyContainer(
  cs: ContainerInspect[],
  expected: string,
  ok: (c: ContainerInspect) => boolean,
  actualOf: (c: ContainerInspect) => string,
  hint: string,
): Result {
  const subs = subjects(cs);
  const bad = subs.filter((c) => !ok(c));
  if (bad.length === 0) {
    return pass(subs.map((c) => `${containerName(c)}: ${actualOf(c)}`).join("; "));
  }
  const actual = bad.length === 1 && subs.length === 1
    ? `${actualOf(bad[0])} (container ${containerName(bad[0])})`
    : bad.map((c) => `${containerName(c)}: ${actualOf(c)}`).join("; ");
  return fail(expected, actual, hint);
}

/** Builds the containers domain's checks for the model, with options. */
export function containersChecks(
  model: StackModel,
  _ctx?: VerifyContext,
  opts: ContainersOptions = {},
): Check[] {
  let client: DockerClient | Error | undefined = opts.client;
  const getClient = (): DockerClient | Error => {
    if (client === undefined) {
      try {
        client = new DockerClient({ dockerHost: opts.dockerHost ?? envDockerHost() });
      } catch (e) {
        client = e instanceof Error ? e : new Error(String(e));
      }
    }
    return client;
  };
  const project = model.project;
  const recreate = (s: string) =>
    `recreate it from the generated file: ${
      startCommand(model.profile).replace(/ up -d$/, ` up -d --force-recreate ${s}`)
    } (after deno task build)`;

  /** A check of one service: finds its containers, then `judge`s them. */
  const check = (
    s: ServiceModel,
    key: string,
    name: string,
    judge: Judge,
  ): Check => ({
    id: `containers.${s.name}.${key}`,
    domain: "containers",
    name: `containers: ${s.name} ${name}`,
    run: async (ctx) => {
      const local = await localRuntime(ctx.outDir);
      if (local) return skip(local);
      const c = getClient();
      if (c instanceof Error) {
        return fail(
          "a Docker engine address in DOCKER_HOST",
          c.message,
          "set DOCKER_HOST=unix:///var/run/docker.sock (or unset it)",
        );
      }
      const up = await c.reachable(ctx.signal);
      if (!up.ok) return skip(`no Docker engine at ${c.where} (${up.reason})`);
      let cs: ContainerInspect[];
      try {
        cs = await c.composeContainers(project, s.name, ctx.signal);
      } catch (e) {
        return fail(`the containers of ${s.name} from ${c.where}`, errorText(e));
      }
      if (cs.length === 0) {
        return fail(
          `a container labelled ${COMPOSE_PROJECT_LABEL}=${project}, ` +
            `${COMPOSE_SERVICE_LABEL}=${s.name}`,
          `no such container at ${c.where}`,
          `start the stack: ${startCommand(model.profile)} (or deno task up)`,
        );
      }
      return judge(cs, ctx);
    },
  });

  const checks: Check[] = [];
  for (const s of startedServices(model)) {
    checks.push(check(s, "running", "running", (cs) => {
      const running = cs.find((c) => c.State?.Running && !c.State?.Restarting);
      if (running) return pass(`${containerName(running)}: ${stateText(running)}`);
      const actual = cs.map((c) => `${containerName(c)}: ${stateText(c)}`).join("; ");
      const restarting = cs.some((c) => c.State?.Restarting);
      return fail(
        "running",
        actual,
        restarting
          ? `it keeps restarting: see docker logs ${containerName(cs[0])}`
          : `see docker logs ${containerName(cs[0])}; then start it: ` +
            `${startCommand(model.profile).replace(/ up -d$/, ` up -d ${s.name}`)}`,
      );
    }));

    const test = s.healthcheck?.test ?? [];
    if (test.length > 0 && test[0] !== "NONE") {
      checks.push(check(s, "healthy", "healthy", (cs) => {
        const running = cs.filter((c) => c.State?.Running);
        if (running.length === 0) {
          // Not applicable: the running check fails for it.
          return skip(
            `not running (${cs.map((c) => `${containerName(c)} ${stateText(c)}`).join("; ")})`,
          );
        }
        const statusOf = (c: ContainerInspect) => c.State?.Health?.Status || "";
        const actualOf = (c: ContainerInspect) => {
          const st = statusOf(c);
          if (!st || st === "none") return "no health check in the container";
          const last = c.State?.Health?.Log?.at(-1);
          const out = (last?.Output ?? "").replace(/\s+/g, " ").trim();
          return st === "unhealthy" && last
            ? `unhealthy (last check: exit ${last.ExitCode}${out ? `, ${out.slice(0, 200)}` : ""})`
            : st;
        };
        const st = running.map(statusOf);
        const hint = st.includes("starting")
          ? "its health check has not passed yet: wait (deno task verify --wait 2m)"
          : st.some((x) => !x || x === "none")
          ? `the container runs without the spec's health check: ${recreate(s.name)}`
          : `the health check ${JSON.stringify(test)} fails: see docker inspect ` +
            `--format '{{json .State.Health}}' ${containerName(running[0])}`;
        return everyContainer(
          running,
          "health status healthy",
          (c) => statusOf(c) === "healthy",
          actualOf,
          hint,
        );
      }));
    }

    if (s.resources) {
      const bytes = memoryBytes(s.resources.memory);
      checks.push(check(s, "memory", `memory limit ${s.resources.memory}`, (cs) =>
        everyContainer(
          cs,
          `HostConfig.Memory ${bytes} (${s.resources!.memory})`,
          (c) => (c.HostConfig?.Memory ?? 0) === bytes,
          (c) => {
            const m = c.HostConfig?.Memory ?? 0;
            return m > 0
              ? `HostConfig.Memory ${m} (${formatBytes(m)})`
              : "HostConfig.Memory 0 (no limit)";
          },
          `deploy.resources.limits.memory is not applied: ${recreate(s.name)}`,
        )));
      const nano = Math.round(s.resources.cpus * 1e9);
      checks.push(check(s, "cpus", `CPU limit ${s.resources.cpus}`, (cs) =>
        everyContainer(
          cs,
          `HostConfig.NanoCpus ${nano} (${s.resources!.cpus} CPUs)`,
          (c) => nanoCpusOf(c) === nano,
          (c) => {
            const n = nanoCpusOf(c);
            return n > 0
              ? `HostConfig.NanoCpus ${n} (${n / 1e9} CPUs)`
              : "HostConfig.NanoCpus 0 (no limit)";
          },
          `deploy.resources.limits.cpus is not applied: ${recreate(s.name)}`,
        )));
    }

    checks.push(check(s, "restart", `restart policy ${s.restart}`, (cs) => {
      const policy = (c: ContainerInspect) => c.HostConfig?.RestartPolicy?.Name || "no";
      return everyContainer(
        cs,
        `HostConfig.RestartPolicy.Name ${s.restart}`,
        (c) => policy(c) === s.restart,
        (c) => `HostConfig.RestartPolicy.Name ${policy(c)}`,
        `the spec says restart: ${s.restart}: ${recreate(s.name)}`,
      );
    }));

    const net = composeNetworkName(project, model.network.name);
    checks.push(check(s, "network", `on network ${net}`, (cs) => {
      const nets = (c: ContainerInspect) => Object.keys(c.NetworkSettings?.Networks ?? {}).sort();
      return everyContainer(
        cs,
        `attached to network ${net}`,
        (c) => nets(c).includes(net),
        (c) => nets(c).length ? `networks ${nets(c).join(", ")}` : "on no network",
        `other services reach ${s.name} by name on ${net}: docker network connect ${net} ` +
          `<container>, or ${recreate(s.name)}`,
      );
    }));

    for (const v of s.volumes.filter((v) => isNamedVolume(v.source))) {
      const volName = composeVolumeName(project, v.source);
      const mode = v.read_only ? "read-only" : "read-write";
      checks.push(check(s, `volume.${v.source}`, `volume ${v.source} at ${v.target}`, (cs) => {
        const at = (c: ContainerInspect) =>
          (c.Mounts ?? []).find((m) =>
            (m.Destination ?? "").replace(/\/+$/, "") ===
              v.target.replace(/\/+$/, "")
          );
        return everyContainer(
          cs,
          `volume ${volName} mounted ${mode} at ${v.target}`,
          (c) => {
            const m = at(c);
            return !!m && m.Type === "volume" && m.Name === volName &&
              (m.RW === undefined || m.RW === !v.read_only);
          },
          (c) => {
            const m = at(c);
            if (!m) {
              const vols = (c.Mounts ?? []).filter((x) => x.Type === "volume")
                .map((x) => `${x.Name} at ${x.Destination}`);
              return `nothing mounted at ${v.target}` +
                (vols.length ? ` (volumes: ${vols.join(", ")})` : "");
            }
            const what = m.Type === "volume"
              ? `volume ${m.Name}`
              : `${m.Type ?? "mount"} ${m.Source}`;
            return `${what} mounted ${m.RW === false ? "read-only" : "read-write"} at ${v.target}`;
          },
          `data must live in the stack's volume ${volName}: ${recreate(s.name)}`,
        );
      }));
    }

    const seen = new Set<string>();
    for (const p of s.ports) {
      let key = `port.${p.published}`;
      if (seen.has(key)) key = `${key}-${p.target}`;
      seen.add(key);
      const port = `${p.target}/tcp`;
      const ip = p.host_ip;
      const anyIp = (x: string | undefined) => !x || x === "0.0.0.0" || x === "::";
      const where = `${ip ? `${ip}:` : ""}${p.published}`;
      checks.push(check(s, key, `publishes ${where} → ${port}`, (cs) => {
        const bindings = (c: ContainerInspect) => c.HostConfig?.PortBindings?.[port] ?? [];
        return everyContainer(
          cs,
          `HostConfig.PortBindings["${port}"] has host port ${p.published}` +
            (ip ? ` on ${ip}` : " on every address"),
          (c) =>
            bindings(c).some((b) =>
              b.HostPort === String(p.published) &&
              (ip && !anyIp(ip) ? b.HostIp === ip : anyIp(b.HostIp))
            ),
          (c) => {
            const bs = bindings(c);
            if (bs.length === 0) {
              const others = Object.keys(c.HostConfig?.PortBindings ?? {});
              return `${port} not published` +
                (others.length ? ` (published: ${others.join(", ")})` : "");
            }
            return `${port} bound to ${
              bs.map((b) => `${b.HostIp || "0.0.0.0"}:${b.HostPort}`).join(", ")
            }`;
          },
          `the spec publishes ${where} → ${p.target}: ${recreate(s.name)}`,
        );
      }));
    }
  }
  return checks;
}

/**
 * `up` / `down` where a Docker Engine API answers: Docker Compose with the
 * generated files, then a wait until every started service is healthy.
 *
 * The API is looked for at `DOCKER_HOST`, then `/var/run/docker.sock`, then
 * the podman socket `tools/podman-setup.sh` serves. Compose is v2
 * (`docker compose`) when there is one, else v1 (`docker-compose`), which
 * differs in ways that matter here: it refuses the top-level `name:` (so it
 * reads a copy without it, and the project comes from `-p`), it checks build
 * contexts even for `down` (the copy has no `build:`; `deno task images`
 * builds), and it has no `up --wait` (so the wait is ours, for both).
 *
 * @module
 */
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { COMPOSE_FILE, COMPOSE_PRODUCTION_FILE } from "../compiler/emit/compose.ts";
import { PRODUCTION_PROFILE } from "../compiler/emit/containers.ts";
import { RuntimeError } from "./errors.ts";
import { run } from "./procs.ts";
import { ContainerApi, type ContainerSummary } from "./docker_api.ts";
import type { StackModel } from "../compiler/model.ts";
import type { Endpoints } from "../verify/targets.ts";
import { endpointsOf } from "./endpoints.ts";

/** The podman API socket of `tools/podman-setup.sh` (its default run folder). */
export const PODMAN_SOCKET = "/var/tmp/procos-podman/run/podman.sock";

/** A Docker Engine API and the Compose that talks to it. */
export interface DockerTarget {
  /** The API's address, as `DOCKER_HOST` spells it. */
  dockerHost: string;
  /** The Compose command (`["docker", "compose"]` or `["docker-compose"]`). */
  compose: string[];
  /** 2 for `docker compose`, 1 for `docker-compose` 1.x. */
  composeVersion: 1 | 2;
}

/** Where to look for a Docker Engine API, in order (`DOCKER_HOST` values). */
export function dockerHostCandidates(env: Record<string, string | undefined>): string[] {
  // tools/podman-setup.sh's folders: PROCOS_PODMAN_RUN, else PROCOS_PODMAN_DIR/run
  const run = env.PROCOS_PODMAN_RUN ??
    (env.PROCOS_PODMAN_DIR ? join(env.PROCOS_PODMAN_DIR, "run") : undefined);
  const podman = run ? join(run, "podman.sock") : PODMAN_SOCKET;
  const all = [env.DOCKER_HOST, "unix:///var/run/docker.sock", `unix://${podman}`];
  return [...new Set(all.filter((h): h is string => !!h && h.trim() !== ""))];
}

/**
 * The first Docker Engine API that answers, with a Compose to drive it;
 * undefined when none answers, when no Compose is installed, or when
 * `PROCOS_RUNTIME=local`.
 */
export async function findDocker(
  env: Record<string, string | undefined>,
): Promise<DockerTarget | undefined> {
  if (env.PROCOS_RUNTIME === "local") return undefined;
  for (const dockerHost of dockerHostCandidates(env)) {
    if (!(await new ContainerApi(dockerHost).ping())) continue;
    const childEnv = { DOCKER_HOST: dockerHost };
    if (
      (await run(["docker", "compose", "version"], { env: childEnv, timeoutMs: 20_000 })).code === 0
    ) {
      return { dockerHost, compose: ["docker", "compose"], composeVersion: 2 };
    }
    if (
      (await run(["docker-compose", "version"], { env: childEnv, timeoutMs: 20_000 })).code === 0
    ) {
      return { dockerHost, compose: ["docker-compose"], composeVersion: 1 };
    }
  }
  return undefined;
}

/** True when a Docker Engine API and a Compose are there (see {@link findDocker}). */
export async function dockerAvailable(
  env: Record<string, string | undefined> = {},
): Promise<boolean> {
  return (await findDocker(env)) !== undefined;
}

/** The `-f ... [--profile production]` arguments for an output folder and profile. */
export function composeFileArgs(outDir: string, profile: string): string[] {
  const args = ["-f", join(outDir, COMPOSE_FILE)];
  if (profile === PRODUCTION_PROFILE) {
    args.push("-f", join(outDir, COMPOSE_PRODUCTION_FILE), "--profile", PRODUCTION_PROFILE);
  }
  return args;
}

/** Where `up` keeps the copies Compose v1 reads (under the output folder). */
export const COMPOSE_V1_DIR = "runtime/compose-v1";

/**
 * The global Compose arguments for `target`: the project, and the files. For
 * v1, copies of the files without the top-level `name:` it refuses, read with
 * `--project-directory` at `outDir` so relative paths resolve as for v2.
 */
export async function composeArgs(
  target: DockerTarget,
  outDir: string,
  profile: string,
  project: string,
): Promise<string[]> {
  const files = composeFileArgs(outDir, profile);
  if (target.composeVersion === 2) return ["-p", project, ...files];
  const dir = join(outDir, COMPOSE_V1_DIR);
  await Deno.mkdir(dir, { recursive: true });
  const args = ["-p", project, "--project-directory", outDir];
  for (let i = 0; i < files.length; i++) {
    if (files[i] !== "-f") {
      if (files[i - 1] !== "-f") args.push(files[i]);
      continue;
    }
    const source = files[i + 1];
    const copy = join(dir, source.slice(source.lastIndexOf("/") + 1));
    await Deno.writeTextFile(copy, composeV1Copy(await Deno.readTextFile(source)));
    args.push("-f", copy);
  }
  return args;
}

/**
 * A Compose file as v1 reads it: without the top-level `name:` (v1 refuses
 * it), without `build:` (v1 checks every build context exists even for
 * `down`, and `up` runs with `--no-build`: `deno task images` builds), and
 * with ports in the short syntax (v1's long syntax has no `host_ip`).
 */
export function composeV1Copy(text: string): string {
  const doc = parse(text) as Record<string, unknown>;
  delete doc.name;
  for (
    const svc of Object.values((doc.services ?? {}) as Record<string, Record<string, unknown>>)
  ) {
    delete svc.build;
    if (Array.isArray(svc.ports)) svc.ports = svc.ports.map(shortPort);
  }
  // YAML 1.1 quoting, as the emitter's: v1 reads `no` unquoted as false
  return stringify(doc, { version: "1.1", lineWidth: 0 });
}

/** A long-syntax port as `[host_ip:]published:target[/protocol]`. */
function shortPort(p: unknown): unknown {
  if (typeof p !== "object" || p === null) return p;
  const { host_ip, published, target, protocol } = p as Record<string, unknown>;
  const ip = typeof host_ip === "string" && host_ip !== ""
    ? `${host_ip.includes(":") ? `[${host_ip}]` : host_ip}:`
    : "";
  const host = published === undefined ? "" : `${published}:`;
  const proto = protocol && protocol !== "tcp" ? `/${protocol}` : "";
  return `${ip}${host}${target}${proto}`;
}

/** Runs Compose with the output inherited; returns its exit code. */
async function compose(target: DockerTarget, args: string[]): Promise<number> {
  const [cmd, ...pre] = target.compose;
  const child = new Deno.Command(cmd, {
    args: [...pre, ...args],
    env: { DOCKER_HOST: target.dockerHost },
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return (await child.status).code;
}

/** Options of {@link composeUp}. */
export interface ComposeUpOptions {
  /** Only these services (and what they depend on); default every one. */
  services?: string[];
  /** How long to wait for health, in ms (default 30 minutes: a first model pull). */
  timeoutMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** `compose up -d --no-build`, then waits until the started services are healthy. */
export async function composeUp(
  target: DockerTarget,
  outDir: string,
  profile: string,
  project: string,
  opts: ComposeUpOptions = {},
): Promise<string[]> {
  const global = await composeArgs(target, outDir, profile, project);
  const args = [...global, "up", "-d", "--no-build", ...(opts.services ?? [])];
  const code = await compose(target, args);
  if (code !== 0) {
    throw new RuntimeError(
      `${target.compose.join(" ")} up failed (exit ${code}); see its output above; ` +
        `build the images first (deno task images), then see ` +
        `\`${target.compose.join(" ")} ${global.join(" ")} logs\``,
    );
  }
  await waitHealthy(new ContainerApi(target.dockerHost), project, {
    timeoutMs: opts.timeoutMs ?? 30 * 60_000,
    log: opts.log,
  });
  return args;
}

/** `compose down` (`-v` with purge: removes the named volumes too). */
export async function composeDown(
  target: DockerTarget,
  outDir: string,
  profile: string,
  project: string,
  purge: boolean,
): Promise<string[]> {
  const global = await composeArgs(target, outDir, profile, project);
  const args = [...global, "down", ...(purge ? ["-v"] : [])];
  const code = await compose(target, args);
  if (code !== 0) {
    throw new RuntimeError(`${target.compose.join(" ")} down failed (exit ${code})`);
  }
  return args;
}

/**
 * Where verify reaches a Compose stack from the host: the infrastructure on
 * the ports the model publishes, and each worker's health port (which is not
 * published) at its container's address on the project's network. Container
 * addresses are routable from a Linux host (Docker, rootful podman); on
 * Docker Desktop run verify inside the network instead (`--target network`).
 */
export async function composeEndpoints(
  api: ContainerApi,
  model: StackModel,
): Promise<Endpoints> {
  const base = endpointsOf(model);
  const network = `${model.project}_${model.network.name}`;
  const cs = await api.projectContainers(model.project);
  const workers: Record<string, { url: string }> = {};
  for (const w of model.workers) {
    const c = cs.find((c) => c.service === w.name && c.status === "running");
    const ip = c?.addresses[network];
    if (ip) workers[w.name] = { url: `http://${ip}:${w.healthPort}` };
  }
  return { ...base, workers };
}

/** What one container's state means for `up`. */
export function judgeContainer(c: ContainerSummary): "ready" | "waiting" | "failed" {
  if (c.oneShot) return c.status === "exited" ? (c.exitCode === 0 ? "ready" : "failed") : "waiting";
  if (c.health === "unhealthy") return "failed";
  if (c.status !== "running") return c.restarting ? "waiting" : "failed";
  return c.health === undefined || c.health === "healthy" ? "ready" : "waiting";
}

/**
 * Waits until every container of `project` is ready: running and healthy
 * (or running, without a health check), and each one-shot job exited 0.
 * Throws, naming the container and what to look at, when one fails or the
 * time is up.
 */
export async function waitHealthy(
  api: ContainerApi,
  project: string,
  opts: { timeoutMs: number; log?: (line: string) => void; pollMs?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = "";
  while (true) {
    const cs = await api.projectContainers(project);
    const judged = cs.map((c) => ({ c, state: judgeContainer(c) }));
    const failed = judged.find((j) => j.state === "failed");
    if (failed) {
      const c = failed.c;
      throw new RuntimeError(
        `container ${c.name} (service ${c.service}) is ${c.health ?? c.status}` +
          (c.status === "exited" ? ` (exit ${c.exitCode})` : "") +
          `; see \`docker logs ${c.name}\``,
      );
    }
    const waiting = judged.filter((j) => j.state === "waiting").map((j) => j.c.service).sort();
    if (cs.length > 0 && waiting.length === 0) return;
    const now = waiting.join(", ");
    if (now !== last) opts.log?.(`waiting for ${now || "containers"}`);
    last = now;
    if (Date.now() > deadline) {
      throw new RuntimeError(
        `not healthy after ${Math.round(opts.timeoutMs / 1000)} s: ${now}; ` +
          `see \`docker ps\` and each one's \`docker logs\``,
      );
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 2000));
  }
}

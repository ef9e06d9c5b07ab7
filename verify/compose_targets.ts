/**
 * Where verify reaches the workers of a stack that `deno task up` started
 * with Compose. Workers publish no port, so `up` records each worker's
 * container address on the project network in `out/runtime/endpoints.json`;
 * a container that was stopped and started since may have another one. This
 * asks the Docker API for the current addresses, at every verify run.
 *
 * @module
 */
import type { StackModel } from "../compiler/model.ts";
import { readState } from "../runtime/state.ts";
import { DockerClient } from "./clients/docker.ts";
import { composeNetworkName } from "./checks/containers.ts";
import type { Targets } from "./targets.ts";

/**
 * `targets` with each worker's URL at its running container's current address,
 * when `outDir`'s state says Compose started the stack and the workers' URLs
 * came from `endpoints.json` (flags and the environment are left alone).
 * Unchanged when no Docker API answers: the workers checks then say why.
 */
export async function refreshComposeWorkers(
  model: StackModel,
  targets: Targets,
  outDir: string,
  dockerHost: string | undefined,
): Promise<Targets> {
  const state = await readState(outDir).catch(() => undefined);
  if (state?.engine !== "compose" || !targets.sources.workers.endsWith("endpoints.json")) {
    return targets;
  }
  const client = new DockerClient({ dockerHost });
  if (!(await client.reachable()).ok) return targets;
  const network = composeNetworkName(model.project, model.network.name);
  const workers = { ...targets.workers };
  for (const w of model.workers) {
    const [c] = await client.composeContainers(model.project, w.name).catch(() => []);
    const nets = (c?.NetworkSettings?.Networks ?? {}) as Record<string, { IPAddress?: string }>;
    const ip = nets[network]?.IPAddress;
    if (c?.State?.Running && ip) workers[w.name] = { url: `http://${ip}:${w.healthPort}` };
  }
  return { ...targets, workers };
}

/**
 * `out/runtime/endpoints.json`: where the runtime put each service, as
 * reached from the host, in the format `verify/targets.ts` reads
 * ({@link Endpoints}).
 *
 * @module
 */
import type { StackModel } from "../compiler/model.ts";
import type { Endpoints } from "../verify/targets.ts";
import { runtimeDir, writeFileAtomic } from "./state.ts";

/** The endpoints of a host-addressed model. */
export function endpointsOf(model: StackModel): Endpoints {
  const u = (h: string) => (h.includes(":") ? `[${h}]` : h);
  return {
    postgres: { host: model.postgres.host, port: model.postgres.port },
    redis: { host: model.redis.host, port: model.redis.port },
    rabbitmq: {
      host: model.rabbitmq.host,
      port: model.rabbitmq.port,
      managementPort: model.rabbitmq.managementPort,
    },
    camunda: { url: `http://${u(model.camunda.host)}:${model.camunda.port}` },
    ollama: { url: `http://${u(model.ollama.host)}:${model.ollama.port}` },
    // the local runtime runs each worker on the host, its health endpoint on 127.0.0.1
    workers: Object.fromEntries(
      model.workers.map((w) => [w.name, { url: `http://127.0.0.1:${w.healthPort}` }]),
    ),
  };
}

/** The file's path. */
export function endpointsFile(outDir: string): string {
  return `${runtimeDir(outDir)}/endpoints.json`;
}

/** Writes `endpoints.json`: `endpoints`, or those of a host-addressed model. */
export async function writeEndpoints(
  outDir: string,
  model: StackModel,
  endpoints: Endpoints = endpointsOf(model),
): Promise<void> {
  await Deno.mkdir(runtimeDir(outDir), { recursive: true });
  await writeFileAtomic(endpointsFile(outDir), JSON.stringify(endpoints, null, 2) + "\n");
}

/** Removes it (no error when missing). */
export async function removeEndpoints(outDir: string): Promise<void> {
  await Deno.remove(endpointsFile(outDir)).catch(() => {});
}

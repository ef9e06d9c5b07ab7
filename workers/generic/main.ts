/**
 * The ProcOS generic worker: serves the generic topics of its manifest with
 * the built-in task types `http`, `sql`, `publish`, `redis` and `noop`
 * (`handlers.ts` lists their variables). Same failure rules as every worker
 * (`workers/lib/runner.ts`).
 *
 * Run: `deno run -A workers/generic/main.ts` with `PROCOS_MANIFEST` naming
 * the manifest (`out/workers/generic-worker.json`) and the env file's
 * variables.
 *
 * @module
 */
import type { GenericWorkerManifest } from "../../compiler/worker_manifest.ts";
import { runTaskWorker } from "../lib/worker.ts";
import { genericTopicHandler } from "./handlers.ts";

/** Starts the generic worker. */
export async function main(): Promise<void> {
  await runTaskWorker<GenericWorkerManifest>({
    kind: "generic",
    needsDatabase: false,
    topics: ({ manifest, sql, cache, publisher }) =>
      manifest.topics.map((t) =>
        genericTopicHandler(t, { sql, cache, publisher, eventsExchange: manifest.events.exchange })
      ),
  });
}

if (import.meta.main) await main();

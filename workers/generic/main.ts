/**
 * The ProcOS generic worker: serves the generic topics of its manifest with
 * the built-in task types `http`, `sql`, `publish`, `redis` and `noop`
 * (`handlers.ts` lists their variables). Same failure rules as every worker
 * (`workers/lib/runner.ts`).
 *
 * Run: `deno run -A workers/generic/main.ts` with `PROCOS_MANIFEST` naming
 * the manifest (`out/workers/generic-worker.json`) and the env file's
 * variables. `PROCOS_ARCHIVE_PATH` overrides the manifest's
 * `retentionExport.path` (the local runtime's `<out>/runtime/archive`).
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
    topics: ({ manifest, sql, cache, publisher }) => {
      const ex = manifest.retentionExport;
      const archiveDir = ex?.enabled ? Deno.env.get("PROCOS_ARCHIVE_PATH") || ex.path : undefined;
      return manifest.topics.map((t) =>
        genericTopicHandler(t, {
          sql,
          cache,
          publisher,
          eventsExchange: manifest.events.exchange,
          archiveDir,
        })
      );
    },
  });
}

if (import.meta.main) await main();

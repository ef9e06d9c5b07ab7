/**
 * Exports the worker manifest's zod schema (`compiler/worker_manifest.ts`) to
 * `schema/worker-manifest.schema.json`. Deterministic: the same zod schema
 * always gives the same bytes.
 *
 * Run: `deno run --allow-write compiler/export_worker_schema.ts`
 *
 * @module
 */
import { workerManifestJsonSchema } from "./worker_manifest.ts";

/** Where the exported schema is committed, relative to the repository root. */
export const WORKER_SCHEMA_PATH = "schema/worker-manifest.schema.json";

/** The exported schema's text: 2-space JSON with a final newline. */
export function workerSchemaText(): string {
  return JSON.stringify(workerManifestJsonSchema(), null, 2) + "\n";
}

if (import.meta.main) {
  const target = new URL(`../${WORKER_SCHEMA_PATH}`, import.meta.url);
  await Deno.writeTextFile(target, workerSchemaText());
  console.log(`wrote ${WORKER_SCHEMA_PATH}`);
}

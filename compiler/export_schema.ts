/**
 * Writes `schema/procos.schema.json`, the JSON Schema of `procos.config.yaml`
 * exported from the zod schema (`compiler/schema.ts`), for editors (the spec
 * names it in its `yaml-language-server` comment) and other tools. Never
 * edit the JSON by hand: run `deno task schema`.
 *
 * The output is deterministic (formatted JSON, trailing newline), so the
 * committed file can be compared with a fresh export in the tests.
 *
 * @module
 */
import { z } from "zod";
import { SpecFile } from "./schema.ts";

/** Where the schema is written, relative to the repository root. */
export const SCHEMA_PATH = "schema/procos.schema.json";

/** The schema's `$id`. */
export const SCHEMA_ID = "https://procos.dev/schema/procos.schema.json";

/** The JSON Schema (draft 2020-12) of a spec file as written (input types). */
export function specJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(SpecFile, {
    io: "input",
    target: "draft-2020-12",
    unrepresentable: "throw",
  }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: SCHEMA_ID,
    title: "ProcOS spec (procos.config.yaml)",
    description:
      "The declarative description of a ProcOS stack: services, messaging, AI, processes, workers and profiles. Generated from compiler/schema.ts by `deno task schema`; do not edit.",
    ...rest,
  };
}

/** The schema file's exact text: 2-space JSON with a trailing newline. */
export function specJsonSchemaText(): string {
  return `${JSON.stringify(specJsonSchema(), null, 2)}\n`;
}

if (import.meta.main) {
  const root = new URL("../", import.meta.url);
  const target = new URL(SCHEMA_PATH, root);
  await Deno.mkdir(new URL("schema/", root), { recursive: true });
  await Deno.writeTextFile(target, specJsonSchemaText());
  console.log(`wrote ${SCHEMA_PATH}`);
}

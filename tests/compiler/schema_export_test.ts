/**
 * The exported JSON Schema: the committed file is exactly a fresh export,
 * and ajv with it accepts and rejects exactly the documents zod's SpecFile
 * does (the reference, structurally bad specs, a few hundred mutations).
 *
 * The comparison is over JSON documents (what a JSON Schema validator can
 * see): values are passed through JSON, so YAML-only values such as `.inf`
 * are out of scope.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { Ajv2020 } from "ajv/dist/2020.js";
import { SpecFile } from "../../compiler/schema.ts";
import { SCHEMA_PATH, specJsonSchemaText } from "../../compiler/export_schema.ts";
import { mutate, toYaml } from "./mutate.ts";
import { BASE_URL, STRUCTURAL_EDITS } from "./bad_specs.ts";

const ROOT = new URL("../../", import.meta.url);
const MUTATIONS = 400;

/** Round-trips a value the way a spec file does (YAML), then through JSON. */
function asJsonDocument(value: unknown): unknown {
  return JSON.parse(JSON.stringify(parse(toYaml(value)) ?? null));
}

Deno.test("schema export", async (t) => {
  const committed = await Deno.readTextFile(new URL(SCHEMA_PATH, ROOT));
  const schema = JSON.parse(committed);

  await t.step("the committed schema is a fresh export (run `deno task schema`)", () => {
    assert.equal(committed, specJsonSchemaText());
  });

  await t.step("it has an $id, a title and draft 2020-12", () => {
    assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
    assert.equal(typeof schema.$id, "string");
    assert.equal(typeof schema.title, "string");
  });

  // Formats are checked by the `pattern` zod exports next to them.
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: false });
  const ajvValidate = ajv.compile(schema);
  const agree = (name: string, doc: unknown) => {
    const byZod = SpecFile.safeParse(doc).success;
    const byAjv = ajvValidate(doc) as boolean;
    assert.equal(
      byAjv,
      byZod,
      `${name}: zod ${byZod ? "accepts" : "rejects"} it, ajv ${byAjv ? "accepts" : "rejects"} it` +
        (byAjv ? "" : `\n${JSON.stringify(ajvValidate.errors?.slice(0, 3))}`),
    );
    return byZod;
  };

  const referenceText = await Deno.readTextFile(new URL("procos.config.yaml", ROOT));
  const reference = parse(referenceText);

  await t.step("ajv and zod both accept the reference spec", () => {
    assert.equal(agree("reference", asJsonDocument(reference)), true);
  });

  await t.step("ajv and zod both reject every structurally bad spec", () => {
    const base = Deno.readTextFileSync(BASE_URL);
    assert.ok(Object.keys(STRUCTURAL_EDITS).length >= 10);
    for (const [name, edit] of Object.entries(STRUCTURAL_EDITS)) {
      const doc = asJsonDocument(parse(edit(base)));
      assert.equal(agree(name, doc), false, `${name} should be rejected`);
    }
  });

  await t.step(`ajv and zod agree on ${MUTATIONS} mutated specs`, () => {
    let accepted = 0;
    for (let seed = 1; seed <= MUTATIONS; seed++) {
      const m = mutate(reference, 50_000 + seed, { jsonOnly: true, count: 1 + (seed % 2) });
      if (agree(`seed ${50_000 + seed}: ${m.mutations.join("; ")}`, asJsonDocument(m.value))) {
        accepted++;
      }
    }
    // Both outcomes must be exercised for the agreement to mean something.
    assert.ok(accepted > 5 && accepted < MUTATIONS - 5, `accepted ${accepted} of ${MUTATIONS}`);
  });
});

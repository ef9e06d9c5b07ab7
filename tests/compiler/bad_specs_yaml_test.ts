/**
 * The YAML loader's bad specs (`bad_specs_yaml.ts`): each gives exactly its
 * diagnostics, and none shows a secret's value.
 */
import assert from "node:assert/strict";
import { runBadSpec, STRONG_ENV } from "./bad_specs.ts";
import { YAML_BAD_SPECS } from "./bad_specs_yaml.ts";

Deno.test("bad specs of the YAML loader: exact diagnostics", async (t) => {
  assert.equal(new Set(YAML_BAD_SPECS.map((b) => b.name)).size, YAML_BAD_SPECS.length);
  const root = await Deno.makeTempDir({ prefix: "procos-bad-yaml-" });
  try {
    for (const b of YAML_BAD_SPECS) {
      await t.step(b.name, async () => {
        assert.deepEqual(await runBadSpec(b, root), b.expected);
      });
    }
    await t.step("no diagnostic shows a secret's value", () => {
      for (const b of YAML_BAD_SPECS) {
        const text = b.expected.join("\n");
        for (const secret of [...Object.values(STRONG_ENV), "procos123", "hunter2"]) {
          assert.ok(!text.includes(secret), `${b.name} shows a secret`);
        }
      }
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/**
 * Bad values: each case of `bad_values.ts` gives exactly its diagnostics,
 * every one located, all in one run.
 */
import assert from "node:assert/strict";
import { runBadSpec } from "./bad_specs.ts";
import { BAD_VALUES } from "./bad_values.ts";

Deno.test("bad values: what each consumer refuses is a located diagnostic", async (t) => {
  assert.equal(new Set(BAD_VALUES.map((b) => b.name)).size, BAD_VALUES.length, "duplicate names");
  const root = await Deno.makeTempDir({ prefix: "procos-bad-values-" });
  try {
    for (const b of BAD_VALUES) {
      await t.step(b.name, async () => {
        assert.deepEqual(await runBadSpec(b, root), b.expected);
      });
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

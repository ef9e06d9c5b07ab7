/**
 * Golden files: every artifact of the reference spec, for each profile,
 * compared byte for byte with `tests/fixtures/golden/<profile>/`. Production
 * is built with the fixed test secrets of `tests/helpers/build.ts`.
 *
 * After an intended change to any emitter (or to the reference spec), rewrite
 * them and review the diff:
 *
 *     UPDATE_GOLDEN=1 deno test -A tests/compiler/golden_test.ts
 *
 * @module
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "../../compiler/compile.ts";
import { PROFILES } from "../../compiler/schema.ts";
import { listTree, referenceSpec, TEST_SECRETS } from "../helpers/build.ts";

const GOLDEN = fileURLToPath(new URL("../fixtures/golden/", import.meta.url));
const UPDATE = Deno.env.get("UPDATE_GOLDEN") === "1";
const HOW = "if the change is intended, run UPDATE_GOLDEN=1 deno test -A " +
  "tests/compiler/golden_test.ts and review the diff";

for (const profile of PROFILES) {
  Deno.test(`golden: ${profile}`, async () => {
    const env = profile === "production" ? { ...TEST_SECRETS } : {};
    const { artifacts } = await compile(referenceSpec(), { profile, env });
    const dir = join(GOLDEN, profile);
    if (UPDATE) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      for (const a of artifacts) {
        const file = join(dir, ...a.path.split("/"));
        await Deno.mkdir(dirname(file), { recursive: true });
        await Deno.writeTextFile(file, a.content);
      }
      console.log(`golden: rewrote ${artifacts.length} files in ${dir}`);
      return;
    }
    let golden: string[];
    try {
      golden = await listTree(dir);
    } catch {
      throw new Error(`no golden files in ${dir}; ${HOW}`);
    }
    const produced = artifacts.map((a) => a.path).sort();
    assert.deepEqual(produced, golden, `the set of artifacts changed; ${HOW}`);
    for (const a of artifacts) {
      const want = await Deno.readTextFile(join(dir, ...a.path.split("/")));
      assert.equal(a.content, want, `${profile}/${a.path} differs from its golden file; ${HOW}`);
    }
  });
}

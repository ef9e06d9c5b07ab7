/**
 * Fuzz: seeded mutations of the reference spec must each end in a loaded
 * spec (both profiles) or a SpecError whose diagnostics are all located and
 * say something, never in any other exception, never with a secret value.
 *
 * `PROCOS_FUZZ_CASES` (default 1000) cases; `PROCOS_FUZZ_SEED` (default 1)
 * is the seed of case 0, case i uses seed + i. A failure prints the seed and
 * the mutations; rerun one case with `PROCOS_FUZZ_SEED=<seed>
 * PROCOS_FUZZ_CASES=1`.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { loadSpec } from "../../compiler/load_spec.ts";
import { SpecError } from "../../compiler/diagnostics.ts";
import { PROFILES } from "../../compiler/schema.ts";
import { mutate, mutateText, toYaml } from "./mutate.ts";

const ROOT = new URL("../../", import.meta.url);
const CASES = Number(Deno.env.get("PROCOS_FUZZ_CASES") ?? "1000");
const SEED = Number(Deno.env.get("PROCOS_FUZZ_SEED") ?? "1");

/** Production-grade secrets, so the reference passes production too. */
const ENV = {
  PROCOS_POSTGRES_PASSWORD: "fuzz-secret-pg-9f1c",
  PROCOS_POSTGRES_SUPERUSER_PASSWORD: "su-Secret-3d4e5f",
  PROCOS_RABBITMQ_PASSWORD: "fuzz-secret-mq-27ab",
  PROCOS_REDIS_PASSWORD: "fuzz-secret-rd-c0de",
  PROCOS_CAMUNDA_ADMIN_PASSWORD: "fuzz-secret-ca-51e7",
};

Deno.test("fuzz: mutated specs load or fail with located diagnostics", async (t) => {
  const referenceText = await Deno.readTextFile(new URL("procos.config.yaml", ROOT));
  const reference = parse(referenceText);
  const dir = await Deno.makeTempDir({ prefix: "procos-fuzz-" });
  try {
    await Deno.mkdir(`${dir}/processes`);
    for await (const e of Deno.readDir(new URL("processes/", ROOT))) {
      if (e.name.endsWith(".bpmn")) {
        await Deno.copyFile(new URL(`processes/${e.name}`, ROOT), `${dir}/processes/${e.name}`);
      }
    }

    await t.step("the unmutated reference loads in every profile", async () => {
      const file = `${dir}/reference.yaml`;
      await Deno.writeTextFile(file, toYaml(reference));
      for (const profile of PROFILES) await loadSpec(file, { profile, env: ENV });
    });

    await t.step(`${CASES} mutated cases from seed ${SEED}`, async () => {
      const started = performance.now();
      let loaded = 0;
      let refused = 0;
      for (let i = 0; i < CASES; i++) {
        const seed = SEED + i;
        let text: string;
        let mutations: string[];
        if (seed % 10 === 0) {
          ({ text, mutations } = mutateText(referenceText, seed));
        } else {
          const m = mutate(reference, seed);
          text = toYaml(m.value);
          mutations = m.mutations;
        }
        const file = `${dir}/case-${i % 8}.yaml`;
        await Deno.writeTextFile(file, text);
        const lines = text.split("\n").length;
        for (const profile of PROFILES) {
          const context = `seed ${seed} (profile ${profile}): ${mutations.join("; ")}`;
          try {
            await loadSpec(file, { profile, env: ENV });
            loaded++;
          } catch (e) {
            if (!(e instanceof SpecError)) {
              throw new Error(`${context}\nthrew ${e instanceof Error ? e.stack : String(e)}`);
            }
            refused++;
            assert.ok(e.diagnostics.length > 0, `${context}: a SpecError with no diagnostics`);
            for (const d of e.diagnostics) {
              const where: string = `${context}\n  ${e.message.split("\n").join("\n  ")}`;
              assert.ok(Number.isInteger(d.line) && d.line >= 1, `line < 1: ${where}`);
              assert.ok(d.line <= lines + 1, `line past the end: ${where}`);
              assert.ok(Number.isInteger(d.column) && d.column >= 1, `column < 1: ${where}`);
              assert.ok(d.path.length > 0 || d.message.length > 0, `empty diagnostic: ${where}`);
              assert.ok(d.message.length > 0, `empty message: ${where}`);
              assert.ok(!d.message.startsWith("internal compiler error"), `bug: ${where}`);
              for (const secret of Object.values(ENV)) {
                assert.ok(!e.message.includes(secret), `a secret value leaked: ${where}`);
              }
            }
          }
        }
      }
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `fuzz: ${CASES} cases, ${loaded} loads, ${refused} refusals, in ${seconds.toFixed(1)} s`,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

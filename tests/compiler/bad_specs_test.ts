/**
 * Bad specs: each fault of `bad_specs.ts` gives exactly its diagnostics
 * (file:line:column, key path, message, expected, hint), all at once; plus
 * the faults of the file itself (too big, missing, a folder).
 */
import assert from "node:assert/strict";
import { loadSpec } from "../../compiler/load_spec.ts";
import { type Diagnostic, formatDiagnostic, SpecError } from "../../compiler/diagnostics.ts";
import { MAX_SPEC_BYTES } from "../../compiler/load.ts";
import { BAD_SPECS, BASE_URL, PROCESSES_URL, runBadSpec, STRONG_ENV } from "./bad_specs.ts";

/** Runs `fn`, which must throw a SpecError; returns its diagnostics. */
async function specErrorOf(fn: () => Promise<unknown>): Promise<Diagnostic[]> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof SpecError, `expected a SpecError, got ${String(e)}`);
    return e.diagnostics;
  }
  throw new assert.AssertionError({ message: "expected a SpecError, but the spec loaded" });
}

Deno.test("bad specs: exact diagnostics", async (t) => {
  assert.ok(BAD_SPECS.length >= 30, `only ${BAD_SPECS.length} bad specs`);
  assert.equal(new Set(BAD_SPECS.map((b) => b.name)).size, BAD_SPECS.length, "duplicate names");
  const root = await Deno.makeTempDir({ prefix: "procos-bad-" });
  try {
    await t.step("the frozen base itself loads in both profiles", async () => {
      const dir = `${root}/base`;
      await Deno.mkdir(dir);
      const file = `${dir}/procos.yaml`;
      await Deno.copyFile(BASE_URL, file);
      await Deno.symlink(new URL(".", PROCESSES_URL).pathname, `${dir}/processes`);
      await loadSpec(file, { profile: "development", env: {} });
      await loadSpec(file, { profile: "production", env: { ...STRONG_ENV } });
    });

    for (const b of BAD_SPECS) {
      await t.step(b.name, async () => {
        assert.deepEqual(await runBadSpec(b, root), b.expected);
      });
    }

    await t.step("a 50 MB file is refused from its size, quickly", async () => {
      const file = `${root}/huge.yaml`;
      const mib = new TextEncoder().encode("# padding\n".repeat(110_000)).slice(0, 1024 * 1024);
      const f = await Deno.open(file, { write: true, create: true });
      try {
        for (let n = 0; n < 50; n++) await f.write(mib);
      } finally {
        f.close();
      }
      const started = performance.now();
      const ds = await specErrorOf(() => loadSpec(file, { profile: "development" }));
      const ms = performance.now() - started;
      await Deno.remove(file);
      assert.deepEqual(ds.map(formatDiagnostic), [
        `${file}:1:1: error: (root): the file is 50 MB, over the 10 MB limit for a spec ` +
        "(hint: check that this is the spec file; a ProcOS spec is a few kilobytes)",
      ]);
      assert.ok(ms < 500, `took ${ms.toFixed(0)} ms`);
      assert.equal(MAX_SPEC_BYTES, 10 * 1024 * 1024);
    });

    await t.step("a missing file is a SpecError with a hint", async () => {
      const file = `${root}/nope/procos.yaml`;
      const ds = await specErrorOf(() => loadSpec(file, { profile: "development" }));
      assert.deepEqual(ds.map(formatDiagnostic), [
        `${file}:1:1: error: (root): the spec file does not exist ` +
        `(hint: check the path; relative paths start from ${Deno.cwd()})`,
      ]);
    });

    await t.step("a folder is a SpecError with a hint", async () => {
      const ds = await specErrorOf(() => loadSpec(root, { profile: "development" }));
      assert.deepEqual(ds.map(formatDiagnostic), [
        `${root}:1:1: error: (root): this is a directory, not a spec file ` +
        "(hint: pass the spec file itself, e.g. procos.config.yaml)",
      ]);
    });

    await t.step("an unknown profile is a SpecError", async () => {
      const ds = await specErrorOf(() =>
        loadSpec(BASE_URL.pathname, { profile: "staging" as "production" })
      );
      assert.deepEqual(ds.map(formatDiagnostic), [
        `${BASE_URL.pathname}:1:1: error: (root): unknown profile "staging"; ` +
        "expected one of: development, production",
      ]);
    });

    await t.step("no diagnostic ever shows a secret's value", () => {
      for (const b of BAD_SPECS) {
        const text = b.expected.join("\n");
        for (const secret of [...Object.values(STRONG_ENV), "procos123"]) {
          assert.ok(!text.includes(secret), `${b.name} shows a secret`);
        }
      }
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

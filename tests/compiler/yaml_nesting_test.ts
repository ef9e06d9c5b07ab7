/**
 * The nesting limit: exactly {@link MAX_NESTING_DEPTH} levels load, one more
 * is refused at the collection one level too deep, whether written out, by
 * brackets, or made by an alias; and a duplicate key next to a merge is still
 * a duplicate.
 */
import assert from "node:assert/strict";
import { MAX_NESTING_DEPTH, parseSpecBytes } from "../../compiler/load.ts";
import { formatDiagnostic, SpecError } from "../../compiler/diagnostics.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** The formatted diagnostics of a text that must be refused. */
function refusal(text: string): string[] {
  try {
    parseSpecBytes("t.yaml", enc(text));
  } catch (e) {
    assert.ok(e instanceof SpecError, String(e));
    return e.diagnostics.map(formatDiagnostic);
  }
  throw new assert.AssertionError({ message: "expected a SpecError" });
}

Deno.test("nesting: the limit itself loads, one more level is located", () => {
  assert.equal(MAX_NESTING_DEPTH, 64);
  // The top-level mapping is level 1, so `a` holds 63 more.
  const ok = `a: ${"[".repeat(63)}${"]".repeat(63)}\n`;
  assert.ok(parseSpecBytes("t.yaml", enc(ok)));
  const [d] = refusal(`a: ${"[".repeat(64)}${"]".repeat(64)}\n`);
  assert.match(
    d,
    /^t\.yaml:1:67: error: a(\[0\]){63}: the nesting is too deep: more than 64 levels/,
  );
});

Deno.test("nesting: an alias that makes it too deep is located at the alias", () => {
  const text = `x: &x ${"[".repeat(40)}${"]".repeat(40)}\ny: ${"[".repeat(30)}*x${
    "]".repeat(30)
  }\n`;
  assert.deepEqual(refusal(text), [
    `t.yaml:2:34: error: y${"[0]".repeat(30)}: the nesting is too deep: with what *x stands for, ` +
    "more than 64 levels of mappings and lists (each merge counted as one) " +
    "(hint: nest the anchored value less, or write it out)",
  ]);
});

Deno.test("merge keys: a chain of merges loads; a duplicate next to a merge is one", () => {
  const chain = ["m0: &m0 {x: 1}", "m1: &m1 {<<: *m0, y: 2}", "m2: &m2 {<<: *m1, z: 3}"];
  const loaded = parseSpecBytes("t.yaml", enc(`${chain.join("\n")}\nm3: {<<: *m2, x: 0}\n`));
  assert.deepEqual((loaded.value as Record<string, unknown>).m3, { x: 0, y: 2, z: 3 });
  assert.deepEqual(refusal("a: &a {x: 1}\nb:\n  <<: *a\n  x: 2\n  x: 3\n"), [
    "t.yaml:5:3: error: b.x: duplicate key `x` " +
    "(hint: remove one of them, or rename it: keys must be unique in a mapping)",
  ]);
});

/**
 * YAML merge keys: a spec written with `<<` compiles exactly as the same
 * spec written out, in both profiles; merged values are located where they
 * are written, in YAML 1.1's merge order.
 */
import assert from "node:assert/strict";
import { compile } from "../../compiler/compile.ts";
import { parseSpecBytes } from "../../compiler/load.ts";
import { BASE_URL, edit, PROCESSES_URL, STRONG_ENV } from "./bad_specs.ts";

/** The frozen reference with its repeated blocks merged from anchors. */
const MERGED = edit(
  [
    "    healthcheck:\n      interval: 30s\n      timeout: 10s\n      retries: 3\n      start_period: 10s\n",
    "    healthcheck: &fast\n      interval: 30s\n      timeout: 10s\n      retries: 3\n      start_period: 10s\n",
  ],
  [
    "    resources:\n      cpus: 0.5\n      memory: 512m\n    restart: unless-stopped\n    cache:",
    "    resources: &small\n      cpus: 0.5\n      memory: 512m\n    restart: unless-stopped\n    cache:",
  ],
  [
    // A key written locally wins over the merged one (and is no duplicate).
    "    healthcheck:\n      interval: 30s\n      timeout: 10s\n      retries: 5\n      start_period: 60s\n    resources:\n      cpus: 0.5\n      memory: 512m\n",
    "    healthcheck:\n      <<: *fast\n      retries: 5\n      start_period: 60s\n    resources:\n      <<: *small\n",
  ],
  [
    // In a list, the first mapping wins.
    "    healthcheck:\n      interval: 30s\n      timeout: 10s\n      retries: 5\n      start_period: 60s\n    resources:\n      cpus: 2\n",
    "    healthcheck:\n      <<: [{retries: 5, start_period: 60s}, *fast]\n    resources:\n      cpus: 2\n",
  ],
);

Deno.test("a spec with merge keys compiles as the spec written out", async () => {
  const dir = await Deno.makeTempDir({ prefix: "procos-merge-" });
  try {
    const base = await Deno.readTextFile(BASE_URL);
    const merged = MERGED(base);
    assert.equal(merged.split("<<:").length - 1, 3);
    // the same file name in two folders (the verify container's command names the file)
    for (const [sub, text] of [["written", base], ["merged", merged]]) {
      await Deno.mkdir(`${dir}/${sub}`);
      await Deno.symlink(new URL(".", PROCESSES_URL).pathname, `${dir}/${sub}/processes`);
      await Deno.writeTextFile(`${dir}/${sub}/procos.yaml`, text);
    }
    for (const profile of ["development", "production"] as const) {
      const env = { ...STRONG_ENV };
      const a = await compile(`${dir}/written/procos.yaml`, { profile, env });
      const b = await compile(`${dir}/merged/procos.yaml`, { profile, env });
      assert.notEqual(a.model.specHash, b.model.specHash);
      // The files differ, so their hashes do; everything else is the same.
      const same = (s: string) => s.replaceAll(b.model.specHash, a.model.specHash);
      assert.deepEqual({ ...b.model, specHash: a.model.specHash }, a.model, profile);
      assert.deepEqual(b.artifacts.map((x) => x.path), a.artifacts.map((x) => x.path));
      for (const [i, x] of b.artifacts.entries()) {
        const y = a.artifacts[i];
        // The manifest holds the sha256 of the files that hold the spec's.
        if (x.path === "manifest.json") continue;
        assert.equal(same(x.content), y.content, `${profile}: ${x.path}`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("merged values are located where they are written, in merge order", () => {
  const text = [
    "a: &a {x: 1, y: 2}", // line 1
    "b: &b",
    "  y: 20",
    "  z: 30",
    "m: &m",
    "  <<: [*a, *b]",
    "  x: 10",
    "n:",
    "  <<: *m",
    "  w: 0",
  ].join("\n") + "\n";
  const loaded = parseSpecBytes("m.yaml", new TextEncoder().encode(text));
  const value = loaded.value as Record<string, unknown>;
  assert.deepEqual(value.m, { x: 10, y: 2, z: 30 });
  assert.deepEqual(value.n, { x: 10, y: 2, z: 30, w: 0 });
  const at = (path: string[]) => loaded.locate(path, "value");
  assert.deepEqual(at(["m", "x"]), { line: 7, column: 6 }); // local wins
  assert.deepEqual(at(["m", "y"]), { line: 1, column: 17 }); // first in the list wins
  assert.deepEqual(at(["m", "z"]), { line: 4, column: 6 });
  assert.deepEqual(at(["n", "x"]), { line: 7, column: 6 }); // through two merges
  assert.deepEqual(at(["n", "z"]), { line: 4, column: 6 });
  assert.deepEqual(loaded.locate(["n", "y"]), { line: 1, column: 14 }); // the key
  assert.equal(loaded.has(["n", "z"]), true);
  assert.equal(loaded.has(["n", "q"]), false);
  // A missing key is located at its mapping's key, as without merges.
  assert.deepEqual(loaded.locate(["n", "q"]), { line: 8, column: 1 });
});

/**
 * Image references: the OCI distribution grammar, as the schema and the
 * production pinning rule read it.
 */
import assert from "node:assert/strict";
import { parseImageRef } from "../../compiler/image_ref.ts";
import { Image } from "../../compiler/schema.ts";
import { edit, runBadSpec, STRONG_ENV } from "./bad_specs.ts";

const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;

Deno.test("image references: every valid form is read into its parts", () => {
  const cases: [string, ReturnType<typeof parseImageRef>][] = [
    ["postgres", { repository: "postgres" }],
    ["postgres:15-alpine", { repository: "postgres", tag: "15-alpine" }],
    ["ollama/ollama:0.12.6", { repository: "ollama/ollama", tag: "0.12.6" }],
    ["localhost:5000/procos/engine:7.24.0", {
      registry: "localhost:5000",
      repository: "procos/engine",
      tag: "7.24.0",
    }],
    ["registry.example.com/team/app", { registry: "registry.example.com", repository: "team/app" }],
    [`postgres@${DIGEST}`, { repository: "postgres", digest: DIGEST }],
    [`ghcr.io/a/b:1.2@${DIGEST}`, {
      registry: "ghcr.io",
      repository: "a/b",
      tag: "1.2",
      digest: DIGEST,
    }],
    ["[::1]:5000/x:y", { registry: "[::1]:5000", repository: "x", tag: "y" }],
    ["my__app/x-y.z", { repository: "my__app/x-y.z" }],
  ];
  for (const [ref, want] of cases) {
    assert.deepEqual(parseImageRef(ref), want, ref);
    assert.ok(Image.safeParse(ref).success, `the schema takes ${ref}`);
  }
});

Deno.test("image references: what the grammar refuses", () => {
  for (
    const ref of [
      "Postgres:15",
      "postgres:",
      "postgres:-x",
      "postgres@sha256:short",
      "a//b",
      "-a/b",
      "a/b/",
      ":tag",
      `x:${"t".repeat(129)}`,
      "host:port/x",
      "a b",
    ]
  ) {
    assert.equal(parseImageRef(ref), undefined, ref);
    assert.ok(!Image.safeParse(ref).success, `the schema refuses ${ref}`);
  }
});

Deno.test("image references in a spec: registries with ports and digests load; production counts a digest as pinned", async () => {
  const root = await Deno.makeTempDir({ prefix: "procos-images-" });
  try {
    const spec = edit(
      ["    image: postgres:15.10-alpine\n", `    image: registry.local:5000/postgres@${DIGEST}\n`],
      ["    image: ollama/ollama:0.12.6\n", `    image: ollama/ollama:latest@${DIGEST}\n`],
    );
    const r = await runBadSpec({
      name: "digests",
      spec,
      profile: "production",
      env: { ...STRONG_ENV },
      expected: [],
    }, root);
    assert.deepEqual(r, ["loaded"]);
    const latest = await runBadSpec({
      name: "latest_with_port",
      spec: edit(["    image: ollama/ollama:0.12.6\n", "    image: registry.local:5000/ollama\n"]),
      profile: "production",
      expected: [],
    }, root);
    assert.equal(latest.length, 1);
    assert.match(latest[0], /image `registry\.local:5000\/ollama` has no tag, which means latest/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/**
 * The small stages of the loading pipeline, one by one: `locate`'s contract,
 * overlay paths, durations, did-you-mean, the BPMN scan, secret lookup.
 */
import assert from "node:assert/strict";
import { firstInvalidUtf8, parseSpecBytes } from "../../compiler/load.ts";
import { sourcePath } from "../../compiler/validate.ts";
import { isDuration, parseDuration } from "../../compiler/duration.ts";
import { closest, didYouMean, editDistance } from "../../compiler/hints.ts";
import { scanBpmn, scanProcesses } from "../../compiler/bpmn.ts";
import { lookupSecrets } from "../../compiler/resolve.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("locate", async (t) => {
  const text = [
    "a:", //                     1
    "  b: 1", //                 2
    "  list:", //                3
    "    - x: &anchor {y: 2}", // 4
    "    - 3", //                5
    "  empty:", //               6
    "c: *anchor", //             7
  ].join("\n");
  const f = parseSpecBytes("f.yaml", enc(text));

  await t.step("an existing key: the key, or with 'value' the value", () => {
    assert.deepEqual(f.locate(["a", "b"]), { line: 2, column: 3 });
    assert.deepEqual(f.locate(["a", "b"], "value"), { line: 2, column: 6 });
  });
  await t.step("a sequence item: the item", () => {
    assert.deepEqual(f.locate(["a", "list", 1]), { line: 5, column: 7 });
    assert.deepEqual(f.locate(["a", "list", 0, "x"], "value"), { line: 4, column: 18 });
  });
  await t.step("an empty value: the key", () => {
    assert.deepEqual(f.locate(["a", "empty"], "value"), { line: 6, column: 3 });
  });
  await t.step("a missing key: the deepest ancestor's key", () => {
    assert.deepEqual(f.locate(["a", "nope", "deeper"]), { line: 1, column: 1 });
    assert.deepEqual(f.locate(["a", "list", 7]), { line: 3, column: 3 });
    assert.deepEqual(f.locate(["zzz"]), { line: 1, column: 1 });
    assert.equal(f.has(["a", "nope"]), false);
    assert.equal(f.has(["a", "list", 1]), true);
  });
  await t.step("through an alias: at the anchor", () => {
    assert.deepEqual(f.locate(["c", "y"], "value"), { line: 4, column: 22 });
  });
});

Deno.test("sourcePath: overlay values are located in the overlay", () => {
  const raw = {
    a: { b: 1, c: [1, 2], d: { e: 1 } },
    profiles: { production: { a: { b: 2, c: [3], d: "x", n: { m: 1 } } } },
  };
  const prod = (p: (string | number)[]) => sourcePath(raw, "production", p);
  assert.deepEqual(prod(["a", "b"]), ["profiles", "production", "a", "b"]);
  assert.deepEqual(prod(["a", "c", 0]), ["profiles", "production", "a", "c", 0]);
  assert.deepEqual(prod(["a", "d", "e"]), ["profiles", "production", "a", "d", "e"]);
  assert.deepEqual(prod(["a", "n", "m"]), ["profiles", "production", "a", "n", "m"]);
  assert.deepEqual(prod(["a", "missing"]), ["a", "missing"]);
  assert.deepEqual(sourcePath(raw, "development", ["a", "b"]), ["a", "b"]);
});

Deno.test("UTF-8: the first bad byte", () => {
  assert.equal(firstInvalidUtf8(enc("héllo ✓ 🚀")), -1);
  assert.equal(firstInvalidUtf8(new Uint8Array([0x61, 0xc3])), 1); // truncated
  assert.equal(firstInvalidUtf8(new Uint8Array([0x61, 0xed, 0xa0, 0x80])), 1); // surrogate
  assert.equal(firstInvalidUtf8(new Uint8Array([0xc0, 0x80])), 0); // overlong
  assert.equal(firstInvalidUtf8(new Uint8Array([0x61, 0x62, 0xff])), 2);
});

Deno.test("durations", () => {
  assert.equal(parseDuration("7d"), 7 * 86_400_000);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("12h"), 43_200_000);
  assert.equal(isDuration("30x"), false);
  assert.throws(() => parseDuration("1.5h"), RangeError);
});

Deno.test("did you mean", () => {
  assert.equal(editDistance("healtcheck", "healthcheck"), 1);
  assert.equal(editDistance("ab", "ba"), 1);
  assert.equal(didYouMean("healtcheck", ["image", "healthcheck"]), "did you mean `healthcheck`?");
  assert.equal(closest("redix", ["postgres", "redis", "rabbitmq"]), "redis");
  assert.equal(closest("dependson", ["depends_on"]), "depends_on");
  assert.equal(closest("generic-mail", ["generic-sql", "generic-http"]), undefined);
  assert.equal(closest("xyz", ["postgres"]), undefined);
});

Deno.test("BPMN scan", async (t) => {
  await t.step("ids and topics, comments ignored, any prefix", () => {
    const xml = `<definitions><!-- <process id="no"> camunda:topic="no" -->
      <process id="p1" isExecutable="true"><serviceTask camunda:type="external" camunda:topic='a&amp;b'/>
      <bpmn2:sendTask id="s" camunda:topic="t2" /></process><bpmn:process id="p2"/></definitions>`;
    assert.deepEqual(scanBpmn(xml), { processIds: ["p1", "p2"], topics: ["a&b", "t2"] });
  });
  await t.step("the repository's processes", async () => {
    const scan = await scanProcesses(new URL("../../processes", import.meta.url).pathname);
    assert.equal(scan.exists, true);
    assert.deepEqual(scan.files.map((f) => [f.file, f.processIds]), [
      ["procos-boot.bpmn", ["procos-boot"]],
      ["procos-retention.bpmn", ["procos-retention"]],
      ["procos-smoke.bpmn", ["procos-smoke"]],
    ]);
    assert.deepEqual(scan.files[1].topics, ["procos-retention"]);
    assert.deepEqual(scan.files[2].topics, [
      "ai-generate",
      "generic-http",
      "generic-sql",
      "generic-publish",
      "generic-redis",
      "generic-noop",
    ]);
  });
  await t.step("a missing folder", async () => {
    assert.equal((await scanProcesses("/nonexistent/procos")).exists, false);
  });
});

Deno.test("secret lookup: env, then file, then default", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/pw`, "from-file\n");
    const secrets = {
      a: { env: "A", file: "pw", default: "d" },
      b: { env: "B", file: "pw", default: "d" },
      c: { env: "C", file: "missing", default: "d" },
      d: { env: "D" },
    };
    const r = await lookupSecrets(secrets, { env: { A: "from-env", B: "" }, baseDir: dir });
    assert.deepEqual(r.a.resolved, { value: "from-env", source: "env" });
    assert.deepEqual(r.b.resolved, { value: "from-file", source: "file" });
    assert.deepEqual(r.c.resolved, { value: "d", source: "default" });
    assert.equal(r.d.resolved, undefined);
    assert.deepEqual(r.d.tried, ["environment variable D (not set)", "no default"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

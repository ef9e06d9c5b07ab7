/**
 * The `bpmn_history_ttl` rule: a deployable process without a history time
 * to live that Camunda accepts is refused at build time, located at its
 * `<process>` element in the BPMN file; with one (or not executable) the
 * spec loads.
 */
import assert from "node:assert/strict";
import { scanProcessElements } from "../../compiler/bpmn.ts";
import { validHistoryTimeToLive } from "../../compiler/rules/bpmn_history_ttl.ts";
import { RULES } from "../../compiler/rules/mod.ts";
import { type BadSpec, runBadSpec } from "./bad_specs.ts";

/** A BPMN file with one process (no external task, so no topic rule fires); `attrs` on it. */
const bpmn = (attrs: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="extra-defs" targetNamespace="x">
  <bpmn:process id="extra" ${attrs}>
    <bpmn:startEvent id="start" />
  </bpmn:process>
</bpmn:definitions>
`;

const EXPECTED = "expected camunda:historyTimeToLive on the <process> element, in whole days: " +
  "a number such as 30, or P30D";
const HINT = (verb: string) =>
  `(hint: ${verb} camunda:historyTimeToLive="P30D" (or the days its history must be kept) on ` +
  `<process id="extra">, or mark it isExecutable="false" if it is not to be deployed)`;

/** The reference spec with `processes/extra.bpmn` added. */
const withExtra = (name: string, attrs: string): BadSpec => ({
  name,
  spec: (base) => base,
  files: { "processes/extra.bpmn": bpmn(attrs) },
  expected: [],
});

Deno.test("bpmn_history_ttl: registered", () => {
  assert.equal(typeof RULES.bpmn_history_ttl.check, "function");
});

Deno.test("bpmn_history_ttl: refused without a TTL, loaded with one", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "procos-ttl-" });
  try {
    await t.step(
      "without camunda:historyTimeToLive: refused at the <process> element",
      async () => {
        assert.deepEqual(await runBadSpec(withExtra("no_ttl", 'isExecutable="true"'), root), [
          "processes/extra.bpmn:4:3: error: processes.path: the process `extra` has no " +
          `camunda:historyTimeToLive, so the engine refuses to deploy it; ${EXPECTED} ${
            HINT("add")
          }`,
        ]);
      },
    );
    await t.step("isExecutable missing counts as deployable (as the engine does)", async () => {
      const out = await runBadSpec(withExtra("no_ttl_implicit", ""), root);
      assert.equal(out.length, 1);
      assert.match(out[0], /^processes\/extra\.bpmn:4:3: error: processes\.path: /);
    });
    await t.step("a TTL the engine cannot parse: refused", async () => {
      assert.deepEqual(
        await runBadSpec(
          withExtra("bad_ttl", 'isExecutable="true" camunda:historyTimeToLive="PT1H"'),
          root,
        ),
        [
          "processes/extra.bpmn:4:3: error: processes.path: the process `extra` has " +
          `camunda:historyTimeToLive="PT1H", which the engine cannot parse; ${EXPECTED} ${
            HINT("write")
          }`,
        ],
      );
    });
    for (const ttl of ["P30D", "30", "0"]) {
      await t.step(`with camunda:historyTimeToLive="${ttl}": loads`, async () => {
        const spec = withExtra(
          `ttl_${ttl}`,
          `isExecutable="true" camunda:historyTimeToLive="${ttl}"`,
        );
        assert.deepEqual(await runBadSpec(spec, root), ["loaded"]);
      });
    }
    await t.step('isExecutable="false" without a TTL: loads (never deployed)', async () => {
      assert.deepEqual(
        await runBadSpec(withExtra("not_executable", 'isExecutable="false"'), root),
        ["loaded"],
      );
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("bpmn_history_ttl: the TTL forms Camunda 7.24 parses", () => {
  for (const ok of ["P30D", "P0D", "30", "0", "2147483647"]) {
    assert.equal(validHistoryTimeToLive(ok), true, ok);
  }
  for (
    const bad of ["", "PT1H", "P1M", "P1Y", "-1", "30d", " 30", "P30DT1H", "2147483648", "${x}"]
  ) {
    assert.equal(validHistoryTimeToLive(bad), false, bad);
  }
});

Deno.test("BPMN scan: <process> elements located, comments keep positions", () => {
  const xml = [
    "<definitions>",
    '  <!-- <process id="no">',
    '  --> <bpmn:process id="a" isExecutable="true" camunda:historyTimeToLive="P7D">',
    '<process id="b" isExecutable = "false"/></definitions>',
  ].join("\n");
  assert.deepEqual(scanProcessElements(xml), [
    { id: "a", line: 3, column: 7, executable: true, historyTimeToLive: "P7D" },
    { id: "b", line: 4, column: 1, executable: false },
  ]);
});

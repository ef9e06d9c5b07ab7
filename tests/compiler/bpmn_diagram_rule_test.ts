/**
 * The `bpmn_diagram` rule and the compiler's warning channel: a BPMN file
 * without a diagram, or a flow element without a shape or an edge, is a
 * warning located in the BPMN file; the spec still loads, the CLI prints
 * `file:line:col: warning: ...` and a count, exits 0 and writes the build;
 * next to an error, the warning is printed too and the build fails only
 * for the error.
 */
import assert from "node:assert/strict";
import { loadSpec } from "../../compiler/load_spec.ts";
import { formatDiagnostic, SpecError } from "../../compiler/diagnostics.ts";
import { RULES } from "../../compiler/rules/mod.ts";
import { main } from "../../compiler/cli.ts";
import { referenceSpec, REPO_ROOT, withTempDir } from "../helpers/build.ts";
import { runCli } from "../helpers/cli.ts";

/** A deployable process with one start event and no diagram. */
const NO_DIAGRAM = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="extra-defs" targetNamespace="x">
  <bpmn:process id="extra" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start" />
  </bpmn:process>
</bpmn:definitions>
`;

const NO_DIAGRAM_WARNING =
  "processes/extra.bpmn:4:3: warning: processes.path: the process `extra` has no diagram " +
  '(no bpmndi:BPMNDiagram with a BPMNPlane), so Cockpit shows "no diagram to display"; ' +
  "expected a bpmndi:BPMNDiagram with a shape for every flow node and an edge for every " +
  "sequence flow (hint: run `deno task layout` to lay the file out, or open it in Camunda " +
  "Modeler and save it)";

/** A copy of the reference spec and its processes in `dir`, with `files` added or replaced. */
async function specIn(dir: string, files: Record<string, string>): Promise<string> {
  await Deno.mkdir(`${dir}/processes`, { recursive: true });
  await Deno.copyFile(referenceSpec(), `${dir}/procos.config.yaml`);
  for (const e of Deno.readDirSync(`${REPO_ROOT}/processes`)) {
    if (e.name.endsWith(".bpmn")) {
      await Deno.copyFile(`${REPO_ROOT}/processes/${e.name}`, `${dir}/processes/${e.name}`);
    }
  }
  for (const [p, text] of Object.entries(files)) await Deno.writeTextFile(`${dir}/${p}`, text);
  return `${dir}/procos.config.yaml`;
}

const relative = (dir: string, lines: string[]) => lines.map((l) => l.split(`${dir}/`).join(""));

Deno.test("bpmn_diagram: registered", () => {
  assert.equal(typeof RULES.bpmn_diagram.check, "function");
});

Deno.test("bpmn_diagram: the reference spec's processes draw; no warnings", async () => {
  const r = await loadSpec(referenceSpec(), { profile: "development", env: {} });
  assert.deepEqual(r.warnings, []);
});

Deno.test("bpmn_diagram: a file without a diagram is a located warning; the spec loads", async () => {
  await withTempDir(async (dir) => {
    const spec = await specIn(dir, { "processes/extra.bpmn": NO_DIAGRAM });
    const r = await loadSpec(spec, { profile: "development", env: {} });
    assert.deepEqual(relative(dir, (r.warnings ?? []).map(formatDiagnostic)), [
      NO_DIAGRAM_WARNING,
    ]);
    assert.ok(r.processFiles?.some((f) => f.file === "extra.bpmn"), "and it is still built");
  });
});

Deno.test("bpmn_diagram: a flow node without a shape and a flow without an edge", async () => {
  await withTempDir(async (dir) => {
    const smoke = (await Deno.readTextFile(`${REPO_ROOT}/processes/procos-smoke.bpmn`))
      .replace(/\s*<bpmndi:BPMNShape id="task_generic_sql_di"[\s\S]*?<\/bpmndi:BPMNShape>/, "")
      .replace(/\s*<bpmndi:BPMNEdge id="flow_5_di"[\s\S]*?<\/bpmndi:BPMNEdge>/, "");
    const lineOf = (needle: string) => smoke.split("\n").findIndex((l) => l.includes(needle)) + 1;
    const spec = await specIn(dir, { "processes/procos-smoke.bpmn": smoke });
    const r = await loadSpec(spec, { profile: "development", env: {} });
    const at = (needle: string) => `processes/procos-smoke.bpmn:${lineOf(needle)}:5: warning: `;
    assert.deepEqual(relative(dir, (r.warnings ?? []).map(formatDiagnostic)), [
      `${at('<bpmn:serviceTask id="task_generic_sql"')}processes.path: the serviceTask ` +
      "`task_generic_sql` of the process `procos-smoke` has no bpmndi:BPMNShape, so Cockpit " +
      'cannot draw it; expected a bpmndi:BPMNShape with bpmnElement="task_generic_sql" (hint: ' +
      "run `deno task layout` to lay the file out, or open it in Camunda Modeler and save it)",
      `${at('<bpmn:sequenceFlow id="flow_5"')}processes.path: the sequenceFlow \`flow_5\` of ` +
      "the process `procos-smoke` has no bpmndi:BPMNEdge, so Cockpit cannot draw it; expected " +
      'a bpmndi:BPMNEdge with bpmnElement="flow_5" (hint: run `deno task layout` to lay the ' +
      "file out, or open it in Camunda Modeler and save it)",
    ]);
  });
});

Deno.test("compiler CLI: warnings are printed and do not fail the build", async (t) => {
  await withTempDir(async (dir) => {
    const spec = await specIn(dir, { "processes/extra.bpmn": NO_DIAGRAM });
    await t.step("build: exit 0, the warning and a count on stderr, files written", async () => {
      const r = await runCli(main, ["build", "--config", spec, "--out", `${dir}/out`], {});
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(relative(dir, r.stderr.split("\n")), [
        NO_DIAGRAM_WARNING,
        "procos: 1 warning in procos.config.yaml",
      ]);
      assert.match(r.stdout, /^procos: wrote \d+ files to /);
      await Deno.stat(`${dir}/out/processes/extra.bpmn`);
    });
    await t.step("--check: exit 0 with the warning", async () => {
      const r = await runCli(main, ["build", "--check", "--config", spec], {});
      assert.equal(r.code, 0, r.stderr);
      assert.ok(relative(dir, r.stderr.split("\n")).includes(NO_DIAGRAM_WARNING), r.stderr);
    });
    await t.step("with an error too: exit 1, both printed, only the error counted", async () => {
      await Deno.writeTextFile(
        `${dir}/processes/extra.bpmn`,
        NO_DIAGRAM.replace(' camunda:historyTimeToLive="P1D"', ""),
      );
      const r = await runCli(main, ["build", "--check", "--config", spec], {});
      assert.equal(r.code, 1, r.stderr);
      const lines = relative(dir, r.stderr.split("\n"));
      assert.equal(lines.length, 3, r.stderr);
      assert.match(lines[0], /^processes\/extra\.bpmn:4:3: error: .*historyTimeToLive/);
      assert.equal(lines[1], NO_DIAGRAM_WARNING);
      assert.equal(lines[2], "procos: 1 error in procos.config.yaml; nothing was written");
      const e = await loadSpec(spec, { profile: "development", env: {} }).catch((x) => x);
      assert.ok(e instanceof SpecError);
      assert.equal(e.diagnostics.length, 1);
      assert.equal(e.warnings.length, 1);
    });
  });
});

/**
 * Diagrams of the bundled processes, as bpmn-js reads them: every
 * `processes/*.bpmn` parses with `bpmn-moddle` (the parser of bpmn-js and
 * Camunda Modeler) without a warning, and every flow node has a
 * `BPMNShape` and every sequence flow a `BPMNEdge` with waypoints that
 * start and end on their shapes, no two shapes overlapping. The files are
 * what `deno task layout` writes, and the layout does the same for a
 * process with a split, a join, a loop and boundary events.
 */
import assert from "node:assert/strict";
import { BpmnModdle } from "bpmn-moddle";
import { layoutBpmn } from "../../compiler/bpmn_layout.ts";
import { scanDiagram, undrawn } from "../../compiler/bpmn_diagram.ts";
import { REPO_ROOT } from "../helpers/build.ts";

/** The few parts of a bpmn-moddle element these tests read. */
interface El {
  $type: string;
  id?: string;
  $instanceOf(type: string): boolean;
  flowElements?: El[];
  rootElements?: El[];
  diagrams?: { plane?: { bpmnElement?: El; planeElement?: El[] } }[];
  bpmnElement?: El;
  bounds?: Box;
  waypoint?: { x: number; y: number }[];
  attachedToRef?: El;
  sourceRef?: El;
  targetRef?: El;
}

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Parses with bpmn-moddle; returns the definitions and its warnings' messages. */
async function parse(xml: string): Promise<{ defs: El; warnings: string[] }> {
  const r = await new BpmnModdle().fromXML(xml) as {
    rootElement: El;
    warnings: { message: string }[];
  };
  return { defs: r.rootElement, warnings: r.warnings.map((w) => w.message) };
}

/** Every flow element of the definitions' processes, sub-processes' included. */
function flowElements(defs: El): El[] {
  const out: El[] = [];
  const walk = (c: El) => {
    for (const e of c.flowElements ?? []) {
      out.push(e);
      walk(e);
    }
  };
  for (const r of defs.rootElements ?? []) if (r.$instanceOf("bpmn:Process")) walk(r);
  return out;
}

const touches = (p: { x: number; y: number }, b: Box) =>
  p.x >= b.x && p.x <= b.x + b.width && p.y >= b.y && p.y <= b.y + b.height &&
  (p.x === b.x || p.x === b.x + b.width || p.y === b.y || p.y === b.y + b.height);

const overlap = (a: Box, b: Box) =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/** What is wrong with the diagram of `xml`, per bpmn-moddle (empty: it draws cleanly). */
async function diagramProblems(xml: string): Promise<string[]> {
  const { defs, warnings } = await parse(xml);
  const problems = warnings.map((w) => `warning: ${w.split("\n")[0]}`);
  const di = (defs.diagrams ?? []).flatMap((d) => d.plane?.planeElement ?? []);
  const shapes = new Map<string, Box>();
  const edges = new Map<string, El>();
  for (const d of di) {
    const id = d.bpmnElement?.id;
    if (!id) problems.push(`${d.$type} ${d.id} refers to no element`);
    else if (d.$type === "bpmndi:BPMNShape" && d.bounds) shapes.set(id, d.bounds);
    else if (d.$type === "bpmndi:BPMNEdge") edges.set(id, d);
  }
  const nodes = flowElements(defs).filter((e) => e.$instanceOf("bpmn:FlowNode"));
  for (const e of flowElements(defs)) {
    if (e.$instanceOf("bpmn:FlowNode") && !shapes.has(e.id!)) problems.push(`no shape: ${e.id}`);
    if (!e.$instanceOf("bpmn:SequenceFlow")) continue;
    const edge = edges.get(e.id!);
    const w = edge?.waypoint ?? [];
    if (w.length < 2) {
      problems.push(`no edge with waypoints: ${e.id}`);
      continue;
    }
    const s = shapes.get(e.sourceRef!.id!);
    const t = shapes.get(e.targetRef!.id!);
    if (s && !touches(w[0], s)) problems.push(`${e.id} does not start on ${e.sourceRef!.id}`);
    if (t && !touches(w.at(-1)!, t)) problems.push(`${e.id} does not end on ${e.targetRef!.id}`);
    for (let i = 1; i < w.length; i++) {
      if (w[i].x !== w[i - 1].x && w[i].y !== w[i - 1].y) {
        problems.push(`${e.id} is not orthogonal`);
      }
    }
  }
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      const [a, b] = [nodes[i], nodes[j]];
      if (a.attachedToRef?.id === b.id || b.attachedToRef?.id === a.id) continue;
      const [sa, sb] = [shapes.get(a.id!), shapes.get(b.id!)];
      if (sa && sb && overlap(sa, sb)) problems.push(`${a.id} overlaps ${b.id}`);
    }
  }
  return problems;
}

const bundled = [...Deno.readDirSync(`${REPO_ROOT}/processes`)]
  .filter((e) => e.name.endsWith(".bpmn")).map((e) => e.name).sort();

Deno.test("bundled processes: bpmn-moddle parses each cleanly, every element drawn", async (t) => {
  assert.ok(bundled.length >= 3, `processes found: ${bundled}`);
  for (const name of bundled) {
    await t.step(name, async () => {
      const xml = await Deno.readTextFile(`${REPO_ROOT}/processes/${name}`);
      assert.deepEqual(await diagramProblems(xml), []);
      const { defs } = await parse(xml);
      assert.ok(flowElements(defs).length >= 5, "the process has its elements");
      // left to right: every flow's target lies right of its source
      const di = (defs.diagrams ?? []).flatMap((d) => d.plane?.planeElement ?? []);
      const x = new Map(di.map((d) => [d.bpmnElement?.id, d.bounds?.x ?? NaN]));
      for (const f of flowElements(defs).filter((e) => e.$instanceOf("bpmn:SequenceFlow"))) {
        assert.ok(x.get(f.targetRef!.id)! > x.get(f.sourceRef!.id)!, `${f.id} runs right`);
      }
      assert.deepEqual(undrawn(scanDiagram(xml)), []);
      assert.equal(layoutBpmn(xml), xml, `${name} is not as \`deno task layout\` writes it`);
    });
  }
});

/** A process with a split, a join, a loop back, and two boundary events on one task. */
const BRANCHY = `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <process id="branchy" isExecutable="false">
    <startEvent id="start" />
    <exclusiveGateway id="split" />
    <serviceTask id="a" />
    <userTask id="b" />
    <parallelGateway id="join" />
    <endEvent id="end" />
    <boundaryEvent id="timeout" attachedToRef="a"><timerEventDefinition /></boundaryEvent>
    <boundaryEvent id="oops" attachedToRef="a"><errorEventDefinition /></boundaryEvent>
    <endEvent id="timed_out" />
    <endEvent id="failed" />
    <sequenceFlow id="f1" sourceRef="start" targetRef="split" />
    <sequenceFlow id="f2" sourceRef="split" targetRef="a" />
    <sequenceFlow id="f3" sourceRef="split" targetRef="b" />
    <sequenceFlow id="f4" sourceRef="a" targetRef="join" />
    <sequenceFlow id="f5" sourceRef="b" targetRef="join" />
    <sequenceFlow id="f6" sourceRef="join" targetRef="end" />
    <sequenceFlow id="f7" sourceRef="b" targetRef="split" />
    <sequenceFlow id="f8" sourceRef="timeout" targetRef="timed_out" />
    <sequenceFlow id="f9" sourceRef="oops" targetRef="failed" />
  </process>
</definitions>
`;

Deno.test("layout: a split, a join, a loop and boundary events draw cleanly", async () => {
  const before = scanDiagram(BRANCHY);
  assert.deepEqual(undrawn(before).map((u) => u.process.id), ["branchy"]);
  const xml = layoutBpmn(BRANCHY);
  assert.deepEqual(await diagramProblems(xml), []);
  assert.deepEqual(undrawn(scanDiagram(xml)), []);
  assert.equal(layoutBpmn(xml), xml, "laying out again changes nothing");
  assert.ok(xml.includes('xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"'));
  // the process itself is unchanged: only namespaces and the diagram were added
  const strip = (s: string) =>
    s.replace(/\s*<bpmndi:BPMNDiagram[\s\S]*<\/bpmndi:BPMNDiagram>/, "")
      .replace(/\s+xmlns:(?:bpmndi|dc|di)="[^"]*"/g, "");
  assert.equal(strip(xml), BRANCHY);
});

Deno.test("layout: refuses what it cannot draw, with the reason", () => {
  assert.throws(
    () =>
      layoutBpmn(
        BRANCHY.replace('<userTask id="b" />', '<subProcess id="b"><task id="i" /></subProcess>'),
      ),
    /sub-process b has content/,
  );
  assert.throws(
    () =>
      layoutBpmn(
        BRANCHY.replace('<process id="branchy"', '<collaboration id="c" /><process id="branchy"'),
      ),
    /collaborations/,
  );
});

Deno.test("scanDiagram: flow elements located; a missing shape or edge is undrawn", () => {
  const xml = layoutBpmn(BRANCHY)
    .replace(/\s*<bpmndi:BPMNShape id="oops_di"[\s\S]*?<\/bpmndi:BPMNShape>/, "")
    .replace(/\s*<bpmndi:BPMNEdge id="f3_di"[\s\S]*?<\/bpmndi:BPMNEdge>/, "");
  const got = undrawn(scanDiagram(xml)).map((u) => u.element);
  assert.deepEqual(got, [
    { id: "oops", type: "boundaryEvent", needs: "shape", line: 11, column: 5 },
    { id: "f3", type: "sequenceFlow", needs: "edge", line: 16, column: 5 },
  ]);
});

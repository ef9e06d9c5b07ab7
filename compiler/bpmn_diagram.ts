/**
 * What of a BPMN document can be drawn: its flow elements (flow nodes, which
 * need a `bpmndi:BPMNShape`, and sequence flows, which need a
 * `bpmndi:BPMNEdge`), each located, and the diagram interchange that refers
 * to them. A regex scan like `bpmn.ts` (comments blanked, offsets kept), not
 * an XML parser; enough to say which element Cockpit and bpmn-js cannot draw.
 * The rule `bpmn_diagram` and verify's `camunda.diagrams` check both read it.
 *
 * @module
 */

/** Local names of the BPMN flow nodes that are drawn as shapes. */
export const FLOW_NODES: readonly string[] = [
  "startEvent",
  "endEvent",
  "intermediateCatchEvent",
  "intermediateThrowEvent",
  "boundaryEvent",
  "task",
  "serviceTask",
  "userTask",
  "scriptTask",
  "sendTask",
  "receiveTask",
  "manualTask",
  "businessRuleTask",
  "callActivity",
  "subProcess",
  "transaction",
  "adHocSubProcess",
  "exclusiveGateway",
  "parallelGateway",
  "inclusiveGateway",
  "eventBasedGateway",
  "complexGateway",
];

/** One flow element of a process, located at its start tag's `<`. */
export interface FlowElement {
  /** Its `id`. */
  id: string;
  /** Its local name, such as `serviceTask` or `sequenceFlow`. */
  type: string;
  /** `shape` for a flow node, `edge` for a sequence flow. */
  needs: "shape" | "edge";
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
}

/** One `<process>` element and the flow elements inside it. */
export interface DiagramProcess {
  /** Its `id` (empty when it has none). */
  id: string;
  /** 1-based line of its `<`. */
  line: number;
  /** 1-based column of its `<`. */
  column: number;
  /** Every flow element inside it (sub-processes' too), in document order. */
  elements: FlowElement[];
}

/** What a BPMN document defines and what of it its diagram interchange draws. */
export interface DiagramScan {
  /** Every `<process>`, in document order. */
  processes: DiagramProcess[];
  /** How many `bpmndi:BPMNPlane` elements it has. */
  planes: number;
  /** The `bpmnElement` of every `bpmndi:BPMNShape`. */
  shapes: Set<string>;
  /** The `bpmnElement` of every `bpmndi:BPMNEdge`. */
  edges: Set<string>;
}

/** A flow element that cannot be drawn: it has no shape or no edge. */
export interface Undrawn {
  /** The process it is in. */
  process: DiagramProcess;
  /** The element; absent when the document has no diagram at all. */
  element?: FlowElement;
}

const PREFIX = "(?:[A-Za-z_][\\w.-]*:)?";

function attr(attrs: string, name: string): string | undefined {
  const re = new RegExp(`(?:^|\\s)${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`);
  const m = re.exec(attrs);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** 1-based line and column of offset `index` in `text`. */
function position(text: string, index: number): { line: number; column: number } {
  const before = text.slice(0, index);
  const nl = before.lastIndexOf("\n");
  return { line: before.split("\n").length, column: index - nl };
}

/** Scans a BPMN document for its flow elements and its diagram interchange. */
export function scanDiagram(xml: string): DiagramScan {
  const text = xml.replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, " "));
  const processes: DiagramProcess[] = [];
  const open = new RegExp(`<(${PREFIX})process\\b([^>]*?)(/?)>`, "g");
  for (const m of text.matchAll(open)) {
    const at = position(text, m.index);
    const p: DiagramProcess = { id: attr(m[2], "id") ?? "", ...at, elements: [] };
    processes.push(p);
    if (m[3] === "/") continue;
    const start = m.index + m[0].length;
    const close = text.indexOf(`</${m[1]}process>`, start);
    const body = text.slice(start, close < 0 ? text.length : close);
    const tags = new RegExp(`<${PREFIX}([A-Za-z]+)\\b([^>]*)>`, "g");
    for (const t of body.matchAll(tags)) {
      const needs = t[1] === "sequenceFlow"
        ? "edge"
        : FLOW_NODES.includes(t[1])
        ? "shape"
        : undefined;
      const id = attr(t[2], "id");
      if (needs === undefined || id === undefined) continue;
      p.elements.push({ id, type: t[1], needs, ...position(text, start + t.index) });
    }
  }
  const refs = (name: string) =>
    new Set(
      [...text.matchAll(new RegExp(`<${PREFIX}${name}\\b([^>]*)>`, "g"))]
        .map((m) => attr(m[1], "bpmnElement"))
        .filter((id): id is string => id !== undefined),
    );
  return {
    processes,
    planes: [...text.matchAll(new RegExp(`<${PREFIX}BPMNPlane\\b`, "g"))].length,
    shapes: refs("BPMNShape"),
    edges: refs("BPMNEdge"),
  };
}

/**
 * What of `scan` cannot be drawn: for a document without a `BPMNPlane`, one
 * entry per process (without `element`); otherwise every flow element
 * without a shape or an edge. Empty when everything can be drawn.
 */
export function undrawn(scan: DiagramScan): Undrawn[] {
  if (scan.planes === 0) {
    return scan.processes.filter((p) => p.elements.length > 0).map((process) => ({ process }));
  }
  return scan.processes.flatMap((process) =>
    process.elements
      .filter((e) => !(e.needs === "shape" ? scan.shapes : scan.edges).has(e.id))
      .map((element) => ({ process, element }))
  );
}

/**
 * A small deterministic left-to-right layout of a BPMN process: it writes
 * the diagram interchange (`bpmndi:BPMNDiagram`, one `BPMNShape` per flow
 * node, one `BPMNEdge` with waypoints per sequence flow) of every
 * `<process>` of a document and leaves everything else as it was (the
 * `bpmndi`, `dc` and `di` namespaces are declared on `<definitions>` when
 * missing). Laying out a laid-out document gives the same text.
 *
 * Columns are the longest path from the process's sources (back edges
 * ignored); a node takes its first predecessor's row when that is free;
 * boundary events sit on their host's lower edge, and what follows them one
 * row below. Flat processes only: a sub-process with content, or a
 * collaboration, is refused (draw those in Camunda Modeler).
 *
 *     deno task layout [FILE.bpmn | FOLDER ...]   # default: processes/
 *
 * @module
 */
import { FLOW_NODES } from "./bpmn_diagram.ts";

const NS = {
  bpmndi: "http://www.omg.org/spec/BPMN/20100524/DI",
  dc: "http://www.omg.org/spec/DD/20100524/DC",
  di: "http://www.omg.org/spec/DD/20100524/DI",
};

/** Width and height of a node by its local name. */
function sizeOf(type: string): { w: number; h: number } {
  if (/Event$/.test(type)) return { w: 36, h: 36 };
  if (/Gateway$/.test(type)) return { w: 50, h: 50 };
  return { w: 100, h: 80 };
}

/** Column pitch, row pitch and the centre of column 0 / row 0. */
const PITCH_X = 150;
const PITCH_Y = 140;
const X0 = 170;
const Y0 = 120;

interface Node {
  id: string;
  type: string;
  attachedTo?: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Flow {
  id: string;
  source: string;
  target: string;
}

function attr(attrs: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|\\s)${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(attrs);
  return m ? (m[1] ?? m[2]) : undefined;
}

const PREFIX = "(?:[A-Za-z_][\\w.-]*:)?";

/** Reads the nodes and flows of one process body. Throws for what it does not lay out. */
function readProcess(id: string, body: string): { nodes: Node[]; flows: Flow[] } {
  const nodes: Node[] = [];
  const flows: Flow[] = [];
  for (const t of body.matchAll(new RegExp(`<${PREFIX}([A-Za-z]+)\\b([^>]*)>`, "g"))) {
    const [, type, attrs] = t;
    const elId = attr(attrs, "id");
    if (elId === undefined) continue;
    if (type === "sequenceFlow") {
      const source = attr(attrs, "sourceRef");
      const target = attr(attrs, "targetRef");
      if (!source || !target) throw new Error(`sequence flow ${elId} lacks sourceRef/targetRef`);
      flows.push({ id: elId, source, target });
    } else if (FLOW_NODES.includes(type)) {
      if (/SubProcess$|^subProcess$|^transaction$/.test(type) && !attrs.trimEnd().endsWith("/")) {
        const inner = new RegExp(`<${PREFIX}(?:${FLOW_NODES.join("|")}|sequenceFlow)\\b`);
        const rest = body.slice(t.index + t[0].length);
        const end = rest.search(new RegExp(`</${PREFIX}${type}>`));
        if (inner.test(rest.slice(0, end < 0 ? rest.length : end))) {
          throw new Error(`process ${id}: sub-process ${elId} has content; lay it out by hand`);
        }
      }
      const attachedTo = type === "boundaryEvent" ? attr(attrs, "attachedToRef") : undefined;
      nodes.push({ id: elId, type, attachedTo, x: 0, y: 0, ...sizeOf(type) });
    }
  }
  return { nodes, flows };
}

/** Places the nodes: columns by longest path, rows by first predecessor. */
function place(nodes: Node[], flows: Flow[]): void {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const host = (id: string) => byId.get(id)?.attachedTo ?? id;
  const main = nodes.filter((n) => !n.attachedTo);
  const succ = new Map<string, string[]>(main.map((n) => [n.id, []]));
  const pred = new Map<string, string[]>(main.map((n) => [n.id, []]));
  for (const f of flows) {
    const s = host(f.source);
    if (!succ.has(s) || !pred.has(f.target)) continue;
    succ.get(s)!.push(f.target);
    pred.get(f.target)!.push(f.source);
  }
  // back edges: found by a depth-first walk from the sources, in document order
  const state = new Map<string, 1 | 2>();
  const back = new Set<string>();
  const order: string[] = [];
  const visit = (id: string) => {
    state.set(id, 1);
    for (const t of succ.get(id)!) {
      if (state.get(t) === 1) back.add(`${id}>${t}`);
      else if (!state.has(t)) visit(t);
    }
    state.set(id, 2);
    order.unshift(id);
  };
  for (const n of main) if (pred.get(n.id)!.length === 0 && !state.has(n.id)) visit(n.id);
  for (const n of main) if (!state.has(n.id)) visit(n.id);
  const column = new Map<string, number>(main.map((n) => [n.id, 0]));
  for (const id of order) {
    for (const t of succ.get(id)!) {
      if (!back.has(`${id}>${t}`)) column.set(t, Math.max(column.get(t)!, column.get(id)! + 1));
    }
  }
  const row = new Map<string, number>();
  const taken = new Set<string>();
  const boundaryRow = (b: string) => (row.get(host(b)) ?? 0) + 1;
  for (const id of [...order].sort((a, b) => column.get(a)! - column.get(b)!)) {
    const first = pred.get(id)!.find((p) => row.has(host(p)));
    let r = first === undefined
      ? 0
      : byId.get(first)!.attachedTo
      ? boundaryRow(first)
      : row.get(first)!;
    while (taken.has(`${column.get(id)}:${r}`)) r++;
    taken.add(`${column.get(id)}:${r}`);
    row.set(id, r);
  }
  for (const n of main) {
    n.x = X0 + column.get(n.id)! * PITCH_X - n.w / 2;
    n.y = Y0 + row.get(n.id)! * PITCH_Y - n.h / 2;
  }
  const onHost = new Map<string, number>();
  for (const n of nodes) {
    if (!n.attachedTo) continue;
    const h = byId.get(n.attachedTo);
    if (!h || h.attachedTo) throw new Error(`boundary event ${n.id}: no activity ${n.attachedTo}`);
    const k = onHost.get(h.id) ?? 0;
    onHost.set(h.id, k + 1);
    n.x = h.x + h.w - 18 - n.w / 2 - k * 44;
    n.y = h.y + h.h - n.h / 2;
  }
}

type Point = [number, number];

/** Waypoints of a flow between placed nodes. */
function route(s: Node, t: Node): Point[] {
  const sy = s.y + s.h / 2;
  const ty = t.y + t.h / 2;
  if (s.attachedTo) {
    const sx = s.x + s.w / 2;
    return [[sx, s.y + s.h], [sx, ty], [t.x, ty]];
  }
  const right = s.x + s.w;
  if (t.x < right) {
    // a loop back: below both shapes, into the target from below
    const bottom = Math.max(s.y + s.h, t.y + t.h) + 40;
    const sx = s.x + s.w / 2;
    const tx = t.x + t.w / 2;
    return [[sx, s.y + s.h], [sx, bottom], [tx, bottom], [tx, t.y + t.h]];
  }
  if (sy === ty) return [[right, sy], [t.x, ty]];
  const mid = Math.round((right + t.x) / 2);
  return [[right, sy], [mid, sy], [mid, ty], [t.x, ty]];
}

/** The `BPMNDiagram` element of one process, indented by two spaces. */
function diagram(processId: string, nodes: Node[], flows: Flow[]): string {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const lines = [
    `  <bpmndi:BPMNDiagram id="${processId}_diagram">`,
    `    <bpmndi:BPMNPlane id="${processId}_plane" bpmnElement="${processId}">`,
  ];
  for (const n of nodes) {
    lines.push(
      `      <bpmndi:BPMNShape id="${n.id}_di" bpmnElement="${n.id}">`,
      `        <dc:Bounds x="${n.x}" y="${n.y}" width="${n.w}" height="${n.h}" />`,
      `      </bpmndi:BPMNShape>`,
    );
  }
  for (const f of flows) {
    const s = byId.get(f.source);
    const t = byId.get(f.target);
    if (!s || !t) throw new Error(`sequence flow ${f.id}: no flow node ${s ? f.target : f.source}`);
    lines.push(`      <bpmndi:BPMNEdge id="${f.id}_di" bpmnElement="${f.id}">`);
    for (const [x, y] of route(s, t)) lines.push(`        <di:waypoint x="${x}" y="${y}" />`);
    lines.push(`      </bpmndi:BPMNEdge>`);
  }
  lines.push(`    </bpmndi:BPMNPlane>`, `  </bpmndi:BPMNDiagram>`);
  return lines.join("\n");
}

/** Declares the diagram namespaces on the root element when it lacks them. */
function declareNamespaces(xml: string): string {
  const root = new RegExp(`<${PREFIX}definitions\\b[^>]*>`).exec(xml);
  if (!root) throw new Error("no <definitions> element");
  let tag = root[0];
  const decls = [...tag.matchAll(/(\s+)xmlns(?::[\w.-]+)?\s*=\s*"[^"]*"/g)];
  const last = decls.at(-1);
  if (!last) throw new Error("the <definitions> element declares no namespace");
  let insert = "";
  for (const [prefix, uri] of Object.entries(NS)) {
    if (new RegExp(`\\sxmlns:${prefix}\\s*=`).test(tag)) continue;
    insert += `${last[1]}xmlns:${prefix}="${uri}"`;
  }
  const at = last.index + last[0].length;
  tag = tag.slice(0, at) + insert + tag.slice(at);
  return xml.slice(0, root.index) + tag + xml.slice(root.index + root[0].length);
}

/** The document with a fresh diagram for each of its processes. Deterministic. */
export function layoutBpmn(xml: string): string {
  if (/<(?:[A-Za-z_][\w.-]*:)?collaboration\b/.test(xml)) {
    throw new Error("collaborations (pools, lanes) are not laid out: draw them in Camunda Modeler");
  }
  if (/<!--[\s\S]*?(?:BPMNDiagram|<(?:[\w.-]+:)?process\b)[\s\S]*?-->/.test(xml)) {
    throw new Error("a comment mentions a process or a diagram: move it out of the way first");
  }
  const bare = xml.replace(/\n?[ \t]*<bpmndi:BPMNDiagram\b[\s\S]*?<\/bpmndi:BPMNDiagram>/g, "");
  const diagrams: string[] = [];
  const open = new RegExp(`<(${PREFIX})process\\b([^>]*?)(/?)>`, "g");
  for (const m of bare.matchAll(open)) {
    const id = attr(m[2], "id");
    if (!id) throw new Error("a <process> without an id cannot be drawn");
    if (m[3] === "/") continue;
    const start = m.index + m[0].length;
    const close = bare.indexOf(`</${m[1]}process>`, start);
    const { nodes, flows } = readProcess(id, bare.slice(start, close < 0 ? bare.length : close));
    place(nodes, flows);
    diagrams.push(diagram(id, nodes, flows));
  }
  const end = new RegExp(`</(${PREFIX})definitions>\\s*$`).exec(bare);
  if (!end) throw new Error("the document does not end with </definitions>");
  const head = declareNamespaces(bare.slice(0, end.index).trimEnd());
  return `${head}\n${diagrams.join("\n")}\n${bare.slice(end.index).trimEnd()}\n`;
}

async function files(args: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of args.length > 0 ? args : ["processes"]) {
    if ((await Deno.stat(a)).isDirectory) {
      for await (const e of Deno.readDir(a)) {
        if (e.name.endsWith(".bpmn")) out.push(`${a}/${e.name}`);
      }
    } else out.push(a);
  }
  return out.sort();
}

if (import.meta.main) {
  for (const f of await files(Deno.args)) {
    const before = await Deno.readTextFile(f);
    const after = layoutBpmn(before);
    if (after !== before) await Deno.writeTextFile(f, after);
    console.log(`${f}: ${after === before ? "unchanged" : "laid out"}`);
  }
}

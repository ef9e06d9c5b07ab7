/**
 * Rule (a warning): every process in the BPMN files under `processes.path`
 * can be drawn. A file without diagram interchange (no `bpmndi:BPMNPlane`)
 * is reported at each of its `<process>` elements; in a file with one,
 * every flow node without a `bpmndi:BPMNShape` and every sequence flow
 * without a `bpmndi:BPMNEdge` is reported at its element. The engine runs
 * such a process, but Cockpit shows "no diagram to display" (or leaves the
 * element out): no tokens, no incident badge, nothing to click.
 *
 * @module
 */
import { dirname, isAbsolute, join } from "node:path";
import type { Diagnostic } from "../diagnostics.ts";
import { scanDiagram, undrawn } from "../bpmn_diagram.ts";
import type { RuleContext } from "./rule.ts";

const HINT_LAYOUT = "run `deno task layout` to lay the file out, or open it in Camunda " +
  "Modeler and save it";

/** Reports processes without a diagram and flow elements without a shape or an edge. */
export function bpmnDiagram(ctx: RuleContext): Diagnostic[] {
  if (!ctx.processes.exists) return [];
  const folder = ctx.spec.processes.path;
  const base = isAbsolute(folder) ? folder : join(dirname(ctx.file), folder);
  const path = [...ctx.where(["processes", "path"])];
  const out: Diagnostic[] = [];
  for (const f of ctx.processes.files) {
    for (const u of undrawn(scanDiagram(f.text))) {
      const name = u.process.id ? `the process \`${u.process.id}\`` : "a process without an id";
      const e = u.element;
      out.push({
        file: join(base, f.file),
        line: e ? e.line : u.process.line,
        column: e ? e.column : u.process.column,
        path,
        severity: "warning",
        message: e
          ? `the ${e.type} \`${e.id}\` of ${name} has no bpmndi:BPMN${
            e.needs === "shape" ? "Shape" : "Edge"
          }, so Cockpit cannot draw it`
          : `${name} has no diagram (no bpmndi:BPMNDiagram with a BPMNPlane), so Cockpit ` +
            `shows "no diagram to display"`,
        expected: e
          ? `a bpmndi:BPMN${e.needs === "shape" ? "Shape" : "Edge"} with bpmnElement="${e.id}"`
          : "a bpmndi:BPMNDiagram with a shape for every flow node and an edge for every " +
            "sequence flow",
        hint: HINT_LAYOUT,
      });
    }
  }
  return out;
}

/**
 * Camunda: every deployed process definition (latest version of each key)
 * can be drawn in Cockpit. Its BPMN XML, as the engine holds it
 * (`GET /process-definition/{id}/xml`), has a `bpmndi:BPMNPlane` with a
 * shape for every flow node and an edge for every sequence flow of that
 * process; otherwise Cockpit shows "no diagram to display" and an operator
 * sees no tokens and no incident badges. The same scan as the compiler's
 * `bpmn_diagram` rule (`compiler/bpmn_diagram.ts`).
 *
 * @module
 */
import { scanDiagram, undrawn } from "../../compiler/bpmn_diagram.ts";
import type { Check } from "../check.ts";
import { fail, pass, skip } from "../check.ts";
import { describeStatus, httpRequest, jsonOf } from "../clients/http.ts";
import { camundaAuth } from "./camunda.ts";

/** The most process definitions looked at. */
export const DEFINITIONS_SEARCHED = 500;

/** How many elements of one definition are named in a failure. */
const NAMED = 5;

interface Definition {
  id: string;
  key: string;
  version?: number;
  resource?: string;
}

/** What of one definition's XML cannot be drawn, in words; `undefined` when it all can. */
export function undrawnIn(xml: string, key: string): string | undefined {
  const scan = scanDiagram(xml);
  const own = undrawn(scan).filter((u) => u.process.id === key);
  if (own.length === 0) return undefined;
  if (!own[0].element) return "no diagram (no bpmndi:BPMNPlane)";
  const names = own.map((u) => `${u.element!.type} ${u.element!.id}`);
  const more = names.length > NAMED ? ` and ${names.length - NAMED} more` : "";
  return `no shape or edge for ${names.slice(0, NAMED).join(", ")}${more}`;
}

/**
 * What was found in each definition's XML, by definition id. A deployed
 * definition never changes (a new version gets a new id), so a long-lived
 * `verify serve` reads each XML once.
 */
const DRAWN = new Map<string, string | undefined>();

/** How many definitions' XML are fetched at once. */
const XML_AT_ONCE = 8;

/** Every deployed process definition (latest versions) has a complete diagram. */
export function diagramsCheck(): Check {
  return {
    id: "camunda.diagrams",
    domain: "camunda",
    name: "camunda: every deployed process definition can be drawn in Cockpit",
    run: async (ctx) => {
      const rest = (path: string) =>
        httpRequest(`${ctx.targets.camunda.url}/engine-rest${path}`, {
          auth: camundaAuth(ctx.model),
          signal: ctx.signal,
        });
      const list = await rest(
        `/process-definition?latestVersion=true&sortBy=key&sortOrder=asc` +
          `&maxResults=${DEFINITIONS_SEARCHED}`,
      );
      if (list.status !== 200) {
        return fail("GET /engine-rest/process-definition: HTTP 200", describeStatus(list));
      }
      const defs = jsonOf<Definition[]>(list);
      if (defs.length === 0) return skip("no process definitions are deployed");
      // the XMLs, XML_AT_ONCE at a time (a long-lived engine has hundreds of definitions)
      const found: (string | undefined)[] = new Array(defs.length);
      let next = 0;
      const fetchOne = async () => {
        for (let i = next++; i < defs.length; i = next++) {
          const d = defs[i];
          if (!DRAWN.has(d.id)) {
            const res = await rest(`/process-definition/${encodeURIComponent(d.id)}/xml`);
            if (res.status !== 200) {
              found[i] = `${d.key} (${d.id}): its XML: ${describeStatus(res)}`;
              continue;
            }
            const xml = String(jsonOf<{ bpmn20Xml?: string }>(res).bpmn20Xml ?? "");
            DRAWN.set(d.id, undrawnIn(xml, d.key));
          }
          const what = DRAWN.get(d.id);
          const from = d.resource ? `, from ${d.resource}` : "";
          if (what !== undefined) found[i] = `${d.key} version ${d.version ?? "?"}${from}: ${what}`;
        }
      };
      await Promise.all(Array.from({ length: XML_AT_ONCE }, fetchOne));
      const problems = found.filter((p): p is string => p !== undefined);
      if (problems.length === 0) {
        return pass(`${defs.length} process definition${defs.length === 1 ? "" : "s"} drawn`);
      }
      return fail(
        "a diagram (bpmndi:BPMNPlane) with a shape for every flow node and an edge for every " +
          "sequence flow, in the latest version of every deployed process definition",
        problems.join("\n"),
        "lay the BPMN file out (deno task layout, or save it in Camunda Modeler) and redeploy; " +
          "until then Cockpit shows no diagram, no tokens and no incident badges",
      );
    },
  };
}

/**
 * The `camunda.diagrams` check against a stand-in of the two endpoints it
 * reads (`/process-definition?latestVersion=true`, `/process-definition/{id}/xml`,
 * in Camunda's shapes): green when every definition's XML draws, a failure
 * naming each definition that does not (and what it lacks), a skip when
 * nothing is deployed. The real engine: `camunda_engine_test.ts`.
 */
import { expect } from "expect";
import { diagramsCheck, undrawnIn } from "../../verify/checks/camunda_diagrams.ts";
import { REPO_ROOT } from "../helpers/build.ts";
import { contextFor, referenceModel, run } from "./helpers.ts";

interface FakeDefinition {
  id: string;
  key: string;
  version: number;
  resource: string;
  xml: string;
}

function startFake(defs: FakeDefinition[]) {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
    const p = new URL(req.url).pathname.replace(/^\/engine-rest/, "");
    if (p === "/process-definition") {
      return Response.json(defs.map(({ xml: _, ...d }) => d));
    }
    const m = /^\/process-definition\/([^/]+)\/xml$/.exec(p);
    const d = m && defs.find((x) => x.id === decodeURIComponent(m[1]));
    return d
      ? Response.json({ id: d.id, bpmn20Xml: d.xml })
      : Response.json({ type: "RestException", message: "no definition" }, { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`,
    close: () => server.shutdown(),
  };
}

const SMOKE = Deno.readTextFileSync(`${REPO_ROOT}/processes/procos-smoke.bpmn`);
const BOOT = Deno.readTextFileSync(`${REPO_ROOT}/processes/procos-boot.bpmn`);
const bare = (xml: string) =>
  xml.replace(/\s*<bpmndi:BPMNDiagram[\s\S]*<\/bpmndi:BPMNDiagram>/, "");

async function check(defs: FakeDefinition[]) {
  const fake = startFake(defs);
  try {
    const model = await referenceModel();
    const ctx = await contextFor(model, { camunda: { url: fake.url } });
    return await run(diagramsCheck(), ctx);
  } finally {
    await fake.close();
  }
}

// as in Camunda, every definition has an id of its own (the check caches by id)
const def = (key: string, xml: string): FakeDefinition => ({
  id: `${key}:1:${crypto.randomUUID()}`,
  key,
  version: 1,
  resource: `${key}.bpmn`,
  xml,
});

Deno.test("camunda.diagrams: green when every deployed definition draws", async () => {
  expect(await check([def("procos-boot", BOOT), def("procos-smoke", SMOKE)])).toEqual({
    status: "pass",
    detail: "2 process definitions drawn",
  });
});

Deno.test("camunda.diagrams: names a definition without a diagram, and missing shapes", async () => {
  const noShape = SMOKE.replace(
    /\s*<bpmndi:BPMNShape id="task_generic_http_di"[\s\S]*?<\/bpmndi:BPMNShape>/,
    "",
  );
  const r = await check([def("procos-boot", bare(BOOT)), def("procos-smoke", noShape)]);
  expect(r).toMatchObject({
    status: "fail",
    expected: expect.stringMatching(/^a diagram \(bpmndi:BPMNPlane\) with a shape for every/),
    hint: expect.stringContaining("deno task layout"),
  });
  if (r.status === "fail") {
    expect(r.actual.split("\n")).toEqual([
      "procos-boot version 1, from procos-boot.bpmn: no diagram (no bpmndi:BPMNPlane)",
      "procos-smoke version 1, from procos-smoke.bpmn: no shape or edge for serviceTask " +
      "task_generic_http",
    ]);
  }
});

Deno.test("camunda.diagrams: skipped when nothing is deployed", async () => {
  expect(await check([])).toEqual({
    status: "skip",
    reason: "no process definitions are deployed",
  });
});

Deno.test("undrawnIn: only the definition's own process counts; long lists are cut", () => {
  // a file with two processes: the smoke process's diagram draws it, not the other one
  const two = SMOKE.replace(
    "</bpmn:process>",
    '</bpmn:process>\n  <bpmn:process id="other"><bpmn:startEvent id="o1" /></bpmn:process>',
  );
  expect(undrawnIn(two, "procos-smoke")).toBeUndefined();
  expect(undrawnIn(two, "other")).toBe("no shape or edge for startEvent o1");
  const none = SMOKE.replace(/<bpmndi:BPMNShape\b[\s\S]*?<\/bpmndi:BPMNShape>/g, "");
  expect(undrawnIn(none, "procos-smoke")).toBe(
    "no shape or edge for startEvent start, serviceTask task_ai_generate, serviceTask " +
      "task_generic_http, serviceTask task_generic_sql, serviceTask task_generic_publish " +
      "and 3 more",
  );
});

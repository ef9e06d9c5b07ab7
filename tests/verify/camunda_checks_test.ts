/**
 * The camunda checks against a stand-in of Camunda 7's REST API (the few
 * endpoints they read, with Camunda's shapes), served by the test.
 */
import { expect } from "expect";
import type { StackModel } from "../../compiler/model.ts";
import { camundaChecks } from "../../verify/checks/camunda.ts";
import { camundaHealthCheck } from "../../verify/checks/services.ts";
import { basicAuthHeader } from "../../verify/clients/http.ts";
import { withTempDir } from "../helpers/build.ts";
import { byId, contextFor, failing, referenceModel, run, runAll } from "./helpers.ts";

interface FakeDeployment {
  id: string;
  deploymentTime: string;
  resources: { id: string; name: string; data: Uint8Array }[];
}

interface FakeCamunda {
  url: string;
  deployments: FakeDeployment[];
  keys: string[];
  incidents: { incidentType: string; activityId: string; incidentMessage: string }[];
  version: string;
  /** Where the webapps are served (`/camunda`, Operaton's `/operaton`). */
  webapps: string;
  /** Basic auth enforced on everything but /engine-rest/engine. */
  auth?: { user: string; password: string };
  close(): Promise<void>;
}

function startFakeCamunda(): FakeCamunda {
  const state: Omit<FakeCamunda, "url" | "close"> = {
    deployments: [],
    keys: [],
    incidents: [],
    version: "7.24.0",
    webapps: "/camunda",
  };
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json" },
    });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
    const u = new URL(req.url);
    if (u.pathname === `${state.webapps}/app/welcome/default/`) {
      return new Response("<!DOCTYPE html><html></html>", {
        headers: { "content-type": "text/html;charset=UTF-8" },
      });
    }
    const p = u.pathname.replace(/^\/engine-rest/, "");
    if (p === "/engine") return json([{ name: "default" }]);
    if (
      state.auth && req.headers.get("authorization") !== basicAuthHeader(state.auth)
    ) {
      return new Response(null, {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="default"' },
      });
    }
    if (p === "/version") return json({ version: state.version });
    if (p === "/deployment") {
      const sorted = [...state.deployments].sort((a, b) =>
        b.deploymentTime.localeCompare(a.deploymentTime)
      );
      const max = Number(u.searchParams.get("maxResults") ?? 1e9);
      return json(
        sorted.slice(0, max).map((d) => ({
          id: d.id,
          name: "procos",
          deploymentTime: d.deploymentTime,
          source: "procos-kernel",
          tenantId: null,
          links: [],
        })),
      );
    }
    let m = /^\/deployment\/([^/]+)\/resources$/.exec(p);
    if (m) {
      const d = state.deployments.find((x) => x.id === decodeURIComponent(m![1]));
      return d
        ? json(d.resources.map((r) => ({ id: r.id, name: r.name, deploymentId: d.id })))
        : json({ type: "InvalidRequestException", message: "no deployment" }, 404);
    }
    m = /^\/deployment\/([^/]+)\/resources\/([^/]+)\/data$/.exec(p);
    if (m) {
      const d = state.deployments.find((x) => x.id === decodeURIComponent(m![1]));
      const r = d?.resources.find((x) => x.id === decodeURIComponent(m![2]));
      return r
        ? new Response(r.data as Uint8Array<ArrayBuffer>, {
          headers: { "content-type": "application/octet-stream" },
        })
        : json({ type: "InvalidRequestException", message: "no resource" }, 404);
    }
    m = /^\/process-definition\/key\/([^/]+)$/.exec(p);
    if (m) {
      const key = decodeURIComponent(m[1]);
      return state.keys.includes(key) ? json({ id: `${key}:1:abc`, key, version: 1 }) : json({
        type: "RestException",
        message: `No matching process definition with key: ${key} and no tenant-id`,
      }, 404);
    }
    if (p === "/process-definition") {
      const name = u.searchParams.get("resourceName");
      if (name === null) return json([]);
      // a definition per deployment of a resource of that name, newest first
      const defs = [...state.deployments]
        .filter((d) => d.resources.some((r) => r.name === name))
        .sort((a, b) => b.deploymentTime.localeCompare(a.deploymentTime))
        .map((d) => ({ id: `def:${d.id}`, deploymentId: d.id, resource: name }));
      expect(u.searchParams.get("sortBy")).toBe("deployTime");
      const max = Number(u.searchParams.get("maxResults") ?? 1e9);
      return json(defs.slice(0, max));
    }
    if (p === "/incident/count") return json({ count: state.incidents.length });
    if (p === "/incident") return json(state.incidents.slice(0, 5));
    return json({ type: "NotFoundException", message: p }, 404);
  });
  const fake = state as FakeCamunda;
  fake.url = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  fake.close = () => server.shutdown();
  return fake;
}

const enc = (s: string) => new TextEncoder().encode(s);
const bpmn = (id: string, extra = "") =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">` +
  `<bpmn:process id="${id}" isExecutable="true">${extra}</bpmn:process></bpmn:definitions>\n`;

/** A spec folder with processes/ holding the files; the fake; the model and context. */
async function setup(
  files: Record<string, string>,
  fn: (x: {
    fake: FakeCamunda;
    model: StackModel;
    dir: string;
    ctx: Awaited<ReturnType<typeof contextFor>>;
  }) => Promise<void>,
) {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/processes/sub`, { recursive: true });
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/processes/${name}`, text);
    }
    const fake = startFakeCamunda();
    try {
      const model = await referenceModel();
      model.processes = { path: "processes", boot: ["procos-boot"] };
      const ctx = await contextFor(model, { camunda: { url: fake.url } }, { specDir: dir });
      await fn({ fake, model, dir, ctx });
    } finally {
      await fake.close();
    }
  });
}

const FILES = {
  "procos-boot.bpmn": bpmn("procos-boot"),
  "sub/other.bpmn": bpmn("procos-other"),
  "notes.txt": "not a process",
};

function deployAll(fake: FakeCamunda, files: Record<string, string>, id: string, time: string) {
  fake.deployments.push({
    id,
    deploymentTime: time,
    resources: Object.entries(files).filter(([n]) => n.endsWith(".bpmn")).map(([name, text]) => ({
      id: `${id}-${name}`,
      name: name.split("/").pop()!,
      data: enc(text),
    })),
  });
}

Deno.test("camunda checks: green when every BPMN file is deployed as it is", async () => {
  await setup(FILES, async ({ fake, model, ctx }) => {
    deployAll(fake, FILES, "d1", "2025-01-01T10:00:00.000+0000");
    fake.keys.push("procos-boot");
    const checks = camundaChecks(model, ctx);
    expect(checks.map((c) => c.id)).toEqual([
      "camunda.engine",
      "camunda.webapps",
      "camunda.deployed.procos-boot.bpmn",
      "camunda.deployed.sub/other.bpmn",
      "camunda.boot.procos-boot",
      "camunda.rest-auth.open",
      "camunda.incidents",
    ]);
    const results = await runAll(checks, ctx);
    expect(failing(results)).toEqual([]);
    expect(results.get("camunda.engine")).toEqual({ status: "pass", detail: "Camunda 7.24.0" });
    expect((await run(camundaHealthCheck(), ctx)).status).toBe("pass");
  });
});

Deno.test("camunda checks: a file edited after deployment fails, naming it; the latest deployment counts", async () => {
  await setup(FILES, async ({ fake, model, ctx, dir }) => {
    deployAll(fake, FILES, "d1", "2025-01-01T10:00:00.000+0000");
    fake.keys.push("procos-boot");
    await Deno.writeTextFile(`${dir}/processes/procos-boot.bpmn`, bpmn("procos-boot", "<x/>"));
    const checks = camundaChecks(model, ctx);
    let results = await runAll(checks, ctx);
    expect(failing(results)).toEqual(["camunda.deployed.procos-boot.bpmn"]);
    const check = byId(checks, "camunda.deployed.procos-boot.bpmn");
    expect(check.name).toBe("camunda: processes/procos-boot.bpmn deployed with the same content");
    const r = results.get(check.id)!;
    expect(r.status).toBe("fail");
    if (r.status === "fail") {
      expect(r.expected).toMatch(
        /^the latest deployed procos-boot\.bpmn equal to processes\/procos-boot\.bpmn \(sha256 [0-9a-f]{12}, \d+ bytes\)$/,
      );
      expect(r.actual).toMatch(/^deployment d1, resource procos-boot\.bpmn holds sha256/);
    }
    // redeployed: a newer deployment with the new content wins
    deployAll(
      fake,
      { "procos-boot.bpmn": bpmn("procos-boot", "<x/>") },
      "d2",
      "2025-01-02T10:00:00.000+0000",
    );
    results = await runAll(checks, ctx);
    expect(failing(results)).toEqual([]);
    // a newer deployment with other content: fails again
    deployAll(
      fake,
      { "procos-boot.bpmn": bpmn("procos-boot", "<y/>") },
      "d3",
      "2025-01-03T10:00:00.000+0000",
    );
    expect(failing(await runAll(checks, ctx))).toEqual(["camunda.deployed.procos-boot.bpmn"]);
  });
});

Deno.test("camunda checks: undeployed file, missing boot process, incidents, wrong major version", async () => {
  await setup(FILES, async ({ fake, model, ctx }) => {
    deployAll(
      fake,
      { "procos-boot.bpmn": FILES["procos-boot.bpmn"] },
      "d1",
      "2025-01-01T00:00:00.000+0000",
    );
    fake.incidents.push(
      { incidentType: "failedJob", activityId: "Task_1", incidentMessage: "boom" },
      { incidentType: "failedExternalTask", activityId: "Task_2", incidentMessage: "bang" },
    );
    fake.version = "8.0.0";
    const results = await runAll(camundaChecks(model, ctx), ctx);
    expect(failing(results)).toEqual([
      "camunda.boot.procos-boot",
      "camunda.deployed.sub/other.bpmn",
      "camunda.engine",
      "camunda.incidents",
    ]);
    expect(results.get("camunda.deployed.sub/other.bpmn")).toMatchObject({
      expected: "a process definition deployed from a resource named sub/other.bpmn",
      actual: "none",
    });
    expect(results.get("camunda.engine")).toMatchObject({
      expected: "Camunda 7.x",
      actual: "version 8.0.0",
    });
    const inc = results.get("camunda.incidents");
    expect(inc).toMatchObject({ expected: "0 open incidents" });
    if (inc?.status === "fail") {
      expect(inc.actual.split("\n")).toEqual([
        "2 open incident(s)",
        "failedJob at Task_1: boom",
        "failedExternalTask at Task_2: bang",
      ]);
    }
    expect(results.get("camunda.boot.procos-boot")).toMatchObject({
      expected: "a process definition with key procos-boot",
    });
  });
});

Deno.test("camunda checks: REST auth enforced and credentials accepted when the spec says rest_auth", async () => {
  await setup(FILES, async ({ fake, model, ctx }) => {
    model.camunda.restAuth = true;
    model.camunda.adminUser = "demo";
    model.camunda.adminPassword = "s3cret-admin";
    deployAll(fake, FILES, "d1", "2025-01-01T00:00:00.000+0000");
    fake.keys.push("procos-boot");
    // the engine is open: enforcement fails
    const checks = camundaChecks(model, ctx);
    expect(checks.map((c) => c.id)).toContain("camunda.rest-auth.enforced");
    let results = await runAll(checks, ctx);
    expect(failing(results)).toEqual(["camunda.rest-auth.enforced"]);
    expect(results.get("camunda.rest-auth.enforced")).toMatchObject({
      expected: "GET /engine-rest/process-definition without credentials: HTTP 401",
      actual: "HTTP 200: []",
    });
    // enforced with the spec's credentials: green (every check authenticates)
    fake.auth = { user: "demo", password: "s3cret-admin" };
    results = await runAll(checks, ctx);
    expect(failing(results)).toEqual([]);
    // enforced with another password: the credentials check fails
    fake.auth = { user: "demo", password: "other" };
    results = await runAll(checks, ctx);
    expect(failing(results)).toContain("camunda.rest-auth.accepted");
    expect(JSON.stringify([...results])).not.toContain("s3cret-admin");
  });
});

Deno.test("camunda checks: no BPMN files means one skipped deployment check", async () => {
  await setup({ "readme.txt": "nothing" }, async ({ fake, model, ctx }) => {
    fake.keys.push("procos-boot");
    const checks = camundaChecks(model, ctx);
    const r = await run(byId(checks, "camunda.deployed"), ctx);
    expect(r).toEqual({ status: "skip", reason: "no BPMN files in processes/" });
  });
});

Deno.test("camunda checks: an Operaton spec on Operaton is green, its version as Operaton reports it", async () => {
  await setup(FILES, async ({ fake, model, ctx }) => {
    model.camunda.distribution = "operaton";
    fake.version = "1.0.3";
    fake.webapps = "/operaton";
    deployAll(fake, FILES, "d1", "2025-01-01T10:00:00.000+0000");
    fake.keys.push("procos-boot");
    const checks = camundaChecks(model, ctx);
    expect(byId(checks, "camunda.engine").name).toBe("camunda: engine 'default' runs Operaton 1");
    expect(byId(checks, "camunda.webapps").name).toBe(
      "camunda: the webapps answer at /operaton/",
    );
    const results = await runAll(checks, ctx);
    expect(failing(results)).toEqual([]);
    expect(results.get("camunda.engine")).toEqual({ status: "pass", detail: "Operaton 1.0.3" });
    expect(results.get("camunda.webapps")).toEqual({
      status: "pass",
      detail: "GET /operaton/app/welcome/default/: HTTP 200",
    });
  });
});

Deno.test("camunda checks: an Operaton spec on a Camunda engine fails the version and the webapps", async () => {
  await setup(FILES, async ({ fake, model, ctx }) => {
    model.camunda.distribution = "operaton";
    deployAll(fake, FILES, "d1", "2025-01-01T10:00:00.000+0000");
    fake.keys.push("procos-boot");
    fake.incidents.push({ incidentType: "failedJob", activityId: "Task_1", incidentMessage: "x" });
    const results = await runAll(camundaChecks(model, ctx), ctx);
    expect(failing(results)).toEqual(["camunda.engine", "camunda.incidents", "camunda.webapps"]);
    expect(results.get("camunda.engine")).toMatchObject({
      expected: "Operaton 1.x",
      actual: "version 7.24.0",
      hint: "the spec's engine.distribution is operaton: is the engine running the image or " +
        "jar of another distribution?",
    });
    expect(results.get("camunda.webapps")).toMatchObject({
      expected: "GET /operaton/app/welcome/default/: HTTP 200, an HTML page",
    });
    expect(results.get("camunda.incidents")).toMatchObject({
      hint: "see Cockpit (/operaton/app/cockpit) for the failing jobs or external tasks",
    });
  });
});

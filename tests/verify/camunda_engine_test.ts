/**
 * The camunda checks against the real engine (engine/target/procos-engine.jar,
 * Camunda 7 on Spring Boot) on a throwaway PostgreSQL database: the
 * repository's processes deployed through the REST API are found byte for
 * byte, and an edited copy is not; the engine's XML of each is drawn
 * (`camunda.diagrams`), and a deployed process without a diagram is named.
 * Ignored when the jar or java is missing.
 */
import { expect } from "expect";
import { camundaChecks } from "../../verify/checks/camunda.ts";
import { diagramsCheck } from "../../verify/checks/camunda_diagrams.ts";
import { REPO_ROOT, withTempDir } from "../helpers/build.ts";
import { PG, withScratch } from "../helpers/pg.ts";
import { contextFor, failing, freePort, referenceModel, runAll } from "./helpers.ts";
import { ENGINE_JAR, engineAvailable, TEST_ENGINE } from "../helpers/engine.ts";
import { ENGINES } from "../../compiler/engines.ts";

/** Waits until `url` answers 200, failing early if our engine process has exited. */
async function waitFor(url: string, ms: number, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    // (a port race could otherwise make us talk to someone else's engine)
    if (exited()) throw new Error("the engine exited before it answered");
    try {
      const r = await fetch(url);
      await r.body?.cancel();
      if (r.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${url} did not answer within ${ms / 1000}s`);
}

Deno.test({
  name: "camunda checks: against the real engine, deployed processes match; an edited one fails",
  ignore: !engineAvailable(),
  fn: async () => {
    await withScratch(async (s) => {
      const port = freePort();
      const engine = new Deno.Command("java", {
        args: ["-Xmx512m", "-jar", ENGINE_JAR],
        env: {
          SERVER_PORT: String(port),
          DB_URL: `jdbc:postgresql://${PG.host}:${PG.port}/${s.database}`,
          DB_USERNAME: s.role,
          DB_PASSWORD: "unused-with-trust-auth",
          CAMUNDA_ADMIN_USER: "demo",
          CAMUNDA_ADMIN_PASSWORD: "demo-pass",
          CAMUNDA_BPM_RUN_AUTH_ENABLED: "false",
        },
        stdout: "null",
        stderr: "null",
        stdin: "null",
      }).spawn();
      let exited = false;
      const status = engine.status.then((st) => {
        exited = true;
        return st;
      });
      try {
        const url = `http://127.0.0.1:${port}`;
        await waitFor(`${url}/engine-rest/engine`, 180_000, () => exited);
        const form = new FormData();
        form.append("deployment-name", "procos-verify-test");
        const names: string[] = [];
        for (const e of Deno.readDirSync(`${REPO_ROOT}/processes`)) {
          if (!e.name.endsWith(".bpmn")) continue;
          names.push(e.name);
          const bytes = await Deno.readFile(`${REPO_ROOT}/processes/${e.name}`);
          form.append(e.name, new Blob([bytes]), e.name);
        }
        const dep = await fetch(`${url}/engine-rest/deployment/create`, {
          method: "POST",
          body: form,
        });
        expect(dep.status).toBe(200);
        await dep.body?.cancel();

        const model = await referenceModel();
        model.camunda.distribution = TEST_ENGINE;
        const ctx = await contextFor(model, { camunda: { url } });
        const checks = camundaChecks(model, ctx);
        expect(checks.filter((c) => c.id.startsWith("camunda.deployed.")).length).toBe(
          names.length,
        );
        const green = await runAll(checks, ctx);
        expect(failing(green)).toEqual([]);
        expect(green.get("camunda.engine")).toMatchObject({
          status: "pass",
          detail: `${ENGINES[TEST_ENGINE].title} ${ENGINES[TEST_ENGINE].version}`,
        });

        // the same check over an edited copy of the processes folder
        await withTempDir(async (dir) => {
          await Deno.mkdir(`${dir}/processes`);
          for (const n of names) {
            await Deno.copyFile(`${REPO_ROOT}/processes/${n}`, `${dir}/processes/${n}`);
          }
          const first = names.sort()[0];
          await Deno.writeTextFile(
            `${dir}/processes/${first}`,
            (await Deno.readTextFile(`${dir}/processes/${first}`)) + "\n<!-- edited -->\n",
          );
          const edited = await contextFor(model, { camunda: { url } }, { specDir: dir });
          const now = await runAll(camundaChecks(model, edited), edited);
          expect(failing(now)).toEqual([`camunda.deployed.${first}`]);
        });

        // diagrams: the engine's XML of each bundled process draws; one without a diagram fails
        const drawn = await runAll([diagramsCheck()], ctx);
        expect(drawn.get("camunda.diagrams")).toEqual({
          status: "pass",
          detail: `${names.length} process definitions drawn`,
        });
        const bare = new FormData();
        bare.append("deployment-name", "procos-verify-test-bare");
        const xml = (await Deno.readTextFile(`${REPO_ROOT}/processes/procos-boot.bpmn`))
          .replace(/\s*<bpmndi:BPMNDiagram[\s\S]*<\/bpmndi:BPMNDiagram>/, "")
          .replaceAll("procos-boot", "procos-t-bare");
        bare.append("bare.bpmn", new Blob([xml]), "bare.bpmn");
        const dep2 = await fetch(`${url}/engine-rest/deployment/create`, {
          method: "POST",
          body: bare,
        });
        expect(dep2.status).toBe(200);
        await dep2.body?.cancel();
        const undrawn = (await runAll([diagramsCheck()], ctx)).get("camunda.diagrams");
        expect(undrawn).toMatchObject({
          status: "fail",
          actual: "procos-t-bare version 1, from bare.bpmn: no diagram (no bpmndi:BPMNPlane)",
        });
        expect(exited).toBe(false);
      } finally {
        if (!exited) engine.kill("SIGTERM");
        await status;
      }
    }, { create: true });
  },
});

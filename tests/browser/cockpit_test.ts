/**
 * Cockpit in a real browser (Debian's chromium through playwright-core), on
 * the real engine jar with the bundled processes deployed and the real
 * generic worker running:
 *
 * 1. log in to /camunda (Operaton's /operaton under PROCOS_TEST_ENGINE=operaton) as the admin user;
 * 2. each bundled process definition's diagram renders: every flow node and
 *    sequence flow of its BPMN file is an SVG element of the diagram;
 * 3. an instance of `procos-smoke` started at its generic-http task, with a
 *    URL nobody listens on and no retries, fails in the worker: the incident
 *    badge sits on that activity (definition and instance views) and on no
 *    other;
 * 4. `deno task verify --only camunda` against this engine reports the
 *    incident and finds every definition drawn.
 *
 * Screenshots are test artefacts in a temporary folder, removed afterwards;
 * `PROCOS_TEST_ARTIFACTS=DIR` keeps a copy in DIR, and `UPDATE_DOCS=1`
 * copies the ones the README shows to `docs/images/`. Ignored without the
 * engine jar, java or chromium.
 *
 * @module
 */
import { ENGINES } from "../../compiler/engines.ts";
import { expect } from "expect";
import { scanDiagram } from "../../compiler/bpmn_diagram.ts";
import { main as verify } from "../../verify/cli.ts";
import { REPO_ROOT } from "../helpers/build.ts";
import { engineAvailable, TEST_ENGINE } from "../helpers/engine.ts";
import { chromiumAvailable, launchBrowser, renderTerminal } from "../helpers/browser.ts";
import { dropScratch } from "../helpers/pg.ts";
import {
  createDatabase,
  createVhost,
  type Engine,
  freePort,
  manifestOf,
  newScratch,
  referenceModel,
  rest,
  startEngine,
  startWorker,
  type TestDatabase,
  until,
} from "../workers/helpers.ts";

const ADMIN = "demo";
const PASSWORD = `cockpit-${crypto.randomUUID()}`; // test-only, never printed
/** The screenshots the README shows, by artefact name → file under docs/images/. */
const DOCS: Record<string, string> = {
  "procos-smoke-incident.png": "cockpit-procos-smoke-incident.png",
  "verify-camunda.png": "verify-camunda.png",
};

const BUNDLED = [...Deno.readDirSync(`${REPO_ROOT}/processes`)]
  .filter((e) => e.name.endsWith(".bpmn")).map((e) => e.name).sort();

Deno.test({
  name: "cockpit: every bundled process draws in a real browser; the incident badge is on its task",
  ignore: !engineAvailable() || !chromiumAvailable(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const cleanups: Array<[string, () => Promise<unknown>]> = [];
    const cleanup = (name: string, fn: () => Promise<unknown>) => cleanups.unshift([name, fn]);
    const artefacts = await Deno.makeTempDir({ prefix: "procos-cockpit-" });
    cleanup("artefacts", () => Deno.remove(artefacts, { recursive: true }));
    let db: TestDatabase | undefined;
    let engine: Engine | undefined;
    try {
      // ---- the stack: database, vhost, engine, processes, generic worker -------------
      const scratch = newScratch();
      const model = await referenceModel(scratch);
      cleanup("database", () => db ? db.drop() : dropScratch(scratch).catch(() => {}));
      db = await createDatabase(model, scratch);
      const vhost = await createVhost(model);
      cleanup("vhost", () => vhost.drop());
      engine = await startEngine(db, undefined, {
        CAMUNDA_BPM_ADMINUSER_ID: ADMIN,
        CAMUNDA_BPM_ADMINUSER_PASSWORD: PASSWORD,
      });
      cleanup("engine", () => engine!.stop());
      const api = engine.url;
      const base = api.replace(/\/engine-rest$/, "");

      const form = new FormData();
      form.append("deployment-name", model.project);
      for (const name of BUNDLED) {
        form.append(name, new Blob([await Deno.readFile(`${REPO_ROOT}/processes/${name}`)]), name);
      }
      const deployed = await fetch(`${api}/deployment/create`, { method: "POST", body: form });
      expect(deployed.status).toBe(200);
      await deployed.body?.cancel();

      const manifest = manifestOf(model, "generic", (m) => {
        m.camunda.baseUrl = api;
        for (const x of m.topics) {
          x.lockDurationMs = 5000;
          if (x.name === "generic-http") x.retries = 0;
        }
      });
      const worker = await startWorker("generic", manifest, {
        CAMUNDA_BASE_URL: api,
        DATABASE_URL: db.url,
        REDIS_URL: "redis://127.0.0.1:6379",
        RABBITMQ_URL: vhost.url,
        PROCOS_REDIS_PREFIX: `procos:test:${crypto.randomUUID().slice(0, 8)}:`,
        PROCOS_POLL_INTERVAL_MS: "100",
        PROCOS_POLL_TIMEOUT_MS: "1000",
      });
      cleanup("generic worker", () => worker.stop(5000));
      await until("the generic worker healthy", async () => {
        const r = await fetch(`http://127.0.0.1:${worker.healthPort}/health`).catch(() => null);
        await r?.body?.cancel();
        return r?.status === 200;
      }, 30_000);

      // procos-smoke from its generic-http task on: a port nobody listens on, no retries
      const instance = await rest<{ id: string }>(
        api,
        "POST",
        "/process-definition/key/procos-smoke/start",
        {
          variables: {
            httpUrl: { value: `http://127.0.0.1:${freePort()}/unreachable`, type: "String" },
          },
          startInstructions: [{ type: "startBeforeActivity", activityId: "task_generic_http" }],
        },
      );
      const incidents = await until("the worker's incident", async () => {
        const list = await rest<{ activityId: string; incidentType: string }[]>(
          api,
          "GET",
          `/incident?processInstanceId=${instance.id}`,
        );
        return list.length > 0 ? list : undefined;
      }, 60_000);
      expect(incidents.map((i) => [i.activityId, i.incidentType])).toEqual([
        ["task_generic_http", "failedExternalTask"],
      ]);

      // ---- the browser ------------------------------------------------------------------
      const browser = await launchBrowser();
      cleanup("browser", () => browser.close());
      const page = await browser.context.newPage();
      const cockpit = `${base}${ENGINES[TEST_ENGINE].webapps}/app/cockpit/default/`;
      const shot = (name: string) => page.screenshot({ path: `${artefacts}/${name}` });

      await t.step("log in to Cockpit as the admin user", async () => {
        await page.goto(cockpit);
        const login = page.locator('form[name="signinForm"]');
        await login.locator('input[ng-model="username"]').fill(ADMIN);
        await login.locator('input[ng-model="password"]').fill(PASSWORD);
        await login.locator('button[type="submit"]').click();
        await page.waitForURL(/#\/dashboard$/, { timeout: 30_000 });
        await page.locator(".processes-dashboard, [cam-widget-header]").first().waitFor();
        await shot("dashboard.png");
      });

      const definitions = await rest<{ id: string; key: string; resource: string }[]>(
        api,
        "GET",
        "/process-definition?latestVersion=true&sortBy=key&sortOrder=asc",
      );
      expect(definitions.map((d) => d.resource).sort()).toEqual(BUNDLED);

      for (const d of definitions) {
        await t.step(`${d.key}: the diagram renders every flow element as SVG`, async () => {
          const xml = await Deno.readTextFile(`${REPO_ROOT}/processes/${d.resource}`);
          const want = scanDiagram(xml).processes.flatMap((p) => p.elements.map((e) => e.id));
          expect(want.length).toBeGreaterThanOrEqual(5);
          // (a fresh load: the processes share element ids, and Cockpit swaps diagrams late)
          await page.goto("about:blank");
          await page.goto(`${cockpit}#/process-definition/${encodeURIComponent(d.id)}/runtime`);
          await page.getByText(d.key, { exact: true }).first().waitFor();
          const svg = page.locator("svg").filter({ has: page.locator(".djs-element") });
          await svg.locator(`[data-element-id="${want.at(-1)}"]`).first().waitFor();
          const drawn = await svg.locator("g.djs-element[data-element-id]").evaluateAll((els) =>
            els.map((e) => e.getAttribute("data-element-id"))
          );
          expect([...new Set(drawn)].sort()).toEqual(expect.arrayContaining([...want].sort()));
          expect(await page.getByText("no diagram to display").count()).toBe(0);
          await shot(`${d.key}.png`);
        });
      }

      const badge = (activity: string) =>
        page.locator(
          `.djs-overlays[data-container-id="${activity}"] .badge.instance-incidents:visible`,
        );
      const badged = () =>
        page.locator(".djs-overlays .badge.instance-incidents:visible").evaluateAll((els) =>
          els.map((e) => e.closest(".djs-overlays")?.getAttribute("data-container-id"))
        );

      await t.step("procos-smoke: the incident badge sits on generic-http", async () => {
        const smoke = definitions.find((d) => d.key === "procos-smoke")!;
        await page.goto("about:blank");
        await page.goto(`${cockpit}#/process-definition/${encodeURIComponent(smoke.id)}/runtime`);
        await badge("task_generic_http").waitFor({ timeout: 30_000 });
        expect((await badge("task_generic_http").textContent())?.trim()).toBe("1");
        expect(await badged()).toEqual(["task_generic_http"]);
        await shot("procos-smoke-incident.png");

        await page.goto("about:blank");
        await page.goto(`${cockpit}#/process-instance/${instance.id}/runtime`);
        await badge("task_generic_http").waitFor({ timeout: 30_000 });
        expect(await badged()).toEqual(["task_generic_http"]);
        await shot("procos-smoke-instance.png");
      });

      await t.step(
        "verify --only camunda: every definition drawn, the incident reported",
        async () => {
          let text = "";
          const code = await verify([
            "--config",
            `${REPO_ROOT}/procos.config.yaml`,
            "--only",
            "camunda",
            "--camunda-url",
            base,
          ], {
            write: (s) => (text += s),
            stderr: (l) => (text += `${l}\n`),
            env: {},
            color: true,
          });
          // deno-lint-ignore no-control-regex
          const plain = text.replace(/\x1b\[[0-9;]*m/g, "");
          expect(code).toBe(1);
          expect(plain).toMatch(/PASS +camunda: every deployed process definition can be drawn/);
          expect(plain).toMatch(/FAIL +camunda: no open incidents/);
          expect(plain).toContain("failedExternalTask at task_generic_http");
          expect(plain).not.toContain(PASSWORD);
          await renderTerminal(
            page,
            `$ deno task verify --only camunda\n${text.replaceAll(`${REPO_ROOT}/`, "")}`,
            `${artefacts}/verify-camunda.png`,
            "deno task verify --only camunda (the browser test's engine, with its incident)",
          );
        },
      );

      const keep = Deno.env.get("PROCOS_TEST_ARTIFACTS");
      if (keep) await copyAll(artefacts, keep);
      if (Deno.env.get("UPDATE_DOCS") === "1") {
        await Deno.mkdir(`${REPO_ROOT}/docs/images`, { recursive: true });
        for (const [from, to] of Object.entries(DOCS)) {
          await Deno.copyFile(`${artefacts}/${from}`, `${REPO_ROOT}/docs/images/${to}`);
        }
      }
    } finally {
      for (const [name, fn] of cleanups) {
        try {
          await fn();
        } catch (e) {
          console.error(`cleanup ${name} failed:`, e);
        }
      }
    }
  },
});

/** Copies every file of `from` into `to` (created). */
async function copyAll(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
  console.error(`cockpit: screenshots kept in ${to}`);
}

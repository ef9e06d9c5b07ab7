/**
 * The engine jar itself, of each distribution (Camunda's
 * engine/target/procos-engine.jar, Operaton's
 * engine/target/operaton/procos-engine-operaton.jar: `compiler/engines.ts`),
 * on a scratch PostgreSQL database, started twice on the same database with
 * the same environment variables:
 *
 * 1. default profile, REST auth on, admin password A: A authenticates; the
 *    version is the distribution's, the admin is in its admin group, the
 *    webapps answer at its path (`/camunda`, `/operaton`); a process
 *    without historyTimeToLive is refused, one with it deploys;
 * 2. `SPRING_PROFILES_ACTIVE=production`, admin password B (rotated), REST
 *    auth switch off: auth is forced on (401 without credentials), B
 *    authenticates and A no longer does (the admin password sync), a CORS
 *    preflight from another origin gets no `Access-Control-Allow-Origin`,
 *    and the webapps' cookies are Secure and SameSite=Strict.
 *
 * Each distribution's test is ignored when its jar or java is missing.
 *
 * @module
 */
import { expect } from "expect";
import { type Engine, newScratch, referenceModel, startEngine } from "../workers/helpers.ts";
import { createDatabase, type TestDatabase } from "../workers/helpers.ts";
import { dropScratch } from "../helpers/pg.ts";
import { engineAvailable } from "../helpers/engine.ts";
import { DISTRIBUTIONS, ENGINES } from "../../compiler/engines.ts";

const ADMIN = "procosadmin"; // (Camunda allows only [a-zA-Z0-9]+ user ids)
// test-only passwords, never printed
const PASSWORD_A = `a-${crypto.randomUUID()}`;
const PASSWORD_B = `b-${crypto.randomUUID()}`;

const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;

/** Status of a GET, with optional Basic credentials; the body is read and dropped. */
async function status(url: string, auth?: string): Promise<number> {
  const r = await fetch(url, { headers: auth ? { authorization: auth } : {} });
  await r.body?.cancel();
  return r.status;
}

/** Deploys one BPMN through the REST API; returns the status and the response text. */
async function deploy(
  api: string,
  auth: string,
  name: string,
  xml: string,
): Promise<{ status: number; text: string }> {
  const form = new FormData();
  form.append("deployment-name", name);
  form.append(`${name}.bpmn`, new Blob([xml]), `${name}.bpmn`);
  const r = await fetch(`${api}/deployment/create`, {
    method: "POST",
    headers: { authorization: auth },
    body: form,
  });
  return { status: r.status, text: await r.text() };
}

const bpmnProcess = (id: string, ttl?: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_${id}" targetNamespace="http://procos.dev/t">
  <bpmn:process id="${id}" isExecutable="true"${
    ttl === undefined ? "" : ` camunda:historyTimeToLive="${ttl}"`
  }>
    <bpmn:startEvent id="start"><bpmn:outgoing>f</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f" sourceRef="start" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
`;

for (const distribution of DISTRIBUTIONS) {
  const dist = ENGINES[distribution];
  Deno.test({
    name: `engine (${dist.title} ${dist.version}): admin password rotation reaches an existing ` +
      `database; production profile`,
    ignore: !engineAvailable(distribution),
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      const scratch = newScratch();
      let db: TestDatabase | undefined;
      let engine: Engine | undefined;
      try {
        db = await createDatabase(await referenceModel(scratch), scratch);
        engine = await startEngine(db, undefined, {
          CAMUNDA_BPM_ADMINUSER_ID: ADMIN,
          CAMUNDA_BPM_ADMINUSER_PASSWORD: PASSWORD_A,
          CAMUNDA_BPM_RUN_AUTH_ENABLED: "true",
        }, distribution);
        const api = engine.url;
        const base = api.replace(/\/engine-rest$/, "");

        await t.step("default profile: password A authenticates", async () => {
          expect(await status(`${api}/process-definition`)).toBe(401);
          expect(await status(`${api}/process-definition`, basic(ADMIN, PASSWORD_A))).toBe(200);
        });

        await t.step(
          `the version, the admin group and the webapps are ${dist.title}'s`,
          async () => {
            const auth = { authorization: basic(ADMIN, PASSWORD_A) };
            const v = await (await fetch(`${api}/version`, { headers: auth })).json();
            expect(v).toEqual({ version: dist.version });
            const groups = await (await fetch(`${api}/group?member=${ADMIN}`, { headers: auth }))
              .json() as { id: string }[];
            expect(groups.map((g) => g.id)).toEqual([dist.adminGroup]);
            const root = await fetch(`${base}/`, { redirect: "manual" });
            await root.body?.cancel();
            expect(root.headers.get("location") ?? "").toMatch(new RegExp(`${dist.webapps}/app/$`));
            const welcome = await fetch(`${base}${dist.webapps}/app/welcome/default/`);
            expect(welcome.status).toBe(200);
            expect(await welcome.text()).toMatch(/<html/i);
          },
        );

        await t.step("history TTL is enforced: without it refused, with it deployed", async () => {
          const auth = basic(ADMIN, PASSWORD_A);
          const without = await deploy(
            api,
            auth,
            "procos-t-no-ttl",
            bpmnProcess("procos_t_no_ttl"),
          );
          expect(without.status).toBe(400);
          expect(without.text).toMatch(/historyTimeToLive/);
          for (const [id, ttl] of [["procos_t_ttl_iso", "P30D"], ["procos_t_ttl_days", "30"]]) {
            const ok = await deploy(api, auth, id, bpmnProcess(id, ttl));
            expect({ id, status: ok.status }).toEqual({ id, status: 200 });
          }
        });

        await engine.stop();
        await engine.start({
          CAMUNDA_BPM_ADMINUSER_ID: ADMIN,
          CAMUNDA_BPM_ADMINUSER_PASSWORD: PASSWORD_B,
          CAMUNDA_BPM_RUN_AUTH_ENABLED: "false",
          SPRING_PROFILES_ACTIVE: "production",
        });

        await t.step("production: REST auth forced on, rotated password B in force", async () => {
          expect(await status(`${api}/process-definition`)).toBe(401);
          expect(await status(`${api}/process-definition`, basic(ADMIN, PASSWORD_B))).toBe(200);
          // the admin is in camunda-admin: with authorization on it sees the definitions
          const r = await fetch(`${api}/process-definition/count`, {
            headers: { authorization: basic(ADMIN, PASSWORD_B) },
          });
          expect(await r.json()).toEqual({ count: 2 });
          // (a wrong password throttles the user for a while: checked last)
          expect(await status(`${api}/process-definition`, basic(ADMIN, PASSWORD_A))).toBe(401);
        });

        await t.step(
          "production: a CORS preflight from another origin is not allowed",
          async () => {
            const r = await fetch(`${api}/process-definition`, {
              method: "OPTIONS",
              headers: {
                origin: "http://evil.example",
                "access-control-request-method": "GET",
                "access-control-request-headers": "authorization",
              },
            });
            await r.body?.cancel();
            expect(r.headers.get("access-control-allow-origin")).toBeNull();
            expect(r.headers.get("access-control-allow-credentials")).toBeNull();
            const get = await fetch(`${api}/engine`, {
              headers: { origin: "http://evil.example" },
            });
            await get.body?.cancel();
            expect(get.status).toBe(200);
            expect(get.headers.get("access-control-allow-origin")).toBeNull();
          },
        );

        await t.step(
          "production: the webapps' cookies are Secure and SameSite=Strict",
          async () => {
            const r = await fetch(`${base}${dist.webapps}/app/welcome/default/`, {
              redirect: "manual",
            });
            await r.body?.cancel();
            const cookies = r.headers.getSetCookie();
            expect(cookies.length).toBeGreaterThan(0);
            for (const c of cookies) {
              expect(c).toMatch(/;\s*Secure/i);
              expect(c).toMatch(/;\s*SameSite=Strict/i);
            }
          },
        );
      } finally {
        await engine?.stop().catch((e) => console.error("engine stop failed:", e));
        if (db) await db.drop();
        else await dropScratch(scratch).catch(() => {});
      }
    },
  });
}

/**
 * Camunda: the `default` engine on the spec's distribution (Camunda 7 or
 * Operaton, `compiler/engines.ts`) with its webapps where that distribution
 * serves them, every BPMN file of the spec's processes folder deployed byte
 * for byte (latest deployment resource of that name), the boot processes
 * deployed, REST authentication as the spec says, and no open incidents.
 *
 * @module
 */
import type { StackModel } from "../../compiler/model.ts";
import { ENGINES } from "../../compiler/engines.ts";
import type { Check, Result, RunContext, VerifyContext } from "../check.ts";
import { fail, pass, skip } from "../check.ts";
import type { BasicAuth } from "../clients/http.ts";
import { describeStatus, httpRequest, jsonOf } from "../clients/http.ts";

/** The credentials for Camunda's REST API: the admin user when the spec enables REST auth. */
export function camundaAuth(model: StackModel): BasicAuth | undefined {
  return model.camunda.restAuth
    ? { user: model.camunda.adminUser, password: model.camunda.adminPassword }
    : undefined;
}

/** A REST request, with the spec's credentials unless `anonymous`. */
async function rest(ctx: RunContext, path: string, opts: { anonymous?: boolean } = {}) {
  return await httpRequest(`${ctx.targets.camunda.url}/engine-rest${path}`, {
    auth: opts.anonymous ? undefined : camundaAuth(ctx.model),
    signal: ctx.signal,
  });
}

/**
 * Engine `default` exists and runs the spec's distribution; reports the
 * version as the engine reports it (`Camunda 7.24.0`, `Operaton 1.0.3`).
 */
export function engineVersionCheck(model: StackModel): Check {
  const engine = ENGINES[model.camunda.distribution];
  return {
    id: "camunda.engine",
    domain: "camunda",
    name: `camunda: engine 'default' runs ${engine.expectedVersion.replace(/\.x$/, "")}`,
    run: async (ctx) => {
      const eng = await rest(ctx, "/engine");
      if (eng.status !== 200) return fail("GET /engine-rest/engine: HTTP 200", describeStatus(eng));
      const names = (jsonOf<{ name: string }[]>(eng) ?? []).map((e) => e.name);
      if (!names.includes("default")) {
        return fail("an engine named 'default'", `engines: ${JSON.stringify(names)}`);
      }
      const ver = await rest(ctx, "/version");
      if (ver.status !== 200) {
        return fail("GET /engine-rest/version: HTTP 200", describeStatus(ver));
      }
      const version = String(jsonOf<{ version?: string }>(ver).version ?? "");
      return engine.reportedVersion.test(version) ? pass(`${engine.title} ${version}`) : fail(
        engine.expectedVersion,
        version ? `version ${version}` : "no version in the answer",
        `the spec's engine.distribution is ${model.camunda.distribution}: is the engine ` +
          `running the image or jar of another distribution?`,
      );
    },
  };
}

/** The webapps (Cockpit, Tasklist, Admin) answer where the distribution serves them. */
export function webappsCheck(model: StackModel): Check {
  const engine = ENGINES[model.camunda.distribution];
  const path = `${engine.webapps}/app/welcome/default/`;
  return {
    id: "camunda.webapps",
    domain: "camunda",
    name: `camunda: the webapps answer at ${engine.webapps}/`,
    run: async (ctx) => {
      const res = await httpRequest(`${ctx.targets.camunda.url}${path}`, {
        headers: { accept: "text/html" },
        signal: ctx.signal,
      });
      const type = res.headers.get("content-type") ?? "";
      if (res.status === 200 && type.includes("text/html")) return pass(`GET ${path}: HTTP 200`);
      return fail(
        `GET ${path}: HTTP 200, an HTML page`,
        `${describeStatus(res)}${type ? `, ${type}` : ""}`,
        `${engine.title} serves its webapps at ${engine.webapps}: is the engine running the ` +
          `spec's distribution (${model.camunda.distribution})?`,
      );
    },
  };
}

/** A BPMN file of the processes folder: its path relative to the folder and its bytes. */
export interface ProcessFile {
  /** Path relative to the processes folder, with `/`. */
  relative: string;
  /** Absolute or spec-relative path on disk. */
  path: string;
}

/** Lists `*.bpmn` files under `dir` (recursively, sorted); `undefined` if it does not exist. */
export function listProcessFiles(dir: string): ProcessFile[] | undefined {
  const out: ProcessFile[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of [...Deno.readDirSync(d)].sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) walk(`${d}/${e.name}`, r);
      else if (e.isFile && /\.bpmn$/i.test(e.name)) {
        out.push({ relative: r, path: `${d}/${e.name}` });
      }
    }
  };
  try {
    walk(dir, "");
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  return out;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const h = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function baseName(p: string): string {
  return p.split(/[\\/]/).pop() ?? p;
}

/**
 * The newest deployment that holds a process definition from the resource
 * `name` (as the kernel names it: the path in the folder, or the base name),
 * asked of Camunda directly: one request per name tried, whatever the
 * number of deployments.
 */
async function latestDeploymentOf(
  ctx: RunContext,
  file: ProcessFile,
): Promise<{ deploymentId: string; name: string } | Result | undefined> {
  const names = [...new Set([file.relative, baseName(file.relative)])];
  for (const name of names) {
    const r = await rest(
      ctx,
      `/process-definition?resourceName=${encodeURIComponent(name)}` +
        "&sortBy=deployTime&sortOrder=desc&maxResults=1",
    );
    if (r.status !== 200) {
      return fail("GET /engine-rest/process-definition: HTTP 200", describeStatus(r));
    }
    const [def] = jsonOf<{ deploymentId: string }[]>(r) ?? [];
    if (def) return { deploymentId: def.deploymentId, name };
  }
  return undefined;
}

/**
 * The file is deployed with the same bytes: the newest deployment with a
 * process definition from a resource of that name (its path, or its base
 * name) has exactly the file's content. A constant number of requests.
 */
export function processDeployedCheck(file: ProcessFile, folder: string): Check {
  return {
    id: `camunda.deployed.${file.relative}`,
    domain: "camunda",
    name: `camunda: ${folder}/${file.relative} deployed with the same content`,
    run: async (ctx) => {
      const local = await Deno.readFile(file.path);
      const found = await latestDeploymentOf(ctx, file);
      if (found === undefined) {
        return fail(
          `a process definition deployed from a resource named ${file.relative}`,
          "none",
          "the kernel deploys the processes folder at boot: is it running?",
        );
      }
      if ("status" in found) return found;
      const id = encodeURIComponent(found.deploymentId);
      const rs = await rest(ctx, `/deployment/${id}/resources`);
      if (rs.status !== 200) {
        return fail("GET /engine-rest/deployment/{id}/resources: HTTP 200", describeStatus(rs));
      }
      const hit = (jsonOf<{ id: string; name: string }[]>(rs) ?? []).find((r) =>
        r.name === found.name
      );
      if (!hit) {
        return fail(`a resource named ${found.name}`, `none in deployment ${found.deploymentId}`);
      }
      const data = await rest(
        ctx,
        `/deployment/${id}/resources/${encodeURIComponent(hit.id)}/data`,
      );
      if (data.status !== 200) return fail("the deployed resource's bytes", describeStatus(data));
      const where = `deployment ${found.deploymentId}, resource ${hit.name}`;
      if (sameBytes(data.bytes, local)) return pass(where);
      return fail(
        `the latest deployed ${hit.name} equal to ${folder}/${file.relative} (sha256 ${
          (await sha256(local)).slice(0, 12)
        }, ${local.length} bytes)`,
        `${where} holds sha256 ${
          (await sha256(data.bytes)).slice(0, 12)
        }, ${data.bytes.length} bytes`,
        "the file changed after it was deployed: redeploy (restart the kernel)",
      );
    },
  };
}

/** A boot process (by key) has a deployed process definition. */
export function bootProcessCheck(key: string): Check {
  return {
    id: `camunda.boot.${key}`,
    domain: "camunda",
    name: `camunda: boot process '${key}' has a process definition`,
    run: async (ctx) => {
      const res = await rest(ctx, `/process-definition/key/${encodeURIComponent(key)}`);
      if (res.status === 200) {
        const d = jsonOf<{ id?: string; version?: number }>(res);
        return pass(`version ${d.version ?? "?"}`);
      }
      return fail(
        `a process definition with key ${key}`,
        describeStatus(res),
        "is the process id in the BPMN file the key listed under processes.boot?",
      );
    },
  };
}

/** REST auth as the spec says: enforced (401 without credentials, 200 with) or open. */
export function restAuthChecks(model: StackModel): Check[] {
  const path = "/process-definition?maxResults=1";
  if (!model.camunda.restAuth) {
    return [{
      id: "camunda.rest-auth.open",
      domain: "camunda",
      name: "camunda: REST API open without credentials (rest_auth: false)",
      run: async (ctx) => {
        const res = await rest(ctx, path, { anonymous: true });
        return res.status === 200 ? pass() : fail(
          "GET /engine-rest/process-definition without credentials: HTTP 200",
          describeStatus(res),
          "the engine enforces auth but the spec says rest_auth: false; workers send no credentials",
        );
      },
    }];
  }
  return [
    {
      id: "camunda.rest-auth.enforced",
      domain: "camunda",
      name: "camunda: REST API refuses requests without credentials (rest_auth: true)",
      run: async (ctx) => {
        const res = await rest(ctx, path, { anonymous: true });
        return res.status === 401 ? pass() : fail(
          "GET /engine-rest/process-definition without credentials: HTTP 401",
          describeStatus(res),
          "enable CAMUNDA_BPM_RUN_AUTH_ENABLED on the engine",
        );
      },
    },
    {
      id: "camunda.rest-auth.accepted",
      domain: "camunda",
      name: `camunda: REST API accepts the admin user '${model.camunda.adminUser}'`,
      run: async (ctx) => {
        const res = await rest(ctx, path);
        return res.status === 200 ? pass() : fail(
          `GET /engine-rest/process-definition as ${ctx.model.camunda.adminUser}: HTTP 200`,
          describeStatus(res),
          "the admin password differs from the spec's camunda_admin_password",
        );
      },
    },
  ];
}

/** No open incidents. */
export function incidentsCheck(model: StackModel): Check {
  const cockpit = `${ENGINES[model.camunda.distribution].webapps}/app/cockpit`;
  return {
    id: "camunda.incidents",
    domain: "camunda",
    name: "camunda: no open incidents",
    run: async (ctx) => {
      const res = await rest(ctx, "/incident/count");
      if (res.status !== 200) {
        return fail("GET /engine-rest/incident/count: HTTP 200", describeStatus(res));
      }
      const count = Number(jsonOf<{ count?: number }>(res).count ?? NaN);
      if (count === 0) return pass();
      const list = await rest(
        ctx,
        "/incident?maxResults=5&sortBy=incidentTimestamp&sortOrder=desc",
      );
      const items = list.status === 200
        ? jsonOf<{ incidentType?: string; activityId?: string; incidentMessage?: string }[]>(list)
        : [];
      const lines = items.map((i) =>
        `${i.incidentType ?? "?"} at ${i.activityId ?? "?"}: ${
          (i.incidentMessage ?? "").slice(0, 120)
        }`
      );
      return fail(
        "0 open incidents",
        [`${count} open incident(s)`, ...lines].join("\n"),
        `see Cockpit (${cockpit}) for the failing jobs or external tasks`,
      );
    },
  };
}

/** The camunda domain. */
export function camundaChecks(model: StackModel, ctx: VerifyContext): Check[] {
  const folder = model.processes.path.replace(/\/+$/, "");
  const dir = folder.startsWith("/") ? folder : `${ctx.specDir}/${folder}`;
  const files = listProcessFiles(dir);
  const deployed: Check[] = files && files.length > 0
    ? files.map((f) => processDeployedCheck(f, folder))
    : [{
      id: "camunda.deployed",
      domain: "camunda",
      name: `camunda: every BPMN file in ${folder}/ deployed`,
      run: () =>
        Promise.resolve(
          skip(
            files
              ? `no BPMN files in ${folder}/`
              : `the processes folder ${folder}/ does not exist`,
          ),
        ),
    }];
  return [
    engineVersionCheck(model),
    webappsCheck(model),
    ...deployed,
    ...model.processes.boot.map(bootProcessCheck),
    ...restAuthChecks(model),
    incidentsCheck(model),
  ];
}

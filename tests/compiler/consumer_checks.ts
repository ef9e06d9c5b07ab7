/**
 * The static consumer checks of the acceptance property test: what each
 * artifact's consumer would say, judged by that consumer's own validator
 * where there is one. Compose files (and the copies Compose v1 reads, made
 * by `runtime/docker.ts`) against the Compose Specification schema, their
 * healthcheck durations as Compose parses them, their host ports as Docker
 * binds them; the
 * backup schedule through a cron parser (croner), which must find a run
 * within a year; JSON artifacts parse; env files are `KEY=value` lines with
 * valid names whose values read back as the model's; each worker takes its
 * manifest and env file (its own checks, URLs that read back).
 *
 * @module
 */
import { parse } from "yaml";
import { Ajv2020 } from "ajv/dist/2020.js";
import { Cron } from "croner";
import type { CompileResult } from "../../compiler/compile.ts";
import { auxiliaryServices, setupJobs } from "../../compiler/emit/containers.ts";
import type { StackModel } from "../../compiler/model.ts";
import { parseWorkerManifest } from "../../compiler/worker_manifest.ts";
import { type Connections, resolveConnections } from "../../workers/lib/manifest.ts";
import { composeV1Copy } from "../../runtime/docker.ts";
import { composeSchemaUrl } from "../helpers/build.ts";

/** One consumer's refusal of one artifact. */
export interface Problem {
  /** Who refused: `compose-spec`, `cron`, `json`, `env`, `docker`, ... */
  consumer: string;
  /** The artifact (path under `out/`) or spec value concerned. */
  artifact: string;
  /** What the consumer said. */
  message: string;
}

/** Validates a parsed Compose document; returns the schema's errors, or null. */
export type ComposeValidator = (doc: unknown) => string | null;

/** The Compose Specification schema compiled with ajv, as `tests/compiler/compose_test.ts` does. */
export async function composeValidator(): Promise<ComposeValidator> {
  const schema = JSON.parse(await Deno.readTextFile(composeSchemaUrl()));
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validate = ajv.compile(schema);
  return (doc) => validate(doc) ? null : ajv.errorsText(validate.errors, { separator: "; " });
}

/** The moment cron schedules are evaluated from (fixed, so every run agrees). */
export const CRON_FROM = new Date("2026-12-04T00:00:00Z");
const YEAR_MS = 366 * 86_400_000;

/** A cron schedule's problem for croner (parse error, or no run within a year), or null. */
export function cronProblem(schedule: string, from: Date = CRON_FROM): string | null {
  let next: Date | null;
  try {
    next = new Cron(schedule.trim().split(/\s+/).join(" "), { timezone: "UTC", paused: true })
      .nextRun(from);
  } catch (e) {
    return `croner refuses it: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (next === null) return `croner finds no run at all after ${from.toISOString()}`;
  if (next.getTime() - from.getTime() > YEAR_MS) {
    return `croner finds the next run only at ${next.toISOString()}, more than a year after ` +
      from.toISOString();
  }
  return null;
}

const ENV_LINE = /^([A-Za-z_][A-Za-z0-9_]*)=('([^']*)'|"([^"$`\\]*)")$/;

/** Checks one env file's text against the environment it should carry. */
export function envProblems(path: string, text: string, want: Record<string, string>): string[] {
  const out: string[] = [];
  const got: Record<string, string> = {};
  text.split("\n").forEach((line, i) => {
    if (line === "" || line.startsWith("#")) return;
    const m = ENV_LINE.exec(line);
    if (!m) return void out.push(`${path}:${i + 1}: not one KEY='value' line`);
    if (m[1] in got) out.push(`${path}:${i + 1}: ${m[1]} set twice`);
    got[m[1]] = m[3] ?? m[4];
  });
  if (!text.endsWith("\n")) out.push(`${path}: no final line break`);
  const keys = (o: Record<string, string>) => Object.keys(o).sort().join(",");
  if (keys(got) !== keys(want)) out.push(`${path}: keys ${keys(got)}, the model's ${keys(want)}`);
  for (const [k, v] of Object.entries(want)) {
    if (k in got && got[k] !== v) out.push(`${path}: ${k} reads back differently from the model`);
  }
  return out;
}

const NS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  "µs": 1_000n,
  "μs": 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n,
  w: 604_800_000_000_000n,
};

/**
 * How Compose (compose-go's `types.Duration`, parsed with go-str2duration)
 * reads a duration: whole-number parts with units ns to w, in an int64 of
 * nanoseconds. Returns its error, or null. (Fractions are not written by
 * ProcOS and not handled here.)
 */
export function composeDurationProblem(text: string): string | null {
  const parts = [...text.matchAll(/(\d+)(ns|us|µs|μs|ms|s|m|h|d|w)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) {
    return `time: invalid duration "${text}"`;
  }
  const ns = parts.reduce((n, p) => n + BigInt(p[1]) * NS[p[2]], 0n);
  return ns > 2n ** 63n - 1n
    ? `time: invalid duration "${text}" (overflows int64 nanoseconds)`
    : null;
}

/** The healthcheck durations of a Compose document that Compose cannot read. */
function durationProblems(doc: unknown): string[] {
  const services = (doc as { services?: Record<string, { healthcheck?: Record<string, unknown> }> })
    .services ?? {};
  const out: string[] = [];
  for (const [name, s] of Object.entries(services)) {
    for (const key of ["interval", "timeout", "start_period", "start_interval"]) {
      const v = s.healthcheck?.[key];
      if (typeof v !== "string") continue;
      const p = composeDurationProblem(v);
      if (p) out.push(`services.${name}.healthcheck.${key}: ${p}`);
    }
  }
  return out;
}

/**
 * What a worker makes of its manifest and env file: its own manifest check
 * (`parseWorkerManifest`) and connection resolver, and URLs whose user,
 * password, vhost and database read back as the model's.
 */
function workerProblems(text: string, env: Record<string, string>, m: StackModel): string[] {
  let conns: Connections;
  try {
    conns = resolveConnections(parseWorkerManifest(JSON.parse(text)), (n) => env[n]);
  } catch (e) {
    return [`the worker refuses it: ${e instanceof Error ? e.message : e}`];
  }
  const out: string[] = [];
  const expect = (what: string, url: string | undefined, want: Record<string, string>) => {
    if (url === undefined) return void out.push(`no ${what} URL`);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return void out.push(`the ${what} URL does not parse`);
    }
    const got: Record<string, string> = {
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      path: decodeURIComponent(u.pathname.slice(1)),
    };
    for (const [k, v] of Object.entries(want)) {
      if (got[k] !== v) out.push(`the ${what} URL's ${k} reads back differently from the model`);
    }
  };
  expect("AMQP", conns.rabbitmqUrl, {
    user: m.rabbitmq.user,
    password: m.rabbitmq.password,
    path: m.rabbitmq.vhost,
  });
  expect("PostgreSQL", conns.databaseUrl, {
    user: m.postgres.user,
    password: m.postgres.password,
    path: m.postgres.database,
  });
  expect("Redis", conns.redisUrl, m.redis.auth ? { password: m.redis.password } : {});
  for (const [what, url] of [["Camunda", conns.camundaUrl], ["Ollama", conns.ollamaUrl]]) {
    if (!URL.canParse(url)) out.push(`the ${what} URL does not parse`);
  }
  return out;
}

interface PortUse {
  service: string;
  ip: string;
  published: number;
}

/** Docker binds each host address and port once: the services that would clash. */
function portClashes(docs: unknown[]): string[] {
  const uses = new Map<string, PortUse>();
  for (const doc of docs) {
    const services = (doc as { services?: Record<string, { ports?: unknown[] }> }).services ?? {};
    for (const [service, s] of Object.entries(services)) {
      for (const p of s.ports ?? []) {
        const { host_ip, published } = p as { host_ip?: string; published?: number };
        if (published === undefined) continue;
        const ip = host_ip === undefined || host_ip === "0.0.0.0" || host_ip === "::"
          ? "*"
          : host_ip;
        uses.set(`${service}|${ip}|${published}`, { service, ip, published: Number(published) });
      }
    }
  }
  const all = [...uses.values()];
  const out: string[] = [];
  all.forEach((a, i) => {
    for (const b of all.slice(i + 1)) {
      if (a.service === b.service || a.published !== b.published) continue;
      if (a.ip === b.ip || a.ip === "*" || b.ip === "*") {
        out.push(`host port ${a.published} is published by both ${a.service} and ${b.service}`);
      }
    }
  });
  return out;
}

/**
 * Every static consumer check over one compile result; returns every problem
 * found. `v1: false` skips the Compose v1 copies (each costs a YAML
 * round trip), for callers that check them on a sample.
 */
export function staticProblems(
  r: CompileResult,
  validate: ComposeValidator,
  opts: { v1?: boolean } = {},
): Problem[] {
  const out: Problem[] = [];
  const add = (consumer: string, artifact: string, message: string) =>
    out.push({ consumer, artifact, message });
  const composeDocs: unknown[] = [];
  for (const a of r.artifacts) {
    if (/^compose[^/]*\.ya?ml$/.test(a.path)) {
      let doc: unknown;
      try {
        doc = parse(a.content);
      } catch (e) {
        add("yaml", a.path, String(e));
        continue;
      }
      composeDocs.push(doc);
      const errors = validate(doc);
      if (errors) add("compose-spec", a.path, errors);
      for (const p of durationProblems(doc)) add("compose-go", a.path, p);
      if (opts.v1 === false) continue;
      const v1 = validate(parse(composeV1Copy(a.content)));
      if (v1) add("compose-spec", `${a.path} (Compose v1 copy)`, v1);
    } else if (a.path.endsWith(".json")) {
      try {
        JSON.parse(a.content);
      } catch (e) {
        add("json", a.path, String(e));
      }
    }
  }
  for (const clash of portClashes(composeDocs)) add("docker", "compose*.yaml", clash);

  const m = r.model;
  const containers = [...m.services, ...auxiliaryServices(m), ...setupJobs(m)];
  for (const a of r.artifacts.filter((x) => /^env\/.*\.env$/.test(x.path))) {
    const owner = containers.find((c) => `env/${c.name}.env` === a.path);
    if (!owner) {
      add("env", a.path, "no container of the model reads this file");
      continue;
    }
    for (const p of envProblems(a.path, a.content, owner.env)) add("env", a.path, p);
  }
  for (const a of r.artifacts.filter((x) => /^workers\/[^/]*\.json$/.test(x.path))) {
    const owner = m.services.find((c) => `workers/${c.name}.json` === a.path);
    for (const p of workerProblems(a.content, owner?.env ?? {}, m)) add("worker", a.path, p);
  }
  if (m.profile === "production" && m.backup) {
    const p = cronProblem(m.backup.schedule);
    if (p) add("cron", `backup.schedule "${m.backup.schedule}"`, p);
  }
  return out;
}

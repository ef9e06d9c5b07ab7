/**
 * The local runtime: `deno task up` / `down` on a machine without a Docker
 * engine. It walks the model's services in dependency order; an `external`
 * service is provisioned (PostgreSQL, RabbitMQ, Redis) or just checked
 * (Ollama, Camunda), every other one is started from the machine's binaries
 * and gated on its health check before the next one starts. Everything it did
 * is recorded in `out/runtime/state.json`; `down` undoes only that.
 *
 * @module
 */
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ServiceModel, StackModel } from "../compiler/model.ts";
import { buildModel } from "../compiler/model.ts";
import { loadSpec } from "../compiler/load_spec.ts";
import type { ProfileName } from "../compiler/schema.ts";
import { DEFAULT_DISTRIBUTION, type Distribution, ENGINES } from "../compiler/engines.ts";
import { MANIFEST_FILE, parseManifest } from "../compiler/emit/manifest.ts";
import { errorText, RuntimeError } from "./errors.ts";
import { gateTimings, hostProbe, waitHealthy } from "./health.ts";
import {
  hasProgram,
  isOurs,
  lastErrorLine,
  portOpen,
  type ProcessRecord,
  run,
  spawnLogged,
  stopProcess,
  tailFile,
} from "./procs.ts";
import {
  type PgAdmin,
  provisionPostgres,
  provisionRabbitmq,
  provisionRedis,
  purgePostgres,
  purgeRabbitmq,
  purgeRedis,
} from "./provision.ts";
import {
  readState,
  removeState,
  runtimeDir,
  type RuntimeState,
  type ServiceState,
  writeFileAtomic,
  writeState,
} from "./state.ts";
import { removeEndpoints, writeEndpoints } from "./endpoints.ts";

type Env = Record<string, string | undefined>;

/** The project root: where `engine/` and `workers/` are. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Options of {@link localUp}. */
export interface UpOptions {
  /** The spec file. */
  config: string;
  profile: ProfileName;
  /** The built output folder. */
  outDir: string;
  /** Bring up only these (and what they depend on); all when omitted. */
  services?: string[];
  /** Environment: secrets, PROCOS_* admin settings (default: this process's). */
  env?: Env;
  /** Where `engine/` and `workers/` are (default: this repository). */
  root?: string;
  /** Progress lines (default: console.log). */
  log?: (line: string) => void;
  /** Grace period of a stop, for tests (default 10 s). */
  stopGraceMs?: number;
}

/** What happened to one service. */
export interface ServiceOutcome {
  name: string;
  action: "started" | "already-running" | "provisioned" | "checked";
  detail: string;
}

/** Every service `up` needs to touch for `wanted`: them and their dependencies, in model order. */
export function selectServices(model: StackModel, wanted?: readonly string[]): ServiceModel[] {
  if (!wanted || wanted.length === 0) return model.services;
  const byName = new Map(model.services.map((s) => [s.name, s]));
  const unknown = wanted.filter((w) => !byName.has(w));
  if (unknown.length > 0) {
    throw new RuntimeError(
      `unknown service${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} in --services ` +
        `(the spec has ${model.services.map((s) => s.name).join(", ")})`,
    );
  }
  const keep = new Set<string>();
  const visit = (n: string) => {
    if (keep.has(n)) return;
    keep.add(n);
    for (const d of byName.get(n)?.dependsOn ?? []) if (byName.has(d)) visit(d);
  };
  wanted.forEach(visit);
  return model.services.filter((s) => keep.has(s.name));
}

/** Loads the spec and builds the host-addressed model. */
export async function loadHostModel(
  config: string,
  profile: ProfileName,
  env: Env,
): Promise<StackModel> {
  const resolved = await loadSpec(config, { profile, env });
  return buildModel(resolved, { addressing: "host" });
}

/** Checks that `outDir` was built from this spec and profile. */
export async function checkBuilt(outDir: string, model: StackModel, config: string): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(outDir, MANIFEST_FILE));
  } catch {
    throw new RuntimeError(
      `${outDir} has no ${MANIFEST_FILE}: build first with ` +
        `\`deno task build --config ${config} --profile ${model.profile} --out ${outDir}\``,
    );
  }
  const m = parseManifest(text);
  if (!m) throw new RuntimeError(`${outDir}/${MANIFEST_FILE} is not a ProcOS manifest: rebuild`);
  if (m.spec.sha256 !== model.specHash || m.profile !== model.profile) {
    throw new RuntimeError(
      `${outDir} was built from another spec or profile (profile ${m.profile}, spec sha256 ` +
        `${m.spec.sha256.slice(0, 12)}…; this is profile ${model.profile}, ` +
        `${model.specHash.slice(0, 12)}…): rebuild with \`deno task build --config ${config} ` +
        `--profile ${model.profile} --out ${outDir}\``,
    );
  }
}

function publishedPorts(svc: ServiceModel, model: StackModel): number[] {
  if (svc.role === "worker") {
    const w = model.workers.find((x) => x.name === svc.name);
    return w ? [w.healthPort] : [];
  }
  return svc.ports.map((p) => p.published);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The configuration of a Redis the local runtime starts: the generated
 * redis.conf minus what only makes sense in a container (bind, port, dir,
 * ...), plus the host's settings and, with auth, `requirepass`.
 */
export function localRedisConf(
  generated: string,
  o: { host: string; port: number; dir: string; password?: string },
): string {
  const overridden = new Set([
    "bind",
    "port",
    "dir",
    "daemonize",
    "logfile",
    "protected-mode",
    "requirepass",
    "include",
  ]);
  const kept = generated.split("\n").filter((l) => {
    const key = l.trim().split(/\s+/)[0]?.toLowerCase() ?? "";
    return !overridden.has(key);
  });
  const quote = (v: string) => `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
  return [
    ...kept,
    "# local runtime (deno task up): host settings",
    `bind ${o.host}`,
    `port ${o.port}`,
    `dir ${quote(o.dir)}`,
    "daemonize no",
    'logfile ""',
    "protected-mode yes",
    ...(o.password !== undefined ? [`requirepass ${quote(o.password)}`] : []),
  ].join("\n") + "\n";
}

/**
 * Builds the engine jar of `distribution` when it is missing (offline first,
 * if Maven's cache has it): `engines.ts` says which jar and Maven profile.
 */
export async function ensureEngineJar(
  root: string,
  logFile: string,
  log: (l: string) => void,
  distribution: Distribution = DEFAULT_DISTRIBUTION,
): Promise<string> {
  const engine = ENGINES[distribution];
  const jar = join(root, engine.jar);
  try {
    await Deno.stat(jar);
    return jar;
  } catch { /* build it */ }
  if (!(await hasProgram("mvn"))) {
    throw new RuntimeError(`${jar} is missing and Maven (mvn) is not installed to build it`, {
      service: "camunda",
    });
  }
  log(`camunda: building ${jar} (${engine.title} ${engine.version}) with Maven (once)`);
  const cwd = join(root, "engine");
  const mvn = ["mvn", "-q", "-B", `-P${engine.mavenProfile}`];
  let r = await run([...mvn, "-o", "package", "-DskipTests"], { cwd });
  if (r.code !== 0) r = await run([...mvn, "package", "-DskipTests"], { cwd });
  await Deno.writeTextFile(logFile, r.stdout + r.stderr, { append: true, create: true });
  if (r.code !== 0) {
    throw new RuntimeError(`building the engine with Maven failed (exit ${r.code})`, {
      service: "camunda",
      logTail: (r.stdout + r.stderr).trim().split("\n").slice(-20),
      logFile,
    });
  }
  return jar;
}

interface StartPlan {
  command: string[];
  env: Record<string, string>;
  cwd?: string;
  /** Runs after the process is healthy (e.g. provisioning a started PostgreSQL). */
  after?: () => Promise<string | undefined>;
}

/** One `up` run. */
class Up {
  readonly state: RuntimeState;
  readonly outcomes: ServiceOutcome[] = [];
  constructor(
    readonly model: StackModel,
    readonly opts: UpOptions & { env: Env; root: string; log: (l: string) => void },
    state: RuntimeState,
  ) {
    this.state = state;
  }

  get out(): string {
    return this.opts.outDir;
  }

  logFile(name: string): string {
    return join(runtimeDir(this.out), `${name}.log`);
  }

  async save(): Promise<void> {
    await writeState(this.out, this.state);
  }

  async service(svc: ServiceModel): Promise<void> {
    if (svc.external) return await this.external(svc);
    const prev = this.state.services[svc.name];
    const probe = hostProbe(svc, this.model);
    const timings = gateTimings(svc.healthcheck);
    if (prev?.mode === "started" && isOurs(prev.process)) {
      const p = prev.process;
      if (svc.kind === "camunda") this.sameEngine(svc, p);
      const first = await probe(timings.timeoutMs);
      if (!first.ok) {
        this.opts.log(`${svc.name}: running (pid ${p.pid}) but not healthy yet; waiting`);
        await this.gate(svc, p, undefined);
      }
      this.done(svc.name, "already-running", `already running (pid ${p.pid}), healthy`);
      return;
    }
    // someone else's process on our port would make the health check lie
    for (const port of publishedPorts(svc, this.model)) {
      if (await portOpen("127.0.0.1", port, 500)) {
        throw new RuntimeError(
          `port ${port} is already in use by a process \`up\` did not start; stop it, change ` +
            `the service's published port, or mark the service \`external: true\` if it is ` +
            `this stack's ${svc.kind} running elsewhere`,
          { service: svc.name },
        );
      }
    }
    const plan = await this.plan(svc);
    const log = this.logFile(svc.name);
    // the service's environment: the runtime's (secrets, PATH, ...) plus its own from the model
    const spawned = await spawnLogged({
      command: plan.command,
      log,
      baseEnv: this.opts.env,
      env: plan.env,
      cwd: plan.cwd ?? runtimeDir(this.out),
    });
    this.state.services[svc.name] = {
      kind: svc.kind,
      mode: "started",
      process: spawned.record,
      address: publishedPorts(svc, this.model).map((p) => `127.0.0.1:${p}`).join(", "),
    };
    await this.save();
    this.opts.log(
      `${svc.name}: started pid ${spawned.record.pid} (log ${log}); waiting until healthy`,
    );
    const ms = await this.gate(svc, spawned.record, spawned.exited);
    let detail = `started, pid ${spawned.record.pid}, healthy in ${(ms / 1000).toFixed(1)} s`;
    if (plan.after) {
      const extra = await plan.after();
      if (extra) detail += `; ${extra}`;
    }
    this.done(svc.name, "started", detail);
  }

  /**
   * A running engine must be the spec's distribution: after a switch of
   * `engine.distribution` the other jar is still running, and `up` would
   * report it healthy. Stopping it is the operator's step (docs/engine.md).
   */
  sameEngine(svc: ServiceModel, p: ProcessRecord): void {
    const want = ENGINES[this.model.camunda.distribution];
    if (p.command.some((a) => a.endsWith(want.jar))) return;
    const running = Object.values(ENGINES).find((e) => p.command.some((a) => a.endsWith(e.jar)));
    throw new RuntimeError(
      `running ${running ? `${running.title} ${running.version}` : p.command.join(" ")} ` +
        `(pid ${p.pid}), but the spec's engine.distribution is ` +
        `${this.model.camunda.distribution} (${want.title} ${want.version}); stop it with ` +
        `\`deno task down\` (the database is kept), then run \`up\` again`,
      { service: svc.name },
    );
  }

  /** Waits for health; on failure stops the process, forgets it, and reports its log tail. */
  async gate(svc: ServiceModel, rec: ProcessRecord, exited?: Promise<number>): Promise<number> {
    try {
      return await waitHealthy(svc.name, hostProbe(svc, this.model), {
        timings: gateTimings(svc.healthcheck),
        exited,
        alive: () => isOurs(rec),
      });
    } catch (e) {
      await stopProcess(rec, this.opts.stopGraceMs ?? 10_000);
      delete this.state.services[svc.name];
      await this.save();
      const tail = await tailFile(rec.log, 20);
      const why = lastErrorLine(await tailFile(rec.log, 300));
      const message = errorText(e).replace(`${svc.name}: `, "");
      throw new RuntimeError(why ? `${message}; its log says: ${why}` : message, {
        service: svc.name,
        logTail: tail,
        logFile: rec.log,
      });
    }
  }

  done(name: string, action: ServiceOutcome["action"], detail: string): void {
    this.outcomes.push({ name, action, detail });
    this.opts.log(`${name}: ${detail}`);
  }

  async external(svc: ServiceModel): Promise<void> {
    const prev = this.state.services[svc.name];
    const prevProv = prev?.mode === "provisioned" ? prev : undefined;
    const env = this.opts.env;
    const attempts = Math.max(1, Math.min(svc.healthcheck.retries, 10));
    const log = this.logFile(svc.name);
    switch (svc.kind) {
      case "postgres": {
        const p = await provisionPostgres(svc.name, this.model, this.out, env, {
          prev: prevProv?.postgres,
          log,
          attempts,
        });
        this.state.services[svc.name] = { kind: svc.kind, mode: "provisioned", postgres: p };
        await this.save();
        return this.done(
          svc.name,
          "provisioned",
          `external; provisioned database ${p.database} and role ${p.role} (${
            p.applied.join(", ")
          })`,
        );
      }
      case "rabbitmq": {
        const p = await provisionRabbitmq(svc.name, this.model, this.out, env, {
          prev: prevProv?.rabbitmq,
          log,
          attempts,
        });
        this.state.services[svc.name] = { kind: svc.kind, mode: "provisioned", rabbitmq: p };
        await this.save();
        return this.done(
          svc.name,
          "provisioned",
          `external; imported definitions (vhost ${p.vhost}, user ${p.user}) at ${p.management}`,
        );
      }
      case "redis": {
        const p = await provisionRedis(svc.name, this.model, this.out, env, {
          prev: prevProv?.redis,
          log,
          attempts,
          record: async (rec) => {
            this.state.services[svc.name] = { kind: svc.kind, mode: "provisioned", redis: rec };
            await this.save();
          },
        });
        this.state.services[svc.name] = { kind: svc.kind, mode: "provisioned", redis: p };
        await this.save();
        const shown = Object.entries(p.applied).map(([k, v]) =>
          `${k}=${k === "requirepass" ? "***" : JSON.stringify(v)}`
        );
        return this.done(svc.name, "provisioned", `external; CONFIG SET ${shown.join(" ")}`);
      }
      default: {
        const probe = hostProbe(svc, this.model);
        let last = "";
        for (let i = 0; i < attempts; i++) {
          const r = await probe(gateTimings(svc.healthcheck).timeoutMs);
          if (r.ok) {
            this.state.services[svc.name] = { kind: svc.kind, mode: "external" };
            await this.save();
            return this.done(svc.name, "checked", `external; healthy (${r.detail})`);
          }
          last = r.detail;
          if (i + 1 < attempts) await sleep(1000);
        }
        throw new RuntimeError(
          `it is marked external but is not healthy: ${last}; start it, or remove \`external: true\``,
          { service: svc.name },
        );
      }
    }
  }

  async plan(svc: ServiceModel): Promise<StartPlan> {
    const env = this.opts.env;
    const baseEnv = { ...svc.env };
    switch (svc.kind) {
      case "camunda": {
        if (!(await hasProgram("java", env.PATH))) {
          throw new RuntimeError(
            "java is not installed (the engine needs Java 17+); install a JDK, or run Camunda " +
              "elsewhere and mark the service `external: true`",
            { service: svc.name },
          );
        }
        const jar = await ensureEngineJar(
          this.opts.root,
          this.logFile(svc.name),
          this.opts.log,
          this.model.camunda.distribution,
        );
        const javaOpts =
          (env.PROCOS_JAVA_OPTS ?? "-Xmx512m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
            .split(/\s+/).filter(Boolean);
        return {
          command: ["java", ...javaOpts, "-jar", jar],
          env: { ...baseEnv, SERVER_PORT: String(this.model.camunda.port) },
          cwd: runtimeDir(this.out),
        };
      }
      case "ollama": {
        if (!(await hasProgram("ollama", env.PATH))) {
          throw new RuntimeError(
            "the `ollama` binary is not installed on this machine, so it cannot be started " +
              "here; run Ollama (or a test double) elsewhere and mark the service " +
              "`external: true` in the spec, with its published port where it listens",
            { service: svc.name },
          );
        }
        return { command: ["ollama", "serve"], env: baseEnv };
      }
      case "redis": {
        if (!(await hasProgram("redis-server", env.PATH))) {
          throw new RuntimeError(
            "redis-server is not installed; install it or mark the service external",
            {
              service: svc.name,
            },
          );
        }
        const data = join(runtimeDir(this.out), "data", svc.name);
        await Deno.mkdir(data, { recursive: true });
        const conf = join(runtimeDir(this.out), `${svc.name}.conf`);
        const generated = await Deno.readTextFile(resolve(this.out, "redis", "redis.conf"));
        const text = localRedisConf(generated, {
          host: this.model.redis.host,
          port: this.model.redis.port,
          dir: data,
          password: this.model.redis.auth ? this.model.redis.password : undefined,
        });
        await writeFileAtomic(conf, text, 0o600);
        return { command: ["redis-server", conf], env: baseEnv };
      }
      case "postgres":
        return await this.planPostgres(svc);
      case "rabbitmq":
        throw new RuntimeError(
          "starting RabbitMQ is not supported by the local runtime; start it (rabbitmq-server " +
            "-detached, with the management plugin) and mark the service `external: true`",
          { service: svc.name },
        );
      case "kernel":
      case "ai":
      case "generic": {
        const main = join(this.opts.root, "workers", svc.kind, "main.ts");
        try {
          await Deno.stat(main);
        } catch {
          throw new RuntimeError(`workers/${svc.kind}/main.ts is not built yet`, {
            service: `worker ${svc.name}`,
          });
        }
        const manifest = resolve(this.out, "workers", `${svc.name}.json`);
        try {
          await Deno.stat(manifest);
        } catch {
          throw new RuntimeError(`${manifest} is missing: run \`deno task build\` first`, {
            service: `worker ${svc.name}`,
          });
        }
        return {
          command: [Deno.execPath(), "run", "--allow-all", main],
          env: {
            ...baseEnv,
            PROCOS_MANIFEST: manifest,
            PROCOS_WORKER: svc.name,
            PROCOS_PROCESSES_PATH: this.processesDir(),
            // The export folder of the retention task (ai.retention.export.path is
            // usually not writable on a workstation): deno task retention's fallback.
            PROCOS_ARCHIVE_PATH: resolve(runtimeDir(this.out), "archive"),
          },
          cwd: this.opts.root,
        };
      }
    }
  }

  processesDir(): string {
    const p = this.model.processes.path;
    return isAbsolute(p) ? p : resolve(dirname(this.opts.config), p);
  }

  /** A PostgreSQL cluster of our own under out/runtime/data (small: initdb + postgres). */
  async planPostgres(svc: ServiceModel): Promise<StartPlan> {
    if (Deno.uid() === 0) {
      throw new RuntimeError(
        "initdb refuses to run as root, so the local runtime cannot create a PostgreSQL " +
          "cluster here; use the machine's PostgreSQL and mark the service `external: true`",
        { service: svc.name },
      );
    }
    for (const p of ["initdb", "postgres"]) {
      if (!(await hasProgram(p, this.opts.env.PATH))) {
        throw new RuntimeError(
          `${p} is not installed; install PostgreSQL or mark the service external`,
          {
            service: svc.name,
          },
        );
      }
    }
    const data = resolve(runtimeDir(this.out), "data", svc.name);
    try {
      await Deno.stat(join(data, "PG_VERSION"));
    } catch {
      await Deno.mkdir(dirname(data), { recursive: true });
      const r = await run(["initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]);
      await Deno.writeTextFile(this.logFile(svc.name), r.stdout + r.stderr, {
        append: true,
        create: true,
      });
      if (r.code !== 0) {
        throw new RuntimeError(`initdb failed (exit ${r.code})`, {
          service: svc.name,
          logTail: (r.stdout + r.stderr).trim().split("\n").slice(-20),
        });
      }
    }
    const { host, port } = this.model.postgres;
    const admin: PgAdmin = {
      url: `postgres://postgres@${host}:${port}/postgres`,
      host,
      port,
      env: {},
    };
    return {
      command: [
        "postgres",
        "-D",
        data,
        "-p",
        String(port),
        "-k",
        data,
        "-c",
        `listen_addresses=${host}`,
      ],
      env: {},
      after: async () => {
        await provisionPostgres(svc.name, this.model, this.out, this.opts.env, {
          log: this.logFile(svc.name),
          admin,
        });
        return `provisioned database ${this.model.postgres.database}`;
      },
    };
  }
}

/** Brings the stack up locally; see the module doc. Throws {@link RuntimeError}. */
export async function localUp(
  opts: UpOptions,
): Promise<{ outcomes: ServiceOutcome[]; state: RuntimeState }> {
  const env = opts.env ?? Deno.env.toObject();
  const log = opts.log ?? ((l: string) => console.log(l));
  const outDir = resolve(opts.outDir);
  const config = resolve(opts.config);
  const model = await loadHostModel(config, opts.profile, env);
  await checkBuilt(outDir, model, opts.config);
  const selected = selectServices(model, opts.services);
  await Deno.mkdir(runtimeDir(outDir), { recursive: true });
  let state = await readState(outDir);
  if (state && state.project !== model.project) {
    throw new RuntimeError(
      `${runtimeDir(outDir)}/state.json belongs to project ${state.project}, not ` +
        `${model.project}: run \`deno task down --out ${opts.outDir}\` first`,
    );
  }
  state ??= {
    version: 1,
    engine: "local",
    project: model.project,
    profile: model.profile,
    specHash: model.specHash,
    config,
    outDir,
    updatedAt: "",
    services: {},
  };
  state.profile = model.profile;
  state.specHash = model.specHash;
  state.config = config;
  const up = new Up(model, {
    ...opts,
    outDir,
    config,
    env,
    log,
    root: opts.root ?? PROJECT_ROOT,
  }, state);
  try {
    for (const svc of selected) await up.service(svc);
  } finally {
    await up.save();
    await writeEndpoints(outDir, model);
  }
  return { outcomes: up.outcomes, state: up.state };
}

/** Options of {@link localDown}. */
export interface DownOptions {
  outDir: string;
  /** Also undo provisioning (drop database and role, delete vhost and user, restore Redis). */
  purge?: boolean;
  env?: Env;
  log?: (line: string) => void;
  /** Grace period before SIGKILL (default 10 s). */
  stopGraceMs?: number;
}

/** Stops what `up` started (newest first) and, with `purge`, undoes its provisioning. */
export async function localDown(opts: DownOptions): Promise<{ actions: string[] }> {
  const env = opts.env ?? Deno.env.toObject();
  const log = opts.log ?? ((l: string) => console.log(l));
  const outDir = resolve(opts.outDir);
  const state = await readState(outDir);
  const actions: string[] = [];
  const say = (l: string) => {
    actions.push(l);
    log(l);
  };
  if (!state) {
    say(`nothing to do: no ${runtimeDir(opts.outDir)}/state.json (up started nothing here)`);
    await removeEndpoints(outDir);
    return { actions };
  }
  const names = Object.keys(state.services).reverse();
  const errors: string[] = [];
  for (const name of names) {
    const s = state.services[name];
    if (s.mode !== "started") continue;
    const r = await stopProcess(s.process, opts.stopGraceMs ?? 10_000);
    say(
      r === "not-running"
        ? `${name}: was not running any more (pid ${s.process.pid})`
        : `${name}: ${
          r === "killed" ? "killed (did not stop in time)" : "stopped"
        } (pid ${s.process.pid})`,
    );
    delete state.services[name];
    await writeState(outDir, state);
  }
  if (opts.purge) {
    for (const name of names) {
      const s: ServiceState | undefined = state.services[name];
      if (!s) continue;
      try {
        if (s.mode === "provisioned") {
          const done = s.postgres
            ? await purgePostgres(s.postgres, env)
            : s.rabbitmq
            ? await purgeRabbitmq(s.rabbitmq, env)
            : s.redis
            ? await purgeRedis(s.redis, env)
            : [];
          for (const d of done) say(`${name}: ${d}`);
        }
        delete state.services[name];
        await writeState(outDir, state);
      } catch (e) {
        errors.push(`${name}: purge failed: ${errorText(e)}`);
      }
    }
    await Deno.remove(join(runtimeDir(outDir), "data"), { recursive: true }).catch(() => {});
  }
  if (
    Object.keys(state.services).length === 0 ||
    Object.values(state.services).every((s) => s.mode === "external")
  ) {
    await removeState(outDir);
  } else {
    await writeState(outDir, state);
  }
  await removeEndpoints(outDir);
  if (errors.length > 0) {
    throw new RuntimeError(
      `${errors.join("; ")} (the rest was undone; fix it and run \`deno task down --purge\` again)`,
    );
  }
  return { actions };
}

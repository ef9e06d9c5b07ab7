/**
 * The stack model: one normalised description of the stack that every
 * emitter and every verify check reads. Built from a validated, profile-
 * resolved spec; holds resolved secret values (only env files and the
 * RabbitMQ definitions may ever write those).
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Diagnostic } from "./diagnostics.ts";
import type { ProfileName, Spec } from "./schema.ts";
import { buildOf, type ImageBuild, WORKER_APP_DIR } from "./images.ts";
import { type Distribution, serviceImage } from "./engines.ts";
import { KERNEL_PROCESSES_PATH } from "./worker_manifest.ts";

/** A secret's value and where it came from. */
export interface ResolvedSecret {
  /** The value. Never log it. */
  value: string;
  /** `env` or `file` (supplied by the operator) or `default` (the spec's). */
  source: "env" | "file" | "default";
}

/** What the loader hands to the model: a valid spec with one profile applied. */
export interface ResolvedSpec {
  /** The spec file's path as given. */
  file: string;
  /** The profile applied. */
  profile: ProfileName;
  /** The spec with the profile's overlay merged in. */
  spec: Spec;
  /** Every secret of `spec.secrets`, resolved. */
  secrets: Record<string, ResolvedSecret>;
  /** sha256 (hex) of the spec file's bytes. */
  specHash: string;
  /** The BPMN files under `processes.path` (path relative to it, text). */
  processFiles?: ProcessFile[];
  /**
   * Where a key path of the merged spec is written in the file (in the
   * profile overlay when the value comes from there), for problems found
   * after loading.
   */
  locate?: (path: (string | number)[]) => {
    file: string;
    line: number;
    column: number;
    path: (string | number)[];
  };
  /** What the rules warn about (the build goes on), sorted by position. */
  warnings?: Diagnostic[];
}

/** One BPMN file of the processes folder, which the build copies under `out/`. */
export interface ProcessFile {
  /** Path relative to the processes folder, with `/` separators. */
  file: string;
  /** The file's text. */
  text: string;
}

/** Kinds of service in the model: infrastructure kinds and worker kinds. */
export type ServiceKind =
  | "postgres"
  | "redis"
  | "rabbitmq"
  | "ollama"
  | "camunda"
  | "kernel"
  | "ai"
  | "generic";

/** A health check, runnable both by Compose and by the local runtime. */
export interface HealthcheckModel {
  /** Compose `test`: `["CMD", ...]` or `["CMD-SHELL", "..."]`. */
  test: string[];
  interval: string;
  timeout: string;
  retries: number;
  start_period: string;
}

/** One container of the stack (infrastructure or worker). */
export interface ServiceModel {
  name: string;
  kind: ServiceKind;
  role: "infra" | "worker";
  image: string;
  /** How Compose builds the image, when ProcOS owns it (`compiler/images.ts`). */
  build?: ImageBuild;
  /** A fixed container host name (RabbitMQ's node name and message store follow it). */
  hostname?: string;
  ports: { target: number; published: number; host_ip?: string }[];
  volumes: { source: string; target: string; read_only?: boolean }[];
  healthcheck: HealthcheckModel;
  resources?: { cpus: number; memory: string };
  restart: "no" | "always" | "on-failure" | "unless-stopped";
  /** Services this one waits for (healthy) before it starts. */
  dependsOn: string[];
  /** Already running elsewhere: provisioned, not started. */
  external: boolean;
  /** Environment, written to `out/env/<name>.env` (may hold secrets). */
  env: Record<string, string>;
  /** Overrides the image's command, when needed (as run: not escaped for Compose). */
  command?: string[];
}

/** The whole stack. */
export interface StackModel {
  project: string;
  profile: ProfileName;
  specHash: string;
  network: Spec["network"];
  /** Named volumes, sorted. */
  volumes: string[];
  /**
   * Compose `extra_hosts` of every container: the Docker host's name, when
   * an external service runs there.
   */
  extraHosts: string[];
  /** Every service and worker container, in startup order. */
  services: ServiceModel[];
  postgres: {
    service: string;
    host: string;
    port: number;
    database: string;
    user: string;
    password: string;
    /** The cluster's superuser, which only the set-up job uses. */
    superuser: string;
    superuserPassword: string;
  };
  redis: {
    service: string;
    host: string;
    port: number;
    persistence: "none" | "rdb" | "aof";
    maxmemoryPolicy: string;
    auth: boolean;
    password: string;
  };
  rabbitmq: {
    service: string;
    host: string;
    port: number;
    managementPort: number;
    vhost: string;
    user: string;
    password: string;
  };
  ollama: { service: string; host: string; port: number };
  camunda: {
    service: string;
    host: string;
    port: number;
    /** The engine distribution (`engines.ts`): Camunda 7 CE or Operaton. */
    distribution: Distribution;
    restAuth: boolean;
    adminUser: string;
    adminPassword: string;
    historyLevel: string;
  };
  messaging: Spec["messaging"];
  ai: Spec["ai"];
  processes: Spec["processes"];
  /** The BPMN files the kernel deploys, copied to `out/processes/` (`PROCESSES_OUT`). */
  processFiles: ProcessFile[];
  workers: Array<{
    name: string;
    kind: "kernel" | "ai" | "generic";
    healthPort: number;
    concurrency: number;
    topics: Array<Record<string, unknown> & { name: string }>;
  }>;
  backup?: Spec["backup"];
  monitoring: { exporters: boolean; verify?: boolean };
  /** The spec file's name (in its folder, which Compose mounts into the verify container). */
  specName: string;
  /**
   * Each secret that names an environment variable, by that name, with its
   * value: what a process loading the spec again needs (the verify container).
   */
  secretsEnv: Record<string, string>;
  /** The files of the secrets that name no variable (relative to the spec's folder, as written). */
  secretFiles: string[];
  security: { hardening: boolean };
}

/**
 * The named volume the generic worker's `retention` task exports the AI
 * archive into, mounted at the spec's `ai.retention.export.path`.
 */
export const ARCHIVE_VOLUME = "ai_archive";

/** Default in-container ports of each infrastructure kind. */
export const DEFAULT_PORTS = {
  postgres: 5432,
  redis: 6379,
  rabbitmq: 5672,
  rabbitmqManagement: 15672,
  ollama: 11434,
  camunda: 8080,
} as const;

type InfraKind = "postgres" | "redis" | "rabbitmq" | "ollama" | "camunda";

function only<K extends InfraKind>(spec: Spec, kind: K) {
  const hit = Object.entries(spec.services).find(([, s]) => s.kind === kind);
  if (!hit) throw new Error(`no ${kind} service (the rules should have caught this)`);
  return { name: hit[0], svc: hit[1] as Extract<Spec["services"][string], { kind: K }> };
}

/**
 * Orders names so that each comes after everything it depends on; ties are
 * broken by name so the order is deterministic. Assumes no cycles (a rule
 * rejects them).
 */
export function startupOrder(deps: Record<string, readonly string[]>): string[] {
  const out: string[] = [];
  const done = new Set<string>();
  const names = Object.keys(deps).sort();
  while (out.length < names.length) {
    const ready = names.filter((n) =>
      !done.has(n) && deps[n].every((d) => done.has(d) || !(d in deps))
    );
    if (ready.length === 0) throw new Error("dependency cycle (the rules should have caught this)");
    for (const n of ready) {
      done.add(n);
      out.push(n);
    }
  }
  return out;
}

/** The health check command of each kind, as it works inside its image. */
export function healthTest(
  kind: ServiceKind,
  m: { postgresUser: string; postgresDb: string; port: number; enhanced: boolean },
): string[] {
  switch (kind) {
    case "postgres":
      return m.enhanced
        ? [
          "CMD-SHELL",
          `pg_isready -U ${m.postgresUser} -d ${m.postgresDb} && psql -U ${m.postgresUser} -d ${m.postgresDb} -tAc 'SELECT 1' >/dev/null`,
        ]
        : ["CMD", "pg_isready", "-U", m.postgresUser, "-d", m.postgresDb];
    case "redis":
      return ["CMD-SHELL", "redis-cli ping | grep -q PONG"];
    case "rabbitmq":
      // `ping` passes before the AMQP port listens: check the port.
      return m.enhanced
        ? [
          "CMD-SHELL",
          "rabbitmq-diagnostics -q check_port_connectivity && rabbitmq-diagnostics -q check_local_alarms",
        ]
        : ["CMD", "rabbitmq-diagnostics", "-q", "check_port_connectivity"];
    case "ollama":
      // The ollama/ollama image has no curl.
      return ["CMD", "ollama", "list"];
    case "camunda":
      return [
        "CMD-SHELL",
        `curl -fsS http://localhost:${m.port}/engine-rest/engine | grep -q default`,
      ];
    case "kernel":
    case "ai":
    case "generic":
      // CMD-SHELL, one string: podman's Docker API splits CMD arguments at
      // spaces, which would break the script apart (Docker keeps them).
      return [
        "CMD-SHELL",
        `deno eval 'const r = await fetch("http://127.0.0.1:${m.port}/health"); ` +
        `Deno.exit(r.ok ? 0 : 1)'`,
      ];
  }
}

function url(
  scheme: string,
  user: string,
  password: string,
  host: string,
  port: number,
  path: string,
) {
  return `${scheme}://${encodeURIComponent(user)}:${
    encodeURIComponent(password)
  }@${host}:${port}${path}`;
}

/** Options of {@link buildModel}. */
export interface BuildModelOptions {
  /**
   * How services reach each other. `compose` (default): by service name on
   * the container ports, as inside the Compose network. `host`: on the host,
   * at 127.0.0.1 (or the mapping's IPv4 `host_ip`) and the published ports, as
   * the local runtime (`deno task up` without Docker) runs them; every host,
   * port, URL and env value of the model then uses those addresses.
   */
  addressing?: "compose" | "host";
}

/** The name containers reach the Docker host by (Compose maps it to the host's gateway). */
export const DOCKER_HOST_NAME = "host.docker.internal";

/** Where an external service runs: `host`, or else the machine (the Docker host). */
export interface ExternalAt {
  host?: string;
}

/**
 * Where a service's container port is reached under an addressing mode:
 * `compose`: the service name and the container port; `host`: its published
 * mapping (127.0.0.1 unless bound to one IPv4 address), or 127.0.0.1 and the
 * container port when not published. An external service (`external`) is
 * not in the Compose network: it is reached at its `host` (else the Docker
 * host, {@link DOCKER_HOST_NAME} from a container) on its published port.
 */
export function addressOf(
  addressing: "compose" | "host",
  name: string,
  ports: readonly { target: number; published: number; host_ip?: string }[],
  containerPort: number,
  external?: ExternalAt,
): { host: string; port: number } {
  if (addressing === "compose" && !external) return { host: name, port: containerPort };
  const m = ports.find((p) => p.target === containerPort);
  const port = m?.published ?? containerPort;
  if (external?.host) return { host: external.host, port };
  if (addressing === "compose") return { host: DOCKER_HOST_NAME, port };
  const ip = m?.host_ip;
  const host = ip && /^\d+\.\d+\.\d+\.\d+$/.test(ip) && ip !== "0.0.0.0" ? ip : "127.0.0.1";
  return { host, port };
}

/** Builds the stack model from a resolved spec. Pure. */
export function buildModel(r: ResolvedSpec, opts: BuildModelOptions = {}): StackModel {
  const { spec } = r;
  const addressing = opts.addressing ?? "compose";
  const at = (
    s: { name: string; svc: { ports: ServiceModel["ports"]; external: boolean; host?: string } },
    port: number,
  ) => addressOf(addressing, s.name, s.svc.ports, port, s.svc.external ? s.svc : undefined);
  const secret = (name: string) => r.secrets[name].value;
  const enhanced = r.profile === "production";
  const pg = only(spec, "postgres");
  const rd = only(spec, "redis");
  const mq = only(spec, "rabbitmq");
  const ol = only(spec, "ollama");
  const ca = only(spec, "camunda");

  const postgres = {
    service: pg.name,
    ...at(pg, DEFAULT_PORTS.postgres),
    database: pg.svc.database.name,
    user: pg.svc.database.user,
    password: secret(pg.svc.database.password),
    superuser: POSTGRES_SUPERUSER,
    superuserPassword: secret(pg.svc.database.superuser_password ?? pg.svc.database.password),
  };
  const redis = {
    service: rd.name,
    ...at(rd, DEFAULT_PORTS.redis),
    persistence: rd.svc.cache.persistence,
    maxmemoryPolicy: rd.svc.cache.maxmemory_policy,
    auth: rd.svc.cache.auth,
    password: secret(rd.svc.cache.password),
  };
  const rabbitmq = {
    service: mq.name,
    ...at(mq, DEFAULT_PORTS.rabbitmq),
    managementPort: at(mq, DEFAULT_PORTS.rabbitmqManagement).port,
    vhost: mq.svc.broker.vhost,
    user: mq.svc.broker.user,
    password: secret(mq.svc.broker.password),
  };
  const ollama = { service: ol.name, ...at(ol, DEFAULT_PORTS.ollama) };
  const camunda = {
    service: ca.name,
    ...at(ca, DEFAULT_PORTS.camunda),
    distribution: ca.svc.engine.distribution,
    restAuth: ca.svc.engine.rest_auth,
    adminUser: ca.svc.engine.admin_user,
    adminPassword: secret(ca.svc.engine.admin_password),
    historyLevel: ca.svc.engine.history_level,
  };

  const camundaUrl = `http://${camunda.host}:${camunda.port}/engine-rest`;
  const ollamaUrl = `http://${ollama.host}:${ollama.port}`;
  const redisUrl = redis.auth
    ? url("redis", "default", redis.password, redis.host, redis.port, "")
    : `redis://${redis.host}:${redis.port}`;
  const rabbitUrl = url(
    "amqp",
    rabbitmq.user,
    rabbitmq.password,
    rabbitmq.host,
    rabbitmq.port,
    `/${encodeURIComponent(rabbitmq.vhost)}`,
  );
  const databaseUrl = url(
    "postgres",
    postgres.user,
    postgres.password,
    postgres.host,
    postgres.port,
    `/${postgres.database}`,
  );

  const envOf = (kind: ServiceKind): Record<string, string> => {
    switch (kind) {
      case "postgres":
        // The image makes POSTGRES_USER the cluster's superuser: the
        // application role is created as an ordinary one by the set-up job.
        return { POSTGRES_USER: postgres.superuser, POSTGRES_PASSWORD: postgres.superuserPassword };
      case "redis":
        return {
          ...(redis.auth ? { REDIS_PASSWORD: redis.password, REDISCLI_AUTH: redis.password } : {}),
          PROCOS_CONFIG_DIGEST: digest({ redis, resources: rd.svc.resources }),
        };
      case "rabbitmq":
        // User, vhost and password come from the generated definitions, which
        // RabbitMQ loads at boot (it then ignores RABBITMQ_DEFAULT_*). Their
        // digest makes Compose recreate the broker when they change.
        return {
          PROCOS_CONFIG_DIGEST: digest({
            rabbitmq,
            messaging: spec.messaging,
            resources: mq.svc.resources,
          }),
        };
      case "ollama":
        return {
          OLLAMA_HOST: addressing === "host"
            ? `${ollama.host}:${ollama.port}`
            : `0.0.0.0:${ollama.port}`,
        };
      case "camunda":
        return {
          DB_DRIVER: "org.postgresql.Driver",
          DB_URL: `jdbc:postgresql://${postgres.host}:${postgres.port}/${postgres.database}`,
          DB_USERNAME: postgres.user,
          DB_PASSWORD: postgres.password,
          WAIT_FOR: `${postgres.host}:${postgres.port}`,
          CAMUNDA_BPM_ADMINUSER_ID: camunda.adminUser,
          CAMUNDA_BPM_ADMINUSER_PASSWORD: camunda.adminPassword,
          CAMUNDA_BPM_HISTORYLEVEL: camunda.historyLevel,
          CAMUNDA_BPM_RUN_AUTH_ENABLED: String(camunda.restAuth),
          CAMUNDA_BPM_RUN_AUTH_AUTHENTICATION: "basic",
          // the engine's hardened profile: authorization on, REST auth forced,
          // no CORS, secure session cookies (engine/README.md)
          ...(r.profile === "production" ? { SPRING_PROFILES_ACTIVE: "production" } : {}),
          // on the host the engine listens on its published port itself
          ...(addressing === "host" ? { SERVER_PORT: String(camunda.port) } : {}),
        };
      case "kernel":
      case "ai":
      case "generic":
        return {
          CAMUNDA_BASE_URL: camundaUrl,
          ...(camunda.restAuth
            ? { CAMUNDA_USERNAME: camunda.adminUser, CAMUNDA_PASSWORD: camunda.adminPassword }
            : {}),
          OLLAMA_BASE_URL: ollamaUrl,
          REDIS_URL: redisUrl,
          RABBITMQ_URL: rabbitUrl,
          DATABASE_URL: databaseUrl,
        };
    }
  };

  const infra: ServiceModel[] = Object.entries(spec.services).map(([name, s]) => ({
    name,
    kind: s.kind,
    role: "infra",
    image: serviceImage(s),
    build: buildOf(serviceImage(s)),
    // RabbitMQ names its node, and the message store under it, after the host.
    hostname: s.kind === "rabbitmq" ? name : undefined,
    ports: s.ports,
    volumes: s.volumes.map((v) => ({ ...v, source: processesCopy(v.source, spec.processes.path) })),
    healthcheck: {
      test: healthTest(s.kind, {
        // the superuser's own database exists before the set-up job has run
        postgresUser: postgres.superuser,
        postgresDb: "postgres",
        port: s.kind === "camunda" ? camunda.port : 0,
        enhanced,
      }),
      ...s.healthcheck,
    },
    resources: s.resources,
    restart: s.restart,
    dependsOn: [...s.depends_on],
    external: s.external,
    env: envOf(s.kind),
    command: s.kind === "redis"
      ? redisCommand(redis.auth)
      : s.kind === "rabbitmq"
      ? RABBITMQ_COMMAND
      : undefined,
  }));

  const workerEntries = Object.entries(spec.workers);
  const workers: ServiceModel[] = workerEntries.map(([name, w]) => ({
    name,
    kind: w.kind,
    role: "worker",
    image: w.image,
    ports: [],
    // The worker image holds the code and its npm packages; the container
    // mounts only what `deno task build` wrote for it.
    build: buildOf(w.image),
    volumes: [
      { source: `./out/workers/${name}.json`, target: "/procos/manifest.json", read_only: true },
      ...(w.kind === "kernel"
        ? [{ source: PROCESSES_OUT, target: KERNEL_PROCESSES_PATH, read_only: true }]
        : []),
      // The retention task type exports the archive (docs/retention.md).
      ...(w.kind === "generic" && spec.ai.retention.export.enabled &&
          w.topics.some((t) => t.type === "retention")
        ? [{ source: ARCHIVE_VOLUME, target: spec.ai.retention.export.path }]
        : []),
    ],
    healthcheck: {
      test: healthTest(w.kind, { postgresUser: "", postgresDb: "", port: w.health_port, enhanced }),
      interval: "30s",
      timeout: "10s",
      retries: 3,
      start_period: w.kind === "kernel"
        ? `${30 + MODEL_PULL_BUDGET_SECONDS * modelCount(spec)}s`
        : "30s",
    },
    restart: "unless-stopped",
    dependsOn: [...w.depends_on],
    external: false,
    env: { ...envOf(w.kind), PROCOS_MANIFEST: "/procos/manifest.json", PROCOS_WORKER: name },
    command: workerCommand(w.kind),
  }));

  const all = [...infra, ...workers];
  const order = startupOrder(Object.fromEntries(all.map((s) => [s.name, s.dependsOn])));
  const byName = new Map(all.map((s) => [s.name, s]));

  const volumes = [
    ...new Set(
      all.flatMap((s) => s.volumes.map((v) => v.source)).filter((v) => !v.startsWith(".")),
    ),
  ].sort();

  return {
    project: spec.project,
    profile: r.profile,
    specHash: r.specHash,
    network: spec.network,
    volumes,
    extraHosts: Object.values(spec.services).some((s) => s.external && !s.host)
      ? [`${DOCKER_HOST_NAME}:host-gateway`]
      : [],
    services: order.map((n) => byName.get(n)!),
    postgres,
    redis,
    rabbitmq,
    ollama,
    camunda,
    messaging: spec.messaging,
    ai: spec.ai,
    processes: spec.processes,
    processFiles: [...(r.processFiles ?? [])].sort((
      a,
      b,
    ) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0)),
    workers: workerEntries.map(([name, w]) => ({
      name,
      kind: w.kind,
      healthPort: w.health_port,
      concurrency: "concurrency" in w ? w.concurrency : 1,
      topics: "topics" in w ? w.topics.map((t) => ({ ...t })) : [],
    })),
    backup: spec.backup,
    monitoring: spec.monitoring ?? { exporters: false },
    specName: r.file.split("/").pop() ?? r.file,
    secretFiles: Object.values(spec.secrets).flatMap((s) => !s.env && s.file ? [s.file] : []),
    secretsEnv: Object.fromEntries(
      Object.entries(spec.secrets).flatMap(([name, s]) =>
        s.env && r.secrets[name] ? [[s.env, r.secrets[name].value]] : []
      ),
    ),
    security: spec.security ?? { hardening: false },
  };
}

/** The PostgreSQL cluster's superuser (the image's `POSTGRES_USER`). */
export const POSTGRES_SUPERUSER = "postgres";

/**
 * How long the kernel may take per model it pulls before it reports ready
 * (a first pull of llama3.2:1b is about 1.3 GB): its health check's start
 * period grows by this much per model, so Compose keeps waiting meanwhile.
 */
export const MODEL_PULL_BUDGET_SECONDS = 1200;

/** How many models the kernel makes sure of (every provider's). */
function modelCount(spec: Spec): number {
  return spec.ai.providers.reduce((n, p) => n + p.models.length, 0);
}

/** A short, stable digest of a JSON value (sha256, 16 hex digits). */
function digest(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16);
}

/** Where `deno task build` copies the BPMN processes, as a model volume source. */
export const PROCESSES_OUT = "./out/processes";

/** A volume source naming the spec's processes folder becomes its copy under `out/`. */
function processesCopy(source: string, processesPath: string): string {
  const norm = (p: string) => p.replace(/^\.\//, "").replace(/\/+$/, "");
  return source.startsWith("./") && norm(source) === norm(processesPath) ? PROCESSES_OUT : source;
}

/**
 * The command of a worker container: the worker image's code, with the npm
 * packages it resolved at build time (`--cached-only`: nothing is fetched at
 * start).
 */
export function workerCommand(kind: "kernel" | "ai" | "generic"): string[] {
  return [
    "deno",
    "run",
    "--allow-all",
    "--cached-only",
    `--config=${WORKER_APP_DIR}/deno.json`,
    `${WORKER_APP_DIR}/workers/${kind}/main.ts`,
  ];
}

/**
 * Redis reads its config file, and its password from the environment. The
 * command is the one the container runs, unescaped: the Compose emitter
 * escapes `$` as `$$` itself. It goes through the image's entrypoint so that
 * Redis still drops root for the `redis` user.
 */
/**
 * RabbitMQ's definitions hold a password hash and are written 0600 by the
 * host user; the container's `rabbitmq` user could not read the mount, so the
 * entrypoint (still root) installs a copy it owns, then starts as usual.
 */
export const RABBITMQ_COMMAND: string[] = [
  "sh",
  "-c",
  "install -o rabbitmq -g rabbitmq -m 600 /procos/rabbitmq/definitions.json " +
  "/etc/rabbitmq/definitions.json && exec docker-entrypoint.sh rabbitmq-server",
];

function redisCommand(auth: boolean): string[] {
  const base = "exec docker-entrypoint.sh redis-server /usr/local/etc/redis/redis.conf";
  if (!auth) return ["sh", "-c", base];
  // The password goes into a config file only the redis user reads, never on
  // a command line (where `ps` shows it); `"` and `\` are escaped for Redis.
  const authFile = "/tmp/procos-redis-auth.conf";
  return [
    "sh",
    "-c",
    `umask 077 && printf 'requirepass "%s"\\n' "$(printf '%s' "$REDIS_PASSWORD" | ` +
    `sed 's/[\\\\"]/\\\\&/g')" > ${authFile} && chown redis ${authFile} && ` +
    `${base} --include ${authFile}`,
  ];
}

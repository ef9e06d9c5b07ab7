/**
 * The stack model: one normalised description of the stack that every
 * emitter and every verify check reads. Built from a validated, profile-
 * resolved spec; holds resolved secret values (only env files and the
 * RabbitMQ definitions may ever write those).
 *
 * @module
 */
import type { ProfileName, Spec } from "./schema.ts";

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
  /** Every service and worker container, in startup order. */
  services: ServiceModel[];
  postgres: {
    service: string;
    host: string;
    port: number;
    database: string;
    user: string;
    password: string;
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
    restAuth: boolean;
    adminUser: string;
    adminPassword: string;
    historyLevel: string;
  };
  messaging: Spec["messaging"];
  ai: Spec["ai"];
  processes: Spec["processes"];
  workers: Array<{
    name: string;
    kind: "kernel" | "ai" | "generic";
    healthPort: number;
    concurrency: number;
    topics: Array<Record<string, unknown> & { name: string }>;
  }>;
  backup?: Spec["backup"];
  monitoring: { exporters: boolean };
  security: { hardening: boolean };
}

/** Where a worker container mounts the project's sources. */
export const WORKER_APP_DIR = "/procos/app";

/** The project paths a worker container needs, mounted read-only. */
export const WORKER_SOURCES = ["workers", "compiler", "ops", "deno.json", "deno.lock"] as const;

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
      return [
        "CMD",
        "deno",
        "eval",
        `const r = await fetch("http://127.0.0.1:${m.port}/health"); Deno.exit(r.ok ? 0 : 1)`,
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

/**
 * Where a service's container port is reached under an addressing mode:
 * `compose`: the service name and the container port; `host`: its published
 * mapping (127.0.0.1 unless bound to one IPv4 address), or 127.0.0.1 and the
 * container port when not published.
 */
export function addressOf(
  addressing: "compose" | "host",
  name: string,
  ports: readonly { target: number; published: number; host_ip?: string }[],
  containerPort: number,
): { host: string; port: number } {
  if (addressing === "compose") return { host: name, port: containerPort };
  const m = ports.find((p) => p.target === containerPort);
  if (!m) return { host: "127.0.0.1", port: containerPort };
  const ip = m.host_ip;
  const host = ip && /^\d+\.\d+\.\d+\.\d+$/.test(ip) && ip !== "0.0.0.0" ? ip : "127.0.0.1";
  return { host, port: m.published };
}

/** Builds the stack model from a resolved spec. Pure. */
export function buildModel(r: ResolvedSpec, opts: BuildModelOptions = {}): StackModel {
  const { spec } = r;
  const addressing = opts.addressing ?? "compose";
  const at = (s: { name: string; svc: { ports: ServiceModel["ports"] } }, port: number) =>
    addressOf(addressing, s.name, s.svc.ports, port);
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
        return {
          POSTGRES_DB: postgres.database,
          POSTGRES_USER: postgres.user,
          POSTGRES_PASSWORD: postgres.password,
        };
      case "redis":
        return redis.auth ? { REDIS_PASSWORD: redis.password, REDISCLI_AUTH: redis.password } : {};
      case "rabbitmq":
        // User, vhost and password come from the generated definitions, which
        // RabbitMQ loads at boot (it then ignores RABBITMQ_DEFAULT_*).
        return {};
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
    image: s.image,
    ports: s.ports,
    volumes: s.volumes,
    healthcheck: {
      test: healthTest(s.kind, {
        postgresUser: postgres.user,
        postgresDb: postgres.database,
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
    // The workers run from the project's sources: the worker code, the shared
    // manifest schema under compiler/, the retention and archive export
    // library under ops/, and deno.json + deno.lock for the npm packages
    // (fetched into DENO_DIR, since the mounts are read-only).
    volumes: [
      ...WORKER_SOURCES.map((p) => ({
        source: `./${p}`,
        target: `${WORKER_APP_DIR}/${p}`,
        read_only: true,
      })),
      { source: `./out/workers/${name}.json`, target: "/procos/manifest.json", read_only: true },
      ...(w.kind === "kernel"
        ? [{ source: `./${spec.processes.path}`, target: "/procos/processes", read_only: true }]
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
      start_period: "30s",
    },
    restart: "unless-stopped",
    dependsOn: [...w.depends_on],
    external: false,
    env: { ...envOf(w.kind), PROCOS_MANIFEST: "/procos/manifest.json", PROCOS_WORKER: name },
    command: [
      "deno",
      "run",
      "--allow-all",
      "--node-modules-dir=none",
      `--config=${WORKER_APP_DIR}/deno.json`,
      `${WORKER_APP_DIR}/workers/${w.kind}/main.ts`,
    ],
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
    services: order.map((n) => byName.get(n)!),
    postgres,
    redis,
    rabbitmq,
    ollama,
    camunda,
    messaging: spec.messaging,
    ai: spec.ai,
    processes: spec.processes,
    workers: workerEntries.map(([name, w]) => ({
      name,
      kind: w.kind,
      healthPort: w.health_port,
      concurrency: "concurrency" in w ? w.concurrency : 1,
      topics: "topics" in w ? w.topics.map((t) => ({ ...t })) : [],
    })),
    backup: spec.backup,
    monitoring: spec.monitoring ?? { exporters: false },
    security: spec.security ?? { hardening: false },
  };
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
  return ["sh", "-c", auth ? `${base} --requirepass "$REDIS_PASSWORD"` : base];
}

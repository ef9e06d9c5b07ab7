/**
 * The Compose emitter: `compose.yaml` (always) and, for the production
 * profile, the override file `compose.production.yaml` (its backup service
 * runs the script of `./backup.ts`).
 *
 * Files are produced by serialising plain data with the `yaml` package (never
 * a template): keys are inserted in a fixed order, services come in the
 * model's startup order, and every `$` of every value is escaped as `$$` so
 * Compose interpolates nothing. No secret is ever written here: each
 * container reads its environment from `env/<name>.env` (see `env.ts`).
 *
 * Paths: `compose.yaml` lives in `out/`, so Compose resolves relative paths
 * against `out/`. Host paths of the model are relative to the spec's folder
 * (`./processes`, `./workers`), and generated files are under `./out/`; both
 * are rewritten here (`../processes`, `./workers/kernel.json`).
 *
 * @module
 */
import { stringify } from "yaml";
import type { Artifact } from "./artifact.ts";
import type { HealthcheckModel, ServiceKind, ServiceModel, StackModel } from "../model.ts";

/** The development (and base) Compose file, relative to `out/`. */
export const COMPOSE_FILE = "compose.yaml";
/** The production override file, relative to `out/`. */
export const COMPOSE_PRODUCTION_FILE = "compose.production.yaml";
/** The backup loop the production `backup` service runs, relative to `out/`. */
export const BACKUP_SCRIPT = "backup/backup.sh";
/**
 * With `backup.wal_archive`: the production PostgreSQL's client authentication
 * (the image's, plus replication connections for `pg_basebackup`), relative to
 * `out/`.
 */
export const PG_HBA_FILE = "postgres/pg_hba.conf";
/** With `backup.wal_archive`: PostgreSQL's `archive_command` script, relative to `out/`. */
export const WAL_ARCHIVE_SCRIPT = "postgres/archive-wal.sh";
/** Where the production PostgreSQL archives its WAL, in its container (`<backup.path>/wal`). */
export const WAL_ARCHIVE_DIR = "/wal-archive";
/** Where the generated PostgreSQL files are mounted in its container. */
const PG_CONF_DIR = "/procos/postgres";
/** The Compose profile the production-only services belong to. */
export const PRODUCTION_PROFILE = "production";

/** Pinned images of the containers the production profile adds. */
export const AUXILIARY_IMAGES = {
  postgresExporter: "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
  redisExporter: "oliver006/redis_exporter:v1.62.0",
} as const;

/** Log rotation of every container in production. */
export const PRODUCTION_LOGGING = {
  driver: "json-file",
  options: { "max-size": "10m", "max-file": "3" },
} as const;

/**
 * Capabilities the official PostgreSQL, Redis and RabbitMQ entrypoints need:
 * they start as root, chown their data folder and switch to their own user.
 */
export const ENTRYPOINT_CAPABILITIES: readonly string[] = [
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "SETGID",
  "SETUID",
];

/** The `docker compose` command that starts a stack built with `profile`. */
export function startCommand(profile: StackModel["profile"], outDir = "out"): string {
  const base = `${outDir}/${COMPOSE_FILE}`;
  return profile === "production"
    ? `docker compose -f ${base} -f ${outDir}/${COMPOSE_PRODUCTION_FILE} ` +
      `--profile ${PRODUCTION_PROFILE} up -d`
    : `docker compose -f ${base} up -d`;
}

/** Security settings of one container in the hardened production override. */
export interface Hardening {
  /** Capabilities dropped (`["ALL"]` or nothing). */
  capDrop: string[];
  /** Capabilities added back after the drop. */
  capAdd: string[];
  /** Mount the root filesystem read-only. */
  readOnly: boolean;
  /** Writable tmpfs mounts (needed with a read-only root). */
  tmpfs: string[];
}

/**
 * A container the production profile adds around the model's services: the
 * backup loop and the monitoring exporters. Volume sources follow the model's
 * convention (relative to the spec's folder; generated files under `./out/`).
 */
export interface AuxiliaryService {
  name: string;
  image: string;
  /** Environment, written to `env/<name>.env` by the env emitter. */
  env: Record<string, string>;
  command?: string[];
  ports: ServiceModel["ports"];
  volumes: ServiceModel["volumes"];
  healthcheck?: HealthcheckModel;
  dependsOn: string[];
  restart: ServiceModel["restart"];
  resources: { cpus: number; memory: string };
  hardening: Hardening;
}

const NO_HARDENING: Hardening = { capDrop: [], capAdd: [], readOnly: false, tmpfs: [] };

/**
 * The hardening of a model service by kind. Conservative: the databases and
 * the broker keep what their entrypoints need; Ollama and Camunda keep their
 * default capabilities (their needs are not verified); workers run with no
 * capability on a read-only root.
 */
export function hardeningOf(kind: ServiceKind): Hardening {
  switch (kind) {
    case "postgres":
    case "redis":
    case "rabbitmq":
      return { capDrop: ["ALL"], capAdd: [...ENTRYPOINT_CAPABILITIES], readOnly: false, tmpfs: [] };
    case "kernel":
    case "ai":
    case "generic":
      // The deno image caches modules in DENO_DIR=/deno-dir.
      return { capDrop: ["ALL"], capAdd: [], readOnly: true, tmpfs: ["/tmp", "/deno-dir"] };
    case "ollama":
    case "camunda":
      return NO_HARDENING;
  }
}

/**
 * The production-only containers of a model: `backup` when the spec has a
 * `backup` section, `postgres-exporter` and `redis-exporter` when
 * `monitoring.exporters` is on. Empty for development. Pure.
 */
export function auxiliaryServices(model: StackModel): AuxiliaryService[] {
  if (model.profile !== "production") return [];
  const out: AuxiliaryService[] = [];
  const byName = new Map(model.services.map((s) => [s.name, s]));
  const pg = model.postgres;
  const pgService = byName.get(pg.service);
  const restart = pgService?.restart ?? "unless-stopped";
  if (model.backup) {
    out.push({
      name: "backup",
      image: pgService?.image ?? "postgres:15-alpine",
      env: {
        PGHOST: pg.host,
        PGPORT: String(pg.port),
        PGDATABASE: pg.database,
        PGUSER: pg.user,
        PGPASSWORD: pg.password,
      },
      command: ["sh", "/procos/backup.sh"],
      ports: [],
      volumes: [
        { source: model.backup.path, target: "/backups" },
        { source: `./out/${BACKUP_SCRIPT}`, target: "/procos/backup.sh", read_only: true },
      ],
      healthcheck: {
        test: ["CMD", "pg_isready", "-q"],
        interval: "60s",
        timeout: "10s",
        retries: 3,
        start_period: "30s",
      },
      dependsOn: [pg.service],
      restart,
      resources: { cpus: 0.5, memory: "512m" },
      hardening: { capDrop: ["ALL"], capAdd: ["DAC_OVERRIDE"], readOnly: true, tmpfs: ["/tmp"] },
    });
  }
  if (model.monitoring.exporters) {
    const exporterHardening: Hardening = {
      capDrop: ["ALL"],
      capAdd: [],
      readOnly: true,
      tmpfs: [],
    };
    out.push({
      name: "postgres-exporter",
      image: AUXILIARY_IMAGES.postgresExporter,
      env: {
        DATA_SOURCE_URI: `${pg.host}:${pg.port}/${pg.database}?sslmode=disable`,
        DATA_SOURCE_USER: pg.user,
        DATA_SOURCE_PASS: pg.password,
      },
      ports: [{ target: 9187, published: 9187, host_ip: "127.0.0.1" }],
      volumes: [],
      dependsOn: [pg.service],
      restart,
      resources: { cpus: 0.25, memory: "128m" },
      hardening: exporterHardening,
    });
    const rd = model.redis;
    out.push({
      name: "redis-exporter",
      image: AUXILIARY_IMAGES.redisExporter,
      env: {
        REDIS_ADDR: `redis://${rd.host}:${rd.port}`,
        ...(rd.auth ? { REDIS_PASSWORD: rd.password } : {}),
      },
      ports: [{ target: 9121, published: 9121, host_ip: "127.0.0.1" }],
      volumes: [],
      dependsOn: [rd.service],
      restart: byName.get(rd.service)?.restart ?? "unless-stopped",
      resources: { cpus: 0.25, memory: "128m" },
      hardening: exporterHardening,
    });
  }
  const taken = new Set(model.services.map((s) => s.name));
  for (const a of out) {
    if (taken.has(a.name)) {
      throw new Error(
        `service name "${a.name}" is reserved by the production profile ` +
          `(it adds a ${a.name} container); rename that service or worker in the spec`,
      );
    }
  }
  const published = new Set(model.services.flatMap((s) => s.ports.map((p) => p.published)));
  for (const a of out) {
    for (const p of a.ports) {
      if (published.has(p.published)) {
        throw new Error(
          `port ${p.published} is published by a service and by the production ${a.name}; ` +
            `publish that service on another port`,
        );
      }
    }
  }
  return out;
}

/**
 * Rewrites a model volume source for a Compose file living in `out/`:
 * `./out/x` → `./x`, `./x` → `../x`; named volumes are unchanged.
 */
export function composeSource(source: string): string {
  if (source.startsWith("./out/")) return `./${source.slice("./out/".length)}`;
  if (source.startsWith("./")) return `../${source.slice(2)}`;
  return source;
}

/**
 * The generated files and folders (relative to `out/`) that the Compose files
 * mount, such as `sql`, `redis/redis.conf` or `workers/kernel.json`: each must
 * be written by some emitter, or Compose would mount an empty folder there.
 */
export function generatedMounts(model: StackModel): string[] {
  const volumes = [
    ...startedServices(model).flatMap(mountsOf),
    ...auxiliaryServices(model).flatMap((a) => a.volumes),
    ...walArchiveMounts(model),
  ];
  const paths = volumes.map((v) => v.source).filter((s) => s.startsWith("./out/"));
  return [...new Set(paths.map((p) => p.slice("./out/".length).replace(/\/+$/, "")))];
}

/** Escapes `$` as `$$` in every string of a JSON-like value (Compose interpolation). */
export function escapeInterpolation<T>(value: T): T {
  if (typeof value === "string") return value.replaceAll("$", "$$$$") as T;
  if (Array.isArray(value)) return value.map((v) => escapeInterpolation(v)) as T;
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, escapeInterpolation(v)]),
    ) as T;
  }
  return value;
}

/**
 * Emits the Compose artifacts (and, with WAL archiving, PostgreSQL's files).
 * The backup script the backup service mounts is `./backup.ts`'s. Pure.
 */
export function emitCompose(model: StackModel): Artifact[] {
  const aux = auxiliaryServices(model);
  const out: Artifact[] = [{
    path: COMPOSE_FILE,
    content: render(baseDocument(model), BASE_HEADER),
  }];
  if (model.profile === "production") {
    out.push({
      path: COMPOSE_PRODUCTION_FILE,
      content: render(productionDocument(model, aux), PRODUCTION_HEADER),
    });
    if (walArchiving(model)) {
      out.push({ path: PG_HBA_FILE, content: PG_HBA, mode: 0o644 });
      out.push({ path: WAL_ARCHIVE_SCRIPT, content: archiveWalScript(), mode: 0o644 });
    }
  }
  return out;
}

const BASE_HEADER = [
  "Generated by ProcOS from procos.config.yaml: do not edit; change the spec and run",
  "`deno task build`. Secrets are not here: each service reads ./env/<service>.env.",
];

const PRODUCTION_HEADER = [
  "Generated by ProcOS: the production override. Do not edit. Use it with the base file:",
  "docker compose -f out/compose.yaml -f out/compose.production.yaml --profile production up -d",
];

function render(doc: Record<string, unknown>, header: string[]): string {
  const body = stringify(escapeInterpolation(doc), {
    version: "1.1", // quotes yes/no/on/off and the like, for YAML 1.1 readers too
    lineWidth: 0,
    aliasDuplicateObjects: false,
  });
  return header.map((l) => `# ${l}\n`).join("") + body;
}

/** The model's services that Compose starts (external ones run elsewhere). */
export function startedServices(model: StackModel): ServiceModel[] {
  return model.services.filter((s) => !s.external);
}

function baseDocument(model: StackModel): Record<string, unknown> {
  const services = startedServices(model);
  const names = new Set(services.map((s) => s.name));
  const network: Record<string, unknown> = {
    name: model.network.name,
    driver: model.network.driver,
  };
  if (model.network.subnet) network.ipam = { config: [{ subnet: model.network.subnet }] };
  const doc: Record<string, unknown> = {
    name: model.project,
    services: Object.fromEntries(services.map((s) => [s.name, baseService(model, s, names)])),
    networks: { [model.network.name]: network },
  };
  if (model.volumes.length > 0) {
    doc.volumes = Object.fromEntries(model.volumes.map((v) => [v, {}]));
  }
  return doc;
}

/** Generated configuration each infrastructure kind mounts read-only. */
function configMounts(kind: ServiceKind): ServiceModel["volumes"] {
  switch (kind) {
    case "postgres":
      return [{ source: "./out/sql", target: "/docker-entrypoint-initdb.d", read_only: true }];
    case "redis":
      return [{
        source: "./out/redis/redis.conf",
        target: "/usr/local/etc/redis/redis.conf",
        read_only: true,
      }];
    case "rabbitmq":
      return [
        {
          source: "./out/rabbitmq/rabbitmq.conf",
          target: "/etc/rabbitmq/rabbitmq.conf",
          read_only: true,
        },
        {
          source: "./out/rabbitmq/definitions.json",
          target: "/procos/rabbitmq/definitions.json",
          read_only: true,
        },
        {
          source: "./out/rabbitmq/enabled_plugins",
          target: "/etc/rabbitmq/enabled_plugins",
          read_only: true,
        },
      ];
    default:
      return [];
  }
}

/** Everything a service mounts: the model's volumes, then its generated configuration. */
function mountsOf(s: ServiceModel): ServiceModel["volumes"] {
  return [...s.volumes, ...configMounts(s.kind)];
}

function volumeEntry(owner: string, v: ServiceModel["volumes"][number]): string {
  const source = composeSource(v.source);
  for (const part of [source, v.target]) {
    if (part.includes(":")) {
      throw new Error(
        `service ${owner}: volume path "${part}" contains ':', which Compose's volume syntax ` +
          `cannot carry; use a path without ':'`,
      );
    }
  }
  return `${source}:${v.target}${v.read_only ? ":ro" : ""}`;
}

function portEntry(p: ServiceModel["ports"][number]): Record<string, unknown> {
  const out: Record<string, unknown> = { target: p.target };
  if (p.host_ip) out.host_ip = p.host_ip;
  out.published = p.published;
  out.protocol = "tcp";
  return out;
}

function healthcheckEntry(h: HealthcheckModel): Record<string, unknown> {
  return {
    test: [...h.test],
    interval: h.interval,
    timeout: h.timeout,
    retries: h.retries,
    start_period: h.start_period,
  };
}

function dependsOnEntry(deps: string[], names: Set<string>): Record<string, unknown> | undefined {
  const kept = deps.filter((d) => names.has(d));
  if (kept.length === 0) return undefined;
  return Object.fromEntries(kept.map((d) => [d, { condition: "service_healthy" }]));
}

function limitsOf(r: { cpus: number; memory: string }): Record<string, unknown> {
  return { cpus: r.cpus, memory: r.memory };
}

/** Half of a memory size such as `4g` → `2g`, `1g` → `512m`, `512m` → `256m`. */
export function halfMemory(size: string): string {
  const m = /^(\d+)([kmg])$/.exec(size);
  if (!m) throw new Error(`memory size "${size}" is not like 512m or 2g`);
  const units = ["k", "m", "g"];
  let n = Number(m[1]);
  let u = units.indexOf(m[2]);
  while (n % 2 !== 0 && u > 0) {
    n *= 1024;
    u -= 1;
  }
  n = Math.max(1, Math.floor(n / 2));
  while (n % 1024 === 0 && u < units.length - 1) {
    n /= 1024;
    u += 1;
  }
  return `${n}${units[u]}`;
}

/** Reservations: half of each limit. */
function reservationsOf(r: { cpus: number; memory: string }): Record<string, unknown> {
  return { cpus: r.cpus / 2, memory: halfMemory(r.memory) };
}

function baseService(
  model: StackModel,
  s: ServiceModel,
  names: Set<string>,
): Record<string, unknown> {
  const svc: Record<string, unknown> = { image: s.image };
  if (s.command) svc.command = [...s.command];
  svc.restart = s.restart;
  svc.env_file = [`./env/${s.name}.env`];
  if (s.ports.length > 0) svc.ports = s.ports.map(portEntry);
  const volumes = mountsOf(s);
  if (volumes.length > 0) svc.volumes = volumes.map((v) => volumeEntry(s.name, v));
  svc.healthcheck = healthcheckEntry(s.healthcheck);
  const deps = dependsOnEntry(s.dependsOn, names);
  if (deps) svc.depends_on = deps;
  if (s.resources) svc.deploy = { resources: { limits: limitsOf(s.resources) } };
  svc.networks = [model.network.name];
  return svc;
}

function hardeningEntries(model: StackModel, h: Hardening): Record<string, unknown> {
  if (!model.security.hardening) return {};
  const out: Record<string, unknown> = { security_opt: ["no-new-privileges:true"] };
  if (h.capDrop.length > 0) out.cap_drop = [...h.capDrop];
  if (h.capAdd.length > 0) out.cap_add = [...h.capAdd];
  if (h.readOnly) out.read_only = true;
  if (h.tmpfs.length > 0) out.tmpfs = [...h.tmpfs];
  return out;
}

function productionOverride(model: StackModel, s: ServiceModel): Record<string, unknown> {
  const svc: Record<string, unknown> = {};
  if (s.name === model.postgres.service && walArchiving(model)) {
    svc.command = walArchiveCommand();
    svc.volumes = walArchiveMounts(model).map((v) => volumeEntry(s.name, v));
  }
  svc.healthcheck = healthcheckEntry(s.healthcheck);
  if (s.resources) {
    svc.deploy = {
      resources: { limits: limitsOf(s.resources), reservations: reservationsOf(s.resources) },
    };
  }
  Object.assign(svc, hardeningEntries(model, hardeningOf(s.kind)));
  svc.logging = structuredClone(PRODUCTION_LOGGING);
  return svc;
}

function auxiliaryService(
  model: StackModel,
  a: AuxiliaryService,
  names: Set<string>,
): Record<string, unknown> {
  const svc: Record<string, unknown> = { image: a.image, profiles: [PRODUCTION_PROFILE] };
  if (a.command) svc.command = [...a.command];
  svc.restart = a.restart;
  svc.env_file = [`./env/${a.name}.env`];
  if (a.ports.length > 0) svc.ports = a.ports.map(portEntry);
  if (a.volumes.length > 0) svc.volumes = a.volumes.map((v) => volumeEntry(a.name, v));
  if (a.healthcheck) svc.healthcheck = healthcheckEntry(a.healthcheck);
  const deps = dependsOnEntry(a.dependsOn, names);
  if (deps) svc.depends_on = deps;
  svc.deploy = {
    resources: { limits: limitsOf(a.resources), reservations: reservationsOf(a.resources) },
  };
  Object.assign(svc, hardeningEntries(model, a.hardening));
  svc.logging = structuredClone(PRODUCTION_LOGGING);
  svc.networks = [model.network.name];
  return svc;
}

function productionDocument(model: StackModel, aux: AuxiliaryService[]): Record<string, unknown> {
  const services = startedServices(model);
  const names = new Set(services.map((s) => s.name));
  return {
    services: {
      ...Object.fromEntries(services.map((s) => [s.name, productionOverride(model, s)])),
      ...Object.fromEntries(aux.map((a) => [a.name, auxiliaryService(model, a, names)])),
    },
  };
}

/**
 * Whether the production PostgreSQL archives its WAL: the spec asks
 * (`backup.wal_archive`) and Compose starts PostgreSQL (not external).
 */
export function walArchiving(model: StackModel): boolean {
  return model.profile === "production" && model.backup?.wal_archive === true &&
    startedServices(model).some((s) => s.name === model.postgres.service);
}

/** What the WAL-archiving PostgreSQL mounts besides its own volumes. */
export function walArchiveMounts(model: StackModel): ServiceModel["volumes"] {
  if (!walArchiving(model)) return [];
  return [
    { source: `${model.backup!.path.replace(/\/+$/, "")}/wal`, target: WAL_ARCHIVE_DIR },
    { source: `./out/${PG_HBA_FILE}`, target: `${PG_CONF_DIR}/pg_hba.conf`, read_only: true },
    {
      source: `./out/${WAL_ARCHIVE_SCRIPT}`,
      target: `${PG_CONF_DIR}/archive-wal.sh`,
      read_only: true,
    },
  ];
}

/**
 * The WAL-archiving PostgreSQL's command: the entrypoint (still root) gives
 * the archive folder to the postgres user, then starts the server as usual
 * with archiving on (a segment is closed and archived at least every
 * `archive_timeout` while there is activity: the most that recovery can lose)
 * and the pg_hba.conf that lets the backup service take base backups.
 */
export function walArchiveCommand(): string[] {
  return [
    "sh",
    "-c",
    `mkdir -p ${WAL_ARCHIVE_DIR} && chown postgres:postgres ${WAL_ARCHIVE_DIR} && ` +
    `chmod 700 ${WAL_ARCHIVE_DIR} && exec docker-entrypoint.sh "$@"`,
    "sh",
    "postgres",
    "-c",
    "wal_level=replica",
    "-c",
    "archive_mode=on",
    "-c",
    `archive_command=sh ${PG_CONF_DIR}/archive-wal.sh %p %f`,
    "-c",
    "archive_timeout=300",
    "-c",
    `hba_file=${PG_CONF_DIR}/pg_hba.conf`,
  ];
}

/**
 * The postgres image's own pg_hba.conf (trust on the socket and loopback,
 * scram-sha-256 over the network), plus replication connections over the
 * network, which `pg_basebackup` in the backup service needs.
 */
export const PG_HBA = `# Generated by ProcOS (backup.wal_archive): the postgres image's pg_hba.conf,
# plus replication connections for the backup service's pg_basebackup.
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 trust
host    all          all   127.0.0.1/32  trust
host    all          all   ::1/128       trust
local   replication  all                 trust
host    replication  all   127.0.0.1/32  trust
host    replication  all   ::1/128       trust
host    all          all   all           scram-sha-256
host    replication  all   all           scram-sha-256
`;

/**
 * PostgreSQL's `archive_command` (`sh archive-wal.sh %p %f`): copies one WAL
 * segment into the archive as a `.partial` file, fsyncs it, renames it. A
 * segment already archived is never overwritten: the command succeeds when
 * the archived copy is identical (PostgreSQL may ask twice after a crash) and
 * fails when it differs.
 */
export function archiveWalScript(): string {
  return `#!/bin/sh
# Generated by ProcOS (backup.wal_archive): PostgreSQL's archive_command.
# usage: sh archive-wal.sh PATH FILE   (archive_command's %p and %f)
set -eu
ARCHIVE=${WAL_ARCHIVE_DIR}
src=$1
dest="$ARCHIVE/$2"
if [ -f "$dest" ]; then
  cmp -s "$src" "$dest"
  exit
fi
cp "$src" "$dest.partial"
sync "$dest.partial"
mv "$dest.partial" "$dest"
sync "$ARCHIVE"
`;
}

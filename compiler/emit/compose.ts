/**
 * The Compose emitter: `compose.yaml` (always) and, for the production
 * profile, the override file `compose.production.yaml` plus the backup
 * script its backup service runs.
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
import { AI_TABLES } from "../ai_schema.ts";
import { quoteLiteral } from "../sql_quote.ts";

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

/** Emits the Compose artifacts (and the production backup script). Pure. */
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
    if (model.backup) out.push({ path: BACKUP_SCRIPT, content: backupScript(model.backup) });
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

/** One cron field of the numeric forms the backup loop understands. */
const CRON_FIELD = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/;

/**
 * The SQL the backup loop counts the AI tables' rows with: one JSON object,
 * table → rows, of each table of `AI_TABLES` that exists.
 */
export function rowCountsSql(): string {
  const tables = AI_TABLES.map((t) => quoteLiteral(t.name)).join(", ");
  return `SELECT coalesce(json_object_agg(t, (xpath('/row/n/text()', query_to_xml(
  format('SELECT count(*) AS n FROM public.%I', t), false, true, '')))[1]::text::bigint
  ORDER BY i), '{}')
FROM unnest(ARRAY[${tables}]) WITH ORDINALITY AS x(t, i)
WHERE to_regclass(format('public.%I', t)) IS NOT NULL;`;
}

/**
 * The backup loop: every 20 s it checks the cron schedule (UTC) and, once per
 * matching minute, dumps the database with `pg_dump` beside a sidecar `.json`
 * (the format of `ops/backup.ts`, which `deno task restore` and the verify
 * `backup` domain check), then deletes dumps older than the retention, never
 * the newest. Credentials come from the environment (`PG*`).
 */
export function backupScript(backup: NonNullable<StackModel["backup"]>): string {
  const fields = backup.schedule.trim().split(/\s+/);
  const names = ["minute", "hour", "day of month", "month", "day of week"];
  if (fields.length !== 5) {
    throw new Error(
      `backup.schedule "${backup.schedule}" must have 5 cron fields, such as "0 3 * * *"`,
    );
  }
  fields.forEach((f, i) => {
    if (!CRON_FIELD.test(f)) {
      throw new Error(
        `backup.schedule "${backup.schedule}": the ${names[i]} field "${f}" is not supported; ` +
          `use numbers, *, ranges (1-5), steps (*/15) and lists (1,15)`,
      );
    }
  });
  const [minute, hour, day, month, weekday] = fields;
  return `#!/bin/sh
# Generated by ProcOS: the production backup loop. Do not edit; change \`backup\`
# in procos.config.yaml and run \`deno task build --profile production\`.
#
# Whenever the schedule matches (UTC), dumps the database named by the PG*
# variables (env/backup.env) with pg_dump into $DIR, with a sidecar .json
# (sha256, size, row counts) that deno task restore and deno task verify
# check, then deletes dumps older than RETENTION_DAYS days (never the newest).
set -u
set -f

SCHEDULE_MINUTE='${minute}'
SCHEDULE_HOUR='${hour}'
SCHEDULE_DAY='${day}'
SCHEDULE_MONTH='${month}'
SCHEDULE_WEEKDAY='${weekday}'
RETENTION_DAYS=${backup.retention_days}
WAL_ARCHIVE=${backup.wal_archive ? 1 : 0}
DIR=/backups

# field SPEC VALUE MIN MAX: does VALUE match one cron field?
field() {
  awk -v spec="$1" -v value="$2" -v min="$3" -v max="$4" 'BEGIN {
    value += 0
    n = split(spec, items, ",")
    for (i = 1; i <= n; i++) {
      item = items[i]; step = 1
      if (split(item, parts, "/") == 2) { item = parts[1]; step = parts[2] + 0 }
      if (item == "*") { lo = min + 0; hi = max + 0 }
      else if (split(item, range, "-") == 2) { lo = range[1] + 0; hi = range[2] + 0 }
      else { lo = item + 0; hi = (step > 1) ? max + 0 : lo }
      if (step > 0 && value >= lo && value <= hi && (value - lo) % step == 0) exit 0
    }
    exit 1
  }'
}

# due MINUTE HOUR DAY MONTH WEEKDAY: does the schedule match that minute?
due() {
  field "$SCHEDULE_MINUTE" "$1" 0 59 && field "$SCHEDULE_HOUR" "$2" 0 23 &&
    field "$SCHEDULE_MONTH" "$4" 1 12 || return 1
  day_ok=1
  weekday_ok=1
  field "$SCHEDULE_DAY" "$3" 1 31 || day_ok=0
  field "$SCHEDULE_WEEKDAY" "$5" 0 7 ||
    { [ "$5" -eq 0 ] && field "$SCHEDULE_WEEKDAY" 7 0 7; } || weekday_ok=0
  if [ "$SCHEDULE_DAY" != '*' ] && [ "$SCHEDULE_WEEKDAY" != '*' ]; then
    [ "$day_ok" -eq 1 ] || [ "$weekday_ok" -eq 1 ]
  else
    [ "$day_ok" -eq 1 ] && [ "$weekday_ok" -eq 1 ]
  fi
}

# json_string TEXT: TEXT with " and \\ escaped, for a JSON string.
json_string() {
  printf '%s' "$1" | sed 's/[\\\\"]/\\\\&/g' | tr -d '\\n\\r'
}

# One dump, named for the UTC time it started, and its sidecar <dump>.json in
# the format of ops/backup.ts (sha256, size, row counts of the AI tables, ...),
# both written as .partial files, flushed to disk, then renamed. The row
# counts are taken just after the dump ("rowCountsExact": false).
backup() {
  now=$(date -u +%s)
  file="$DIR/$PGDATABASE-$(date -u -d "@$now" +%Y%m%dT%H%M%SZ).dump"
  started=$(date -u -d "@$now" +%Y-%m-%dT%H:%M:%SZ)
  if ! pg_dump --format=custom --no-password --file="$file.partial"; then
    rm -f "$file.partial"
    echo "procos backup: pg_dump failed; retrying at the next scheduled time" >&2
    return 1
  fi
  finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  sync
  sha=$(sha256sum "$file.partial" | cut -d ' ' -f 1)
  size=$(wc -c < "$file.partial" | tr -d ' ')
  server=$(psql -XAtq -c 'SHOW server_version') || server=
  counts=$(psql -XAtq -f - <<'SQL'
${rowCountsSql()}
SQL
  ) || counts=
  [ -n "$counts" ] || counts='{}'
  cat > "$file.json.partial" <<EOF
{
  "format": "procos-backup/1",
  "file": "$(basename "$file")",
  "sha256": "$sha",
  "size": $size,
  "database": "$(json_string "$PGDATABASE")",
  "started": "$started",
  "finished": "$finished",
  "pgDumpVersion": "$(json_string "$(pg_dump --version)")",
  "serverVersion": "$(json_string "$server")",
  "rowCounts": $counts,
  "rowCountsExact": false,
  "producer": "backup service"
}
EOF
  sync
  mv "$file.partial" "$file" && mv "$file.json.partial" "$file.json" && sync &&
    echo "procos backup: wrote $file ($size bytes, sha256 $sha)"
}

# Deletes the dumps (and their sidecars) that started more than RETENTION_DAYS
# days ago, by the time in their names; never the newest dump.
prune() {
  cutoff="$PGDATABASE-$(date -u -d "@$(($(date -u +%s) - RETENTION_DAYS * 86400))" \\
    +%Y%m%dT%H%M%SZ).dump"
  ls -1 "$DIR" | grep -E "^$PGDATABASE-[0-9]{8}T[0-9]{6}Z[.]dump\$" | sort | sed '$d' |
    awk -v cutoff="$cutoff" '$0 < cutoff' | while read -r old; do
      rm -f "$DIR/$old" "$DIR/$old.json" && echo "procos backup: retention: removed $old"
    done
}

# With WAL_ARCHIVE=1: a base backup of the whole cluster (pg_basebackup, tar,
# gzip, its WAL streamed in) into $DIR/base/<UTC time>, for point-in-time
# recovery with the WAL PostgreSQL archives into $DIR/wal; its backup_label is
# kept beside it (where recovery starts, for pruning the WAL).
basebackup() {
  base="$DIR/base/$(date -u +%Y%m%dT%H%M%SZ)"
  mkdir -p "$DIR/base"
  if ! pg_basebackup --pgdata="$base.partial" --format=tar --gzip --checkpoint=fast \\
    --wal-method=stream --no-password --label="procos $(basename "$base")"; then
    rm -rf "$base.partial"
    echo "procos backup: pg_basebackup failed; retrying at the next scheduled time" >&2
    return 1
  fi
  tar -xzOf "$base.partial/base.tar.gz" backup_label > "$base.partial/backup_label" &&
    sync && mv "$base.partial" "$base" && sync &&
    echo "procos backup: base backup $base"
}

# Deletes the base backups older than RETENTION_DAYS days (never the newest),
# then the archived WAL that the oldest base backup kept does not need.
prune_base() {
  cutoff=$(date -u -d "@$(($(date -u +%s) - RETENTION_DAYS * 86400))" +%Y%m%dT%H%M%SZ)
  ls -1 "$DIR/base" | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort | sed '$d' |
    awk -v cutoff="$cutoff" '$0 < cutoff' | while read -r old; do
      rm -rf "$DIR/base/$old" && echo "procos backup: retention: removed base backup $old"
    done
  oldest=$(ls -1 "$DIR/base" | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort | head -n 1)
  [ -n "$oldest" ] || return 0
  start=$(sed -n 's/^START WAL LOCATION: .*(file \\([0-9A-F]\\{24\\}\\))$/\\1/p' \\
    "$DIR/base/$oldest/backup_label")
  [ -n "$start" ] && pg_archivecleanup "$DIR/wal" "$start"
}

# main
trap 'exit 0' INT TERM
umask 077
mkdir -p "$DIR"
echo "procos backup: schedule '${backup.schedule}' (UTC), keeping $RETENTION_DAYS days in $DIR"
last=
while :; do
  set -- $(date -u '+%M %H %d %m %w %Y%m%d%H%M')
  if [ "$6" != "$last" ] && due "$1" "$2" "$3" "$4" "$5"; then
    last=$6
    backup && prune
    if [ "$WAL_ARCHIVE" = 1 ]; then basebackup && prune_base; fi
  fi
  sleep 20 &
  wait $!
done
`;
}

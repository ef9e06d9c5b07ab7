/**
 * The containers a build starts, as data every emitter shares: the model's
 * services that Compose starts, the production-only containers around them
 * (backup, exporters), the one-shot set-up jobs, and each kind's hardening.
 * `compose.ts` renders them; `env.ts` writes their environment.
 *
 * @module
 */
import { SpecIssue } from "../diagnostics.ts";
import type { HealthcheckModel, ServiceKind, ServiceModel, StackModel } from "../model.ts";
import type { ImageBuild } from "../images.ts";
import { verifyService } from "./verify_service.ts";

/** The backup loop the production `backup` service runs, relative to `out/`. */
export const BACKUP_SCRIPT = "backup/backup.sh";

/** The Compose profile the production-only services belong to. */
export const PRODUCTION_PROFILE = "production";

/** Pinned images of the containers the production profile adds. */
export const AUXILIARY_IMAGES = {
  postgresExporter: "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
  redisExporter: "oliver006/redis_exporter:v1.62.0",
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
  /** How Compose builds the image, when ProcOS owns it. */
  build?: ImageBuild;
  /** The user it runs as, when not the image's. */
  user?: string;
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

/** The one-shot set-up job that brings the database to the spec at every `up`. */
export const DB_SETUP_JOB = "postgres-setup";

/** The script the set-up job runs, relative to `out/`. */
export const DB_SETUP_SCRIPT = "postgres/setup.sh";

/**
 * One-shot containers that run to completion at every `up` before the
 * services that need them start (Compose `service_completed_successfully`).
 * Today one: the database set-up, when Compose starts PostgreSQL. It creates
 * the application role as an ordinary role (the image's `POSTGRES_USER` is
 * the superuser), sets that role's password from the spec (so a rotated
 * password arrives in a database that already exists), and applies the init
 * SQL, which is idempotent, so later spec changes reach an existing database
 * (the image's `/docker-entrypoint-initdb.d` runs only on an empty one).
 */
export interface SetupJob extends AuxiliaryService {
  /** Services that start only once this job has completed. */
  before: string[];
}

/** The set-up jobs of a model (both profiles). Pure. */
export function setupJobs(model: StackModel): SetupJob[] {
  const pg = model.postgres;
  const pgService = startedServices(model).find((s) => s.name === pg.service);
  if (!pgService) return [];
  const users = startedServices(model)
    .filter((s) => s.name !== pg.service && s.dependsOn.includes(pg.service))
    .map((s) => s.name);
  return [{
    name: DB_SETUP_JOB,
    image: pgService.image,
    env: {
      PGHOST: pg.host,
      PGPORT: String(pg.port),
      PGUSER: pg.superuser,
      PGPASSWORD: pg.superuserPassword,
      PGDATABASE: "postgres",
      PROCOS_DB_PASSWORD: pg.password,
    },
    command: ["sh", "/procos/setup.sh"],
    ports: [],
    volumes: [
      { source: "./out/sql", target: "/procos/sql", read_only: true },
      { source: `./out/${DB_SETUP_SCRIPT}`, target: "/procos/setup.sh", read_only: true },
    ],
    dependsOn: [pg.service],
    restart: "no",
    resources: { cpus: 0.5, memory: "256m" },
    hardening: { capDrop: ["ALL"], capAdd: [], readOnly: true, tmpfs: ["/tmp"] },
    before: users.length > 0 ? users : [model.camunda.service],
  }];
}

/** No hardening: the kinds whose needs are not verified keep their defaults. */
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
      // The worker image holds its modules and npm packages; nothing is written but /tmp.
      return { capDrop: ["ALL"], capAdd: [], readOnly: true, tmpfs: ["/tmp"] };
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
      // the loop itself: alive within 2 minutes, and its last run did not fail
      healthcheck: {
        test: [
          "CMD-SHELL",
          'test -n "$(find /tmp/procos-backup.alive -mmin -2 2>/dev/null)" && ' +
          "test ! -e /tmp/procos-backup.failed",
        ],
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
  const verify = verifyService(model);
  if (verify) out.push(verify);
  for (const a of out) {
    const s = model.services.find((s) => s.name === a.name);
    if (!s) continue;
    // rule reserved_names says this first; kept for any other caller of the model
    throw new SpecIssue(
      [s.role === "infra" ? "services" : "workers", s.name],
      `the name \`${a.name}\` is reserved by the production profile (it adds a ${a.name} container)`,
      { hint: "rename this service or worker" },
    );
  }
  for (const a of out) {
    for (const p of a.ports) {
      for (const s of model.services) {
        const i = s.ports.findIndex((q) => q.published === p.published);
        if (i < 0) continue;
        throw new SpecIssue(
          [s.role === "infra" ? "services" : "workers", s.name, "ports", i, "published"],
          `host port ${p.published} is published by \`${s.name}\` and by the production ` +
            `${a.name} container`,
          { hint: `publish ${s.name} on another host port` },
        );
      }
    }
  }
  return out;
}

/** The model's services that Compose starts (external ones run elsewhere). */
export function startedServices(model: StackModel): ServiceModel[] {
  return model.services.filter((s) => !s.external);
}

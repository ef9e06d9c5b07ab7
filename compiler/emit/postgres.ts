/**
 * The PostgreSQL emitter: the set-up job's script (`postgres/setup.sh`,
 * always, when Compose starts PostgreSQL) and, with `backup.wal_archive` in
 * production, the server's `pg_hba.conf` and `archive_command` script. The
 * texts are templates under `templates/`.
 *
 * @module
 */
import Handlebars from "handlebars";
import type { Artifact } from "./artifact.ts";
import type { ServiceModel, StackModel } from "../model.ts";
import { DB_SETUP_SCRIPT, setupJobs, startedServices } from "./containers.ts";

/** Emits PostgreSQL's generated files (see the module's description). Pure. */
export function emitPostgres(model: StackModel): Artifact[] {
  const out: Artifact[] = [];
  if (setupJobs(model).length > 0) {
    out.push({ path: DB_SETUP_SCRIPT, content: dbSetupScript(model) });
  }
  if (walArchiving(model)) {
    out.push({ path: PG_HBA_FILE, content: renderTemplate("pg_hba.conf.hbs", {}) });
    out.push({
      path: WAL_ARCHIVE_SCRIPT,
      content: renderTemplate("archive-wal.sh.hbs", { archiveDir: WAL_ARCHIVE_DIR }),
    });
  }
  return out;
}

/**
 * With `backup.wal_archive`: the production PostgreSQL's client authentication
 * (the image's, plus replication connections for `pg_basebackup`), relative to
 * `out/`.
 */
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

/**
 * The set-up job's script: the init SQL (idempotent, so later spec changes
 * reach an existing database), then the application role's password, which
 * psql reads from the environment (never from a command line).
 */
export function dbSetupScript(model: StackModel): string {
  return renderTemplate("db-setup.sh.hbs", {
    role: `"${model.postgres.user.replaceAll('"', '""')}"`,
    database: model.postgres.database,
  });
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

let templates: Map<string, HandlebarsTemplateDelegate> | undefined;

/** Renders `templates/<name>` with `data` (strict: a missing field throws). */
function renderTemplate(name: string, data: Record<string, unknown>): string {
  templates ??= new Map();
  let t = templates.get(name);
  if (!t) {
    t = Handlebars.compile(
      Deno.readTextFileSync(new URL(`../../templates/${name}`, import.meta.url)),
      { noEscape: true, strict: true },
    );
    templates.set(name, t);
  }
  return t(data);
}

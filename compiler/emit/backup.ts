/**
 * The backup emitter: for the production profile of a spec with a `backup`
 * section, `backup/backup.sh`, the loop the production `backup` service runs
 * (Compose mounts it, see {@link BACKUP_SCRIPT} in `./containers.ts`), rendered
 * from `templates/backup.sh.hbs`.
 *
 * Every 20 s the loop checks the cron schedule (UTC) and, once per matching
 * minute, dumps the database with `pg_dump` beside a sidecar `.json` (the
 * format of `ops/backup.ts`, which `deno task restore` and the verify `backup`
 * domain check), then deletes dumps older than the retention, never the
 * newest; with `backup.wal_archive` it also takes base backups. Credentials
 * come from the environment (`PG*`), never from the script.
 *
 * @module
 */
import Handlebars from "handlebars";
import { SpecIssue } from "../diagnostics.ts";
import type { Artifact } from "./artifact.ts";
import type { StackModel } from "../model.ts";
import { AI_TABLES } from "../ai_schema.ts";
import { quoteLiteral } from "../sql_quote.ts";
import { BACKUP_SCRIPT } from "./containers.ts";
import { CRON_FIELDS, cronFields, cronValues } from "../cron.ts";

/** Emits `backup/backup.sh` for a production build with a `backup` section. Pure. */
export function emitBackup(model: StackModel): Artifact[] {
  if (model.profile !== "production" || !model.backup) return [];
  return [{ path: BACKUP_SCRIPT, content: backupScript(model.backup) }];
}

/**
 * The backup loop's text for `backup`. Throws when `backup.schedule` is not
 * five cron fields of the forms the loop understands (numbers, `*`, ranges,
 * steps, lists).
 */
export function backupScript(backup: NonNullable<StackModel["backup"]>): string {
  let fields: string[];
  try {
    fields = cronFields(backup.schedule);
    fields.forEach((f, i) => cronValues(f, CRON_FIELDS[i]));
  } catch (e) {
    // rule backup_schedule says this first, with every field's problem
    throw new SpecIssue(["backup", "schedule"], (e as Error).message);
  }
  const [minute, hour, day, month, weekday] = fields;
  return render({
    minute,
    hour,
    day,
    month,
    weekday,
    retentionDays: String(backup.retention_days),
    walArchive: backup.wal_archive ? "1" : "0",
    schedule: backup.schedule,
    // the AI tables whose rows the sidecar counts, as SQL literals
    aiTables: AI_TABLES.map((t) => quoteLiteral(t.name)).join(", "),
  });
}

let template: HandlebarsTemplateDelegate | undefined;

function render(data: Record<string, unknown>): string {
  template ??= Handlebars.compile(
    Deno.readTextFileSync(new URL("../../templates/backup.sh.hbs", import.meta.url)),
    { noEscape: true, strict: true },
  );
  return template(data);
}

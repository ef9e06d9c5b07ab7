/**
 * Rule: `backup.schedule` is a cron schedule the backup loop runs: five
 * fields, each value within its field's range, no step of 0, no range that
 * runs backwards, and a calendar on which it runs at least once a year
 * (`0 0 30 2 *` never does, `0 0 29 2 *` once in four years).
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { CRON_FIELDS, cronFields, cronValues, scheduleMaxGapMs } from "../cron.ts";
import { at, type RuleContext } from "./rule.ts";

const DAY_MS = 86_400_000;
/** The longest a backup may be apart: a leap year. */
const YEAR_MS = 366 * DAY_MS;

const EXPECTED = "five cron fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12, " +
  "day of week 0-7 (0 and 7 are Sunday), as numbers, *, ranges, steps and lists";

/** Reports a backup schedule that is not valid cron or never runs. */
export function backupSchedule(ctx: RuleContext): Diagnostic[] {
  const schedule = ctx.spec.backup?.schedule;
  if (schedule === undefined) return [];
  const bad = (message: string, hint: string) =>
    at(ctx, ["backup", "schedule"], message, { target: "value", expected: EXPECTED, hint });
  let fields: string[];
  try {
    fields = cronFields(schedule);
  } catch (e) {
    return [bad(`"${schedule}": ${(e as Error).message}`, 'e.g. "0 3 * * *" for 03:00 UTC daily')];
  }
  const out: Diagnostic[] = [];
  fields.forEach((text, i) => {
    try {
      cronValues(text, CRON_FIELDS[i]);
    } catch (e) {
      out.push(bad(
        `"${schedule}": the ${CRON_FIELDS[i].name} field "${text}": ${(e as Error).message}`,
        `the ${CRON_FIELDS[i].name} takes ${CRON_FIELDS[i].min}-${CRON_FIELDS[i].max}`,
      ));
    }
  });
  const gap = out.length === 0 ? scheduleMaxGapMs(schedule) : 0;
  if (gap === Infinity) {
    out.push(bad(
      `"${schedule}" never runs: no day of the calendar matches it`,
      "check the day of month against the month: 30 February never comes",
    ));
  } else if (gap > YEAR_MS) {
    out.push(bad(
      `"${schedule}" runs less than once a year (up to ${Math.round(gap / DAY_MS)} days apart)`,
      "a backup that old is no backup: 29 February comes once in four years",
    ));
  }
  return out;
}

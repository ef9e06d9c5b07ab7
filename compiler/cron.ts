/**
 * Five-field cron schedules (`0 3 * * *`), as the backup loop runs them:
 * numbers, `*`, ranges (`1-5`), steps (`* /15`, `1-30/5`) and lists, in UTC.
 * Day of month and day of week combine as in cron: either matches when both
 * are restricted. Day of week 7 is Sunday, like 0.
 *
 * One parser for the rule that checks `backup.schedule`, the emitter that
 * renders the loop, and verify's freshness check.
 *
 * @module
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** One field of a cron schedule: its name and the values it may hold. */
export interface CronField {
  name: string;
  min: number;
  max: number;
}

/** The five fields, in order. */
export const CRON_FIELDS: readonly CronField[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day of week", min: 0, max: 7 },
];

const ITEM = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/;

/**
 * The values one cron field allows. Throws a `RangeError` saying what is
 * wrong for a form the loop does not understand, a value out of the field's
 * range, a step of 0 or a range that runs backwards.
 */
export function cronValues(text: string, field: CronField): Set<number> {
  const out = new Set<number>();
  for (const item of text.split(",")) {
    const m = ITEM.exec(item);
    if (!m) {
      throw new RangeError(
        `"${item}" is not a number, *, a range (1-5), a step (*/15) or a list (1,15)`,
      );
    }
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    if (step < 1) throw new RangeError(`"${item}" has a step of 0`);
    let lo = field.min;
    let hi = field.max;
    if (m[1] !== "*") {
      lo = Number(m[2]);
      hi = m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? field.max : lo;
    }
    for (const v of [lo, hi]) {
      if (v < field.min || v > field.max) {
        throw new RangeError(`${v} is out of range (${field.min}-${field.max})`);
      }
    }
    if (lo > hi) throw new RangeError(`the range ${lo}-${hi} runs backwards`);
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

/** The fields of a schedule; throws a `RangeError` when it has not five. */
export function cronFields(schedule: string): string[] {
  const f = schedule.trim().split(/\s+/);
  if (f.length !== 5) {
    throw new RangeError(`a cron schedule has 5 fields, such as "0 3 * * *"; this has ${f.length}`);
  }
  return f;
}

/**
 * The longest time between two consecutive runs of a schedule (UTC), over
 * eight years of calendar (so that even a 29 February schedule runs twice);
 * `Infinity` when it runs less than twice. Throws a `RangeError` for a
 * schedule {@link cronValues} refuses.
 */
export function scheduleMaxGapMs(schedule: string): number {
  const f = cronFields(schedule);
  const [minutes, hours, days, months, weekdays] = f.map((text, i) =>
    cronValues(text, CRON_FIELDS[i])
  );
  if (weekdays.has(7)) weekdays.add(0);
  const both = f[2] !== "*" && f[4] !== "*";
  // the runs of one matching day, as ms after midnight, in order
  const inDay = [...hours].flatMap((h) => [...minutes].map((m) => h * HOUR_MS + m * MINUTE_MS))
    .sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < inDay.length; i++) gap = Math.max(gap, inDay[i] - inDay[i - 1]);
  const start = Date.UTC(2024, 0, 1);
  let lastDay: number | undefined;
  let runs = 0;
  for (let d = 0; d < 8 * 366; d++) {
    const day = start + d * DAY_MS;
    const date = new Date(day);
    if (!months.has(date.getUTCMonth() + 1)) continue;
    const dom = days.has(date.getUTCDate());
    const dow = weekdays.has(date.getUTCDay());
    if (!(both ? dom || dow : dom && dow)) continue;
    if (lastDay !== undefined) {
      gap = Math.max(gap, day + inDay[0] - (lastDay + inDay[inDay.length - 1]));
    }
    lastDay = day;
    runs += inDay.length;
  }
  return runs < 2 ? Infinity : gap;
}

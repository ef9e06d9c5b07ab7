/**
 * Durations as the spec writes them (`30s`, `5m`, `7d`), turned into
 * milliseconds so rules can compare them.
 *
 * @module
 */

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const DURATION = /^([0-9]{1,9})(ms|s|m|h|d)$/;

/** True when `text` is a duration the spec accepts, such as `30s` or `7d`. */
export function isDuration(text: string): boolean {
  return DURATION.test(text);
}

/**
 * Parses a duration such as `500ms`, `30s`, `5m`, `12h` or `7d` into
 * milliseconds, e.g. `parseDuration("7d") === 604_800_000`.
 *
 * Throws a `RangeError` for anything else; validate first (the schema's
 * `Duration` accepts exactly what this function parses).
 */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text);
  if (!m) {
    throw new RangeError(
      `not a duration: ${JSON.stringify(text)} (write a number and a unit: ms, s, m, h or d)`,
    );
  }
  return Number(m[1]) * UNIT_MS[m[2]];
}

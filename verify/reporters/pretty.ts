/**
 * The human reporter: a progress line while the checks run, then failures
 * first (with expected, actual and hint), the passes by domain, and the
 * skips once per domain and reason. Colors only on a terminal and never with
 * `NO_COLOR`.
 *
 * @module
 */
import type { Check, Result } from "../check.ts";
import { DOMAINS } from "../check.ts";
import type { Outcome, Report, RunEvents } from "../runner.ts";
import { formatMs } from "../runner.ts";

/** Options of the pretty reporter. */
export interface PrettyOptions {
  /** Where text goes (e.g. stdout). */
  write: (text: string) => void;
  /** ANSI colors on or off. */
  color: boolean;
  /** A progress line rewritten in place while the checks run (for a terminal). */
  progress?: boolean;
}

/** True when stdout is a terminal and `NO_COLOR` is unset or empty. */
export function colorWanted(): boolean {
  let noColor: string | undefined;
  try {
    noColor = Deno.env.get("NO_COLOR");
  } catch {
    noColor = undefined;
  }
  return Deno.stdout.isTerminal() && !noColor;
}

type Paint = (code: number, text: string) => string;

function painter(color: boolean): Paint {
  return (code, text) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
}

const LABEL: Record<Result["status"], string> = { pass: "PASS", fail: "FAIL", skip: "SKIP" };
const COLOR: Record<Result["status"], number> = { pass: 32, fail: 31, skip: 33 };

function label(status: Result["status"], paint: Paint): string {
  return paint(COLOR[status], LABEL[status]);
}

/** The indented `expected / actual / hint` (or `reason`) lines of a result. */
export function detailLines(r: Result, indent: string): string[] {
  const block = (key: string, value: string) => {
    const [first, ...rest] = value.split("\n");
    const pad = " ".repeat(key.length + 2);
    return [`${indent}${key}: ${first}`, ...rest.map((l) => `${indent}${pad}${l}`)];
  };
  switch (r.status) {
    case "pass":
      return r.detail ? block("found", r.detail) : [];
    case "skip":
      return block("reason", r.reason);
    case "fail":
      return [
        ...block("expected", r.expected),
        ...block("actual  ", r.actual),
        ...(r.hint ? block("hint    ", r.hint) : []),
      ];
  }
}

/** The outcomes of a run, in domain order (stable within a domain). */
function byDomain(outcomes: readonly Outcome[]): Outcome[] {
  return [...outcomes].sort((a, b) => DOMAINS.indexOf(a.domain) - DOMAINS.indexOf(b.domain));
}

/**
 * The report of a finished run: failures first, each with expected, actual
 * and hint; then the passes, grouped by domain; then the skips, one line
 * per domain and reason; then the totals.
 */
export function renderSummary(report: Report, color: boolean): string {
  const paint = painter(color);
  const rows = byDomain(report.outcomes);
  const dw = Math.max(6, ...rows.map((o) => o.domain.length));
  const indent = " ".repeat(dw + 8);
  const line = (o: Outcome, text: string) =>
    `${o.domain.padEnd(dw)}  ${label(o.result.status, paint)}  ${text}` +
    (o.attempts > 1 ? paint(2, ` [${o.attempts} tries]`) : "");
  const lines: string[] = [];
  const failed = rows.filter((o) => o.result.status === "fail");
  if (failed.length > 0) {
    lines.push(paint(1, `failed (${failed.length})`));
    let previous = "";
    for (const o of failed) {
      lines.push(line(o, o.name));
      // A service that is down fails every check of its domain the same way: say it once.
      const details = detailLines(o.result, indent);
      const key = `${o.domain}\n${details.join("\n")}`;
      lines.push(
        ...(key === previous ? [paint(2, `${indent}(failed as the check above)`)] : details),
      );
      previous = key;
    }
    lines.push("");
  }
  const passed = rows.filter((o) => o.result.status === "pass");
  if (passed.length > 0) {
    lines.push(paint(1, `passed (${passed.length})`));
    for (const o of passed) {
      const found = o.result.status === "pass" && o.result.detail
        ? paint(2, ` (${o.result.detail.split("\n")[0]})`)
        : "";
      lines.push(line(o, o.name + found));
    }
    lines.push("");
  }
  const skipped = new Map<string, Outcome[]>();
  for (const o of rows) {
    if (o.result.status !== "skip") continue;
    const key = `${o.domain}\n${o.result.reason}`;
    skipped.set(key, [...(skipped.get(key) ?? []), o]);
  }
  if (skipped.size > 0) {
    lines.push(paint(1, `skipped (${report.summary.skip})`));
    for (const group of skipped.values()) {
      const o = group[0];
      const reason = o.result.status === "skip" ? o.result.reason.split("\n")[0] : "";
      const what = group.length === 1 ? o.name : `${group.length} ${o.domain} checks`;
      lines.push(line(o, `${what}: ${reason}`));
    }
    lines.push("");
  }
  const s = report.summary;
  const totals = [
    paint(32, `${s.pass} passed`),
    s.fail ? paint(31, `${s.fail} failed`) : `${s.fail} failed`,
    `${s.skip} skipped`,
  ].join(", ");
  const rounds = report.rounds > 1 ? `, ${report.rounds} rounds` : "";
  lines.push(`${s.total} checks: ${totals} (${formatMs(report.durationMs)}${rounds})`);
  return lines.join("\n") + "\n";
}

/**
 * The pretty reporter: a progress line while the checks run (on a terminal,
 * rewritten in place), what `--wait` is waiting for, then the report.
 */
export function prettyReporter(opts: PrettyOptions): RunEvents & { end(report: Report): void } {
  const paint = painter(opts.color);
  let total = 0;
  let done = 0;
  let failing = 0;
  const clear = () => (opts.progress ? "\r\x1b[2K" : "");
  return {
    onStart(checks: readonly Check[]) {
      total = checks.length;
      opts.write(paint(1, `verifying ${checks.length} checks\n`));
    },
    onResult(o: Outcome, final: boolean) {
      if (!final) return;
      done++;
      if (o.result.status === "fail") failing++;
      if (opts.progress) {
        opts.write(`${clear()}[${done}/${total}] ${failing} failed; last: ${o.name.slice(0, 60)}`);
      }
    },
    onRetry(info) {
      const names = info.failingIds.slice(0, 5).map((f) =>
        `${f.id} (failing for ${formatMs(f.failingForMs)})`
      );
      const more = info.failingIds.length > 5 ? `, and ${info.failingIds.length - 5} more` : "";
      opts.write(
        clear() + paint(
          33,
          `… ${info.failing} failing after round ${info.round}, retrying (${
            formatMs(info.remainingMs)
          } left): ${names.join(", ")}${more}\n`,
        ),
      );
    },
    end(report: Report) {
      opts.write(clear() + "\n" + renderSummary(report, opts.color));
    },
  };
}

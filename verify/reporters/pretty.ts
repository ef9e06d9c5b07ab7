/**
 * The human reporter: one line per check as it finishes, then a summary
 * table with `expected / actual / hint` under each failure. Colors only on a
 * terminal and never with `NO_COLOR`.
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

/** One progress line for a finished check. */
export function progressLine(o: Outcome, color: boolean): string {
  const paint = painter(color);
  const tries = o.attempts > 1 ? `, ${o.attempts} tries` : "";
  const extra = o.result.status === "skip"
    ? ` (skipped: ${o.result.reason.split("\n")[0]})`
    : o.result.status === "pass" && o.result.detail
    ? ` (${o.result.detail.split("\n")[0]})`
    : "";
  return `${label(o.result.status, paint)} ${o.name}${extra} ${
    paint(2, `[${formatMs(o.durationMs)}${tries}]`)
  }`;
}

/** The summary table and totals of a finished run. */
export function renderSummary(report: Report, color: boolean): string {
  const paint = painter(color);
  const rows = [...report.outcomes].sort((a, b) =>
    DOMAINS.indexOf(a.domain) - DOMAINS.indexOf(b.domain)
  );
  const dw = Math.max(6, ...rows.map((o) => o.domain.length));
  const lines: string[] = [];
  lines.push(paint(1, `${"DOMAIN".padEnd(dw)}  STATUS  CHECK`));
  let previous = "";
  for (const o of rows) {
    lines.push(`${o.domain.padEnd(dw)}  ${label(o.result.status, paint)}    ${o.name}`);
    if (o.result.status === "pass") continue;
    // A service that is down fails every check of its domain the same way: say it once.
    const details = detailLines(o.result, " ".repeat(dw + 10));
    const key = `${o.domain}\n${details.join("\n")}`;
    if (o.result.status === "fail" && key === previous) {
      lines.push(paint(2, `${" ".repeat(dw + 10)}(failed as the check above)`));
    } else {
      lines.push(...details);
    }
    previous = key;
  }
  const s = report.summary;
  const totals = [
    paint(32, `${s.pass} passed`),
    s.fail ? paint(31, `${s.fail} failed`) : `${s.fail} failed`,
    `${s.skip} skipped`,
  ].join(", ");
  const rounds = report.rounds > 1 ? `, ${report.rounds} rounds` : "";
  lines.push("");
  lines.push(`${s.total} checks: ${totals} (${formatMs(report.durationMs)}${rounds})`);
  return lines.join("\n") + "\n";
}

/** The pretty reporter: progress as checks finish, then the summary. */
export function prettyReporter(opts: PrettyOptions): RunEvents & { end(report: Report): void } {
  const paint = painter(opts.color);
  return {
    onStart(checks: readonly Check[]) {
      opts.write(paint(1, `verifying ${checks.length} checks\n`));
    },
    onResult(o: Outcome, final: boolean) {
      if (final) opts.write(progressLine(o, opts.color) + "\n");
    },
    onRetry(info) {
      opts.write(
        paint(
          33,
          `… ${info.failing} failing after round ${info.round}; retrying (${
            formatMs(info.remainingMs)
          } left)\n`,
        ),
      );
    },
    end(report: Report) {
      opts.write("\n" + renderSummary(report, opts.color));
    },
  };
}

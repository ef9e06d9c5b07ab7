/**
 * The JSON reporter: the whole run as one JSON document on stdout.
 *
 * @module
 */
import type { Report } from "../runner.ts";

/** One check in the JSON document. */
export interface JsonCheck {
  id: string;
  domain: string;
  name: string;
  status: "pass" | "fail" | "skip";
  attempts: number;
  durationMs: number;
  detail?: string;
  expected?: string;
  actual?: string;
  hint?: string;
  reason?: string;
}

/** The JSON document. */
export interface JsonReport {
  /** Format version of this document. */
  version: 1;
  project: string;
  profile: string;
  /** True when no check failed. */
  ok: boolean;
  startedAt: string;
  durationMs: number;
  rounds: number;
  summary: Report["summary"];
  checks: JsonCheck[];
}

/** Builds the JSON document of a run. */
export function toJsonReport(
  report: Report,
  meta: { project: string; profile: string },
): JsonReport {
  return {
    version: 1,
    project: meta.project,
    profile: meta.profile,
    ok: report.summary.fail === 0,
    startedAt: report.startedAt,
    durationMs: Math.round(report.durationMs),
    rounds: report.rounds,
    summary: report.summary,
    checks: report.outcomes.map((o) => ({
      id: o.id,
      domain: o.domain,
      name: o.name,
      status: o.result.status,
      attempts: o.attempts,
      durationMs: Math.round(o.durationMs),
      ...(o.result.status === "pass" && o.result.detail ? { detail: o.result.detail } : {}),
      ...(o.result.status === "fail"
        ? {
          expected: o.result.expected,
          actual: o.result.actual,
          ...(o.result.hint ? { hint: o.result.hint } : {}),
        }
        : {}),
      ...(o.result.status === "skip" ? { reason: o.result.reason } : {}),
    })),
  };
}

/** The JSON document as text (2-space indented, newline-terminated). */
export function renderJson(report: Report, meta: { project: string; profile: string }): string {
  return JSON.stringify(toJsonReport(report, meta), null, 2) + "\n";
}

/**
 * Rule: every deployable process (a `<process>` without `isExecutable="false"`)
 * in the BPMN files under `processes.path` has a `camunda:historyTimeToLive`
 * that Camunda 7.24 accepts: whole days, written as a number (`30`) or as
 * `P<days>D` (`P30D`). The engine enforces a history TTL on deployment, so a
 * process without one would be refused when the kernel deploys it; this says
 * so at build time, at the `<process>` element.
 *
 * @module
 */
import { dirname, isAbsolute, join } from "node:path";
import type { Diagnostic } from "../diagnostics.ts";
import type { RuleContext } from "./rule.ts";

/** What Camunda 7.24 parses as a history TTL (`ParseUtil.parseHistoryTimeToLive`). */
const TTL = /^(?:P(\d+)D|(\d+))$/;

/** The largest TTL in days: Camunda keeps it in a Java int. */
const MAX_DAYS = 2 ** 31 - 1;

const EXPECTED =
  "camunda:historyTimeToLive on the <process> element, in whole days: a number such as 30, or P30D";

/** True when Camunda accepts `value` as a history time to live. */
export function validHistoryTimeToLive(value: string): boolean {
  const m = TTL.exec(value);
  return m !== null && Number(m[1] ?? m[2]) <= MAX_DAYS;
}

/** Reports deployable processes without a valid history time to live, at their element. */
export function bpmnHistoryTtl(ctx: RuleContext): Diagnostic[] {
  if (!ctx.processes.exists) return [];
  const folder = ctx.spec.processes.path;
  const base = isAbsolute(folder) ? folder : join(dirname(ctx.file), folder);
  const path = [...ctx.where(["processes", "path"])];
  const out: Diagnostic[] = [];
  for (const f of ctx.processes.files) {
    for (const p of f.processes) {
      if (!p.executable) continue;
      const ttl = p.historyTimeToLive;
      if (ttl !== undefined && validHistoryTimeToLive(ttl)) continue;
      const name = p.id ? `the process \`${p.id}\`` : "a process without an id";
      out.push({
        file: join(base, f.file),
        line: p.line,
        column: p.column,
        path,
        message: ttl === undefined
          ? `${name} has no camunda:historyTimeToLive, so the engine refuses to deploy it`
          : `${name} has camunda:historyTimeToLive=${
            JSON.stringify(ttl)
          }, which the engine cannot parse`,
        expected: EXPECTED,
        hint: `${ttl === undefined ? "add" : "write"} camunda:historyTimeToLive="P30D" (or the ` +
          `days its history must be kept) on <process id="${p.id}">, or mark it ` +
          `isExecutable="false" if it is not to be deployed`,
      });
    }
  }
  return out;
}

/**
 * Rule: every process id in `processes.boot` is defined by a BPMN file under
 * `processes.path`.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { didYouMean, listNames } from "../hints.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports boot process ids that no BPMN file defines. */
export function bootProcesses(ctx: RuleContext): Diagnostic[] {
  if (!ctx.processes.exists) return [];
  const ids = ctx.processes.files.flatMap((f) => f.processIds);
  const out: Diagnostic[] = [];
  ctx.spec.processes.boot.forEach((id, i) => {
    if (ids.includes(id)) return;
    out.push(at(
      ctx,
      ["processes", "boot", i],
      `no BPMN file in \`${ctx.spec.processes.path}\` defines the process \`${id}\``,
      {
        target: "value",
        expected: ids.length ? `one of: ${listNames(ids, 20)}` : "the id of a process",
        hint: didYouMean(id, ids) ?? `add a BPMN file with <process id="${id}">, or fix the id`,
      },
    ));
  });
  return out;
}

/**
 * Rule: every topic a worker serves is used by some process: an external
 * task with `camunda:topic="<topic>"` in a BPMN file under
 * `processes.path`. (A missing folder is reported by processes_folder.)
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext, topics } from "./rule.ts";

/** Reports worker topics that no BPMN file uses. */
export function unusedTopics(ctx: RuleContext): Diagnostic[] {
  if (!ctx.processes.exists) return [];
  const used = new Set(ctx.processes.files.flatMap((f) => f.topics));
  return topics(ctx.spec)
    .filter((t) => !used.has(t.name))
    .map((t) =>
      at(
        ctx,
        [...t.path, "name"],
        `topic \`${t.name}\` is used by no process in \`${ctx.spec.processes.path}\``,
        {
          target: "value",
          hint:
            `add an external service task with camunda:topic="${t.name}" to a BPMN file there, or remove the topic`,
        },
      )
    );
}

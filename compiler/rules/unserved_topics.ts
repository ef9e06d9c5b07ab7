/**
 * Rule: every external-task topic used by a BPMN file under
 * `processes.path` is served by some worker (otherwise its tasks would wait
 * forever).
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { didYouMean } from "../hints.ts";
import { at, type RuleContext, topics } from "./rule.ts";

/** Reports BPMN topics that no worker serves, at `processes.path`. */
export function unservedTopics(ctx: RuleContext): Diagnostic[] {
  const served = new Set(topics(ctx.spec).map((t) => t.name));
  const out: Diagnostic[] = [];
  for (const f of ctx.processes.files) {
    for (const topic of f.topics) {
      if (served.has(topic)) continue;
      out.push(at(
        ctx,
        ["processes", "path"],
        `\`${f.file}\` uses the topic \`${topic}\`, which no worker serves`,
        {
          target: "value",
          hint: didYouMean(topic, served) ??
            "add the topic to a worker's topics, or change the service task's camunda:topic",
        },
      ));
    }
  }
  return out;
}

/**
 * Rule: a topic's back-off never starts above its cap (`backoff.initial` <=
 * `backoff.max`).
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { parseDuration } from "../duration.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports back-offs whose initial delay exceeds their maximum. */
export function backoffOrder(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [name, w] of Object.entries(ctx.spec.workers)) {
    if (w.kind === "kernel") continue;
    w.topics.forEach((t, i) => {
      if (parseDuration(t.backoff.initial) <= parseDuration(t.backoff.max)) return;
      out.push(at(
        ctx,
        ["workers", name, "topics", i, "backoff", "initial"],
        `backoff.initial (${t.backoff.initial}) is longer than backoff.max (${t.backoff.max})`,
        {
          target: "value",
          expected: `at most ${t.backoff.max}`,
          hint: "lower initial, or raise max",
        },
      ));
    });
  }
  return out;
}

/**
 * Rule: every queue's `exchange` and `messaging.events.exchange` name an
 * exchange declared in `messaging.exchanges`.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { didYouMean, listNames } from "../hints.ts";
import type { KeyPath } from "../load.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports exchange references that name no declared exchange. */
export function exchangeRefs(ctx: RuleContext): Diagnostic[] {
  const m = ctx.spec.messaging;
  const names = m.exchanges.map((e) => e.name);
  const refs: { path: KeyPath; name: string }[] = [
    ...m.queues.map((q, i) => ({ path: ["messaging", "queues", i, "exchange"], name: q.exchange })),
    { path: ["messaging", "events", "exchange"], name: m.events.exchange },
  ];
  return refs
    .filter((r) => !names.includes(r.name))
    .map((r) =>
      at(ctx, r.path, `names the exchange \`${r.name}\`, which is not in messaging.exchanges`, {
        target: "value",
        expected: `one of: ${listNames(names, 20)}`,
        hint: didYouMean(r.name, names) ?? `declare it under \`messaging.exchanges\``,
      })
    );
}

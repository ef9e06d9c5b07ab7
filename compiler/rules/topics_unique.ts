/**
 * Rule: each topic is served by one worker only (two workers fetching the
 * same topic would take each other's tasks).
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext, topics } from "./rule.ts";

/** Reports every topic declared again after its first declaration. */
export function topicsUnique(ctx: RuleContext): Diagnostic[] {
  const first = new Map<string, string>();
  const out: Diagnostic[] = [];
  for (const t of topics(ctx.spec)) {
    const owner = first.get(t.name);
    if (owner === undefined) {
      first.set(t.name, t.worker);
      continue;
    }
    out.push(at(
      ctx,
      [...t.path, "name"],
      owner === t.worker
        ? `topic \`${t.name}\` is declared twice in worker \`${owner}\``
        : `topic \`${t.name}\` is already served by worker \`${owner}\``,
      { target: "value", hint: "keep one declaration: each topic is served by one worker" },
    ));
  }
  return out;
}

/**
 * Rule: the AI context retention phases grow: realtime < historical <
 * archived, both in `ai.retention` and in each of its `overrides`.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { parseDuration } from "../duration.ts";
import type { KeyPath } from "../load.ts";
import { at, type RuleContext } from "./rule.ts";

const PHASES = ["realtime", "historical", "archived"] as const;

/** Reports each phase that is not longer than the one before it. */
export function retentionOrder(ctx: RuleContext): Diagnostic[] {
  const r = ctx.spec.ai.retention;
  const policies: { path: KeyPath; phases: Record<(typeof PHASES)[number], string> }[] = [
    { path: ["ai", "retention"], phases: r },
    ...Object.entries(r.overrides).map(([k, v]) => ({
      path: ["ai", "retention", "overrides", k],
      phases: v!,
    })),
  ];
  const out: Diagnostic[] = [];
  for (const p of policies) {
    for (let i = 1; i < PHASES.length; i++) {
      const before = PHASES[i - 1];
      const phase = PHASES[i];
      if (parseDuration(p.phases[phase]) > parseDuration(p.phases[before])) continue;
      out.push(at(
        ctx,
        [...p.path, phase],
        `${phase} (${p.phases[phase]}) is not longer than ${before} (${p.phases[before]})`,
        {
          target: "value",
          expected: `a duration longer than ${p.phases[before]}`,
          hint: "each phase must end after the one before: realtime < historical < archived",
        },
      ));
    }
  }
  return out;
}

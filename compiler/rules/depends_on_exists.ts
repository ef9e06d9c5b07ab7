/**
 * Rule: every `depends_on` entry of a service or a worker names a service or
 * a worker of the spec.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { didYouMean, listNames } from "../hints.ts";
import { at, type RuleContext, units } from "./rule.ts";

/** Reports `depends_on` entries that name nothing. */
export function dependsOnExists(ctx: RuleContext): Diagnostic[] {
  const all = units(ctx.spec);
  const names = new Set(all.map((u) => u.name));
  const out: Diagnostic[] = [];
  for (const u of all) {
    u.dependsOn.forEach((dep, i) => {
      if (names.has(dep)) return;
      out.push(at(
        ctx,
        [u.group, u.name, "depends_on", i],
        `\`${u.name}\` depends on \`${dep}\`, which is neither a service nor a worker`,
        {
          expected: `one of: ${listNames([...names].sort(), 20)}`,
          hint: didYouMean(dep, names) ?? "fix the name, or remove it from depends_on",
        },
      ));
    });
  }
  return out;
}

/**
 * Rule: the `depends_on` graph of services and workers has no cycle, so a
 * startup order exists. Each cycle is reported once, named `a → b → a`
 * starting from its first name in sorted order.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext, units } from "./rule.ts";

/** Reports every elementary cycle found by a depth-first walk. */
export function startupCycle(ctx: RuleContext): Diagnostic[] {
  const all = units(ctx.spec);
  const byName = new Map(all.map((u) => [u.name, u]));
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  const state = new Map<string, "active" | "done">();
  const stack: string[] = [];

  const visit = (name: string) => {
    state.set(name, "active");
    stack.push(name);
    for (const dep of byName.get(name)?.dependsOn ?? []) {
      if (!byName.has(dep)) continue; // reported by depends_on_exists
      if (state.get(dep) === "active") {
        const cycle = stack.slice(stack.indexOf(dep));
        // Rotate so the cycle starts at its smallest name: one report each.
        const start = cycle.indexOf([...cycle].sort()[0]);
        const ring = [...cycle.slice(start), ...cycle.slice(0, start)];
        const key = ring.join(" → ");
        if (seen.has(key)) continue;
        seen.add(key);
        const first = byName.get(ring[0])!;
        const next = ring[1 % ring.length];
        out.push(at(
          ctx,
          [first.group, first.name, "depends_on", first.dependsOn.indexOf(next)],
          `the startup order has a cycle: ${[...ring, ring[0]].join(" → ")}`,
          {
            target: "value",
            hint: "remove one of these depends_on entries so that something can start first",
          },
        ));
      } else if (!state.has(dep)) {
        visit(dep);
      }
    }
    stack.pop();
    state.set(name, "done");
  };
  for (const u of [...all].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!state.has(u.name)) visit(u.name);
  }
  return out;
}

/**
 * Rule: no two workers use the same `health_port` (the local runtime runs
 * every worker on one host, so their health endpoints would clash).
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports each worker whose health port an earlier worker already uses. */
export function healthPortsUnique(ctx: RuleContext): Diagnostic[] {
  const first = new Map<number, string>();
  const out: Diagnostic[] = [];
  for (const [name, w] of Object.entries(ctx.spec.workers)) {
    const owner = first.get(w.health_port);
    if (owner === undefined) {
      first.set(w.health_port, name);
      continue;
    }
    out.push(at(
      ctx,
      ["workers", name, "health_port"],
      `health port ${w.health_port} is already used by worker \`${owner}\``,
      { target: "value", hint: "give each worker its own health_port" },
    ));
  }
  return out;
}

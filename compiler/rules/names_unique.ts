/**
 * Rule: a worker does not share its name with a service (both become
 * containers of one Compose project, named after them).
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports workers named like a service. */
export function namesUnique(ctx: RuleContext): Diagnostic[] {
  return Object.keys(ctx.spec.workers)
    .filter((name) => name in ctx.spec.services)
    .map((name) =>
      at(ctx, ["workers", name], `worker \`${name}\` has the same name as a service`, {
        hint: "rename the worker: services and workers share one namespace",
      })
    );
}

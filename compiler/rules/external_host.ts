/**
 * Rule: `host` says where an external service runs, so only an external
 * service has one (a service Compose starts is reached by its name).
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports a `host` on a service that is not external. */
export function externalHost(ctx: RuleContext): Diagnostic[] {
  return Object.entries(ctx.spec.services)
    .filter(([, s]) => s.host !== undefined && !s.external)
    .map(([name, s]) =>
      at(
        ctx,
        ["services", name, "host"],
        `\`${name}\` has a host (${s.host}) but is not external`,
        {
          expected: "host only together with external: true",
          hint: "add `external: true` if it runs elsewhere, or remove `host`",
        },
      )
    );
}

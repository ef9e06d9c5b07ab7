/**
 * Production rule: the Camunda REST API requires authentication
 * (`engine.rest_auth: true`).
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports camunda services whose REST API is open. */
export function prodRestAuth(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [name, s] of Object.entries(ctx.spec.services)) {
    if (s.kind !== "camunda" || s.engine.rest_auth) continue;
    out.push(at(
      ctx,
      ["services", name, "engine", "rest_auth"],
      "the engine's REST API is open (rest_auth: false) in production",
      {
        target: "value",
        expected: "true",
        hint: `set profiles.production.services.${name}.engine.rest_auth: true`,
      },
    ));
  }
  return out;
}

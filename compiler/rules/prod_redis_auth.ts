/**
 * Production rule: Redis requires its password (`cache.auth: true`).
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports redis services without authentication. */
export function prodRedisAuth(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [name, s] of Object.entries(ctx.spec.services)) {
    if (s.kind !== "redis" || s.cache.auth) continue;
    out.push(at(
      ctx,
      ["services", name, "cache", "auth"],
      "redis accepts clients without a password (auth: false) in production",
      {
        target: "value",
        expected: "true",
        hint: `set profiles.production.services.${name}.cache.auth: true`,
      },
    ));
  }
  return out;
}

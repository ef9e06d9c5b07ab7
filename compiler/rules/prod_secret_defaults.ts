/**
 * Production rule: no secret takes its value from the spec's `default`; it
 * must be supplied by the operator, from its environment variable (set and
 * non-empty) or its secret file (existing and non-empty).
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports secrets that would come from their default. */
export function prodSecretDefaults(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [name, s] of Object.entries(ctx.spec.secrets)) {
    if (ctx.secrets[name]?.resolved?.source !== "default") continue;
    const how = [s.env ? `set ${s.env}` : "", s.file ? `create ${s.file}` : ""]
      .filter(Boolean).join(" or ");
    out.push(at(
      ctx,
      ["secrets", name],
      `secret \`${name}\` would come from its development default in a production build`,
      {
        expected: "a value from the environment or a secret file",
        hint: how ? `${how} when building for production` : "add `env:` or `file:` to it",
      },
    ));
  }
  return out;
}

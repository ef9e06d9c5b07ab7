/**
 * Production rule: no credential is the seed's well-known default password,
 * wherever its value comes from (default, environment or file). The message
 * never repeats the value.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

/** The password of the seed stack, public in its docs. */
export const SEED_DEFAULT_PASSWORD = "procos123";

/** Reports secrets whose value is the seed's default password. */
export function prodDefaultPassword(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [name, s] of Object.entries(ctx.spec.secrets)) {
    const r = ctx.secrets[name]?.resolved;
    if (r?.value !== SEED_DEFAULT_PASSWORD) continue;
    const from = r.source === "env"
      ? `environment variable ${s.env}`
      : r.source === "file"
      ? `file ${s.file}`
      : "its default";
    out.push(at(
      ctx,
      ["secrets", name],
      `secret \`${name}\` (from ${from}) is the seed's well-known default password`,
      { hint: "use a strong, unique password in production" },
    ));
  }
  return out;
}

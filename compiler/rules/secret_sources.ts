/**
 * Rule: every secret can get a value: it declares at least one of `env`,
 * `file` or `default`, and one of them supplies a value (the variable is set
 * and non-empty, or the file exists and is non-empty, or there is a
 * default). Located at the secret; never shows a value.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports secrets that resolve to nothing. */
export function secretSources(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [name, s] of Object.entries(ctx.spec.secrets)) {
    const lookup = ctx.secrets[name];
    if (lookup?.resolved) continue;
    if (!s.env && !s.file && s.default === undefined) {
      out.push(at(ctx, ["secrets", name], `secret \`${name}\` has neither env, file nor default`, {
        expected: "at least one of env, file, default",
        hint: "add `env: VARIABLE_NAME` (or `file:`) saying where its value comes from",
      }));
      continue;
    }
    const how = [
      s.env ? `set ${s.env}` : "",
      s.file ? `create ${s.file}` : "",
    ].filter(Boolean).join(" or ");
    out.push(at(
      ctx,
      ["secrets", name],
      `secret \`${name}\` has no value: ${(lookup?.tried ?? []).join(", ")}`,
      { hint: how || "give it a source" },
    ));
  }
  return out;
}

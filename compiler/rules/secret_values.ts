/**
 * Rule: every secret's value is one the env files can carry (one line, and
 * read alike by Compose and a shell; `compiler/env_value.ts`). Located at
 * the source that supplied it (`env`, `file` or `default`); never shows the
 * value.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { envQuoting } from "../env_value.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports secrets whose value no env file can carry. */
export function secretValues(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [name, s] of Object.entries(ctx.spec.secrets)) {
    const resolved = ctx.secrets[name]?.resolved;
    if (!resolved) continue;
    const q = envQuoting(resolved.value);
    if (!("problem" in q)) continue;
    const from = resolved.source === "env"
      ? `the variable ${s.env}`
      : resolved.source === "file"
      ? `the file ${s.file}`
      : "its default";
    out.push(
      at(
        ctx,
        ["secrets", name, resolved.source],
        `the value of \`${name}\`, from ${from}, cannot be used: ${q.problem}`,
        {
          expected: "a value of one line that env files carry as it is",
          hint:
            "supply a value without line breaks or control characters, e.g. a generated password",
        },
      ),
    );
  }
  return out;
}

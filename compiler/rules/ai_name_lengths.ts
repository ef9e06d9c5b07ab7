/**
 * Rule: provider and model names fit the AI tables' columns
 * (`procos_ai_context.ai_provider`, `.model_used` and the model tables), so a
 * name the spec accepts can always be stored.
 *
 * @module
 */
import { AI_MODEL_NAME_MAX_CHARS, AI_PROVIDER_MAX_CHARS } from "../ai_schema.ts";
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports provider and model names longer than their columns. */
export function aiNameLengths(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  ctx.spec.ai.providers.forEach((p, i) => {
    if (p.name.length > AI_PROVIDER_MAX_CHARS) {
      out.push(
        at(
          ctx,
          ["ai", "providers", i, "name"],
          `provider name is ${p.name.length} characters long`,
          {
            target: "value",
            expected: `at most ${AI_PROVIDER_MAX_CHARS} characters (procos_ai_context.ai_provider)`,
            hint: "choose a shorter provider name",
          },
        ),
      );
    }
    p.models.forEach((m, j) => {
      if (m.name.length > AI_MODEL_NAME_MAX_CHARS) {
        out.push(
          at(
            ctx,
            ["ai", "providers", i, "models", j, "name"],
            `model name is ${m.name.length} characters long`,
            {
              target: "value",
              expected:
                `at most ${AI_MODEL_NAME_MAX_CHARS} characters (procos_ai_context.model_used)`,
              hint: "use the model's short tag, such as llama3.2:1b",
            },
          ),
        );
      }
    });
  });
  return out;
}

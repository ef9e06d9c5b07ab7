/**
 * Rule: `ai.default_model` and every AI topic's `model` name a model of some
 * provider in `ai.providers`.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { didYouMean, listNames } from "../hints.ts";
import type { KeyPath } from "../load.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports model references that no provider offers. */
export function modelRefs(ctx: RuleContext): Diagnostic[] {
  const models = ctx.spec.ai.providers.flatMap((p) => p.models.map((m) => m.name));
  const refs: { path: KeyPath; name: string }[] = [
    { path: ["ai", "default_model"], name: ctx.spec.ai.default_model },
  ];
  for (const [name, w] of Object.entries(ctx.spec.workers)) {
    if (w.kind !== "ai") continue;
    w.topics.forEach((t, i) =>
      refs.push({ path: ["workers", name, "topics", i, "model"], name: t.model })
    );
  }
  return refs
    .filter((r) => !models.includes(r.name))
    .map((r) =>
      at(ctx, r.path, `names the model \`${r.name}\`, which no AI provider offers`, {
        target: "value",
        expected: `one of: ${listNames(models, 20)}`,
        hint: didYouMean(r.name, models) ?? "add it to the models of a provider in `ai.providers`",
      })
    );
}

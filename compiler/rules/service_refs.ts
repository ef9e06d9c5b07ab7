/**
 * Rule: references to services name a service of the right kind:
 * `engine.database` a postgres service, `messaging.broker` a rabbitmq
 * service, an AI provider's `service` an ollama service.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { article, didYouMean } from "../hints.ts";
import type { KeyPath } from "../load.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports service references that name nothing, or a service of another kind. */
export function serviceRefs(ctx: RuleContext): Diagnostic[] {
  const refs: { path: KeyPath; name: string; kind: string }[] = [];
  for (const [name, s] of Object.entries(ctx.spec.services)) {
    if (s.kind === "camunda") {
      refs.push({
        path: ["services", name, "engine", "database"],
        name: s.engine.database,
        kind: "postgres",
      });
    }
  }
  refs.push({ path: ["messaging", "broker"], name: ctx.spec.messaging.broker, kind: "rabbitmq" });
  ctx.spec.ai.providers.forEach((p, i) =>
    refs.push({ path: ["ai", "providers", i, "service"], name: p.service, kind: "ollama" })
  );

  const out: Diagnostic[] = [];
  for (const r of refs) {
    const target = ctx.spec.services[r.name];
    if (target?.kind === r.kind) continue;
    const ofKind = Object.entries(ctx.spec.services)
      .filter(([, s]) => s.kind === r.kind)
      .map(([n]) => n);
    out.push(at(
      ctx,
      r.path,
      target
        ? `names \`${r.name}\`, ${article(target.kind)} service, not ${article(r.kind)} service`
        : `names \`${r.name}\`, which is not a service`,
      {
        target: "value",
        expected: ofKind.length
          ? `the name of ${article(r.kind)} service: ${ofKind.join(", ")}`
          : `the name of ${article(r.kind)} service`,
        hint: didYouMean(r.name, ofKind) ??
          (ofKind.length === 1
            ? `did you mean \`${ofKind[0]}\`?`
            : `add ${article(r.kind)} service`),
      },
    ));
  }
  return out;
}

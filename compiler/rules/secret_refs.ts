/**
 * Rule: every credential field names an entry of `secrets`
 * (`database.password`, `cache.password`, `broker.password`,
 * `engine.admin_password`).
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { didYouMean, listNames } from "../hints.ts";
import type { KeyPath } from "../load.ts";
import { at, type RuleContext } from "./rule.ts";

/** Every credential reference of the spec: its path and the secret it names. */
export function secretReferences(ctx: RuleContext): { path: KeyPath; secret: string }[] {
  const out: { path: KeyPath; secret: string }[] = [];
  for (const [name, s] of Object.entries(ctx.spec.services)) {
    const base = ["services", name];
    if (s.kind === "postgres") {
      out.push({ path: [...base, "database", "password"], secret: s.database.password });
    } else if (s.kind === "redis") {
      out.push({ path: [...base, "cache", "password"], secret: s.cache.password });
    } else if (s.kind === "rabbitmq") {
      out.push({ path: [...base, "broker", "password"], secret: s.broker.password });
    } else if (s.kind === "camunda") {
      out.push({ path: [...base, "engine", "admin_password"], secret: s.engine.admin_password });
    }
  }
  return out;
}

/** Reports credential fields naming no secret. */
export function secretRefs(ctx: RuleContext): Diagnostic[] {
  const names = Object.keys(ctx.spec.secrets);
  return secretReferences(ctx)
    .filter((r) => !(r.secret in ctx.spec.secrets))
    .map((r) =>
      at(ctx, r.path, `names the secret \`${r.secret}\`, which is not in \`secrets\``, {
        target: "value",
        expected: names.length ? `one of: ${listNames(names, 20)}` : "the name of a secret",
        hint: didYouMean(r.secret, names) ?? `add \`${r.secret}:\` under \`secrets\``,
      })
    );
}

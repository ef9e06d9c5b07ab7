/**
 * Rule: exactly one service of each infrastructure kind the stack needs
 * (postgres, camunda, redis, rabbitmq, ollama): the compiler's model wires
 * the engine and the workers to that one service.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

/** The kinds of which the stack needs exactly one service. */
export const REQUIRED_KINDS = ["postgres", "camunda", "redis", "rabbitmq", "ollama"] as const;

/** Reports each missing kind (at `services`) and each extra service of a kind. */
export function oneServicePerKind(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const kind of REQUIRED_KINDS) {
    const names = Object.entries(ctx.spec.services)
      .filter(([, s]) => s.kind === kind)
      .map(([n]) => n);
    if (names.length === 0) {
      out.push(at(ctx, ["services"], `no service of kind \`${kind}\``, {
        expected: `exactly one service with \`kind: ${kind}\``,
        hint: `add one: the stack needs exactly one ${kind} service`,
      }));
    }
    for (const extra of names.slice(1)) {
      out.push(at(
        ctx,
        ["services", extra],
        `a second service of kind \`${kind}\` (the first is \`${names[0]}\`)`,
        {
          expected: `exactly one service with \`kind: ${kind}\``,
          hint: `remove one, or change its kind`,
        },
      ));
    }
  }
  return out;
}

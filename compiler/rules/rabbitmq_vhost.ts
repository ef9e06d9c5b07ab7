/**
 * Rule: the broker's vhost survives the AMQP URL the workers are given.
 * `.` and `..` are path segments a URL parser resolves away
 * (`amqp://host/.` is the default vhost `/`), so a worker would connect to
 * another vhost than the one the definitions create.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports a vhost that an AMQP URL cannot carry. */
export function rabbitmqVhost(ctx: RuleContext): Diagnostic[] {
  return Object.entries(ctx.spec.services).flatMap(([name, s]) =>
    s.kind === "rabbitmq" && (s.broker.vhost === "." || s.broker.vhost === "..")
      ? [
        at(
          ctx,
          ["services", name, "broker", "vhost"],
          `the vhost "${s.broker.vhost}" is a URL path segment`,
          {
            target: "value",
            expected: "a vhost name other than . and .., such as procos",
            hint: "an AMQP URL resolves it away, so the workers would use the default vhost /",
          },
        ),
      ]
      : []
  );
}

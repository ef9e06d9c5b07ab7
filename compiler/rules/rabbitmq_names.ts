/**
 * Rule: RabbitMQ takes every exchange and queue name, and every routing key
 * the spec gives it. It reserves the `amq.` prefix (declaring such a name is
 * refused, and a definitions import skips it with only a warning in its log),
 * and it holds at most 255 bytes of UTF-8 in a name or a routing key.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import type { KeyPath } from "../load.ts";
import { at, type RuleContext } from "./rule.ts";

const MAX_BYTES = 255;
const encoder = new TextEncoder();

/**
 * Reports exchange and queue names with the reserved prefix, and names
 * (dead-letter queues included) or routing keys over 255 bytes.
 */
export function rabbitmqNames(ctx: RuleContext): Diagnostic[] {
  const m = ctx.spec.messaging;
  const names: [KeyPath, string, string][] = [
    [["messaging", "dead_letter_exchange"], m.dead_letter_exchange, "exchange"],
    ...m.exchanges.map((e, i): [KeyPath, string, string] => [
      ["messaging", "exchanges", i, "name"],
      e.name,
      "exchange",
    ]),
    ...m.queues.map((q, i): [KeyPath, string, string] => [
      ["messaging", "queues", i, "name"],
      q.name,
      "queue",
    ]),
  ];
  const out: Diagnostic[] = [];
  for (const [path, name, what] of names) {
    if (!name.toLowerCase().startsWith("amq.")) continue;
    out.push(at(ctx, path, `the ${what} name "${name}" starts with amq., which RabbitMQ reserves`, {
      target: "value",
      expected: `${what === "queue" ? "a queue" : "an exchange"} name not starting with amq.`,
      hint: `RabbitMQ refuses to declare it, and its definitions import skips it; rename it, ` +
        `e.g. procos.${name.slice(4)}`,
    }));
  }
  m.queues.forEach((q, i) => {
    const dlq = `${q.name}.dlq`;
    if (!q.dead_letter || encoder.encode(dlq).length <= MAX_BYTES) return;
    out.push(
      at(
        ctx,
        ["messaging", "queues", i, "name"],
        `its dead-letter queue ${dlq} is over ${MAX_BYTES} bytes`,
        {
          target: "value",
          expected: `a queue name of at most ${MAX_BYTES - 4} bytes when dead_letter is on`,
          hint: "ProcOS declares <queue>.dlq beside it; shorten the name",
        },
      ),
    );
  });
  const keys: [KeyPath, string][] = [
    ...m.queues.map((
      q,
      i,
    ): [KeyPath, string] => [["messaging", "queues", i, "routing_key"], q.routing_key]),
    [["messaging", "events", "task_completed"], m.events.task_completed],
    [["messaging", "events", "task_failed"], m.events.task_failed],
  ];
  for (const [path, key] of keys) {
    const bytes = encoder.encode(key).length;
    if (bytes <= MAX_BYTES) continue;
    out.push(at(ctx, path, `the routing key is ${bytes} bytes of UTF-8`, {
      target: "value",
      expected: `a routing key of at most ${MAX_BYTES} bytes`,
      hint: "RabbitMQ refuses a longer one; shorten it (letters outside ASCII take 2-4 bytes)",
    }));
  }
  return out;
}

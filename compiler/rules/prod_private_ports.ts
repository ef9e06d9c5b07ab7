/**
 * Production rule: the data services (postgres, redis, rabbitmq, ollama)
 * publish ports on a specific host address only, never on every address
 * (no `host_ip`, `0.0.0.0` or `::`).
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

const PRIVATE_KINDS = new Set(["postgres", "redis", "rabbitmq", "ollama"]);
const WILDCARDS = new Set(["0.0.0.0", "::"]);

/** Reports data-service ports published on every host address. */
export function prodPrivatePorts(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [name, s] of Object.entries(ctx.spec.services)) {
    if (!PRIVATE_KINDS.has(s.kind)) continue;
    s.ports.forEach((p, i) => {
      if (p.host_ip !== undefined && !WILDCARDS.has(p.host_ip)) return;
      const path = ["services", name, "ports", i];
      out.push(at(
        ctx,
        p.host_ip === undefined ? path : [...path, "host_ip"],
        `${s.kind} port ${p.published} is published on every host address`,
        {
          target: "value",
          expected: "a host_ip such as 127.0.0.1",
          hint:
            "add `host_ip: 127.0.0.1` to this port in the production profile, or remove the port",
        },
      ));
    });
  }
  return out;
}

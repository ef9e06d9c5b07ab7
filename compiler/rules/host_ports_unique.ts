/**
 * Rule: no host port is published twice on the same host address. A port
 * published without `host_ip` (or on `0.0.0.0` / `::`) binds every address,
 * so it clashes with the same port on any address. External services are
 * not started, so their ports are not counted.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { formatPath } from "../diagnostics.ts";
import type { KeyPath } from "../load.ts";
import { at, type RuleContext } from "./rule.ts";

const WILDCARDS = new Set(["", "0.0.0.0", "::"]);

/** Reports each published port that an earlier one already binds. */
export function hostPortsUnique(ctx: RuleContext): Diagnostic[] {
  const taken: { port: number; ip: string; path: KeyPath }[] = [];
  const out: Diagnostic[] = [];
  for (const [name, s] of Object.entries(ctx.spec.services)) {
    if (s.external) continue;
    s.ports.forEach((p, i) => {
      const ip = p.host_ip ?? "";
      const path = ["services", name, "ports", i, "published"];
      const clash = taken.find((t) =>
        t.port === p.published && (t.ip === ip || WILDCARDS.has(t.ip) || WILDCARDS.has(ip))
      );
      if (clash) {
        out.push(at(
          ctx,
          path,
          `host port ${p.published}${ip ? ` on ${ip}` : ""} is already published by \`${
            formatPath(ctx.where(clash.path.slice(0, -1)))
          }\``,
          {
            target: "value",
            hint: "publish it on another host port, or bind each to a different host_ip",
          },
        ));
      } else {
        taken.push({ port: p.published, ip, path });
      }
    });
  }
  return out;
}

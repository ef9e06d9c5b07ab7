/**
 * Rule: the engine's admin user id is one Camunda accepts. Camunda 7 allows
 * only letters and digits in user ids (its default resource-id whitelist), so
 * an id such as `procos-admin` passes the spec's name syntax but stops the
 * engine at start, when it creates the admin user.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

/** The user ids Camunda 7 accepts by default. */
const CAMUNDA_USER_ID = /^[a-zA-Z0-9]+$/;

/** Reports camunda services whose admin user id Camunda would refuse. */
export function camundaAdminId(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [name, s] of Object.entries(ctx.spec.services)) {
    if (s.kind !== "camunda" || CAMUNDA_USER_ID.test(s.engine.admin_user)) continue;
    out.push(at(
      ctx,
      ["services", name, "engine", "admin_user"],
      `Camunda refuses the user id \`${s.engine.admin_user}\` and would not start`,
      {
        target: "value",
        expected: "letters and digits only, such as admin",
        hint: `write it without - or _, e.g. ${s.engine.admin_user.replace(/[^a-zA-Z0-9]/g, "")}`,
      },
    ));
  }
  return out;
}

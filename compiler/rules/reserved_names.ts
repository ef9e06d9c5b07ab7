/**
 * Rule: no service or worker takes the name of a container ProcOS adds
 * itself: the database set-up job (every profile) and the production
 * profile's backup and exporter containers.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

/** Container names ProcOS adds, and what each one is. */
export const RESERVED_NAMES: Readonly<Record<string, string>> = {
  "postgres-setup": "the job that brings the database to the spec at every start",
  "backup": "the production backup loop",
  "postgres-exporter": "the production PostgreSQL metrics exporter",
  "redis-exporter": "the production Redis metrics exporter",
  "verify": "the production verify serve container (monitoring.verify)",
};

/** Reports services and workers named like a container ProcOS adds. */
export function reservedNames(ctx: RuleContext): Diagnostic[] {
  const sections = [["services", ctx.spec.services], ["workers", ctx.spec.workers]] as const;
  return sections.flatMap(([section, entries]) =>
    Object.keys(entries)
      .filter((name) => Object.hasOwn(RESERVED_NAMES, name))
      .map((name) =>
        at(ctx, [section, name], `the name \`${name}\` is reserved`, {
          expected: `a name other than ${Object.keys(RESERVED_NAMES).join(", ")}`,
          hint: `ProcOS adds a \`${name}\` container (${RESERVED_NAMES[name]}); rename this one`,
        })
      )
  );
}

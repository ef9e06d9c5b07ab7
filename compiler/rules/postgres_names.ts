/**
 * Rule: PostgreSQL creates the application role and database the spec
 * names. It reserves role names starting with `pg_`, and `public` and
 * `none`; `postgres` is the cluster's superuser, which the application role
 * must not be; the template databases are not the application's.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

const RESERVED_ROLES = new Set(["public", "none", "postgres"]);
const RESERVED_DATABASES = new Set(["template0", "template1"]);

/** Reports role and database names PostgreSQL refuses or keeps for itself. */
export function postgresNames(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [name, s] of Object.entries(ctx.spec.services)) {
    if (s.kind !== "postgres") continue;
    const { user, name: db } = s.database;
    if (user.startsWith("pg_") || RESERVED_ROLES.has(user)) {
      out.push(
        at(ctx, ["services", name, "database", "user"], `the role name "${user}" is reserved`, {
          target: "value",
          expected: "a role name not starting with pg_, other than postgres, public and none",
          hint: user === "postgres"
            ? "postgres is the cluster's superuser; the services log in as an ordinary role, e.g. procos"
            : "PostgreSQL refuses to create it; choose another, e.g. procos",
        }),
      );
    }
    if (RESERVED_DATABASES.has(db)) {
      out.push(at(ctx, ["services", name, "database", "name"], `"${db}" is a template database`, {
        target: "value",
        expected: "a database name other than template0 and template1",
        hint: "every new database is copied from template1; give the stack its own, e.g. procos",
      }));
    }
  }
  return out;
}

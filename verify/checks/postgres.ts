/**
 * PostgreSQL: the database and the role of the spec, the extensions, and the
 * AI tables of `compiler/ai_schema.ts` exactly as described there: columns
 * (type as `format_type()` prints it, nullability), constraints, every
 * secondary index with its access method, keys and operator classes, and the
 * `updated_at` triggers. One check per table and per index, so a failure
 * names the one object that differs.
 *
 * @module
 */
import * as aiSchema from "../../compiler/ai_schema.ts";
import type { IndexSpec, TableSpec, TriggerSpec } from "../../compiler/ai_schema.ts";
import type { StackModel } from "../../compiler/model.ts";
import type { Check, Result, RunContext } from "../check.ts";
import { errorMessage, fail, pass, skip } from "../check.ts";
import type { Sql } from "../clients/pg.ts";
import { sqlState, withPg } from "../clients/pg.ts";

/** The schema the AI tables live in. */
export const AI_SCHEMA_NAME = "public";

/** Connects as the spec's user (to `database`, default the spec's database) and runs `fn`. */
function asSpecUser<T>(ctx: RunContext, fn: (sql: Sql) => Promise<T>, database?: string) {
  const t = ctx.targets.postgres;
  const m = ctx.model.postgres;
  return withPg({
    host: t.host,
    port: t.port,
    database: database ?? m.database,
    user: m.user,
    password: m.password,
    signal: ctx.signal,
    pools: ctx.pools,
  }, fn);
}

function connectFailure(ctx: RunContext, e: unknown): Result {
  const code = sqlState(e);
  const m = ctx.model.postgres;
  return fail(
    `a session as ${m.user} on database ${m.database}`,
    code ? `${errorMessage(e)} (SQLSTATE ${code})` : errorMessage(e),
    code === "3D000"
      ? "the database is missing: run out/sql/init-db.sql (deno task build writes it)"
      : code === "28P01" || code === "28000"
      ? "see the check 'role ... can log in'"
      : undefined,
  );
}

/** Runs `fn` as the spec's user; a connection failure becomes a failing result. */
export async function query(ctx: RunContext, fn: (sql: Sql) => Promise<Result>): Promise<Result> {
  let connected = false;
  try {
    return await asSpecUser(ctx, async (sql) => {
      await sql`SELECT 1`;
      connected = true;
      return await fn(sql);
    });
  } catch (e) {
    if (!connected) return connectFailure(ctx, e);
    throw e;
  }
}

/** The spec's database exists (the spec's user connects to it). */
export function databaseCheck(model: StackModel): Check {
  return {
    id: "postgres.database",
    domain: "postgres",
    name: `postgres: database ${model.postgres.database} exists`,
    run: (ctx) =>
      query(ctx, async (sql) => {
        const [row] = await sql<{ encoding: string; owner: string }[]>`
          SELECT pg_encoding_to_char(d.encoding) AS encoding, r.rolname AS owner
          FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
          WHERE d.datname = current_database()`;
        return pass(`owner ${row.owner}, encoding ${row.encoding}`);
      }),
  };
}

/** The spec's role exists, may log in, and its password is the spec's. */
export function roleCheck(model: StackModel): Check {
  const { user } = model.postgres;
  return {
    id: "postgres.role",
    domain: "postgres",
    name: `postgres: role ${user} exists and logs in with the spec's password`,
    run: async (ctx) => {
      const probe = (database?: string) =>
        asSpecUser(ctx, async (sql) => {
          const [r] = await sql<{ rolcanlogin: boolean }[]>`
            SELECT rolcanlogin FROM pg_roles WHERE rolname = current_user`;
          return r?.rolcanlogin ?? false;
        }, database);
      try {
        let canLogin: boolean;
        try {
          canLogin = await probe();
        } catch (e) {
          // The database may be missing: that is the database check's failure, not this one's.
          if (sqlState(e) !== "3D000") throw e;
          canLogin = await probe("postgres");
        }
        return canLogin ? pass() : fail("rolcanlogin = true", "rolcanlogin = false");
      } catch (e) {
        const code = sqlState(e);
        const actual = code ? `${errorMessage(e)} (SQLSTATE ${code})` : errorMessage(e);
        if (code === "28P01") {
          return fail(
            `role ${user} accepts the spec's password`,
            actual,
            "the role's password differs from secret postgres_password (or its env var)",
          );
        }
        if (code === "28000") {
          return fail(`a role ${user} that may log in`, actual, "run out/sql/init-db.sql");
        }
        return fail(`a session as ${user}`, actual);
      }
    },
  };
}

/** An extension is installed in the spec's database. */
export function extensionCheck(name: string): Check {
  return {
    id: `postgres.extension.${name}`,
    domain: "postgres",
    name: `postgres: extension ${name} installed`,
    run: (ctx) =>
      query(ctx, async (sql) => {
        const rows = await sql<{ extversion: string }[]>`
          SELECT extversion FROM pg_extension WHERE extname = ${name}`;
        return rows.length ? pass(`version ${rows[0].extversion}`) : fail(
          `extension ${name}`,
          "not installed",
          `CREATE EXTENSION IF NOT EXISTS "${name}" (out/sql/init-db.sql does it)`,
        );
      }),
  };
}

/** A live column. */
interface LiveColumn {
  name: string;
  type: string;
  nullable: boolean;
}

/** `character varying(64) NOT NULL` / `text`. */
export function describeColumn(c: { type: string; nullable: boolean }): string {
  return c.nullable ? c.type : `${c.type} NOT NULL`;
}

/**
 * Compares columns: the spec's, in order, against the live ones. Returns the
 * differing columns as parallel expected/actual lines (empty when equal).
 */
export function diffColumns(
  expected: readonly { name: string; type: string; nullable: boolean }[],
  actual: readonly LiveColumn[],
): { expected: string[]; actual: string[] } {
  const live = new Map(actual.map((c) => [c.name, c]));
  const want = new Set(expected.map((c) => c.name));
  const out = { expected: [] as string[], actual: [] as string[] };
  for (const c of expected) {
    const a = live.get(c.name);
    if (!a) {
      out.expected.push(`${c.name} ${describeColumn(c)}`);
      out.actual.push(`${c.name} (missing)`);
    } else if (a.type !== c.type || a.nullable !== c.nullable) {
      out.expected.push(`${c.name} ${describeColumn(c)}`);
      out.actual.push(`${c.name} ${describeColumn(a)}`);
    }
  }
  for (const a of actual) {
    if (!want.has(a.name)) {
      out.expected.push(`${a.name} (no such column)`);
      out.actual.push(`${a.name} ${describeColumn(a)}`);
    }
  }
  return out;
}

async function tableExists(sql: Sql, table: string): Promise<boolean> {
  const rows = await sql`
    SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ${AI_SCHEMA_NAME} AND c.relname = ${table} AND c.relkind IN ('r', 'p')`;
  return rows.length > 0;
}

const missingTable = (table: string) =>
  fail(`table ${AI_SCHEMA_NAME}.${table}`, "no such table", "run out/sql/init-db.sql");

/** A table has exactly the spec's columns, types and nullability. */
export function tableColumnsCheck(table: TableSpec): Check {
  return {
    id: `postgres.table.${table.name}`,
    domain: "postgres",
    name: `postgres: table ${table.name} has the spec's ${table.columns.length} columns`,
    run: (ctx) =>
      query(ctx, async (sql) => {
        if (!(await tableExists(sql, table.name))) return missingTable(table.name);
        const live = await sql<LiveColumn[]>`
          SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
                 NOT a.attnotnull AS nullable
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ${AI_SCHEMA_NAME} AND c.relname = ${table.name}
            AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum`;
        const d = diffColumns(table.columns, [...live]);
        if (d.expected.length === 0) return pass();
        return fail(
          d.expected.join("\n"),
          d.actual.join("\n"),
          "the table differs from compiler/ai_schema.ts: migrate it (CREATE TABLE IF NOT EXISTS " +
            "does not change an existing table)",
        );
      }),
  };
}

/** Normalises constraint SQL for comparison: case, quotes and spacing. */
export function normalizeSql(s: string): string {
  return s.toLowerCase().replace(/"/g, "").replace(/\s+/g, "");
}

/** A table has the spec's constraints (name and kind; key definitions compared too). */
export function tableConstraintsCheck(table: TableSpec): Check {
  const kinds: Record<string, string> = {
    p: "primary-key",
    u: "unique",
    c: "check",
    f: "foreign-key",
  };
  return {
    id: `postgres.constraints.${table.name}`,
    domain: "postgres",
    name: `postgres: table ${table.name} has the spec's constraints`,
    run: (ctx) =>
      query(ctx, async (sql) => {
        if (!(await tableExists(sql, table.name))) return missingTable(table.name);
        const live = await sql<{ name: string; type: string; def: string }[]>`
          SELECT k.conname AS name, k.contype AS type, pg_get_constraintdef(k.oid) AS def
          FROM pg_constraint k
          JOIN pg_class c ON c.oid = k.conrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ${AI_SCHEMA_NAME} AND c.relname = ${table.name}
            AND k.contype IN ('p', 'u', 'c', 'f')`;
        const byName = new Map(live.map((k) => [k.name, k]));
        const exp: string[] = [];
        const act: string[] = [];
        for (const k of table.constraints) {
          const l = byName.get(k.name);
          const wantKey = k.kind !== "check";
          if (!l) {
            exp.push(`${k.name}: ${k.definition}`);
            act.push(`${k.name} (missing)`);
          } else if (kinds[l.type] !== k.kind) {
            exp.push(`${k.name}: ${k.kind}`);
            act.push(`${k.name}: ${kinds[l.type] ?? l.type}`);
          } else if (wantKey && normalizeSql(l.def) !== normalizeSql(k.definition)) {
            exp.push(`${k.name}: ${k.definition}`);
            act.push(`${k.name}: ${l.def}`);
          }
        }
        for (const l of live) {
          if (!table.constraints.some((k) => k.name === l.name)) {
            exp.push(`${l.name} (no such constraint)`);
            act.push(`${l.name}: ${l.def}`);
          }
        }
        return exp.length === 0 ? pass() : fail(exp.join("\n"), act.join("\n"));
      }),
  };
}

/** One key of a live index. */
interface LiveKey {
  key: string;
  opclass: string;
  isDefault: boolean;
}

/** A live index. */
interface LiveIndex {
  table: string;
  method: string;
  keys: LiveKey[];
  options: string[] | null;
}

/**
 * Normalises an index expression so the spec's text and PostgreSQL's
 * rendering compare equal: drops casts (`::regconfig`, `::text`), quotes,
 * spaces and case, and one pair of enclosing parentheses.
 */
export function normalizeExpression(expr: string): string {
  let s = expr.toLowerCase()
    .replace(/::"?[a-z_][a-z0-9_]*"?(\s+varying|\s+precision)?(\[\])?/g, "")
    .replace(/"/g, "")
    .replace(/\s+/g, "");
  while (s.startsWith("(") && s.endsWith(")") && balanced(s.slice(1, -1))) s = s.slice(1, -1);
  return s;
}

function balanced(s: string): boolean {
  let depth = 0;
  let quoted = false;
  for (const ch of s) {
    if (ch === "'") quoted = !quoted;
    if (quoted) continue;
    if (ch === "(") depth++;
    if (ch === ")" && --depth < 0) return false;
  }
  return depth === 0;
}

/** The spec's index as a person reads it: `gin (content_text gin_trgm_ops) on t`. */
export function describeExpectedIndex(i: IndexSpec, table: string): string {
  const keys = i.keys.map((k) =>
    `${k.column ?? `(${k.expression})`}${k.opclass ? ` ${k.opclass}` : ""}`
  );
  const w = i.with ? ` WITH (${i.with})` : "";
  return `${aiSchema.ACCESS_METHOD[i.method]} (${keys.join(", ")})${w} on ${table}`;
}

/** A live index as a person reads it (non-default operator classes shown). */
export function describeLiveIndex(l: LiveIndex): string {
  const keys = l.keys.map((k) => `${k.key}${k.isDefault ? "" : ` ${k.opclass}`}`);
  const w = l.options?.length ? ` WITH (${l.options.join(", ")})` : "";
  return `${l.method} (${keys.join(", ")})${w} on ${l.table}`;
}

/** Compares a live index with the spec's; a list of differences (empty when equal). */
export function indexDifferences(i: IndexSpec, table: string, l: LiveIndex): string[] {
  const diffs: string[] = [];
  if (l.table !== table) diffs.push(`on table ${l.table}, not ${table}`);
  const am = aiSchema.ACCESS_METHOD[i.method];
  if (l.method !== am) diffs.push(`method ${l.method}, not ${am}`);
  if (l.keys.length !== i.keys.length) {
    diffs.push(`${l.keys.length} key(s), not ${i.keys.length}`);
  } else {
    i.keys.forEach((k, n) => {
      const live = l.keys[n];
      const want = k.column ?? k.expression ?? "";
      const same = k.column !== undefined
        ? live.key.replace(/"/g, "") === k.column
        : normalizeExpression(live.key) === normalizeExpression(want);
      if (!same) diffs.push(`key ${n + 1} is ${live.key}, not ${want}`);
      if (k.opclass ? live.opclass !== k.opclass : !live.isDefault) {
        diffs.push(
          `key ${n + 1} uses operator class ${live.opclass}, not ${k.opclass ?? "the default"}`,
        );
      }
      if (i.method === "gin-fts" && !/to_tsvector\(/i.test(live.key)) {
        diffs.push(`key ${n + 1} is not a to_tsvector(...) expression`);
      }
    });
  }
  if (i.with !== undefined) {
    const want = normalizeSql(i.with);
    const have = normalizeSql((l.options ?? []).join(","));
    if (want !== have) diffs.push(`storage parameters (${(l.options ?? []).join(", ")})`);
  }
  return diffs;
}

/** A secondary index exists with the spec's method, keys and operator classes. */
export function indexCheck(i: IndexSpec, table: string): Check {
  const am = aiSchema.ACCESS_METHOD[i.method];
  const opclasses = [...new Set(i.keys.flatMap((k) => (k.opclass ? [k.opclass] : [])))];
  const what = opclasses.length
    ? `uses ${opclasses.join(", ")}`
    : i.method === "gin-fts"
    ? "is a gin full-text index (to_tsvector)"
    : `is ${am} on ${i.keys.map((k) => k.column ?? "an expression").join(", ")}`;
  return {
    id: `postgres.index.${i.name}`,
    domain: "postgres",
    name: `postgres: index ${i.name} ${what}`,
    run: (ctx) =>
      query(ctx, async (sql) => {
        const rows = await sql<LiveIndex[]>`
          SELECT t.relname AS table, am.amname AS method, c.reloptions AS options,
                 (SELECT coalesce(json_agg(json_build_object(
                           'key', pg_get_indexdef(ix.indexrelid, k + 1, true),
                           'opclass', oc.opcname,
                           'isDefault', oc.opcdefault) ORDER BY k), '[]'::json)
                    FROM generate_series(0, ix.indnkeyatts - 1) AS k
                    JOIN pg_opclass oc ON oc.oid = ix.indclass[k]) AS keys
          FROM pg_index ix
          JOIN pg_class c ON c.oid = ix.indexrelid
          JOIN pg_class t ON t.oid = ix.indrelid
          JOIN pg_am am ON am.oid = c.relam
          JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ${AI_SCHEMA_NAME} AND c.relname = ${i.name}`;
        const expected = describeExpectedIndex(i, table);
        if (rows.length === 0) {
          return fail(expected, "no such index", "run out/sql/init-db.sql (it creates indexes)");
        }
        const diffs = indexDifferences(i, table, rows[0]);
        return diffs.length === 0
          ? pass()
          : fail(expected, `${describeLiveIndex(rows[0])}\n(${diffs.join("; ")})`);
      }),
  };
}

/** A trigger exists on its table and calls its function. */
export function triggerCheck(t: TriggerSpec): Check {
  return {
    id: `postgres.trigger.${t.name}`,
    domain: "postgres",
    name: `postgres: trigger ${t.name} on ${t.table} calls ${t.function}()`,
    run: (ctx) =>
      query(ctx, async (sql) => {
        const rows = await sql<{ fn: string; enabled: string }[]>`
          SELECT p.proname AS fn, tg.tgenabled AS enabled
          FROM pg_trigger tg
          JOIN pg_class c ON c.oid = tg.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_proc p ON p.oid = tg.tgfoid
          WHERE n.nspname = ${AI_SCHEMA_NAME} AND c.relname = ${t.table}
            AND tg.tgname = ${t.name} AND NOT tg.tgisinternal`;
        if (rows.length === 0) return fail(`trigger ${t.name} on ${t.table}`, "no such trigger");
        if (rows[0].fn !== t.function) {
          return fail(`calls ${t.function}()`, `calls ${rows[0].fn}()`);
        }
        return rows[0].enabled === "D"
          ? fail(
            "trigger enabled",
            "trigger disabled",
            `ALTER TABLE ${t.table} ENABLE TRIGGER ${t.name}`,
          )
          : pass();
      }),
  };
}

/** A retention routine to check, as `compiler/ai_schema.ts` describes it. */
interface RetentionFunction {
  name: string;
  /** `p` procedure or `f` function, when given. */
  kind?: string;
  /** `pg_get_function_identity_arguments()`, when given. */
  identityArguments?: string;
}

/**
 * The retention functions `compiler/ai_schema.ts` exports as
 * `AI_RETENTION_FUNCTIONS` (`{ name }[]`), or none.
 */
export function retentionFunctions(): RetentionFunction[] {
  const v = (aiSchema as Record<string, unknown>).AI_RETENTION_FUNCTIONS;
  return Array.isArray(v)
    ? v.filter((f): f is RetentionFunction => typeof f?.name === "string")
    : [];
}

/**
 * A function exists in the AI schema; with `want`, as a function or a
 * procedure (`prokind`) with exactly these arguments.
 */
export function functionCheck(
  name: string,
  kind: string,
  want: { kind?: string; identityArguments?: string } = {},
): Check {
  const what = want.kind === "p" ? "procedure" : "function";
  return {
    id: `postgres.function.${name}`,
    domain: "postgres",
    name: `postgres: ${kind} ${what} ${name}() exists`,
    run: (ctx) =>
      query(ctx, async (sql) => {
        const rows = await sql<{ kind: string; args: string }[]>`
          SELECT p.prokind AS kind, pg_get_function_identity_arguments(p.oid) AS args
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = ${AI_SCHEMA_NAME} AND p.proname = ${name}`;
        if (rows.length === 0) {
          return fail(`${what} ${name}()`, `no such ${what}`, "run out/sql/init-db.sql");
        }
        const ok = rows.some((r) =>
          (want.kind === undefined || r.kind === want.kind) &&
          (want.identityArguments === undefined || r.args === want.identityArguments)
        );
        if (ok) return pass();
        const kinds: Record<string, string> = { f: "function", p: "procedure" };
        return fail(
          `${what} ${name}(${want.identityArguments ?? "..."})`,
          rows.map((r) => `${kinds[r.kind] ?? r.kind} ${name}(${r.args})`).join("\n"),
          "out of date: run out/sql/init-db.sql (drop the old signature if it stays)",
        );
      }),
  };
}

/** The retention function checks, or one skip when the schema has none yet. */
export function retentionChecks(): Check[] {
  const fns = retentionFunctions();
  if (fns.length > 0) return fns.map((f) => functionCheck(f.name, "retention", f));
  return [{
    id: "postgres.retention",
    domain: "postgres",
    name: "postgres: retention functions exist",
    run: () => Promise.resolve(skip("no retention functions in this spec yet")),
  }];
}

/** The postgres domain. */
export function postgresChecks(model: StackModel): Check[] {
  return [
    databaseCheck(model),
    roleCheck(model),
    ...aiSchema.AI_EXTENSIONS.map(extensionCheck),
    ...aiSchema.AI_TABLES.map(tableColumnsCheck),
    ...aiSchema.AI_TABLES.map(tableConstraintsCheck),
    ...aiSchema.AI_TABLES.flatMap((t) => t.indexes.map((i) => indexCheck(i, t.name))),
    functionCheck(aiSchema.UPDATED_AT_FUNCTION, "updated_at"),
    ...aiSchema.AI_TRIGGERS.map(triggerCheck),
    ...retentionChecks(),
  ];
}

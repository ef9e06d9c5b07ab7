/**
 * SQL quoting, in one place: identifiers, literals, comments and trusted SQL
 * fragments, plus the private Handlebars instance that SQL templates are
 * rendered with.
 *
 * Rules (PostgreSQL):
 * - an identifier is always double-quoted, with `"` doubled; it must be 1 to 63
 *   bytes of UTF-8 (longer names are silently truncated by the server, so they
 *   are refused here) and hold no NUL;
 * - a string literal is single-quoted with `'` doubled. When it holds a
 *   backslash it is written as ` E'...'` with every backslash doubled, which
 *   reads the same whether `standard_conforming_strings` is on or off (the
 *   leading space keeps it from gluing onto a preceding identifier, as libpq's
 *   `PQescapeLiteral` does). NUL cannot be stored in PostgreSQL text and lone
 *   UTF-16 surrogates cannot be encoded as UTF-8: both are refused.
 *
 * In a template every value goes through a helper: `{{ident x}}`,
 * `{{lit x}}`, `{{comment x}}`, or `{{sql x}}` for a fragment the compiler
 * itself built with {@link sqlFragment}. A bare `{{x}}` or `{{{x}}}` is refused
 * when the template is compiled, so no value is ever pasted raw.
 *
 * @module
 */
import Handlebars from "handlebars";

/** Longest identifier PostgreSQL keeps (NAMEDATALEN - 1), in bytes. */
export const MAX_IDENTIFIER_BYTES = 63;

/** A value {@link quoteLiteral} accepts. */
export type SqlScalar = string | number | bigint | boolean | null;

const utf8 = new TextEncoder();

function checkText(what: string, text: string): void {
  if (text.includes("\0")) throw new Error(`${what} holds a NUL byte, which PostgreSQL refuses`);
  if (!text.isWellFormed()) {
    throw new Error(`${what} holds a lone UTF-16 surrogate, which is not valid UTF-8`);
  }
}

/**
 * Quotes an identifier (table, column, role, database, index, ...):
 * `a"b` becomes `"a""b"`. Always quotes, so case and keywords are preserved.
 * Throws on an empty name, a NUL, a lone surrogate or more than 63 bytes.
 */
export function quoteIdent(name: string): string {
  if (typeof name !== "string") {
    throw new Error(`an identifier must be a string, got ${typeof name}`);
  }
  if (name.length === 0) throw new Error("an identifier cannot be empty");
  checkText(`identifier ${JSON.stringify(name)}`, name);
  const bytes = utf8.encode(name).length;
  if (bytes > MAX_IDENTIFIER_BYTES) {
    throw new Error(
      `identifier ${
        JSON.stringify(name)
      } is ${bytes} bytes; PostgreSQL keeps only ${MAX_IDENTIFIER_BYTES}`,
    );
  }
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Quotes a literal: a string as `'...'` (or ` E'...'` when it holds a
 * backslash), a finite number or a bigint as its decimal form (a negative one
 * in parentheses, so `-{{lit x}}` can never become a `--` comment), a boolean
 * as `TRUE`/`FALSE`, and `null` as `NULL`. Throws on anything else, on a
 * non-finite number, on a NUL and on a lone surrogate.
 */
export function quoteLiteral(value: SqlScalar): string {
  if (value === null) return "NULL";
  switch (typeof value) {
    case "boolean":
      return value ? "TRUE" : "FALSE";
    case "number": {
      if (!Number.isFinite(value)) throw new Error(`cannot write ${value} as an SQL literal`);
      const text = String(Object.is(value, -0) ? 0 : value);
      return value < 0 ? `(${text})` : text;
    }
    case "bigint":
      return value < 0n ? `(${value})` : String(value);
    case "string": {
      checkText("string literal", value);
      const body = value.replaceAll("'", "''");
      return value.includes("\\") ? ` E'${body.replaceAll("\\", "\\\\")}'` : `'${body}'`;
    }
    default:
      throw new Error(`cannot write a value of type ${typeof value} as an SQL literal`);
  }
}

/**
 * Checks text for use inside an SQL line comment (`-- ...`): refuses line
 * breaks (which would end the comment and let the rest run as SQL), NUL and
 * lone surrogates. Returns the text unchanged.
 */
export function sqlComment(text: string): string {
  if (typeof text !== "string") throw new Error(`a comment must be a string, got ${typeof text}`);
  checkText("comment", text);
  if (/[\r\n\u2028\u2029\u0085\v\f]/.test(text)) {
    throw new Error("a comment cannot hold a line break");
  }
  return text;
}

/** A piece of SQL written by the compiler itself (a type, a default, an expression). */
export interface SqlFragment {
  /** The SQL text. */
  readonly text: string;
}

const fragments = new WeakSet<object>();

/**
 * Marks compiler-owned SQL text (never a value from the spec) as trusted, for
 * `{{sql x}}` in templates. Build any value it contains with
 * {@link quoteIdent} / {@link quoteLiteral}.
 */
export function sqlFragment(text: string): SqlFragment {
  checkText("SQL fragment", text);
  const f = Object.freeze({ text });
  fragments.add(f);
  return f;
}

/** True when `x` was made by {@link sqlFragment}. */
export function isSqlFragment(x: unknown): x is SqlFragment {
  return typeof x === "object" && x !== null && fragments.has(x);
}

/** The helpers SQL templates may call, by name. */
export const SQL_HELPERS: Readonly<Record<string, (value: never) => string>> = Object.freeze({
  ident: quoteIdent,
  lit: quoteLiteral,
  comment: sqlComment,
  sql: (value: unknown): string => {
    if (!isSqlFragment(value)) {
      throw new Error(
        "{{sql x}} takes only a fragment made by sqlFragment(); quote values instead",
      );
    }
    return value.text;
  },
});

/** Block helpers SQL templates may use (Handlebars built-ins). */
const BLOCK_HELPERS = new Set(["each", "if", "unless"]);

type HandlebarsInstance = typeof Handlebars;

/**
 * A private Handlebars instance (never the global one) with the SQL helpers
 * registered. Each helper takes exactly one argument.
 */
export function createSqlHandlebars(): HandlebarsInstance {
  const hb = Handlebars.create();
  // Strict mode does not reach helper arguments: a missing variable arrives
  // as `undefined`, which every helper, built-in blocks included, refuses.
  const missing = (name: string) =>
    new Error(`{{${name} ...}}: the variable is missing (undefined)`);
  for (const [name, fn] of Object.entries(SQL_HELPERS)) {
    hb.registerHelper(name, function (...args: unknown[]) {
      // Handlebars appends its options object to the arguments.
      if (args.length !== 2) {
        throw new Error(`{{${name} x}} takes exactly one argument, got ${args.length - 1}`);
      }
      if (args[0] === undefined) throw missing(name);
      return (fn as (v: unknown) => string)(args[0]);
    });
  }
  for (const name of BLOCK_HELPERS) {
    const builtin = hb.helpers[name];
    hb.registerHelper(name, function (this: unknown, ...args: unknown[]) {
      if (args.length !== 2) throw new Error(`{{#${name} x}} takes exactly one argument`);
      if (args[0] === undefined) throw missing(`#${name}`);
      return builtin.call(this, args[0], args[1]);
    });
  }
  return hb;
}

function where(node: unknown, name: string): string {
  const loc = (node as { loc?: { start?: { line: number; column: number } } }).loc;
  return loc?.start ? `${name}:${loc.start.line}:${loc.start.column + 1}` : name;
}

function pathName(node: unknown): string | undefined {
  const n = node as { type?: string; original?: unknown };
  return n.type === "PathExpression" && typeof n.original === "string" ? n.original : undefined;
}

/**
 * Refuses anything in a template's syntax tree that could paste a value raw:
 * a mustache that is not a call of one of {@link SQL_HELPERS} with one
 * argument, a partial, a decorator, or an unknown block helper.
 */
function checkTemplate(node: unknown, name: string): void {
  if (Array.isArray(node)) {
    for (const n of node) checkTemplate(n, name);
    return;
  }
  if (typeof node !== "object" || node === null) return;
  const n = node as Record<string, unknown> & { type?: string };
  switch (n.type) {
    case "MustacheStatement": {
      const helper = pathName(n.path);
      const params = n.params as unknown[];
      if (!helper || !(helper in SQL_HELPERS) || params.length !== 1) {
        throw new Error(
          `${where(n, name)}: a value must be written as {{ident x}}, {{lit x}}, {{comment x}} ` +
            `or {{sql x}}, not pasted raw`,
        );
      }
      if (pathName(params[0]) === undefined) {
        throw new Error(`${where(n, name)}: {{${helper} ...}} takes a variable, not a literal`);
      }
      return;
    }
    case "BlockStatement": {
      const helper = pathName(n.path);
      if (!helper || !BLOCK_HELPERS.has(helper)) {
        throw new Error(
          `${where(n, name)}: only {{#each}}, {{#if}} and {{#unless}} blocks are allowed`,
        );
      }
      checkTemplate(n.program, name);
      checkTemplate(n.inverse, name);
      return;
    }
    case "PartialStatement":
    case "PartialBlockStatement":
    case "Decorator":
    case "DecoratorBlock":
      throw new Error(
        `${where(n, name)}: partials and decorators are not allowed in SQL templates`,
      );
    case "Program":
      checkTemplate(n.body, name);
      return;
    default:
      return;
  }
}

/** A compiled SQL template: renders a view to SQL text. */
export type SqlTemplate = (view: Record<string, unknown>) => string;

/**
 * Compiles an SQL template after checking that every value in it goes through
 * a quoting helper. Compiled with `noEscape` (HTML escaping is wrong for SQL),
 * `strict` (a missing variable is an error) and `knownHelpersOnly`.
 *
 * @param source the template text
 * @param name the template's name, for error messages
 */
export function compileSqlTemplate(source: string, name: string): SqlTemplate {
  const hb = createSqlHandlebars();
  checkTemplate(hb.parse(source), name);
  const knownHelpers = Object.fromEntries(Object.keys(SQL_HELPERS).map((h) => [h, true]));
  const template = hb.compile(source, {
    noEscape: true,
    strict: true,
    knownHelpersOnly: true,
    knownHelpers,
  });
  return (view) => {
    try {
      return template(view);
    } catch (e) {
      throw new Error(`${name}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  };
}

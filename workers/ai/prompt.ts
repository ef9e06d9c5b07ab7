/**
 * The AI worker's prompts: a topic's Handlebars template (from the manifest)
 * rendered with the task's process variables.
 *
 * - No HTML escaping (`noEscape`): the prompt is text, not HTML.
 * - A variable the template uses at the top level (`{{instruction}}`) must
 *   exist: a missing one is reported by name ({@link renderPrompt} throws
 *   {@link MissingVariablesError}); retrying cannot help, so the worker
 *   raises the incident at once.
 * - Helper `json`: `{{json order}}` writes a variable as JSON (a `Json`
 *   variable otherwise renders as `[object Object]`).
 * - Only the variables the template uses are fetched from Camunda
 *   ({@link templateVariables}), unless it changes context (`#each`, `#with`),
 *   in which case all are.
 *
 * @module
 */
import Handlebars from "handlebars";

/** A template compiled once per topic. */
export interface PromptTemplate {
  /** The template text. */
  source: string;
  /** Top-level variables whose absence is an error. */
  required: string[];
  /** Variables to fetch with the task (undefined: all). */
  fetch: string[] | undefined;
  /** Renders with the variables' values. */
  render(values: Record<string, unknown>): string;
}

/** Variables the template needs are missing. */
export class MissingVariablesError extends Error {
  /** The missing names. */
  readonly names: string[];
  /** Creates one. */
  constructor(names: string[]) {
    super(
      `the prompt template needs process variable${names.length > 1 ? "s" : ""} ` +
        `${names.map((n) => JSON.stringify(n)).join(", ")}, which the task does not have`,
    );
    this.name = "MissingVariablesError";
    this.names = names;
  }
}

const hbs = Handlebars.create();
hbs.registerHelper("json", (v: unknown) => JSON.stringify(v ?? null));

const BUILT_IN = new Set([
  "if",
  "unless",
  "each",
  "with",
  "lookup",
  "log",
  "json",
  "helperMissing",
  "blockHelperMissing",
]);

// Minimal shapes of the Handlebars AST nodes the walker reads.
interface Node {
  type: string;
  [k: string]: unknown;
}

/** What a template references: simple top-level names, and whether it changes context. */
export function templateVariables(
  source: string,
): { required: string[]; all: string[]; changesContext: boolean } {
  const ast = hbs.parse(source) as unknown as Node;
  const required = new Set<string>();
  const all = new Set<string>();
  let changesContext = false;
  const pathName = (p: unknown): string | undefined => {
    const n = p as Node | undefined;
    if (!n || n.type !== "PathExpression" || n.data) return undefined;
    if ((n.depth as number) > 0 || (n.original as string).startsWith("this")) return undefined;
    const parts = n.parts as string[];
    return parts.length > 0 ? parts[0] : undefined;
  };
  const walk = (n: unknown, inBlock: boolean) => {
    if (!n || typeof n !== "object") return;
    const node = n as Node;
    switch (node.type) {
      case "Program":
        for (const s of node.body as unknown[]) walk(s, inBlock);
        return;
      case "MustacheStatement":
      case "SubExpression":
      case "BlockStatement": {
        const params = (node.params as unknown[]) ?? [];
        const hash = node.hash as Node | undefined;
        const head = pathName(node.path);
        const isHelperCall = params.length > 0 || (hash && (hash.pairs as unknown[]).length > 0) ||
          node.type !== "MustacheStatement";
        if (head && !isHelperCall && !BUILT_IN.has(head)) {
          all.add(head);
          if (!inBlock) required.add(head);
        }
        if (node.type === "BlockStatement" && (head === "each" || head === "with")) {
          changesContext = true;
        }
        for (const p of params) {
          const name = pathName(p);
          if (name) all.add(name);
          else walk(p, inBlock);
        }
        for (const pair of ((hash?.pairs as Node[]) ?? [])) {
          const name = pathName(pair.value);
          if (name) all.add(name);
          else walk(pair.value, inBlock);
        }
        if (node.type === "BlockStatement") {
          walk(node.program, true);
          walk(node.inverse, true);
        }
        return;
      }
      default:
        return;
    }
  };
  walk(ast, false);
  return { required: [...required], all: [...all], changesContext };
}

/** Compiles a topic's template. Throws on a syntax error. */
export function compilePrompt(source: string): PromptTemplate {
  const refs = templateVariables(source);
  const fn = hbs.compile(source, { noEscape: true, strict: false });
  return {
    source,
    required: refs.required,
    fetch: refs.changesContext ? undefined : refs.all,
    render(values) {
      const missing = refs.required.filter((n) => values[n] === undefined);
      if (missing.length > 0) throw new MissingVariablesError(missing);
      return fn(values);
    },
  };
}

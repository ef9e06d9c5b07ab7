/**
 * Stage 1 of the pipeline: read a spec file and parse it, keeping where every
 * key and value is, so that every later stage can say file:line:column.
 *
 * Refused here, each as a located {@link Diagnostic} (thrown together in one
 * {@link SpecError}, never a stack trace): a path that is missing or not a
 * file, a file over {@link MAX_SPEC_BYTES} (refused from `Deno.stat` alone,
 * without reading it), bytes that are not UTF-8, YAML syntax errors
 * (including tab indentation, duplicate keys and several documents in one
 * file), unknown tags, keys that are not plain scalars, aliases to anchors
 * that do not exist, alias bombs (more than {@link MAX_ALIAS_COUNT} alias
 * expansions), nesting deeper than {@link MAX_NESTING_DEPTH} levels
 * (`yaml_nesting.ts`), an alias inside the value it names, merge keys that
 * cannot be merged, and an empty file.
 *
 * YAML merge keys (`<<: *anchor`, `<<: [*a, *b]`) are merged as YAML 1.1
 * and Compose do (`yaml_merge.ts`): a key written in the mapping wins over
 * a merged one, and a merged value is located where it is written, inside
 * the anchored mapping.
 *
 * @module
 */
import { Composer, isAlias, isScalar, LineCounter, Parser, visit, YAMLParseError } from "yaml";
import type { CST, Document, Node, Pair } from "yaml";
import { type Diagnostic, SpecError } from "./diagnostics.ts";
import { decodeUtf8, firstInvalidUtf8, readCapped } from "./spec_bytes.ts";
import { findNode, mergeProblems, pathOfKeyAt } from "./yaml_merge.ts";
import {
  cstTooDeep,
  documentTooDeep,
  flowTooDeep,
  MAX_NESTING_DEPTH,
  type TooDeep,
} from "./yaml_nesting.ts";

export { firstInvalidUtf8, MAX_NESTING_DEPTH };

/** The largest spec file accepted, in bytes (10 MiB). */
export const MAX_SPEC_BYTES = 10 * 1024 * 1024;

/** The most alias expansions `yaml` may do while building the value. */
export const MAX_ALIAS_COUNT = 100;

/** A 1-based position in a file. */
export interface Position {
  /** 1-based line. */
  line: number;
  /** 1-based column (in UTF-16 code units, as editors count). */
  column: number;
}

/** A key path such as `["services", "postgres", "ports", 0, "published"]`. */
export type KeyPath = readonly (string | number)[];

/**
 * What {@link Locator} points at when the path exists: the key (for a
 * sequence item, the item itself) or the value.
 */
export type LocateTarget = "key" | "value";

/**
 * Maps a key path to a position in the file. The contract, used the same way
 * by every stage:
 *
 * - path exists, target `"key"` (the default): the key's position (for a
 *   sequence item, the item's). Used for problems with an entry as a whole
 *   (an unknown key, a secret that cannot be resolved, a duplicate name).
 * - path exists, target `"value"`: the value's position (the key's when the
 *   value is empty). Used for problems with a value (wrong type, bad format,
 *   a reference to something that does not exist).
 * - path missing: the key of the deepest ancestor that exists (so a missing
 *   key is reported at its parent mapping's key); the start of the document
 *   when not even the first key exists.
 *
 * Aliases and merge keys are followed, so a path through `*anchor` or a
 * `<<` is located where the value is written, inside the anchored value.
 */
export type Locator = (path: KeyPath, target?: LocateTarget) => Position;

/** A parsed spec file. */
export interface LoadedFile {
  /** The path as given. */
  file: string;
  /** The file's bytes (for the spec hash). */
  bytes: Uint8Array<ArrayBuffer>;
  /** The file's text. */
  text: string;
  /** The parsed value (plain objects, arrays and scalars). */
  value: unknown;
  /** Maps key paths to positions; see {@link Locator}. */
  locate: Locator;
  /** True when the path exists in the file (aliases and merges followed). */
  has(path: KeyPath): boolean;
}

/** Options of {@link loadFile}. */
export interface LoadFileOptions {
  /** Size cap in bytes; defaults to {@link MAX_SPEC_BYTES}. */
  maxBytes?: number;
}

/**
 * Reads and parses a spec file. Throws {@link SpecError} (and nothing else)
 * for a file that cannot be read or parsed, with every problem found.
 */
export async function loadFile(file: string, opts: LoadFileOptions = {}): Promise<LoadedFile> {
  const bytes = await readCapped(file, opts.maxBytes ?? MAX_SPEC_BYTES);
  return parseSpecBytes(file, bytes);
}

/**
 * Parses the bytes of a spec file (UTF-8 YAML). Pure apart from the `yaml`
 * library's reads of its debug environment variables. Throws
 * {@link SpecError}.
 */
export function parseSpecBytes(file: string, bytes: Uint8Array<ArrayBuffer>): LoadedFile {
  const text = decodeUtf8(file, bytes);
  const lineCounter = new LineCounter();
  const pos = (offset: number): Position => {
    const p = lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
    return { line: Math.max(1, p.line), column: Math.max(1, p.col) };
  };
  const at = (offset: number, message: string, hint?: string, path: KeyPath = []): Diagnostic => ({
    file,
    ...pos(offset),
    path: [...path],
    message,
    ...(hint ? { hint } : {}),
  });
  const tooDeep = (d: TooDeep): SpecError => {
    if (d.cycle) {
      return new SpecError([at(
        d.offset,
        `alias *${d.alias} is used inside the value it names, so that value would contain itself`,
        `write the inner value out, or move \`*${d.alias}\` after the end of \`&${d.alias}\``,
        d.path,
      )]);
    }
    const levels = `more than ${MAX_NESTING_DEPTH} levels of mappings and lists`;
    return new SpecError([at(
      d.offset,
      d.alias
        ? `the nesting is too deep: with what *${d.alias} stands for, ${levels} (each merge counted as one)`
        : `the nesting is too deep: ${levels}`,
      d.alias ? "nest the anchored value less, or write it out" : "nest the values less deeply",
      d.path,
    )]);
  };

  // The nesting is checked before anything recursive reads the file.
  // Too many brackets: the text up to the first one too many has the path.
  const flow = flowTooDeep(text);
  const parsed = flow ? text.slice(0, flow.offset + 1) : text;
  const tokens: CST.Token[] = [...new Parser(lineCounter.addNewLine).parse(parsed)];
  const deep = cstTooDeep(tokens) ?? flow;
  if (deep) throw tooDeep(deep);
  const doc = composeOne(tokens, text.length);

  const problems: Diagnostic[] = [];
  // A tab indent derails the parser for the lines after it: report the tabs
  // alone, not the errors they cause.
  const yamlErrors = [...doc.errors, ...doc.warnings];
  const tabs = yamlErrors.filter((e) => e.code === "TAB_AS_INDENT");
  for (const e of tabs.length ? tabs : yamlErrors) {
    const p = yamlProblem(file, text, e.code, e.message, e.pos[0], pos);
    if (e.code === "DUPLICATE_KEY") p.path = [...(pathOfKeyAt(doc, e.pos[0]) ?? [])];
    problems.push(p);
  }
  if (problems.length > 0) throw new SpecError(problems);

  if (doc.contents === null) {
    throw new SpecError([
      at(0, "the file is empty", "start from the reference spec, procos.config.yaml"),
    ]);
  }

  // Keys must be plain scalars, and every alias must name an anchor.
  let firstAlias: number | undefined;
  visit(doc, {
    Pair(_, pair) {
      const key = (pair as Pair<unknown, unknown>).key;
      if (key !== null && !isScalar(key)) {
        const k = key as Node;
        problems.push(at(
          k.range?.[0] ?? 0,
          isAlias(k) ? "an alias is used as a key" : "a key is a list or a mapping",
          "write keys as plain names, e.g. `postgres:`",
        ));
      }
    },
    Alias(_, alias) {
      firstAlias ??= alias.range?.[0] ?? 0;
      if (alias.resolve(doc) === undefined) {
        problems.push(at(
          alias.range?.[0] ?? 0,
          `alias *${alias.source} names no anchor defined before it`,
          `define \`&${alias.source}\` earlier in the file, or write the value out`,
        ));
      }
    },
  });
  if (problems.length > 0) throw new SpecError(problems);
  for (const m of mergeProblems(doc)) {
    problems.push(at(m.node.range?.[0] ?? 0, m.message, m.hint, m.path));
  }
  if (problems.length > 0) throw new SpecError(problems);
  const aliased = documentTooDeep(doc);
  if (aliased) throw tooDeep(aliased);

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (/alias/i.test(message)) {
      throw new SpecError([at(
        firstAlias ?? 0,
        `aliases expand to too many values (over ${MAX_ALIAS_COUNT}): this looks like an alias bomb`,
        "write the values out instead of nesting aliases",
      )]);
    }
    throw new SpecError([at(0, `the YAML cannot be read: ${message}`)]);
  }

  const find = (path: KeyPath) => findNode(doc, path);
  const locate: Locator = (path, target = "key") => {
    const hit = find(path);
    if (hit.found === path.length) {
      const v = hit.value;
      const empty = isScalar(v) && v.value === null && v.range?.[0] === v.range?.[1];
      const node = target === "value" && v && !empty ? v : hit.key;
      if (node?.range) return pos(node.range[0]);
    }
    // Missing (or no range): the deepest ancestor that exists, at its key.
    const anc = find(path.slice(0, hit.found));
    const node = anc.key ?? doc.contents;
    return pos(node?.range?.[0] ?? 0);
  };
  return {
    file,
    bytes,
    text,
    value,
    locate,
    has: (path) => find(path).found === path.length,
  };
}

/** The options of the `yaml` parse: merge keys on, duplicate keys and bad tags refused. */
const PARSE_OPTIONS = {
  merge: true,
  uniqueKeys: true,
  prettyErrors: false,
  strict: true,
} as const;

/**
 * Composes the parsed tokens into one document, as `yaml`'s `parseDocument`
 * does: a second document is a MULTIPLE_DOCS error.
 */
function composeOne(tokens: CST.Token[], length: number): Document {
  const composer = new Composer(PARSE_OPTIONS);
  let doc: Document | undefined;
  for (const d of composer.compose(tokens, true, length)) {
    if (!doc) {
      doc = d;
      continue;
    }
    doc.errors.push(
      new YAMLParseError(
        [d.range[0], d.range[1]],
        "MULTIPLE_DOCS",
        "Source contains multiple documents",
      ),
    );
    break;
  }
  return doc!;
}

const YAML_HINTS: Record<string, [string, string]> = {
  TAB_AS_INDENT: ["a tab is used for indentation", "indent with spaces, not tabs"],
  DUPLICATE_KEY: ["", "remove one of them, or rename it: keys must be unique in a mapping"],
  MULTIPLE_DOCS: [
    "the file holds several YAML documents (`---`)",
    "keep one document per spec file",
  ],
  TAG_RESOLVE_FAILED: ["", "remove the tag: the spec uses plain YAML values only"],
  BAD_INDENT: ["", "check the indentation of this line against the lines above"],
  BLOCK_AS_IMPLICIT_KEY: ["", "put the nested mapping on its own, indented lines"],
  MISSING_CHAR: ["", "check for a missing `:`, closing bracket or quote"],
  UNEXPECTED_TOKEN: ["", "check the quoting and indentation around here"],
  RESOURCE_EXHAUSTION: [
    `the nesting is too deep: more than ${MAX_NESTING_DEPTH} levels of mappings and lists`,
    "nest the values less deeply",
  ],
};

function yamlProblem(
  file: string,
  text: string,
  code: string,
  yamlMessage: string,
  offset: number,
  pos: (offset: number) => Position,
): Diagnostic {
  const [message, hint] = YAML_HINTS[code] ?? ["", "check the YAML syntax around here"];
  let msg = message;
  if (code === "DUPLICATE_KEY") {
    const key = /^[^\s:#,\]}]+|^"[^"\n]*"|^'[^'\n]*'/.exec(text.slice(offset))?.[0];
    msg = key ? `duplicate key \`${key}\`` : "duplicate key";
  } else if (code === "TAG_RESOLVE_FAILED") {
    msg = `unknown tag ${/!\S*/.exec(yamlMessage)?.[0] ?? ""}`.trim();
  } else if (!msg) {
    const plain = yamlMessage.replace(/ at line \d+, column \d+[\s\S]*$/, "");
    msg = `YAML syntax error: ${plain.charAt(0).toLowerCase()}${plain.slice(1)}`;
  }
  return { file, ...pos(offset), path: [], message: msg, hint };
}

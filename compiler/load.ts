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
 * expansions) and an empty file.
 *
 * @module
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit } from "yaml";
import type { Document, Node, Pair } from "yaml";
import { type Diagnostic, SpecError } from "./diagnostics.ts";

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
 * Aliases are followed, so a path through `*anchor` is located at the anchor.
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
  /** True when the path exists in the file (aliases followed). */
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
  const doc = parseDocument(text, {
    lineCounter,
    uniqueKeys: true,
    prettyErrors: false,
    strict: true,
  });
  const pos = (offset: number): Position => {
    const p = lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
    return { line: Math.max(1, p.line), column: Math.max(1, p.col) };
  };
  const at = (offset: number, message: string, hint?: string): Diagnostic => ({
    file,
    ...pos(offset),
    path: [],
    message,
    ...(hint ? { hint } : {}),
  });

  const problems: Diagnostic[] = [];
  // A tab indent derails the parser for the lines after it: report the tabs
  // alone, not the errors they cause.
  const yamlErrors = [...doc.errors, ...doc.warnings];
  const tabs = yamlErrors.filter((e) => e.code === "TAB_AS_INDENT");
  for (const e of tabs.length ? tabs : yamlErrors) {
    problems.push(yamlProblem(file, text, e.code, e.message, e.pos[0], pos));
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

/** What {@link findNode} found along a path. */
interface Found {
  /** How many leading segments of the path exist. */
  found: number;
  /** The key node of the last segment found (the item, in a sequence). */
  key?: Node;
  /** The value node of the last segment found. */
  value?: Node;
}

function keyText(key: unknown): string | undefined {
  if (!isScalar(key)) return undefined;
  return key.value === null ? "" : String(key.value);
}

function findNode(doc: Document, path: KeyPath): Found {
  let node: unknown = doc.contents;
  const out: Found = { found: 0, key: (doc.contents ?? undefined) as Node | undefined };
  out.value = out.key;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      let pair: Pair<unknown, unknown> | undefined;
      for (const p of node.items) if (keyText(p.key) === String(seg)) pair = p;
      if (!pair) return out;
      out.key = (pair.key ?? undefined) as Node | undefined;
      out.value = (pair.value ?? undefined) as Node | undefined;
      node = pair.value;
    } else if (isSeq(node)) {
      const i = typeof seg === "number" ? seg : /^[0-9]+$/.test(seg) ? Number(seg) : -1;
      if (!(i >= 0 && i < node.items.length)) return out;
      const item = node.items[i] as Node | null;
      if (item === null) return out;
      out.key = item;
      out.value = isAlias(item) ? (item.resolve(doc) as Node | undefined) ?? item : item;
      node = item;
    } else {
      return out;
    }
    out.found++;
  }
  return out;
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

/** Reads at most `max` bytes, refusing bigger files from their size alone. */
async function readCapped(file: string, max: number): Promise<Uint8Array<ArrayBuffer>> {
  const fail = (message: string, hint?: string): SpecError =>
    new SpecError([{ file, line: 1, column: 1, path: [], message, ...(hint ? { hint } : {}) }]);
  const tooBig = (size: number) =>
    fail(
      `the file is ${formatBytes(size)}, over the ${formatBytes(max)} limit for a spec`,
      "check that this is the spec file; a ProcOS spec is a few kilobytes",
    );
  let f: Deno.FsFile | undefined;
  try {
    const info = await Deno.stat(file);
    if (info.isDirectory) {
      throw fail(
        "this is a directory, not a spec file",
        "pass the spec file itself, e.g. procos.config.yaml",
      );
    }
    if (info.size > max) throw tooBig(info.size);
    f = await Deno.open(file, { read: true });
    const chunks: Uint8Array[] = [];
    let total = 0;
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await f.read(buf);
      if (n === null) break;
      total += n;
      if (total > max) throw tooBig(total);
      chunks.push(buf.slice(0, n));
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  } catch (e) {
    if (e instanceof SpecError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw fail(
        "the spec file does not exist",
        `check the path; relative paths start from ${Deno.cwd()}`,
      );
    }
    if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
      throw fail(
        "the spec file cannot be read: permission denied",
        "check the file's permissions, and run deno with --allow-read",
      );
    }
    const what = e instanceof Error ? e.message : String(e);
    throw fail(
      `the spec file cannot be read: ${what}`,
      "check that the path names a readable file",
    );
  } finally {
    f?.close();
  }
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${+(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}

/** Decodes UTF-8, reporting the line and column of the first bad byte. */
function decodeUtf8(file: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const bad = firstInvalidUtf8(bytes);
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < bad; i++) {
      if (bytes[i] === 0x0a) {
        line++;
        lineStart = i + 1;
      }
    }
    const before = new TextDecoder("utf-8").decode(bytes.subarray(lineStart, bad));
    const hex = bytes[bad]?.toString(16).toUpperCase().padStart(2, "0") ?? "??";
    throw new SpecError([{
      file,
      line,
      column: before.length + 1,
      path: [],
      message: `the file is not valid UTF-8: byte 0x${hex} cannot start or continue a character`,
      hint: "save the file as UTF-8",
    }]);
  }
}

/** The offset of the first byte that is not part of a valid UTF-8 sequence. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  const cont = (i: number, lo = 0x80, hi = 0xbf) =>
    i < bytes.length && bytes[i] >= lo && bytes[i] <= hi;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    let n = 0;
    if (b < 0x80) n = 1;
    else if (b >= 0xc2 && b <= 0xdf) n = cont(i + 1) ? 2 : 0;
    else if (b === 0xe0) n = cont(i + 1, 0xa0) && cont(i + 2) ? 3 : 0;
    else if (b === 0xed) n = cont(i + 1, 0x80, 0x9f) && cont(i + 2) ? 3 : 0;
    else if (b >= 0xe1 && b <= 0xef) n = cont(i + 1) && cont(i + 2) ? 3 : 0;
    else if (b === 0xf0) n = cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    else if (b >= 0xf1 && b <= 0xf3) n = cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    else if (b === 0xf4) n = cont(i + 1, 0x80, 0x8f) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    if (n === 0) return i;
    i += n;
  }
  return -1;
}

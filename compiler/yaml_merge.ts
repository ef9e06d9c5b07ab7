/**
 * YAML merge keys (`<<: *anchor`, `<<: [*a, *b]`, as YAML 1.1 and Compose
 * files write them) over the parsed document: finding the node a key path
 * names, through aliases and merges, so that a value is located where it is
 * written; the key path of a node; and the merge keys `yaml` cannot merge.
 *
 * The lookup follows `yaml`'s merge order, so it finds the value `toJS`
 * gives: a key written in the mapping itself wins over every merged one
 * (wherever the `<<` is), then the merged mappings in their order (in
 * `<<: [*a, *b]`, `a` before `b`), each with its own merges after its own
 * keys.
 *
 * @module
 */
import { isAlias, isMap, isScalar, isSeq } from "yaml";
import type { Document, Node, Pair, YAMLMap, YAMLSeq } from "yaml";
import type { KeyPath } from "./load.ts";

/** What {@link findNode} found along a path. */
export interface Found {
  /** How many leading segments of the path exist. */
  found: number;
  /** The key node of the last segment found (the item, in a sequence). */
  key?: Node;
  /** The value node of the last segment found. */
  value?: Node;
}

/** True for the key of a merge (`<<`, which `yaml` parses as a symbol). */
export function isMergeKey(key: unknown): boolean {
  return isScalar(key) && typeof key.value === "symbol" && key.value.description === "<<";
}

/** A key's name as a path segment; undefined for a merge key or a complex key. */
export function keyText(key: unknown): string | undefined {
  if (!isScalar(key) || typeof key.value === "symbol") return undefined;
  return key.value === null ? "" : String(key.value);
}

/** The node an alias names (the last anchor of that name before it), or the node itself. */
export function deref(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

/**
 * The mappings a merge value stands for, in merge order: `*a`, `{...}`,
 * `[*a, *b]` or an alias of such a list. Anything else is left out (see
 * {@link mergeProblems}).
 */
export function mergeSources(doc: Document, value: unknown): YAMLMap[] {
  const v = deref(doc, value);
  const items = isSeq(v) ? v.items.map((i) => deref(doc, i)) : [v];
  return items.filter((i): i is YAMLMap => isMap(i));
}

/**
 * The pair that gives `key` its value in `map`: its own pair, else the first
 * merged one (merges followed depth-first, each mapping once).
 */
export function lookupPair(doc: Document, map: YAMLMap, key: string): Pair | undefined {
  const seen = new Set<YAMLMap>();
  const search = (m: YAMLMap): Pair | undefined => {
    if (seen.has(m)) return undefined;
    seen.add(m);
    const items = m.items as Pair[];
    for (const p of items) if (keyText(p.key) === key) return p;
    for (const p of items) {
      if (!isMergeKey(p.key)) continue;
      for (const source of mergeSources(doc, p.value)) {
        const hit = search(source);
        if (hit) return hit;
      }
    }
    return undefined;
  };
  return search(map);
}

/** Follows a key path through the document, aliases and merges included. */
export function findNode(doc: Document, path: KeyPath): Found {
  let node: unknown = doc.contents;
  const out: Found = { found: 0, key: (doc.contents ?? undefined) as Node | undefined };
  out.value = out.key;
  for (const seg of path) {
    node = deref(doc, node);
    if (isMap(node)) {
      const pair = lookupPair(doc, node, String(seg));
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

/** A problem with a merge key, at a node of the document. */
export interface MergeProblem {
  /** Where it is. */
  node: Node;
  /** The key path of the mapping's `<<`. */
  path: KeyPath;
  /** What is wrong. */
  message: string;
  /** What to do about it. */
  hint: string;
}

/**
 * Calls `fn` for every collection of the document as written (aliases not
 * followed), with its key path. Recursive: call it only on a document whose
 * nesting is checked (see `yaml_nesting.ts`).
 */
export function eachCollection(
  doc: Document,
  fn: (node: YAMLMap | YAMLSeq, path: KeyPath) => void,
): void {
  const walk = (node: unknown, path: KeyPath): void => {
    if (isMap(node)) {
      fn(node, path);
      for (const p of node.items as Pair[]) {
        const k = isMergeKey(p.key) ? "<<" : keyText(p.key);
        if (k !== undefined) walk(p.value, [...path, k]);
      }
    } else if (isSeq(node)) {
      fn(node, path);
      node.items.forEach((item, i) => walk(item, [...path, i]));
    }
  };
  walk(doc.contents, []);
}

/** The key path of the key written at `offset`, if a key starts there. */
export function pathOfKeyAt(doc: Document, offset: number): KeyPath | undefined {
  let hit: KeyPath | undefined;
  eachCollection(doc, (node, path) => {
    if (hit || !isMap(node)) return;
    for (const p of node.items as Pair[]) {
      const k = p.key as Node | null;
      if (k?.range?.[0] === offset) {
        hit = [...path, isMergeKey(k) ? "<<" : keyText(k) ?? "?"];
        return;
      }
    }
  });
  return hit;
}

const SOURCE_HINT = "merge a mapping: `<<: *name` (with `&name` on a mapping), or `<<: [*a, *b]`";

function kindOf(node: unknown): string {
  if (isSeq(node)) return "a list";
  if (isMap(node)) return "a mapping";
  if (isScalar(node)) return node.value === null ? "empty" : "a single value";
  return "nothing";
}

/**
 * The merge keys `yaml` cannot merge: a value that is not a mapping, an
 * alias of one, or a list of them; and a second `<<` in one mapping (a
 * duplicate key: one `<<` takes a list).
 */
export function mergeProblems(doc: Document): MergeProblem[] {
  const out: MergeProblem[] = [];
  eachCollection(doc, (node, path) => {
    if (!isMap(node)) return;
    let merges = 0;
    for (const p of node.items as Pair[]) {
      if (!isMergeKey(p.key)) continue;
      const at = [...path, "<<"];
      if (++merges > 1) {
        out.push({
          node: p.key as Node,
          path: at,
          message: "duplicate key `<<`",
          hint: "merge several mappings with one key: `<<: [*a, *b]`",
        });
        continue;
      }
      const v = deref(doc, p.value);
      const items = isSeq(v) ? v.items : [p.value];
      for (const item of items) {
        const source = deref(doc, item);
        if (isMap(source)) continue;
        const written = (item ?? p.value ?? p.key) as Node;
        const where = written.range ? written : p.key as Node;
        out.push({
          node: where,
          path: at,
          message: `a merge key \`<<\` takes mappings, but this is ${kindOf(source)}`,
          hint: SOURCE_HINT,
        });
      }
    }
  });
  return out;
}

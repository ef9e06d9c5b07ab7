/**
 * The nesting limit of a spec file: no more than {@link MAX_NESTING_DEPTH}
 * levels of mappings and lists, checked before anything recursive reads the
 * file, so that hostile nesting is a located diagnostic at the place it gets
 * too deep, never a stack overflow.
 *
 * Three checks, in the order the loader runs them:
 *
 * 1. {@link flowTooDeep}: brackets and braces, from the lexer's tokens
 *    (cheap, and stops at the first bracket too many);
 * 2. {@link cstTooDeep}: every collection, from the parser's concrete syntax
 *    tree (built without recursion), before the document is composed;
 * 3. {@link documentTooDeep}: the composed document with what its aliases
 *    and merge keys stand for (each merge counts as a level, as it does for
 *    the `yaml` library's conversion), and aliases used inside the value
 *    they name (a value that would contain itself).
 *
 * @module
 */
import { CST, isAlias, isMap, isScalar, isSeq, Lexer } from "yaml";
import type { Alias, Document, Node, Pair } from "yaml";
import type { KeyPath } from "./load.ts";
import { isMergeKey, keyText } from "./yaml_merge.ts";

/** The most levels of nested mappings and lists a spec file may have. */
export const MAX_NESTING_DEPTH = 64;

/** Where the nesting gets too deep. */
export interface TooDeep {
  /** The offset of the collection (or alias) one level too deep. */
  offset: number;
  /** Its key path, as far as it is known. */
  path: KeyPath;
  /** The alias whose value makes it too deep, if it is an alias. */
  alias?: string;
  /** True when the alias is used inside the value it names. */
  cycle?: boolean;
}

/** The first `[` or `{` nested more than the limit deep, from the lexer alone. */
export function flowTooDeep(text: string, limit = MAX_NESTING_DEPTH): TooDeep | undefined {
  let offset = 0;
  let depth = 0;
  let atScalar = false;
  for (const source of new Lexer().lex(text)) {
    if (atScalar) {
      atScalar = false;
      offset += source.length;
      continue;
    }
    const type = CST.tokenType(source);
    if (type === "scalar") {
      atScalar = true;
      continue;
    }
    if (type === "doc-mode" || type === "flow-error-end") continue;
    if (type === "flow-map-start" || type === "flow-seq-start") {
      if (++depth > limit) return { offset, path: [] };
    } else if (type === "flow-map-end" || type === "flow-seq-end") {
      depth = Math.max(0, depth - 1);
    }
    offset += source.length;
  }
  return undefined;
}

function cstKey(token: CST.Token | null | undefined, index: number): string | number {
  if (!token) return index;
  // Not strict, errors ignored: the composer reports them, located.
  const scalar = CST.isScalar(token) ? CST.resolveAsScalar(token, false, () => {}) : null;
  return scalar ? scalar.value : index;
}

/**
 * The first collection of the concrete syntax tree nested more than the
 * limit deep. Recursive only down to the limit.
 */
export function cstTooDeep(tokens: CST.Token[], limit = MAX_NESTING_DEPTH): TooDeep | undefined {
  const walk = (
    t: CST.Token | null | undefined,
    depth: number,
    path: KeyPath,
  ): TooDeep | undefined => {
    if (!t) return undefined;
    if (t.type === "document") return walk(t.value, depth, path);
    if (!CST.isCollection(t)) return undefined;
    const d = depth + 1;
    if (d > limit) {
      return { offset: t.type === "flow-collection" ? t.start.offset : t.offset, path };
    }
    const seq = t.type === "block-seq" || (t.type === "flow-collection" && t.start.source === "[");
    for (const [i, item] of t.items.entries()) {
      const pair = "key" in item || item.sep?.some((s) => s.type === "map-value-ind");
      // A `key: value` item of a flow list is a mapping of its own.
      if (seq && pair) {
        if (d + 1 > limit) return { offset: item.start[0]?.offset ?? t.offset, path: [...path, i] };
        const inner = [...path, i, cstKey(item.key, 0)];
        const hit = walk(item.key, d + 1, [...path, i]) ?? walk(item.value, d + 1, inner);
        if (hit) return hit;
        continue;
      }
      const at: KeyPath = seq ? [...path, i] : [...path, cstKey(item.key, i)];
      const hit = ("key" in item ? walk(item.key, d, path) : undefined) ?? walk(item.value, d, at);
      if (hit) return hit;
    }
    return undefined;
  };
  for (const t of tokens) {
    const hit = walk(t, 0, []);
    if (hit) return hit;
  }
  return undefined;
}

/**
 * The first place where the composed document, with what its aliases and
 * merges stand for, nests more than the limit deep; or the first alias used
 * inside the value it names. Recursive only over the document as written
 * (whose nesting {@link cstTooDeep} has checked).
 */
export function documentTooDeep(doc: Document, limit = MAX_NESTING_DEPTH): TooDeep | undefined {
  // The levels each node needs (a scalar 0, a collection 1 + its deepest
  // child, a merge 1 + its source), in document order: an anchor's value is
  // complete before any alias of it, unless the alias is inside it.
  const anchors = new Map<string, Node>();
  const levels = new Map<unknown, number>();
  let cycle: { alias: Alias; offset: number } | undefined;
  const measure = (node: unknown): number => {
    if (isAlias(node)) {
      const t = anchors.get(node.source);
      const n = t === undefined ? 0 : levels.get(t);
      if (n === undefined) {
        cycle ??= { alias: node, offset: node.range?.[0] ?? 0 };
        return Infinity;
      }
      levels.set(node, n);
      return n;
    }
    if (isScalar(node) || isMap(node) || isSeq(node)) {
      if (node.anchor) anchors.set(node.anchor, node);
    }
    if (!isMap(node) && !isSeq(node)) {
      levels.set(node, 0);
      return 0;
    }
    let max = 0;
    for (const item of node.items) {
      if (isMap(node)) {
        const p = item as Pair;
        measure(p.key);
        max = Math.max(max, isMergeKey(p.key) ? measureMerge(p.value) : measure(p.value));
      } else {
        max = Math.max(max, measure(item));
      }
    }
    levels.set(node, 1 + max);
    return 1 + max;
  };
  const measureMerge = (value: unknown): number => {
    // `<<: [*a, *b]` merges the list's mappings: the list itself is no level.
    if (isSeq(value) && !value.anchor) {
      let max = 0;
      for (const item of value.items) max = Math.max(max, measure(item));
      levels.set(value, max);
      return max;
    }
    return measure(value);
  };
  if (isScalar(doc.contents) || !doc.contents) return undefined;
  const total = measure(doc.contents);
  if (cycle) {
    return {
      offset: cycle.offset,
      path: pathTo(doc.contents, cycle.alias) ?? [],
      alias: cycle.alias.source,
      cycle: true,
    };
  }
  if (total <= limit) return undefined;

  // Walk down the deepest way: the first alias on it is what makes it deep.
  let node: unknown = doc.contents;
  let depth = 1;
  let path: KeyPath = [];
  for (;;) {
    if (isAlias(node)) return { offset: node.range?.[0] ?? 0, path, alias: node.source };
    if (depth > limit || (!isMap(node) && !isSeq(node))) {
      return { offset: (node as Node | null)?.range?.[0] ?? 0, path };
    }
    const over = (child: unknown, at: number) => at - 1 + (levels.get(child) ?? 0) > limit;
    let next: { node: unknown; depth: number; path: KeyPath } | undefined;
    for (const [i, item] of node.items.entries()) {
      if (isSeq(node)) {
        if (over(item, depth + 1)) next = { node: item, depth: depth + 1, path: [...path, i] };
      } else {
        const p = item as Pair;
        if (isMergeKey(p.key)) {
          const v = p.value;
          if (over(v, depth + 1)) {
            next = isSeq(v) && !v.anchor
              ? { node: v.items.find((s) => over(s, depth + 1)), depth: depth + 1, path }
              : { node: v, depth: depth + 1, path };
          }
        } else if (over(p.value, depth + 1)) {
          next = { node: p.value, depth: depth + 1, path: [...path, keyText(p.key) ?? i] };
        }
      }
      if (next) break;
    }
    if (!next) return { offset: (node as Node).range?.[0] ?? 0, path };
    ({ node, depth, path } = next);
  }
}

/** The key path of `target` in the tree under `root`, as written. */
function pathTo(root: unknown, target: Node): KeyPath | undefined {
  const walk = (node: unknown, path: KeyPath): KeyPath | undefined => {
    if (node === target) return path;
    if (isMap(node)) {
      for (const p of node.items as Pair[]) {
        const hit = walk(p.value, [...path, isMergeKey(p.key) ? "<<" : keyText(p.key) ?? "?"]);
        if (hit) return hit;
      }
    } else if (isSeq(node)) {
      for (const [i, item] of node.items.entries()) {
        const hit = walk(item, [...path, i]);
        if (hit) return hit;
      }
    }
    return undefined;
  };
  return walk(root, []);
}

/**
 * A seeded, deterministic mutator of spec values, shared by the fuzz test
 * and the schema-agreement test: the same seed always gives the same
 * mutations, described in words so a failure can be reproduced.
 *
 * @module
 */
import { stringify } from "yaml";

/** A small, fast, seeded PRNG (mulberry32); returns floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Path = (string | number)[];
type Container = Record<string, unknown> | unknown[];

function isContainer(v: unknown): v is Container {
  return typeof v === "object" && v !== null;
}

/** Every path in a value (containers and leaves), in a stable order. */
function allPaths(v: unknown, path: Path = [], out: Path[] = []): Path[] {
  out.push(path);
  if (Array.isArray(v)) v.forEach((x, i) => allPaths(x, [...path, i], out));
  else if (isContainer(v)) {
    for (const [k, x] of Object.entries(v)) {
      allPaths(x, [...path, k], out);
    }
  }
  return out;
}

function get(v: unknown, path: Path): unknown {
  let cur = v;
  for (const p of path) cur = isContainer(cur) ? (cur as Record<string, unknown>)[p] : undefined;
  return cur;
}

function nested(depth: number, leaf: unknown, list: boolean): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = list ? [v] : { [`k${i}`]: v };
  return v;
}

/** Replacement values: one of each sort of trouble. */
function oddValue(
  pick: <T>(xs: readonly T[]) => T,
  opts: { jsonOnly: boolean },
): [string, unknown] {
  const values: [string, unknown][] = [
    ["null", null],
    ["empty string", ""],
    ["empty list", []],
    ["empty map", {}],
    ["zero", 0],
    ["negative", -1],
    ["negative float", -3.5],
    ["huge number", 1e300],
    ["unsafe integer", 2 ** 60],
    ["float", 0.5],
    ["true", true],
    ["false", false],
    ["number-like string", "5432"],
    ["duration-like string", "30s"],
    ["unicode", "ünïcødé 🚀 名前"],
    ["emoji", "🚀"],
    ["whitespace", "  \t "],
    ["huge string", "x".repeat(100_000)],
    ["long list", Array.from({ length: 300 }, (_, i) => i)],
    ["deep map", nested(60, "deep", false)],
    ["deep list", nested(60, 1, true)],
    ["name-like", "postgres"],
    ["path-like", "../../etc/passwd"],
    ["yaml-ish", "- a: [b, {c: d}]"],
    ["control chars", "a\u0000b\u0007c"],
    ["latest image", "redis:latest"],
    ["odd key map", { "": 1, "with space": 2, "ÜNÏ": 3 }],
  ];
  if (!opts.jsonOnly) {
    values.push(["infinity", Infinity], ["nan", NaN], ["negative infinity", -Infinity]);
  }
  return pick(values);
}

function typo(key: string, r: () => number): string {
  if (key.length === 0) return "x";
  const i = Math.floor(r() * key.length);
  switch (Math.floor(r() * 4)) {
    case 0:
      return key.slice(0, i) + key.slice(i + 1) || "x"; // drop a char
    case 1:
      return key.slice(0, i) + "x" + key.slice(i); // insert a char
    case 2:
      return key.toUpperCase();
    default:
      return i + 1 < key.length
        ? key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2)
        : `${key}_`;
  }
}

/** Options of {@link mutate}. */
export interface MutateOptions {
  /** How many mutations (default: 1 to 4, drawn from the seed). */
  count?: number;
  /** Only values JSON can represent (no infinities or NaN). */
  jsonOnly?: boolean;
}

/**
 * Applies a few seeded mutations to a deep copy of `value`: keys dropped,
 * renamed (typos) or added; values swapped for odd ones (null, empty, huge,
 * negative, unicode, deeply nested, ...), for another value of the spec, or
 * list items duplicated. Returns the mutated value and one line per
 * mutation.
 */
export function mutate(
  value: unknown,
  seed: number,
  opts: MutateOptions = {},
): { value: unknown; mutations: string[] } {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const root = { doc: structuredClone(value) };
  const mutations: string[] = [];
  const count = opts.count ?? 1 + Math.floor(r() * 4);
  for (let n = 0; n < count; n++) {
    const paths = allPaths(root.doc).filter((p) => p.length > 0);
    if (paths.length === 0) {
      root.doc = oddValue(pick, { jsonOnly: !!opts.jsonOnly })[1];
      mutations.push("root replaced");
      continue;
    }
    // Prefer deep paths a little: pick among leaves half of the time.
    const path = pick(paths);
    const parent = get(root.doc, path.slice(0, -1)) as Container;
    const key = path[path.length - 1];
    const where = path.join(".");
    const op = pick(["drop", "rename", "odd", "odd", "swap", "add", "dup", "retype"] as const);
    if (op === "drop") {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
      mutations.push(`drop ${where}`);
    } else if (op === "rename" && !Array.isArray(parent)) {
      const to = typo(String(key), r);
      const v = parent[key as string];
      delete parent[key as string];
      parent[to] = v;
      mutations.push(`rename ${where} -> ${to}`);
    } else if (op === "swap") {
      const other = pick(paths);
      (parent as Record<string, unknown>)[key] = structuredClone(get(root.doc, other));
      mutations.push(`set ${where} to the value of ${other.join(".")}`);
    } else if (op === "add" && !Array.isArray(parent)) {
      const name = pick(["extra", "healtcheck", "kind", "image", "ports", "x-y", "Ünï"]);
      const [what, v] = oddValue(pick, { jsonOnly: !!opts.jsonOnly });
      parent[name] = v;
      mutations.push(`add ${where.split(".").slice(0, -1).concat(name).join(".")} = ${what}`);
    } else if (op === "dup" && Array.isArray(parent)) {
      parent.splice(key as number, 0, structuredClone(parent[key as number]));
      mutations.push(`duplicate ${where}`);
    } else if (op === "retype") {
      const v = (parent as Record<string, unknown>)[key];
      const to = typeof v === "string"
        ? (Number.isNaN(Number(v)) ? [v] : Number(v))
        : typeof v === "number"
        ? String(v)
        : Array.isArray(v)
        ? (v.length ? v[0] : "")
        : isContainer(v)
        ? Object.values(v)
        : v === null
        ? {}
        : String(v);
      (parent as Record<string, unknown>)[key] = to;
      mutations.push(`retype ${where}`);
    } else {
      const [what, v] = oddValue(pick, { jsonOnly: !!opts.jsonOnly });
      (parent as Record<string, unknown>)[key] = v;
      mutations.push(`set ${where} = ${what}`);
    }
  }
  return { value: root.doc, mutations };
}

/**
 * Seeded text-level damage to YAML: a character inserted, a line dropped or
 * duplicated, a tab indent, the text cut short.
 */
export function mutateText(text: string, seed: number): { text: string; mutations: string[] } {
  const r = rng(seed);
  const lines = text.split("\n");
  const i = Math.floor(r() * lines.length);
  const op = Math.floor(r() * 6);
  switch (op) {
    case 0: {
      const ch = ["{", "[", ":", "&a", "*a", '"', "'", "\t", "#", "- ", "? "][Math.floor(r() * 11)];
      const at = Math.floor(r() * (lines[i].length + 1));
      lines[i] = lines[i].slice(0, at) + ch + lines[i].slice(at);
      return {
        text: lines.join("\n"),
        mutations: [`insert ${JSON.stringify(ch)} at line ${i + 1}`],
      };
    }
    case 1:
      lines.splice(i, 1);
      return { text: lines.join("\n"), mutations: [`drop line ${i + 1}`] };
    case 2:
      lines.splice(i, 0, lines[i]);
      return { text: lines.join("\n"), mutations: [`duplicate line ${i + 1}`] };
    case 3:
      lines[i] = lines[i].replace(/^ +/, "\t");
      return { text: lines.join("\n"), mutations: [`tab-indent line ${i + 1}`] };
    case 4:
      lines[i] = " " + lines[i];
      return { text: lines.join("\n"), mutations: [`indent line ${i + 1} by one`] };
    default: {
      const cut = Math.floor(r() * text.length);
      return { text: text.slice(0, cut), mutations: [`cut at offset ${cut}`] };
    }
  }
}

/** Serialises a value as YAML the way the fuzz cases are written. */
export function toYaml(value: unknown): string {
  return stringify(value, { aliasDuplicateObjects: false, lineWidth: 0 });
}

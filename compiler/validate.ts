/**
 * Stage 2 of the pipeline: check the parsed value against the zod schema,
 * once as written (`SpecFile`: the base plus the `profiles` keys) and once
 * per profile after its overlay is merged (`Spec`), and turn every zod issue
 * into a located {@link Diagnostic} with a message, the expected value in
 * words and a hint.
 *
 * An issue in a value that came from a profile overlay is located in the
 * overlay (`profiles.<name>...`), and its key path says so; everything else
 * is located in the base. Every profile is checked whichever is being built,
 * so a broken production overlay is caught by a development build too.
 * All issues are reported, deduplicated.
 *
 * @module
 */
import type { z } from "zod";
import { Duration, Image, MemorySize, Name, PROFILES, Spec, SpecFile } from "./schema.ts";
import type { ProfileName } from "./schema.ts";
import { applyProfile, isPlainObject } from "./profile.ts";
import { type Diagnostic, formatPath } from "./diagnostics.ts";
import type { KeyPath, LoadedFile, LocateTarget, Position } from "./load.ts";
import { didYouMean, listNames } from "./hints.ts";
import { type ValidSections, validSections } from "./sections.ts";
import { ATOM_WORDS, ATOM_WORDS_HINTS, isSecretValue, overlayEntries } from "./issue_messages.ts";

/** What {@link validate} found. */
export interface ValidationResult {
  /** Every structural problem, deduplicated (unsorted). */
  diagnostics: Diagnostic[];
  /** The validated spec of each profile whose merged value is valid. */
  specs: Partial<Record<ProfileName, Spec>>;
  /**
   * For each profile whose spec is not valid as a whole, the sections that
   * are (so the cross-field rules can still run on them).
   */
  sections: Partial<Record<ProfileName, ValidSections>>;
}

/**
 * Validates the file as written and with each profile applied. Never throws
 * on bad input: problems come back as diagnostics.
 */
export function validate(loaded: LoadedFile): ValidationResult {
  // One problem per place, path and message: the first check to see it
  // (the file as written) words its expected value and hint.
  const out = new Map<string, Diagnostic>();
  const add = (ds: Diagnostic[]) => {
    for (const d of ds) {
      const key = `${d.line}:${d.column}:${formatPath(d.path)}:${d.message}`;
      if (!out.has(key)) out.set(key, d);
    }
  };
  const raw = loaded.value;
  const asWritten = SpecFile.safeParse(raw);
  if (!asWritten.success) {
    for (const issue of asWritten.error.issues) {
      add(issueDiagnostics(issue, {
        file: loaded.file,
        schema: SpecFile,
        value: raw,
        where: (path) => path,
        locate: loaded.locate,
      }));
    }
  }
  const specs: Partial<Record<ProfileName, Spec>> = {};
  // Not a mapping at all: one problem, said once.
  const sections: Partial<Record<ProfileName, ValidSections>> = {};
  if (!isPlainObject(raw)) return { diagnostics: [...out.values()], specs, sections };
  for (const profile of PROFILES) {
    // An overlay that is not a mapping is reported by the check as written.
    const overlay = isPlainObject(raw.profiles) ? raw.profiles[profile] : undefined;
    if (overlay !== undefined && overlay !== null && !isPlainObject(overlay)) continue;
    const merged = applyProfile(raw, profile);
    const r = Spec.safeParse(merged);
    if (!r.success || !asWritten.success) sections[profile] = validSections(raw, merged);
    if (r.success) {
      specs[profile] = r.data;
      continue;
    }
    for (const issue of r.error.issues) {
      add(issueDiagnostics(issue, {
        file: loaded.file,
        schema: Spec,
        value: merged,
        where: (path) => sourcePath(raw, profile, path),
        locate: loaded.locate,
        raw,
      }));
    }
  }
  // A profile's spec is only usable when the file as written is valid too.
  return {
    diagnostics: foldMisspelledKeys([...out.values()]),
    specs: asWritten.success ? specs : {},
    sections,
  };
}

/**
 * A misspelled required key is one mistake, not two: when an unknown key's
 * hint is "did you mean `k`?" and `k` is reported missing in the same
 * mapping, only the unknown key is reported (its hint says the fix).
 */
export function foldMisspelledKeys(ds: Diagnostic[]): Diagnostic[] {
  const meant = new Set<string>();
  for (const d of ds) {
    const m = d.message.startsWith("unknown key")
      ? /did you mean `([^`]+)`\?/.exec(d.hint ?? "")
      : null;
    if (m) meant.add(formatPath([...d.path.slice(0, -1), m[1]]));
  }
  return ds.filter((d) => !(d.message.startsWith("required key") && meant.has(formatPath(d.path))));
}

/**
 * Where a key path of the profile-merged spec comes from in the file: under
 * `profiles.<profile>` when the overlay supplies that value (or replaces one
 * of its ancestors wholesale), else the same path in the base. For a key
 * missing from a mapping both define, the base.
 */
export function sourcePath(raw: unknown, profile: ProfileName, path: KeyPath): KeyPath {
  if (!isPlainObject(raw) || !isPlainObject(raw.profiles)) return path;
  let overlay: unknown = raw.profiles[profile];
  let base: unknown = raw;
  for (const seg of path) {
    if (!isPlainObject(overlay) || !(String(seg) in overlay)) return path;
    const o = overlay[String(seg)];
    const b = isPlainObject(base) ? base[String(seg)] : undefined;
    if (!isPlainObject(o) || !isPlainObject(b)) return ["profiles", profile, ...path];
    overlay = o;
    base = b;
  }
  return path.length === 0 ? path : ["profiles", profile, ...path];
}

// ---------------------------------------------------------------------------
// zod introspection: just enough of zod 4's `_zod.def` to walk a path and to
// describe a schema in words.

interface CheckDef {
  check: string;
  format?: string;
  value?: number;
  inclusive?: boolean;
  minimum?: number;
  maximum?: number;
  error?: (issue?: unknown) => unknown;
}

interface SchemaDef {
  type: string;
  shape?: Record<string, ZodLike>;
  innerType?: ZodLike;
  in?: ZodLike;
  element?: ZodLike;
  keyType?: ZodLike;
  valueType?: ZodLike;
  options?: ZodLike[];
  discriminator?: string;
  entries?: Record<string, string | number>;
  values?: unknown[];
  format?: string;
  checks?: { _zod: { def: CheckDef } }[];
}

/** The part of a zod schema this module reads. */
interface ZodLike {
  _zod: { def: SchemaDef };
  description?: string;
}

const WRAPPERS = new Set([
  "optional",
  "default",
  "prefault",
  "nullable",
  "nonoptional",
  "readonly",
  "catch",
]);

function unwrap(s: ZodLike): ZodLike {
  let cur = s;
  for (let i = 0; i < 20; i++) {
    const d = cur._zod.def;
    if (WRAPPERS.has(d.type) && d.innerType) cur = d.innerType;
    else if (d.type === "pipe" && d.in) cur = d.in;
    else break;
  }
  return cur;
}

/** For a discriminated union, the option the value's discriminator picks. */
function pickOption(s: ZodLike, value: unknown): ZodLike {
  const d = s._zod.def;
  if (d.type !== "union" || !d.discriminator || !isPlainObject(value)) return s;
  const tag = value[d.discriminator];
  for (const o of d.options ?? []) {
    const lit = unwrap(o)._zod.def.shape?.[d.discriminator];
    if (lit && unwrap(lit)._zod.def.values?.includes(tag)) return unwrap(o);
  }
  return s;
}

/** The schema at a key path (following the value through unions), if any. */
function schemaAt(root: ZodLike, path: KeyPath, value: unknown): ZodLike | undefined {
  let s: ZodLike = root;
  let v = value;
  for (const seg of path) {
    s = pickOption(unwrap(s), v);
    const d = s._zod.def;
    let next: ZodLike | undefined;
    if (d.type === "object") next = d.shape?.[String(seg)];
    else if (d.type === "record") next = d.valueType;
    else if (d.type === "array") next = d.element;
    if (!next) return undefined;
    s = next;
    v = isPlainObject(v) || Array.isArray(v) ? (v as Record<string, unknown>)[seg] : undefined;
  }
  return pickOption(unwrap(s), v);
}

function checksOf(s: ZodLike): CheckDef[] {
  return (s._zod.def.checks ?? []).map((c) => c._zod.def);
}

function countRange(checks: CheckDef[], unit: string): string {
  const min = checks.find((c) => c.check === "min_length")?.minimum;
  const max = checks.find((c) => c.check === "max_length")?.maximum;
  const plural = (n: number) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  if (min !== undefined && max !== undefined) return `${min} to ${plural(max)}`;
  if (min !== undefined) return `at least ${plural(min)}`;
  if (max !== undefined) return `at most ${plural(max)}`;
  return "";
}

/** Describes what a schema accepts, in words ("a duration such as 30s, ..."). */
export function describeSchema(schema: z.ZodType): string {
  return describe(schema as unknown as ZodLike);
}

function describe(schema: ZodLike): string {
  const words = ATOM_WORDS.get(schema) ?? ATOM_WORDS.get(unwrap(schema));
  if (words) return words;
  if (schema.description) return schema.description;
  const s = unwrap(schema);
  if (s.description) return s.description;
  const d = s._zod.def;
  const checks = checksOf(s);
  switch (d.type) {
    case "string": {
      const custom = checks.find((c) => c.check === "string_format" && c.error);
      const msg = custom?.error?.();
      if (typeof msg === "string") return msg;
      const format = d.format ?? checks.find((c) => c.check === "string_format")?.format;
      if (format === "ipv4") return "an IPv4 address such as 127.0.0.1";
      if (format === "ipv6") return "an IPv6 address such as ::1";
      const range = countRange(checks, "character");
      return range === "1 to 1 characters" || range === "" ? "text" : `text of ${range}`;
    }
    case "number": {
      const int = checks.some((c) => c.check === "number_format");
      const lo = checks.find((c) => c.check === "greater_than");
      const hi = checks.find((c) => c.check === "less_than");
      const noun = int ? "a whole number" : "a number";
      if (lo?.inclusive && hi?.inclusive) return `${noun} from ${lo.value} to ${hi.value}`;
      const parts: string[] = [];
      if (lo) parts.push(lo.inclusive ? `at least ${lo.value}` : `greater than ${lo.value}`);
      if (hi) parts.push(hi.inclusive ? `at most ${hi.value}` : `less than ${hi.value}`);
      return parts.length ? `${noun} ${parts.join(" and ")}` : noun;
    }
    case "boolean":
      return "true or false";
    case "enum":
      return `one of: ${Object.values(d.entries ?? {}).join(", ")}`;
    case "literal": {
      const vals = (d.values ?? []).map((v) => String(v));
      return vals.length === 1 ? vals[0] : `one of: ${vals.join(", ")}`;
    }
    case "object":
      return `a mapping with keys: ${listNames(Object.keys(d.shape ?? {}), 20)}`;
    case "record": {
      const keys = d.keyType ? unwrap(d.keyType)._zod.def : undefined;
      if (keys?.type === "enum") {
        return `a mapping with keys among: ${Object.values(keys.entries ?? {}).join(", ")}`;
      }
      const v = d.valueType ? unwrap(d.valueType)._zod.def : undefined;
      if (v?.type === "union" && v.discriminator) {
        return `a mapping of names to entries, each with a \`${v.discriminator}\``;
      }
      return v?.type === "unknown" ? "a mapping" : "a mapping of names to entries";
    }
    case "array": {
      const range = countRange(checks, "item");
      const each = d.element ? describe(d.element) : "anything";
      return `a list${range ? ` of ${range}` : ""}, each ${each}`;
    }
    case "union": {
      if (d.discriminator) {
        const kinds = (d.options ?? []).flatMap((o) =>
          (unwrap(o)._zod.def.shape?.[d.discriminator!]?._zod.def.values ?? []).map(String)
        );
        return `a mapping with \`${d.discriminator}\`: one of ${kinds.join(", ")}`;
      }
      return (d.options ?? []).map(describe).join(", or ");
    }
    case "unknown":
    case "any":
      return "any value";
    default:
      return d.type;
  }
}

// ---------------------------------------------------------------------------
// Issues to diagnostics.

/** Specific hints for the reusable atoms of the schema. */
const ATOM_HINTS = new Map<unknown, string>([
  [Duration, "write a whole number and a unit (ms, s, m, h or d), e.g. 30s"],
  [MemorySize, "write a whole number and a unit (k, m or g), e.g. 512m"],
  [Name, "use lower-case letters, digits, '-' and '_', starting with a letter"],
  [
    Image,
    "write a lower-case image path with an optional registry, tag and digest, " +
    "e.g. postgres:15-alpine",
  ],
]);

function atomHint(s: ZodLike | undefined): string | undefined {
  if (!s) return undefined;
  return ATOM_HINTS.get(s) ?? ATOM_HINTS.get(unwrap(s)) ?? ATOM_WORDS_HINTS.get(s) ??
    ATOM_WORDS_HINTS.get(unwrap(s));
}

function typeName(v: unknown): string {
  if (v === null) return "empty";
  if (Array.isArray(v)) return "a list";
  if (v instanceof Uint8Array) return "binary data";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return "text";
  if (typeof v === "number") return "a number";
  if (typeof v === "boolean") return "true/false";
  return typeof v;
}

/** A value shown in a message: short, and never a secret's. */
function show(v: unknown, hidden: boolean): string {
  if (hidden) return typeName(v) === "text" ? "this text" : typeName(v);
  if (typeof v === "string") {
    const s = [...v];
    const cut = s.length > 40 ? `${s.slice(0, 40).join("")}...` : v;
    return JSON.stringify(cut);
  }
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return typeName(v);
}

function valueAt(root: unknown, path: KeyPath): unknown {
  let v = root;
  for (const seg of path) {
    if (!isPlainObject(v) && !Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

/** What a diagnostic builder needs about one validation run. */
interface IssueContext {
  file: string;
  /** The schema the value was checked against. */
  schema: z.ZodType;
  /** The value checked. */
  value: unknown;
  /** Maps a path of the checked value to the path in the file. */
  where: (path: KeyPath) => KeyPath;
  /** Locates a path of the file. */
  locate: (path: KeyPath, target?: LocateTarget) => Position;
  /** The file's value, when the value checked is a profile's merged spec. */
  raw?: unknown;
}

/** The zod issue fields this module reads. */
interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  expected?: string;
  keys?: string[];
  values?: unknown[];
  options?: unknown[];
  discriminator?: string;
  note?: string;
  origin?: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
}

function removeHint(filePath: KeyPath): string {
  const parent = filePath.slice(0, -1);
  return parent.length ? `remove it from \`${formatPath(parent)}\`` : "remove it";
}

/** The diagnostics of one issue (see {@link overlayEntries} for a profile's). */
function issueDiagnostics(zodIssue: z.core.$ZodIssue, ctx: IssueContext): Diagnostic[] {
  const ds = describeIssue(zodIssue, ctx);
  return ctx.raw === undefined ? ds : overlayEntries(ds, ctx.raw, ctx.locate);
}

function describeIssue(zodIssue: z.core.$ZodIssue, ctx: IssueContext): Diagnostic[] {
  const issue = zodIssue as unknown as Issue;
  const path: (string | number)[] = issue.path.map((p) =>
    typeof p === "symbol" ? String(p) : p as string | number
  );
  const root = ctx.schema as unknown as ZodLike;
  const make = (
    at: KeyPath,
    target: LocateTarget,
    message: string,
    expected?: string,
    hint?: string,
  ): Diagnostic => {
    const filePath = [...ctx.where(at)];
    return {
      file: ctx.file,
      ...ctx.locate(filePath, target),
      path: filePath,
      message,
      ...(expected ? { expected } : {}),
      ...(hint ? { hint } : {}),
    };
  };
  const value = valueAt(ctx.value, path);
  const hidden = isSecretValue(path);
  const schema = schemaAt(root, path, ctx.value);
  const expected = schema ? describe(schema) : undefined;
  const last = path[path.length - 1];

  switch (issue.code) {
    case "unrecognized_keys": {
      const parent = schemaAt(root, path, ctx.value);
      const pd = parent?._zod.def;
      const allowed = pd?.type === "object"
        ? Object.keys(pd.shape ?? {})
        : pd?.type === "record" && pd.keyType
        ? Object.values(unwrap(pd.keyType)._zod.def.entries ?? {}).map(String)
        : [];
      return (issue.keys ?? []).map((key) =>
        make(
          [...path, key],
          "key",
          `unknown key \`${key}\``,
          allowed.length ? `one of the keys ${listNames(allowed, 20)}` : undefined,
          didYouMean(key, allowed) ?? removeHint(ctx.where([...path, key])),
        )
      );
    }
    case "invalid_key": {
      const rec = schemaAt(root, path.slice(0, -1), ctx.value);
      const keyType = rec ? unwrap(rec)._zod.def.keyType : undefined;
      return [make(
        path,
        "key",
        `invalid name \`${String(last)}\``,
        keyType ? describe(keyType) : undefined,
        atomHint(keyType),
      )];
    }
    case "invalid_type": {
      if (value === undefined && typeof last === "string") {
        const parent = ctx.where(path).slice(0, -1);
        return [make(
          path,
          "key",
          `required key \`${last}\` is missing`,
          expected,
          parent.length
            ? `add \`${last}:\` under \`${formatPath(parent)}\``
            : `add \`${last}:\` at the top level`,
        )];
      }
      if (path.length === 0) {
        return [make(
          path,
          "value",
          `the top level is ${typeName(value)}, not a mapping`,
          expected,
          "a spec is a mapping of top-level keys, starting with `version: 1`",
        )];
      }
      let hint: string | undefined;
      if (value === null) hint = `give \`${String(last)}\` a value, or remove the key`;
      else if (issue.expected === "number" && typeof value === "string" && !hidden) {
        if (/^\s*-?[0-9.]+\s*$/.test(value)) hint = "write the number without quotes";
      } else if (
        issue.expected === "boolean" && typeof value === "string" &&
        /^(true|false|yes|no|on|off)$/i.test(value)
      ) {
        hint = "write true or false, without quotes";
      } else if (issue.expected === "string" && typeof value === "number") {
        const atom = schema ? unwrap(schema) : undefined;
        if (atom === Duration) hint = `add a unit, e.g. ${value}s`;
        else if (atom === MemorySize) hint = `add a unit, e.g. ${value}m`;
        else hint = hidden ? "quote it" : `quote it: "${value}"`;
      }
      return [make(path, "value", `wrong type: ${show(value, hidden)}`, expected, hint)];
    }
    case "invalid_union": {
      if (issue.discriminator) {
        const kinds = (issue.options ?? []).map(String);
        const parentPath = last === issue.discriminator ? path : [...path, issue.discriminator];
        const tag = valueAt(ctx.value, parentPath);
        if (tag === undefined) {
          return [make(
            parentPath,
            "key",
            `required key \`${issue.discriminator}\` is missing`,
            `one of: ${kinds.join(", ")}`,
            `add \`${issue.discriminator}:\` with one of the kinds listed`,
          )];
        }
        return [make(
          parentPath,
          "value",
          `unknown ${issue.discriminator} ${show(tag, false)}`,
          `one of: ${kinds.join(", ")}`,
          didYouMean(String(tag), kinds) ?? `use one of the kinds listed`,
        )];
      }
      return [make(path, "value", `invalid value ${show(value, hidden)}`, expected)];
    }
    case "invalid_value": {
      const options = (issue.values ?? []).map(String);
      const hint = path.length === 1 && last === "version"
        ? "ProcOS reads version 1 specs: write `version: 1`"
        : typeof value === "string"
        ? didYouMean(value, options)
        : undefined;
      return [make(path, "value", `invalid value ${show(value, hidden)}`, expected, hint)];
    }
    case "invalid_format":
      return [
        make(path, "value", `invalid value ${show(value, hidden)}`, expected, atomHint(schema)),
      ];
    case "too_small":
    case "too_big": {
      const small = issue.code === "too_small";
      let message: string;
      if (issue.origin === "array" && Array.isArray(value)) {
        message = `${small ? "too few" : "too many"} items (${value.length})`;
      } else if (issue.origin === "string" && typeof value === "string") {
        message = value.length === 0
          ? "the text is empty"
          : `the text is too ${small ? "short" : "long"} (${value.length} characters)`;
      } else {
        message = `${show(value, hidden)} is too ${small ? "small" : "big"}`;
      }
      return [make(path, "value", message, expected)];
    }
    default:
      return [make(path, "value", issue.message, expected)];
  }
}

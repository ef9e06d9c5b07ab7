/**
 * Wordings of schema issues that need more than the schema says, for
 * `validate.ts`: which values are secret (and so never shown), the words
 * and hints of atoms the schema leaves unnamed, and an overlay entry that
 * names something the base does not define.
 *
 * @module
 */
import { Secret, Spec } from "./schema.ts";
import { isPlainObject } from "./profile.ts";
import type { KeyPath, Locator } from "./load.ts";
import type { Diagnostic } from "./diagnostics.ts";
import { didYouMean, listNames } from "./hints.ts";

/**
 * True when the value at a key path of the spec is (or may hold) a secret
 * value: a secret's `default`, or a secret (or `secrets`) written as a
 * value instead of a mapping. A secret's `env` (the variable's name) and
 * `file` (its path) are not secret.
 */
export function isSecretValue(path: KeyPath): boolean {
  return path[0] === "secrets" && (path.length <= 2 || path[2] === "default");
}

/** `network.name`: a name the schema checks with a bare pattern. */
export const NETWORK_NAME: unknown = Spec.shape.network.shape.name;

/** `secrets.<name>.env`: an environment variable's name. */
export const SECRET_ENV: unknown = Secret.shape.env.unwrap();

/** What an atom the schema leaves unnamed accepts, in words. */
export const ATOM_WORDS: ReadonlyMap<unknown, string> = new Map([
  [
    NETWORK_NAME,
    "a lower-case network name of letters, digits, '-' or '_', starting with a letter, " +
    "at most 63 characters",
  ],
]);

/** Hints for the atoms of {@link ATOM_WORDS}, and for others the schema names. */
export const ATOM_WORDS_HINTS: ReadonlyMap<unknown, string> = new Map([
  [
    NETWORK_NAME,
    "use lower-case letters, digits, '-' and '_', starting with a letter, e.g. procos-network",
  ],
  [
    SECRET_ENV,
    "use capital letters, digits and '_', not starting with a digit, e.g. PROCOS_DB_PASSWORD",
  ],
]);

/** The sections whose entries an overlay can name, and what an entry is. */
const ENTRY_NOUNS: Readonly<Record<string, string>> = {
  services: "service",
  workers: "worker",
  secrets: "secret",
};

/** An overlay entry that names something the base does not define. */
export interface UnknownOverlayEntry {
  /** The entry's key path in the file: `profiles.<profile>.<section>.<name>`. */
  path: KeyPath;
  /** What is wrong. */
  message: string;
  /** The names the base defines, if any. */
  expected?: string;
  /** What to do about it. */
  hint: string;
}

/**
 * For a key path of the file under `profiles.<profile>.services.<name>`
 * (or `workers`, `secrets`): the entry, when the base (`raw`, the file's
 * value) defines no such name. Undefined otherwise.
 */
export function unknownOverlayEntry(
  raw: unknown,
  filePath: KeyPath,
): UnknownOverlayEntry | undefined {
  if (filePath[0] !== "profiles" || filePath.length < 4) return undefined;
  const section = String(filePath[2]);
  const noun = ENTRY_NOUNS[section];
  if (!noun || !isPlainObject(raw)) return undefined;
  const name = String(filePath[3]);
  const base = raw[section];
  if (isPlainObject(base) && Object.hasOwn(base, name)) return undefined;
  const names = isPlainObject(base) ? Object.keys(base) : [];
  return {
    path: filePath.slice(0, 4),
    message: `no such ${noun} \`${name}\` in \`${section}\``,
    ...(names.length ? { expected: `one of: ${listNames(names)}` } : {}),
    hint: didYouMean(name, names) ??
      `fix the name, or define all of \`${name}\` here to add the ${noun} in this profile only`,
  };
}

/**
 * A profile's diagnostics, with every one inside an overlay entry the base
 * does not define (see {@link unknownOverlayEntry}) preceded by a "no such
 * entry" diagnostic at the entry's key; the keys such an entry lacks are
 * not reported (they are a consequence, not the mistake).
 */
export function overlayEntries(ds: Diagnostic[], raw: unknown, locate: Locator): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const d of ds) {
    const entry = unknownOverlayEntry(raw, d.path);
    if (!entry) {
      out.push(d);
      continue;
    }
    out.push({
      file: d.file,
      ...locate(entry.path, "key"),
      path: [...entry.path],
      message: entry.message,
      ...(entry.expected ? { expected: entry.expected } : {}),
      hint: entry.hint,
    });
    if (!d.message.startsWith("required key")) out.push(d);
  }
  return out;
}

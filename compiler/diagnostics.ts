/**
 * Diagnostics: what the compiler says about a spec, located like a
 * compiler's (file:line:column, key path, expected, hint).
 *
 * @module
 */

/** One problem in a spec. */
export interface Diagnostic {
  /** The file the problem is in. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  /** The key path, such as `["services", "postgres", "healthcheck"]`. */
  path: (string | number)[];
  /** What is wrong, in one sentence. */
  message: string;
  /** What was expected there. */
  expected?: string;
  /** What to do about it. */
  hint?: string;
  /**
   * `warning`: reported, but the build goes on (see {@link isWarning});
   * absent means an error, which stops the build.
   */
  severity?: "warning";
}

/** True for a warning: printed as `file:line:col: warning: ...`, never failing a build. */
export function isWarning(d: Diagnostic): boolean {
  return d.severity === "warning";
}

/** Thrown when a spec has one or more errors; carries all of them. */
export class SpecError extends Error {
  /** Every error found, in file order. */
  readonly diagnostics: Diagnostic[];
  /** The warnings found along with them, in file order (not in `diagnostics`). */
  readonly warnings: Diagnostic[];
  /** Builds the error from a non-empty list of errors, and the warnings found with them. */
  constructor(diagnostics: Diagnostic[], warnings: Diagnostic[] = []) {
    const sorted = sortDiagnostics(diagnostics);
    super(sorted.map(formatDiagnostic).join("\n"));
    this.name = "SpecError";
    this.diagnostics = sorted;
    this.warnings = sortDiagnostics(warnings);
  }
}

/**
 * A problem with a spec value that is found only while the artifacts are
 * emitted: thrown with the value's key path in the profile-merged spec, and
 * turned into a located {@link Diagnostic} by `compile`. (Rules catch what
 * they can first, so that every such problem is reported in one run.)
 */
export class SpecIssue extends Error {
  /** The key path of the value at fault, in the merged spec. */
  readonly path: (string | number)[];
  /** What was expected there. */
  readonly expected?: string;
  /** What to do about it. */
  readonly hint?: string;
  /** Builds the issue; `message` says what is wrong, never a secret's value. */
  constructor(
    path: (string | number)[],
    message: string,
    extras: { expected?: string; hint?: string } = {},
  ) {
    super(message);
    this.name = "SpecIssue";
    this.path = path;
    this.expected = extras.expected;
    this.hint = extras.hint;
  }
}

/** Formats a key path as `services.postgres.ports[0].published`. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(part)) out += out === "" ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out === "" ? "(root)" : out;
}

/**
 * Formats one diagnostic on one line, e.g.
 * `procos.config.yaml:12:7: error: services.postgres.healthcheck.interval: ...`
 * (`warning:` instead of `error:` for a warning).
 */
export function formatDiagnostic(d: Diagnostic): string {
  const level = isWarning(d) ? "warning" : "error";
  let s = `${d.file}:${d.line}:${d.column}: ${level}: ${formatPath(d.path)}: ${d.message}`;
  if (d.expected) s += `; expected ${d.expected}`;
  if (d.hint) s += ` (hint: ${d.hint})`;
  return s;
}

/** Sorts diagnostics by position, then path, so output is stable. */
export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) =>
    a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column ||
    formatPath(a.path).localeCompare(formatPath(b.path)) || a.message.localeCompare(b.message)
  );
}

/** Drops diagnostics that format identically (keeps the first of each). */
export function dedupeDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Map<string, Diagnostic>();
  for (const d of ds) {
    const key = formatDiagnostic(d);
    if (!seen.has(key)) seen.set(key, d);
  }
  return [...seen.values()];
}

/**
 * The loading pipeline, from a spec file to a {@link ResolvedSpec}:
 *
 * 1. `load.ts`: read (size-capped), decode UTF-8, parse YAML with positions;
 * 2. `validate.ts`: the zod schema, as written and with each profile applied;
 * 3. `resolve.ts` and `bpmn.ts`: look the secrets up, scan the BPMN files;
 * 4. `rules/`: the cross-field rules (production-only ones too, when
 *    building production);
 * 5. the resolved spec, with the sha256 of the file's bytes.
 *
 * Every error found by every stage is thrown at once in one
 * {@link SpecError}; nothing else is thrown for bad input. Warnings (a rule's
 * diagnostics with `severity: "warning"`) never stop it: they come back in
 * `ResolvedSpec.warnings`, or with the errors in `SpecError.warnings`.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { PROFILES } from "./schema.ts";
import type { ProfileName, Spec } from "./schema.ts";
import { SECTIONS } from "./sections.ts";
import type { ProcessScan } from "./bpmn.ts";
import {
  dedupeDiagnostics,
  type Diagnostic,
  isWarning,
  sortDiagnostics,
  SpecError,
} from "./diagnostics.ts";
import type { ResolvedSpec } from "./model.ts";
import { loadFile } from "./load.ts";
import { sourcePath, validate } from "./validate.ts";
import { lookupSecrets, resolvedSecrets } from "./resolve.ts";
import { scanProcesses } from "./bpmn.ts";
import { runRules } from "./rules/mod.ts";

/** Options of {@link loadSpec}. */
export interface LoadOptions {
  /** The profile to apply. */
  profile: ProfileName;
  /** Environment to read secrets from (defaults to none). */
  env?: Record<string, string | undefined>;
  /** Size cap of the spec file in bytes (defaults to `MAX_SPEC_BYTES`). */
  maxBytes?: number;
}

/**
 * Loads, validates and resolves a spec file. Relative secret files and
 * `processes.path` are read from the spec file's folder. Throws
 * {@link SpecError} with every problem found.
 */
export async function loadSpec(file: string, opts: LoadOptions): Promise<ResolvedSpec> {
  try {
    return await pipeline(file, opts);
  } catch (e) {
    if (e instanceof SpecError) throw e;
    // A bug of the compiler, not of the spec: still no stack trace for the user.
    const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new SpecError([{
      file,
      line: 1,
      column: 1,
      path: [],
      message: `internal compiler error: ${what}`,
      hint: "please report this, with the spec file that caused it",
    }]);
  }
}

/** What the rules see of an invalid `processes` section (none of them runs on it). */
const NO_PROCESSES: ProcessScan = {
  dir: "",
  exists: false,
  files: [],
  resources: [],
  unreadable: [],
};

async function pipeline(file: string, opts: LoadOptions): Promise<ResolvedSpec> {
  const { profile } = opts;
  if (!PROFILES.includes(profile)) {
    throw new SpecError([{
      file,
      line: 1,
      column: 1,
      path: [],
      message: `unknown profile ${JSON.stringify(profile)}`,
      expected: `one of: ${PROFILES.join(", ")}`,
    }]);
  }
  const loaded = await loadFile(file, { maxBytes: opts.maxBytes });
  const checked = validate(loaded);
  const spec = checked.specs[profile];
  // Not valid as a whole: the rules still run on every valid section.
  const partial = spec ? undefined : checked.sections[profile];
  if (!spec && !partial) throw new SpecError(checked.diagnostics);
  const parts: Partial<Spec> = spec ?? partial!.spec;
  const valid = partial?.valid ?? new Set(SECTIONS);

  const baseDir = dirname(file);
  const env = opts.env ?? {};
  const secrets = parts.secrets ? await lookupSecrets(parts.secrets, { env, baseDir }) : {};
  const processes = parts.processes
    ? await scanProcesses(resolve(baseDir, parts.processes.path))
    : NO_PROCESSES;
  const ruled = runRules({
    file,
    profile,
    spec: parts,
    secrets,
    processes,
    where: (path) => sourcePath(loaded.value, profile, path),
    locate: loaded.locate,
  }, valid);
  const all: Diagnostic[] = dedupeDiagnostics([...checked.diagnostics, ...ruled]);
  const errors = all.filter((d) => !isWarning(d));
  const warnings = sortDiagnostics(all.filter(isWarning));
  if (errors.length > 0 || !spec) throw new SpecError(errors, warnings);

  const hash = await crypto.subtle.digest("SHA-256", loaded.bytes);
  const specHash = [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const processFiles = [...processes.files, ...processes.resources].map((f) => ({
    file: f.file,
    text: f.text,
  }));
  const locate = (path: (string | number)[]) => {
    const filePath = [...sourcePath(loaded.value, profile, path)];
    return { file, ...loaded.locate(filePath, "value"), path: filePath };
  };
  return {
    file,
    profile,
    spec,
    secrets: resolvedSecrets(secrets),
    specHash,
    processFiles,
    warnings,
    locate,
  };
}

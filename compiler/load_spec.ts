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
import type { ProfileName } from "./schema.ts";
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
  if (!spec) throw new SpecError(checked.diagnostics);

  const baseDir = dirname(file);
  const env = opts.env ?? {};
  const secrets = await lookupSecrets(spec.secrets, { env, baseDir });
  const processes = await scanProcesses(resolve(baseDir, spec.processes.path));
  const ruled = runRules({
    file,
    profile,
    spec,
    secrets,
    processes,
    where: (path) => sourcePath(loaded.value, profile, path),
    locate: loaded.locate,
  });
  const all: Diagnostic[] = dedupeDiagnostics([...checked.diagnostics, ...ruled]);
  const errors = all.filter((d) => !isWarning(d));
  const warnings = sortDiagnostics(all.filter(isWarning));
  if (errors.length > 0) throw new SpecError(errors, warnings);

  const hash = await crypto.subtle.digest("SHA-256", loaded.bytes);
  const specHash = [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const processFiles = [...processes.files, ...processes.resources].map((f) => ({
    file: f.file,
    text: f.text,
  }));
  return {
    file,
    profile,
    spec,
    secrets: resolvedSecrets(secrets),
    specHash,
    processFiles,
    warnings,
  };
}

/**
 * The compiler's pipeline: load → validate → resolve profile (`loadSpec`) →
 * one stack model (`buildModel`) → one emitter per artifact → manifest →
 * atomic write (`writeArtifacts`).
 *
 * @module
 */
import { loadSpec } from "./load_spec.ts";
import { buildModel } from "./model.ts";
import type { ResolvedSpec, StackModel } from "./model.ts";
import { SpecError, SpecIssue } from "./diagnostics.ts";
import type { ProfileName } from "./schema.ts";
import type { Diagnostic } from "./diagnostics.ts";
import type { Artifact, Emitter } from "./emit/artifact.ts";
import { emitCompose, generatedMounts } from "./emit/compose.ts";
import { emitEnv } from "./emit/env.ts";
import { emitSql } from "./emit/sql.ts";
import { emitWorkers } from "./emit/workers.ts";
import { emitRabbitmq } from "./emit/rabbitmq.ts";
import { emitRedis } from "./emit/redis.ts";
import { emitBackup } from "./emit/backup.ts";
import { emitPostgres } from "./emit/postgres.ts";
import { emitProcesses } from "./emit/processes.ts";
import { compareCodeUnits, emitManifest } from "./emit/manifest.ts";
import { writeArtifacts } from "./write.ts";
import type { WriteResult } from "./write.ts";

/** Every emitter, by name, in the order they run (the manifest runs after them). */
export const EMITTERS: Readonly<Record<string, Emitter>> = {
  compose: emitCompose,
  env: emitEnv,
  sql: emitSql,
  workers: emitWorkers,
  rabbitmq: emitRabbitmq,
  redis: emitRedis,
  backup: emitBackup,
  postgres: emitPostgres,
  processes: emitProcesses,
};

/** Options of {@link compile}. */
export interface CompileOptions {
  /** The profile to apply (default `development`). */
  profile?: ProfileName;
  /** Environment to read secrets from (the CLI passes `Deno.env`). */
  env?: Record<string, string | undefined>;
}

/** What {@link compile} produces. */
export interface CompileResult {
  /** The stack model every emitter read. */
  model: StackModel;
  /** Every artifact, `manifest.json` included, sorted by path. */
  artifacts: Artifact[];
  /** What the rules warn about (nothing that stops the build), sorted by position. */
  warnings: Diagnostic[];
}

/** Options of {@link build}. */
export interface BuildOptions extends CompileOptions {
  /** The folder to write (replaced atomically). */
  outDir: string;
  /** Replace `outDir` even when ProcOS did not create it. */
  force?: boolean;
}

/** What {@link build} did. */
export interface BuildResult extends CompileResult {
  /** What the writer did. */
  written: WriteResult;
}

/**
 * Runs every emitter over the model, then the manifest emitter over their
 * output; returns all artifacts sorted by path. Pure. Throws when two
 * emitters claim one path, or when the compose files mount a generated file
 * no emitter wrote.
 */
export function emitAll(model: StackModel): Artifact[] {
  const owner = new Map<string, string>();
  const artifacts: Artifact[] = [];
  for (const [name, emit] of Object.entries(EMITTERS)) {
    for (const a of emit(model)) {
      const other = owner.get(a.path);
      if (other !== undefined) {
        throw new Error(
          `emitters ${other} and ${name} both write ${a.path}; give one another path`,
        );
      }
      owner.set(a.path, name);
      artifacts.push(a);
    }
  }
  for (const mount of generatedMounts(model)) {
    if (!artifacts.some((a) => a.path === mount || a.path.startsWith(`${mount}/`))) {
      throw new Error(
        `the compose files mount out/${mount}, but no emitter wrote it; ` +
          `an emitter and emitCompose disagree on that path`,
      );
    }
  }
  return [...artifacts, ...emitManifest(model, artifacts)].sort((a, b) =>
    compareCodeUnits(a.path, b.path)
  );
}

/**
 * Loads and validates `file` with a profile, builds the model and emits every
 * artifact, writing nothing. Pure after loading. Throws `SpecError` for a bad
 * spec.
 */
export async function compile(file: string, opts: CompileOptions = {}): Promise<CompileResult> {
  const resolved = await loadSpec(file, {
    profile: opts.profile ?? "development",
    env: opts.env ?? {},
  });
  try {
    const model = buildModel(resolved);
    return { model, artifacts: emitAll(model), warnings: resolved.warnings ?? [] };
  } catch (e) {
    throw emitFailure(resolved, e);
  }
}

/**
 * An error raised while the model was built or the artifacts emitted, as a
 * located {@link SpecError}: a {@link SpecIssue} at its value; anything else
 * is a bug of the compiler, located at the top of the spec.
 */
export function emitFailure(resolved: ResolvedSpec, e: unknown): SpecError {
  if (e instanceof SpecError) return e;
  const warnings = resolved.warnings ?? [];
  const top = { file: resolved.file, line: 1, column: 1, path: [] };
  if (e instanceof SpecIssue) {
    return new SpecError([{
      ...(resolved.locate?.(e.path) ?? top),
      message: e.message,
      ...(e.expected ? { expected: e.expected } : {}),
      ...(e.hint ? { hint: e.hint } : {}),
    }], warnings);
  }
  const what = e instanceof Error ? e.message : String(e);
  return new SpecError([{
    ...top,
    message: `internal compiler error while emitting the artifacts: ${what}`,
    hint: "please report this, with the spec file that caused it",
  }], warnings);
}

/**
 * Compiles `file` and writes the artifacts to `opts.outDir` atomically. On
 * any error nothing is written and the previous out folder is unchanged.
 */
export async function build(file: string, opts: BuildOptions): Promise<BuildResult> {
  const result = await compile(file, opts);
  const written = await writeArtifacts(opts.outDir, result.artifacts, { force: opts.force });
  return { ...result, written };
}

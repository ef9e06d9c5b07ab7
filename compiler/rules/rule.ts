/**
 * The one interface every cross-field rule implements: a pure function from
 * a validated, profile-merged spec (plus what the loader found around it:
 * secrets, BPMN files) to located diagnostics.
 *
 * Rules receive key paths of the merged spec; {@link at} maps them to the
 * file, in the profile overlay when the value came from there.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import type { KeyPath, LocateTarget, Position } from "../load.ts";
import type { ProfileName, Spec } from "../schema.ts";
import type { SecretLookup } from "../resolve.ts";
import type { ProcessScan } from "../bpmn.ts";

/** What a rule reads. */
export interface RuleContext {
  /** The spec file's path, as given. */
  file: string;
  /** The profile being built. */
  profile: ProfileName;
  /** The validated spec with the profile applied. */
  spec: Spec;
  /** Every secret, looked up (env, file, default). */
  secrets: Record<string, SecretLookup>;
  /** The BPMN files under `processes.path`. */
  processes: ProcessScan;
  /** Maps a path of the merged spec to its path in the file. */
  where(path: KeyPath): KeyPath;
  /** Locates a path of the file; see `Locator` in `load.ts`. */
  locate(path: KeyPath, target?: LocateTarget): Position;
}

/** A cross-field rule: every problem it finds, located. Pure. */
export type Rule = (ctx: RuleContext) => Diagnostic[];

/** The optional parts of a rule's diagnostic. */
export interface DiagnosticExtras {
  /** What was expected, in words. */
  expected?: string;
  /** What to do about it. */
  hint?: string;
  /** Point at the key (default) or at the value. */
  target?: LocateTarget;
}

/** Builds a diagnostic at a path of the merged spec. */
export function at(
  ctx: RuleContext,
  path: KeyPath,
  message: string,
  extras: DiagnosticExtras = {},
): Diagnostic {
  const filePath = [...ctx.where(path)];
  return {
    file: ctx.file,
    ...ctx.locate(filePath, extras.target ?? "key"),
    path: filePath,
    message,
    ...(extras.expected ? { expected: extras.expected } : {}),
    ...(extras.hint ? { hint: extras.hint } : {}),
  };
}

/** One container of the stack: an infrastructure service or a worker. */
export interface Unit {
  /** Its name. */
  name: string;
  /** `services` or `workers`. */
  group: "services" | "workers";
  /** Its kind. */
  kind: string;
  /** The names it depends on. */
  dependsOn: string[];
}

/** Every service and worker, services first, each group in file order. */
export function units(spec: Spec): Unit[] {
  return [
    ...Object.entries(spec.services).map(([name, s]) => ({
      name,
      group: "services" as const,
      kind: s.kind,
      dependsOn: s.depends_on,
    })),
    ...Object.entries(spec.workers).map(([name, w]) => ({
      name,
      group: "workers" as const,
      kind: w.kind,
      dependsOn: w.depends_on,
    })),
  ];
}

/** Every worker topic with its path, in file order. */
export function topics(spec: Spec): { worker: string; name: string; path: KeyPath }[] {
  const out: { worker: string; name: string; path: KeyPath }[] = [];
  for (const [worker, w] of Object.entries(spec.workers)) {
    if (w.kind === "kernel") continue;
    w.topics.forEach((t, i) =>
      out.push({ worker, name: t.name, path: ["workers", worker, "topics", i] })
    );
  }
  return out;
}

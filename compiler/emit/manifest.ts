/**
 * The manifest emitter: `manifest.json`, what a build wrote and from what.
 * It names the project, the profile, the spec's sha256, the generator and the
 * sha256 and mode of every other artifact, sorted by path. It holds no
 * timestamp, so two builds of the same spec are byte-identical. `write.ts`
 * reads it to recognise an `out/` folder ProcOS created.
 *
 * Its hashes cover the env files, and a weak secret could be guessed back from
 * a hash, so the manifest is written with mode 0600 like them.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Artifact } from "./artifact.ts";
import type { StackModel } from "../model.ts";

/** The manifest's path, relative to `out/`. */
export const MANIFEST_FILE = "manifest.json";
/** The generator named in every manifest. */
export const GENERATOR = "procos-compiler";
/** The generator's version (bump it when the output of an emitter changes shape). */
export const GENERATOR_VERSION = "0.1.0";
/** The manifest's own format version. */
export const MANIFEST_VERSION = 1;

/** What `manifest.json` holds. */
export interface Manifest {
  manifestVersion: number;
  generator: { name: string; version: string };
  project: string;
  profile: string;
  spec: { sha256: string };
  /** Every other artifact, by path (sorted): its sha256 and its octal mode. */
  artifacts: Record<string, { sha256: string; mode: string }>;
}

/** sha256 (hex) of a text's UTF-8 bytes. */
export function sha256Hex(text: string | Uint8Array): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Compares strings by code unit (locale-independent, so stable everywhere). */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The octal mode of an artifact as written (`0644` unless it says otherwise). */
export function modeOf(a: Artifact): number {
  return a.mode ?? 0o644;
}

/** Emits `manifest.json` over the other emitters' artifacts. Pure. */
export function emitManifest(model: StackModel, artifacts: readonly Artifact[]): Artifact[] {
  const sorted = [...artifacts].sort((a, b) => compareCodeUnits(a.path, b.path));
  const entries: Manifest["artifacts"] = {};
  for (const a of sorted) {
    if (a.path === MANIFEST_FILE) {
      throw new Error(`an emitter produced ${MANIFEST_FILE}, which only the manifest emitter may`);
    }
    if (a.path in entries) throw new Error(`two artifacts have the path ${a.path}`);
    entries[a.path] = {
      sha256: sha256Hex(a.content),
      mode: modeOf(a).toString(8).padStart(4, "0"),
    };
  }
  const manifest: Manifest = {
    manifestVersion: MANIFEST_VERSION,
    generator: { name: GENERATOR, version: GENERATOR_VERSION },
    project: model.project,
    profile: model.profile,
    spec: { sha256: model.specHash },
    artifacts: entries,
  };
  return [{ path: MANIFEST_FILE, content: JSON.stringify(manifest, null, 2) + "\n", mode: 0o600 }];
}

/** Reads a manifest's text; returns undefined when it is not a ProcOS manifest. */
export function parseManifest(text: string): Manifest | undefined {
  try {
    const m = JSON.parse(text);
    if (m?.generator?.name === GENERATOR && typeof m.artifacts === "object") return m as Manifest;
  } catch {
    // not JSON: not ours
  }
  return undefined;
}

/**
 * PROVISIONAL loader (to be replaced by the located pipeline): parse, apply
 * profile, validate, resolve secrets.
 *
 * @module
 */
import { parse } from "yaml";
import { Spec } from "./schema.ts";
import type { ProfileName } from "./schema.ts";
import { applyProfile } from "./profile.ts";
import { SpecError } from "./diagnostics.ts";
import type { ResolvedSecret, ResolvedSpec } from "./model.ts";

/** Options of {@link loadSpec}. */
export interface LoadOptions {
  profile: ProfileName;
  /** Environment to read secrets from (defaults to none). */
  env?: Record<string, string | undefined>;
}

/** Loads, validates and resolves a spec file. Throws {@link SpecError}. */
export async function loadSpec(file: string, opts: LoadOptions): Promise<ResolvedSpec> {
  const bytes = await Deno.readFile(file);
  const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  const raw = parse(text);
  const merged = applyProfile(raw, opts.profile);
  const r = Spec.safeParse(merged);
  if (!r.success) {
    throw new SpecError(r.error.issues.map((i) => ({
      file,
      line: 1,
      column: 1,
      path: i.path.map((p) => (typeof p === "symbol" ? String(p) : p)),
      message: i.message,
    })));
  }
  const env = opts.env ?? {};
  const secrets: Record<string, ResolvedSecret> = {};
  for (const [name, s] of Object.entries(r.data.secrets)) {
    const fromEnv = s.env ? env[s.env] : undefined;
    if (fromEnv) secrets[name] = { value: fromEnv, source: "env" };
    else if (s.file) {
      secrets[name] = { value: (await Deno.readTextFile(s.file)).trim(), source: "file" };
    } else secrets[name] = { value: s.default ?? "", source: "default" };
  }
  const hash = await crypto.subtle.digest("SHA-256", bytes);
  const specHash = [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return { file, profile: opts.profile, spec: r.data, secrets, specHash };
}

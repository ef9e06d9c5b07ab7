/**
 * Secrets: each entry of `secrets` is read from its environment variable,
 * else its file (relative to the spec file's folder), else its `default`.
 * A value from `default` is for development only: the production rules
 * refuse it (`compiler/rules/prod_secret_defaults.ts`).
 *
 * Nothing here ever puts a secret's value in a message: what was tried is
 * described by names and paths only.
 *
 * @module
 */
import { isAbsolute, join } from "node:path";
import type { Spec } from "./schema.ts";
import type { ResolvedSecret } from "./model.ts";

/** The largest secret file read, in bytes. */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

/** The outcome of looking one secret up. */
export interface SecretLookup {
  /** The value and its source, when some source supplied one. */
  resolved?: ResolvedSecret;
  /** What was tried, in order, for messages: names and paths, never values. */
  tried: string[];
  /** The file's path as read (resolved against the spec's folder), if any. */
  filePath?: string;
}

/** Options of {@link lookupSecrets}. */
export interface ResolveOptions {
  /** The environment to read variables from. */
  env: Record<string, string | undefined>;
  /** The folder relative secret files are read from (the spec file's). */
  baseDir: string;
}

/**
 * Looks every secret up: env var (set and non-empty), then file (exists and
 * non-empty; trailing newlines dropped), then `default`. Never throws for a
 * missing or unreadable file: that is recorded in `tried`.
 */
export async function lookupSecrets(
  secrets: Spec["secrets"],
  opts: ResolveOptions,
): Promise<Record<string, SecretLookup>> {
  const out: Record<string, SecretLookup> = {};
  for (const [name, s] of Object.entries(secrets)) {
    const tried: string[] = [];
    const found = (resolved: ResolvedSecret, filePath?: string) => {
      out[name] = { resolved, tried, ...(filePath ? { filePath } : {}) };
    };
    if (s.env) {
      const v = opts.env[s.env];
      if (v) {
        found({ value: v, source: "env" });
        continue;
      }
      tried.push(`environment variable ${s.env} (${v === undefined ? "not set" : "empty"})`);
    }
    if (s.file) {
      const path = isAbsolute(s.file) ? s.file : join(opts.baseDir, s.file);
      const r = await readSecretFile(path);
      if (r.value) {
        found({ value: r.value, source: "file" }, path);
        continue;
      }
      tried.push(`file ${s.file} (${r.problem})`);
    }
    if (s.default !== undefined) {
      found({ value: s.default, source: "default" });
      continue;
    }
    if (!s.env && !s.file) tried.push("no env, file or default is declared");
    else tried.push("no default");
    out[name] = { tried };
  }
  return out;
}

/** The resolved values of every secret that has one. */
export function resolvedSecrets(
  lookups: Record<string, SecretLookup>,
): Record<string, ResolvedSecret> {
  const out: Record<string, ResolvedSecret> = {};
  for (const [name, l] of Object.entries(lookups)) if (l.resolved) out[name] = l.resolved;
  return out;
}

async function readSecretFile(path: string): Promise<{ value?: string; problem: string }> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return { problem: "not a file" };
    if (info.size > MAX_SECRET_FILE_BYTES) {
      return { problem: `over ${MAX_SECRET_FILE_BYTES / 1024} KB` };
    }
    const text = new TextDecoder().decode(await Deno.readFile(path)).replace(/[\r\n]+$/, "");
    return text ? { value: text, problem: "" } : { problem: "empty" };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { problem: "not found" };
    if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
      return { problem: "permission denied" };
    }
    return { problem: "cannot be read" };
  }
}

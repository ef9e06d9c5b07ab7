/**
 * Shared helpers of the compiler's build tests: where the repository, the
 * reference spec and the shared schemas are, temporary folders, fixed test
 * secrets and file-tree hashing.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join, relative } from "node:path";
import { createHash } from "node:crypto";

/** The repository's root folder (absolute). */
export const REPO_ROOT: string = fileURLToPath(new URL("../../", import.meta.url)).replace(
  /\/$/,
  "",
);

/** The reference spec, `procos.config.yaml` at the repository's root. */
export function referenceSpec(): string {
  return join(REPO_ROOT, "procos.config.yaml");
}

/** The Compose Specification JSON Schema (`<repo>/../shared/schemas/compose-spec.json`). */
export function composeSchemaUrl(): URL {
  return new URL("../../../shared/schemas/compose-spec.json", import.meta.url);
}

/**
 * Fixed secrets for production builds, as the environment would supply them.
 * The Postgres one holds characters an env file must quote (`$`, `#`, space).
 */
export const TEST_SECRETS: Readonly<Record<string, string>> = Object.freeze({
  PROCOS_POSTGRES_PASSWORD: "pg-Test secret$1#x",
  PROCOS_POSTGRES_SUPERUSER_PASSWORD: "su-test-secret-5",
  PROCOS_RABBITMQ_PASSWORD: "mq-test-secret-2",
  PROCOS_REDIS_PASSWORD: "rd-test-secret-3",
  PROCOS_CAMUNDA_ADMIN_PASSWORD: "ca-test-secret-4",
});

/** Runs `fn` with a fresh temporary folder, removed afterwards whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "procos-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** sha256 (hex) of bytes or text. */
export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Every file under `dir`, by `/`-separated relative path (sorted). */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) await walk(p);
      else out.push(relative(dir, p).split("\\").join("/"));
    }
  };
  await walk(dir);
  return out.sort();
}

/** sha256 of every file under `dir`, by relative path. */
export async function hashTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const p of await listTree(dir)) out[p] = sha256(await Deno.readFile(join(dir, p)));
  return out;
}

/**
 * Writes a copy of the reference spec with `edit` applied to its text into
 * `dir`, next to a link to the repository's `processes/` folder (the spec's
 * `processes.path` is relative to its own folder); returns its path.
 */
export async function writeSpecVariant(
  dir: string,
  name: string,
  edit: (text: string) => string = (t) => t,
): Promise<string> {
  const file = join(dir, name);
  await Deno.writeTextFile(file, edit(await Deno.readTextFile(referenceSpec())));
  const link = join(dir, "processes");
  try {
    await Deno.lstat(link);
  } catch {
    await Deno.symlink(join(REPO_ROOT, "processes"), link);
  }
  return file;
}

/** Replaces exactly one occurrence of `from` (throws if there is not exactly one). */
export function replaceOnce(text: string, from: string, to: string): string {
  const n = text.split(from).length - 1;
  if (n !== 1) throw new Error(`expected one "${from}" in the spec, found ${n}`);
  return text.replace(from, to);
}

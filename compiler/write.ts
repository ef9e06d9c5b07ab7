/**
 * Writes a build's artifacts to the out folder atomically.
 *
 * Everything is written into a sibling temporary folder (`out.tmp-<random>`
 * next to `out/`), with each file's mode set and synced; then the old folder
 * is renamed aside (`out.old-<random>`), the new one renamed into place, and
 * the old one removed. A reader sees the old tree or the new one, never half
 * of one; on any error the temporary folder is removed and the old `out/` is
 * left as it was.
 *
 * It only ever replaces a folder ProcOS created (one holding a ProcOS
 * `manifest.json`), an empty folder, or nothing; anything else needs `force`.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import type { Artifact } from "./emit/artifact.ts";
import { MANIFEST_FILE, modeOf, parseManifest } from "./emit/manifest.ts";

/** Options of {@link writeArtifacts}. */
export interface WriteOptions {
  /** Replace the out folder even when ProcOS did not create it. */
  force?: boolean;
  /** fsync every file and folder before the swap (default true). */
  fsync?: boolean;
}

/** What {@link writeArtifacts} did. */
export interface WriteResult {
  /** The out folder, absolute. */
  outDir: string;
  /** Number of files written. */
  files: number;
  /** Whether an existing out folder was replaced. */
  replaced: boolean;
}

/** A refusal or failure to write the out folder; its message says what to do. */
export class WriteError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "WriteError";
  }
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * Checks artifact paths before anything touches the disk: relative, `/`
 * separated, plain segments (no `..`, no hidden names), no duplicates and no
 * path that is both a file and a folder.
 */
export function checkArtifactPaths(artifacts: readonly Artifact[]): void {
  const files = new Set<string>();
  const dirs = new Set<string>();
  for (const a of artifacts) {
    const parts = a.path.split("/");
    if (a.path === "" || !parts.every((p) => SEGMENT.test(p))) {
      throw new WriteError(
        `artifact path "${a.path}" is not a plain relative path such as env/postgres.env ` +
          `(an emitter bug)`,
      );
    }
    if (files.has(a.path)) throw new WriteError(`two artifacts have the path ${a.path}`);
    if ((CARRIED_OVER as readonly string[]).includes(parts[0])) {
      throw new WriteError(
        `artifact path ${a.path} is inside ${parts[0]}/, which is not the build's`,
      );
    }
    files.add(a.path);
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  for (const d of dirs) {
    if (files.has(d)) throw new WriteError(`artifact path ${d} is both a file and a folder`);
  }
}

async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Is `dir` safe to replace: created by ProcOS (has its manifest), or empty? */
async function ownedOrEmpty(dir: string): Promise<boolean> {
  try {
    return parseManifest(await Deno.readTextFile(join(dir, MANIFEST_FILE))) !== undefined;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  for await (const _ of Deno.readDir(dir)) return false;
  return true;
}

async function syncPath(path: string): Promise<void> {
  try {
    using f = await Deno.open(path, { read: true });
    await f.sync();
  } catch {
    // Some filesystems cannot fsync a folder: durability is best effort.
  }
}

async function writeTree(root: string, artifacts: readonly Artifact[], fsync: boolean) {
  const dirs = new Set<string>();
  for (const a of artifacts) {
    const file = join(root, ...a.path.split("/"));
    const dir = dirname(file);
    if (!dirs.has(dir)) {
      await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
      dirs.add(dir);
    }
    const mode = modeOf(a);
    // Create with the final mode so a secret is never readable, even briefly.
    using f = await Deno.open(file, { write: true, createNew: true, mode });
    await Deno.chmod(file, mode); // the umask may have narrowed it
    const bytes = new TextEncoder().encode(a.content);
    let written = 0;
    while (written < bytes.length) written += await f.write(bytes.subarray(written));
    if (fsync) await f.sync();
  }
  for (const d of dirs) await Deno.chmod(d, 0o755);
  await Deno.chmod(root, 0o755);
  if (fsync) { for (const d of [...dirs, root]) await syncPath(d); }
}

/** Folders of the out dir that are not build artifacts and survive a rebuild. */
export const CARRIED_OVER = ["runtime"] as const;

async function carryOver(from: string, to: string): Promise<string[]> {
  const moved: string[] = [];
  for (const d of CARRIED_OVER) {
    if ((await lstatOrUndefined(join(from, d)))?.isDirectory) {
      await Deno.rename(join(from, d), join(to, d));
      moved.push(d);
    }
  }
  return moved;
}

function suffix(): string {
  return crypto.randomUUID().slice(0, 8);
}

/**
 * Writes `artifacts` to `outDir` atomically (see the module doc). Throws
 * {@link WriteError} when it refuses; on any error the old folder is intact.
 */
export async function writeArtifacts(
  outDir: string,
  artifacts: readonly Artifact[],
  opts: WriteOptions = {},
): Promise<WriteResult> {
  checkArtifactPaths(artifacts);
  const target = resolve(outDir);
  const parent = dirname(target);
  const name = basename(target);
  if (target === parent || name === "") {
    throw new WriteError(`cannot write into ${outDir}: choose a folder such as out/`);
  }
  const existing = await lstatOrUndefined(target);
  if (existing?.isSymlink) {
    throw new WriteError(
      `${outDir} is a symbolic link; ProcOS replaces the out folder as a whole, so pass ` +
        `--out with the real folder`,
    );
  }
  if (existing && !existing.isDirectory) {
    throw new WriteError(`${outDir} exists and is not a folder; remove it or choose another --out`);
  }
  if (existing && !opts.force && !(await ownedOrEmpty(target))) {
    throw new WriteError(
      `refusing to replace ${outDir}: it is not empty and has no ProcOS ${MANIFEST_FILE}, so ` +
        `ProcOS did not create it; choose another --out, empty it, or pass --force to replace it`,
    );
  }
  await Deno.mkdir(parent, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: parent, prefix: `${name}.tmp-` });
  try {
    await writeTree(tmp, artifacts, opts.fsync ?? true);
    if (existing) {
      // The local runtime keeps its state, logs and pids in out/runtime/: a
      // rebuild while the stack runs carries them over.
      const carried = await carryOver(target, tmp);
      const old = join(parent, `${name}.old-${suffix()}`);
      await Deno.rename(target, old);
      try {
        await Deno.rename(tmp, target);
      } catch (e) {
        await Deno.rename(old, target);
        for (const d of carried) await Deno.rename(join(tmp, d), join(target, d)).catch(() => {});
        throw e;
      }
      // The new tree is in place: failing to tidy the old one is not a failed build.
      await Deno.remove(old, { recursive: true }).catch(() => {});
    } else {
      await Deno.rename(tmp, target);
    }
    if (opts.fsync ?? true) await syncPath(parent);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  return { outDir: target, files: artifacts.length, replaced: existing !== undefined };
}

/**
 * Reading a spec file's bytes: size-capped (a file over the cap is refused
 * from `Deno.stat` alone, without reading it) and decoded as UTF-8 with the
 * line and column of the first bad byte. Every failure is a located
 * {@link SpecError}.
 *
 * @module
 */
import { SpecError } from "./diagnostics.ts";

/** Reads at most `max` bytes, refusing bigger files from their size alone. */
export async function readCapped(file: string, max: number): Promise<Uint8Array<ArrayBuffer>> {
  const fail = (message: string, hint?: string): SpecError =>
    new SpecError([{ file, line: 1, column: 1, path: [], message, ...(hint ? { hint } : {}) }]);
  const tooBig = (size: number) =>
    fail(
      `the file is ${formatBytes(size)}, over the ${formatBytes(max)} limit for a spec`,
      "check that this is the spec file; a ProcOS spec is a few kilobytes",
    );
  let f: Deno.FsFile | undefined;
  try {
    const info = await Deno.stat(file);
    if (info.isDirectory) {
      throw fail(
        "this is a directory, not a spec file",
        "pass the spec file itself, e.g. procos.config.yaml",
      );
    }
    if (info.size > max) throw tooBig(info.size);
    f = await Deno.open(file, { read: true });
    const chunks: Uint8Array[] = [];
    let total = 0;
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await f.read(buf);
      if (n === null) break;
      total += n;
      if (total > max) throw tooBig(total);
      chunks.push(buf.slice(0, n));
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  } catch (e) {
    if (e instanceof SpecError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw fail(
        "the spec file does not exist",
        `check the path; relative paths start from ${Deno.cwd()}`,
      );
    }
    if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
      throw fail(
        "the spec file cannot be read: permission denied",
        "check the file's permissions, and run deno with --allow-read",
      );
    }
    const what = e instanceof Error ? e.message : String(e);
    throw fail(
      `the spec file cannot be read: ${what}`,
      "check that the path names a readable file",
    );
  } finally {
    f?.close();
  }
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${+(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}

/** Decodes UTF-8, reporting the line and column of the first bad byte. */
export function decodeUtf8(file: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const bad = firstInvalidUtf8(bytes);
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < bad; i++) {
      if (bytes[i] === 0x0a) {
        line++;
        lineStart = i + 1;
      }
    }
    const before = new TextDecoder("utf-8").decode(bytes.subarray(lineStart, bad));
    const hex = bytes[bad]?.toString(16).toUpperCase().padStart(2, "0") ?? "??";
    throw new SpecError([{
      file,
      line,
      column: before.length + 1,
      path: [],
      message: `the file is not valid UTF-8: byte 0x${hex} cannot start or continue a character`,
      hint: "save the file as UTF-8",
    }]);
  }
}

/** The offset of the first byte that is not part of a valid UTF-8 sequence. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  const cont = (i: number, lo = 0x80, hi = 0xbf) =>
    i < bytes.length && bytes[i] >= lo && bytes[i] <= hi;
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    let n = 0;
    if (b < 0x80) n = 1;
    else if (b >= 0xc2 && b <= 0xdf) n = cont(i + 1) ? 2 : 0;
    else if (b === 0xe0) n = cont(i + 1, 0xa0) && cont(i + 2) ? 3 : 0;
    else if (b === 0xed) n = cont(i + 1, 0x80, 0x9f) && cont(i + 2) ? 3 : 0;
    else if (b >= 0xe1 && b <= 0xef) n = cont(i + 1) && cont(i + 2) ? 3 : 0;
    else if (b === 0xf0) n = cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    else if (b >= 0xf1 && b <= 0xf3) n = cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    else if (b === 0xf4) n = cont(i + 1, 0x80, 0x8f) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    if (n === 0) return i;
    i += n;
  }
  return -1;
}

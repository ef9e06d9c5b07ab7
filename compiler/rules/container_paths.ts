/**
 * Rule: every path inside a container (volume targets, the archive export
 * path) is one that Compose and Docker mount where it says: absolute,
 * without `.` or `..` segments or empty ones (so `/var/lib/../../etc` cannot
 * land on `/etc`), not `/` itself, without `:` (Compose's volume syntax
 * separates with it), and not mounted twice in one container.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import type { KeyPath } from "../load.ts";
import { at, type RuleContext } from "./rule.ts";

/** What is wrong with a container path, or undefined. */
export function containerPathProblem(path: string): string | undefined {
  if (!path.startsWith("/")) return "it is not absolute";
  if (path === "/") return "it is the container's root";
  if (path.includes(":")) return "it contains ':', which separates the parts of a Compose volume";
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(path)) return "it contains a control character";
  const segments = path.slice(1).replace(/\/$/, "").split("/");
  if (segments.some((s) => s === "." || s === "..")) {
    return "it has a '.' or '..' segment, so it resolves somewhere else";
  }
  if (segments.some((s) => s === "")) return "it has an empty segment ('//')";
  return undefined;
}

/** Reports container paths Docker would mount elsewhere, or refuse. */
export function containerPaths(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  const check = (path: KeyPath, value: string) => {
    const problem = containerPathProblem(value);
    if (!problem) return true;
    out.push(at(ctx, path, `the container path "${value}" is not usable: ${problem}`, {
      target: "value",
      expected: "an absolute path of plain segments, such as /var/lib/procos/archive",
      hint: "write the path as it resolves, without '.', '..', '//' or ':'",
    }));
    return false;
  };
  for (const [name, s] of Object.entries(ctx.spec.services)) {
    const seen = new Map<string, number>();
    s.volumes.forEach((v, i) => {
      const path = ["services", name, "volumes", i, "target"];
      if (!check(path, v.target)) return;
      const target = v.target.replace(/\/$/, "");
      const first = seen.get(target);
      if (first === undefined) {
        seen.set(target, i);
        return;
      }
      out.push(at(ctx, path, `${target} is mounted twice in ${name}`, {
        target: "value",
        expected: "one mount per container path",
        hint: `Docker refuses a duplicate mount point; volumes[${first}] mounts it already`,
      }));
    });
  }
  check(["ai", "retention", "export", "path"], ctx.spec.ai.retention.export.path);
  return out;
}

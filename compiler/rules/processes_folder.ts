/**
 * Rule: `processes.path` (relative to the spec file's folder) is a folder
 * whose BPMN files can be read and each define a process.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

/** Reports a missing processes folder and unreadable or process-less BPMN files. */
export function processesFolder(ctx: RuleContext): Diagnostic[] {
  const p = ctx.processes;
  const path = ["processes", "path"];
  if (!p.exists) {
    return [at(ctx, path, `the processes folder \`${ctx.spec.processes.path}\` does not exist`, {
      target: "value",
      expected: "a folder of BPMN files, relative to the spec file's folder",
      hint: `create it (looked for ${p.dir}), or fix processes.path`,
    })];
  }
  return [
    ...p.unreadable.map((u) =>
      at(ctx, path, `\`${u.file}\` in the processes folder ${u.problem}`, {
        target: "value",
        hint: u.hint,
      })
    ),
    ...p.files.filter((f) => f.processIds.length === 0).map((f) =>
      at(ctx, path, `\`${f.file}\` in the processes folder defines no <process id="...">`, {
        target: "value",
        hint: "check that it is a BPMN 2.0 file with a process, or remove it",
      })
    ),
  ];
}

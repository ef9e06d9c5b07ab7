/**
 * Rule: each service's resources are ones Docker applies: at least 6 MiB of
 * memory (Docker's minimum limit) and at least 0.01 CPUs (its smallest
 * share).
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";
import { memoryBytes } from "../memory.ts";

const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
const MIN_CPUS = 0.01;

/** Reports resources Docker refuses. */
export function dockerResources(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [name, s] of Object.entries(ctx.spec.services)) {
    const { memory, cpus } = s.resources;
    if (memoryBytes(memory) < MIN_MEMORY_BYTES) {
      out.push(
        at(ctx, ["services", name, "resources", "memory"], `${memory} is under Docker's minimum`, {
          target: "value",
          expected: "a memory limit of at least 6m",
          hint:
            "Docker refuses a memory limit under 6 MiB; give the service what it needs, e.g. 512m",
        }),
      );
    }
    if (cpus < MIN_CPUS) {
      out.push(
        at(ctx, ["services", name, "resources", "cpus"], `${cpus} CPUs is under Docker's minimum`, {
          target: "value",
          expected: "at least 0.01 CPUs",
          hint: "Docker refuses fewer than 0.01 CPUs",
        }),
      );
    }
  }
  return out;
}

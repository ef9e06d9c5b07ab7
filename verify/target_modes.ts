/**
 * The target modes of verify and its address error: small, so the command
 * line can know them without loading the targets' resolution.
 *
 * @module
 */

/** How the default addresses are derived from the model. */
export type TargetMode = "local" | "network";

/** The target modes, default first. */
export const TARGET_MODES: readonly TargetMode[] = ["local", "network"];

/** A bad address: an unparsable URL or a malformed endpoints file. */
export class TargetError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "TargetError";
  }
}

/**
 * The one interface every emitter implements: a pure function from the stack
 * model to files.
 *
 * @module
 */
import type { StackModel } from "../model.ts";

/** A file to write under `out/`. */
export interface Artifact {
  /** Path relative to `out/`, with `/` separators. */
  path: string;
  /** The file's text. */
  content: string;
  /** File mode; 0o600 for anything holding a secret. Default 0o644. */
  mode?: number;
}

/** A pure function from the model to the files of one artifact kind. */
export type Emitter = (model: StackModel) => Artifact[];

/**
 * The images ProcOS builds itself, and how a Compose file builds them: the
 * engine (`engine/`), the one worker image the kernel and the workers run
 * (`workers/Dockerfile`), and the verify image the production profile can
 * add (`verify/Dockerfile`). A spec that names none gets these by default.
 *
 * Build contexts are relative to the spec's folder (the repository root).
 *
 * @module
 */

/** How Compose builds an image: its context folder and Dockerfile in it. */
export interface ImageBuild {
  /** The build context, relative to the spec's folder. */
  context: string;
  /** The Dockerfile, relative to the context. */
  dockerfile: string;
}

/** The ProcOS engine image: Camunda 7.24.0 on Spring Boot, built from `engine/`. */
export const ENGINE_IMAGE = "procos/engine:7.24.0";

/** The worker image: Deno 2.9.6 with the kernel and workers and their npm packages. */
export const WORKER_IMAGE = "procos/worker:2.9.6";

/** The verify image: Deno 2.9.6 with `deno task verify serve` and its npm packages. */
export const VERIFY_IMAGE = "procos/verify:2.9.6";

/** Where the worker image keeps the code it runs. */
export const WORKER_APP_DIR = "/procos/app";

/** Builds of the images ProcOS owns, by image reference. */
export const OWN_BUILDS: Readonly<Record<string, ImageBuild>> = {
  [ENGINE_IMAGE]: { context: "engine", dockerfile: "Dockerfile" },
  [WORKER_IMAGE]: { context: ".", dockerfile: "workers/Dockerfile" },
  [VERIFY_IMAGE]: { context: ".", dockerfile: "verify/Dockerfile" },
};

/** How Compose builds `image`, when ProcOS owns it; undefined for any other image. */
export function buildOf(image: string): ImageBuild | undefined {
  return OWN_BUILDS[image];
}

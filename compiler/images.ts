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
import { DEFAULT_DISTRIBUTION, type Distribution, DISTRIBUTIONS, ENGINES } from "./engines.ts";

/** How Compose builds an image: its context folder and Dockerfile in it. */
export interface ImageBuild {
  /** The build context, relative to the spec's folder. */
  context: string;
  /** The Dockerfile, relative to the context. */
  dockerfile: string;
  /** Build arguments (`--build-arg`), when the Dockerfile's defaults are not the ones. */
  args?: Readonly<Record<string, string>>;
}

/** The default ProcOS engine image: Camunda 7.24.0 on Spring Boot, built from `engine/`. */
export const ENGINE_IMAGE: string = ENGINES[DEFAULT_DISTRIBUTION].image;

/** How `engine/Dockerfile` builds the image of `distribution` (its defaults build Camunda's). */
export function engineBuild(distribution: Distribution): ImageBuild {
  const e = ENGINES[distribution];
  return {
    context: "engine",
    dockerfile: "Dockerfile",
    ...(distribution === DEFAULT_DISTRIBUTION
      ? {}
      : { args: { ENGINE_PROFILE: e.mavenProfile, ENGINE_VERSION: e.version } }),
  };
}

/** The worker image: Deno 2.9.6 with the kernel and workers and their npm packages. */
export const WORKER_IMAGE = "procos/worker:2.9.6";

/** The verify image: Deno 2.9.6 with `deno task verify serve` and its npm packages. */
export const VERIFY_IMAGE = "procos/verify:2.9.6";

/** Where the worker image keeps the code it runs. */
export const WORKER_APP_DIR = "/procos/app";

/** Builds of the images ProcOS owns, by image reference. */
export const OWN_BUILDS: Readonly<Record<string, ImageBuild>> = {
  ...Object.fromEntries(DISTRIBUTIONS.map((d) => [ENGINES[d].image, engineBuild(d)])),
  [WORKER_IMAGE]: { context: ".", dockerfile: "workers/Dockerfile" },
  [VERIFY_IMAGE]: { context: ".", dockerfile: "verify/Dockerfile" },
};

/** How Compose builds `image`, when ProcOS owns it; undefined for any other image. */
export function buildOf(image: string): ImageBuild | undefined {
  return OWN_BUILDS[image];
}

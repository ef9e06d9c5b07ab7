/**
 * The engine distributions ProcOS builds from `engine/`, and everything that
 * differs between them, in one table: the spec's
 * `services.<camunda>.engine.distribution` picks a row, and the compiler
 * (image, Compose build), the local runtime (which jar) and verify (webapps,
 * version) read it. Nothing else in the code base tells the two apart.
 *
 * Both distributions serve the same REST API under `/engine-rest`, the same
 * external-task protocol and the same BPMN (`camunda:` extension attributes
 * included), and the engine reads the same environment variables in both
 * (`engine/README.md`): the workers, the kernel and the processes do not
 * change.
 *
 * @module
 */

/** The engine distributions, the first the default (the seed's). */
export const DISTRIBUTIONS = ["camunda", "operaton"] as const;

/** An engine distribution: Camunda 7 CE or Operaton. */
export type Distribution = typeof DISTRIBUTIONS[number];

/** The distribution a spec without `engine.distribution` runs. */
export const DEFAULT_DISTRIBUTION: Distribution = "camunda";

/** What ProcOS knows about one distribution. */
export interface EngineDistribution {
  /** Its name, for messages and reports. */
  title: string;
  /** The pinned version ProcOS builds. */
  version: string;
  /** The image ProcOS builds from `engine/` for it. */
  image: string;
  /** The Maven profile of `engine/pom.xml` that builds it (Dockerfile `ENGINE_PROFILE`). */
  mavenProfile: string;
  /** Its executable jar, relative to the repository root (`mvn package [-P profile]` in `engine/`). */
  jar: string;
  /** Where its webapps (Cockpit, Tasklist, Admin) are served. */
  webapps: string;
  /** The group its admin user is in, with ALL on every resource. */
  adminGroup: string;
  /** Matches the version `GET /engine-rest/version` reports for a compatible engine. */
  reportedVersion: RegExp;
  /** How that version is described in verify's reports, e.g. `Camunda 7.x`. */
  expectedVersion: string;
}

/** Every distribution, by name. */
export const ENGINES = {
  camunda: {
    title: "Camunda",
    version: "7.24.0",
    image: "procos/engine:7.24.0",
    mavenProfile: "camunda",
    jar: "engine/target/procos-engine.jar",
    webapps: "/camunda",
    adminGroup: "camunda-admin",
    reportedVersion: /^7\./,
    expectedVersion: "Camunda 7.x",
  },
  operaton: {
    title: "Operaton",
    version: "1.0.3",
    image: "procos/engine-operaton:1.0.3",
    mavenProfile: "operaton",
    jar: "engine/target/operaton/procos-engine-operaton.jar",
    webapps: "/operaton",
    adminGroup: "operaton-admin",
    reportedVersion: /^1\./,
    expectedVersion: "Operaton 1.x",
  },
} as const satisfies Record<Distribution, EngineDistribution>;

/** The row of `distribution`, the default's when it is not given. */
export function engineOf(distribution: Distribution | undefined): EngineDistribution {
  return ENGINES[distribution ?? DEFAULT_DISTRIBUTION];
}

/** The distribution whose ProcOS image is `image` (by repository, any tag), if any. */
export function distributionOfImage(image: string): Distribution | undefined {
  const repo = (ref: string) => ref.replace(/^(docker\.io\/|localhost\/)/, "").split(":")[0];
  return DISTRIBUTIONS.find((d) => repo(ENGINES[d].image) === repo(image));
}

/** The engine image of a camunda service: its `image`, else its distribution's. */
export function engineImage(
  svc: { image?: string; engine: { distribution?: Distribution } },
): string {
  return svc.image ?? engineOf(svc.engine.distribution).image;
}

/** The image of any service of the spec: a camunda service's is {@link engineImage}. */
export function serviceImage(
  svc: { kind: string; image?: string; engine?: { distribution?: Distribution } },
): string {
  if (svc.image !== undefined) return svc.image;
  if (svc.kind === "camunda") return engineOf(svc.engine?.distribution).image;
  throw new Error(`a ${svc.kind} service without an image (the schema requires one)`);
}

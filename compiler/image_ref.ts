/**
 * Container image references, as the OCI distribution reference grammar
 * writes them: `[host[:port]/]path[:tag][@digest]`, e.g.
 * `registry.example.com:5000/team/postgres:15.10-alpine@sha256:<64 hex>`.
 *
 * One grammar for the schema, which refuses anything else, and for what
 * reads a reference's parts (the production pinning rule, the official
 * Camunda image, the RabbitMQ version).
 *
 * @module
 */

const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9A-Fa-f:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const TAG = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";

/** The whole grammar, anchored; the groups are the name, the tag and the digest. */
export const IMAGE_REFERENCE: RegExp = new RegExp(
  `^((?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`,
);

/** The most characters of an image's name (without tag and digest). */
export const MAX_IMAGE_NAME = 255;

/** An image reference in its parts. */
export interface ImageRef {
  /** The registry host (and port), when the reference names one. */
  registry?: string;
  /** The repository path, e.g. `library/postgres` is written `postgres`. */
  repository: string;
  /** The tag, when given. */
  tag?: string;
  /** The digest (`sha256:...`), when given. */
  digest?: string;
}

/**
 * Splits a reference into its parts, or `undefined` when it is not one.
 * The first path component is a registry only when it looks like a host (it
 * has a `.` or a `:`, or is `localhost`), as Docker reads it.
 */
export function parseImageRef(ref: string): ImageRef | undefined {
  const m = IMAGE_REFERENCE.exec(ref);
  if (!m || m[1].length > MAX_IMAGE_NAME) return undefined;
  const slash = m[1].indexOf("/");
  const first = slash < 0 ? "" : m[1].slice(0, slash);
  const isHost = first !== "" &&
    (/[.:]/.test(first) || first === "localhost" || first !== first.toLowerCase());
  return {
    ...(isHost ? { registry: first } : {}),
    repository: isHost ? m[1].slice(slash + 1) : m[1],
    ...(m[2] !== undefined ? { tag: m[2] } : {}),
    ...(m[3] !== undefined ? { digest: m[3] } : {}),
  };
}

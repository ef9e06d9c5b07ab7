/**
 * Profiles: overlays merged over the base spec. Objects are merged key by
 * key, arrays and scalars are replaced, so an overlay says only what differs.
 *
 * @module
 */

/** The profiles ProcOS knows. */
export type ProfileName = "development" | "production";
/** The profile names, default first. */
export const PROFILES: readonly ProfileName[] = ["development", "production"];

/** True for a plain object (not an array, not null). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Deep-merges `overlay` over `base` (objects merged, the rest replaced). Pure. */
export function mergeOverlay(base: unknown, overlay: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(overlay)) return overlay;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overlay)) out[k] = k in base ? mergeOverlay(base[k], v) : v;
  return out;
}

/**
 * Applies a profile to the raw spec file value: merges `profiles.<name>` over
 * the base and drops `profiles`.
 */
export function applyProfile(raw: unknown, profile: ProfileName): unknown {
  if (!isPlainObject(raw)) return raw;
  const { profiles, ...base } = raw;
  const overlay = isPlainObject(profiles) ? profiles[profile] : undefined;
  return overlay === undefined || overlay === null ? base : mergeOverlay(base, overlay);
}

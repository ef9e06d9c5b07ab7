/**
 * Production rule: every image (services and workers) is pinned, to a digest
 * or to a tag other than `latest`, so a production stack is reproducible.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext, units } from "./rule.ts";
import { parseImageRef } from "../image_ref.ts";
import { serviceImage } from "../engines.ts";

/** Reports images tagged `latest` or not tagged at all. */
export function prodImageTags(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const u of units(ctx.spec)) {
    const image = u.group === "services"
      ? serviceImage(ctx.spec.services[u.name])
      : ctx.spec.workers[u.name].image;
    const ref = parseImageRef(image);
    const tag = ref?.tag;
    // a digest pins the image whatever its tag says
    if (ref?.digest !== undefined || (tag !== undefined && tag !== "latest")) continue;
    out.push(at(
      ctx,
      [u.group, u.name, "image"],
      tag === undefined
        ? `image \`${image}\` has no tag, which means latest`
        : `image \`${image}\` uses the tag latest`,
      {
        target: "value",
        expected: "an image pinned to a version or a digest, such as postgres:15.10-alpine",
        hint: `pin a version in profiles.production.${u.group}.${u.name}.image`,
      },
    ));
  }
  return out;
}

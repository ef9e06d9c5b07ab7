/**
 * Rule: the engine image runs what the spec sets. The ProcOS engine (the
 * default, built from `engine/`) reads every engine setting of the spec, in
 * both profiles. The official `camunda/camunda-bpm-platform` image does not:
 * its Tomcat distribution (every tag but `run-*`) reads only its `DB_*`
 * settings, and Camunda Run would need a generated configuration and
 * `--production`, which ProcOS does not write yet. Both are refused, naming
 * the settings that would not take effect.
 *
 * A ProcOS engine image must also be of the spec's `engine.distribution`
 * (`engines.ts`): `procos/engine:*` runs Camunda, `procos/engine-operaton:*`
 * Operaton; the other distribution's is refused at `image:`, since the
 * webapps, the admin group and verify's expectations would not match.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";
import { parseImageRef } from "../image_ref.ts";
import { distributionOfImage, engineOf, ENGINES } from "../engines.ts";

/** The official Camunda 7 image's repository. */
export const OFFICIAL_CAMUNDA_REPOSITORY = "camunda/camunda-bpm-platform";

/** The names of Docker Hub, where the official image is. */
const DOCKER_HUB = new Set(["docker.io", "registry-1.docker.io", "index.docker.io"]);

/** The engine settings of the spec that the official image would not apply. */
const ENGINE_SETTINGS = ["engine.admin_user", "engine.history_level", "engine.rest_auth"];

/** Which distribution of the official image `image` is, if it is the official image. */
export function officialDistribution(image: string): "tomcat" | "run" | undefined {
  const ref = parseImageRef(image);
  const hub = ref?.registry === undefined || DOCKER_HUB.has(ref.registry);
  if (!ref || !hub || ref.repository !== OFFICIAL_CAMUNDA_REPOSITORY) return undefined;
  return (ref.tag ?? "latest").startsWith("run-") ? "run" : "tomcat";
}

/** Reports a Camunda service on the official image. */
export function camundaImage(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [name, s] of Object.entries(ctx.spec.services)) {
    if (s.kind !== "camunda" || s.image === undefined) continue;
    const own = distributionOfImage(s.image);
    if (own !== undefined && own !== s.engine.distribution) {
      const want = engineOf(s.engine.distribution);
      const mine = ENGINES[own];
      out.push(at(
        ctx,
        ["services", name, "image"],
        `\`${s.image}\` is the ProcOS ${mine.title} engine, but ` +
          `services.${name}.engine.distribution is ${s.engine.distribution}`,
        {
          expected: `the ${want.title} engine ${want.image} (or no \`image:\`)`,
          hint: `remove \`image:\` to run ${want.image}, or set ` +
            `services.${name}.engine.distribution: ${own} to run ${mine.title}`,
          target: "value",
        },
      ));
      continue;
    }
    const dist = officialDistribution(s.image);
    if (!dist) continue;
    const settings = ENGINE_SETTINGS.map((k) => `services.${name}.${k}`).join(", ");
    const what = dist === "tomcat"
      ? `Camunda's Tomcat distribution, which reads only its DB_* settings and ignores ${settings}`
      : `Camunda Run, which ProcOS does not configure yet: ${settings} and production mode ` +
        `(--production: no examples, CORS closed) would not take effect`;
    out.push(at(ctx, ["services", name, "image"], `\`${s.image}\` is ${what}`, {
      expected: `the ProcOS engine (no \`image:\`, or ${engineOf(s.engine.distribution).image})`,
      hint: "remove `image:` to run the ProcOS engine, which reads every setting of the spec",
      target: "value",
    }));
  }
  return out;
}

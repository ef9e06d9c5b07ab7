/**
 * Rule: the engine image runs what the spec sets. The ProcOS engine (the
 * default, built from `engine/`) reads every engine setting of the spec. The
 * official `camunda/camunda-bpm-platform` Tomcat distribution (every tag but
 * `run-*`) reads only its database settings, so the admin user, the history
 * level and REST auth of the spec would not take effect: it is refused.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { at, type RuleContext } from "./rule.ts";

/** The official Camunda 7 image's repository. */
export const OFFICIAL_CAMUNDA_REPOSITORY = "camunda/camunda-bpm-platform";

/** The engine settings of the spec that the Tomcat distribution ignores. */
const IGNORED_BY_TOMCAT = ["engine.admin_user", "engine.history_level", "engine.rest_auth"];

/** Whether `image` is the official image's Tomcat distribution. */
export function isTomcatDistribution(image: string): boolean {
  const m = /^(?:(?:docker\.io|registry-1\.docker\.io)\/)?([^:@]+)(?::([^@]+))?/.exec(image);
  if (!m || m[1] !== OFFICIAL_CAMUNDA_REPOSITORY) return false;
  return !(m[2] ?? "latest").startsWith("run-");
}

/** Reports a Camunda service on the official Tomcat distribution. */
export function camundaImage(ctx: RuleContext): Diagnostic[] {
  return Object.entries(ctx.spec.services)
    .filter(([, s]) => s.kind === "camunda" && isTomcatDistribution(s.image))
    .map(([name, s]) =>
      at(
        ctx,
        ["services", name, "image"],
        `\`${s.image}\` is Camunda's Tomcat distribution, which ignores ` +
          `${IGNORED_BY_TOMCAT.map((k) => `services.${name}.${k}`).join(", ")}`,
        {
          expected:
            "the ProcOS engine (leave `image` out) or a `camunda/camunda-bpm-platform:run-*` tag",
          hint: "remove `image:` to run the ProcOS engine, which reads every setting of the spec",
          target: "value",
        },
      )
    );
}

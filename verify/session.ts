/**
 * A verify session: the spec loaded, the model built, the targets resolved
 * and the checks planned, once; then run as often as asked (once by the
 * CLI, on every request that misses the cache by `verify serve`).
 *
 * @module
 */
import { dirname } from "node:path";
import { loadSpec } from "../compiler/load_spec.ts";
import { buildModel } from "../compiler/model.ts";
import type { ProfileName } from "../compiler/schema.ts";
import type { Check, Domain, VerifyContext } from "./check.ts";
import { planChecks } from "./plan.ts";
import { resolveTargets } from "./targets.ts";
import type { TargetMode, TargetOverrides, Targets } from "./targets.ts";
import { refreshComposeWorkers } from "./compose_targets.ts";
import type { ReportMeta } from "./reporters/mod.ts";

/** What a session is opened from. */
export interface SessionOptions {
  config: string;
  profile: ProfileName;
  out: string;
  only: readonly Domain[];
  target: TargetMode;
  urls: TargetOverrides;
  env: Record<string, string | undefined>;
}

/** An opened session. */
export interface Session {
  /** What every check reads. */
  ctx: VerifyContext;
  /** The planned checks, in report order. */
  checks: Check[];
  /** The resolved secret values, redacted from every result. */
  secrets: string[];
  /** The project and profile, for the reporters. */
  meta: ReportMeta;
  /** Where each service is, and where that came from. */
  targets: Targets;
}

/** Loads the spec, builds the model, resolves the targets and plans the checks. */
export async function openSession(opts: SessionOptions): Promise<Session> {
  const resolved = await loadSpec(opts.config, { profile: opts.profile, env: opts.env });
  const model = buildModel(resolved);
  const targets = await refreshComposeWorkers(
    model,
    await resolveTargets(model, {
      mode: opts.target,
      outDir: opts.out,
      env: opts.env,
      overrides: opts.urls,
    }),
    opts.out,
    opts.env.DOCKER_HOST,
  );
  const ctx: VerifyContext = {
    model,
    targets,
    specFile: opts.config,
    specDir: dirname(opts.config),
    outDir: opts.out,
  };
  return {
    ctx,
    checks: await planChecks(model, ctx, opts.only),
    secrets: Object.values(resolved.secrets).map((s) => s.value),
    meta: { project: model.project, profile: model.profile },
    targets,
  };
}

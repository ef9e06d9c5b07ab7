/**
 * Helpers of the verify tests: the reference spec's model, a context with
 * chosen targets, running one check, and a throwaway Redis server.
 *
 * @module
 */
import { loadSpec } from "../../compiler/load_spec.ts";
import { buildModel } from "../../compiler/model.ts";
import type { StackModel } from "../../compiler/model.ts";
import type { Check, Result, VerifyContext } from "../../verify/check.ts";
import { runOne } from "../../verify/runner.ts";
import type { Targets } from "../../verify/targets.ts";
import { resolveTargets } from "../../verify/targets.ts";
import { REPO_ROOT } from "../helpers/build.ts";

/** The reference spec's path. */
export const SPEC = `${REPO_ROOT}/procos.config.yaml`;

/** The reference spec's model (development unless told), freshly built. */
export async function referenceModel(
  profile: "development" | "production" = "development",
): Promise<StackModel> {
  return buildModel(await loadSpec(SPEC, { profile, env: {} }));
}

/** A context over `model`, its targets from the model (local mode) with overrides. */
export async function contextFor(
  model: StackModel,
  targets: Partial<Targets> = {},
  extra: Partial<VerifyContext> = {},
): Promise<VerifyContext> {
  const base = await resolveTargets(model, { mode: "local" });
  return {
    model,
    targets: { ...base, ...targets },
    specFile: SPEC,
    specDir: REPO_ROOT,
    outDir: `${REPO_ROOT}/out`,
    ...extra,
  };
}

/** The check with this id; throws listing the ids when there is none. */
export function byId(checks: readonly Check[], id: string): Check {
  const c = checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id}; have: ${checks.map((x) => x.id).join(", ")}`);
  return c;
}

/** Runs one check once (timeout 15 s). */
export async function run(check: Check, ctx: VerifyContext): Promise<Result> {
  return (await runOne(check, ctx, 15_000)).result;
}

/** Runs every check; the results by id. */
export async function runAll(
  checks: readonly Check[],
  ctx: VerifyContext,
): Promise<Map<string, Result>> {
  const out = new Map<string, Result>();
  await Promise.all(checks.map(async (c) => out.set(c.id, await run(c, ctx))));
  return out;
}

/** The ids whose result is a failure, sorted. */
export function failing(results: Map<string, Result>): string[] {
  return [...results].filter(([, r]) => r.status === "fail").map(([id]) => id).sort();
}

/** A free TCP port on 127.0.0.1 (closed again; tiny race accepted in tests). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A redis-server this test started, on its own port and folder. */
export interface TestRedis {
  port: number;
  stop(): Promise<void>;
}

/** Starts `redis-server` with the given arguments on a free port; waits until it answers. */
export async function startRedis(args: string[]): Promise<TestRedis> {
  const dir = await Deno.makeTempDir({ prefix: "procos-verify-redis-" });
  const port = freePort();
  const child = new Deno.Command("redis-server", {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--logfile", "", ...args],
    stdout: "null",
    stderr: "null",
    stdin: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  for (let i = 0; i < 100; i++) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return { port, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await stop();
  throw new Error("redis-server did not start");
}

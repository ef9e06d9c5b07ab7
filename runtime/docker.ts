/**
 * `up` / `down` on a machine with a Docker engine: Docker Compose with the
 * generated compose files, `--wait` gating each service on its health check.
 *
 * @module
 */
import { join } from "node:path";
import {
  COMPOSE_FILE,
  COMPOSE_PRODUCTION_FILE,
  PRODUCTION_PROFILE,
} from "../compiler/emit/compose.ts";
import { RuntimeError } from "./errors.ts";
import { run } from "./procs.ts";

/** True when `docker info` succeeds (a Docker engine answers). */
export async function dockerAvailable(
  env: Record<string, string | undefined> = {},
): Promise<boolean> {
  if (env.PROCOS_RUNTIME === "local") return false;
  const r = await run(["docker", "info"], { timeoutMs: 20_000 });
  return r.code === 0;
}

/** The `-f ... [--profile production]` arguments for an output folder and profile. */
export function composeFileArgs(outDir: string, profile: string): string[] {
  const args = ["-f", join(outDir, COMPOSE_FILE)];
  if (profile === PRODUCTION_PROFILE) {
    args.push("-f", join(outDir, COMPOSE_PRODUCTION_FILE), "--profile", PRODUCTION_PROFILE);
  }
  return args;
}

async function compose(args: string[]): Promise<number> {
  const child = new Deno.Command("docker", {
    args: ["compose", ...args],
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return (await child.status).code;
}

/** `docker compose -f ... up -d --wait [services]`. */
export async function composeUp(
  outDir: string,
  profile: string,
  services: string[] = [],
): Promise<string[]> {
  const args = [...composeFileArgs(outDir, profile), "up", "-d", "--wait", ...services];
  const code = await compose(args);
  if (code !== 0) {
    throw new RuntimeError(
      `docker compose ${args.join(" ")} failed (exit ${code}); see its output above, and ` +
        `\`docker compose ${composeFileArgs(outDir, profile).join(" ")} logs\``,
    );
  }
  return args;
}

/** `docker compose -f ... down` (`-v` with purge: removes the named volumes too). */
export async function composeDown(
  outDir: string,
  profile: string,
  purge: boolean,
): Promise<string[]> {
  const args = [...composeFileArgs(outDir, profile), "down", ...(purge ? ["-v"] : [])];
  const code = await compose(args);
  if (code !== 0) throw new RuntimeError(`docker compose ${args.join(" ")} failed (exit ${code})`);
  return args;
}

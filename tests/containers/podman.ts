/**
 * Helpers of the container tests: run a command, set podman up in a run
 * folder of the test's own (tools/podman-setup.sh), qualified image names.
 *
 * @module
 */
import { join } from "node:path";
import { parseEnvLines } from "../../runtime/images.ts";
import { REPO_ROOT } from "../helpers/build.ts";

/** tools/podman-setup.sh. */
export const SETUP: string = join(REPO_ROOT, "tools", "podman-setup.sh");

/** What a command printed and how it ended. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (no stdin), killed after `timeoutMs`. */
export async function sh(
  cmd: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<Ran> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), opts.timeoutMs ?? 120_000);
  try {
    const out = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      env: opts.env,
      cwd: opts.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    }).output();
    const dec = new TextDecoder();
    return {
      code: ac.signal.aborted ? 124 : out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr) +
        (ac.signal.aborted ? `\n(killed after ${opts.timeoutMs ?? 120_000} ms)` : ""),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** The last lines of a command's output, for an error message. */
export function tail(r: Ran, lines = 25): string {
  return `${r.stdout}\n${r.stderr}`.trim().split("\n").slice(-lines).join("\n");
}

/** Runs a command and throws with its output unless it succeeds. */
export async function must(
  what: string,
  cmd: string[],
  opts: Parameters<typeof sh>[1] = {},
): Promise<Ran> {
  const r = await sh(cmd, opts);
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${tail(r)}`);
  return r;
}

/** The fully qualified name of an image reference (`redis:7` → `docker.io/library/redis:7`). */
export function qualified(image: string): string {
  const first = image.split("/")[0];
  if (
    image.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")
  ) {
    return image;
  }
  return image.includes("/") ? `docker.io/${image}` : `docker.io/library/${image}`;
}

/** Waits `ms` milliseconds. */
export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/**
 * Sets podman up with its API service in `runDir` (tools/podman-setup.sh up);
 * returns its environment, or throws with the set-up's output.
 */
export async function podmanUp(runDir: string): Promise<Record<string, string>> {
  const started = performance.now();
  const setup = await sh(["bash", SETUP, "up"], {
    env: { ...Deno.env.toObject(), PROCOS_PODMAN_RUN: runDir },
    timeoutMs: 15 * 60_000,
  });
  const seconds = (performance.now() - started) / 1000;
  if (setup.code !== 0) {
    throw new Error(
      `podman cannot run containers here: tools/podman-setup.sh failed ` +
        `(exit ${setup.code}) after ${seconds.toFixed(0)} s:\n${tail(setup)}`,
    );
  }
  console.log(`podman set-up: ${seconds.toFixed(1)} s`);
  return parseEnvLines(setup.stdout);
}

/** Stops the API service and health loop podmanUp started in `runDir`. */
export async function podmanDown(runDir: string): Promise<void> {
  await must("podman-setup.sh down", ["bash", SETUP, "down"], {
    env: { ...Deno.env.toObject(), PROCOS_PODMAN_RUN: runDir },
  });
}

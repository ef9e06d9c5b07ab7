/**
 * Runs an ops task's `main` in process with its output captured.
 *
 * @module
 */

/** The I/O an ops task's `main` takes. */
export interface CliIo {
  stdout: (t: string) => void;
  stderr: (t: string) => void;
  env: Record<string, string | undefined>;
}

/** Runs `main(args, io)` and returns its exit code and what it printed. */
export async function runCli(
  main: (args: string[], io: CliIo) => Promise<number>,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

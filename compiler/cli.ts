/**
 * The `procos` command line: `deno task build [--config F] [--profile P]
 * [--out D] [--check] [--force]`.
 *
 * Warnings (`file:line:col: warning: ...`) go to stderr and do not change
 * the exit code. Exit codes: 0 success; 1 the spec has errors, whether found
 * while loading or while emitting (every diagnostic printed, located,
 * nothing written); 2 a misuse of the command line (bad arguments, an
 * `--out` that is not ProcOS's or cannot be written), as one line, with a
 * stack trace only when `PROCOS_DEBUG=1`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dirname, resolve } from "node:path";
import { build, compile } from "./compile.ts";
import { type Diagnostic, formatDiagnostic, sortDiagnostics, SpecError } from "./diagnostics.ts";
import { startCommand } from "./emit/compose.ts";
import { PROFILES } from "./schema.ts";
import type { ProfileName } from "./schema.ts";

/** The usage text. */
export const USAGE = `usage: deno task build [options]

Validates the ProcOS spec and compiles it into the out folder (atomically).

options:
  --config FILE      the spec (default procos.config.yaml)
  --profile NAME     development (default) or production
  --out DIR          the out folder (default out)
  --check            validate and compile only; write nothing
  --force            replace --out even if ProcOS did not create it
  -h, --help         this text

Secrets are read from the environment (PROCOS_POSTGRES_PASSWORD, ...).`;

/** Where the CLI prints; tests pass their own. */
export interface CliIo {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
  /** Environment (secrets, PROCOS_DEBUG). */
  env: Record<string, string | undefined>;
}

/** A usage mistake: exit 2 with the message and a pointer to --help. */
class UsageError extends Error {}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Quotes a path for a shell command line when it needs it. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

function parse(args: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: "string", default: "procos.config.yaml" },
        profile: { type: "string", default: "development" },
        out: { type: "string", default: "out" },
        check: { type: "boolean", default: false },
        force: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    throw new UsageError(unknown ? `unknown option ${unknown[1]}` : message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true as const };
  const [command, ...rest] = positionals;
  if (command !== "build" || rest.length > 0) {
    throw new UsageError(
      command === undefined
        ? "missing command: use `build`"
        : `unknown command "${[command, ...rest].join(" ")}": use \`build\``,
    );
  }
  if (!(PROFILES as readonly string[]).includes(values.profile)) {
    throw new UsageError(`unknown profile "${values.profile}": use ${PROFILES.join(" or ")}`);
  }
  return {
    help: false as const,
    config: values.config,
    profile: values.profile as ProfileName,
    out: values.out,
    check: values.check,
    force: values.force,
  };
}

/** Prints each warning and a count line (nothing when there are none). */
function printWarnings(io: CliIo, warnings: readonly Diagnostic[], config: string): void {
  if (warnings.length === 0) return;
  for (const d of warnings) io.stderr(formatDiagnostic(d));
  io.stderr(`procos: ${plural(warnings.length, "warning")} in ${config}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs the CLI with `args` (without the program name); returns the exit code. */
export async function main(args: string[], io: CliIo): Promise<number> {
  let config = "procos.config.yaml";
  try {
    const opts = parse(args);
    if (opts.help) {
      io.stdout(USAGE);
      return 0;
    }
    config = opts.config;
    if (opts.check) {
      const { artifacts, warnings } = await compile(opts.config, {
        profile: opts.profile,
        env: io.env,
      });
      printWarnings(io, warnings, opts.config);
      io.stdout(
        `procos: ${opts.config} is valid (profile ${opts.profile}; ` +
          `${plural(artifacts.length, "file")} would be written); nothing was written`,
      );
      return 0;
    }
    const result = await build(opts.config, {
      profile: opts.profile,
      env: io.env,
      outDir: opts.out,
      force: opts.force,
    });
    printWarnings(io, result.warnings, opts.config);
    const out = opts.out.replace(/\/+$/, "") || "/";
    io.stdout(
      `procos: wrote ${plural(result.artifacts.length, "file")} to ${out}/ ` +
        `(profile ${opts.profile}, from ${opts.config})`,
    );
    io.stdout(`start the stack: ${startCommand(opts.profile, shellWord(out))}`);
    if (resolve(dirname(opts.out)) !== resolve(dirname(opts.config))) {
      io.stderr(
        `procos: note: ${out}/ is not next to ${opts.config}; its compose files mount host ` +
          `paths such as ../processes relative to it, so start the stack from an out folder ` +
          `beside the spec`,
      );
    }
    return 0;
  } catch (e) {
    if (e instanceof SpecError) {
      for (const d of sortDiagnostics([...e.diagnostics, ...e.warnings])) {
        io.stderr(formatDiagnostic(d));
      }
      io.stderr(
        `procos: ${plural(e.diagnostics.length, "error")} in ${config}; nothing was written`,
      );
      return 1;
    }
    if (e instanceof UsageError) {
      io.stderr(`procos: ${e.message} (see --help)`);
      return 2;
    }
    if (e instanceof Deno.errors.NotFound && !(await exists(config))) {
      io.stderr(`procos: cannot read ${config}: no such file; pass --config with the spec's path`);
      return 2;
    }
    const message = e instanceof Error ? e.message : String(e);
    io.stderr(`procos: ${message.split("\n")[0]}`);
    if (io.env.PROCOS_DEBUG === "1" && e instanceof Error && e.stack) io.stderr(e.stack);
    return 2;
  }
}

if (import.meta.main) {
  const code = await main(Deno.args, {
    stdout: (l) => console.log(l),
    stderr: (l) => console.error(l),
    env: Deno.env.toObject(),
  });
  Deno.exit(code);
}

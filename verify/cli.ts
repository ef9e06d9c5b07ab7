/**
 * `deno task verify`: checks a running stack against the spec (goss-like).
 *
 * Exit codes: 0 every check passed (or was skipped); 1 a check failed, or the
 * spec has errors (each printed, located); 2 anything else (bad arguments, a
 * bad target address), as one line; a stack trace only with `PROCOS_DEBUG=1`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dirname } from "node:path";
import { formatDiagnostic, SpecError } from "../compiler/diagnostics.ts";
import { loadSpec } from "../compiler/load_spec.ts";
import { buildModel } from "../compiler/model.ts";
import { PROFILES } from "../compiler/schema.ts";
import type { ProfileName } from "../compiler/schema.ts";
import type { Domain, VerifyContext } from "./check.ts";
import { DOMAINS } from "./check.ts";
import { parseDomains, planChecks } from "./plan.ts";
import { formatMs, runChecks } from "./runner.ts";
import type { RunEvents } from "./runner.ts";
import { renderJson } from "./reporters/json.ts";
import { renderJunit } from "./reporters/junit.ts";
import { colorWanted, prettyReporter } from "./reporters/pretty.ts";
import type { TargetMode } from "./targets.ts";
import { resolveTargets, TARGET_MODES, TargetError } from "./targets.ts";
import { refreshComposeWorkers } from "./compose_targets.ts";

/** The usage text. */
export const USAGE = `usage: deno task verify [options]

Checks the running stack against the spec: services reachable and healthy,
PostgreSQL schema, Camunda deployments, RabbitMQ topology, Redis settings,
Ollama models, and drift of the build output.

options:
  --config FILE        the spec (default procos.config.yaml)
  --profile NAME       development (default) or production
  --out DIR            the build output folder (default out)
  --reporter NAME      pretty (default), json or junit
  --only LIST          only these domains, comma-separated:
                       ${DOMAINS.join(",")}
  --wait DURATION      retry failing checks until all pass or this time is up
                       (e.g. 60s, 2m; default 0: no retry)
  --timeout DURATION   time one run of one check may take (default 10s)
  --concurrency N      checks running at once (default 8)
  --target MODE        local (default): the ports the spec publishes on this
                       host; network: service names and container ports
  --pg-url URL, --redis-url URL, --rabbitmq-url URL, --rabbitmq-mgmt-url URL,
  --camunda-url URL, --ollama-url URL
                       where a service is (also PROCOS_PG_URL, PROCOS_REDIS_URL,
                       PROCOS_RABBITMQ_URL, PROCOS_RABBITMQ_MGMT_URL,
                       PROCOS_CAMUNDA_URL, PROCOS_OLLAMA_URL, and
                       out/runtime/endpoints.json); only host and port are used
  -h, --help           this text

Credentials come from the spec's secrets (PROCOS_POSTGRES_PASSWORD, ...); they
are never printed.`;

/** Where the CLI prints; tests pass their own. */
export interface VerifyIo {
  /** Raw text to stdout (reports, progress). */
  write: (text: string) => void;
  /** One line to stderr. */
  stderr: (line: string) => void;
  /** Environment (secrets, PROCOS_*_URL, PROCOS_DEBUG). */
  env: Record<string, string | undefined>;
  /** ANSI colors in the pretty report. */
  color: boolean;
}

/** A usage mistake: exit 2. */
class UsageError extends Error {}

/** The reporters. */
export type ReporterName = "pretty" | "json" | "junit";

const REPORTERS: readonly ReporterName[] = ["pretty", "json", "junit"];

/** Parsed options. */
export interface VerifyOptions {
  config: string;
  profile: ProfileName;
  out: string;
  reporter: ReporterName;
  only: Domain[];
  waitMs: number;
  timeoutMs: number;
  concurrency: number;
  target: TargetMode;
  urls: {
    pgUrl?: string;
    redisUrl?: string;
    rabbitmqUrl?: string;
    rabbitmqMgmtUrl?: string;
    camundaUrl?: string;
    ollamaUrl?: string;
  };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Parses `60s`, `2m`, `1500ms`, `1h`, or a bare number of seconds, into milliseconds. */
export function parseWait(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`not a duration: ${JSON.stringify(text)} (e.g. 60s, 2m, 500ms)`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? "s"]);
}

/** Parses the command line (without the program name). */
export function parseVerifyArgs(args: string[]): VerifyOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: false,
      strict: true,
      options: {
        config: { type: "string", default: "procos.config.yaml" },
        profile: { type: "string", default: "development" },
        out: { type: "string", default: "out" },
        reporter: { type: "string", default: "pretty" },
        only: { type: "string" },
        wait: { type: "string", default: "0" },
        timeout: { type: "string", default: "10s" },
        concurrency: { type: "string", default: "8" },
        target: { type: "string", default: "local" },
        "pg-url": { type: "string" },
        "redis-url": { type: "string" },
        "rabbitmq-url": { type: "string" },
        "rabbitmq-mgmt-url": { type: "string" },
        "camunda-url": { type: "string" },
        "ollama-url": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const v = parsed.values;
  if (v.help) return "help";
  if (!(PROFILES as readonly string[]).includes(v.profile)) {
    throw new UsageError(`unknown profile "${v.profile}": use ${PROFILES.join(" or ")}`);
  }
  if (!(REPORTERS as readonly string[]).includes(v.reporter)) {
    throw new UsageError(`unknown reporter "${v.reporter}": use ${REPORTERS.join(", ")}`);
  }
  if (!(TARGET_MODES as readonly string[]).includes(v.target)) {
    throw new UsageError(`unknown target "${v.target}": use ${TARGET_MODES.join(" or ")}`);
  }
  let only: Domain[] = [...DOMAINS];
  if (v.only !== undefined) {
    try {
      only = parseDomains(v.only);
    } catch (e) {
      throw new UsageError(e instanceof Error ? e.message : String(e));
    }
  }
  const concurrency = Number(v.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new UsageError(`--concurrency: a whole number from 1 to 256, not ${v.concurrency}`);
  }
  const timeoutMs = parseWait(v.timeout);
  if (timeoutMs <= 0) throw new UsageError("--timeout must be more than 0");
  return {
    config: v.config,
    profile: v.profile as ProfileName,
    out: v.out.replace(/\/+$/, "") || "/",
    reporter: v.reporter as ReporterName,
    only,
    waitMs: parseWait(v.wait),
    timeoutMs,
    concurrency,
    target: v.target as TargetMode,
    urls: {
      pgUrl: v["pg-url"],
      redisUrl: v["redis-url"],
      rabbitmqUrl: v["rabbitmq-url"],
      rabbitmqMgmtUrl: v["rabbitmq-mgmt-url"],
      camundaUrl: v["camunda-url"],
      ollamaUrl: v["ollama-url"],
    },
  };
}

/** Runs `deno task verify` with `args`; returns the exit code. */
export async function main(args: string[], io: VerifyIo): Promise<number> {
  let config = "procos.config.yaml";
  try {
    const opts = parseVerifyArgs(args);
    if (opts === "help") {
      io.write(USAGE + "\n");
      return 0;
    }
    config = opts.config;
    const resolved = await loadSpec(opts.config, { profile: opts.profile, env: io.env });
    const model = buildModel(resolved);
    const targets = await refreshComposeWorkers(
      model,
      await resolveTargets(model, {
        mode: opts.target,
        outDir: opts.out,
        env: io.env,
        overrides: opts.urls,
      }),
      opts.out,
      io.env.DOCKER_HOST,
    );
    const ctx: VerifyContext = {
      model,
      targets,
      specFile: opts.config,
      specDir: dirname(opts.config),
      outDir: opts.out,
    };
    const checks = planChecks(model, ctx, opts.only);
    const secrets = Object.values(resolved.secrets).map((s) => s.value);

    const pretty = opts.reporter === "pretty"
      ? prettyReporter({ write: io.write, color: io.color })
      : undefined;
    if (pretty) {
      const where = Object.entries(targets.sources)
        .map(([k, v]) => `${k} ← ${v}`)
        .join("; ");
      io.write(
        `procos verify: ${opts.config} (profile ${opts.profile}), target ${targets.mode}` +
          (opts.waitMs ? `, waiting up to ${formatMs(opts.waitMs)}` : "") +
          `\n  ${where}\n`,
      );
    }
    const events: RunEvents = pretty ?? {};
    const report = await runChecks(checks, ctx, {
      ...events,
      concurrency: opts.concurrency,
      timeoutMs: opts.timeoutMs,
      waitMs: opts.waitMs,
      redact: secrets,
    });
    const meta = { project: model.project, profile: model.profile };
    if (pretty) pretty.end(report);
    else if (opts.reporter === "json") io.write(renderJson(report, meta));
    else io.write(renderJunit(report, meta));
    return report.summary.fail === 0 ? 0 : 1;
  } catch (e) {
    if (e instanceof SpecError) {
      for (const d of e.diagnostics) io.stderr(formatDiagnostic(d));
      io.stderr(`procos verify: ${e.diagnostics.length} error(s) in ${config}; nothing verified`);
      return 1;
    }
    if (e instanceof UsageError) {
      io.stderr(`procos verify: ${e.message} (see --help)`);
      return 2;
    }
    if (e instanceof TargetError) {
      io.stderr(`procos verify: ${e.message}`);
      return 2;
    }
    if (e instanceof Deno.errors.NotFound) {
      io.stderr(`procos verify: cannot read ${config}: no such file; pass --config`);
      return 2;
    }
    const message = e instanceof Error ? e.message : String(e);
    io.stderr(`procos verify: ${message.split("\n")[0]}`);
    if (io.env.PROCOS_DEBUG === "1" && e instanceof Error && e.stack) io.stderr(e.stack);
    return 2;
  }
}

if (import.meta.main) {
  const enc = new TextEncoder();
  const code = await main(Deno.args, {
    write: (t) => {
      const b = enc.encode(t);
      let off = 0;
      while (off < b.length) off += Deno.stdout.writeSync(b.subarray(off));
    },
    stderr: (l) => console.error(l),
    env: Deno.env.toObject(),
    color: colorWanted(),
  });
  Deno.exit(code);
}

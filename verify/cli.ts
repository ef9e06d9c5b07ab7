/**
 * `deno task verify`: checks a running stack against the spec (goss-like);
 * `deno task verify serve` keeps answering it over HTTP (`serve.ts`).
 *
 * Exit codes: 0 every check passed (or was skipped); 1 a check failed, or the
 * spec has errors (each printed, located); 2 anything else (bad arguments, a
 * bad target address), as one line; a stack trace only with `PROCOS_DEBUG=1`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { formatDiagnostic, SpecError } from "../compiler/diagnostics.ts";
import { type ProfileName, PROFILES } from "../compiler/profile.ts";
import type { Domain } from "./check.ts";
import { DOMAINS } from "./check.ts";
import { parseDomains } from "./plan.ts";
import { formatMs, runChecks } from "./runner.ts";
import type { RunEvents } from "./runner.ts";
import { REPORTER_NAMES, REPORTERS } from "./reporters/mod.ts";
import type { ReporterName } from "./reporters/mod.ts";
import { colorWanted, prettyReporter } from "./reporters/pretty.ts";
import { renderPrometheus, writeTextfile } from "./reporters/prometheus.ts";
import { TARGET_MODES, TargetError, type TargetMode } from "./target_modes.ts";
import type { Session } from "./session.ts";

export type { ReporterName } from "./reporters/mod.ts";

/** The usage text. */
export const USAGE = `usage: deno task verify [serve] [options]

Checks the running stack against the spec: services reachable and healthy,
PostgreSQL schema, Camunda deployments, RabbitMQ topology, Redis settings,
Ollama models, and drift of the build output.

\`serve\` keeps answering over HTTP: GET /healthz (200, or 503 when a check
fails; the format from the Accept header), /metrics (Prometheus text) and
/checks/<id> (one check).

options:
  --config FILE        the spec (default procos.config.yaml)
  --profile NAME       development (default) or production
  --out DIR            the build output folder (default out)
  --reporter NAME      ${REPORTER_NAMES.join(", ")} (default pretty)
  --textfile FILE      also write the result as Prometheus text to FILE (*.prom),
                       atomically, for node_exporter's textfile collector
  --port N, --host H   serve: where to listen (default 9200 on 127.0.0.1)
  --cache DURATION     serve: how long a run answers requests (default 5s)
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
  /** A progress line while the checks run (on a terminal). */
  progress?: boolean;
  /** Stops `serve` when aborted (tests; the CLI stops on SIGINT and SIGTERM). */
  stop?: AbortSignal;
}

/** A usage mistake: exit 2. */
class UsageError extends Error {}

/** Parsed options. */
export interface VerifyOptions {
  /** `serve`, or undefined for one run. */
  command?: "serve";
  config: string;
  profile: ProfileName;
  out: string;
  reporter: ReporterName;
  only: Domain[];
  waitMs: number;
  timeoutMs: number;
  concurrency: number;
  target: TargetMode;
  textfile?: string;
  serve: { port: number; host: string; cacheMs: number };
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
      allowPositionals: true,
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
        textfile: { type: "string" },
        port: { type: "string", default: "9200" },
        host: { type: "string", default: "127.0.0.1" },
        cache: { type: "string", default: "5s" },
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
  const [command, ...extra] = parsed.positionals;
  if ((command !== undefined && command !== "serve") || extra.length > 0) {
    throw new UsageError(`unknown command "${parsed.positionals.join(" ")}": use serve, or none`);
  }
  const port = Number(v.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port: a port number from 0 to 65535, not ${v.port}`);
  }
  if (v.textfile !== undefined && !v.textfile.endsWith(".prom")) {
    throw new UsageError(
      `--textfile ${v.textfile}: the textfile collector reads only *.prom files`,
    );
  }
  if (!(PROFILES as readonly string[]).includes(v.profile)) {
    throw new UsageError(`unknown profile "${v.profile}": use ${PROFILES.join(" or ")}`);
  }
  if (!(REPORTER_NAMES as readonly string[]).includes(v.reporter)) {
    throw new UsageError(`unknown reporter "${v.reporter}": use ${REPORTER_NAMES.join(", ")}`);
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
    ...(command === "serve" ? { command } : {}),
    config: v.config,
    profile: v.profile as ProfileName,
    out: v.out.replace(/\/+$/, "") || "/",
    reporter: v.reporter as ReporterName,
    only,
    waitMs: parseWait(v.wait),
    timeoutMs,
    concurrency,
    target: v.target as TargetMode,
    ...(v.textfile !== undefined ? { textfile: v.textfile } : {}),
    serve: { port, host: v.host, cacheMs: parseWait(v.cache) },
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

/** Serves the session until SIGINT or SIGTERM (or `io.stop`); returns the exit code. */
async function serve(session: Session, opts: VerifyOptions, io: VerifyIo): Promise<number> {
  const { verifyHandler } = await import("./serve.ts");
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const sig of signals) Deno.addSignalListener(sig, onSignal);
  io.stop?.addEventListener("abort", onSignal);
  try {
    const server = Deno.serve(
      {
        port: opts.serve.port,
        hostname: opts.serve.host,
        signal: stop.signal,
        onListen: ({ hostname, port }) =>
          io.stderr(
            `procos verify: serving ${session.checks.length} checks on http://${hostname}:${port}` +
              ` (/healthz, /metrics, /checks/<id>; results cached ${formatMs(opts.serve.cacheMs)})`,
          ),
      },
      verifyHandler(session, {
        cacheMs: opts.serve.cacheMs,
        timeoutMs: opts.timeoutMs,
        concurrency: opts.concurrency,
      }),
    );
    await server.finished;
    return 0;
  } finally {
    for (const sig of signals) Deno.removeSignalListener(sig, onSignal);
  }
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
    // loaded only now: the spec's parser and schema, the targets, the checks
    const { openSession } = await import("./session.ts");
    const session = await openSession({ ...opts, env: io.env });
    if (opts.command === "serve") return await serve(session, opts, io);
    const { targets } = session;
    const pretty = opts.reporter === "pretty"
      ? prettyReporter({ write: io.write, color: io.color, progress: io.progress ?? false })
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
    const report = await runChecks(session.checks, session.ctx, {
      ...events,
      concurrency: opts.concurrency,
      timeoutMs: opts.timeoutMs,
      waitMs: opts.waitMs,
      redact: session.secrets,
    });
    if (pretty) pretty.end(report);
    else io.write(REPORTERS[opts.reporter].render(report, session.meta));
    if (opts.textfile) await writeTextfile(opts.textfile, renderPrometheus(report, session.meta));
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
    progress: Deno.stderr.isTerminal(),
  });
  Deno.exit(code);
}

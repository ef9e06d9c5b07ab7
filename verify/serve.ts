/**
 * `deno task verify serve`: the conformance suite as a long-lived HTTP
 * endpoint, for readiness probes and monitoring (as `goss serve` does).
 *
 * - `GET /healthz`: 200 when no check fails, else 503; the body is the
 *   report in the format the Accept header asks for (pretty text, JSON,
 *   JUnit XML or TAP; `reporters/mod.ts`);
 * - `GET /metrics`: the report as Prometheus text;
 * - `GET /checks/<id>`: one check, 200 or 503 likewise;
 * - `GET /livez`: 200 as long as the server answers, running no check (for
 *   a liveness probe or a container's health check).
 *
 * Results are cached for `cacheMs`, and requests that arrive while a run is
 * under way share it, so a probe storm runs the suite once.
 *
 * @module
 */
import type { Check } from "./check.ts";
import { runChecks } from "./runner.ts";
import type { Report } from "./runner.ts";
import { negotiate, REPORTERS } from "./reporters/mod.ts";
import type { Session } from "./session.ts";

/** Options of {@link verifyHandler}. */
export interface ServeOptions {
  /** How long a finished run answers requests, in milliseconds. */
  cacheMs: number;
  /** Milliseconds one run of one check may take. */
  timeoutMs?: number;
  /** Checks running at once. */
  concurrency?: number;
  /** The clock, in milliseconds (tests pass their own). */
  now?: () => number;
}

/** Runs a set of checks at most once per `cacheMs`, sharing a run under way. */
export class CachedRun {
  #last?: { report: Report; at: number };
  #running?: Promise<Report>;
  #runs = 0;

  /** Caches runs of `run` for `cacheMs` on the clock `now`. */
  constructor(
    private readonly run: () => Promise<Report>,
    private readonly cacheMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** How many runs have started. */
  get runs(): number {
    return this.#runs;
  }

  /** The latest report, fresh or from the cache; `cached` says which. */
  async get(): Promise<{ report: Report; cached: boolean; ageMs: number }> {
    const last = this.#last;
    if (last && this.now() - last.at < this.cacheMs) {
      return { report: last.report, cached: true, ageMs: this.now() - last.at };
    }
    if (!this.#running) {
      this.#runs++;
      this.#running = this.run().then((report) => {
        this.#last = { report, at: this.now() };
        return report;
      }).finally(() => (this.#running = undefined));
    }
    return { report: await this.#running, cached: false, ageMs: 0 };
  }
}

/** The request handler of `verify serve` over an opened session. */
export function verifyHandler(
  session: Session,
  opts: ServeOptions,
): (req: Request) => Promise<Response> {
  const runOf = (checks: readonly Check[]) => () =>
    runChecks(checks, session.ctx, {
      timeoutMs: opts.timeoutMs,
      concurrency: opts.concurrency,
      redact: session.secrets,
    });
  const all = new CachedRun(runOf(session.checks), opts.cacheMs, opts.now);
  const byId = new Map(session.checks.map((c) => [c.id, c]));
  const single = new Map<string, CachedRun>();

  const respond = async (req: Request, run: CachedRun, formatted: boolean) => {
    const { report, cached, ageMs } = await run.get();
    const name = formatted ? negotiate(req.headers.get("accept")) : "prometheus";
    const reporter = REPORTERS[name];
    const ok = report.summary.fail === 0;
    return new Response(req.method === "HEAD" ? null : reporter.render(report, session.meta), {
      status: formatted && !ok ? 503 : 200,
      headers: {
        "content-type": reporter.contentType,
        "cache-control": "no-store",
        "x-procos-verify-cache": cached ? "hit" : "miss",
        age: String(Math.floor(ageMs / 1000)),
      },
    });
  };
  const text = (status: number, body: string, extra: Record<string, string> = {}) =>
    new Response(body + "\n", {
      status,
      headers: { "content-type": "text/plain; charset=utf-8", ...extra },
    });

  return async (req) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return text(405, "method not allowed: use GET", { allow: "GET, HEAD" });
    }
    const path = new URL(req.url).pathname;
    if (path === "/livez") return text(200, "ok");
    if (path === "/healthz") return await respond(req, all, true);
    if (path === "/metrics") return await respond(req, all, false);
    if (path.startsWith("/checks/")) {
      const id = decodeURIComponent(path.slice("/checks/".length));
      const check = byId.get(id);
      if (!check) return text(404, `no check ${JSON.stringify(id)}; GET /healthz lists them`);
      let run = single.get(id);
      if (!run) single.set(id, run = new CachedRun(runOf([check]), opts.cacheMs, opts.now));
      return await respond(req, run, true);
    }
    return text(404, "not found: GET /healthz, /metrics, /checks/<id> or /livez");
  };
}

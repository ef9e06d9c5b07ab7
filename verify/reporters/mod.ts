/**
 * Every reporter, by name, with its content type: the CLI's `--reporter`
 * and `verify serve`'s Accept header both choose from this one registry.
 *
 * @module
 */
import type { Report } from "../runner.ts";
import { renderJson } from "./json.ts";
import { renderJunit } from "./junit.ts";
import { renderSummary } from "./pretty.ts";
import { renderTap } from "./tap.ts";
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "./prometheus.ts";

/** What a run is rendered for: the project and profile verified. */
export interface ReportMeta {
  project: string;
  profile: string;
}

/** One output format of a finished run. */
export interface Reporter {
  /** The HTTP content type of its output. */
  contentType: string;
  /** Other media types that choose it in an Accept header. */
  accepts: readonly string[];
  /** The whole run, rendered. */
  render(report: Report, meta: ReportMeta): string;
}

/** The reporters' names. */
export type ReporterName = "pretty" | "json" | "junit" | "tap" | "prometheus";

/** Every reporter. `pretty` renders the summary (the CLI also streams progress). */
export const REPORTERS = {
  pretty: {
    contentType: "text/plain; charset=utf-8",
    accepts: ["text/plain", "text/*"],
    render: (r) => renderSummary(r, false),
  },
  json: { contentType: "application/json", accepts: [], render: renderJson },
  junit: {
    contentType: "application/xml; charset=utf-8",
    accepts: ["text/xml", "application/junit+xml"],
    render: renderJunit,
  },
  tap: { contentType: "text/x-tap; charset=utf-8", accepts: ["text/tap"], render: renderTap },
  prometheus: {
    contentType: PROMETHEUS_CONTENT_TYPE,
    accepts: ["application/openmetrics-text"],
    render: renderPrometheus,
  },
} as const satisfies Record<ReporterName, Reporter>;

/** The reporter names, for usage texts. */
export const REPORTER_NAMES = Object.keys(REPORTERS) as ReporterName[];

/**
 * The reporter an Accept header asks for: the one with the highest q-value
 * whose media type matches (wildcards included); `pretty` when none does or
 * there is no header.
 */
export function negotiate(accept: string | null): ReporterName {
  if (!accept) return "pretty";
  const wanted = accept.split(",").map((part, i) => {
    const [type, ...params] = part.trim().toLowerCase().split(";").map((s) => s.trim());
    const q = params.find((p) => p.startsWith("q="));
    return { type, q: q ? Number(q.slice(2)) : 1, i };
  }).filter((w) => w.type && !(w.q <= 0)).sort((a, b) => b.q - a.q || a.i - b.i);
  for (const w of wanted) {
    if (w.type === "*/*") return "pretty";
    for (const name of REPORTER_NAMES) {
      const r: Reporter = REPORTERS[name];
      const types = [r.contentType.split(";")[0], ...r.accepts];
      if (types.includes(w.type)) return name;
    }
    if (w.type === "text/*") return "pretty";
  }
  return "pretty";
}

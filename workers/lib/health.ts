/**
 * The worker's HTTP endpoint: `GET /health` (JSON, 200 when healthy, 503
 * otherwise) and `GET /metrics` (Prometheus text format 0.0.4).
 *
 * Metrics of every worker (label `topic`):
 * - `procos_worker_tasks_completed_total` (counter)
 * - `procos_worker_tasks_failed_total` (counter; label `outcome`: `retry`,
 *   `incident`, `bpmn_error`, `handed_back`)
 * - `procos_worker_tasks_in_flight` (gauge)
 * - `procos_worker_task_duration_seconds` (histogram)
 * plus whatever a worker adds with {@link Metrics.counter} / {@link Metrics.gauge}.
 *
 * @module
 */
import type { Logger } from "./log.ts";

/** Default latency buckets, seconds. */
export const LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
  600,
]);

type Labels = Record<string, string>;

/** A counter. */
export interface Counter {
  /** Adds `n` (default 1). */
  inc(labels?: Labels, n?: number): void;
  /** The current value. */
  get(labels?: Labels): number;
}

/** A gauge. */
export interface Gauge {
  /** Sets the value. */
  set(labels: Labels, v: number): void;
  /** Adds `n` (may be negative). */
  add(labels: Labels, n: number): void;
  /** The current value. */
  get(labels?: Labels): number;
}

/** A histogram. */
export interface Histogram {
  /** Records one observation. */
  observe(labels: Labels, v: number): void;
}

/** A metrics registry. */
export interface Metrics {
  /** A counter (created on first use). */
  counter(name: string, help: string): Counter;
  /** A gauge (created on first use). */
  gauge(name: string, help: string): Gauge;
  /** A histogram (created on first use). */
  histogram(name: string, help: string, buckets?: readonly number[]): Histogram;
  /** Everything in the Prometheus text format. */
  render(): string;
}

const escapeLabel = (v: string) =>
  v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

function labelText(labels: Labels, extra?: [string, string]): string {
  const entries = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (extra) entries.push(extra);
  if (entries.length === 0) return "";
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
}

const keyOf = (labels: Labels = {}) => labelText(labels);

const num = (v: number) => Number.isFinite(v) ? String(v) : v > 0 ? "+Inf" : v < 0 ? "-Inf" : "NaN";

/** Creates an empty registry. */
export function createMetrics(): Metrics {
  const renderers = new Map<string, () => string>();
  const kinds = new Map<string, unknown>();
  const head = (name: string, help: string, type: string) =>
    `# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}\n# TYPE ${name} ${type}\n`;

  return {
    counter(name, help) {
      const existing = kinds.get(name);
      if (existing) return existing as Counter;
      const values = new Map<string, number>();
      const c: Counter = {
        inc: (labels = {}, n = 1) =>
          values.set(keyOf(labels), (values.get(keyOf(labels)) ?? 0) + n),
        get: (labels = {}) => values.get(keyOf(labels)) ?? 0,
      };
      kinds.set(name, c);
      renderers.set(name, () =>
        head(name, help, "counter") +
        [...values].map(([k, v]) => `${name}${k} ${num(v)}\n`).join(""));
      return c;
    },
    gauge(name, help) {
      const existing = kinds.get(name);
      if (existing) return existing as Gauge;
      const values = new Map<string, number>();
      const g: Gauge = {
        set: (labels, v) => values.set(keyOf(labels), v),
        add: (labels, n) => values.set(keyOf(labels), (values.get(keyOf(labels)) ?? 0) + n),
        get: (labels = {}) => values.get(keyOf(labels)) ?? 0,
      };
      kinds.set(name, g);
      renderers.set(name, () =>
        head(name, help, "gauge") +
        [...values].map(([k, v]) => `${name}${k} ${num(v)}\n`).join(""));
      return g;
    },
    histogram(name, help, buckets = LATENCY_BUCKETS) {
      const existing = kinds.get(name);
      if (existing) return existing as Histogram;
      const bounds = [...buckets].sort((a, b) => a - b);
      const series = new Map<
        string,
        { labels: Labels; counts: number[]; sum: number; count: number }
      >();
      const h: Histogram = {
        observe(labels, v) {
          const k = keyOf(labels);
          let s = series.get(k);
          if (!s) {
            s = { labels: { ...labels }, counts: bounds.map(() => 0), sum: 0, count: 0 };
            series.set(k, s);
          }
          for (let i = 0; i < bounds.length; i++) if (v <= bounds[i]) s.counts[i]++;
          s.sum += v;
          s.count++;
        },
      };
      kinds.set(name, h);
      renderers.set(name, () => {
        let out = head(name, help, "histogram");
        for (const s of series.values()) {
          bounds.forEach((b, i) => {
            out += `${name}_bucket${labelText(s.labels, ["le", num(b)])} ${s.counts[i]}\n`;
          });
          out += `${name}_bucket${labelText(s.labels, ["le", "+Inf"])} ${s.count}\n`;
          out += `${name}_sum${labelText(s.labels)} ${num(s.sum)}\n`;
          out += `${name}_count${labelText(s.labels)} ${s.count}\n`;
        }
        return out;
      });
      return h;
    },
    render: () => [...renderers.values()].map((r) => r()).join(""),
  };
}

/** The task metrics every worker has. */
export interface TaskMetrics {
  /** The registry they live in. */
  registry: Metrics;
  /** Tasks completed. */
  completed: Counter;
  /** Tasks failed (label `outcome`). */
  failed: Counter;
  /** Tasks in hand. */
  inFlight: Gauge;
  /** Time from fetch to completion or failure, seconds. */
  duration: Histogram;
}

/** Creates the standard task metrics in `registry`. */
export function taskMetrics(registry: Metrics = createMetrics()): TaskMetrics {
  return {
    registry,
    completed: registry.counter("procos_worker_tasks_completed_total", "External tasks completed."),
    failed: registry.counter(
      "procos_worker_tasks_failed_total",
      "External tasks that failed, by outcome (retry, incident, bpmn_error, handed_back).",
    ),
    inFlight: registry.gauge("procos_worker_tasks_in_flight", "External tasks in hand."),
    duration: registry.histogram(
      "procos_worker_task_duration_seconds",
      "Time from fetching a task to completing or failing it.",
    ),
  };
}

/** What `/health` reports. */
export interface HealthReport {
  /** Healthy (HTTP 200) or not (503). */
  ok: boolean;
  /** Free-form details, serialised as JSON (no secrets). */
  [detail: string]: unknown;
}

/** Options of {@link startHealthServer}. */
export interface HealthServerOptions {
  /** TCP port (0: any free port). */
  port: number;
  /** Address (default 0.0.0.0). */
  hostname?: string;
  /** Computes the health report. */
  check: () => HealthReport | Promise<HealthReport>;
  /** The metrics registry. */
  metrics: Metrics;
  /** The logger. */
  log: Logger;
}

/** A running health server. */
export interface HealthServer {
  /** The port it listens on. */
  port: number;
  /** Stops it. */
  close(): Promise<void>;
}

/** Starts the HTTP server. */
export function startHealthServer(opts: HealthServerOptions): HealthServer {
  const server = Deno.serve({
    port: opts.port,
    hostname: opts.hostname ?? "0.0.0.0",
    onListen: () => {},
  }, async (req) => {
    const path = new URL(req.url).pathname;
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405 });
    }
    if (path === "/health") {
      let report: HealthReport;
      try {
        report = await opts.check();
      } catch (e) {
        report = { ok: false, error: String(e) };
      }
      return new Response(JSON.stringify({ status: report.ok ? "ok" : "unhealthy", ...report }), {
        status: report.ok ? 200 : 503,
        headers: { "content-type": "application/json" },
      });
    }
    if (path === "/metrics") {
      return new Response(opts.metrics.render(), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    }
    return new Response("not found\n", { status: 404 });
  });
  const port = (server.addr as Deno.NetAddr).port;
  opts.log.info("health endpoint listening", { port, paths: ["/health", "/metrics"] });
  return { port, close: () => server.shutdown() };
}

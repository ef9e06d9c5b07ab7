/**
 * Health checks run on the host: the same probes the Compose file's health
 * checks make inside the containers (pg_isready, `redis-cli ping`,
 * `rabbitmq-diagnostics -q check_port_connectivity`, Camunda's
 * `/engine-rest/engine`, Ollama's `/api/tags`, a worker's `/health`),
 * addressed at the published ports, and the gate that waits for one with the
 * spec's start_period / interval / retries (capped so a local run stays quick).
 *
 * @module
 */
import type { ServiceModel, StackModel } from "../compiler/model.ts";
import { RuntimeError } from "./errors.ts";
import { run } from "./procs.ts";

/** A duration such as `30s`, `5m`, `250ms` in milliseconds. */
export function parseDuration(s: string): number {
  const m = /^([0-9]+)(ms|s|m|h|d)$/.exec(s.trim());
  if (!m) throw new Error(`not a duration: ${JSON.stringify(s)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2]]!;
  return Number(m[1]) * unit;
}

/** What one probe found. */
export interface ProbeResult {
  ok: boolean;
  /** What was seen, for messages. */
  detail: string;
}

/** One health probe. */
export type Probe = (timeoutMs: number) => Promise<ProbeResult>;

/** A fetch error in words: the cause's message ("Connection refused") when there is one. */
export function fetchError(e: unknown): string {
  if (e instanceof DOMException && (e.name === "TimeoutError" || e.name === "AbortError")) {
    return "timed out";
  }
  const msg = e instanceof Error ? e.message : String(e);
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : "";
  const text = cause || msg;
  const m = /(Connection refused|connection reset|timed out|No route to host|dns error[^(]*)/i
    .exec(text);
  return (m ? m[1] : text).split("\n")[0];
}

async function httpProbe(
  url: string,
  timeoutMs: number,
  mustContain?: string,
): Promise<ProbeResult> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.text();
    if (!res.ok) return { ok: false, detail: `GET ${url}: HTTP ${res.status}` };
    if (mustContain && !body.includes(mustContain)) {
      return { ok: false, detail: `GET ${url}: no ${JSON.stringify(mustContain)} in the answer` };
    }
    return { ok: true, detail: `GET ${url}: HTTP ${res.status}` };
  } catch (e) {
    return { ok: false, detail: `GET ${url}: ${fetchError(e)}` };
  }
}

async function cmdProbe(
  command: string[],
  timeoutMs: number,
  opts: { env?: Record<string, string>; stdoutMatch?: RegExp } = {},
): Promise<ProbeResult> {
  const r = await run(command, { env: opts.env, timeoutMs });
  const out = (r.stdout + r.stderr).trim().split("\n").slice(-1)[0] ?? "";
  const ok = r.code === 0 && (!opts.stdoutMatch || opts.stdoutMatch.test(r.stdout));
  const shown = command.filter((a) => !a.includes("PASSWORD")).join(" ");
  return {
    ok,
    detail: `${shown}: ${r.code === 124 ? "timed out" : `exit ${r.code}`} ${out}`.trim(),
  };
}

/** Where the host reaches a service: from the host-addressed model. */
export interface HostAddress {
  host: string;
  port: number;
}

/**
 * The host-side probe for a service of a host-addressed model (see
 * `buildModel(r, { addressing: "host" })`).
 */
export function hostProbe(svc: ServiceModel, model: StackModel): Probe {
  const enhanced = model.profile === "production";
  switch (svc.kind) {
    case "postgres": {
      const { host, port, user, database } = model.postgres;
      return (t) =>
        cmdProbe(["pg_isready", "-h", host, "-p", String(port), "-U", user, "-d", database], t);
    }
    case "redis": {
      const { host, port, auth, password } = model.redis;
      return (t) =>
        cmdProbe(["redis-cli", "-h", host, "-p", String(port), "ping"], t, {
          env: auth ? { REDISCLI_AUTH: password } : {},
          stdoutMatch: /PONG/,
        });
    }
    case "rabbitmq":
      return async (t) => {
        const a = await cmdProbe(["rabbitmq-diagnostics", "-q", "check_port_connectivity"], t);
        if (!a.ok || !enhanced) return a;
        return cmdProbe(["rabbitmq-diagnostics", "-q", "check_local_alarms"], t);
      };
    case "camunda": {
      const { host, port } = model.camunda;
      return (t) => httpProbe(`http://${host}:${port}/engine-rest/engine`, t, "default");
    }
    case "ollama": {
      const { host, port } = model.ollama;
      return (t) => httpProbe(`http://${host}:${port}/api/tags`, t);
    }
    case "kernel":
    case "ai":
    case "generic": {
      const w = model.workers.find((x) => x.name === svc.name);
      const port = w?.healthPort ?? 0;
      return (t) => httpProbe(`http://127.0.0.1:${port}/health`, t);
    }
  }
}

/** Timings of a gate, in milliseconds, from the spec's health check and the caps. */
export interface GateTimings {
  startPeriodMs: number;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
}

/** Upper bounds applied to the spec's timings. */
export const GATE_CAPS = {
  /** Probe at least this often during the start period (Compose's start_interval). */
  startIntervalMs: 1000,
  /** Probe at least this often after it. */
  intervalMs: 2000,
  /** No probe waits longer than this. */
  timeoutMs: 10_000,
  /** The start period counts for at most this long. */
  startPeriodMs: 180_000,
} as const;

/** The spec's timings with the caps applied. */
export function gateTimings(h: ServiceModel["healthcheck"]): GateTimings {
  return {
    startPeriodMs: Math.min(parseDuration(h.start_period), GATE_CAPS.startPeriodMs),
    intervalMs: Math.max(100, Math.min(parseDuration(h.interval), GATE_CAPS.intervalMs)),
    timeoutMs: Math.max(500, Math.min(parseDuration(h.timeout), GATE_CAPS.timeoutMs)),
    retries: h.retries,
  };
}

/** Options of {@link waitHealthy}. */
export interface GateOptions {
  timings: GateTimings;
  /** Resolves with the exit code if the process exits. */
  exited?: Promise<number>;
  /** False once the process is gone (checked between probes). */
  alive?: () => boolean;
}

/**
 * Waits until `probe` passes, as Compose decides health: failures during the
 * start period do not count; after it, `retries` failures in a row mean
 * unhealthy. Fails at once if the process exits. Returns the time taken.
 */
export async function waitHealthy(
  service: string,
  probe: Probe,
  opts: GateOptions,
): Promise<number> {
  const t = opts.timings;
  const t0 = Date.now();
  let exitCode: number | undefined;
  opts.exited?.then((c) => (exitCode = c));
  let failures = 0;
  let last = "";
  for (;;) {
    if (exitCode === undefined && opts.alive && !opts.alive() && opts.exited) {
      // gone: its exit status is on its way (reaped just now); say it when it comes quickly
      let id: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([opts.exited, new Promise((r) => (id = setTimeout(r, 1000)))]);
      clearTimeout(id);
    }
    if (exitCode !== undefined || (opts.alive && !opts.alive())) {
      throw new RuntimeError(
        `exited${exitCode !== undefined ? ` with code ${exitCode}` : ""} before it was healthy`,
        { service },
      );
    }
    const r = await probe(t.timeoutMs);
    if (r.ok) return Date.now() - t0;
    last = r.detail;
    const inStart = Date.now() - t0 < t.startPeriodMs;
    if (!inStart) {
      failures++;
      if (failures >= t.retries) {
        throw new RuntimeError(
          `not healthy after ${((Date.now() - t0) / 1000).toFixed(1)} s ` +
            `(start period ${t.startPeriodMs / 1000} s, then ${t.retries} failed checks): ${last}`,
          { service },
        );
      }
    }
    const wait = inStart ? Math.min(t.intervalMs, GATE_CAPS.startIntervalMs) : t.intervalMs;
    // wake early if the process exits
    await new Promise<void>((res) => {
      const id = setTimeout(res, wait);
      opts.exited?.then(() => {
        clearTimeout(id);
        res();
      });
    });
  }
}

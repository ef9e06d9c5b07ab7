/**
 * Rule: every duration lies within what the program that uses it accepts.
 * A table of bounds, one entry per kind of duration, each naming its
 * consumer: Docker takes a health check interval or timeout of 0 as "use my
 * default"; Go, which Compose and Docker are written in, holds at most about
 * 292 years; Camunda refuses to fetch with a lock of 0, and the worker keeps
 * a lock alive with a JavaScript timer, which holds at most 2^31-1 ms.
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import { parseDuration } from "../duration.ts";
import type { KeyPath } from "../load.ts";
import type { Spec } from "../schema.ts";
import { at, type RuleContext } from "./rule.ts";

const DAY_MS = 86_400_000;
/** Go's time.Duration: 2^63-1 ns, in whole days. */
const GO_MAX_MS = 106_751 * DAY_MS;
/** A JavaScript timer: at most 2^31-1 ms, in whole days. */
const JS_TIMER_MAX_MS = 24 * DAY_MS;

/** One kind of duration: where it is, and its bounds with their reason. */
interface Bound {
  /** Every duration of this kind in the spec: its path and text. */
  find(spec: Spec): { path: KeyPath; text: string }[];
  /** The least (inclusive), in ms, and what refuses less. */
  min?: { ms: number; text: string; why: string };
  /** The most (inclusive), in ms, and what refuses more (none: every duration the spec writes). */
  max?: { ms: number; text: string; why: string };
}

function healthchecks(spec: Spec, key: "interval" | "timeout" | "start_period") {
  return Object.entries(spec.services).map(([name, s]) => ({
    path: ["services", name, "healthcheck", key],
    text: s.healthcheck[key],
  }));
}

function lockDurations(spec: Spec) {
  return Object.entries(spec.workers).flatMap(([name, w]) =>
    w.kind === "kernel" ? [] : w.topics.map((t, i) => ({
      path: ["workers", name, "topics", i, "lock_duration"],
      text: t.lock_duration,
    }))
  );
}

const GO_MAX = { ms: GO_MAX_MS, text: "106751d", why: "Compose and Docker hold at most 292 years" };

/** The bounds, by the kind of duration they are for. */
export const DURATION_BOUNDS: Readonly<Record<string, Bound>> = {
  "health check interval": {
    find: (s) => healthchecks(s, "interval"),
    min: { ms: 1, text: "1ms", why: "Docker takes 0 as its default of 30s" },
    max: GO_MAX,
  },
  "health check timeout": {
    find: (s) => healthchecks(s, "timeout"),
    min: { ms: 1, text: "1ms", why: "Docker takes 0 as its default of 30s" },
    max: GO_MAX,
  },
  "health check start period": { find: (s) => healthchecks(s, "start_period"), max: GO_MAX },
  "lock duration": {
    find: lockDurations,
    min: {
      ms: 2_000,
      text: "2s",
      why: "Camunda refuses a lock of 0, and the worker renews a lock every max(1s, half of it)",
    },
    max: {
      ms: JS_TIMER_MAX_MS,
      text: "24d",
      why: "the worker renews the lock with a timer, which holds at most 2^31-1 ms",
    },
  },
  "retention schedule": {
    find: (s) => [{ path: ["ai", "retention", "schedule"], text: s.ai.retention.schedule }],
    min: {
      ms: 60_000,
      text: "1m",
      why: "the procos-retention process runs on this timer cycle; Camunda refuses a cycle of 0 " +
        "and a shorter one starts runs before the last has ended",
    },
  },
};

/** Reports each duration outside its kind's bounds. */
export function durationBounds(ctx: RuleContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [kind, b] of Object.entries(DURATION_BOUNDS)) {
    for (const { path, text } of b.find(ctx.spec)) {
      const ms = parseDuration(text);
      const limit = b.min && ms < b.min.ms ? b.min : b.max && ms > b.max.ms ? b.max : undefined;
      if (!limit) continue;
      const range = b.min && b.max
        ? `from ${b.min.text} to ${b.max.text}`
        : b.min
        ? `of at least ${b.min.text}`
        : `of at most ${b.max!.text}`;
      out.push(at(ctx, path, `the ${kind} ${text} is too ${limit === b.max ? "long" : "short"}`, {
        target: "value",
        expected: `a ${kind} ${range}`,
        hint: limit.why,
      }));
    }
  }
  return out;
}

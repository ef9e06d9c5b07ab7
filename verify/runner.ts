/**
 * Runs checks: concurrently (bounded), each with a timeout, and with `wait`
 * (goss's `--retry-timeout`) re-running the failing ones until everything is
 * green or the time is up. Results are redacted: no secret value ever leaves
 * the runner.
 *
 * @module
 */
import type { Check, Domain, Result, VerifyContext } from "./check.ts";
import { errorMessage, fail } from "./check.ts";
import { PgPools } from "./clients/pg.ts";

/** What the runner found for one check. */
export interface Outcome {
  id: string;
  domain: Domain;
  name: string;
  /** The last result. */
  result: Result;
  /** How many times the check ran. */
  attempts: number;
  /** Duration of the last run, in milliseconds. */
  durationMs: number;
}

/** Counts of final statuses. */
export interface Summary {
  total: number;
  pass: number;
  fail: number;
  skip: number;
}

/** The final state of a verify run. */
export interface Report {
  /** ISO time the run started. */
  startedAt: string;
  /** Wall time of the whole run, in milliseconds. */
  durationMs: number;
  /** How many rounds ran (1 without `wait`). */
  rounds: number;
  /** One per check, in the order the checks were given. */
  outcomes: Outcome[];
  summary: Summary;
}

/** What {@link RunEvents.onRetry} says about a round that left failures. */
export interface RetryInfo {
  round: number;
  failing: number;
  /** Each failing check, and how long since it first failed. */
  failingIds: { id: string; failingForMs: number }[];
  remainingMs: number;
  delayMs: number;
}

/** Progress callbacks, for reporters that show checks as they finish. */
export interface RunEvents {
  /** Before the first round. */
  onStart?(checks: readonly Check[]): void;
  /**
   * A check finished a run. `final` is false for a failure that will be
   * retried (with `wait`); such a check reports again later.
   */
  onResult?(outcome: Outcome, final: boolean): void;
  /** A round ended with failures and another will run after `delayMs`. */
  onRetry?(info: RetryInfo): void;
}

/** Options of {@link runChecks}. */
export interface RunOptions extends RunEvents {
  /** Checks running at once (default 8). */
  concurrency?: number;
  /** Milliseconds one run of one check may take (default 10 000). */
  timeoutMs?: number;
  /** Milliseconds to keep retrying failures (default 0: no retry). */
  waitMs?: number;
  /** Milliseconds between rounds (default 1 000, never past the deadline). */
  retryIntervalMs?: number;
  /** Values to replace with `***` in every result (the resolved secrets). */
  redact?: readonly string[];
}

/** Replaces every occurrence of each secret in `text` with `***`. */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length)) {
    out = out.split(s).join("***");
  }
  return out;
}

/** A result with every secret replaced by `***`. */
export function redactResult(r: Result, secrets: readonly string[]): Result {
  if (secrets.length === 0) return r;
  const red = (t: string) => redactText(t, secrets);
  switch (r.status) {
    case "pass":
      return r.detail === undefined ? r : { ...r, detail: red(r.detail) };
    case "skip":
      return { ...r, reason: red(r.reason) };
    case "fail":
      return {
        ...r,
        expected: red(r.expected),
        actual: red(r.actual),
        ...(r.hint === undefined ? {} : { hint: red(r.hint) }),
      };
  }
}

/** Counts statuses. */
export function summarize(outcomes: readonly Outcome[]): Summary {
  const s: Summary = { total: outcomes.length, pass: 0, fail: 0, skip: 0 };
  for (const o of outcomes) s[o.result.status]++;
  return s;
}

/** Formats milliseconds as `10s`, `1.5s` or `250ms`. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  return Number.isInteger(s) ? `${s}s` : `${s.toFixed(1)}s`;
}

/** Runs one check once, with a timeout; never throws. */
export async function runOne(
  check: Check,
  ctx: VerifyContext & { pools?: PgPools },
  timeoutMs: number,
): Promise<{ result: Result; durationMs: number }> {
  const started = performance.now();
  const ac = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Result>((resolve) => {
    timer = setTimeout(() => {
      ac.abort(new DOMException(`timed out after ${formatMs(timeoutMs)}`, "TimeoutError"));
      resolve(
        fail(
          `an answer within ${formatMs(timeoutMs)}`,
          `no answer after ${formatMs(timeoutMs)} (timed out)`,
          "is the service up and reachable? raise --timeout if it is just slow",
        ),
      );
    }, timeoutMs);
  });
  const attempt = (async (): Promise<Result> => {
    try {
      return await check.run({ ...ctx, signal: ac.signal });
    } catch (e) {
      return fail("an answer from the service", errorMessage(e), hintFor(e));
    }
  })();
  try {
    const result = await Promise.race([attempt, timeout]);
    return { result, durationMs: performance.now() - started };
  } finally {
    clearTimeout(timer);
    if (!ac.signal.aborted) ac.abort();
  }
}

function hintFor(e: unknown): string | undefined {
  const msg = errorMessage(e);
  if (/refused|ECONNREFUSED/i.test(msg)) {
    return "nothing listens there: is the service running, and is the target address right?";
  }
  if (/timed out|ETIMEDOUT/i.test(msg)) return "the service did not answer in time";
  return undefined;
}

async function pool<T>(items: readonly T[], size: number, fn: (t: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(size, items.length)) }, worker));
}

/**
 * Runs every check and returns the final state. With `waitMs`, failing checks
 * run again (only they) every `retryIntervalMs` until all are green or the
 * time is up. Throws only on duplicate check ids.
 */
export async function runChecks(
  checks: readonly Check[],
  ctx: VerifyContext,
  opts: RunOptions = {},
): Promise<Report> {
  const seen = new Set<string>();
  for (const c of checks) {
    if (seen.has(c.id)) throw new Error(`duplicate check id ${c.id}`);
    seen.add(c.id);
  }
  const pools = new PgPools();
  try {
    return await runRounds(checks, { ...ctx, pools }, opts);
  } finally {
    await pools.close();
  }
}

/** The rounds of {@link runChecks}, with the run's shared connections in `shared`. */
async function runRounds(
  checks: readonly Check[],
  shared: VerifyContext & { pools: PgPools },
  opts: RunOptions,
): Promise<Report> {
  const concurrency = opts.concurrency ?? 8;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const waitMs = opts.waitMs ?? 0;
  const interval = opts.retryIntervalMs ?? 1_000;
  const secrets = opts.redact ?? [];
  const startedAt = new Date();
  const t0 = performance.now();
  const deadline = t0 + waitMs;

  const outcomes = new Map<string, Outcome>();
  const finalSent = new Set<string>();
  const failingSince = new Map<string, number>();
  opts.onStart?.(checks);
  let todo = [...checks];
  let rounds = 0;
  while (true) {
    rounds++;
    await pool(todo, concurrency, async (check) => {
      let { result, durationMs } = await runOne(check, shared, timeoutMs);
      let tries = 1;
      // a check's own retries, for states that pass through (`Check.retry`)
      while (result.status === "fail" && check.retry && tries <= check.retry.count) {
        await new Promise((r) => setTimeout(r, check.retry!.delayMs));
        ({ result, durationMs } = await runOne(check, shared, timeoutMs));
        tries++;
      }
      const prev = outcomes.get(check.id);
      const o: Outcome = {
        id: check.id,
        domain: check.domain,
        name: check.name,
        result: redactResult(result, secrets),
        attempts: (prev?.attempts ?? 0) + tries,
        durationMs,
      };
      outcomes.set(check.id, o);
      if (o.result.status !== "fail") failingSince.delete(check.id);
      else if (!failingSince.has(check.id)) failingSince.set(check.id, performance.now());
      const mayRetry = o.result.status === "fail" && waitMs > 0 && performance.now() < deadline;
      if (!mayRetry) finalSent.add(check.id);
      opts.onResult?.(o, !mayRetry);
    });
    const failing = todo.filter((c) => outcomes.get(c.id)!.result.status === "fail");
    const remaining = deadline - performance.now();
    if (failing.length === 0 || waitMs <= 0 || remaining <= 0) break;
    const delay = Math.max(0, Math.min(interval, remaining));
    const now = performance.now();
    opts.onRetry?.({
      round: rounds,
      failing: failing.length,
      failingIds: failing.map((c) => ({
        id: c.id,
        failingForMs: now - (failingSince.get(c.id) ?? now),
      })),
      remainingMs: remaining,
      delayMs: delay,
    });
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    todo = failing;
  }
  // Failures reported as "will retry" whose retry never came are final now.
  for (const c of checks) {
    if (!finalSent.has(c.id)) {
      finalSent.add(c.id);
      opts.onResult?.(outcomes.get(c.id)!, true);
    }
  }
  const ordered = checks.map((c) => outcomes.get(c.id)!);
  return {
    startedAt: startedAt.toISOString(),
    durationMs: performance.now() - t0,
    rounds,
    outcomes: ordered,
    summary: summarize(ordered),
  };
}

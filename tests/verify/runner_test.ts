/**
 * The runner: bounded concurrency, per-check timeout, `wait` retrying failing
 * checks until green or out of time, redaction of secrets, error handling.
 */
import { expect } from "expect";
import type { Check, Result } from "../../verify/check.ts";
import { fail, pass, skip } from "../../verify/check.ts";
import type { Outcome } from "../../verify/runner.ts";
import { redactText, runChecks } from "../../verify/runner.ts";
import { contextFor, referenceModel } from "./helpers.ts";

const ctx = await contextFor(await referenceModel());

function check(id: string, run: Check["run"]): Check {
  return { id, domain: "services", name: `test: ${id}`, run };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("runner: at most `concurrency` checks run at once, and all run", async () => {
  let running = 0;
  let peak = 0;
  const checks = Array.from({ length: 12 }, (_, i) =>
    check(`c${i}`, async () => {
      running++;
      peak = Math.max(peak, running);
      await sleep(20);
      running--;
      return pass();
    }));
  const report = await runChecks(checks, ctx, { concurrency: 3 });
  expect(peak).toBe(3);
  expect(report.summary).toEqual({ total: 12, pass: 12, fail: 0, skip: 0 });
  expect(report.outcomes.map((o) => o.id)).toEqual(checks.map((c) => c.id));
  expect(report.rounds).toBe(1);
});

Deno.test("runner: a check over its timeout fails as timed out, and its signal is aborted", async () => {
  let aborted = false;
  const slow = check("slow", (c) =>
    new Promise<Result>((resolve) => {
      c.signal.addEventListener("abort", () => {
        aborted = true;
        resolve(pass());
      });
    }));
  const quick = check("quick", () => Promise.resolve(pass()));
  const started = performance.now();
  const report = await runChecks([slow, quick], ctx, { timeoutMs: 100 });
  expect(performance.now() - started).toBeLessThan(2000);
  const r = report.outcomes[0].result;
  expect(r.status).toBe("fail");
  if (r.status === "fail") {
    expect(r.actual).toContain("timed out");
    expect(r.expected).toContain("100ms");
  }
  expect(report.outcomes[1].result.status).toBe("pass");
  expect(aborted).toBe(true);
});

Deno.test("runner: a thrown error becomes a failure with its message", async () => {
  const boom = check("boom", () => Promise.reject(new Error("Connection refused (os error 111)")));
  const report = await runChecks([boom], ctx);
  const r = report.outcomes[0].result;
  expect(r).toMatchObject({ status: "fail", actual: "Connection refused (os error 111)" });
  if (r.status === "fail") expect(r.hint).toContain("is the service running");
});

Deno.test("runner: with wait, a failing check is retried until it turns green", async () => {
  let tries = 0;
  const flaky = check("flaky", () => {
    tries++;
    return Promise.resolve(tries >= 4 ? pass() : fail("green", `red (try ${tries})`));
  });
  let steadyRuns = 0;
  const steady = check("steady", () => {
    steadyRuns++;
    return Promise.resolve(pass());
  });
  const skipped = check("skipped", () => Promise.resolve(skip("not applicable")));
  const finals: Outcome[] = [];
  const retries: number[] = [];
  const report = await runChecks([flaky, steady, skipped], ctx, {
    waitMs: 5_000,
    retryIntervalMs: 10,
    onResult: (o, final) => void (final && finals.push(o)),
    onRetry: (i) => void retries.push(i.failing),
  });
  expect(tries).toBe(4);
  expect(steadyRuns).toBe(1); // only failing checks run again
  expect(report.rounds).toBe(4);
  expect(retries).toEqual([1, 1, 1]);
  expect(report.summary).toEqual({ total: 3, pass: 2, fail: 0, skip: 1 });
  expect(report.outcomes[0]).toMatchObject({ id: "flaky", attempts: 4 });
  // every check is reported final exactly once
  expect(finals.map((o) => o.id).sort()).toEqual(["flaky", "skipped", "steady"]);
});

Deno.test("runner: with wait, a check that never turns green is reported failed when time is up", async () => {
  let tries = 0;
  const never = check("never", () => {
    tries++;
    return Promise.resolve(fail("green", "red"));
  });
  const finals: Outcome[] = [];
  const started = performance.now();
  const report = await runChecks([never], ctx, {
    waitMs: 300,
    retryIntervalMs: 50,
    onResult: (o, final) => void (final && finals.push(o)),
  });
  const took = performance.now() - started;
  expect(took).toBeGreaterThanOrEqual(290);
  expect(took).toBeLessThan(3000);
  expect(tries).toBeGreaterThan(2);
  expect(report.summary.fail).toBe(1);
  expect(report.outcomes[0].attempts).toBe(tries);
  expect(finals).toHaveLength(1);
  expect(finals[0].result.status).toBe("fail");
});

Deno.test("runner: without wait, a failure is not retried", async () => {
  let tries = 0;
  const once = check("once", () => {
    tries++;
    return Promise.resolve(fail("green", "red"));
  });
  const report = await runChecks([once], ctx);
  expect(tries).toBe(1);
  expect(report.rounds).toBe(1);
});

Deno.test("runner: secrets never appear in results", async () => {
  const leaky = check(
    "leaky",
    () => Promise.resolve(fail("password s3cr3t-value", "got s3cr3t-value back", "s3cr3t-value")),
  );
  const report = await runChecks([leaky], ctx, { redact: ["s3cr3t-value", ""] });
  const text = JSON.stringify(report);
  expect(text).not.toContain("s3cr3t-value");
  expect(report.outcomes[0].result).toMatchObject({
    expected: "password ***",
    actual: "got *** back",
    hint: "***",
  });
  expect(redactText("ab abc", ["abc", "ab"])).toBe("*** ***");
});

Deno.test("runner: duplicate check ids are refused", async () => {
  const a = check("same", () => Promise.resolve(pass()));
  await expect(runChecks([a, { ...a }], ctx)).rejects.toThrow("duplicate check id same");
});

Deno.test("runner: a check's own retry turns a passing-through failure into a pass, in one round", async () => {
  let calls = 0;
  const flaky: Check = {
    ...check("flaky", () => Promise.resolve(++calls < 3 ? fail("up", "refused") : pass())),
    retry: { count: 2, delayMs: 10 },
  };
  const stubborn: Check = {
    ...check("stubborn", () => Promise.resolve(fail("up", "refused"))),
    retry: { count: 1, delayMs: 10 },
  };
  const report = await runChecks([flaky, stubborn], ctx);
  expect(report.rounds).toBe(1);
  expect(report.outcomes.map((o) => [o.id, o.result.status, o.attempts])).toEqual([
    ["flaky", "pass", 3],
    ["stubborn", "fail", 2],
  ]);
});

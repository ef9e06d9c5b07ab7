/**
 * `deno task verify serve` over HTTP, against the Ollama domain on the test
 * double: /healthz's status codes (a failing check turns it to 503 and back),
 * the cache, concurrent requests sharing one run, the format by Accept
 * (each checked by a parser of that format), /metrics and /checks/<id>.
 */
import { expect } from "expect";
import { Parser } from "tap-parser";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { main } from "../../verify/cli.ts";
import { CachedRun } from "../../verify/serve.ts";
import type { Report } from "../../verify/runner.ts";
import { startOllamaDouble } from "../ollama_double.ts";
import { SPEC } from "./helpers.ts";

/** Starts `verify serve` on a free port; returns its base URL and a stop function. */
async function startServe(args: string[]) {
  const stop = new AbortController();
  let listening: (url: string) => void;
  const url = new Promise<string>((r) => (listening = r));
  const lines: string[] = [];
  const done = main(["serve", "--port", "0", ...args], {
    write: (t) => void lines.push(t),
    stderr: (l) => {
      lines.push(l);
      const m = /on (http:\/\/[^ ]+)/.exec(l);
      if (m) listening(m[1]);
    },
    env: {},
    color: false,
    stop: stop.signal,
  });
  const base = await Promise.race([
    url,
    done.then((code) => {
      throw new Error(`serve exited ${code}: ${lines.join("\n")}`);
    }),
  ]);
  return {
    base,
    async close() {
      stop.abort();
      expect(await done).toBe(0);
    },
  };
}

function tagsRequests(d: ReturnType<typeof startOllamaDouble>) {
  return d.requests.filter((r) => r.path === "/api/tags").length;
}

Deno.test("verify serve", async (t) => {
  const d = startOllamaDouble({ models: ["llama3.2:1b"] });
  const s = await startServe([
    "--config",
    SPEC,
    "--only",
    "ollama",
    "--ollama-url",
    d.url,
    "--cache",
    "300ms",
  ]);
  try {
    await t.step("/healthz: 200 and the pretty text by default", async () => {
      const r = await fetch(`${s.base}/healthz`);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toBe("text/plain; charset=utf-8");
      expect(r.headers.get("x-procos-verify-cache")).toBe("miss");
      expect(await r.text()).toMatch(/2 checks: 2 passed, 0 failed, 0 skipped/);
    });

    await t.step(
      "within the cache: no new run; concurrent requests after it share one",
      async () => {
        const before = tagsRequests(d);
        const cached = await fetch(`${s.base}/healthz`);
        await cached.body?.cancel();
        expect(cached.headers.get("x-procos-verify-cache")).toBe("hit");
        expect(tagsRequests(d)).toBe(before);
        await new Promise((r) => setTimeout(r, 350));
        const all = await Promise.all(Array.from({ length: 10 }, () => fetch(`${s.base}/healthz`)));
        for (const r of all) {
          expect(r.status).toBe(200);
          await r.body?.cancel();
        }
        expect(all.filter((r) => r.headers.get("x-procos-verify-cache") === "miss").length)
          .toBeGreaterThanOrEqual(1);
        // the model check asks /api/tags once per run
        expect(tagsRequests(d) - before).toBe(1);
      },
    );

    await t.step("a failing check turns /healthz to 503, and back to 200", async () => {
      d.setModels([]);
      await new Promise((r) => setTimeout(r, 350));
      const bad = await fetch(`${s.base}/healthz`, { headers: { accept: "application/json" } });
      expect(bad.status).toBe(503);
      const doc = await bad.json();
      expect(doc.ok).toBe(false);
      expect(doc.checks.find((c: { status: string }) => c.status === "fail").id).toBe(
        "ollama.model.llama3.2:1b",
      );
      d.setModels(["llama3.2:1b"]);
      await new Promise((r) => setTimeout(r, 350));
      const good = await fetch(`${s.base}/healthz`);
      await good.body?.cancel();
      expect(good.status).toBe(200);
    });

    await t.step("TAP by Accept, read by tap-parser", async () => {
      const r = await fetch(`${s.base}/healthz`, { headers: { accept: "text/x-tap" } });
      expect(r.headers.get("content-type")).toBe("text/x-tap; charset=utf-8");
      const text = await r.text();
      const result = await new Promise<{ ok: boolean; count: number; pass: number }>((res) => {
        const p = new Parser((final: { ok: boolean; count: number; pass: number }) => res(final));
        p.end(text);
      });
      expect(result).toMatchObject({ ok: true, count: 2, pass: 2 });
    });

    await t.step("JUnit by Accept", async () => {
      const r = await fetch(`${s.base}/healthz`, { headers: { accept: "application/xml" } });
      expect(r.headers.get("content-type")).toBe("application/xml; charset=utf-8");
      expect(await r.text()).toMatch(/<testsuite name="ollama" tests="2" failures="0"/);
    });

    await t.step("/metrics: Prometheus text, read by a parser of it", async () => {
      const r = await fetch(`${s.base}/metrics`);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      const families = parsePrometheusTextFormat(await r.text()) as {
        name: string;
        metrics: { value: string; labels: Record<string, string> }[];
      }[];
      const success = families.find((f) => f.name === "procos_verify_check_success")!;
      expect(success.metrics.map((m) => [m.labels.id, m.labels.status, m.value])).toEqual([
        ["ollama.version", "pass", "1"],
        ["ollama.model.llama3.2:1b", "pass", "1"],
      ]);
      const counts = families.find((f) => f.name === "procos_verify_checks")!;
      expect(counts.metrics.find((m) => m.labels.status === "pass")!.value).toBe("2");
    });

    await t.step("/checks/<id> runs one check; an unknown id is 404", async () => {
      const r = await fetch(`${s.base}/checks/${encodeURIComponent("ollama.version")}`, {
        headers: { accept: "application/json" },
      });
      expect(r.status).toBe(200);
      expect((await r.json()).checks.map((c: { id: string }) => c.id)).toEqual(["ollama.version"]);
      const before = tagsRequests(d);
      const live = await fetch(`${s.base}/livez`);
      expect([live.status, await live.text()]).toEqual([200, "ok\n"]);
      expect(tagsRequests(d)).toBe(before);
      const missing = await fetch(`${s.base}/checks/nope`);
      expect(missing.status).toBe(404);
      expect(await missing.text()).toContain('no check "nope"');
      const post = await fetch(`${s.base}/healthz`, { method: "POST" });
      await post.body?.cancel();
      expect(post.status).toBe(405);
    });
  } finally {
    await s.close();
    await d.close();
  }
});

Deno.test("CachedRun: fresh within the cache, one run for concurrent callers", async () => {
  let clock = 0;
  let runs = 0;
  let release!: () => void;
  const report = { summary: { fail: 0 } } as Report;
  const c = new CachedRun(
    async () => {
      runs++;
      await new Promise<void>((r) => (release = r));
      return report;
    },
    1000,
    () => clock,
  );
  const first = [c.get(), c.get(), c.get()];
  await Promise.resolve();
  release();
  const got = await Promise.all(first);
  expect(runs).toBe(1);
  expect(got.map((g) => g.cached)).toEqual([false, false, false]);
  clock = 999;
  expect((await c.get()).cached).toBe(true);
  clock = 1000;
  const again = c.get();
  await Promise.resolve();
  release();
  expect((await again).cached).toBe(false);
  expect(runs).toBe(2);
});

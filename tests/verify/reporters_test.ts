/**
 * The reporters: JUnit XML is well-formed (parsed by Python's XML parser) and
 * carries the failure; JSON has its documented shape; pretty shows
 * expected/actual/hint and uses colors only when asked.
 */
import { expect } from "expect";
import type { Report } from "../../verify/runner.ts";
import { summarize } from "../../verify/runner.ts";
import { renderJunit } from "../../verify/reporters/junit.ts";
import { escapeXml } from "../../verify/reporters/junit.ts";
import { renderJson } from "../../verify/reporters/json.ts";
import { prettyReporter, renderSummary } from "../../verify/reporters/pretty.ts";
import { renderTap } from "../../verify/reporters/tap.ts";
import { renderPrometheus, writeTextfile } from "../../verify/reporters/prometheus.ts";

const hostile = `a <b> & "c" 'd' ]]> \u0001 end`;

function sampleReport(): Report {
  const outcomes: Report["outcomes"] = [
    {
      id: "postgres.table.procos_ai_context",
      domain: "postgres",
      name: "postgres: table procos_ai_context has the spec's 12 columns",
      result: {
        status: "fail",
        expected: "process_instance_id character varying(64) NOT NULL",
        actual: "process_instance_id character varying(4000)",
        hint: `migrate it ${hostile}`,
      },
      attempts: 2,
      durationMs: 12.5,
    },
    {
      id: "services.tcp.redis",
      domain: "services",
      name: "services: redis accepts TCP on 127.0.0.1:6379",
      result: { status: "pass" },
      attempts: 1,
      durationMs: 3,
    },
    {
      id: "postgres.retention",
      domain: "postgres",
      name: "postgres: retention functions exist",
      result: { status: "skip", reason: "no retention functions in this spec yet" },
      attempts: 1,
      durationMs: 0,
    },
    {
      id: "camunda.engine",
      domain: "camunda",
      name: `camunda: engine ${hostile}`,
      result: { status: "pass", detail: "Camunda 7.24.0" },
      attempts: 1,
      durationMs: 40,
    },
  ];
  return {
    startedAt: "2025-01-01T00:00:00.000Z",
    durationMs: 1234,
    rounds: 2,
    outcomes,
    summary: summarize(outcomes),
  };
}

const meta = { project: "procos", profile: "development" };

/** Parses XML with Python's ElementTree; returns a JSON summary, or throws with the parse error. */
async function parseXml(xml: string) {
  const script = `
import sys, json, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
out = {"root": root.tag, "attrs": root.attrib, "suites": []}
for s in root.findall("testsuite"):
    cases = []
    for c in s.findall("testcase"):
        f = c.find("failure")
        k = c.find("skipped")
        cases.append({"name": c.get("name"), "classname": c.get("classname"),
                      "failure": None if f is None else {"message": f.get("message"), "text": f.text},
                      "skipped": None if k is None else k.get("message")})
    out["suites"].append({"attrs": s.attrib, "cases": cases})
print(json.dumps(out))
`;
  const child = new Deno.Command("python3", {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(xml));
  await w.close();
  const out = await child.output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("junit: well-formed XML with a testsuite per domain and the failure", async () => {
  const xml = renderJunit(sampleReport(), meta);
  expect(xml.startsWith(`<?xml version="1.0" encoding="UTF-8"?>`)).toBe(true);
  const doc = await parseXml(xml);
  expect(doc.root).toBe("testsuites");
  expect(doc.attrs).toMatchObject({ tests: "4", failures: "1", skipped: "1", errors: "0" });
  expect(doc.suites.map((s: { attrs: { name: string } }) => s.attrs.name)).toEqual([
    "services",
    "postgres",
    "camunda",
  ]);
  const pg = doc.suites[1];
  expect(pg.attrs).toMatchObject({ tests: "2", failures: "1", skipped: "1" });
  const failed = pg.cases[0];
  expect(failed.classname).toBe("procos.verify.postgres");
  expect(failed.failure.message).toContain("expected process_instance_id character varying(64)");
  expect(failed.failure.text).toContain("actual: process_instance_id character varying(4000)");
  // hostile text survives escaping (minus the control character XML cannot hold)
  expect(failed.failure.text).toContain(`migrate it a <b> & "c" 'd' ]]>  end`);
  expect(pg.cases[1].skipped).toBe("no retention functions in this spec yet");
  expect(doc.suites[2].cases[0].name).toBe(`camunda: engine a <b> & "c" 'd' ]]>  end`);
});

Deno.test("junit: escapeXml escapes markup and drops characters XML forbids", () => {
  expect(escapeXml(`<a href="x">&'\u0000\u001f\ud800`)).toBe(
    "&lt;a href=&quot;x&quot;&gt;&amp;&apos;",
  );
  expect(escapeXml("tab\tnew\nline é 😀")).toBe("tab\tnew\nline é 😀");
});

Deno.test("json: one document with summary and one entry per check", () => {
  const doc = JSON.parse(renderJson(sampleReport(), meta));
  expect(doc).toMatchObject({
    version: 1,
    project: "procos",
    profile: "development",
    ok: false,
    rounds: 2,
    summary: { total: 4, pass: 2, fail: 1, skip: 1 },
  });
  expect(doc.checks).toHaveLength(4);
  expect(doc.checks[0]).toEqual({
    id: "postgres.table.procos_ai_context",
    domain: "postgres",
    name: "postgres: table procos_ai_context has the spec's 12 columns",
    status: "fail",
    attempts: 2,
    durationMs: 13,
    expected: "process_instance_id character varying(64) NOT NULL",
    actual: "process_instance_id character varying(4000)",
    hint: `migrate it ${hostile}`,
  });
  expect(doc.checks[2]).toMatchObject({ status: "skip", reason: expect.any(String) });
  expect(doc.checks[3]).toMatchObject({ status: "pass", detail: "Camunda 7.24.0" });
});

Deno.test("pretty: failures first with expected / actual / hint, then passes and skips by domain", () => {
  const plain = renderSummary(sampleReport(), false);
  expect(plain).not.toContain("\x1b[");
  const lines = plain.split("\n");
  expect(lines[0]).toBe("failed (1)");
  expect(lines[1]).toMatch(
    /^postgres\s+FAIL\s+postgres: table procos_ai_context has .* \[2 tries\]$/,
  );
  expect(lines[2]).toMatch(/expected: process_instance_id character varying\(64\) NOT NULL$/);
  expect(lines[3]).toMatch(/actual {2}: process_instance_id character varying\(4000\)$/);
  expect(lines[4]).toContain("hint    : migrate it");
  const passed = lines.indexOf("passed (2)");
  // domain order, whatever the check order
  expect(lines[passed + 1]).toMatch(/^services\s+PASS\s+services: redis accepts TCP/);
  expect(lines[passed + 2]).toMatch(/^camunda\s+PASS\s+camunda: engine .* \(Camunda 7\.24\.0\)$/);
  const skipped = lines.indexOf("skipped (1)");
  expect(lines[skipped + 1]).toMatch(
    /^postgres\s+SKIP\s+postgres: retention functions exist: no retention functions in this spec yet$/,
  );
  expect(plain).toContain("4 checks: 2 passed, 1 failed, 1 skipped (1.2s, 2 rounds)");
  expect(renderSummary(sampleReport(), true)).toContain("\x1b[31mFAIL\x1b[0m");
});

Deno.test("pretty: a domain's skips with one reason are one line", () => {
  const report = sampleReport();
  const skip = { status: "skip" as const, reason: "no Ollama in this spec" };
  report.outcomes = ["a", "b", "c"].map((x) => ({
    id: `ollama.${x}`,
    domain: "ollama" as const,
    name: `ollama: ${x}`,
    result: skip,
    attempts: 1,
    durationMs: 0,
  }));
  report.summary = summarize(report.outcomes);
  const plain = renderSummary(report, false);
  expect(plain.split("\n").filter((l) => l.includes("no Ollama"))).toEqual([
    "ollama  SKIP  3 ollama checks: no Ollama in this spec",
  ]);
});

Deno.test("pretty: a progress line on a terminal, rewritten in place; none otherwise", () => {
  const [failed, passed] = sampleReport().outcomes;
  let tty = "";
  const r = prettyReporter({ write: (t) => void (tty += t), color: false, progress: true });
  r.onStart!([]);
  r.onResult!(failed, false);
  r.onResult!(failed, true);
  r.onResult!(passed, true);
  expect(tty).toContain("\r\x1b[2K[2/0] 1 failed; last: services: redis accepts TCP");
  let plain = "";
  const p = prettyReporter({ write: (t) => void (plain += t), color: false });
  p.onResult!(failed, true);
  expect(plain).toBe("");
  p.onRetry!({
    round: 1,
    failing: 1,
    failingIds: [{ id: failed.id, failingForMs: 3000 }],
    remainingMs: 7000,
    delayMs: 1000,
  });
  expect(plain).toContain(
    "1 failing after round 1, retrying (7s left): postgres.table.procos_ai_context (failing for 3s)",
  );
});

Deno.test("tap: a TAP 14 document tap-parser reads, with the failure's YAML block and the skip", async () => {
  const { Parser } = await import("tap-parser");
  const failures: { name: string; diag: Record<string, unknown> }[] = [];
  const final = await new Promise<unknown>((resolve) => {
    const p = new Parser((r) => resolve(r));
    p.on("assert", (a: { ok: boolean; name: string; diag: Record<string, unknown> }) => {
      if (!a.ok) failures.push(a);
    });
    p.end(renderTap(sampleReport()));
  });
  expect(final).toMatchObject({ ok: false, count: 4, pass: 3, fail: 1, skip: 1 });
  expect(failures).toHaveLength(1);
  expect(failures[0].name).toBe("postgres: table procos_ai_context has the spec's 12 columns");
  expect(failures[0].diag).toMatchObject({
    id: "postgres.table.procos_ai_context",
    expected: "process_instance_id character varying(64) NOT NULL",
    actual: "process_instance_id character varying(4000)",
    attempts: 2,
  });
  expect(String(failures[0].diag.hint)).toContain(`migrate it a <b> & "c" 'd' ]]>`);
});

Deno.test("prometheus: the text format, and a textfile written whole under a .prom name", async () => {
  const { default: parse } = await import("parse-prometheus-text-format");
  const text = renderPrometheus(sampleReport(), meta);
  const families = parse(text) as {
    name: string;
    metrics: { labels: Record<string, string>; value: string }[];
  }[];
  const success = families.find((f) => f.name === "procos_verify_check_success")!;
  expect(success.metrics).toHaveLength(4);
  const failed = success.metrics.find((m) => m.labels.id === "postgres.table.procos_ai_context")!;
  expect(failed).toMatchObject({ value: "0", labels: { status: "fail", project: "procos" } });
  const engine = success.metrics.find((m) => m.labels.id === "camunda.engine")!;
  expect(engine.value).toBe("1");
  const dir = await Deno.makeTempDir();
  try {
    await writeTextfile(`${dir}/procos.prom`, text);
    expect(await Deno.readTextFile(`${dir}/procos.prom`)).toBe(text);
    expect([...Deno.readDirSync(dir)].map((e) => e.name)).toEqual(["procos.prom"]);
    await expect(writeTextfile(`${dir}/procos.txt`, text)).rejects.toThrow(/\.prom/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

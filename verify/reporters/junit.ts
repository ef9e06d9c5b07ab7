/**
 * The JUnit reporter: `<testsuites>` with one `<testsuite>` per domain and one
 * `<testcase>` per check; failures carry a `<failure>` with expected, actual
 * and hint; skips a `<skipped>`. For CI systems that read JUnit XML.
 *
 * @module
 */
import { DOMAINS } from "../check.ts";
import type { Outcome, Report } from "../runner.ts";
import { summarize } from "../runner.ts";

/** Escapes text for XML content and attribute values; drops characters XML 1.0 forbids. */
export function escapeXml(text: string): string {
  return text
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, "")
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** Escapes an attribute value, keeping newlines and tabs as character references. */
function attr(text: string): string {
  return escapeXml(text).replace(/\n/g, "&#10;").replace(/\r/g, "&#13;").replace(/\t/g, "&#9;");
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function testcase(o: Outcome, project: string): string {
  const open = `    <testcase classname="${attr(`${project}.verify.${o.domain}`)}" name="${
    attr(o.name)
  }" time="${seconds(o.durationMs)}"`;
  const r = o.result;
  switch (r.status) {
    case "pass":
      return `${open}/>`;
    case "skip":
      return `${open}>\n      <skipped message="${attr(r.reason)}"/>\n    </testcase>`;
    case "fail": {
      const body = [`expected: ${r.expected}`, `actual: ${r.actual}`];
      if (r.hint) body.push(`hint: ${r.hint}`);
      body.push(`check id: ${o.id}`, `attempts: ${o.attempts}`);
      const message = `expected ${r.expected.split("\n")[0]}; actual ${r.actual.split("\n")[0]}`;
      return `${open}>\n      <failure message="${attr(message)}" type="verify">${
        escapeXml(body.join("\n"))
      }</failure>\n    </testcase>`;
    }
  }
}

/** Renders a run as JUnit XML. */
export function renderJunit(report: Report, meta: { project: string; profile: string }): string {
  const domains = [...new Set(report.outcomes.map((o) => o.domain))].sort((a, b) =>
    DOMAINS.indexOf(a) - DOMAINS.indexOf(b)
  );
  const s = report.summary;
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="${
      attr(`${meta.project} verify (${meta.profile})`)
    }" tests="${s.total}" failures="${s.fail}" errors="0" skipped="${s.skip}" time="${
      seconds(report.durationMs)
    }" timestamp="${attr(report.startedAt)}">`,
  ];
  for (const d of domains) {
    const os = report.outcomes.filter((o) => o.domain === d);
    const ds = summarize(os);
    const time = os.reduce((t, o) => t + o.durationMs, 0);
    lines.push(
      `  <testsuite name="${
        attr(d)
      }" tests="${ds.total}" failures="${ds.fail}" errors="0" skipped="${ds.skip}" time="${
        seconds(time)
      }" timestamp="${attr(report.startedAt)}">`,
    );
    for (const o of os) lines.push(testcase(o, meta.project));
    lines.push(`  </testsuite>`);
  }
  lines.push(`</testsuites>`);
  return lines.join("\n") + "\n";
}

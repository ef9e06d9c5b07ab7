/**
 * The TAP reporter (Test Anything Protocol, version 14): one test point per
 * check; a failure carries a YAML block with its id, expected, actual and
 * hint; a skip is `# SKIP` with its reason.
 *
 * @module
 */
import type { Report } from "../runner.ts";

/** Text safe on one TAP line: no line breaks, and `#` escaped (it starts a directive). */
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, " ").replace(/\\/g, "\\\\").replace(/#/g, "\\#");
}

/** The run as a TAP 14 document. */
export function renderTap(report: Report): string {
  const lines = ["TAP version 14", `1..${report.outcomes.length}`];
  report.outcomes.forEach((o, i) => {
    const n = i + 1;
    const r = o.result;
    if (r.status === "skip") {
      lines.push(`ok ${n} - ${oneLine(o.name)} # SKIP ${oneLine(r.reason)}`);
      return;
    }
    lines.push(`${r.status === "pass" ? "ok" : "not ok"} ${n} - ${oneLine(o.name)}`);
    // JSON strings are YAML scalars, so the block is YAML whatever the text holds.
    const fields: [string, string | number | undefined][] = r.status === "fail"
      ? [["id", o.id], ["expected", r.expected], ["actual", r.actual], ["hint", r.hint]]
      : [["id", o.id], ["detail", r.detail]];
    lines.push("  ---");
    for (
      const [k, v] of [...fields, ["attempts", o.attempts], [
        "duration_ms",
        Math.round(o.durationMs),
      ]] as const
    ) {
      if (v !== undefined) lines.push(`  ${k}: ${JSON.stringify(v)}`);
    }
    lines.push("  ...");
  });
  return lines.join("\n") + "\n";
}

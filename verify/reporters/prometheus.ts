/**
 * The Prometheus reporter: the run in the Prometheus text exposition format
 * (version 0.0.4), for `/metrics` of `verify serve` and for node_exporter's
 * textfile collector (`--textfile`, written atomically as the collector
 * requires).
 *
 * - `procos_verify_check_success{id,domain,status}`: 1 pass, 0 fail; a skip
 *   is 1 with status "skip" (it is not a failure);
 * - `procos_verify_check_duration_seconds{id,domain}`;
 * - `procos_verify_checks{status}`: the counts per status;
 * - `procos_verify_run_duration_seconds`, `procos_verify_last_run_timestamp_seconds`.
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { Report } from "../runner.ts";

/** The content type of the text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Escapes a label value (backslash, double quote, line feed). */
export function labelValue(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labels(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs).map(([k, v]) => `${k}="${labelValue(v)}"`).join(",")}}`;
}

/** The run as Prometheus text, with the project and profile as labels of every sample. */
export function renderPrometheus(
  report: Report,
  meta: { project: string; profile: string },
): string {
  const base = { project: meta.project, profile: meta.profile };
  const out: string[] = [];
  const family = (name: string, help: string, samples: string[]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...samples);
  };
  family(
    "procos_verify_check_success",
    "Whether a verify check passed (1) or failed (0); skipped checks are 1.",
    report.outcomes.map((o) =>
      `procos_verify_check_success${
        labels({ ...base, id: o.id, domain: o.domain, status: o.result.status })
      } ${o.result.status === "fail" ? 0 : 1}`
    ),
  );
  family(
    "procos_verify_check_duration_seconds",
    "How long the last run of a verify check took.",
    report.outcomes.map((o) =>
      `procos_verify_check_duration_seconds${labels({ ...base, id: o.id, domain: o.domain })} ${
        (o.durationMs / 1000).toFixed(6)
      }`
    ),
  );
  family(
    "procos_verify_checks",
    "Verify checks by final status.",
    (["pass", "fail", "skip"] as const).map((s) =>
      `procos_verify_checks${labels({ ...base, status: s })} ${report.summary[s]}`
    ),
  );
  family("procos_verify_run_duration_seconds", "Wall time of the verify run.", [
    `procos_verify_run_duration_seconds${labels(base)} ${(report.durationMs / 1000).toFixed(6)}`,
  ]);
  family("procos_verify_last_run_timestamp_seconds", "When the verify run started (Unix time).", [
    `procos_verify_last_run_timestamp_seconds${labels(base)} ${
      Math.floor(Date.parse(report.startedAt) / 1000)
    }`,
  ]);
  return out.join("\n") + "\n";
}

/**
 * Writes `text` to `file` as node_exporter's textfile collector needs it:
 * into a temporary file in the same folder, then renamed over `file`, so the
 * collector never reads half a file. The name must end in `.prom`.
 */
export async function writeTextfile(file: string, text: string): Promise<void> {
  if (!file.endsWith(".prom")) {
    throw new Error(`--textfile ${file}: the textfile collector reads only files ending in .prom`);
  }
  const tmp = join(dirname(file), `.${crypto.randomUUID()}.prom.tmp`);
  await Deno.writeTextFile(tmp, text, { mode: 0o644 });
  try {
    await Deno.rename(tmp, file);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

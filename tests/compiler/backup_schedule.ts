/**
 * The backup schedule's real consumer: the loop of `backup/backup.sh` decides
 * with its own `due` function (POSIX sh and awk) whether a minute is due. A
 * differential check runs that function, taken from the generated script,
 * over sample minutes and compares it with croner: the minutes croner says
 * are due, and the same time of day on random days of the coming year (where
 * the day-of-month and day-of-week rules differ, if anywhere).
 *
 * @module
 */
import { Cron } from "croner";
import type { CompileResult } from "../../compiler/compile.ts";
import { BACKUP_SCRIPT } from "../../compiler/emit/containers.ts";
import { CRON_FROM } from "./consumer_checks.ts";

const MINUTE = 60_000;

/** The `date -u '+%M %H %d %m %w'` fields of a moment, as the loop reads them. */
function fields(t: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return [t.getUTCMinutes(), t.getUTCHours(), t.getUTCDate(), t.getUTCMonth() + 1]
    .map(p).concat(String(t.getUTCDay())).join(" ");
}

/**
 * Compares the loop's `due` with croner on up to `samples` minutes; returns
 * each disagreement (at most five), or nothing when the build wrote no
 * backup script.
 */
export async function backupScheduleProblems(r: CompileResult, samples = 40): Promise<string[]> {
  const script = r.artifacts.find((a) => a.path === BACKUP_SCRIPT)?.content;
  if (!script || !r.model.backup) return [];
  const vars = script.match(/^SCHEDULE_[A-Z]+=.*$/gm) ?? [];
  const start = script.indexOf("field() {");
  const end = script.indexOf("\n}\n", script.indexOf("due() {"));
  if (vars.length !== 5 || start < 0 || end < 0) {
    return [`${BACKUP_SCRIPT}: no field()/due() found`];
  }
  const schedule = r.model.backup.schedule.trim().split(/\s+/).join(" ");
  const cron = new Cron(schedule, { timezone: "UTC", paused: true });
  const isDue = (t: Date) =>
    cron.nextRun(new Date(t.getTime() - MINUTE))?.getTime() === t.getTime();
  const moments: Date[] = cron.nextRuns(Math.floor(samples / 2), CRON_FROM);
  const first = moments[0];
  if (first) {
    // a fixed spread of days, at the first run's time of day
    for (let i = 0; moments.length < samples; i++) {
      moments.push(new Date(first.getTime() + ((i * 7919) % 366) * 86_400_000));
    }
  }
  const body = `set -u\nset -f\n${vars.join("\n")}\n${script.slice(start, end + 3)}\n` +
    `while read -r m h d mo w; do if due "$m" "$h" "$d" "$mo" "$w"; then echo 1; else echo 0; fi; done\n`;
  const file = await Deno.makeTempFile({ prefix: "procos-fz-due-", suffix: ".sh" });
  try {
    await Deno.writeTextFile(file, body);
    const child = new Deno.Command("sh", {
      args: [file],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    })
      .spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(moments.map((t) => fields(t) + "\n").join("")));
    await writer.close();
    const out = await child.output();
    const answers = new TextDecoder().decode(out.stdout).trim().split("\n");
    if (!out.success || answers.length !== moments.length) {
      return [`the backup loop's due() failed: ${new TextDecoder().decode(out.stderr).trim()}`];
    }
    const problems: string[] = [];
    moments.forEach((t, i) => {
      const loop = answers[i] === "1";
      if (loop !== isDue(t) && problems.length < 5) {
        problems.push(
          `schedule "${schedule}" at ${t.toISOString()} (${fields(t)}): the backup loop says ` +
            `${loop ? "due" : "not due"}, croner ${loop ? "not due" : "due"}`,
        );
      }
    });
    return problems;
  } finally {
    await Deno.remove(file);
  }
}

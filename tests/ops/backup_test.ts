/**
 * `deno task backup` / `deno task restore` and the verify `backup` domain.
 *
 * The RESTORE DRILL runs on the real PostgreSQL (tests/helpers/pg.ts): a
 * throwaway database `procos_t_<rand>` of a generated production spec
 * (tests/fixtures/stack/make_spec.ts), initialised with the generated
 * init SQL, filled with AI context of every size up to 1 MB (TEXT and JSONB),
 * every lifecycle phase, models and statistics; backed up; DESTROYED (DROP
 * DATABASE); restored; and every row of every AI table must come back
 * byte-identical (sha256 of each row's text form, in key order), the
 * sequences too, and `verify --only postgres,backup` must be all green.
 * Also: a corrupted dump (one flipped byte) is refused, a non-empty database
 * is not replaced without --yes, retention keeps N days and never the newest.
 *
 * @module
 */
import { expect } from "expect";
import { join } from "node:path";
import type postgres from "postgres";
import { build } from "../../compiler/compile.ts";
import {
  AI_CONTEXT_ARCHIVE_TABLE,
  AI_CONTEXT_HISTORY_TABLE,
  AI_CONTEXT_TABLE,
  AI_MODEL_STATS_TABLE,
  AI_MODELS_TABLE,
  AI_TABLES,
  aiTable,
  APPLY_RETENTION_PROCEDURE,
} from "../../compiler/ai_schema.ts";
import { buildModel } from "../../compiler/model.ts";
import { quoteIdent, quoteLiteral } from "../../compiler/sql_quote.ts";
import { loadSpec } from "../../compiler/load_spec.ts";
import { connect, connectSpec, loadOps } from "../../ops/db.ts";
import {
  dumpName,
  expiredBackups,
  hashFile,
  listBackups,
  main as backupMain,
  parseDumpName,
  pruneBackups,
  readSidecar,
  SIDECAR_FORMAT,
  sidecarPath,
  stampOf,
} from "../../ops/backup.ts";
import type { Sidecar } from "../../ops/backup.ts";
import { main as restoreMain, stagingName } from "../../ops/restore.ts";
import { backupChecksAt, formatAge, maxBackupAgeMs } from "../../verify/checks/backup.ts";
import { scheduleMaxGapMs } from "../../compiler/cron.ts";
import type { Result, RunContext } from "../../verify/check.ts";
import { main as verifyMain } from "../../verify/cli.ts";
import type { JsonReport } from "../../verify/reporters/json.ts";
import { dropScratch, psql } from "../helpers/pg.ts";
import { freePort, makeStackSpec, ROOT } from "../fixtures/stack/make_spec.ts";
import { parse } from "yaml";
import { COMPOSE_PRODUCTION_FILE } from "../../compiler/emit/compose.ts";
import {
  PG_HBA_FILE,
  WAL_ARCHIVE_DIR,
  WAL_ARCHIVE_SCRIPT,
  walArchiveCommand,
} from "../../compiler/emit/postgres.ts";
import { runCli as cli } from "../helpers/cli.ts";

const HOUR = 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DAY = 24 * HOUR;

/** Writes a fake dump and its sidecar (as the backup would) into `dir`. */
async function fakeDump(dir: string, database: string, at: Date, body = "dump"): Promise<string> {
  const path = join(dir, dumpName(database, at));
  await Deno.writeTextFile(path, body);
  const { sha256, size } = await hashFile(path);
  const side: Partial<Sidecar> = { format: SIDECAR_FORMAT, sha256, size, database };
  await Deno.writeTextFile(sidecarPath(path), JSON.stringify(side));
  return path;
}

// ------------------------------------------------------------------ pure parts

Deno.test("dump names: UTC stamps, parsed back, other files ignored", async () => {
  const at = new Date("2026-01-02T03:04:05.678Z");
  expect(stampOf(at)).toBe("20260102T030405Z");
  expect(dumpName("procos", at)).toBe("procos-20260102T030405Z.dump");
  expect(parseDumpName("procos_t-x-20260102T030405Z.dump")).toEqual({
    database: "procos_t-x",
    time: new Date("2026-01-02T03:04:05Z"),
  });
  for (
    const bad of ["procos-20261302T030405Z.dump", "procos-20260102T030405Z.dump.json", "x.dump"]
  ) {
    expect(parseDumpName(bad)).toBeUndefined();
  }
  const dir = await Deno.makeTempDir({ prefix: "procos-backup-names-" });
  try {
    await fakeDump(dir, "a", new Date("2026-01-03T00:00:00Z"));
    await fakeDump(dir, "a", new Date("2026-01-01T00:00:00Z"));
    await fakeDump(dir, "b", new Date("2026-01-02T00:00:00Z"));
    await Deno.writeTextFile(join(dir, "a-20260104T000000Z.dump.partial"), "half");
    await Deno.writeTextFile(join(dir, "notes.txt"), "x");
    expect((await listBackups(dir, "a")).map((b) => b.name)).toEqual([
      "a-20260101T000000Z.dump",
      "a-20260103T000000Z.dump",
    ]);
    expect((await listBackups(dir)).map((b) => b.database)).toEqual(["a", "b", "a"]);
    expect(await listBackups(join(dir, "missing"))).toEqual([]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  expect(stagingName("d".repeat(63)).length).toBeLessThanOrEqual(63);
  expect(stagingName("procos")).toMatch(/^procos_restore_[0-9a-f]{8}$/);
});

Deno.test("retention keeps N days of dumps, and never the newest", async () => {
  const now = new Date("2026-03-20T03:00:00Z");
  const dir = await Deno.makeTempDir({ prefix: "procos-backup-retention-" });
  try {
    // one dump a day for 20 days, for two databases
    for (let d = 0; d < 20; d++) {
      await fakeDump(dir, "procos", new Date(now.getTime() - d * DAY - 60_000));
      await fakeDump(dir, "other", new Date(now.getTime() - d * DAY - 60_000));
    }
    const gone = await pruneBackups(dir, "procos", 14, now);
    expect(gone).toHaveLength(6); // 14..19 days old (and a minute)
    const kept = await listBackups(dir, "procos");
    expect(kept).toHaveLength(14);
    expect(Math.max(...kept.map((b) => now.getTime() - b.time.getTime()))).toBeLessThan(14 * DAY);
    for (const g of gone) {
      await expect(Deno.stat(sidecarPath(g))).rejects.toThrow(); // its sidecar went too
    }
    expect(await listBackups(dir, "other")).toHaveLength(20); // another database: untouched

    // every dump older than the retention: the newest stays
    const later = new Date(now.getTime() + 100 * DAY);
    await pruneBackups(dir, "procos", 14, later);
    const last = await listBackups(dir, "procos");
    expect(last.map((b) => b.name)).toEqual([dumpName("procos", new Date(now.getTime() - 60_000))]);
    expect(expiredBackups(last, 1, later)).toEqual([]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the schedule's longest gap and the age a backup may reach", () => {
  expect(scheduleMaxGapMs("0 3 * * *")).toBe(DAY);
  expect(maxBackupAgeMs("0 3 * * *")).toBe(30 * HOUR);
  expect(scheduleMaxGapMs("*/15 * * * *")).toBe(15 * 60_000);
  expect(maxBackupAgeMs("*/15 * * * *")).toBe(75 * 60_000); // at least an hour of slack
  expect(scheduleMaxGapMs("0 3 * * 1")).toBe(7 * DAY);
  expect(scheduleMaxGapMs("0 3 * * 1-5")).toBe(3 * DAY); // Friday to Monday
  expect(scheduleMaxGapMs("0 0 1 * *")).toBe(31 * DAY);
  expect(scheduleMaxGapMs("0 3 1,15 * *")).toBe(17 * DAY); // 15 Jan → 1 Feb
  expect(scheduleMaxGapMs("0 0 1 * 1")).toBe(7 * DAY); // the 1st OR Mondays
  expect(scheduleMaxGapMs("0 0 * * 7")).toBe(7 * DAY); // 7 is Sunday
  expect(scheduleMaxGapMs("0 0 30 2 *")).toBe(Infinity);
  expect(scheduleMaxGapMs("0 0 29 2 *")).toBe((365 * 4 + 1) * DAY);
  expect(scheduleMaxGapMs("0 6,18 * * *")).toBe(12 * HOUR);
  expect(() => scheduleMaxGapMs("0 24 * * *")).toThrow("24 is out of range (0-23)");
  expect(() => scheduleMaxGapMs("*/0 3 * * *")).toThrow("step of 0");
  expect(() => scheduleMaxGapMs("0 3 5-1 * *")).toThrow("runs backwards");
  expect(formatAge(30 * HOUR)).toBe("1d 6h");
  expect(formatAge(75 * 60_000)).toBe("1h 15m");
});

/** A RunContext for the backup checks of a spec, without a stack. */
async function backupDomain(
  config: string,
  out: string,
  env: Record<string, string>,
  now: Date,
  profile: "development" | "production" = "production",
): Promise<Array<{ id: string; result: Result }>> {
  const model = buildModel(await loadSpec(config, { profile, env }));
  const ctx = {
    model,
    targets: undefined as never,
    specFile: config,
    specDir: join(config, ".."),
    outDir: out,
    signal: new AbortController().signal,
  } as RunContext;
  const out2: Array<{ id: string; result: Result }> = [];
  for (const c of backupChecksAt(model, () => now)) {
    out2.push({ id: c.id, result: await c.run(ctx) });
  }
  return out2;
}

Deno.test("verify backup: fresh, sidecar, retention; skipped without a backup section", async () => {
  const spec = await makeStackSpec();
  try {
    const out = join(spec.dir, "out");
    const env = spec.secretsEnv;
    const dev = await backupDomain(spec.config, out, env, new Date(), "development");
    expect(dev).toEqual([{
      id: "backup.configured",
      result: { status: "skip", reason: expect.stringContaining("no backup section") },
    }]);

    const dir = join(spec.dir, "backups"); // backup.path of the production profile
    const now = new Date("2026-05-10T12:00:00Z");
    const status = async (at = now) =>
      Object.fromEntries(
        (await backupDomain(spec.config, out, env, at)).map((r) => [r.id, r.result.status]),
      );
    // nothing yet, no stack state: fail
    expect(await status()).toEqual({
      "backup.fresh": "fail",
      "backup.sidecar": "skip",
      "backup.retention": "skip",
    });
    // nothing yet, but the stack came up an hour ago: the first backup is not due
    await Deno.mkdir(join(out, "runtime"), { recursive: true });
    await Deno.writeTextFile(
      join(out, "runtime", "state.json"),
      JSON.stringify({ version: 1, services: {}, updatedAt: new Date(now.getTime() - HOUR) }),
    );
    const grace = await backupDomain(spec.config, out, env, now);
    expect(grace[0].result).toEqual({
      status: "skip",
      reason: expect.stringMatching(/no backup .* yet; the stack came up 1h ago/),
    });
    await Deno.remove(join(out, "runtime"), { recursive: true });

    await Deno.mkdir(dir, { recursive: true });
    const name = spec.name;
    await fakeDump(dir, name, new Date(now.getTime() - 20 * DAY));
    await fakeDump(dir, name, new Date(now.getTime() - 2 * HOUR), "the newest dump");
    expect(await status()).toEqual({
      "backup.fresh": "pass",
      "backup.sidecar": "pass",
      "backup.retention": "fail", // 20 days > 14 + 1
    });
    await pruneBackups(dir, name, 14, now);
    expect(await status()).toEqual({
      "backup.fresh": "pass",
      "backup.sidecar": "pass",
      "backup.retention": "pass",
    });
    // two days later, no new backup: stale (30 h allowed for a daily schedule)
    const stale = await backupDomain(spec.config, out, env, new Date(now.getTime() + 2 * DAY));
    expect(stale[0].result).toMatchObject({
      status: "fail",
      actual: expect.stringContaining("2d 2h old"),
    });
    // the newest dump damaged: one byte flipped
    const newest = (await listBackups(dir, name)).at(-1)!;
    const bytes = await Deno.readFile(newest.path);
    bytes[3] ^= 0x01;
    await Deno.writeFile(newest.path, bytes);
    const broken = await backupDomain(spec.config, out, env, now);
    expect(broken[1]).toMatchObject({
      id: "backup.sidecar",
      result: { status: "fail", actual: expect.stringMatching(/corrupt.*sha256/) },
    });
    // a missing sidecar
    await Deno.remove(newest.sidecar);
    expect((await backupDomain(spec.config, out, env, now))[1].result).toMatchObject({
      status: "fail",
      actual: expect.stringContaining("is missing"),
    });
  } finally {
    await spec.remove();
  }
});

Deno.test("deno task backup / restore --help run from deno.json", async () => {
  for (const task of ["backup", "restore", "ai:search", "ai:usage"]) {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", task, "--help"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(r.stdout);
    expect({ task, code: r.code }).toEqual({ task, code: 0 });
    expect(text).toContain(`usage: deno task ${task}`);
  }
});

// ------------------------------------------------------------ the restore drill

/** Each AI table's rows: count, sha256 of all, and each row's sha256 by key. */
type Fingerprint = Record<string, { count: number; sha256: string; rows: string[] }>;

function keyColumns(table: string): string[] {
  const pk = aiTable(table).constraints.find((c) => c.kind === "primary-key")!;
  return /PRIMARY KEY \((.+)\)/.exec(pk.definition)![1].split(",").map((s) => s.trim());
}

async function fingerprint(sql: postgres.Sql): Promise<Fingerprint> {
  const out: Fingerprint = {};
  for (const t of AI_TABLES) {
    const order = keyColumns(t.name).map((c) => `t.${c}`).join(", ");
    const rows = await sql.unsafe<{ k: string; h: string }[]>(
      `SELECT (${order})::text AS k, encode(sha256(convert_to(t::text, 'UTF8')), 'hex') AS h
       FROM "${t.name}" t ORDER BY ${order}`,
    );
    const [all] = await sql.unsafe<{ h: string }[]>(
      `SELECT encode(sha256(convert_to(coalesce(string_agg(t::text, E'\\n' ORDER BY ${order}), ''),
         'UTF8')), 'hex') AS h FROM "${t.name}" t`,
    );
    out[t.name] = { count: rows.length, sha256: all.h, rows: rows.map((r) => `${r.k} ${r.h}`) };
  }
  const seqs = await sql<{ s: string }[]>`
    SELECT sequencename || '=' || coalesce(last_value::text, 'null') AS s
    FROM pg_sequences WHERE schemaname = 'public' ORDER BY sequencename`;
  out["(sequences)"] = { count: seqs.length, sha256: "", rows: seqs.map((r) => r.s) };
  return out;
}

/** Text of many shapes and sizes, up to 1 MB. */
function texts(): Array<string | null> {
  const lorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ";
  const mb = (unit: string) => unit.repeat(Math.ceil(1_048_576 / unit.length)).slice(0, 1_048_576);
  return [
    null,
    "",
    "x",
    "quotes ' \" `, backslashes \\ \\\\ \\x41, newlines\r\n\ttabs, a $$ dollar $tag$ quote",
    "ünïcödé ✓ 日本語 🚀 \u200b — right-to-left: שלום",
    lorem.repeat(20), // ~1 kB
    lorem.repeat(2000), // ~100 kB
    mb(lorem), // 1 MB of ASCII
    mb("日本語のテキスト🚀 "), // 1 MB of characters, ~3 MB of UTF-8
  ];
}

function jsons(i: number): unknown {
  return {
    i,
    nested: { deep: { deeper: { deepest: [1, 2, { k: "v" }] } } },
    numbers: [0, -1, 1.5, 1e-10, 123456789012345678, 3.141592653589793],
    unicode: { "ключ": "значение", "🔑": "🚀" },
    empty: {},
    nothing: null,
    flags: [true, false],
    big: "x".repeat(i * 1000),
  };
}

Deno.test("RESTORE DRILL: back up, destroy, restore, byte-identical, verify green", async (t) => {
  const spec = await makeStackSpec();
  const out = join(spec.dir, "out");
  const env = { ...spec.secretsEnv };
  const base = ["--config", spec.config, "--out", out, "--profile", "production"];
  const db = spec.name;
  const verify = async (): Promise<JsonReport> => {
    let text = "";
    const err: string[] = [];
    const code = await verifyMain(
      [...base, "--only", "postgres,backup", "--reporter", "json", "--timeout", "60s"],
      { write: (s) => (text += s), stderr: (l) => err.push(l), env, color: false },
    );
    if (code !== 0 && code !== 1) throw new Error(`verify exit ${code}: ${err.join("\n")}`);
    return JSON.parse(text) as JsonReport;
  };
  const expectGreen = (r: JsonReport) => {
    const bad = r.checks.filter((c) => c.status === "fail");
    expect(bad).toEqual([]);
    expect(r.checks.filter((c) => c.domain === "postgres" && c.status === "pass").length)
      .toBeGreaterThan(20);
    const status = (id: string) => r.checks.find((c) => c.id === id)?.status;
    expect([status("backup.fresh"), status("backup.sidecar"), status("backup.retention")])
      .toEqual(["pass", "pass", "pass"]);
  };
  let sql: postgres.Sql | undefined;
  try {
    await build(spec.config, { outDir: out, env, profile: "production" });
    const init = await psql({ file: join(out, "sql", "init-db.sql") });
    if (init.code !== 0) throw new Error(`init-db.sql: ${init.stderr}`);
    const ctx = await loadOps({ config: spec.config, out, env, profile: "production" });
    expect(ctx.spec.database).toBe(db);
    expect(ctx.model.backup?.retention_days).toBeGreaterThan(0);
    const adminSql = connect(ctx.admin);
    await adminSql.unsafe(`ALTER ROLE "${db}" PASSWORD ${quoteLiteral(ctx.spec.password)}`);
    await adminSql.end();
    const backupDir = join(spec.dir, "backups");
    let before: Fingerprint;

    await t.step(
      "fill the AI tables: 1 MB texts, JSONB, every phase, models, statistics",
      async () => {
        sql = connectSpec(ctx);
        const recent = (h: number) => new Date(Date.now() - h * HOUR);
        const phaseTables = [AI_CONTEXT_TABLE, AI_CONTEXT_HISTORY_TABLE, AI_CONTEXT_ARCHIVE_TABLE];
        let n = 0;
        for (const table of phaseTables) {
          for (const [i, text] of texts().entries()) {
            const row: Record<string, unknown> = {
              id: crypto.randomUUID(),
              process_instance_id: `pi-${i % 3}`,
              task_id: i % 2 ? `task-${i}` : null,
              activity_id: "Activity_AI",
              context_type: ["input", "output", "system"][i % 3],
              content_data: sql.json(jsons(i) as postgres.JSONValue),
              content_text: text,
              ai_provider: "ollama",
              model_used: "llama3.2:1b",
              token_usage: i % 3 === 1
                ? sql.json({ prompt_eval_count: i, eval_count: 2 * i, total_duration: 1e9 })
                : null,
              created_at: recent(i + 1),
            };
            for (const c of aiTable(table).columns) {
              if (!(c.name in row) && !c.nullable && c.default === undefined && !c.identity) {
                row[c.name] = recent(0.5);
              }
            }
            await sql`INSERT INTO ${sql(table)} ${sql(row)}`;
            n++;
          }
        }
        expect(n).toBe(27);
        const [m] = await sql`
        INSERT INTO ${sql(AI_MODELS_TABLE)} (provider, name, context_window, rate_limit_per_minute,
          parameters)
        VALUES ('ollama', 'mistral:7b', 32768, 30, ${sql.json({ temperature: 0.2, top_p: 0.9 })})
        RETURNING id`;
        for (let d = 0; d < 5; d++) {
          await sql`
          INSERT INTO ${sql(AI_MODEL_STATS_TABLE)} (model_id, bucket_start, request_count,
            failure_count, truncated_count, prompt_tokens, completion_tokens, total_latency_ms)
          VALUES (${m.id}, date_trunc('day', now()) - ${`${d} days`}::interval, ${d + 1}, ${d % 2},
            0, ${100 * d}, ${200 * d}, ${1234 * d})`;
        }
        // a retention run (nothing is old enough to move): recorded, as verify wants one
        await sql.unsafe(`CALL ${quoteIdent(APPLY_RETENTION_PROCEDURE)}(now(), 1000, false, NULL)`);
        await sql`ANALYZE`;
        before = await fingerprint(sql);
        expect(before[AI_CONTEXT_TABLE].count).toBe(texts().length);
        expect(before[AI_MODEL_STATS_TABLE].count).toBe(5);
        const [big] = await sql`
        SELECT max(octet_length(content_text)) AS bytes FROM ${sql(AI_CONTEXT_TABLE)}`;
        expect(Number(big.bytes)).toBeGreaterThan(2_500_000); // UTF-8 of 1 MB of characters
      },
    );

    await t.step("back up (with old dumps to retire), verify green", async () => {
      await Deno.mkdir(backupDir, { recursive: true });
      const stale = await fakeDump(backupDir, db, new Date(Date.now() - 30 * DAY));
      const r = await cli(backupMain, base, env);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`retention: removed ${stale}`);
      const list = await listBackups(backupDir, db);
      expect(list).toHaveLength(1);
      const side = await readSidecar(list[0].path);
      // the sidecar's sha256 is the file's, by an independent tool
      const sum = await new Deno.Command("sha256sum", { args: [list[0].path], stdout: "piped" })
        .output();
      expect(new TextDecoder().decode(sum.stdout).split(" ")[0]).toBe(side.sha256);
      expect(side.size).toBe((await Deno.stat(list[0].path)).size);
      expect(side.database).toBe(db);
      expect(side.rowCountsExact).toBe(true);
      expect(side.pgDumpVersion).toMatch(/^pg_dump \(PostgreSQL\) \d+/);
      expect(Date.parse(side.finished)).toBeGreaterThanOrEqual(Date.parse(side.started));
      expect(side.rowCounts).toEqual(
        Object.fromEntries(AI_TABLES.map((t) => [t.name, before[t.name].count])),
      );
      expect((await Deno.stat(list[0].path)).mode! & 0o077).toBe(0);
      expectGreen(await verify());
    });

    await t.step("DROP DATABASE, restore, every row byte-identical, verify green", async () => {
      await sql!.end();
      sql = undefined;
      await psql({ command: `DROP DATABASE "${db}" WITH (FORCE)` });
      // the role's password is gone too, to prove restore sets it again
      await psql({ command: `ALTER ROLE "${db}" PASSWORD NULL` });
      const gone = await verify();
      expect(gone.checks.find((c) => c.id === "postgres.database")?.status).toBe("fail");

      const r = await cli(restoreMain, base, env); // no --yes needed: there is no database
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/sha256 [0-9a-f]{16}… and size match its sidecar/);
      expect(r.stdout).toMatch(new RegExp(`${AI_CONTEXT_TABLE}\\s+-\\s+9\\s+9`));
      const pw = await psql({
        command: `SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = '${db}'`,
      });
      expect(pw.stdout).toMatch(/^\s*t\s*$/m);
      sql = connectSpec(ctx);
      expect(await fingerprint(sql)).toEqual(before);
      expectGreen(await verify());
    });

    await t.step("a database with tables is not replaced without --yes", async () => {
      const [{ id }] = await sql!`
        INSERT INTO ${sql!(AI_CONTEXT_TABLE)} (process_instance_id, context_type, content_data)
        VALUES ('written-after-the-backup', 'input', '{}') RETURNING id::text`;
      expect(id).toBeTruthy();
      const refused = await cli(restoreMain, base, env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/database .* is not empty .*pass --yes/);
      expect((await fingerprint(sql!))[AI_CONTEXT_TABLE].count).toBe(10);
      await sql!.end();
      sql = undefined;
      const r = await cli(restoreMain, [...base, "--yes"], env);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`${AI_CONTEXT_TABLE}\\s+10\\s+9\\s+9`));
      sql = connectSpec(ctx);
      expect(await fingerprint(sql)).toEqual(before); // back to the backup's state
    });

    await t.step("a corrupted dump is refused, and the database left alone", async () => {
      const [good] = await listBackups(backupDir, db);
      const dir = await Deno.makeTempDir({ prefix: "procos-corrupt-" });
      try {
        const bad = join(dir, good.name);
        const bytes = await Deno.readFile(good.path);
        bytes[Math.floor(bytes.length / 2)] ^= 0x40;
        await Deno.writeFile(bad, bytes);
        await Deno.copyFile(good.sidecar, sidecarPath(bad));
        const r = await cli(restoreMain, [...base, "--from", bad, "--yes"], env);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/is corrupt: its sha256 is [0-9a-f]{64} .* refusing to use it/);
        // truncated
        await Deno.writeFile(bad, bytes.subarray(0, 100));
        const t2 = await cli(restoreMain, [...base, "--from", bad, "--yes"], env);
        expect(t2.code).toBe(1);
        expect(t2.stderr).toMatch(/is corrupt/);
        // no sidecar at all
        await Deno.remove(sidecarPath(bad));
        const t3 = await cli(restoreMain, [...base, "--from", bad, "--yes"], env);
        expect(t3.code).toBe(1);
        expect(t3.stderr).toMatch(/\.json is missing: the dump cannot be verified/);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
      expect(await fingerprint(sql!)).toEqual(before);
      // no staging database left behind
      const left = await psql({
        command: `SELECT count(*) FROM pg_database WHERE datname LIKE '${db}_restore_%'`,
      });
      expect(left.stdout).toMatch(/^\s*0\s*$/m);
    });
  } finally {
    await sql?.end();
    await dropScratch({ database: db, role: db });
    await spec.remove();
  }
});

Deno.test("the production backup loop writes dumps and sidecars that restore and verify accept", async () => {
  const spec = await makeStackSpec();
  const out = join(spec.dir, "out");
  const env = { ...spec.secretsEnv };
  const db = spec.name;
  try {
    await build(spec.config, { outDir: out, env, profile: "production" });
    const init = await psql({ file: join(out, "sql", "init-db.sql") });
    if (init.code !== 0) throw new Error(`init-db.sql: ${init.stderr}`);
    await psql({
      database: db,
      command: `INSERT INTO ${AI_CONTEXT_TABLE} (process_instance_id, context_type, content_data,
        content_text) VALUES ('pi-loop', 'output', '{"a": 1}', 'hello "quoted" \\ world')`,
    });
    const dir = join(spec.dir, "backups");
    await Deno.mkdir(dir, { recursive: true });
    const old1 = await fakeDump(dir, db, new Date(Date.now() - 40 * DAY));
    const old2 = await fakeDump(dir, db, new Date(Date.now() - 20 * DAY));
    const recent = await fakeDump(dir, db, new Date(Date.now() - 3 * DAY));
    // the script's functions (everything before its main loop), run on this host
    const script = await Deno.readTextFile(join(out, "backup", "backup.sh"));
    const library = script.slice(0, script.indexOf("\n# main\n"));
    const r = await new Deno.Command("sh", {
      args: ["-c", `${library}\nDIR='${dir}'\nbackup && prune`],
      env: { PGHOST: "127.0.0.1", PGPORT: "5432", PGDATABASE: db, PGUSER: db },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
    expect({ code: r.code, said }).toEqual({ code: 0, said: expect.stringContaining("wrote") });
    expect(said).toContain("retention: removed");
    const list = await listBackups(dir, db);
    // 40 and 20 days old: gone (14 days kept); 3 days old and the new one: kept
    expect(list.map((b) => b.path)).toEqual([recent, expect.stringMatching(/\.dump$/)]);
    for (const p of [old1, old2]) await expect(Deno.stat(sidecarPath(p))).rejects.toThrow();
    const side = await readSidecar(list[1].path);
    expect(side).toMatchObject({
      format: SIDECAR_FORMAT,
      file: list[1].name,
      database: db,
      producer: "backup service",
      rowCountsExact: false,
    });
    expect(side.rowCounts[AI_CONTEXT_TABLE]).toBe(1);
    expect(side.rowCounts[AI_MODELS_TABLE]).toBeGreaterThan(0);
    expect(Object.keys(side.rowCounts)).toEqual(AI_TABLES.map((t) => t.name));
    expect(side.pgDumpVersion).toMatch(/^pg_dump \(PostgreSQL\)/);
    expect(Date.parse(side.started)).toBeLessThanOrEqual(Date.parse(side.finished));
    expect(list[1].time.toISOString().replace(".000", "")).toBe(side.started);
    // verify accepts it
    const checks = await backupDomain(spec.config, out, env, new Date());
    expect(checks.map((c) => [c.id, c.result.status])).toEqual([
      ["backup.fresh", "pass"],
      ["backup.sidecar", "pass"],
      ["backup.retention", "pass"],
    ]);
    // and so does restore
    const res = await cli(
      restoreMain,
      ["--config", spec.config, "--out", out, "--profile", "production", "--yes"],
      env,
    );
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(list[1].path);
    const back = await psql({
      database: db,
      command: `SELECT content_text FROM ${AI_CONTEXT_TABLE} WHERE process_instance_id = 'pi-loop'`,
    });
    expect(back.stdout).toContain('hello "quoted" \\ world');
  } finally {
    await dropScratch({ database: db, role: db });
    await spec.remove();
  }
});

Deno.test("the backup loop: a heartbeat its health check reads, a failure flag, dumps mode 0640", async () => {
  const spec = await makeStackSpec();
  const out = join(spec.dir, "out");
  const env = { ...spec.secretsEnv };
  const db = spec.name;
  let child: Deno.ChildProcess | undefined;
  try {
    await build(spec.config, { outDir: out, env, profile: "production" });
    const init = await psql({ file: join(out, "sql", "init-db.sql") });
    if (init.code !== 0) throw new Error(`init-db.sql: ${init.stderr}`);
    const dir = join(spec.dir, "backups");
    const alive = join(spec.dir, "alive");
    const failed = join(spec.dir, "failed");
    // the generated loop, due every minute, with its paths in the test's folder
    const script = (await Deno.readTextFile(join(out, "backup", "backup.sh")))
      .replace(/^SCHEDULE_(MINUTE|HOUR|DAY|MONTH|WEEKDAY)=.*$/gm, "SCHEDULE_$1='*'")
      .replace(/^DIR=.*$/m, `DIR='${dir}'`)
      .replace(/^ALIVE=.*$/m, `ALIVE='${alive}'`)
      .replace(/^FAILED=.*$/m, `FAILED='${failed}'`);
    const compose = parse(await Deno.readTextFile(join(out, COMPOSE_PRODUCTION_FILE))) as {
      services: Record<string, { healthcheck: { test: string[] } }>;
    };
    const [kind, escaped] = compose.services.backup.healthcheck.test;
    const health = escaped.replaceAll("$$", "$"); // as Compose reads it
    expect(kind).toBe("CMD-SHELL");
    const healthy = async () =>
      (await new Deno.Command("sh", {
        args: [
          "-c",
          health.replaceAll("/tmp/procos-backup.alive", alive)
            .replaceAll("/tmp/procos-backup.failed", failed),
        ],
      }).output()).code === 0;
    expect(await healthy()).toBe(false); // no loop yet
    const start = (pgEnv: Record<string, string>) =>
      new Deno.Command("sh", {
        args: ["-c", script],
        env: { PGHOST: "127.0.0.1", PGDATABASE: db, PGUSER: db, ...pgEnv },
        stdout: "null",
        stderr: "null",
      }).spawn();
    const until = async (what: string, fn: () => Promise<boolean>) => {
      for (const end = Date.now() + 30_000; Date.now() < end; await sleep(250)) {
        if (await fn()) return;
      }
      throw new Error(`timed out waiting for ${what}`);
    };
    child = start({ PGPORT: "5432" });
    await until("a dump", async () => (await listBackups(dir, db).catch(() => [])).length > 0);
    const [dump] = await listBackups(dir, db);
    expect((await Deno.stat(dump.path)).mode! & 0o777).toBe(0o640);
    await until("healthy", healthy);
    child.kill("SIGTERM");
    await child.status;
    // a database that cannot be reached: the run fails, the loop lives on, health says so
    child = start({ PGPORT: String(freePort()) });
    await until("the failure flag", () => Deno.stat(failed).then(() => true, () => false));
    expect(await healthy()).toBe(false);
    child.kill("SIGTERM");
    await child.status;
    child = undefined;
  } finally {
    if (child) {
      child.kill("SIGKILL");
      await child.status;
    }
    await dropScratch({ database: db, role: db });
    await spec.remove();
  }
});

// ------------------------------------------------- WAL archiving (point in time)

/** Runs a command as the `postgres` user when this test runs as root (initdb refuses root). */
function asPostgres(cmd: string[]): string[] {
  return Deno.uid() === 0 ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
}

async function run(cmd: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} (exit ${r.code}): ${text}`);
  return text;
}

async function giveToPostgres(path: string): Promise<void> {
  if (Deno.uid() === 0) await run(["chown", "-R", "postgres:postgres", path]);
}

Deno.test("WAL archiving: the generated archive_command and base backups recover to a point in time", async () => {
  const spec = await makeStackSpec({
    edit: (s) => {
      const prod = (s.profiles as Record<string, Record<string, unknown>>).production;
      (prod.backup as Record<string, unknown>).wal_archive = true;
      // Compose starts this PostgreSQL (the spec is only built, never brought up)
      (s.services as Record<string, Record<string, unknown>>).postgres.external = false;
    },
  });
  const out = join(spec.dir, "out");
  const root = await Deno.makeTempDir({ prefix: "procos-pitr-" });
  // runuser does not pass signals on: they go to the postmaster itself (postmaster.pid)
  const procs: Array<{ p: Deno.ChildProcess; data: string }> = [];
  const postmaster = async (data: string) =>
    Number((await Deno.readTextFile(join(data, "postmaster.pid"))).split("\n")[0]);
  try {
    await build(spec.config, { outDir: out, env: spec.secretsEnv, profile: "production" });
    // what Compose gets: archiving on, the archive and the generated files mounted
    const prod = parse(await Deno.readTextFile(join(out, COMPOSE_PRODUCTION_FILE))) as {
      services: Record<string, { command?: string[]; volumes?: string[] }>;
    };
    const pg = prod.services.postgres;
    expect(pg.command?.slice(0, 2)).toEqual(["sh", "-c"]);
    expect(pg.command).toContain("archive_mode=on");
    expect(pg.command).toContain(`archive_command=sh /procos/postgres/archive-wal.sh %p %f`);
    expect(pg.command?.[2]).toContain('exec docker-entrypoint.sh "$$@"'); // $ escaped for Compose
    expect(pg.volumes).toEqual([
      `../backups/wal:${WAL_ARCHIVE_DIR}`,
      "./postgres/pg_hba.conf:/procos/postgres/pg_hba.conf:ro",
      "./postgres/archive-wal.sh:/procos/postgres/archive-wal.sh:ro",
    ]);
    const script = await Deno.readTextFile(join(out, "backup", "backup.sh"));
    expect(script).toMatch(/^WAL_ARCHIVE=1$/m);

    // a private cluster, archiving with the generated script
    const dirs = {
      data: join(root, "data"),
      sock: join(root, "sock"),
      backups: join(root, "backups"),
      wal: join(root, "backups", "wal"),
      restored: join(root, "restored"),
    };
    for (const d of Object.values(dirs)) await Deno.mkdir(d, { recursive: true, mode: 0o700 });
    const archiver = join(root, "archive-wal.sh");
    await Deno.writeTextFile(
      archiver,
      (await Deno.readTextFile(join(out, WAL_ARCHIVE_SCRIPT)))
        .replace(`ARCHIVE=${WAL_ARCHIVE_DIR}`, `ARCHIVE=${dirs.wal}`),
    );
    const hba = join(root, "pg_hba.conf");
    await Deno.copyFile(join(out, PG_HBA_FILE), hba);
    await giveToPostgres(root);
    await run(
      asPostgres(["initdb", "-D", dirs.data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
    );
    const port = freePort();
    const settings = walArchiveCommand().slice(walArchiveCommand().indexOf("postgres") + 1)
      .map((a) =>
        a.replace(`/procos/postgres/archive-wal.sh`, archiver).replace(
          "/procos/postgres/pg_hba.conf",
          hba,
        )
      );
    const start = (data: string, extra: string[] = []) => {
      const p = new Deno.Command(asPostgres(["postgres"])[0], {
        args: [
          ...asPostgres(["postgres"]).slice(1),
          "-D",
          data,
          "-p",
          String(port),
          "-k",
          dirs.sock,
          "-c",
          "listen_addresses=127.0.0.1",
          ...extra,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      procs.push({ p, data });
      return p;
    };
    const pgEnv = {
      PGHOST: "127.0.0.1",
      PGPORT: String(port),
      PGUSER: "postgres",
      PGDATABASE: "postgres",
    };
    const q = (sql: string) => run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql], pgEnv);
    const ready = async () => {
      for (let i = 0; i < 100; i++) {
        const r = await new Deno.Command("pg_isready", {
          env: pgEnv,
          stdout: "null",
          stderr: "null",
        })
          .output();
        if (r.code === 0) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error("the private PostgreSQL did not start");
    };
    const stop = async (p: Deno.ChildProcess) => {
      const i = procs.findIndex((x) => x.p === p);
      Deno.kill(await postmaster(procs[i].data), "SIGINT"); // fast shutdown
      await p.status;
      procs.splice(i, 1);
    };
    const archived = async () =>
      Number((await q("SELECT archived_count FROM pg_stat_archiver")).trim());

    const server = start(dirs.data, settings);
    await ready();
    expect((await q("SHOW archive_mode")).trim()).toBe("on");
    await q("CREATE TABLE t (v text)");
    for (let i = 0; i < 2; i++) {
      await q(`INSERT INTO t VALUES ('early ${i}')`);
      await q("SELECT pg_switch_wal()");
    }
    // the loop's base backup
    const library = script.slice(0, script.indexOf("\n# main\n"));
    const said = await run(["sh", "-c", `${library}\nDIR='${dirs.backups}'\nbasebackup`], pgEnv);
    expect(said).toContain("procos backup: base backup");
    await q("INSERT INTO t VALUES ('before')");
    await q("SELECT pg_switch_wal()");
    await new Promise((r) => setTimeout(r, 1100));
    const target = (await q("SELECT now()")).trim();
    await new Promise((r) => setTimeout(r, 1100));
    await q("INSERT INTO t VALUES ('after'); DELETE FROM t WHERE v LIKE 'early%'");
    const n = await archived();
    await q("SELECT pg_switch_wal()");
    for (let i = 0; i < 100 && (await archived()) <= n; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await q("SELECT failed_count FROM pg_stat_archiver")).trim()).toBe("0");

    // verify: archiving on and healthy, a fresh base backup
    await q(`CREATE ROLE "${spec.name}" LOGIN`);
    await q(`CREATE DATABASE "${spec.name}" OWNER "${spec.name}"`);
    const model = buildModel(
      await loadSpec(spec.config, { profile: "production", env: spec.secretsEnv }),
    );
    const vctx = {
      model,
      targets: { postgres: { host: "127.0.0.1", port } },
      specFile: spec.config,
      specDir: root, // backup.path ./backups is root/backups here
      outDir: out,
      signal: new AbortController().signal,
    } as unknown as RunContext;
    const statuses = async () =>
      Object.fromEntries(
        await Promise.all(
          backupChecksAt(model, () => new Date()).map(async (c) => [c.id, await c.run(vctx)]),
        ),
      ) as Record<string, Result>;
    let v = await statuses();
    expect(v["backup.wal-archive"]).toMatchObject({ status: "pass" });
    expect(v["backup.base"]).toMatchObject({ status: "pass" });
    // the archive stops accepting segments: caught
    await Deno.chmod(dirs.wal, 0o000);
    await q("INSERT INTO t VALUES ('while failing')");
    await q("SELECT pg_switch_wal()");
    for (let i = 0; i < 100; i++) {
      v = await statuses();
      if (v["backup.wal-archive"].status === "fail") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(v["backup.wal-archive"]).toMatchObject({
      status: "fail",
      actual: expect.stringMatching(/^archiving [0-9A-F]{24} failed at/),
    });
    await Deno.chmod(dirs.wal, 0o700);
    const n2 = await archived();
    await q("SELECT pg_switch_wal()");
    for (let i = 0; i < 300 && (await archived()) <= n2; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await statuses())["backup.wal-archive"]).toMatchObject({ status: "pass" });
    await stop(server);

    // archive_command: an identical segment again is fine, a different one refused
    const [segment] = [...Deno.readDirSync(dirs.wal)].map((e) => e.name)
      .filter((x) => /^[0-9A-F]{24}$/.test(x)).sort();
    const same = await new Deno.Command("sh", {
      args: [archiver, join(dirs.wal, segment), segment],
    })
      .output();
    expect(same.code).toBe(0);
    const other = join(root, "other");
    await Deno.writeTextFile(other, "not that segment");
    const differ = await new Deno.Command("sh", {
      args: [archiver, other, segment],
      stderr: "null",
    })
      .output();
    expect(differ.code).not.toBe(0);

    // point-in-time recovery from the base backup and the archive (docs/backup.md)
    const [base] = [...Deno.readDirSync(join(dirs.backups, "base"))].map((e) => e.name);
    expect(base).toMatch(/^\d{8}T\d{6}Z$/);
    const baseDir = join(dirs.backups, "base", base);
    expect(await Deno.readTextFile(join(baseDir, "backup_label"))).toMatch(/^START WAL LOCATION/m);
    await run(["tar", "-xzf", join(baseDir, "base.tar.gz"), "-C", dirs.restored]);
    await run(["tar", "-xzf", join(baseDir, "pg_wal.tar.gz"), "-C", join(dirs.restored, "pg_wal")]);
    await Deno.writeTextFile(
      join(dirs.restored, "postgresql.auto.conf"),
      `restore_command = 'cp ${dirs.wal}/%f %p'\n` +
        `recovery_target_time = '${target}'\nrecovery_target_action = 'promote'\n`,
      { append: true },
    );
    await Deno.writeTextFile(join(dirs.restored, "recovery.signal"), "");
    await giveToPostgres(dirs.restored);
    await Deno.chmod(dirs.restored, 0o700);
    const recovered = start(dirs.restored);
    await ready();
    for (let i = 0; i < 100 && (await q("SELECT pg_is_in_recovery()")).trim() === "t"; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await q("SELECT string_agg(v, ',' ORDER BY v) FROM t")).trim())
      .toBe("before,early 0,early 1");
    await stop(recovered);

    // retention of base backups and of the WAL they need
    const old = join(dirs.backups, "base", "20200101T000000Z");
    await Deno.mkdir(old);
    await Deno.copyFile(join(baseDir, "backup_label"), join(old, "backup_label"));
    const startWal = /\(file ([0-9A-F]{24})\)/.exec(
      await Deno.readTextFile(join(baseDir, "backup_label")),
    )![1];
    const before = [...Deno.readDirSync(dirs.wal)].map((e) => e.name).filter((x) => x < startWal);
    expect(before.length).toBeGreaterThan(0);
    await run(["sh", "-c", `${library}\nDIR='${dirs.backups}'\nprune_base`]);
    expect([...Deno.readDirSync(join(dirs.backups, "base"))].map((e) => e.name)).toEqual([base]);
    const left = [...Deno.readDirSync(dirs.wal)].map((e) => e.name).filter((x) =>
      /^[0-9A-F]{24}$/.test(x)
    );
    expect(left.filter((x) => x < startWal)).toEqual([]);
    expect(left).toContain(startWal);
  } finally {
    for (const { p, data } of procs) {
      try {
        Deno.kill(await postmaster(data), "SIGQUIT"); // immediate shutdown
      } catch {
        try {
          p.kill("SIGKILL");
        } catch { /* gone */ }
      }
      await p.status;
    }
    await Deno.remove(root, { recursive: true }).catch(() => {});
    await spec.remove();
  }
});

/**
 * AI context retention and archive export on the real PostgreSQL, in
 * throwaway databases (`procos_t_<rand>`, dropped even when a test fails)
 * initialised with the generated init SQL of a spec made from
 * procos.config.yaml:
 *
 * - synthetic context of every context type at many ages (both sides of every
 *   boundary, random ones, no created_at): after a run at a fixed instant,
 *   every row is in the phase its age says, per context type (overrides
 *   included); the dry run counted exactly that; a second run changes
 *   nothing;
 * - with export on, nothing un-exported is purged; after the export (valid
 *   gzip JSONL, one conversation per line, messages in order) they are;
 * - with export off, rows past their last phase are purged at once;
 * - a backend killed mid-run (pg_terminate_backend while a large batch runs)
 *   loses no row and leaves none in two tables; two concurrent runs neither;
 * - a failing batch is recorded in procos_retention_runs and loses nothing;
 * - `deno task retention` and `deno task ai:export` end to end, and the
 *   generic worker's `retention` task type (with the export: files written,
 *   rows marked, and purged in the same task).
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
  AI_CONTEXT_TYPES,
  AI_RETENTION_RUNS_TABLE,
} from "../../compiler/ai_schema.ts";
import { retentionPolicy } from "../../compiler/emit/retention.ts";
import type { RetentionPolicy } from "../../compiler/emit/retention.ts";
import { connect, connectSpec, loadOps } from "../../ops/db.ts";
import type { OpsContext } from "../../ops/db.ts";
import { EXPORT_FORMAT, exportArchive, exportDirOf, main as exportMain } from "../../ops/export.ts";
import { main as retentionMain, runRetention } from "../../ops/retention.ts";
import { applyRetention, genericTopicHandler, INPUTS } from "../../workers/generic/handlers.ts";
import type { TaskContext } from "../../workers/lib/runner.ts";
import { TaskFailure } from "../../workers/lib/runner.ts";
import { dropScratch, psql } from "../helpers/pg.ts";
import { makeStackSpec } from "../fixtures/stack/make_spec.ts";
import { runCli as cli } from "../helpers/cli.ts";

/** The fixed instant the policy is applied at. */
const AT = new Date("2025-06-01T00:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

type Phase = "realtime" | "historical" | "archived" | "purged";
const TABLE_PHASE: Record<string, Phase> = {
  [AI_CONTEXT_TABLE]: "realtime",
  [AI_CONTEXT_HISTORY_TABLE]: "historical",
  [AI_CONTEXT_ARCHIVE_TABLE]: "archived",
};

type Obj = Record<string, unknown>;

interface Fixture {
  ctx: OpsContext;
  sql: postgres.Sql;
  config: string;
  out: string;
  dir: string;
  env: Record<string, string>;
  policy: RetentionPolicy;
}

/** A spec made from procos.config.yaml (retention edited), its database initialised. */
async function withFixture(
  editRetention: ((r: Obj) => void) | undefined,
  fn: (f: Fixture) => Promise<void>,
): Promise<void> {
  const spec = await makeStackSpec({
    edit: (s) => editRetention?.((s.ai as Obj).retention as Obj),
  });
  const out = join(spec.dir, "out");
  try {
    await build(spec.config, { outDir: out, env: spec.secretsEnv, profile: "development" });
    const r = await psql({ file: join(out, "sql", "init-db.sql") });
    if (r.code !== 0) throw new Error(`init-db.sql: ${r.stderr}`);
    const ctx = await loadOps({ config: spec.config, out, env: spec.secretsEnv });
    expect(ctx.spec.database).toBe(spec.name);
    const sql = connectSpec(ctx, { max: 4 });
    try {
      await fn({
        ctx,
        sql,
        config: spec.config,
        out,
        dir: spec.dir,
        env: spec.secretsEnv,
        policy: retentionPolicy(ctx.model.ai),
      });
    } finally {
      await sql.end({ timeout: 2 });
    }
  } finally {
    await dropScratch({ database: spec.name, role: spec.name });
    await spec.remove();
  }
}

/** One synthetic row: its id, type, age at {@link AT} (null: no created_at) and conversation. */
interface Seed {
  id: string;
  type: string;
  ageMs: number | null;
  pi: string;
  task: string | null;
  n: number;
}

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Rows of every type at every boundary (-1 s, exactly, +1 s), in between, random, and undated. */
function seeds(policy: RetentionPolicy, randomPerType = 150): Seed[] {
  const rnd = prng(42);
  const out: Seed[] = [];
  let n = 0;
  for (const t of policy.types) {
    const limits = [t.realtime.ms, t.historical.ms, t.archived.ms].filter((x): x is number =>
      x !== null
    );
    const last = Math.max(...limits);
    const ages: (number | null)[] = [0, 1000, null, 2 * last, 10 * last];
    for (const l of limits) ages.push(l - 1000, l, l + 1000, l + 1);
    for (let i = 1; i < limits.length; i++) ages.push((limits[i - 1] + limits[i]) / 2);
    for (let i = 0; i < randomPerType; i++) ages.push(Math.floor(rnd() * 1.5 * last));
    for (const ageMs of ages) {
      n++;
      out.push({
        id: crypto.randomUUID(),
        type: t.contextType,
        ageMs,
        pi: `pi-${n % 23}`,
        task: n % 5 === 0 ? null : `task-${n % 7}`,
        n,
      });
    }
  }
  return out;
}

async function insertSeeds(sql: postgres.Sql, rows: Seed[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 2000) {
    const part = rows.slice(i, i + 2000);
    await sql`
      INSERT INTO ${sql(AI_CONTEXT_TABLE)} (id, process_instance_id, task_id, activity_id,
        context_type, content_data, content_text, ai_provider, model_used, token_usage,
        created_at, updated_at)
      SELECT u.id, u.pi, u.task, 'activity-' || u.n, u.type,
        jsonb_build_object('n', u.n, 'type', u.type, 'nested', jsonb_build_array(1, 'two')),
        'content of row ' || u.n, 'ollama', 'llama3.2:1b',
        CASE WHEN u.type = 'output'
          THEN jsonb_build_object('prompt_tokens', u.n, 'completion_tokens', 2 * u.n) END,
        u.created, u.created
      FROM unnest(${part.map((r) => r.id)}::uuid[], ${part.map((r) => r.pi)}::text[],
                  ${part.map((r) => r.task)}::text[], ${part.map((r) => r.type)}::text[],
                  ${part.map((r) => r.n)}::int[],
                  ${
      part.map((r) => r.ageMs === null ? null : new Date(AT.getTime() - r.ageMs).toISOString())
    }::timestamptz[])
        AS u(id, pi, task, type, n, created)`;
  }
}

/** Where each id is now: phase names (more than one would be a bug). */
async function whereAll(sql: postgres.Sql): Promise<Map<string, Phase[]>> {
  const rows = await sql<{ id: string; t: string }[]>`
    SELECT id::text AS id, ${AI_CONTEXT_TABLE}::text AS t FROM ${sql(AI_CONTEXT_TABLE)}
    UNION ALL SELECT id::text, ${AI_CONTEXT_HISTORY_TABLE}::text FROM ${
    sql(AI_CONTEXT_HISTORY_TABLE)
  }
    UNION ALL SELECT id::text, ${AI_CONTEXT_ARCHIVE_TABLE}::text FROM ${
    sql(AI_CONTEXT_ARCHIVE_TABLE)
  }`;
  const m = new Map<string, Phase[]>();
  for (const r of rows) m.set(r.id, [...(m.get(r.id) ?? []), TABLE_PHASE[r.t]]);
  return m;
}

/** The phase a row's age says (ties stay: a row leaves a phase once OLDER than its limit). */
function expectedPhase(
  s: Seed,
  policy: RetentionPolicy,
  exported: ReadonlySet<string> = new Set(),
): Phase {
  if (s.ageMs === null) return "realtime";
  const t = policy.types.find((x) => x.contextType === s.type)!;
  const past = (ms: number | null) => ms !== null && s.ageMs! > ms;
  if (past(t.archived.ms)) {
    return !policy.exportRequired || exported.has(s.id) ? "purged" : "archived";
  }
  if (past(t.historical.ms)) return "archived";
  if (past(t.realtime.ms)) return "historical";
  return "realtime";
}

/** Asserts every seed is exactly where its age says, and nothing else exists. */
async function expectPhases(
  sql: postgres.Sql,
  rows: Seed[],
  policy: RetentionPolicy,
  exported?: ReadonlySet<string>,
): Promise<void> {
  const where = await whereAll(sql);
  const wrong: string[] = [];
  for (const s of rows) {
    const want = expectedPhase(s, policy, exported);
    const have = where.get(s.id) ?? [];
    const ok = want === "purged" ? have.length === 0 : have.length === 1 && have[0] === want;
    if (!ok) {
      wrong.push(
        `${s.type} aged ${s.ageMs === null ? "(no created_at)" : `${s.ageMs / DAY}d`}: ` +
          `want ${want}, in ${have.join("+") || "none"}`,
      );
    }
    where.delete(s.id);
  }
  expect(wrong).toEqual([]);
  expect([...where.keys()]).toEqual([]); // nothing unknown appeared
}

/** Expected counts of one run from a fresh table (every row passes through each phase it reaches). */
function expectedCounts(rows: Seed[], policy: RetentionPolicy) {
  const zero = () => Object.fromEntries(AI_CONTEXT_TYPES.map((t) => [t, 0]));
  const c = { historical: zero(), archived: zero(), purged: zero(), unexported: zero() };
  for (const s of rows) {
    const p = expectedPhase(s, policy);
    const t = policy.types.find((x) => x.contextType === s.type)!;
    const pastLast = s.ageMs !== null && t.archived.ms !== null && s.ageMs > t.archived.ms;
    if (p === "historical" || p === "archived" || p === "purged") c.historical[s.type]++;
    if (p === "archived" || p === "purged") c.archived[s.type]++;
    if (p === "purged") c.purged[s.type]++;
    if (pastLast && p !== "purged") c.unexported[s.type]++;
  }
  return c;
}

/** A digest of every row's content across the three tables (phase columns left out). */
async function contentDigest(sql: postgres.Sql): Promise<Map<string, string>> {
  const cols = sql`id::text AS id, md5(row(process_instance_id, task_id, activity_id,
    context_type, content_data, content_text, ai_provider, model_used, token_usage, created_at,
    updated_at)::text) AS h`;
  const rows = await sql<{ id: string; h: string }[]>`
    SELECT ${cols} FROM ${sql(AI_CONTEXT_TABLE)}
    UNION ALL SELECT ${cols} FROM ${sql(AI_CONTEXT_HISTORY_TABLE)}
    UNION ALL SELECT ${cols} FROM ${sql(AI_CONTEXT_ARCHIVE_TABLE)}`;
  return new Map(rows.map((r) => [r.id, r.h]));
}

/** Reads a gzip JSONL file into parsed lines. */
async function readJsonlGz(path: string): Promise<Obj[]> {
  const stream = (await Deno.open(path)).readable.pipeThrough(new DecompressionStream("gzip"));
  const text = await new Response(stream).text();
  if (text === "") return [];
  expect(text.endsWith("\n")).toBe(true);
  return text.slice(0, -1).split("\n").map((l) => JSON.parse(l) as Obj);
}

/** Checks exported lines: format, one line per conversation, messages in order, all marked. */
async function checkExport(sql: postgres.Sql, lines: Obj[], rows: Seed[]): Promise<Set<string>> {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const ids = new Set<string>();
  const keys = new Set<string>();
  for (const l of lines) {
    expect(l.format).toBe(EXPORT_FORMAT);
    const key = JSON.stringify([l.process_instance_id, l.task_id]);
    expect(keys.has(key)).toBe(false);
    keys.add(key);
    const msgs = l.messages as Obj[];
    expect(msgs.length).toBeGreaterThan(0);
    expect((l.metadata as Obj).rows).toBe(msgs.length);
    expect(l.model).toBe("llama3.2:1b");
    expect(l.ai_provider).toBe("ollama");
    let prev = -Infinity;
    let tokens = 0;
    for (const m of msgs) {
      const s = byId.get(m.id as string)!;
      expect(s).toBeDefined();
      expect(s.pi).toBe(l.process_instance_id);
      expect(s.task).toBe(l.task_id);
      expect(m.context_type).toBe(s.type);
      expect(m.content_text).toBe(`content of row ${s.n}`);
      expect(m.content_data).toEqual({ n: s.n, type: s.type, nested: [1, "two"] });
      const at = Date.parse(m.created_at as string);
      expect(at).toBe(AT.getTime() - s.ageMs!);
      expect(at).toBeGreaterThanOrEqual(prev);
      prev = at;
      if (s.type === "output") tokens += 3 * s.n;
      ids.add(m.id as string);
    }
    const usage = l.token_usage as Record<string, number> | null;
    const sum = usage ? (usage.prompt_tokens ?? 0) + (usage.completion_tokens ?? 0) : 0;
    expect(sum).toBe(tokens);
  }
  const [marked] = await sql<{ n: number; all: number }[]>`
    SELECT count(*) FILTER (WHERE id::text = ANY(${[
    ...ids,
  ]}) AND exported_at IS NOT NULL)::int AS n,
           count(*) FILTER (WHERE id::text = ANY(${[...ids]}))::int AS all
    FROM ${sql(AI_CONTEXT_ARCHIVE_TABLE)}`;
  expect(marked).toEqual({ n: ids.size, all: ids.size });
  return ids;
}

async function runs(sql: postgres.Sql) {
  return await sql<
    { id: string; finished_at: Date | null; dry_run: boolean; counts: Obj; error: string | null }[]
  >`SELECT id::text, finished_at, dry_run, counts, error FROM ${sql(AI_RETENTION_RUNS_TABLE)}
    ORDER BY id`;
}

// ---------------------------------------------------------------------------

Deno.test("retention: every row ends in the phase its age says; twice changes nothing; purge waits for the export", async () => {
  await withFixture(undefined, async ({ sql, policy, dir }) => {
    expect(policy.exportRequired).toBe(true);
    expect(policy.types.find((t) => t.contextType === "system")!.overridden).toBe(true);
    const rows = seeds(policy);
    await insertSeeds(sql, rows);
    const before = await contentDigest(sql);
    const want = expectedCounts(rows, policy);

    // the dry run counts exactly what the run then does, and moves nothing
    const dry = await applyRetention(sql, { at: AT, dryRun: true });
    expect(dry.dry_run).toBe(true);
    expect(dry.counts).toEqual(want);
    expect((await whereAll(sql)).size).toBe(rows.length);
    expect([...(await whereAll(sql)).values()].every((p) => p[0] === "realtime")).toBe(true);

    // small batches: many short transactions
    const first = await applyRetention(sql, { at: AT, batchSize: 7 });
    expect(first.dry_run).toBe(false);
    expect(new Date(first.at).getTime()).toBe(AT.getTime());
    expect(first.counts).toEqual(want);
    await expectPhases(sql, rows, policy);
    expect(want.unexported.input + want.unexported.system).toBeGreaterThan(0); // kept: not exported
    expect(await contentDigest(sql)).toEqual(before); // moved whole, never altered

    const [stamps] = await sql<{ h: number; a: number }[]>`
      SELECT (SELECT count(*) FROM ${sql(AI_CONTEXT_HISTORY_TABLE)} WHERE moved_at IS NULL)::int h,
             (SELECT count(*) FROM ${sql(AI_CONTEXT_ARCHIVE_TABLE)}
              WHERE archived_at < moved_at OR exported_at IS NOT NULL)::int a`;
    expect(stamps).toEqual({ h: 0, a: 0 });

    // a second run at the same instant changes nothing
    const second = await applyRetention(sql, { at: AT, batchSize: 1000 });
    const none = Object.fromEntries(AI_CONTEXT_TYPES.map((t) => [t, 0]));
    expect(second.counts).toEqual({
      historical: none,
      archived: none,
      purged: none,
      unexported: want.unexported,
    });
    await expectPhases(sql, rows, policy);

    // the purge itself refuses un-exported rows
    for (const t of AI_CONTEXT_TYPES) {
      const [{ n }] = await sql<{ n: string }[]>`
        SELECT procos_retention_batch('purged', ${t}, ${AT}, 100000)::text AS n`;
      expect(n).toBe("0");
    }

    // runs are recorded: the dry run, then two finished runs
    const recorded = await runs(sql);
    expect(recorded.map((r) => [r.dry_run, r.finished_at !== null, r.error])).toEqual([
      [true, true, null],
      [false, true, null],
      [false, true, null],
    ]);
    expect(recorded[1].counts).toEqual(want);

    // export: gzip JSONL, one conversation per line, rows marked in the same transaction
    const exportDir = join(dir, "archive");
    const ex = await exportArchive(sql, { dir: exportDir, conversationsPerFile: 40 });
    const archived = rows.filter((s) => expectedPhase(s, policy) === "archived");
    expect(ex.rows).toBe(archived.length);
    expect(ex.files.length).toBeGreaterThan(1); // 40 conversations per file
    const names = [...Deno.readDirSync(exportDir)].map((e) => e.name).sort();
    expect(names).toEqual(ex.files.map((f) => f.path.split("/").pop()).sort());
    expect(
      names.every((n) => /^procos-ai-archive-\d{8}T\d{6}Z-[0-9a-f]{6}-\d{4}\.jsonl\.gz$/.test(n)),
    )
      .toBe(true);
    const lines: Obj[] = [];
    for (const f of ex.files) {
      const l = await readJsonlGz(f.path);
      expect(l.length).toBe(f.conversations);
      expect(l.reduce((s, x) => s + (x.messages as unknown[]).length, 0)).toBe(f.rows);
      lines.push(...l);
    }
    const exportedIds = await checkExport(sql, lines, rows);
    expect(exportedIds).toEqual(new Set(archived.map((s) => s.id)));
    // nothing left to export
    expect((await exportArchive(sql, { dir: exportDir })).files).toEqual([]);

    // now the rows past their last phase are purged, and nothing else moves
    const third = await applyRetention(sql, { at: AT });
    expect(third.counts.purged).toEqual(want.unexported);
    expect(third.counts.unexported).toEqual(none);
    await expectPhases(sql, rows, policy, exportedIds);
  });
});

Deno.test("retention: export off purges past the last phase at once; overrides per context type", async () => {
  await withFixture((r) => {
    (r.export as Obj).enabled = false;
    r.overrides = {
      input: { realtime: "1h", historical: "2h", archived: "3h" },
      system: { realtime: "30d", historical: "180d", archived: "999999999d" }, // never purged
    };
  }, async ({ sql, policy }) => {
    expect(policy.exportRequired).toBe(false);
    expect(policy.types.map((t) => [t.contextType, t.realtime.interval, t.archived.interval]))
      .toEqual([
        ["input", "1 hours", "3 hours"],
        ["output", "168 hours", "8760 hours"],
        ["system", "720 hours", null],
      ]);
    const rows = seeds(policy);
    await insertSeeds(sql, rows);
    const want = expectedCounts(rows, policy);
    expect(want.purged.input).toBeGreaterThan(0);
    expect(want.purged.system).toBe(0);
    const s = await applyRetention(sql, { at: AT, batchSize: 50 });
    expect(s.counts).toEqual(want);
    await expectPhases(sql, rows, policy);
    const again = await applyRetention(sql, { at: AT, batchSize: 50 });
    expect(Object.values(again.counts).every((c) => Object.values(c).every((n) => n === 0)))
      .toBe(true);
    await expectPhases(sql, rows, policy);
  });
});

Deno.test("retention: a backend killed mid-run loses no row and leaves none in two tables", async () => {
  await withFixture(undefined, async ({ sql, ctx }) => {
    const N = 200_000;
    // every row old enough for the historical phase (10 days), none for the archive
    await sql`
      INSERT INTO ${sql(AI_CONTEXT_TABLE)} (process_instance_id, task_id, context_type,
        content_data, content_text, created_at)
      SELECT 'pi-' || (g % 1000), 'task-' || g, 'input', jsonb_build_object('g', g),
        repeat('x', 200), ${AT}::timestamptz - interval '10 days' - g * interval '1 second'
      FROM generate_series(1, ${N}) AS g`;
    await sql`CREATE TABLE procos_t_ids AS SELECT id FROM ${sql(AI_CONTEXT_TABLE)}`;

    const runner = connect(ctx.spec, { max: 1, applicationName: "procos-t-victim" });
    try {
      const [{ pid }] = await runner<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      const call = applyRetention(runner, { at: AT, batchSize: 20_000 }).then(
        () => "finished",
        (e) => `failed: ${e instanceof Error ? e.message : e}`,
      );
      // wait until a batch has committed, then kill the backend in the middle of the next
      const deadline = Date.now() + 60_000;
      for (;;) {
        const [r] = await sql<{ n: string | null }[]>`
          SELECT max((counts #>> '{historical,input}')::bigint)::text AS n
          FROM ${sql(AI_RETENTION_RUNS_TABLE)} WHERE NOT dry_run`;
        if (Number(r?.n ?? 0) > 0) break;
        if (Date.now() > deadline) throw new Error("no batch committed within 60 s");
        await new Promise((res) => setTimeout(res, 5));
      }
      const [{ killed }] = await sql<{ killed: boolean }[]>`
        SELECT pg_terminate_backend(${pid}) AS killed`;
      expect(killed).toBe(true);
      expect(await call).toMatch(/^failed:/);
    } finally {
      await runner.end({ timeout: 1 }).catch(() => {});
    }

    const check = async () => {
      const [c] = await sql<
        { rt: number; h: number; a: number; distinct_ids: number; lost: number }[]
      >`
        WITH everywhere AS (
          SELECT id FROM ${sql(AI_CONTEXT_TABLE)}
          UNION ALL SELECT id FROM ${sql(AI_CONTEXT_HISTORY_TABLE)}
          UNION ALL SELECT id FROM ${sql(AI_CONTEXT_ARCHIVE_TABLE)})
        SELECT (SELECT count(*) FROM ${sql(AI_CONTEXT_TABLE)})::int AS rt,
               (SELECT count(*) FROM ${sql(AI_CONTEXT_HISTORY_TABLE)})::int AS h,
               (SELECT count(*) FROM ${sql(AI_CONTEXT_ARCHIVE_TABLE)})::int AS a,
               (SELECT count(DISTINCT id) FROM everywhere)::int AS distinct_ids,
               (SELECT count(*) FROM procos_t_ids i
                WHERE NOT EXISTS (SELECT 1 FROM everywhere e WHERE e.id = i.id))::int AS lost`;
      return c;
    };
    const after = await check();
    // killed mid-run: some moved, some not, none lost, none twice
    expect(after.h).toBeGreaterThan(0);
    expect(after.rt).toBeGreaterThan(0);
    expect(after.rt + after.h + after.a).toBe(N);
    expect(after.distinct_ids).toBe(N);
    expect(after.lost).toBe(0);
    // the run shows it died: not finished, counts those of its committed batches
    const [dead] = (await runs(sql)).filter((r) => !r.dry_run);
    expect(dead.finished_at).toBeNull();
    expect(Number((dead.counts.historical as Obj).input)).toBe(after.h);

    // the next run finishes the work
    const s = await applyRetention(sql, { at: AT, batchSize: 50_000 });
    expect((s.counts.historical as Record<string, number>).input).toBe(after.rt);
    expect(await check()).toEqual({ rt: 0, h: N, a: 0, distinct_ids: N, lost: 0 });
  });
});

Deno.test("retention: concurrent runs skip each other's rows; a failing batch is recorded and loses nothing", async () => {
  await withFixture(undefined, async ({ sql, ctx, policy }) => {
    const rows = seeds(policy, 3000);
    await insertSeeds(sql, rows);
    const others = [0, 1, 2].map(() => connect(ctx.spec, { max: 1 }));
    try {
      const results = await Promise.all(
        others.map((c) => applyRetention(c, { at: AT, batchSize: 25 })),
      );
      const sum = (k: string) =>
        results.reduce(
          (s, r) => s + Object.values(r.counts[k]).reduce((a, n) => a + Number(n), 0),
          0,
        );
      const want = expectedCounts(rows, policy);
      const total = (k: "historical" | "archived") =>
        Object.values(want[k]).reduce((a, n) => a + n, 0);
      expect(sum("historical")).toBe(total("historical"));
      expect(sum("archived")).toBe(total("archived"));
      await expectPhases(sql, rows, policy);
    } finally {
      await Promise.all(others.map((c) => c.end({ timeout: 1 })));
    }

    // a row due for the historical phase whose id is already there: the batch fails whole
    const [{ id }] = await sql<{ id: string }[]>`
      INSERT INTO ${sql(AI_CONTEXT_TABLE)} (process_instance_id, context_type, content_data,
        created_at)
      VALUES ('pi-dup', 'output', '{}', ${AT}::timestamptz - interval '8 days')
      RETURNING id::text`;
    await sql`
      INSERT INTO ${sql(AI_CONTEXT_HISTORY_TABLE)} (id, process_instance_id, context_type,
        content_data, created_at)
      VALUES (${id}, 'pi-dup', 'output', '{}', ${AT}::timestamptz - interval '8 days')`;
    const err = await applyRetention(sql, { at: AT }).then(() => undefined, (e) => e as Error);
    expect(err?.message).toMatch(/procos_apply_retention: run \d+ failed: duplicate key/);
    const [last] = (await runs(sql)).slice(-1);
    expect(last.finished_at).not.toBeNull();
    expect(last.error).toMatch(
      /duplicate key value .* \(SQLSTATE 23505\) in phase historical, context_type output/,
    );
    const [{ n }] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM ${sql(AI_CONTEXT_TABLE)} WHERE id = ${id}`;
    expect(n).toBe(1);
    // bad arguments are refused
    await expect(applyRetention(sql, { at: AT, batchSize: 0 })).rejects.toThrow(
      /batch_size must be at least 1/,
    );
  });
});

Deno.test("deno task retention and ai:export: dry run, run with export and purge, JSON, ranges", async () => {
  await withFixture(undefined, async ({ sql, config, out, dir, env, policy, ctx }) => {
    const rows = seeds(policy, 40);
    await insertSeeds(sql, rows);
    const common = ["--config", config, "--out", out];
    const want = expectedCounts(rows, policy);
    const at = AT.toISOString();

    const dry = await cli(retentionMain, [...common, "--at", at, "--dry-run"], env);
    expect(dry.stderr).toBe("");
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("dry run");
    expect(dry.stdout).toContain(
      "system: real-time until 30d, historical until 180d, " +
        "archived until 730d (override)",
    );
    expect(dry.stdout).toMatch(/would move at 2025-06-01T00:00:00\.000Z \(run \d+\):/);
    const line = (k: keyof typeof want) => {
      const v = AI_CONTEXT_TYPES.map((t) => want[k][t]);
      return new RegExp(`^${k}\\s+${v.join("\\s+")}\\s+${v.reduce((a, b) => a + b)}$`, "m");
    };
    for (const k of ["historical", "archived", "purged", "unexported"] as const) {
      expect(dry.stdout).toMatch(line(k));
    }
    expect((await whereAll(sql)).size).toBe(rows.length); // nothing moved

    const bad = await cli(retentionMain, [...common, "--at", "yesterday"], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--at: an ISO 8601 instant");

    // the real run: moves, exports the archive, then purges what it exported
    const exportDir = join(dir, "exports");
    const real = await cli(
      retentionMain,
      [...common, "--at", at, "--export-dir", exportDir, "--json"],
      env,
    );
    expect(real.stderr).toBe("");
    expect(real.code).toBe(0);
    const report = JSON.parse(real.stdout);
    expect(report.runIds).toHaveLength(2);
    expect(report.counts.historical).toEqual(want.historical);
    expect(report.counts.archived).toEqual(want.archived);
    expect(report.counts.purged).toEqual(want.unexported); // exported, then purged
    expect(report.counts.unexported).toEqual({ input: 0, output: 0, system: 0 });
    expect(report.export.dir).toBe(exportDir);
    const lines: Obj[] = [];
    for (const f of report.export.files) lines.push(...await readJsonlGz(f.path));
    const exported = new Set(
      lines.flatMap((l) => (l.messages as Obj[]).map((m) => m.id as string)),
    );
    expect(exported.size).toBe(report.export.rows);
    await expectPhases(sql, rows, policy, exported);

    // ai:export on demand, for a range, into one file
    await sql`UPDATE ${sql(AI_CONTEXT_ARCHIVE_TABLE)} SET exported_at = NULL`;
    const since = new Date(AT.getTime() - 200 * DAY).toISOString();
    const until = new Date(AT.getTime() - 150 * DAY).toISOString();
    const file = join(dir, "range.jsonl.gz");
    const ex = await cli(
      exportMain,
      ["--config", config, "--out-dir", out, "--since", since, "--until", until, "--out", file],
      env,
    );
    expect(ex.stderr).toBe("");
    expect(ex.code).toBe(0);
    expect(ex.stdout).toContain(file);
    const inRange = rows.filter((s) =>
      s.ageMs !== null && s.ageMs > 150 * DAY && s.ageMs <= 200 * DAY &&
      expectedPhase(s, policy, exported) === "archived"
    );
    expect(inRange.length).toBeGreaterThan(0);
    const got = (await readJsonlGz(file)).flatMap((l) =>
      (l.messages as Obj[]).map((m) => m.id as string)
    );
    expect(new Set(got)).toEqual(new Set(inRange.map((s) => s.id)));
    const [{ marked }] = await sql<{ marked: number }[]>`
      SELECT count(*)::int AS marked FROM ${sql(AI_CONTEXT_ARCHIVE_TABLE)}
      WHERE exported_at IS NOT NULL`;
    expect(marked).toBe(inRange.length);
    // an existing file is never overwritten
    const again = await cli(
      exportMain,
      ["--config", config, "--out-dir", out, "--out", file],
      env,
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("exists");

    // without --export-dir: the spec's path when writable, else <out>/runtime/archive
    const r2 = await runRetention(ctx, sql, { at: AT, noExport: true });
    expect(r2.exportSkipped).toBe("--no-export");
  });
});

Deno.test("generic worker: the retention task type calls procos_apply_retention", async () => {
  await withFixture(undefined, async ({ sql, policy }) => {
    const rows = seeds(policy, 10);
    await insertSeeds(sql, rows);
    expect(INPUTS.retention).toEqual(["retentionAt", "retentionBatchSize", "retentionDryRun"]);
    const handler = genericTopicHandler({
      name: "procos-retention",
      type: "retention",
      lockDurationMs: 600_000,
      retries: 3,
      backoff: { initialMs: 1000, factor: 2, maxMs: 1000 },
    }, { sql, eventsExchange: "procos.events" });
    expect(handler.topic.variables).toEqual(INPUTS.retention);
    const ctxOf = (values: Record<string, unknown>) =>
      ({
        task: { id: "t1", processInstanceId: "p1", values },
        signal: new AbortController().signal,
        attempt: 1,
      }) as unknown as TaskContext;
    const r = await handler.handle(ctxOf({ retentionAt: AT.toISOString(), retentionBatchSize: 9 }));
    expect(r.variables?.retentionRunId.type).toBe("Integer");
    const counts = JSON.parse(String(r.variables?.retentionCounts.value));
    expect(counts).toEqual(expectedCounts(rows, policy));
    await expectPhases(sql, rows, policy);

    // without retentionAt: the database's now()
    const now = await handler.handle(ctxOf({ retentionDryRun: true }));
    expect(now.event?.retentionRunId).toBeDefined();
    const [last] = (await runs(sql)).slice(-1);
    expect(last.dry_run).toBe(true);

    const failures = [];
    for (
      const values of [{ retentionBatchSize: 0 }, { retentionAt: 5 }, { retentionAt: "never" }]
    ) {
      const e = await handler.handle(ctxOf(values)).then(() => undefined, (x) => x);
      expect(e).toBeInstanceOf(TaskFailure);
      failures.push([(e as TaskFailure).permanent, (e as Error).message]);
    }
    expect(failures).toEqual([
      [true, "retentionBatchSize must be a positive Integer"],
      [true, "retentionAt must be a String (an ISO 8601 instant)"],
      [true, "retentionAt must be a String (an ISO 8601 instant)"],
    ]);
    // Camunda's Date format is read
    const camundaDate = await handler.handle(
      ctxOf({ retentionAt: "2025-06-01T00:00:00.000+0000" }),
    );
    expect(camundaDate.event?.retentionRunId).toBeDefined();
    const [{ at }] = await sql<{ at: Date }[]>`
      SELECT at FROM ${sql(AI_RETENTION_RUNS_TABLE)} ORDER BY id DESC LIMIT 1`;
    expect(at.getTime()).toBe(AT.getTime());
    const none = genericTopicHandler({
      name: "procos-retention",
      type: "retention",
      lockDurationMs: 1000,
      retries: 0,
      backoff: { initialMs: 1, factor: 1, maxMs: 1 },
    }, { eventsExchange: "x" });
    await expect(none.handle(ctxOf({}))).rejects.toThrow(/no database configured/);
  });
});

Deno.test("generic worker: the retention task with the export exports, marks and purges in one task", async () => {
  await withFixture(undefined, async ({ sql, policy, dir }) => {
    expect(policy.exportRequired).toBe(true);
    const rows = seeds(policy, 20);
    await insertSeeds(sql, rows);
    const archiveDir = join(dir, "worker-archive");
    const handler = genericTopicHandler({
      name: "procos-retention",
      type: "retention",
      lockDurationMs: 600_000,
      retries: 3,
      backoff: { initialMs: 1000, factor: 2, maxMs: 1000 },
    }, { sql, eventsExchange: "procos.events", archiveDir });
    const ctx = {
      task: { id: "t1", processInstanceId: "p1", values: { retentionAt: AT.toISOString() } },
      signal: new AbortController().signal,
      attempt: 1,
    } as unknown as TaskContext;
    const want = expectedCounts(rows, policy);
    const r = await handler.handle(ctx);

    // the export: gzip JSONL files in the export folder, every archived row once
    const files = [...Deno.readDirSync(archiveDir)].map((e) => e.name).sort();
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      expect(f).toMatch(/^procos-ai-archive-\d{8}T\d{6}Z-[0-9a-f]{6}-\d{4}\.jsonl\.gz$/);
    }
    const lines: Obj[] = [];
    for (const f of files) lines.push(...await readJsonlGz(join(archiveDir, f)));
    expect(lines.every((l) => l.format === EXPORT_FORMAT)).toBe(true);
    const exported = lines.flatMap((l) => (l.messages as Obj[]).map((m) => m.id as string));
    const archived = rows.filter((s) => expectedPhase(s, policy) === "archived").map((s) => s.id);
    expect(new Set(exported).size).toBe(exported.length);
    expect(new Set(exported)).toEqual(new Set(archived));
    expect(r.variables?.retentionExportedRows).toEqual({ type: "Integer", value: archived.length });

    // ...then purged in the same task, past their last phase; the rest marked exported
    await expectPhases(sql, rows, policy, new Set(exported));
    const [{ unmarked }] = await sql<{ unmarked: number }[]>`
      SELECT count(*)::int AS unmarked FROM ${sql(AI_CONTEXT_ARCHIVE_TABLE)}
      WHERE exported_at IS NULL`;
    expect(unmarked).toBe(0);
    const counts = JSON.parse(String(r.variables?.retentionCounts.value));
    expect(counts.historical).toEqual(want.historical);
    expect(counts.archived).toEqual(want.archived);
    expect(counts.purged).toEqual(want.unexported); // exported, then purged
    expect(counts.unexported).toEqual({ input: 0, output: 0, system: 0 });
    expect(Object.values(want.unexported).reduce((a, b) => a + b)).toBeGreaterThan(0);

    // two runs at the same instant, the task reports the first
    const recorded = await runs(sql);
    expect(recorded).toHaveLength(2);
    expect(r.variables?.retentionRunId).toEqual({ type: "Integer", value: Number(recorded[0].id) });
    expect(r.event?.retentionRunIds).toEqual(recorded.map((x) => Number(x.id)));
    const ats = await sql<{ at: Date }[]>`
      SELECT at FROM ${sql(AI_RETENTION_RUNS_TABLE)} ORDER BY id`;
    expect(ats.map((x) => x.at.getTime())).toEqual([AT.getTime(), AT.getTime()]);

    // again: nothing left to export, no new file, one run
    const again = await handler.handle(ctx);
    expect(again.variables?.retentionExportedRows).toEqual({ type: "Integer", value: 0 });
    expect([...Deno.readDirSync(archiveDir)].map((e) => e.name).sort()).toEqual(files);
    expect(await runs(sql)).toHaveLength(3);
  });
});

Deno.test("the export folder: the spec's path when writable, else <out>/runtime/archive", async () => {
  const spec = await makeStackSpec();
  try {
    const ctx = await loadOps({ config: spec.config, out: join(spec.dir, "out"), env: {} });
    const model = structuredClone(ctx.model);
    const writable = join(spec.dir, "spec-archive");
    (model.ai.retention.export as { path: string }).path = writable;
    expect(await exportDirOf({ model, outDir: ctx.outDir }))
      .toEqual({ dir: writable, why: "ai.retention.export.path" });
    (model.ai.retention.export as { path: string }).path = "/dev/null/archive";
    const local = await exportDirOf({ model, outDir: ctx.outDir });
    expect(local.dir).toBe(join(ctx.outDir, "runtime", "archive"));
    expect(local.why).toContain("/dev/null/archive is not writable here");
    expect(await exportDirOf({ model, outDir: ctx.outDir }, "x")).toMatchObject({ why: "--dir" });
  } finally {
    await spec.remove();
  }
});

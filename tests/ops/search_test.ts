/**
 * `deno task ai:search` and `deno task ai:usage` on the real PostgreSQL: a
 * throwaway database (`procos_t_<rand>`) initialised with the generated
 * init SQL, filled with AI context and model statistics; results, ranking,
 * filters, a misspelling found by `--fuzzy`, every lifecycle phase, and the
 * plans (EXPLAIN with enable_seqscan off) using the full-text and trigram
 * indexes of `compiler/ai_schema.ts`.
 *
 * @module
 */
import { expect } from "expect";
import { join } from "node:path";
import type postgres from "postgres";
import { build } from "../../compiler/compile.ts";
import {
  AI_CONTEXT_TABLE,
  AI_FTS_MAX_CHARS,
  AI_MODEL_STATS_TABLE,
  AI_MODELS_TABLE,
  AI_TABLES,
  aiTable,
} from "../../compiler/ai_schema.ts";
import { connectSpec, loadOps } from "../../ops/db.ts";
import type { OpsContext } from "../../ops/db.ts";
import {
  buildSearchQuery,
  contextPhases,
  fuzzySnippet,
  hasFtsIndex,
  main as searchMain,
  search,
} from "../../ops/search.ts";
import type { SearchOptions } from "../../ops/search.ts";
import { main as usageMain, usage, usageTable } from "../../ops/usage.ts";
import { dropScratch, psql } from "../helpers/pg.ts";
import { makeStackSpec } from "../fixtures/stack/make_spec.ts";
import { runCli as cli } from "../helpers/cli.ts";

const PI_A = "pi-search-a";
const PI_B = "pi-search-b";
const PI_BIG = "pi-search-big";
const PI_OLD = "pi-search-old";

/** Rows: [process, type, model, text, created_at]. */
const ROWS: Array<[string, string, string | null, string | null, string]> = [
  [
    PI_A,
    "output",
    "llama3.2:1b",
    "PostgreSQL backups: a nightly pg_dump of the postgres database, then a restore drill. " +
    "Backups that were never restored are not backups. Postgres keeps the AI context.",
    "2026-03-02T10:00:00Z",
  ],
  [
    PI_B,
    "input",
    "mistral:7b",
    "Summarise the incident report. The queue consumers stalled for an hour; a backup job " +
    "was running on the same disk at the time. Nothing else of note.",
    "2026-03-03T11:00:00Z",
  ],
  [PI_A, "system", "llama3.2:1b", null, "2026-03-04T12:00:00Z"],
  [
    PI_OLD,
    "system",
    "llama3.2:1b",
    "You are the ProcOS assistant. Answer about the backup schedule and nothing else.",
    "2025-01-15T08:00:00Z",
  ],
];

/** A 1 MB text whose only mention of kubernetes is far beyond the full-text window. */
function bigText(): string {
  const filler = "lorem ipsum dolor sit amet consectetur adipiscing elit ";
  let s = filler.repeat(Math.ceil((AI_FTS_MAX_CHARS + 50_000) / filler.length));
  s += "the cluster runs on kubernetes with three nodes ";
  while (s.length < 1_000_000) s += filler;
  return s.slice(0, 1_000_000);
}

interface Fixture {
  ctx: OpsContext;
  sql: postgres.Sql;
  config: string;
  out: string;
  env: Record<string, string>;
}

async function withFixture(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const spec = await makeStackSpec();
  const out = join(spec.dir, "out");
  try {
    await build(spec.config, { outDir: out, env: spec.secretsEnv, profile: "development" });
    const r = await psql({ file: join(out, "sql", "init-db.sql") });
    if (r.code !== 0) throw new Error(`init-db.sql: ${r.stderr}`);
    const ctx = await loadOps({ config: spec.config, out, env: spec.secretsEnv });
    expect(ctx.spec.database).toBe(spec.name);
    const sql = connectSpec(ctx);
    try {
      await fn({ ctx, sql, config: spec.config, out, env: spec.secretsEnv });
    } finally {
      await sql.end();
    }
  } finally {
    await dropScratch({ database: spec.name, role: spec.name });
    await spec.remove();
  }
}

async function insertContext(
  sql: postgres.Sql,
  table: string,
  [pi, type, model, text, at]: [string, string, string | null, string | null, string],
  usage?: Record<string, number>,
): Promise<string> {
  const row: Record<string, unknown> = {
    id: crypto.randomUUID(),
    process_instance_id: pi,
    task_id: "task-" + pi,
    context_type: type,
    content_data: sql.json({ pi, type, nested: { a: [1, 2] } }),
    content_text: text,
    ai_provider: "ollama",
    model_used: model,
    token_usage: usage ? sql.json(usage) : null,
    created_at: at,
  };
  // a phase table's own required columns (moved_at, ...): now
  for (const c of aiTable(table).columns) {
    if (!(c.name in row) && !c.nullable && c.default === undefined && !c.identity) {
      row[c.name] = new Date();
    }
  }
  const [r] = await sql`INSERT INTO ${sql(table)} ${sql(row)} RETURNING id::text AS id`;
  return r.id;
}

/** The index names a plan (EXPLAIN FORMAT JSON) uses. */
function indexesOf(plan: unknown): string[] {
  const out: string[] = [];
  const walk = (n: unknown) => {
    if (Array.isArray(n)) return n.forEach(walk);
    if (n && typeof n === "object") {
      const o = n as Record<string, unknown>;
      if (typeof o["Index Name"] === "string") out.push(o["Index Name"]);
      Object.values(o).forEach(walk);
    }
  };
  walk(plan);
  return out;
}

async function explain(sql: postgres.Sql, o: SearchOptions): Promise<string[]> {
  const q = buildSearchQuery(o);
  return await sql.begin(async (tx) => {
    await tx`SET LOCAL enable_seqscan = off`;
    const rows = await tx.unsafe(`EXPLAIN (FORMAT JSON) ${q.text}`, q.params as never[]);
    return indexesOf(rows[0]["QUERY PLAN"]);
  });
}

Deno.test("fuzzySnippet marks the stretch of words most like the query", () => {
  const s = fuzzySnippet("alpha beta gamma delta kubernetes epsilon zeta", "kubernetis", 1);
  expect(s).toBe("… delta «kubernetes» epsilon …");
  expect(fuzzySnippet("", "x")).toBe("");
  expect(fuzzySnippet("one two", "one two", 3)).toBe("«one two»");
});

Deno.test("buildSearchQuery uses the indexed document expression and parameters only", () => {
  const q = buildSearchQuery({
    query: "'; DROP TABLE x; --",
    processInstanceId: "p'1",
    model: "m",
    since: new Date("2026-01-01T00:00:00Z"),
    limit: 5,
  });
  const fts = aiTable(AI_CONTEXT_TABLE).indexes.find((i) => i.method === "gin-fts")!;
  expect(q.text).toContain(`${fts.keys[0].expression} @@ websearch_to_tsquery('english', $1)`);
  expect(q.text).not.toContain("DROP TABLE");
  expect(q.text).not.toContain("p'1");
  expect(q.params).toEqual([
    "'; DROP TABLE x; --",
    "p'1",
    "m",
    new Date("2026-01-01T00:00:00Z"),
    5,
  ]);
  expect(hasFtsIndex(aiTable(AI_CONTEXT_TABLE))).toBe(true);
  // every phase table of ai_schema.ts is searched
  for (const p of contextPhases()) {
    expect(AI_TABLES.some((t) => t.name === p.table)).toBe(true);
    expect(buildSearchQuery({ query: "x" }).text).toContain(`"${p.table}"`);
  }
});

Deno.test("ai:search and ai:usage on the real PostgreSQL", async (t) => {
  await withFixture(async ({ sql, config, out, env }) => {
    const ids: string[] = [];
    for (const r of ROWS) ids.push(await insertContext(sql, AI_CONTEXT_TABLE, r));
    const [idA, idB, , idOld] = ids;
    const idBig = await insertContext(sql, AI_CONTEXT_TABLE, [
      PI_BIG,
      "output",
      "llama3.2:1b",
      bigText(),
      "2026-03-05T09:00:00Z",
    ]);
    await sql`ANALYZE ${sql(AI_CONTEXT_TABLE)}`;

    await t.step("full-text: results ranked, with snippets", async () => {
      const hits = await search(sql, { query: "postgres backup" });
      // A mentions both words several times; B has "backup" only (no match for an AND query)
      expect(hits.map((h) => h.id)).toEqual([idA]);
      const either = await search(sql, { query: "postgres or backup" });
      expect(new Set(either.map((h) => h.id))).toEqual(new Set([idA, idB, idOld]));
      expect(either[0].id).toBe(idA); // the most matches ranks first
      for (let i = 1; i < either.length; i++) {
        expect(either[i - 1].score).toBeGreaterThanOrEqual(either[i].score);
      }
      expect(either[0].phase).toBe("realtime");
      expect(either[0].snippet).toMatch(/«(PostgreSQL|postgres|Postgres)»/);
      expect(either[0].snippet).toMatch(/«[Bb]ackups?»/);
      expect(either[0].processInstanceId).toBe(PI_A);
      expect(either[0].model).toBe("llama3.2:1b");
      // stemming: "restored" matches "restore"
      expect((await search(sql, { query: "restored" })).map((h) => h.id)).toEqual([idA]);
      // a phrase, and exclusion
      expect((await search(sql, { query: '"restore drill"' })).map((h) => h.id)).toEqual([idA]);
      expect((await search(sql, { query: "backup -postgres" })).map((h) => h.id).sort())
        .toEqual([idB, idOld].sort());
    });

    await t.step("filters: process, model, type, time, limit", async () => {
      const q = "postgres or backup";
      expect((await search(sql, { query: q, processInstanceId: PI_B })).map((h) => h.id))
        .toEqual([idB]);
      expect((await search(sql, { query: q, model: "mistral:7b" })).map((h) => h.id))
        .toEqual([idB]);
      expect((await search(sql, { query: q, contextType: "system" })).map((h) => h.id))
        .toEqual([idOld]);
      expect(
        (await search(sql, { query: q, since: new Date("2026-01-01T00:00:00Z") })).map((h) => h.id)
          .sort(),
      ).toEqual([idA, idB].sort());
      expect(
        (await search(sql, { query: q, until: new Date("2026-01-01T00:00:00Z") })).map((h) => h.id),
      ).toEqual([idOld]);
      expect(
        (await search(sql, {
          query: q,
          since: new Date("2026-03-03T00:00:00Z"),
          until: new Date("2026-03-04T00:00:00Z"),
        })).map((h) => h.id),
      ).toEqual([idB]);
      expect(await search(sql, { query: q, limit: 1 })).toHaveLength(1);
      expect(await search(sql, { query: "zebra" })).toEqual([]);
    });

    await t.step("fuzzy: a misspelling is found, over the whole 1 MB text", async () => {
      // full-text covers the first AI_FTS_MAX_CHARS characters only, and no misspelling
      expect(await search(sql, { query: "kubernetes" })).toEqual([]);
      expect(await search(sql, { query: "kubernetis" })).toEqual([]);
      const big = await search(sql, { query: "kubernetis", fuzzy: true });
      expect(big.map((h) => h.id)).toEqual([idBig]);
      expect(big[0].snippet).toContain("«kubernetes»");
      expect(big[0].chars).toBe(1_000_000);
      expect(big[0].score).toBeGreaterThan(0.5);
      const pg = await search(sql, { query: "postgress", fuzzy: true });
      expect(pg.map((h) => h.id)).toContain(idA);
      expect(pg[0].id).toBe(idA);
      expect(pg[0].snippet).toMatch(/«(PostgreSQL|[Pp]ostgres)»/);
      // the threshold is applied
      expect(await search(sql, { query: "postgress", fuzzy: true, threshold: 1 })).toEqual([]);
      expect(
        await search(sql, { query: "postgress", fuzzy: true, processInstanceId: PI_B }),
      ).toEqual([]);
    });

    await t.step("the plans use the full-text and trigram indexes", async () => {
      const fts = aiTable(AI_CONTEXT_TABLE).indexes.find((i) => i.method === "gin-fts")!.name;
      const trgm = aiTable(AI_CONTEXT_TABLE).indexes.find((i) => i.method === "gin-trgm")!.name;
      expect(await explain(sql, { query: "postgres backup", phases: contextPhases() }))
        .toContain(fts);
      expect(await explain(sql, { query: "kubernetis", fuzzy: true })).toContain(trgm);
      // Every phase has its own full-text index, so a search over history and
      // the archive is no sequential scan either.
      const used = await explain(sql, { query: "postgres backup", phases: contextPhases() });
      for (const ph of contextPhases()) {
        const idx = aiTable(ph.table).indexes.find((i) => i.method === "gin-fts");
        expect(idx).toBeDefined();
        expect(used).toContain(idx!.name);
      }
    });

    await t.step("every lifecycle phase is searched, and the phase shown", async () => {
      const phases = contextPhases();
      for (const ph of phases.slice(1)) {
        const id = await insertContext(sql, ph.table, [
          `pi-phase-${ph.phase}`,
          "output",
          "llama3.2:1b",
          `An answer about postgres kept in the ${ph.phase} phase.`,
          "2025-06-01T00:00:00Z",
        ]);
        const hits = await search(sql, {
          query: "postgres",
          processInstanceId: `pi-phase-${ph.phase}`,
        });
        expect(hits.map((h) => [h.phase, h.id])).toEqual([[ph.phase, id]]);
      }
    });

    await t.step("deno task ai:search: text and JSON output, usage errors", async () => {
      const base = ["--config", config, "--out", out];
      const j = await cli(searchMain, [...base, "postgres", "backup", "--json"], env);
      expect(j.stderr).toBe("");
      expect(j.code).toBe(0);
      const doc = JSON.parse(j.stdout);
      expect(doc.mode).toBe("full-text");
      expect(doc.results.map((r: { id: string }) => r.id)).toEqual([idA]);
      const txt = await cli(searchMain, [...base, "kubernetis", "--fuzzy", "--limit", "3"], env);
      expect(txt.code).toBe(0);
      expect(txt.stdout).toContain("1 result(s)");
      expect(txt.stdout).toContain("«kubernetes»");
      expect(txt.stdout).toContain(`process ${PI_BIG}`);
      expect((await cli(searchMain, [...base], env)).code).toBe(2);
      expect((await cli(searchMain, [...base, "x", "--since", "yesterday"], env)).code).toBe(2);
      expect((await cli(searchMain, [...base, "x", "--limit", "0"], env)).code).toBe(2);
      expect((await cli(searchMain, [...base, "x", "--type", "bogus"], env)).code).toBe(2);
      expect((await cli(searchMain, [...base, "x", "--threshold", "0.5"], env)).code).toBe(2);
    });

    await t.step(
      "ai:usage falls back to the context's token_usage without statistics",
      async () => {
        await insertContext(sql, AI_CONTEXT_TABLE, [
          PI_A,
          "output",
          "llama3.2:1b",
          "x",
          "2026-03-02T13:00:00Z",
        ], { prompt_eval_count: 10, eval_count: 20, total_duration: 1_500_000_000 });
        await insertContext(sql, AI_CONTEXT_TABLE, [
          PI_A,
          "output",
          "llama3.2:1b",
          "y",
          "2026-03-02T14:00:00Z",
        ], { prompt_tokens: 5, completion_tokens: 7, latency_ms: 500 });
        const r = await usage(sql, {});
        expect(r.source).toContain(AI_CONTEXT_TABLE);
        expect(r.rows).toEqual([{
          day: "2026-03-02",
          provider: "ollama",
          model: "llama3.2:1b",
          requests: 2,
          failures: 0,
          truncated: 0,
          promptTokens: 15,
          completionTokens: 27,
          totalLatencyMs: 2000,
          avgLatencyMs: 1000,
        }]);
        expect((await usage(sql, { since: new Date("2026-03-03T00:00:00Z") })).rows).toEqual([]);
      },
    );

    await t.step("ai:usage: tokens and latency per model per day from the statistics", async () => {
      const [m] = await sql`SELECT id FROM ${sql(AI_MODELS_TABLE)} WHERE name = 'llama3.2:1b'`;
      const [m2] = await sql`
        INSERT INTO ${sql(AI_MODELS_TABLE)} (provider, name, context_window, rate_limit_per_minute)
        VALUES ('ollama', 'mistral:7b', 4096, 10) RETURNING id`;
      const stat = (model: number, at: string, n: number, p: number, c: number, ms: number) =>
        sql`INSERT INTO ${sql(AI_MODEL_STATS_TABLE)} (model_id, bucket_start, bucket_width,
              request_count, failure_count, prompt_tokens, completion_tokens, total_latency_ms)
            VALUES (${model}, ${at}, ${"1 hour"}, ${n}, ${1}, ${p}, ${c}, ${ms})`;
      await stat(m.id, "2026-03-01T00:00:00Z", 2, 100, 200, 1000);
      await stat(m.id, "2026-03-01T05:00:00Z", 3, 10, 20, 500);
      await stat(m.id, "2026-03-02T23:00:00Z", 1, 1, 2, 300);
      await stat(m2.id, "2026-03-01T10:00:00Z", 4, 40, 80, 4000);
      const r = await usage(sql, {});
      expect(r.source).toBe(AI_MODEL_STATS_TABLE);
      expect(r.rows.map((x) => [x.day, x.model, x.requests, x.promptTokens, x.avgLatencyMs]))
        .toEqual([
          ["2026-03-01", "llama3.2:1b", 5, 110, 300],
          ["2026-03-01", "mistral:7b", 4, 40, 1000],
          ["2026-03-02", "llama3.2:1b", 1, 1, 300],
        ]);
      expect(r.rows[0].failures).toBe(2);
      expect(r.rows[0].completionTokens).toBe(220);
      const ranged = await usage(sql, {
        since: new Date("2026-03-02T00:00:00Z"),
        until: new Date("2026-03-03T00:00:00Z"),
      });
      expect(ranged.rows.map((x) => x.day)).toEqual(["2026-03-02"]);
      const table = usageTable(r.rows);
      expect(table[0]).toMatch(/^day\s+provider\s+model\s+requests/);
      expect(table.some((l) => /^total\s+ollama\s+llama3\.2:1b\s+6\b/.test(l))).toBe(true);
      const base = ["--config", config, "--out", out];
      const j = await cli(usageMain, [...base, "--json", "--since", "2026-03-02"], env);
      expect(j.code).toBe(0);
      expect(JSON.parse(j.stdout).rows).toHaveLength(1);
      const txt = await cli(usageMain, base, env);
      expect(txt.code).toBe(0);
      expect(txt.stdout).toContain(`from ${AI_MODEL_STATS_TABLE}`);
      expect(
        (await cli(usageMain, [...base, "--since", "2026-03-02", "--until", "2026-03-01"], env))
          .code,
      )
        .toBe(2);
    });
  });
});

/**
 * Benchmark of the AI data lifecycle at scale, on a scratch database
 * (`procos_t_<rand>`, initialised with the generated `init-db.sql`, dropped in
 * `finally`) on this machine's PostgreSQL:
 *
 * 1. **Load.** N context rows (default 1,000,000) of ~2 KB of text each,
 *    generated from a Zipf-distributed vocabulary with a seeded PRNG (so
 *    every run writes the same rows), with `content_data` JSONB, `token_usage`
 *    on output rows, mixed context types (input, output, and system rows for
 *    some tasks) and `created_at` spread over 760 days, are `COPY`ed into
 *    `procos_ai_context` with only its primary key; then each secondary index
 *    of the spec is built, timed one by one.
 * 2. **Insert.** On that full table, a sample of the same kind of rows
 *    (default 20,000) is written through the AI worker's own insert path
 *    (`saveAiExchange` of `workers/lib/store.ts`: one task's input and output
 *    rows and the model statistics per transaction; it takes no more), one
 *    task at a time and two at a time (the reference AI worker's
 *    concurrency), and then the same rows by `COPY` (the floor), each after
 *    deleting the previous variant's rows.
 * 3. **Search.** The query `deno task ai:search` runs (`buildSearchQuery` of
 *    `ops/search.ts`), limited to the real-time table, full-text (`ts_rank`
 *    over `AI_CONTEXT_FTS_DOCUMENT`) and fuzzy (trigram word similarity,
 *    `<%`, a misspelt word), warm; plus plain trigram `%`, and a few
 *    full-text queries on a common word.
 * 4. **Retention.** ONE `CALL procos_apply_retention(now(), batch, false,
 *    NULL)` over the N rows, with the counts it moved per phase and context
 *    type, and each phase's time (polled from its committed counts).
 * 5. After it, the default `ai:search` query over every phase (a few samples).
 *
 * The policy is the reference spec's (`ai.retention`: 7d/90d/365d, system
 * 30d/180d/730d) with `export.enabled` turned off, so that the purge has work
 * (with export required, un-exported rows are never purged).
 *
 *     deno run --allow-all bench/lifecycle_bench.ts [--rows 1000000] [--sample 20000]
 *                                                   [--queries 100] [--batch-size 1000]
 *
 * @module
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { AI_CONTEXT_FTS_DOCUMENT, AI_CONTEXT_TABLE, AI_FTS_CONFIG } from "../compiler/ai_schema.ts";
import { buildSearchQuery, contextPhases } from "../ops/search.ts";
import type { ContextPhase, SearchOptions } from "../ops/search.ts";
import { connect, dropScratch } from "../tests/helpers/pg.ts";
import { createDatabase, newScratch, referenceModel } from "../tests/workers/helpers.ts";
import type { TestDatabase } from "../tests/workers/helpers.ts";
import { connectDatabase, contextRowId, saveAiExchange } from "../workers/lib/store.ts";
import type { AiExchange } from "../workers/lib/store.ts";

/** Options of {@link benchLifecycle}. */
export interface LifecycleBenchOptions {
  /** Context rows loaded (default 1,000,000). */
  rows?: number;
  /** Rows of the insert comparison (default 20,000: 10,000 tasks). */
  sample?: number;
  /** Timed queries of each search kind (default 100). */
  queries?: number;
  /** Retention batch size (default 1000). */
  batchSize?: number;
  /** PRNG seed (default 20261128). */
  seed?: number;
  /** Progress lines (default: to stderr, so stdout stays the tables). */
  log?: (line: string) => void;
}

/** A timed thing with a row count: rows per second. */
export interface RateRow {
  name: string;
  command: string;
  rows: number;
  ms: number;
}

/** Latencies of one kind of query. */
export interface QueryRow {
  name: string;
  command: string;
  /** Distinct query words. */
  words: number;
  /** Latencies, ms, in run order. */
  samples: number[];
  /** Median number of rows each query matched (full-text) or returned. */
  matches: number;
  /** Why fewer samples than asked, if so. */
  note?: string;
}

/** One phase of the retention run. */
export interface PhaseRow {
  phase: string;
  /** Rows per context type. */
  counts: Record<string, number>;
  /** Time of the phase (from the polled counts), ms. */
  ms: number;
}

/** A table's size on disk. */
export interface SizeRow {
  table: string;
  rows: number;
  /** pg_total_relation_size. */
  total: number;
  /** Heap (main fork). */
  heap: number;
  /** TOAST, with its index. */
  toast: number;
  /** All indexes. */
  indexes: number;
}

/** Everything measured. */
export interface LifecycleResult {
  rows: number;
  sample: number;
  batchSize: number;
  machine: string;
  postgres: string;
  /** Load averages (1 min) at the start of each section. */
  load: Record<string, number>;
  /** Average length of content_text, characters (and bytes: it is ASCII). */
  avgChars: number;
  /** Rows per context type loaded. */
  types: Record<string, number>;
  /** The generation alone (no database), ms. */
  generateMs: number;
  copyAll: RateRow;
  indexBuilds: { name: string; method: string; ms: number; bytes: number }[];
  insert: RateRow[];
  search: QueryRow[];
  searchAfter: QueryRow[];
  retention: { ms: number; phases: PhaseRow[]; unexported: number; runId: number };
  sizesBefore: SizeRow[];
  sizesAfter: SizeRow[];
  settings: string;
}

// ------------------------------------------------------------------ the data

/** mulberry32: a small, fast, seeded PRNG returning uint32. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** The most frequent words (English; many are stop words the full-text index drops). */
const COMMON =
  ("the of and to a in is that for it as with was on be by this are or from at an not have " +
    "which you has but all can will if one more their they we there been also would its when " +
    "what than other into only some could these them may then so about after should each such " +
    "customer order invoice payment process task request account status amount date service " +
    "contract approval review report data model answer question summary risk policy total " +
    "number address product delivery supplier claim case document value error result")
    .split(" ");

const ONSETS = [
  "b",
  "c",
  "d",
  "f",
  "g",
  "h",
  "j",
  "k",
  "l",
  "m",
  "n",
  "p",
  "r",
  "s",
  "t",
  "v",
  "w",
  "z",
  "br",
  "cl",
  "dr",
  "fl",
  "gr",
  "pl",
  "pr",
  "sh",
  "st",
  "th",
  "tr",
  "ch",
];
const VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "y"];
const CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "rt", "st", "ck", "ng", "x"];

/** A vocabulary: {@link COMMON} first, then pseudo-words of 2–4 syllables, in rank order. */
export function vocabulary(size: number, seed: number): string[] {
  const rnd = prng(seed);
  const pick = <T>(a: readonly T[]) => a[rnd() % a.length];
  const words = new Set(COMMON);
  while (words.size < size) {
    const n = 2 + (rnd() % 3);
    let w = "";
    for (let i = 0; i < n; i++) w += pick(ONSETS) + pick(VOWELS) + (i === n - 1 ? pick(CODAS) : "");
    words.add(w);
  }
  return [...words];
}

/** A lookup table of word ranks drawn with Zipf's law (s = 1): index it with a random number. */
function zipfTable(size: number, bits: number): Uint32Array {
  const n = 1 << bits;
  let h = 0;
  for (let r = 1; r <= size; r++) h += 1 / r;
  const table = new Uint32Array(n);
  let at = 0;
  let cum = 0;
  for (let r = 0; r < size; r++) {
    cum += 1 / ((r + 1) * h);
    const end = r === size - 1 ? n : Math.max(at + 1, Math.round(cum * n));
    table.fill(r, at, Math.min(end, n));
    at = Math.min(end, n);
  }
  return table;
}

/** Vocabulary size: a long tail, so rare words match a few hundred rows in a million. */
const VOCABULARY = 100_000;
/** Spread of created_at: a little over two years, so every phase (system's 730 days too) has work. */
const SPREAD_DAYS = 760;
const DAY_MS = 86_400_000;

/** One generated context row. */
export interface GenRow {
  id: string;
  processInstanceId: string;
  taskId: string;
  activityId: string;
  type: "input" | "output" | "system";
  data: Record<string, unknown>;
  text: string;
  provider: string;
  model: string;
  tokenUsage: Record<string, number> | null;
  createdAt: Date;
}

/** Generates rows task by task: each task an input and an output row, one in 9 a system row too. */
export class RowGenerator {
  readonly words: string[];
  private readonly table: Uint32Array;
  private readonly rnd: () => number;
  private task = 0;
  private instance = "";
  private instanceLeft = 0;
  private readonly now: number;

  constructor(seed: number, now: number, private readonly prefix = "bench") {
    this.words = vocabulary(VOCABULARY, seed);
    this.table = zipfTable(VOCABULARY, 22);
    this.rnd = prng(seed ^ 0x5bd1e995);
    this.now = now;
  }

  /** ~`chars` characters of text: sentences of 6–20 words, paragraphs of 3–6 sentences. */
  text(chars: number): string {
    const r = this.rnd;
    const parts: string[] = [];
    let len = 0;
    while (len < chars) {
      const sentences = 3 + (r() % 4);
      const para: string[] = [];
      for (let s = 0; s < sentences && len < chars; s++) {
        const n = 6 + (r() % 15);
        const ws: string[] = new Array(n);
        for (let i = 0; i < n; i++) ws[i] = this.words[this.table[r() >>> 10]];
        ws[0] = ws[0][0].toUpperCase() + ws[0].slice(1);
        const sentence = ws.join(" ") + (r() % 8 === 0 ? "?" : ".");
        para.push(sentence);
        len += sentence.length + 1;
      }
      parts.push(para.join(" "));
      len += 1;
    }
    return parts.join("\n\n");
  }

  /** The rows of the next task (2 or 3). */
  nextTask(): GenRow[] {
    const r = this.rnd;
    if (this.instanceLeft-- <= 0) {
      this.instance = uuidFrom(r);
      this.instanceLeft = r() % 4;
    }
    const taskId = `${this.prefix}-${(this.task++).toString(36)}-${(r() % 1e6).toString(36)}`;
    const created = this.now - (r() / 2 ** 32) * SPREAD_DAYS * DAY_MS;
    const activityId = `Activity_ai_${r() % 12}`;
    const model = r() % 4 === 0 ? "llama3.1:8b" : "llama3.2:1b";
    const base = {
      processInstanceId: this.instance,
      taskId,
      activityId,
      provider: "ollama",
      model,
    };
    const promptTokens = 300 + (r() % 900);
    const evalCount = 100 + (r() % 700);
    const rows: GenRow[] = [];
    if (r() % 9 === 0) {
      rows.push({
        ...base,
        id: contextRowId(taskId, "system"),
        type: "system",
        data: { topic: `ai-${activityId}`, instructions: "system", version: 1 + (r() % 5) },
        text: this.text(1800 + (r() % 400)),
        tokenUsage: null,
        createdAt: new Date(created - 1000),
      });
    }
    const prompt = this.text(1800 + (r() % 400));
    rows.push({
      ...base,
      id: contextRowId(taskId, "input"),
      type: "input",
      data: {
        topic: `ai-${activityId}`,
        template: `prompts/${activityId}.hbs`,
        model,
        options: { num_ctx: 8192 },
        processDefinitionKey: `procos-flow-${r() % 20}`,
        businessKey: `BK-${r() % 100000}`,
        externalTaskId: taskId,
        chars: prompt.length,
      },
      text: prompt,
      tokenUsage: null,
      createdAt: new Date(created),
    });
    const answer = this.text(1800 + (r() % 400));
    const wallMs = 200 + (r() % 5000);
    rows.push({
      ...base,
      id: contextRowId(taskId, "output"),
      type: "output",
      data: {
        topic: `ai-${activityId}`,
        doneReason: r() % 20 === 0 ? "length" : "stop",
        truncated: false,
        cached: false,
        chars: answer.length,
        externalTaskId: taskId,
        inputContextId: contextRowId(taskId, "input"),
        wallMs,
        attempt: 1,
      },
      text: answer,
      tokenUsage: {
        prompt_eval_count: promptTokens,
        eval_count: evalCount,
        total_duration: wallMs * 1e6,
        load_duration: 1e6 * (r() % 50),
        prompt_eval_duration: promptTokens * 2e5,
        eval_duration: evalCount * 1e7,
      },
      createdAt: new Date(created + wallMs),
    });
    return rows;
  }
}

function uuidFrom(r: () => number): string {
  const h = [r(), r(), r(), r()].map((x) => x.toString(16).padStart(8, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${
    h.slice(20, 32)
  }`;
}

/** The columns COPY writes. */
const COPY_COLUMNS = [
  "id",
  "process_instance_id",
  "task_id",
  "activity_id",
  "context_type",
  "content_data",
  "content_text",
  "ai_provider",
  "model_used",
  "token_usage",
  "created_at",
  "updated_at",
];

/** COPY text format: backslash, tab, newline and carriage return escaped. */
function esc(s: string): string {
  return /[\\\t\n\r]/.test(s)
    ? s.replace(
      /[\\\t\n\r]/g,
      (c) => c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r",
    )
    : s;
}

/** One row as a COPY text line; `createdAt` null leaves both timestamps to... now (as the store). */
function copyLine(g: GenRow, stamp: string | null): string {
  const at = stamp ?? g.createdAt.toISOString();
  return [
    g.id,
    g.processInstanceId,
    g.taskId,
    g.activityId,
    g.type,
    esc(JSON.stringify(g.data)),
    esc(g.text),
    g.provider,
    g.model,
    g.tokenUsage === null ? "\\N" : esc(JSON.stringify(g.tokenUsage)),
    at,
    at,
  ].join("\t") + "\n";
}

/** COPYs lines produced by `next` (null: done) into the context table; resolves when committed. */
async function copyRows(sql: postgres.Sql, next: () => string | null): Promise<void> {
  const stream = await sql.unsafe(
    `COPY ${AI_CONTEXT_TABLE} (${COPY_COLUMNS.join(", ")}) FROM STDIN`,
  ).writable();
  const done = new Promise<void>((resolve, reject) => {
    stream.on("finish", () => resolve());
    stream.on("error", reject);
  });
  for (let chunk = next(); chunk !== null; chunk = next()) {
    if (!stream.write(chunk)) {
      await Promise.race([new Promise((resolve) => stream.once("drain", resolve)), done]);
    }
  }
  stream.end();
  await done;
}

// ---------------------------------------------------------------- measuring

function quantile(samples: readonly number[], q: number): number {
  const s = [...samples].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return lo === hi || s[lo] === s[hi] ? s[lo] : s[lo] + (s[hi] - s[lo]) * (i - lo);
}

function median(samples: readonly number[]): number {
  return quantile(samples, 0.5);
}

const load1 = () => Deno.loadavg()[0];

async function sizes(sql: postgres.Sql, tables: readonly string[]): Promise<SizeRow[]> {
  const out: SizeRow[] = [];
  for (const t of tables) {
    const [r] = await sql.unsafe<
      { rows: string; total: string; heap: string; toast: string; indexes: string }[]
    >(
      `SELECT (SELECT count(*) FROM ${t}) AS rows, pg_total_relation_size($1::regclass) AS total,
        pg_relation_size($1::regclass) AS heap,
        coalesce(pg_total_relation_size(c.reltoastrelid), 0) AS toast,
        pg_indexes_size($1::regclass) AS indexes
       FROM pg_class c WHERE c.oid = $1::regclass`,
      [t],
    );
    out.push({
      table: t,
      rows: Number(r.rows),
      total: Number(r.total),
      heap: Number(r.heap),
      toast: Number(r.toast),
      indexes: Number(r.indexes),
    });
  }
  return out;
}

/** The per-query limit of the search section (`SET statement_timeout`, this session only). */
const QUERY_TIMEOUT_MS = 60_000;

/** Runs one query; a query cancelled by `statement_timeout` gives `undefined`. */
async function runQuery(
  sql: postgres.Sql,
  q: { text: string; params: unknown[] },
): Promise<number | undefined> {
  try {
    return (await sql.unsafe(q.text, q.params as never[])).length;
  } catch (e) {
    if ((e as { code?: string }).code === "57014") return undefined;
    throw e;
  }
}

/**
 * Runs `queries[i % n]` `count` times, after one warm-up pass over the
 * queries (`warm`; at most a quarter of the budget), stopping early once
 * `budgetMs` is spent (the row says so). A query cut by the statement timeout
 * counts as a sample of +∞.
 */
async function timeQueries(
  sql: postgres.Sql,
  row: { name: string; command: string },
  queries: readonly { text: string; params: unknown[] }[],
  o: { count: number; budgetMs: number; warm: boolean },
  log: (s: string) => void,
): Promise<QueryRow> {
  const t0 = performance.now();
  let used = queries.length;
  if (o.warm) {
    used = 0;
    for (const q of queries) {
      if (used > 0 && performance.now() - t0 > o.budgetMs / 4) break;
      await runQuery(sql, q);
      used++;
    }
  }
  const returned: number[] = [];
  const samples: number[] = [];
  let timeouts = 0;
  const start = performance.now();
  for (let i = 0; i < o.count; i++) {
    if (i > 0 && performance.now() - start > o.budgetMs) break;
    const a = performance.now();
    const n = await runQuery(sql, queries[i % used]);
    samples.push(n === undefined ? Infinity : performance.now() - a);
    if (n === undefined) timeouts++;
    else returned.push(n);
  }
  const notes: string[] = [];
  if (!o.warm) notes.push("no warm-up pass");
  if (samples.length < o.count) {
    notes.push(
      `stopped after ${samples.length} of ${o.count} queries: time budget ${o.budgetMs / 1000} s`,
    );
  }
  if (timeouts) notes.push(`${timeouts} cut at the ${QUERY_TIMEOUT_MS / 1000} s statement timeout`);
  log(
    `  ${row.name}: ${samples.length} queries, p50 ${quantile(samples, 0.5).toFixed(1)} ms, p95 ${
      quantile(samples, 0.95).toFixed(1)
    } ms${notes.length ? ` (${notes.join("; ")})` : ""}`,
  );
  return {
    ...row,
    words: Math.min(used, samples.length),
    samples,
    matches: returned.length ? median(returned) : NaN,
    note: notes.length ? notes.join("; ") : undefined,
  };
}

// -------------------------------------------------------------------- bench

const REALTIME: ContextPhase[] = [{ phase: "realtime", table: AI_CONTEXT_TABLE }];

/** A misspelling: the third letter from the end replaced (`y` for a vowel, `a` for anything else). */
export function misspell(w: string): string {
  const i = w.length - 3;
  return w.slice(0, i) + (/[aeiou]/.test(w[i]) ? "y" : "a") + w.slice(i + 1);
}

/** Runs the benchmark; everything it creates is dropped before it returns. */
export async function benchLifecycle(o: LifecycleBenchOptions = {}): Promise<LifecycleResult> {
  const rows = o.rows ?? 1_000_000;
  const sampleRows = o.sample ?? 20_000;
  const queries = o.queries ?? 100;
  const batchSize = o.batchSize ?? 1000;
  const seed = o.seed ?? 20261128;
  const log = o.log ?? ((s: string) => console.error(s));
  const load: Record<string, number> = { start: load1() };

  const scratch = newScratch();
  const model = await referenceModel(scratch);
  const retention = model.ai.retention;
  model.ai = {
    ...model.ai,
    retention: { ...retention, export: { ...retention.export, enabled: false } },
  };
  let db: TestDatabase | undefined;
  let store: postgres.Sql | undefined;
  let poller: postgres.Sql | undefined;
  try {
    log(`lifecycle: database ${scratch.database}, ${rows} rows`);
    db = await createDatabase(model, scratch);
    const sql = db.sql;
    const settings = "maintenance_work_mem = '256MB'";
    await sql.unsafe(`SET ${settings}`);
    const [{ version }] = await sql`SELECT current_setting('server_version') AS version`;
    const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
      .match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
    const machine = `${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} CPUs ` +
      `(${cpu}), ${Math.round(Deno.systemMemoryInfo().total / 2 ** 30)} GiB RAM`;

    // The secondary indexes of the context table, dropped for the load.
    const indexes = await sql<{ name: string; def: string; method: string }[]>`
      SELECT i.indexname AS name, i.indexdef AS def, am.amname AS method
      FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname
      JOIN pg_am am ON am.oid = c.relam
      WHERE i.tablename = ${AI_CONTEXT_TABLE} AND i.indexname <> ${AI_CONTEXT_TABLE + "_pkey"}
      ORDER BY i.indexname`;
    for (const ix of indexes) await sql.unsafe(`DROP INDEX ${ix.name}`);

    // 1. Load.
    const now = Date.now();
    const gen = new RowGenerator(seed, now);
    {
      // The generator's own cost, on a slice, to tell it from COPY's.
      const probe = new RowGenerator(seed + 1, now);
      const t = performance.now();
      let n = 0;
      while (n < Math.min(rows, 50_000)) n += probe.nextTask().length;
      const generateMs = ((performance.now() - t) / n) * rows;
      log(`  generation alone: ~${(generateMs / 1000).toFixed(1)} s for ${rows} rows`);
      load.copy = load1();
      let written = 0;
      let chars = 0;
      const types: Record<string, number> = { input: 0, output: 0, system: 0 };
      const t0 = performance.now();
      let lastLog = t0;
      await copyRows(sql, () => {
        if (written >= rows) return null;
        let chunk = "";
        while (chunk.length < 1 << 20 && written < rows) {
          for (const g of gen.nextTask()) {
            if (written >= rows) break;
            chunk += copyLine(g, null);
            chars += g.text.length;
            types[g.type]++;
            written++;
          }
        }
        if (performance.now() - lastLog > 30_000) {
          lastLog = performance.now();
          log(`  copied ${written} rows, ${((lastLog - t0) / 1000).toFixed(0)} s`);
        }
        return chunk;
      });
      const copyMs = performance.now() - t0;
      log(`  COPY ${rows} rows: ${(copyMs / 1000).toFixed(1)} s`);
      const copyAll: RateRow = {
        name: `COPY of all ${rows} rows, primary key only (the load)`,
        command: `COPY ${AI_CONTEXT_TABLE} FROM STDIN (postgres.js)`,
        rows,
        ms: copyMs,
      };

      // Index builds.
      load.indexes = load1();
      const indexBuilds: LifecycleResult["indexBuilds"] = [];
      for (const ix of indexes) {
        const t = performance.now();
        await sql.unsafe(ix.def);
        const ms = performance.now() - t;
        const [{ bytes }] = await sql`SELECT pg_relation_size(${ix.name}::regclass) AS bytes`;
        indexBuilds.push({ name: ix.name, method: ix.method, ms, bytes: Number(bytes) });
        log(`  index ${ix.name}: ${(ms / 1000).toFixed(1)} s`);
      }
      await sql.unsafe(`VACUUM ANALYZE ${AI_CONTEXT_TABLE}`);
      const phaseTables = contextPhases().map((p) => p.table);
      const sizesBefore = await sizes(sql, phaseTables);

      // 2. Insert: through the store (one task per transaction), then COPY, same rows.
      load.insert = load1();
      const sampleGen = new RowGenerator(seed + 2, now, "sample");
      const tasks: GenRow[][] = [];
      for (let n = 0; n < sampleRows;) {
        const t = sampleGen.nextTask().filter((g) => g.type !== "system");
        tasks.push(t);
        n += t.length;
      }
      const sampleCount = tasks.length * 2;
      const exchange = (t: GenRow[]): AiExchange => {
        const [i, out] = t;
        return {
          table: AI_CONTEXT_TABLE,
          taskId: i.taskId,
          processInstanceId: i.processInstanceId,
          activityId: i.activityId,
          provider: i.provider,
          model: i.model,
          tokenUsage: out.tokenUsage ?? {},
          input: { text: i.text, data: i.data },
          output: { text: out.text, data: out.data },
          stats: {
            modelsTable: "procos_ai_models",
            statsTable: "procos_ai_model_stats",
            truncated: false,
            promptTokens: Number(out.tokenUsage?.prompt_eval_count ?? 0),
            completionTokens: Number(out.tokenUsage?.eval_count ?? 0),
            latencyMs: Number(out.data.wallMs ?? 0),
          },
        };
      };
      const sampleTaskIds = tasks.map((t) => t[0].taskId);
      const clear = async () => {
        const r = await sql.unsafe(
          `DELETE FROM ${AI_CONTEXT_TABLE} WHERE task_id = ANY($1::text[])`,
          [sampleTaskIds],
        );
        if (r.count !== sampleCount) {
          throw new Error(`deleted ${r.count} sample rows, not ${sampleCount}`);
        }
      };
      store = connectDatabase(db.url, { max: 2 });
      await store`SELECT 1`;
      const insert: RateRow[] = [];
      // The floor first in the table; measured last.
      for (const concurrency of [1, 2]) {
        let next = 0;
        const t = performance.now();
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next < tasks.length) {
              const saved = await saveAiExchange(store!, exchange(tasks[next++]));
              if (!saved.inserted) throw new Error("store: a sample row was there already");
            }
          }),
        );
        const ms = performance.now() - t;
        insert.push({
          name: `store, ${concurrency} task${concurrency > 1 ? "s" : ""} at a time`,
          command: `saveAiExchange() × ${tasks.length}, ${concurrency} in flight`,
          rows: sampleCount,
          ms,
        });
        log(`  store, concurrency ${concurrency}: ${(ms / 1000).toFixed(1)} s`);
        await clear();
      }
      {
        let next = 0;
        const t = performance.now();
        await copyRows(store, () => {
          if (next >= tasks.length) return null;
          let chunk = "";
          while (chunk.length < 1 << 20 && next < tasks.length) {
            for (const g of tasks[next]) chunk += copyLine(g, new Date().toISOString());
            next++;
          }
          return chunk;
        });
        const ms = performance.now() - t;
        insert.unshift({
          name: "COPY of the same rows (floor)",
          command: `COPY ${AI_CONTEXT_TABLE} FROM STDIN, one statement`,
          rows: sampleCount,
          ms,
        });
        log(`  COPY sample: ${(ms / 1000).toFixed(1)} s`);
        await clear();
      }
      await store.end({ timeout: 5 });
      store = undefined;

      // 3. Search, on the real-time table holding every row.
      load.search = load1();
      const words = gen.words;
      const pickWords = (from: number, to: number, n: number, minLen = 0) => {
        const out: string[] = [];
        const r = prng(seed + from);
        while (out.length < n) {
          const w = words[from + (r() % (to - from))];
          if (w.length >= minLen && !out.includes(w)) out.push(w);
        }
        return out;
      };
      const ftsQuery = (w: string, extra: Partial<SearchOptions> = {}) =>
        buildSearchQuery({ query: w, phases: REALTIME, ...extra });
      const countMatches = async (w: string) => {
        const [{ n }] = await sql.unsafe<{ n: string }[]>(
          `SELECT count(*) AS n FROM ${AI_CONTEXT_TABLE}
           WHERE ${AI_CONTEXT_FTS_DOCUMENT} @@ websearch_to_tsquery('${AI_FTS_CONFIG}', $1)`,
          [w],
        );
        return Number(n);
      };
      const search: QueryRow[] = [];
      const ftsCommand = "ai:search WORD (buildSearchQuery, real-time table): ts_rank, LIMIT 20";
      const fuzzyCommand = "ai:search --fuzzy MISPELT (buildSearchQuery): $1 <% content_text";
      const classes: [string, number, number][] = [
        ["rare words (ranks 50k–100k)", 50_000, VOCABULARY],
        ["medium words (ranks 5k–20k)", 5_000, 20_000],
      ];
      const half = Math.ceil(queries / 2);
      await sql.unsafe(`SET statement_timeout = ${QUERY_TIMEOUT_MS}`);
      for (const [label, from, to] of classes) {
        const ws = pickWords(from, to, 10);
        const counts: number[] = [];
        for (const w of ws) counts.push(await countMatches(w));
        const row = await timeQueries(
          sql,
          { name: `full-text, ${label}`, command: ftsCommand },
          ws.map((w) => ftsQuery(w)),
          { count: half, budgetMs: 60_000, warm: true },
          log,
        );
        row.matches = median(counts);
        search.push(row);
      }
      {
        const ws = pickWords(200, 1000, 3);
        const counts: number[] = [];
        for (const w of ws) counts.push(await countMatches(w));
        const row = await timeQueries(
          sql,
          { name: "full-text, common words (ranks 200–1000)", command: ftsCommand },
          ws.map((w) => ftsQuery(w)),
          { count: Math.min(10, queries), budgetMs: 45_000, warm: true },
          log,
        );
        row.matches = median(counts);
        search.push(row);
      }
      const fuzzyWords = [
        ...pickWords(5_000, 20_000, 10, 8),
        ...pickWords(50_000, VOCABULARY, 10, 8),
      ].map(misspell);
      search.push(
        await timeQueries(
          sql,
          {
            name: "trigram word similarity `<%`, misspelt word (threshold 0.6)",
            command: fuzzyCommand,
          },
          fuzzyWords.map((w) => buildSearchQuery({ query: w, fuzzy: true, phases: REALTIME })),
          { count: queries, budgetMs: 120_000, warm: true },
          log,
        ),
      );
      search.push(
        await timeQueries(
          sql,
          {
            name: "trigram similarity `%`, misspelt word (threshold 0.3)",
            command: "content_text % $1 ORDER BY similarity(content_text, $1) DESC LIMIT 20",
          },
          fuzzyWords.map((w) => ({
            text: `SELECT id FROM ${AI_CONTEXT_TABLE} WHERE content_text % $1
                   ORDER BY similarity(content_text, $1) DESC LIMIT 20`,
            params: [w],
          })),
          { count: Math.min(20, queries), budgetMs: 45_000, warm: false },
          log,
        ),
      );
      await sql.unsafe(`RESET statement_timeout`);

      // 4. Retention: one run.
      load.retention = load1();
      poller = connect(scratch.database);
      const [{ before }] =
        await sql`SELECT coalesce(max(id), 0) AS before FROM procos_retention_runs`;
      const changes: { t: number; counts: Record<string, Record<string, number>> }[] = [];
      let polling = true;
      const t0r = performance.now();
      const poll = (async () => {
        let last = "";
        while (polling) {
          const r = await poller!`
            SELECT counts FROM procos_retention_runs WHERE id > ${before} ORDER BY id DESC LIMIT 1`;
          const c = r[0]?.counts;
          const key = JSON.stringify(c ?? null);
          if (c && key !== last) {
            last = key;
            changes.push({ t: performance.now() - t0r, counts: c });
          }
          await new Promise((res) => setTimeout(res, 250));
        }
      })();
      const [{ summary }] = await sql.unsafe<{ summary: Record<string, unknown> }[]>(
        `CALL procos_apply_retention(now(), $1, false, NULL)`,
        [batchSize],
      );
      const retentionMs = performance.now() - t0r;
      polling = false;
      await poll;
      const counts = summary.counts as Record<string, Record<string, number>>;
      const phaseNames = ["historical", "archived", "purged"];
      const total = (c: Record<string, number> | undefined) =>
        Object.values(c ?? {}).reduce((a, b) => a + Number(b), 0);
      let start = 0;
      const phases: PhaseRow[] = phaseNames.map((p, i) => {
        // The phase ends at the last change of its own counts (or when the next phase starts).
        const own = changes.filter((c) => total(c.counts[p]) > 0);
        const mine = own.filter((c) => total(c.counts[p]) < total(counts[p]));
        const nextPhase = phaseNames[i + 1];
        const nextStart = nextPhase
          ? changes.find((c) => total(c.counts[nextPhase]) > 0)?.t
          : undefined;
        const reached = own.find((c) => total(c.counts[p]) === total(counts[p]))?.t;
        const end = reached ?? nextStart ?? mine.at(-1)?.t ?? start;
        const row = { phase: p, counts: counts[p], ms: Math.max(0, end - start) };
        start = end;
        return row;
      });
      phases.push({ phase: "(unexported count, finishing)", counts: {}, ms: retentionMs - start });
      log(`  retention: ${(retentionMs / 1000).toFixed(1)} s, ${JSON.stringify(counts)}`);
      const sizesAfter = await sizes(sql, phaseTables);

      // 5. The default ai:search query (every phase) after the run.
      load.after = load1();
      const searchAfter: QueryRow[] = [];
      await sql.unsafe(`SET statement_timeout = ${QUERY_TIMEOUT_MS}`);
      const ws = pickWords(5_000, 20_000, 10);
      searchAfter.push(
        await timeQueries(
          sql,
          { name: "full-text, real-time table only (medium words)", command: ftsCommand },
          ws.map((w) => ftsQuery(w)),
          { count: queries, budgetMs: 20_000, warm: true },
          log,
        ),
      );
      searchAfter.push(
        await timeQueries(
          sql,
          {
            name: "full-text, every phase (the default `ai:search` query)",
            command: "ai:search WORD: UNION ALL of the three phase tables",
          },
          ws.map((w) => buildSearchQuery({ query: w })),
          { count: 5, budgetMs: 60_000, warm: false },
          log,
        ),
      );
      searchAfter.push(
        await timeQueries(
          sql,
          {
            name: "trigram `<%`, every phase (the default `ai:search --fuzzy` query)",
            command: "ai:search --fuzzy MISPELT: UNION ALL of the three phase tables",
          },
          fuzzyWords.map((w) => buildSearchQuery({ query: w, fuzzy: true })),
          { count: 3, budgetMs: 60_000, warm: false },
          log,
        ),
      );
      await sql.unsafe(`RESET statement_timeout`);
      load.end = load1();

      return {
        rows,
        sample: sampleCount,
        batchSize,
        machine,
        postgres: String(version),
        load,
        avgChars: chars / rows,
        types,
        generateMs,
        copyAll,
        indexBuilds,
        insert,
        search,
        searchAfter,
        retention: {
          ms: retentionMs,
          phases,
          unexported: total(counts.unexported),
          runId: Number(summary.run_id),
        },
        sizesBefore,
        sizesAfter,
        settings,
      };
    }
  } finally {
    await store?.end({ timeout: 5 }).catch(() => {});
    await poller?.end({ timeout: 5 }).catch(() => {});
    if (db) await db.drop().catch((e) => log(`dropping ${scratch.database} failed: ${e}`));
    else await dropScratch(scratch).catch(() => {});
    log(`lifecycle: dropped ${scratch.database}`);
  }
}

// ------------------------------------------------------------------- report

const fmt = (n: number, d = 1) =>
  n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const int = (n: number) => Math.round(n).toLocaleString("en-US");
const mb = (b: number) => `${fmt(b / 2 ** 20, 0)} MB`;

/** The report: markdown tables, each with its reference (floor) first. */
export function lifecycleReport(r: LifecycleResult): string {
  const out: string[] = [];
  const loads = Object.entries(r.load).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ");
  out.push(
    `${int(r.rows)} rows (${
      Object.entries(r.types).map(([k, v]) => `${k} ${int(v)}`).join(", ")
    }), ` +
      `content_text ${
        int(r.avgChars)
      } characters on average; ${r.machine}; PostgreSQL ${r.postgres}; ` +
      `session ${r.settings}; load average (1 min) at each step: ${loads}`,
    "",
    "Load and index builds:",
    "",
    "| step | rows | s | rows/s | size |",
    "| --- | ---: | ---: | ---: | ---: |",
    `| ${r.copyAll.name} | ${int(r.copyAll.rows)} | ${fmt(r.copyAll.ms / 1000)} | ${
      int(r.copyAll.rows / (r.copyAll.ms / 1000))
    } | ${mb(r.sizesBefore[0].heap + r.sizesBefore[0].toast)} (heap + TOAST) |`,
    `| (of which generating the rows in Deno, estimated) | | ${fmt(r.generateMs / 1000)} | | |`,
    ...r.indexBuilds.map((ix) =>
      `| index \`${ix.name}\` (${ix.method}) | | ${fmt(ix.ms / 1000)} | | ${mb(ix.bytes)} |`
    ),
    `| all ${r.indexBuilds.length} index builds | | ${
      fmt(r.indexBuilds.reduce((a, b) => a + b.ms, 0) / 1000)
    } | | ${mb(r.indexBuilds.reduce((a, b) => a + b.bytes, 0))} |`,
    "",
    `Insert, ${int(r.sample)} rows into the full table (all indexes), same rows each time:`,
    "",
    "| insert path | command | rows | s | rows/s | × first row (time) |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
    ...r.insert.map((x) =>
      `| ${x.name} | \`${x.command}\` | ${int(x.rows)} | ${fmt(x.ms / 1000, 2)} | ${
        int(x.rows / (x.ms / 1000))
      } | ${(x.ms / r.insert[0].ms).toFixed(2)} |`
    ),
    "",
    `Search on the real-time table holding all ${
      int(r.rows)
    } rows, warm (one pass over the words first):`,
    "",
    queryTable(r.search),
    "",
    `One retention run, \`CALL procos_apply_retention(now(), ${r.batchSize}, false, NULL)\` ` +
      `(run ${r.retention.runId}): ${fmt(r.retention.ms / 1000)} s`,
    "",
    "| phase | input | output | system | total | s | rows/s |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...r.retention.phases.map((p) => {
      const t = Object.values(p.counts).reduce((a, b) => a + Number(b), 0);
      const c = (k: string) => p.counts[k] === undefined ? "" : int(Number(p.counts[k]));
      return `| ${p.phase} | ${c("input")} | ${c("output")} | ${c("system")} | ${
        t ? int(t) : ""
      } | ${fmt(p.ms / 1000)} | ${t && p.ms > 0 ? int(t / (p.ms / 1000)) : ""} |`;
    }),
    "",
    "Data on disk (`pg_total_relation_size`), before and after the run:",
    "",
    "| table | rows before | total before | rows after | total after | heap / TOAST / indexes after |",
    "| --- | ---: | ---: | ---: | ---: | --- |",
    ...r.sizesBefore.map((b, i) => {
      const a = r.sizesAfter[i];
      return `| \`${b.table}\` | ${int(b.rows)} | ${mb(b.total)} | ${int(a.rows)} | ${
        mb(a.total)
      } | ${mb(a.heap)} / ${mb(a.toast)} / ${mb(a.indexes)} |`;
    }),
    "",
    "Search after the run:",
    "",
    queryTable(r.searchAfter),
  );
  return out.join("\n");
}

/** Milliseconds; a query cut by the statement timeout shows as more than it. */
const ms = (n: number) => n === Infinity ? `> ${int(QUERY_TIMEOUT_MS)}` : fmt(n);

function queryTable(rows: readonly QueryRow[]): string {
  return [
    "| query | command | words | queries | matches (median) | p50 ms | p95 ms | max ms |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((q) =>
      `| ${q.name}${
        q.note ? ` (${q.note})` : ""
      } | \`${q.command}\` | ${q.words} | ${q.samples.length} | ${
        Number.isNaN(q.matches) ? "–" : int(q.matches)
      } | ${ms(quantile(q.samples, 0.5))} | ${ms(quantile(q.samples, 0.95))} | ${
        ms(Math.max(...q.samples))
      } |`
    ),
  ].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rows: { type: "string" },
      sample: { type: "string" },
      queries: { type: "string" },
      "batch-size": { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    console.log(
      "deno run --allow-all bench/lifecycle_bench.ts [--rows 1000000] [--sample 20000] " +
        "[--queries 100] [--batch-size 1000]",
    );
    Deno.exit(0);
  }
  const num = (s: string | undefined) => s === undefined ? undefined : Number(s);
  const r = await benchLifecycle({
    rows: num(values.rows),
    sample: num(values.sample),
    queries: num(values.queries),
    batchSize: num(values["batch-size"]),
  });
  console.log(lifecycleReport(r));
}

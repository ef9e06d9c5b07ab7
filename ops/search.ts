/**
 * `deno task ai:search`: searches the stored AI context.
 *
 *     deno task ai:search "words" [--fuzzy [--threshold T]] [--process ID] [--model M]
 *                       [--type input|output|system] [--since ISO] [--until ISO]
 *                       [--limit N] [--json]
 *
 * Full-text (default): `websearch_to_tsquery` syntax ("quoted phrase", or,
 * -not), matched against EXACTLY the expression the full-text index is built
 * on (`AI_CONTEXT_FTS_DOCUMENT` of `compiler/ai_schema.ts`; any other
 * expression, even an equivalent one, would not use the index), ranked with
 * `ts_rank`, with `ts_headline` snippets.
 *
 * Fuzzy (`--fuzzy`): trigram word similarity, `query <% content_text`, served
 * by the trigram index (`gin_trgm_ops`), over the whole text; ranked by
 * `word_similarity`; the threshold is `pg_trgm.word_similarity_threshold`
 * (the server's, or `--threshold`). Word similarity rather than plain `%`:
 * `%` compares the query with the WHOLE text, so a misspelt word is never
 * similar to a long answer; `<%` compares it with the best-matching stretch
 * of words.
 *
 * Every phase table of the AI context that `compiler/ai_schema.ts` defines is
 * searched (UNION ALL), and each result says which phase it is in.
 *
 * @module
 */
import {
  AI_CONTEXT_FTS_DOCUMENT,
  AI_CONTEXT_PHASE_TABLES,
  AI_CONTEXT_TYPES,
  AI_FTS_CONFIG,
  AI_FTS_MAX_CHARS,
  RETENTION_PHASES,
} from "../compiler/ai_schema.ts";
import type { TableSpec } from "../compiler/ai_schema.ts";
import { quoteIdent, quoteLiteral } from "../compiler/sql_quote.ts";
import {
  COMMON_USAGE,
  connectSpec,
  describeConn,
  loadOps,
  OpsError,
  parseOpsArgs,
  processIo,
  runOps,
  UsageError,
  withSql,
} from "./db.ts";
import type { OpsContext, OpsIo } from "./db.ts";
import type postgres from "postgres";

/** One table of the AI context's lifecycle, and the phase it holds. */
export interface ContextPhase {
  /** `realtime`, `historical`, `archived`. */
  phase: string;
  /** Its table. */
  table: string;
}

/**
 * The AI context tables of the lifecycle (`AI_CONTEXT_PHASE_TABLES` of
 * `compiler/ai_schema.ts`, in phase order), each with its phase's name
 * (`RETENTION_PHASES`, in the same order): real-time first.
 */
export function contextPhases(): ContextPhase[] {
  if (AI_CONTEXT_PHASE_TABLES.length !== RETENTION_PHASES.length) {
    throw new Error("ai_schema.ts: AI_CONTEXT_PHASE_TABLES and RETENTION_PHASES differ in length");
  }
  return AI_CONTEXT_PHASE_TABLES.map((table, i) => ({ phase: RETENTION_PHASES[i], table }));
}

/** Whether a table spec has the full-text index on {@link AI_CONTEXT_FTS_DOCUMENT}. */
export function hasFtsIndex(t: TableSpec): boolean {
  return t.indexes.some((i) =>
    i.method === "gin-fts" && i.keys.some((k) => k.expression === AI_CONTEXT_FTS_DOCUMENT)
  );
}

/** What to search for. */
export interface SearchOptions {
  /** The words. */
  query: string;
  /** Trigram word similarity instead of full-text. */
  fuzzy?: boolean;
  /** `pg_trgm.word_similarity_threshold` for this search (0..1). */
  threshold?: number;
  /** Only this process instance. */
  processInstanceId?: string;
  /** Only rows of this model (`model_used`). */
  model?: string;
  /** Only this context type. */
  contextType?: string;
  /** Only rows created at or after. */
  since?: Date;
  /** Only rows created before. */
  until?: Date;
  /** At most this many results (default 20). */
  limit?: number;
  /** The tables (default {@link contextPhases}). */
  phases?: readonly ContextPhase[];
}

/** One result. */
export interface SearchHit {
  phase: string;
  id: string;
  processInstanceId: string;
  taskId: string | null;
  activityId: string | null;
  contextType: string;
  provider: string | null;
  model: string | null;
  createdAt: string | null;
  /** Length of content_text, characters. */
  chars: number;
  /** ts_rank (full-text) or word_similarity (fuzzy). */
  score: number;
  /** The matching passage, matches between « and ». */
  snippet: string;
}

/** The search statement: SQL text and its parameters. */
export interface SearchQuery {
  text: string;
  params: (string | number | Date)[];
}

/** Marks around a match in snippets. */
export const MATCH_START = "«";
/** Marks around a match in snippets. */
export const MATCH_STOP = "»";

const FTS_QUERY = (p: string) => `websearch_to_tsquery(${quoteLiteral(AI_FTS_CONFIG)}, ${p})`;

/**
 * The ranking statement (without snippets): one branch per phase table,
 * `UNION ALL`, best first. User input only ever goes in as parameters; the
 * document expression is {@link AI_CONTEXT_FTS_DOCUMENT}, verbatim.
 */
export function buildSearchQuery(o: SearchOptions): SearchQuery {
  const params: (string | number | Date)[] = [o.query];
  const p = (v: string | number | Date) => {
    params.push(v);
    return `$${params.length}`;
  };
  const filters: string[] = [];
  if (o.processInstanceId !== undefined) {
    filters.push(`process_instance_id = ${p(o.processInstanceId)}`);
  }
  if (o.model !== undefined) filters.push(`model_used = ${p(o.model)}`);
  if (o.contextType !== undefined) filters.push(`context_type = ${p(o.contextType)}`);
  if (o.since !== undefined) filters.push(`created_at >= ${p(o.since)}::timestamptz`);
  if (o.until !== undefined) filters.push(`created_at < ${p(o.until)}::timestamptz`);
  const match = o.fuzzy ? `$1 <% content_text` : `${AI_CONTEXT_FTS_DOCUMENT} @@ ${FTS_QUERY("$1")}`;
  const score = o.fuzzy
    ? `word_similarity($1, content_text)`
    : `ts_rank(${AI_CONTEXT_FTS_DOCUMENT}, ${FTS_QUERY("$1")})`;
  const where = [match, ...filters].join("\n    AND ");
  const branches = (o.phases ?? contextPhases()).map((ph) =>
    `  SELECT ${quoteLiteral(ph.phase)}::text AS phase, id::text AS id, process_instance_id,
    task_id, activity_id, context_type, ai_provider, model_used, created_at,
    coalesce(length(content_text), 0) AS chars, ${score}::float8 AS score
  FROM ${quoteIdent(ph.table)}
  WHERE ${where}`
  );
  const limit = p(o.limit ?? 20);
  return {
    text: `SELECT * FROM (\n${branches.join("\n  UNION ALL\n")}\n) AS r\n` +
      `ORDER BY score DESC, created_at DESC NULLS LAST, id\nLIMIT ${limit}`,
    params,
  };
}

const HEADLINE_OPTIONS = `MaxFragments=2, MinWords=6, MaxWords=20, ` +
  `FragmentDelimiter=" … ", StartSel=${MATCH_START}, StopSel=${MATCH_STOP}`;

/** `ts_headline` snippets of some rows of one table, by id. */
async function ftsSnippets(
  sql: postgres.Sql | postgres.TransactionSql,
  table: string,
  ids: string[],
  query: string,
): Promise<Map<string, string>> {
  const rows = await sql.unsafe<{ id: string; snippet: string }[]>(
    `SELECT id::text AS id, ts_headline(${quoteLiteral(AI_FTS_CONFIG)},
       left(coalesce(content_text, ''), ${AI_FTS_MAX_CHARS}), ${FTS_QUERY("$1")},
       ${quoteLiteral(HEADLINE_OPTIONS)}) AS snippet
     FROM ${quoteIdent(table)} WHERE id = ANY($2::uuid[])`,
    [query, ids],
  );
  return new Map(rows.map((r) => [r.id, r.snippet.replace(/\s+/g, " ").trim()]));
}

/**
 * Some rows' whole text, for fuzzy snippets: the trigram match may be
 * anywhere in it (the results are few: `--limit`).
 */
async function texts(
  sql: postgres.Sql | postgres.TransactionSql,
  table: string,
  ids: string[],
): Promise<Map<string, string>> {
  const rows = await sql.unsafe<{ id: string; text: string }[]>(
    `SELECT id::text AS id, coalesce(content_text, '') AS text
     FROM ${quoteIdent(table)} WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.text]));
}

/** pg_trgm's trigrams of one word (lower case, padded with two spaces before, one after). */
export function trigrams(word: string): Set<string> {
  const w = `  ${word.toLowerCase()} `;
  const out = new Set<string>();
  const chars = [...w];
  for (let i = 0; i + 3 <= chars.length; i++) out.add(chars.slice(i, i + 3).join(""));
  return out;
}

const WORD = /[\p{L}\p{N}]+/gu;

/**
 * A snippet of `text` around the stretch of words most similar to `query`
 * (trigrams, as pg_trgm), the stretch marked with « ». Empty text gives "".
 */
export function fuzzySnippet(text: string, query: string, context = 8): string {
  const words = [...text.matchAll(WORD)].map((m) => ({
    w: m[0],
    at: m.index!,
    end: m.index! + m[0].length,
  }));
  if (words.length === 0) return text.slice(0, 160).replace(/\s+/g, " ").trim();
  const q = [...query.matchAll(WORD)].map((m) => m[0]);
  const qt = new Set(q.flatMap((w) => [...trigrams(w)]));
  const k = Math.max(1, Math.min(q.length, words.length));
  const cache = new Map<string, Set<string>>();
  const wt = words.map((x) => {
    let t = cache.get(x.w);
    if (!t) cache.set(x.w, t = trigrams(x.w));
    return t;
  });
  let best = 0;
  let bestScore = -1;
  for (let i = 0; i + k <= words.length; i++) {
    let common = 0;
    for (const g of qt) {
      for (let j = i; j < i + k; j++) {
        if (wt[j].has(g)) {
          common++;
          break;
        }
      }
    }
    const s = qt.size ? common / qt.size : 0;
    if (s > bestScore) [best, bestScore] = [i, s];
  }
  const from = Math.max(0, best - context);
  const to = Math.min(words.length - 1, best + k - 1 + context);
  const flat = (s: string) => s.replace(/\s+/g, " ");
  return (from > 0 ? "… " : "") +
    flat(text.slice(words[from].at, words[best].at)) + MATCH_START +
    flat(text.slice(words[best].at, words[best + k - 1].end)) + MATCH_STOP +
    flat(text.slice(words[best + k - 1].end, words[to].end)) +
    (to < words.length - 1 ? " …" : "");
}

/** Runs a search with snippets. */
export async function search(sql: postgres.Sql, o: SearchOptions): Promise<SearchHit[]> {
  if (!o.query.trim()) throw new UsageError("nothing to search for: give some words");
  const phases = o.phases ?? contextPhases();
  const q = buildSearchQuery({ ...o, phases });
  return await sql.begin(async (tx) => {
    if (o.fuzzy && o.threshold !== undefined) {
      await tx`SELECT set_config('pg_trgm.word_similarity_threshold', ${
        String(o.threshold)
      }, true)`;
    }
    const rows = await tx.unsafe<Record<string, unknown>[]>(q.text, q.params as never[]);
    const snippets = new Map<string, string>();
    for (const ph of phases) {
      const ids = rows.filter((r) => r.phase === ph.phase).map((r) => String(r.id));
      if (ids.length === 0) continue;
      if (o.fuzzy) {
        for (const [id, text] of await texts(tx, ph.table, ids)) {
          snippets.set(`${ph.phase}/${id}`, fuzzySnippet(text, o.query));
        }
      } else {
        for (const [id, s] of await ftsSnippets(tx, ph.table, ids, o.query)) {
          snippets.set(`${ph.phase}/${id}`, s);
        }
      }
    }
    return rows.map((r): SearchHit => ({
      phase: String(r.phase),
      id: String(r.id),
      processInstanceId: String(r.process_instance_id),
      taskId: r.task_id as string | null,
      activityId: r.activity_id as string | null,
      contextType: String(r.context_type),
      provider: r.ai_provider as string | null,
      model: r.model_used as string | null,
      createdAt: r.created_at instanceof Date ? r.created_at.toISOString() : null,
      chars: Number(r.chars),
      score: Number(r.score),
      snippet: snippets.get(`${r.phase}/${r.id}`) ?? "",
    }));
  });
}

/** Parses an ISO date or date-time (a date alone is UTC midnight). */
export function parseTime(text: string, flag: string): Date {
  const ok = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(
    text,
  );
  const d = new Date(text);
  if (!ok || Number.isNaN(d.getTime())) {
    throw new UsageError(
      `${flag}: not an ISO date or time such as 2026-01-31 or 2026-01-31T12:00Z`,
    );
  }
  return d;
}

/** Parses `--limit`. */
export function parseLimit(text: string | undefined, fallback = 20): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 10_000) {
    throw new UsageError(`--limit: a whole number from 1 to 10000, not ${text}`);
  }
  return n;
}

/** The usage text. */
export const USAGE = `usage: deno task ai:search "words" [options]

Searches the stored AI context (content_text) of every lifecycle phase.
Full-text by default (web search syntax: "a phrase", or, -word), ranked, with
snippets; --fuzzy finds misspellings (trigram word similarity).

options:
  --fuzzy           trigram word similarity instead of full-text
  --threshold T     with --fuzzy: pg_trgm.word_similarity_threshold, 0 to 1
                    (default: the server's, 0.6 unless changed)
  --process ID      only this process instance
  --model M         only rows of this model
  --type T          only this context type: ${AI_CONTEXT_TYPES.join(", ")}
  --since ISO       only rows created at or after (2026-01-31, 2026-01-31T12:00Z)
  --until ISO       only rows created before
  --limit N         at most N results (default 20)
  --json            print the results as JSON
${COMMON_USAGE}

Connects as the spec's role. Exit codes: 0 done (also with no result); 1 failed;
2 bad arguments.`;

function shortTime(iso: string | null): string {
  return iso ? iso.replace(/\.\d{3}Z$/, "Z").replace("T", " ") : "-";
}

/** `deno task ai:search`; returns the exit code. */
export function main(args: string[], io: OpsIo): Promise<number> {
  let ctx: OpsContext | undefined;
  return runOps("ai:search", io, async () => {
    const a = parseOpsArgs(args, {
      fuzzy: { type: "boolean", default: false },
      threshold: { type: "string" },
      process: { type: "string" },
      model: { type: "string" },
      type: { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean", default: false },
    }, true);
    if (a.help) {
      io.stdout(USAGE);
      return 0;
    }
    const v = a.values;
    const query = a.positionals.join(" ").trim();
    if (!query) throw new UsageError('nothing to search for: deno task ai:search "words"');
    let threshold: number | undefined;
    if (v.threshold !== undefined) {
      if (!v.fuzzy) throw new UsageError("--threshold is for --fuzzy");
      threshold = Number(v.threshold);
      if (!/^(0(\.\d+)?|1(\.0+)?)$/.test(String(v.threshold))) {
        throw new UsageError(`--threshold: a number from 0 to 1, not ${v.threshold}`);
      }
    }
    const type = v.type as string | undefined;
    if (type !== undefined && !(AI_CONTEXT_TYPES as readonly string[]).includes(type)) {
      throw new UsageError(`--type: one of ${AI_CONTEXT_TYPES.join(", ")}, not ${type}`);
    }
    const opts: SearchOptions = {
      query,
      fuzzy: v.fuzzy === true,
      threshold,
      processInstanceId: v.process as string | undefined,
      model: v.model as string | undefined,
      contextType: type,
      since: v.since === undefined ? undefined : parseTime(String(v.since), "--since"),
      until: v.until === undefined ? undefined : parseTime(String(v.until), "--until"),
      limit: parseLimit(v.limit as string | undefined),
    };
    ctx = await loadOps({ ...a.common, env: io.env });
    const c = ctx;
    const hits = await withSql(
      connectSpec(c, { applicationName: "procos-ai-search" }),
      (sql) => search(sql, opts),
    ).catch((e) => {
      if (e instanceof UsageError || e instanceof OpsError) throw e;
      throw new OpsError(
        `searching ${describeConn(c.spec)} (address from ${c.source}): ` +
          (e instanceof Error ? e.message : String(e)),
      );
    });
    if (v.json) {
      io.stdout(JSON.stringify(
        { mode: opts.fuzzy ? "fuzzy" : "full-text", query, count: hits.length, results: hits },
        null,
        2,
      ));
      return 0;
    }
    const how = opts.fuzzy ? "fuzzy, trigram word similarity" : `full-text, ${AI_FTS_CONFIG}`;
    io.stdout(
      `procos ai:search: ${hits.length} result(s) for ${JSON.stringify(query)} (${how})`,
    );
    hits.forEach((h, i) => {
      const parts = [
        `${String(i + 1).padStart(3)}. ${h.score.toFixed(4)}`,
        h.phase,
        shortTime(h.createdAt),
        h.contextType,
        h.model ?? "-",
        `process ${h.processInstanceId}`,
        h.taskId ? `task ${h.taskId}` : "",
        `${h.chars} chars`,
        `id ${h.id}`,
      ].filter(Boolean);
      io.stdout(parts.join("  "));
      if (h.snippet) io.stdout(`     ${h.snippet}`);
    });
    return 0;
  }, () => ctx?.scrub);
}

if (import.meta.main) Deno.exit(await main(Deno.args, processIo()));

/**
 * Tests of SQL quoting, SQL templates, the AI schema and `out/sql/init-db.sql`,
 * the last on the real PostgreSQL server (see tests/helpers/pg.ts), in
 * throwaway databases and roles that are dropped even when a test fails.
 *
 * @module
 */
import { expect } from "expect";
import { loadSpec } from "../../compiler/load_spec.ts";
import { buildModel } from "../../compiler/model.ts";
import type { StackModel } from "../../compiler/model.ts";
import { emitSql, INIT_DB_PATH } from "../../compiler/emit/sql.ts";
import {
  compileSqlTemplate,
  quoteIdent,
  quoteLiteral,
  sqlComment,
  sqlFragment,
} from "../../compiler/sql_quote.ts";
import type { SqlScalar } from "../../compiler/sql_quote.ts";
import {
  ACCESS_METHOD,
  AI_CONTEXT_FTS_DOCUMENT,
  AI_CONTEXT_TABLE,
  AI_EXTENSIONS,
  AI_MODEL_STATS_TABLE,
  AI_MODELS_TABLE,
  AI_TABLES,
  AI_TRIGGERS,
  aiIndexes,
  aiTable,
} from "../../compiler/ai_schema.ts";
import { connect, psql, SCRATCH_PREFIX, withScratch } from "../helpers/pg.ts";
import type { Scratch } from "../helpers/pg.ts";

const SPEC = decodeURIComponent(new URL("../../procos.config.yaml", import.meta.url).pathname);

/** Distinctive secret values, to prove none reaches the SQL. */
const SECRETS = {
  PROCOS_POSTGRES_PASSWORD: "pg-Secret-7f3a9c",
  PROCOS_POSTGRES_SUPERUSER_PASSWORD: "su-Secret-3d4e5f",
  PROCOS_RABBITMQ_PASSWORD: "mq-Secret-1b2c3d",
  PROCOS_REDIS_PASSWORD: "rd-Secret-4e5f6a",
  PROCOS_CAMUNDA_ADMIN_PASSWORD: "ca-Secret-8b9c0d",
};

async function referenceModel(): Promise<StackModel> {
  return buildModel(await loadSpec(SPEC, { profile: "development", env: SECRETS }));
}

/** The reference model, pointed at a scratch database and role. */
async function scratchModel(s: Scratch): Promise<StackModel> {
  const model = await referenceModel();
  model.postgres = { ...model.postgres, database: s.database, user: s.role };
  return model;
}

function initSql(model: StackModel): string {
  const artifacts = emitSql(model);
  expect(artifacts.map((a) => a.path)).toEqual([INIT_DB_PATH]);
  return artifacts[0].content;
}

/** Writes the SQL to a temporary file and runs it with `psql -v ON_ERROR_STOP=1 -f`. */
async function applySql(sql: string, as?: { user: string; database: string }): Promise<void> {
  const file = await Deno.makeTempFile({ prefix: "procos-init-db-", suffix: ".sql" });
  try {
    await Deno.writeTextFile(file, sql);
    const r = await psql({ file, user: as?.user, database: as?.database });
    if (r.code !== 0 || /\bERROR\b/.test(r.stderr)) {
      throw new Error(`psql -f init-db.sql failed (exit ${r.code}):\n${r.stderr}`);
    }
  } finally {
    await Deno.remove(file);
  }
}

async function sha256Hex(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// ---------------------------------------------------------------- quoting

const HOSTILE = [
  "'; DROP TABLE x; --",
  "it's",
  "''",
  "\\",
  "a\\'b",
  "\\'; DROP TABLE x; --",
  "E'\\x41'",
  "$$; DROP TABLE x; $$",
  'double "quotes" and "" pairs',
  "line\nbreak\r\n-- comment\n\\connect postgres",
  ":var :'var' :\"var\"",
  "ünïcödé ✓ 日本語 🚀 \u200b",
  "tab\there",
];

Deno.test("quoteIdent doubles double quotes and always quotes", () => {
  expect(quoteIdent("procos")).toBe('"procos"');
  expect(quoteIdent("Procos")).toBe('"Procos"');
  expect(quoteIdent('a"b')).toBe('"a""b"');
  expect(quoteIdent('"')).toBe('""""');
  expect(quoteIdent("'; DROP TABLE x; --")).toBe(`"'; DROP TABLE x; --"`);
  expect(quoteIdent("back\\slash")).toBe('"back\\slash"');
  expect(quoteIdent("ünï")).toBe('"ünï"');
  expect(quoteIdent("é".repeat(31) + "x")).toBe(`"${"é".repeat(31)}x"`); // 63 bytes
});

Deno.test("quoteIdent refuses what PostgreSQL would mangle", () => {
  expect(() => quoteIdent("")).toThrow(/empty/);
  expect(() => quoteIdent("a\0b")).toThrow(/NUL/);
  expect(() => quoteIdent("a".repeat(64))).toThrow(/64 bytes/);
  expect(() => quoteIdent("é".repeat(32))).toThrow(/64 bytes/);
  expect(() => quoteIdent("\ud800")).toThrow(/surrogate/);
  expect(() => quoteIdent(42 as unknown as string)).toThrow(/string/);
});

Deno.test("quoteLiteral doubles quotes and writes backslashes as E'' strings", () => {
  expect(quoteLiteral("plain")).toBe("'plain'");
  expect(quoteLiteral("")).toBe("''");
  expect(quoteLiteral("it's")).toBe("'it''s'");
  expect(quoteLiteral("'; DROP TABLE x; --")).toBe("'''; DROP TABLE x; --'");
  expect(quoteLiteral("a\\b")).toBe(" E'a\\\\b'");
  expect(quoteLiteral("\\'; DROP TABLE x; --")).toBe(" E'\\\\''; DROP TABLE x; --'");
  expect(quoteLiteral("ünïcödé 🚀")).toBe("'ünïcödé 🚀'");
  expect(quoteLiteral(null)).toBe("NULL");
  expect(quoteLiteral(true)).toBe("TRUE");
  expect(quoteLiteral(false)).toBe("FALSE");
  expect(quoteLiteral(8192)).toBe("8192");
  expect(quoteLiteral(1.5)).toBe("1.5");
  expect(quoteLiteral(-5)).toBe("(-5)");
  expect(quoteLiteral(-0)).toBe("0");
  expect(quoteLiteral(12345678901234567890n)).toBe("12345678901234567890");
  expect(quoteLiteral(-1n)).toBe("(-1)");
});

Deno.test("quoteLiteral refuses values it cannot write faithfully", () => {
  expect(() => quoteLiteral("a\0b")).toThrow(/NUL/);
  expect(() => quoteLiteral("\udc00x")).toThrow(/surrogate/);
  expect(() => quoteLiteral(NaN)).toThrow();
  expect(() => quoteLiteral(Infinity)).toThrow();
  expect(() => quoteLiteral(undefined as unknown as SqlScalar)).toThrow(/undefined/);
  expect(() => quoteLiteral({} as unknown as SqlScalar)).toThrow(/object/);
  expect(() => quoteLiteral(["a"] as unknown as SqlScalar)).toThrow(/object/);
});

Deno.test("sqlComment refuses line breaks", () => {
  expect(sqlComment("procos")).toBe("procos");
  for (const bad of ["a\nDROP TABLE x;", "a\rb", "a\u2028b", "a\0b"]) {
    expect(() => sqlComment(bad)).toThrow();
  }
});

Deno.test("quoted hostile values read back unchanged on the server", async () => {
  const sql = connect("postgres");
  try {
    for (const scs of ["on", "off"]) {
      await sql.unsafe(`SET standard_conforming_strings = ${scs}`);
      for (const v of HOSTILE) {
        const [row] = await sql.unsafe(`SELECT ${quoteLiteral(v)} AS v`);
        expect(row.v).toBe(v);
      }
    }
    await sql.unsafe("SET standard_conforming_strings = on");
    for (const v of HOSTILE.filter((v) => new TextEncoder().encode(v).length <= 63)) {
      const [row] = await sql.unsafe(`SELECT 1 AS ${quoteIdent(v)}`);
      expect(Object.keys(row)).toEqual([v]);
    }
  } finally {
    await sql.end();
  }
});

// ---------------------------------------------------------------- templates

Deno.test("SQL templates refuse raw values, partials and unknown helpers", () => {
  const bad = [
    "SELECT {{x}}",
    "SELECT {{{x}}}",
    "SELECT {{lit}}",
    "SELECT {{lit x y}}",
    "SELECT {{lit 'abc'}}",
    "SELECT {{lit (ident x)}}",
    "{{> other}}",
    "{{#with x}}{{lit y}}{{/with}}",
    "{{#each xs}}{{this}}{{/each}}",
    "{{#if x}}{{y}}{{else}}{{lit z}}{{/if}}",
    "SELECT {{unknown x}}",
  ];
  for (const source of bad) {
    expect(() => compileSqlTemplate(source, "t.sql.hbs")).toThrow();
  }
});

Deno.test("SQL templates are strict and never HTML-escape", () => {
  const t = compileSqlTemplate(
    "SELECT {{lit s}} AS {{ident n}}{{#each xs}}, {{lit this}}{{/each}} {{sql f}} -- {{comment c}}",
    "t.sql.hbs",
  );
  expect(
    t({ s: `<a href="x">&amp;'</a>`, n: "n", xs: [1, null], f: sqlFragment("LIMIT 1"), c: "ok" }),
  )
    .toBe(`SELECT '<a href="x">&amp;''</a>' AS "n", 1, NULL LIMIT 1 -- ok`);
  // A missing variable is an error, not an empty string.
  expect(() => t({ n: "n", xs: [], f: sqlFragment(""), c: "" })).toThrow(/missing/);
  // ... and so is a missing list or condition of a block.
  const each = compileSqlTemplate("{{#each xs}}{{lit this}}{{/each}}", "t.sql.hbs");
  expect(() => each({ ys: [] })).toThrow(/missing/);
  expect(each({ xs: ["a", 1] })).toBe("'a'1");
  const cond = compileSqlTemplate("{{#if x}}1{{/if}}{{#unless x}}0{{/unless}}", "t.sql.hbs");
  expect(() => cond({})).toThrow(/missing/);
  expect(cond({ x: null })).toBe("0");
  // A bare mustache of a missing variable would throw too (strict), but is refused anyway.
  // {{sql}} takes only compiler-made fragments.
  expect(() => t({ s: "", n: "n", xs: [], f: "LIMIT 1; DROP TABLE x", c: "" })).toThrow(
    /sqlFragment/,
  );
  // {{lit}} takes only scalars.
  expect(() => t({ s: { a: 1 }, n: "n", xs: [], f: sqlFragment(""), c: "" })).toThrow(/object/);
  expect(() => t({ s: "", n: "n", xs: [], f: sqlFragment(""), c: "x\nDROP" })).toThrow(/line/);
});

// ---------------------------------------------------------------- schema data

/** The seed's table (shared/seed/procos-infrastructure.md), as format_type() prints it. */
const SEED_CONTEXT_COLUMNS: Array<[string, string, boolean]> = [
  ["id", "uuid", false],
  ["process_instance_id", "character varying(64)", false],
  ["task_id", "character varying(64)", true],
  ["activity_id", "character varying(255)", true],
  ["context_type", "character varying(50)", false],
  ["content_data", "jsonb", false],
  ["content_text", "text", true],
  ["ai_provider", "character varying(50)", true],
  ["model_used", "character varying(100)", true],
  ["token_usage", "jsonb", true],
  ["created_at", "timestamp with time zone", true],
  ["updated_at", "timestamp with time zone", true],
];

Deno.test("ai_schema: procos_ai_context is the seed's table", () => {
  const t = aiTable(AI_CONTEXT_TABLE);
  expect(t.columns.map((c) => [c.name, c.type, c.nullable])).toEqual(SEED_CONTEXT_COLUMNS);
  expect(t.columns.find((c) => c.name === "id")?.default).toBe("uuid_generate_v4()");
  expect(t.constraints[0]).toMatchObject({ kind: "primary-key", definition: "PRIMARY KEY (id)" });
  const names = aiIndexes().map((i) => i.name);
  expect(new Set(names).size).toBe(names.length);
  const methods = new Set(t.indexes.map((i) => i.method));
  for (const m of ["gin", "gin-fts", "gin-trgm", "btree"] as const) {
    expect(methods.has(m)).toBe(true);
  }
  expect(AI_TABLES.map((x) => x.name)).toEqual([
    AI_CONTEXT_TABLE,
    AI_MODELS_TABLE,
    AI_MODEL_STATS_TABLE,
    "procos_ai_context_history",
    "procos_ai_context_archive",
    "procos_retention_runs",
  ]);
  for (const x of AI_TABLES) for (const c of x.constraints) expect(c.name.length).toBeLessThan(64);
});

// ---------------------------------------------------------------- emitter

Deno.test("emitSql: one deterministic file, quoted, without any password", async () => {
  const model = await referenceModel();
  const a = emitSql(model);
  const b = emitSql(await referenceModel());
  expect(a).toEqual(b);
  expect(a).toHaveLength(1);
  expect(a[0]).toMatchObject({ path: "sql/init-db.sql", mode: 0o644 });
  const sql = a[0].content;
  expect(sql).toMatch(/^-- ProcOS database initialisation\.\n-- GENERATED/);
  expect(sql).not.toMatch(/\{\{|\}\}/);
  expect(sql).not.toMatch(/\b20\d\d-\d\d-\d\d/); // no timestamp
  for (const secret of [...Object.values(SECRETS), model.postgres.password]) {
    expect(sql).not.toContain(secret);
  }
  const code = sql.split("\n").filter((l) => !l.startsWith("--")).join("\n");
  expect(code).not.toMatch(/password/i);
  expect(sql).toContain("\\gexec");
  expect(sql).toContain(`\\connect ${quoteIdent(model.postgres.database)}`);
  expect(sql).toContain("CREATE EXTENSION IF NOT EXISTS");
});

Deno.test("emitSql refuses model names the context table could not hold", async () => {
  const model = await referenceModel();
  model.ai = {
    ...model.ai,
    providers: [{
      name: "ollama",
      service: "ollama",
      models: [{ name: "m".repeat(101), context_window: 8192, rate_limit_per_minute: 1 }],
    }],
  };
  expect(() => emitSql(model)).toThrow(/longer than 100/);
});

// ---------------------------------------------------------------- live server

interface IndexRow {
  index: string;
  table: string;
  am: string;
  opclasses: string[];
  keys: string[];
  definition: string;
}

async function indexesOf(sql: ReturnType<typeof connect>, table: string): Promise<IndexRow[]> {
  return await sql<IndexRow[]>`
    SELECT ic.relname AS index, tc.relname AS table, am.amname AS am,
           ARRAY(SELECT oc.opcname::text FROM unnest(ix.indclass) WITH ORDINALITY AS k(oid, n)
                 JOIN pg_opclass oc ON oc.oid = k.oid ORDER BY k.n) AS opclasses,
           ARRAY(SELECT pg_get_indexdef(ix.indexrelid, n::int, true)
                 FROM generate_series(1, ix.indnkeyatts) AS n ORDER BY n) AS keys,
           pg_get_indexdef(ix.indexrelid) AS definition
    FROM pg_index ix
    JOIN pg_class ic ON ic.oid = ix.indexrelid
    JOIN pg_class tc ON tc.oid = ix.indrelid
    JOIN pg_am am ON am.oid = ic.relam
    WHERE tc.relname = ${table} AND tc.relnamespace = 'public'::regnamespace
    ORDER BY ic.relname`;
}

/** A string of at least `bytes` UTF-8 bytes of distinct tokens mixed with awkward characters. */
function bigText(bytes: number): string {
  const parts: string[] = [];
  let size = 0;
  const enc = new TextEncoder();
  for (let i = 0; size < bytes; i++) {
    const piece = i % 97 === 0
      ? ` 'quoted' "double" \\back\\slash\\ $$ ünïcödé 日本語 🚀 \n`
      : ` tok${i.toString(36)}`;
    parts.push(piece);
    size += enc.encode(piece).length;
  }
  return parts.join("");
}

Deno.test({
  name: "init-db.sql on a real PostgreSQL (applied twice, as a superuser on an existing server)",
  sanitizeResources: true,
  sanitizeOps: true,
  fn: async (t) => {
    await withScratch(async (s) => {
      const model = await scratchModel(s);
      const text = initSql(model);
      expect(s.database.startsWith(SCRATCH_PREFIX) && s.role.startsWith(SCRATCH_PREFIX)).toBe(true);

      await applySql(text);
      const admin = connect(s.database);
      let user: ReturnType<typeof connect> | undefined;
      try {
        const [first] = await admin`
          SELECT updated_at FROM procos_ai_models WHERE provider = 'ollama' AND name = 'llama3.2:1b'`;
        await applySql(text); // idempotent: no error, and no needless update

        await t.step("role and database exist, the database owned by the role", async () => {
          const [db] = await admin`
            SELECT pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding
            FROM pg_database WHERE datname = ${s.database}`;
          expect(db).toEqual({ owner: s.role, encoding: "UTF8" });
          const [role] = await admin`SELECT rolcanlogin, rolpassword IS NULL AS nopw
                                     FROM pg_authid WHERE rolname = ${s.role}`;
          expect(role).toEqual({ rolcanlogin: true, nopw: true });
        });

        await t.step("extensions", async () => {
          const rows = await admin`SELECT extname FROM pg_extension ORDER BY extname`;
          const names = rows.map((r) => r.extname);
          for (const e of AI_EXTENSIONS) expect(names).toContain(e);
        });

        await t.step("procos_ai_context has exactly the seed's columns", async () => {
          const cols = await admin`
            SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
                   NOT a.attnotnull AS nullable
            FROM pg_attribute a
            WHERE a.attrelid = 'public.procos_ai_context'::regclass AND a.attnum > 0
              AND NOT a.attisdropped
            ORDER BY a.attnum`;
          expect(cols.map((c) => [c.name, c.type, c.nullable])).toEqual(SEED_CONTEXT_COLUMNS);
          const info = await admin`
            SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
            FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name = 'procos_ai_context'
            ORDER BY ordinal_position`;
          expect(info.map((c) => c.column_name)).toEqual(SEED_CONTEXT_COLUMNS.map((c) => c[0]));
          const byName = Object.fromEntries(info.map((c) => [c.column_name, c]));
          expect(byName.process_instance_id).toMatchObject({
            data_type: "character varying",
            character_maximum_length: 64,
            is_nullable: "NO",
          });
          expect(byName.content_text).toMatchObject({ data_type: "text", is_nullable: "YES" });
          expect(byName.id.column_default).toBe("uuid_generate_v4()");
        });

        await t.step("every table matches ai_schema.ts", async () => {
          for (const table of AI_TABLES) {
            const cols = await admin`
              SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
                     NOT a.attnotnull AS nullable, c.relowner::regrole::text AS owner
              FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
              WHERE c.relname = ${table.name} AND c.relnamespace = 'public'::regnamespace
                AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum`;
            expect(cols.map((c) => [c.name, c.type, c.nullable])).toEqual(
              table.columns.map((c) => [c.name, c.type, c.nullable]),
            );
            expect(cols[0].owner).toBe(s.role);
            const cons = await admin`
              SELECT conname, contype FROM pg_constraint
              WHERE conrelid = ${"public." + table.name}::regclass ORDER BY conname`;
            const kinds = { "primary-key": "p", unique: "u", check: "c", "foreign-key": "f" };
            expect(cons.map((c) => [c.conname, c.contype])).toEqual(
              table.constraints.map((c) => [c.name, kinds[c.kind]]).sort((a, b) =>
                a[0] < b[0] ? -1 : 1
              ),
            );
          }
        });

        await t.step(
          "every index of ai_schema.ts, with its access method and opclass",
          async () => {
            for (const table of AI_TABLES) {
              const live = await indexesOf(admin, table.name);
              const keyed = table.constraints.filter((c) =>
                c.kind === "primary-key" || c.kind === "unique"
              );
              expect(live.map((i) => i.index).sort()).toEqual(
                [...table.indexes.map((i) => i.name), ...keyed.map((c) => c.name)].sort(),
              );
              for (const spec of table.indexes) {
                const ix = live.find((i) => i.index === spec.name)!;
                expect({ name: ix.index, am: ix.am }).toEqual({
                  name: spec.name,
                  am: ACCESS_METHOD[spec.method],
                });
                expect(ix.keys).toHaveLength(spec.keys.length);
                spec.keys.forEach((k, n) => {
                  if (k.column) expect(ix.keys[n]).toBe(k.column);
                  if (k.opclass) expect(ix.opclasses[n]).toBe(k.opclass);
                });
                if (spec.method === "gin-trgm") expect(ix.opclasses).toEqual(["gin_trgm_ops"]);
                if (spec.method === "gin-fts") {
                  expect(ix.keys[0]).toMatch(/^to_tsvector\('english'::regconfig, .*content_text/);
                }
                if (spec.method === "gin") expect(ix.opclasses).toEqual(["jsonb_ops"]);
              }
            }
            // The seed's index list, by kind, on the context table.
            const ctx = await indexesOf(admin, AI_CONTEXT_TABLE);
            const gin = ctx.filter((i) => i.am === "gin");
            expect(gin.filter((i) => i.opclasses[0] === "jsonb_ops").flatMap((i) => i.keys).sort())
              .toEqual(["content_data", "token_usage"]);
            expect(gin.some((i) => i.definition.includes("to_tsvector"))).toBe(true);
            expect(gin.some((i) => i.opclasses[0] === "gin_trgm_ops")).toBe(true);
            const btreeKeys = ctx.filter((i) => i.am === "btree").map((i) => i.keys.join(","));
            for (
              const k of ["process_instance_id,created_at", "task_id", "ai_provider,model_used"]
            ) expect(btreeKeys).toContain(k);
            expect(ctx.some((i) => i.keys[0] === "created_at")).toBe(true);
          },
        );

        await t.step("updated_at triggers exist", async () => {
          const rows = await admin`
            SELECT tgname, tgrelid::regclass::text AS table FROM pg_trigger
            WHERE NOT tgisinternal ORDER BY tgname`;
          expect(rows.map((r) => [r.tgname, r.table])).toEqual(
            AI_TRIGGERS.map((x) => [x.name, x.table]).sort((a, b) => a[0] < b[0] ? -1 : 1),
          );
        });

        await t.step(
          "the model table holds the spec's models, untouched by the re-run",
          async () => {
            const rows = await admin`
            SELECT provider, name, context_window, rate_limit_per_minute, enabled, parameters,
                   updated_at
            FROM procos_ai_models ORDER BY provider, name`;
            const expected = model.ai.providers.flatMap((p) =>
              p.models.map((m) => ({
                provider: p.name,
                name: m.name,
                context_window: m.context_window,
                rate_limit_per_minute: m.rate_limit_per_minute,
                enabled: true,
                parameters: {},
              }))
            );
            expect(rows.map(({ updated_at: _, ...r }) => r)).toEqual(expected);
            expect(rows[0].updated_at).toEqual(first.updated_at);
          },
        );

        user = connect(s.database, s.role);
        const db = user;

        await t.step(
          "the role stores 1 MB of text and 200 KB of JSONB without truncation",
          async () => {
            const content = bigText(1 << 20);
            expect(new TextEncoder().encode(content).length).toBeGreaterThanOrEqual(1 << 20);
            const blob = bigText(150 * 1024);
            const data = {
              kind: "response",
              nested: { blob, list: Array.from({ length: 4000 }, (_, i) => ({ i, w: `w${i}` })) },
              unicode: "ünïcödé 日本語 🚀 'q' \"dq\" \\bs",
              number: 1234567.125,
            };
            expect(JSON.stringify(data).length).toBeGreaterThan(200 * 1024);
            const usage = { prompt_tokens: 1200, completion_tokens: 250000 };
            const [ins] = await db`
            INSERT INTO procos_ai_context
              (process_instance_id, task_id, activity_id, context_type, content_data,
               content_text, ai_provider, model_used, token_usage)
            VALUES ('pi-1', 'task-1', 'Activity_Generate', 'output', ${db.json(data)},
                    ${content}, 'ollama', 'llama3.2:1b', ${db.json(usage)})
            RETURNING id, created_at, updated_at`;
            expect(ins.id).toMatch(/^[0-9a-f-]{36}$/);
            expect(ins.created_at).toBeInstanceOf(Date);
            const [back] = await db`
            SELECT content_text, content_data, token_usage,
                   octet_length(content_text) AS bytes,
                   encode(sha256(convert_to(content_text, 'UTF8')), 'hex') AS sha
            FROM procos_ai_context WHERE id = ${ins.id}`;
            expect(back.content_text === content).toBe(true);
            expect(back.bytes).toBe(new TextEncoder().encode(content).length);
            expect(back.sha).toBe(await sha256Hex(content));
            expect(back.content_data).toEqual(data);
            expect(back.content_data.nested.blob === blob).toBe(true);
            expect(back.token_usage).toEqual(usage);

            // The trigger stamps updated_at; the role may update and delete its rows.
            await db`UPDATE procos_ai_context SET updated_at = '2000-01-01Z' WHERE id = ${ins.id}`;
            const [upd] = await db`SELECT updated_at FROM procos_ai_context WHERE id = ${ins.id}`;
            expect(upd.updated_at.getTime()).toBeGreaterThan(Date.parse("2001-01-01Z"));

            // The CHECK on context_type.
            await expect(db`
            INSERT INTO procos_ai_context (process_instance_id, context_type, content_data)
            VALUES ('pi-1', 'bogus', '{}')`).rejects.toThrow(/context_type_check/);
          },
        );

        await t.step("the role can write model configuration and statistics", async () => {
          const [m] = await db`
            INSERT INTO procos_ai_models (provider, name, context_window, rate_limit_per_minute)
            VALUES ('ollama', 'extra:7b', 4096, 10) RETURNING id`;
          for (let i = 0; i < 2; i++) {
            await db`
              INSERT INTO procos_ai_model_stats AS s
                (model_id, bucket_start, request_count, prompt_tokens, completion_tokens,
                 total_latency_ms, truncated_count)
              VALUES (${m.id}, date_trunc('day', now()), 1, 100, 50, 300, 1)
              ON CONFLICT (model_id, bucket_width, bucket_start) DO UPDATE SET
                request_count = s.request_count + EXCLUDED.request_count,
                prompt_tokens = s.prompt_tokens + EXCLUDED.prompt_tokens,
                completion_tokens = s.completion_tokens + EXCLUDED.completion_tokens,
                total_latency_ms = s.total_latency_ms + EXCLUDED.total_latency_ms,
                truncated_count = s.truncated_count + EXCLUDED.truncated_count`;
          }
          const [st] = await db`
            SELECT request_count::int AS n, avg_latency_ms AS avg, truncated_count::int AS t
            FROM procos_ai_model_stats WHERE model_id = ${m.id}`;
          expect(st).toEqual({ n: 2, avg: 300, t: 2 });
          await db`DELETE FROM procos_ai_models WHERE id = ${m.id}`;
          const [gone] = await db`SELECT count(*)::int AS n FROM procos_ai_model_stats`;
          expect(gone.n).toBe(0);
        });

        await t.step("full-text, similarity and JSONB queries use their indexes", async () => {
          await db`
            INSERT INTO procos_ai_context
              (process_instance_id, task_id, context_type, content_data, content_text, created_at)
            SELECT 'pi-' || (i % 50), 'task-' || i, (ARRAY['input','output','system'])[1 + i % 3],
                   jsonb_build_object('i', i, 'tag', 'bulk'),
                   'row ' || i || ' ' || md5(i::text) || ' lorem ipsum dolor sit amet',
                   now() - i * interval '1 minute'
            FROM generate_series(1, 5000) AS i`;
          await db`
            INSERT INTO procos_ai_context
              (process_instance_id, context_type, content_data, content_text)
            VALUES ('pi-special', 'output', '{"tag": "special"}',
                    'The xylophone quartet rehearsed zyzzogeton harmonies')`;
          await db`ANALYZE procos_ai_context`;
          const plan = async (query: string, params: string[]) => {
            const rows = await db.unsafe(`EXPLAIN ${query}`, params);
            return rows.map((r) => r["QUERY PLAN"]).join("\n");
          };
          const fts = `SELECT id FROM procos_ai_context
                       WHERE ${AI_CONTEXT_FTS_DOCUMENT} @@ websearch_to_tsquery('english', $1)`;
          const trgm = `SELECT id FROM procos_ai_context WHERE content_text % $1`;
          const json = `SELECT id FROM procos_ai_context WHERE content_data @> $1::text::jsonb`;
          const ilike = `SELECT id FROM procos_ai_context WHERE content_text ILIKE $1`;
          // [query, parameter, index, chosen by the planner on its own]
          const cases: Array<[string, string, string, boolean]> = [
            [fts, "zyzzogeton", "procos_ai_context_content_fts", true],
            [
              trgm,
              "xylophone quartet rehearsed zyzzogeton harmony",
              "procos_ai_context_content_trgm",
              false,
            ],
            [ilike, "%ZYZZOGETON%", "procos_ai_context_content_trgm", false],
            [json, '{"tag": "special"}', "procos_ai_context_content_data_gin", false],
          ];
          for (const [query, param, index, natural] of cases) {
            const hits = await db.unsafe(query, [param]);
            expect({ query, hits: hits.length }).toEqual({ query, hits: 1 });
            // With 5000 analysed rows the planner picks the full-text index by itself; on so
            // small a table (about 130 pages) it prices a seq scan below the bitmap scans of
            // the trigram and JSONB indexes, swollen by the 1 MB and 200 KB rows.
            if (natural) expect(await plan(query, [param])).toContain(index);
          }
          // With sequential scans off, every one of them is served by its index.
          await db.begin(async (tx) => {
            await tx`SET LOCAL enable_seqscan = off`;
            for (const [query, param, index] of cases) {
              const rows = await tx.unsafe(`EXPLAIN ${query}`, [param]);
              expect(rows.map((r) => r["QUERY PLAN"]).join("\n")).toContain(index);
            }
          });
        });
      } finally {
        await user?.end();
        await admin.end();
      }
    });
  },
});

Deno.test("init-db.sql inside the postgres image: role and database exist, run as that role", async () => {
  await withScratch(async (s) => {
    const text = initSql(await scratchModel(s));
    // As /docker-entrypoint-initdb.d does: psql as POSTGRES_USER (a superuser) on POSTGRES_DB.
    await applySql(text, { user: s.role, database: s.database });
    await applySql(text, { user: s.role, database: s.database });
    const sql = connect(s.database, s.role);
    try {
      const rows = await sql`
        SELECT tablename, tableowner FROM pg_tables
        WHERE schemaname = 'public' ORDER BY tablename`;
      expect(rows.map((r) => [r.tablename, r.tableowner])).toEqual(
        AI_TABLES.map((x) => [x.name, s.role]).sort((a, b) => a[0] < b[0] ? -1 : 1),
      );
      const [m] = await sql`SELECT count(*)::int AS n FROM procos_ai_models WHERE enabled`;
      expect(m.n).toBe(1);
    } finally {
      await sql.end();
    }
  }, { create: true, superuser: true });
});

Deno.test("hostile names and values in the model stay data; the seed follows the spec", async () => {
  await withScratch(async (s) => {
    const model = await scratchModel(s);
    await applySql(initSql(model));

    const hostileModels = [
      {
        name: "x'); DROP TABLE procos_ai_models; --",
        context_window: 4096,
        rate_limit_per_minute: 5,
      },
      {
        name: "back\\slash 'q' \"dq\" ünï 🚀 $$ :x",
        context_window: 2048,
        rate_limit_per_minute: 7,
      },
    ];
    const hostile: StackModel = {
      ...model,
      ai: {
        ...model.ai,
        providers: [
          { name: "ev\"il\\prov'", service: "ollama", models: hostileModels },
          // The reference model again, with a new context window: updated in place.
          {
            name: "ollama",
            service: "ollama",
            models: [{ name: "llama3.2:1b", context_window: 16384, rate_limit_per_minute: 60 }],
          },
        ],
      },
    };
    await applySql(initSql(hostile));
    await applySql(initSql(hostile));
    // Without the reference model: it is disabled, not deleted.
    const fewer: StackModel = {
      ...hostile,
      ai: { ...hostile.ai, providers: [hostile.ai.providers[0]] },
    };
    await applySql(initSql(fewer));

    const sql = connect(s.database);
    try {
      const rows = await sql`
        SELECT provider, name, context_window, enabled FROM procos_ai_models ORDER BY id`;
      expect(rows.map((r) => ({ ...r }))).toEqual([
        { provider: "ollama", name: "llama3.2:1b", context_window: 16384, enabled: false },
        {
          provider: "ev\"il\\prov'",
          name: hostileModels[0].name,
          context_window: 4096,
          enabled: true,
        },
        {
          provider: "ev\"il\\prov'",
          name: hostileModels[1].name,
          context_window: 2048,
          enabled: true,
        },
      ]);
    } finally {
      await sql.end();
    }
  }, { suffix: `-"q'` });
});

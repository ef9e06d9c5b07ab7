/**
 * The postgres checks against the machine's real PostgreSQL: a throwaway
 * database and role get the real init script (out/sql/init-db.sql as the
 * compiler renders it), the checks are green; then the database is broken
 * one way at a time and exactly the check for that breaks, naming it.
 */
import { expect } from "expect";
import { emitSql } from "../../compiler/emit/sql.ts";
import type { StackModel } from "../../compiler/model.ts";
import { postgresChecks } from "../../verify/checks/postgres.ts";
import { postgresHealthCheck } from "../../verify/checks/services.ts";
import { PG, psql, withScratch } from "../helpers/pg.ts";
import { withTempDir } from "../helpers/build.ts";
import { byId, contextFor, failing, referenceModel, run, runAll } from "./helpers.ts";

async function modelFor(database: string, user: string): Promise<StackModel> {
  const model = await referenceModel();
  model.postgres.database = database;
  model.postgres.user = user;
  return model;
}

async function sh(database: string, command: string) {
  const r = await psql({ database, command });
  if (r.code !== 0) throw new Error(`${command}: ${r.stderr}`);
}

Deno.test("postgres checks: green on the init script, then each break fails exactly its check", async () => {
  await withScratch(async (s) => {
    const model = await modelFor(s.database, s.role);
    await withTempDir(async (dir) => {
      const file = `${dir}/init-db.sql`;
      await Deno.writeTextFile(file, emitSql(model)[0].content);
      const r = await psql({ file });
      if (r.code !== 0) throw new Error(`init-db.sql failed: ${r.stderr}`);
    });
    const ctx = await contextFor(model, { postgres: { host: PG.host, port: PG.port } });
    const checks = postgresChecks(model);
    expect(checks.length).toBeGreaterThan(15);

    const green = await runAll(checks, ctx);
    expect(failing(green)).toEqual([]);
    // The retention routines of compiler/ai_schema.ts (AI_RETENTION_FUNCTIONS) are checked.
    expect(green.has("postgres.retention")).toBe(false);
    expect(green.get("postgres.function.procos_apply_retention")).toEqual({ status: "pass" });
    expect(green.get("postgres.database")).toMatchObject({ status: "pass" });
    expect((await run(postgresHealthCheck(model), ctx)).status).toBe("pass");

    // 1. an index dropped
    const trgm = byId(checks, "postgres.index.procos_ai_context_content_trgm");
    expect(trgm.name).toBe(
      "postgres: index procos_ai_context_content_trgm uses gin_trgm_ops",
    );
    await sh(s.database, "DROP INDEX procos_ai_context_content_trgm");
    let now = await runAll(checks, ctx);
    expect(failing(now)).toEqual(["postgres.index.procos_ai_context_content_trgm"]);
    expect(now.get(trgm.id)).toMatchObject({
      status: "fail",
      expected: "gin (content_text gin_trgm_ops) on procos_ai_context",
      actual: "no such index",
    });

    // 2. a column widened and made nullable
    await sh(
      s.database,
      "ALTER TABLE procos_ai_context ALTER COLUMN process_instance_id TYPE varchar(4000), " +
        "ALTER COLUMN process_instance_id DROP NOT NULL",
    );
    now = await runAll(checks, ctx);
    expect(failing(now)).toEqual([
      "postgres.index.procos_ai_context_content_trgm",
      "postgres.table.procos_ai_context",
    ]);
    expect(now.get("postgres.table.procos_ai_context")).toMatchObject({
      status: "fail",
      expected: "process_instance_id character varying(64) NOT NULL",
      actual: "process_instance_id character varying(4000)",
    });

    // 3. an extension dropped
    await sh(s.database, "DROP EXTENSION pg_trgm");
    now = await runAll(checks, ctx);
    expect(failing(now)).toEqual([
      "postgres.extension.pg_trgm",
      "postgres.index.procos_ai_context_content_trgm",
      "postgres.table.procos_ai_context",
    ]);
    expect(now.get("postgres.extension.pg_trgm")).toMatchObject({
      status: "fail",
      expected: "extension pg_trgm",
      actual: "not installed",
    });
  });
});

Deno.test("postgres checks: an index with another method or operator class is named with the difference", async () => {
  await withScratch(async (s) => {
    const model = await modelFor(s.database, s.role);
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/i.sql`, emitSql(model)[0].content);
      const r = await psql({ file: `${dir}/i.sql` });
      if (r.code !== 0) throw new Error(r.stderr);
    });
    const ctx = await contextFor(model, { postgres: { host: PG.host, port: PG.port } });
    const checks = postgresChecks(model);
    await sh(
      s.database,
      "DROP INDEX procos_ai_context_content_trgm; " +
        "CREATE INDEX procos_ai_context_content_trgm ON procos_ai_context (content_text); " +
        "DROP INDEX procos_ai_context_content_data_gin; " +
        "CREATE INDEX procos_ai_context_content_data_gin ON procos_ai_context " +
        "USING gin (content_data jsonb_path_ops); " +
        "DROP INDEX procos_ai_context_content_fts; " +
        "CREATE INDEX procos_ai_context_content_fts ON procos_ai_context " +
        "USING gin (to_tsvector('simple', content_text))",
    );
    const now = await runAll(checks, ctx);
    expect(failing(now)).toEqual([
      "postgres.index.procos_ai_context_content_data_gin",
      "postgres.index.procos_ai_context_content_fts",
      "postgres.index.procos_ai_context_content_trgm",
    ]);
    const trgm = now.get("postgres.index.procos_ai_context_content_trgm");
    expect(trgm).toMatchObject({ status: "fail" });
    if (trgm?.status === "fail") {
      expect(trgm.actual).toContain("btree (content_text) on procos_ai_context");
      expect(trgm.actual).toContain("method btree, not gin");
      expect(trgm.actual).toContain("operator class text_ops, not gin_trgm_ops");
    }
    const gin = now.get("postgres.index.procos_ai_context_content_data_gin");
    if (gin?.status === "fail") {
      expect(gin.actual).toContain("operator class jsonb_path_ops, not the default");
    }
    const fts = now.get("postgres.index.procos_ai_context_content_fts");
    if (fts?.status === "fail") expect(fts.actual).toContain("key 1 is to_tsvector('simple'");
  });
});

Deno.test("postgres checks: a missing database fails the database check, not the role check", async () => {
  await withScratch(async (s) => {
    const model = await modelFor(s.database, s.role);
    await sh("postgres", `CREATE ROLE ${s.role} LOGIN`);
    const ctx = await contextFor(model, { postgres: { host: PG.host, port: PG.port } });
    const checks = postgresChecks(model);
    const db = await run(byId(checks, "postgres.database"), ctx);
    expect(db.status).toBe("fail");
    if (db.status === "fail") {
      expect(db.actual).toContain(`database "${s.database}" does not exist`);
      expect(db.hint).toContain("init-db.sql");
    }
    expect((await run(byId(checks, "postgres.role"), ctx)).status).toBe("pass");
    // no such role either: the role check says so
    const ghost = await modelFor(s.database, `${s.role}_none`);
    const r = await run(byId(postgresChecks(ghost), "postgres.role"), { ...ctx, model: ghost });
    expect(r.status).toBe("fail");
    if (r.status === "fail") expect(r.actual).toContain("does not exist (SQLSTATE 28000)");
  });
});

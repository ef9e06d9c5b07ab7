/**
 * The SQL emitter: renders `templates/init-db.sql.hbs` into
 * `out/sql/init-db.sql`, which creates the application role and database when
 * missing, the extensions, the AI tables, indexes and triggers of
 * `compiler/ai_schema.ts`, the retention routines compiled from
 * `ai.retention` (`templates/retention.sql.hbs`, see `./retention.ts`), hands
 * them to the application role, and seeds the model table from
 * `ai.providers`. It never holds a password.
 *
 * @module
 */
import type { Artifact } from "./artifact.ts";
import type { StackModel } from "../model.ts";
import {
  ACCESS_METHOD,
  AI_EXTENSIONS,
  AI_MODEL_NAME_MAX_CHARS,
  AI_MODELS_TABLE,
  AI_PROVIDER_MAX_CHARS,
  AI_TABLES,
  AI_TRIGGERS,
  UPDATED_AT_FUNCTION,
} from "../ai_schema.ts";
import { compileSqlTemplate, sqlFragment } from "../sql_quote.ts";
import { retentionSql } from "./retention.ts";
import type { SqlFragment, SqlTemplate } from "../sql_quote.ts";

/** Where the init script goes, relative to `out/`. */
export const INIT_DB_PATH = "sql/init-db.sql";

const TEMPLATE_DIR = new URL("../../templates/", import.meta.url);
const compiled = new Map<string, SqlTemplate>();

/** Loads and compiles a template of `templates/` once. */
function template(name: string): SqlTemplate {
  let t = compiled.get(name);
  if (!t) {
    t = compileSqlTemplate(Deno.readTextFileSync(new URL(name, TEMPLATE_DIR)), name);
    compiled.set(name, t);
  }
  return t;
}

const frag = (text: string | undefined): SqlFragment | null =>
  text === undefined ? null : sqlFragment(text);

/** One model row to seed, from `ai.providers[].models`. */
interface ModelRow {
  provider: string;
  name: string;
  contextWindow: number;
  rateLimitPerMinute: number;
}

/** The spec's models, de-duplicated by (provider, name), last one winning; spec order. */
function modelRows(model: StackModel): ModelRow[] {
  const rows = new Map<string, ModelRow>();
  for (const p of model.ai.providers) {
    for (const m of p.models) {
      if (p.name.length > AI_PROVIDER_MAX_CHARS) {
        throw new Error(
          `ai.providers: provider name ${JSON.stringify(p.name)} is longer than ` +
            `${AI_PROVIDER_MAX_CHARS} characters (procos_ai_context.ai_provider)`,
        );
      }
      if (m.name.length > AI_MODEL_NAME_MAX_CHARS) {
        throw new Error(
          `ai.providers.${p.name}: model name ${JSON.stringify(m.name)} is longer than ` +
            `${AI_MODEL_NAME_MAX_CHARS} characters (procos_ai_context.model_used)`,
        );
      }
      rows.set(JSON.stringify([p.name, m.name]), {
        provider: p.name,
        name: m.name,
        contextWindow: m.context_window,
        rateLimitPerMinute: m.rate_limit_per_minute,
      });
    }
  }
  return [...rows.values()];
}

/** The view `init-db.sql.hbs` renders: every field present (null when absent), for strict mode. */
function initDbView(model: StackModel): Record<string, unknown> {
  const models = modelRows(model);
  if (models.length === 0) throw new Error("ai.providers: no model to seed");
  return {
    project: model.project,
    profile: model.profile,
    specHash: model.specHash,
    database: model.postgres.database,
    user: model.postgres.user,
    extensions: [...AI_EXTENSIONS],
    tables: AI_TABLES.map((t) => {
      if (t.constraints.length === 0) throw new Error(`${t.name}: a table needs a primary key`);
      return {
        name: t.name,
        comment: t.comment,
        columns: t.columns.map((c) => ({
          name: c.name,
          type: sqlFragment(c.type),
          identity: c.identity ?? false,
          generated: frag(c.generated),
          default: frag(c.default),
          notNull: !c.nullable,
          comment: c.comment ?? null,
        })),
        constraints: t.constraints.map((k) => ({
          name: k.name,
          definition: sqlFragment(k.definition),
        })),
        indexes: t.indexes.map((i) => ({
          name: i.name,
          why: i.why,
          am: ACCESS_METHOD[i.method],
          with: frag(i.with),
          keys: i.keys.map((k) => {
            if ((k.column === undefined) === (k.expression === undefined)) {
              throw new Error(`${i.name}: a key is a column or an expression`);
            }
            return {
              column: k.column ?? null,
              expression: frag(k.expression),
              opclass: k.opclass ?? null,
            };
          }),
        })),
      };
    }),
    touchFunction: UPDATED_AT_FUNCTION,
    triggers: AI_TRIGGERS.map((t) => ({ name: t.name, table: t.table, function: t.function })),
    modelsTable: AI_MODELS_TABLE,
    models,
    // Rendered with the same quoting helpers by its own template.
    retention: sqlFragment(retentionSql(model)),
  };
}

/**
 * Emits `sql/init-db.sql`. Pure apart from reading its template; the output
 * depends only on the model (no timestamp), and holds no password.
 */
export function emitSql(model: StackModel): Artifact[] {
  const content = template("init-db.sql.hbs")(initDbView(model));
  return [{ path: INIT_DB_PATH, content, mode: 0o644 }];
}

/**
 * Reachability and health, the equivalents of the stack's health checks:
 * every service's port accepts TCP, PostgreSQL answers `SELECT 1` as the
 * spec's user (pg_isready), Camunda lists its `default` engine, Redis answers
 * PING, RabbitMQ's management API answers `/api/overview`, Ollama lists its
 * models.
 *
 * @module
 */
import type { StackModel } from "../../compiler/model.ts";
import type { Check, RunContext, VerifyContext } from "../check.ts";
import { errorMessage, fail, pass } from "../check.ts";
import { describeStatus, httpRequest, jsonOf } from "../clients/http.ts";
import { sqlState, withPg } from "../clients/pg.ts";
import { RedisError, withRedis } from "../clients/redis.ts";
import { tcpProbe } from "../clients/tcp.ts";
import { hostPortOfUrl } from "../targets.ts";
import { camundaAuth } from "./camunda.ts";
import { managementAuth } from "./rabbitmq.ts";

/** One TCP endpoint to probe. */
interface Endpoint {
  key: string;
  service: string;
  what: string;
  host: string;
  port: number;
}

function endpoints(model: StackModel, ctx: VerifyContext): Endpoint[] {
  const t = ctx.targets;
  const mgmt = hostPortOfUrl(t.rabbitmq.managementUrl);
  const ca = hostPortOfUrl(t.camunda.url);
  const ol = hostPortOfUrl(t.ollama.url);
  return [
    { key: "postgres", service: model.postgres.service, what: "", ...t.postgres },
    { key: "redis", service: model.redis.service, what: "", ...t.redis },
    {
      key: "rabbitmq.amqp",
      service: model.rabbitmq.service,
      what: " (AMQP)",
      host: t.rabbitmq.host,
      port: t.rabbitmq.port,
    },
    { key: "rabbitmq.management", service: model.rabbitmq.service, what: " (management)", ...mgmt },
    { key: "camunda", service: model.camunda.service, what: "", ...ca },
    { key: "ollama", service: model.ollama.service, what: "", ...ol },
  ];
}

/** A TCP check for one endpoint. */
export function tcpCheck(e: Endpoint): Check {
  const addr = `${e.host.includes(":") ? `[${e.host}]` : e.host}:${e.port}`;
  return {
    id: `services.tcp.${e.key}`,
    domain: "services",
    name: `services: ${e.service}${e.what} accepts TCP on ${addr}`,
    run: async (ctx: RunContext) => {
      try {
        await tcpProbe(e.host, e.port, ctx.signal);
        return pass();
      } catch (err) {
        return fail(
          `a listener on ${addr}`,
          errorMessage(err),
          `start the stack, or point verify at it (see verify/targets.ts: --target, PROCOS_*_URL)`,
        );
      }
    },
  };
}

/** PostgreSQL answers `SELECT 1` as the spec's user on the spec's database. */
export function postgresHealthCheck(model: StackModel): Check {
  const { user, database } = model.postgres;
  return {
    id: "services.health.postgres",
    domain: "services",
    name: `services: postgres answers SELECT 1 as ${user} on ${database}`,
    run: async (ctx) => {
      const t = ctx.targets.postgres;
      try {
        const rows = await withPg(
          {
            ...t,
            database,
            user,
            password: ctx.model.postgres.password,
            signal: ctx.signal,
            pools: ctx.pools,
          },
          (sql) => sql`SELECT 1 AS one`,
        );
        return rows[0]?.one === 1
          ? pass()
          : fail("SELECT 1 returns 1", JSON.stringify(rows.slice(0, 1)));
      } catch (e) {
        const code = sqlState(e);
        return fail(
          `a session as ${user} on database ${database}`,
          code ? `${errorMessage(e)} (SQLSTATE ${code})` : errorMessage(e),
          code === "28P01"
            ? "the password differs from the spec's secret postgres_password (set it, or its env var)"
            : code === "3D000"
            ? "the database was not created: was the init script run?"
            : undefined,
        );
      }
    },
  };
}

/** Camunda's `GET /engine-rest/engine` lists the `default` engine. */
export function camundaHealthCheck(): Check {
  return {
    id: "services.health.camunda",
    domain: "services",
    name: "services: camunda GET /engine-rest/engine lists 'default'",
    run: async (ctx) => {
      const res = await httpRequest(`${ctx.targets.camunda.url}/engine-rest/engine`, {
        auth: camundaAuth(ctx.model),
        signal: ctx.signal,
      });
      if (res.status !== 200) return fail("HTTP 200", describeStatus(res));
      const engines = jsonOf<{ name?: string }[]>(res);
      const names = Array.isArray(engines) ? engines.map((e) => e.name) : [];
      return names.includes("default")
        ? pass()
        : fail("an engine named 'default'", `engines: ${JSON.stringify(names)}`);
    },
  };
}

/** Redis answers PING with PONG (after AUTH when the spec sets `auth`). */
export function redisHealthCheck(model: StackModel): Check {
  return {
    id: "services.health.redis",
    domain: "services",
    name: `services: redis answers PING${model.redis.auth ? " after AUTH" : ""}`,
    run: (ctx) =>
      withRedis({ ...ctx.targets.redis, signal: ctx.signal }, async (c) => {
        if (ctx.model.redis.auth) {
          const a = await c.command("AUTH", ctx.model.redis.password);
          if (a instanceof RedisError) {
            return fail("AUTH with the spec's password: OK", a.message, "check redis_password");
          }
        }
        const r = await c.command("PING");
        if (r === "PONG") return pass();
        return fail(
          "PONG",
          r instanceof RedisError ? r.message : JSON.stringify(r),
          r instanceof RedisError && r.code === "NOAUTH"
            ? "Redis requires a password but the spec says auth: false"
            : undefined,
        );
      }),
  };
}

/** RabbitMQ's management API answers `GET /api/overview` as the spec's user. */
export function rabbitmqHealthCheck(model: StackModel): Check {
  return {
    id: "services.health.rabbitmq",
    domain: "services",
    name: `services: rabbitmq management API answers /api/overview as ${model.rabbitmq.user}`,
    run: async (ctx) => {
      const res = await httpRequest(`${ctx.targets.rabbitmq.managementUrl}/api/overview`, {
        auth: managementAuth(ctx.model),
        signal: ctx.signal,
      });
      if (res.status !== 200) {
        return fail(
          "HTTP 200",
          describeStatus(res),
          res.status === 401
            ? "the user or its password differs from the spec (rabbitmq_password)"
            : undefined,
        );
      }
      const o = jsonOf<{ rabbitmq_version?: string; management_version?: string }>(res);
      return pass(`RabbitMQ ${o.rabbitmq_version ?? o.management_version ?? "?"}`);
    },
  };
}

/** Ollama answers `GET /api/tags`. */
export function ollamaHealthCheck(): Check {
  return {
    id: "services.health.ollama",
    domain: "services",
    name: "services: ollama GET /api/tags answers",
    run: async (ctx) => {
      const res = await httpRequest(`${ctx.targets.ollama.url}/api/tags`, { signal: ctx.signal });
      if (res.status !== 200) return fail("HTTP 200", describeStatus(res));
      const body = jsonOf<{ models?: unknown }>(res);
      return Array.isArray(body.models)
        ? pass(`${body.models.length} model(s)`)
        : fail("a JSON object with a models list", res.text.slice(0, 160));
    },
  };
}

/** The services domain: TCP on every endpoint, then each service's health. */
export function servicesChecks(model: StackModel, ctx: VerifyContext): Check[] {
  return [
    ...endpoints(model, ctx).map(tcpCheck),
    postgresHealthCheck(model),
    camundaHealthCheck(),
    redisHealthCheck(model),
    rabbitmqHealthCheck(model),
    ollamaHealthCheck(),
  ].map((c) => ({ ...c, retry: RESTARTING }));
}

/**
 * A service being restarted refuses connections for a moment: a failure of
 * these checks is tried once more, half a second later, before it counts.
 */
export const RESTARTING = { count: 1, delayMs: 500 } as const;

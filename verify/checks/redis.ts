/**
 * Redis: persistence as the spec configures it (`CONFIG GET appendonly` and
 * `save`), the eviction policy, and authentication (a client without AUTH is
 * refused with NOAUTH when the spec sets `auth`, served when it does not).
 *
 * @module
 */
import type { StackModel } from "../../compiler/model.ts";
import type { Check, Result, RunContext } from "../check.ts";
import { fail, pass, skip } from "../check.ts";
import type { RedisConnection } from "../clients/redis.ts";
import { configGet, RedisError, withRedis } from "../clients/redis.ts";

/** `CONFIG GET name`: the value, or an error (a setting the server lacks is one too). */
async function setting(c: RedisConnection, name: string): Promise<string | RedisError> {
  return (await configGet(c, name)) ?? new RedisError(`ERR no config parameter ${name}`);
}

/** Opens a session (with AUTH when the spec sets it) and runs `fn`. */
function session(ctx: RunContext, fn: (c: RedisConnection) => Promise<Result>): Promise<Result> {
  return withRedis({ ...ctx.targets.redis, signal: ctx.signal }, async (c) => {
    if (ctx.model.redis.auth) {
      const a = await c.command("AUTH", ctx.model.redis.password);
      if (a instanceof RedisError) {
        return fail("AUTH with the spec's password: OK", a.message, "check secret redis_password");
      }
    }
    return await fn(c);
  });
}

/** CONFIG disabled (renamed away) is a skip, other errors a failure. */
function configError(e: RedisError, what: string): Result {
  return /unknown command|renamed/i.test(e.message)
    ? skip(`CONFIG is disabled on this server; cannot read ${what}`)
    : fail(`CONFIG GET ${what}`, e.message);
}

/** What `appendonly` and `save` are for each persistence mode. */
export function expectedPersistence(p: StackModel["redis"]["persistence"]): string {
  switch (p) {
    case "aof":
      return "appendonly yes";
    case "rdb":
      return "appendonly no, save <a snapshot schedule>";
    case "none":
      return 'appendonly no, save ""';
  }
}

/** Persistence matches `cache.persistence`. */
export function persistenceCheck(model: StackModel): Check {
  const p = model.redis.persistence;
  return {
    id: "redis.persistence",
    domain: "redis",
    name: `redis: persistence is ${p} (${expectedPersistence(p)})`,
    run: (ctx) =>
      session(ctx, async (c) => {
        const aof = await setting(c, "appendonly");
        if (aof instanceof RedisError) return configError(aof, "appendonly");
        const save = await setting(c, "save");
        if (save instanceof RedisError) return configError(save, "save");
        const actual = `appendonly ${aof}, save ${JSON.stringify(save)}`;
        const ok = p === "aof"
          ? aof === "yes"
          : p === "rdb"
          ? aof === "no" && save.trim() !== ""
          : aof === "no" && save.trim() === "";
        return ok ? pass(actual) : fail(
          `persistence ${p}: ${expectedPersistence(p)}`,
          actual,
          "Redis is not running with out/redis/redis.conf (persistence lost on restart?)",
        );
      }),
  };
}

/** `maxmemory-policy` matches `cache.maxmemory_policy`. */
export function maxmemoryPolicyCheck(model: StackModel): Check {
  const want = model.redis.maxmemoryPolicy;
  return {
    id: "redis.maxmemory-policy",
    domain: "redis",
    name: `redis: maxmemory-policy is ${want}`,
    run: (ctx) =>
      session(ctx, async (c) => {
        const v = await setting(c, "maxmemory-policy");
        if (v instanceof RedisError) return configError(v, "maxmemory-policy");
        return v === want
          ? pass()
          : fail(`maxmemory-policy ${want}`, `maxmemory-policy ${v}`, "see out/redis/redis.conf");
      }),
  };
}

/** Without AUTH, PING is refused (`auth: true`) or answered (`auth: false`). */
export function authCheck(model: StackModel): Check {
  const required = model.redis.auth;
  return {
    id: "redis.auth",
    domain: "redis",
    name: required
      ? "redis: a client without AUTH is refused (NOAUTH)"
      : "redis: no password required (auth: false)",
    run: (ctx) =>
      withRedis({ ...ctx.targets.redis, signal: ctx.signal }, async (c) => {
        const r = await c.command("PING");
        const actual = r instanceof RedisError ? r.message : String(r);
        if (required) {
          return r instanceof RedisError && r.code === "NOAUTH" ? pass() : fail(
            "PING without AUTH refused with NOAUTH",
            actual,
            "start Redis with --requirepass (the spec sets cache.auth: true)",
          );
        }
        return r === "PONG" ? pass() : fail(
          "PING without AUTH answered PONG",
          actual,
          "Redis asks for a password but the spec says cache.auth: false: workers send none",
        );
      }),
  };
}

/** The redis domain. */
export function redisChecks(model: StackModel): Check[] {
  return [persistenceCheck(model), maxmemoryPolicyCheck(model), authCheck(model)];
}

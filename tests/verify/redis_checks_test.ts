/**
 * The redis checks against real Redis servers: the machine's (127.0.0.1:6379,
 * no password, no persistence, read only here) and throwaway ones this test
 * starts with a password and AOF.
 */
import { expect } from "expect";
import type { StackModel } from "../../compiler/model.ts";
import { redisChecks } from "../../verify/checks/redis.ts";
import { redisHealthCheck } from "../../verify/checks/services.ts";
import { configGet, withRedis } from "../../verify/clients/redis.ts";
import { byId, contextFor, referenceModel, run, startRedis } from "./helpers.ts";

const MACHINE = { host: "127.0.0.1", port: 6379 };

/** The persistence mode the machine's Redis is in now. */
async function machinePersistence(): Promise<StackModel["redis"]["persistence"]> {
  return await withRedis(MACHINE, async (c) => {
    const aof = await configGet(c, "appendonly");
    const save = await configGet(c, "save");
    if (typeof aof !== "string") throw aof ?? new Error("no setting appendonly");
    if (typeof save !== "string") throw save ?? new Error("no setting save");
    return aof === "yes" ? "aof" : save.trim() === "" ? "none" : "rdb";
  });
}

async function machineModel(mutate: (r: StackModel["redis"]) => void) {
  const model = await referenceModel();
  mutate(model.redis);
  return { model, ctx: await contextFor(model, { redis: MACHINE }) };
}

Deno.test("redis checks: persistence aof fails against a server without AOF, with expected/actual", async () => {
  const live = await machinePersistence();
  const wrong = live === "aof" ? "none" : "aof";
  const { model, ctx } = await machineModel((r) => {
    r.persistence = wrong;
  });
  const r = await run(byId(redisChecks(model), "redis.persistence"), ctx);
  expect(r.status).toBe("fail");
  if (r.status === "fail") {
    expect(r.expected).toBe(
      wrong === "aof"
        ? "persistence aof: appendonly yes"
        : 'persistence none: appendonly no, save ""',
    );
    expect(r.actual).toMatch(/^appendonly (yes|no), save ".*"$/);
  }
  // the mode it is in passes
  const ok = await machineModel((x) => {
    x.persistence = live;
  });
  expect((await run(byId(redisChecks(ok.model), "redis.persistence"), ok.ctx)).status).toBe("pass");
});

Deno.test("redis checks: maxmemory-policy compares with the server's", async () => {
  const live = await withRedis(MACHINE, (c) => configGet(c, "maxmemory-policy"));
  if (typeof live !== "string") throw live ?? new Error("no setting maxmemory-policy");
  const other = live === "allkeys-lfu" ? "volatile-ttl" : "allkeys-lfu";
  const bad = await machineModel((r) => {
    r.maxmemoryPolicy = other;
  });
  expect(await run(byId(redisChecks(bad.model), "redis.maxmemory-policy"), bad.ctx)).toMatchObject({
    status: "fail",
    expected: `maxmemory-policy ${other}`,
    actual: `maxmemory-policy ${live}`,
  });
  const good = await machineModel((r) => {
    r.maxmemoryPolicy = live;
  });
  expect((await run(byId(redisChecks(good.model), "redis.maxmemory-policy"), good.ctx)).status)
    .toBe("pass");
});

Deno.test("redis checks: auth required by the spec fails against a server without a password", async () => {
  const { model, ctx } = await machineModel((r) => {
    r.auth = true;
  });
  expect(await run(byId(redisChecks(model), "redis.auth"), ctx)).toMatchObject({
    status: "fail",
    expected: "PING without AUTH refused with NOAUTH",
    actual: "PONG",
  });
  const open = await machineModel((r) => {
    r.auth = false;
  });
  expect((await run(byId(redisChecks(open.model), "redis.auth"), open.ctx)).status).toBe("pass");
  expect((await run(redisHealthCheck(open.model), open.ctx)).status).toBe("pass");
});

Deno.test("redis checks: a password-protected AOF server conforms to a spec saying so", async () => {
  const password = "verify-redis-secret";
  const server = await startRedis([
    "--requirepass",
    password,
    "--appendonly",
    "yes",
    "--save",
    "",
    "--maxmemory-policy",
    "allkeys-lru",
  ]);
  try {
    const model = await referenceModel();
    Object.assign(model.redis, {
      auth: true,
      password,
      persistence: "aof",
      maxmemoryPolicy: "allkeys-lru",
    });
    const ctx = await contextFor(model, { redis: { host: "127.0.0.1", port: server.port } });
    for (const c of [...redisChecks(model), redisHealthCheck(model)]) {
      expect({ id: c.id, result: await run(c, ctx) }).toMatchObject({
        id: c.id,
        result: { status: "pass" },
      });
    }
    // the spec says no auth: the server asking for one fails both ways round
    const open = structuredClone(model);
    open.redis.auth = false;
    const r = await run(byId(redisChecks(open), "redis.auth"), ctx);
    expect(r).toMatchObject({ status: "fail", expected: "PING without AUTH answered PONG" });
    if (r.status === "fail") expect(r.actual).toMatch(/^NOAUTH/);
    // a wrong password fails the health check, and the secret is never in the result
    const wrong = structuredClone(model);
    wrong.redis.password = "not-the-password";
    const h = await run(redisHealthCheck(wrong), { ...ctx, model: wrong });
    expect(h.status).toBe("fail");
    expect(JSON.stringify(h)).not.toContain("not-the-password");
  } finally {
    await server.stop();
  }
});

/**
 * The generated redis.conf, run by a real `redis-server` on a free port in a
 * temporary directory, read back with CONFIG GET.
 *
 * @module
 */
import { expect } from "expect";
import { loadSpec } from "../../compiler/load_spec.ts";
import { buildModel } from "../../compiler/model.ts";
import type { StackModel } from "../../compiler/model.ts";
import type { ProfileName } from "../../compiler/schema.ts";
import { emitRedis } from "../../compiler/emit/redis.ts";
import { connectRedis, RedisError } from "../../verify/clients/redis.ts";
import type { RedisConnection, RespValue } from "../../verify/clients/redis.ts";

const SPEC = new URL("../../procos.config.yaml", import.meta.url).pathname;

/** Production secrets, all different from the spec's development defaults. */
const PRODUCTION_ENV = {
  PROCOS_POSTGRES_PASSWORD: "pg-Secret-7f3a91",
  PROCOS_POSTGRES_SUPERUSER_PASSWORD: "su-Secret-3d4e5f",
  PROCOS_RABBITMQ_PASSWORD: "mq-Secret-2c8e44",
  PROCOS_REDIS_PASSWORD: "rd-Secret-9b1d07",
  PROCOS_CAMUNDA_ADMIN_PASSWORD: "ca-Secret-5e6f12",
};

async function model(profile: ProfileName): Promise<StackModel> {
  return buildModel(
    await loadSpec(SPEC, { profile, env: profile === "production" ? PRODUCTION_ENV : {} }),
  );
}

function redisConf(m: StackModel): string {
  const artifacts = emitRedis(m);
  expect(artifacts.map((a) => a.path)).toEqual(["redis/redis.conf"]);
  return artifacts[0].content;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

interface RunningRedis {
  port: number;
  dir: string;
}

/**
 * Runs `redis-server` with `conf` (its `dir` and `port` rewritten to a temp
 * dir and a free port, and bound to loopback only), plus `args` as Compose
 * would pass them; then calls `body`; always stops the server and removes
 * the directory.
 */
async function withRedis(
  conf: string,
  args: string[],
  body: (r: RunningRedis) => Promise<void>,
): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "procos_redis_test_" }));
  const port = freePort();
  const rewritten = conf
    .replace(/^dir .*$/m, `dir ${dir}`)
    .replace(/^port .*$/m, `port ${port}`)
    .replace(/^bind .*$/m, "bind 127.0.0.1");
  const confPath = `${dir}/redis.conf`;
  await Deno.writeTextFile(confPath, rewritten);
  const child = new Deno.Command("redis-server", {
    args: [confPath, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let log = "";
  const drain = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) log += chunk;
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (exited) throw new Error(`redis-server exited at start:\n${log}`);
      try {
        const c = await connectRedis({ host: "127.0.0.1", port });
        const pong = await c.command("PING");
        c.close();
        if (pong === "PONG" || pong instanceof RedisError) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`redis-server did not answer:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await body({ port, dir });
  } finally {
    if (!exited) child.kill("SIGTERM");
    await status;
    await drained;
    await Deno.remove(dir, { recursive: true });
  }
}

async function configGet(c: RedisConnection, name: string): Promise<RespValue> {
  const r = await c.command("CONFIG", "GET", name);
  if (!Array.isArray(r) || r.length !== 2) throw new Error(`CONFIG GET ${name}: ${r}`);
  return r[1];
}

Deno.test("development redis.conf runs: AOF, maxmemory 75% of 512m, policy, dir", async () => {
  const m = await model("development");
  const conf = redisConf(m);
  expect(m.redis.auth).toBe(false);
  expect(conf).toMatch(/^bind 0\.0\.0\.0$/m);
  expect(conf).toMatch(/^dir \/data$/m);
  expect(conf).not.toMatch(/^\s*requirepass/m);
  await withRedis(conf, [], async ({ port, dir }) => {
    const c = await connectRedis({ host: "127.0.0.1", port });
    try {
      expect(await configGet(c, "appendonly")).toBe("yes");
      expect(await configGet(c, "appendfsync")).toBe("everysec");
      expect(await configGet(c, "save")).toBe("");
      expect(await configGet(c, "maxmemory")).toBe(String(Math.floor(512 * 1024 * 1024 * 0.75)));
      expect(await configGet(c, "maxmemory")).toBe("402653184");
      expect(await configGet(c, "maxmemory-policy")).toBe("allkeys-lru");
      expect(await configGet(c, "dir")).toBe(dir);
      expect(await configGet(c, "protected-mode")).toBe("no");
      expect(await configGet(c, "requirepass")).toBe("");
      expect(await c.command("SET", "procos:test", "1")).toBe("OK");
    } finally {
      c.close();
    }
  });
});

Deno.test("production redis.conf runs with --requirepass: NOAUTH without, PONG with", async () => {
  const m = await model("production");
  const conf = redisConf(m);
  expect(m.redis.auth).toBe(true);
  expect(conf).not.toContain(PRODUCTION_ENV.PROCOS_REDIS_PASSWORD);
  for (const v of Object.values(PRODUCTION_ENV)) expect(conf).not.toContain(v);
  expect(conf).not.toMatch(/^\s*requirepass/m);
  // As the Compose command does: --requirepass "$REDIS_PASSWORD".
  const password = "x";
  await withRedis(conf, ["--requirepass", password], async ({ port }) => {
    const c = await connectRedis({ host: "127.0.0.1", port });
    try {
      const denied = await c.command("PING");
      expect(denied).toBeInstanceOf(RedisError);
      expect((denied as RedisError).message).toMatch(/^NOAUTH/);
      const wrong = await c.command("AUTH", "not-the-password");
      expect(wrong).toBeInstanceOf(RedisError);
      expect(await c.command("AUTH", password)).toBe("OK");
      expect(await c.command("PING")).toBe("PONG");
      expect(await configGet(c, "maxmemory")).toBe(String(1024 * 1024 * 1024 * 0.75));
      expect(await configGet(c, "maxmemory-policy")).toBe("allkeys-lru");
      expect(await configGet(c, "appendonly")).toBe("yes");
      expect(await configGet(c, "protected-mode")).toBe("yes");
    } finally {
      c.close();
    }
  });
});

Deno.test("persistence rdb and none run as written", async () => {
  const m = await model("development");
  const cases = [
    { persistence: "rdb", save: "3600 1 300 100 60 10000", appendonly: "no" },
    { persistence: "none", save: "", appendonly: "no" },
  ] as const;
  for (const k of cases) {
    const conf = redisConf({ ...m, redis: { ...m.redis, persistence: k.persistence } });
    await withRedis(conf, [], async ({ port }) => {
      const c = await connectRedis({ host: "127.0.0.1", port });
      try {
        expect(await configGet(c, "save")).toBe(k.save);
        expect(await configGet(c, "appendonly")).toBe(k.appendonly);
      } finally {
        c.close();
      }
    });
  }
});

Deno.test("maxmemory follows the policy and the redis service's memory limit", async () => {
  const m = await model("development");
  const services = m.services.map((s) =>
    s.name === m.redis.service ? { ...s, resources: { cpus: 1, memory: "2g" } } : s
  );
  const conf = redisConf({
    ...m,
    services,
    redis: { ...m.redis, maxmemoryPolicy: "volatile-ttl" },
  });
  expect(conf).toMatch(/^maxmemory 1610612736$/m);
  expect(conf).toMatch(/^maxmemory-policy volatile-ttl$/m);
});

Deno.test("redis.conf is byte-stable", async () => {
  const a = redisConf(await model("production"));
  const b = redisConf(await model("production"));
  expect(a).toBe(b);
});

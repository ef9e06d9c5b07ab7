/**
 * One verify run shares its PostgreSQL connections: many checks' queries on
 * the machine's real PostgreSQL open no more than the pool's connections,
 * and closing the run's pools leaves none behind.
 */
import { expect } from "expect";
import { PgPools, withPg } from "../../verify/clients/pg.ts";

const SERVER = {
  host: "127.0.0.1",
  port: 5432,
  database: "postgres",
  user: "postgres",
  password: "",
};
const NAME = `procos-pools-${crypto.randomUUID().slice(0, 8)}`;

async function verifySessions(): Promise<number> {
  const rows = await withPg(
    SERVER,
    (sql) =>
      sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'procos-verify'
          AND query LIKE ${`%${NAME}%`}`,
  );
  return rows[0].n;
}

Deno.test("pg pools: 20 queries of one run share at most 2 connections, all closed after", async () => {
  const pools = new PgPools();
  try {
    const pids = await Promise.all(
      Array.from({ length: 20 }, () =>
        withPg({ ...SERVER, pools }, async (sql) => {
          const [r] = await sql.unsafe(`SELECT pg_backend_pid() AS pid, '${NAME}' AS tag`);
          return r.pid as number;
        })),
    );
    expect(new Set(pids).size).toBeLessThanOrEqual(2);
    expect(pools.size).toBe(1);
  } finally {
    await pools.close();
  }
  expect(pools.size).toBe(0);
  expect(await verifySessions()).toBe(0);
});

/**
 * After a benchmark's stack: `down --purge`, then the machine checked to be
 * as found (no process, database, role, vhost or user of the stack left, the
 * Redis settings as before, the engine's port free), fixing what is not.
 *
 * @module
 */
import { isRunning, portOpen } from "../runtime/procs.ts";
import {
  killLeftovers,
  pgState,
  psql,
  rabbit,
  rabbitState,
  redisSet,
  redisSnapshot,
  runDeno,
} from "../tests/fixtures/stack/machine.ts";

/** What {@link leaveAsFound} cleans up after. */
export interface StackLeftovers {
  /** Whether `up` ran (then `down --purge` runs). */
  upRan: boolean;
  out: string;
  env: Record<string, string>;
  /** The engine process `up` started, if any. */
  camundaProc?: { pid: number; startTime: number };
  /** The stack's unique name (database, role, vhost, user). */
  name: string;
  camundaPort: number;
  /** `redisSnapshot()` before the stack came up. */
  redisBefore: Awaited<ReturnType<typeof redisSnapshot>>;
}

/** Tears the stack down and puts the machine back; returns what was not as found. */
export async function leaveAsFound(s: StackLeftovers): Promise<string[]> {
  const { upRan, out, env, camundaProc, redisBefore } = s;
  const spec = { name: s.name, camundaPort: s.camundaPort };
  const problems: string[] = [];
  if (upRan) {
    const r = await runDeno("runtime/cli.ts", ["down", "--purge", "--out", out], env)
      .catch((e) => ({ code: -1, stdout: "", stderr: String(e) }));
    if (r.code !== 0) problems.push(`down --purge exited ${r.code}: ${r.stdout}${r.stderr}`);
  }
  const killed = await killLeftovers(out);
  if (killed.length) problems.push(`killed leftover pid(s) ${killed.join(", ")}`);
  if (camundaProc && isRunning(camundaProc.pid, camundaProc.startTime)) {
    problems.push(`camunda (pid ${camundaProc.pid}) still ran after down; killed`);
    try {
      Deno.kill(camundaProc.pid, "SIGKILL");
    } catch { /* gone */ }
  }
  const pg = await pgState(spec.name).catch(() => ({ database: true, role: true }));
  if (pg.database) {
    problems.push(`database ${spec.name} was left; dropped`);
    await psql(`DROP DATABASE IF EXISTS "${spec.name}" WITH (FORCE)`).catch(() => {});
  }
  if (pg.role) {
    problems.push(`role ${spec.name} was left; dropped`);
    await psql(`DROP ROLE IF EXISTS "${spec.name}"`).catch(() => {});
  }
  const mq = await rabbitState(spec.name).catch(() => ({ vhost: true, user: true }));
  if (mq.vhost || mq.user) {
    problems.push(`RabbitMQ ${JSON.stringify(mq)} was left for ${spec.name}; deleted`);
    for (const p of [`/vhosts/${spec.name}`, `/users/${spec.name}`]) {
      await rabbit("DELETE", p).then((r) => r.body?.cancel()).catch(() => {});
    }
  }
  const redisAfter = await redisSnapshot().catch(() => undefined);
  if (JSON.stringify(redisAfter) !== JSON.stringify(redisBefore)) {
    problems.push(
      `Redis settings not restored (before ${JSON.stringify(redisBefore)}, after ${
        JSON.stringify(redisAfter)
      }); set back`,
    );
    for (const [k, v] of Object.entries(redisBefore)) {
      if (k !== "requirepass") await redisSet(k, v).catch(() => {});
    }
  }
  if (await portOpen("127.0.0.1", spec.camundaPort)) {
    problems.push(`something still listens on ${spec.camundaPort}`);
  }
  return problems;
}

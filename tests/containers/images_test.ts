/**
 * The stand-in images (tests/images/, `deno task images`) and the worker
 * image, run for real with podman: the behaviour of the official images that
 * ProcOS relies on and that a stand-in could get wrong.
 *
 * - postgres: the first start creates the POSTGRES_USER superuser, the
 *   POSTGRES_DB database and runs /docker-entrypoint-initdb.d (and refuses
 *   to initialise without POSTGRES_PASSWORD); a password
 *   login over TCP works and a wrong one fails; a second start on the same
 *   volume does not run the init files again and keeps the old password.
 * - redis: started as root with the production capabilities and ProcOS's
 *   command, the server runs as `redis`, and the included auth file works.
 * - rabbitmq: the node name follows `--hostname`; a durable queue survives
 *   a new container on the same hostname and volume; ProcOS's command and
 *   files (definitions, rabbitmq.conf, enabled_plugins) load.
 * - ollama: `ollama list` (the health check) answers.
 * - worker: a read-only container without network and capabilities loads
 *   every module of a worker (then stops for lack of a manifest).
 *
 * Every container and volume has a unique name and is removed at the end.
 * Images are built when missing or stale (a second run reuses them). Ignored
 * only when podman cannot be set up at all (the reason is printed), or with
 * PROCOS_SKIP_CONTAINERS=1.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureImage, formatResult, IMAGES, parseEnvLines } from "../../runtime/images.ts";
import { emitRabbitmq } from "../../compiler/emit/rabbitmq.ts";
import { RABBITMQ_COMMAND } from "../../compiler/model.ts";
import { freePort, referenceModel } from "../verify/helpers.ts";
import { type Ran, SETUP, sh, sleep, tail } from "./podman.ts";

/** The podman environment, or why there is none. */
async function setUp(): Promise<{ env?: Record<string, string>; reason?: string }> {
  if (Deno.env.get("PROCOS_SKIP_CONTAINERS") === "1") {
    return { reason: "PROCOS_SKIP_CONTAINERS=1" };
  }
  try {
    const r = await sh(["bash", SETUP, "up"], { timeoutMs: 15 * 60_000 });
    if (r.code === 0) return { env: parseEnvLines(r.stdout) };
    return { reason: `tools/podman-setup.sh up failed (exit ${r.code}): ${tail(r, 5)}` };
  } catch (e) {
    return { reason: `tools/podman-setup.sh cannot run: ${(e as Error).message}` };
  }
}

const SETUP_RESULT = await setUp();
if (SETUP_RESULT.reason) console.log(`images test ignored: ${SETUP_RESULT.reason}`);

/** The capabilities the hardened Compose file leaves the entrypoint images. */
const CAPS = ["--cap-drop", "ALL", "--cap-add", "CHOWN,DAC_OVERRIDE,FOWNER,SETGID,SETUID"];

Deno.test({
  name: "images: the stand-ins behave like the official images; the worker image runs read-only",
  ignore: SETUP_RESULT.env === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const podmanEnv = SETUP_RESULT.env!;
    const rand = crypto.randomUUID().replaceAll("-", "").slice(0, 8);
    const containers = new Set<string>();
    const volumes = new Set<string>();
    const dir = await Deno.makeTempDir({ prefix: "procos-images-test-" });
    await Deno.chmod(dir, 0o755);

    /** podman with the set-up's environment plus `extra` (where the secrets go). */
    const podman = (args: string[], extra: Record<string, string> = {}, timeoutMs = 120_000) =>
      sh(["podman", ...args], {
        env: { ...Deno.env.toObject(), ...podmanEnv, ...extra },
        timeoutMs,
      });
    const ok = async (what: string, r: Promise<Ran>) => {
      const ran = await r;
      assert.equal(ran.code, 0, `${what} failed (exit ${ran.code}):\n${tail(ran)}`);
      return ran.stdout.trim();
    };
    const image = async (name: string) => {
      const spec = IMAGES.find((i) => i.name === name)!;
      console.log(formatResult(await ensureImage(spec, { ...Deno.env.toObject(), ...podmanEnv })));
      return spec.tags[0];
    };
    /** Starts a detached container named `name`; `args` go before the image. */
    const start = async (
      name: string,
      args: string[],
      ref: string,
      cmd: string[] = [],
      extra = {},
    ) => {
      containers.add(name);
      await ok(
        `podman run ${name}`,
        podman(["run", "-d", "--name", name, ...args, ref, ...cmd], extra),
      );
    };
    const remove = async (name: string) => {
      await podman(["rm", "-f", "-t", "5", name]);
      containers.delete(name);
    };
    const volume = async (name: string) => {
      volumes.add(name);
      await ok(`volume ${name}`, podman(["volume", "create", name]));
      return name;
    };
    /** Polls `check` every second until it is true; fails with `logsOf`'s log tail. */
    const waitUntil = async (what: string, logsOf: string, check: () => Promise<boolean>) => {
      const end = Date.now() + 120_000;
      while (Date.now() < end) {
        if (await check()) return;
        await sleep(1000);
      }
      const logs = await podman(["logs", "--tail", "30", logsOf]);
      assert.fail(`${what}: not within 120 s; logs of ${logsOf}:\n${tail(logs, 30)}`);
    };
    const userOfPid1 = (name: string) =>
      ok(`stat in ${name}`, podman(["exec", name, "stat", "-c", "%U", "/proc/1"]));

    try {
      await t.step("postgres: init on an empty volume only; the first password stays", async () => {
        const ref = await image("postgres");
        const data = await volume(`procosit${rand}-pg`);
        const init = join(dir, "initdb");
        await Deno.mkdir(init, { mode: 0o755 });
        await Deno.chmod(init, 0o755);
        await Deno.writeTextFile(
          join(init, "01-marker.sql"),
          "CREATE TABLE IF NOT EXISTS marker (at timestamptz);\nINSERT INTO marker VALUES (now());\n",
          { mode: 0o644 },
        );
        const first = { POSTGRES_PASSWORD: `first-${rand}` };
        const second = { POSTGRES_PASSWORD: `second-${rand}` };
        const common = [
          ...CAPS,
          "-e",
          "POSTGRES_USER=alice",
          "-e",
          "POSTGRES_DB=appdb",
          "-e",
          "POSTGRES_PASSWORD",
          "-v",
          `${data}:/var/lib/postgresql/data`,
          "-v",
          `${init}:/docker-entrypoint-initdb.d:ro`,
        ];
        /** psql over TCP to the container's own address (not loopback: a password is needed). */
        const psql = (name: string, password: string, sql: string) =>
          podman([
            "exec",
            "-e",
            "PGPASSWORD",
            name,
            "sh",
            "-c",
            `psql -h "$(hostname -i)" -U alice -d appdb -tA -c "${sql}"`,
          ], { PGPASSWORD: password });
        const ready = (name: string) =>
          waitUntil(
            `postgres ${name} ready on TCP`,
            name,
            async () =>
              (await podman(["exec", name, "pg_isready", "-h", "127.0.0.1", "-U", "alice"]))
                .code === 0,
          );

        const bare = await podman(["run", "--rm", ...CAPS, ref]);
        assert.notEqual(bare.code, 0, "an uninitialized database started without a password");
        assert.match(bare.stderr, /POSTGRES_PASSWORD is not set/);

        const pg1 = `procosit${rand}-pg1`;
        await start(pg1, common, ref, [], first);
        await ready(pg1);
        assert.equal(await userOfPid1(pg1), "postgres");
        const su = await psql(
          pg1,
          first.POSTGRES_PASSWORD,
          "SELECT rolsuper FROM pg_roles " +
            "WHERE rolname = current_user; SELECT count(*) FROM marker",
        );
        assert.equal(su.code, 0, tail(su));
        assert.deepEqual(su.stdout.trim().split("\n"), ["t", "1"]);
        const wrong = await psql(pg1, "not-the-password", "SELECT 1");
        assert.notEqual(wrong.code, 0);
        assert.match(wrong.stderr, /password authentication failed for user "alice"/);
        await remove(pg1);

        const pg2 = `procosit${rand}-pg2`;
        await start(pg2, common, ref, ["postgres", "-c", "log_min_messages=warning"], second);
        await ready(pg2);
        const logs = await podman(["logs", pg2]);
        assert.match(logs.stderr + logs.stdout, /skipping initialization/);
        const again = await psql(pg2, first.POSTGRES_PASSWORD, "SELECT count(*) FROM marker");
        assert.equal(again.code, 0, tail(again));
        assert.equal(again.stdout.trim(), "1", "the init file ran again on a second start");
        const newer = await psql(pg2, second.POSTGRES_PASSWORD, "SELECT 1");
        assert.notEqual(newer.code, 0, "a new POSTGRES_PASSWORD changed the existing password");
        const setting = await psql(pg2, first.POSTGRES_PASSWORD, "SHOW log_min_messages");
        assert.equal(setting.stdout.trim(), "warning", "extra arguments were not passed through");
        await remove(pg2);
      });

      await t.step("redis: runs as redis, the included auth file works", async () => {
        const ref = await image("redis");
        const conf = join(dir, "redis.conf");
        await Deno.writeTextFile(conf, "bind 0.0.0.0\nport 6379\nprotected-mode no\ndir /data\n", {
          mode: 0o644,
        });
        const name = `procosit${rand}-redis`;
        const secret = { REDIS_PASSWORD: `redis-${rand}` };
        await start(
          name,
          [
            ...CAPS,
            "-e",
            "REDIS_PASSWORD",
            "-v",
            `${conf}:/usr/local/etc/redis/redis.conf:ro`,
          ],
          ref,
          [
            "sh",
            "-c",
            'umask 077 && printf "requirepass %s\\n" "$REDIS_PASSWORD" > /tmp/procos-redis-auth.conf' +
            " && chown redis /tmp/procos-redis-auth.conf && exec docker-entrypoint.sh redis-server " +
            "/usr/local/etc/redis/redis.conf --include /tmp/procos-redis-auth.conf",
          ],
          secret,
        );
        const cli = (auth: boolean) =>
          podman(
            ["exec", ...(auth ? ["-e", "REDISCLI_AUTH"] : []), name, "redis-cli", "ping"],
            { REDISCLI_AUTH: secret.REDIS_PASSWORD },
          );
        await waitUntil(
          "redis answers",
          name,
          async () => (await cli(true)).stdout.includes("PONG"),
        );
        assert.equal(await userOfPid1(name), "redis");
        assert.match((await cli(false)).stdout, /NOAUTH/);
        assert.equal(
          await ok("ls /data", podman(["exec", name, "stat", "-c", "%U", "/data"])),
          "redis",
        );
        await remove(name);
      });

      await t.step("rabbitmq: node name from --hostname; a durable queue survives", async () => {
        const ref = await image("rabbitmq");
        const data = await volume(`procosit${rand}-rmq`);
        const host = `rmq${rand}`;
        const port = freePort();
        const api = `http://127.0.0.1:${port}/api`;
        const headers = { authorization: `Basic ${btoa("guest:guest")}` };
        const args = [
          ...CAPS,
          "--hostname",
          host,
          "-p",
          `127.0.0.1:${port}:15672`,
          "-v",
          `${data}:/var/lib/rabbitmq`,
        ];
        const up = (name: string) =>
          waitUntil(`rabbitmq ${name} management API`, name, async () => {
            try {
              const r = await fetch(`${api}/overview`, { headers });
              await r.body?.cancel();
              return r.ok;
            } catch {
              return false;
            }
          });
        const first = `procosit${rand}-rmq1`;
        await start(first, args, ref);
        await up(first);
        const node = await ok(
          "rabbitmqctl eval",
          podman(["exec", first, "rabbitmqctl", "-q", "eval", "node()."]),
        );
        assert.equal(node, `rabbit@${host}`);
        assert.equal(await userOfPid1(first), "rabbitmq");
        const put = await fetch(`${api}/queues/%2F/procos-durable`, {
          method: "PUT",
          headers: { ...headers, "content-type": "application/json" },
          body: JSON.stringify({ durable: true, auto_delete: false, arguments: {} }),
        });
        await put.body?.cancel();
        assert.ok(put.ok, `declaring the queue: HTTP ${put.status}`);
        await remove(first);

        const second = `procosit${rand}-rmq2`;
        await start(second, args, ref);
        await up(second);
        const r = await fetch(`${api}/queues/%2F/procos-durable`, { headers });
        const q = await r.json() as { durable?: boolean; node?: string };
        assert.equal(r.status, 200, `the queue is gone after a recreate: ${JSON.stringify(q)}`);
        assert.equal(q.durable, true);
        assert.equal(q.node, `rabbit@${host}`);
        await remove(second);

        // ProcOS's own command and files, with the production capabilities.
        const model = await referenceModel();
        const conf = join(dir, "rabbitmq");
        await Deno.mkdir(conf, { mode: 0o755 });
        await Deno.chmod(conf, 0o755);
        for (const a of emitRabbitmq(model)) {
          await Deno.writeTextFile(join(dir, a.path), a.content, { mode: 0o644 });
        }
        const procos = `procosit${rand}-rmq3`;
        await start(
          procos,
          [
            ...CAPS,
            "--hostname",
            `${host}p`,
            "-v",
            `${conf}/rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro`,
            "-v",
            `${conf}/definitions.json:/procos/rabbitmq/definitions.json:ro`,
            "-v",
            `${conf}/enabled_plugins:/etc/rabbitmq/enabled_plugins:ro`,
          ],
          ref,
          RABBITMQ_COMMAND,
        );
        await waitUntil(
          "rabbitmq with ProcOS's files",
          procos,
          async () =>
            (await podman([
              "exec",
              procos,
              "rabbitmq-diagnostics",
              "-q",
              "check_port_connectivity",
            ]))
              .code === 0,
        );
        const vhosts = await ok(
          "list_vhosts",
          podman(["exec", procos, "rabbitmqctl", "-q", "list_vhosts"]),
        );
        assert.ok(vhosts.split("\n").includes(model.rabbitmq.vhost), vhosts);
        const queues = await ok(
          "list_queues",
          podman([
            "exec",
            procos,
            "rabbitmqctl",
            "-q",
            "list_queues",
            "-p",
            model.rabbitmq.vhost,
            "name",
          ]),
        );
        assert.ok(queues.split("\n").length > 1, `no queues from the definitions: ${queues}`);
        await remove(procos);
      });

      await t.step("ollama: `ollama list` answers (the health check)", async () => {
        const ref = await image("ollama");
        const name = `procosit${rand}-ollama`;
        await start(name, [], ref);
        await waitUntil(
          "ollama list",
          name,
          async () => (await podman(["exec", name, "ollama", "list"])).code === 0,
        );
        await remove(name);
        const down = await podman(["run", "--rm", "--network", "none", ref, "list"]);
        assert.equal(down.code, 1, "ollama list without a server must fail");
      });

      await t.step("worker: a read-only, offline container loads every module", async () => {
        await image("deno");
        const ref = await image("worker");
        for (const kind of ["generic", "kernel", "ai"]) {
          const r = await podman([
            "run",
            "--rm",
            "--read-only",
            "--tmpfs",
            "/tmp",
            "--cap-drop",
            "ALL",
            "--network",
            "none",
            ref,
            "deno",
            "run",
            "--allow-all",
            "--cached-only",
            "--config=/procos/app/deno.json",
            `/procos/app/workers/${kind}/main.ts`,
          ]);
          const out = `${r.stdout}\n${r.stderr}`;
          console.log(`worker ${kind}: exit ${r.code}: ${out.trim().split("\n").at(-1)}`);
          assert.match(out, /cannot read the worker manifest \/procos\/manifest\.json/, out);
          assert.doesNotMatch(out, /Module not found|not found in cache|--cached-only|os error 30/);
        }
      });
    } finally {
      for (const c of containers) await podman(["rm", "-f", "-t", "2", c]);
      for (const v of volumes) await podman(["volume", "rm", "-f", v]);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

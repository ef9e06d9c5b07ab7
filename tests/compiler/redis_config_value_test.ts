/**
 * redis.conf values: a plain path stays as it is; one with a space or a
 * quote is double-quoted with `\` and `"` escaped, and a real redis-server
 * reads it back as the same path.
 */
import assert from "node:assert/strict";
import { redisConfigValue } from "../../compiler/emit/redis.ts";

Deno.test("redis config values: quoted when they must be, and redis-server reads them back", async () => {
  assert.equal(redisConfigValue("/data"), "/data");
  assert.equal(redisConfigValue(`/a "b" \\c`), `"/a \\"b\\" \\\\c"`);
  const root = await Deno.makeTempDir({ prefix: "procos-redis-dir-" });
  const dir = `${root}/da ta "q" 'x' \\y é`;
  await Deno.mkdir(dir);
  const conf = `${root}/redis.conf`;
  await Deno.writeTextFile(conf, `port 0\nsave ""\ndir ${redisConfigValue(dir)}\n`);
  const sock = `${root}/redis.sock`;
  const server = new Deno.Command("redis-server", {
    args: [conf, "--unixsocket", sock, "--daemonize", "no"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    let answer = "";
    for (let i = 0; i < 50 && answer === ""; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const r = await new Deno.Command("redis-cli", {
        args: ["-s", sock, "CONFIG", "GET", "dir"],
        stdout: "piped",
        stderr: "null",
      })
        .output().catch(() => undefined);
      if (r?.code === 0) answer = new TextDecoder().decode(r.stdout);
    }
    assert.equal(answer, `dir\n${dir}\n`);
  } finally {
    server.kill("SIGTERM");
    await server.status;
    await server.stderr.cancel().catch(() => {});
    await Deno.remove(root, { recursive: true });
  }
});

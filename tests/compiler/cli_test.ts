/**
 * The CLI, spawned as a user runs it: exit codes, located diagnostics with a
 * summary line and no stack trace, and what a good build writes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  listTree,
  referenceSpec,
  replaceOnce,
  REPO_ROOT,
  TEST_SECRETS,
  withTempDir,
  writeSpecVariant,
} from "../helpers/build.ts";

const CLI = join(REPO_ROOT, "compiler", "cli.ts");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run ... compiler/cli.ts <args>` from the repository root. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base: Record<string, string> = { NO_COLOR: "1" };
  for (const k of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const v = Deno.env.get(k);
    if (v !== undefined) base[k] = v;
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", CLI, ...args],
    cwd: REPO_ROOT,
    env: { ...base, ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function noStackTrace(r: Run) {
  assert.ok(!/^\s+at /m.test(r.stderr), `no stack trace in:\n${r.stderr}`);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("cli", async (t) => {
  await t.step("a bad spec: exit 1, every located diagnostic, a summary, no stack", async () => {
    await withTempDir(async (dir) => {
      const bad = await writeSpecVariant(dir, "bad.yaml", (text) => {
        const t1 = replaceOnce(text, "image: postgres:15-alpine", "image: Postgres:15");
        return replaceOnce(t1, "dead_letter_exchange: procos.dlx", "dead_letter_exchange: a b");
      });
      const out = join(dir, "out");
      const r = await cli(["build", "--config", bad, "--out", out]);
      assert.equal(r.code, 1, r.stderr);
      const located = r.stderr.split("\n").filter((l) => /bad\.yaml:\d+:\d+: error: /.test(l));
      assert.ok(located.some((l) => l.includes("services.postgres.image")), r.stderr);
      assert.ok(located.some((l) => l.includes("messaging.dead_letter_exchange")), r.stderr);
      assert.ok(located.every((l) => !/:1:1: /.test(l)), `located, not at 1:1:\n${r.stderr}`);
      const n = located.length;
      const summary = `procos: ${n} error${n === 1 ? "" : "s"} in ${bad}; nothing was written`;
      assert.ok(r.stderr.trimEnd().endsWith(summary), r.stderr);
      noStackTrace(r);
      assert.equal(r.stdout, "");
      assert.equal(await exists(out), false, "nothing was written");
    });
  });

  await t.step("a problem found while emitting: exit 1, located, no stack", async () => {
    await withTempDir(async (dir) => {
      // only the production profile adds the exporter that publishes 9187
      const bad = await writeSpecVariant(dir, "clash.yaml", (text) =>
        replaceOnce(
          text,
          "            published: 11434\n            host_ip: 127.0.0.1",
          "            published: 9187\n            host_ip: 127.0.0.1",
        ));
      const args = ["build", "--config", bad, "--profile", "production", "--check"];
      const r = await cli(args, { ...TEST_SECRETS });
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /clash\.yaml:\d+:\d+: error: profiles\.production\.services\.ollama\.ports\[0\]\.published: host port 9187 is published by `ollama` and by the production postgres-exporter container \(hint: publish ollama on another host port\)/,
      );
      assert.ok(!/:1:1: /.test(r.stderr), r.stderr);
      noStackTrace(r);
    });
  });

  await t.step("a good spec: exit 0, out/ written, the start command printed", async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, "out");
      const r = await cli(["build", "--config", referenceSpec(), "--out", out]);
      assert.equal(r.code, 0, r.stderr);
      const files = await listTree(out);
      for (const f of ["compose.yaml", "manifest.json", "env/postgres.env"]) {
        assert.ok(files.includes(f), f);
      }
      assert.match(r.stdout, new RegExp(`wrote ${files.length} files`));
      assert.ok(r.stdout.includes(`docker compose -f ${out}/compose.yaml up -d`), r.stdout);
    });
  });

  await t.step("production with secrets from the environment", async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, "out");
      const args = ["build", "--config", referenceSpec(), "--profile", "production", "--out", out];
      const r = await cli(args, { ...TEST_SECRETS });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(await exists(join(out, "compose.production.yaml")));
      assert.ok(
        r.stdout.includes(
          `docker compose -f ${out}/compose.yaml -f ${out}/compose.production.yaml ` +
            `--profile production up -d`,
        ),
        r.stdout,
      );
      const without = await cli(args);
      assert.equal(without.code, 1, "production refuses default secrets");
      noStackTrace(without);
    });
  });

  await t.step("--check validates and writes nothing", async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, "out");
      const r = await cli(["build", "--config", referenceSpec(), "--out", out, "--check"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /is valid .*nothing was written/);
      assert.equal(await exists(out), false);
    });
  });

  await t.step("usage and write errors: exit 2, one line, no stack", async () => {
    await withTempDir(async (dir) => {
      const cases: Array<[string[], RegExp]> = [
        [["build", "--bogus"], /^procos: .*bogus.*--help/],
        [["build", "--profile", "staging"], /^procos: unknown profile "staging"/],
        [["deploy"], /^procos: unknown command "deploy"/],
      ];
      const mine = join(dir, "mine");
      await Deno.mkdir(mine);
      await Deno.writeTextFile(join(mine, "notes.txt"), "keep");
      cases.push([["build", "--config", referenceSpec(), "--out", mine], /refusing to replace/]);
      for (const [args, re] of cases) {
        const r = await cli(args);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, re, args.join(" "));
        assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
        noStackTrace(r);
      }
      assert.deepEqual(await listTree(mine), ["notes.txt"]);
      // A missing spec is a spec error, located at the file.
      const missing = join(dir, "missing.yaml");
      const r = await cli(["build", "--config", missing]);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.stderr.includes(`${missing}:`), r.stderr);
      assert.ok(r.stderr.includes(`procos: 1 error in ${missing}; nothing was written`));
      noStackTrace(r);
    });
  });

  await t.step("--help", async () => {
    const r = await cli(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /usage: deno task build/);
  });
});

/**
 * `build()`: deterministic output, env files, the manifest, and the atomic
 * out-folder replacement.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { build, compile } from "../../compiler/compile.ts";
import { SpecError } from "../../compiler/diagnostics.ts";
import { quoteEnvValue, renderEnvFile } from "../../compiler/emit/env.ts";
import { GENERATOR, MANIFEST_FILE } from "../../compiler/emit/manifest.ts";
import type { Manifest } from "../../compiler/emit/manifest.ts";
import { writeArtifacts, WriteError } from "../../compiler/write.ts";
import {
  hashTree,
  listTree,
  referenceSpec,
  replaceOnce,
  sha256,
  TEST_SECRETS,
  withTempDir,
  writeSpecVariant,
} from "../helpers/build.ts";

const SEED_CAMUNDA_VARS = ["DB_DRIVER", "DB_URL", "DB_USERNAME", "DB_PASSWORD"];
const SEED_WORKER_VARS = ["CAMUNDA_BASE_URL", "OLLAMA_BASE_URL", "REDIS_URL", "RABBITMQ_URL"];

/** Reads one variable from an env file the way a shell does (`set -a; . file`). */
async function shellRead(file: string, name: string): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("sh", {
    args: ["-c", 'set -a; . "$1"; eval "v=\\${$2}"; printf "%s" "$v"', "sh", file, name],
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout);
}

/** A spec variant with three schema errors. */
function breakSpec(text: string): string {
  let t = replaceOnce(text, "image: postgres:15-alpine", "image: Postgres:15");
  t = replaceOnce(t, "dead_letter_exchange: procos.dlx", "dead_letter_exchange: procos dlx");
  return replaceOnce(t, "health_port: 9100", "health_port: 70000");
}

async function siblings(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("build", async (t) => {
  await t.step("two builds are byte-identical (development and production)", async () => {
    await withTempDir(async (dir) => {
      for (const profile of ["development", "production"] as const) {
        const env = profile === "production" ? { ...TEST_SECRETS } : {};
        const a = join(dir, `${profile}-a`);
        const b = join(dir, `${profile}-b`);
        await build(referenceSpec(), { profile, env, outDir: a });
        await build(referenceSpec(), { profile, env, outDir: b });
        const ha = await hashTree(a);
        assert.ok(Object.keys(ha).length > 10);
        assert.deepEqual(await hashTree(b), ha);
      }
    });
  });

  await t.step("env files: mode 0600, the seed's variables, read alike by sh", async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, "out");
      const { model } = await build(referenceSpec(), {
        profile: "production",
        env: { ...TEST_SECRETS },
        outDir: out,
      });
      const files = await listTree(out);
      const envFiles = files.filter((f) => f.startsWith("env/"));
      const started = model.services.filter((s) => !s.external).map((s) => `env/${s.name}.env`);
      for (const f of started) assert.ok(envFiles.includes(f), `${f} written`);
      for (const f of ["env/backup.env", "env/postgres-exporter.env", "env/redis-exporter.env"]) {
        assert.ok(envFiles.includes(f), `${f} written`);
      }
      for (const f of envFiles) {
        assert.equal((await Deno.stat(join(out, f))).mode! & 0o777, 0o600, f);
      }
      assert.equal((await Deno.stat(join(out, MANIFEST_FILE))).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(join(out, "compose.yaml"))).mode! & 0o777, 0o644);
      const camunda = await Deno.readTextFile(join(out, "env/camunda.env"));
      for (const v of SEED_CAMUNDA_VARS) assert.match(camunda, new RegExp(`^${v}=`, "m"));
      for (const w of ["kernel", "ai-worker", "generic-worker"]) {
        const text = await Deno.readTextFile(join(out, `env/${w}.env`));
        for (const v of SEED_WORKER_VARS) assert.match(text, new RegExp(`^${v}=`, "m"), w);
      }
      // The Postgres test secret holds `$`, `#` and a space: sh must read it unchanged.
      const pg = TEST_SECRETS.PROCOS_POSTGRES_PASSWORD;
      assert.equal(await shellRead(join(out, "env/camunda.env"), "DB_PASSWORD"), pg);
      assert.equal(await shellRead(join(out, "env/backup.env"), "PGPASSWORD"), pg);
      assert.equal(
        await shellRead(join(out, "env/camunda.env"), "DB_URL"),
        "jdbc:postgresql://postgres:5432/procos",
      );
    });
  });

  await t.step("env values: quoted so Compose and sh agree, refused when they cannot", async () => {
    const tricky = ["plain", "sp ace", "$HOME", "a#b", "it's", "back\\slash", "`x`", ""];
    await withTempDir(async (dir) => {
      const env = Object.fromEntries(tricky.map((v, i) => [`V${i}`, v]));
      const file = join(dir, "t.env");
      await Deno.writeTextFile(file, renderEnvFile("t.env", env));
      for (const [k, v] of Object.entries(env)) assert.equal(await shellRead(file, k), v, k);
    });
    assert.equal(quoteEnvValue("it's", "x"), `"it's"`);
    for (const bad of ["a\nb", "a\rb", "it's $x", "a\\\\b", "end\\", "nul\0"]) {
      assert.throws(() => quoteEnvValue(bad, "env/x.env: the value of K"), /env\/x\.env/);
    }
    try {
      quoteEnvValue("s3cret\nline", "env/x.env: the value of K");
    } catch (e) {
      assert.ok(!(e as Error).message.includes("s3cret"), "the error never shows the value");
    }
  });

  await t.step("manifest.json: spec hash and a sha256 for every other file", async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, "out");
      await build(referenceSpec(), { outDir: out });
      const m: Manifest = JSON.parse(await Deno.readTextFile(join(out, MANIFEST_FILE)));
      assert.equal(m.generator.name, GENERATOR);
      assert.equal(m.project, "procos");
      assert.equal(m.profile, "development");
      assert.equal(m.spec.sha256, sha256(await Deno.readFile(referenceSpec())));
      const files = (await listTree(out)).filter((f) => f !== MANIFEST_FILE);
      assert.deepEqual(Object.keys(m.artifacts), files, "every file, sorted");
      const hashes = await hashTree(out);
      for (const f of files) {
        assert.equal(m.artifacts[f].sha256, hashes[f], f);
        const mode = (await Deno.stat(join(out, f))).mode! & 0o777;
        assert.equal(m.artifacts[f].mode, mode.toString(8).padStart(4, "0"), f);
      }
      assert.ok(!(await Deno.readTextFile(join(out, MANIFEST_FILE))).match(/20\d\d-\d\d-\d\dT/));
    });
  });

  await t.step("a failed build (bad spec) leaves the previous out/ byte-identical", async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, "out");
      await build(referenceSpec(), { outDir: out });
      const before = await hashTree(out);
      const bad = await writeSpecVariant(dir, "bad.yaml", breakSpec);
      const err = await build(bad, { outDir: out }).then(() => undefined, (e) => e);
      assert.ok(err instanceof SpecError, `a SpecError, got ${err}`);
      const paths = err.diagnostics.map((d) => d.path.join("."));
      assert.ok(paths.some((p) => p.startsWith("services.postgres.image")), paths.join(", "));
      assert.ok(paths.some((p) => p.startsWith("messaging.dead_letter_exchange")));
      assert.deepEqual(await hashTree(out), before);
      assert.deepEqual(await siblings(dir), ["bad.yaml", "out", "processes"]);
    });
  });

  await t.step("a rebuild replaces out/ whole and leaves no temporary folder", async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, "out");
      await build(referenceSpec(), {
        profile: "production",
        env: { ...TEST_SECRETS },
        outDir: out,
      });
      await Deno.writeTextFile(join(out, "stray.txt"), "left by hand");
      const r = await build(referenceSpec(), { outDir: out });
      assert.equal(r.written.replaced, true);
      const files = await listTree(out);
      assert.ok(!files.includes("stray.txt"));
      assert.ok(!files.includes("compose.production.yaml"), "production files gone");
      assert.deepEqual(await siblings(dir), ["out"]);
    });
  });

  await t.step("refuses to replace a folder ProcOS did not create, unless forced", async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, "mine");
      await Deno.mkdir(out);
      await Deno.writeTextFile(join(out, "precious.txt"), "keep me");
      await assert.rejects(
        () => build(referenceSpec(), { outDir: out }),
        (e) => e instanceof WriteError && /refusing to replace .*--force/.test(e.message),
      );
      assert.deepEqual(await listTree(out), ["precious.txt"]);
      assert.deepEqual(await siblings(dir), ["mine"]);
      await build(referenceSpec(), { outDir: out, force: true });
      assert.ok((await listTree(out)).includes("compose.yaml"));
      // An empty folder and a missing one are fine.
      const empty = join(dir, "empty");
      await Deno.mkdir(empty);
      await build(referenceSpec(), { outDir: empty });
      await build(referenceSpec(), { outDir: join(dir, "new", "nested") });
      // A file is not a folder.
      const file = join(dir, "file");
      await Deno.writeTextFile(file, "x");
      await assert.rejects(() => build(referenceSpec(), { outDir: file }), WriteError);
    });
  });

  await t.step("bad artifact paths are refused before anything is written", async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, "out");
      for (const path of ["../escape", "/abs", "a//b", "a/./b", ".hidden", "a\\b", ""]) {
        await assert.rejects(
          () => writeArtifacts(out, [{ path, content: "x" }]),
          WriteError,
          path,
        );
      }
      await assert.rejects(
        () => writeArtifacts(out, [{ path: "a", content: "" }, { path: "a/b", content: "" }]),
        /both a file and a folder/,
      );
      assert.deepEqual(await siblings(dir), []);
    });
  });

  await t.step("production: secrets from the env option; refused without them", async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, "out");
      await build(referenceSpec(), {
        profile: "production",
        env: { ...TEST_SECRETS },
        outDir: out,
      });
      const files = await listTree(out);
      for (const f of ["compose.yaml", "compose.production.yaml", "backup/backup.sh"]) {
        assert.ok(files.includes(f), f);
      }
      const err = await compile(referenceSpec(), { profile: "production", env: {} }).then(
        () => undefined,
        (e) => e,
      );
      assert.ok(err instanceof SpecError, "production refuses the spec's default secrets");
    });
  });
});

/**
 * The drift checks against a real build (compiler/compile.ts `build`) in a
 * temporary folder: green as built; an edited artifact, a loosened secret
 * file, an edited spec, another profile and a missing manifest each fail.
 */
import { expect } from "expect";
import { build } from "../../compiler/compile.ts";
import { buildModel } from "../../compiler/model.ts";
import { loadSpec } from "../../compiler/load_spec.ts";
import { driftChecks } from "../../verify/checks/drift.ts";
import { withTempDir, writeSpecVariant } from "../helpers/build.ts";
import { contextFor, failing, runAll } from "./helpers.ts";

async function builtStack(dir: string) {
  const spec = await writeSpecVariant(dir, "procos.config.yaml");
  const out = `${dir}/out`;
  await build(spec, { profile: "development", env: {}, outDir: out });
  const model = buildModel(await loadSpec(spec, { profile: "development", env: {} }));
  const ctx = await contextFor(model, {}, { specFile: spec, specDir: dir, outDir: out });
  return { spec, out, model, ctx };
}

Deno.test("drift checks: green on a fresh build; an edited artifact fails naming the file", async () => {
  await withTempDir(async (dir) => {
    const { out, model, ctx } = await builtStack(dir);
    const checks = driftChecks(model);
    const green = await runAll(checks, ctx);
    expect(failing(green)).toEqual([]);
    expect(green.get("drift.manifest")).toMatchObject({
      status: "pass",
      detail: expect.stringMatching(/^\d+ artifact\(s\), procos-compiler /),
    });

    const conf = `${out}/redis/redis.conf`;
    await Deno.writeTextFile(conf, (await Deno.readTextFile(conf)) + "appendonly no\n");
    const now = await runAll(checks, ctx);
    expect(failing(now)).toEqual(["drift.artifacts"]);
    const r = now.get("drift.artifacts");
    expect(r?.status).toBe("fail");
    if (r?.status === "fail") {
      expect(r.expected).toBe(
        `${out}/redis/redis.conf sha256 ${r.expected.match(/sha256 (\w+)/)![1]}…`,
      );
      expect(r.actual).toMatch(
        new RegExp(`^${out}/redis/redis\\.conf sha256 [0-9a-f]{12}… \\(edited after the build\\)$`),
      );
    }
    // removed: named as missing
    await Deno.remove(conf);
    const gone = (await runAll(checks, ctx)).get("drift.artifacts");
    if (gone?.status === "fail") expect(gone.actual).toBe(`${out}/redis/redis.conf missing`);
  });
});

Deno.test("drift checks: a secret file made world-readable fails on its mode", async () => {
  await withTempDir(async (dir) => {
    const { out, model, ctx } = await builtStack(dir);
    const manifest = JSON.parse(await Deno.readTextFile(`${out}/manifest.json`));
    const secretFile = Object.entries(manifest.artifacts as Record<string, { mode: string }>)
      .find(([, a]) => a.mode === "0600")![0];
    await Deno.chmod(`${out}/${secretFile}`, 0o644);
    const r = (await runAll(driftChecks(model), ctx)).get("drift.artifacts");
    expect(r).toMatchObject({
      status: "fail",
      expected: `${out}/${secretFile} mode 0600`,
      actual: `${out}/${secretFile} mode 0644 (it holds secrets)`,
    });
  });
});

Deno.test("drift checks: a spec edited after the build, or another profile, fails", async () => {
  await withTempDir(async (dir) => {
    const { spec, model, ctx } = await builtStack(dir);
    await Deno.writeTextFile(spec, (await Deno.readTextFile(spec)) + "\n# edited\n");
    const now = await runAll(driftChecks(model), ctx);
    expect(failing(now)).toEqual(["drift.spec"]);
    const r = now.get("drift.spec");
    if (r?.status === "fail") {
      expect(r.expected).toContain(`(${spec} now)`);
      expect(r.hint).toContain("deno task build");
    }
  });
  await withTempDir(async (dir) => {
    const { model, ctx } = await builtStack(dir);
    const prod = { ...model, profile: "production" as const };
    const r = (await runAll(driftChecks(prod), { ...ctx, model: prod })).get("drift.spec");
    expect(r).toMatchObject({
      status: "fail",
      expected: "a build for profile production",
      actual: "a build for profile development",
    });
  });
});

Deno.test("drift checks: no manifest fails all three, pointing at the build", async () => {
  await withTempDir(async (dir) => {
    const { model, ctx } = await builtStack(dir);
    const empty = { ...ctx, outDir: `${dir}/nowhere` };
    const results = await runAll(driftChecks(model), empty);
    expect(failing(results)).toEqual(["drift.artifacts", "drift.manifest", "drift.spec"]);
    expect(results.get("drift.manifest")).toMatchObject({
      expected: `${dir}/nowhere/manifest.json`,
      actual: "no such file",
    });
  });
});

/**
 * The production `verify` container (`monitoring.verify`): verify serve in
 * the stack, on the verify image, published on 127.0.0.1 only, loading the
 * same spec and out folder read-only with the spec's secrets by their names;
 * absent from development and without the switch.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { compile } from "../../compiler/compile.ts";
import { VERIFY_IMAGE } from "../../compiler/images.ts";
import {
  referenceSpec,
  replaceOnce,
  TEST_SECRETS,
  withTempDir,
  writeSpecVariant,
} from "../helpers/build.ts";

type Doc = { services: Record<string, Record<string, unknown>> };

function fileOf(r: Awaited<ReturnType<typeof compile>>, path: string): string {
  const a = r.artifacts.find((x) => x.path === path);
  assert.ok(a, `no ${path}`);
  return a.content;
}

Deno.test("verify container: in production with monitoring.verify", async () => {
  const r = await compile(referenceSpec(), { profile: "production", env: { ...TEST_SECRETS } });
  const svc = (parse(fileOf(r, "compose.production.yaml")) as Doc).services.verify;
  assert.ok(svc, "a verify service");
  assert.equal(svc.image, VERIFY_IMAGE);
  assert.deepEqual(svc.build, { context: "..", dockerfile: "verify/Dockerfile" });
  assert.deepEqual(svc.profiles, ["production"]);
  assert.deepEqual(svc.ports, [{
    target: 9200,
    host_ip: "127.0.0.1",
    published: 9200,
    protocol: "tcp",
  }]);
  assert.deepEqual(svc.volumes, [
    "../procos.config.yaml:/procos/stack/procos.config.yaml:ro",
    "../processes:/procos/stack/processes:ro",
    "../backups:/procos/stack/backups:ro",
    "./:/procos/out:ro",
  ]);
  assert.equal(svc.read_only, true);
  assert.equal(svc.user, "0");
  assert.deepEqual([svc.cap_drop, svc.cap_add], [["ALL"], ["DAC_OVERRIDE"]]);
  const command = svc.command as string[];
  assert.deepEqual(command.slice(command.indexOf("serve")), [
    "serve",
    "--host",
    "0.0.0.0",
    "--port",
    "9200",
    "--config",
    "/procos/stack/procos.config.yaml",
    "--out",
    "/procos/out",
    "--profile",
    "production",
    "--target",
    "network",
  ]);
  // the spec loads again in the container: every secret by its variable, only in the env file
  const env = fileOf(r, "env/verify.env");
  for (const [name, value] of Object.entries(TEST_SECRETS)) {
    assert.ok(env.split("\n").includes(`${name}='${value}'`), `${name} in env/verify.env`);
    assert.ok(
      !fileOf(r, "compose.production.yaml").includes(value),
      "no secret in the compose file",
    );
  }
});

Deno.test("verify container: not in development, nor without the switch", async () => {
  const dev = await compile(referenceSpec(), { profile: "development" });
  assert.equal((parse(fileOf(dev, "compose.yaml")) as Doc).services.verify, undefined);
  await withTempDir(async (dir) => {
    const spec = await writeSpecVariant(
      dir,
      "procos.yaml",
      (t) => replaceOnce(t, "      verify: true\n", "      verify: false\n"),
    );
    const r = await compile(spec, { profile: "production", env: { ...TEST_SECRETS } });
    assert.equal((parse(fileOf(r, "compose.production.yaml")) as Doc).services.verify, undefined);
    assert.ok(!r.artifacts.some((a) => a.path === "env/verify.env"));
  });
});

/**
 * The engine switch (`services.camunda.engine.distribution`, `compiler/engines.ts`):
 * the reference spec compiled as it is (Camunda) and with `distribution: operaton`,
 * in both profiles. Only the engine's image and build follow the switch; its
 * environment, health check, hardening and every other container stay the same.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { join } from "node:path";
import { compile, type CompileResult } from "../../compiler/compile.ts";
import { COMPOSE_FILE, COMPOSE_PRODUCTION_FILE } from "../../compiler/emit/compose.ts";
import {
  DEFAULT_DISTRIBUTION,
  distributionOfImage,
  DISTRIBUTIONS,
  engineOf,
  ENGINES,
} from "../../compiler/engines.ts";
import { buildOf, ENGINE_IMAGE, OWN_BUILDS } from "../../compiler/images.ts";
import { camundaChecks } from "../../verify/checks/camunda.ts";
import { REPO_ROOT, TEST_SECRETS, withTempDir, writeSpecVariant } from "../helpers/build.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

/** The reference spec with `engine.distribution: operaton` on its camunda service. */
const operaton = (text: string) => {
  const from = "    engine:\n      database: postgres\n";
  assert.equal(text.split(from).length, 2, "one camunda engine block in procos.config.yaml");
  return text.replace(
    from,
    "    engine:\n      distribution: operaton\n      database: postgres\n",
  );
};

function artifact(r: CompileResult, path: string): string {
  const a = r.artifacts.find((x) => x.path === path);
  assert.ok(a, `no artifact ${path}`);
  return a.content;
}

/** Both profiles of the reference spec, as it is and switched to Operaton. */
async function builds(dir: string) {
  // the same file name in two folders: an artifact may name the spec's file
  await Deno.mkdir(join(dir, "camunda"));
  await Deno.mkdir(join(dir, "operaton"));
  const camundaSpec = await writeSpecVariant(join(dir, "camunda"), "procos.config.yaml");
  const operatonSpec = await writeSpecVariant(
    join(dir, "operaton"),
    "procos.config.yaml",
    operaton,
  );
  const prod = { profile: "production" as const, env: { ...TEST_SECRETS } };
  return {
    camunda: {
      dev: await compile(camundaSpec, { profile: "development" }),
      prod: await compile(camundaSpec, prod),
    },
    operaton: {
      dev: await compile(operatonSpec, { profile: "development" }),
      prod: await compile(operatonSpec, prod),
    },
  };
}

Deno.test("engines: one row per distribution, pinned, each with its own image and jar", () => {
  assert.deepEqual([...DISTRIBUTIONS], ["camunda", "operaton"]);
  assert.equal(DEFAULT_DISTRIBUTION, "camunda");
  assert.equal(ENGINE_IMAGE, "procos/engine:7.24.0");
  assert.equal(ENGINES.camunda.version, "7.24.0");
  assert.equal(ENGINES.operaton.version, "1.0.3");
  assert.equal(ENGINES.operaton.image, "procos/engine-operaton:1.0.3");
  assert.equal(ENGINES.camunda.jar, "engine/target/procos-engine.jar");
  assert.equal(ENGINES.operaton.jar, "engine/target/operaton/procos-engine-operaton.jar");
  assert.deepEqual([ENGINES.camunda.webapps, ENGINES.operaton.webapps], ["/camunda", "/operaton"]);
  assert.equal(engineOf(undefined), ENGINES.camunda);
  for (const d of DISTRIBUTIONS) {
    const e = ENGINES[d];
    assert.ok(e.image.endsWith(`:${e.version}`), `${d}: the image is tagged with the version`);
    assert.equal(distributionOfImage(e.image), d);
    assert.equal(distributionOfImage(`docker.io/${e.image}`), d);
    assert.ok(OWN_BUILDS[e.image], `${d}: ProcOS builds its image`);
    // the Maven profile the Dockerfile and the local runtime pass exists in the POM
    const pom = Deno.readTextFileSync(`${REPO_ROOT}/engine/pom.xml`);
    assert.ok(pom.includes(`<id>${e.mavenProfile}</id>`), `${d}: profile ${e.mavenProfile}`);
  }
  assert.equal(distributionOfImage("camunda/camunda-bpm-platform:7.24.0"), undefined);
  // the README's test setup (tools/run.sh test) builds every distribution's jar
  const runSh = Deno.readTextFileSync(`${REPO_ROOT}/tools/run.sh`);
  for (const d of DISTRIBUTIONS) {
    assert.ok(runSh.includes(`${ENGINES[d].mavenProfile}:${ENGINES[d].jar}`), `run.sh builds ${d}`);
  }
  // the default build is the Dockerfile's defaults: no build arguments (golden files unchanged)
  assert.deepEqual(buildOf(ENGINES.camunda.image), { context: "engine", dockerfile: "Dockerfile" });
  assert.deepEqual(buildOf(ENGINES.operaton.image), {
    context: "engine",
    dockerfile: "Dockerfile",
    args: { ENGINE_PROFILE: "operaton", ENGINE_VERSION: "1.0.3" },
  });
});

Deno.test("engines: the switch changes the engine's image and build, nothing else", async () => {
  await withTempDir(async (dir) => {
    const b = await builds(dir);
    for (const profile of ["dev", "prod"] as const) {
      const ca = parse(artifact(b.camunda[profile], COMPOSE_FILE)) as Any;
      const op = parse(artifact(b.operaton[profile], COMPOSE_FILE)) as Any;
      assert.equal(ca.services.camunda.image, "procos/engine:7.24.0");
      assert.deepEqual(ca.services.camunda.build, {
        context: "../engine",
        dockerfile: "Dockerfile",
      });
      assert.equal(op.services.camunda.image, "procos/engine-operaton:1.0.3");
      assert.deepEqual(op.services.camunda.build, {
        context: "../engine",
        dockerfile: "Dockerfile",
        args: { ENGINE_PROFILE: "operaton", ENGINE_VERSION: "1.0.3" },
      });
      // the same health check: /engine-rest/engine answers `default` on both
      assert.deepEqual(op.services.camunda.healthcheck, ca.services.camunda.healthcheck);
      for (const doc of [ca, op]) {
        delete doc.services.camunda.image;
        delete doc.services.camunda.build;
      }
      assert.deepEqual(op, ca, `${profile}: the rest of compose.yaml is the same`);
      assert.equal(b.operaton[profile].model.camunda.distribution, "operaton");
      assert.equal(b.camunda[profile].model.camunda.distribution, "camunda");
    }
    // the production hardening follows: the same override (profile, caps, read-only, ...)
    assert.equal(
      artifact(b.operaton.prod, COMPOSE_PRODUCTION_FILE),
      artifact(b.camunda.prod, COMPOSE_PRODUCTION_FILE),
    );
  });
});

Deno.test("engines: the engine and the workers get the same environment on both", async () => {
  await withTempDir(async (dir) => {
    const b = await builds(dir);
    for (const profile of ["dev", "prod"] as const) {
      const paths = b.camunda[profile].artifacts.map((a) => a.path).sort();
      assert.deepEqual(b.operaton[profile].artifacts.map((a) => a.path).sort(), paths);
      for (const p of paths.filter((x) => x.startsWith("env/"))) {
        assert.equal(
          artifact(b.operaton[profile], p),
          artifact(b.camunda[profile], p),
          `${profile}: ${p} is the same (the engine maps CAMUNDA_BPM_* onto either prefix)`,
        );
      }
    }
    const env = b.operaton.prod.model.services.find((s) => s.name === "camunda")!.env;
    assert.equal(env.SPRING_PROFILES_ACTIVE, "production");
    assert.equal(env.CAMUNDA_BPM_RUN_AUTH_ENABLED, "true");
  });
});

Deno.test("engines: verify's camunda checks follow the switch", async () => {
  await withTempDir(async (dir) => {
    const b = await builds(dir);
    const ctx = { specDir: REPO_ROOT } as Parameters<typeof camundaChecks>[1];
    const names = (r: CompileResult) =>
      Object.fromEntries(camundaChecks(r.model, ctx).map((c) => [c.id, c.name]));
    const ca = names(b.camunda.dev);
    const op = names(b.operaton.dev);
    assert.equal(ca["camunda.engine"], "camunda: engine 'default' runs Camunda 7");
    assert.equal(op["camunda.engine"], "camunda: engine 'default' runs Operaton 1");
    assert.equal(ca["camunda.webapps"], "camunda: the webapps answer at /camunda/");
    assert.equal(op["camunda.webapps"], "camunda: the webapps answer at /operaton/");
    assert.deepEqual(Object.keys(op), Object.keys(ca));
  });
});

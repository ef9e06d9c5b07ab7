/**
 * Property test of consumer acceptance (issue 9, deliverable 7): over seeded
 * VALID variations of the reference spec (`./valid_specs.ts`), compiled in
 * both profiles, every artifact passes its consumer's own validator
 * (`./consumer_checks.ts`); for a sample of the cases the real consumers
 * take them too (`./real_consumers.ts`: RabbitMQ, PostgreSQL, Redis, sh).
 *
 * - `PROCOS_FUZZ_CASES` (default 1000) cases; `PROCOS_FUZZ_SEED` (default 1)
 *   is the seed of case 0, case i uses seed + i.
 * - `PROCOS_FUZZ_REAL_EVERY` (default 50): the cases whose seed is a multiple
 *   of it also run the real consumers (0: none).
 * - The Compose v1 copies are checked for every tenth seed (each is a YAML
 *   round trip).
 * - A refusal (a `SpecError`) is counted; more than {@link MAX_REFUSED_SHARE}
 *   refused fails the test, since the generator means every case to be valid.
 *
 * Every failure names its seed and profile; rerun one case with
 * `PROCOS_FUZZ_SEED=<seed> PROCOS_FUZZ_CASES=1 PROCOS_FUZZ_REAL_EVERY=1
 * deno test --allow-all tests/compiler/consumers_fuzz_test.ts`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { compile, type CompileResult } from "../../compiler/compile.ts";
import { SpecError } from "../../compiler/diagnostics.ts";
import { type ProfileName, PROFILES } from "../../compiler/schema.ts";
import { toYaml } from "./mutate.ts";
import { validSpec } from "./valid_specs.ts";
import { backupScheduleProblems } from "./backup_schedule.ts";
import {
  composeDurationProblem,
  composeValidator,
  cronProblem,
  envProblems,
  type Problem,
  staticProblems,
} from "./consumer_checks.ts";
import {
  ensureManagement,
  rabbitmqProblems,
  redisProblems,
  shellProblems,
  sqlProblems,
} from "./real_consumers.ts";

const ROOT = new URL("../../", import.meta.url);
const CASES = Number(Deno.env.get("PROCOS_FUZZ_CASES") ?? "1000");
const SEED = Number(Deno.env.get("PROCOS_FUZZ_SEED") ?? "1");
const REAL_EVERY = Number(Deno.env.get("PROCOS_FUZZ_REAL_EVERY") ?? "50");
/** The largest share of generated cases the compiler may refuse. */
const MAX_REFUSED_SHARE = 0.02;
/** Production secrets for the reference spec (as the mutation fuzzer's). */
const ENV = {
  PROCOS_POSTGRES_PASSWORD: "fuzz-secret-pg-9f1c",
  PROCOS_POSTGRES_SUPERUSER_PASSWORD: "su-Secret-3d4e5f",
  PROCOS_RABBITMQ_PASSWORD: "fuzz-secret-mq-27ab",
  PROCOS_REDIS_PASSWORD: "fuzz-secret-rd-c0de",
  PROCOS_CAMUNDA_ADMIN_PASSWORD: "fuzz-secret-ca-51e7",
};

interface Failure extends Problem {
  seed: number;
  profile: ProfileName;
}

function rerun(seed: number): string {
  return `PROCOS_FUZZ_SEED=${seed} PROCOS_FUZZ_CASES=1 PROCOS_FUZZ_REAL_EVERY=1 ` +
    `deno test --allow-all tests/compiler/consumers_fuzz_test.ts`;
}

/** Groups messages by their shape (numbers and quoted values elided), with examples. */
function summarise<T extends { seed: number; profile: string }>(
  items: T[],
  key: (x: T) => string,
  show: (x: T) => string,
): string {
  const groups = new Map<string, T[]>();
  for (const x of items) {
    const k = key(x).replace(/"[^"]*"|`[^`]*`|\d+/g, "…").replace(/env\/[^:]*\.env/g, "env/….env")
      .replace(/services\.[^.]+\./g, "services.….")
      .replace(/value of [A-Z_]+/g, "value of …").slice(0, 160);
    groups.set(k, [...(groups.get(k) ?? []), x]);
  }
  return [...groups.entries()].sort((a, b) => b[1].length - a[1].length).map(([k, xs]) =>
    `  ${xs.length}× ${k}\n` +
    xs.slice(0, 3).map((x) => `      seed ${x.seed} (${x.profile}): ${show(x)}`).join("\n")
  ).join("\n");
}

const written = new Map<string, Map<string, string>>();

/** Makes `folder` hold exactly `files`, writing only what changed since the last call. */
async function syncFolder(folder: string, files: Record<string, string>): Promise<void> {
  let last = written.get(folder);
  if (!last) {
    await Deno.mkdir(folder, { recursive: true });
    written.set(folder, last = new Map());
  }
  for (const f of [...last.keys()].filter((f) => !(f in files))) {
    await Deno.remove(join(folder, f));
    last.delete(f);
  }
  for (const [f, text] of Object.entries(files)) {
    if (last.get(f) === text) continue;
    await Deno.writeTextFile(join(folder, f), text);
    last.set(f, text);
  }
}

Deno.test("consumers: every artifact of a valid spec passes its consumer's validator", async (t) => {
  const bpmn: Record<string, string> = {};
  for await (const e of Deno.readDir(new URL("processes/", ROOT))) {
    if (e.name.endsWith(".bpmn")) {
      bpmn[e.name] = await Deno.readTextFile(new URL(`processes/${e.name}`, ROOT));
    }
  }
  const validate = await composeValidator();
  const dir = await Deno.makeTempDir({ prefix: "procos-consumers-fuzz-" });
  const failures: Failure[] = [];
  const refusals: { seed: number; profile: string; message: string }[] = [];
  let built = 0;
  let real = 0;
  try {
    if (REAL_EVERY > 0) await ensureManagement();

    await t.step(`${CASES} valid cases from seed ${SEED}`, async () => {
      const started = performance.now();
      let realMs = 0;
      for (let i = 0; i < CASES; i++) {
        const seed = SEED + i;
        const c = validSpec(seed, bpmn);
        await syncFolder(join(dir, c.processes.path), c.processes.files);
        const file = join(dir, "procos.config.yaml");
        await Deno.writeTextFile(file, toYaml(c.spec));
        const fail = (profile: ProfileName, p: Problem) => failures.push({ seed, profile, ...p });
        for (const profile of PROFILES) {
          const env = profile === "production" ? c.productionEnv : c.developmentEnv;
          let r: CompileResult;
          try {
            r = await compile(file, { profile, env });
          } catch (e) {
            if (e instanceof SpecError) {
              refusals.push({ seed, profile, message: e.message.split("\n")[0] });
            } else {
              const message = e instanceof Error ? e.message : String(e);
              fail(profile, { consumer: "build", artifact: "(none)", message: `threw ${message}` });
            }
            continue;
          }
          built++;
          for (const p of staticProblems(r, validate, { v1: seed % 10 === 0 })) fail(profile, p);
          if (REAL_EVERY > 0 && seed % REAL_EVERY === 0) {
            const t0 = performance.now();
            real++;
            const consumers = {
              "rabbitmq/definitions.json": ["rabbitmq", rabbitmqProblems],
              "sql/init-db.sql": ["postgres", sqlProblems],
              "redis/redis.conf": ["redis-server", redisProblems],
              "*.sh": ["sh", shellProblems],
              "backup/backup.sh": ["backup loop", backupScheduleProblems],
            } as const;
            for (const [artifact, [consumer, run]] of Object.entries(consumers)) {
              try {
                for (const message of await run(r)) fail(profile, { consumer, artifact, message });
              } catch (e) {
                fail(profile, { consumer, artifact, message: `set-up failed: ${e}` });
              }
            }
            realMs += performance.now() - t0;
          }
        }
      }
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `consumers fuzz: ${CASES} cases from seed ${SEED}, ${built} builds, ${refusals.length} ` +
          `refusals, ${real} real-consumer runs (${(realMs / 1000).toFixed(1)} s), ` +
          `${failures.length} consumer failures, in ${seconds.toFixed(1)} s`,
      );
    });

    await t.step("every artifact passes its consumer", () => {
      if (failures.length === 0) return;
      const first = failures[0];
      assert.fail(
        `${failures.length} consumer failures (seed base ${SEED}):\n` +
          summarise(
            failures,
            (f) => `${f.consumer}: ${f.artifact}: ${f.message}`,
            (f) => `${f.consumer} ${f.artifact}: ${f.message.slice(0, 300)}`,
          ) +
          `\nrerun one case: ${rerun(first.seed)}`,
      );
    });

    await t.step(`the compiler refuses at most ${MAX_REFUSED_SHARE * 100}% of the cases`, () => {
      const share = refusals.length / (CASES * PROFILES.length);
      if (refusals.length > 0) {
        console.log(`refusals:\n${summarise(refusals, (r) => r.message, (r) => r.message)}`);
      }
      assert.ok(
        share <= MAX_REFUSED_SHARE,
        `${refusals.length} of ${CASES * PROFILES.length} builds refused (${
          (share * 100).toFixed(1)
        }%); ` +
          `rerun one: ${rerun(refusals[0]?.seed ?? SEED)}`,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("consumers: the checks refuse what their consumers refuse", async (t) => {
  const spec = new URL("procos.config.yaml", ROOT).pathname;
  const reference = await compile(spec, { profile: "development" });
  const withArtifact = (path: string, edit: (text: string) => string): CompileResult => ({
    ...reference,
    artifacts: reference.artifacts.map((a) =>
      a.path === path ? { ...a, content: edit(a.content) } : a
    ),
  });

  await t.step("the reference passes every static check", async () => {
    assert.deepEqual(staticProblems(reference, await composeValidator()), []);
  });

  await t.step("cron: out of range, never, and only every four years", () => {
    assert.equal(cronProblem("0 3 * * *"), null);
    assert.equal(cronProblem("*/15  1-5/2 1,15 * 1-5"), null);
    assert.match(cronProblem("60 3 * * *") ?? "", /croner refuses it/);
    assert.match(cronProblem("0 0 30 2 *") ?? "", /no run at all/);
    assert.match(cronProblem("0 0 29 2 *") ?? "", /more than a year/);
  });

  await t.step("compose durations: as go-str2duration reads them, in int64 nanoseconds", () => {
    assert.equal(composeDurationProblem("30s"), null);
    assert.equal(composeDurationProblem("7d"), null);
    assert.equal(composeDurationProblem("106751d"), null);
    assert.match(composeDurationProblem("106752d") ?? "", /overflows/);
    assert.match(composeDurationProblem("5 s") ?? "", /invalid duration/);
  });

  await t.step("env files: KEY='value' lines that read back as the model's", () => {
    const want = { A: "x y", B: "it's" };
    assert.deepEqual(envProblems("f.env", "# c\nA='x y'\nB=\"it's\"\n", want), []);
    const problems = (text: string) => envProblems("f.env", text, want).join("\n");
    assert.match(problems('A=x y\nB="it\'s"\n'), /f\.env:1: not one KEY='value' line/);
    assert.match(problems("1A='x y'\nB=\"it's\"\n"), /f\.env:1: not one/);
    assert.match(problems("A='x'\nB=\"it's\"\n"), /A reads back differently/);
    assert.match(problems("A='x y'\nA='x y'\nB=\"it's\"\n"), /A set twice/);
    assert.match(problems("A='x y'\n"), /keys A, the model's A,B/);
  });

  await t.step("compose: a misspelt key fails the schema", async () => {
    const bad = withArtifact("compose.yaml", (s) => s.replace("healthcheck:", "healthchek:"));
    const problems = staticProblems(bad, await composeValidator());
    assert.ok(problems.some((p) => p.consumer === "compose-spec" && p.artifact === "compose.yaml"));
  });

  await t.step("workers: a manifest the worker's own check refuses is found", async () => {
    const bad = withArtifact(
      "workers/kernel.json",
      (s) => JSON.stringify({ ...JSON.parse(s), kind: "kernal" }),
    );
    const problems = staticProblems(bad, await composeValidator());
    assert.ok(problems.some((p) => p.consumer === "worker" && /refuses it/.test(p.message)));
  });

  await t.step("rabbitmq: an item RabbitMQ skips (an amq. queue) is found", async () => {
    await ensureManagement();
    const bad = withArtifact("rabbitmq/definitions.json", (s) => {
      const d = JSON.parse(s);
      d.queues.push({ ...d.queues[0], name: "amq.procos-fuzz" });
      return JSON.stringify(d);
    });
    assert.deepEqual(await rabbitmqProblems(reference), []);
    const problems = await rabbitmqProblems(bad);
    assert.ok(problems.some((p) => p.includes("amq.procos-fuzz")), problems.join("\n"));
  });

  await t.step("redis: a directive redis-server refuses is found", async () => {
    assert.deepEqual(await redisProblems(reference), []);
    const bad = withArtifact("redis/redis.conf", (s) => `${s}maxmemory-policy sometimes\n`);
    const problems = await redisProblems(bad);
    assert.match(problems.join("\n"), /exited at start/);
  });

  await t.step("sh: a script a POSIX shell cannot parse is found", async () => {
    const prod = await compile(spec, { profile: "production", env: ENV });
    assert.deepEqual(await shellProblems(prod), []);
    const bad = { ...prod, artifacts: [...prod.artifacts, { path: "x.sh", content: "if then\n" }] };
    assert.match((await shellProblems(bad)).join("\n"), /x\.sh: sh -n/);
  });

  await t.step("backup loop: its due() agrees with croner, and a wrong hour is found", async () => {
    const prod = await compile(spec, { profile: "production", env: ENV });
    assert.deepEqual(await backupScheduleProblems(prod), []);
    const wrong = {
      ...prod,
      artifacts: prod.artifacts.map((a) =>
        a.path === "backup/backup.sh"
          ? { ...a, content: a.content.replace("SCHEDULE_HOUR='3'", "SCHEDULE_HOUR='4'") }
          : a
      ),
    };
    assert.match(
      (await backupScheduleProblems(wrong)).join("\n"),
      /the backup loop says not due, croner due/,
    );
  });

  await t.step(
    "postgres: the reference's init SQL runs twice, its retention read back",
    async () => {
      assert.deepEqual(await sqlProblems(reference), []);
      const changed = withArtifact("sql/init-db.sql", (s) => `${s}SELECT 1;\n`);
      assert.deepEqual(await sqlProblems(changed), ["emitSql is not deterministic"]);
    },
  );
});

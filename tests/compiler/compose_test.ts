/**
 * The Compose emitter: every compose file validates against the Compose
 * Specification schema, and says what the seed and the spec mean.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { Ajv2020 } from "ajv/dist/2020.js";
import { compile } from "../../compiler/compile.ts";
import type { CompileResult } from "../../compiler/compile.ts";
import {
  COMPOSE_FILE,
  COMPOSE_PRODUCTION_FILE,
  escapeInterpolation,
  halfMemory,
} from "../../compiler/emit/compose.ts";
import { AUXILIARY_IMAGES, BACKUP_SCRIPT, setupJobs } from "../../compiler/emit/containers.ts";
import { composeSchemaUrl, referenceSpec, REPO_ROOT, TEST_SECRETS } from "../helpers/build.ts";

type Doc = Record<string, unknown>;
// deno-lint-ignore no-explicit-any
type Any = any;

const UNION_LISTS = new Set(["cap_add", "cap_drop", "security_opt", "tmpfs", "profiles"]);

/**
 * Merges an override over a base the way `docker compose -f a -f b` does for
 * the keys ProcOS writes: mappings merged, these lists unioned, the rest
 * replaced.
 */
function mergeCompose(base: unknown, over: unknown, key = ""): unknown {
  if (Array.isArray(base) && Array.isArray(over) && UNION_LISTS.has(key)) {
    return [...new Set([...base, ...over])];
  }
  const isMap = (v: unknown): v is Doc => typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isMap(base) || !isMap(over)) return over;
  const out: Doc = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? mergeCompose(base[k], v, k) : v;
  return out;
}

function text(r: CompileResult, path: string): string {
  const a = r.artifacts.find((x) => x.path === path);
  assert.ok(a, `no artifact ${path}; artifacts: ${r.artifacts.map((x) => x.path).join(", ")}`);
  return a.content;
}

function strings(v: unknown): string[] {
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (typeof v === "object" && v !== null) return Object.values(v).flatMap(strings);
  return [];
}

/** The environment the env emitter writes for container `name`. */
function envOf(r: CompileResult, name: string): Record<string, string> {
  const all = [...r.model.services, ...setupJobs(r.model)];
  const found = all.find((s) => s.name === name);
  assert.ok(found, `no container ${name}`);
  return found.env;
}

const SEED_LIMITS = {
  development: {
    camunda: { cpus: 2, memory: "2g" },
    postgres: { cpus: 1, memory: "1g" },
    ollama: { cpus: 2, memory: "4g" },
    redis: { memory: "512m" },
    rabbitmq: { memory: "512m" },
  },
  production: {
    camunda: { cpus: 4, memory: "4g" },
    postgres: { cpus: 2, memory: "4g" },
    ollama: { cpus: 4, memory: "8g" },
    redis: { memory: "1g" },
    rabbitmq: { memory: "1g" },
  },
} as const;

Deno.test("compose files", async (t) => {
  const schema = JSON.parse(await Deno.readTextFile(composeSchemaUrl()));
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validate = ajv.compile(schema);
  const dev = await compile(referenceSpec(), { profile: "development" });
  const prod = await compile(referenceSpec(), { profile: "production", env: { ...TEST_SECRETS } });
  const devDoc = parse(text(dev, COMPOSE_FILE)) as Any;
  const prodBase = parse(text(prod, COMPOSE_FILE)) as Any;
  const prodOverride = parse(text(prod, COMPOSE_PRODUCTION_FILE)) as Any;
  const merged = mergeCompose(prodBase, prodOverride) as Any;
  const views: Array<[string, Any]> = [
    ["development compose.yaml", devDoc],
    ["production compose.yaml", prodBase],
    ["production compose.production.yaml", prodOverride],
    ["production merged view", merged],
  ];

  await t.step("every file validates against the Compose Specification schema", () => {
    for (const [name, doc] of views) {
      const ok = validate(doc);
      assert.ok(ok, `${name}: ${ajv.errorsText(validate.errors, { separator: "\n" })}`);
    }
  });

  await t.step("the schema check has teeth", () => {
    const bad = structuredClone(devDoc);
    bad.services.postgres.healthchek = bad.services.postgres.healthcheck;
    assert.equal(validate(bad), false);
    const badPort = structuredClone(devDoc);
    badPort.services.postgres.ports[0].target = { port: 5432 };
    assert.equal(validate(badPort), false);
  });

  await t.step("a development build writes no production override", () => {
    assert.equal(dev.artifacts.some((a) => a.path === COMPOSE_PRODUCTION_FILE), false);
    assert.equal(dev.artifacts.some((a) => a.path === BACKUP_SCRIPT), false);
  });

  await t.step("top level: name, the bridge network (subnet in production), volumes", () => {
    for (const doc of [devDoc, prodBase]) {
      assert.equal(doc.name, "procos");
      assert.equal(doc.networks["procos-network"].driver, "bridge");
      assert.deepEqual(Object.keys(doc.volumes), [
        "ai_archive",
        "ollama_data",
        "postgres_data",
        "rabbitmq_data",
        "redis_data",
      ]);
    }
    assert.equal(devDoc.networks["procos-network"].ipam, undefined);
    assert.deepEqual(prodBase.networks["procos-network"].ipam, {
      config: [{ subnet: "172.28.0.0/16" }],
    });
  });

  await t.step("depends_on: postgres → camunda → kernel → workers, all service_healthy", () => {
    for (const doc of [devDoc, merged]) {
      const s = doc.services;
      const healthy = { condition: "service_healthy" };
      assert.deepEqual(s.camunda.depends_on.postgres, healthy);
      assert.deepEqual(s.kernel.depends_on.camunda, healthy);
      assert.deepEqual(s["ai-worker"].depends_on.kernel, healthy);
      assert.deepEqual(s["ai-worker"].depends_on.ollama, healthy);
      assert.deepEqual(s["generic-worker"].depends_on.kernel, healthy);
      // Services wait for healthy dependencies, and for the set-up job to
      // have completed (it brings the database to the spec at every up).
      const completed = { condition: "service_completed_successfully" };
      assert.deepEqual(s.camunda.depends_on["postgres-setup"], completed);
      assert.deepEqual(s["postgres-setup"].depends_on, { postgres: healthy });
      for (const svc of Object.values(s) as Any[]) {
        for (const [dep, cond] of Object.entries(svc.depends_on ?? {})) {
          assert.deepEqual(cond, dep === "postgres-setup" ? completed : healthy);
        }
      }
      // Startup order: each service comes after what it depends on.
      const order = Object.keys(s);
      for (const [name, svc] of Object.entries(s) as Array<[string, Any]>) {
        for (const dep of Object.keys(svc.depends_on ?? {})) {
          assert.ok(order.indexOf(dep) < order.indexOf(name), `${dep} before ${name}`);
        }
      }
    }
  });

  await t.step("health checks: ollama list, rabbitmq check_port_connectivity", () => {
    for (const doc of [devDoc, merged]) {
      assert.deepEqual(doc.services.ollama.healthcheck.test, ["CMD", "ollama", "list"]);
      assert.match(doc.services.rabbitmq.healthcheck.test.join(" "), /check_port_connectivity/);
      for (const [name, svc] of Object.entries(doc.services) as Array<[string, Any]>) {
        if (name === "redis-exporter" || name === "postgres-exporter") continue;
        if (name === "postgres-setup") {
          // a job: it runs once per up and exits; a restart would loop it
          assert.equal(svc.healthcheck, undefined);
          assert.equal(svc.restart, "no");
          continue;
        }
        assert.ok(svc.healthcheck?.test, `${name} has a health check`);
      }
      // PostgreSQL is healthy as soon as the superuser's own database answers:
      // the application database is the set-up job's to create.
      assert.match(doc.services.postgres.healthcheck.test.join(" "), /-U postgres -d postgres/);
    }
    // The kernel reports ready only after pulling its models (about 1.3 GB
    // for llama3.2:1b): its start period gives each model 20 minutes, so a
    // first start on a fresh host is not "dependency failed to start".
    const models = dev.model.ai.providers.reduce((n, p) => n + p.models.length, 0);
    assert.ok(models > 0);
    assert.equal(devDoc.services.kernel.healthcheck.start_period, `${30 + 1200 * models}s`);
    assert.equal(devDoc.services["ai-worker"].healthcheck.start_period, "30s");
    assert.equal(devDoc.services.postgres.healthcheck.interval, "30s");
    assert.equal(merged.services.postgres.healthcheck.interval, "15s");
    assert.equal(merged.services.camunda.healthcheck.start_period, "120s");
  });

  await t.step("no secret value appears in any compose file; env comes from env_file", () => {
    for (const r of [dev, prod]) {
      const m = r.model;
      const secrets = [m.postgres.password, m.redis.password, m.rabbitmq.password];
      secrets.push(m.camunda.adminPassword);
      const files = r.artifacts.filter((a) =>
        a.path.startsWith("compose") || a.path === BACKUP_SCRIPT
      );
      for (const f of files) {
        for (const s of secrets) {
          assert.ok(!f.content.includes(s), `${f.path} holds a secret`);
          assert.ok(!f.content.includes(escapeInterpolation(s)), `${f.path} holds a secret`);
        }
      }
    }
    for (const [, doc] of views) {
      for (const [name, svc] of Object.entries(doc.services) as Array<[string, Any]>) {
        assert.equal(svc.environment, undefined, `${name} has no inline environment`);
        if (svc.image) assert.deepEqual(svc.env_file, [`./env/${name}.env`]);
      }
    }
  });

  await t.step("every $ is escaped as $$ so Compose interpolates nothing", () => {
    for (const [name, doc] of views) {
      for (const s of strings(doc)) {
        assert.ok(!s.replaceAll("$$", "").includes("$"), `${name}: unescaped $ in ${s}`);
      }
    }
    // Redis's password goes into a file only the redis user reads, never on
    // its command line (where `ps` would show it).
    const redis = merged.services.redis.command.join(" ");
    assert.doesNotMatch(redis, /--requirepass/);
    assert.match(
      redis,
      /umask 077 .*"\$\$REDIS_PASSWORD".* --include \/tmp\/procos-redis-auth\.conf$/,
    );
  });

  await t.step("limits per profile match the seed; production reserves half", () => {
    const check = (doc: Any, profile: keyof typeof SEED_LIMITS) => {
      for (const [name, want] of Object.entries(SEED_LIMITS[profile])) {
        const limits = doc.services[name].deploy.resources.limits;
        assert.equal(limits.memory, want.memory, `${profile} ${name} memory`);
        // A CFS quota, not `cpus`: Docker refuses `cpus` above the host's
        // CPU count, while a quota above it simply never throttles.
        assert.equal(limits.cpus, undefined, `${profile} ${name}: no NanoCPUs limit`);
        if ("cpus" in want) {
          const svc = doc.services[name];
          assert.equal(svc.cpu_quota / svc.cpu_period, want.cpus, `${profile} ${name} cpus`);
        }
      }
    };
    check(devDoc, "development");
    check(prodBase, "production");
    check(merged, "production");
    for (const name of Object.keys(SEED_LIMITS.production)) {
      const r = merged.services[name].deploy.resources;
      assert.equal(r.reservations.memory, halfMemory(r.limits.memory));
      // CPU reservations work only in swarm: half the CPUs become a weight.
      assert.equal(r.reservations.cpus, undefined);
      const svc = merged.services[name];
      assert.equal(svc.cpu_shares, Math.max(2, Math.round((svc.cpu_quota / 100_000 / 2) * 1024)));
    }
    assert.equal(devDoc.services.postgres.deploy.resources.reservations, undefined);
  });

  await t.step("production binds postgres, redis, rabbitmq and ollama to 127.0.0.1", () => {
    for (const name of ["postgres", "redis", "rabbitmq", "ollama"]) {
      const ports = merged.services[name].ports as Any[];
      assert.ok(ports.length > 0);
      for (const p of ports) assert.equal(p.host_ip, "127.0.0.1", `${name} port ${p.target}`);
    }
    for (const p of devDoc.services.postgres.ports) assert.equal(p.host_ip, undefined);
  });

  await t.step(
    "host paths are relative to out/; generated files are mounted read-only",
    async () => {
      const v = (doc: Any, name: string) => doc.services[name].volumes as string[];
      // The workers mount nothing from the source tree: the worker image holds
      // the code, and the processes are the build's copy under out/.
      for (const [, doc] of views) {
        for (const [name, svc] of Object.entries(doc.services) as [string, Any][]) {
          // the verify container reads the spec, its processes and backups: read-only, by name
          if (name === "verify") {
            for (const vol of svc.volumes as string[]) {
              assert.match(vol, /^\.\.?\/[^:]*:\/procos\/[^:]+:ro$/);
            }
            continue;
          }
          for (const vol of (svc.volumes ?? []) as string[]) {
            if (vol.startsWith("../backups:")) continue; // the backups' host folder
            assert.ok(!vol.startsWith("../"), `${vol} mounts the source tree`);
          }
        }
      }
      assert.deepEqual(v(devDoc, "kernel"), [
        "./workers/kernel.json:/procos/manifest.json:ro",
        "./processes:/procos/processes:ro",
      ]);
      const copies = dev.artifacts.filter((a) => a.path.startsWith("processes/"));
      for (const f of ["procos-boot.bpmn", "procos-smoke.bpmn"]) {
        const copy = copies.find((a) => a.path === `processes/${f}`);
        assert.equal(copy?.content, await Deno.readTextFile(`${REPO_ROOT}/processes/${f}`));
      }
      for (const name of ["kernel", "ai-worker", "generic-worker"]) {
        assert.deepEqual(devDoc.services[name].build, {
          context: "..",
          dockerfile: "workers/Dockerfile",
        });
        assert.equal(devDoc.services[name].image, "procos/worker:2.9.6");
        assert.ok(devDoc.services[name].command.includes("--cached-only"), "no fetch at start");
      }
      assert.deepEqual(devDoc.services.camunda.build, {
        context: "../engine",
        dockerfile: "Dockerfile",
      });
      assert.equal(merged.services.camunda.image, "procos/engine:7.24.0");
      // the retention task exports the archive into a named volume, read-write
      assert.ok(v(devDoc, "generic-worker").includes("ai_archive:/var/lib/procos/archive"));
      assert.ok(!v(devDoc, "ai-worker").some((x) => x.startsWith("ai_archive:")));
      // initdb.d runs only on an empty data folder: the set-up job applies the
      // (idempotent) init SQL at every up instead, as the superuser.
      assert.ok(!v(devDoc, "postgres").some((x) => x.includes("docker-entrypoint-initdb.d")));
      assert.deepEqual(v(devDoc, "postgres-setup"), [
        "./sql:/procos/sql:ro",
        "./postgres/setup.sh:/procos/setup.sh:ro",
      ]);
      assert.ok(
        v(devDoc, "redis").includes("./redis/redis.conf:/usr/local/etc/redis/redis.conf:ro"),
      );
      assert.ok(
        v(devDoc, "rabbitmq").includes("./rabbitmq/rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro"),
      );
      // The 0600 definitions are mounted aside and installed, owned by the
      // container's rabbitmq user, where rabbitmq.conf loads them from.
      assert.ok(
        v(devDoc, "rabbitmq").includes(
          "./rabbitmq/definitions.json:/procos/rabbitmq/definitions.json:ro",
        ),
      );
      const mqCommand = (devDoc.services.rabbitmq.command as string[]).join(" ");
      assert.match(mqCommand, /install -o rabbitmq .*\/etc\/rabbitmq\/definitions\.json/);
      assert.match(mqCommand, /exec docker-entrypoint\.sh rabbitmq-server/);
      for (const [, doc] of views) {
        for (const svc of Object.values(doc.services) as Any[]) {
          for (const vol of (svc.volumes ?? []) as string[]) {
            assert.ok(!vol.startsWith("./out/"), vol);
            const source = vol.split(":")[0];
            // (`./` alone is the out folder itself, which the verify container reads)
            if (source.startsWith("./") && source !== "./") {
              const path = source.slice(2);
              const r = doc === devDoc ? dev : prod;
              assert.ok(
                r.artifacts.some((a) => a.path === path || a.path.startsWith(`${path}/`)),
                `${vol}: no artifact ${path}`,
              );
            }
          }
        }
      }
    },
  );

  await t.step("what the official images need: roles, node names, networks", async () => {
    for (const r of [dev, prod]) {
      const env = (name: string) => envOf(r, name);
      // POSTGRES_USER becomes the cluster's superuser: it is `postgres`, and
      // the application role is an ordinary one the set-up job creates.
      const pg = env("postgres");
      assert.equal(pg.POSTGRES_USER, "postgres");
      assert.equal(pg.POSTGRES_DB, undefined);
      const job = env("postgres-setup");
      assert.equal(job.PGUSER, "postgres");
      assert.equal(job.PROCOS_DB_PASSWORD, r.model.postgres.password);
      assert.equal(env("camunda").DB_USERNAME, "procos");
      const script = text(r, "postgres/setup.sh");
      assert.match(script, /psql -v ON_ERROR_STOP=1 -q -f \/procos\/sql\/init-db.sql/);
      assert.match(
        script,
        /ALTER ROLE "procos" WITH LOGIN NOSUPERUSER PASSWORD :'procos_password'/,
      );
      assert.ok(!script.includes(r.model.postgres.password), "no password in the script");
    }
    assert.equal(
      envOf(prod, "postgres").POSTGRES_PASSWORD,
      TEST_SECRETS.PROCOS_POSTGRES_SUPERUSER_PASSWORD,
    );
    // The production engine runs its hardened Spring profile; development does not.
    assert.equal(envOf(prod, "camunda").SPRING_PROFILES_ACTIVE, "production");
    assert.equal(envOf(dev, "camunda").SPRING_PROFILES_ACTIVE, undefined);
    // RabbitMQ names its node, and the message store under it, after the host.
    assert.equal(devDoc.services.rabbitmq.hostname, "rabbitmq");
    // No fixed network name: Compose prefixes the project's, so two stacks coexist.
    for (const [, doc] of views) {
      for (const net of Object.values(doc.networks ?? {}) as Any[]) {
        assert.equal(net.name, undefined);
      }
    }
    // A changed password or config recreates Redis and RabbitMQ (their
    // digest is in their env), so Compose does not keep the old container.
    const digest = (r: CompileResult, name: string) => envOf(r, name).PROCOS_CONFIG_DIGEST;
    for (const name of ["redis", "rabbitmq"]) {
      assert.match(digest(dev, name), /^[0-9a-f]{16}$/);
      assert.notEqual(digest(dev, name), digest(prod, name));
      const rotated = await compile(referenceSpec(), {
        profile: "production",
        env: { ...TEST_SECRETS, PROCOS_REDIS_PASSWORD: "other", PROCOS_RABBITMQ_PASSWORD: "other" },
      });
      assert.notEqual(
        digest(rotated, name),
        digest(prod, name),
        `${name} digest follows the password`,
      );
    }
  });

  await t.step("production override: hardening, log rotation, production-only services", () => {
    const o = prodOverride.services;
    for (const [name, svc] of Object.entries(o) as Array<[string, Any]>) {
      assert.deepEqual(svc.logging, {
        driver: "json-file",
        options: { "max-size": "10m", "max-file": "3" },
      });
      assert.deepEqual(svc.security_opt, ["no-new-privileges:true"], name);
    }
    for (const name of ["postgres", "redis", "rabbitmq"]) {
      assert.deepEqual(o[name].cap_drop, ["ALL"]);
      for (const cap of ["CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE", "FOWNER"]) {
        assert.ok(o[name].cap_add.includes(cap), `${name} keeps ${cap}`);
      }
    }
    for (const name of ["kernel", "ai-worker", "generic-worker"]) {
      assert.deepEqual(o[name].cap_drop, ["ALL"]);
      assert.equal(o[name].read_only, true);
    }
    for (const name of ["backup", "postgres-exporter", "redis-exporter"]) {
      assert.deepEqual(o[name].profiles, ["production"], name);
      assert.match(o[name].image, /^[^:]+(:[^:]+)?:(?!latest$)[A-Za-z0-9_.-]+$/, "pinned tag");
    }
    for (const name of Object.keys(prodBase.services)) {
      assert.equal(o[name].profiles, undefined, `${name} runs without --profile too`);
    }
    assert.equal(o["postgres-exporter"].image, AUXILIARY_IMAGES.postgresExporter);
    assert.equal(o["redis-exporter"].image, AUXILIARY_IMAGES.redisExporter);
    assert.equal(o.backup.image, prod.model.services.find((s) => s.name === "postgres")!.image);
    assert.ok(o.backup.volumes.includes("../backups:/backups"));
    assert.deepEqual(o.backup.env_file, ["./env/backup.env"]);
    assert.deepEqual(o.backup.depends_on, { postgres: { condition: "service_healthy" } });
  });

  await t.step("the backup loop matches its cron schedule", async () => {
    const script = text(prod, BACKUP_SCRIPT);
    assert.match(script, /^SCHEDULE_MINUTE='0'$/m);
    assert.match(script, /^SCHEDULE_HOUR='3'$/m);
    assert.match(script, /^RETENTION_DAYS=14$/m);
    const library = script.slice(0, script.indexOf("\n# main\n"));
    const due = async (schedule: string[], at: string) => {
      const vars = ["MINUTE", "HOUR", "DAY", "MONTH", "WEEKDAY"]
        .map((k, i) => `SCHEDULE_${k}='${schedule[i]}'`).join("\n");
      const { code } = await new Deno.Command("sh", {
        args: ["-c", `${library}\n${vars}\ndue ${at}`],
        stdout: "null",
        stderr: "inherit",
      }).output();
      return code === 0;
    };
    const daily = ["0", "3", "*", "*", "*"];
    assert.equal(await due(daily, "00 03 15 06 2"), true);
    assert.equal(await due(daily, "01 03 15 06 2"), false);
    assert.equal(await due(daily, "00 04 15 06 2"), false);
    const quarter = ["*/15", "8-17", "*", "*", "1-5"];
    assert.equal(await due(quarter, "45 09 03 02 1"), true);
    assert.equal(await due(quarter, "50 09 03 02 1"), false);
    assert.equal(await due(quarter, "45 09 03 02 0"), false);
    const sundays = ["30", "2", "*", "*", "7"];
    assert.equal(await due(sundays, "30 02 07 09 0"), true);
    const either = ["0", "0", "1", "*", "1"]; // the 1st, or any Monday
    assert.equal(await due(either, "00 00 01 03 4"), true);
    assert.equal(await due(either, "00 00 09 03 1"), true);
    assert.equal(await due(either, "00 00 09 03 2"), false);
  });

  await t.step("output is byte-identical across compiles", async () => {
    const again = await compile(referenceSpec(), {
      profile: "production",
      env: { ...TEST_SECRETS },
    });
    for (const p of [COMPOSE_FILE, COMPOSE_PRODUCTION_FILE, BACKUP_SCRIPT]) {
      assert.equal(text(again, p), text(prod, p));
    }
  });

  await t.step("halfMemory", () => {
    assert.equal(halfMemory("4g"), "2g");
    assert.equal(halfMemory("1g"), "512m");
    assert.equal(halfMemory("512m"), "256m");
    assert.equal(halfMemory("3m"), "1536k");
    assert.equal(halfMemory("1k"), "1k");
  });
});

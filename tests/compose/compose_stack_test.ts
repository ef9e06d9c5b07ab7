/**
 * The stack users run: the generated development Compose files, brought up
 * by `deno task up` with Compose against a Docker API (here podman's socket
 * and Debian's docker-compose 1.29), on the images `deno task images` built
 * (the ProcOS engine and worker images from their Dockerfiles; stand-ins for
 * postgres, redis, rabbitmq and ollama from `tests/images/`).
 *
 * Then: `deno task verify` passes with every domain (containers included);
 * the smoke process runs through the containers; faults on the containers
 * (a killed worker, PostgreSQL stopped and started, `down` then `up`, a
 * rotated password) each heal as the spec says; `down --purge` leaves no
 * container, network or volume of the project.
 *
 * The spec is the reference's with its own project and free host ports
 * (`tests/fixtures/compose/make_compose_spec.ts`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { build } from "../../compiler/compile.ts";
import type { JsonReport } from "../../verify/reporters/json.ts";
import { ContainerApi, type ContainerSummary } from "../../runtime/docker_api.ts";
import { podmanEnv } from "../../runtime/images.ts";
import { parse } from "yaml";
import { ROOT } from "../fixtures/stack/make_spec.ts";
import { makeComposeSpec } from "../fixtures/compose/make_compose_spec.ts";
import { runDeno } from "../fixtures/stack/machine.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name:
    "compose: the generated stack runs under Compose: up, verify every domain, smoke, faults, down/up, password rotation",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const penv = await podmanEnv();
    const dockerHost = Deno.env.get("DOCKER_HOST") || penv.DOCKER_HOST;
    const api = new ContainerApi(dockerHost);
    assert.ok(
      await api.ping(),
      `no Docker API answers at ${dockerHost}: run \`deno task images\` (it sets podman up)`,
    );
    const spec = await makeComposeSpec();
    const out = join(spec.dir, "out");
    const outProd = join(spec.dir, "out-prod");
    const env = () => ({ ...spec.secretsEnv, ...penv, DOCKER_HOST: dockerHost });
    const camundaUrl = `http://127.0.0.1:${spec.ports.camunda[8080]}/engine-rest`;
    const dbUrl = () =>
      `postgres://procos:${
        encodeURIComponent(spec.secretsEnv[spec.secretEnvOf.postgres_password])
      }@127.0.0.1:${spec.ports.postgres[5432]}/procos`;
    const mq = () => ({
      url: `http://127.0.0.1:${spec.ports.rabbitmq[15672]}/api`,
      auth: "Basic " + btoa(`procos:${spec.secretsEnv[spec.secretEnvOf.rabbitmq_password]}`),
    });

    const until = async (what: string, fn: () => Promise<boolean>, timeoutMs = 120_000) => {
      for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(1000)) {
        if (await fn().catch(() => false)) return;
      }
      assert.fail(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    };
    const cli = async (args: string[], dir = out) => {
      const r = await runDeno("runtime/cli.ts", [...args, "--out", dir], env());
      assert.equal(r.code, 0, `deno task ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
      return r;
    };
    const up = (dir = out, extra: string[] = []) =>
      cli(["up", "--engine", "docker", "--config", spec.config, ...extra], dir);
    const verify = async (): Promise<JsonReport> => {
      const r = await runDeno("verify/cli.ts", [
        "--config",
        spec.config,
        "--out",
        out,
        "--reporter",
        "json",
      ], env());
      assert.ok(r.code === 0 || r.code === 1, `verify did not run (exit ${r.code}): ${r.stderr}`);
      return JSON.parse(r.stdout) as JsonReport;
    };
    const failing = (r: JsonReport) =>
      r.checks.filter((c) => c.status === "fail").map((c) =>
        `${c.id}: expected ${c.expected}, actual ${c.actual}`
      );
    const failingIds = async () =>
      (await verify()).checks.filter((c) => c.status === "fail").map((c) => c.id).sort();
    const green = (what: string) =>
      until(what, async () => failing(await verify()).length === 0, 180_000);
    const camunda = async (method: string, path: string, json?: unknown) => {
      const res = await fetch(`${camundaUrl}${path}`, {
        method,
        body: json === undefined ? undefined : JSON.stringify(json),
        headers: json === undefined ? {} : { "content-type": "application/json" },
      });
      const text = await res.text();
      assert.ok(res.ok, `${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
      return text ? JSON.parse(text) : undefined;
    };
    const container = async (service: string): Promise<ContainerSummary> => {
      const c = (await api.projectContainers(spec.project)).find((c) => c.service === service);
      assert.ok(c, `no container of ${service}`);
      return c;
    };
    const healthy = (service: string) =>
      until(`${service} healthy`, async () => {
        const c = await container(service);
        return c.status === "running" && c.health === "healthy";
      });
    /** Runs procos-smoke to its end; returns its process instance id. */
    const smoke = async (tag: string): Promise<string> => {
      const v = (value: unknown, type = "String") => ({ value, type });
      const pi = await camunda("POST", "/process-definition/key/procos-smoke/start", {
        businessKey: `compose-${tag}`,
        variables: {
          instruction: v("Say hello"),
          input: v(`smoke ${tag}`),
          httpUrl: v("http://camunda:8080/engine-rest/engine"),
          sqlStatement: v("SELECT count(*) AS n FROM procos_ai_context"),
          publishRoutingKey: v("procos.smoke"),
          publishMessage: v(tag),
          redisOp: v("set"),
          redisKey: v(`procos:smoke:${tag}`),
          redisValue: v(tag),
        },
      }) as { id: string };
      await until(`procos-smoke ${tag} to complete`, async () => {
        const h = await camunda("GET", `/history/process-instance/${pi.id}`) as { state: string };
        return h.state === "COMPLETED";
      });
      return pi.id;
    };
    const sql = async <T>(fn: (db: postgres.Sql) => Promise<T>): Promise<T> => {
      const db = postgres(dbUrl(), { max: 1, onnotice: () => {} });
      try {
        return await fn(db);
      } finally {
        await db.end({ timeout: 5 });
      }
    };
    const contextRows = (pid: string) =>
      sql(async (db) =>
        Number(
          (await db`SELECT count(*)::int AS n FROM procos_ai_context WHERE process_instance_id = ${pid}`)[
            0
          ].n,
        )
      );
    const completedInstances = async () =>
      (await camunda(
        "GET",
        "/history/process-instance/count?processDefinitionKey=procos-smoke&finished=true",
      ) as {
        count: number;
      }).count;

    // Each step needs the ones before it: after a failure, the rest are not run.
    let ok = true;
    const step = async (name: string, fn: () => Promise<void>) => {
      if (ok) ok = await t.step(name, fn);
    };
    try {
      await step("deno task build, then deno task up with Compose", async () => {
        await build(spec.config, { outDir: out, env: spec.secretsEnv, profile: "development" });
        const r = await up();
        assert.match(r.stdout, /procos up: Docker API at .*; docker(-| )compose/);
        assert.match(r.stdout, /the stack is up and healthy/);
        const cs = await api.projectContainers(spec.project);
        const services = new Set(cs.map((c) => c.service));
        for (
          const s of [
            "postgres",
            "postgres-setup",
            "redis",
            "rabbitmq",
            "ollama",
            "camunda",
            "kernel",
            "ai-worker",
            "generic-worker",
          ]
        ) assert.ok(services.has(s), `a container of ${s}`);
        const job = cs.find((c) => c.service === "postgres-setup")!;
        assert.equal(job.status, "exited");
        assert.equal(job.exitCode, 0);
      });

      await step("deno task verify passes with every domain, containers included", async () => {
        const r = await verify();
        assert.deepEqual(failing(r), []);
        const containers = r.checks.filter((c) => c.domain === "containers");
        assert.ok(containers.length > 10, `containers checks ran (${containers.length})`);
        assert.deepEqual(containers.filter((c) => c.status !== "pass").map((c) => c.id), []);
        for (const d of ["postgres", "redis", "rabbitmq", "camunda", "ollama", "workers"]) {
          assert.ok(r.checks.some((c) => c.domain === d && c.status === "pass"), `${d} checked`);
        }
      });

      let first = "";
      await step("the smoke process runs through the containers", async () => {
        first = await smoke("first");
        assert.ok(await contextRows(first) >= 1, "the AI task is stored in procos_ai_context");
        const noop = await camunda(
          "GET",
          `/history/activity-instance?processInstanceId=${first}&activityId=task_generic_noop&finished=true`,
        ) as unknown[];
        assert.equal(noop.length, 1, "the generic task is done, once");
      });

      await step("a stopped worker container: exactly its own checks fail", async () => {
        const c = await container("generic-worker");
        await api.post(`/containers/${c.id}/stop?t=5`);
        assert.deepEqual(await failingIds(), [
          "containers.generic-worker.running",
          "workers.health.generic-worker",
          "workers.metrics.generic-worker",
        ]);
        await api.post(`/containers/${c.id}/start`);
        await healthy("generic-worker");
        await green("verify green with the worker started again");
      });

      await step("a crashed worker container is restarted by its policy", async () => {
        const before = await container("generic-worker");
        // SIGKILL to its process from the host, as a crash or the OOM killer would
        // (`docker kill` counts as a manual stop, which restart policies leave alone)
        type Inspect = { State: { Pid: number; StartedAt: string } };
        const inspect = () => api.get<Inspect>(`/containers/${before.id}/json`);
        const { State: was } = await inspect();
        assert.ok(was.Pid > 0);
        Deno.kill(was.Pid, "SIGKILL");
        await until("generic-worker restarted and healthy", async () => {
          const c = await container("generic-worker");
          const { State: now } = await inspect();
          return c.id === before.id && now.StartedAt !== was.StartedAt && c.status === "running" &&
            c.health === "healthy";
        });
        const instance = await smoke("after-kill");
        const noop = await camunda(
          "GET",
          `/history/activity-instance?processInstanceId=${instance}&activityId=task_generic_noop&finished=true`,
        ) as unknown[];
        assert.equal(noop.length, 1, "the task completes once");
        await green("verify green after the restart");
      });

      await step("postgres stopped and started: Camunda and the workers recover", async () => {
        const done = await completedInstances();
        const pg = await container("postgres");
        await api.post(`/containers/${pg.id}/stop?t=10`);
        await until(
          "postgres stopped",
          async () => (await container("postgres")).status !== "running",
        );
        // Caught by its own checks: PostgreSQL's, its container's and its port's, and
        // Camunda's that read the engine's data (it lives in that database); nothing of
        // Redis, RabbitMQ, Ollama or the other containers. A worker whose calls to that
        // Camunda have begun to fail may say so in its health (and only that).
        const report = await verify();
        const viaCamunda = new Set(
          report.checks.filter((c) =>
            c.status === "fail" && c.id.startsWith("workers.health.") &&
            /Camunda not reachable/.test(c.actual ?? "")
          ).map((c) => c.id),
        );
        const during = report.checks.filter((c) => c.status === "fail" && !viaCamunda.has(c.id))
          .map((c) => c.id).sort();
        for (
          const id of ["containers.postgres.running", "services.tcp.postgres", "postgres.database"]
        ) {
          assert.ok(during.includes(id), `${id} fails while postgres is stopped`);
        }
        const own = (id: string) => id.split(".").includes("postgres"); // postgres.*, containers.postgres.*, services.*.postgres
        const foreign = during.filter((id) => !own(id) && !id.startsWith("camunda."));
        assert.deepEqual(
          foreign,
          [],
          `only postgres's own checks (and Camunda's data) fail: ${
            JSON.stringify(
              report.checks.filter((c) => foreign.includes(c.id)).map((c) => [c.id, c.actual]),
            )
          }`,
        );
        await api.post(`/containers/${pg.id}/start`);
        await healthy("postgres");
        await green("verify green after postgres came back");
        await smoke("after-postgres");
        assert.equal(await completedInstances(), done + 1, "nothing lost, one more completed");
      });

      await step(
        "down then up without -v keeps instances, context rows and queued messages",
        async () => {
          const done = await completedInstances();
          const rows = await contextRows(first);
          const m = mq();
          const queue = "procos.notifications";
          const pub = await fetch(`${m.url}/exchanges/procos/amq.default/publish`, {
            method: "POST",
            headers: { authorization: m.auth, "content-type": "application/json" },
            body: JSON.stringify({
              routing_key: queue,
              payload: "kept across down/up",
              payload_encoding: "string",
              properties: { delivery_mode: 2 },
            }),
          });
          assert.deepEqual(await pub.json(), { routed: true });
          const queued = async () => {
            const r = await fetch(`${mq().url}/queues/procos/${encodeURIComponent(queue)}`, {
              headers: { authorization: mq().auth },
            });
            return (await r.json() as { messages?: number }).messages ?? 0;
          };
          await until("the message counted", async () => await queued() >= 1, 30_000);
          const before = await queued();
          await cli(["down"]);
          assert.deepEqual(
            await api.projectContainers(spec.project),
            [],
            "down removed the containers",
          );
          await up();
          assert.equal(await completedInstances(), done);
          assert.equal(await contextRows(first), rows);
          await until("the queue reloaded", async () => await queued() === before, 60_000);
        },
      );

      await step(
        "a password rotated in the spec and rebuilt: healthy with the new one",
        async () => {
          const oldUrl = dbUrl();
          const adminEnv = spec.secretEnvOf.camunda_admin_password;
          const oldAdmin = spec.secretsEnv[adminEnv];
          for (const key of ["postgres_password", "camunda_admin_password", "rabbitmq_password"]) {
            const envName = spec.secretEnvOf[key];
            const value = `ct-rotated-${crypto.randomUUID().slice(0, 8)}`;
            spec.secretsEnv[envName] = value;
            (spec.raw.secrets as Record<string, Record<string, unknown>>)[key].default = value;
          }
          await spec.write();
          await build(spec.config, { outDir: out, env: spec.secretsEnv, profile: "development" });
          await up();
          await green("verify green with the new passwords");
          await sql((db) => db`SELECT 1`);
          const old = postgres(oldUrl, { max: 1, onnotice: () => {} });
          await assert.rejects(old`SELECT 1`, /password authentication failed/);
          await old.end({ timeout: 1 });
          // Camunda's admin user takes the new password (the engine syncs it at start)
          const built = await build(spec.config, {
            outDir: out,
            env: spec.secretsEnv,
            profile: "development",
          });
          const admin = built.model.camunda.adminUser;
          const authenticated = async (password: string) =>
            (await camunda("POST", "/identity/verify", { username: admin, password }) as {
              authenticated: boolean;
            }).authenticated;
          assert.equal(await authenticated(spec.secretsEnv[adminEnv]), true, "new admin password");
          assert.equal(await authenticated(oldAdmin), false, "old admin password");
          await smoke("after-rotation");
        },
      );

      await step(
        "the production profile comes up: REST needs auth, infrastructure on 127.0.0.1, no default password",
        async () => {
          await cli(["down", "--purge"]);
          await Deno.mkdir(join(spec.dir, "backups"), { recursive: true });
          const prod = await build(spec.config, {
            outDir: outProd,
            env: spec.secretsEnv,
            profile: "production",
          });
          await up(outProd, ["--profile", "production"]);
          // (`/engine`, the list of engines, stays open: the health check reads it)
          const anonymous = await fetch(`${camundaUrl}/process-definition/count`);
          await anonymous.body?.cancel();
          assert.equal(anonymous.status, 401, "the REST API refuses a request without credentials");
          const { adminUser, adminPassword } = prod.model.camunda;
          const admin = await fetch(`${camundaUrl}/process-definition/count`, {
            headers: { authorization: "Basic " + btoa(`${adminUser}:${adminPassword}`) },
          });
          await admin.body?.cancel();
          assert.equal(admin.status, 200);
          type Inspect = {
            HostConfig?: {
              PortBindings?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null;
            };
            Config?: { Env?: string[] };
          };
          const cs = await api.projectContainers(spec.project);
          for (const s of ["postgres", "redis", "rabbitmq", "ollama"]) {
            const c = cs.find((c) => c.service === s);
            assert.ok(c, `a ${s} container`);
            const i = await api.get<Inspect>(`/containers/${c.id}/json`);
            // (an exposed port the file does not publish has no binding)
            const bindings = Object.values(i.HostConfig?.PortBindings ?? {}).flat()
              .filter((b) => !!b?.HostPort);
            assert.ok(bindings.length > 0, `${s} publishes its ports`);
            for (const b of bindings) assert.equal(b?.HostIp, "127.0.0.1", `${s} on 127.0.0.1`);
          }
          for (const s of ["backup", "postgres-exporter", "redis-exporter", "verify"]) {
            assert.ok(cs.some((c) => c.service === s && c.status === "running"), `${s} runs`);
          }
          // verify serve in the stack (monitoring.verify): it answers on 127.0.0.1:9200, and
          // its verdict is the host's, but for the containers domain (no Docker socket there)
          const inStack = async () => {
            const r = await fetch("http://127.0.0.1:9200/healthz", {
              headers: { accept: "application/json" },
            });
            const doc = await r.json() as JsonReport;
            assert.equal(r.status, doc.ok ? 200 : 503);
            return doc;
          };
          await until("verify serve in the stack answers", async () => !!(await inStack()));
          const metrics = await fetch("http://127.0.0.1:9200/metrics");
          assert.equal(metrics.status, 200);
          assert.match(await metrics.text(), /^procos_verify_checks\{.*status="pass"\} [1-9]/m);
          const failingOf = (r: JsonReport) =>
            r.checks.filter((c) => c.status === "fail" && c.domain !== "containers")
              .map((c) => c.id).sort();
          const fromHost = await runDeno("verify/cli.ts", [
            "--config",
            spec.config,
            "--out",
            outProd,
            "--profile",
            "production",
            "--reporter",
            "json",
          ], env());
          const host = JSON.parse(fromHost.stdout) as JsonReport;
          const stack = await inStack();
          assert.deepEqual(failingOf(stack), failingOf(host));
          assert.ok(
            stack.checks.filter((c) => c.status === "pass").length > 50,
            `the in-stack verify ran the checks: ${JSON.stringify(stack.summary)}`,
          );
          // The reference spec's development defaults, and the engines' own
          // well-known ones, appear in no generated file and no container's environment.
          const reference = parse(await Deno.readTextFile(join(ROOT, "procos.config.yaml"))) as {
            secrets: Record<string, { default?: string }>;
          };
          const defaults = [
            ...Object.values(reference.secrets).map((x) => x.default).filter((d): d is string =>
              !!d
            ),
            "guest",
          ];
          // Every password handed to a container: the values of its *PASS*/*AUTH*
          // variables and the passwords inside its connection URLs, in the env
          // files and in each running container's environment.
          const lines: string[] = [];
          for (const a of prod.artifacts.filter((a) => a.path.startsWith("env/"))) {
            lines.push(...a.content.split("\n").filter((l) => !l.startsWith("#")));
          }
          for (const c of cs) {
            lines.push(...((await api.get<Inspect>(`/containers/${c.id}/json`)).Config?.Env ?? []));
          }
          const passwords: string[] = [];
          for (const line of lines) {
            const i = line.indexOf("=");
            if (i < 0) continue;
            const value = line.slice(i + 1).replace(/^'(.*)'$/, "$1");
            if (/PASS|AUTH/.test(line.slice(0, i))) passwords.push(value);
            for (const m of value.matchAll(/:\/\/[^:/@]*:([^@]*)@/g)) {
              passwords.push(decodeURIComponent(m[1]));
            }
          }
          assert.ok(passwords.length > 10, `passwords found (${passwords.length})`);
          for (const d of defaults) {
            assert.ok(!passwords.includes(d), `the default password ${d} is in use`);
          }
        },
      );
    } finally {
      await runDeno("runtime/cli.ts", ["down", "--purge", "--out", outProd], env());
      await runDeno("runtime/cli.ts", ["down", "--purge", "--out", out], env());
      const left = await api.projectContainers(spec.project).catch(() => []);
      const volumes = await api.get<{ Volumes: { Name: string }[] | null }>("/volumes")
        .then((v) =>
          (v.Volumes ?? []).map((x) => x.Name).filter((n) => n.startsWith(`${spec.project}_`))
        )
        .catch(() => []);
      await spec.remove();
      assert.deepEqual(left, [], "down --purge left containers");
      assert.deepEqual(volumes, [], "down --purge left volumes");
    }
  },
});

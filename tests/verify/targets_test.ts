/**
 * Where services are reached: published ports by default, the service
 * network with --target network, out/runtime/endpoints.json, then env, then
 * flags.
 */
import { expect } from "expect";
import { resolveTargets, TargetError } from "../../verify/targets.ts";
import { withTempDir } from "../helpers/build.ts";
import { referenceModel } from "./helpers.ts";

Deno.test("targets: local mode uses the published ports on 127.0.0.1 (or a host_ip)", async () => {
  const dev = await resolveTargets(await referenceModel("development"));
  expect(dev).toMatchObject({
    mode: "local",
    postgres: { host: "127.0.0.1", port: 5432 },
    redis: { host: "127.0.0.1", port: 6379 },
    rabbitmq: { host: "127.0.0.1", port: 5672, managementUrl: "http://127.0.0.1:15672" },
    camunda: { url: "http://127.0.0.1:8080" },
    ollama: { url: "http://127.0.0.1:11434" },
  });
  expect(dev.sources.postgres).toBe("model (published port)");
  const model = await referenceModel();
  const pg = model.services.find((s) => s.name === "postgres")!;
  pg.ports = [{ target: 5432, published: 15432, host_ip: "127.0.0.2" }];
  expect((await resolveTargets(model)).postgres).toEqual({ host: "127.0.0.2", port: 15432 });
});

Deno.test("targets: network mode uses service names and container ports", async () => {
  const t = await resolveTargets(await referenceModel(), { mode: "network" });
  expect(t).toMatchObject({
    postgres: { host: "postgres", port: 5432 },
    rabbitmq: { host: "rabbitmq", port: 5672, managementUrl: "http://rabbitmq:15672" },
    camunda: { url: "http://camunda:8080" },
  });
});

Deno.test("targets: endpoints.json, then env, then flags", async () => {
  await withTempDir(async (out) => {
    await Deno.mkdir(`${out}/runtime`);
    await Deno.writeTextFile(
      `${out}/runtime/endpoints.json`,
      JSON.stringify({
        postgres: { host: "127.0.0.1", port: 55432 },
        redis: { host: "127.0.0.1", port: 56379 },
        rabbitmq: { host: "127.0.0.1", port: 55672, managementPort: 55673 },
        camunda: { url: "http://127.0.0.1:58080/engine-rest/" },
        ollama: { url: "http://127.0.0.1:51434" },
      }),
    );
    const model = await referenceModel();
    const fromFile = await resolveTargets(model, { outDir: out });
    expect(fromFile).toMatchObject({
      postgres: { host: "127.0.0.1", port: 55432 },
      redis: { port: 56379 },
      rabbitmq: { port: 55672, managementUrl: "http://127.0.0.1:55673" },
      camunda: { url: "http://127.0.0.1:58080" },
      ollama: { url: "http://127.0.0.1:51434" },
    });
    expect(fromFile.sources.redis).toBe(`${out}/runtime/endpoints.json`);

    const env = {
      PROCOS_PG_URL: "postgres://u:secret@db.example:6543/x",
      PROCOS_REDIS_URL: "redis://:pw@[::1]:7000",
      PROCOS_RABBITMQ_MGMT_URL: "https://mq.example/",
      PROCOS_CAMUNDA_URL: "http://ca.example:9000/engine-rest",
      PROCOS_OLLAMA_URL: "http://ol.example:1",
    };
    const fromEnv = await resolveTargets(model, { outDir: out, env });
    expect(fromEnv).toMatchObject({
      postgres: { host: "db.example", port: 6543 },
      redis: { host: "::1", port: 7000 },
      rabbitmq: { port: 55672, managementUrl: "https://mq.example" },
      camunda: { url: "http://ca.example:9000" },
      ollama: { url: "http://ol.example:1" },
    });
    expect(fromEnv.sources.postgres).toBe("PROCOS_PG_URL");

    const flags = await resolveTargets(model, {
      outDir: out,
      env,
      overrides: { pgUrl: "postgres://h2:1", ollamaUrl: "http://o2:2" },
    });
    expect(flags.postgres).toEqual({ host: "h2", port: 1 });
    expect(flags.ollama.url).toBe("http://o2:2");
    expect(flags.sources.ollama).toBe("--ollama-url");
    expect(flags.redis.port).toBe(7000); // env still applies where no flag is given
  });
});

Deno.test("targets: a malformed endpoints.json or URL is a TargetError that hides passwords", async () => {
  await withTempDir(async (out) => {
    await Deno.mkdir(`${out}/runtime`);
    await Deno.writeTextFile(
      `${out}/runtime/endpoints.json`,
      JSON.stringify({ postgres: { host: "x", port: "5432" } }),
    );
    const model = await referenceModel();
    const e = await resolveTargets(model, { outDir: out }).catch((x) => x);
    expect(e).toBeInstanceOf(TargetError);
    expect(e.message).toContain("endpoints.json: postgres.port");
  });
  const model = await referenceModel();
  const e = await resolveTargets(model, { env: { PROCOS_CAMUNDA_URL: "ftp://u:pw@x" } })
    .catch((x) => x);
  expect(e).toBeInstanceOf(TargetError);
  expect(e.message).toContain("expected an http(s) URL");
  const bad = await resolveTargets(model, { env: { PROCOS_PG_URL: "postgres://u:topsecret@" } })
    .catch((x) => x);
  expect(bad).toBeInstanceOf(TargetError);
  expect(bad.message).not.toContain("topsecret");
});

/**
 * External services are addressed where they listen: at their `host`, or
 * else on the Docker host, on their published port; never by a Compose
 * service name that nothing answers to.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { Ajv2020 } from "ajv/dist/2020.js";
import { compile } from "../../compiler/compile.ts";
import { SpecError } from "../../compiler/diagnostics.ts";
import { DOCKER_HOST_NAME } from "../../compiler/model.ts";
import { composeSchemaUrl, replaceOnce, withTempDir, writeSpecVariant } from "../helpers/build.ts";

const OLLAMA = "  ollama:\n    kind: ollama\n";

async function compileWith(edit: (t: string) => string) {
  return await withTempDir(async (dir) => {
    const file = await writeSpecVariant(dir, "procos.yaml", edit);
    return await compile(file, { profile: "development" });
  });
}

function composeOf(r: Awaited<ReturnType<typeof compile>>) {
  const a = r.artifacts.find((x) => x.path === "compose.yaml");
  assert.ok(a);
  return parse(a.content) as { services: Record<string, Record<string, unknown>> };
}

Deno.test("external services", async (t) => {
  const schema = JSON.parse(await Deno.readTextFile(composeSchemaUrl()));
  const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);

  await t.step("without host: on the Docker host, which every container can reach", async () => {
    const r = await compileWith((s) => replaceOnce(s, OLLAMA, `${OLLAMA}    external: true\n`));
    assert.deepEqual(r.model.ollama, { service: "ollama", host: DOCKER_HOST_NAME, port: 11434 });
    const compose = composeOf(r);
    assert.equal(compose.services.ollama, undefined, "Compose does not start it");
    for (const [name, svc] of Object.entries(compose.services)) {
      assert.deepEqual(svc.extra_hosts, [`${DOCKER_HOST_NAME}:host-gateway`], name);
    }
    const env = r.artifacts.find((a) => a.path === "env/ai-worker.env")!.content;
    assert.match(env, /^OLLAMA_BASE_URL='http:\/\/host\.docker\.internal:11434'$/m);
    assert.ok(validate(compose), JSON.stringify(validate.errors));
  });

  await t.step("with host: at that host, on its published port", async () => {
    const r = await compileWith((s) =>
      replaceOnce(
        replaceOnce(s, OLLAMA, `${OLLAMA}    external: true\n    host: gpu-1.example.com\n`),
        "      - target: 11434\n        published: 11434\n",
        "      - target: 11434\n        published: 21434\n",
      )
    );
    assert.deepEqual(r.model.ollama, { service: "ollama", host: "gpu-1.example.com", port: 21434 });
    const compose = composeOf(r);
    for (const svc of Object.values(compose.services)) assert.equal(svc.extra_hosts, undefined);
    const env = r.artifacts.find((a) => a.path === "env/kernel.env")!.content;
    assert.match(env, /^OLLAMA_BASE_URL='http:\/\/gpu-1\.example\.com:21434'$/m);
  });

  await t.step("a host on a service Compose starts is refused, located", async () => {
    await assert.rejects(
      () => compileWith((s) => replaceOnce(s, OLLAMA, `${OLLAMA}    host: gpu-1.example.com\n`)),
      (e: unknown) => {
        assert.ok(e instanceof SpecError);
        assert.equal(e.diagnostics.length, 1);
        assert.match(
          e.message,
          /procos\.yaml:\d+:5: error: services\.ollama\.host: `ollama` has a host \(gpu-1\.example\.com\) but is not external/,
        );
        return true;
      },
    );
  });
});

/**
 * `deno task verify` end to end through `main`: usage errors, a spec error
 * with located diagnostics, the json and junit reporters, --only, --wait, and
 * exit codes; the Ollama domain runs against the test double.
 */
import { expect } from "expect";
import { main } from "../../verify/cli.ts";
import { startOllamaDouble } from "../ollama_double.ts";
import { withTempDir, writeSpecVariant } from "../helpers/build.ts";
import { SPEC } from "./helpers.ts";

async function verify(args: string[], env: Record<string, string> = {}) {
  let out = "";
  const err: string[] = [];
  const code = await main(args, {
    write: (t) => void (out += t),
    stderr: (l) => void err.push(l),
    env,
    color: false,
  });
  return { code, out, err: err.join("\n") };
}

Deno.test("cli: --help prints usage; bad arguments exit 2", async () => {
  const help = await verify(["--help"]);
  expect(help.code).toBe(0);
  expect(help.out).toContain("usage: deno task verify");
  expect((await verify(["--bogus"])).code).toBe(2);
  const only = await verify(["--config", SPEC, "--only", "postgres,nosuch"]);
  expect(only.code).toBe(2);
  expect(only.err).toContain("unknown domain(s) nosuch");
  expect((await verify(["--reporter", "xml"])).err).toContain('unknown reporter "xml"');
  expect((await verify(["--wait", "soon"])).err).toContain("not a duration");
  // a missing spec is a (located) spec error
  const missing = await verify(["--config", "/nonexistent/procos.config.yaml"]);
  expect(missing.code).toBe(1);
  expect(missing.err).toContain("/nonexistent/procos.config.yaml:1:1: error:");
});

Deno.test("cli: a spec error prints located diagnostics and exits 1, no stack trace", async () => {
  await withTempDir(async (dir) => {
    const spec = await writeSpecVariant(
      dir,
      "bad.yaml",
      (t) => t.replace("version: 1", "version: 2"),
    );
    const r = await verify(["--config", spec]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^${spec}:\\d+:\\d+: error: version`, "m"));
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.out).toBe("");
  });
});

Deno.test("cli: json reporter, --only ollama against the double; exit 0, then 1 without the model", async () => {
  const d = startOllamaDouble({ models: ["llama3.2:1b"] });
  try {
    const args = ["--config", SPEC, "--only", "ollama", "--reporter", "json"];
    const ok = await verify(args, { PROCOS_OLLAMA_URL: d.url });
    expect(ok.code).toBe(0);
    const doc = JSON.parse(ok.out);
    expect(doc).toMatchObject({ ok: true, project: "procos", profile: "development" });
    expect(doc.checks.map((c: { id: string }) => c.id)).toEqual([
      "ollama.version",
      "ollama.model.llama3.2:1b",
    ]);

    d.setModels([]);
    const bad = await verify([...args, "--ollama-url", d.url]);
    expect(bad.code).toBe(1);
    const failed = JSON.parse(bad.out).checks.find((c: { status: string }) => c.status === "fail");
    expect(failed).toMatchObject({
      id: "ollama.model.llama3.2:1b",
      expected: "model llama3.2:1b in /api/tags",
      actual: "no models",
    });
  } finally {
    await d.close();
  }
});

Deno.test("cli: --wait retries until the model appears, then exits 0", async () => {
  const d = startOllamaDouble({ models: [] });
  const timer = setTimeout(() => d.setModels(["llama3.2:1b"]), 400);
  try {
    const r = await verify(
      ["--config", SPEC, "--only", "ollama", "--wait", "10s", "--ollama-url", d.url],
    );
    expect(r.code).toBe(0);
    expect(r.out).toContain("retrying");
    expect(r.out).toMatch(/PASS {2}ollama: model llama3\.2:1b present.*\[\d tries\]/);
    expect(r.out).toMatch(/retrying \(.* left\): ollama\.model\.[^ ]+ \(failing for /);
    expect(r.out).toMatch(/2 checks: 2 passed, 0 failed, 0 skipped \(.*rounds\)/);
  } finally {
    clearTimeout(timer);
    await d.close();
  }
});

Deno.test("cli: junit reporter writes XML; nothing listening fails with exit 1", async () => {
  const d = startOllamaDouble();
  const url = d.url;
  await d.close();
  const r = await verify([
    "--config",
    SPEC,
    "--only",
    "ollama",
    "--reporter",
    "junit",
    "--ollama-url",
    url,
  ]);
  expect(r.code).toBe(1);
  expect(r.out).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites /);
  expect(r.out).toContain('<testsuite name="ollama" tests="2" failures="2"');
  expect(r.out).toContain("<failure message=");
});

/**
 * The client side of the `ollama` command in the ollama stand-in image
 * (tests/images/ollama/Containerfile): `list`, `ps`, `pull`, `rm` and
 * `--version` against the API at `OLLAMA_HOST` (default 127.0.0.1:11434).
 * `list` is the ProcOS health check: exit 0 when the server answers.
 *
 * @module
 */

/** The API's base URL for a client, from an `OLLAMA_HOST` value. */
export function baseUrl(host: string | undefined): string {
  let addr = (host ?? "").replace(/^https?:\/\//, "").replace(/\/+$/, "");
  if (addr === "") addr = "127.0.0.1:11434";
  const i = addr.lastIndexOf(":");
  let name = i >= 0 ? addr.slice(0, i) : addr;
  const port = i >= 0 ? addr.slice(i + 1) || "11434" : "11434";
  if (name === "" || name === "0.0.0.0") name = "127.0.0.1";
  return `http://${name}:${port}`;
}

/** Runs one client command; returns the exit code. */
export async function main(args: string[], host: string | undefined): Promise<number> {
  const base = baseUrl(host);
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? undefined : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status} ${text.trim()}`);
    return text;
  };
  try {
    switch (args[0]) {
      case "list":
      case "ls":
      case "ps": {
        const path = args[0] === "ps" ? "/api/ps" : "/api/tags";
        const { models } = JSON.parse(await call("GET", path)) as { models: { name: string }[] };
        console.log("NAME");
        for (const m of models) console.log(m.name);
        return 0;
      }
      case "pull":
        if (!args[1]) throw new Error("pull needs a model name");
        for (const line of (await call("POST", "/api/pull", { model: args[1] })).split("\n")) {
          if (!line.trim()) continue;
          const j = JSON.parse(line) as { status?: string; error?: string };
          if (j.error) throw new Error(j.error);
          if (j.status) console.log(j.status);
        }
        return 0;
      case "rm":
        if (!args[1]) throw new Error("rm needs a model name");
        await call("DELETE", "/api/delete", { model: args[1] });
        console.log(`deleted '${args[1]}'`);
        return 0;
      case "-v":
      case "--version": {
        const { version } = JSON.parse(await call("GET", "/api/version")) as { version: string };
        console.log(`ollama version is ${version}`);
        return 0;
      }
      default:
        console.error(`ollama (stand-in): unknown command '${args[0] ?? ""}'`);
        return 2;
    }
  } catch (e) {
    console.error(`Error: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args, Deno.env.get("OLLAMA_HOST")));

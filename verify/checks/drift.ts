/**
 * Drift: what is deployed was built from the spec as it is now, and nobody
 * edited the build output since. `out/manifest.json` (written by
 * `compiler/emit/manifest.ts`) records the spec's sha256 and every artifact's
 * sha256 and mode; these checks recompute them.
 *
 * @module
 */
import type { StackModel } from "../../compiler/model.ts";
import type { Check, Result, RunContext } from "../check.ts";
import { errorMessage, fail, pass } from "../check.ts";
import type { Manifest } from "../../compiler/emit/manifest.ts";
import { MANIFEST_FILE, parseManifest } from "../../compiler/emit/manifest.ts";

/** sha256 (hex) of some bytes. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const h = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Reads the manifest, or returns the failing result that says why it cannot be read. */
async function readManifest(ctx: RunContext): Promise<Manifest | Result> {
  const file = `${ctx.outDir}/${MANIFEST_FILE}`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    return fail(
      `${file}`,
      e instanceof Deno.errors.NotFound ? "no such file" : errorMessage(e),
      "run deno task build (and deploy what it writes)",
    );
  }
  const m = parseManifest(text);
  return m ?? fail(
    `${file} as deno task build writes it`,
    "not a ProcOS build manifest",
    "run deno task build",
  );
}

function isManifest(m: Manifest | Result): m is Manifest {
  return "artifacts" in m;
}

/** The manifest exists and parses. */
export function manifestCheck(): Check {
  return {
    id: "drift.manifest",
    domain: "drift",
    name: `drift: build manifest ${MANIFEST_FILE} exists`,
    run: async (ctx) => {
      const m = await readManifest(ctx);
      return isManifest(m)
        ? pass(
          `${
            Object.keys(m.artifacts).length
          } artifact(s), ${m.generator.name} ${m.generator.version}`,
        )
        : m;
    },
  };
}

/** The manifest's specHash is the spec file's sha256 now, and its profile the one verified. */
export function specHashCheck(model: StackModel): Check {
  return {
    id: "drift.spec",
    domain: "drift",
    name: `drift: the build is of the spec as it is now (profile ${model.profile})`,
    run: async (ctx) => {
      const m = await readManifest(ctx);
      if (!isManifest(m)) return m;
      const now = await sha256Hex(await Deno.readFile(ctx.specFile));
      const built = String(m.spec?.sha256 ?? "");
      if (built !== now) {
        return fail(
          `spec sha256 ${now.slice(0, 12)}… (${ctx.specFile} now)`,
          `spec sha256 ${built.slice(0, 12)}… (the spec the build was made from)`,
          "the spec changed after the build: run deno task build and redeploy",
        );
      }
      if (m.profile && m.profile !== ctx.model.profile) {
        return fail(
          `a build for profile ${ctx.model.profile}`,
          `a build for profile ${m.profile}`,
          `verify with --profile ${m.profile}, or rebuild with --profile ${ctx.model.profile}`,
        );
      }
      return pass();
    },
  };
}

/** Every artifact the manifest lists still has its recorded sha256. */
export function artifactsCheck(): Check {
  return {
    id: "drift.artifacts",
    domain: "drift",
    name: "drift: every artifact in the manifest is unchanged since the build",
    run: async (ctx) => {
      const m = await readManifest(ctx);
      if (!isManifest(m)) return m;
      const exp: string[] = [];
      const act: string[] = [];
      const entries = Object.entries(m.artifacts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      for (const [path, entry] of entries) {
        const file = `${ctx.outDir}/${path}`;
        const want = String(entry.sha256);
        let have: string;
        let mode: number | null;
        try {
          have = await sha256Hex(await Deno.readFile(file));
          mode = (await Deno.stat(file)).mode;
        } catch (e) {
          exp.push(`${file} sha256 ${want.slice(0, 12)}…`);
          act.push(`${file} ${e instanceof Deno.errors.NotFound ? "missing" : errorMessage(e)}`);
          continue;
        }
        if (have !== want) {
          exp.push(`${file} sha256 ${want.slice(0, 12)}…`);
          act.push(`${file} sha256 ${have.slice(0, 12)}… (edited after the build)`);
        } else if (entry.mode && mode !== null && Deno.build.os !== "windows") {
          const live = (mode & 0o777).toString(8).padStart(4, "0");
          if (parseInt(entry.mode, 8) !== (mode & 0o777)) {
            exp.push(`${file} mode ${entry.mode}`);
            act.push(`${file} mode ${live}${entry.mode === "0600" ? " (it holds secrets)" : ""}`);
          }
        }
      }
      return exp.length === 0 ? pass(`${Object.keys(m.artifacts).length} artifact(s)`) : fail(
        exp.join("\n"),
        act.join("\n"),
        "edit the spec, not out/: run deno task build to regenerate",
      );
    },
  };
}

/** The drift domain. */
export function driftChecks(model: StackModel): Check[] {
  return [manifestCheck(), specHashCheck(model), artifactsCheck()];
}

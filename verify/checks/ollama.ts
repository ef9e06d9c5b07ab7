/**
 * Ollama: the API answers `/api/version`, and every model the spec configures
 * for a provider served by the Ollama service is present in `/api/tags`.
 *
 * @module
 */
import type { StackModel } from "../../compiler/model.ts";
import type { Check } from "../check.ts";
import { fail, pass } from "../check.ts";
import { describeStatus, httpRequest, jsonOf } from "../clients/http.ts";

/** Ollama's name normalisation: no tag means `:latest`. */
export function normalizeModelName(name: string): string {
  const last = name.split("/").pop() ?? name;
  return last.includes(":") ? name : `${name}:latest`;
}

/** The models of the providers served by the Ollama service, without duplicates. */
export function configuredModels(model: StackModel): string[] {
  const names = model.ai.providers
    .filter((p) => p.service === model.ollama.service)
    .flatMap((p) => p.models.map((m) => m.name));
  return [...new Set(names)];
}

/** `GET /api/version` answers; reports the version. */
export function versionCheck(): Check {
  return {
    id: "ollama.version",
    domain: "ollama",
    name: "ollama: GET /api/version answers",
    run: async (ctx) => {
      const res = await httpRequest(`${ctx.targets.ollama.url}/api/version`, {
        signal: ctx.signal,
      });
      if (res.status !== 200) return fail("HTTP 200", describeStatus(res));
      const v = jsonOf<{ version?: string }>(res).version;
      return v ? pass(`Ollama ${v}`) : fail("a version", res.text.slice(0, 160));
    },
  };
}

/** A configured model is present in `/api/tags`. */
export function modelPresentCheck(name: string): Check {
  return {
    id: `ollama.model.${name}`,
    domain: "ollama",
    name: `ollama: model ${name} present`,
    run: async (ctx) => {
      const res = await httpRequest(`${ctx.targets.ollama.url}/api/tags`, { signal: ctx.signal });
      if (res.status !== 200) return fail("GET /api/tags: HTTP 200", describeStatus(res));
      const models = jsonOf<{ models?: { name?: string; model?: string }[] }>(res).models ?? [];
      const have = models.map((m) => m.name ?? m.model ?? "").filter(Boolean);
      const want = normalizeModelName(name);
      return have.some((h) => normalizeModelName(h) === want) ? pass() : fail(
        `model ${name} in /api/tags`,
        have.length ? `models: ${have.join(", ")}` : "no models",
        `ollama pull ${name} (the kernel pulls the spec's models at boot)`,
      );
    },
  };
}

/** The ollama domain. */
export function ollamaChecks(model: StackModel): Check[] {
  return [versionCheck(), ...configuredModels(model).map(modelPresentCheck)];
}

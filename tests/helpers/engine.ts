/**
 * The engine jars the engine-backed tests start (`bash tools/run.sh test`
 * builds both: Camunda's and Operaton's, `compiler/engines.ts`), and whether
 * one can run here.
 *
 * `PROCOS_TEST_ENGINE=operaton` makes the tests that start one engine (the
 * verify, retention, browser and stack tests) start Operaton's instead of the
 * default Camunda's; the engine and worker tests run on both.
 *
 * @module
 */
import { join } from "node:path";
import {
  DEFAULT_DISTRIBUTION,
  type Distribution,
  DISTRIBUTIONS,
  ENGINES,
} from "../../compiler/engines.ts";
import { REPO_ROOT } from "./build.ts";

/** The distribution the single-engine tests start (`PROCOS_TEST_ENGINE`, default camunda). */
export const TEST_ENGINE: Distribution = testEngine(Deno.env.get("PROCOS_TEST_ENGINE"));

function testEngine(value: string | undefined): Distribution {
  if (value === undefined || value === "") return DEFAULT_DISTRIBUTION;
  const d = DISTRIBUTIONS.find((x) => x === value);
  if (!d) {
    throw new Error(`PROCOS_TEST_ENGINE=${value}: expected one of ${DISTRIBUTIONS.join(", ")}`);
  }
  return d;
}

/** The executable jar of `distribution` (default: {@link TEST_ENGINE}). */
export function engineJar(distribution: Distribution = TEST_ENGINE): string {
  return join(REPO_ROOT, ENGINES[distribution].jar);
}

/** The ProcOS engine's executable jar, of {@link TEST_ENGINE}. */
export const ENGINE_JAR: string = engineJar();

/** True when the jar of `distribution` is built and a `java` runs: the engine tests run only then. */
export function engineAvailable(distribution: Distribution = TEST_ENGINE): boolean {
  try {
    Deno.statSync(engineJar(distribution));
    return new Deno.Command("java", { args: ["-version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

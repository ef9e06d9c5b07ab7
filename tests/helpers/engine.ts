/**
 * The engine jar the engine-backed tests start (`bash tools/run.sh test`
 * builds it), and whether it can run here.
 *
 * @module
 */
import { REPO_ROOT } from "./build.ts";

/** The ProcOS engine's executable jar. */
export const ENGINE_JAR = `${REPO_ROOT}/engine/target/procos-engine.jar`;

/** True when the jar is built and a `java` runs: the engine tests run only then. */
export function engineAvailable(): boolean {
  try {
    Deno.statSync(ENGINE_JAR);
    return new Deno.Command("java", { args: ["-version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

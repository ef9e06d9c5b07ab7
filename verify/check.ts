/**
 * The one interface of `deno task verify`: a check is a named, self-contained
 * probe of the running stack that answers pass, fail (with what was expected,
 * what was found, and what to do) or skip (with why). Each domain module under
 * `verify/checks/` is a plain function from the stack model to its checks, so
 * adding a check is adding one function.
 *
 * @module
 */
import type { StackModel } from "../compiler/model.ts";
import type { Targets } from "./targets.ts";
import type { PgPools } from "./clients/pg.ts";

/** The areas a check belongs to, one module each under `verify/checks/`. */
export type Domain =
  | "services"
  | "containers"
  | "postgres"
  | "backup"
  | "camunda"
  | "rabbitmq"
  | "redis"
  | "ollama"
  | "workers"
  | "drift";

/** Every domain, in report order. */
export const DOMAINS: readonly Domain[] = [
  "services",
  "containers",
  "postgres",
  "backup",
  "camunda",
  "rabbitmq",
  "redis",
  "ollama",
  "workers",
  "drift",
];

/** The running stack conforms. `detail` is reported (e.g. a version found). */
export interface Pass {
  status: "pass";
  /** Something worth showing about what was found, such as a version. */
  detail?: string;
}

/** The running stack does not conform. */
export interface Fail {
  status: "fail";
  /** What the spec asks for, in words a person reads. */
  expected: string;
  /** What was found instead. */
  actual: string;
  /** What to do about it. */
  hint?: string;
}

/** The check does not apply (and is not a failure). */
export interface Skip {
  status: "skip";
  /** Why it does not apply. */
  reason: string;
}

/** What one run of a check found. */
export type Result = Pass | Fail | Skip;

/** Everything a check may read: the model, where services are, where files are. */
export interface VerifyContext {
  /**
   * The stack model the checks were planned from (holds resolved secrets:
   * never put them in a result; the runner redacts them anyway).
   */
  model: StackModel;
  /** Where each service is reached from this process. */
  targets: Targets;
  /** The spec file's path. */
  specFile: string;
  /** The folder the spec file is in; relative spec paths resolve from here. */
  specDir: string;
  /** The build output folder (`out`). */
  outDir: string;
}

/** What `run` receives: the context, plus a signal aborted when the check times out. */
export interface RunContext extends VerifyContext {
  /** Aborted when the runner gives up on this run of the check. */
  signal: AbortSignal;
  /** The run's shared PostgreSQL connections (`clients/pg.ts`). */
  pools?: PgPools;
}

/** One probe of the running stack. */
export interface Check {
  /** Stable, unique id such as `postgres.index.procos_ai_context_content_text_trgm`. */
  id: string;
  /** The domain it belongs to. */
  domain: Domain;
  /** A name a person understands, such as `postgres: extension pg_trgm installed`. */
  name: string;
  /** Probes once. May throw: the runner turns an error into a failure. */
  run: (ctx: RunContext) => Promise<Result>;
  /**
   * For a check of a state that may be passing through (a service starting):
   * how many more times a failure is tried again within one round, and the
   * wait before each (as goss's `retry_count` and `retry_delay`).
   */
  retry?: { count: number; delayMs: number };
}

/** A domain module's entry point: the checks the model calls for. */
export type CheckSource = (model: StackModel, ctx: VerifyContext) => Check[];

/** A passing result. */
export function pass(detail?: string): Pass {
  return detail === undefined ? { status: "pass" } : { status: "pass", detail };
}

/** A failing result. */
export function fail(expected: string, actual: string, hint?: string): Fail {
  return hint === undefined
    ? { status: "fail", expected, actual }
    : { status: "fail", expected, actual, hint };
}

/** A skipped result. */
export function skip(reason: string): Skip {
  return { status: "skip", reason };
}

/**
 * The message of anything thrown, on one line; a generic message ("fetch
 * failed") is followed by its cause's.
 */
export function errorMessage(e: unknown): string {
  const one = (x: unknown) =>
    (x instanceof Error ? x.message : String(x)).replace(/\s+/g, " ").trim();
  let msg = one(e) || (e instanceof Error ? e.name : "error");
  const cause = e instanceof Error ? e.cause : undefined;
  if (cause !== undefined && cause !== null) {
    const c = one(cause);
    if (c && !msg.includes(c)) msg = `${msg}: ${c}`;
  }
  return msg;
}

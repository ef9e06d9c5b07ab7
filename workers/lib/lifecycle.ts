/**
 * Process lifecycle: on SIGTERM or SIGINT the worker stops polling, finishes
 * or hands back (unlocks) the tasks in hand, closes its connections and exits
 * with status 0. The stop hooks run once, in the order they were registered.
 * If they have not finished after the hard timeout
 * (`PROCOS_SHUTDOWN_TIMEOUT_MS`, default 60 s) the process exits with status 1;
 * a second signal ends it at once (status 1).
 *
 * @module
 */
import { errorMessage, type Logger } from "./log.ts";

/** A stop hook. */
export type StopHook = () => Promise<void> | void;

/** The shutdown controller. */
export interface Lifecycle {
  /** Aborted when shutdown begins. */
  readonly signal: AbortSignal;
  /** Whether shutdown has begun. */
  stopping(): boolean;
  /** Registers a hook run at shutdown (hooks run in registration order). */
  onStop(name: string, hook: StopHook): void;
  /** Starts the shutdown (as a signal does); resolves when the hooks have run. */
  shutdown(reason: string): Promise<void>;
}

/** Options of {@link installLifecycle}. */
export interface LifecycleOptions {
  /** The logger. */
  log: Logger;
  /** Exit after the hooks (default true; tests of the library set false). */
  exit?: boolean;
  /** Hard timeout, ms (default `PROCOS_SHUTDOWN_TIMEOUT_MS` or 60000). */
  hardTimeoutMs?: number;
}

/** Installs the SIGTERM/SIGINT handlers and returns the controller. */
export function installLifecycle(opts: LifecycleOptions): Lifecycle {
  const log = opts.log;
  const exit = opts.exit ?? true;
  const hardTimeoutMs = opts.hardTimeoutMs ??
    Number(Deno.env.get("PROCOS_SHUTDOWN_TIMEOUT_MS") ?? 60_000);
  const controller = new AbortController();
  const hooks: { name: string; hook: StopHook }[] = [];
  let running: Promise<void> | undefined;

  const shutdown = (reason: string): Promise<void> => {
    if (running) return running;
    log.info("shutting down", { reason });
    controller.abort(new Error(`shutting down (${reason})`));
    const timer = setTimeout(() => {
      log.error("shutdown did not finish in time; exiting", { timeoutMs: hardTimeoutMs });
      if (exit) Deno.exit(1);
    }, hardTimeoutMs);
    running = (async () => {
      for (const { name, hook } of hooks) {
        try {
          await hook();
        } catch (e) {
          log.warn("stop hook failed", { hook: name, error: errorMessage(e) });
        }
      }
      clearTimeout(timer);
      log.info("stopped");
      if (exit) Deno.exit(0);
    })();
    return running;
  };

  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    try {
      Deno.addSignalListener(sig, () => {
        if (running) {
          log.warn("second signal: exiting at once", { signal: sig });
          if (exit) Deno.exit(1);
          return;
        }
        void shutdown(sig);
      });
    } catch {
      // signals not supported here (e.g. Windows SIGTERM)
    }
  }

  return {
    signal: controller.signal,
    stopping: () => controller.signal.aborted,
    onStop: (name, hook) => void hooks.push({ name, hook }),
    shutdown,
  };
}

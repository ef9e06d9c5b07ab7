/**
 * The task runner shared by the AI and the generic worker: it subscribes
 * handlers to topics, runs each fetched task once, keeps its lock while it
 * runs, and turns the outcome into a Camunda call, metrics and an event:
 *
 * - success → `complete` (retried while the engine is unreachable), metric
 *   `completed`, event `task_completed`;
 * - {@link BpmnError} → `handleBpmnError`;
 * - any other error → `handleFailure` with the retries and back-off of the
 *   topic ({@link failureRetries}); a {@link TaskFailure} marked `permanent`
 *   (bad input, missing model, ...) skips the retries; the last failure
 *   raises an incident whose message says what happened and how often it was
 *   tried; event `task_failed`;
 * - shutdown → tasks that do not finish within the grace period
 *   (`PROCOS_SHUTDOWN_GRACE_MS`, default 20 s) are aborted and handed back
 *   (`unlock`), as are tasks that arrive while stopping.
 *
 * A handler's error never escapes: the worker keeps serving.
 *
 * @module
 */
import {
  engineErrorInfo,
  type ExternalTask,
  failureRetries,
  type TopicOptions,
  type TypedValue,
  type WorkerClient,
} from "./camunda.ts";
import type { Backoff } from "./manifest.ts";
import type { EventPublisher } from "./events.ts";
import type { TaskMetrics } from "./health.ts";
import { errorMessage, type Logger, redact } from "./log.ts";

/** A failure of a task, with whether retrying can help. */
export class TaskFailure extends Error {
  /** Retrying cannot help (bad input, missing model): raise the incident now. */
  readonly permanent: boolean;
  /** Details for Camunda's `errorDetails`. */
  readonly details?: string;
  /** Creates one. */
  constructor(
    message: string,
    opts: { permanent?: boolean; details?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = "TaskFailure";
    this.permanent = opts.permanent ?? false;
    this.details = opts.details;
  }
}

/** A BPMN error to throw in the process (caught by a boundary event). */
export class BpmnError extends Error {
  /** The BPMN error code. */
  readonly code: string;
  /** Variables to set with it. */
  readonly variables?: Record<string, TypedValue>;
  /** Creates one. */
  constructor(code: string, message: string, variables?: Record<string, TypedValue>) {
    super(message);
    this.name = "BpmnError";
    this.code = code;
    this.variables = variables;
  }
}

/** What a handler gets. */
export interface TaskContext {
  /** The task. */
  task: ExternalTask;
  /** Aborted when the task must be given up (shutdown past the grace period, lock lost). */
  signal: AbortSignal;
  /** A logger with the task's ids. */
  log: Logger;
  /** This attempt's number, 1-based (`retries` configured + 1 at most). */
  attempt: number;
}

/** What a handler returns. */
export interface TaskResult {
  /** Process variables to set on completion. */
  variables?: Record<string, TypedValue>;
  /** Extra fields for the `task_completed` event. */
  event?: Record<string, unknown>;
}

/** A topic a worker serves. */
export interface TopicHandler {
  /** What to fetch. */
  topic: TopicOptions;
  /** Retries after the first failure (the manifest's). */
  retries: number;
  /** Back-off between retries (the manifest's). */
  backoff: Backoff;
  /** Runs one task. */
  handle(ctx: TaskContext): Promise<TaskResult>;
}

/** Options of {@link createRunner}. */
export interface RunnerOptions {
  /** The worker's name. */
  worker: string;
  /** The polling client. */
  client: WorkerClient;
  /** Where events go, with their routing keys (none: no events). */
  events?: { publisher: EventPublisher; taskCompleted: string; taskFailed: string };
  /** The task metrics. */
  metrics: TaskMetrics;
  /** The logger. */
  log: Logger;
  /** How long stop() lets tasks in hand finish before handing them back, ms (default `PROCOS_SHUTDOWN_GRACE_MS` or 20000). */
  graceMs?: number;
}

/** A runner. */
export interface Runner {
  /** Subscribes a topic. */
  add(handler: TopicHandler): void;
  /** Starts polling. */
  start(): void;
  /** Stops polling, lets tasks in hand finish (grace period), hands back the rest. */
  stop(): Promise<void>;
  /** Tasks in hand. */
  inFlight(): number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Camunda keeps at most 666 characters of an error message. */
const MAX_ERROR_MESSAGE = 600;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

/** Creates a runner (not started). */
export function createRunner(opts: RunnerOptions): Runner {
  const { client, metrics, log } = opts;
  const graceMs = opts.graceMs ?? Number(Deno.env.get("PROCOS_SHUTDOWN_GRACE_MS") ?? 20_000);
  const running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  let stopping = false;

  /** Calls the engine until it answers (retrying while unreachable), for at most `budgetMs`. */
  async function persist(
    what: string,
    task: ExternalTask,
    budgetMs: number,
    call: () => Promise<void>,
  ) {
    const deadline = Date.now() + budgetMs;
    let delay = 500;
    for (let attempt = 1;; attempt++) {
      try {
        await call();
        return;
      } catch (e) {
        const info = engineErrorInfo(e);
        if (!info.transient || Date.now() + delay > deadline) throw e;
        if (attempt <= 3 || attempt % 10 === 0) {
          log.warn(`${what}: Camunda unreachable, retrying`, {
            taskId: task.id,
            error: info.message,
            retryInMs: delay,
          });
        }
        await sleep(delay);
        delay = Math.min(delay * 2, 15_000);
      }
    }
  }

  function emit(kind: "completed" | "failed", task: ExternalTask, fields: Record<string, unknown>) {
    const ev = opts.events;
    if (!ev) return;
    const key = kind === "completed" ? ev.taskCompleted : ev.taskFailed;
    const payload = {
      event: `task.${kind}`,
      worker: opts.worker,
      topic: task.topicName,
      taskId: task.id,
      processInstanceId: task.processInstanceId,
      processDefinitionKey: task.processDefinitionKey ?? null,
      activityId: task.activityId,
      businessKey: task.businessKey ?? null,
      at: new Date().toISOString(),
      ...fields,
    };
    try {
      ev.publisher.emit(key, payload, {
        messageId: `${task.id}:${kind}:${String(fields.attempt ?? 1)}`,
        headers: { "x-procos-event": `task.${kind}`, "x-procos-topic": task.topicName },
      });
    } catch (e) {
      log.error("queueing an event failed", { taskId: task.id, error: errorMessage(e) });
    }
  }

  async function handBack(task: ExternalTask, reason: string) {
    metrics.failed.inc({ topic: task.topicName, outcome: "handed_back" });
    try {
      await persist("unlock", task, 10_000, () => client.unlock(task.id));
      log.info("task handed back", { taskId: task.id, topic: task.topicName, reason });
    } catch (e) {
      log.warn("handing a task back failed; its lock will expire", {
        taskId: task.id,
        error: errorMessage(e),
      });
    }
  }

  async function run(h: TopicHandler, task: ExternalTask, controller: AbortController) {
    const topic = task.topicName;
    const tlog = log.child({ topic, taskId: task.id, processInstanceId: task.processInstanceId });
    const attempt = failureRetries(task.retries, h.retries, h.backoff).attempt;
    const started = performance.now();
    const lockMs = h.topic.lockDurationMs;
    const keepMs = Math.max(1000, Math.floor(lockMs / 2));
    // Keep the lock while the handler runs.
    const keeper = setInterval(() => {
      client.extendLock(task.id, lockMs).catch((e) => {
        const info = engineErrorInfo(e);
        if (!info.transient) {
          tlog.warn("lock lost; abandoning the task", { error: info.message });
          controller.abort(new Error(`lock lost: ${info.message}`));
        }
      });
    }, keepMs);
    let result: TaskResult | undefined;
    let failure: unknown;
    try {
      tlog.debug("task started", { attempt });
      result = await h.handle({ task, signal: controller.signal, log: tlog, attempt });
    } catch (e) {
      failure = e;
    } finally {
      clearInterval(keeper);
    }
    const seconds = (performance.now() - started) / 1000;
    const budget = Math.max(2 * lockMs, 30_000);

    if (controller.signal.aborted) {
      // shutdown past the grace period, or lock lost: never complete
      await handBack(task, errorMessage(controller.signal.reason));
      return;
    }
    if (failure === undefined) {
      try {
        await persist("complete", task, budget, () => client.complete(task.id, result?.variables));
        metrics.completed.inc({ topic });
        metrics.duration.observe({ topic }, seconds);
        tlog.info("task completed", { attempt, seconds: Math.round(seconds * 1000) / 1000 });
        emit("completed", task, {
          attempt,
          durationMs: Math.round(seconds * 1000),
          ...result?.event,
        });
      } catch (e) {
        // The result is kept where the handler stored it (the AI context row):
        // when the lock expires the task is fetched again and completed from it.
        metrics.failed.inc({ topic, outcome: "complete_failed" });
        tlog.error("completing the task failed; it will be fetched again after its lock expires", {
          error: errorMessage(e),
        });
      }
      return;
    }
    if (failure instanceof BpmnError) {
      try {
        await persist(
          "bpmnError",
          task,
          budget,
          () => client.handleBpmnError(task.id, failure.code, failure.message, failure.variables),
        );
        metrics.failed.inc({ topic, outcome: "bpmn_error" });
        metrics.duration.observe({ topic }, seconds);
        tlog.info("BPMN error thrown", { code: failure.code, message: failure.message });
        emit("failed", task, { attempt, bpmnError: failure.code, error: failure.message });
      } catch (e) {
        tlog.error("reporting the BPMN error failed", { error: errorMessage(e) });
      }
      return;
    }
    const permanent = failure instanceof TaskFailure && failure.permanent;
    const r = permanent
      ? { retries: 0, retryTimeoutMs: 0, attempt, last: true }
      : failureRetries(task.retries, h.retries, h.backoff);
    const reason = errorMessage(failure);
    // What happened first: Camunda keeps only the start of the message.
    const message = r.last
      ? permanent
        ? `${topic}: failed, not retried (retrying cannot help): ${reason}`
        : `${topic}: gave up after ${r.attempt} attempt${r.attempt === 1 ? "" : "s"}: ${reason}`
      : `${topic}: attempt ${r.attempt} of ${
        h.retries + 1
      } failed, retrying in ${r.retryTimeoutMs} ms: ${reason}`;
    const details = redact(
      [
        message,
        failure instanceof TaskFailure && failure.details ? failure.details : "",
        failure instanceof Error && failure.stack ? failure.stack : "",
      ].filter(Boolean).join("\n\n"),
    );
    try {
      await persist("handleFailure", task, budget, () =>
        client.handleFailure(task.id, {
          errorMessage: clip(message, MAX_ERROR_MESSAGE),
          errorDetails: details,
          retries: r.retries,
          retryTimeoutMs: r.retryTimeoutMs,
        }));
      metrics.failed.inc({ topic, outcome: r.last ? "incident" : "retry" });
      metrics.duration.observe({ topic }, seconds);
      (r.last ? tlog.error : tlog.warn)(
        r.last ? "task failed: incident raised" : "task failed: will retry",
        {
          error: reason,
          attempt: r.attempt,
          retriesLeft: r.retries,
          retryInMs: r.retryTimeoutMs,
        },
      );
      emit("failed", task, {
        attempt: r.attempt,
        error: clip(reason, 2000),
        retriesLeft: r.retries,
        incident: r.last,
      });
    } catch (e) {
      tlog.error("reporting the failure failed; the lock will expire and the task be retried", {
        error: errorMessage(e),
        failure: reason,
      });
    }
  }

  return {
    add(h) {
      client.subscribe(h.topic, async (task) => {
        if (stopping) {
          await handBack(task, "worker stopping");
          return;
        }
        const controller = new AbortController();
        metrics.inFlight.add({ topic: task.topicName }, 1);
        const done = run(h, task, controller)
          .catch((e) => log.error("task runner error", { taskId: task.id, error: errorMessage(e) }))
          .finally(() => {
            metrics.inFlight.add({ topic: task.topicName }, -1);
            running.delete(task.id);
          });
        running.set(task.id, { controller, done });
        await done;
      });
    },
    start() {
      client.start();
      log.info("polling started");
    },
    async stop() {
      stopping = true;
      await client.stop();
      if (running.size > 0) {
        log.info("waiting for tasks in hand", { count: running.size, graceMs });
        const all = Promise.all([...running.values()].map((r) => r.done));
        const timedOut = await Promise.race([
          all.then(() => false),
          sleep(graceMs).then(() => true),
        ]);
        if (timedOut && running.size > 0) {
          log.warn("grace period over: handing back the tasks in hand", { count: running.size });
          for (const r of running.values()) r.controller.abort(new Error("worker stopping"));
          await Promise.race([
            Promise.all([...running.values()].map((r) => r.done)),
            sleep(15_000),
          ]);
        }
      }
    },
    inFlight: () => running.size,
  };
}

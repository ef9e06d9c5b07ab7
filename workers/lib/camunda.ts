/**
 * Camunda 7: a typed facade over `camunda-external-task-client-js` (external
 * task polling, complete, failure, BPMN error, lock handling) and a small REST
 * client (deployments, process starts, variables) with HTTP basic auth when
 * the manifest says the REST API needs it.
 *
 * What the facade adds to the library:
 * - types (the library has none);
 * - a request timeout and no automatic retries of `got` (the runner decides);
 * - replies whose `content-type` is `application/json; charset=...` are parsed
 *   (the library only parses an exact `application/json` and would otherwise
 *   hand a Buffer to the poll loop);
 * - exponential back-off of polling while the engine is unreachable, and
 *   back to the normal interval at the first good poll ({@link WorkerClient.status});
 * - {@link WorkerClient.stop} stops polling and waits for the fetch in flight,
 *   so tasks locked by that last fetch reach their handler (which hands them
 *   back) instead of staying locked until their lock expires;
 * - {@link failureRetries}: the retries and retry timeout of a failed task,
 *   from the manifest's retry count and exponential back-off.
 *
 * @module
 */
import { BasicAuthInterceptor, Client, Variables } from "camunda-external-task-client-js";
import { type Backoff, backoffDelay } from "./manifest.ts";
import { errorMessage, type Logger, safeUrl } from "./log.ts";

/** A Camunda typed value as the REST API exchanges it. */
export interface TypedValue {
  /** The value (for `Json`: the parsed value when read, the JSON text or a value when written). */
  value: unknown;
  /** The type name: `String`, `Integer`, `Long`, `Double`, `Boolean`, `Json`, `Bytes`, `Null`, .... */
  type: string;
  /** Type-specific information. */
  valueInfo?: Record<string, unknown>;
}

/** An external task as fetched and locked. */
export interface ExternalTask {
  /** The external task id (stable across retries of the same task). */
  id: string;
  /** Its topic. */
  topicName: string;
  /** The worker holding the lock. */
  workerId: string;
  /** The process instance. */
  processInstanceId: string;
  /** The process definition key, when known. */
  processDefinitionKey?: string;
  /** The BPMN activity id. */
  activityId: string;
  /** The activity instance id. */
  activityInstanceId?: string;
  /** The execution id. */
  executionId?: string;
  /** The business key, if any. */
  businessKey?: string | null;
  /** Retries left: `null` until a first failure was reported. */
  retries: number | null;
  /** The message of the last failure, if any. */
  errorMessage?: string | null;
  /** When the lock expires (ISO text). */
  lockExpirationTime?: string;
  /** The task's priority. */
  priority?: number;
  /** The fetched variables, typed (Json values parsed). */
  variables: Record<string, TypedValue>;
  /** The fetched variables' plain values. */
  values: Record<string, unknown>;
  /** When this worker received it (ms since the epoch). */
  receivedAt: number;
}

/** What a subscription asks Camunda for. */
export interface TopicOptions {
  /** The topic. */
  topicName: string;
  /** Lock duration of fetched tasks, ms. */
  lockDurationMs: number;
  /** Only these variables are fetched (default: all). */
  variables?: string[];
}

/** A failure to report with {@link WorkerClient.handleFailure}. */
export interface Failure {
  /** Short message (Camunda keeps at most 666 characters; it becomes the incident's message). */
  errorMessage: string;
  /** Full details (stored whole by Camunda). */
  errorDetails?: string;
  /** Retries left; 0 raises an incident. */
  retries: number;
  /** Wait before the task may be fetched again, ms. */
  retryTimeoutMs: number;
}

/** What a worker client is doing. */
export interface PollStatus {
  /** Polling is on. */
  polling: boolean;
  /** The last fetch succeeded (the engine is reachable). */
  reachable: boolean;
  /** Polls failed in a row. */
  consecutiveErrors: number;
  /** The last poll error, redacted. */
  lastError?: string;
  /** When the last poll succeeded (ms since the epoch). */
  lastSuccessAt?: number;
}

/** Options of {@link createWorkerClient}. */
export interface WorkerClientOptions {
  /** The engine-rest base URL. */
  baseUrl: string;
  /** Basic auth credentials, when the REST API needs them. */
  auth?: { username: string; password: string };
  /** This worker process's id (unique per process: a restarted worker is another worker). */
  workerId: string;
  /** Most tasks fetched and run at once (the manifest's concurrency). */
  maxTasks: number;
  /** Long polling: how long a fetch may wait for tasks, ms (default 5000). */
  asyncResponseTimeoutMs?: number;
  /** Wait between polls, ms (default 300). */
  pollIntervalMs?: number;
  /** Longest wait between polls while the engine is unreachable, ms (default 30000). */
  maxPollIntervalMs?: number;
  /** Timeout of a request beyond the long-poll wait, ms (default 60000). */
  requestTimeoutMs?: number;
  /** The logger. */
  log: Logger;
}

/** A polling client. */
export interface WorkerClient {
  /** Subscribes a handler to a topic. The handler must not throw. */
  subscribe(topic: TopicOptions, handler: (task: ExternalTask) => Promise<void>): void;
  /** Starts polling. */
  start(): void;
  /** Stops polling and waits for the fetch in flight, if any. */
  stop(): Promise<void>;
  /** Completes a task, setting process variables. */
  complete(taskId: string, variables?: Record<string, TypedValue>): Promise<void>;
  /** Reports a failure (retries 0: an incident). */
  handleFailure(taskId: string, failure: Failure): Promise<void>;
  /** Throws a BPMN error in the process. */
  handleBpmnError(
    taskId: string,
    code: string,
    message?: string,
    variables?: Record<string, TypedValue>,
  ): Promise<void>;
  /** Extends a task's lock to `ms` from now. */
  extendLock(taskId: string, ms: number): Promise<void>;
  /** Hands a task back (unlocks it) so another worker may fetch it at once. */
  unlock(taskId: string): Promise<void>;
  /** What polling is doing. */
  status(): PollStatus;
}

// The library's shapes, as far as the facade uses them.
interface LibVariables {
  getAllTyped(): Record<string, TypedValue>;
  getAll(): Record<string, unknown>;
  setTyped(name: string, v: TypedValue): LibVariables;
}
interface LibTask extends Omit<ExternalTask, "variables" | "values" | "receivedAt"> {
  variables: LibVariables;
}
interface LibTaskService {
  complete(task: { id: string }, variables?: LibVariables): Promise<void>;
  handleFailure(task: { id: string }, options: Record<string, unknown>): Promise<void>;
  handleBpmnError(
    task: { id: string },
    code: string,
    message?: string,
    variables?: LibVariables,
  ): Promise<void>;
  extendLock(task: { id: string }, ms: number): Promise<void>;
  unlock(task: { id: string }): Promise<void>;
}
interface LibClient {
  options: { interval: number };
  engineService: { fetchAndLock(body: unknown): Promise<unknown> };
  taskService: LibTaskService;
  subscribe(
    topic: string,
    opts: Record<string, unknown>,
    handler: (a: { task: LibTask }) => Promise<void>,
  ): unknown;
  start(): void;
  stop(): void;
  on(event: string, fn: (...args: unknown[]) => void): void;
}
type LibVariablesCtor = new (init?: Record<string, TypedValue>) => LibVariables;
type LibClientCtor = new (opts: Record<string, unknown>) => LibClient;
type Interceptor = (config: Record<string, unknown>) => Record<string, unknown>;
type LibBasicAuthCtor = new (o: { username: string; password: string }) => Interceptor;

const ClientCtor = Client as unknown as LibClientCtor;
const VariablesCtor = Variables as unknown as LibVariablesCtor;
const BasicAuth = BasicAuthInterceptor as unknown as LibBasicAuthCtor;

/** Parses `application/json; charset=UTF-8` replies too (see the module doc). */
function normaliseJsonContentType(response: { headers: Record<string, unknown> }) {
  const ct = response.headers["content-type"];
  if (typeof ct === "string" && /^application\/json\s*(;|$)/i.test(ct)) {
    response.headers["content-type"] = "application/json";
  }
  return response;
}

function toLibVariables(vars: Record<string, TypedValue> | undefined): LibVariables | undefined {
  if (!vars) return undefined;
  const v = new VariablesCtor();
  for (const [name, typed] of Object.entries(vars)) {
    v.setTyped(name, { valueInfo: {}, ...typed });
  }
  return v;
}

/** Creates a polling client (not started). */
export function createWorkerClient(opts: WorkerClientOptions): WorkerClient {
  const interval = opts.pollIntervalMs ?? 300;
  const maxInterval = Math.max(interval, opts.maxPollIntervalMs ?? 30_000);
  const asyncResponseTimeout = opts.asyncResponseTimeoutMs ?? 5_000;
  const timeout = asyncResponseTimeout + (opts.requestTimeoutMs ?? 60_000);
  const interceptors: Interceptor[] = [
    (config) => ({
      ...config,
      timeout: { request: timeout },
      retry: { limit: 0 },
      hooks: { afterResponse: [normaliseJsonContentType] },
    }),
  ];
  if (opts.auth) interceptors.push(new BasicAuth(opts.auth));
  const client = new ClientCtor({
    baseUrl: opts.baseUrl,
    workerId: opts.workerId,
    maxTasks: opts.maxTasks,
    maxParallelExecutions: opts.maxTasks,
    interval,
    asyncResponseTimeout,
    usePriority: true,
    autoPoll: false,
    interceptors,
  });
  const log = opts.log;
  const state: PollStatus = { polling: false, reachable: false, consecutiveErrors: 0 };
  let pending: Promise<unknown> | undefined;

  // Track the fetch in flight (for stop()).
  const fetchAndLock = client.engineService.fetchAndLock.bind(client.engineService);
  client.engineService.fetchAndLock = (body: unknown) => {
    const p = fetchAndLock(body);
    pending = p.catch(() => undefined);
    return p;
  };
  client.on("poll:success", () => {
    if (!state.reachable && state.consecutiveErrors > 0) {
      log.info("Camunda reachable again", { url: safeUrl(opts.baseUrl) });
    }
    state.reachable = true;
    state.consecutiveErrors = 0;
    state.lastSuccessAt = Date.now();
    state.lastError = undefined;
    client.options.interval = interval;
  });
  client.on("poll:error", (e) => {
    state.reachable = false;
    state.consecutiveErrors++;
    state.lastError = errorMessage(e);
    const next = Math.min(maxInterval, Math.max(interval, 500) * 2 ** state.consecutiveErrors);
    client.options.interval = next;
    // log the first errors, then one in ten
    if (state.consecutiveErrors <= 3 || state.consecutiveErrors % 10 === 0) {
      log.warn("polling Camunda failed; backing off", {
        url: safeUrl(opts.baseUrl),
        error: state.lastError,
        consecutiveErrors: state.consecutiveErrors,
        nextPollMs: next,
      });
    }
  });
  // The library emits these on failed task calls; the facade's callers get the
  // rejection and log it themselves.
  for (const ev of ["complete:error", "handleFailure:error", "handleBpmnError:error"]) {
    client.on(ev, () => {});
  }
  client.on("extendLock:error", () => {});
  client.on("unlock:error", () => {});

  const ts = () => client.taskService;
  return {
    subscribe(topic, handler) {
      client.subscribe(topic.topicName, {
        lockDuration: topic.lockDurationMs,
        ...(topic.variables ? { variables: topic.variables } : {}),
      }, async ({ task }) => {
        const typed = task.variables.getAllTyped();
        const values = task.variables.getAll();
        await handler({ ...task, variables: typed, values, receivedAt: Date.now() });
      });
    },
    start() {
      state.polling = true;
      client.start();
    },
    async stop() {
      state.polling = false;
      client.stop();
      if (pending) await pending;
    },
    complete: (id, variables) => ts().complete({ id }, toLibVariables(variables)),
    handleFailure: (id, f) =>
      ts().handleFailure({ id }, {
        errorMessage: f.errorMessage,
        errorDetails: f.errorDetails,
        retries: f.retries,
        retryTimeout: f.retryTimeoutMs,
      }),
    handleBpmnError: (id, code, message, variables) =>
      ts().handleBpmnError({ id }, code, message, toLibVariables(variables)),
    extendLock: (id, ms) => ts().extendLock({ id }, ms),
    unlock: (id) => ts().unlock({ id }),
    status: () => ({ ...state }),
  };
}

/** What an error from the engine (or from reaching it) says. */
export interface EngineErrorInfo {
  /** The HTTP status, when the engine answered. */
  status?: number;
  /** Camunda's exception type (`NotFoundException`, `BadUserRequestException`, ...), when it answered with one. */
  type?: string;
  /** The message, redacted. */
  message: string;
  /** Worth retrying: the engine was not reached, or answered 5xx without an engine verdict, or with an optimistic locking conflict. */
  transient: boolean;
}

/** Classifies an error thrown by a {@link WorkerClient} call or {@link RestClient} request. */
export function engineErrorInfo(e: unknown): EngineErrorInfo {
  const any = (e ?? {}) as Record<string, unknown>;
  const status = typeof any.httpStatusCode === "number"
    ? any.httpStatusCode
    : typeof any.status === "number"
    ? any.status
    : undefined;
  const type = typeof any.type === "string" && any.type !== "" ? any.type : undefined;
  const message = errorMessage(e);
  let transient: boolean;
  if (status === undefined) transient = true; // not reached
  else if (type === "OptimisticLockingException") transient = true;
  else if (type !== undefined) transient = false; // the engine's verdict
  else transient = status >= 500 || status === 408 || status === 429;
  return { status, type, message, transient };
}

/**
 * Retries left and retry timeout for a task that just failed, so that a topic
 * with `retries: R` is tried `1 + R` times, waiting `min(initial * factor^n,
 * max)` before retry `n` (0-based); when none is left, `retries: 0` (an
 * incident) and `last: true`.
 *
 * `taskRetries` is the task's `retries` as fetched: `null` before the first
 * failure, then what the previous failure set.
 */
export function failureRetries(
  taskRetries: number | null | undefined,
  configured: number,
  backoff: Backoff,
): { retries: number; retryTimeoutMs: number; attempt: number; last: boolean } {
  const left = taskRetries === null || taskRetries === undefined
    ? configured
    : Math.max(0, Math.min(configured, taskRetries - 1));
  const attempt = configured - left + 1; // this failure was attempt number `attempt` (1-based)
  if (left <= 0) return { retries: 0, retryTimeoutMs: 0, attempt, last: true };
  return {
    retries: left,
    retryTimeoutMs: backoffDelay(backoff, configured - left),
    attempt,
    last: false,
  };
}

/** A REST error: the engine's answer (status, type, message). */
export class CamundaRestError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** Camunda's exception type, when given. */
  readonly type?: string;
  /** Creates one. */
  constructor(status: number, message: string, type?: string) {
    super(message);
    this.name = "CamundaRestError";
    this.status = status;
    this.type = type;
  }
}

/** Options of {@link createRestClient}. */
export interface RestClientOptions {
  /** The engine-rest base URL. */
  baseUrl: string;
  /** Basic auth credentials, when the REST API needs them. */
  auth?: { username: string; password: string };
  /** Timeout of one request, ms (default 60000). */
  timeoutMs?: number;
}

/** A resource to deploy. */
export interface DeployResource {
  /** The resource name (file name, e.g. `order.bpmn`). */
  name: string;
  /** Its bytes or text. */
  content: Uint8Array | string;
}

/** What a deployment created. */
export interface DeploymentResult {
  /** Deployment id. */
  id: string;
  /** Deployment name. */
  name: string;
  /** Process definitions created by it (none when nothing changed). */
  processDefinitions: { id: string; key: string; version: number; resource: string }[];
  /** Decision definitions created by it. */
  decisionDefinitions: { id: string; key: string; version: number; resource: string }[];
}

/** A small engine-rest client. */
export interface RestClient {
  /** The base URL (without credentials). */
  readonly baseUrl: string;
  /** Sends a request; returns the parsed JSON reply (or `undefined` for 204/empty). Throws {@link CamundaRestError} on a non-2xx reply. */
  request<T = unknown>(
    method: string,
    path: string,
    init?: { json?: unknown; form?: FormData; query?: Record<string, string> },
  ): Promise<T>;
  /** `GET /engine`: the engine is up (this endpoint is open even with auth on). */
  ping(): Promise<boolean>;
  /**
   * Deploys resources as one deployment with duplicate filtering and
   * `deploy-changed-only`: unchanged resources create nothing, a changed one
   * a new version.
   */
  deploy(
    name: string,
    resources: DeployResource[],
    opts?: { source?: string },
  ): Promise<DeploymentResult>;
  /** Starts the latest version of a process definition by key. */
  startProcess(
    key: string,
    opts?: { businessKey?: string; variables?: Record<string, TypedValue> },
  ): Promise<{ id: string; definitionId: string; businessKey: string | null }>;
}

/** Creates a REST client. */
export function createRestClient(opts: RestClientOptions): RestClient {
  const base = opts.baseUrl.replace(/\/+$/, "");
  const authHeader = opts.auth
    ? `Basic ${
      btoa(
        String.fromCharCode(
          ...new TextEncoder().encode(`${opts.auth.username}:${opts.auth.password}`),
        ),
      )
    }`
    : undefined;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  async function request<T>(
    method: string,
    path: string,
    init: { json?: unknown; form?: FormData; query?: Record<string, string> } = {},
  ): Promise<T> {
    const url = new URL(base + path);
    for (const [k, v] of Object.entries(init.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: "application/json" };
    if (authHeader) headers.authorization = authHeader;
    let body: BodyInit | undefined;
    if (init.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(init.json);
    } else if (init.form) {
      body = init.form;
    }
    const res = await fetch(url, {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = undefined;
    if (text !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (!res.ok) {
      const p = (parsed ?? {}) as Record<string, unknown>;
      const msg = typeof p.message === "string" ? p.message : text.slice(0, 500);
      throw new CamundaRestError(
        res.status,
        `${method} ${path}: HTTP ${res.status}: ${msg}`,
        typeof p.type === "string" ? p.type : undefined,
      );
    }
    return parsed as T;
  }
  return {
    baseUrl: base,
    request,
    async ping() {
      try {
        const r = await request<{ name: string }[]>("GET", "/engine");
        return Array.isArray(r);
      } catch {
        return false;
      }
    },
    async deploy(name, resources, o = {}) {
      const form = new FormData();
      form.set("deployment-name", name);
      form.set("enable-duplicate-filtering", "true");
      form.set("deploy-changed-only", "true");
      if (o.source) form.set("deployment-source", o.source);
      for (const r of resources) {
        const bytes = typeof r.content === "string"
          ? new TextEncoder().encode(r.content)
          : r.content;
        form.append(r.name, new Blob([bytes as BlobPart]), r.name);
      }
      const r = await request<Record<string, unknown>>("POST", "/deployment/create", { form });
      const defs = (key: string) =>
        Object.values((r[key] ?? {}) as Record<string, Record<string, unknown>>).map((d) => ({
          id: String(d.id),
          key: String(d.key),
          version: Number(d.version),
          resource: String(d.resource),
        }));
      return {
        id: String(r.id),
        name: String(r.name),
        processDefinitions: defs("deployedProcessDefinitions"),
        decisionDefinitions: defs("deployedDecisionDefinitions"),
      };
    },
    startProcess(key, o = {}) {
      return request("POST", `/process-definition/key/${encodeURIComponent(key)}/start`, {
        json: { businessKey: o.businessKey, variables: o.variables ?? {} },
      });
    },
  };
}

/**
 * RabbitMQ, through the management API as the spec's user: the vhost, the
 * user and its permissions, and the topology the compiler emits from the
 * model (`rabbitmqDefinitions` of `compiler/emit/rabbitmq.ts`, the same value
 * the broker loads at boot): every exchange (type, durable, arguments), every
 * queue (durable, `x-dead-letter-exchange` when `dead_letter`), every
 * `<queue>.dlq` and binding, and the alternate exchange that keeps unroutable
 * events.
 *
 * @module
 */
import type { StackModel } from "../../compiler/model.ts";
import type {
  BindingDefinition,
  ExchangeDefinition,
  QueueDefinition,
} from "../../compiler/emit/rabbitmq.ts";
import { rabbitmqDefinitions } from "../../compiler/emit/rabbitmq.ts";
import type { Check, Result, RunContext } from "../check.ts";
import { fail, pass, skip } from "../check.ts";
import type { BasicAuth, HttpResponse } from "../clients/http.ts";
import { describeStatus, httpRequest, jsonOf } from "../clients/http.ts";

/** The management API credentials: the spec's user. */
export function managementAuth(model: StackModel): BasicAuth {
  return { user: model.rabbitmq.user, password: model.rabbitmq.password };
}

async function api(ctx: RunContext, path: string): Promise<HttpResponse> {
  return await httpRequest(`${ctx.targets.rabbitmq.managementUrl}/api${path}`, {
    auth: managementAuth(ctx.model),
    signal: ctx.signal,
  });
}

const enc = encodeURIComponent;

function unexpected(what: string, res: HttpResponse): Result {
  return fail(
    what,
    describeStatus(res),
    res.status === 401
      ? "the management API refused the spec's user or password (rabbitmq_password)"
      : undefined,
  );
}

/** The management API refused because the user lacks the administrator tag. */
export function notAdministrator(res: HttpResponse): boolean {
  return (res.status === 401 || res.status === 403) && /not administrator/i.test(res.text);
}

/** The vhost exists. */
export function vhostCheck(model: StackModel): Check {
  const { vhost } = model.rabbitmq;
  return {
    id: "rabbitmq.vhost",
    domain: "rabbitmq",
    name: `rabbitmq: vhost ${vhost} exists`,
    run: async (ctx) => {
      const res = await api(ctx, `/vhosts/${enc(vhost)}`);
      if (res.status === 200) return pass();
      if (notAdministrator(res)) {
        // A monitoring user may list the vhosts it can see, not read one by name.
        const all = await api(ctx, "/vhosts");
        if (all.status !== 200) return unexpected(`vhost ${vhost}`, all);
        const names = jsonOf<{ name: string }[]>(all).map((v) => v.name);
        return names.includes(vhost)
          ? pass()
          : fail(`vhost ${vhost}`, `vhosts: ${names.join(", ") || "(none)"}`);
      }
      if (res.status === 404) {
        return fail(`vhost ${vhost}`, "no such vhost", "the broker loads it from definitions.json");
      }
      return unexpected(`vhost ${vhost}`, res);
    },
  };
}

function tagsOf(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String).sort();
  if (typeof v === "string") return v.split(",").map((t) => t.trim()).filter(Boolean).sort();
  return [];
}

/** The user exists with the emitted management tags. */
export function userCheck(model: StackModel): Check {
  const defs = rabbitmqDefinitions(model);
  const { user } = model.rabbitmq;
  const want = [...(defs.users.find((u) => u.name === user)?.tags ?? [])].sort();
  return {
    id: "rabbitmq.user",
    domain: "rabbitmq",
    name: `rabbitmq: user ${user} exists with tags ${want.join(", ") || "(none)"}`,
    run: async (ctx) => {
      // whoami works for any management user; /users/{name} needs administrator.
      const res = await api(ctx, "/whoami");
      if (res.status !== 200) return unexpected(`user ${user} authenticates`, res);
      const me = jsonOf<{ name?: string; tags?: unknown }>(res);
      if (me.name !== user) return fail(`user ${user}`, `authenticated as ${me.name}`);
      const tags = tagsOf(me.tags);
      return tags.join(",") === want.join(",")
        ? pass()
        : fail(`tags ${want.join(", ") || "(none)"}`, `tags ${tags.join(", ") || "(none)"}`);
    },
  };
}

/** The user's permissions on the vhost are the emitted ones (`.*` for all three). */
export function permissionsCheck(model: StackModel): Check {
  const { user, vhost } = model.rabbitmq;
  const p = rabbitmqDefinitions(model).permissions.find((x) =>
    x.user === user && x.vhost === vhost
  );
  const want = p ?? { configure: ".*", write: ".*", read: ".*" };
  const show = (x: { configure: string; write: string; read: string }) =>
    `configure ${x.configure}, write ${x.write}, read ${x.read}`;
  return {
    id: "rabbitmq.permissions",
    domain: "rabbitmq",
    name: `rabbitmq: user ${user} has ${show(want)} on vhost ${vhost}`,
    run: async (ctx) => {
      const res = await api(ctx, `/permissions/${enc(vhost)}/${enc(user)}`);
      if (notAdministrator(res)) {
        return skip(
          `user ${user} is not an administrator: the management API does not show permissions`,
        );
      }
      if (res.status === 404) return fail(show(want), `no permissions for ${user} on ${vhost}`);
      if (res.status !== 200) return unexpected(show(want), res);
      const got = jsonOf<{ configure: string; write: string; read: string }>(res);
      return got.configure === want.configure && got.write === want.write &&
          got.read === want.read
        ? pass()
        : fail(show(want), show(got));
    },
  };
}

function argsText(args: Record<string, unknown>): string {
  const e = Object.entries(args);
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join(", ") : "no arguments";
}

/** Arguments of `want` missing or different in `have` (extra live arguments are fine). */
function argDiffs(want: Record<string, unknown>, have: Record<string, unknown>): string[] {
  return Object.entries(want)
    .filter(([k, v]) => String(have[k]) !== String(v))
    .map(([k, v]) => (k in have ? `${k}=${have[k]}, not ${v}` : `no ${k} (want ${v})`));
}

/** An exchange exists with its type, durability and arguments. */
export function exchangeCheck(e: ExchangeDefinition): Check {
  const extra = e.arguments["alternate-exchange"]
    ? `, alternate-exchange ${e.arguments["alternate-exchange"]}`
    : "";
  const want = `${e.type}, ${e.durable ? "durable" : "transient"}${extra}`;
  return {
    id: `rabbitmq.exchange.${e.name}`,
    domain: "rabbitmq",
    name: `rabbitmq: exchange ${e.name} (${want})`,
    run: async (ctx) => {
      const res = await api(ctx, `/exchanges/${enc(e.vhost)}/${enc(e.name)}`);
      if (res.status === 404) return fail(`exchange ${e.name} (${want})`, "no such exchange");
      if (res.status !== 200) return unexpected(`exchange ${e.name}`, res);
      const x = jsonOf<{ type: string; durable: boolean; arguments?: Record<string, unknown> }>(
        res,
      );
      const diffs: string[] = [];
      if (x.type !== e.type) diffs.push(`type ${x.type}`);
      if (x.durable !== e.durable) diffs.push(x.durable ? "durable" : "transient");
      diffs.push(...argDiffs(e.arguments, x.arguments ?? {}));
      return diffs.length === 0 ? pass() : fail(want, diffs.join(", "));
    },
  };
}

/** A queue exists, durable, with its arguments (dead-lettering). */
export function queueCheck(q: QueueDefinition): Check {
  const dlx = q.arguments["x-dead-letter-exchange"];
  const want = `${q.durable ? "durable" : "transient"}${
    dlx ? `, x-dead-letter-exchange ${dlx}` : ""
  }`;
  return {
    id: `rabbitmq.queue.${q.name}`,
    domain: "rabbitmq",
    name: `rabbitmq: queue ${q.name} (${want})`,
    run: async (ctx) => {
      const res = await api(ctx, `/queues/${enc(q.vhost)}/${enc(q.name)}`);
      if (res.status === 404) return fail(`queue ${q.name} (${want})`, "no such queue");
      if (res.status !== 200) return unexpected(`queue ${q.name}`, res);
      const x = jsonOf<{
        durable: boolean;
        arguments?: Record<string, unknown>;
        effective_policy_definition?: Record<string, unknown>;
      }>(res);
      // A policy may set dead-lettering instead of a queue argument.
      const pol = x.effective_policy_definition ?? {};
      const have: Record<string, unknown> = {
        ...(pol["dead-letter-exchange"] !== undefined
          ? { "x-dead-letter-exchange": pol["dead-letter-exchange"] }
          : {}),
        ...(pol["dead-letter-routing-key"] !== undefined
          ? { "x-dead-letter-routing-key": pol["dead-letter-routing-key"] }
          : {}),
        ...(x.arguments ?? {}),
      };
      const diffs: string[] = [];
      if (x.durable !== q.durable) diffs.push(x.durable ? "durable" : "transient");
      diffs.push(...argDiffs(q.arguments, have));
      return diffs.length === 0
        ? pass()
        : fail(`${want} (${argsText(q.arguments)})`, diffs.join(", "));
    },
  };
}

/** A binding exists from an exchange to a queue with its routing key. */
export function bindingCheck(b: BindingDefinition, label = ""): Check {
  const key = b.routing_key === "" ? "(empty key)" : `key ${b.routing_key}`;
  return {
    id: `rabbitmq.binding.${b.source}.${b.destination}.${b.routing_key}`,
    domain: "rabbitmq",
    name: `rabbitmq: ${label}exchange ${b.source} routes to queue ${b.destination} (${key})`,
    run: async (ctx) => {
      const t = b.destination_type === "queue" ? "q" : "e";
      const res = await api(
        ctx,
        `/bindings/${enc(b.vhost)}/e/${enc(b.source)}/${t}/${enc(b.destination)}`,
      );
      if (res.status === 404) {
        return fail(
          `a binding ${b.source} → ${b.destination} (${key})`,
          "exchange or queue missing",
        );
      }
      if (res.status !== 200) return unexpected(`binding ${b.source} → ${b.destination}`, res);
      const keys = jsonOf<{ routing_key: string }[]>(res).map((x) => x.routing_key);
      return keys.includes(b.routing_key) ? pass() : fail(
        `a binding ${b.source} → ${b.destination} (${key})`,
        keys.length ? `bound with key(s) ${keys.join(", ")}` : "no binding",
      );
    },
  };
}

/** The events exchange has an alternate exchange that keeps unroutable messages in a queue. */
export function alternateExchangeCheck(model: StackModel): Check {
  const defs = rabbitmqDefinitions(model);
  const events = model.messaging.events.exchange;
  const ev = defs.exchanges.find((e) => e.name === events);
  const ae = ev?.arguments["alternate-exchange"];
  const vhost = model.rabbitmq.vhost;
  return {
    id: "rabbitmq.alternate-exchange",
    domain: "rabbitmq",
    name: `rabbitmq: unroutable events on ${events} go to alternate exchange ${ae ?? "(none)"}`,
    run: async (ctx) => {
      if (!ae) return skip(`the compiler sets no alternate exchange on ${events}`);
      const res = await api(ctx, `/exchanges/${enc(vhost)}/${enc(events)}`);
      if (res.status === 404) return fail(`exchange ${events}`, "no such exchange");
      if (res.status !== 200) return unexpected(`exchange ${events}`, res);
      const x = jsonOf<{ arguments?: Record<string, unknown>; policy?: string }>(res);
      let live = x.arguments?.["alternate-exchange"];
      if (live === undefined && x.policy) {
        const p = await api(ctx, `/policies/${enc(vhost)}/${enc(x.policy)}`);
        if (p.status === 200) {
          live = jsonOf<{ definition?: Record<string, unknown> }>(p).definition?.[
            "alternate-exchange"
          ];
        }
      }
      if (live !== ae) {
        return fail(
          `${events} with alternate-exchange ${ae}`,
          live === undefined ? "no alternate exchange" : `alternate-exchange ${live}`,
          "unroutable events are dropped without it",
        );
      }
      const ex = await api(ctx, `/exchanges/${enc(vhost)}/${enc(ae)}`);
      if (ex.status === 404) return fail(`exchange ${ae}`, "no such exchange");
      if (ex.status !== 200) return unexpected(`exchange ${ae}`, ex);
      const b = await api(ctx, `/exchanges/${enc(vhost)}/${enc(ae)}/bindings/source`);
      const bound = b.status === 200
        ? jsonOf<{ destination: string; destination_type: string }[]>(b).filter((x) =>
          x.destination_type === "queue"
        )
        : [];
      return bound.length > 0
        ? pass(`kept in ${bound.map((x) => x.destination).join(", ")}`)
        : fail(`a queue bound to ${ae}`, "no queue bound: unroutable events are dropped");
    },
  };
}

/** The rabbitmq domain. */
export function rabbitmqChecks(model: StackModel): Check[] {
  const defs = rabbitmqDefinitions(model);
  const dlx = model.messaging.dead_letter_exchange;
  return [
    vhostCheck(model),
    userCheck(model),
    permissionsCheck(model),
    ...defs.exchanges.map(exchangeCheck),
    ...defs.queues.map(queueCheck),
    ...defs.bindings.map((b) => bindingCheck(b, b.source === dlx ? "dead letters: " : "")),
    alternateExchangeCheck(model),
  ];
}

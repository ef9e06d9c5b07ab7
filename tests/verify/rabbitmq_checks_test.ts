/**
 * The rabbitmq checks against the machine's real RabbitMQ (management API on
 * 127.0.0.1:15672, administrator guest/guest): a throwaway vhost and user get
 * the topology the compiler emits, the checks are green; then breaks fail
 * exactly their checks. The vhost and user are deleted afterwards.
 */
import { expect } from "expect";
import { rabbitmqDefinitions } from "../../compiler/emit/rabbitmq.ts";
import type { StackModel } from "../../compiler/model.ts";
import { rabbitmqChecks } from "../../verify/checks/rabbitmq.ts";
import { rabbitmqHealthCheck } from "../../verify/checks/services.ts";
import { basicAuthHeader } from "../../verify/clients/http.ts";
import { contextFor, failing, referenceModel, run, runAll } from "./helpers.ts";

const MGMT = Deno.env.get("PROCOS_TEST_RABBITMQ_MGMT") ?? "http://127.0.0.1:15672";
const ADMIN = { user: "guest", password: "guest" };
const enc = encodeURIComponent;

async function admin(method: string, path: string, body?: unknown): Promise<Response> {
  const res = await fetch(`${MGMT}/api${path}`, {
    method,
    headers: { authorization: basicAuthHeader(ADMIN), "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await res.body?.cancel();
  if (res.status >= 300 && !(method === "DELETE" && res.status === 404)) {
    throw new Error(`${method} ${path}: HTTP ${res.status}`);
  }
  return res;
}

function hex(): string {
  return [...crypto.getRandomValues(new Uint8Array(6))].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** A throwaway vhost and user with the model's emitted topology; removed after `fn`. */
async function withBroker(
  tags: string,
  fn: (model: StackModel) => Promise<void>,
  mutate: (m: StackModel) => void = () => {},
): Promise<void> {
  const model = await referenceModel();
  const id = hex();
  model.rabbitmq.vhost = `procos_t_${id}`;
  model.rabbitmq.user = `procos_t_${id}`;
  model.rabbitmq.password = `pw-${hex()}`;
  mutate(model);
  const { vhost, user, password } = model.rabbitmq;
  const v = enc(vhost);
  try {
    await admin("PUT", `/vhosts/${v}`, {});
    await admin("PUT", `/users/${enc(user)}`, { password, tags });
    await admin("PUT", `/permissions/${v}/${enc(user)}`, {
      configure: ".*",
      write: ".*",
      read: ".*",
    });
    const defs = rabbitmqDefinitions(model);
    for (const e of defs.exchanges) {
      const { type, durable, auto_delete, internal, arguments: args } = e;
      await admin("PUT", `/exchanges/${v}/${enc(e.name)}`, {
        type,
        durable,
        auto_delete,
        internal,
        arguments: args,
      });
    }
    for (const q of defs.queues) {
      const { durable, auto_delete, arguments: args } = q;
      await admin("PUT", `/queues/${v}/${enc(q.name)}`, { durable, auto_delete, arguments: args });
    }
    for (const b of defs.bindings) {
      await admin("POST", `/bindings/${v}/e/${enc(b.source)}/q/${enc(b.destination)}`, {
        routing_key: b.routing_key,
        arguments: b.arguments,
      });
    }
    await fn(model);
  } finally {
    await admin("DELETE", `/vhosts/${v}`).catch((e) => console.error(e));
    await admin("DELETE", `/users/${enc(user)}`).catch((e) => console.error(e));
  }
}

Deno.test("rabbitmq checks: green on the emitted topology; each break fails exactly its checks", async () => {
  await withBroker("administrator", async (model) => {
    const ctx = await contextFor(model);
    const checks = rabbitmqChecks(model);
    const ids = checks.map((c) => c.id);
    expect(ids).toContain("rabbitmq.queue.procos.notifications.dlq");
    expect(ids).toContain(
      "rabbitmq.binding.procos.dlx.procos.notifications.dlq.procos.notifications",
    );
    expect(ids).toContain("rabbitmq.alternate-exchange");

    const green = await runAll(checks, ctx);
    expect(failing(green)).toEqual([]);
    expect(green.get("rabbitmq.permissions")).toEqual({ status: "pass" });
    expect(green.get("rabbitmq.alternate-exchange")).toEqual({
      status: "pass",
      detail: "kept in procos.unroutable",
    });
    expect((await run(rabbitmqHealthCheck(model), ctx)).status).toBe("pass");

    const v = enc(model.rabbitmq.vhost);
    // 1. a DLQ's binding to the dead letter exchange removed
    const props = "procos.notifications";
    await admin("DELETE", `/bindings/${v}/e/procos.dlx/q/procos.notifications.dlq/${enc(props)}`);
    let now = await runAll(checks, ctx);
    const dlqBinding = "rabbitmq.binding.procos.dlx.procos.notifications.dlq.procos.notifications";
    expect(failing(now)).toEqual([dlqBinding]);
    expect(now.get(dlqBinding)).toMatchObject({
      status: "fail",
      expected: "a binding procos.dlx → procos.notifications.dlq (key procos.notifications)",
      actual: "no binding",
    });

    // 2. a queue declared without dead-lettering
    await admin("DELETE", `/queues/${v}/procos.task-events`);
    await admin("PUT", `/queues/${v}/procos.task-events`, { durable: true, arguments: {} });
    await admin("POST", `/bindings/${v}/e/procos.events/q/procos.task-events`, {
      routing_key: "task.#",
    });
    now = await runAll(checks, ctx);
    expect(failing(now)).toEqual([dlqBinding, "rabbitmq.queue.procos.task-events"]);
    const q = now.get("rabbitmq.queue.procos.task-events");
    expect(q?.status).toBe("fail");
    if (q?.status === "fail") {
      expect(q.actual).toContain("no x-dead-letter-exchange (want procos.dlx)");
    }
  });
});

Deno.test("rabbitmq checks: a monitoring-only user (hardening) passes; permissions are skipped", async () => {
  await withBroker("monitoring", async (model) => {
    const ctx = await contextFor(model);
    const results = await runAll(rabbitmqChecks(model), ctx);
    expect(failing(results)).toEqual([]);
    expect(results.get("rabbitmq.user")).toEqual({ status: "pass" });
    expect(results.get("rabbitmq.permissions")?.status).toBe("skip");
  }, (m) => {
    m.security.hardening = true;
  });
});

Deno.test("rabbitmq checks: a wrong password fails with 401 and never shows the password", async () => {
  await withBroker("administrator", async (model) => {
    const wrong = structuredClone(model);
    wrong.rabbitmq.password = "definitely-wrong-pw";
    const ctx = await contextFor(wrong);
    const r = await run(rabbitmqChecks(wrong)[0], ctx);
    expect(r.status).toBe("fail");
    if (r.status === "fail") {
      expect(r.actual).toMatch(/^HTTP 401/);
      expect(r.hint).toContain("rabbitmq_password");
    }
    expect(JSON.stringify(r)).not.toContain("definitely-wrong-pw");
  });
});

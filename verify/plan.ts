/**
 * The domains and their check sources, and planning: which checks a run
 * makes, in report order.
 *
 * @module
 */
import type { StackModel } from "../compiler/model.ts";
import type { Check, CheckSource, Domain, VerifyContext } from "./check.ts";
import { DOMAINS } from "./check.ts";

/**
 * Each domain's check source, loaded when a run asks for the domain (a run
 * of one domain loads only its module and that module's clients).
 */
export const SOURCES: Readonly<Record<Domain, () => Promise<CheckSource>>> = {
  services: async () => (await import("./checks/services.ts")).servicesChecks,
  containers: async () => (await import("./checks/containers.ts")).containersChecks,
  postgres: async () => {
    const [{ postgresChecks }, { retentionPostgresChecks }] = await Promise.all([
      import("./checks/postgres.ts"),
      import("./checks/retention.ts"),
    ]);
    return (m) => [...postgresChecks(m), ...retentionPostgresChecks(m)];
  },
  backup: async () => (await import("./checks/backup.ts")).backupChecks,
  camunda: async () => {
    const [{ camundaChecks }, { diagramsCheck }, { retentionCamundaChecks }] = await Promise.all([
      import("./checks/camunda.ts"),
      import("./checks/camunda_diagrams.ts"),
      import("./checks/retention.ts"),
    ]);
    return (m, c) => [...camundaChecks(m, c), diagramsCheck(), ...retentionCamundaChecks(m)];
  },
  rabbitmq: async () => (await import("./checks/rabbitmq.ts")).rabbitmqChecks,
  redis: async () => (await import("./checks/redis.ts")).redisChecks,
  ollama: async () => (await import("./checks/ollama.ts")).ollamaChecks,
  workers: async () => (await import("./checks/workers.ts")).workersChecks,
  drift: async () => (await import("./checks/drift.ts")).driftChecks,
};

/** The checks of the given domains (default all), in domain order. */
export async function planChecks(
  model: StackModel,
  ctx: VerifyContext,
  only: readonly Domain[] = DOMAINS,
): Promise<Check[]> {
  const domains = DOMAINS.filter((d) => only.includes(d));
  const sources = await Promise.all(domains.map((d) => SOURCES[d]()));
  return sources.flatMap((source) => source(model, ctx));
}

/** Parses `--only a,b`; throws naming the unknown domains. */
export function parseDomains(text: string): Domain[] {
  const names = text.split(",").map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((n) => !(DOMAINS as readonly string[]).includes(n));
  if (bad.length) {
    throw new Error(`unknown domain(s) ${bad.join(", ")}; known: ${DOMAINS.join(", ")}`);
  }
  if (names.length === 0) throw new Error(`no domain given; known: ${DOMAINS.join(", ")}`);
  return names as Domain[];
}

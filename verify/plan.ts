/**
 * The domains and their check sources, and planning: which checks a run
 * makes, in report order.
 *
 * @module
 */
import type { StackModel } from "../compiler/model.ts";
import type { Check, CheckSource, Domain, VerifyContext } from "./check.ts";
import { DOMAINS } from "./check.ts";
import { backupChecks } from "./checks/backup.ts";
import { camundaChecks } from "./checks/camunda.ts";
import { diagramsCheck } from "./checks/camunda_diagrams.ts";
import { containersChecks } from "./checks/containers.ts";
import { driftChecks } from "./checks/drift.ts";
import { ollamaChecks } from "./checks/ollama.ts";
import { postgresChecks } from "./checks/postgres.ts";
import { rabbitmqChecks } from "./checks/rabbitmq.ts";
import { redisChecks } from "./checks/redis.ts";
import { retentionCamundaChecks, retentionPostgresChecks } from "./checks/retention.ts";
import { servicesChecks } from "./checks/services.ts";
import { workersChecks } from "./checks/workers.ts";

/** Each domain's check source. */
export const SOURCES: Readonly<Record<Domain, CheckSource>> = {
  services: servicesChecks,
  containers: containersChecks,
  postgres: (m) => [...postgresChecks(m), ...retentionPostgresChecks(m)],
  backup: backupChecks,
  camunda: (m, c) => [...camundaChecks(m, c), diagramsCheck(), ...retentionCamundaChecks(m)],
  rabbitmq: rabbitmqChecks,
  redis: redisChecks,
  ollama: ollamaChecks,
  workers: workersChecks,
  drift: driftChecks,
};

/** The checks of the given domains (default all), in domain order. */
export function planChecks(
  model: StackModel,
  ctx: VerifyContext,
  only: readonly Domain[] = DOMAINS,
): Check[] {
  return DOMAINS.filter((d) => only.includes(d)).flatMap((d) => SOURCES[d](model, ctx));
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

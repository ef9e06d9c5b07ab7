/**
 * Every cross-field rule, in one list. A rule is a pure function of a
 * {@link RuleContext} (see `rule.ts`); add a rule by writing one file and
 * listing it here. A rule's diagnostic with `severity: "warning"` is
 * reported without failing the build (`bpmn_diagram`).
 *
 * @module
 */
import type { Diagnostic } from "../diagnostics.ts";
import type { Rule, RuleContext } from "./rule.ts";
import type { Spec } from "../schema.ts";
import { pickSections, type Section, SECTIONS } from "../sections.ts";
import { dependsOnExists } from "./depends_on_exists.ts";
import { startupCycle } from "./startup_cycle.ts";
import { hostPortsUnique } from "./host_ports_unique.ts";
import { healthPortsUnique } from "./health_ports_unique.ts";
import { namesUnique } from "./names_unique.ts";
import { reservedNames } from "./reserved_names.ts";
import { camundaImage } from "./camunda_image.ts";
import { camundaAdminId } from "./camunda_admin_id.ts";
import { oneServicePerKind } from "./one_service_per_kind.ts";
import { secretRefs } from "./secret_refs.ts";
import { secretSources } from "./secret_sources.ts";
import { serviceRefs } from "./service_refs.ts";
import { exchangeRefs } from "./exchange_refs.ts";
import { modelRefs } from "./model_refs.ts";
import { topicsUnique } from "./topics_unique.ts";
import { processesFolder } from "./processes_folder.ts";
import { unusedTopics } from "./unused_topics.ts";
import { unservedTopics } from "./unserved_topics.ts";
import { bootProcesses } from "./boot_processes.ts";
import { bpmnHistoryTtl } from "./bpmn_history_ttl.ts";
import { bpmnDiagram } from "./bpmn_diagram.ts";
import { retentionOrder } from "./retention_order.ts";
import { backoffOrder } from "./backoff_order.ts";
import { aiNameLengths } from "./ai_name_lengths.ts";
import { networkSubnet } from "./network_subnet.ts";
import { backupSchedule } from "./backup_schedule.ts";
import { durationBounds } from "./duration_bounds.ts";
import { rabbitmqNames } from "./rabbitmq_names.ts";
import { rabbitmqVhost } from "./rabbitmq_vhost.ts";
import { containerPaths } from "./container_paths.ts";
import { postgresNames } from "./postgres_names.ts";
import { dockerResources } from "./docker_resources.ts";
import { secretValues } from "./secret_values.ts";
import { externalHost } from "./external_host.ts";
import { prodSecretDefaults } from "./prod_secret_defaults.ts";
import { prodDefaultPassword } from "./prod_default_password.ts";
import { prodImageTags } from "./prod_image_tags.ts";
import { prodPrivatePorts } from "./prod_private_ports.ts";
import { prodRestAuth } from "./prod_rest_auth.ts";
import { prodRedisAuth } from "./prod_redis_auth.ts";

export type { Rule, RuleContext } from "./rule.ts";

/**
 * A rule and the spec sections it reads. A rule runs when all of them are
 * structurally valid, and sees only them (so a missing entry fails its tests).
 */
export interface RuleEntry {
  /** The rule. */
  check: Rule;
  /** The top-level sections of the spec it reads (`ctx.secrets` needs `secrets`, `ctx.processes` needs `processes`). */
  reads: readonly Section[];
}

/** Rules checked for every profile, by name. */
export const RULES: Readonly<Record<string, RuleEntry>> = {
  depends_on_exists: { check: dependsOnExists, reads: ["services", "workers"] },
  startup_cycle: { check: startupCycle, reads: ["services", "workers"] },
  host_ports_unique: { check: hostPortsUnique, reads: ["services"] },
  health_ports_unique: { check: healthPortsUnique, reads: ["workers"] },
  names_unique: { check: namesUnique, reads: ["services", "workers"] },
  reserved_names: { check: reservedNames, reads: ["services", "workers"] },
  camunda_image: { check: camundaImage, reads: ["services"] },
  camunda_admin_id: { check: camundaAdminId, reads: ["services"] },
  one_service_per_kind: { check: oneServicePerKind, reads: ["services"] },
  secret_refs: { check: secretRefs, reads: ["secrets", "services"] },
  secret_sources: { check: secretSources, reads: ["secrets"] },
  service_refs: { check: serviceRefs, reads: ["services", "messaging", "ai"] },
  exchange_refs: { check: exchangeRefs, reads: ["messaging"] },
  model_refs: { check: modelRefs, reads: ["ai", "workers"] },
  topics_unique: { check: topicsUnique, reads: ["workers"] },
  processes_folder: { check: processesFolder, reads: ["processes"] },
  unused_topics: { check: unusedTopics, reads: ["workers", "processes"] },
  unserved_topics: { check: unservedTopics, reads: ["workers", "processes"] },
  boot_processes: { check: bootProcesses, reads: ["processes"] },
  bpmn_history_ttl: { check: bpmnHistoryTtl, reads: ["processes"] },
  retention_order: { check: retentionOrder, reads: ["ai"] },
  backoff_order: { check: backoffOrder, reads: ["workers"] },
  ai_name_lengths: { check: aiNameLengths, reads: ["ai"] },
  // what each value's consumer (Docker, Compose, Camunda, RabbitMQ, PostgreSQL, cron) accepts
  network_subnet: { check: networkSubnet, reads: ["network", "services", "workers"] },
  backup_schedule: { check: backupSchedule, reads: ["backup"] },
  duration_bounds: { check: durationBounds, reads: ["services", "workers", "ai"] },
  rabbitmq_names: { check: rabbitmqNames, reads: ["messaging"] },
  rabbitmq_vhost: { check: rabbitmqVhost, reads: ["services"] },
  container_paths: { check: containerPaths, reads: ["services", "ai"] },
  postgres_names: { check: postgresNames, reads: ["services"] },
  docker_resources: { check: dockerResources, reads: ["services"] },
  secret_values: { check: secretValues, reads: ["secrets"] },
  external_host: { check: externalHost, reads: ["services"] },
  bpmn_diagram: { check: bpmnDiagram, reads: ["processes"] },
};

/** Rules checked only for the production profile, by name. */
export const PRODUCTION_RULES: Readonly<Record<string, RuleEntry>> = {
  prod_secret_defaults: { check: prodSecretDefaults, reads: ["secrets"] },
  prod_default_password: { check: prodDefaultPassword, reads: ["secrets", "services"] },
  prod_image_tags: { check: prodImageTags, reads: ["services", "workers"] },
  prod_private_ports: { check: prodPrivatePorts, reads: ["services"] },
  prod_rest_auth: { check: prodRestAuth, reads: ["services"] },
  prod_redis_auth: { check: prodRedisAuth, reads: ["services"] },
};

/**
 * Runs every rule that applies to `ctx.profile` and reads only sections in
 * `valid` (default: all of them); returns all their diagnostics.
 */
export function runRules(
  ctx: Omit<RuleContext, "spec"> & { spec: Partial<Spec> },
  valid: ReadonlySet<Section> = new Set(SECTIONS),
): Diagnostic[] {
  const rules = ctx.profile === "production"
    ? [...Object.values(RULES), ...Object.values(PRODUCTION_RULES)]
    : Object.values(RULES);
  return rules
    .filter((r) => r.reads.every((s) => valid.has(s)))
    .flatMap((r) => r.check({ ...ctx, spec: pickSections(ctx.spec, r.reads) }));
}

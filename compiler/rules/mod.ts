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
import { prodSecretDefaults } from "./prod_secret_defaults.ts";
import { prodDefaultPassword } from "./prod_default_password.ts";
import { prodImageTags } from "./prod_image_tags.ts";
import { prodPrivatePorts } from "./prod_private_ports.ts";
import { prodRestAuth } from "./prod_rest_auth.ts";
import { prodRedisAuth } from "./prod_redis_auth.ts";

export type { Rule, RuleContext } from "./rule.ts";

/** Rules checked for every profile, by name. */
export const RULES: Readonly<Record<string, Rule>> = {
  depends_on_exists: dependsOnExists,
  startup_cycle: startupCycle,
  host_ports_unique: hostPortsUnique,
  health_ports_unique: healthPortsUnique,
  names_unique: namesUnique,
  reserved_names: reservedNames,
  camunda_image: camundaImage,
  camunda_admin_id: camundaAdminId,
  one_service_per_kind: oneServicePerKind,
  secret_refs: secretRefs,
  secret_sources: secretSources,
  service_refs: serviceRefs,
  exchange_refs: exchangeRefs,
  model_refs: modelRefs,
  topics_unique: topicsUnique,
  processes_folder: processesFolder,
  unused_topics: unusedTopics,
  unserved_topics: unservedTopics,
  boot_processes: bootProcesses,
  bpmn_history_ttl: bpmnHistoryTtl,
  bpmn_diagram: bpmnDiagram,
  retention_order: retentionOrder,
  backoff_order: backoffOrder,
  ai_name_lengths: aiNameLengths,
};

/** Rules checked only for the production profile, by name. */
export const PRODUCTION_RULES: Readonly<Record<string, Rule>> = {
  prod_secret_defaults: prodSecretDefaults,
  prod_default_password: prodDefaultPassword,
  prod_image_tags: prodImageTags,
  prod_private_ports: prodPrivatePorts,
  prod_rest_auth: prodRestAuth,
  prod_redis_auth: prodRedisAuth,
};

/** Runs every rule that applies to `ctx.profile`; returns all their diagnostics. */
export function runRules(ctx: RuleContext): Diagnostic[] {
  const rules = ctx.profile === "production"
    ? [...Object.values(RULES), ...Object.values(PRODUCTION_RULES)]
    : Object.values(RULES);
  return rules.flatMap((rule) => rule(ctx));
}

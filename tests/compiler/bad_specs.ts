/**
 * The bad specs: each a fault, made by editing a frozen copy of the
 * reference spec (`tests/fixtures/specs/reference.yaml`) or written out in
 * full, with the exact diagnostics the loader must print for it. The file of
 * each case is named after its fault (`<name>.yaml`).
 *
 * Used by `bad_specs_test.ts` (every case) and `schema_export_test.ts` (the
 * structural ones, which the JSON Schema must reject too).
 *
 * @module
 */
import type { ProfileName } from "../../compiler/schema.ts";
import { formatDiagnostic, SpecError } from "../../compiler/diagnostics.ts";
import { loadSpec } from "../../compiler/load_spec.ts";

/** Secrets good enough for production, for cases about something else. */
export const STRONG_ENV: Readonly<Record<string, string>> = {
  PROCOS_POSTGRES_PASSWORD: "pg-Strong-Secret-1",
  PROCOS_RABBITMQ_PASSWORD: "mq-Strong-Secret-2",
  PROCOS_REDIS_PASSWORD: "rd-Strong-Secret-3",
  PROCOS_CAMUNDA_ADMIN_PASSWORD: "ca-Strong-Secret-4",
};

/** One bad spec and what the loader must say about it. */
export interface BadSpec {
  /** The fault, in snake_case; the spec file is `<name>.yaml`. */
  name: string;
  /** The spec: an edit of the frozen reference text, or the whole text or bytes. */
  spec: ((base: string) => string) | string | Uint8Array<ArrayBuffer>;
  /**
   * Only the schema is at fault, in the file as written (so `SpecFile`, and
   * the JSON Schema exported from it, must reject it too).
   */
  structural?: boolean;
  /** The profile built (default development). */
  profile?: ProfileName;
  /** The environment (default {@link STRONG_ENV}). */
  env?: Record<string, string>;
  /** Extra files next to the spec, by relative path. */
  files?: Record<string, string>;
  /** The exact formatted diagnostics, sorted, file names relative to the case folder. */
  expected: string[];
}

/**
 * An edit of the base text: each `[find, replace]` pair replaces a string
 * that must occur exactly once (so a stale edit fails loudly).
 */
export function edit(...pairs: [string, string][]): (base: string) => string {
  return (base) => {
    let text = base;
    for (const [find, replace] of pairs) {
      const n = text.split(find).length - 1;
      if (n !== 1) throw new Error(`edit: ${JSON.stringify(find)} occurs ${n} times, not once`);
      text = text.replace(find, () => replace);
    }
    return text;
  };
}

const OLLAMA_BLOCK = `  ollama:
    kind: ollama
    image: ollama/ollama:latest
    ports:
      - target: 11434
        published: 11434
    volumes:
      - source: ollama_data
        target: /root/.ollama
    healthcheck:
      interval: 30s
      timeout: 10s
      retries: 5
      start_period: 60s
    resources:
      cpus: 2
      memory: 4g
    restart: unless-stopped

`;

const EXTRA_BPMN = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="extra-defs" targetNamespace="x">
  <bpmn:process id="extra" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:serviceTask id="mail" camunda:type="external" camunda:topic="generic-mail" />
  </bpmn:process>
</bpmn:definitions>
`;

/** Every bad spec. */
export const BAD_SPECS: BadSpec[] = [
  // --- structure (zod) -----------------------------------------------------
  {
    name: "unknown_key_did_you_mean",
    structural: true,
    spec: edit([
      "    healthcheck:\n      interval: 30s\n      timeout: 10s\n      retries: 5\n      start_period: 30s\n    resources:\n      cpus: 1\n",
      "    healtcheck:\n      interval: 30s\n      timeout: 10s\n      retries: 5\n      start_period: 30s\n    resources:\n      cpus: 1\n",
    ]),
    expected: [
      "unknown_key_did_you_mean.yaml:40:5: error: services.postgres.healtcheck: unknown key `healtcheck`; expected one of the keys kind, image, ports, volumes, healthcheck, resources, restart, depends_on, external, host, database (hint: did you mean `healthcheck`?)",
    ],
  },
  {
    name: "wrong_type",
    structural: true,
    spec: edit(["      cpus: 2\n      memory: 4g\n", "      cpus: two\n      memory: 4g\n"]),
    expected: [
      'wrong_type.yaml:118:13: error: services.ollama.resources.cpus: wrong type: "two"; expected a number greater than 0 and at most 256',
    ],
  },
  {
    name: "quoted_number",
    structural: true,
    spec: edit(["        published: 8080\n", '        published: "8080"\n']),
    expected: [
      'quoted_number.yaml:127:20: error: services.camunda.ports[0].published: wrong type: "8080"; expected a whole number from 1 to 65535 (hint: write the number without quotes)',
    ],
  },
  {
    name: "bad_duration",
    structural: true,
    spec: edit(["        lock_duration: 5m\n", "        lock_duration: 5 minutes\n"]),
    expected: [
      'bad_duration.yaml:215:24: error: workers.ai-worker.topics[0].lock_duration: invalid value "5 minutes"; expected a duration such as 30s, 5m, 12h or 7d (hint: write a whole number and a unit (ms, s, m, h or d), e.g. 30s)',
    ],
  },
  {
    name: "duration_without_unit",
    structural: true,
    spec: edit([
      "      interval: 30s\n      timeout: 10s\n      retries: 3\n      start_period: 10s\n",
      "      interval: 30\n      timeout: 10s\n      retries: 3\n      start_period: 10s\n",
    ]),
    expected: [
      "duration_without_unit.yaml:64:17: error: services.redis.healthcheck.interval: wrong type: 30; expected a duration such as 30s, 5m, 12h or 7d (hint: add a unit, e.g. 30s)",
    ],
  },
  {
    name: "bad_enum",
    structural: true,
    spec: edit(["      persistence: aof\n", "      persistence: aoff\n"]),
    expected: [
      'bad_enum.yaml:73:20: error: services.redis.cache.persistence: invalid value "aoff"; expected one of: none, rdb, aof (hint: did you mean `aof`?)',
    ],
  },
  {
    name: "missing_required_key",
    structural: true,
    spec: edit(["      admin_user: demo\n", ""]),
    expected: [
      "missing_required_key.yaml:142:5: error: services.camunda.engine.admin_user: required key `admin_user` is missing; expected a lower-case name of letters, digits, '-' or '_', starting with a letter (hint: add `admin_user:` under `services.camunda.engine`)",
    ],
  },
  {
    name: "bad_kind",
    structural: true,
    spec: edit(["    kind: redis\n", "    kind: redix\n"]),
    expected: [
      'bad_kind.yaml:55:11: error: services.redis.kind: unknown kind "redix"; expected one of: postgres, redis, rabbitmq, ollama, camunda (hint: did you mean `redis`?)',
    ],
  },
  {
    name: "missing_kind",
    structural: true,
    spec: edit(["    kind: rabbitmq\n", ""]),
    expected: [
      "missing_kind.yaml:78:3: error: services.rabbitmq.kind: required key `kind` is missing; expected one of: postgres, redis, rabbitmq, ollama, camunda (hint: add `kind:` with one of the kinds listed)",
    ],
  },
  {
    name: "negative_port",
    structural: true,
    spec: edit(["        published: 5432\n    volumes:", "        published: -5432\n    volumes:"]),
    expected: [
      "negative_port.yaml:36:20: error: services.postgres.ports[0].published: -5432 is too small; expected a whole number from 1 to 65535",
    ],
  },
  {
    name: "invalid_secret_name",
    structural: true,
    spec: edit(["  redis_password:\n", "  Redis_Password:\n"]),
    expected: [
      "invalid_secret_name.yaml:23:3: error: secrets.Redis_Password: invalid name `Redis_Password`; expected a lower-case name of letters, digits, '-' or '_', starting with a letter (hint: use lower-case letters, digits, '-' and '_', starting with a letter)",
    ],
  },
  {
    name: "unsupported_version",
    structural: true,
    spec: edit(["version: 1\n", "version: 2\n"]),
    expected: [
      "unsupported_version.yaml:6:10: error: version: invalid value 2; expected 1 (hint: ProcOS reads version 1 specs: write `version: 1`)",
    ],
  },
  {
    name: "unknown_top_level_key",
    structural: true,
    spec: edit(["profiles:\n  production:\n", "profile:\n  production:\n"]),
    expected: [
      "unknown_top_level_key.yaml:269:1: error: profile: unknown key `profile`; expected one of the keys version, project, network, secrets, services, messaging, ai, processes, workers, backup, monitoring, security, profiles (hint: did you mean `profiles`?)",
    ],
  },
  {
    // Structural, but only once merged: SpecFile (and so the JSON Schema)
    // takes overlays as any mapping.
    name: "overlay_errors_located_in_overlay",
    spec: edit(
      ["        image: redis:7.4-alpine\n", "        image: Redis:7.4\n"],
      ["          auth: true\n", "          auth: yes\n"],
      [
        "            published: 5672\n            host_ip: 127.0.0.1\n",
        "            published: 5672\n            host_ip: 127.0.0\n",
      ],
    ),
    expected: [
      'overlay_errors_located_in_overlay.yaml:298:16: error: profiles.production.services.redis.image: invalid value "Redis:7.4"; expected an image reference such as postgres:15-alpine or registry.example.com:5000/team/app@sha256:... (hint: write a lower-case image path with an optional registry, tag and digest, e.g. postgres:15-alpine)',
      'overlay_errors_located_in_overlay.yaml:313:17: error: profiles.production.services.redis.cache.auth: wrong type: "yes"; expected true or false (hint: write true or false, without quotes)',
      'overlay_errors_located_in_overlay.yaml:319:22: error: profiles.production.services.rabbitmq.ports[0].host_ip: invalid value "127.0.0"; expected an IPv4 address such as 127.0.0.1, or an IPv6 address such as ::1',
    ],
  },
  {
    name: "top_level_list",
    structural: true,
    spec: "- version: 1\n- project: procos\n",
    expected: [
      "top_level_list.yaml:1:1: error: (root): the top level is a list, not a mapping; expected a mapping with keys: version, project, network, secrets, services, messaging, ai, processes, workers, backup, monitoring, security, profiles (hint: a spec is a mapping of top-level keys, starting with `version: 1`)",
    ],
  },
  {
    name: "multiple_errors",
    structural: true,
    spec: edit(
      ["project: procos\n", "project: ProcOS\n"],
      ["  driver: bridge\n", "  driver: overlay\n"],
      ["    default: demo\n", "    default: 12345\n"],
      [
        "      retries: 5\n      start_period: 90s\n    resources:\n      cpus: 2",
        "      retries: 0\n      start_period: 90s\n    resources:\n      cpus: 2",
      ],
      [
        "      dead_letter: true\n    - name: procos.worker-coordination",
        "    - name: procos.worker-coordination",
      ],
      ["      enabled: true\n", "      enabled: true\n      compress: true\n"],
    ),
    expected: [
      "multiple_errors.yaml:7:10: error: project: invalid value \"ProcOS\"; expected a lower-case name of letters, digits, '-' or '_', starting with a letter (hint: use lower-case letters, digits, '-' and '_', starting with a letter)",
      'multiple_errors.yaml:11:11: error: network.driver: invalid value "overlay"; expected one of: bridge',
      "multiple_errors.yaml:28:14: error: secrets.camunda_admin_password.default: wrong type: a number; expected text of 1 to 256 characters (hint: quote it)",
      "multiple_errors.yaml:135:16: error: services.camunda.healthcheck.retries: 0 is too small; expected a whole number from 1 to 100",
      "multiple_errors.yaml:162:7: error: messaging.queues[1].dead_letter: required key `dead_letter` is missing; expected true or false (hint: add `dead_letter:` under `messaging.queues[1]`)",
      "multiple_errors.yaml:189:7: error: ai.retention.export.compress: unknown key `compress`; expected one of the keys enabled, path (hint: remove it from `ai.retention.export`)",
    ],
  },

  // --- YAML and the file itself ----------------------------------------------
  {
    name: "empty_file",
    spec: "",
    expected: [
      "empty_file.yaml:1:1: error: (root): the file is empty (hint: start from the reference spec, procos.config.yaml)",
    ],
  },
  {
    name: "duplicate_key",
    spec: edit([
      "      timeout: 10s\n      retries: 3\n",
      "      timeout: 10s\n      timeout: 15s\n      retries: 3\n",
    ]),
    expected: [
      "duplicate_key.yaml:66:7: error: services.redis.healthcheck.timeout: duplicate key `timeout` (hint: remove one of them, or rename it: keys must be unique in a mapping)",
    ],
  },
  {
    name: "alias_bomb",
    spec: "version: 1\n" +
      "a: &a [x, x, x, x, x, x, x, x, x, x]\n" +
      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
    expected: [
      "alias_bomb.yaml:3:8: error: (root): aliases expand to too many values (over 100): this looks like an alias bomb (hint: write the values out instead of nesting aliases)",
    ],
  },
  {
    name: "tab_indentation",
    spec: edit(["      timeout: 10s\n      retries: 3\n", "      timeout: 10s\n\tretries: 3\n"]),
    expected: [
      "tab_indentation.yaml:66:1: error: (root): a tab is used for indentation (hint: indent with spaces, not tabs)",
    ],
  },
  {
    name: "yaml_syntax_error",
    spec: edit(["    depends_on: [postgres, redis]\n", "    depends_on: [postgres, redis\n"]),
    expected: [
      "yaml_syntax_error.yaml:142:5: error: (root): YAML syntax error: flow sequence in block collection must be sufficiently indented and end with a ] (hint: check the indentation of this line against the lines above)",
    ],
  },
  {
    name: "several_documents",
    spec: "version: 1\n---\nproject: procos\n",
    expected: [
      "several_documents.yaml:2:1: error: (root): the file holds several YAML documents (`---`) (hint: keep one document per spec file)",
    ],
  },
  {
    name: "unknown_alias",
    spec: edit(["    depends_on: [postgres, redis]\n", "    depends_on: *deps\n"]),
    expected: [
      "unknown_alias.yaml:141:17: error: (root): alias *deps names no anchor defined before it (hint: define `&deps` earlier in the file, or write the value out)",
    ],
  },
  {
    name: "invalid_utf8",
    spec: new Uint8Array([
      ...new TextEncoder().encode("version: 1\nproject: pröcos\nnetwork:\n  name: caf"),
      0xe9,
      ...new TextEncoder().encode("\n"),
    ]),
    expected: [
      "invalid_utf8.yaml:4:12: error: (root): the file is not valid UTF-8: byte 0xE9 cannot start or continue a character (hint: save the file as UTF-8)",
    ],
  },

  // --- cross-field rules -------------------------------------------------------
  {
    name: "depends_on_unknown",
    spec: edit(["    depends_on: [postgres, redis]\n", "    depends_on: [postgres, rediss]\n"]),
    expected: [
      "depends_on_unknown.yaml:141:28: error: services.camunda.depends_on[1]: `camunda` depends on `rediss`, which is neither a service nor a worker; expected one of: ai-worker, camunda, generic-worker, kernel, ollama, postgres, rabbitmq, redis (hint: did you mean `redis`?)",
    ],
  },
  {
    name: "host_port_used_twice",
    spec: edit(["        published: 11434\n    volumes:", "        published: 5432\n    volumes:"]),
    expected: [
      "host_port_used_twice.yaml:108:20: error: services.ollama.ports[0].published: host port 5432 is already published by `services.postgres.ports[0]` (hint: publish it on another host port, or bind each to a different host_ip)",
    ],
  },
  {
    name: "startup_cycle",
    spec: edit([
      "    restart: unless-stopped\n    database:\n",
      "    restart: unless-stopped\n    depends_on: [kernel]\n    database:\n",
    ]),
    expected: [
      "startup_cycle.yaml:142:18: error: services.camunda.depends_on[0]: the startup order has a cycle: camunda → postgres → kernel → camunda (hint: remove one of these depends_on entries so that something can start first)",
    ],
  },
  {
    name: "second_service_of_a_kind",
    spec: edit([
      "\nmessaging:\n",
      "\n  cache2:\n    kind: redis\n    image: redis:7-alpine\n" +
      "    healthcheck: {interval: 30s, timeout: 10s, retries: 3, start_period: 10s}\n" +
      "    resources: {cpus: 0.5, memory: 512m}\n" +
      "    cache: {persistence: none, maxmemory_policy: noeviction, auth: false, password: redis_password}\n" +
      "\nmessaging:\n",
    ]),
    expected: [
      "second_service_of_a_kind.yaml:149:3: error: services.cache2: a second service of kind `redis` (the first is `redis`); expected exactly one service with `kind: redis` (hint: remove one, or change its kind)",
    ],
  },
  {
    name: "missing_service_kind",
    spec: edit([OLLAMA_BLOCK, ""]),
    expected: [
      "missing_service_kind.yaml:30:1: error: services: no service of kind `ollama`; expected exactly one service with `kind: ollama` (hint: add one: the stack needs exactly one ollama service)",
      "missing_service_kind.yaml:159:16: error: ai.providers[0].service: names `ollama`, which is not a service; expected the name of an ollama service (hint: add an ollama service)",
      "missing_service_kind.yaml:189:26: error: workers.ai-worker.depends_on[1]: `ai-worker` depends on `ollama`, which is neither a service nor a worker; expected one of: ai-worker, camunda, generic-worker, kernel, postgres, rabbitmq, redis (hint: fix the name, or remove it from depends_on)",
      "missing_service_kind.yaml:313:7: error: profiles.production.services.ollama: no such service `ollama` in `services`; expected one of: postgres, redis, rabbitmq, camunda (hint: fix the name, or define all of `ollama` here to add the service in this profile only)",
    ],
  },
  {
    name: "secret_ref_unknown",
    spec: edit(["      password: postgres_password\n", "      password: postgres_pw\n"]),
    expected: [
      "secret_ref_unknown.yaml:52:17: error: services.postgres.database.password: names the secret `postgres_pw`, which is not in `secrets`; expected one of: postgres_password, rabbitmq_password, redis_password, camunda_admin_password (hint: add `postgres_pw:` under `secrets`)",
    ],
  },
  {
    name: "engine_database_not_postgres",
    spec: edit(["      database: postgres\n", "      database: redis\n"]),
    expected: [
      "engine_database_not_postgres.yaml:143:17: error: services.camunda.engine.database: names `redis`, a redis service, not a postgres service; expected the name of a postgres service: postgres (hint: did you mean `postgres`?)",
    ],
  },
  {
    name: "broker_unknown",
    spec: edit(["  broker: rabbitmq\n", "  broker: rabbit\n"]),
    expected: [
      "broker_unknown.yaml:150:11: error: messaging.broker: names `rabbit`, which is not a service; expected the name of a rabbitmq service: rabbitmq (hint: did you mean `rabbitmq`?)",
    ],
  },
  {
    name: "provider_service_not_ollama",
    spec: edit(["      service: ollama\n", "      service: camunda\n"]),
    expected: [
      "provider_service_not_ollama.yaml:178:16: error: ai.providers[0].service: names `camunda`, a camunda service, not an ollama service; expected the name of an ollama service: ollama (hint: did you mean `ollama`?)",
    ],
  },
  {
    name: "exchange_unknown",
    spec: edit(
      ["      exchange: procos.coordination\n", "      exchange: procos.coordinaton\n"],
      [
        "    exchange: procos.events\n    task_completed",
        "    exchange: procos.notify\n    task_completed",
      ],
    ),
    expected: [
      "exchange_unknown.yaml:167:17: error: messaging.queues[2].exchange: names the exchange `procos.coordinaton`, which is not in messaging.exchanges; expected one of: procos.events, procos.coordination (hint: did you mean `procos.coordination`?)",
      "exchange_unknown.yaml:171:15: error: messaging.events.exchange: names the exchange `procos.notify`, which is not in messaging.exchanges; expected one of: procos.events, procos.coordination (hint: declare it under `messaging.exchanges`)",
    ],
  },
  {
    name: "model_unknown",
    spec: edit(
      ["        model: llama3.2:1b\n", "        model: llama3.2:3b\n"],
      ["  default_model: llama3.2:1b\n", "  default_model: mistral\n"],
    ),
    expected: [
      "model_unknown.yaml:183:18: error: ai.default_model: names the model `mistral`, which no AI provider offers; expected one of: llama3.2:1b (hint: add it to the models of a provider in `ai.providers`)",
      "model_unknown.yaml:213:16: error: workers.ai-worker.topics[0].model: names the model `llama3.2:3b`, which no AI provider offers; expected one of: llama3.2:1b (hint: did you mean `llama3.2:1b`?)",
    ],
  },
  {
    name: "secret_without_source",
    spec: edit(["    default: demo\n", "    default: demo\n  spare_password: {}\n"]),
    expected: [
      "secret_without_source.yaml:29:3: error: secrets.spare_password: secret `spare_password` has neither env, file nor default; expected at least one of env, file, default (hint: add `env: VARIABLE_NAME` (or `file:`) saying where its value comes from)",
    ],
  },
  {
    name: "secret_without_value",
    env: {},
    spec: edit(["    default: demo\n", "    file: secrets/camunda_admin_password\n"]),
    expected: [
      "secret_without_value.yaml:26:3: error: secrets.camunda_admin_password: secret `camunda_admin_password` has no value: environment variable PROCOS_CAMUNDA_ADMIN_PASSWORD (not set), file secrets/camunda_admin_password (not found), no default (hint: set PROCOS_CAMUNDA_ADMIN_PASSWORD or create secrets/camunda_admin_password)",
    ],
  },
  {
    name: "unused_topic",
    spec: edit([
      "          initial: 1s\n          factor: 2\n          max: 1s\n",
      "          initial: 1s\n          factor: 2\n          max: 1s\n" +
      "      - name: generic-mail\n        type: http\n        lock_duration: 30s\n        retries: 0\n" +
      "        backoff:\n          initial: 1s\n          factor: 2\n          max: 1s\n",
    ]),
    expected: [
      'unused_topic.yaml:268:15: error: workers.generic-worker.topics[5].name: topic `generic-mail` is used by no process in `processes` (hint: add an external service task with camunda:topic="generic-mail" to a BPMN file there, or remove the topic)',
    ],
  },
  {
    name: "unserved_bpmn_topic",
    files: { "processes/extra.bpmn": EXTRA_BPMN },
    spec: (base) => base,
    expected: [
      "unserved_bpmn_topic.yaml:198:9: error: processes.path: `extra.bpmn` uses the topic `generic-mail`, which no worker serves (hint: add the topic to a worker's topics, or change the service task's camunda:topic)",
    ],
  },
  {
    name: "processes_folder_missing",
    spec: edit(["  path: processes\n", "  path: flows\n"]),
    expected: [
      "processes_folder_missing.yaml:198:9: error: processes.path: the processes folder `flows` does not exist; expected a folder of BPMN files, relative to the spec file's folder (hint: create it (looked for flows), or fix processes.path)",
    ],
  },
  {
    name: "boot_process_unknown",
    spec: edit(["  boot: [procos-boot]\n", "  boot: [procos-boot, procos-bot]\n"]),
    expected: [
      "boot_process_unknown.yaml:199:23: error: processes.boot[1]: no BPMN file in `processes` defines the process `procos-bot`; expected one of: procos-boot, procos-smoke (hint: did you mean `procos-boot`?)",
    ],
  },
  {
    name: "topic_served_twice",
    spec: edit(["      - name: ai-generate\n", "      - name: generic-noop\n"]),
    expected: [
      "topic_served_twice.yaml:198:9: error: processes.path: `procos-smoke.bpmn` uses the topic `ai-generate`, which no worker serves (hint: add the topic to a worker's topics, or change the service task's camunda:topic)",
      "topic_served_twice.yaml:260:15: error: workers.generic-worker.topics[4].name: topic `generic-noop` is already served by worker `ai-worker` (hint: keep one declaration: each topic is served by one worker)",
    ],
  },
  {
    name: "retention_out_of_order",
    spec: edit(
      ["    historical: 90d\n", "    historical: 7d\n"],
      ["        archived: 730d\n", "        archived: 90d\n"],
    ),
    expected: [
      "retention_out_of_order.yaml:186:17: error: ai.retention.historical: historical (7d) is not longer than realtime (7d); expected a duration longer than 7d (hint: each phase must end after the one before: realtime < historical < archived)",
      "retention_out_of_order.yaml:195:19: error: ai.retention.overrides.system.archived: archived (90d) is not longer than historical (180d); expected a duration longer than 180d (hint: each phase must end after the one before: realtime < historical < archived)",
    ],
  },
  {
    name: "health_port_used_twice",
    spec: edit(["    health_port: 9102\n", "    health_port: 9100\n"]),
    expected: [
      "health_port_used_twice.yaml:225:18: error: workers.generic-worker.health_port: health port 9100 is already used by worker `kernel` (hint: give each worker its own health_port)",
    ],
  },
  {
    name: "backoff_initial_over_max",
    spec: edit([
      "          initial: 1s\n          factor: 2\n          max: 1s\n",
      "          initial: 2s\n          factor: 2\n          max: 1s\n",
    ]),
    expected: [
      "backoff_initial_over_max.yaml:265:20: error: workers.generic-worker.topics[4].backoff.initial: backoff.initial (2s) is longer than backoff.max (1s); expected at most 1s (hint: lower initial, or raise max)",
    ],
  },
  {
    name: "worker_named_like_service",
    spec: edit([
      "\nprofiles:\n",
      "  redis:\n    kind: kernel\n    health_port: 9200\n\nprofiles:\n",
    ]),
    expected: [
      "worker_named_like_service.yaml:268:3: error: workers.redis: worker `redis` has the same name as a service (hint: rename the worker: services and workers share one namespace)",
    ],
  },

  {
    name: "model_name_too_long",
    spec: edit(
      [
        "        - name: llama3.2:1b\n",
        "        - name: mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm\n",
      ],
      [
        "  default_model: llama3.2:1b\n",
        "  default_model: mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm\n",
      ],
      [
        "        model: llama3.2:1b\n",
        "        model: mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm\n",
      ],
    ),
    expected: [
      "model_name_too_long.yaml:180:17: error: ai.providers[0].models[0].name: model name is 120 characters long; expected at most 100 characters (procos_ai_context.model_used) (hint: use the model's short tag, such as llama3.2:1b)",
    ],
  },
  // --- production refusals -----------------------------------------------------
  {
    name: "prod_secrets_from_defaults",
    profile: "production",
    env: {},
    spec: (base) => base,
    expected: [
      "prod_secrets_from_defaults.yaml:17:3: error: secrets.postgres_password: secret `postgres_password` (from its default) is the seed's well-known default password (hint: use a strong, unique password in production)",
      "prod_secrets_from_defaults.yaml:17:3: error: secrets.postgres_password: secret `postgres_password` would come from its development default in a production build; expected a value from the environment or a secret file (hint: set PROCOS_POSTGRES_PASSWORD when building for production)",
      "prod_secrets_from_defaults.yaml:20:3: error: secrets.rabbitmq_password: secret `rabbitmq_password` (from its default) is the seed's well-known default password (hint: use a strong, unique password in production)",
      "prod_secrets_from_defaults.yaml:20:3: error: secrets.rabbitmq_password: secret `rabbitmq_password` would come from its development default in a production build; expected a value from the environment or a secret file (hint: set PROCOS_RABBITMQ_PASSWORD when building for production)",
      "prod_secrets_from_defaults.yaml:23:3: error: secrets.redis_password: secret `redis_password` (from its default) is the seed's well-known default password (hint: use a strong, unique password in production)",
      "prod_secrets_from_defaults.yaml:23:3: error: secrets.redis_password: secret `redis_password` would come from its development default in a production build; expected a value from the environment or a secret file (hint: set PROCOS_REDIS_PASSWORD when building for production)",
      "prod_secrets_from_defaults.yaml:26:3: error: secrets.camunda_admin_password: secret `camunda_admin_password` would come from its development default in a production build; expected a value from the environment or a secret file (hint: set PROCOS_CAMUNDA_ADMIN_PASSWORD when building for production)",
    ],
  },
  {
    name: "prod_seed_password_from_env",
    profile: "production",
    env: { ...STRONG_ENV, PROCOS_RABBITMQ_PASSWORD: "procos123" },
    spec: (base) => base,
    expected: [
      "prod_seed_password_from_env.yaml:20:3: error: secrets.rabbitmq_password: secret `rabbitmq_password` (from environment variable PROCOS_RABBITMQ_PASSWORD) is the seed's well-known default password (hint: use a strong, unique password in production)",
    ],
  },
  {
    name: "prod_image_latest",
    profile: "production",
    spec: edit(
      ["\n    image: procos/engine:7.24.0\n", "\n    image: procos/engine:latest\n"],
      ["        image: procos/engine:7.24.0\n", ""],
      ["        image: ollama/ollama:0.12.6\n", "        image: ollama/ollama\n"],
    ),
    expected: [
      "prod_image_latest.yaml:124:12: error: services.camunda.image: image `procos/engine:latest` uses the tag latest; expected an image pinned to a version or a digest, such as postgres:15.10-alpine (hint: pin a version in profiles.production.services.camunda.image)",
      "prod_image_latest.yaml:333:16: error: profiles.production.services.ollama.image: image `ollama/ollama` has no tag, which means latest; expected an image pinned to a version or a digest, such as postgres:15.10-alpine (hint: pin a version in profiles.production.services.ollama.image)",
    ],
  },
  {
    name: "prod_port_on_every_address",
    profile: "production",
    spec: edit(
      [
        "            published: 5432\n            host_ip: 127.0.0.1\n",
        "            published: 5432\n",
      ],
      [
        "            published: 6379\n            host_ip: 127.0.0.1\n",
        "            published: 6379\n            host_ip: 0.0.0.0\n",
      ],
    ),
    expected: [
      "prod_port_on_every_address.yaml:285:13: error: profiles.production.services.postgres.ports[0]: postgres port 5432 is published on every host address; expected a host_ip such as 127.0.0.1 (hint: add `host_ip: 127.0.0.1` to this port in the production profile, or remove the port)",
      "prod_port_on_every_address.yaml:301:22: error: profiles.production.services.redis.ports[0].host_ip: redis port 6379 is published on every host address; expected a host_ip such as 127.0.0.1 (hint: add `host_ip: 127.0.0.1` to this port in the production profile, or remove the port)",
    ],
  },
  {
    // The Tomcat distribution reads only its DB_* settings: the spec's would not take effect.
    name: "camunda_tomcat_image",
    spec: edit([
      "\n    image: procos/engine:7.24.0\n",
      "\n    image: camunda/camunda-bpm-platform:7.24.0\n",
    ]),
    expected: [
      "camunda_tomcat_image.yaml:124:12: error: services.camunda.image: `camunda/camunda-bpm-platform:7.24.0` is Camunda's Tomcat distribution, which reads only its DB_* settings and ignores services.camunda.engine.admin_user, services.camunda.engine.history_level, services.camunda.engine.rest_auth; expected the ProcOS engine (no `image:`, or procos/engine:7.24.0) (hint: remove `image:` to run the ProcOS engine, which reads every setting of the spec)",
    ],
  },
  {
    // The Camunda engine image under an Operaton spec: webapps, admin group and verify would differ.
    name: "camunda_image_of_other_distribution",
    spec: edit([
      "    engine:\n      database: postgres\n",
      "    engine:\n      distribution: operaton\n      database: postgres\n",
    ]),
    expected: [
      "camunda_image_of_other_distribution.yaml:124:12: error: services.camunda.image: `procos/engine:7.24.0` is the ProcOS Camunda engine, but services.camunda.engine.distribution is operaton; expected the Operaton engine procos/engine-operaton:1.0.3 (or no `image:`) (hint: remove `image:` to run procos/engine-operaton:1.0.3, or set services.camunda.engine.distribution: camunda to run Camunda)",
    ],
  },
  {
    // The Operaton image under the default (Camunda) distribution, from the production profile.
    name: "operaton_image_of_other_distribution",
    profile: "production",
    spec: edit([
      "        image: procos/engine:7.24.0\n",
      "        image: procos/engine-operaton:1.0.3\n",
    ]),
    expected: [
      "operaton_image_of_other_distribution.yaml:348:16: error: profiles.production.services.camunda.image: `procos/engine-operaton:1.0.3` is the ProcOS Operaton engine, but services.camunda.engine.distribution is camunda; expected the Camunda engine procos/engine:7.24.0 (or no `image:`) (hint: remove `image:` to run procos/engine:7.24.0, or set services.camunda.engine.distribution: operaton to run Operaton)",
    ],
  },
  {
    // Only the distributions ProcOS builds.
    name: "camunda_unknown_distribution",
    spec: edit([
      "    engine:\n      database: postgres\n",
      "    engine:\n      distribution: zeebe\n      database: postgres\n",
    ]),
    expected: [
      'camunda_unknown_distribution.yaml:143:21: error: services.camunda.engine.distribution: invalid value "zeebe"; expected one of: camunda, operaton',
    ],
  },
  {
    // Camunda Run: ProcOS writes no configuration for it yet, so the spec's would not take effect.
    name: "camunda_run_image",
    profile: "production",
    spec: edit([
      "        image: procos/engine:7.24.0\n",
      "        image: camunda/camunda-bpm-platform:run-7.24.0\n",
    ]),
    expected: [
      "camunda_run_image.yaml:348:16: error: profiles.production.services.camunda.image: `camunda/camunda-bpm-platform:run-7.24.0` is Camunda Run, which ProcOS does not configure yet: services.camunda.engine.admin_user, services.camunda.engine.history_level, services.camunda.engine.rest_auth and production mode (--production: no examples, CORS closed) would not take effect; expected the ProcOS engine (no `image:`, or procos/engine:7.24.0) (hint: remove `image:` to run the ProcOS engine, which reads every setting of the spec)",
    ],
  },
  {
    // Camunda accepts letters and digits only in user ids: the engine would not start.
    name: "camunda_admin_id_with_dash",
    spec: edit(["      admin_user: demo\n", "      admin_user: procos-admin\n"]),
    expected: [
      "camunda_admin_id_with_dash.yaml:144:19: error: services.camunda.engine.admin_user: Camunda refuses the user id `procos-admin` and would not start; expected letters and digits only, such as admin (hint: write it without - or _, e.g. procosadmin)",
    ],
  },
  {
    // ProcOS adds a container of that name itself.
    name: "worker_named_like_an_added_container",
    spec: edit(["  generic-worker:\n", "  postgres-setup:\n"]),
    expected: [
      "worker_named_like_an_added_container.yaml:222:3: error: workers.postgres-setup: the name `postgres-setup` is reserved; expected a name other than postgres-setup, backup, postgres-exporter, redis-exporter, verify (hint: ProcOS adds a `postgres-setup` container (the job that brings the database to the spec at every start); rename this one)",
    ],
  },
  {
    name: "prod_rest_auth_off",
    profile: "production",
    spec: edit(["        engine:\n          rest_auth: true\n", ""]),
    expected: [
      "prod_rest_auth_off.yaml:146:18: error: services.camunda.engine.rest_auth: the engine's REST API is open (rest_auth: false) in production; expected true (hint: set profiles.production.services.camunda.engine.rest_auth: true)",
    ],
  },
  {
    name: "prod_redis_auth_off",
    profile: "production",
    spec: edit(["          auth: true\n", "          auth: false\n"]),
    expected: [
      "prod_redis_auth_off.yaml:313:17: error: profiles.production.services.redis.cache.auth: redis accepts clients without a password (auth: false) in production; expected true (hint: set profiles.production.services.redis.cache.auth: true)",
    ],
  },
];

/** The structural faults as edits of a spec text (for the schema agreement test). */
export const STRUCTURAL_EDITS: Record<string, (base: string) => string> = Object.fromEntries(
  BAD_SPECS.filter((b) => b.structural).map((b) => {
    const spec = b.spec;
    return [b.name, typeof spec === "function" ? spec : () => String(spec)];
  }),
);

/** The frozen base the edits apply to. */
export const BASE_URL = new URL("../fixtures/specs/reference.yaml", import.meta.url);

/**
 * The frozen base's processes: a copy of `processes/` as it was when the base
 * was frozen (its workers serve exactly these topics). Never change it either.
 */
export const PROCESSES_URL = new URL("../fixtures/specs/processes/", import.meta.url);

/**
 * Writes one bad spec into its own folder under `root` (with a copy of
 * `processes/` and its extra files), loads it, and returns what happened:
 * the formatted diagnostics with the folder prefix dropped, or `loaded`, or
 * the name of whatever else was thrown.
 */
export async function runBadSpec(b: BadSpec, root: string): Promise<string[]> {
  const dir = `${root}/${b.name}`;
  await Deno.mkdir(`${dir}/processes`, { recursive: true });
  for await (const e of Deno.readDir(PROCESSES_URL)) {
    if (e.name.endsWith(".bpmn")) {
      await Deno.copyFile(new URL(e.name, PROCESSES_URL), `${dir}/processes/${e.name}`);
    }
  }
  for (const [path, content] of Object.entries(b.files ?? {})) {
    await Deno.writeTextFile(`${dir}/${path}`, content);
  }
  const file = `${dir}/${b.name}.yaml`;
  if (b.spec instanceof Uint8Array) await Deno.writeFile(file, b.spec);
  else if (typeof b.spec === "string") await Deno.writeTextFile(file, b.spec);
  else await Deno.writeTextFile(file, b.spec(await Deno.readTextFile(BASE_URL)));
  try {
    await loadSpec(file, { profile: b.profile ?? "development", env: b.env ?? { ...STRONG_ENV } });
    return ["loaded"];
  } catch (e) {
    if (!(e instanceof SpecError)) return [`threw ${String(e)}`];
    return e.diagnostics.map((d) => formatDiagnostic(d).split(`${dir}/`).join(""));
  }
}

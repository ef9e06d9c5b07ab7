/**
 * Bad values: specs whose shape is right but whose values the program that
 * uses them would refuse or misread (Docker, Compose, Camunda, RabbitMQ,
 * PostgreSQL, cron, the env files), each with the exact located diagnostics
 * its rule in `compiler/rules/` gives; and specs with several kinds of
 * problem at once, all of which one run reports.
 *
 * Each is an edit of the frozen reference, run by `bad_values_test.ts`.
 *
 * @module
 */
import { type BadSpec, edit, STRONG_ENV } from "./bad_specs.ts";

/** Every bad value. */
export const BAD_VALUES: BadSpec[] = [
  {
    name: "subnet_octet_out_of_range",
    profile: "production",
    spec: edit(["      subnet: 172.28.0.0/16\n", "      subnet: 172.280.0.0/16\n"]),
    expected: [
      'subnet_octet_out_of_range.yaml:272:15: error: profiles.production.network.subnet: invalid subnet "172.280.0.0/16": the octet 280 is over 255; expected a CIDR such as 172.28.0.0/16 (hint: write four numbers of 0-255 and a prefix of 0-32, e.g. 172.28.0.0/16)',
    ],
  },
  {
    name: "subnet_host_bits_set",
    profile: "production",
    spec: edit(["      subnet: 172.28.0.0/16\n", "      subnet: 172.28.5.0/16\n"]),
    expected: [
      'subnet_host_bits_set.yaml:272:15: error: profiles.production.network.subnet: subnet "172.28.5.0/16" has host bits set, which Docker refuses; expected the network\'s own address, 172.28.0.0/16 (hint: write 172.28.0.0/16)',
    ],
  },
  {
    name: "subnet_too_small",
    profile: "production",
    spec: edit(["      subnet: 172.28.0.0/16\n", "      subnet: 172.28.0.0/29\n"]),
    expected: [
      'subnet_too_small.yaml:272:15: error: profiles.production.network.subnet: subnet "172.28.0.0/29" has room for 5 containers; expected room for the stack\'s up to 13 containers (hint: use a shorter prefix, such as /24)',
    ],
  },
  {
    name: "cron_field_out_of_range",
    profile: "production",
    spec: edit(['      schedule: "0 3 * * *"\n', '      schedule: "0 24 * * *"\n']),
    expected: [
      'cron_field_out_of_range.yaml:274:17: error: profiles.production.backup.schedule: "0 24 * * *": the hour field "24": 24 is out of range (0-23); expected five cron fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week 0-7 (0 and 7 are Sunday), as numbers, *, ranges, steps and lists (hint: the hour takes 0-23)',
    ],
  },
  {
    name: "cron_never_runs",
    profile: "production",
    spec: edit(['      schedule: "0 3 * * *"\n', '      schedule: "0 3 30 2 *"\n']),
    expected: [
      'cron_never_runs.yaml:274:17: error: profiles.production.backup.schedule: "0 3 30 2 *" never runs: no day of the calendar matches it; expected five cron fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week 0-7 (0 and 7 are Sunday), as numbers, *, ranges, steps and lists (hint: check the day of month against the month: 30 February never comes)',
    ],
  },
  {
    name: "lock_duration_zero",
    spec: edit(["        lock_duration: 5m\n", "        lock_duration: 0s\n"]),
    expected: [
      "lock_duration_zero.yaml:215:24: error: workers.ai-worker.topics[0].lock_duration: the lock duration 0s is too short; expected a lock duration from 2s to 24d (hint: Camunda refuses a lock of 0, and the worker renews a lock every max(1s, half of it))",
    ],
  },
  {
    name: "retention_schedule_zero",
    spec: edit(["    archived: 365d\n", "    archived: 365d\n    schedule: 0s\n"]),
    expected: [
      "retention_schedule_zero.yaml:188:15: error: ai.retention.schedule: the retention schedule 0s is too short; expected a retention schedule of at least 1m (hint: the procos-retention process runs on this timer cycle; Camunda refuses a cycle of 0 and a shorter one starts runs before the last has ended)",
    ],
  },
  {
    name: "healthcheck_interval_zero",
    spec: edit([
      "      interval: 30s\n      timeout: 10s\n      retries: 3\n      start_period: 10s\n",
      "      interval: 0ms\n      timeout: 10s\n      retries: 3\n      start_period: 10s\n",
    ]),
    expected: [
      "healthcheck_interval_zero.yaml:64:17: error: services.redis.healthcheck.interval: the health check interval 0ms is too short; expected a health check interval from 1ms to 106751d (hint: Docker takes 0 as its default of 30s)",
    ],
  },
  {
    name: "queue_name_amq_prefix",
    spec: edit(["    - name: procos.notifications\n", "    - name: amq.notifications\n"]),
    expected: [
      'queue_name_amq_prefix.yaml:158:13: error: messaging.queues[0].name: the queue name "amq.notifications" starts with amq., which RabbitMQ reserves; expected a queue name not starting with amq. (hint: RabbitMQ refuses to declare it, and its definitions import skips it; rename it, e.g. procos.notifications)',
    ],
  },
  {
    name: "export_path_dot_dot",
    spec: edit(["      path: /var/lib/procos/archive\n", "      path: /var/lib/../../etc\n"]),
    expected: [
      "export_path_dot_dot.yaml:190:13: error: ai.retention.export.path: the container path \"/var/lib/../../etc\" is not usable: it has a '.' or '..' segment, so it resolves somewhere else; expected an absolute path of plain segments, such as /var/lib/procos/archive (hint: write the path as it resolves, without '.', '..', '//' or ':')",
    ],
  },
  {
    name: "volume_target_with_colon",
    spec: edit(["        target: /data\n", "        target: /data:z\n"]),
    expected: [
      "volume_target_with_colon.yaml:62:17: error: services.redis.volumes[0].target: the container path \"/data:z\" is not usable: it contains ':', which separates the parts of a Compose volume; expected an absolute path of plain segments, such as /var/lib/procos/archive (hint: write the path as it resolves, without '.', '..', '//' or ':')",
    ],
  },
  {
    name: "memory_under_docker_minimum",
    spec: edit([
      "      cpus: 0.5\n      memory: 512m\n    restart: unless-stopped\n    cache:",
      "      cpus: 0.001\n      memory: 4m\n    restart: unless-stopped\n    cache:",
    ]),
    expected: [
      "memory_under_docker_minimum.yaml:69:13: error: services.redis.resources.cpus: 0.001 CPUs is under Docker's minimum; expected at least 0.01 CPUs (hint: Docker refuses fewer than 0.01 CPUs)",
      "memory_under_docker_minimum.yaml:70:15: error: services.redis.resources.memory: 4m is under Docker's minimum; expected a memory limit of at least 6m (hint: Docker refuses a memory limit under 6 MiB; give the service what it needs, e.g. 512m)",
    ],
  },
  {
    name: "postgres_role_reserved",
    spec: edit([
      "      name: procos\n      user: procos\n",
      "      name: procos\n      user: pg_procos\n",
    ]),
    expected: [
      'postgres_role_reserved.yaml:51:13: error: services.postgres.database.user: the role name "pg_procos" is reserved; expected a role name not starting with pg_, other than postgres, public and none (hint: PostgreSQL refuses to create it; choose another, e.g. procos)',
    ],
  },
  {
    name: "secret_value_with_line_break",
    env: { ...STRONG_ENV, PROCOS_RABBITMQ_PASSWORD: "two\nlines" },
    expected: [
      "secret_value_with_line_break.yaml:21:5: error: secrets.rabbitmq_password.env: the value of `rabbitmq_password`, from the variable PROCOS_RABBITMQ_PASSWORD, cannot be used: it contains a line break or another control character; expected a value of one line that env files carry as it is (hint: supply a value without line breaks or control characters, e.g. a generated password)",
    ],
    spec: (base) => base,
  },
  {
    name: "cron_once_in_four_years",
    profile: "production",
    spec: edit(['      schedule: "0 3 * * *"\n', '      schedule: "0 3 29 2 *"\n']),
    expected: [
      'cron_once_in_four_years.yaml:274:17: error: profiles.production.backup.schedule: "0 3 29 2 *" runs less than once a year (up to 1461 days apart); expected five cron fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week 0-7 (0 and 7 are Sunday), as numbers, *, ranges, steps and lists (hint: a backup that old is no backup: 29 February comes once in four years)',
    ],
  },
  {
    name: "dead_letter_queue_name_too_long",
    spec: edit(["    - name: procos.notifications\n", `    - name: procos.${"n".repeat(245)}\n`]),
    expected: [
      "dead_letter_queue_name_too_long.yaml:158:13: error: messaging.queues[0].name: its dead-letter queue procos.nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn.dlq is over 255 bytes; expected a queue name of at most 251 bytes when dead_letter is on (hint: ProcOS declares <queue>.dlq beside it; shorten the name)",
    ],
  },
  {
    name: "vhost_dot",
    spec: edit(["      vhost: procos\n", '      vhost: "."\n']),
    expected: [
      'vhost_dot.yaml:99:14: error: services.rabbitmq.broker.vhost: the vhost "." is a URL path segment; expected a vhost name other than . and .., such as procos (hint: an AMQP URL resolves it away, so the workers would use the default vhost /)',
    ],
  },
  {
    name: "every_problem_at_once",
    spec: edit(
      ["      type: topic\n", "      type: topical\n"],
      ["    depends_on: [kernel, ollama]\n", "    depends_on: [kernel, olama]\n"],
      ["        lock_duration: 5m\n", "        lock_duration: 0s\n"],
    ),
    expected: [
      'every_problem_at_once.yaml:154:13: error: messaging.exchanges[0].type: invalid value "topical"; expected one of: direct, topic, fanout, headers (hint: did you mean `topic`?)',
      "every_problem_at_once.yaml:208:26: error: workers.ai-worker.depends_on[1]: `ai-worker` depends on `olama`, which is neither a service nor a worker; expected one of: ai-worker, camunda, generic-worker, kernel, ollama, postgres, rabbitmq, redis (hint: did you mean `ollama`?)",
      "every_problem_at_once.yaml:215:24: error: workers.ai-worker.topics[0].lock_duration: the lock duration 0s is too short; expected a lock duration from 2s to 24d (hint: Camunda refuses a lock of 0, and the worker renews a lock every max(1s, half of it))",
    ],
  },
];

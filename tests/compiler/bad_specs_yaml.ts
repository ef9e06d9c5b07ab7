/**
 * Bad specs of the YAML loader and of the messages it words (issue 9): merge
 * keys, nesting too deep, an alias inside its own value, an overlay entry
 * the base does not define, a bad env var name, a bad network name. Each
 * with its exact diagnostics, run by `bad_specs_yaml_test.ts` the way
 * `bad_specs_test.ts` runs `BAD_SPECS`.
 *
 * @module
 */
import { type BadSpec, edit } from "./bad_specs.ts";

const REDIS_HEALTHCHECK =
  "    healthcheck:\n      interval: 30s\n      timeout: 10s\n      retries: 3\n      start_period: 10s\n";
const RABBITMQ_HEALTHCHECK =
  "    healthcheck:\n      interval: 30s\n      timeout: 10s\n      retries: 5\n      start_period: 60s\n    resources:\n      cpus: 0.5\n";

/** A block mapping nested `depth` levels deep, as the value of `key`. */
function blockNesting(key: string, depth: number): string {
  let out = `${key}:\n`;
  for (let i = 1; i < depth; i++) out += `${"  ".repeat(i)}k${i}:\n`;
  return `${out}${"  ".repeat(depth)}k${depth}: 1\n`;
}

/** The YAML loader's bad specs. */
export const YAML_BAD_SPECS: BadSpec[] = [
  // --- merge keys -------------------------------------------------------------
  {
    // A value merged from an anchor is located in the anchor, for every
    // mapping that merges it; a key written locally wins and is located locally.
    name: "merge_key_value_located_in_anchor",
    spec: edit(
      [
        REDIS_HEALTHCHECK,
        "    healthcheck: &hc\n      interval: 30s\n      timeout: 10x\n      retries: 3\n      start_period: 10s\n",
      ],
      [
        RABBITMQ_HEALTHCHECK,
        "    healthcheck:\n      <<: *hc\n      retries: five\n    resources:\n      cpus: 0.5\n",
      ],
    ),
    expected: [
      'merge_key_value_located_in_anchor.yaml:65:16: error: services.rabbitmq.healthcheck.timeout: invalid value "10x"; expected a duration such as 30s, 5m, 12h or 7d (hint: write a whole number and a unit (ms, s, m, h or d), e.g. 30s)',
      'merge_key_value_located_in_anchor.yaml:65:16: error: services.redis.healthcheck.timeout: invalid value "10x"; expected a duration such as 30s, 5m, 12h or 7d (hint: write a whole number and a unit (ms, s, m, h or d), e.g. 30s)',
      'merge_key_value_located_in_anchor.yaml:91:16: error: services.rabbitmq.healthcheck.retries: wrong type: "five"; expected a whole number from 1 to 100',
    ],
  },
  {
    // In `<<: [*small, *big]`, `small` wins (so the bad `cpus` of `big` is
    // only postgres's); the key written locally wins over both.
    name: "merge_key_list_local_wins",
    spec: edit(
      [
        "    resources:\n      cpus: 0.5\n      memory: 512m\n    restart: unless-stopped\n    cache:",
        "    resources: &small\n      cpus: 0.5\n      memory: 512m\n    restart: unless-stopped\n    cache:",
      ],
      [
        "    resources:\n      cpus: 1\n      memory: 1g\n",
        "    resources: &big\n      cpus: lots\n      memory: 1g\n",
      ],
      [
        "    resources:\n      cpus: 0.5\n      memory: 512m\n    restart: unless-stopped\n    broker:",
        "    resources:\n      <<: [*small, *big]\n      memory: 512 MB\n    restart: unless-stopped\n    broker:",
      ],
    ),
    expected: [
      'merge_key_list_local_wins.yaml:46:13: error: services.postgres.resources.cpus: wrong type: "lots"; expected a number greater than 0 and at most 256',
      'merge_key_list_local_wins.yaml:96:15: error: services.rabbitmq.resources.memory: invalid value "512 MB"; expected a memory size such as 512m or 2g (hint: write a whole number and a unit (k, m or g), e.g. 512m)',
    ],
  },
  {
    name: "merge_key_not_a_mapping",
    spec: edit([
      RABBITMQ_HEALTHCHECK,
      "    healthcheck:\n      <<: 30s\n    resources:\n      cpus: 0.5\n",
    ]),
    expected: [
      'merge_key_not_a_mapping.yaml:90:11: error: services.rabbitmq.healthcheck["<<"]: a merge key `<<` takes mappings, but this is a single value (hint: merge a mapping: `<<: *name` (with `&name` on a mapping), or `<<: [*a, *b]`)',
    ],
  },
  {
    name: "merge_key_twice",
    spec: edit(
      [REDIS_HEALTHCHECK, REDIS_HEALTHCHECK.replace("healthcheck:", "healthcheck: &hc")],
      [
        "    resources:\n      cpus: 1\n      memory: 1g\n",
        "    resources: &big\n      cpus: 1\n      memory: 1g\n",
      ],
      [
        RABBITMQ_HEALTHCHECK,
        "    healthcheck:\n      <<: *hc\n      <<: *big\n    resources:\n      cpus: 0.5\n",
      ],
    ),
    expected: [
      'merge_key_twice.yaml:91:7: error: services.rabbitmq.healthcheck["<<"]: duplicate key `<<` (hint: merge several mappings with one key: `<<: [*a, *b]`)',
    ],
  },
  {
    // Merges cost alias expansions like any alias: ten of ten of ten is a bomb.
    name: "merge_key_alias_bomb",
    spec: "version: 1\n" +
      "a: &a {x: 1, y: 2}\n" +
      "b: &b {<<: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a], k: 1}\n" +
      "c: &c {<<: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b], k: 2}\n" +
      "d: &d {<<: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c], k: 3}\n",
    expected: [
      "merge_key_alias_bomb.yaml:3:13: error: (root): aliases expand to too many values (over 100): this looks like an alias bomb (hint: write the values out instead of nesting aliases)",
    ],
  },
  {
    name: "alias_inside_its_anchor",
    spec: edit([
      "network:\n  name: procos-network\n  driver: bridge\n",
      "network: &net\n  name: procos-network\n  driver: bridge\n  also: *net\n",
    ]),
    expected: [
      "alias_inside_its_anchor.yaml:12:9: error: network.also: alias *net is used inside the value it names, so that value would contain itself (hint: write the inner value out, or move `*net` after the end of `&net`)",
    ],
  },

  // --- nesting ----------------------------------------------------------------
  {
    name: "nesting_too_deep_brackets",
    spec: edit([
      "    depends_on: [postgres, redis]\n",
      `    depends_on: ${"[".repeat(5000)}postgres${"]".repeat(5000)}\n`,
    ]),
    expected: [
      "nesting_too_deep_brackets.yaml:141:78: error: services.camunda.depends_on[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: the nesting is too deep: more than 64 levels of mappings and lists (hint: nest the values less deeply)",
    ],
  },
  {
    name: "nesting_too_deep_indented",
    spec: `version: 1\n${blockNesting("project", 70)}`,
    expected: [
      "nesting_too_deep_indented.yaml:66:129: error: project.k1.k2.k3.k4.k5.k6.k7.k8.k9.k10.k11.k12.k13.k14.k15.k16.k17.k18.k19.k20.k21.k22.k23.k24.k25.k26.k27.k28.k29.k30.k31.k32.k33.k34.k35.k36.k37.k38.k39.k40.k41.k42.k43.k44.k45.k46.k47.k48.k49.k50.k51.k52.k53.k54.k55.k56.k57.k58.k59.k60.k61.k62.k63: the nesting is too deep: more than 64 levels of mappings and lists (hint: nest the values less deeply)",
    ],
  },

  // --- messages -----------------------------------------------------------------
  {
    name: "overlay_names_no_such_service",
    spec: edit(
      [
        "      postgres:\n        image: postgres:15.10-alpine\n",
        "      postgers:\n        image: postgres:15.10-alpine\n",
      ],
      [
        "\n    services:\n",
        "\n    workers:\n      ai-wroker:\n        concurrency: 4\n    services:\n",
      ],
    ),
    expected: [
      "overlay_names_no_such_service.yaml:282:7: error: profiles.production.workers.ai-wroker: no such worker `ai-wroker` in `workers`; expected one of: kernel, ai-worker, generic-worker (hint: did you mean `ai-worker`?)",
      "overlay_names_no_such_service.yaml:285:7: error: profiles.production.services.postgers: no such service `postgers` in `services`; expected one of: postgres, redis, rabbitmq, ollama, camunda (hint: did you mean `postgres`?)",
    ],
  },
  {
    name: "secret_env_name_shown",
    spec: edit(["    env: PROCOS_REDIS_PASSWORD\n", "    env: procos-redis-password\n"]),
    expected: [
      "secret_env_name_shown.yaml:24:10: error: secrets.redis_password.env: invalid value \"procos-redis-password\"; expected an environment variable name such as PROCOS_POSTGRES_PASSWORD (hint: use capital letters, digits and '_', not starting with a digit, e.g. PROCOS_DB_PASSWORD)",
    ],
  },
  {
    // A secret written as its value, in place of its mapping, is still hidden.
    name: "secret_written_as_value_hidden",
    spec: edit([
      "  redis_password:\n    env: PROCOS_REDIS_PASSWORD\n    default: procos123\n",
      "  redis_password: hunter2-secret\n",
    ]),
    expected: [
      "secret_written_as_value_hidden.yaml:23:19: error: secrets.redis_password: wrong type: this text; expected a mapping with keys: env, file, default",
    ],
  },
  {
    name: "network_name_invalid",
    spec: edit(["  name: procos-network\n", "  name: ProcOS_Network\n"]),
    expected: [
      "network_name_invalid.yaml:10:9: error: network.name: invalid value \"ProcOS_Network\"; expected a lower-case network name of letters, digits, '-' or '_', starting with a letter, at most 63 characters (hint: use lower-case letters, digits, '-' and '_', starting with a letter, e.g. procos-network)",
    ],
  },
];

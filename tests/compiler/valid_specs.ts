/**
 * A seeded generator of VALID variations of the reference spec, for the
 * consumer-acceptance property test (`./consumers_fuzz_test.ts`). Unlike
 * `./mutate.ts`, which breaks specs, every spec made here is meant to pass
 * the schema (`compiler/schema.ts`) and every rule (`compiler/rules/`) in
 * both profiles: names, ports, volumes, healthchecks, resources, restart
 * policies, Redis persistence, policy and auth, the vhost, exchanges,
 * queues and routing keys, topics (with the BPMN files that use them),
 * retention durations, the backup schedule, the subnet and the production
 * overlay all vary. The same seed always gives the same case.
 *
 * @module
 */
import {
  alnum,
  amqpName,
  cron,
  draw,
  duration,
  image,
  ms,
  name,
  port,
  routingKey,
  secretValue,
  subnet,
} from "./valid_values.ts";
import {
  containerPath,
  extraBpmn,
  healthcheck,
  type Kind,
  KINDS,
  POLICIES,
  ports,
  resources,
  RESTART,
  volumes,
} from "./valid_services.ts";
import { ENGINE_IMAGE } from "../../compiler/images.ts";
import { RESERVED_NAMES } from "../../compiler/rules/reserved_names.ts";
import { ARCHIVE_VOLUME } from "../../compiler/model.ts";

type Obj = Record<string, unknown>;

/** One generated case: the spec, the environment to build it with, its BPMN files. */
export interface ValidCase {
  /** The seed that made it. */
  seed: number;
  /** The spec file's value (write it as YAML). */
  spec: Obj;
  /** Secrets for a production build (every secret's env variable). */
  productionEnv: Record<string, string>;
  /** Secrets for a development build (some left to their defaults). */
  developmentEnv: Record<string, string>;
  /** `processes.path` and the BPMN files in it, by file name. */
  processes: { path: string; files: Record<string, string> };
}

/** The reference's BPMN files by name (read from `processes/`). */
export type ReferenceBpmn = Readonly<Record<string, string>>;

const REFERENCE_TOPICS = {
  ai: ["ai-generate"],
  generic: [
    ["generic-http", "http"],
    ["generic-sql", "sql"],
    ["generic-publish", "publish"],
    ["generic-redis", "redis"],
    ["generic-noop", "noop"],
  ],
} as const;
/** The retention process's topic (`compiler/emit/retention.ts`): never renamed. */
const RETENTION_TOPIC = "procos-retention";

/** Generates the valid case of `seed` from the reference's BPMN files. */
export function validSpec(seed: number, bpmn: ReferenceBpmn): ValidCase {
  const d = draw(seed);
  const unitNames = new Set<string>([...Object.keys(RESERVED_NAMES), ARCHIVE_VOLUME]);
  const volumeNames = new Set<string>([ARCHIVE_VOLUME]);
  const taken = new Set<number>();
  const project = name(d, new Set(), d.chance(0.9) ? 20 : 63);

  // secrets
  const secrets: Obj = {};
  const productionEnv: Record<string, string> = {};
  const developmentEnv: Record<string, string> = {};
  const secretNames = new Set<string>();
  // One case in 100 has one secret that no env file can carry as it is.
  // (a value no env file carries is refused, located: a case of bad_values.ts, not made here)
  const hostileSecret = -1;
  const secret = (): string => {
    const n = name(d, secretNames);
    const env = `PROCOS_${n.toUpperCase().replace(/-/g, "_")}_${seed % 1000}`;
    secrets[n] = { env, ...(d.chance(0.9) ? { default: secretValue(d) } : {}) };
    productionEnv[env] = secretValue(d, hostileSecret === secretNames.size);
    if (!(secrets[n] as Obj).default || d.chance(0.3)) developmentEnv[env] = productionEnv[env];
    return n;
  };

  // services
  const svcName = {} as Record<Kind, string>;
  for (const k of Object.keys(KINDS) as Kind[]) {
    svcName[k] = d.chance(0.5) && !unitNames.has(k) ? k : name(d, unitNames);
    unitNames.add(svcName[k]);
  }
  const order = [...(Object.keys(KINDS) as Kind[])].sort(() => d.next() - 0.5);
  const services: Obj = {};
  const overlay: Obj = {};
  const external = { ollama: d.chance(0.05), redis: d.chance(0.03) } as Record<Kind, boolean>;
  for (const kind of Object.keys(KINDS) as Kind[]) {
    const k = KINDS[kind];
    const before = order.slice(0, order.indexOf(kind)).map((x) => svcName[x]);
    const pinned = d.chance(0.6);
    const base: Obj = {
      kind,
      ...(kind === "camunda"
        ? (d.chance(0.5) ? { image: ENGINE_IMAGE } : {})
        : { image: image(d, k.repos, k.tags, pinned) }),
      ports: ports(d, [...k.ports], taken, kind === "camunda" ? d.chance(0.3) : d.chance(0.5)),
      volumes: kind === "camunda" ? [] : volumes(
        d,
        kind === "redis" && d.chance(0.2) ? containerPath(d, new Set()) : k.data,
        volumeNames,
      ),
      healthcheck: healthcheck(d),
      resources: resources(d),
      restart: d.pick(RESTART),
      depends_on: d.some(before, 2),
      ...(external[kind] ? { external: true } : {}),
    };
    const prod: Obj = {};
    if (kind !== "camunda" && (!pinned || d.chance(0.5))) {
      prod.image = image(d, k.repos, k.tags, true);
    }
    const basePorts = base.ports as Obj[];
    if (kind !== "camunda" && basePorts.some((p) => p.host_ip === undefined)) {
      prod.ports = basePorts.map((p) => ({ ...p, host_ip: d.pick(["127.0.0.1", "::1"]) }));
    }
    if (d.chance(0.5)) prod.healthcheck = healthcheck(d);
    if (d.chance(0.5)) prod.resources = resources(d);
    if (d.chance(0.5)) prod.restart = d.pick(RESTART);
    services[svcName[kind]] = base;
    overlay[svcName[kind]] = prod;
  }
  const pg = services[svcName.postgres] as Obj;
  pg.database = {
    name: name(d, new Set()),
    user: name(d, new Set(["postgres"])),
    password: secret(),
    ...(d.chance(0.8) ? { superuser_password: secret() } : {}),
  };
  const redisAuth = d.chance(0.5);
  (services[svcName.redis] as Obj).cache = {
    persistence: d.pick(["none", "rdb", "aof"]),
    maxmemory_policy: d.pick(POLICIES),
    auth: redisAuth,
    password: secret(),
  };
  const redisProd = overlay[svcName.redis] as Obj;
  if (!redisAuth || d.chance(0.3)) {
    redisProd.cache = {
      auth: true,
      ...(d.chance(0.3) ? { maxmemory_policy: d.pick(POLICIES) } : {}),
    };
  }
  const vhost = d.chance(0.3) ? "/" : amqpName(d, new Set(), 60) + (d.chance(0.1) ? "/x" : "");
  (services[svcName.rabbitmq] as Obj).broker = {
    vhost,
    user: name(d, new Set()),
    password: secret(),
  };
  const restAuth = d.chance(0.5);
  const camunda = services[svcName.camunda] as Obj;
  camunda.engine = {
    database: svcName.postgres,
    admin_user: alnum(d),
    admin_password: secret(),
    rest_auth: restAuth,
    history_level: d.pick(["none", "activity", "audit", "full"]),
  };
  if (!restAuth || d.chance(0.2)) (overlay[svcName.camunda] as Obj).engine = { rest_auth: true };

  // messaging
  const exchangeNames = new Set<string>([`${project}.unroutable`]);
  const exchanges = Array.from({ length: d.int(1, 5) }, () => ({
    name: amqpName(d, exchangeNames),
    type: d.pick(["direct", "topic", "fanout", "headers"]),
  }));
  const dlxDeclared = d.chance(0.15);
  const dlx = dlxDeclared ? d.pick(exchanges).name : amqpName(d, exchangeNames);
  const queueNames = new Set<string>([`${project}.unroutable`]);
  const queues = Array.from({ length: d.int(0, 6) }, () => {
    const e = d.pick(exchanges);
    const name = amqpName(d, queueNames);
    return {
      name,
      exchange: e.name,
      routing_key: routingKey(d, e.type),
      // its <name>.dlq must fit in 255 bytes too (rule rabbitmq_names)
      dead_letter: name.length <= 251 && d.chance(0.7),
    };
  });
  const events = d.pick(exchanges);

  // workers and topics (BPMN files are rewritten to use the generated names)
  const rename = new Map<string, string>();
  const topicNames = new Set<string>([RETENTION_TOPIC]);
  const topicName = (old?: string): string => {
    if (old && d.chance(0.6)) {
      topicNames.add(old);
      return old;
    }
    for (;;) {
      const n = alnum(d, 1) + amqpName(d, new Set(), d.chance(0.95) ? 30 : 127);
      if (!topicNames.has(n)) {
        topicNames.add(n);
        if (old) rename.set(old, n);
        return n;
      }
    }
  };
  const models = Array.from({ length: d.int(1, 3) }, (_, i) => ({
    name: d.pick([
      "llama3.2:1b",
      "qwen2.5:0.5b",
      `m${i}/${alnum(d)}:${d.int(1, 70)}b`,
      "x".repeat(100),
    ]),
    context_window: d.int(256, 10_000_000),
    rate_limit_per_minute: d.int(1, 1_000_000),
  }));
  const modelNames = models.map((m) => m.name);
  const topicTimings = () => {
    const initial = duration(d, 1, 600_000);
    return {
      lock_duration: duration(d, 2000, 3_600_000),
      retries: d.int(0, 100),
      backoff: {
        initial,
        factor: d.chance(0.5) ? d.int(1, 10) : d.int(100, 1000) / 100,
        max: duration(d, ms(initial), Math.max(ms(initial), 86_400_000)),
      },
    };
  };
  const aiTopics = [
    ...REFERENCE_TOPICS.ai.map((t) => topicName(t)),
    ...Array.from({ length: d.int(0, 2) }, () => topicName()),
  ].map((n) => ({
    name: n,
    model: d.pick(modelNames),
    prompt: d.pick([
      "{{instruction}}\n\n{{input}}",
      "Summarise: {{input}}",
      "ünïcødé {{input}} $HOME",
    ]),
    ...topicTimings(),
    cache: d.chance(0.5),
  }));
  const genericTopics = [
    ...REFERENCE_TOPICS.generic.map(([t, type]) => ({ name: topicName(t), type })),
    { name: RETENTION_TOPIC, type: "retention" },
    ...Array.from({ length: d.int(0, 3) }, () => ({
      name: topicName(),
      type: d.pick(["http", "sql", "publish", "redis", "noop"]),
    })),
  ].map((t) => ({ ...t, ...topicTimings() }));
  const w = { kernel: name(d, unitNames), ai: name(d, unitNames), generic: name(d, unitNames) };
  const health = new Set<number>(taken);
  const workers: Obj = {
    [w.kernel]: { kind: "kernel", depends_on: [svcName.camunda], health_port: port(d, health) },
    [w.ai]: {
      kind: "ai",
      depends_on: [w.kernel, ...(d.chance(0.8) ? [svcName.ollama] : [])],
      health_port: port(d, health),
      concurrency: d.int(1, 256),
      topics: aiTopics,
    },
    [w.generic]: {
      kind: "generic",
      depends_on: [w.kernel, ...d.some([svcName.postgres, svcName.redis, svcName.rabbitmq], 2)],
      health_port: port(d, health),
      concurrency: d.int(1, 256),
      topics: genericTopics,
    },
  };

  // BPMN: the reference files with renamed topics, and one file for the extra topics
  const files: Record<string, string> = {};
  for (const [file, text] of Object.entries(bpmn)) {
    files[file] = text.replace(/camunda:topic="([^"]*)"/g, (m, t: string) => {
      const to = rename.get(t);
      return to === undefined ? m : `camunda:topic="${to}"`;
    });
  }
  const used = new Set(
    [...Object.values(files).join("").matchAll(/camunda:topic="([^"]*)"/g)].map((m) => m[1]),
  );
  const extra = [...aiTopics, ...genericTopics].map((t) => t.name).filter((t) => !used.has(t));
  if (extra.length > 0) files["fuzz-extra.bpmn"] = extraBpmn(extra);

  // AI and retention
  const phases = (): Obj => {
    const realtime = duration(d, 60_000, 30 * 86_400_000);
    const historical = duration(d, ms(realtime) + 1, Math.max(ms(realtime) + 1, 400 * 86_400_000));
    const archived = duration(
      d,
      ms(historical) + 1,
      // now and then the longest the spec allows: a phase that never ends
      d.chance(0.9) ? ms(historical) * 10 + 1 : 999_999_999 * 864e5,
    );
    return { realtime, historical, archived };
  };
  const overrides = Object.fromEntries(
    d.some(["input", "output", "system"] as const).map((k) => [k, phases()]),
  );
  const ai: Obj = {
    providers: [{ name: name(d, new Set(), 50), service: svcName.ollama, models }],
    default_model: d.pick(modelNames),
    retention: {
      ...phases(),
      schedule: duration(d, 60_000, 86_400_000),
      export: { enabled: d.chance(0.7), path: containerPath(d, new Set()) },
      overrides,
    },
  };

  const processesPath = d.pick(["processes", "./processes", "flows", "bpmn/main"]);
  const production: Obj = {
    services: overlay,
    ...(d.chance(0.9) ? { network: { subnet: subnet(d) } } : {}),
    ...(d.chance(0.9)
      ? {
        backup: {
          schedule: cron(d),
          retention_days: d.int(1, 3650),
          path: `./${d.pick(["backups", "var/backups", "b.k-2"])}`,
          ...(d.chance(0.3) ? { wal_archive: d.chance(0.5) } : {}),
        },
      }
      : {}),
    monitoring: { exporters: d.chance(0.7) },
    security: { hardening: d.chance(0.8) },
  };
  const spec: Obj = {
    version: 1,
    project,
    network: {
      name: name(d, new Set()),
      driver: "bridge",
      ...(d.chance(0.1) ? { subnet: subnet(d) } : {}),
    },
    secrets,
    services,
    messaging: {
      broker: svcName.rabbitmq,
      dead_letter_exchange: dlx,
      exchanges,
      queues,
      events: {
        exchange: events.name,
        task_completed: routingKey(d, "direct") || "task.completed",
        task_failed: routingKey(d, "direct") || "task.failed",
      },
    },
    ai,
    processes: {
      path: processesPath,
      boot: d.pick([["procos-boot"], [], ["procos-boot", "procos-smoke"]]),
    },
    workers,
    profiles: { production },
  };
  return { seed, spec, productionEnv, developmentEnv, processes: { path: processesPath, files } };
}

/**
 * Seeded generators of the service-level parts of a valid spec (healthcheck
 * timings, resources, volumes, ports, images per kind) and of the BPMN file
 * that uses the generated extra topics; used by `./valid_specs.ts`.
 *
 * @module
 */
import { cpus, type Draw, duration, memory, name, port } from "./valid_values.ts";

type Obj = Record<string, unknown>;

/** Compose restart policies. */
export const RESTART = ["no", "always", "on-failure", "unless-stopped"] as const;
/** Redis eviction policies. */
export const POLICIES = [
  "noeviction",
  "allkeys-lru",
  "allkeys-lfu",
  "volatile-lru",
  "volatile-lfu",
  "allkeys-random",
  "volatile-random",
  "volatile-ttl",
] as const;

/** Healthcheck timings. */
export function healthcheck(d: Draw): Obj {
  return {
    // Now and then the longest the spec allows (999999999d).
    // at most Go's 106751d (rule duration_bounds), which is also the edge case
    interval: duration(
      d,
      1000,
      d.chance(0.9) ? 120_000 : d.chance(0.98) ? 86_400_000 : 106_751 * 864e5,
    ),
    timeout: duration(d, 1000, 60_000),
    retries: d.int(1, d.chance(0.9) ? 10 : 100),
    start_period: duration(d, 0, d.chance(0.9) ? 300_000 : 86_400_000),
  };
}

/** CPU and memory. */
export function resources(d: Draw): Obj {
  return { cpus: cpus(d), memory: memory(d) };
}

/**
 * A container path without `:` or `..` segments; now and then with a
 * character the spec allows there that files quoting paths must carry
 * (space, `#`, `$`, a quote, non-ASCII).
 */
export function containerPath(d: Draw, avoid: Set<string>): string {
  for (;;) {
    const odd = () => d.chance(0.05) ? d.pick([" ", "#", "$", "'", '"', "é", "%", "\\"]) : "";
    const parts = Array.from(
      { length: d.int(1, 4) },
      () => name(d, new Set(), 12) + odd() + (d.chance(0.1) ? ".d" : ""),
    );
    const p = `/${parts.join("/")}`;
    if (!avoid.has(p)) {
      avoid.add(p);
      return p;
    }
  }
}

/** The data volume at `main` (nearly always), and now and then one or two more. */
export function volumes(d: Draw, main: string, names: Set<string>): Obj[] {
  const targets = new Set<string>([main, "/usr/local/etc/redis", "/etc/rabbitmq", "/procos"]);
  const out: Obj[] = [];
  if (d.chance(0.95)) {
    out.push({
      source: d.chance(0.85) ? name(d, names) : `./data/${name(d, new Set(), 20)}`,
      target: main,
    });
  }
  for (let i = d.int(0, d.chance(0.2) ? 2 : 0); i > 0; i--) {
    out.push({
      source: d.chance(0.7) ? name(d, names) : `./${name(d, new Set(), 20)}`,
      target: containerPath(d, targets),
      ...(d.chance(0.5) ? { read_only: d.chance(0.5) } : {}),
    });
  }
  return out;
}

/** Published ports for `targets` (or none), on a loopback address when `hostIp`. */
export function ports(d: Draw, targets: number[], taken: Set<number>, hostIp: boolean): Obj[] {
  if (d.chance(0.1)) return [];
  return targets.map((target) => ({
    target,
    published: port(d, taken),
    ...(hostIp ? { host_ip: d.pick(["127.0.0.1", "127.0.0.1", "::1"]) } : {}),
  }));
}

/** Per service kind: image repositories and tags, the data folder, the container ports. */
export const KINDS = {
  postgres: {
    repos: ["postgres", "library/postgres"],
    tags: ["15-alpine", "16", "16.4-bookworm", "14.12-alpine"],
    data: "/var/lib/postgresql/data",
    ports: [5432],
  },
  redis: {
    repos: ["redis"],
    tags: ["7-alpine", "7.4", "7.2.5-bookworm"],
    data: "/data",
    ports: [6379],
  },
  rabbitmq: {
    repos: ["rabbitmq"],
    tags: ["3-management", "3.13-management", "3.12.14-management-alpine"],
    data: "/var/lib/rabbitmq",
    ports: [5672, 15672],
  },
  ollama: {
    repos: ["ollama/ollama"],
    tags: ["0.12.6", "0.3.14"],
    data: "/root/.ollama",
    ports: [11434],
  },
  camunda: { repos: [], tags: [], data: "", ports: [8080] },
} as const;
/** A service kind. */
export type Kind = keyof typeof KINDS;

/** A deployable BPMN process with one external service task per topic. */
export function extraBpmn(topics: string[]): string {
  const tasks = topics.map((t, i) =>
    `    <bpmn:serviceTask id="task_${i}" camunda:type="external" camunda:topic="${t}" />\n`
  ).join("");
  return `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="fuzz-extra-definitions" targetNamespace="http://procos.dev/processes">
  <bpmn:process id="fuzz-extra" isExecutable="true" camunda:historyTimeToLive="P1D">
${tasks}  </bpmn:process>
</bpmn:definitions>
`;
}

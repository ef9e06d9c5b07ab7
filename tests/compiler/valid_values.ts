/**
 * Seeded generators of single VALID spec values (names, ports, durations,
 * memory sizes, images, cron schedules, subnets, secrets), the building
 * blocks of `./valid_specs.ts`. Every generator draws from one {@link Draw},
 * so a seed always gives the same values.
 *
 * @module
 */
import { scheduleMaxGapMs } from "../../compiler/cron.ts";
import { rng } from "./mutate.ts";

/** A seeded source of random choices. */
export interface Draw {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max] (both included). */
  int(min: number, max: number): number;
  /** One element of `xs`. */
  pick<T>(xs: readonly T[]): T;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** Up to `n` distinct elements of `xs`, in their order. */
  some<T>(xs: readonly T[], n?: number): T[];
}

/** A {@link Draw} seeded with `seed` (mulberry32, as the mutation fuzzer's). */
export function draw(seed: number): Draw {
  const r = rng(seed);
  const int = (min: number, max: number) => min + Math.floor(r() * (max - min + 1));
  return {
    next: r,
    int,
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)],
    chance: (p: number) => r() < p,
    some: <T>(xs: readonly T[], n = xs.length): T[] => {
      const k = int(0, Math.min(n, xs.length));
      const idx = new Set<number>();
      while (idx.size < k) idx.add(int(0, xs.length - 1));
      return [...idx].sort((a, b) => a - b).map((i) => xs[i]);
    },
  };
}

const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";

function chars(d: Draw, alphabet: string, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[d.int(0, alphabet.length - 1)];
  return s;
}

/**
 * A spec `Name` (`^[a-z][a-z0-9_-]{0,62}$`), mostly short, sometimes the
 * longest allowed; never one of `avoid`.
 */
export function name(d: Draw, avoid: Set<string>, maxLen = 63): string {
  for (;;) {
    const len = d.chance(0.05) ? maxLen : d.int(1, Math.min(maxLen, d.chance(0.8) ? 12 : 40));
    const n = chars(d, LOWER, 1) + chars(d, LOWER + DIGITS + "_-", len - 1);
    if (!avoid.has(n)) {
      avoid.add(n);
      return n;
    }
  }
}

/** Lower-case letters and digits, starting with a letter (a Name Camunda takes as a user id). */
export function alnum(d: Draw, len = d.int(1, 16)): string {
  return chars(d, LOWER, 1) + chars(d, LOWER + DIGITS, len - 1);
}

/** A RabbitMQ-ish resource name of `[A-Za-z0-9_.-]`, never `amq.`-prefixed. */
export function amqpName(d: Draw, avoid: Set<string>, maxLen = 255): string {
  const alphabet = LOWER + LOWER.toUpperCase() + DIGITS + "_.-";
  for (;;) {
    const len = d.chance(0.005) ? maxLen : Math.min(maxLen, d.int(1, d.chance(0.8) ? 24 : 80));
    const n = chars(d, alphabet, len);
    const bad = /^amq\./i.test(n) || /\.(dlq|unroutable)$/.test(n) || n === "." || n === "..";
    if (!bad && !avoid.has(n)) {
      avoid.add(n);
      return n;
    }
  }
}

/** A routing key for an exchange type: topic patterns use words, `*` and `#`. */
export function routingKey(d: Draw, type: string): string {
  const word = () => chars(d, LOWER + DIGITS + "_-", d.int(1, 10));
  if (type === "topic") {
    const n = d.int(1, 4);
    return Array.from({ length: n }, () => d.pick([word(), word(), "*", "#"])).join(".");
  }
  if (type === "fanout" || type === "headers") return d.pick(["", word()]);
  // RabbitMQ holds 255 bytes: "é" takes two (rule rabbitmq_names)
  if (d.chance(0.01)) return "é".repeat(d.int(1, 127));
  return d.chance(0.01) ? chars(d, LOWER, 255) : word();
}

/** Published host ports, all different, avoiding `taken`. */
export function port(d: Draw, taken: Set<number>): number {
  // Now and then an edge port; never one ProcOS publishes itself in production (the exporters'
  // 9121 and 9187, verify's 9200: a clash is a located error, `bad_values.ts`).
  const special = [80, 443, 8080, 15692, 65535, 1];
  for (;;) {
    const p = d.chance(0.01) ? d.pick(special) : d.int(1024, 65535);
    if (!taken.has(p) && ![9121, 9187, 9200].includes(p)) {
      taken.add(p);
      return p;
    }
  }
}

/** A positive spec duration (`^[0-9]{1,9}(ms|s|m|h|d)$`) of at least `minMs`, at most `maxMs`. */
export function duration(d: Draw, minMs: number, maxMs: number): string {
  const units: [string, number][] = [["ms", 1], ["s", 1e3], ["m", 6e4], ["h", 36e5], ["d", 864e5]];
  const fits = units.filter(([, ms]) =>
    Math.ceil(minMs / ms) * ms <= maxMs && Math.ceil(minMs / ms) <= 999_999_999
  );
  const [unit, ms] = d.pick(fits);
  const lo = Math.max(1, Math.ceil(minMs / ms));
  const hi = Math.min(999_999_999, Math.floor(maxMs / ms));
  return `${d.int(lo, hi)}${unit}`;
}

/** Milliseconds of a duration made by {@link duration}. */
export function ms(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text)!;
  return Number(m[1]) * { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[m[2] as "s"];
}

/** A memory size (`^[1-9][0-9]{0,6}(k|m|g)$`), mostly 64m to 16g. */
export function memory(d: Draw): string {
  // Docker's least is 6m (rule docker_resources): 6144k is the smallest edge
  if (d.chance(0.03)) return d.pick(["6m", "8m", "9999999m", "64g", "6144k"]);
  return d.chance(0.5)
    ? `${d.pick([64, 128, 256, 384, 512, 768, 1000, 1536])}m`
    : `${d.int(1, 16)}g`;
}

/** A CPU count: quarters and halves mostly, sometimes two decimals. */
export function cpus(d: Draw): number {
  return d.chance(0.7) ? d.int(1, 32) / 4 : d.int(1, 1600) / 100;
}

/** An image reference of `repo` with a pinned tag, or `latest`/no tag when `pinned` is false. */
export function image(d: Draw, repos: readonly string[], tags: readonly string[], pinned: boolean) {
  const repo = d.pick(repos);
  if (!pinned && d.chance(0.5)) return d.pick([repo, `${repo}:latest`]);
  return `${repo}:${d.pick(tags)}`;
}

/** A private IPv4 subnet in CIDR form, with its host bits zero (as Docker requires). */
export function subnet(d: Draw): string {
  const prefix = d.int(16, 28);
  const base = d.pick([[10, d.int(0, 255)], [172, d.int(16, 31)], [192, 168]]);
  const addr = ((base[0] << 24) | (base[1] << 16) | (d.int(0, 255) << 8) | d.int(0, 255)) >>> 0;
  const net = (addr & (~0 << (32 - prefix))) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join(".")}/${prefix}`;
}

function cronField(d: Draw, min: number, max: number): string {
  const one = (): string => {
    const a = d.int(min, max);
    const b = d.int(a, max);
    switch (d.int(0, 4)) {
      case 0:
        return String(a);
      case 1:
        return a < b ? `${a}-${b}` : String(a);
      case 2:
        return `*/${d.int(1, Math.max(1, max - min))}`;
      case 3:
        return a < b ? `${a}-${b}/${d.int(1, b - a)}` : String(a);
      default:
        return String(b);
    }
  };
  if (d.chance(0.4)) return "*";
  if (d.chance(0.25)) return Array.from({ length: d.int(2, 4) }, one).join(",");
  return one();
}

/**
 * A five-field cron schedule of the forms the backup loop understands
 * (numbers, `*`, ranges, steps, lists), every value in its field's range;
 * the day of month is often left `*` so most schedules run often.
 */
export function cron(d: Draw): string {
  for (;;) {
    const fields = [
      cronField(d, 0, 59),
      cronField(d, 0, 23),
      d.chance(0.6) ? "*" : cronField(d, 1, 31),
      d.chance(0.6) ? "*" : cronField(d, 1, 12),
      d.chance(0.6) ? "*" : cronField(d, 0, 7),
    ];
    const schedule = fields.join(d.pick([" ", " ", " ", " ", " ", " ", " ", " ", "  ", "\t"]));
    // a schedule must run at least once a year (rule backup_schedule): 31 February never does
    if (scheduleMaxGapMs(schedule) <= 366 * 864e5) return schedule;
  }
}

/**
 * A secret value: mostly strong printable ASCII; now and then with the
 * characters env files and URLs must quote or escape (space, `$`, `#`,
 * quotes, backslash, non-ASCII); `hostile` adds a single quote together with
 * a `$`, which no env file quoting carries as it is.
 */
export function secretValue(d: Draw, hostile = false): string {
  const safe = LOWER + LOWER.toUpperCase() + DIGITS + "-_.~!@%^&*()+=,:;?/[]{}|<>";
  let v = chars(d, safe, d.int(12, 40));
  // one of them, never a single quote with `$`, `"` or a backslash (rule secret_values)
  if (d.chance(0.2)) v += d.pick([" ", "$", "#", '"', "é", "$1", "\\x", "'"]);
  if (v.includes("'") && /[$`"\\]/.test(v)) v = v.replaceAll("'", "");
  if (hostile) v += "'$"; // a single quote together with `$` (refused: rule secret_values)
  return v;
}

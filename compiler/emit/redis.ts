/**
 * Redis: `redis/redis.conf`, mounted at `/usr/local/etc/redis/redis.conf`
 * (see the redis command in `compiler/model.ts`).
 *
 * - Persistence per `cache.persistence`: `aof` (append-only file, fsync every
 *   second, RDB snapshots off), `rdb` (Redis' default snapshot schedule) or
 *   `none`; data lives in the directory of the service's volume (`/data`).
 * - `maxmemory` is {@link REDIS_MAXMEMORY_FRACTION} of the container's memory
 *   limit, leaving room for the fork of a rewrite or snapshot, client buffers
 *   and fragmentation; `maxmemory-policy` comes from the spec.
 * - No password in the file: with `cache.auth` the container passes
 *   `--requirepass "$REDIS_PASSWORD"` from its env file.
 *
 * @module
 */
import Handlebars from "handlebars";
import { memoryBytes } from "../memory.ts";
import type { Artifact } from "./artifact.ts";
import type { StackModel } from "../model.ts";

/** The share of the container's memory limit given to `maxmemory`. */
export const REDIS_MAXMEMORY_FRACTION = 0.75;

/** Redis' own default snapshot schedule, used for `persistence: rdb`. */
export const REDIS_RDB_SAVE = "3600 1 300 100 60 10000";

/** Emits `redis/redis.conf`. Pure. */
export function emitRedis(model: StackModel): Artifact[] {
  const r = model.redis;
  const svc = model.services.find((s) => s.name === r.service);
  const volume = svc?.volumes[0];
  const memory = svc?.resources?.memory;
  const maxmemory = memory === undefined
    ? 0
    : Math.floor(memoryBytes(memory) * REDIS_MAXMEMORY_FRACTION);
  const content = render({
    project: model.project,
    profile: model.profile,
    auth: r.auth,
    port: r.port,
    protectedMode: r.auth ? "yes" : "no",
    protectedModeReason: r.auth
      ? "Refuse clients from other hosts should the server ever run without a password."
      : "No password: protected mode would refuse the other containers of the network.",
    persistence: r.persistence,
    dataVolume: volume
      ? `the ${volume.source} volume`
      : "the container's file system (no volume: lost with the container)",
    dir: redisConfigValue(volume?.target ?? "/data"),
    save: r.persistence === "rdb" ? [REDIS_RDB_SAVE] : ['""'],
    appendonly: r.persistence === "aof" ? "yes" : "no",
    aof: r.persistence === "aof",
    maxmemory,
    maxmemoryReason: `${
      Math.round(REDIS_MAXMEMORY_FRACTION * 100)
    }% of the container's ${memory} memory limit: the rest is for forks, buffers, fragmentation.`,
    maxmemoryPolicy: r.maxmemoryPolicy,
  });
  return [{ path: "redis/redis.conf", content }];
}

/**
 * A value as redis.conf reads it: as it is when plain, else in double quotes
 * with `\` and `"` escaped (Redis splits a line at spaces and unquotes it).
 */
export function redisConfigValue(value: string): string {
  if (/^[A-Za-z0-9_.\/+:@=-]+$/.test(value)) return value;
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

let template: HandlebarsTemplateDelegate | undefined;

function render(data: Record<string, unknown>): string {
  template ??= Handlebars.compile(
    Deno.readTextFileSync(new URL("../../templates/redis.conf.hbs", import.meta.url)),
    { noEscape: true, strict: true },
  );
  return template(data);
}

/**
 * `deno task up` / `deno task down`.
 *
 *     deno task up [--config F] [--profile P] [--out D] [--services a,b] [--engine auto|docker|local]
 *     deno task down [--out D] [--purge] [--engine auto|docker|local]
 *
 * With a Docker engine (`docker info` succeeds) they run Docker Compose on the
 * generated compose files; without one, the local runtime (`local.ts`).
 * Exit codes: 0 done; 1 a service failed (which one, why, and its log tail
 * are printed; no stack trace unless PROCOS_DEBUG=1); 2 bad arguments.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { formatDiagnostic, SpecError } from "../compiler/diagnostics.ts";
import { MANIFEST_FILE, parseManifest } from "../compiler/emit/manifest.ts";
import { PROFILES } from "../compiler/schema.ts";
import type { ProfileName } from "../compiler/schema.ts";
import { composeDown, composeEndpoints, composeUp, findDocker } from "./docker.ts";
import { ContainerApi } from "./docker_api.ts";
import { formatRuntimeError, RuntimeError } from "./errors.ts";
import { loadHostModel, localDown, localUp } from "./local.ts";
import { readState, removeState, writeState } from "./state.ts";
import { removeEndpoints, writeEndpoints } from "./endpoints.ts";

/** The usage text. */
export const USAGE = `usage:
  deno task up [--config FILE] [--profile NAME] [--out DIR] [--services a,b] [--engine E]
  deno task down [--out DIR] [--purge] [--engine E]

up     starts the stack built in --out (deno task build first). With a Docker engine:
       docker compose up -d --wait. Without one: the local runtime starts each service
       from this machine's binaries in dependency order, gated on its health check, and
       provisions the services marked external (PostgreSQL, RabbitMQ, Redis).
down   stops what up started; --purge also undoes the provisioning (drops the database
       and role, deletes the RabbitMQ vhost and user, restores the Redis settings) or,
       with Docker, removes the volumes.

options:
  --config FILE     the spec (default procos.config.yaml)
  --profile NAME    development or production (default: the profile --out was built with)
  --out DIR         the build output folder (default out)
  --services a,b    only these services and what they depend on
  --engine E        auto (default), docker or local
  -h, --help        this text

environment: PROCOS_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres),
PROCOS_RABBITMQ_ADMIN (default guest:guest at the management port), PROCOS_REDIS_ADMIN_URL,
PROCOS_JAVA_OPTS, and the spec's secrets.`;

class UsageError extends Error {}

function parse(args: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: "string", default: "procos.config.yaml" },
        profile: { type: "string" },
        out: { type: "string", default: "out" },
        services: { type: "string" },
        engine: { type: "string", default: "auto" },
        purge: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true as const };
  const [command, ...rest] = positionals;
  if ((command !== "up" && command !== "down") || rest.length > 0) {
    throw new UsageError(
      command === undefined
        ? "missing command: up or down"
        : `unknown command "${positionals.join(" ")}"`,
    );
  }
  if (values.profile !== undefined && !(PROFILES as readonly string[]).includes(values.profile)) {
    throw new UsageError(`unknown profile "${values.profile}": use ${PROFILES.join(" or ")}`);
  }
  if (!["auto", "docker", "local"].includes(values.engine)) {
    throw new UsageError(`unknown engine "${values.engine}": use auto, docker or local`);
  }
  if (command === "down" && values.services) throw new UsageError("--services is for up only");
  if (command === "up" && values.purge) throw new UsageError("--purge is for down only");
  return {
    help: false as const,
    command: command as "up" | "down",
    config: values.config,
    profile: values.profile as ProfileName | undefined,
    out: values.out,
    services: values.services?.split(",").map((s) => s.trim()).filter(Boolean),
    engine: values.engine as "auto" | "docker" | "local",
    purge: values.purge,
  };
}

/** The manifest of the build in `outDir`, if any. */
async function builtManifest(
  outDir: string,
): Promise<ReturnType<typeof parseManifest> | undefined> {
  try {
    return parseManifest(await Deno.readTextFile(join(outDir, MANIFEST_FILE)));
  } catch {
    return undefined;
  }
}

/** The profile `--out` was built with (its manifest), if any. */
async function builtProfile(outDir: string): Promise<ProfileName | undefined> {
  const m = await builtManifest(outDir);
  return m && (PROFILES as readonly string[]).includes(m.profile)
    ? m.profile as ProfileName
    : undefined;
}

/** Where the CLI prints. */
export interface CliIo {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
  env: Record<string, string | undefined>;
}

/** Runs `up` or `down`; returns the exit code. */
export async function main(args: string[], io: CliIo): Promise<number> {
  try {
    const o = parse(args);
    if (o.help) {
      io.stdout(USAGE);
      return 0;
    }
    const outDir = resolve(o.out);
    const state = await readState(outDir).catch(() => undefined);
    const wantDocker = o.engine === "docker" ||
      (o.engine === "auto" && (o.command !== "down" || !state || state.engine === "compose"));
    const docker = wantDocker ? await findDocker(io.env) : undefined;
    if (o.engine === "docker" && !docker) {
      throw new RuntimeError(
        "--engine docker: no Docker Engine API answers (DOCKER_HOST, /var/run/docker.sock or " +
          "the podman socket of tools/podman-setup.sh) with docker compose or docker-compose; " +
          "run `deno task images` (it sets podman up here), or use --engine local",
      );
    }
    const useDocker = docker !== undefined;
    if (o.command === "up") {
      const profile = o.profile ?? (await builtProfile(outDir)) ?? "development";
      if (useDocker) {
        const model = await loadHostModel(o.config, profile, io.env);
        io.stdout(
          `procos up: Docker API at ${docker.dockerHost}; ${docker.compose.join(" ")} ` +
            `(profile ${profile}, project ${model.project})`,
        );
        await composeUp(docker, outDir, profile, model.project, {
          services: o.services ?? [],
          log: (l) => io.stdout(`  ${l}`),
        });
        await writeState(outDir, {
          version: 1,
          engine: "compose",
          project: model.project,
          profile,
          specHash: model.specHash,
          config: resolve(o.config),
          outDir,
          updatedAt: "",
          services: {},
        });
        await writeEndpoints(
          outDir,
          model,
          await composeEndpoints(new ContainerApi(docker.dockerHost), model),
        );
        io.stdout("procos up: the stack is up and healthy");
        return 0;
      }
      io.stdout(`procos up: no Docker engine; local runtime (profile ${profile}, out ${o.out})`);
      const { outcomes } = await localUp({
        config: o.config,
        profile,
        outDir,
        services: o.services,
        env: io.env,
        log: (l) => io.stdout(`  ${l}`),
      });
      io.stdout(
        `procos up: ${outcomes.length} service(s) up and healthy; state in ${o.out}/runtime/state.json`,
      );
      return 0;
    }
    // down
    if (useDocker) {
      const profile = state?.profile ?? o.profile ?? (await builtProfile(outDir)) ?? "development";
      // the project: the state's, else the one the output folder was built for
      const project = state?.project ?? (await builtManifest(outDir))?.project ?? "procos";
      await composeDown(docker, outDir, profile, project, o.purge);
      await removeState(outDir);
      await removeEndpoints(outDir);
      io.stdout("procos down: done");
      return 0;
    }
    await localDown({
      outDir,
      purge: o.purge,
      env: io.env,
      log: (l) => io.stdout(`  ${l}`),
    });
    io.stdout(`procos down: done${o.purge ? " (purged)" : ""}`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`procos: ${e.message} (see --help)`);
      return 2;
    }
    if (e instanceof SpecError) {
      for (const d of e.diagnostics) io.stderr(formatDiagnostic(d));
      return 1;
    }
    io.stderr(formatRuntimeError(e, "procos"));
    if (
      io.env.PROCOS_DEBUG === "1" && e instanceof Error && e.stack && !(e instanceof RuntimeError)
    ) {
      io.stderr(e.stack);
    }
    return 1;
  }
}

if (import.meta.main) {
  const code = await main(Deno.args, {
    stdout: (l) => console.log(l),
    stderr: (l) => console.error(l),
    env: Deno.env.toObject(),
  });
  Deno.exit(code);
}

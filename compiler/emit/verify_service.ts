/**
 * The production `verify` container: `deno task verify serve` inside the
 * stack (the verify image, `verify/Dockerfile`), reaching every service by
 * its Compose name (`--target network`), with the stack's folder mounted
 * read-only so it loads the same spec and out folder. Published on
 * 127.0.0.1 only; `/healthz` answers 200 or 503; its own health check
 * reads `/livez`, which runs no check.
 *
 * @module
 */
import { buildOf, VERIFY_IMAGE, WORKER_APP_DIR } from "../images.ts";
import type { StackModel } from "../model.ts";
import type { AuxiliaryService } from "./containers.ts";

/** The port `verify serve` listens on, in the container and on 127.0.0.1. */
export const VERIFY_PORT = 9200;

/** Where the verify container sees the stack's folder (the spec's). */
export const VERIFY_STACK_DIR = "/procos/stack";

/** Where it sees the out folder the Compose files are in (whatever its name). */
export const VERIFY_OUT_DIR = "/procos/out";

/** The paths beside the spec (relative to its folder) that verify reads, in the model's order. */
export function specFiles(model: StackModel): string[] {
  const rel = (p: string) => p.replace(/^\.\//, "").replace(/\/+$/, "");
  return [
    model.specName,
    rel(model.processes.path),
    ...(model.backup ? [rel(model.backup.path)] : []),
    ...model.secretFiles.filter((f) => !f.startsWith("/")).map(rel),
  ];
}

/** The verify container of a production model with `monitoring.verify`, if any. */
export function verifyService(model: StackModel): AuxiliaryService | undefined {
  if (model.profile !== "production" || !model.monitoring.verify) return undefined;
  return {
    name: "verify",
    image: VERIFY_IMAGE,
    build: buildOf(VERIFY_IMAGE),
    // the spec is loaded again, as the production build did: its secrets by their names
    env: { ...model.secretsEnv },
    command: [
      "deno",
      "run",
      "--allow-all",
      "--cached-only",
      `--config=${WORKER_APP_DIR}/deno.json`,
      `${WORKER_APP_DIR}/verify/cli.ts`,
      "serve",
      "--host",
      "0.0.0.0",
      "--port",
      String(VERIFY_PORT),
      "--config",
      `${VERIFY_STACK_DIR}/${model.specName}`,
      "--out",
      VERIFY_OUT_DIR,
      "--profile",
      "production",
      "--target",
      "network",
    ],
    ports: [{ target: VERIFY_PORT, published: VERIFY_PORT, host_ip: "127.0.0.1" }],
    volumes: [
      // what the checks read beside the spec: the spec, its processes, its backups, and the
      // files of secrets it names no variable for; read-only, nothing else of that folder
      ...specFiles(model).map((path) => ({
        source: `./${path}`,
        target: `${VERIFY_STACK_DIR}/${path}`,
        read_only: true,
      })),
      // the out folder itself, which Compose names `.` (the build may write it anywhere)
      { source: "./out/", target: VERIFY_OUT_DIR, read_only: true },
    ],
    healthcheck: {
      test: [
        "CMD-SHELL",
        `deno eval 'const r = await fetch("http://127.0.0.1:${VERIFY_PORT}/livez"); ` +
        `Deno.exit(r.ok ? 0 : 1)'`,
      ],
      interval: "30s",
      timeout: "10s",
      retries: 3,
      start_period: "30s",
    },
    dependsOn: [],
    restart: "unless-stopped",
    resources: { cpus: 0.5, memory: "256m" },
    // root with no capability but reading past file modes: the out folder's manifest and
    // runtime records are 0600, owned by whoever built and started the stack (as `backup`)
    user: "0",
    hardening: { capDrop: ["ALL"], capAdd: ["DAC_OVERRIDE"], readOnly: true, tmpfs: ["/tmp"] },
  };
}

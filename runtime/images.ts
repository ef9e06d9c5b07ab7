/**
 * `deno task images`: builds the container images the stack and the tests
 * use on this machine, with podman (tools/podman-setup.sh), in dependency
 * order, and skips every image whose inputs did not change.
 *
 *     deno task images [--only name,name] [--force] [--verbose]
 *
 * `--force` rebuilds from scratch (no layer cache); `--verbose` shows podman's output.
 *
 * The images: stand-ins for the official postgres, redis, rabbitmq, deno,
 * ollama, eclipse-temurin and maven images (tests/images/, docs/containers.md
 * "Stand-in images here"), the worker image `procos/worker:2.9.6`
 * (workers/Dockerfile), the verify image `procos/verify:2.9.6`
 * (verify/Dockerfile) and, when engine/Dockerfile exists, the engine images
 * `procos/engine:7.24.0` and `procos/engine-operaton:1.0.3` (`engine-operaton`:
 * the same Dockerfile, `ENGINE_PROFILE=operaton`; compiler/engines.ts). Each
 * image carries a label with a hash of its
 * inputs (files of its context, staged files, Containerfile, the ids of the
 * images it is built FROM); an image whose label matches is up to date.
 *
 * Prints one line per image (`built` or `up to date`, seconds). Exit codes:
 * 0 every image is there; 1 a build failed (its output's tail is printed);
 * 2 bad arguments.
 *
 * @module
 */
import { ContainerApi } from "./docker_api.ts";
import { AUXILIARY_IMAGES } from "../compiler/emit/containers.ts";
import { DEFAULT_DISTRIBUTION, DISTRIBUTIONS, ENGINES } from "../compiler/engines.ts";
import { engineBuild } from "../compiler/images.ts";
import { parseArgs } from "node:util";
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";

/** The repository root. */
export const ROOT: string = resolve(dirname(new URL(import.meta.url).pathname), "..");

/** The label holding the hash of an image's inputs. */
export const INPUTS_LABEL = "org.procos.inputs";

/** One image to build. Paths are relative to the repository root. */
export interface ImageSpec {
  /** Short name, for `--only` and the output. */
  name: string;
  /** The build context folder. */
  context: string;
  /** The Containerfile (or Dockerfile). */
  containerfile: string;
  /** Every tag; the first is the one inspected. */
  tags: string[];
  /** Files copied into (a copy of) the context before the build: name in context → source. */
  stage?: Record<string, string>;
  /** The files and folders whose content decides whether to rebuild (default: the context). */
  inputs?: string[];
  /** Built only when its Containerfile exists (the engine). */
  optional?: boolean;
  /** Build arguments (`--build-arg`), part of the inputs hash. */
  buildArgs?: Readonly<Record<string, string>>;
  /**
   * Downloads over HTTPS at build time: gets the host's CA bundle as the
   * build secret `ca-bundle` (for a TLS-inspecting proxy; never in a layer).
   */
  caBundle?: boolean;
}

/** `name:tag` under every name a reference may resolve to (`docker.io/...`, `localhost/...`). */
function ours(ref: string): string[] {
  return [ref, `docker.io/${ref}`, `localhost/${ref}`];
}

/** The images, in dependency order (an image comes after those it is built FROM). */
export const IMAGES: readonly ImageSpec[] = [
  {
    name: "postgres",
    context: "tests/images/postgres",
    containerfile: "tests/images/postgres/Containerfile",
    tags: ["docker.io/library/postgres:15-alpine", "docker.io/library/postgres:15.10-alpine"],
  },
  {
    name: "redis",
    context: "tests/images/redis",
    containerfile: "tests/images/redis/Containerfile",
    tags: ["docker.io/library/redis:7-alpine", "docker.io/library/redis:7.4-alpine"],
  },
  {
    name: "rabbitmq",
    context: "tests/images/rabbitmq",
    containerfile: "tests/images/rabbitmq/Containerfile",
    tags: ["docker.io/library/rabbitmq:3-management", "docker.io/library/rabbitmq:3.13-management"],
  },
  {
    name: "postgres-exporter",
    context: "tests/images/postgres-exporter",
    containerfile: "tests/images/postgres-exporter/Containerfile",
    tags: [AUXILIARY_IMAGES.postgresExporter],
  },
  {
    name: "redis-exporter",
    context: "tests/images/redis-exporter",
    containerfile: "tests/images/redis-exporter/Containerfile",
    tags: [`docker.io/${AUXILIARY_IMAGES.redisExporter}`],
  },
  {
    name: "deno",
    context: "tests/images/deno",
    containerfile: "tests/images/deno/Containerfile",
    tags: ["docker.io/denoland/deno:debian-2.9.6", "docker.io/denoland/deno:2.9.6"],
    stage: { deno: "tools/node_modules/@deno/linux-x64-glibc/deno" },
  },
  {
    name: "ollama",
    context: "tests/images/ollama",
    containerfile: "tests/images/ollama/Containerfile",
    tags: ["docker.io/ollama/ollama:latest", "docker.io/ollama/ollama:0.12.6"],
    stage: { "ollama_double.ts": "tests/ollama_double.ts" },
  },
  {
    name: "eclipse-temurin",
    context: "tests/images/eclipse-temurin",
    containerfile: "tests/images/eclipse-temurin/Containerfile",
    tags: ["docker.io/library/eclipse-temurin:17-jre"],
  },
  {
    name: "maven",
    context: "tests/images/maven",
    containerfile: "tests/images/maven/Containerfile",
    tags: ["docker.io/library/maven:3.9-eclipse-temurin-17"],
  },
  {
    name: "worker",
    context: ".",
    containerfile: "workers/Dockerfile",
    tags: ours("procos/worker:2.9.6"),
    inputs: ["workers", "compiler", "ops", "deno.json", "deno.lock", ".dockerignore"],
    caBundle: true,
  },
  {
    name: "verify",
    context: ".",
    containerfile: "verify/Dockerfile",
    tags: ours("procos/verify:2.9.6"),
    inputs: [
      "verify",
      "compiler",
      "runtime",
      "ops",
      "workers",
      "templates",
      "deno.json",
      "deno.lock",
      ".dockerignore",
    ],
    caBundle: true,
  },
  // one engine image per distribution (compiler/engines.ts), built as Compose builds it
  ...DISTRIBUTIONS.map((d): ImageSpec => {
    const build = engineBuild(d);
    return {
      name: d === DEFAULT_DISTRIBUTION ? "engine" : `engine-${d}`,
      context: build.context,
      containerfile: `${build.context}/${build.dockerfile}`,
      tags: ours(ENGINES[d].image),
      inputs: ["engine"],
      optional: true,
      caBundle: true,
      ...(build.args ? { buildArgs: build.args } : {}),
    };
  }),
];

/** Folders never hashed (build outputs and installed packages). */
const SKIP_DIRS = new Set([".git", "node_modules", "target", "out"]);

/** Every file under `paths` (files or folders, relative to `root`), sorted. */
export async function inputFiles(root: string, paths: string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    const info = await Deno.stat(join(root, rel));
    if (info.isFile) return void out.push(rel);
    if (!info.isDirectory) return;
    for await (const e of Deno.readDir(join(root, rel))) {
      if (e.isDirectory && SKIP_DIRS.has(e.name)) continue;
      await walk(join(rel, e.name));
    }
  };
  for (const p of paths) await walk(p);
  return [...new Set(out)].sort();
}

/**
 * The FROM images of a Containerfile (its own stage names left out), with
 * `${NAME}` / `$NAME` replaced by the defaults of the ARGs before the first
 * FROM (`ARG BUILD_IMAGE=maven:3.9-eclipse-temurin-17`).
 */
export function fromImages(containerfile: string): string[] {
  const args = new Map<string, string>();
  const stages = new Set<string>();
  const images: string[] = [];
  const expand = (ref: string) =>
    ref.replace(/\$\{(\w+)\}|\$(\w+)/g, (all, a, b) => args.get(a ?? b) ?? all);
  for (const line of containerfile.split("\n")) {
    const arg = /^\s*ARG\s+(\w+)=(\S+)/i.exec(line);
    if (arg && stages.size === 0 && images.length === 0) args.set(arg[1], arg[2]);
    const m = /^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (!m) continue;
    const ref = expand(m[1]);
    if (!stages.has(ref.toLowerCase()) && !images.includes(ref)) images.push(ref);
    if (m[2]) stages.add(m[2].toLowerCase());
  }
  return images;
}

/** What a command printed and how it ended. */
interface Ran {
  code: number;
  out: string;
}

/** Runs a command with `env` added, its output captured (or shown, with `show`). */
async function run(cmd: string[], env: Record<string, string>, show = false): Promise<Ran> {
  const r = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env,
    stdin: "null",
    stdout: show ? "inherit" : "piped",
    stderr: show ? "inherit" : "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: show ? "" : dec.decode(r.stdout) + dec.decode(r.stderr) };
}

/** The hash of an image's inputs, given the ids of the images it is built FROM. */
export async function inputsHash(spec: ImageSpec, fromIds: string[]): Promise<string> {
  const h = createHash("sha256");
  h.update(`containerfile ${spec.containerfile}\ntags ${spec.tags.join(" ")}\n`);
  h.update(`from ${fromIds.join(" ")}\n`);
  for (const [name, value] of Object.entries(spec.buildArgs ?? {}).sort()) {
    h.update(`arg ${name}=${value}\n`);
  }
  const files = await inputFiles(ROOT, [...(spec.inputs ?? [spec.context]), spec.containerfile]);
  for (const f of files) {
    h.update(`file ${f}\n`);
    h.update(await Deno.readFile(join(ROOT, f)));
  }
  for (const [name, source] of Object.entries(spec.stage ?? {}).sort()) {
    h.update(`stage ${name} ${source}\n`);
    h.update(await Deno.readFile(join(ROOT, source)));
  }
  return h.digest("hex").slice(0, 32);
}

/** Parses `KEY=VALUE` lines (the output of tools/podman-setup.sh). */
export function parseEnvLines(text: string): Record<string, string> {
  return Object.fromEntries(
    text.split("\n").map((l) => /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => m !== null).map((m) => [m[1], m[2]]),
  );
}

/**
 * The podman environment: that of tools/podman-setup.sh, after `up` when no
 * Docker API answers at DOCKER_HOST (or at the set-up's socket).
 */
export async function podmanEnv(): Promise<Record<string, string>> {
  const setup = join(ROOT, "tools", "podman-setup.sh");
  const env = parseEnvLines((await run(["bash", setup, "env"], {})).out);
  const host = Deno.env.get("DOCKER_HOST");
  const where = host ?? env.DOCKER_HOST;
  if (where && (await new ContainerApi(where).ping())) {
    return host ? { ...env, DOCKER_HOST: host } : env;
  }
  console.error("images: no Docker API answers; running tools/podman-setup.sh up");
  const r = await run(["bash", setup, "up"], {});
  if (r.code !== 0) throw new Error(`tools/podman-setup.sh up failed (exit ${r.code}):\n${r.out}`);
  return parseEnvLines(r.out);
}

/** `podman image inspect --format` of a local image, or undefined when it does not exist. */
async function inspect(
  image: string,
  format: string,
  env: Record<string, string>,
): Promise<string | undefined> {
  const r = await run(["podman", "image", "inspect", "--format", format, image], env);
  return r.code === 0 ? r.out.trim() : undefined;
}

/** The host's CA bundle (SSL_CERT_FILE, else Debian's), when there is one. */
async function caBundle(): Promise<string | undefined> {
  for (const f of [Deno.env.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"]) {
    if (!f) continue;
    try {
      if ((await Deno.stat(f)).isFile) return f;
    } catch { /* not there */ }
  }
  return undefined;
}

/** The host's Java truststore (Debian's, holding the same CAs), when there is one. */
async function javaTruststore(): Promise<string | undefined> {
  try {
    const f = "/etc/ssl/certs/java/cacerts";
    return (await Deno.stat(f)).isFile ? f : undefined;
  } catch {
    return undefined;
  }
}

/** How one image went. */
export interface ImageResult {
  name: string;
  status: "built" | "up to date" | "skipped";
  seconds: number;
  detail?: string;
}

/** Builds one image unless it is up to date. Throws with the build's output tail on failure. */
export async function ensureImage(
  spec: ImageSpec,
  env: Record<string, string>,
  opts: { force?: boolean; verbose?: boolean } = {},
): Promise<ImageResult> {
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  const file = join(ROOT, spec.containerfile);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (spec.optional && e instanceof Deno.errors.NotFound) {
      return { name: spec.name, status: "skipped", seconds: 0, detail: `no ${spec.containerfile}` };
    }
    throw e;
  }
  const fromIds: string[] = [];
  for (const from of fromImages(text)) {
    const id = await inspect(from, "{{.Id}}", env);
    if (!id) throw new Error(`${spec.name}: its base image ${from} is not built`);
    fromIds.push(id);
  }
  const hash = await inputsHash(spec, fromIds);
  if (!opts.force) {
    const labels = await Promise.all(
      spec.tags.map((t) => inspect(t, `{{index .Labels "${INPUTS_LABEL}"}}`, env)),
    );
    if (labels.every((l) => l === hash)) {
      return { name: spec.name, status: "up to date", seconds: seconds() };
    }
  }
  let context = join(ROOT, spec.context);
  let staged: string | undefined;
  if (spec.stage) {
    staged = await Deno.makeTempDir({ prefix: `procos-image-${spec.name}-` });
    for (const f of await inputFiles(context, ["."])) {
      await Deno.mkdir(dirname(join(staged, f)), { recursive: true });
      await Deno.copyFile(join(context, f), join(staged, f));
    }
    for (const [name, source] of Object.entries(spec.stage)) {
      await Deno.copyFile(join(ROOT, source), join(staged, name));
    }
    context = staged;
  }
  try {
    const cmd = ["podman", "build", "--pull=never", "--label", `${INPUTS_LABEL}=${hash}`];
    if (opts.force) cmd.push("--no-cache");
    for (const t of spec.tags) cmd.push("-t", t);
    for (const [name, value] of Object.entries(spec.buildArgs ?? {})) {
      cmd.push("--build-arg", `${name}=${value}`);
    }
    const bundle = spec.caBundle ? await caBundle() : undefined;
    if (bundle) cmd.push("--secret", `id=ca-bundle,src=${bundle}`);
    const trust = spec.caBundle ? await javaTruststore() : undefined;
    if (trust) cmd.push("--secret", `id=java-truststore,src=${trust}`);
    cmd.push("-f", file, context);
    const r = await run(cmd, env, opts.verbose);
    if (r.code !== 0) {
      const tail = r.out.trim().split("\n").slice(-40).join("\n");
      throw new Error(`${spec.name}: podman build failed (exit ${r.code}):\n${tail}`);
    }
  } finally {
    if (staged) await Deno.remove(staged, { recursive: true });
  }
  return { name: spec.name, status: "built", seconds: seconds() };
}

/** One output line for an image. */
export function formatResult(r: ImageResult, width = 16): string {
  const what = r.status === "skipped" ? `skipped (${r.detail})` : r.status;
  return `images: ${r.name.padEnd(width)} ${what.padEnd(12)} ${r.seconds.toFixed(1)} s`;
}

/** The images `--only` selects (all when empty); throws on an unknown name. */
export function selectImages(only: string | undefined): ImageSpec[] {
  if (!only) return [...IMAGES];
  const names = only.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !IMAGES.some((i) => i.name === n));
  if (unknown.length > 0) {
    throw new RangeError(
      `unknown image ${unknown.join(", ")}; expected one of ${
        IMAGES.map((i) => i.name).join(", ")
      }`,
    );
  }
  return IMAGES.filter((i) => names.includes(i.name));
}

/** The command line: builds the selected images; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let selected: ImageSpec[];
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        only: { type: "string" },
        force: { type: "boolean", default: false },
        verbose: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
    selected = selectImages(values.only);
  } catch (e) {
    console.error(`images: ${(e as Error).message}`);
    console.error("usage: deno task images [--only name,name] [--force] [--verbose]");
    return 2;
  }
  const started = performance.now();
  try {
    const env = await podmanEnv();
    for (const spec of selected) {
      console.log(formatResult(await ensureImage(spec, env, values)));
    }
  } catch (e) {
    console.error(`images: error: ${(e as Error).message}`);
    return 1;
  }
  console.log(`images: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

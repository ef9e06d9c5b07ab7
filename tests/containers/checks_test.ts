/**
 * The containers domain without an engine: planning (which services, which
 * checks), `DOCKER_HOST` parsing, the skip when nothing answers, and the
 * judgement of container inspections served by a fake Engine API on a Unix
 * socket (the real engine is exercised by containers_test.ts).
 *
 * @module
 */
import { join } from "node:path";
import { expect } from "expect";
import type { StackModel } from "../../compiler/model.ts";
import { planChecks } from "../../verify/plan.ts";
import {
  composeVolumeName,
  containersChecks,
  formatBytes,
  nanoCpusOf,
} from "../../verify/checks/containers.ts";
import {
  DockerClient,
  dockerEndpoint,
  DockerHostError,
  memoryBytes,
} from "../../verify/clients/docker.ts";
import { contextFor, referenceModel, runAll } from "../verify/helpers.ts";

Deno.test("containers: DOCKER_HOST parsing", () => {
  expect(dockerEndpoint(undefined)).toEqual({ kind: "unix", socketPath: "/var/run/docker.sock" });
  expect(dockerEndpoint("")).toEqual({ kind: "unix", socketPath: "/var/run/docker.sock" });
  expect(dockerEndpoint("unix:///run/podman/podman.sock")).toEqual({
    kind: "unix",
    socketPath: "/run/podman/podman.sock",
  });
  expect(dockerEndpoint("tcp://10.0.0.2:2375")).toEqual({
    kind: "tcp",
    host: "10.0.0.2",
    port: 2375,
    protocol: "http",
  });
  expect(() => dockerEndpoint("ssh://me@host")).toThrow(DockerHostError);
  expect(() => dockerEndpoint("unix://relative.sock")).toThrow(DockerHostError);
});

Deno.test("containers: sizes and CPUs", () => {
  expect(memoryBytes("512m")).toBe(536870912);
  expect(memoryBytes("1g")).toBe(1073741824);
  expect(memoryBytes("64k")).toBe(65536);
  expect(formatBytes(536870912)).toBe("512m");
  expect(formatBytes(1000)).toBe("1000 bytes");
  expect(nanoCpusOf({ Id: "x", HostConfig: { NanoCpus: 5e8 } })).toBe(5e8);
  expect(nanoCpusOf({ Id: "x", HostConfig: { CpuQuota: 50000, CpuPeriod: 100000 } })).toBe(5e8);
  expect(nanoCpusOf({ Id: "x", HostConfig: {} })).toBe(0);
  expect(composeVolumeName("procos", "redis_data")).toBe("procos_redis_data");
});

Deno.test("containers: planned for every service Compose starts, none for external ones", async () => {
  const model = await referenceModel();
  const ctx = await contextFor(model);
  const ids = (await planChecks(model, ctx, ["containers"])).map((c) => c.id);
  for (const s of model.services) {
    expect(ids).toContain(`containers.${s.name}.running`);
    expect(ids).toContain(`containers.${s.name}.restart`);
    expect(ids).toContain(`containers.${s.name}.network`);
  }
  expect(ids).toContain("containers.redis.memory");
  expect(ids).toContain("containers.redis.cpus");
  expect(ids).toContain("containers.redis.volume.redis_data");
  expect(ids).toContain("containers.redis.port.6379");
  expect(new Set(ids).size).toBe(ids.length);

  const ext: StackModel = {
    ...model,
    services: model.services.map((s) => s.name === "redis" ? { ...s, external: true } : s),
  };
  const extIds = containersChecks(ext, ctx).map((c) => c.id);
  expect(extIds.some((i) => i.startsWith("containers.redis."))).toBe(false);
  expect(extIds.some((i) => i.startsWith("containers.postgres."))).toBe(true);
});

Deno.test("containers: no engine at the socket: every check is skipped, naming the socket", async () => {
  const model = await referenceModel();
  const ctx = await contextFor(model, {}, { outDir: "/nonexistent/procos-out" });
  const dir = await Deno.makeTempDir();
  try {
    const sock = join(dir, "nothing.sock");
    const checks = containersChecks(model, ctx, { dockerHost: `unix://${sock}` });
    const results = await runAll(checks, ctx);
    expect(results.size).toBe(checks.length);
    for (const r of results.values()) {
      expect(r.status).toBe("skip");
      if (r.status === "skip") expect(r.reason).toContain(`no Docker engine at ${sock}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("containers: a stack on the local runtime has no containers: skipped", async () => {
  const model = await referenceModel();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "runtime"));
    await Deno.writeTextFile(
      join(dir, "runtime", "state.json"),
      JSON.stringify({ engine: "local" }),
    );
    const ctx = await contextFor(model, {}, { outDir: dir });
    const results = await runAll(containersChecks(model, ctx), ctx);
    for (const r of results.values()) {
      expect(r.status).toBe("skip");
      if (r.status === "skip") expect(r.reason).toContain("local runtime");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A Docker Engine API double on a Unix socket, serving these inspections. */
async function withFakeEngine(
  containers: Record<string, unknown>[],
  fn: (client: DockerClient) => Promise<void>,
) {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "docker.sock");
  const byId = new Map(containers.map((c) => [c.Id as string, c]));
  const server = Deno.serve({ path, transport: "unix", onListen() {} }, (req) => {
    const url = new URL(req.url);
    const p = url.pathname.replace(/^\/v[0-9.]+/, "");
    if (p === "/_ping") return new Response("OK");
    if (p === "/containers/json") {
      const filters = JSON.parse(url.searchParams.get("filters") ?? "{}");
      const want: string[] = filters.label ?? [];
      const hits = containers.filter((c) => {
        const labels = (c.Config as { Labels: Record<string, string> }).Labels;
        return want.every((l) => {
          const [k, v] = l.split("=");
          return labels[k] === v;
        });
      });
      return Response.json(hits.map((c) => ({ Id: c.Id })));
    }
    const m = /^\/containers\/([^/]+)\/json$/.exec(p);
    if (m && byId.has(m[1])) return Response.json(byId.get(m[1]));
    return Response.json({ message: `no such thing: ${p}` }, { status: 404 });
  });
  try {
    await fn(new DockerClient({ dockerHost: `unix://${path}` }));
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

/** An inspection of the reference model's Redis as Compose would create it. */
function redisContainer(project: string, over: Record<string, unknown> = {}) {
  const base = {
    Id: "c1",
    Name: `/${project}-redis-1`,
    Created: "2025-01-01T00:00:00Z",
    State: { Status: "running", Running: true, Health: { Status: "healthy", Log: [] } },
    Config: {
      Labels: {
        "com.docker.compose.project": project,
        "com.docker.compose.service": "redis",
      },
    },
    HostConfig: {
      Memory: 536870912,
      NanoCpus: 500000000,
      RestartPolicy: { Name: "unless-stopped" },
      PortBindings: { "6379/tcp": [{ HostIp: "", HostPort: "6379" }] },
    },
    NetworkSettings: { Networks: { [`${project}_procos-network`]: {} } },
    Mounts: [{ Type: "volume", Name: `${project}_redis_data`, Destination: "/data", RW: true }],
  };
  return { ...base, ...over };
}

Deno.test("containers: judgements against a fake engine", async () => {
  const full = await referenceModel();
  const model: StackModel = { ...full, services: full.services.filter((s) => s.name === "redis") };
  const ctx = await contextFor(model, {}, { outDir: "/nonexistent/procos-out" });
  const run = async (c: Record<string, unknown>) => {
    let out = new Map();
    await withFakeEngine([c], async (client) => {
      out = await runAll(containersChecks(model, ctx, { client }), ctx);
    });
    return out;
  };
  const failing = (m: Map<string, { status: string }>) =>
    [...m].filter(([, r]) => r.status === "fail").map(([i]) => i.replace("containers.redis.", ""))
      .sort();

  expect(failing(await run(redisContainer("procos")))).toEqual([]);
  // a container of another project is not ours
  expect(failing(await run(redisContainer("other")))).toHaveLength(8);
  // CPU quota instead of NanoCpus is the same limit
  const h = redisContainer("procos").HostConfig;
  expect(
    failing(
      await run(
        redisContainer("procos", {
          HostConfig: { ...h, NanoCpus: 0, CpuQuota: 50000, CpuPeriod: 100000 },
        }),
      ),
    ),
  ).toEqual([]);
  expect(
    failing(
      await run(
        redisContainer("procos", {
          HostConfig: {
            ...h,
            PortBindings: { "6379/tcp": [{ HostIp: "127.0.0.1", HostPort: "6380" }] },
          },
        }),
      ),
    ),
  ).toEqual(["port.6379"]);
  expect(
    failing(
      await run(
        redisContainer("procos", {
          Mounts: [{ Type: "volume", Name: "redis_data", Destination: "/data", RW: true }],
        }),
      ),
    ),
  ).toEqual(["volume.redis_data"]);
  const starting = await run(
    redisContainer("procos", {
      State: { Status: "running", Running: true, Health: { Status: "starting" } },
    }),
  );
  expect(failing(starting)).toEqual(["healthy"]);
  const r = starting.get("containers.redis.healthy");
  expect(r.hint).toContain("--wait");
  const exited = await run(
    redisContainer("procos", { State: { Status: "exited", Running: false, ExitCode: 137 } }),
  );
  expect(failing(exited)).toEqual(["running"]);
  expect(exited.get("containers.redis.running").actual).toContain("exit code 137");
  expect(exited.get("containers.redis.healthy").status).toBe("skip");
});

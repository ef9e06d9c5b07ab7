/**
 * Processes of the local runtime: started detached (their own session, so
 * they outlive `deno task up` and a Ctrl-C), output appended to a log file,
 * identified by pid AND start time so `down` never signals a recycled pid.
 *
 * @module
 */

/** A process `up` started, as recorded in the state file. */
export interface ProcessRecord {
  pid: number;
  /** Start time in clock ticks since boot (`/proc/<pid>/stat` field 22). */
  startTime: number;
  /** The command line, without environment. */
  command: string[];
  /** Absolute path of its log. */
  log: string;
  /** When it was started (ISO 8601). */
  startedAt: string;
}

/** Quotes one word for `sh`. */
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

interface ProcStat {
  state: string;
  ppid: number;
  pgrp: number;
  startTime: number;
}

/** Reads `/proc/<pid>/stat`; `undefined` when there is no such process. */
export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // the command name (field 2) is in parentheses and may hold spaces
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state)
  return {
    state: rest[0],
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    startTime: Number(rest[19]),
  };
}

/** True when `pid` runs (not a zombie) and, if given, started at `startTime`. */
export function isRunning(pid: number, startTime?: number): boolean {
  const st = procStat(pid);
  if (!st || st.state === "Z" || st.state === "X") return false;
  return startTime === undefined || st.startTime === startTime;
}

/** True when the recorded process is still the one `up` started. */
export function isOurs(rec: Pick<ProcessRecord, "pid" | "startTime">): boolean {
  return isRunning(rec.pid, rec.startTime);
}

function definedOnly(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined),
  );
}

/** Options of {@link spawnLogged}. */
export interface SpawnOptions {
  /** Program and arguments. */
  command: string[];
  /** Appended to (created if missing). */
  log: string;
  /** Environment added to (and overriding) this process's, or `baseEnv` when given. */
  env?: Record<string, string>;
  /** The whole environment to start from instead of this process's. */
  baseEnv?: Record<string, string | undefined>;
  cwd?: string;
}

/** A process started by {@link spawnLogged}. */
export interface Spawned {
  record: ProcessRecord;
  /** Resolves with the exit code when it exits (while this process lives). */
  exited: Promise<number>;
}

/**
 * Starts a program detached from this process, in its own session (so its
 * pid is also its process group), with stdout and stderr appended to `log`.
 */
export async function spawnLogged(opts: SpawnOptions): Promise<Spawned> {
  const header = `\n=== ${new Date().toISOString()} procos up: ${
    opts.command.map(shQuote).join(" ")
  }\n`;
  await Deno.writeTextFile(opts.log, header, { append: true, create: true });
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      `exec "$@" >>${shQuote(opts.log)} 2>&1 </dev/null`,
      "procos-runtime",
      ...opts.command,
    ],
    env: opts.baseEnv ? { ...definedOnly(opts.baseEnv), ...opts.env } : opts.env,
    clearEnv: opts.baseEnv !== undefined,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  child.unref();
  const pid = child.pid;
  // `sh -c 'exec ...'` keeps the pid; its start time identifies it from now on
  let startTime = procStat(pid)?.startTime ?? 0;
  if (!startTime) {
    await new Promise((r) => setTimeout(r, 20));
    startTime = procStat(pid)?.startTime ?? 0;
  }
  const exited = child.status.then((s) => s.code, () => -1);
  return {
    record: {
      pid,
      startTime,
      command: opts.command,
      log: opts.log,
      startedAt: new Date().toISOString(),
    },
    exited,
  };
}

function signal(pid: number, sig: Deno.Signal, group: boolean): void {
  try {
    Deno.kill(group ? -pid : pid, sig);
  } catch {
    if (group) {
      try {
        Deno.kill(pid, sig);
      } catch { /* gone */ }
    }
  }
}

/**
 * Stops a process `up` started: SIGTERM to its process group, wait up to
 * `graceMs`, then SIGKILL. Does nothing when the pid is no longer that
 * process. Returns what happened.
 */
export async function stopProcess(
  rec: Pick<ProcessRecord, "pid" | "startTime">,
  graceMs = 10_000,
): Promise<"not-running" | "stopped" | "killed"> {
  if (!isOurs(rec)) return "not-running";
  // only signal the group if it is the one we created (pid == pgid)
  const group = procStat(rec.pid)?.pgrp === rec.pid;
  signal(rec.pid, "SIGTERM", group);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isOurs(rec)) return "stopped";
    await new Promise((r) => setTimeout(r, 100));
  }
  signal(rec.pid, "SIGKILL", group);
  for (let i = 0; i < 50 && isOurs(rec); i++) await new Promise((r) => setTimeout(r, 100));
  return "killed";
}

/** The last `n` non-empty-at-end lines of a file (empty when it does not exist). */
export async function tailFile(file: string, n = 20): Promise<string[]> {
  let text: string;
  try {
    const f = await Deno.open(file, { read: true });
    try {
      const size = (await f.stat()).size;
      const len = Math.min(size, 64 * 1024);
      await f.seek(size - len, Deno.SeekMode.Start);
      const buf = new Uint8Array(len);
      let off = 0;
      while (off < len) {
        const r = await f.read(buf.subarray(off));
        if (r === null) break;
        off += r;
      }
      text = new TextDecoder().decode(buf.subarray(0, off));
    } finally {
      f.close();
    }
  } catch {
    return [];
  }
  return tailLines(text, n);
}

/**
 * The line of a log that best says why a process failed: the last
 * `Caused by:` of a Java stack trace, else the last line that reads like an
 * error. `undefined` when there is none.
 */
export function lastErrorLine(lines: readonly string[]): string | undefined {
  const trimmed = lines.map((l) => l.trim()).filter((l) =>
    l && !/^at\s|^\.\.\. \d+ (common )?frames/.test(l)
  );
  const causedBy = trimmed.findLast((l) => l.startsWith("Caused by:"));
  if (causedBy) return causedBy.slice(0, 300);
  const err = trimmed.findLast((l) =>
    /\b(ERROR|FATAL|PANIC)\b|\b[A-Za-z.]*(Exception|Error)\b:|\berror:|\bfailed\b/i.test(l)
  );
  return err?.slice(0, 300);
}

/** The last `n` lines of a text, without trailing empty lines. */
export function tailLines(text: string, n = 20): string[] {
  const lines = text.replace(/\s+$/, "").split("\n");
  return lines.slice(Math.max(0, lines.length - n)).filter((l, _i, a) => a.length > 1 || l !== "");
}

/** What {@link run} returns. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion, capturing its output. A missing program gives code 127. */
export async function run(
  command: string[],
  opts: { env?: Record<string, string>; cwd?: string; stdin?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const signal = opts.timeoutMs ? AbortSignal.timeout(opts.timeoutMs) : undefined;
  try {
    const child = new Deno.Command(command[0], {
      args: command.slice(1),
      env: opts.env,
      cwd: opts.cwd,
      stdin: opts.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      signal,
    }).spawn();
    if (opts.stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(opts.stdin));
      await w.close();
    }
    const out = await child.output();
    const dec = new TextDecoder();
    return {
      code: signal?.aborted ? 124 : out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
    };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { code: 127, stdout: "", stderr: `${command[0]}: command not found` };
    }
    throw e;
  }
}

/** True when a program is on the PATH. */
export async function hasProgram(name: string, path?: string): Promise<boolean> {
  const r = await run(
    ["sh", "-c", `command -v ${shQuote(name)}`],
    path ? { env: { PATH: path } } : {},
  );
  return r.code === 0;
}

/** True when something accepts TCP connections on host:port. */
export async function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const conn = Deno.connect({ hostname: host, port });
  const timeout = new Promise<"timeout">((res) => {
    timer = setTimeout(() => res("timeout"), timeoutMs);
  });
  const r = await Promise.race([conn.then((c) => c, () => null), timeout]);
  clearTimeout(timer);
  if (r === "timeout") {
    conn.then((c) => c.close(), () => {});
    return false;
  }
  if (r === null) return false;
  r.close();
  return true;
}

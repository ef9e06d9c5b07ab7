/**
 * A small scan of the BPMN files under `processes.path`: which process ids
 * they define and which external-task topics (`camunda:topic="..."`) they
 * use, and where each `<process>` element is with the attributes the rules
 * check (`isExecutable`, `camunda:historyTimeToLive`). A regex scan, not an
 * XML parser: enough for the rules that check topics and boot processes
 * against the workers and deployable processes for a history TTL; the engine
 * validates the XML itself when the kernel deploys it.
 *
 * @module
 */
import { join, relative } from "node:path";
import { isDeployable } from "./worker_manifest.ts";

/** The largest BPMN file scanned, in bytes. */
export const MAX_BPMN_BYTES = 10 * 1024 * 1024;

/** The most folder entries looked at (a `processes.path` of `/` must not walk the disk). */
export const MAX_SCAN_ENTRIES = 2000;

/** One `<process>` element: where it starts and the attributes the rules read. */
export interface BpmnProcess {
  /** Its `id` (empty when it has none). */
  id: string;
  /** 1-based line of its `<`. */
  line: number;
  /** 1-based column of its `<`. */
  column: number;
  /** False only with `isExecutable="false"` (the engine deploys the others). */
  executable: boolean;
  /** Its `camunda:historyTimeToLive`, as written (absent when missing). */
  historyTimeToLive?: string;
}

/** What one BPMN file defines and uses. */
export interface BpmnFile {
  /** Path relative to the processes folder, with `/` separators. */
  file: string;
  /** Ids of the `<process>` elements. */
  processIds: string[];
  /** External-task topics, in document order, without repeats. */
  topics: string[];
  /** Every `<process>` element, in document order. */
  processes: BpmnProcess[];
  /** The file's text (the build copies it under `out/processes/`). */
  text: string;
}

/** The processes folder as scanned. */
export interface ProcessScan {
  /** The folder scanned (the spec's `processes.path` against its folder). */
  dir: string;
  /** False when the folder does not exist or is not a folder. */
  exists: boolean;
  /** Every `*.bpmn` file below it, sorted by path. */
  files: BpmnFile[];
  /** Every other file the kernel deploys (DMN, forms): path relative to the folder, text. */
  resources: { file: string; text: string }[];
  /** Files and folders that could not be read: what, why, and what to do. */
  unreadable: { file: string; problem: string; hint: string }[];
}

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
};

function unescapeXml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ENTITIES[e]);
}

function attr(attrs: string, name: string): string | undefined {
  const re = new RegExp(`(?:^|\\s)${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`);
  const m = re.exec(attrs);
  return m ? unescapeXml(m[1] ?? m[2]) : undefined;
}

/** Scans one BPMN document's text for process ids and external-task topics. */
export function scanBpmn(xml: string): { processIds: string[]; topics: string[] } {
  const text = xml.replace(/<!--[\s\S]*?-->/g, "");
  const processIds: string[] = [];
  const topics: string[] = [];
  for (const m of text.matchAll(/<(?:[A-Za-z_][\w.-]*:)?process\b([^>]*)>/g)) {
    const id = attr(m[1], "id");
    if (id && !processIds.includes(id)) processIds.push(id);
  }
  for (const m of text.matchAll(/<(?:[A-Za-z_][\w.-]*:)?[A-Za-z]+\b([^>]*)>/g)) {
    const topic = attr(m[1], "camunda:topic");
    if (topic !== undefined && !topics.includes(topic)) topics.push(topic);
  }
  return { processIds, topics };
}

/** Comments blanked out, keeping every other character's offset (and so its line and column). */
function blankComments(xml: string): string {
  return xml.replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, " "));
}

/** Scans one BPMN document's text for its `<process>` elements, located. */
export function scanProcessElements(xml: string): BpmnProcess[] {
  const text = blankComments(xml);
  const out: BpmnProcess[] = [];
  for (const m of text.matchAll(/<(?:[A-Za-z_][\w.-]*:)?process\b([^>]*)>/g)) {
    const before = text.slice(0, m.index);
    const line = before.split("\n").length;
    const column = m.index - (before.lastIndexOf("\n") + 1) + 1;
    const ttl = attr(m[1], "camunda:historyTimeToLive");
    out.push({
      id: attr(m[1], "id") ?? "",
      line,
      column,
      executable: attr(m[1], "isExecutable")?.trim() !== "false",
      ...(ttl === undefined ? {} : { historyTimeToLive: ttl }),
    });
  }
  return out;
}

/**
 * Scans every `*.bpmn` file below `dir` (recursively, at most
 * {@link MAX_SCAN_ENTRIES} entries, symlinks not followed). Never throws.
 */
export async function scanProcesses(dir: string): Promise<ProcessScan> {
  const scan: ProcessScan = { dir, exists: false, files: [], resources: [], unreadable: [] };
  try {
    if (!(await Deno.stat(dir)).isDirectory) return scan;
  } catch {
    return scan;
  }
  scan.exists = true;
  const paths: string[] = [];
  const others: string[] = [];
  let seen = 0;
  // Breadth-first, sorted, bounded: symlinks are not followed.
  const queue = [dir];
  while (queue.length > 0) {
    const d = queue.shift()!;
    let entries: Deno.DirEntry[] = [];
    try {
      for await (const e of Deno.readDir(d)) entries.push(e);
    } catch {
      scan.unreadable.push({
        file: relative(dir, d) || ".",
        problem: "cannot be listed",
        hint: "fix the folder's permissions",
      });
      continue;
    }
    entries = entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    for (const e of entries) {
      if (++seen > MAX_SCAN_ENTRIES) {
        scan.unreadable.push({
          file: relative(dir, d) || ".",
          problem: `holds more than ${MAX_SCAN_ENTRIES} entries`,
          hint: "point processes.path at the folder of BPMN files",
        });
        queue.length = 0;
        break;
      }
      const p = join(d, e.name);
      if (e.isDirectory) queue.push(p);
      else if (e.isFile && e.name.endsWith(".bpmn")) paths.push(p);
      else if (e.isFile && isDeployable(e.name)) others.push(p);
    }
  }
  for (const p of [...paths, ...others].sort()) {
    const file = relative(dir, p).split("\\").join("/");
    try {
      const info = await Deno.stat(p);
      if (info.size > MAX_BPMN_BYTES) {
        scan.unreadable.push({ file, problem: "is over 10 MB", hint: "is it really a BPMN file?" });
        continue;
      }
      const text = new TextDecoder().decode(await Deno.readFile(p));
      if (p.endsWith(".bpmn")) {
        scan.files.push({ file, ...scanBpmn(text), processes: scanProcessElements(text), text });
      } else scan.resources.push({ file, text });
    } catch {
      scan.unreadable.push({ file, problem: "cannot be read", hint: "fix its permissions" });
    }
  }
  return scan;
}

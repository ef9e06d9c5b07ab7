/**
 * The runtime's one error type: what failed (the service, when there is one),
 * why, and the tail of its log. The CLI prints these without a stack trace.
 *
 * @module
 */

/** A failure of `up` or `down` that a person can act on. */
export class RuntimeError extends Error {
  /** The service it is about, when there is one. */
  readonly service?: string;
  /** The last lines of the service's log (or of a tool's output), when there are any. */
  readonly logTail?: string[];
  /** Where the full log is. */
  readonly logFile?: string;

  /** Builds the error. */
  constructor(
    message: string,
    opts: { service?: string; logTail?: string[]; logFile?: string } = {},
  ) {
    super(opts.service ? `${opts.service}: ${message}` : message);
    this.name = "RuntimeError";
    this.service = opts.service;
    this.logTail = opts.logTail;
    this.logFile = opts.logFile;
  }
}

/** The message of anything thrown, on one line. */
export function errorText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s+/g, " ").trim() || (e instanceof Error ? e.name : "error");
}

/** Formats an error for the terminal: the message, then the log tail, if any. */
export function formatRuntimeError(e: unknown, prefix = "error"): string {
  if (e instanceof RuntimeError) {
    let s = `${prefix}: ${e.message}`;
    if (e.logTail && e.logTail.length > 0) {
      s += `\n--- last ${e.logTail.length} lines of ${e.logFile ?? "its output"} ---\n`;
      s += e.logTail.join("\n");
      s += "\n---";
    } else if (e.logFile) {
      s += `\n(log: ${e.logFile})`;
    }
    return s;
  }
  return `${prefix}: ${errorText(e)}`;
}

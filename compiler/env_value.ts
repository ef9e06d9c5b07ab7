/**
 * Which values an env file can carry: one line, read byte for byte alike by
 * Compose v2's dotenv parser, Compose v1's python-dotenv and a POSIX shell.
 * One test for the env emitter and for the rule that checks secret values
 * before anything is emitted.
 *
 * @module
 */

/**
 * How `value` is written in an env file: single-quoted when that is safe,
 * else double-quoted when that is, else `undefined` with the reason (which
 * never holds the value).
 */
export function envQuoting(value: string): { quoted: string } | { problem: string } {
  // deno-lint-ignore no-control-regex
  if (/[\0-\x08\x0a-\x1f\x7f]/.test(value)) {
    return { problem: "it contains a line break or another control character" };
  }
  // Compose v2 ends a quoted value at the first quote not after a backslash;
  // python-dotenv (Compose v1) turns `\\` into `\` even in single quotes.
  const singleSafe = !value.includes("'") && !value.includes("\\\\") && !value.endsWith("\\");
  if (singleSafe) return { quoted: `'${value}'` };
  if (!/[$`"\\]/.test(value)) return { quoted: `"${value}"` };
  return {
    problem: 'it contains a single quote together with one of $ ` " \\, or two backslashes in ' +
      "a row, or ends with a backslash, which Compose and a shell read differently",
  };
}

/**
 * A real browser for the tests: Debian's `chromium` (`bash tools/run.sh
 * test` installs it), driven by npm `playwright-core` through its
 * `executablePath` (no browser download), headless, with a fresh profile
 * folder that `close()` removes. And a small renderer of terminal text
 * (ANSI colors included) to a PNG, for screenshots of command output.
 *
 * @module
 */
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** Where Debian's chromium is. */
export const CHROMIUM = "/usr/bin/chromium";

/** The flags the tests start chromium with: headless, no sandbox (root), nothing phoning home. */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** True when Debian's chromium is installed: the browser tests run only then. */
export function chromiumAvailable(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

/** A running browser with its own profile folder. */
export interface Browser {
  /** The browser context (one profile). */
  context: BrowserContext;
  /** Closes the browser and removes its profile folder. */
  close(): Promise<void>;
}

/** Starts chromium with a fresh profile folder and a 1600×900 viewport. */
export async function launchBrowser(): Promise<Browser> {
  const profile = await Deno.makeTempDir({ prefix: "procos-chromium-" });
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: [...CHROMIUM_ARGS],
      viewport: { width: 1600, height: 900 },
    });
    return {
      context,
      async close() {
        await context.close().catch(() => {});
        await Deno.remove(profile, { recursive: true }).catch(() => {});
      },
    };
  } catch (e) {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
    throw e;
  }
}

const ANSI_COLORS: Record<string, string> = {
  "1": "font-weight:bold",
  "2": "opacity:0.7",
  "31": "color:#f14c4c",
  "32": "color:#23d18b",
  "33": "color:#e5c07b",
  "36": "color:#29b8db",
  "90": "color:#888",
};

/** Terminal text as HTML: escaped, SGR color codes as spans, other escapes dropped. */
export function ansiToHtml(text: string): string {
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  let out = "";
  let open = 0;
  // deno-lint-ignore no-control-regex
  for (const part of text.split(/(\x1b\[[0-9;]*m)/)) {
    // deno-lint-ignore no-control-regex
    const m = /^\x1b\[([0-9;]*)m$/.exec(part);
    if (!m) {
      // deno-lint-ignore no-control-regex
      out += esc(part.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ""));
      continue;
    }
    const styles = m[1].split(";").map((c) => ANSI_COLORS[c]).filter(Boolean);
    if (m[1] === "" || m[1] === "0") {
      out += "</span>".repeat(open);
      open = 0;
    } else if (styles.length > 0) {
      out += `<span style="${styles.join(";")}">`;
      open++;
    }
  }
  return out + "</span>".repeat(open);
}

/** Renders terminal text (with its colors) to a PNG, as a dark terminal window shows it. */
export async function renderTerminal(
  page: Page,
  text: string,
  file: string,
  title: string,
): Promise<void> {
  await page.setContent(`<!doctype html><html><body style="margin:0;background:#fff">
<div id="w" style="display:inline-block;background:#1e1e1e">
<div style="font:13px sans-serif;color:#ccc;background:#333;padding:6px 12px">${title}</div>
<pre style="margin:0;padding:12px 16px;color:#ddd;font:13px/1.35 'DejaVu Sans Mono',monospace;
white-space:pre">${ansiToHtml(text)}</pre></div></body></html>`);
  await page.locator("#w").screenshot({ path: file });
}

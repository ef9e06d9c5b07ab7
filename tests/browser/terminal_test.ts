/** The terminal-to-HTML renderer of the screenshots: escaping and colors. */
import assert from "node:assert/strict";
import { ansiToHtml } from "../helpers/browser.ts";

Deno.test("ansiToHtml: escapes markup, turns SGR colors into spans, drops other escapes", () => {
  assert.equal(
    ansiToHtml("\x1b[32mPASS\x1b[0m a <b> & c\x1b[2K\n\x1b[1;31mFAIL\x1b[0m"),
    '<span style="color:#23d18b">PASS</span> a &lt;b&gt; &amp; c\n' +
      '<span style="font-weight:bold;color:#f14c4c">FAIL</span>',
  );
  assert.equal(ansiToHtml("\x1b[31munclosed"), '<span style="color:#f14c4c">unclosed</span>');
});

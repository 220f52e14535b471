// A line-oriented driver for Debian's headless chromium, so tests written in
// Python can steer a real browser: one JSON command per stdin line, one JSON
// answer per stdout line ({"ok": true, "value": ...} or {"ok": false, "error": ...}).
//
//   {"cmd": "open", "url": U, "width": W, "height": H, "js": true}   new page (closes the previous one)
//   {"cmd": "eval", "expr": "document.title"}                        value of a page expression
//   {"cmd": "screenshot", "path": P}                                 full-page PNG
//   {"cmd": "requests"}                                              [method, url] of every request so far
//   {"cmd": "quit"}
//
// The browser is /usr/bin/chromium (override: CHROMIUM); playwright-core
// never downloads one.
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
let context = null;
let page = null;
const requests = [];

async function open({ url, width, height, js }) {
  if (context) await context.close();
  context = await browser.newContext({ viewport: { width, height }, javaScriptEnabled: js !== false, deviceScaleFactor: 1 });
  page = await context.newPage();
  page.on("request", (r) => requests.push([r.method(), r.url()]));
  const res = await page.goto(url, { waitUntil: "load" });
  return res ? res.status() : null;
}

const handlers = {
  open,
  eval: ({ expr }) => page.evaluate(expr),
  screenshot: async ({ path }) => { await page.screenshot({ path, fullPage: true }); return path; },
  requests: () => requests,
};

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
out({ ok: true, value: "ready", version: browser.version() });
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  let msg;
  try {
    msg = JSON.parse(line);
    if (msg.cmd === "quit") break;
    const h = handlers[msg.cmd];
    if (!h) throw new Error(`unknown command ${msg.cmd}`);
    out({ ok: true, value: (await h(msg)) ?? null });
  } catch (err) {
    out({ ok: false, error: String(err && err.stack ? err.stack : err) });
  }
}
await browser.close();

"""The status page in a real browser (Debian's chromium, headless): a real lb with three
pools under bounded load; one backend is killed and the page must show it unhealthy
within the check interval plus one page refresh; rates are non-zero; the layout holds at
375 px and 1920 px; with JavaScript off the server-rendered tables say the same.
Screenshots go to <build>/tests/artifacts/status_page/."""

import os
import time
import unittest

from lib import harness
from observe import support
from reload import support as rs

CHECK_INTERVAL = 1.0   # health_check.interval (s); unhealthy_threshold 1
REFRESH = 1            # ?refresh= seconds of the page's own polling
SLACK = 1.0            # scheduling on a shared 2-core machine

# In the page: every cell inside the viewport horizontally, and no sideways scrolling.
LAYOUT = """(() => {
  const w = window.innerWidth;
  const doc = document.documentElement.scrollWidth;
  const out = [...document.querySelectorAll('td, th, h1, h2, h3, dd')].filter(e => e.offsetParent !== null && !e.closest('thead'))
      .map(e => e.getBoundingClientRect()).filter(r => r.right > w + 0.5 || r.left < -0.5).length;
  // Every cell of a pool inside its card, too.
  const spill = [...document.querySelectorAll('article.pool')].map(a => {
      const box = a.getBoundingClientRect();
      return [...a.querySelectorAll('td')].filter(td => td.getBoundingClientRect().right > box.right + 0.5).length;
  }).reduce((x, y) => x + y, 0);
  const cols = new Set([...document.querySelectorAll('article.pool')].map(a => Math.round(a.getBoundingClientRect().left))).size;
  const firstRow = document.querySelector('tr[data-endpoint]');
  return {width: w, scroll: doc, outside: out, spill: spill, pool_columns: cols,
          row_display: firstRow ? getComputedStyle(firstRow).display : null,
          font: parseFloat(getComputedStyle(document.body).fontSize)};
})()"""


def endpoint_state(addr):
    return f"""(() => {{
  const tr = document.querySelector('tr[data-endpoint="{addr}"]');
  if (!tr) return null;
  const cell = (l) => {{ const td = tr.querySelector('td[data-label="' + l + '"]'); return td ? td.textContent.trim() : null; }};
  return {{cls: tr.className, health: cell('health'), check: cell('last check'), rate: cell('req/s')}};
}})()"""


RATES = """(() => {
  const num = (sel) => [...document.querySelectorAll(sel)].map(td => parseFloat(td.textContent));
  return {listeners: num('tr[data-listener] td.rate'), routes: num('tr[data-route] td.rate'),
          endpoints: num('tr[data-endpoint] td.rate'), sparks: document.querySelectorAll('svg.spark polyline.r').length,
          points: Math.min(...[...document.querySelectorAll('svg.spark polyline.r')].map(p => p.getAttribute('points').split(' ').filter(Boolean).length)),
          refreshed: Number(document.body.dataset.refreshed || 0)};
})()"""


class StatusPageTest(harness.LbTestCase):
    def test_page_shows_health_rates_and_holds_its_layout(self):
        t_test = time.monotonic()
        out_dir = support.artifacts_dir("status_page")
        browser = support.Browser(self)
        a1, a2 = self.backend("a1"), self.backend("a2")
        b1 = self.backend("b1")
        c1, c2 = self.backend("c1"), self.backend("c2")
        check = {"type": "http", "path": "/", "interval": "1s", "timeout": "300ms",
                 "healthy_threshold": 1, "unhealthy_threshold": 1}
        pools = [harness.pool("alpha", a1, a2, health_check=check),
                 harness.pool("beta", b1, health_check=check),
                 harness.pool("gamma", c1, c2, health_check=check)]
        routes = [harness.route("alpha", name="to-alpha", path_prefix="/a"),
                  harness.route("beta", name="to-beta", path_prefix="/b"),
                  harness.route("gamma", name="to-gamma", path_prefix="/c")]
        lb = self.lb(harness.config(pools, routes=routes, workers=2))
        base = f"http://127.0.0.1:{lb.admin_port}"

        # Bounded load: each loop stops after max_requests or max_seconds.
        loads = [rs.Load(lb.port, target=t, keepalive=1, fresh=0, max_requests=2000, max_seconds=40, pause=0.01).start()
                 for t in ("/a", "/b", "/c")]
        self.addCleanup(lambda: [l.stop() for l in loads])

        # Wide screen, JavaScript on: the live page.
        status = browser.open(f"{base}/?refresh={REFRESH}", 1920, 1080)
        self.assertEqual(status, 200)
        rates, waited = browser.wait(f"(() => {{ const r = {RATES}; return r.refreshed >= 1 && "
                                     "[...r.listeners, ...r.routes, ...r.endpoints].every(x => x > 0) && r.endpoints.length == 5 "
                                     "&& r.points >= 3 ? r : null; })()",
                                     timeout=20)
        self.assertIsNotNone(waited, f"rates never all non-zero (with 3 sparkline points): {browser.eval(RATES)}")
        self.assertEqual(len(rates["routes"]), 3)
        self.assertEqual(rates["sparks"], 5)

        # Kill one backend of pool gamma: the page must say so within a check interval
        # (threshold 1) plus one refresh of the page.
        victim = c1.endpoint()
        before = browser.eval(endpoint_state(victim))
        self.assertEqual(before["health"], "healthy", before)
        c1.stop()
        t_kill = time.monotonic()
        state, waited = browser.wait(f"(() => {{ const s = {endpoint_state(victim)}; "
                                     "return s && s.cls == 'down' && s.health == 'unhealthy' ? s : null; })()",
                                     timeout=CHECK_INTERVAL + REFRESH + SLACK + 5)
        shown_after = time.monotonic() - t_kill
        self.assertIsNotNone(waited, f"page never showed {victim} unhealthy: {browser.eval(endpoint_state(victim))}")
        self.assertLessEqual(shown_after, CHECK_INTERVAL * 1.1 + REFRESH + SLACK,
                             f"unhealthy shown {shown_after:.2f}s after the kill")
        # A check in flight when the backend died fails on its read (reset).
        self.assertRegex(state["check"],
                         r"^fail: (connect refused|connect failed|closed before response|timeout|read failed)")
        other = browser.eval(endpoint_state(c2.endpoint()))
        self.assertEqual(other["health"], "healthy", other)

        wide = browser.eval(LAYOUT)
        self.assertLessEqual(wide["scroll"], wide["width"], wide)
        self.assertEqual(wide["outside"], 0, wide)
        self.assertEqual(wide["spill"], 0, wide)
        self.assertGreaterEqual(wide["pool_columns"], 2, f"a wall screen shows pools side by side: {wide}")
        self.assertEqual(wide["row_display"], "table-row", wide)
        wide_png = browser.screenshot(os.path.join(out_dir, "status-1920.png"))

        # Phone: rows become cards, nothing scrolls sideways, the dead endpoint still reads unhealthy.
        browser.open(f"{base}/ui?refresh={REFRESH}", 375, 812)
        _, waited = browser.wait("Number(document.body.dataset.refreshed || 0) >= 1", timeout=10)
        self.assertIsNotNone(waited, "the page did not refresh at 375 px")
        narrow = browser.eval(LAYOUT)
        self.assertLessEqual(narrow["scroll"], narrow["width"], narrow)
        self.assertEqual(narrow["outside"], 0, narrow)
        self.assertEqual(narrow["spill"], 0, narrow)
        self.assertEqual(narrow["row_display"], "block", narrow)
        self.assertGreaterEqual(narrow["font"], 13, narrow)
        self.assertEqual(browser.eval(endpoint_state(victim))["health"], "unhealthy")
        narrow_png = browser.screenshot(os.path.join(out_dir, "status-375.png"))

        # JavaScript off: the server-rendered first view is the same table, already current.
        browser.open(f"{base}/", 1280, 900, js=False)
        self.assertIsNone(browser.eval("document.body.dataset.refreshed || null"))
        static = browser.eval(endpoint_state(victim))
        self.assertEqual((static["cls"], static["health"]), ("down", "unhealthy"), static)
        self.assertEqual(browser.eval("document.querySelectorAll('tr[data-endpoint]').length"), 5)
        self.assertEqual(browser.eval("document.querySelectorAll('tr[data-route]').length"), 3)
        self.assertIn("server-rendered", browser.eval("document.getElementById('updated').textContent"))

        # Read-only and self-contained: only GETs, only to the admin server.
        for method, url in browser.call("requests"):
            self.assertEqual(method, "GET", url)
            self.assertTrue(url.startswith(base + "/"), url)

        for l in loads:
            l.stop()
        ok = sum(1 for l in loads for r in l.snapshot() if r.status == 200)
        self.assertGreater(ok, 100)
        for png in (wide_png, narrow_png):
            self.assertGreater(os.path.getsize(png), 10_000, png)
        print(f"\nstatus page: unhealthy shown {shown_after:.2f}s after the kill; screenshots {wide_png} "
              f"{narrow_png}; chromium {browser.version}; test {time.monotonic() - t_test:.1f}s")


if __name__ == "__main__":
    unittest.main()

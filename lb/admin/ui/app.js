// Live refresh of the status page: every few seconds it reads /stats (rates,
// latency, history), /pools (endpoint health, ejection, load) and, when the
// config version changes, /config (health check settings), then redraws the
// same tables the server rendered. Read-only: it only ever sends GETs.
(() => {
  "use strict";
  const params = new URLSearchParams(location.search);
  const every = Math.max(1, Number(params.get("refresh")) || 2) * 1000;
  let configVersion = null;
  let config = null;

  const esc = (v) => String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const dash = "\u2013";
  const rate = (v) => (v === null || v === undefined ? dash : v < 10 ? v.toFixed(1) : Math.round(v).toString());
  const pct = (v) => (v === null || v === undefined ? dash : (v * 100).toFixed(1) + "%");
  const secs = (v) => {
    if (v === null || v === undefined) return dash;
    if (v < 1) return (v * 1000).toPrecision(3).replace(/\.?0+$/, "") + " ms";
    return v.toFixed(2) + " s";
  };
  const td = (label, html, cls) => `<td data-label="${esc(label)}"${cls ? ` class="${cls}"` : ""}>${html}</td>`;

  function spark(history) {
    const r = history.requests || [], e = history.errors || [];
    const n = Math.max(r.length, 2), w = 90, h = 22;
    const max = Math.max(1, ...r, ...e);
    const pts = (xs) => xs.map((v, i) => `${((i * w) / (n - 1)).toFixed(1)},${(h - 1 - (v / max) * (h - 2)).toFixed(1)}`).join(" ");
    return `<svg class="spark" viewBox="0 0 ${w} ${h}" role="img" aria-label="requests and errors per second, last minute">` +
      `<polyline class="r" points="${pts(r)}"/><polyline class="e" points="${pts(e)}"/></svg>`;
  }

  function checkText(c) {
    if (!c) return dash;
    return `<span class="${c.result === "pass" ? "ok" : "bad"}">${esc(c.result)}</span>: ${esc(c.reason)}`;
  }

  function checkSettings(poolName, fallback) {
    const p = config && config.pools ? config.pools.find((x) => x.name === poolName) : null;
    const hc = p ? p.health_check : fallback;
    if (!hc) return "no active check";
    let s = `check ${hc.type}${hc.path ? " " + hc.path : ""} every ${hc.interval}`;
    if (hc.unhealthy_threshold) s += `, down after ${hc.unhealthy_threshold}`;
    return s;
  }

  function header(stats) {
    const b = stats.build, last = stats.reloads.last;
    const err = last.errors && last.errors.length ? ` \u00b7 ${esc(last.errors[0])}` : "";
    const now = new Date().toLocaleTimeString();
    return `<h1>lb</h1><dl class="facts">` +
      `<div><dt>build</dt><dd id="build">${esc(b.version)} (${esc(b.revision)}, ${esc(b.build_type)}) \u00b7 ${stats.workers} workers</dd></div>` +
      `<div><dt>config</dt><dd id="config">v${stats.config.version} \u00b7 loaded ${esc(stats.config.loaded_at)}</dd></div>` +
      `<div><dt>last reload</dt><dd id="reload" class="${last.result === "success" ? "ok" : "bad"}">${esc(last.result)} \u00b7 ${esc(last.trigger)} \u00b7 ${esc(last.at)}${err}</dd></div>` +
      `<div><dt>uptime</dt><dd id="uptime">${Math.round(stats.uptime_seconds)} s</dd></div>` +
      `<div><dt>updated</dt><dd id="updated" data-live="1">live, every ${every / 1000} s \u00b7 ${esc(now)}</dd></div></dl>`;
  }

  function listeners(stats) {
    const rows = stats.listeners.map((l) => `<tr data-listener="${esc(l.name)}">` +
      td("listener", esc(l.name)) + td("address", esc(l.listen)) +
      td("connections", l.connections_active, "num") + td("limit", l.connections_max, "num") +
      td("conn/s", rate(l.connection_rate), "num") + td("req/s", rate(l.request_rate), "num rate") +
      td("errors", pct(l.error_ratio), "num") + "</tr>").join("");
    return `<h2>Listeners</h2><table><thead><tr><th>listener</th><th>address</th><th class="num">connections</th>` +
      `<th class="num">limit</th><th class="num">conn/s</th><th class="num">req/s</th><th class="num">errors</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  function routes(stats) {
    const rows = stats.routes.map((r) => `<tr data-route="${esc(r.listener + "/" + r.name)}">` +
      td("listener", esc(r.listener)) + td("route", esc(r.name)) + td("pool", esc(r.pool)) +
      td("req/s", rate(r.request_rate), "num rate") + td("errors", pct(r.error_ratio), "num") +
      td("p50", secs(r.p50_seconds), "num") + td("p99", secs(r.p99_seconds), "num") +
      td("requests", r.requests_total, "num") + "</tr>").join("");
    return `<h2>Routes</h2><table><thead><tr><th>listener</th><th>route</th><th>pool</th><th class="num">req/s</th>` +
      `<th class="num">errors</th><th class="num">p50</th><th class="num">p99</th><th class="num">requests</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  function pools(stats, live) {
    const byName = new Map((live ? live.pools : []).map((p) => [p.name, p]));
    return `<h2>Pools</h2><div class="pools">` + stats.pools.map((p) => {
      const lp = byName.get(p.name);
      const liveEp = new Map((lp ? lp.endpoints : []).map((e) => [e.address, e]));
      const rows = p.endpoints.map((s) => {
        const e = Object.assign({}, s, liveEp.get(s.address) || {});
        const ej = e.ejected ? `<span class="warn">yes, ${Math.ceil(e.ejected_until)} s left</span>` : "no";
        return `<tr data-endpoint="${esc(e.address)}" class="${e.healthy ? "up" : "down"}">` +
          td("endpoint", esc(e.address)) +
          td("health", e.healthy ? '<span class="badge ok">healthy</span>' : '<span class="badge bad">unhealthy</span>', "health") +
          td("last check", checkText(e.check)) + td("ejected", ej) +
          td("in flight", e.in_flight, "num") + td("connections", e.connections, "num") +
          td("weight", `${e.effective_weight} / ${e.weight}`, "num") +
          td("req/s", rate(s.request_rate), "num rate") + td("errors/s", rate(s.error_rate), "num") +
          td("trend", spark(s.history)) + "</tr>";
      }).join("");
      return `<article class="pool" data-pool="${esc(p.name)}"><h3>${esc(p.name)} <small>${esc(p.balancer)} \u00b7 ` +
        `${p.endpoints_usable}/${p.endpoints_total} usable \u00b7 ${esc(checkSettings(p.name, p.health_check))} \u00b7 ${rate(p.request_rate)} req/s</small></h3>` +
        `<table><thead><tr><th>endpoint</th><th>health</th><th>last check</th><th>ejected</th><th class="num">in flight</th>` +
        `<th class="num">connections</th><th class="num">weight</th><th class="num">req/s</th><th class="num">errors/s</th><th>trend</th></tr></thead>` +
        `<tbody>${rows}</tbody></table></article>`;
    }).join("") + `</div>`;
  }

  async function getJson(path) {
    const r = await fetch(path, { cache: "no-store" });
    if (!r.ok) throw new Error(`${path}: ${r.status}`);
    return r.json();
  }

  async function tick() {
    try {
      const [stats, live] = await Promise.all([getJson("/stats"), getJson("/pools")]);
      if (stats.config.version !== configVersion) {
        config = await getJson("/config");
        configVersion = stats.config.version;
      }
      document.getElementById("top").innerHTML = header(stats);
      document.getElementById("listeners").innerHTML = listeners(stats);
      document.getElementById("routes").innerHTML = routes(stats);
      document.getElementById("pools").innerHTML = pools(stats, live);
      document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
    } catch (err) {
      const u = document.getElementById("updated");
      if (u) { u.textContent = `refresh failed: ${err.message}`; u.className = "bad"; }
    } finally {
      setTimeout(tick, every);
    }
  }
  tick();
})();

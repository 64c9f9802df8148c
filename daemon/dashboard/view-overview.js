// Overview: throughput and commit latency over the last 5 minutes, and the
// state of the server now. One stream (op=history, a sample a second,
// each with the stats of that second): no other request.

import * as api from "./api.js";
import { h, setText, sparkline, STATES, stateLabel, pageHead, card } from "./dom.js";
import * as fmt from "./fmt.js";

const SPARKS = [
  ["sent", "Values sent", (s) => s.sent, fmt.rate],
  ["received", "Values received", (s) => s.received, fmt.rate],
  ["finished", "Jobs finished", (s) => s.finished, fmt.rate],
  ["commit", "Commit latency", (s) => s.commit_ms, fmt.ms],
];

function tile(label, test, subTest) {
  const value = h("div", { class: "tile-value num", test, text: "–" });
  const sub = h("div", { class: "tile-sub", test: subTest, text: "\u00a0" });
  return { el: h("div", { class: "tile" }, h("div", { class: "tile-label", text: label }), value, sub), value, sub };
}

export function mount(root, ctx) {
  const sub = h("span", { text: "\u00a0" });
  root.append(pageHead("Overview", sub));

  const sparks = SPARKS.map(([key, label, pick, show]) => {
    const line = sparkline(label + ", last 5 minutes", "spark-" + key);
    const now = h("span", { class: "spark-now num", text: "–" });
    const peak = h("span", { class: "spark-peak num", text: "\u00a0" });
    const el = h("div", { class: "spark-card card" },
      h("div", { class: "spark-head" }, h("span", { class: "spark-label", text: label }), now),
      line.el, peak);
    return { key, pick, show, line, now, peak, el };
  });
  root.append(h("div", { class: "spark-grid" }, sparks.map((s) => s.el)));

  const t = {
    buffered: tile("Buffered values", "stat-buffered"),
    channels: tile("Channels", "stat-channels"),
    workers: tile("Job slots busy", "stat-workers"),
    waiting: tile("Blocked requests", "stat-waiting"),
    connections: tile("Connections", "stat-connections"),
    commit: tile("Commits", "stat-commit"),
  };
  root.append(h("div", { class: "tiles" }, Object.values(t).map((x) => x.el)));

  const stateLinks = STATES.map((st) => {
    const count = h("span", { class: "state-count num", test: "jobs-state-count", text: "–" });
    const a = h("a", { class: "state-tile st-" + st, href: "#/jobs?state=" + st, test: "jobs-state", data: { state: st } },
      h("span", { class: "state-name", text: stateLabel(st) }), count);
    return { st, count, a };
  });
  const remote = h("div", { test: "remote-workers", class: "kv-inline" });
  const paused = h("div", { test: "paused-pools", class: "kv-inline" });
  const poolsBox = h("div", { test: "pools", class: "kv-inline" });
  const server = h("dl", { class: "facts" });
  const serverVals = {};
  for (const [k, label] of [["uptime", "Up"], ["version", "Version"], ["host", "Host"], ["store", "Store"], ["db", "Database"]]) {
    serverVals[k] = h("dd", { test: "stat-" + k, text: "–" });
    server.append(h("dt", { text: label }), serverVals[k]);
  }
  root.append(h("div", { class: "cols" },
    card("Jobs by state", h("div", { class: "state-grid" }, stateLinks.map((x) => x.a))),
    card("Workers and pools",
      h("p", { class: "muted small" }, "Remote workers"), remote,
      h("p", { class: "muted small" }, "Pools with jobs"), poolsBox,
      h("p", { class: "muted small" }, "Paused pools"), paused),
    card("Server", server)));

  const s = ctx.session;
  setText(serverVals.version, s.version ? `${s.version} (protocol 1.${s.minor ?? 0})` : "–");
  setText(serverVals.host, s.host || "–");

  function showHistory(r) {
    const samples = r.samples || [];
    for (const sp of sparks) {
      const vals = samples.map(sp.pick);
      sp.line.set(vals);
      const last = samples.length ? vals[vals.length - 1] : null;
      setText(sp.now, sp.show(last));
      const known = vals.filter((v) => v !== null && v !== undefined);
      const peak = known.length ? Math.max(...known) : null;
      const avg = known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
      setText(sp.peak, known.length ? `peak ${sp.show(peak)} · mean ${sp.show(avg)}` : "no samples yet");
    }
  }

  function showStats(st) {
    setText(sub, `${s.host || "jqd"} · up ${fmt.duration(st.uptime_ms)}`);
    setText(t.buffered.value, fmt.num(st.buffered_values));
    t.buffered.value.title = fmt.exact(st.buffered_values);
    setText(t.buffered.sub, fmt.bytes(st.buffered_bytes) + (st.dead_lettered ? ` · ${fmt.num(st.dead_lettered)} dead-lettered` : ""));
    setText(t.channels.value, fmt.num(st.channels));
    setText(t.workers.value, `${st.workers.busy} / ${st.workers.total}`);
    setText(t.workers.sub, "jqd's own slots");
    setText(t.waiting.value, fmt.num(st.waiting));
    setText(t.waiting.sub, "send, recv, select, wait, watch");
    setText(t.connections.value, fmt.num(st.connections));
    setText(t.connections.sub, fmt.num(st.connections_total) + " since start");
    const store = st.store || {};
    setText(t.commit.value, fmt.num(store.commits));
    setText(t.commit.sub, `avg ${fmt.ms(store.commit_latency_ms?.avg)} · ${(store.changes_per_commit ?? 0).toFixed(1)} changes each`);
    for (const x of stateLinks) {
      const n = st.jobs?.[x.st] ?? 0;
      setText(x.count, fmt.num(n));
      x.count.title = fmt.exact(n);
    }
    const w = st.workers;
    setText(remote, "active" in w ? `${w.active} active · ${w.draining} draining · ${w.disconnected} disconnected` : "none registered");
    const pools = Object.entries(st.pools || {});
    poolsBox.replaceChildren(...(pools.length ? pools.map(([name, p]) => h("div", {},
      h("span", { class: "chip", text: name }), ` ${fmt.exact(p.queued)} queued · ${fmt.exact(p.running)} running`))
      : [h("span", { class: "muted", text: "only local (see the jobs above)" })]));
    const pp = st.paused_pools || [];
    paused.replaceChildren(...(pp.length ? pp.map((p) => h("a", { class: "chip chip-warn", href: "#/workers", text: p })) : [h("span", { class: "muted", text: "none" })]));
    setText(serverVals.uptime, fmt.duration(st.uptime_ms));
    serverVals.uptime.title = "since " + fmt.when(Date.now() - st.uptime_ms);
    setText(serverVals.store, `${store.backend || "sqlite"}${store.failures ? ` · ${store.failures} failed commits` : ""}`);
    setText(serverVals.db, `${fmt.bytes(store.db_bytes)} + ${fmt.bytes(store.wal_bytes)} WAL`);
  }

  const stream = api.live("/api/live", { op: "history" }, {
    reply: (r) => { showHistory(r); showStats(r.stats); },
    error: (e) => ctx.showError("history: " + e.message),
  });
  return () => stream.close();
}

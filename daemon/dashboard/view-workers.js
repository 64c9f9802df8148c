// Workers: the remote agents (workers op) with Drain, and the pools (from
// stats) with Pause and Resume (pool op), and Pause for any pool by name.

import * as api from "./api.js";
import { h, setText, KeyedTable, pageHead, emptyState, card, confirmAction } from "./dom.js";
import * as fmt from "./fmt.js";

const STATE_CLASS = { active: "st-succeeded", draining: "st-queued", disconnected: "st-failed" };

function columns(ctx) {
  const cols = [
    { title: "Worker", cls: "col-name", value: (w) => w.worker, render: (td, w) => td.replaceChildren(h("span", { class: "strong", text: w.worker })) },
    { title: "Host", value: (w) => w.host ?? "–", render: (td, w) => { setText(td, w.host ?? "–"); td.title = w.pid ? `pid ${w.pid}, jq-worker ${w.version ?? "?"}` : ""; } },
    { title: "Pools", cls: "col-chips", value: (w) => (w.pools || []).join(" "), render: (td, w) => td.replaceChildren(...(w.pools || []).map((p) => h("span", { class: "chip", text: p }))) },
    { title: "Slots", cls: "num col-count", value: (w) => w.slots },
    { title: "Busy", cls: "num col-count", value: (w) => w.busy },
    { title: "State", cls: "col-state", test: "worker-state", value: (w) => w.state, render: (td, w) => td.replaceChildren(h("span", { class: "badge " + (STATE_CLASS[w.state] || ""), text: w.state })) },
    { title: "Heartbeat", hint: "last heartbeat", cls: "col-time", test: "worker-heartbeat", value: (w) => w.last_heartbeat_ms,
      render: (td, w) => td.replaceChildren(w.last_heartbeat_ms ? h("time", { title: fmt.when(w.last_heartbeat_ms), data: { ago: String(w.last_heartbeat_ms) }, text: fmt.ago(w.last_heartbeat_ms) }) : "–") },
    { title: "Labels", cls: "col-chips", value: (w) => JSON.stringify(w.labels || {}),
      render: (td, w) => { const l = Object.entries(w.labels || {}); td.replaceChildren(...(l.length ? l.map(([k, v]) => h("span", { class: "chip", text: `${k}=${v}` })) : ["–"])); } },
    { title: "Running", cls: "num", value: (w) => (w.attempts || []).map((a) => a.job).join(","),
      render: (td, w) => td.replaceChildren(...((w.attempts || []).length ? w.attempts.slice(0, 5).flatMap((a, i) => [i ? " " : "", h("a", { href: "#/jobs/" + a.job, text: "#" + a.job })]) : ["–"]),
        (w.attempts || []).length > 5 ? ` +${w.attempts.length - 5}` : "") },
  ];
  if (!ctx.session.readonly) {
    cols.push({ title: "", cls: "col-action", value: (w) => w.state,
      render: (td, w) => td.replaceChildren(w.state === "active" ? h("button", { class: "btn btn-small", type: "button", test: "action-drain", data: { worker: w.worker }, text: "Drain…",
        on: { click: async () => {
          const ok = await confirmAction({ title: `Drain worker ${w.worker}?`, ok: "Drain",
            body: "It takes no more jobs; the jobs it runs now finish. jq-worker exits once drained and idle." });
          if (ok) await ctx.act("worker_drain", { worker: w.worker }, (r) => `Draining ${r.worker}: ${r.running} still running`);
        } } }) : "") });
  }
  return cols;
}

/** Pools from stats: those with jobs or workers (stats.pools), the paused ones, and local. */
function poolsOf(st) {
  const paused = new Set(st.paused_pools || []);
  const names = new Set(["local", ...Object.keys(st.pools || {}), ...paused]);
  return [...names].sort().map((pool) => ({ pool, ...(st.pools?.[pool] || { queued: null, running: null }), paused: paused.has(pool) }));
}

function poolColumns(ctx, setPaused) {
  const cols = [
    { title: "Pool", cls: "col-name", value: (p) => p.pool, render: (td, p) => td.replaceChildren(h("span", { class: "strong", text: p.pool })) },
    { title: "Queued", cls: "num col-count", value: (p) => p.queued ?? "–" },
    { title: "Running", cls: "num col-count", value: (p) => p.running ?? "–" },
    { title: "State", cls: "col-state", test: "pool-state", value: (p) => p.paused,
      render: (td, p) => td.replaceChildren(h("span", { class: "badge " + (p.paused ? "st-deadline_exceeded" : "st-succeeded"), text: p.paused ? "paused" : "running" })) },
  ];
  if (!ctx.session.readonly) {
    cols.push({ title: "", cls: "col-action", value: (p) => p.paused,
      render: (td, p) => td.replaceChildren(p.paused
        ? h("button", { class: "btn btn-small", type: "button", test: "action-resume", data: { pool: p.pool }, text: "Resume", on: { click: () => setPaused(p.pool, false) } })
        : h("button", { class: "btn btn-small", type: "button", test: "action-pause", data: { pool: p.pool }, text: "Pause…",
          on: { click: async () => {
            const ok = await confirmAction({ title: `Pause pool ${p.pool}?`, ok: "Pause",
              body: "None of its queued jobs starts, on jqd or on any agent, until it is resumed; running jobs finish. A pause is not stored: a restart of jqd resumes every pool." });
            if (ok) setPaused(p.pool, true);
          } } })) });
  }
  return cols;
}

export function mount(root, ctx) {
  const ro = ctx.session.readonly;
  const table = new KeyedTable({ columns: columns(ctx), key: (w) => w.worker, rowTest: "worker-row", rowData: (w) => ({ worker: w.worker }), cls: "worker-table" });
  const body = h("div", {}, table.el);
  const status = h("span", { class: "muted", text: "\u00a0" });
  const local = h("p", { class: "muted", text: "\u00a0" });
  const setPaused = async (pool, pause) => {
    const r = await ctx.act("pool", { pool, pause }, pause ? `Pool ${pool} paused: none of its queued jobs starts` : `Pool ${pool} resumed`);
    if (r) loadStats();
    return !!r;
  };
  const pools = new KeyedTable({ columns: poolColumns(ctx, setPaused), key: (p) => p.pool, rowTest: "pool-row", rowData: (p) => ({ pool: p.pool }), cls: "pool-table" });
  const poolName = h("input", { class: "input", placeholder: "another pool, e.g. gpu", test: "pool-name", "aria-label": "Pool to pause", maxlength: "64", pattern: "[A-Za-z0-9._:-]{1,64}", required: true });
  const pauseForm = ro ? null : h("form", { class: "inline-form", on: { submit: async (e) => {
    e.preventDefault();
    const p = poolName.value.trim();
    if (p && await setPaused(p, true)) poolName.value = "";
  } } }, poolName, h("button", { class: "btn", type: "submit", test: "action-pause-named", text: "Pause pool" }));

  root.append(pageHead("Workers", status),
    card("Remote workers", body),
    card("Pools", local, pools.el, pauseForm));

  const loadStats = api.latest(async () => {
    try {
      const s = await api.get("stats");
      setText(local, `jqd's own slots (pool local): ${s.workers.busy} busy of ${s.workers.total}. A pause is not stored: a restart of jqd resumes every pool.`);
      pools.update(poolsOf(s));
    } catch (e) {
      if (e.status !== 401) setText(local, "stats: " + e.message);
    }
  });

  function show(r) {
    const ws = r.workers || [];
    table.update(ws);
    const busy = ws.reduce((a, w) => a + w.busy, 0);
    const slots = ws.reduce((a, w) => a + w.slots, 0);
    setText(status, ws.length ? `${ws.length} worker${ws.length === 1 ? "" : "s"} · ${busy} busy of ${slots} slots` : "\u00a0");
    if (!ws.length) {
      body.replaceChildren(emptyState("No remote workers", "jqd runs pool local itself. To run jobs on another machine, start an agent there: ",
        h("pre", { class: "code", text: "jq-worker -H tls:THIS-HOST:PORT --tls-ca ca.pem --token-file token \\\n    --id w1 --pool local --slots 4" }),
        "See the README, “Workers on other machines”."));
    } else if (body.firstChild !== table.el) body.replaceChildren(table.el);
    loadStats();
  }

  const stream = api.live("/api/live", { op: "workers" }, { reply: show, error: (e) => ctx.showError("workers: " + e.message) });
  loadStats();
  return () => stream.close();
}

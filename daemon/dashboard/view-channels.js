// Channels: a page of 100 with live rates, and one channel with its head
// values. Rates come from consecutive live replies' sent/received.

import * as api from "./api.js";
import { h, setText, KeyedTable, pageHead, emptyState, card, facts, enc, confirmAction, filterInput } from "./dom.js";
import * as fmt from "./fmt.js";
import { livePagedList, PAGE } from "./list.js";
const STALE_MS = 2500;   // no reply for this long: nothing changed, so the rates are 0

/** Per-name rate from two readings of the counters sent/received. */
function rateTracker() {
  const last = new Map();
  return {
    update(c, now) {
      const prev = last.get(c.chan);
      let inRate = null;
      let outRate = null;
      if (prev && now > prev.t) {
        const dt = (now - prev.t) / 1000;
        inRate = Math.max(0, (c.sent - prev.sent) / dt);
        outRate = Math.max(0, (c.received - prev.received) / dt);
      }
      last.set(c.chan, { sent: c.sent, received: c.received, t: now });
      return { in: inRate, out: outRate };
    },
    forgetExcept(names) { for (const k of last.keys()) if (!names.has(k)) last.delete(k); },
  };
}

const rateText = (r) => (r === null ? "–" : fmt.rate(r));

const COLUMNS = [
  { title: "Channel", cls: "col-name", test: "chan-name", value: (c) => c.chan,
    render: (td, c) => td.replaceChildren(h("a", { href: "#/channels/" + enc(c.chan), text: c.chan })) },
  { title: "Length", cls: "num col-len", test: "chan-len", value: (c) => c.len, render: (td, c) => setText(td, fmt.exact(c.len)) },
  { title: "Capacity", cls: "num", test: "chan-cap", value: (c) => c.cap, render: (td, c) => setText(td, c.cap === 0 ? "unbuffered" : fmt.exact(c.cap)) },
  { title: "Fill", cls: "col-fill phone-hide", value: (c) => (c.cap ? Math.round((100 * (c.len + c.leased)) / c.cap) : -1),
    render: (td, c, pct) => {
      let bar = td.firstChild;
      if (!bar) { bar = h("span", { class: "mini-bar" }, h("span", { class: "mini-fill" })); td.append(bar); }
      bar.hidden = pct < 0;
      bar.firstChild.style.width = Math.min(100, Math.max(0, pct)) + "%";
      bar.classList.toggle("full", pct >= 100);
      bar.title = pct < 0 ? "" : `${pct} % full (buffered + leased)`;
    } },
  { title: "Leased", hint: "values out on lease, not yet acked", cls: "num col-count", test: "chan-leased", value: (c) => c.leased },
  { title: "Senders", hint: "sends blocked on this channel now", cls: "num col-count", test: "chan-senders", value: (c) => c.senders_waiting },
  { title: "Receivers", hint: "receivers blocked on this channel now", cls: "num col-count", test: "chan-receivers", value: (c) => c.receivers_waiting },
  { title: "In", hint: "values sent per second", cls: "num col-rate", test: "chan-send-rate", value: (c) => rateText(c._rate.in) },
  { title: "Out", hint: "values received per second", cls: "num col-rate", test: "chan-recv-rate", value: (c) => rateText(c._rate.out) },
  { title: "Dead letters", hint: "values that reached max_deliveries", cls: "num col-dead", test: "chan-dead", value: (c) => (c.max_deliveries ? c.dead_lettered ?? 0 : "–") },
  { title: "State", cls: "col-state", test: "chan-closed", value: (c) => c.closed,
    render: (td, c) => td.replaceChildren(c.closed ? h("span", { class: "badge st-canceled", text: "closed" }) : h("span", { class: "badge badge-open", text: "open" })) },
];

export function mountList(root, ctx) {
  const paged = (ctx.session.minor ?? 0) >= 4;    // chans limit/after: protocol 1.4
  let prefix = ctx.query.get("prefix") || "";
  const rates = rateTracker();
  let items = [];
  let lastReply = 0;
  let fallbackMore = false;

  const table = new KeyedTable({ columns: COLUMNS, key: (c) => c.chan, rowTest: "chan-row", rowData: (c) => ({ chan: c.chan }), cls: "chan-table" });
  const filter = filterInput("Filter by name prefix", prefix, "chan-filter", (v) => { prefix = v; list.restart(); });
  const list = livePagedList(root, ctx, {
    title: "Channels", table, tools: filter, cursor: ctx.query.get("after"),
    request: (after) => (paged ? { op: "chans", prefix, limit: PAGE, after: after ?? undefined } : { op: "chans", prefix }),
    rows: (r) => {
      const now = performance.now();
      lastReply = now;
      let chans = r.chans || [];
      fallbackMore = !paged && chans.length > PAGE;
      if (fallbackMore) chans = chans.slice(0, PAGE);
      rates.forgetExcept(new Set(chans.map((c) => c.chan)));
      items = chans.map((c) => ({ ...c, _rate: rates.update(c, now) }));
      return items;
    },
    more: (r) => paged && !!r.more,
    next: (its) => its[its.length - 1].chan,
    empty: () => emptyState(prefix ? `No channel starts with “${prefix}”` : "No channels yet",
      prefix ? "Clear the filter, or check the name." : h("span", {}, "Channels appear once a client makes one, e.g. ",
        h("code", { text: "jq-client make tasks 100" }), ".")),
    describe: () => [prefix ? `starting with “${prefix}”` : "", fallbackMore ? "the first 100 (this jqd pages nothing before protocol 1.4: narrow with the prefix)" : ""].filter(Boolean).join(", "),
    remember: (after) => ctx.setQuery({ prefix, after }),
  });

  // Nothing changed on the server means no reply: the rates fall to 0,
  // and a rate not known yet (one reading so far) is 0 too (while the
  // stream is up; while it is down they are unknown, and stay).
  const decay = setInterval(() => {
    if (items.length && list.connected && performance.now() - lastReply > STALE_MS && items.some((c) => c._rate.in !== 0 || c._rate.out !== 0)) {
      items = items.map((c) => ({ ...c, _rate: { in: 0, out: 0 } }));
      table.update(items);
    }
  }, 1000);
  return () => { list.close(); clearInterval(decay); };
}

export function mountPage(root, ctx) {
  const name = ctx.params[0];
  ctx.setTitle(name);
  const rates = rateTracker();
  const actions = [];
  let closedNow = false;
  let closeBtn = null;
  if (!ctx.session.readonly) {
    closeBtn = h("button", { class: "btn", type: "button", test: "action-close", text: "Close",
      on: { click: async () => {
        const ok = await confirmAction({ title: `Close channel ${name}?`, ok: "Close channel",
          body: "No more sends are accepted; buffered values can still be received. A closed channel cannot be reopened." });
        if (ok) await ctx.act("close", { chan: name }, `Channel ${name} closed`);
      } } });
    const dropBtn = h("button", { class: "btn btn-danger", type: "button", test: "action-drop", text: "Drop…",
      on: { click: async () => {
        const ok = await confirmAction({ title: `Drop channel ${name}?`, ok: "Drop channel", danger: true, typeToConfirm: name,
          body: "This deletes the channel with every buffered and leased value. Blocked senders and receivers fail. It cannot be undone." });
        if (ok && await ctx.act("drop", { chan: name }, `Channel ${name} dropped`)) location.hash = "#/channels";
      } } });
    actions.push(closeBtn, dropBtn);
  }
  const badge = h("span", { class: "badge badge-open", text: "open" });
  const titleEl = h("span", { test: "chan-title", text: name });
  root.append(h("p", { class: "crumbs" }, h("a", { href: "#/channels", text: "Channels" }), " / "),
    pageHead("", null, ...actions));
  root.querySelector(".page-title h1").append(titleEl, " ", badge);

  const statBox = h("div", { test: "chan-stat" });
  const peekBox = h("div", { class: "peek", test: "peek-list" });
  const peekNote = h("p", { class: "muted small", text: "\u00a0" });
  root.append(h("div", { class: "cols cols-2" }, card("Now", statBox), card("Head values (next to be received)", peekNote, peekBox)));

  const peek = api.latest(async () => {
    try {
      const r = await api.get("peek", { chan: name, n: 20 });
      const vals = r.values || [];
      setText(peekNote, vals.length ? `${vals.length} of ${fmt.exact(r.len)} buffered, head first` : "\u00a0");
      peekBox.replaceChildren(...(vals.length ? vals.map((v, i) => h("div", { class: "peek-item" },
        h("span", { class: "peek-index num", text: "#" + (i + 1) }), h("pre", { class: "code", test: "peek-value", text: fmt.prettyJson(v) })))
        : [h("p", { class: "muted", test: "peek-empty", text: "Nothing buffered: a receiver would wait." })]));
    } catch (e) {
      if (e.status !== 401 && e.code !== "not_found") setText(peekNote, "peek: " + e.message);
    }
  });

  let shown = null;
  let lastReply = 0;
  function showStat(c, r) {
    shown = { c, r };
    closedNow = c.closed;
    setText(badge, c.closed ? "closed" : "open");
    badge.className = "badge " + (c.closed ? "st-canceled" : "badge-open");
    if (closeBtn) closeBtn.disabled = closedNow;
    statBox.replaceChildren(facts([
      ["Length", fmt.exact(c.len)],
      ["Capacity", c.cap === 0 ? "0 (unbuffered: each send waits for a receiver)" : fmt.exact(c.cap)],
      ["Leased", fmt.exact(c.leased)],
      ["Senders waiting", fmt.exact(c.senders_waiting)],
      ["Receivers waiting", fmt.exact(c.receivers_waiting)],
      ["Sent", `${fmt.exact(c.sent)}  (${rateText(r.in)})`],
      ["Received", `${fmt.exact(c.received)}  (${rateText(r.out)})`],
      c.max_deliveries ? ["Dead letters", `after ${c.max_deliveries} deliveries → ${c.dead_letter ?? "deleted"}; ${fmt.exact(c.dead_lettered ?? 0)} so far`] : null,
      c.dedup_window_ms !== undefined ? ["Send keys", `${fmt.exact(c.dedup_keys)} held (window ${fmt.duration(c.dedup_window_ms)}, at most ${fmt.exact(c.dedup_max)})`] : null,
    ]));
  }

  let lastKey = "";
  const stream = api.live("/api/live", { op: "stat", chan: name }, {
    reply: (c) => {
      lastReply = performance.now();
      showStat(c, rates.update(c, lastReply));
      const key = `${c.len}/${c.sent}/${c.received}`;
      if (key !== lastKey) { lastKey = key; peek(); }
    },
    error: (e) => {
      root.replaceChildren(h("p", { class: "crumbs" }, h("a", { href: "#/channels", text: "Channels" }), " / "),
        emptyState(e.code === "not_found" ? `No channel “${name}”` : "Cannot show this channel",
          e.code === "not_found" ? "It was dropped, or never made. " : e.message + " ", h("a", { href: "#/channels", text: "Back to channels" })));
    },
  });
  // As on the list: no reply for a while with the stream up means nothing moved.
  const decay = setInterval(() => {
    if (shown && stream.connected && performance.now() - lastReply > STALE_MS && (shown.r.in !== 0 || shown.r.out !== 0)) showStat(shown.c, { in: 0, out: 0 });
  }, 1000);
  return () => { stream.close(); clearInterval(decay); };
}

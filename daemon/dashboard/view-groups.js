// Groups: every group with its progress and state counts (groups op,
// protocol 1.4), and one group with its jobs.

import * as api from "./api.js";
import { h, setText, KeyedTable, pageHead, emptyState, card, enc, confirmAction, filterInput, STATES, stateLabel, progressBar } from "./dom.js";
import * as fmt from "./fmt.js";
import { jobTable } from "./view-jobs.js";
import { livePagedList, PAGE } from "./list.js";
const unfinished = (g) => g.queued + g.running;

/** How far a group is: its reported progress, or without any, the share of finished jobs. */
function groupShare(g) {
  const p = g.progress || { done: 0, total: 0 };
  return p.total ? { done: p.done, total: p.total } : { done: g.total - unfinished(g), total: g.total };
}

function countCell(state) {
  return {
    title: stateLabel(state)[0].toUpperCase() + stateLabel(state).slice(1), cls: "num col-count", value: (g) => g[state],
    render: (td, g) => td.replaceChildren(g[state] ? h("a", { class: "count st-text-" + state, href: `#/jobs?group=${enc(g.group)}&state=${state}`, text: fmt.exact(g[state]) }) : h("span", { class: "muted", text: "0" })),
  };
}

function barCell(td, g) {
  if (!td.bar) { td.bar = progressBar(); td.append(td.bar.el, h("span", { class: "bar-label num" })); }
  const { done, total } = groupShare(g);
  td.bar.set(done, total || null);
  setText(td.lastChild, total ? `${Math.round((100 * done) / total)} %` : "");
}

const COLUMNS = [
  { title: "Group", cls: "col-name", value: (g) => g.group, render: (td, g) => td.replaceChildren(h("a", { href: "#/groups/" + enc(g.group), text: g.group })) },
  { title: "Progress", cls: "col-progress", test: "group-progress", value: (g) => JSON.stringify([g.progress, g.total, g.queued, g.running]), render: barCell },
  { title: "Total", cls: "num col-count", value: (g) => fmt.exact(g.total) },
  ...STATES.map(countCell),
  { title: "Waiters", cls: "num col-count", test: "group-waiters", value: (g) => g.waiters ?? "–" },
];

export function mountList(root, ctx) {
  if ((ctx.session.minor ?? 0) < 4) {
    root.append(pageHead("Groups", null), emptyState("This jqd cannot list groups",
      "Listing groups needs protocol 1.4 (the groups op). Open one by name: ", openByName()));
    return undefined;
  }
  let prefix = ctx.query.get("prefix") || "";
  const table = new KeyedTable({ columns: COLUMNS, key: (g) => g.group, rowTest: "group-row", rowData: (g) => ({ group: g.group }), cls: "group-table" });
  const filter = filterInput("Filter by group prefix", prefix, "group-filter", (v) => { prefix = v; list.restart(); }, { maxlength: 128 });
  const list = livePagedList(root, ctx, {
    title: "Groups", table, tools: filter, cursor: ctx.query.get("after"),
    request: (after) => ({ op: "groups", prefix, limit: PAGE, after: after ?? undefined }),
    rows: (r) => r.groups || [],
    more: (r) => !!r.more,
    next: (its) => its[its.length - 1].group,
    empty: () => (prefix ? emptyState(`No group starts with “${prefix}”`, "Clear the filter, or check the name.")
      : emptyState("No groups", "A group is named at submit time: ", h("code", { text: "jq-client submit --group nightly -- ./step.sh" }), ". Groups show here while jqd retains their jobs.")),
    describe: () => "by name",
    remember: (after) => ctx.setQuery({ prefix, after }),
  });
  return () => list.close();
}

function openByName() {
  const input = h("input", { class: "input", placeholder: "group name", "aria-label": "Group name", data: { filter: "" } });
  return h("form", { class: "inline-form", on: { submit: (e) => { e.preventDefault(); if (input.value.trim()) location.hash = "#/groups/" + enc(input.value.trim()); } } },
    input, h("button", { class: "btn", type: "submit", text: "Open" }));
}

export function mountPage(root, ctx) {
  const name = ctx.params[0];
  ctx.setTitle("Group " + name);
  const bar = progressBar("group-progress");
  const barText = h("span", { class: "num muted", text: "\u00a0" });
  // Who waits on the group (wait/watch, 11.13): the groups op has it, group
  // has not. This page re-reads the group (live), it never watches it, so
  // it is not one of the waiters it shows.
  const withWaiters = (ctx.session.minor ?? 0) >= 4;
  const waiters = h("span", { class: "muted", test: "group-waiters", text: "\u00a0" });
  const counts = STATES.map((st) => {
    const n = h("span", { class: "state-count num", text: "–" });
    return { st, n, el: h("a", { class: "state-tile st-" + st, href: `#/jobs?group=${enc(name)}&state=${st}`, test: "group-count", data: { state: st } },
      h("span", { class: "state-name", text: stateLabel(st) }), n) };
  });
  const actions = [];
  let cancelBtn = null;
  if (!ctx.session.readonly) {
    cancelBtn = h("button", { class: "btn btn-danger", type: "button", test: "action-cancel-group", text: "Cancel group…",
      on: { click: async () => {
        const ok = await confirmAction({ title: `Cancel every unfinished job of ${name}?`, ok: "Cancel group", danger: true, typeToConfirm: name,
          body: "Queued jobs of the group will not run and running ones are stopped, with their descendants. Finished jobs are not changed." });
        if (ok) await ctx.act("cancel", { group: name }, (r) => `Canceled ${r.canceled} job${r.canceled === 1 ? "" : "s"} of ${name}`);
      } } });
    actions.push(cancelBtn);
  }
  const table = jobTable();
  const jobsBody = h("div", { class: "table-slot" }, table.el);
  const jobsNote = h("p", { class: "muted small", text: "\u00a0" });
  root.append(h("p", { class: "crumbs" }, h("a", { href: "#/groups", text: "Groups" }), " / "),
    pageHead("", null, ...actions),
    h("div", { class: "progress-row" }, bar.el, barText, withWaiters ? waiters : null),
    h("div", { class: "state-grid state-grid-6" }, counts.map((c) => c.el)),
    card("Jobs of the group", jobsNote, jobsBody));
  root.querySelector(".page-title h1").append(h("span", { test: "group-title", text: name }));

  const loadJobs = api.latest(async () => {
    try {
      const r = await api.get("jobs", { group: name, limit: PAGE });
      table.update(r.jobs);
      if (!r.jobs.length) jobsBody.replaceChildren(emptyState("No jobs in this group", "jqd retains no job of group “" + name + "”: none was submitted, or they were purged."));
      else if (jobsBody.firstChild !== table.el) jobsBody.replaceChildren(table.el);
      setText(jobsNote, r.jobs.length === PAGE ? `The newest ${PAGE}; ` : "");
      if (r.jobs.length === PAGE) jobsNote.append(h("a", { href: "#/jobs?group=" + enc(name), text: "page through all of them" }));
    } catch (e) {
      if (e.status !== 401) setText(jobsNote, "jobs: " + e.message);
    }
  });

  // groups with this prefix, one: the group itself when it has jobs (a
  // name sorts before every longer name it starts).
  const request = withWaiters ? { op: "groups", prefix: name, limit: 1 } : { op: "group", group: name };
  const none = { group: name, total: 0, queued: 0, running: 0, succeeded: 0, failed: 0, deadline_exceeded: 0, canceled: 0, progress: { done: 0, total: 0 }, waiters: 0 };
  const stream = api.live("/api/live", request, {
    reply: (r) => {
      const g = withWaiters ? (r.groups || []).find((x) => x.group === name) || none : r;
      if (withWaiters) {
        setText(waiters, g.waiters ? `${fmt.exact(g.waiters)} waiting on it (wait, watch)` : "nobody waits on it");
        waiters.title = "wait and watch requests parked on this group now; this page is not one of them";
      }
      const p = g.progress || { done: 0, total: 0 };
      const { done, total } = groupShare(g);
      bar.set(done, total || null);
      const finished = g.total - unfinished(g);
      setText(barText, !g.total ? "no jobs" : `${fmt.exact(finished)} of ${fmt.exact(g.total)} jobs finished` +
        (p.total ? ` · progress reported ${fmt.exact(p.done)} / ${fmt.exact(p.total)}` : ""));
      for (const c of counts) setText(c.n, fmt.exact(g[c.st]));
      if (cancelBtn) cancelBtn.disabled = unfinished(g) === 0;
      loadJobs();
    },
    error: (e) => ctx.showError("group: " + e.message),
  });
  return () => stream.close();
}

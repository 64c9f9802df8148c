// Jobs: a filtered page of 100, newest first, live; and one job with its
// output growing live from /api/watch.

import * as api from "./api.js";
import {
  h, setText, KeyedTable, emptyState, card, facts, enc, confirmAction, filterInput,
  STATES, FINAL, RETRYABLE, stateBadge, stateLabel, progressBar,
} from "./dom.js";
import * as fmt from "./fmt.js";
import { livePagedList, PAGE } from "./list.js";
const OUTPUT_KEEP = 64 * 1024;   // characters of each stream the page keeps

function timeCell(td, t) {
  if (t === null || t === undefined) { td.replaceChildren("–"); return; }
  td.replaceChildren(h("time", { datetime: new Date(t).toISOString(), title: fmt.when(t), data: { ago: String(t) }, text: fmt.ago(t) }));
}

function runTime(j) {
  if (!j.started_ms) return null;
  return (j.finished_ms ?? (j.state === "running" ? Date.now() : null)) - j.started_ms;
}

function exitText(j) {
  if (j.exit_code !== null && j.exit_code !== undefined) return "exit " + j.exit_code;
  if (j.signal) return "signal " + j.signal;
  if (j.error) return j.error;
  return "";
}

const JOB_COLUMNS = [
  { title: "Job", cls: "num col-id", test: "job-id", value: (j) => j.job,
    render: (td, j) => td.replaceChildren(h("a", { href: "#/jobs/" + j.job, text: "#" + j.job })) },
  { title: "State", cls: "col-state", test: "job-state", value: (j) => j.state, render: (td, j) => td.replaceChildren(stateBadge(j.state)) },
  { title: "Name", cls: "col-name", test: "job-name", value: (j) => (j.name ?? "") + "\n" + (j.argv || []).join(" "),
    render: (td, j) => td.replaceChildren(h("span", {}, j.name ? h("span", { class: "strong", text: j.name }) : null,
      h("code", { class: "argv-short", title: fmt.shellLine(j.argv), text: fmt.shellLine(j.argv) || "–" }))) },
  { title: "Group", cls: "col-group", test: "job-group", value: (j) => j.group,
    render: (td, j) => td.replaceChildren(j.group ? h("a", { href: "#/groups/" + enc(j.group), text: j.group }) : "–") },
  { title: "Pool", cls: "col-pool phone-hide", value: (j) => j.pool ?? "local" },
  { title: "Progress", cls: "col-progress", test: "job-progress", value: (j) => (j.progress ? `${j.progress.done}/${j.progress.total}` : ""),
    render: (td, j) => {
      if (!td.bar) { td.bar = progressBar(); td.append(td.bar.el); }
      td.bar.el.hidden = !j.progress;
      if (j.progress) td.bar.set(j.progress.done, j.progress.total);
    } },
  { title: "Try", cls: "num col-try phone-hide", value: (j) => j.attempt },
  { title: "Submitted", cls: "col-time", value: (j) => j.submitted_ms, render: (td, j) => timeCell(td, j.submitted_ms) },
  { title: "Ran", cls: "num col-dur", value: (j) => (j.state === "running" ? "running" : runTime(j)),
    render: (td, j) => setText(td, j.state === "running" ? "running" : fmt.duration(runTime(j))) },
  { title: "Outcome", cls: "col-exit", value: exitText, render: (td, j) => { setText(td, exitText(j) || "–"); td.title = exitText(j); } },
];

/** A keyed table of result objects (also the group page's). */
export function jobTable() {
  return new KeyedTable({ columns: JOB_COLUMNS, key: (j) => j.job, rowTest: "job-row", rowData: (j) => ({ job: String(j.job) }), cls: "job-table" });
}

const FILTERS = [
  // [field, label, protocol minor needed, maxlength]
  ["group", "Group", 0, 128],
  ["pool", "Pool", 4, 64],
  ["name", "Name", 4, 1024],
  ["text", "Text in name, group or argv", 4, 256],
];

export function mountList(root, ctx) {
  const minor = ctx.session.minor ?? 0;
  const f = {};
  for (const k of ["state", "group", "pool", "name", "text"]) f[k] = ctx.query.get(k) || "";

  const stateSel = h("select", { class: "input", test: "filter-state", "aria-label": "State",
    on: { change: () => { f.state = stateSel.value; list.restart(); } } },
  h("option", { value: "", text: "Any state" }), STATES.map((s) => h("option", { value: s, text: stateLabel(s) })));
  stateSel.value = f.state;
  const inputs = FILTERS.map(([k, label, need, max]) => {
    const el = filterInput(label, f[k], "filter-" + k, (v) => { f[k] = v; list.restart(); }, { maxlength: max, primary: k === "text" });
    if (minor < need) { el.disabled = true; el.title = `needs a jqd with protocol 1.${need}`; }
    return el;
  });
  const clearBtn = h("button", { class: "btn btn-small", type: "button", test: "filter-clear", text: "Clear",
    on: { click: () => {
      for (const k of Object.keys(f)) f[k] = "";
      stateSel.value = "";
      inputs.forEach((i) => { i.value = ""; });
      list.restart();
    } } });
  const filtered = () => Object.values(f).some(Boolean);

  const list = livePagedList(root, ctx, {
    title: "Jobs", table: jobTable(), tools: [stateSel, inputs, clearBtn], toolbarClass: "filters",
    cursor: Number(ctx.query.get("before")) || null,
    request: (before) => {
      const fields = { op: "jobs", limit: PAGE, before: before ?? undefined };
      for (const [k, v] of Object.entries(f)) if (v) fields[k] = v;
      return fields;
    },
    rows: (r) => r.jobs || [],
    more: (r, its) => its.length === PAGE,
    next: (its) => its[its.length - 1].job,
    empty: (first) => (filtered()
      ? emptyState("No job matches these filters", "Jobs are matched exactly on state, group, pool and name; text searches names, groups and argv. ",
        h("a", { href: "#/jobs", text: "Show every job" }))
      : !first ? emptyState("No older jobs", h("a", { href: "#/jobs", text: "Back to the newest" }))
        : emptyState("No jobs yet", "Submit one: ", h("code", { text: "jq-client submit -- echo hello" }), ". Finished jobs are kept for a while (retention), then purged.")),
    describe: () => "newest first",
    remember: (before) => ctx.setQuery({ ...f, before: before ?? undefined }),
  });
  return () => list.close();
}

/* ---- one job ---- */

/** One output stream shown in a <pre>: keeps the last OUTPUT_KEEP characters. */
function outputPane(stream) {
  const pre = h("pre", { class: "output", test: "job-" + stream, tabindex: "0", "aria-label": stream });
  const note = h("p", { class: "muted small output-note", test: `job-${stream}-note`, text: "\u00a0" });
  let text = "";
  let dropped = 0;
  let serverTruncated = false;
  let final = false;
  const el = h("div", { class: "output-box" }, h("div", { class: "output-head" }, h("span", { class: "output-name", text: stream }), note), pre);
  function paint(added) {
    const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
    if (added !== undefined) pre.append(added);      // the common case: output grows
    else pre.textContent = text;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
    const parts = [];
    if (dropped) parts.push(`the first ${fmt.bytes(dropped)} are not shown (the page keeps the last ${OUTPUT_KEEP / 1024} KiB)`);
    if (serverTruncated) parts.push("output past max_output was discarded by jqd");
    setText(note, parts.length ? parts.join("; ") : text ? fmt.bytes(text.length) : "empty");
    pre.classList.toggle("empty", !text);
    pre.dataset.empty = final ? "(empty)" : "(nothing yet)";
  }
  return {
    el,
    reset(s = "", truncated = false) { text = ""; dropped = 0; serverTruncated = truncated; pre.textContent = ""; this.add(s); },
    add(s) {
      if (!s) { paint(); return; }
      text += s;
      if (text.length > OUTPUT_KEEP) {
        dropped += text.length - OUTPUT_KEEP;
        text = text.slice(-OUTPUT_KEEP);
        paint();
      } else paint(s);
    },
    truncated(t) { serverTruncated = t; paint(); },
    setFinal(f) { final = f; paint(); },
  };
}

/** A duration that grows by itself (app.js ticks every [data-since]). */
function since(t) {
  return h("span", { data: { since: String(t) }, text: fmt.duration(Date.now() - t) + " so far" });
}

function timeVal(t) {
  return t ? h("span", {}, h("time", { datetime: new Date(t).toISOString(), title: fmt.when(t), data: { ago: String(t) }, text: fmt.ago(t) }),
    h("span", { class: "muted small", text: "  " + fmt.when(t) })) : "–";
}

export function mountPage(root, ctx) {
  const id = Number(ctx.params[0]);
  ctx.setTitle("Job " + id);
  let job = null;
  let stream = null;
  let left = false;      // the view was left: a late answer opens nothing

  const titleText = h("span", { test: "job-title", text: "Job #" + id });
  const badgeSlot = h("span", { test: "job-state", class: "title-badge" });
  const actionSlot = h("div", { class: "page-actions" });
  const bar = progressBar("job-progress");
  const barText = h("span", { class: "num muted", test: "job-progress-text", text: "\u00a0" });
  const summary = h("div");
  const timings = h("div");
  const command = h("div");
  const stdout = outputPane("stdout");
  const stderr = outputPane("stderr");

  root.append(h("p", { class: "crumbs" }, h("a", { href: "#/jobs", text: "Jobs" }), " / "),
    h("div", { class: "page-head" }, h("div", { class: "page-title" }, h("h1", {}, titleText, " ", badgeSlot)), actionSlot),
    h("div", { class: "progress-row" }, bar.el, barText),
    h("div", { class: "cols" }, card("Job", summary), card("Timings", timings), card("Command", command)),
    card("Output", h("div", { class: "outputs" }, stdout.el, stderr.el)));

  function renderActions(j) {
    if (ctx.session.readonly) return;
    const btns = [];
    if (!FINAL.has(j.state)) {
      btns.push(h("button", { class: "btn btn-danger", type: "button", test: "action-cancel", text: "Cancel",
        on: { click: async () => {
          const ok = await confirmAction({ title: `Cancel job #${id}?`, ok: "Cancel job", danger: true,
            body: "A queued job will not run; a running one is stopped (its process group gets SIGTERM, then SIGKILL). Its descendants are canceled too." });
          if (ok) await ctx.act("cancel", { job: id }, (r) => `Canceled ${r.canceled} job${r.canceled === 1 ? "" : "s"}`);
        } } }));
    }
    if (RETRYABLE.has(j.state)) {
      btns.push(h("button", { class: "btn btn-primary", type: "button", test: "action-retry", text: "Retry",
        on: { click: async () => {
          const r = await ctx.act("retry", { job: id }, (x) => `Retried as job #${x.job}`);
          if (r) location.hash = "#/jobs/" + r.job;
        } } }));
    }
    actionSlot.replaceChildren(...btns);
  }

  function render(update) {
    const before = job ? job.state : null;
    job = { ...job, ...update };
    const j = job;
    const stateChanged = before !== j.state;
    if (j.name) setText(titleText, `Job #${id} · ${j.name}`);
    if (stateChanged) {
      badgeSlot.replaceChildren(stateBadge(j.state));
      renderActions(j);
      stdout.setFinal(FINAL.has(j.state));
      stderr.setFinal(FINAL.has(j.state));
    }
    const p = j.progress;
    bar.set(p ? p.done : null, p ? p.total : null);
    setText(barText, p ? (p.total ? `${fmt.exact(p.done)} / ${fmt.exact(p.total)}` : `${fmt.exact(p.done)} done`) : "no progress reported");
    const link = (href, text, test) => h("a", { href, text, test });
    summary.replaceChildren(facts([
      ["Name", j.name ?? "–"],
      ["Group", j.group ? link("#/groups/" + enc(j.group), j.group) : "–"],
      ["Pool", j.pool ?? "local"],
      ["Worker", h("span", { test: "job-worker" }, j.worker ? link("#/workers", j.worker) : j.started_ms ? "jqd itself" : "–")],
      ["Priority", String(j.priority ?? 0)],
      ["Attempt", String(j.attempt)],
      ["Outcome", h("span", { test: "job-exit" }, exitText(j) || (FINAL.has(j.state) ? "–" : "not finished"))],
      ["Parent", j.parent ? link("#/jobs/" + j.parent, "#" + j.parent, "job-parent") : "–"],
      ["Retry of", j.retry_of ? link("#/jobs/" + j.retry_of, "#" + j.retry_of, "job-retry-of") : "–"],
    ]));
    timings.replaceChildren(facts([
      ["Submitted", timeVal(j.submitted_ms)],
      ["Started", timeVal(j.started_ms)],
      ["Finished", timeVal(j.finished_ms)],
      ["Waited", j.started_ms ? fmt.duration(j.started_ms - j.submitted_ms) : j.state === "queued" ? since(j.submitted_ms) : "–"],
      ["Ran", j.started_ms ? (j.finished_ms ? fmt.duration(j.finished_ms - j.started_ms) : since(j.started_ms)) : "–"],
      j.deadline_ms ? ["Deadline", timeVal(j.deadline_ms)] : null,
      j.not_before_ms ? ["Not before", timeVal(j.not_before_ms)] : null,
    ]));
  }

  function renderCommand(j) {
    command.replaceChildren(
      h("pre", { class: "code cmdline", test: "job-argv", text: fmt.shellLine(j.argv) || "–" }),
      h("details", { class: "argv-details" }, h("summary", { text: `argv (${(j.argv || []).length} elements)` }),
        h("ol", { class: "argv-list", test: "job-argv-list", start: "0" }, (j.argv || []).map((a) => h("li", {}, h("code", { text: a }))))),
      h("p", { class: "muted small", text: "Environment keys (values are never shown)" }),
      h("div", { class: "chips", test: "job-env-keys" }, j.env_keys && j.env_keys.length
        ? j.env_keys.map((k) => h("span", { class: "chip", text: k }))
        : h("span", { class: "muted", text: j.env_keys ? "none" : "not reported by this jqd" })));
  }

  // Live: the watch's snapshot repeats the output of the running attempt,
  // so the panes start again at its "running" state frame. Once the job
  // is final the watch is closed and the job read once: its reply (the
  // watch's "end") may carry a whole max_output of text, more than a
  // stream should hold.
  let seenRunning = false;
  function watch() {
    if (left) return;
    seenRunning = false;
    stream = api.live("/api/watch", { job: id }, {
      open: () => { seenRunning = false; },
      state: (fr) => {
        const r = fr.result || { state: fr.state };
        if (r.state === "running" && (!seenRunning || job.attempt !== r.attempt || job.state !== "running")) {
          stdout.reset(); stderr.reset(); seenRunning = true;
        }
        render(r);
        stdout.truncated(!!r.stdout_truncated);
        stderr.truncated(!!r.stderr_truncated);
        if (FINAL.has(r.state)) { stream.close(); reload(); }
      },
      progress: (fr) => render({ progress: fr.progress }),
      output: (fr) => (fr.stream === "stderr" ? stderr : stdout).add(fr.data),
      lagged: (fr) => ctx.showError(`The page missed ${fr.dropped_frames} output frames (${fmt.bytes(fr.dropped_bytes)}); the whole output shows when the job ends.`),
      end: () => reload(),
      error: (e) => ctx.showError("watch: " + e.message),
    });
  }

  /** Read the whole job (its output too); watch it while it is not final. */
  let loaded = false;
  function load() {
    return api.get("job", { job: id }).then((j) => {
      if (left) return;
      render(j);
      if (!loaded) renderCommand(j);
      stdout.reset(j.stdout || "", j.stdout_truncated);
      stderr.reset(j.stderr || "", j.stderr_truncated);
      if (!loaded && !FINAL.has(j.state)) watch();
      loaded = true;
    });
  }

  const reload = () => load().catch((e) => { if (e.status !== 401) ctx.showError(`job ${id}: ${e.message}`); });

  load().catch((e) => {
    if (e.status === 401 || left) return;
    root.replaceChildren(h("p", { class: "crumbs" }, h("a", { href: "#/jobs", text: "Jobs" }), " / "),
      emptyState(e.code === "not_found" ? `No job #${id}` : "Cannot show this job",
        e.code === "not_found" ? "It never existed, or it was purged after its retention. " : e.message + " ",
        h("a", { href: "#/jobs", text: "Back to jobs" })));
  });
  return () => { left = true; if (stream) stream.close(); };
}

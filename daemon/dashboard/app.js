// The jqd dashboard (PROTOCOL.md 16, DASH-API.md): the shell, the session,
// the hash router. Views live in view-*.js; each mounts into <main> and
// returns a function that undoes what it opened (its one stream, timers).
//
// data-test attributes (the browser tests find elements by these):
//   shell:     nav-overview nav-channels nav-jobs nav-groups nav-workers
//              nav-toggle theme-toggle logout readonly-badge host
//              conn-banner error-banner toast
//   login:     login-token login-submit login-error unavailable
//   overview:  stat-buffered stat-channels stat-connections stat-waiting
//              stat-workers stat-commit stat-uptime stat-version stat-host
//              stat-store stat-db
//              spark-sent spark-received spark-finished spark-commit
//              jobs-state (data-state=STATE, a link; its count: jobs-state-count)
//              remote-workers pools paused-pools
//   channels:  chan-filter chan-row (data-chan=NAME) chan-name chan-len
//              chan-cap chan-leased chan-senders chan-receivers
//              chan-send-rate chan-recv-rate chan-dead chan-closed
//              page-prev page-next page-first
//   channel:   chan-title chan-stat peek-list peek-value peek-empty
//              action-close action-drop
//   jobs:      filter-state filter-group filter-pool filter-name filter-text
//              filter-clear job-row (data-job=ID) job-id job-state
//              job-progress job-name job-group
//              page-prev page-next page-first
//   job:       job-title job-state job-progress job-progress-text job-argv
//              job-argv-list job-env-keys job-exit job-worker job-parent
//              job-retry-of job-stdout job-stderr job-stdout-note
//              job-stderr-note action-cancel action-retry
//   groups:    group-filter group-row (data-group=NAME) group-progress
//              group-waiters page-prev page-next page-first
//   group:     group-title group-progress group-waiters group-count (data-state=STATE)
//              action-cancel-group job-row ...
//   workers:   worker-row (data-worker=ID) worker-state worker-heartbeat
//              action-drain (data-worker=ID) pool-row (data-pool=NAME)
//              pool-state action-pause action-resume (both data-pool=NAME)
//              pool-name action-pause-named
//   dialogs:   confirm-dialog confirm-input confirm-ok confirm-cancel
//   any view:  empty-state

import * as api from "./api.js";
import { h, clear, setText } from "./dom.js";
import * as fmt from "./fmt.js";
import * as overview from "./view-overview.js";
import * as channels from "./view-channels.js";
import * as jobs from "./view-jobs.js";
import * as groups from "./view-groups.js";
import * as workers from "./view-workers.js";
import * as login from "./view-login.js";

/** Routes: [pattern on the hash path, mount(root, ctx), nav entry, title]. */
const ROUTES = [
  [/^$/, overview.mount, "overview", "Overview"],
  [/^channels$/, channels.mountList, "channels", "Channels"],
  [/^channels\/(.+)$/, channels.mountPage, "channels", "Channel"],
  [/^jobs$/, jobs.mountList, "jobs", "Jobs"],
  [/^jobs\/(\d+)$/, jobs.mountPage, "jobs", "Job"],
  [/^groups$/, groups.mountList, "groups", "Groups"],
  [/^groups\/(.+)$/, groups.mountPage, "groups", "Group"],
  [/^workers$/, workers.mount, "workers", "Workers"],
  [/^login$/, login.mountLogin, null, "Log in"],
];

const NAV = [
  ["overview", "#/", "Overview"],
  ["channels", "#/channels", "Channels"],
  ["jobs", "#/jobs", "Jobs"],
  ["groups", "#/groups", "Groups"],
  ["workers", "#/workers", "Workers"],
];

const THEMES = ["auto", "light", "dark"];
const THEME_KEY = "jqd-dashboard-theme";

const shell = {};
let unmount = null;
let mounted = null;       // the mounted view's ctx: a left view's late calls change nothing
let afterLogin = "#/";

function buildShell() {
  const navLinks = NAV.map(([id, href, text]) =>
    h("a", { href, class: "nav-link", test: "nav-" + id, data: { nav: id } }, text));
  shell.nav = h("nav", { class: "nav", id: "nav", "aria-label": "Views" }, navLinks);
  shell.navToggle = h("button", {
    class: "btn btn-ghost nav-toggle", type: "button", test: "nav-toggle",
    "aria-controls": "nav", "aria-expanded": "false", "aria-label": "Menu",
    on: { click: () => toggleNav() },
  }, h("span", { class: "burger", "aria-hidden": "true" }));
  shell.readonly = h("span", { class: "badge badge-ro", test: "readonly-badge", title: "jqd runs with http-readonly: actions are off", text: "read-only" });
  shell.host = h("span", { class: "host", test: "host" });
  shell.theme = h("button", { class: "btn btn-ghost", type: "button", test: "theme-toggle", on: { click: cycleTheme } });
  shell.logout = h("button", { class: "btn btn-ghost", type: "button", test: "logout", text: "Log out", on: { click: doLogout } });
  const brand = h("a", { class: "brand", href: "#/" },
    h("img", { src: "/assets/favicon.svg", alt: "", width: "20", height: "20" }), h("span", { text: "jqd" }));
  const skip = h("a", { class: "skip", href: "#view", text: "Skip to content",
    on: { click: (e) => { e.preventDefault(); shell.main.focus(); } } });
  const header = h("header", { class: "top" },
    h("div", { class: "top-inner" }, brand, shell.host, shell.navToggle, shell.nav,
      h("div", { class: "top-right" }, shell.readonly, shell.theme, shell.logout)));

  shell.conn = h("div", { class: "banner banner-warn", test: "conn-banner", role: "status", hidden: true },
    h("span", { class: "spinner", "aria-hidden": "true" }), "Connection to jqd lost — reconnecting…");
  shell.errorText = h("span");
  shell.error = h("div", { class: "banner banner-error", test: "error-banner", role: "alert", hidden: true },
    shell.errorText, h("button", { class: "btn btn-ghost btn-small", type: "button", "aria-label": "Dismiss", text: "✕", on: { click: () => { shell.error.hidden = true; } } }));
  shell.toast = h("div", { class: "banner banner-ok", test: "toast", role: "status", hidden: true });
  const banners = h("div", { class: "banners", "aria-live": "polite" }, shell.conn, shell.error, shell.toast);

  shell.main = h("main", { class: "view", id: "view", tabindex: "-1" });
  document.getElementById("app").replaceWith(h("div", { class: "app", id: "app" }, skip, header, banners, shell.main));
}

function toggleNav(open) {
  const now = open ?? shell.navToggle.getAttribute("aria-expanded") !== "true";
  shell.navToggle.setAttribute("aria-expanded", String(now));
  shell.nav.classList.toggle("open", now);
}

/* ---- theme: auto follows prefers-color-scheme; the choice is remembered ---- */

function applyTheme(t) {
  if (t === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  shell.theme.textContent = t === "auto" ? "◐ Auto" : t === "dark" ? "☾ Dark" : "☀ Light";
  shell.theme.title = "Colour theme: " + t + " (click to change)";
}

function cycleTheme() {
  const cur = localStorage.getItem(THEME_KEY) || "auto";
  const next = THEMES[(THEMES.indexOf(cur) + 1) % THEMES.length];
  localStorage.setItem(THEME_KEY, next);
  applyTheme(next);
}

/* ---- banners ---- */

let errorTimer = 0;
let toastTimer = 0;

function showError(msg) {
  shell.errorText.textContent = msg;
  shell.error.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { shell.error.hidden = true; }, 12000);
}

function showToast(msg) {
  shell.toast.textContent = msg;
  shell.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { shell.toast.hidden = true; }, 4000);
}

/** Run an action (POST); errors go to the banner; returns the reply or null. */
async function act(op, body, done) {
  try {
    const r = await api.post(op, body);
    if (done) showToast(typeof done === "function" ? done(r) : done);
    return r;
  } catch (e) {
    if (e.status !== 401) showError(`${op} failed: ${e.message}`);
    return null;
  }
}

/* ---- router ---- */

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
  return { path: path.replace(/\/$/, ""), query };
}

function decodeSafe(s) {
  try { return decodeURIComponent(s); } catch { return s; }   // a hand-typed "%" stays as it is
}

function route() {
  leaveView();
  toggleNav(false);
  const { path, query } = parseHash();
  const s = api.session;
  const needLogin = s.auth === "token" && !s.authenticated;

  if (s.auth === "unavailable") return mountView(login.mountUnavailable, null, "Token needed", [], query);
  if (needLogin && path !== "login") {
    afterLogin = location.hash || "#/";
    location.replace("#/login");
    return undefined;
  }
  if (!needLogin && path === "login") { location.replace(afterLogin); return undefined; }

  for (const [re, mount, nav, title] of ROUTES) {
    const m = re.exec(path);
    if (m) return mountView(mount, nav, title, m.slice(1).map(decodeSafe), query);
  }
  return mountView(notFound, null, "Not found", [], query);
}

function mountView(mount, nav, title, params, query) {
  document.body.classList.toggle("bare", nav === null);
  for (const a of shell.nav.querySelectorAll("a")) {
    if (a.dataset.nav === nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  clear(shell.main);
  const ctx = {
    params, query, session: api.session, act, showError,
    setTitle: (t) => { document.title = `${t} · jqd${api.session.host ? " · " + api.session.host : ""}`; },
    loggedIn: () => {
      syncShell();
      location.replace(afterLogin === "#/login" ? "#/" : afterLogin);
    },
    /** Replace the hash's query without re-mounting the view. */
    setQuery: (fields) => {
      if (mounted !== ctx) return;
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
      const base = location.hash.replace(/\?.*$/, "");
      history.replaceState(null, "", base + (q.toString() ? "?" + q : ""));
    },
  };
  ctx.setTitle(title);
  mounted = ctx;
  unmount = mount(shell.main, ctx) || null;
  // Keyboard and screen-reader users land on the new view, not on the old link.
  if (!shell.main.contains(document.activeElement) && document.activeElement !== document.body) shell.main.focus({ preventScroll: true });
  return undefined;
}

function notFound(root) {
  root.append(h("div", { class: "empty", test: "empty-state" },
    h("p", { class: "empty-title", text: "No such page" }),
    h("p", {}, "The address ", h("code", { text: location.hash }), " names no view. ", h("a", { href: "#/", text: "Go to the overview" }), ".")));
}

/* ---- session ---- */

function syncShell() {
  const s = api.session;
  shell.readonly.hidden = !s.readonly;
  shell.logout.hidden = s.auth !== "token" || !s.authenticated;
  setText(shell.host, s.host ? s.host : "");
  shell.host.title = s.version ? `jqd ${s.version}, protocol 1.${s.minor ?? 0}` : "";
  document.body.classList.toggle("readonly", !!s.readonly);
}

/** Close the view's stream (and timers): before a logout ends it on the server, and while the page is away. */
function leaveView() {
  mounted = null;
  if (unmount) { unmount(); unmount = null; }
  // A confirm dialog belongs to the view it asks about (Back leaves it
  // with the dialog open): it answers "no".
  for (const d of document.querySelectorAll("dialog[open]")) d.close();
}

async function doLogout() {
  leaveView();
  await api.logout().catch(() => {});
  afterLogin = "#/";
  syncShell();
  route();
}

api.onUnauthorized(() => {
  if (api.session.auth === "none") return;
  api.session.authenticated = false;
  api.session.csrf = null;
  syncShell();
  if (parseHash().path !== "login") {
    afterLogin = location.hash || "#/";
    location.hash = "#/login";
  }
});

api.onConnection((lostCount) => { shell.conn.hidden = lostCount === 0; });

/* ---- keyboard: "/" focuses the view's filter, Escape closes the menu ---- */

function onKey(e) {
  const t = e.target;
  const typing = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement || t.isContentEditable;
  if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
    const f = shell.main.querySelector("[data-filter]");
    if (f) { e.preventDefault(); f.focus(); f.select && f.select(); }
  } else if (e.key === "Escape" && shell.nav.classList.contains("open")) {
    toggleNav(false);
    shell.navToggle.focus();
  }
}

/* ---- relative times ("3 s ago", "12 s so far") tick locally, without asking jqd ---- */

function tickAgo() {
  const now = Date.now();
  for (const el of document.querySelectorAll("[data-ago]")) setText(el, fmt.ago(Number(el.dataset.ago), now));
  for (const el of document.querySelectorAll("[data-since]")) setText(el, fmt.duration(now - Number(el.dataset.since)) + " so far");
}

async function boot() {
  buildShell();
  applyTheme(localStorage.getItem(THEME_KEY) || "auto");
  document.addEventListener("keydown", onKey);
  setInterval(tickAgo, 1000);
  try {
    await api.loadSession();
  } catch (e) {
    shell.main.append(h("div", { class: "empty", test: "empty-state" },
      h("p", { class: "empty-title", text: "Cannot reach jqd" }),
      h("p", { text: e.message + ". Reload the page once jqd runs again." })));
    return;
  }
  syncShell();
  window.addEventListener("hashchange", route);
  // A page left for another keeps its streams open in the back/forward
  // cache, and the browser allows 6 connections to a host: close them
  // while away, open them again on the way back.
  window.addEventListener("pagehide", leaveView);
  window.addEventListener("pageshow", (e) => { if (e.persisted) route(); });
  route();
}

boot();

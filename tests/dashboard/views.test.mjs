// The dashboard's views in Chromium against a live jqd: what a view leaves
// behind when it is left, and what it shows that needs a page to see
// (PROTOCOL.md 16). Needs JQD (make check sets it), Chromium
// (JQTEST_CHROMIUM, default /usr/bin/chromium) and puppeteer-core
// (JQTEST_NODE_MODULES, default tests/browser/node_modules); skipped
// without them. jqd runs with --insecure-tcp and no token: the API needs
// no login on loopback, so every test starts on its view at once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const JQD = process.env.JQD ? path.resolve(process.env.JQD) : "";
const CHROMIUM = process.env.JQTEST_CHROMIUM || "/usr/bin/chromium";
const MODULES = process.env.JQTEST_NODE_MODULES || path.resolve(HERE, "..", "browser", "node_modules");
const WAIT_MS = 20000;     // two noisy cores, jqd perhaps under a sanitizer

function missing() {
  if (!JQD) return "JQD is not set";
  if (!fs.existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM}`;
  if (!fs.existsSync(path.join(MODULES, "puppeteer-core", "package.json"))) return `no puppeteer-core in ${MODULES}`;
  return null;
}
const skip = missing() ?? false;

let dir;
let jqd;
let url;
let browser;
let conn;
let sock;

/** One protocol request on the Unix socket; resolves with its reply. */
function request(obj, c = conn) {
  return new Promise((resolve, reject) => {
    const id = ++c.id;
    c.waiting.set(id, { resolve, reject });
    c.sock.write(JSON.stringify({ ...obj, id }) + "\n");
  });
}

function connect(sockPath) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(sockPath, () => resolve({ sock, id: 0, waiting: new Map() }));
    sock.once("error", reject);
  }).then((c) => {
    let buf = "";
    c.sock.setEncoding("utf8");
    c.sock.on("data", (d) => {
      buf += d;
      for (let nl; (nl = buf.indexOf("\n")) >= 0; buf = buf.slice(nl + 1)) {
        const r = JSON.parse(buf.slice(0, nl));
        const w = c.waiting.get(r.id);
        c.waiting.delete(r.id);
        if (w) (r.ok ? w.resolve : w.reject)(r);
      }
    });
    return c;
  });
}

/** Start jqd (again: on the HTTP address it had) and connect to it. */
async function startJqd(metrics = "127.0.0.1:0") {
  jqd = spawn(JQD, ["--unix", sock, "--db", path.join(dir, "db"), "--job-dir", path.join(dir, "jobs"),
    "--workers", "2", "--metrics", metrics, "--insecure-tcp"],
  { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, XDG_CONFIG_HOME: path.join(dir, "config") } });
  let log = "";
  jqd.stderr.setEncoding("utf8");
  await new Promise((resolve, reject) => {
    jqd.stderr.on("data", (s) => {
      log += s;
      const m = /metrics on (http:\/\/127\.0\.0\.1:\d+)\//.exec(log);
      if (m) url = m[1];
      if (/info: ready\n/.test(log)) resolve();
    });
    jqd.once("exit", (code) => reject(new Error(`jqd exited ${code}:\n${log}`)));
  });
  conn = await connect(sock);
}

before(async () => {
  if (skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "jqdash-"));
  fs.mkdirSync(path.join(dir, "jobs"));
  sock = path.join(dir, "s");
  await startJqd();
  const puppeteer = createRequire(path.join(MODULES, "x.js"))("puppeteer-core");
  const env = { ...process.env };
  for (const k of ["LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS"]) delete env[k];
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, env,
    args: ["--no-sandbox", "--disable-gpu", `--user-data-dir=${path.join(dir, "chromium")}`] });
});

after(async () => {
  if (browser) await browser.close();
  if (conn) conn.sock.destroy();
  if (jqd && jqd.exitCode === null) {
    const exited = new Promise((r) => jqd.once("exit", r));
    jqd.kill("SIGKILL");
    await exited;
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * A page whose EventSources (window.__streams), fetches in flight
 * (window.__fetching) and 250 ms timers not yet run (window.__debounce:
 * the filters') the test can see.
 */
async function newPage(hash, setup) {
  const page = await browser.newPage();
  if (setup) await setup(page);
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  await page.evaluateOnNewDocument(() => {
    const ES = window.EventSource;
    window.__streams = [];
    window.EventSource = class extends ES {
      constructor(u, o) { super(u, o); window.__streams.push(this); }
    };
    const f = window.fetch;
    window.__fetching = 0;
    window.fetch = (...a) => {       // counted until the body is read
      window.__fetching++;
      return f(...a).then(async (r) => new Response(await r.text(), { status: r.status, headers: r.headers }))
        .finally(() => { window.__fetching--; });
    };
    const st = window.setTimeout;
    const ct = window.clearTimeout;
    const timers = new Set();
    window.__debounce = () => timers.size;
    window.setTimeout = (fn, ms, ...a) => {
      const t = st(() => { timers.delete(t); fn(...a); }, ms);
      if (ms === 250) timers.add(t);
      return t;
    };
    window.clearTimeout = (t) => { timers.delete(t); ct(t); };
  });
  await page.goto(url + "/" + hash);
  return page;
}

/** Wait until no fetch is in flight and the page has run what followed them. */
async function settled(page) {
  await page.waitForFunction(() => window.__fetching === 0, { timeout: WAIT_MS });
  await page.evaluate(() => new Promise((r) => setTimeout(() => setTimeout(r, 0), 0)));
}

const opened = (page, re) => page.waitForFunction((s) => window.__streams.some((e) => e.readyState === EventSource.OPEN && new RegExp(s).test(e.url)),
  { timeout: WAIT_MS }, re);

const openStreams = (page) => page.evaluate(() =>
  window.__streams.filter((e) => e.readyState !== EventSource.CLOSED).map((e) => e.url.replace(/^.*\/api\//, "")));

test("a job page left before its job is read leaves no watch open", { skip }, async () => {
  const { job } = await request({ op: "submit", argv: ["sleep", "60"] });
  const page = await newPage("#/channels");
  try {
    await opened(page, "op=chans");
    // To the running job's page and away at once, before GET job answers.
    for (let i = 0; i < 3; i++) {
      await page.evaluate((j) => {
        location.hash = "#/jobs/" + j;
        setTimeout(() => { location.hash = "#/channels"; }, 0);
      }, job);
      await page.waitForFunction(() => location.hash === "#/channels", { timeout: WAIT_MS });
      await settled(page);
    }
    // A whole visit (its watch opens, and closes when it is left), then back.
    await page.evaluate((j) => { location.hash = "#/jobs/" + j; }, job);
    await opened(page, "watch\\?job=");
    await page.evaluate(() => { location.hash = "#/channels"; });
    await opened(page, "op=chans");
    await settled(page);
    // Before the fix each quick visit opened /api/watch?job=N once its job
    // was read, after the view was gone: 6 of them take every connection
    // Chromium allows to a host, and the page stops.
    assert.deepEqual(await openStreams(page), ["live?op=chans&limit=100"]);
    assert.deepEqual(page.errors, []);
  } finally {
    await page.close();
    await request({ op: "cancel", job });
  }
});

test("a filter typed just before leaving its view changes nothing", { skip }, async () => {
  const page = await newPage("#/channels");
  try {
    const filter = await page.waitForSelector('[data-test="chan-filter"]', { timeout: WAIT_MS });
    await filter.type("abc");
    await page.evaluate(() => { location.hash = "#/groups"; });
    await page.waitForFunction(() => window.__debounce() === 0, { timeout: WAIT_MS });
    await opened(page, "op=groups");
    await settled(page);
    // Before the fix the filter's late change opened a chans stream for the
    // left view and wrote its query into the groups view's address.
    assert.equal(await page.evaluate(() => location.hash), "#/groups");
    assert.deepEqual(await openStreams(page), ["live?op=groups&limit=100"]);
    assert.deepEqual(page.errors, []);
  } finally {
    await page.close();
  }
});

test("a group's page says who waits on it, and is not one of them", { skip }, async () => {
  const { job } = await request({ op: "submit", argv: ["sleep", "60"], group: "waited" });
  const page = await newPage("#/groups/waited");
  const waiters = () => page.$eval('[data-test="group-waiters"]', (e) => e.textContent);
  try {
    await page.waitForFunction(() => /nobody waits/.test(document.querySelector('[data-test="group-waiters"]')?.textContent),
      { timeout: WAIT_MS });
    const other = await connect(sock);      // a wait holds the requests behind it on its connection (4.3)
    const wait = request({ op: "wait", group: "waited", output: false }, other).catch((r) => r);
    await page.waitForFunction(() => /\b1 waiting on it\b/.test(document.querySelector('[data-test="group-waiters"]').textContent),
      { timeout: WAIT_MS });
    await request({ op: "cancel", job });
    await wait;
    other.sock.destroy();
    await page.waitForFunction(() => /nobody waits/.test(document.querySelector('[data-test="group-waiters"]').textContent),
      { timeout: WAIT_MS });
    assert.match(await waiters(), /nobody waits on it/);
    assert.deepEqual(page.errors, []);
  } finally {
    await page.close();
  }
});

test("an idle channel's rates read 0/s, not unknown", { skip }, async () => {
  await request({ op: "make", chan: "idle", cap: 10 });
  const page = await newPage("#/channels?prefix=idle");
  try {
    await page.waitForSelector('[data-test="chan-row"][data-chan="idle"]', { timeout: WAIT_MS });
    // One reading gives no rate; no reply after it means nothing moved.
    await page.waitForFunction(() => {
      const row = document.querySelector('[data-test="chan-row"][data-chan="idle"]');
      return row.querySelector('[data-test="chan-send-rate"]').textContent === "0/s"
        && row.querySelector('[data-test="chan-recv-rate"]').textContent === "0/s";
    }, { timeout: WAIT_MS });
  } finally {
    await page.close();
  }
});

test("an idle channel's page reads its rates as 0/s, not unknown", { skip }, async () => {
  await request({ op: "make", chan: "idle2", cap: 10 });
  const page = await newPage("#/channels/idle2");
  try {
    await page.waitForFunction(() => {
      const dd = [...document.querySelectorAll('[data-test="chan-stat"] dd')].map((e) => e.textContent);
      return dd.includes("0  (0/s)") && dd.filter((t) => t === "0  (0/s)").length === 2;
    }, { timeout: WAIT_MS });
    assert.deepEqual(page.errors, []);
  } finally {
    await page.close();
  }
});

test("a channel's head values follow its last change, also one made while a peek was on its way", { skip }, async () => {
  await request({ op: "make", chan: "heads", cap: 10 });
  await request({ op: "send", chan: "heads", value: 1 });
  // The page's first peek is answered as jqd answered it then (one value),
  // but only after a second value came and the page saw it.
  let release;
  const firstPeek = new Promise((r) => { release = r; });
  let peeks = 0;
  const page = await newPage("#/channels/heads", async (p) => {
    await p.setRequestInterception(true);
    p.on("request", async (req) => {
      if (!/\/api\/peek\?/.test(req.url()) || ++peeks > 1) return req.continue();
      const res = await fetch(req.url());
      release({ req, status: res.status, body: await res.text() });
      return undefined;
    });
  });
  try {
    const held = await firstPeek;
    await request({ op: "send", chan: "heads", value: 2 });
    await page.waitForFunction(() => document.querySelector('[data-test="chan-stat"] dd')?.textContent === "2", { timeout: WAIT_MS });
    await held.req.respond({ status: held.status, contentType: "application/json", body: held.body });
    // Before the fix the change seen while the first peek was out asked
    // for nothing: the head values stayed at one for good.
    await page.waitForFunction(() => document.querySelectorAll('[data-test="peek-value"]').length === 2, { timeout: WAIT_MS });
    assert.deepEqual(page.errors, []);
  } finally {
    await page.close();
  }
});

test("a confirm dialog goes, answering no, when its view is left", { skip }, async () => {
  await request({ op: "make", chan: "asked", cap: 10 });
  const page = await newPage("#/channels/asked");
  try {
    await (await page.waitForSelector('[data-test="action-close"]:not([disabled])', { timeout: WAIT_MS })).click();
    await page.waitForSelector('[data-test="confirm-dialog"][open]', { timeout: WAIT_MS });
    await page.evaluate(() => { location.hash = "#/jobs"; });
    await opened(page, "op=jobs");
    // Before the fix it stayed over the jobs view, and its OK closed the
    // channel of a view no longer shown.
    assert.equal(await page.$('[data-test="confirm-dialog"]'), null);
    assert.equal((await request({ op: "stat", chan: "asked" })).closed, false);
    assert.deepEqual(page.errors, []);
  } finally {
    await page.close();
  }
});

// Last: it restarts jqd.
test("a restart of jqd keeps the view, says the connection is lost, and the page acts again after it", { skip }, async () => {
  await request({ op: "make", chan: "kept", cap: 10 });
  const page = await newPage("#/channels/kept");
  try {
    await page.waitForSelector('[data-test="chan-stat"] dl', { timeout: WAIT_MS });
    const exited = new Promise((r) => jqd.once("exit", r));
    jqd.kill("SIGTERM");
    await page.waitForSelector('[data-test="conn-banner"]:not([hidden])', { timeout: WAIT_MS });
    await exited;
    // Before the fix the stream's "shutting_down" error replaced the view
    // with "Cannot show this channel", and nothing tried again.
    assert.equal(await page.$('[data-test="empty-state"]'), null);
    assert.notEqual(await page.$('[data-test="chan-stat"] dl'), null);
    conn.sock.destroy();
    await startJqd(new URL(url).host);
    await page.waitForSelector('[data-test="conn-banner"][hidden]', { timeout: WAIT_MS });
    // Without a token the CSRF secret is jqd's process's: the page takes
    // the new one when its stream is back (before: 403 until a reload).
    await (await page.waitForSelector('[data-test="action-close"]:not([disabled])', { timeout: WAIT_MS })).click();
    await (await page.waitForSelector('[data-test="confirm-ok"]', { timeout: WAIT_MS })).click();
    await page.waitForFunction(() => /closed/.test(document.querySelector('[data-test="chan-title"]').parentNode.textContent), { timeout: WAIT_MS });
    assert.equal((await request({ op: "stat", chan: "kept" })).closed, true);
    assert.deepEqual(page.errors, []);
  } finally {
    await page.close();
  }
});

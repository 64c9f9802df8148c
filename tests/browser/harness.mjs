// The browser tests' harness (not a test file): a live jqd with the
// dashboard (PROTOCOL.md 16), a protocol client of it (client/node), a
// jq-worker agent, and Debian's Chromium driven by puppeteer-core.
//
// Everything a test starts is private to it: jqd on a Unix socket in a
// temporary directory and its HTTP listener on 127.0.0.1 port 0 (the port
// read from jqd's log), Chromium with a profile in that directory.  Waits
// are on events (jqd's log lines, selectors, the page's own events); the
// only polling is of server state through the protocol, under a bound.
//
// Environment: JQD, JQ_WORKER (set by make check); JQTEST_NODE_MODULES (a
// node_modules holding puppeteer-core; default tests/browser/node_modules);
// JQTEST_CHROMIUM (default /usr/bin/chromium); JQTEST_SCREENSHOTS (where
// the screenshots go; default ./screenshots); JQTEST_SCREENSHOT_DOCS (a
// directory: the README's overview.png and job.png are written there too).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SRC_TOP = path.resolve(HERE, '..', '..');

export const JQD = process.env.JQD ? path.resolve(process.env.JQD) : '';
export const JQ_WORKER = process.env.JQ_WORKER ? path.resolve(process.env.JQ_WORKER) : '';
export const CHROMIUM = process.env.JQTEST_CHROMIUM || '/usr/bin/chromium';
export const NODE_MODULES = process.env.JQTEST_NODE_MODULES
  || path.join(HERE, 'node_modules');
export const SHOTS = process.env.JQTEST_SCREENSHOTS || path.resolve('screenshots');
export const DOC_SHOTS = process.env.JQTEST_SCREENSHOT_DOCS || '';

// Generous bounds: two noisy cores, jqd perhaps under a sanitizer.
export const WAIT_MS = 20000;
export const TEST_MS = 90000;
const START_MS = 30000;
const STOP_MS = 15000;

export const WIDTHS = [
  { name: 'wide', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
];

const SANITIZER_MARKERS = ['AddressSanitizer', 'LeakSanitizer',
  'ThreadSanitizer', 'runtime error'];
// Not for Chromium: jqd's sanitizer runtime settings (make check sets
// them for every test) and an LD_PRELOAD would make the browser fail.
const SANITIZER_ENV = ['LD_PRELOAD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS',
  'TSAN_OPTIONS', 'LSAN_OPTIONS', 'MSAN_OPTIONS'];

const { Client } = require(path.join(SRC_TOP, 'client', 'node', 'jqclient.js'));
export { Client };

/** puppeteer-core, from NODE_MODULES (the runner checked it is there). */
export function puppeteer() {
  return require(path.join(NODE_MODULES, 'puppeteer-core'));
}

// Children still running when this process ends are killed, their
// directories removed (a failing test leaves no jqd behind).
const live = new Set();
process.on('exit', () => {
  for (const f of live) f();
});

/** A temporary directory of this test process, removed at exit. */
export function tempDir(prefix = 'jqbrowser-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const rm = () => fs.rmSync(dir, { recursive: true, force: true });
  live.add(rm);
  return dir;
}

/**
 * Read a child's stderr line by line (jqd's time stamp taken off);
 * resolves once onLine(line) returns true, rejects if the child exits or
 * START_MS pass first.  log.text accumulates everything.
 */
function awaitLine(child, log, what, onLine) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} not ready after ${START_MS} ms:\n${log.text}`));
    }, START_MS);
    let buf = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s) => {
      log.text += s;
      buf += s;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        // jqd starts each line with its local time when stderr is not
        // journald's.
        const line = buf.slice(0, nl).replace(/^\d{4}-\d\d-\d\dT\S+ /, '');
        buf = buf.slice(nl + 1);
        if (onLine(line)) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code ?? signal}) before ready:\n${log.text}`));
    });
  });
}

/**
 * Start jqd with the dashboard on 127.0.0.1 (a free port).
 * opts.token: a token (default: a random one; null: none);
 * opts.insecure: --insecure-tcp; opts.args: more options.
 * Resolves {url, tcp, token, sock, dir, client, child, stderr(), stop()}:
 * client is a protocol client on the Unix socket (jqd's own user needs no
 * token there); tcp the address of the --insecure-tcp listener.
 */
export async function startJqd(opts = {}) {
  if (!JQD) throw new Error('JQD is not set');
  const dir = tempDir('jqbrowser-jqd-');
  const sock = path.join(dir, 'jqd.sock');
  fs.mkdirSync(path.join(dir, 'jobs'));
  const token = opts.token === undefined ? crypto.randomBytes(32).toString('hex') : opts.token;
  const args = ['--unix', sock, '--db', path.join(dir, 'jqd.db'),
    '--job-dir', path.join(dir, 'jobs'), '--workers', String(opts.workers ?? 4),
    '--sync', 'normal', '--metrics', '127.0.0.1:0'];
  if (token !== null) {
    fs.writeFileSync(path.join(dir, 'token'), `${token}\n`, { mode: 0o600 });
    args.push('--token-file', path.join(dir, 'token'));
  }
  if (opts.insecure) args.push('--insecure-tcp', '--listen', '127.0.0.1:0');
  args.push(...(opts.args || []));
  const child = spawn(JQD, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  const kill = () => child.kill('SIGKILL');
  live.add(kill);
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const log = { text: '' };
  let url = null;
  let tcp = null;
  await awaitLine(child, log, 'jqd', (line) => {
    const l = /^info: listening on tcp (127\.0\.0\.1:\d+)$/.exec(line);
    if (l) tcp = l[1];
    // "info: metrics on http://127.0.0.1:PORT/metrics" (the listener
    // that serves the dashboard at /, PROTOCOL.md 16)
    const m = /^info: .*\b(https?):\/\/(127\.0\.0\.1:\d+)\//.exec(line);
    if (m && !url) url = `${m[1]}://${m[2]}`;
    return line === 'info: ready';
  });
  if (!url) {
    kill();
    throw new Error(`jqd ready without logging its HTTP address:\n${log.text}`);
  }
  const client = await new Client(`unix:${sock}`, { token: null }).ready;
  let stopped = null;
  return {
    url, tcp, token, sock, dir, client, child,
    stderr: () => log.text,
    /** Close the client, SIGTERM jqd; throws if it did not exit 0 or a
     * sanitizer reported something. */
    stop() {
      if (stopped) return stopped;
      stopped = (async () => {
        await client.close().catch(() => {});
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(kill, STOP_MS);
        const st = await exited;
        clearTimeout(timer);
        live.delete(kill);
        for (const m of SANITIZER_MARKERS) {
          if (log.text.includes(m)) throw new Error(`jqd reported ${m}:\n${log.text}`);
        }
        if (st.code !== 0) throw new Error(`jqd exited ${st.code ?? st.signal}:\n${log.text}`);
      })();
      return stopped;
    },
  };
}

/**
 * A jq-worker agent of srv serving `pools`; resolves once jqd lists it in
 * `workers`.  Returns {id, exited (a promise of its exit code), stop()}.
 */
export async function startAgent(srv, id, { pools = ['gpu'], slots = 2, labels = {} } = {}) {
  if (!JQ_WORKER) throw new Error('JQ_WORKER is not set');
  const dir = fs.mkdtempSync(path.join(srv.dir, `agent-${id}-`));
  const args = ['-S', srv.sock, '--id', id, '--slots', String(slots),
    '--job-dir', dir, '--state-dir', path.join(dir, 'state'), '--prefetch', '0'];
  for (const p of pools) args.push('--pool', p);
  for (const [k, v] of Object.entries(labels)) args.push('--label', `${k}=${v}`);
  const child = spawn(JQ_WORKER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const kill = () => child.kill('SIGKILL');
  live.add(kill);
  const log = { text: '' };
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s) => { log.text += s; });
  const exited = new Promise((r) => child.once('exit', r));
  await waitFor(async () => (await srv.client.workers()).some((w) => w.worker === id),
    `worker ${id} registered (its log: ${log.text})`);
  return {
    id,
    exited,
    /** SIGTERM, wait for the exit; throws if a sanitizer reported something. */
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(kill, STOP_MS);
      await exited;
      clearTimeout(timer);
      live.delete(kill);
      for (const m of SANITIZER_MARKERS) {
        if (log.text.includes(m)) throw new Error(`jq-worker reported ${m}:\n${log.text}`);
      }
    },
  };
}

/** promise, or a rejection naming `what` after timeoutMs. */
export function within(promise, what, timeoutMs = WAIT_MS) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Poll fn() (server state, through the protocol) until truthy. */
export async function waitFor(fn, what, timeoutMs = WAIT_MS) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Launch Chromium headless with a private profile; its environment has
 * no sanitizer settings.  Resolves the puppeteer Browser.
 */
export async function launchBrowser() {
  const dir = tempDir('jqbrowser-chromium-');
  const env = { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'config'),
    XDG_CACHE_HOME: path.join(dir, 'cache') };
  for (const k of SANITIZER_ENV) delete env[k];
  const args = ['--disable-dev-shm-usage', '--disable-gpu',
    '--no-first-run', '--no-default-browser-check', '--disable-extensions',
    '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--metrics-recording-only', '--password-store=basic'];
  // Chromium's sandbox does not run as root; as another user it stays.
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  const browser = await puppeteer().launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: path.join(dir, 'profile'),
    env,
    args,
    protocolTimeout: 60000,
    defaultViewport: { width: 1280, height: 800 },
  });
  const close = () => { try { browser.process()?.kill('SIGKILL'); } catch { /* gone */ } };
  live.add(close);
  const origClose = browser.close.bind(browser);
  browser.close = async () => { await origClose(); live.delete(close); };
  return browser;
}

/**
 * A new page of ctx (a browser or a browser context) that records what
 * must never happen: console errors, uncaught exceptions and CSP
 * violations (the securitypolicyviolation event, listened for before any
 * script of the page runs).  page.problems() lists them;
 * page.expectProblem(re) lets matching console errors through (a test
 * that makes the server answer 401 or 403 on purpose: Chromium logs
 * "Failed to load resource" for those).
 */
export async function openPage(ctx, { width = 1280, height = 800 } = {}) {
  const page = await ctx.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.setDefaultNavigationTimeout(WAIT_MS);
  await page.setViewport({ width, height });
  const problems = [];
  const allowed = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = `console error: ${msg.text()} (${msg.location()?.url || '?'})`;
    if (!allowed.some((re) => re.test(text))) problems.push(text);
  });
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  await page.exposeFunction('__jqtestViolation', (v) => problems.push(`CSP violation: ${v}`));
  await page.evaluateOnNewDocument(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__jqtestViolation(`${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
    });
    // Layout shifts (layoutShiftSince): what moved under the reader's eyes.
    window.__jqtestShifts = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (!e.hadRecentInput) window.__jqtestShifts.push({ t: e.startTime, v: e.value });
      }
    }).observe({ type: 'layout-shift', buffered: true });
  });
  page.problems = () => problems.slice();
  page.expectProblem = (re) => allowed.push(re);
  return page;
}

/** The page's clock now (performance.now()), for layoutShiftSince. */
export function pageNow(page) {
  return page.evaluate(() => performance.now());
}

/** The layout shift score of what moved since t (a pageNow()). */
export function layoutShiftSince(page, t) {
  return page.evaluate((t0) => window.__jqtestShifts
    .filter((s) => s.t > t0).reduce((a, s) => a + s.v, 0), t);
}

/**
 * Run fn(page) on a new page of ctx (openPage), then check that the page
 * recorded no problem (console errors, exceptions, CSP violations); the
 * page is closed either way.
 */
export async function withPage(ctx, fn, opts) {
  const page = await openPage(ctx, opts);
  try {
    await fn(page);
    assert.deepEqual(page.problems(), [], 'console errors, exceptions, CSP violations');
  } finally {
    await page.close();
  }
}

/** withPage() in a browser context of its own (no cookie of the others). */
export async function withContextPage(browser, fn, opts) {
  const ctx = await browser.createBrowserContext();
  try {
    await withPage(ctx, fn, opts);
  } finally {
    await ctx.close();
  }
}

/** Wait for two animation frames: what the page just changed is painted. */
export function painted(page) {
  return page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

/** The trimmed text of the first element matching sel. */
export function textOf(page, sel) {
  return page.$eval(sel, (e) => e.textContent.trim());
}

/**
 * Wait until what `read` gives of the first element matching sel meets
 * `op` `arg`, checked in the page on every DOM change (a MutationObserver
 * run through the DevTools protocol: the page's CSP forbids eval, so no
 * predicate travels as text).  read: 'text' (trimmed textContent),
 * 'progress' (a <progress>'s value in percent of its max, else
 * aria-valuenow, as a number),
 * 'count' (how many elements match), 'attr:NAME'.  op: 'eq', 'ne',
 * 'has' (substring), 're' (a regular expression's source, matched
 * case-insensitively), 'ge' (number).  Resolves what was read.
 */
export async function waitDom(page, sel, read, op, arg, what = sel, timeoutMs = WAIT_MS) {
  const r = await page.evaluate((s, rd, o, a, ms) => new Promise((resolve) => {
    const get = () => {
      if (rd === 'count') return document.querySelectorAll(s).length;
      const e = document.querySelector(s);
      if (!e) return undefined;
      if (rd === 'text') return e.textContent.trim();
      if (rd === 'progress') {
        const v = e instanceof HTMLProgressElement ? (100 * e.value) / e.max
          : e.getAttribute('aria-valuenow');
        return v === null ? undefined : Number(v);
      }
      return e.getAttribute(rd.slice(5));
    };
    const ok = (v) => v !== undefined && v !== null && (
      (o === 'eq' && v === a) || (o === 'ne' && v !== a)
      || (o === 'has' && String(v).includes(a)) || (o === 're' && new RegExp(a, 'i').test(String(v)))
      || (o === 'ge' && Number(v) >= a));
    let obs = null;
    let timer = null;
    const check = () => {
      const v = get();
      if (!ok(v)) return false;
      if (obs) obs.disconnect();
      clearTimeout(timer);
      resolve({ ok: true, v });
      return true;
    };
    if (check()) return;
    obs = new MutationObserver(check);
    obs.observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
    timer = setTimeout(() => { obs.disconnect(); resolve({ ok: false, v: get() }); }, ms);
  }), sel, read, op, arg, timeoutMs);
  if (!r.ok) {
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${sel} ${read} ${op} ${JSON.stringify(arg)}); now: ${JSON.stringify(r.v)}`);
  }
  return r.v;
}

/** The dashboard's origin and a hash route: url(srv, '#/jobs'). */
export function viewUrl(srv, hash = '#/') {
  return `${srv.url}/${hash}`;
}

/** Log in through the login view of page (the token field and button). */
export async function loginUi(page, srv, token = srv.token) {
  await page.goto(viewUrl(srv, '#/'));
  await page.waitForSelector('[data-test="login-token"]', { visible: true });
  await page.type('[data-test="login-token"]', token);
  await page.click('[data-test="login-submit"]');
}

/**
 * Log the browser context of page in without the UI (POST /api/login
 * from the login view: the session cookie is then the context's); the
 * page is left on about:blank.
 */
export async function loginApi(page, srv) {
  if (!page.url().startsWith(srv.url)) await page.goto(viewUrl(srv, '#/login'));
  const status = await page.evaluate(async (token) => {
    const r = await fetch('/api/login', { method: 'POST',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) });
    return r.status;
  }, srv.token);
  if (status !== 200) throw new Error(`POST /api/login answered ${status}`);
  // The page still believes it is logged out: the next view loads afresh.
  await page.goto('about:blank');
}

/**
 * fetch() run by the page itself (its origin, its cookies): resolves
 * {status, body}.  opts.csrf: send the session's X-CSRF-Token (read from
 * /api/session).
 */
export function pageFetch(page, method, urlPath, body, { csrf = false } = {}) {
  return page.evaluate(async (m, u, b, wantCsrf) => {
    const headers = {};
    if (b !== undefined) headers['Content-Type'] = 'application/json';
    if (wantCsrf) {
      const s = await (await fetch('/api/session')).json();
      headers['X-CSRF-Token'] = s.csrf;
    }
    const r = await fetch(u, { method: m, headers, body: b === undefined ? undefined : JSON.stringify(b) });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, body: json, text };
  }, method, urlPath, body, csrf);
}

/** Save a screenshot of page as SHOTS/NAME.png (and DOC_SHOTS/docName). */
export async function screenshot(page, name, docName) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await painted(page);
  // The whole page, up to three screens long (a list of 100 cards at
  // phone width is 40 screens).
  const { w, h } = await page.evaluate(() => ({
    w: document.documentElement.clientWidth,
    h: Math.min(document.documentElement.scrollHeight, 3 * window.innerHeight),
  }));
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), captureBeyondViewport: true,
    clip: { x: 0, y: 0, width: w, height: h } });
  if (docName && DOC_SHOTS) {
    fs.mkdirSync(DOC_SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(DOC_SHOTS, `${docName}.png`) });
  }
}

/**
 * Problems of a phone-width layout: the document wider than the window
 * (the page scrolls sideways; tables must scroll inside their own box).
 */
export function overflowX(page) {
  return page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const sw = document.documentElement.scrollWidth;
    return sw > w + 1 ? `the document is ${sw} px wide in a ${w} px window` : null;
  });
}

/**
 * Text squeezed into a column too narrow for it: a text of 4 or more
 * characters laid out one or two characters a line (a table cell of a
 * phone-width card collapsed to nothing shows a name as a vertical
 * ribbon of letters).  Returns the first such text, or null.
 */
export function squeezedText(page) {
  return page.evaluate(() => {
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const t = n.nodeValue.replace(/\s+/g, '');
      if (t.length < 4 || !n.parentElement || !n.parentElement.checkVisibility()) continue;
      range.selectNodeContents(n);
      const lines = new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top))).size;
      if (lines > 3 && lines * 2 >= t.length) return `"${n.nodeValue.trim().slice(0, 40)}" in ${lines} lines`;
    }
    return null;
  });
}

/**
 * A job that goes step by step when the test says: submitted to srv, it
 * runs `sh render.sh --scene intro --frames STEPS` in the job directory,
 * and before frame I waits for the test's go(I) (a file in a directory
 * named by its env).  Each frame writes `frame I/STEPS rendered` to
 * stdout and the progress line `I STEPS` to fd 3 (PROTOCOL.md 11.7).
 * Resolves {job, go(i)}.
 */
export async function steppedJob(srv, steps, opts = {}) {
  const gate = fs.mkdtempSync(path.join(srv.dir, 'gate-'));
  fs.writeFileSync(path.join(srv.dir, 'jobs', 'render.sh'),
    'frames=$4; i=0\n'
    + 'while [ $i -lt "$frames" ]; do\n'
    + '  i=$((i+1))\n'
    + '  while [ ! -e "$GATE/go$i" ]; do sleep 0.02; done\n'
    + '  echo "frame $i/$frames rendered"; echo "$i $frames" >&3\n'
    + 'done\n');
  const { job } = await srv.client.submit(['sh', 'render.sh', '--scene', 'intro', '--frames', String(steps)],
    { name: 'render-intro', env: { GATE: gate, SCENE_BUCKET: 'assets-eu' }, ...opts });
  return { job, go: (i) => fs.writeFileSync(path.join(gate, `go${i}`), '') };
}

// -- the page's test hooks ----------------------------------------------------

/** Selectors of the page's data-test hooks (DASH-API.md "Test hooks"; the
 * full list is in the comment at the top of daemon/dashboard/app.js). */
export const SEL = {
  nav: (view) => `[data-test="nav-${view}"]`,
  chanRow: (name) => (name === undefined ? '[data-test="chan-row"]'
    : `[data-test="chan-row"][data-chan="${name}"]`),
  jobRow: (id) => (id === undefined ? '[data-test="job-row"]'
    : `[data-test="job-row"][data-job="${id}"]`),
  groupRow: (name) => (name === undefined ? '[data-test="group-row"]'
    : `[data-test="group-row"][data-group="${name}"]`),
  workerRow: (id) => (id === undefined ? '[data-test="worker-row"]'
    : `[data-test="worker-row"][data-worker="${id}"]`),
  t: (name) => `[data-test="${name}"]`,
  /** A channel's page: its stat (a list of facts, "Length" first). */
  chanStat: '[data-test="chan-stat"]',
  action: (name) => `[data-test="action-${name}"]`,
  anyAction: '[data-test^="action-"]',
};

// -- data, made through the protocol ------------------------------------------

/**
 * Channels, jobs in every final state, a group, a job for the agent's
 * pool and a queued job waiting for its delay.  Resolves what was made.
 */
export async function seed(srv) {
  const c = srv.client;
  const chans = { orders: 100, emails: 10, audit: 0, 'reports.daily': 5 };
  for (const [name, cap] of Object.entries(chans)) await c.make(name, cap);
  for (let i = 1; i <= 5; i += 1) await c.send('orders', { sku: `A-${i}`, qty: i });
  await c.send('emails', { to: 'ops@example.org', subject: 'weekly report' });
  await c.send('reports.daily', 'ready');
  await c.send('reports.daily', 'also ready');
  await c.closeChan('reports.daily');
  const ok = (await c.submit(['sh', '-c', 'echo hello from the dashboard test; echo a warning >&2'],
    { name: 'greet', env: { GREETING: 'hi', REGION: 'eu' } })).job;
  const failed = (await c.submit(['sh', '-c', 'echo about to fail; exit 3'], { name: 'flaky' })).job;
  const group = [];
  for (const f of ['a', 'b', 'c']) {
    group.push((await c.submit(['sh', '-c', `echo 1 2 >&3; echo 2 2 >&3; echo frame-${f}`],
      { group: 'render', name: `frame-${f}` })).job);
  }
  const delayed = (await c.submit(['true'], { name: 'later', delayMs: 3600000 })).job;
  await c.wait([ok, failed, ...group], { timeoutMs: WAIT_MS, output: false });
  return { chans, ok, failed, group, delayed, buffered: 8 };
}

/**
 * A test file's fixture: jqd (jqdOpts) with seed() data, optionally a
 * jq-worker agent `agent-1` (pool gpu, with a job of that pool run), and
 * Chromium logged in through the API.  Resolves {srv, data, browser,
 * agent, page(opts), withPage(fn, opts), close()}: page() opens a page
 * (openPage) in the logged-in browser, withPage() runs fn on one.
 */
export async function fixture({ jqdOpts = {}, agent = false } = {}) {
  const srv = await startJqd(jqdOpts);
  const fx = { srv, agent: null, browser: null };
  try {
    fx.data = await seed(srv);
    if (agent) {
      fx.agent = await startAgent(srv, 'agent-1', { pools: ['gpu'], labels: { zone: 'eu-1' } });
      const j = (await srv.client.submit(['sh', '-c', 'echo on the agent'],
        { pool: 'gpu', name: 'remote' })).job;
      await srv.client.wait([j], { timeoutMs: WAIT_MS, output: false });
      fx.data.remote = j;
    }
    fx.browser = await launchBrowser();
    if (srv.token !== null && !jqdOpts.insecure) {
      const p = await fx.browser.newPage();
      await loginApi(p, srv);
      await p.close();
    }
  } catch (e) {
    await closeFixture(fx).catch(() => {});
    throw e;
  }
  fx.page = (opts) => openPage(fx.browser, opts);
  fx.withPage = (fn, opts) => withPage(fx.browser, fn, opts);
  fx.close = () => closeFixture(fx);
  return fx;
}

async function closeFixture(fx) {
  if (fx.browser) await fx.browser.close();
  if (fx.agent) await fx.agent.stop();
  await fx.srv.stop();
}

/** Wait until location.hash is hash (the hashchange event). */
export async function waitHash(page, hash, timeoutMs = WAIT_MS) {
  const r = await page.evaluate((h, ms) => new Promise((resolve) => {
    const is = () => location.hash === h || (h === '#/' && location.hash === '');
    if (is()) { resolve(null); return; }
    const timer = setTimeout(() => resolve(location.hash), ms);
    window.addEventListener('hashchange', function on() {
      if (!is()) return;
      window.removeEventListener('hashchange', on);
      clearTimeout(timer);
      resolve(null);
    });
  }), hash, timeoutMs);
  if (r !== null) throw new Error(`the hash is ${JSON.stringify(r)}, not ${hash}, after ${timeoutMs} ms`);
}

/**
 * Click the action button `name` (SEL.action) inside `within` (a
 * selector; default the whole page); if that opens the page's
 * confirmation dialog, type `confirmText` into its text field (when it
 * has one) and confirm.  The dialog, if any, is open once the click's
 * handler has run and the page has painted.
 */
export async function clickAction(page, name, { within = '', confirmText } = {}) {
  await page.click(`${within} ${SEL.action(name)}`.trim());
  await painted(page);
  const ok = await page.$(SEL.t('confirm-ok'));
  if (!ok || !(await ok.isVisible())) return false;
  const field = await page.$(`${SEL.t('confirm-input')}, dialog[open] input[type="text"], dialog[open] input:not([type])`);
  if (field && confirmText !== undefined) await field.type(confirmText);
  await ok.click();
  return true;
}

/** On a channel's page: wait until its stat shows length n. */
export function waitChanPageLen(page, n, what = `length ${n}`) {
  return waitDom(page, SEL.chanStat, 'text', 're', `Length\\s*${n}(?![\\d,.])`, what);
}

/**
 * For the README's screenshots only (JQTEST_SCREENSHOT_DOCS): traffic
 * through a channel `traffic` (left empty) and short jobs, varying, until jqd's history holds
 * `seconds` samples with traffic, so the overview's sparklines have a
 * shape.  Not used by the tests' assertions.
 */
export async function makeHistory(srv, seconds = 24) {
  const c = srv.client;
  const headers = { Authorization: `Bearer ${srv.token}` };
  let stop = false;
  await c.make('traffic', 1000);
  const jobs = [];
  const traffic = (async () => {
    for (let i = 0; !stop; i += 1) {
      const n = 1 + Math.round(8 * (1 + Math.sin(i / 6)));
      await c.sendBatch('traffic', Array.from({ length: n }, (_, k) => ({ sku: `H-${i}-${k}` })));
      for (let got = 0; got < n;) got += (await c.recvMany('traffic', n - got)).length;
      // a job every 2 s: the tests' own jobs stay on the jobs view's first page
      if (i % 20 === 0) jobs.push((await c.submit(['true'], { name: `tick-${i}`, group: 'ticks' })).job);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await waitFor(async () => {
    const h = await (await fetch(`${srv.url}/api/history`, { headers })).json();
    return h.samples.filter((s) => s.sent > 0).length >= seconds;
  }, `${seconds} s of history`, (seconds + 30) * 1000);
  stop = true;
  await traffic;
  await c.wait(jobs, { timeoutMs: WAIT_MS, output: false });
}

#!/usr/bin/env node
// The dashboard at scale (issue 19): a jqd holding 10,000 retained jobs
// (mixed states, in 100 groups) and 5,000 channels, and
//
//  (a) page load times of the overview, the channels view, the jobs view
//      and a job's page in headless Chromium (navigation start -> the
//      view rendered with its data, median of 5 loads, assets cached as a
//      returning browser has them: revalidated, 304), and API times of
//      /api/chans?limit=100, /api/jobs?limit=100, /api/jobs?text=...,
//      /api/groups and /api/stats (median of 20, from node with a Bearer
//      token, one keep-alive connection);
//  (b) jqd's CPU (utime + stime from /proc/PID/stat, all threads) and the
//      channel benchmark's throughput (bench/jqbench.c, 4 producers x 4
//      consumers, 32 requests in flight each, 100-byte values, on
//      jqd's TCP port) with 0 and with 10 open dashboards (5 on the
//      overview, 5 on the channels view, each with its live SSE stream),
//      runs alternating, median of 3; and jqd's CPU with the 10
//      dashboards open and nothing else happening.
//
// Run from a built tree (puppeteer-core: `npm ci` in tests/browser, or
// JQTEST_NODE_MODULES; Chromium: /usr/bin/chromium or JQTEST_CHROMIUM):
//
//   JQD=./jqd node bench/dashboard.mjs            # about 3 minutes
//   JQD=./jqd node bench/dashboard.mjs --quick    # 1,000 jobs, 500 channels, one run each
//
// Prints a markdown report on stdout, progress on stderr.  jqd runs with
// --sync normal (the benchmark measures CPU, not the disk) and a token;
// jqbench connects through --insecure-tcp (it does not authenticate).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  SEL, launchBrowser, loginApi, openPage, startJqd, tempDir, viewUrl,
} from '../tests/browser/harness.mjs';

const quick = process.argv.includes('--quick');
const N_JOBS = quick ? 1000 : 10000;
const N_CHANS = quick ? 500 : 5000;
const N_GROUPS = N_JOBS / 100;
const LOADS = quick ? 2 : 5;
const API_REPS = quick ? 5 : 20;
const CPU_REPS = quick ? 1 : 3;
const DASHBOARDS = 10;
const RUN_S = quick ? 3 : 8;
const IDLE_S = quick ? 3 : 10;
const TOP = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

const progress = (s) => process.stderr.write(`dashboard bench: ${s}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ms = (x) => `${x.toFixed(x < 10 ? 1 : 0)} ms`;

/** CPU seconds (user + system) of a process, all its threads. */
function cpuSeconds(pid) {
  const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 and 15
}

/**
 * CPU seconds of pid and each of its descendants now (Chromium's
 * processes), as a map pid -> seconds: a renderer that ends between two
 * snapshots takes its time with it, so compare them with treeCpuDelta.
 */
function treeCpu(root) {
  const kids = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch { /* gone */ }
  }
  const out = new Map();
  const todo = [root];
  while (todo.length) {
    const p = todo.pop();
    try { out.set(p, cpuSeconds(p)); } catch { /* gone */ }
    todo.push(...(kids.get(p) || []));
  }
  return out;
}

/** CPU seconds spent between snapshots a and b by the processes alive at b. */
function treeCpuDelta(a, b) {
  let s = 0;
  for (const [pid, t] of b) s += t - (a.get(pid) || 0);
  return s;
}

/** Run promises made by fn(i), i < n, at most `width` at once. */
async function inParallel(n, width, fn) {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next;
      next += 1;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
}

// -- the data -----------------------------------------------------------------

async function populate(srv) {
  const c = srv.client;
  const t0 = Date.now();
  await inParallel(N_CHANS, 64, async (i) => {
    const name = `bench.chan.${String(i).padStart(5, '0')}`;
    await c.make(name, 100);
    if (i % 10 === 0) await c.sendBatch(name, [{ n: i, at: 'head' }, { n: i + 1 }]);
  });
  progress(`${N_CHANS} channels in ${Date.now() - t0} ms`);
  // 10 jobs in 100: 3 succeed, 1 fails (both run: true/false), 2 are
  // canceled while delayed, 2 miss a deadline already past, 2 stay queued
  // (delayed an hour).  A tag in every argv for the text search.
  const t1 = Date.now();
  const toCancel = [];
  await inParallel(N_JOBS, 64, async (i) => {
    const kind = i % 10;
    const tag = `needle-${i % 500}`;
    const opts = { group: `batch-${String(i % N_GROUPS).padStart(3, '0')}`, name: `job-${i}` };
    let argv = ['true', tag];
    if (kind === 3) argv = ['false', tag];
    else if (kind === 4 || kind === 5 || kind === 8 || kind === 9) opts.delayMs = 3600000;
    else if (kind === 6 || kind === 7) opts.deadlineMs = 0;
    const { job } = await c.submit(argv, opts);
    if (kind === 4 || kind === 5) toCancel.push(job);
  });
  await inParallel(toCancel.length, 64, (i) => c.cancel(toCancel[i]));
  const ran = N_JOBS * 0.4;
  for (;;) {
    const j = (await c.stats()).jobs;
    if (j.succeeded + j.failed >= ran) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  progress(`${N_JOBS} jobs in ${Date.now() - t1} ms`);
  return { job: (await c.jobs({ state: 'succeeded', limit: 1 }))[0].job };
}

// -- (a) page loads and API times ---------------------------------------------

/**
 * Open hash in a new tab (as a person opening the dashboard does; a tab
 * reused through about:blank would keep the previous documents in the
 * back/forward cache, their streams open) and resolve the page's
 * performance.now() -- ms since its navigation started -- at the first
 * DOM change after which `sel` matches at least `min` elements, the
 * first one's text matching `re` (the view's data, not a placeholder).
 * Page problems go to `problems`.
 */
async function loadTime(browser, srv, [hash, sel, min, re], problems) {
  const page = await openPage(browser);
  try {
    await page.goto(viewUrl(srv, hash), { waitUntil: 'domcontentloaded' });
    const r = await page.evaluate((s, n, src) => new Promise((resolve) => {
      const ready = () => {
        const es = document.querySelectorAll(s);
        return es.length >= n && new RegExp(src).test(es[0].textContent);
      };
      if (ready()) { resolve(performance.now()); return; }
      const timer = setTimeout(() => resolve(-1), 30000);
      const obs = new MutationObserver(() => {
        if (!ready()) return;
        obs.disconnect();
        clearTimeout(timer);
        resolve(performance.now());
      });
      obs.observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
    }), sel, min, re);
    if (r < 0) throw new Error(`${hash}: ${sel} x${min} never rendered`);
    problems.push(...page.problems());
    return r;
  } finally {
    await page.close();
  }
}

async function pageLoads(browser, srv, job) {
  const views = [
    ['overview', ['#/', SEL.t('stat-buffered'), 1, '\\d']],
    ['channels', ['#/channels', SEL.chanRow(), 100, 'bench']],
    ['jobs', ['#/jobs', SEL.jobRow(), 100, '\\d']],
    ['a job', [`#/jobs/${job}`, SEL.t('job-state'), 1, 'succeeded']],
  ];
  const out = [];
  const problems = [];
  for (const [name, view] of views) {
    await loadTime(browser, srv, view, problems); // warm: assets in the cache
    const times = [];
    for (let i = 0; i < LOADS; i += 1) times.push(await loadTime(browser, srv, view, problems));
    out.push([name, median(times), Math.min(...times), Math.max(...times)]);
    progress(`load ${name}: ${ms(median(times))}`);
  }
  return { out, problems };
}

async function apiTimes(srv) {
  const headers = { Authorization: `Bearer ${srv.token}` };
  const calls = [
    '/api/chans?limit=100', '/api/jobs?limit=100', '/api/jobs?text=needle-123',
    '/api/groups', '/api/stats', '/api/chans',
  ];
  const out = [];
  for (const u of calls) {
    const times = [];
    let bytes = 0;
    for (let i = 0; i <= API_REPS; i += 1) {
      const t0 = performance.now();
      const r = await fetch(srv.url + u, { headers });
      const body = await r.text();
      const dt = performance.now() - t0;
      if (r.status !== 200) throw new Error(`${u}: ${r.status} ${body.slice(0, 200)}`);
      bytes = body.length;
      if (i > 0) times.push(dt); // the first one warms the connection
    }
    out.push([u, median(times), bytes]);
    progress(`api ${u}: ${ms(median(times))}`);
  }
  return out;
}

// -- (b) CPU under the channel benchmark ---------------------------------------

function buildJqbench(dir) {
  const exe = path.join(dir, 'jqbench');
  execFileSync(process.env.CC || 'cc', ['-O2', '-pthread', path.join(TOP, 'bench', 'jqbench.c'), '-o', exe]);
  return exe;
}

function jqbench(exe, addr, messages) {
  return new Promise((resolve, reject) => {
    const ch = spawn(exe, ['--proto', 'jqd', '--addr', addr, '--producers', '4', '--consumers', '4',
      '--pipeline', '32', '--size', '100', '--messages', String(messages)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    ch.stdout.on('data', (d) => { out += d; });
    ch.stderr.on('data', (d) => { out += d; });
    ch.once('exit', (code) => {
      const m = /msgs_per_sec=([\d.]+)/.exec(out);
      if (code !== 0 || !m) reject(new Error(`jqbench exited ${code}: ${out}`));
      else resolve(Number(m[1]));
    });
  });
}

/**
 * Open n dashboards (half overview, half channels), each rendered, each
 * in a browser context of its own, logged in: n people, not n tabs of
 * one browser, which allows 6 connections to a host over HTTP/1.1 and
 * so at most 6 live streams.  Resolves {pages, close()}.
 */
async function openDashboards(browser, srv, n) {
  const ctxs = [];
  const pages = [];
  for (let i = 0; i < n; i += 1) {
    const ctx = await browser.createBrowserContext();
    ctxs.push(ctx);
    const page = await openPage(ctx, { width: 1280, height: 800 });
    await loginApi(page, srv);
    const [hash, sel] = i % 2 ? ['#/channels', SEL.chanRow()] : ['#/', SEL.t('stat-buffered')];
    await page.goto(viewUrl(srv, hash));
    await page.waitForSelector(sel, { timeout: 60000 });
    pages.push(page);
  }
  return {
    pages,
    close: async () => { for (const c of ctxs) await c.close(); },
  };
}

async function measureRun(srv, browser, exe, messages, dashboards) {
  const dash = await openDashboards(browser, srv, dashboards);
  const bpid = browser.process().pid;
  const c0 = cpuSeconds(srv.child.pid);
  const b0 = treeCpu(bpid);
  const t0 = performance.now();
  const rate = await jqbench(exe, srv.tcp, messages);
  const wall = (performance.now() - t0) / 1000;
  const cpuS = cpuSeconds(srv.child.pid) - c0;
  const cpu = (cpuS / wall) * 100;
  const usPerMsg = (cpuS / messages) * 1e6;
  const bcpu = (treeCpuDelta(b0, treeCpu(bpid)) / wall) * 100;
  const problems = dash.pages.flatMap((p) => p.problems());
  await dash.close();
  return { rate, cpu, usPerMsg, bcpu, wall, problems };
}

async function idleCpu(srv, browser, dashboards) {
  const dash = await openDashboards(browser, srv, dashboards);
  const c0 = cpuSeconds(srv.child.pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_S * 1000)); // the measurement window
  const cpu = (cpuSeconds(srv.child.pid) - c0) / ((performance.now() - t0) / 1000) * 100;
  await dash.close();
  return cpu;
}

// -- main ---------------------------------------------------------------------

async function main() {
  const dir = tempDir('jqbench-dash-');
  const exe = buildJqbench(dir);
  const srv = await startJqd({ insecure: true, workers: 2 });
  const browser = await launchBrowser();
  const report = [];
  try {
    const { job } = await populate(srv);
    const login = await browser.newPage();
    await loginApi(login, srv);
    await login.close();

    const loads = await pageLoads(browser, srv, job);
    const api = await apiTimes(srv);

    // calibrate: a count that takes about RUN_S seconds with no dashboard
    const probe = await jqbench(exe, srv.tcp, 20000);
    const messages = Math.max(20000, Math.round(probe * RUN_S / 1000) * 1000);
    progress(`jqbench probe ${probe.toFixed(0)} msgs/s; runs of ${messages} messages`);
    const runs = { 0: [], [DASHBOARDS]: [] };
    const problems = [...loads.problems];
    for (let rep = 0; rep < CPU_REPS; rep += 1) {
      for (const n of [0, DASHBOARDS]) {
        const r = await measureRun(srv, browser, exe, messages, n);
        runs[n].push(r);
        problems.push(...r.problems);
        progress(`${n} dashboards: ${r.rate.toFixed(0)} msgs/s, jqd ${r.cpu.toFixed(0)} % CPU (${r.usPerMsg.toFixed(2)} µs/msg), chromium ${r.bcpu.toFixed(0)} %`);
      }
    }
    const idle0 = await idleCpu(srv, browser, 0);
    const idle10 = await idleCpu(srv, browser, DASHBOARDS);
    progress(`idle: jqd ${idle0.toFixed(1)} % CPU; with ${DASHBOARDS} dashboards ${idle10.toFixed(1)} %`);

    const st = await srv.client.stats();
    report.push(`## The dashboard at ${N_JOBS.toLocaleString('en')} jobs and ${N_CHANS.toLocaleString('en')} channels`, '');
    report.push(`Machine: ${os.cpus().length} x ${os.cpus()[0].model}, ${os.release()}; `
      + `load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} at the end. `
      + `Chromium ${await browser.version()}. jqd held ${st.channels} channels, `
      + `${Object.values(st.jobs).reduce((a, b) => a + b, 0)} jobs (${JSON.stringify(st.jobs)}).`, '');
    report.push(`Page loads (navigation start -> view rendered with data; median of ${LOADS}, min-max):`, '');
    report.push('| view | median | min | max |', '|---|---|---|---|');
    for (const [name, med, lo, hi] of loads.out) report.push(`| ${name} | ${ms(med)} | ${ms(lo)} | ${ms(hi)} |`);
    report.push('', `API (median of ${API_REPS}, keep-alive, Bearer):`, '');
    report.push('| request | median | body |', '|---|---|---|');
    for (const [u, med, bytes] of api) report.push(`| \`GET ${u}\` | ${ms(med)} | ${(bytes / 1024).toFixed(1)} KiB |`);
    report.push('', `Channel benchmark (jqbench 4x4, pipeline 32, ${messages} messages of 100 bytes; median of ${CPU_REPS}) `
      + `with 0 and ${DASHBOARDS} open dashboards:`, '');
    report.push('| dashboards | msgs/s | jqd CPU | jqd CPU per message | Chromium CPU | wall |', '|---|---|---|---|---|---|');
    for (const n of [0, DASHBOARDS]) {
      const rs = runs[n];
      report.push(`| ${n} | ${median(rs.map((r) => r.rate)).toFixed(0)} | ${median(rs.map((r) => r.cpu)).toFixed(0)} % `
        + `| ${median(rs.map((r) => r.usPerMsg)).toFixed(2)} µs `
        + `| ${median(rs.map((r) => r.bcpu)).toFixed(0)} % | ${median(rs.map((r) => r.wall)).toFixed(1)} s |`);
    }
    report.push('', `Idle (no load, ${IDLE_S} s): jqd ${idle0.toFixed(1)} % CPU with no dashboard, `
      + `${idle10.toFixed(1)} % with ${DASHBOARDS} open.`, '');
    report.push('(CPU: % of one core, utime + stime over the wall time of the run.)');
    if (problems.length) report.push('', `Page problems seen: ${problems.slice(0, 5).join('; ')}`);
  } finally {
    await browser.close();
    await srv.stop();
  }
  process.stdout.write(`${report.join('\n')}\n`);
}

main().catch((e) => {
  process.stderr.write(`dashboard bench: ${e.stack || e}\n`);
  process.exit(1);
});

'use strict';
// Worker against a real jqd: concurrency, acks, nacks with the error as
// reason (seen in a dead-letter envelope), touches at half the lease while
// a slow handler runs, a graceful stop (finish within graceMs, nack the
// rest), and the cross-client role tests/integration/xclient/worker.js
// across a jqd kill -9.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Client, Worker } = require('../jqclient.js');
const {
  SKIP, startServer, serverAndClients, waitUntil, uniq,
} = require('./harness.js');

describe('Worker', { skip: SKIP }, () => {
  let t;
  let c;
  let obs;
  before(async () => { t = await serverAndClients(Client, {}, { consumer: 'wk' }); ({ c, obs } = t); });
  after(async () => { if (t) await t.stop(); });

  it('runs 4 handlers at a time, acks, nacks failures with their message, ends when the channel is drained', async () => {
    const ch = uniq('wq');
    const dead = uniq('wdead');
    await c.make(dead, 100);
    await c.make(ch, 100, { maxDeliveries: 1, deadLetter: dead });
    for (let i = 0; i < 40; i++) await c.send(ch, i);
    await c.closeChan(ch);
    let running = 0;
    let peak = 0;
    const seen = [];
    const w = new Worker(c, ch, async (v) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      running -= 1;
      if (v === 7) throw new Error('seven is bad');
      seen.push(v);
    }, { concurrency: 4, handleSignals: false });
    assert.deepEqual(await w.run(), { processed: 39, failed: 1 });
    assert.equal(peak, 4);
    assert.equal(seen.length, 39);
    const env = await obs.recv(dead);
    assert.equal(env.value, 7);
    assert.equal(env.reason, 'seven is bad');
  });

  it('touches the lease at half of leaseMs while a slow handler runs', async () => {
    const ch = uniq('wslow');
    await c.make(ch, 10);
    await c.send(ch, 'slow');
    await c.closeChan(ch);
    const before = (await obs.stats()).ops.touch;
    const w = new Worker(c, ch, () => new Promise((r) => setTimeout(r, 2500)),
      { leaseMs: 1000, handleSignals: false });
    assert.deepEqual(await w.run(), { processed: 1, failed: 0 });
    assert.ok((await obs.stats()).ops.touch - before >= 3);
    const st = await obs.stat(ch);
    assert.equal(st.received, 1);  // never expired and redelivered
  });

  it('stops on its signal: takes nothing more, lets a quick handler finish, nacks one past graceMs', async () => {
    const ch = uniq('wstop');
    await c.make(ch, 10);
    await c.send(ch, 'quick');
    await c.send(ch, 'stuck');
    await c.send(ch, 'untouched');
    const ctl = new AbortController();
    const started = [];
    let release;
    const quickDone = new Promise((r) => { release = r; });
    const w = new Worker(c, ch, (v, job) => {
      started.push(v);
      if (v === 'quick') return quickDone;
      return new Promise((r, j) => job.signal.addEventListener('abort', () => j(job.signal.reason)));
    }, { concurrency: 2, graceMs: 300, signal: ctl.signal, handleSignals: false });
    const run = w.run();
    await waitUntil(() => started.length === 2);
    ctl.abort();
    setTimeout(release, 50);
    assert.deepEqual(await run, { processed: 1, failed: 0 });
    assert.deepEqual(started, ['quick', 'stuck']);
    const st = await obs.stat(ch);
    assert.equal(st.leased, 0);
    assert.deepEqual(await obs.recvMany(ch, 10), ['stuck', 'untouched']);
  });

  it('a lost lease keeps its slot until the handler ends: never more than concurrency handlers', async () => {
    const ch = uniq('wlost');
    await c.make(ch, 10);
    await c.send(ch, 'first');
    await c.send(ch, 'second');
    await c.closeChan(ch);
    const events = [];
    const w = new Worker(c, ch, async (v, { lease, signal }) => {
      events.push(`start ${v}`);
      if (v !== 'first') return;
      await lease.ack();  // the lease is gone: the next touch answers not_found
      await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
      events.push(`aborted ${v}: ${signal.reason.message}`);
      await new Promise((r) => setTimeout(r, 300));  // the window another handler would start in
      events.push(`end ${v}`);
    }, { concurrency: 1, leaseMs: 200, handleSignals: false });
    assert.deepEqual(await w.run(), { processed: 1, failed: 0 });
    assert.deepEqual(events, ['start first', 'aborted first: lease lost', 'end first', 'start second']);
  });

  it('stop: run() resolves once a handler past graceMs has ended, its value nacked when its signal aborted', async () => {
    const ch = uniq('wlate');
    await c.make(ch, 10);
    await c.send(ch, 'late');
    const events = [];
    const w = new Worker(c, ch, async (v, { signal }) => {
      events.push('start');
      await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
      events.push('aborted');
      await new Promise((r) => setTimeout(r, 200));  // ends within graceMs of its signal
      events.push('end');
    }, { graceMs: 1000, handleSignals: false });
    const run = w.run().then((r) => { events.push('run resolved'); return r; });
    await waitUntil(() => events.length === 1);
    w.stop();
    assert.deepEqual(await run, { processed: 0, failed: 0 });
    assert.deepEqual(events, ['start', 'aborted', 'end', 'run resolved']);
    assert.deepEqual(await obs.recvMany(ch, 10), ['late']);  // nacked, not lost
  });

  it('stop: a handler that ignores its aborted signal makes run() reject graceMs later, saying so', async () => {
    const ch = uniq('wdeaf');
    await c.make(ch, 10);
    await c.send(ch, 'deaf');
    let started = false;
    let release;
    const gate = new Promise((r) => { release = r; });
    const w = new Worker(c, ch, () => { started = true; return gate; },
      { graceMs: 100, handleSignals: false });
    const run = w.run();
    await waitUntil(() => started);
    w.stop();
    await assert.rejects(run, /1 handler\(s\) still running 100 ms after their signal aborted.*must end when its signal aborts/);
    release();
    assert.deepEqual(await obs.recvMany(ch, 10), ['deaf']);  // nacked when its signal aborted
  });
});

describe('Worker failures', { skip: SKIP }, () => {
  let t;
  let c;
  let obs;
  before(async () => { t = await serverAndClients(Client, { args: ['--max-pending', '2'] }); ({ c, obs } = t); });
  after(async () => { if (t) await t.stop(); });

  it('a slot that fails (limit: max_pending 2, concurrency 4) stops the others before run() rejects', async () => {
    const ch = uniq('wfail');
    await c.make(ch, 10);
    const w = new Worker(c, ch, () => {}, { concurrency: 4, handleSignals: false });
    await assert.rejects(w.run(), { code: 'limit' });
    assert.equal((await obs.stat(ch)).receivers_waiting, 0);
  });

  it('the message of a failure becomes a reason jqd takes: 1024 bytes of UTF-8 at most, cut between characters, no lone surrogate', async () => {
    const ch = uniq('wmsg');
    const dead = uniq('wmsgdead');
    await c.make(dead, 10);
    await c.make(ch, 10, { maxDeliveries: 1, deadLetter: dead });
    const msgs = [`${'x'.repeat(1021)}\u{1f600}`, 'é'.repeat(100000), 'a\udc00b\0c'];
    for (const m of msgs) await c.send(ch, m.replace(/[\udc00\0]/g, '-'));
    await c.closeChan(ch);
    const errors = [];
    const w = new Worker(c, ch, (v) => { throw new Error(msgs.find((m) => m.replace(/[\udc00\0]/g, '-') === v)); },
      { handleSignals: false, leaseMs: 2000, onError: (e) => errors.push(e) });
    assert.deepEqual(await w.run(), { processed: 0, failed: 3 });
    assert.deepEqual(errors, []);
    const reasons = (await obs.recvMany(dead, 10)).map((e) => e.reason);
    assert.deepEqual(reasons, ['x'.repeat(1021), 'é'.repeat(512), 'a\ufffdbc']);
  });

  it('processed counts handlers that succeeded, whatever their ack answered (onError has it)', async () => {
    const ch = uniq('wack');
    await c.make(ch, 10);
    await c.send(ch, 'v');
    await c.closeChan(ch);
    const errors = [];
    // the handler acks its lease itself: the worker's ack answers not_found,
    // as an ack sent again after a crash does when the first had landed
    const w = new Worker(c, ch, (v, { lease }) => lease.ack(),
      { handleSignals: false, onError: (e) => errors.push(e.code) });
    assert.deepEqual(await w.run(), { processed: 1, failed: 0 });
    assert.deepEqual(errors, ['not_found']);
  });

  it('concurrency past 10 sets off no MaxListenersExceededWarning', async () => {
    const ch = uniq('w16');
    await c.make(ch, 10);
    const warnings = [];
    const onWarning = (w) => warnings.push(w);
    process.on('warning', onWarning);
    const k = await new Client(`unix:${t.srv.unixPath}`, { token: null, maxPending: 2 }).ready;
    const w = new Worker(k, ch, () => {}, { concurrency: 16, handleSignals: false });
    const run = w.run();
    await waitUntil(async () => (await obs.stat(ch)).receivers_waiting === 2);
    await obs.closeChan(ch);
    assert.deepEqual(await run, { processed: 0, failed: 0 });
    await k.close();
    await new Promise((r) => setImmediate(r));  // warnings are emitted on the next tick
    process.off('warning', onWarning);
    assert.deepEqual(warnings.map((x) => x.name), []);
  });
});

const SCRIPT = path.join(__dirname, '..', '..', '..', 'tests', 'integration', 'xclient', 'worker.js');

/** Run xclient/worker.js; resolves {exited, out(), err()}. */
function runWorker(addr, args) {
  const child = spawn(process.execPath, [SCRIPT, ...args],
    { env: { ...process.env, JQ_ADDR: addr, JQ_TOKEN: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  return {
    child, exited: new Promise((r) => child.once('exit', r)), out: () => out, err: () => err,
  };
}

describe('cross-client role: xclient/worker.js', { skip: SKIP }, () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(async () => { if (srv) await srv.stop(); });

  it('SIGTERM stops it gracefully: its blocked receives are aborted, exit 0', async () => {
    const addr = `unix:${srv.unixPath}`;
    const c = await new Client(addr, { token: null }).ready;
    await c.make('xs-tasks', 10);
    const w = runWorker(addr, ['xs-tasks', 'xs-done', 'node-s']);
    await waitUntil(async () => (await c.stat('xs-tasks')).receivers_waiting === 4, 20000, '4 receivers');
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0, w.err());
    assert.equal(w.out(), 'processed 0\n');
    assert.equal((await c.stat('xs-tasks')).receivers_waiting, 0);
    await c.close();
  });

  it('processes every value once into DONE across a jqd kill -9', async () => {
    const addr = `unix:${srv.unixPath}`;
    const c = await new Client(addr, { token: null, reconnect: { minDelayMs: 20 } }).ready;
    const N = 200;
    await c.make('xc-tasks', 100);
    await c.make('xc-done', 1000);
    const w = runWorker(addr, ['xc-tasks', 'xc-done', 'node-1']);
    for (let i = 0; i < N; i++) {
      await c.send('xc-tasks', { n: i }, { key: `p-${i}` });
      if (i === N / 2) await srv.restart('SIGKILL');
    }
    await c.closeChan('xc-tasks');
    assert.equal(await w.exited, 0, w.err());
    assert.match(w.out(), /^processed \d+\n$/);
    const got = await c.recvMany('xc-done', 1000);
    assert.deepEqual(got.map((v) => v.n).sort((x, y) => x - y), [...Array(N).keys()]);
    assert.ok(got.every((v) => v.by === 'node-1'));
    await c.close();
  });
});

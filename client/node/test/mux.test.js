'use strict';
// One multiplexed connection (PROTOCOL.md 4.7) against a real jqd: many
// concurrent callers, AbortSignal mapped to `abort` without losing a value
// or a lease (raced), maxPending, the 1.1-1.3 ops, and reconnection across
// jqd restarts (kill -9 and SIGTERM) with nothing lost.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  Client, JqError, OutcomeUnknownError,
} = require('../jqclient.js');
const { SKIP, startServer, waitUntil, uniq } = require('./harness.js');

const aborted = (e) => e && e.name === 'AbortError';

describe('multiplexed calls and abort', { skip: SKIP }, () => {
  let srv;
  let c;
  let obs;
  before(async () => {
    srv = await startServer();
    c = await new Client(`unix:${srv.unixPath}`, { token: null }).ready;
    obs = await new Client(`unix:${srv.unixPath}`, { token: null }).ready;
  });
  after(async () => {
    if (c) await Promise.all([c.close(), obs.close()]);
    if (srv) await srv.stop();
  });

  it('hello says multiplex; 200 concurrent blocked recvs and pings share one connection', async () => {
    assert.equal(c.server.multiplex, true);
    assert.ok(c.server.features.includes('abort'));
    const ch = uniq('many');
    await c.make(ch, 0);
    const recvs = Array.from({ length: 200 }, () => c.recv(ch));
    await waitUntil(async () => (await obs.stat(ch)).receivers_waiting === 200, 20000, '200 receivers');
    await Promise.all(Array.from({ length: 50 }, () => c.ping()));  // not held by the recvs
    assert.equal((await obs.stats()).connections, 2);
    await Promise.all(Array.from({ length: 200 }, (_, i) => obs.send(ch, i)));
    const got = (await Promise.all(recvs)).sort((x, y) => x - y);
    assert.deepEqual(got, [...Array(200).keys()]);
  });

  it('abort of a blocked recv: rejects with signal.reason, the server counted it canceled', async () => {
    const ch = uniq('ab');
    await c.make(ch, 4);
    const ctl = new AbortController();
    const p = c.recv(ch, { signal: ctl.signal });
    await waitUntil(async () => (await obs.stat(ch)).receivers_waiting === 1);
    const reason = new Error('mine');
    ctl.abort(reason);
    await assert.rejects(p, (e) => e === reason);
    assert.equal((await obs.stat(ch)).receivers_waiting, 0);
    // an already aborted signal: nothing is sent
    const before = (await obs.stats()).ops.recv;
    await assert.rejects(c.recv(ch, { signal: AbortSignal.abort() }), aborted);
    assert.equal((await obs.stats()).ops.recv, before);
    // clientTimeoutMs: a TimeoutError, the recv is aborted on the server
    await assert.rejects(c.recv(ch, { clientTimeoutMs: 50 }), (e) => e.name === 'TimeoutError');
    assert.equal((await obs.stat(ch)).receivers_waiting, 0);
  });

  it('abort races a send: every value is received exactly once or stays in the channel (300 rounds)', async () => {
    const ch = uniq('race');
    await c.make(ch, 1000);
    const N = 300;
    let got = [];
    for (let i = 0; i < N; i++) {
      const ctl = new AbortController();
      const r = c.recv(ch, { signal: ctl.signal }).then((v) => { got.push(v); }, (e) => {
        assert.ok(aborted(e), String(e));
      });
      // the send and the abort go out in the same tick, in varying order
      if (i % 2) { obs.send(ch, i); ctl.abort(); } else { ctl.abort(); obs.send(ch, i); }
      await r;
    }
    await waitUntil(async () => (await obs.stat(ch)).sent === N);
    const rest = (await obs.stat(ch)).len;
    if (rest) got = got.concat(await obs.recvMany(ch, rest));
    assert.deepEqual(got.sort((x, y) => x - y), [...Array(N).keys()]);
  });

  it('abort races a send on a leased recv: no lease is lost (200 rounds)', async () => {
    const ch = uniq('lrace');
    await c.make(ch, 1000);
    const N = 200;
    let got = 0;
    for (let i = 0; i < N; i++) {
      const ctl = new AbortController();
      const r = c.recvLease(ch, 60000, { signal: ctl.signal }).then(async (l) => { got += 1; await l.ack(); },
        (e) => assert.ok(aborted(e), String(e)));
      if (i % 2) { obs.send(ch, i); ctl.abort(); } else { ctl.abort(); obs.send(ch, i); }
      await r;
    }
    await waitUntil(async () => (await obs.stat(ch)).sent === N);
    const st = await obs.stat(ch);
    assert.equal(st.leased, 0);
    assert.equal(got + st.len, N);
  });

  it('maxPending: blocking calls past it wait in the client, not refused', async () => {
    const k = await new Client(`unix:${srv.unixPath}`, { token: null, maxPending: 3 }).ready;
    const ch = uniq('mp');
    await k.make(ch, 10);
    const recvs = Array.from({ length: 6 }, () => k.recv(ch));
    await waitUntil(async () => (await obs.stat(ch)).receivers_waiting === 3);
    await k.ping();
    assert.equal((await obs.stat(ch)).receivers_waiting, 3);
    for (let i = 0; i < 6; i++) await obs.send(ch, i);
    assert.deepEqual((await Promise.all(recvs)).sort(), [0, 1, 2, 3, 4, 5]);
    await k.close();
  });

  it('1.1-1.3 ops: keyed send, nack delay/reason, dead letters, touch, peek, watch, retry, purge, pool, workers', async () => {
    const dead = uniq('dead');
    const ch = uniq('ops');
    await c.make(dead, 10);
    assert.equal(await c.make(ch, 10, { maxDeliveries: 2, deadLetter: dead, dedupWindowMs: 60000 }), true);
    assert.deepEqual(await c.send(ch, { price: 19.99 }, { key: 'k1' }), { duplicate: false });
    assert.deepEqual(await c.send(ch, { price: 19.99 }, { key: 'k1' }), { duplicate: true });
    assert.deepEqual(await c.peek(ch, 5), [{ price: 19.99 }]);
    const l1 = await c.recvLease(ch, 5000, { consumer: 'w-1' });
    assert.equal(l1.consumer, 'w-1');
    assert.equal(typeof await l1.touch(10000), 'number');
    await l1.nack({ reason: 'first', delayMs: 1 });
    const l2 = await c.recvLease(ch, 5000);
    assert.equal(l2.redelivered, 1);
    await l2.nack({ reason: 'broken' });
    const env = await c.recv(dead);
    assert.equal(env.chan, ch);
    assert.equal(env.reason, 'broken');
    assert.deepEqual(env.value, { price: 19.99 });
    // jobs: watch (events, then results), retry, purge, pool, workers
    // the job writes "there" only once the watch is synced, so it comes as a frame
    const go = path.join(srv.dir, uniq('go'));
    const { job } = await c.submit(['sh', '-c', `echo hi; while [ ! -e ${go} ]; do sleep 0.02; done; echo there`],
      { key: uniq('jk') });
    const events = [];
    const results = await c.watch(job, {
      onEvent: (f) => {
        events.push(f);
        if (f.event === 'synced') fs.writeFileSync(go, '');
      },
    });
    assert.equal(results[0].state, 'succeeded');
    assert.equal(results[0].stdout, 'hi\nthere\n');
    const shown = events.filter((f) => f.event === 'output').map((f) => f.data).join('');
    assert.ok(shown === 'hi\nthere\n' || shown === 'there\n', JSON.stringify(shown));
    assert.ok(events.some((f) => f.event === 'state' && f.state === 'succeeded'));
    const { job: bad } = await c.submit(['false']);
    assert.equal((await c.wait(bad))[0].state, 'failed');
    const again = await c.retry(bad);
    assert.ok(again > bad);
    assert.equal((await c.wait(again))[0].retry_of, bad);
    assert.ok(await c.purge({ state: 'failed' }) >= 2);
    const pool = await c.pool({ pause: true });
    assert.equal(pool.paused, true);
    assert.equal((await c.pool({ pause: false })).paused, false);
    assert.deepEqual(await c.workers(), []);
  });

  it('send keys: sendKeys "auto" gives every send a key', async () => {
    const k = await new Client(`unix:${srv.unixPath}`, { token: null, sendKeys: 'auto' }).ready;
    const ch = uniq('auto');
    await k.make(ch, 10);
    await k.send(ch, 1);
    await k.sendBatch(ch, [2, 3]);
    assert.equal((await obs.stat(ch)).dedup_keys, 2);
    await k.close();
  });
});

describe('reconnect across jqd restarts', { skip: SKIP }, () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(async () => { if (srv) await srv.stop(); });

  for (const sig of ['SIGKILL', 'SIGTERM']) {
    it(`${sig}: keyed sends and named leases go on, blocked idempotent calls are retried, nothing lost`, async () => {
      const addr = `unix:${srv.unixPath}`;
      const c = await new Client(addr, { token: null, consumer: 'node-w', reconnect: { minDelayMs: 20 } }).ready;
      const ch = uniq('rc');
      const out = uniq('rcout');
      await c.make(ch, 100);
      await c.make(out, 10);
      for (let i = 0; i < 20; i++) await c.send(ch, i, { key: `k-${i}` });
      const lease = await c.recvLease(ch, 60000);
      const blocked = c.recvLease(out, 60000);  // retried after the restart
      const plain = c.recv(out).catch((e) => e);  // not idempotent
      const reconnected = new Promise((r) => c.once('reconnect', r));
      await waitUntil(async () => (await c.stat(out)).receivers_waiting === 2);
      await srv.restart(sig);
      await reconnected;
      // the plain recv: OutcomeUnknownError on kill -9; on SIGTERM it was
      // answered shutting_down (it took nothing) and is sent again.
      if (sig === 'SIGKILL') assert.ok((await plain) instanceof OutcomeUnknownError);
      // keyed sends again: duplicates
      for (let i = 0; i < 20; i++) {
        assert.equal((await c.send(ch, i, { key: `k-${i}` })).duplicate, true, `k-${i}`);
      }
      await lease.ack();  // the named consumer's lease survived
      const vals = await c.recvMany(ch, 100);
      assert.deepEqual(vals, [...Array(20).keys()].slice(1));
      const obs = await new Client(addr, { token: null }).ready;
      if (sig === 'SIGKILL') {
        await waitUntil(async () => (await obs.stat(out)).receivers_waiting === 1);
        await obs.send(out, 'late');
        assert.equal((await blocked).value, 'late');
      } else {
        await waitUntil(async () => (await obs.stat(out)).receivers_waiting === 2);
        await obs.send(out, 'late');
        await obs.send(out, 'later');
        assert.deepEqual([(await blocked).value, await plain].sort(), ['late', 'later']);
      }
      assert.ok(c.connects >= 2);
      await Promise.all([c.close(), obs.close()]);
    });
  }

  it('calls made while jqd is down wait for it; waitForServer retries the first connect', async () => {
    await srv.kill('SIGKILL');
    const c = new Client(`unix:${srv.unixPath}`, { token: null, waitForServer: true, reconnect: { minDelayMs: 20 } });
    const p = c.ping();
    const signal = AbortSignal.timeout(100);
    await assert.rejects(c.stats({ signal }), (e) => e.name === 'TimeoutError');
    await srv.start();
    await c.ready;
    await p;
    await c.close();
    const d = new Client(`unix:${srv.unixPath}-nope`, { token: null, waitForServer: true,
      reconnect: { minDelayMs: 10, maxDelayMs: 20, giveUpMs: 200 } });
    await assert.rejects(d.ping(), { code: 'EGAVEUP' });
    await assert.rejects(d.ready, { code: 'EGAVEUP' });
  });
});

describe('reconnect re-authenticates', { skip: SKIP }, () => {
  let srv;
  before(async () => { srv = await startServer({ token: 'tok-1' }); });
  after(async () => { if (srv) await srv.stop(); });

  it('auth and hello {multiplex, consumer} are sent again on the new connection', async () => {
    const c = await new Client(`unix:${srv.unixPath}`, { token: 'tok-1', consumer: 'auth-w', reconnect: { minDelayMs: 20 } }).ready;
    assert.equal(c.server.consumer, 'auth-w');
    const reconnected = new Promise((r) => c.once('reconnect', r));
    await srv.restart('SIGKILL');
    await reconnected;
    const st = await c.stats();  // counters restarted with jqd: this connection's only
    assert.equal(st.ops.auth, 1);
    assert.equal(c.server.multiplex, true);
    assert.equal(c.server.consumer, 'auth-w');
    await c.close();
  });
});

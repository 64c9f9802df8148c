'use strict';
// Session and channel ops against a real jqd: every method, pipelining,
// error mapping, blocking, select, leases.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  connect, Client, Lease, JqError, JqConnectionError, recvCase, sendCase,
} = require('../jqclient.js');
const { SKIP, startServer, waitUntil, uniq } = require('./harness.js');

describe('channels', { skip: SKIP }, () => {
  let srv;
  let c;       // the main client
  const extra = [];

  async function client() {
    const k = await connect(srv.addr, { token: null });
    extra.push(k);
    return k;
  }

  before(async () => {
    srv = await startServer();
    c = await connect(srv.addr, { token: null });
  });

  after(async () => {
    for (const k of extra) await k.close();
    if (c) await c.close();
    if (srv) await srv.stop();
  });

  it('hello, ping, auth without a token, stats', async () => {
    const h = await c.hello();
    assert.equal(h.server, 'jqd');
    assert.equal(h.protocol, 1);
    assert.equal(h.auth_required, false);
    assert.equal(typeof h.version, 'string');
    assert.equal(await c.ping(), undefined);
    assert.equal(await c.auth('anything'), undefined);
    const s = await c.stats();
    assert.ok(s.uptime_ms >= 0);
    assert.ok(s.connections >= 1);
    assert.ok(s.ops.ping >= 1);
    assert.equal(s.workers.total, 2);
    assert.deepEqual(Object.keys(s.jobs).sort(),
      ['canceled', 'deadline_exceeded', 'failed', 'queued', 'running', 'succeeded']);
    assert.equal(s.id, undefined);
    assert.equal(s.ok, undefined);
  });

  it('make: created, existing, exists with another cap, bad name', async () => {
    const ch = uniq('mk');
    assert.equal(await c.make(ch, 5), true);
    assert.equal(await c.make(ch, 5), false);
    await assert.rejects(c.make(ch, 6), (e) => e instanceof JqError && e.code === 'exists'
      && /cap 5/.test(e.message) && e.op === 'make');
    await assert.rejects(c.make('no spaces'), { code: 'bad_request' });
    assert.equal(await c.make(uniq('mk')), true);  // default cap 0
  });

  it('send/recv round-trip JSON values', async () => {
    const ch = uniq('rt');
    await c.make(ch, 100);
    const values = [
      null, true, false, 0, -1, 42, 2 ** 53 - 1, -(2 ** 53 - 1), 0.1, 1.5e300, -2.5,
      '', 'plain', 'é ü 中文 😀', 'quote " backslash \\ newline \n tab \t nul \u0000 ctl \u001f',
      [], [1, [2, [3]]], {}, { b: 1, a: [null, { c: 'd' }], 'key with space': 'v' },
    ];
    for (const v of values) await c.send(ch, v);
    for (const v of values) assert.deepEqual(await c.recv(ch), v);
    // -0 is sent as 0 by JSON.stringify
    await c.send(ch, -0);
    assert.ok(Object.is(await c.recv(ch), 0));
    // member order is kept
    await c.send(ch, { z: 1, a: 2, m: 3 });
    assert.deepEqual(Object.keys(await c.recv(ch)), ['z', 'a', 'm']);
  });

  it('sendBatch, recvMany, stat, chans', async () => {
    const p = uniq('bt');
    const ch = `${p}.a`;
    await c.make(ch, 3);
    await c.make(`${p}.b`, 0);
    await c.sendBatch(ch, [1, 'two', { three: 3 }]);
    let st = await c.stat(ch);
    assert.deepEqual(st, {
      chan: ch, cap: 3, len: 3, closed: false, leased: 0,
      senders_waiting: 0, receivers_waiting: 0, sent: 3, received: 0,
    });
    await assert.rejects(c.sendBatch(ch, [1, 2, 3, 4]), { code: 'bad_request' });
    await assert.rejects(c.sendBatch(ch, [4], { timeoutMs: 0 }), { code: 'timeout' });
    await assert.rejects(c.sendBatch(`${p}.b`, [1]), { code: 'bad_request' });
    await assert.rejects(c.sendBatch(ch, []), { code: 'bad_request' });
    assert.deepEqual(await c.recvMany(ch, 2), [1, 'two']);
    assert.deepEqual(await c.recvMany(ch, 10), [{ three: 3 }]);
    st = await c.stat(ch);
    assert.equal(st.received, 3);
    assert.equal(st.len, 0);
    const list = await c.chans(p);
    assert.deepEqual(list.map((x) => x.chan), [`${p}.a`, `${p}.b`]);
    assert.equal(list[1].cap, 0);
    assert.deepEqual(await c.chans('zzz-nothing-'), []);
    assert.ok((await c.chans()).length >= 2);
    await assert.rejects(c.recvMany(ch, 0), { code: 'bad_request' });
  });

  it('close (channel), closed errors, recv on closed channel, drop', async () => {
    const ch = uniq('cl');
    await c.make(ch, 2);
    await c.send(ch, 'x');
    await c.send(ch, 'y');
    await c.close(ch);                 // close(chan) closes the channel
    assert.equal(c.isOpen, true);
    await assert.rejects(c.send(ch, 'late'), { code: 'closed' });
    await assert.rejects(c.closeChan(ch), { code: 'closed' });
    assert.equal(await c.recv(ch), 'x');
    assert.deepEqual(await c.recvMany(ch, 5), ['y']);
    await assert.rejects(c.recv(ch), (e) => e instanceof JqError && e.code === 'closed');
    await assert.rejects(c.recvMany(ch, 5), { code: 'closed' });
    assert.equal((await c.stat(ch)).closed, true);
    await c.drop(ch);
    await assert.rejects(c.drop(ch), { code: 'not_found' });
    await assert.rejects(c.stat(ch), { code: 'not_found', message: `no channel '${ch}'` });
    await assert.rejects(c.send(ch, 1), { code: 'not_found' });
    await assert.rejects(c.recv(ch), { code: 'not_found' });
  });

  it('timeouts: timeoutMs 0 and positive', async () => {
    const ch = uniq('to');
    await c.make(ch, 1);
    await assert.rejects(c.recv(ch, { timeoutMs: 0 }), { code: 'timeout' });
    const t0 = Date.now();
    await assert.rejects(c.recv(ch, { timeoutMs: 100 }), { code: 'timeout', message: 'timed out after 100 ms' });
    assert.ok(Date.now() - t0 >= 90);
    await c.send(ch, 1);
    await assert.rejects(c.send(ch, 2, { timeoutMs: 0 }), { code: 'timeout' });
    await assert.rejects(c.send(ch, 2, { timeoutMs: 50 }), { code: 'timeout' });
    const un = uniq('to');
    await c.make(un);
    await assert.rejects(c.send(un, 1, { timeoutMs: 0 }), { code: 'timeout' });
    await assert.rejects(c.recv(ch, { timeoutMs: -1 }), { code: 'bad_request' });
  });

  it('error mapping: unknown_op, bad_request, frame_too_large, too_large; the connection stays usable', async () => {
    await assert.rejects(c.call('frobnicate'), (e) => e.code === 'unknown_op' && e.message === "unknown op 'frobnicate'");
    await assert.rejects(c.call('recv', { chan: 'x', max: '10' }), (e) => e.code === 'bad_request' && /max/.test(e.message));
    // text frames cannot be matched on a multiplexed connection
    await assert.rejects(c.raw('{"id":1,"op":"ping"'), TypeError);
    let r = await c.raw({ op: 'nosuch' });
    assert.equal(r.ok, false);
    assert.equal(r.error.code, 'unknown_op');
    // a lone surrogate is refused here (the server would answer "id": null)
    const ch = uniq('big');
    await c.make(ch, 2);
    await assert.rejects(c.send(ch, '\udc00'), TypeError);
    await assert.rejects(c.send(ch, { '\ud800': 1 }), TypeError);
    await c.send(ch, '\ud83d\ude00');
    assert.equal(await c.recv(ch), '\ud83d\ude00');
    // a value over max_value (256 KiB)
    await assert.rejects(c.send(ch, 'x'.repeat(262143)), (e) => e.code === 'too_large' && /max_value/.test(e.message));
    await c.send(ch, 'x'.repeat(262142));
    assert.equal((await c.recv(ch)).length, 262142);
    // a frame over max_frame (1 MiB): refused by the client (the server's
    // reply would have "id": null, which no call can be matched with)
    await assert.rejects(c.send(ch, 'y'.repeat(1100000)), (e) => e.code === 'frame_too_large');
    const big = new Client(srv.addr, { token: null, maxFrameBytes: 2000000 });
    await big.ready;
    // the server's "id": null frame_too_large answers the only call pending (13 item 2)
    await assert.rejects(big.send(ch, 'y'.repeat(1100000)), (e) => e instanceof JqError && e.code === 'frame_too_large');
    await big.ping();
    assert.equal(big.connects, 1);  // the connection stays
    await big.close();
    assert.equal(await c.ping(), undefined);
  });

  it('pipelines 1000 requests and matches replies in order', async (t) => {
    const ch = uniq('pipe');
    await c.make(ch, 1000);
    const t0 = process.hrtime.bigint();
    const sends = [];
    for (let i = 0; i < 1000; i++) sends.push(c.send(ch, { i }));
    assert.ok(c.pendingCount >= 1000);  // all written before any reply came
    const recvs = [];
    for (let i = 0; i < 1000; i++) recvs.push(c.recv(ch));
    await Promise.all(sends);
    const got = await Promise.all(recvs);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.deepEqual(got.map((v) => v.i), [...Array(1000).keys()]);
    assert.equal(c.pendingCount, 0);
    // raw replies carry ids in order
    const raws = await Promise.all(Array.from({ length: 50 }, () => c.raw({ op: 'ping' })));
    for (let i = 1; i < raws.length; i++) assert.equal(raws[i].id, raws[i - 1].id + 1);
    // mixed ok and error replies in one pipeline keep their places
    const mixed = await Promise.allSettled([c.ping(), c.stat(uniq('none')), c.ping(), c.call('nope'), c.hello()]);
    assert.deepEqual(mixed.map((m) => m.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    assert.equal(mixed[1].reason.code, 'not_found');
    assert.equal(mixed[3].reason.code, 'unknown_op');
    assert.equal(mixed[4].value.server, 'jqd');
    t.diagnostic(`2000 pipelined send/recv in ${ms.toFixed(1)} ms`);
  });

  it('a blocked recv does not hold the ping behind it (multiplexed); it completes on a send from another client', async () => {
    const ch = uniq('blk');
    await c.make(ch, 10);
    const a = await client();
    const order = [];
    const r = a.recv(ch).then((v) => { order.push('recv'); return v; });
    const p = a.ping().then(() => order.push('ping'));
    await p;
    assert.equal((await c.stat(ch)).receivers_waiting, 1);
    assert.deepEqual(order, ['ping']);
    await c.send(ch, 'three');
    assert.equal(await r, 'three');
    assert.deepEqual(order, ['ping', 'recv']);
  });

  it('unbuffered rendezvous both ways; a blocked send is abandoned when its client closes', async () => {
    const ch = uniq('hand');
    await c.make(ch);
    const a = await client();
    const b = new Client(srv.addr, { token: null });
    await b.ready;
    const r = a.recv(ch, { timeoutMs: 30000 });
    await waitUntil(async () => (await c.stat(ch)).receivers_waiting === 1);
    await b.send(ch, { n: 1 }, { timeoutMs: 0 });
    assert.deepEqual(await r, { n: 1 });
    const s = b.send(ch, { n: 2 });
    await waitUntil(async () => (await c.stat(ch)).senders_waiting === 1);
    assert.deepEqual(await a.recv(ch), { n: 2 });
    await s;
    const s3 = assert.rejects(b.send(ch, { n: 3 }), JqConnectionError);
    await waitUntil(async () => (await c.stat(ch)).senders_waiting === 1);
    await b.close();
    await s3;
    await waitUntil(async () => (await c.stat(ch)).senders_waiting === 0);
    await assert.rejects(a.recv(ch, { timeoutMs: 0 }), { code: 'timeout' });
  });

  it('blocked ops fail when their channel is closed or dropped', async () => {
    const ch = uniq('cd');
    await c.make(ch, 1);
    await c.send(ch, 'full');
    const a = await client();
    const s = assert.rejects(a.send(ch, 'z'), { code: 'closed' });
    await waitUntil(async () => (await c.stat(ch)).senders_waiting === 1);
    await c.closeChan(ch);
    await s;
    const t = uniq('cd');
    await c.make(t);
    const r = assert.rejects(a.recv(t), { code: 'not_found', message: `channel '${t}' was dropped` });
    await waitUntil(async () => (await c.stat(t)).receivers_waiting === 1);
    await c.drop(t);
    await r;
  });

  it('end(): half-close returns the replies due, abandons a blocked request (and no reconnect)', async () => {
    const ch = uniq('hc');
    await c.make(ch, 1);
    const a = await client();
    const r1 = a.send(ch, 'a');
    const r2 = a.send(ch, 'b');
    const r3 = a.ping();
    const res = Promise.allSettled([r1, r2, r3]);
    await a.end();
    const [x, y, z] = await res;
    assert.equal(x.status, 'fulfilled');
    assert.equal(y.status, 'rejected');
    assert.ok(y.reason instanceof JqConnectionError);
    assert.equal(z.status, 'fulfilled');   // multiplexed: not behind the blocked send
    assert.deepEqual(await c.recvMany(ch, 5), ['a']);
    assert.equal(a.isOpen, false);
  });

  it('select: ready recv, default, send case, blocking, closed, not_found with index', async () => {
    const hi = uniq('hi');
    const lo = uniq('lo');
    const quit = uniq('quit');
    await c.make(hi, 1);
    await c.make(lo, 1);
    await c.make(quit);
    await c.send(lo, 'job-1');
    assert.deepEqual(await c.select([recvCase(hi), recvCase(lo)]), { index: 1, closed: false, value: 'job-1' });
    await assert.rejects(c.select([recvCase(hi), recvCase(lo)], { timeoutMs: 0 }),
      { code: 'timeout', message: 'timed out after 0 ms: no case is ready' });
    assert.deepEqual(await c.select([sendCase(hi, null), recvCase(lo)]), { index: 0, closed: false });
    assert.equal(await c.recv(hi), null);

    const a = await client();
    const sel = a.select([{ recv: lo }, { recv: quit }], { timeoutMs: 10000 });
    await waitUntil(async () => (await c.stat(quit)).receivers_waiting === 1);
    await c.send(quit, true);
    assert.deepEqual(await sel, { index: 1, closed: false, value: true });

    await assert.rejects(c.select([recvCase(lo), recvCase(uniq('nosuch'))]),
      (e) => e.code === 'not_found' && e.index === 1 && e.details.index === 1);
    await c.closeChan(lo);
    assert.deepEqual(await c.select([recvCase(quit), recvCase(lo)]), { index: 1, closed: true });
    await assert.rejects(c.select([recvCase(quit), sendCase(lo, 1)]), (e) => e.code === 'closed' && e.index === 1);
    await assert.rejects(c.select([]), { code: 'bad_request' });
    await assert.rejects(c.select([{ recv: quit, send: quit, value: 1 }]), { code: 'bad_request' });
  });

  it('leases: ack, nack and redelivered, expiry, stale ack, lease on unbuffered', async () => {
    const ch = uniq('work');
    await c.make(ch, 10);
    await c.sendBatch(ch, ['a', 'b', 'c']);
    const la = await c.recvLease(ch, 30000);
    assert.ok(la instanceof Lease);
    assert.equal(la.value, 'a');
    assert.equal(la.redelivered, 0);
    assert.equal(typeof la.lease, 'string');
    assert.equal(la.chan, ch);
    const lb = await c.recvLease(ch, 30000);
    assert.equal(lb.value, 'b');
    let st = await c.stat(ch);
    assert.equal(st.len, 1);
    assert.equal(st.leased, 2);
    await la.ack();
    assert.equal(la.done, true);
    await assert.rejects(c.ack(ch, la.lease), { code: 'not_found' });
    await assert.rejects(la.ack(), { code: 'not_found' });
    await lb.nack();
    const many = await c.recvLeases(ch, 5, 200);
    assert.deepEqual(many.map((l) => l.value), ['b', 'c']);
    assert.deepEqual(many.map((l) => l.redelivered), [1, 0]);
    // no ack within 200 ms: both return to the front
    await waitUntil(async () => (await c.stat(ch)).leased === 0, 10000, 'lease expiry');
    const again = await c.recvLease(ch, 30000);
    assert.equal(again.redelivered >= 1, true);
    await c.ack(ch, again);            // ack with a Lease object
    const last = await c.recvLeases(ch, 5, 30000);
    assert.equal(last.length, 1);
    await c.nack(ch, last[0].lease);   // nack with a lease string
    st = await c.stat(ch);
    assert.equal(st.len, 1);
    assert.equal(st.leased, 0);
    const un = uniq('sync');
    await c.make(un);
    await assert.rejects(c.recvLease(un, 1000), { code: 'bad_request' });
    await assert.rejects(c.recvLease(ch, 0), { code: 'bad_request' });
  });

  it('leases return when their connection closes; ack from another connection', async () => {
    const ch = uniq('lc');
    await c.make(ch, 4);
    await c.sendBatch(ch, [1, 2]);
    const a = await client();
    const l1 = await a.recvLease(ch, 60000);
    const l2 = await a.recvLease(ch, 60000);
    await c.ack(ch, l2.lease);         // any connection may ack
    await a.close();
    await waitUntil(async () => (await c.stat(ch)).leased === 0);
    const back = await c.recvLease(ch, 60000);
    assert.equal(back.value, l1.value);
    assert.equal(back.redelivered, 1);
    await back.ack();
    const closedCh = uniq('lcc');
    await c.make(closedCh, 1);
    await c.closeChan(closedCh);
    await assert.rejects(c.recvLease(closedCh, 1000), { code: 'closed' });
    await assert.rejects(c.recvLeases(closedCh, 3, 1000), { code: 'closed' });
  });
});

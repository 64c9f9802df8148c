'use strict';
// Client-side behaviour that needs no jqd: line reassembly, addresses,
// encoding, reply matching and connection failures, against a scripted
// fake server on a local socket.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const {
  Client, connect, JqError, JqConnectionError, OutcomeUnknownError, LineSplitter, parseAddr,
  recvCase, sendCase, defaultAddr, defaultTokenFile,
} = require('../jqclient.js');

/**
 * A fake server: `script(sock, lines)` is called with each received line
 * (parsed JSON, or the raw text if it does not parse); it writes whatever
 * it likes.  Resolves {addr, close(), frames}.
 */
async function fakeServer(onFrame, onHello = (sock, f) => sock.write(ok(f, { multiplex: true }))) {
  const frames = [];
  const hellos = [];
  const sockets = new Set();
  const srv = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (s) => {
      buf += s;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let f;
        try { f = JSON.parse(line); } catch { f = line; }
        if (f && f.op === 'hello') { hellos.push(f); onHello(sock, f); continue; }
        frames.push(f);
        onFrame(sock, f);
      }
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    addr: `127.0.0.1:${srv.address().port}`,
    frames,
    hellos,
    sockets,
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      srv.close(() => r());
    }),
  };
}

async function waitFor(fn, ms = 10000) {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const ok = (f, rest = {}) => `${JSON.stringify({ id: f.id, ok: true, ...rest })}\n`;

test('LineSplitter reassembles lines from arbitrary chunks', () => {
  const lines = [];
  const sp = new LineSplitter((l) => lines.push(l));
  const text = Buffer.from('{"a":"é😀"}\r\n{"b":2}\n\n{"c":3}\r\npartial');
  for (const b of text) sp.push(Buffer.from([b]));  // byte by byte: splits UTF-8 sequences
  assert.deepEqual(lines, ['{"a":"é😀"}', '{"b":2}', '', '{"c":3}']);
  assert.equal(sp.pendingBytes, 7);
  sp.push(Buffer.from('\n'));
  assert.equal(lines.at(-1), 'partial');

  const many = [];
  const sp2 = new LineSplitter((l) => many.push(l));
  sp2.push(Buffer.from('x\ny\r\nz\r'));
  sp2.push(Buffer.from('\n'));
  assert.deepEqual(many, ['x', 'y', 'z']);
});

test('LineSplitter enforces its line limit', () => {
  let tooLong = 0;
  const lines = [];
  const sp = new LineSplitter((l) => lines.push(l), 8, () => { tooLong += 1; });
  sp.push(Buffer.from('12345678\n'));
  sp.push(Buffer.from('12345'));
  sp.push(Buffer.from('6789'));
  assert.deepEqual(lines, ['12345678']);
  assert.equal(tooLong, 1);
});

test('defaults: the user\'s socket, else the system\'s; the token file', () => {
  const saved = { ...process.env };
  try {
    delete process.env.XDG_RUNTIME_DIR;
    process.env.XDG_CONFIG_HOME = '/x/conf';
    assert.equal(defaultTokenFile(), '/x/conf/jqd/token');
    delete process.env.XDG_CONFIG_HOME;
    process.env.HOME = '/x/home';
    assert.equal(defaultTokenFile(), '/x/home/.config/jqd/token');
    process.env.XDG_RUNTIME_DIR = '/nonexistent';
    // Nothing listens there: the system socket (root's default anyway).
    assert.equal(defaultAddr(), 'unix:/run/jqd/jqd.sock');
  } finally {
    for (const k of Object.keys(process.env)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});

test('parseAddr', () => {
  const saved = process.env.JQ_ADDR;
  try {
    delete process.env.JQ_ADDR;
    assert.deepEqual(parseAddr(), { path: defaultAddr().slice(5) });
    assert.deepEqual(parseAddr('localhost:99'), { host: 'localhost', port: 99 });
    assert.deepEqual(parseAddr('example.org'), { host: 'example.org', port: 7411 });
    assert.deepEqual(parseAddr(':5'), { host: '127.0.0.1', port: 5 });
    assert.deepEqual(parseAddr('[::1]:7000'), { host: '::1', port: 7000 });
    assert.deepEqual(parseAddr('[::1]'), { host: '::1', port: 7411 });
    assert.deepEqual(parseAddr('unix:/run/jqd.sock'), { path: '/run/jqd.sock' });
    assert.deepEqual(parseAddr('unix:rel.sock'), { path: 'rel.sock' });
    assert.deepEqual(parseAddr('./jqd.sock'), { path: './jqd.sock' });
    assert.deepEqual(parseAddr({ path: '/x' }), { path: '/x' });
    assert.deepEqual(parseAddr({ host: 'h', port: 1 }), { host: 'h', port: 1 });
    process.env.JQ_ADDR = 'unix:/tmp/env.sock';
    assert.deepEqual(parseAddr(), { path: '/tmp/env.sock' });
    assert.deepEqual(parseAddr(''), { path: '/tmp/env.sock' });
    for (const bad of ['h:port', 'h:70000', '::1:5', 'unix:', 'h:-1']) {
      assert.throws(() => parseAddr(bad), TypeError, bad);
    }
  } finally {
    if (saved === undefined) delete process.env.JQ_ADDR; else process.env.JQ_ADDR = saved;
  }
});

test('requests are multiplexed: fields snake_cased, replies matched by id out of order (CRLF, split chunks)', async () => {
  const srv = await fakeServer((sock, f) => {
    if (f.op === 'batch-go') {
      // Answer everything received so far, newest first, in one write split oddly.
      const out = Buffer.from(ok(f) + srv.frames.slice(0, -1).reverse()
        .map((g) => ok(g, { echo: g }).replace('\n', '\r\n')).join(''));
      for (let i = 0; i < out.length; i += 7) sock.write(out.subarray(i, i + 7));
    }
  });
  const c = await connect(srv.addr, { token: null });
  assert.deepEqual(srv.hellos[0], { id: srv.hellos[0].id, op: 'hello', multiplex: true });
  const p1 = c.call('recv', { chan: 'a', timeoutMs: 5, leaseMs: 100, max: 2, resultChan: 'r', already_snake: 1, gone: undefined, nil: null });
  const p2 = c.send('b', 'é😀', { timeoutMs: 0 });
  const p3 = c.select([recvCase('a'), sendCase('b', null)], { timeoutMs: 9 });
  const p4 = c.call('batch-go');
  const [r1, , r3] = await Promise.all([p1, p2, p3, p4]);
  const { id, ...echo } = r1.echo;
  assert.deepEqual(echo, { op: 'recv', chan: 'a', timeout_ms: 5, lease_ms: 100, max: 2, result_chan: 'r', already_snake: 1 });
  assert.equal(r1.id, id);
  assert.deepEqual(srv.frames[1], { id: srv.frames[1].id, op: 'send', chan: 'b', value: 'é😀', timeout_ms: 0 });
  assert.deepEqual(srv.frames[2].cases, [{ recv: 'a' }, { send: 'b', value: null }]);
  assert.equal(new Set(srv.frames.map((f) => f.id)).size, 4);  // ids differ
  assert.equal(r3.index, undefined);
  await c.close();
  await srv.close();
});

test('error replies become JqError with code, message, details', async () => {
  const srv = await fakeServer((sock, f) => {
    sock.write(`${JSON.stringify({ id: f.id, ok: false, error: { code: 'timeout', message: 'timed out after 0 ms: 2 jobs not finished', pending: 2 } })}\n`);
  });
  const c = await connect(srv.addr, { token: null });
  await assert.rejects(c.wait([1, 2], { timeoutMs: 0 }), (e) => {
    assert.ok(e instanceof JqError);
    assert.equal(e.name, 'JqError');
    assert.equal(e.code, 'timeout');
    assert.equal(e.message, 'timed out after 0 ms: 2 jobs not finished');
    assert.deepEqual(e.details, { pending: 2 });
    assert.equal(e.pending, 2);
    assert.equal(e.op, 'wait');
    return true;
  });
  // The connection stays usable after an error reply.
  await assert.rejects(c.ping(), { code: 'timeout' });
  await c.close();
  await srv.close();
});

test('unsolicited limit/unauthorized frames reject pending calls and close', async () => {
  for (const code of ['limit', 'unauthorized']) {
    const srv = await fakeServer(() => {}, (sock) => {
      sock.write(`{"id":null,"ok":false,"error":{"code":"${code}","message":"bye"}}\n`);
    });
    const c = new Client(srv.addr, { token: null });
    const closed = new Promise((r) => c.once('close', r));
    const p = c.ping();
    await assert.rejects(p, (e) => e instanceof JqError && e.code === code && e.message === 'bye');
    const err = await closed;
    assert.equal(err.code, code);
    assert.equal(c.isOpen, false);
    await assert.rejects(c.ping(), { code });
    await srv.close();
  }
});

test('connection loss: idempotent calls are sent again on a new connection, the others fail OutcomeUnknownError', async () => {
  const srv = await fakeServer((sock, f) => {
    if (f.op === 'die') sock.destroy();
    else if (f.op === 'ping' || f.op === 'stat') sock.write(ok(f));
  });
  const c = await connect(srv.addr, { token: null, reconnect: { minDelayMs: 10 } });
  const reconnected = new Promise((r) => c.once('reconnect', r));
  const calls = [c.ping(), c.recv('x'), c.call('die'), c.recvLease('y', 1000).catch((e) => e),
    c.stat('z'), c.send('q', 1), c.send('q', 2, { key: 'k2' }).catch((e) => e)];
  const res = await Promise.allSettled(calls.slice(0, 3).concat(calls.slice(4, 6)));
  assert.equal(res[0].status, 'fulfilled');
  for (const r of [res[1], res[2], res[4]]) {
    assert.equal(r.status, 'rejected');
    assert.ok(r.reason instanceof OutcomeUnknownError, String(r.reason));
    assert.equal(r.reason.code, 'EOUTCOME');
    assert.ok(r.reason.cause instanceof JqConnectionError);
  }
  assert.equal(res[3].status, 'fulfilled');  // stat: retried
  await reconnected;
  assert.equal(srv.hellos.length, 2);
  // the leased recv and the keyed send were written again on the new connection
  await waitFor(() => srv.frames.filter((f) => f.op === 'recv' && f.chan === 'y').length === 2);
  assert.equal(srv.frames.filter((f) => f.key === 'k2').length, 2);
  await c.close();
  assert.ok((await calls[3]) instanceof JqConnectionError);
  assert.equal((await calls[6]).code, 'ECLOSED');
  await srv.close();
});

test('reconnect: false: connection loss rejects every pending call with JqConnectionError', async () => {
  const srv = await fakeServer((sock, f) => {
    if (f.op === 'die') sock.destroy();
    else if (f.op === 'ping') sock.write(ok(f));
  });
  const c = await connect(srv.addr, { token: null, reconnect: false });
  const calls = [c.ping(), c.recv('x'), c.call('die'), c.recv('y'), c.ping()];
  const res = await Promise.allSettled(calls);
  assert.equal(res[0].status, 'fulfilled');
  for (const r of res.slice(1)) {
    if (r.status === 'fulfilled') continue;  // the last ping may be answered before the die
    assert.ok(r.reason instanceof JqConnectionError, String(r.reason));
    assert.ok(['EEOF', 'ECONNRESET'].includes(r.reason.code), r.reason.code);
  }
  assert.equal(res[1].status, 'rejected');
  await assert.rejects(c.ping(), JqConnectionError);
  await srv.close();
});

test('a reply that matches no request is a protocol error', async () => {
  const srv = await fakeServer((sock, f) => {
    sock.write(`${JSON.stringify({ id: f.id + 100, ok: true })}\n`);
  });
  const c = await connect(srv.addr, { token: null, reconnect: false });
  const a = c.ping();
  const b = c.ping();
  await assert.rejects(a, { name: 'JqConnectionError', code: 'EPROTO' });
  await assert.rejects(b, { name: 'JqConnectionError', code: 'EPROTO' });
  await srv.close();

  const srv2 = await fakeServer((sock) => sock.write('not json\n'));
  const c2 = await connect(srv2.addr, { token: null, reconnect: false });
  await assert.rejects(c2.ping(), { code: 'EPROTO' });
  await srv2.close();

  // a server without multiplex (protocol 1.0) is refused at connect
  const srv3 = await fakeServer(() => {}, (sock, f) => sock.write(ok(f, { server: 'jqd', protocol: 1 })));
  await assert.rejects(connect(srv3.addr, { token: null }), { code: 'EPROTO', message: /multiplex/ });
  await srv3.close();
});

test('close() rejects pending calls with ECLOSED; arguments that cannot be encoded are refused', async () => {
  const srv = await fakeServer(() => {});
  const c = await connect(srv.addr, { token: null });
  await assert.rejects(c.send('q', 10n), TypeError);
  await assert.rejects(c.send('q'), TypeError);
  await assert.rejects(c.sendBatch('q', 'nope'), TypeError);
  const p = assert.rejects(c.recv('q'), { name: 'JqConnectionError', code: 'ECLOSED' });
  await c.close();
  await p;
  await c.close();  // idempotent
  assert.equal(c.unref(), c);
  assert.equal(c.ref(), c);
  await assert.rejects(connect('h:port'), TypeError);
  await assert.rejects(c.ping(), { code: 'ECLOSED' });
  assert.ok(srv.frames.every((f) => f.op !== 'send'));  // nothing of the refused sends went out
  await srv.close();
});

test('connecting to nothing rejects with ECONNREFUSED / ENOENT', async () => {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  await assert.rejects(connect(`127.0.0.1:${port}`, { token: null }), { name: 'JqConnectionError', code: 'ECONNREFUSED' });
  await assert.rejects(connect('unix:/nonexistent/jqd.sock', { token: null }), { code: 'ENOENT' });
});

test('watch: sent again after a reconnect; frames already delivered are skipped', async () => {
  const frame = (f, rest) => `${JSON.stringify({ id: f.id, ok: true, ...rest })}\n`;
  const running = { job: 5, attempt: 1, state: 'running' };
  const srv = await fakeServer((sock, f) => {
    if (f.op !== 'watch') return;
    if (srv.hellos.length === 1) {
      sock.write(frame(f, { event: 'state', job: 5, state: 'running', result: running })
        + frame(f, { event: 'synced' })
        + frame(f, { event: 'output', job: 5, stream: 'stdout', data: 'ab' }));
      setTimeout(() => sock.destroy(), 20);
    } else {
      // the new connection's snapshot repeats the state and the output so far
      sock.write(frame(f, { event: 'state', job: 5, state: 'running', result: running })
        + frame(f, { event: 'output', job: 5, stream: 'stdout', data: 'abc' })
        + frame(f, { event: 'synced' })
        + frame(f, { event: 'output', job: 5, stream: 'stdout', data: 'd' })
        + frame(f, { event: 'state', job: 5, state: 'succeeded', result: { ...running, state: 'succeeded' } })
        + frame(f, { end: true, results: [{ job: 5, state: 'succeeded', stdout: 'abcd' }] }));
    }
  });
  const c = await connect(srv.addr, { token: null, reconnect: { minDelayMs: 10 } });
  const seen = [];
  const results = await c.watch(5, { onEvent: (f) => seen.push(f.event === 'output' ? f.data : `${f.event}:${f.state || ''}`) });
  assert.deepEqual(results, [{ job: 5, state: 'succeeded', stdout: 'abcd' }]);
  assert.deepEqual(seen, ['state:running', 'synced:', 'ab', 'c', 'synced:', 'd', 'state:succeeded']);
  assert.equal(srv.frames.filter((f) => f.op === 'watch').length, 2);
  await c.close();
  await srv.close();
});

test('frames jqd would refuse whole are refused here: integers outside 64 bits, U+0000 in a key', async () => {
  const srv = await fakeServer((sock, f) => sock.write(ok(f)));
  const c = await connect(srv.addr, { token: null });
  for (const bad of [2 ** 63, -(2 ** 64), 1e20, { 'a\u0000': 1 }, [{ x: { '\u0000': null } }]]) {
    await assert.rejects(c.send('q', bad, { key: 'k' }), TypeError, JSON.stringify(bad));
  }
  const fine = [2 ** 53, -(2 ** 62), 1e21, 'a\u0000 in a string', { k: '12345678901234567890123' },
    { '\\u0000': 1 }, { '12345678901234567890123': 1 }, 1234567890.123456789012];
  for (const v of fine) await c.send('q', v);
  assert.deepEqual(srv.frames.filter((f) => f.op === 'send').map((f) => f.value), fine);
  assert.equal(srv.hellos.length, 1);
  await c.close();
  await srv.close();
});

test('"id": null bad_request answers the only call pending; with several, nothing is sent again', { timeout: 20000 }, async () => {
  const nullId = '{"id":null,"ok":false,"error":{"code":"bad_request","message":"frame is not valid JSON"}}\n';
  const srv = await fakeServer((sock, f) => {
    if (f.op === 'stat' && f.chan === 'bad') sock.write(nullId);
    else if (f.op === 'ping') sock.write(ok(f));
  });
  const c = await connect(srv.addr, { token: null, reconnect: { minDelayMs: 10 } });
  await assert.rejects(c.stat('bad'), (e) => e instanceof JqError && e.code === 'bad_request' && e.op === 'stat');
  await c.ping();  // the connection stays
  assert.equal(srv.hellos.length, 1);
  // two pending: the reply cannot be matched; the connection breaks and
  // neither idempotent call is sent again (the bad one would break it again)
  const blocked = c.recvLease('x', 1000);
  await waitFor(() => srv.frames.some((f) => f.op === 'recv'));
  await assert.rejects(c.stat('bad'), { name: 'JqConnectionError', code: 'EPROTO' });
  await assert.rejects(blocked, { name: 'JqConnectionError', code: 'EPROTO' });
  await c.ping();
  assert.equal(srv.hellos.length, 2);
  assert.equal(srv.frames.filter((f) => f.op === 'stat').length, 2);
  assert.equal(srv.frames.filter((f) => f.op === 'recv').length, 1);
  await c.close();
  await srv.close();
});

test('a reply longer than maxReplyBytes rejects ETOOBIG once; the call is not sent again', { timeout: 20000 }, async () => {
  const srv = await fakeServer((sock, f) => sock.write(ok(f, f.op === 'stats' ? { pad: 'x'.repeat(5000) } : {})));
  const c = await connect(srv.addr, { token: null, maxReplyBytes: 2000, reconnect: { minDelayMs: 10 } });
  await assert.rejects(c.stats(), { name: 'JqConnectionError', code: 'ETOOBIG' });
  await c.ping();  // on a new connection
  assert.equal(srv.frames.filter((f) => f.op === 'stats').length, 1);
  await c.close();
  await srv.close();
});

test('a keyed send sent again after a loss and answered exists is sent again after a backoff', { timeout: 20000 }, async () => {
  let existsLeft = 2;
  const srv = await fakeServer((sock, f) => {
    if (f.op !== 'send') return;
    if (srv.hellos.length === 1) sock.destroy();           // lost before the reply
    else if (existsLeft > 0) {                              // the old send still blocked
      existsLeft -= 1;
      sock.write(`${JSON.stringify({ id: f.id, ok: false, error: { code: 'exists', message: 'still blocked' } })}\n`);
    } else sock.write(ok(f));
  });
  const c = await connect(srv.addr, { token: null, reconnect: { minDelayMs: 10 } });
  assert.deepEqual(await c.send('q', 1, { key: 'k1' }), { duplicate: false });
  assert.equal(srv.frames.filter((f) => f.key === 'k1').length, 4);
  // a first send answered exists (another sender's, blocked) is the caller's to handle
  existsLeft = 1;
  await assert.rejects(c.send('q', 2, { key: 'k2' }), (e) => e instanceof JqError && e.code === 'exists');
  assert.equal(srv.frames.filter((f) => f.key === 'k2').length, 1);
  await c.close();
  await srv.close();
});

test('a server that never answers hello fails the dial after connectTimeoutMs; the next dial gets through', { timeout: 20000 }, async () => {
  let silent = 1;
  const srv = await fakeServer((sock, f) => sock.write(ok(f)), (sock, f) => {
    if (silent > 0) { silent -= 1; return; }
    sock.write(ok(f, { multiplex: true }));
  });
  await assert.rejects(connect(srv.addr, { token: null, connectTimeoutMs: 200 }),
    { name: 'JqConnectionError', code: 'ETIMEDOUT' });
  silent = 1;
  const c = new Client(srv.addr, { token: null, connectTimeoutMs: 200, waitForServer: true, reconnect: { minDelayMs: 10 } });
  await c.ping();
  assert.equal(srv.hellos.length, 3);
  await c.close();
  await srv.close();
});

test('maxQueued: calls waiting for a connection are bounded; the one past the bound rejects at once, naming the option', async () => {
  const srv = await fakeServer(() => {}, () => {});  // hello never answered: never connected
  const c = new Client(srv.addr, { token: null, maxQueued: 3, reconnect: { giveUpMs: Infinity } });
  const waiting = [c.ping(), c.stats(), c.recv('x')].map((p) => p.catch((e) => e));
  await assert.rejects(c.ping(), (e) => e instanceof JqError && e.code === 'limit'
    && /maxQueued/.test(e.message) && e.details.maxQueued === 3 && e.op === 'ping');
  await assert.rejects(c.send('x', 1), { code: 'limit', op: 'send' });
  assert.equal(c.pendingCount, 3);
  await c.close();
  for (const e of await Promise.all(waiting)) assert.equal(e.code, 'ECLOSED');
  await srv.close();
});

test('back-pressure: a socket that does not drain holds calls in the client, not in its write buffer', { timeout: 60000 }, async () => {
  const paused = [];
  const srv = await fakeServer((sock, f) => sock.write(ok(f)), (sock, f) => {
    sock.write(ok(f, { multiplex: true }));
    sock.pause();  // reads nothing more until resumed
    paused.push(sock);
  });
  const c = await connect(srv.addr, { token: null });
  const pad = 'p'.repeat(100000);
  const calls = Array.from({ length: 200 }, () => c.call('ping', { pad }));  // 20 MB
  await waitFor(() => c._queue.length > 0);  // the socket stopped taking more
  assert.ok(c._conn.sock.writableLength <= 512 * 1024, `buffered ${c._conn.sock.writableLength}`);
  assert.ok(c._queue.length > 0);
  for (const s of paused) s.resume();
  await Promise.all(calls);  // written as the socket drains, in order
  assert.deepEqual(srv.frames.map((f) => f.id), [...srv.frames.map((f) => f.id)].sort((a, b) => a - b));
  assert.equal(srv.frames.length, 200);
  await c.close();
  await srv.close();
});

test('recv and recvMany refuse leaseMs (the lease could not be acked): recvLease, recvLeases', async () => {
  const srv = await fakeServer((sock, f) => sock.write(ok(f)));
  const c = await connect(srv.addr, { token: null });
  await assert.rejects(c.recv('x', { leaseMs: 1000 }), (e) => e instanceof TypeError && /recvLease\(/.test(e.message));
  await assert.rejects(c.recvMany('x', 2, { leaseMs: 1000 }), (e) => e instanceof TypeError && /recvLeases\(/.test(e.message));
  await c.ping();
  assert.deepEqual(srv.frames.map((f) => f.op), ['ping']);  // nothing else was sent
  await c.close();
  await srv.close();
});

test('hello({consumer}) sends it and makes it the client\'s: said again on the next connection; multiplex is refused', async () => {
  const srv = await fakeServer(() => {}, (sock, f) => sock.write(ok(f, { multiplex: true, consumer: f.consumer })));
  const c = await connect(srv.addr, { token: null, reconnect: { minDelayMs: 10 } });
  const h = await c.hello({ consumer: 'w-2' });
  assert.equal(h.consumer, 'w-2');
  assert.equal(srv.hellos[1].consumer, 'w-2');
  assert.equal(c.consumer, 'w-2');
  await assert.rejects(c.hello({ multiplex: false }), TypeError);
  assert.equal(srv.hellos.length, 2);
  const reconnected = new Promise((r) => c.once('reconnect', r));
  for (const s of srv.sockets) s.destroy();
  await reconnected;
  assert.deepEqual(srv.hellos[2], { id: srv.hellos[2].id, op: 'hello', multiplex: true, consumer: 'w-2' });
  await c.close();
  await srv.close();
});

test('back-pressure and a lost connection: calls sent again keep their order before the calls still queued', { timeout: 60000 }, async () => {
  const paused = [];
  const srv = await fakeServer((sock, f) => sock.write(ok(f)), (sock, f) => {
    sock.write(ok(f, { multiplex: true }));
    if (paused.length === 0) { sock.pause(); paused.push(sock); }  // the first connection reads nothing
  });
  const c = await connect(srv.addr, { token: null, reconnect: { minDelayMs: 10 } });
  const pad = 'p'.repeat(100000);
  const calls = Array.from({ length: 200 }, (_, n) => c.call('ping', { pad, n }));
  await waitFor(() => c._queue.length > 0 && c._calls.size > 0);  // some written, some queued
  paused[0].destroy();
  await Promise.all(calls);
  const again = srv.frames.filter((f) => f.op === 'ping').map((f) => f.n);
  assert.deepEqual(again, [...Array(200).keys()]);  // in the order made
  await c.close();
  await srv.close();
});

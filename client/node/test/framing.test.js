'use strict';
// Client-side behaviour that needs no jqd: line reassembly, addresses,
// encoding, reply matching and connection failures, against a scripted
// fake server on a local socket.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const {
  Client, connect, JqError, JqConnectionError, LineSplitter, parseAddr,
  recvCase, sendCase, defaultAddr, defaultTokenFile,
} = require('../jqclient.js');

/**
 * A fake server: `script(sock, lines)` is called with each received line
 * (parsed JSON, or the raw text if it does not parse); it writes whatever
 * it likes.  Resolves {addr, close(), frames}.
 */
async function fakeServer(onFrame) {
  const frames = [];
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
        frames.push(f);
        onFrame(sock, f);
      }
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    addr: `127.0.0.1:${srv.address().port}`,
    frames,
    sockets,
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      srv.close(() => r());
    }),
  };
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

test('requests are pipelined, fields snake_cased, replies matched by order (CRLF, split chunks)', async () => {
  const srv = await fakeServer((sock, f) => {
    if (f.op === 'batch-go') {
      // Answer everything received so far, in one write split oddly.
      const out = Buffer.from(srv.frames.slice(0, -1).map((g) => ok(g, { echo: g }).replace('\n', '\r\n')).join('')
        + ok(f));
      for (let i = 0; i < out.length; i += 7) sock.write(out.subarray(i, i + 7));
    }
  });
  const c = await connect(srv.addr, { token: null });
  const p1 = c.call('recv', { chan: 'a', timeoutMs: 5, leaseMs: 100, max: 2, resultChan: 'r', already_snake: 1, gone: undefined, nil: null });
  const p2 = c.send('b', 'é😀', { timeoutMs: 0 });
  const p3 = c.select([recvCase('a'), sendCase('b', null)], { timeoutMs: 9 });
  const p4 = c.call('batch-go');
  const [r1, , r3] = await Promise.all([p1, p2, p3, p4]);
  assert.deepEqual(r1.echo, { id: 1, op: 'recv', chan: 'a', timeout_ms: 5, lease_ms: 100, max: 2, result_chan: 'r', already_snake: 1 });
  assert.deepEqual(srv.frames[1], { id: 2, op: 'send', chan: 'b', value: 'é😀', timeout_ms: 0 });
  assert.deepEqual(srv.frames[2].cases, [{ recv: 'a' }, { send: 'b', value: null }]);
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

test('a reply with "id": null answers a frame the server could not read', async () => {
  const srv = await fakeServer((sock, f) => {
    if (typeof f === 'string') sock.write('{"id":null,"ok":false,"error":{"code":"bad_request","message":"frame is not valid JSON"}}\n');
    else sock.write(ok(f));
  });
  const c = await connect(srv.addr, { token: null });
  const bad = c.raw('{"op":');
  const good = c.ping();
  assert.deepEqual(await bad, { id: null, ok: false, error: { code: 'bad_request', message: 'frame is not valid JSON' } });
  assert.equal(await good, undefined);
  await assert.rejects(c.raw(''), TypeError);
  await assert.rejects(c.raw('a\nb'), TypeError);
  await c.close();
  await srv.close();
});

test('unsolicited limit/unauthorized frames reject pending calls and close', async () => {
  for (const code of ['limit', 'unauthorized']) {
    const srv = await fakeServer((sock) => {
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

test('connection loss rejects every pending call with JqConnectionError', async () => {
  const srv = await fakeServer((sock, f) => {
    if (f.op === 'die') sock.destroy();
    else if (f.op === 'ping') sock.write(ok(f));
  });
  const c = await connect(srv.addr, { token: null });
  const calls = [c.ping(), c.recv('x'), c.call('die'), c.recv('y'), c.ping()];
  const res = await Promise.allSettled(calls);
  assert.equal(res[0].status, 'fulfilled');
  for (const r of res.slice(1)) {
    assert.equal(r.status, 'rejected');
    assert.ok(r.reason instanceof JqConnectionError, String(r.reason));
    assert.ok(['EEOF', 'ECONNRESET'].includes(r.reason.code), r.reason.code);
  }
  await assert.rejects(c.ping(), JqConnectionError);
  await srv.close();
});

test('a reply that does not match the request id is a protocol error', async () => {
  const srv = await fakeServer((sock, f) => {
    sock.write(`${JSON.stringify({ id: f.id + 100, ok: true })}\n`);
  });
  const c = await connect(srv.addr, { token: null });
  const a = c.ping();
  const b = c.ping();
  await assert.rejects(a, { name: 'JqConnectionError', code: 'EPROTO' });
  await assert.rejects(b, { name: 'JqConnectionError', code: 'EPROTO' });
  await srv.close();

  const srv2 = await fakeServer((sock) => sock.write('not json\n'));
  const c2 = await connect(srv2.addr, { token: null });
  await assert.rejects(c2.ping(), { code: 'EPROTO' });
  await srv2.close();
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

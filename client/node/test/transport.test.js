'use strict';
// Transports and sessions against real jqd servers: Unix socket, JQ_ADDR
// and JQ_TOKEN defaults, address lists (two jqd and addresses that refuse
// or hang), token auth (a jqd with --token-file), the unsolicited
// auth_timeout and max_connections frames, shutting down.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  connect, Client, JqError, JqConnectionError, parseAddrs, DIAL_TIMEOUT_MS,
} = require('../jqclient.js');
const {
  SKIP, startServer, waitUntil, uniq, refusedPort, blackhole,
} = require('./harness.js');

function withEnv(vars, fn) {
  const saved = {};
  for (const k of Object.keys(vars)) {
    saved[k] = process.env[k];
    if (vars[k] === undefined) delete process.env[k]; else process.env[k] = vars[k];
  }
  const restore = () => {
    for (const k of Object.keys(saved)) {
      if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
    }
  };
  return Promise.resolve().then(fn).finally(restore);
}

describe('unix socket and JQ_ADDR', { skip: SKIP }, () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(async () => { if (srv) await srv.stop(); });

  it('connects with unix:PATH and with a plain path; both see the same channels', async () => {
    const a = await connect(`unix:${srv.unixPath}`, { token: null });
    const b = await connect(srv.unixPath, { token: null });
    const t = await connect({ host: '127.0.0.1', port: srv.port }, { token: null });
    const ch = uniq('ux');
    assert.equal(await a.make(ch, 3), true);
    await a.send(ch, 'over unix');
    assert.equal(await b.recv(ch), 'over unix');
    assert.equal((await t.stat(ch)).received, 1);
    assert.equal(a.address, `unix:${srv.unixPath}`);
    assert.equal(t.address, srv.addr);
    // pipelining over the Unix socket as well (cap >= the values in flight)
    const big = uniq('ux');
    await b.make(big, 200);
    const got = await Promise.all(Array.from({ length: 200 }, (_, i) => b.send(big, i).then(() => b.recv(big))));
    assert.equal(got.length, 200);
    await Promise.all([a.close(), b.close(), t.close()]);
  });

  it('uses JQ_ADDR when no address is given', async () => {
    await withEnv({ JQ_ADDR: `unix:${srv.unixPath}`, JQ_TOKEN: undefined }, async () => {
      const c = await connect();
      assert.equal(c.address, `unix:${srv.unixPath}`);
      await c.ping();
      await c.close();
    });
    await withEnv({ JQ_ADDR: srv.addr, JQ_TOKEN: '' }, async () => {
      const c = await connect(undefined);
      await c.ping();
      await c.close();
    });
  });
});

describe('address lists', { skip: SKIP }, () => {
  let a;
  let b;
  before(async () => { [a, b] = await Promise.all([startServer(), startServer()]); });
  after(async () => { await Promise.all([a, b].filter(Boolean).map((s) => s.stop())); });

  /** Does srv have channel ch?  Asked on a connection of its own. */
  async function has(srv, ch) {
    const probe = await connect(srv.addr, { token: null });
    try { return (await probe.call('stat', { chan: ch }).then(() => true, () => false)); }
    finally { await probe.close(); }
  }

  it('parses lists: arrays, commas, white space; an empty address is refused', () => {
    assert.deepEqual(parseAddrs('127.0.0.1:1, tls:h:2 ,unix:/x'),
      [{ host: '127.0.0.1', port: 1 }, { host: 'h', port: 2, tls: true }, { path: '/x' }]);
    assert.deepEqual(parseAddrs(['h:1', { path: '/y' }]), [{ host: 'h', port: 1 }, { path: '/y' }]);
    for (const bad of ['h:1,,h:2', 'h:1,', []]) assert.throws(() => parseAddrs(bad), TypeError);
    assert.throws(() => new Client('tls:127.0.0.1:1,unix:/x'), /TLS is for TCP addresses, not unix:\/x/);
  });

  it('passes over a refused address; calls made before connecting reach the serving node', async () => {
    const r = await refusedPort();
    const c = new Client(`127.0.0.1:${r},${a.addr}`, { token: null });
    const ch = uniq('list');
    const made = c.make(ch, 1);        // queued while the list is tried
    await c.ready;
    assert.equal(await made, true);
    assert.equal(c.address, a.addr);
    assert.equal(await has(a, ch), true);
    assert.equal(await has(b, ch), false);
    await c.close();
  });

  it('gives a hanging address DIAL_TIMEOUT_MS, then the next', async (t) => {
    const h = await blackhole();
    if (!h) { t.skip('python3 is needed for a listener that never accepts'); return; }
    try {
      const t0 = Date.now();
      const c = await connect([`127.0.0.1:${h.port}`, `unix:${b.unixPath}`], { token: null });
      const took = Date.now() - t0;
      assert.equal(c.address, `unix:${b.unixPath}`);
      assert.ok(took >= DIAL_TIMEOUT_MS - 100 && took < 30000, `took ${took} ms`);
      await c.close();

      const r = await refusedPort();
      await assert.rejects(connect([`127.0.0.1:${r}`, `127.0.0.1:${h.port}`], { token: null }), (e) => {
        assert.ok(e instanceof JqConnectionError);
        assert.match(e.message, new RegExp(`^cannot connect to any of the 2 addresses: 127\\.0\\.0\\.1:${r}: .*ECONNREFUSED.*; `
          + `connecting to 127\\.0\\.0\\.1:${h.port} timed out after ${DIAL_TIMEOUT_MS} ms$`));
        assert.deepEqual(e.errors.map((x) => x.code), ['ECONNREFUSED', 'ETIMEDOUT']);
        return true;
      });
    } finally {
      await h.close();
    }
  });

  it('tries the address that served last first, and JQ_ADDR may be a list', async () => {
    await (await connect(b.addr, { token: null })).close();
    let c = await connect([a.addr, b.addr], { token: null });
    assert.equal(c.address, b.addr);
    await c.close();
    await (await connect(a.addr, { token: null })).close();
    c = await connect(`${a.addr},${b.addr}`, { token: null });
    assert.equal(c.address, a.addr);
    await c.close();
    const r = await refusedPort();
    await withEnv({ JQ_ADDR: `127.0.0.1:${r},${b.addr}`, JQ_TOKEN: '' }, async () => {
      c = await connect();
      assert.equal(c.address, b.addr);
      await c.ping();
      await c.close();
    });
  });
});

describe('token auth', { skip: SKIP }, () => {
  let srv;
  const TOKEN = 's3cret-token';
  before(async () => { srv = await startServer({ token: TOKEN, args: ['--auth-timeout', '1s'] }); });
  after(async () => { if (srv) await srv.stop(); });

  it('without a token: hello works, other ops are unauthorized', async () => {
    const c = await connect(srv.addr, { token: null });
    const h = await c.hello();
    assert.equal(h.auth_required, true);
    await assert.rejects(c.ping(), (e) => e instanceof JqError && e.code === 'unauthorized');
    await assert.rejects(c.call('nosuchop'), { code: 'unknown_op' });
    await assert.rejects(c.call('auth'), { code: 'bad_request' });
    await c.auth(TOKEN);
    await c.ping();
    await c.close();
  });

  it('with a token option: auth is sent first and pipelined calls work', async () => {
    const c = new Client(srv.addr, { token: `  ${TOKEN}\n` });   // trimmed
    const p = c.ping();                                          // written behind the auth
    assert.equal(await c.ready, c);
    await p;
    const ch = uniq('tok');
    await c.make(ch, 1);
    await c.close();
  });

  it('takes JQ_TOKEN from the environment', async () => {
    await withEnv({ JQ_TOKEN: TOKEN, JQ_ADDR: srv.addr }, async () => {
      const c = await connect();
      await c.ping();
      await c.close();
    });
  });

  it('a wrong token rejects connect and pending calls; the server closes the connection', async () => {
    const c = new Client(srv.addr, { token: 'guess' });
    const p = c.ping();
    await assert.rejects(c.ready, (e) => e instanceof JqError && e.code === 'unauthorized' && e.message === 'wrong token');
    await assert.rejects(p, { code: 'unauthorized' });
    assert.equal(c.isOpen, false);
    await assert.rejects(connect(srv.addr, { token: 'guess' }), { code: 'unauthorized' });
    // a wrong auth on an authenticated connection closes it too
    const d = await connect(srv.addr, { token: TOKEN });
    await assert.rejects(d.auth('guess'), { code: 'unauthorized' });
    await assert.rejects(d.ping(), { code: 'unauthorized' });
  });

  it('an unauthenticated connection gets the auth_timeout frame and is closed', async () => {
    const c = new Client(srv.addr, { token: null });
    await c.ready;
    const closed = new Promise((r) => c.once('close', r));
    const err = await closed;
    assert.ok(err instanceof JqError);
    assert.equal(err.code, 'unauthorized');
    assert.equal(err.message, 'not authenticated in time; closing');
    await assert.rejects(c.ping(), { code: 'unauthorized' });
  });
});

describe('max_connections and shutting down', { skip: SKIP }, () => {
  let srv;
  before(async () => { srv = await startServer({ args: ['--max-connections', '2'] }); });
  after(async () => { if (srv) await srv.stop(); });

  /** A client, retrying while the server has not yet seen an earlier close. */
  const slot = (opts) => waitUntil(async () => {
    const k = new Client(srv.addr, { token: null, ...opts });
    try { await k.ping(); return k; } catch { return null; }
  }, 10000, 'a free connection slot');

  it('a connection over max_connections gets the limit frame', async () => {
    const a = await slot();
    const a2 = await slot();
    const b = new Client(srv.addr, { token: null });
    const closed = new Promise((r) => b.once('close', r));
    await assert.rejects(b.ping(), (e) => e instanceof JqError && e.code === 'limit'
      && e.message === 'max_connections reached');
    assert.equal((await closed).code, 'limit');
    assert.equal(b.isOpen, false);
    await a.ping();
    await a2.close();
    await a.close();
  });

  it('SIGTERM, reconnect: false: a blocked recv is answered shutting_down, then the connection closes', async () => {
    const a = await slot({ reconnect: false });
    const obs = await slot();
    const ch = uniq('sd');
    await a.make(ch, 1);
    const r = assert.rejects(a.recv(ch), (e) => e instanceof JqError && e.code === 'shutting_down');
    await a.ping();  // multiplexed: not held behind the blocked recv
    const closed = new Promise((res) => a.once('close', res));
    await waitUntil(async () => (await obs.stat(ch)).receivers_waiting === 1);
    srv.child.kill('SIGTERM');
    await r;
    const err = await closed;
    assert.ok(err instanceof JqConnectionError);
    assert.equal(a.isOpen, false);
    const st = await srv.stop();
    assert.equal(st.code, 0);
    await obs.close();  // or it reconnects for giveUpMs, holding the test process
  });
});

'use strict';
// TLS ({tls} option, "tls:HOST:PORT"): a jqd with a tls: listener and a
// private CA made with the openssl command; verification on by default.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { connect, DIAL_TIMEOUT_MS } = require('../jqclient.js');
const { SKIP, startServer, uniq, silentListener } = require('./harness.js');

function haveOpenssl() {
  try { execFileSync('openssl', ['version'], { stdio: 'ignore' }); return true; } catch { return false; }
}

describe('TLS', { skip: SKIP || (!haveOpenssl() && 'no openssl command') }, () => {
  let srv;
  let dir;
  let port;
  const f = (n) => path.join(dir, n);
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jqclient-tls-'));
    const ssl = (...a) => execFileSync('openssl', a, { cwd: dir, stdio: 'ignore' });
    const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    for (const ca of ['ca', 'other']) {
      ssl('req', '-x509', ...key, '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '30',
        '-subj', `/CN=jqd node test ${ca}`);
    }
    fs.writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    ssl('req', ...key, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=server');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
      '-CAcreateserial', '-out', 'server.pem', '-days', '30', '-extfile', 'san.ext');
    srv = await startServer({ args: ['--listen', 'tls:127.0.0.1:0', '--tls-cert', f('server.pem'),
      '--tls-key', f('server.key')] });
    port = Number(/listening on tls 127\.0\.0\.1:(\d+)/.exec(srv.stderr())[1]);
  });
  after(async () => {
    if (srv) await srv.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sends and receives over tls:HOST:PORT with the CA', async () => {
    const c = await connect(`tls:127.0.0.1:${port}`, { tls: { ca: fs.readFileSync(f('ca.pem')) } });
    const ch = uniq('tls');
    await c.make(ch, 100);
    for (let i = 0; i < 50; i++) await c.send(ch, { i });
    for (let i = 0; i < 50; i++) assert.deepEqual(await c.recv(ch), { i });
    c.close();
  });

  it('in a list: a silent peer costs DIAL_TIMEOUT_MS; one tls: address is TLS for all', async () => {
    const s = await silentListener();
    try {
      const t0 = Date.now();
      // (localhost: an address that has not served yet in this process,
      // else it would be tried first.)
      const c = await connect([`tls:127.0.0.1:${s.port}`, `localhost:${port}`],
        { tls: { ca: fs.readFileSync(f('ca.pem')) } });
      const took = Date.now() - t0;
      assert.equal(c.address, `localhost:${port}`);
      assert.ok(took >= DIAL_TIMEOUT_MS - 100 && took < 30000, `took ${took} ms`);
      await c.ping();
      await c.close();
    } finally {
      await s.close();
    }
  });

  it('verifies by default: the wrong CA fails', async () => {
    await assert.rejects(connect(`localhost:${port}`,
      { tls: { ca: fs.readFileSync(f('other.pem')) } }), /certificate/);
  });
});

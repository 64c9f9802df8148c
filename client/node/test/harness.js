'use strict';
// Test harness for the jqclient tests: starts a real jqd (the binary named
// by the JQD environment variable) on 127.0.0.1:0 and a Unix socket, with a
// temporary database and job directory, and reads its port from stderr.
// Not a test file itself: `node --test` runs it as one (it defines no tests).

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const JQD = process.env.JQD || '';
/** Reason to skip the tests that need a server, or false. */
const SKIP = JQD ? false : 'JQD is not set (path to the jqd binary)';

const START_TIMEOUT_MS = 30000;
const STOP_TIMEOUT_MS = 15000;
const SANITIZER_MARKERS = ['AddressSanitizer', 'LeakSanitizer', 'ThreadSanitizer',
  'runtime error'];

/**
 * Start jqd.  Resolves once it logged `info: ready`, with
 * {addr, port, unixPath, dir, stderr(), stop()}.
 * @param {{token?: string, args?: string[], workers?: number}} [opts]
 */
// Servers still running when this process ends are killed (no orphans
// when a test fails or the runner stops the file).
const live = new Map();  // child -> its temp dir
let hooked = false;
function hookExit() {
  if (hooked) return;
  hooked = true;
  const killAll = () => {
    for (const [ch, dir] of live) {
      ch.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => { killAll(); process.kill(process.pid, sig); });
  }
}

/** Spawn jqd with args; resolves {child, port, exited} once it is ready. */
async function spawnReady(args, log) {
  const child = spawn(JQD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let port = null;
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  await new Promise((resolve, reject) => {
    // A jqd that never got ready is killed, or it would keep the test
    // runner waiting for it.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`jqd not ready after ${START_TIMEOUT_MS} ms:\n${log.text}`));
    }, START_TIMEOUT_MS);
    let buf = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s) => {
      log.text += s;
      buf += s;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        // jqd starts each line with its local time (ISO 8601) when
        // stderr is not journald's.
        const line = buf.slice(0, nl).replace(/^\d{4}-\d\d-\d\dT\S+ /, '');
        buf = buf.slice(nl + 1);
        const m = /^info: listening on tcp 127\.0\.0\.1:(\d+)$/.exec(line);
        if (m) port = Number(m[1]);
        if (line === 'info: ready') {
          clearTimeout(timer);
          if (port) resolve();
          else {
            child.kill('SIGKILL');
            reject(new Error(`jqd ready without a tcp listener line:\n${log.text}`));
          }
        }
      }
    });
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`jqd exited (${code ?? signal}) before ready:\n${log.text}`));
    });
  });

  return { child, port, exited };
}

async function startServer(opts = {}) {
  hookExit();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jqnode-'));
  const unixPath = path.join(dir, 'jqd.sock');
  const args = [
    '--listen', '127.0.0.1:0',
    '--unix', unixPath,
    '--db', path.join(dir, 'jqd.db'),
    '--job-dir', dir,
    '--workers', String(opts.workers || 2),
    '--sync', 'normal',
  ];
  if (opts.token !== undefined) {
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, `${opts.token}\n`, { mode: 0o600 });
    args.push('--token-file', tokenFile);
  } else {
    args.push('--insecure-tcp'); // a test on loopback: no token to send
  }
  args.push(...(opts.args || []));
  const log = { text: '' };
  let { child, port, exited } = await spawnReady(args, log);
  const err = () => log.text;
  live.set(child, dir);
  child.once('exit', () => live.delete(child));
  let stopped = null;
  const srv = {
    addr: `127.0.0.1:${port}`,
    port,
    unixPath,
    dir,
    child,
    stderr: err,
    exited,
    /** Kill jqd with sig (SIGKILL or SIGTERM), wait for its exit, start it
     * again on the same database and Unix socket (a new TCP port). */
    async restart(sig = 'SIGKILL') {
      child.kill(sig);
      await exited;
      ({ child, port, exited } = await spawnReady(args, log));
      live.set(child, dir);
      child.once('exit', () => live.delete(child));
      Object.assign(srv, { child, port, exited, addr: `127.0.0.1:${port}` });
    },
    /** Kill jqd (sig) and wait for its exit; start() brings it back. */
    async kill(sig = 'SIGKILL') {
      child.kill(sig);
      await exited;
    },
    async start() {
      ({ child, port, exited } = await spawnReady(args, log));
      live.set(child, dir);
      child.once('exit', () => live.delete(child));
      Object.assign(srv, { child, port, exited, addr: `127.0.0.1:${port}` });
    },
    /** SIGTERM, wait for exit; resolves {code, signal, stderr}.  Throws if
     * jqd did not exit 0 or printed a sanitizer report. */
    stop() {
      if (stopped) return stopped;
      stopped = (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        const st = await exited;
        clearTimeout(timer);
        fs.rmSync(dir, { recursive: true, force: true });
        for (const m of SANITIZER_MARKERS) {
          if (err().includes(m)) throw new Error(`jqd reported ${m}:\n${err()}`);
        }
        if (st.code !== 0) throw new Error(`jqd exited ${st.code ?? st.signal}:\n${err()}`);
        return { ...st, stderr: err() };
      })();
      return stopped;
    },
  };
  return srv;
}

/** Poll fn() until it returns truthy (or throw after timeoutMs). */
async function waitUntil(fn, timeoutMs = 10000, what = 'condition') {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A jqd (startServer(opts)) and two clients of it on its Unix socket: `c`
 * (clientOpts) and `obs`, an observer.  Resolves {srv, c, obs, stop()}.
 * @param {typeof import('../jqclient.js').Client} Client
 */
async function serverAndClients(Client, opts, clientOpts) {
  const srv = await startServer(opts);
  const addr = `unix:${srv.unixPath}`;
  const [c, obs] = await Promise.all([new Client(addr, { token: null, ...clientOpts }).ready,
    new Client(addr, { token: null }).ready]);
  const stop = async () => {
    await Promise.all([c.close(), obs.close()]);
    await srv.stop();
  };
  return { srv, c, obs, stop };
}

let counter = 0;
/** A channel name unique in this process. */
function uniq(prefix = 'c') {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

// -- addresses that do not serve (address lists) ------------------------------

/** A port on 127.0.0.1 that refuses connections: bound, then closed. */
async function refusedPort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * A TCP peer that accepts and never answers: a TLS handshake with it
 * hangs.  Resolves {port, close()}.
 */
async function silentListener() {
  const held = new Set();
  const srv = net.createServer((sock) => {
    held.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => held.delete(sock));
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: srv.address().port,
    close: () => {
      for (const h of held) h.destroy();
      return new Promise((r) => srv.close(r));
    },
  };
}

/**
 * A listener whose accept queue is full (backlog 0 and one connection
 * never accepted): Linux drops the SYNs of further connects, which hang
 * as towards a host that is gone.  node accepts whatever it listens on,
 * so a python3 child holds the socket; resolves {port, close()}, or null
 * without python3.
 */
async function blackhole() {
  const script = 'import socket,sys\n'
    + 's=socket.socket();s.bind(("127.0.0.1",0));s.listen(0)\n'
    + 'f=socket.create_connection(s.getsockname())\n'
    + 'print(s.getsockname()[1],flush=True);sys.stdin.read()\n';
  const child = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'ignore'] });
  const port = await new Promise((resolve) => {
    let out = '';
    child.once('error', () => resolve(null));
    child.once('exit', () => resolve(null));
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
  });
  if (!port) return null;
  return {
    port,
    close: () => new Promise((r) => {
      if (child.exitCode !== null) { r(); return; }
      child.once('exit', r);
      child.stdin.end();
    }),
  };
}

module.exports = {
  JQD, SKIP, startServer, serverAndClients, waitUntil, uniq, refusedPort, silentListener, blackhole,
};

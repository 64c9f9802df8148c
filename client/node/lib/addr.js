'use strict';
// Addresses and tokens, found as jq-client finds them (PROTOCOL.md 1, 13
// item 6): "unix:PATH", a path, "HOST:PORT", "[IPV6]:PORT", "tls:...",
// lists separated by commas; JQ_ADDR, else this user's jqd socket, else
// the system's; JQ_TOKEN, else (over TCP) this user's token file.

const fs = require('node:fs');
const path = require('node:path');

/** The system service's socket; defaultAddr() prefers the user's own jqd. */
const SYSTEM_SOCKET = '/run/jqd/jqd.sock';
const DEFAULT_ADDR = `unix:${SYSTEM_SOCKET}`;
/** Default TCP port for a bare host. */
const DEFAULT_PORT = 7411;
/** Milliseconds each address of a list gets to connect and handshake (as
 * the C library's JQC_DIAL_TIMEOUT_MS). */
const DIAL_TIMEOUT_MS = 2000;

function envDir(name) {
  const v = process.env[name] || '';
  return v.startsWith('/') ? v : null;
}

/**
 * Where a jqd of this user listens when told nothing (jqd(8)):
 * /run/jqd/jqd.sock for root, else $XDG_RUNTIME_DIR/jqd/jqd.sock or
 * /tmp/jqd-UID/jqd.sock.
 * @returns {string}
 */
function userSocketPath() {
  const uid = process.geteuid();
  if (uid === 0) return SYSTEM_SOCKET;
  const run = envDir('XDG_RUNTIME_DIR');
  return run ? path.join(run, 'jqd', 'jqd.sock') : `/tmp/jqd-${uid}/jqd.sock`;
}

/**
 * "unix:PATH": this user's jqd if its socket exists, else the system's
 * (the same choice as jq-client and the C library).
 * @returns {string}
 */
function defaultAddr() {
  const p = userSocketPath();
  try {
    if (fs.statSync(p).isSocket()) return `unix:${p}`;
  } catch (e) { /* no such socket: the system's */ }
  return DEFAULT_ADDR;
}

/**
 * The token file a jqd of this user makes for its TCP clients:
 * $XDG_CONFIG_HOME/jqd/token or ~/.config/jqd/token (null if neither
 * variable is an absolute path).
 * @returns {string|null}
 */
function defaultTokenFile() {
  const conf = envDir('XDG_CONFIG_HOME');
  if (conf) return path.join(conf, 'jqd', 'token');
  const home = envDir('HOME');
  return home ? path.join(home, '.config', 'jqd', 'token') : null;
}

function defaultToken() {
  const p = defaultTokenFile();
  try {
    return p ? fs.readFileSync(p, 'utf8') : '';
  } catch (e) {
    return '';
  }
}

/**
 * Parse an address: "HOST:PORT", "[IPV6]:PORT", a bare host (port 7411),
 * "unix:PATH", or a Unix socket path (anything containing "/").  Also
 * accepts {host, port} or {path} objects.  Empty or undefined: JQ_ADDR,
 * else defaultAddr().
 * @param {string|{host?: string, port?: number, path?: string}} [addr]
 * @returns {{path: string}|{host: string, port: number}}
 */
function parseAddr(addr) {
  if (addr && typeof addr === 'object') {
    if (typeof addr.path === 'string') return { path: addr.path };
    return { host: addr.host || '127.0.0.1', port: checkPort(addr.port, addr) };
  }
  if (addr === undefined || addr === null || addr === '') {
    addr = process.env.JQ_ADDR || defaultAddr();
  }
  if (typeof addr !== 'string') throw new TypeError('address must be a string');
  if (addr.startsWith('tls:')) return { ...parseAddr(addr.slice(4)), tls: true };
  if (addr.startsWith('unix:')) {
    const path = addr.slice(5);
    if (!path) throw new TypeError(`empty Unix socket path in address '${addr}'`);
    return { path };
  }
  if (addr.includes('/')) return { path: addr };
  let host;
  let port;
  const m = /^\[([^\]]*)\](?::(.*))?$/.exec(addr);
  if (m) {
    host = m[1];
    port = m[2];
  } else {
    const i = addr.lastIndexOf(':');
    if (i < 0) {
      host = addr;
    } else if (addr.indexOf(':') !== i) {
      throw new TypeError(`IPv6 address must be written [ADDR]:PORT: '${addr}'`);
    } else {
      host = addr.slice(0, i);
      port = addr.slice(i + 1);
    }
  }
  if (port === undefined) return { host: host || '127.0.0.1', port: DEFAULT_PORT };
  if (!/^\d{1,5}$/.test(port)) throw new TypeError(`bad port in address '${addr}'`);
  return { host: host || '127.0.0.1', port: checkPort(Number(port), addr) };
}

/**
 * Parse an address list: an array of addresses (strings or objects, see
 * {@link parseAddr}) or a string of them separated by commas (white space
 * around each ignored).  Empty or undefined: JQ_ADDR (which may be a
 * list), else defaultAddr().
 * @param {string|Array<string|object>|object} [addr]
 * @returns {Array<{path: string}|{host: string, port: number, tls?: boolean}>}
 */
function parseAddrs(addr) {
  if (addr === undefined || addr === null || addr === '') {
    addr = process.env.JQ_ADDR || defaultAddr();
  }
  let items;
  if (Array.isArray(addr)) items = addr;
  else if (typeof addr === 'string') items = addr.split(',');
  else items = [addr];
  if (items.length === 0) throw new TypeError('empty address list');
  return items.map((a, i) => {
    const t = typeof a === 'string' ? a.trim() : a;
    if (t === '' || t === undefined || t === null) {
      throw new TypeError(`empty address in ${JSON.stringify(addr)} (address ${i + 1} of ${items.length})`);
    }
    return parseAddr(t);
  });
}

/** An address parsed by parseAddr as text, for messages. */
function addrText(a) {
  if (a.path !== undefined) return `unix:${a.path}`;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

// Addresses (addrText) that served, most recent first: every client of the
// process tries the one that served last first, so a failover is paid once.
const served = [];
const SERVED_MAX = 8;

function servedNote(a) {
  const t = addrText(a);
  const i = served.indexOf(t);
  if (i >= 0) served.splice(i, 1);
  served.unshift(t);
  served.length = Math.min(served.length, SERVED_MAX);
}

/** addrs with the one that served last first, the others in order. */
function dialOrder(addrs) {
  for (const t of served) {
    const i = addrs.findIndex((a) => addrText(a) === t);
    if (i >= 0) return [addrs[i], ...addrs.filter((_, k) => k !== i)];
  }
  return addrs.slice();
}

function checkPort(port, addr) {
  if (port === undefined) return DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`bad port in address ${JSON.stringify(addr)}`);
  }
  return port;
}


module.exports = {
  SYSTEM_SOCKET, DEFAULT_ADDR, DEFAULT_PORT, DIAL_TIMEOUT_MS,
  userSocketPath, defaultAddr, defaultTokenFile, defaultToken,
  parseAddr, parseAddrs, addrText, servedNote, dialOrder,
};

'use strict';
/**
 * jqclient: a Node.js client for jqd, the job-queue daemon.
 *
 * One CommonJS module, no dependencies, Node 18 or later.  It speaks the
 * wire protocol of proto/PROTOCOL.md (version 1): one JSON object per line
 * each way, replies in request order.
 *
 * @example
 * const { connect } = require('jqclient');
 *
 * const c = await connect();    // the local jqd; or connect('host:7411', { token })
 * await c.make('work', 100);                          // -> true if created
 * await c.send('work', { n: 1 });
 * await c.sendBatch('work', [2, 3, 4]);
 * console.log(await c.recv('work'));                  // { n: 1 }
 * console.log(await c.recvMany('work', 10));          // [ 2, 3, 4 ]
 *
 * const task = await c.recvLease('work', 30000);      // at-least-once
 * try { await handle(task.value); await task.ack(); }
 * catch (e) { await task.nack(); }
 *
 * const { job } = await c.submit(['sh', '-c', 'echo hi'], { group: 'b7' });
 * const [result] = await c.wait([job]);
 * console.log(result.state, result.stdout);           // succeeded hi\n
 * await c.close();
 *
 * Pipelining
 *   Every method writes its request at once (requests of one tick are
 *   coalesced into one write) and returns a promise; replies are matched to
 *   requests by order (PROTOCOL.md 4.1), so any number of calls may be in
 *   flight:  `await Promise.all(items.map((v) => c.send('q', v)))`.
 *   The server executes one connection's requests one after another: a
 *   blocked `recv`/`send`/`select`/`wait` holds every later call on the
 *   same client.  For concurrent blocking operations, open more clients.
 *
 * Address lists
 *   Wherever an address is taken, a list is too: an array, or a string
 *   separated by commas ('10.0.0.1:7411,10.0.0.2:7411'; JQ_ADDR as well):
 *   the jqd nodes of one database, of which one serves and the others
 *   refuse connections until they take over.  The client tries them in
 *   order, starting with the one that served last in this process, and
 *   keeps the first that connects (and completes the TLS handshake); each
 *   gets `connectTimeoutMs` (default {@link DIAL_TIMEOUT_MS}, 2000, for a
 *   list; none for a single address, as before) for both, so a host that
 *   is gone costs 2 s, not minutes.  When none serves, `ready` rejects
 *   with a JqConnectionError naming each address and why ("cannot connect
 *   to any of the 2 addresses: ..."; `errors` holds each one).  One
 *   "tls:" address makes the whole list TLS.  After a failover, connect a
 *   new client with the same list: leases and job ids stay valid on the
 *   node that took over.
 *
 * Errors
 *   A reply with "ok": false rejects with {@link JqError}: `code` (one of
 *   {@link ERROR_CODES}; treat an unknown code like "internal"), `message`
 *   (the server's text, do not parse it), `details` (the other members of
 *   the error object: `index` of a select case, `pending` of a wait) and
 *   `op`.  Losing the connection (reset, server closing, {@link Client#close})
 *   rejects every call still waiting for its reply with
 *   {@link JqConnectionError} (`code` such as "ECONNREFUSED", "ECONNRESET",
 *   "EEOF", "ECLOSED", "EPROTO"); such a request may or may not have been
 *   applied (PROTOCOL.md 6.1).  Two unsolicited frames of the server — the
 *   `limit` frame of max_connections and the `unauthorized` frame of
 *   auth_timeout — end the connection too and reject pending calls with a
 *   JqError of that code.  Arguments that cannot be encoded (a BigInt, a
 *   missing value) reject with TypeError and nothing is sent.
 *
 * Closed channels
 *   `recv`, `recvMany`, `recvLease` and `recvLeases` on a closed, drained
 *   channel reject with JqError code "closed" (as the Python client raises
 *   Closed): a null value is a value, never the end of a channel.  `select`
 *   reports it as `{index, closed: true}`.
 *
 * Numbers
 *   Replies are parsed with JSON.parse, so every JSON number becomes a JS
 *   number (an IEEE double): integers are exact up to 2^53 - 1
 *   (Number.MAX_SAFE_INTEGER).  The protocol keeps job ids, times,
 *   timeouts and counters below 2^53, so they are exact.  Integers inside
 *   values are 64-bit on the server: one beyond 2^53 that another client
 *   sent arrives rounded to the nearest double, and BigInt cannot be sent
 *   (TypeError).  Values otherwise round-trip as JSON data (PROTOCOL.md 2):
 *   the server re-serializes them compactly, objects keep member order,
 *   strings may hold any Unicode (a lone surrogate is refused by the
 *   server with bad_request); -0 is sent as 0.
 *
 * Modules
 *   CommonJS: `const jq = require('./jqclient.js')`; from ESM,
 *   `import { connect } from './jqclient.js'` works too.
 *
 * Timeouts
 *   `timeoutMs` options are the protocol's `timeout_ms`: undefined/null
 *   waits as long as it takes, 0 never waits (Go's `default`), a positive
 *   integer waits at most that long, counted by the server from when the
 *   request starts executing.  The client has no reply timeout of its own.
 *
 * Options objects use camelCase; each key is sent in snake_case
 * (`timeoutMs` -> `timeout_ms`, `resultChan` -> `result_chan`), keys
 * already in snake_case are sent as given, and undefined/null members are
 * left out (null means "absent" for every optional field).
 *
 * @module jqclient
 */

const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');
const path = require('node:path');
const { EventEmitter } = require('node:events');

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

/** The error codes of protocol version 1 (PROTOCOL.md 7). */
const ERROR_CODES = Object.freeze([
  'bad_request', 'unknown_op', 'frame_too_large', 'unauthorized',
  'not_found', 'exists', 'closed', 'timeout', 'too_large', 'limit',
  'shutting_down', 'internal',
]);

/** The six job states (PROTOCOL.md 11.1). */
const JOB_STATES = Object.freeze([
  'queued', 'running', 'succeeded', 'failed', 'deadline_exceeded', 'canceled',
]);
/** The final job states. */
const FINAL_STATES = Object.freeze([
  'succeeded', 'failed', 'deadline_exceeded', 'canceled',
]);

// -- errors -------------------------------------------------------------------

/**
 * An error reply from the server ("ok": false), or one of its unsolicited
 * error frames.
 */
class JqError extends Error {
  /**
   * @param {string} code     the protocol error code
   * @param {string} message  the server's message
   * @param {object} [details] further members of the error object
   * @param {string} [op]     the op of the request that failed
   */
  constructor(code, message, details, op) {
    super(message);
    this.name = 'JqError';
    /** @type {string} */
    this.code = code;
    /** @type {Object<string, *>} e.g. {index} (select), {pending} (wait) */
    this.details = details || {};
    /** @type {string|undefined} */
    this.op = op;
  }

  /** @type {number|undefined} the select case (`details.index`) */
  get index() { return this.details.index; }

  /** @type {number|undefined} jobs not finished (`details.pending`, wait) */
  get pending() { return this.details.pending; }

  /**
   * Build from a reply's `error` object.
   * @param {object} error
   * @param {string} [op]
   * @returns {JqError}
   */
  static fromReply(error, op) {
    if (!error || typeof error !== 'object') {
      return new JqError('internal', 'malformed error reply', {}, op);
    }
    const { code, message, ...details } = error;
    return new JqError(typeof code === 'string' ? code : 'internal',
      typeof message === 'string' ? message : String(message), details, op);
  }
}

/**
 * The connection failed or was closed: the calls waiting for a reply are
 * rejected with this.  `code` is the system error code ("ECONNREFUSED",
 * "ECONNRESET", "ENOENT", ...) or one of "EEOF" (the server closed the
 * connection), "ECLOSED" (closed by this client), "EPROTO" (a reply that
 * does not follow the protocol), "ETOOBIG" (a reply over maxReplyBytes).
 */
class JqConnectionError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {Error} [cause]
   */
  constructor(code, message, cause) {
    super(message, cause ? { cause } : undefined);
    this.name = 'JqConnectionError';
    /** @type {string} */
    this.code = code;
  }
}

// -- framing and addresses ----------------------------------------------------

/**
 * Reassembles lines from arbitrary chunks: splits on "\n" only, removes one
 * "\r" before it, decodes each complete line as UTF-8 (so a multi-byte
 * character split across chunks is fine).  A last line without "\n" stays
 * buffered.
 */
class LineSplitter {
  /**
   * @param {(line: string) => void} onLine
   * @param {number} [maxLine] longest line in bytes; longer calls onTooLong
   * @param {() => void} [onTooLong]
   */
  constructor(onLine, maxLine = Infinity, onTooLong = () => {}) {
    this.onLine = onLine;
    this.maxLine = maxLine;
    this.onTooLong = onTooLong;
    this.parts = [];
    this.size = 0;
    this.stopped = false;
  }

  /** @param {Buffer} chunk */
  push(chunk) {
    let start = 0;
    while (!this.stopped) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      let line;
      if (this.parts.length) {
        this.parts.push(chunk.subarray(start, nl));
        line = Buffer.concat(this.parts, this.size + nl - start);
        this.parts = [];
        this.size = 0;
      } else {
        line = chunk.subarray(start, nl);
      }
      start = nl + 1;
      if (line.length > this.maxLine) { this.stopped = true; this.onTooLong(); return; }
      const end = line.length && line[line.length - 1] === 13 ? line.length - 1 : line.length;
      this.onLine(line.toString('utf8', 0, end));
    }
    if (!this.stopped && start < chunk.length) {
      // Copy: a small tail must not pin a large socket chunk.
      const tail = Buffer.from(chunk.subarray(start));
      this.parts.push(tail);
      this.size += tail.length;
      if (this.size > this.maxLine) { this.stopped = true; this.onTooLong(); }
    }
  }

  /** Bytes of an unfinished line. */
  get pendingBytes() { return this.size; }
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

/** camelCase -> snake_case; snake_case stays. */
function wireKey(key) {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Copy fields to a frame, keys in snake_case, undefined/null left out. */
function addFields(frame, fields) {
  if (fields) {
    for (const key of Object.keys(fields)) {
      const v = fields[key];
      if (v !== undefined && v !== null) frame[wireKey(key)] = v;
    }
  }
  return frame;
}

/** The reply without `id` and `ok`. */
function result(reply) {
  const { id, ok, ...rest } = reply;
  return rest;
}

function closedError(chan, op) {
  return new JqError('closed', `channel '${chan}' is closed`, {}, op);
}

// -- leases and select cases --------------------------------------------------

/**
 * A value received on lease (recv with lease_ms): ack it when the work is
 * done, or nack it to return it to the front of the channel now.  A lease
 * not acked within lease_ms, or whose connection closes, comes back too.
 */
class Lease {
  /**
   * @param {Client} client
   * @param {string} chan
   * @param {*} value
   * @param {string} lease
   * @param {number} [redelivered]
   */
  constructor(client, chan, value, lease, redelivered = 0) {
    /** @type {string} */ this.chan = chan;
    /** @type {*} */ this.value = value;
    /** @type {string} the opaque lease string */ this.lease = lease;
    /** @type {number} times the value was returned before (0: first delivery) */
    this.redelivered = redelivered;
    /** @type {boolean} ack() or nack() was called successfully */
    this.done = false;
    Object.defineProperty(this, 'client', { value: client, enumerable: false });
  }

  /** Remove the value for good.  not_found when the lease is no longer live.
   * @returns {Promise<void>} */
  async ack() {
    await this.client.ack(this.chan, this.lease);
    this.done = true;
  }

  /** Return the value to the front of its channel now.
   * @returns {Promise<void>} */
  async nack() {
    await this.client.nack(this.chan, this.lease);
    this.done = true;
  }
}

/**
 * A select case receiving from `chan`.
 * @param {string} chan
 * @returns {{recv: string}}
 */
function recvCase(chan) { return { recv: chan }; }

/**
 * A select case sending `value` (any JSON value) to `chan`.
 * @param {string} chan
 * @param {*} value
 * @returns {{send: string, value: *}}
 */
function sendCase(chan, value) { return { send: chan, value }; }

// -- the client ---------------------------------------------------------------

/**
 * @typedef {object} ClientOptions
 * @property {string|null} [token] sent with `auth` right after connecting;
 *   undefined: JQ_TOKEN (empty: none), and over TCP without it the token
 *   file of this user's jqd (defaultTokenFile()) if it exists; null: no
 *   token.  Surrounding whitespace is trimmed.  TCP always needs the
 *   token; a Unix socket lets in jqd's own user, root and allowed users
 *   and groups without one.
 * @property {boolean|object} [tls] TLS over TCP ("tls:HOST:PORT" turns it
 *   on too): true, or the options of node's tls.connect() ({ca, cert, key,
 *   servername, ...}).  The server's certificate is verified by default
 *   (chain and host name); rejectUnauthorized: false turns that off, and
 *   with it any protection against whoever is on the path.  The token is
 *   still needed.
 * @property {number} [connectTimeoutMs] give up an address (connect and
 *   TLS handshake) after this long, and try the next of a list (default:
 *   DIAL_TIMEOUT_MS for a list, none for one address)
 * @property {number} [maxReplyBytes] longest reply line accepted
 *   (default 256 MiB; replies may be much longer than max_frame)
 */

/**
 * @typedef {object} SelectResult
 * @property {number} index   the case chosen
 * @property {*} [value]      what a recv case received (absent for a send case)
 * @property {boolean} closed true when a recv case found its channel closed and drained
 */

/**
 * A connection to jqd.  Events: 'close' (err|null) once the connection is
 * gone.
 */
class Client extends EventEmitter {
  /**
   * Starts connecting at once; calls may be made right away (they are
   * written once connected, behind the `auth`).  Await {@link Client#ready}
   * (or use {@link connect}) to learn whether connecting worked.
   * @param {string|Array|object} [addr] an address or a list, see
   *   {@link parseAddr} and {@link parseAddrs}
   * @param {ClientOptions} [opts]
   */
  constructor(addr, opts = {}) {
    super();
    /** @type {Array<object>} the addresses of the list, parsed */
    this.addrs = parseAddrs(addr);
    /** @type {object} the address tried now, or that connected */
    this.addr = this.addrs[0];
    this.maxReplyBytes = opts.maxReplyBytes || 256 * 1024 * 1024;
    this._pending = [];          // FIFO of {id, op, resolve, reject, raw} from _head on
    this._head = 0;
    this._nextId = 1;
    this._closed = false;
    this._closeError = null;
    this._corked = false;
    this._socket = null;         // the connection, or the attempt under way
    this._connected = false;
    this._outq = [];             // text written before the connection was up
    this._ending = false;        // end() before the connection was up
    this._unref = false;
    let token = opts.token;
    if (token === undefined) token = process.env.JQ_TOKEN;
    if (token === undefined && this.addrs.some((a) => a.path === undefined)) token = defaultToken();
    token = typeof token === 'string' ? token.trim() : '';

    this._splitter = new LineSplitter((line) => this._onLine(line), this.maxReplyBytes,
      () => this._fail(new JqConnectionError('ETOOBIG',
        `reply longer than maxReplyBytes (${this.maxReplyBytes})`)));

    // TLS, for the whole list when one address says tls: (never the token
    // in the clear to one node and encrypted to another).  node's tls
    // module verifies the chain (ca, else its CAs) and the host name
    // unless the caller passes rejectUnauthorized: false.
    const useTls = Boolean(this.addrs.some((a) => a.tls) || opts.tls);
    const unix = this.addrs.find((a) => a.path !== undefined);
    if (useTls && unix) {
      throw new TypeError(`TLS is for TCP addresses, not unix:${unix.path}`);
    }
    const dial = {
      order: dialOrder(this.addrs),
      useTls,
      tlsOpts: typeof opts.tls === 'object' ? opts.tls : {},
      timeoutMs: opts.connectTimeoutMs || (this.addrs.length > 1 ? DIAL_TIMEOUT_MS : 0),
      failures: [],
    };
    const connected = new Promise((resolve, reject) => {
      this.once('close', (err) => reject(err || new JqConnectionError('ECLOSED', 'client closed')));
      dial.resolve = resolve;
    });
    this._dial(dial, 0);

    const auth = token ? this.auth(token) : null;
    /** @type {Promise<Client>} resolves once connected (and authenticated) */
    this.ready = (auth ? Promise.all([connected, auth]) : connected).then(() => this);
    this.ready.catch(() => {});  // reported to whoever awaits it
  }

  /** Try address i of the dial's order; on failure the next, or fail. */
  _dial(d, i) {
    const a = d.order[i];
    this.addr = a;
    const sock = d.useTls
      ? tls.connect({
        host: a.host,
        port: a.port,
        servername: net.isIP(a.host) ? undefined : a.host,
        minVersion: 'TLSv1.2',
        ...d.tlsOpts,
      })
      : net.createConnection(a);
    this._socket = sock;
    if (this._unref) sock.unref();
    let timer = null;
    const failed = (err) => {
      if (timer) clearTimeout(timer);
      sock.removeAllListeners();
      sock.on('error', () => {});
      sock.destroy();
      if (this._closed) return;
      d.failures.push(err);
      if (i + 1 < d.order.length) {
        this._dial(d, i + 1);
      } else if (d.order.length === 1) {
        this._fail(err);
      } else {
        const e = new JqConnectionError(err.code, `cannot connect to any of the ${d.order.length} `
          + `addresses: ${d.failures.map((f) => f.message).join('; ')}`);
        e.errors = d.failures;
        this._fail(e);
      }
    };
    sock.once(d.useTls ? 'secureConnect' : 'connect', () => {
      if (timer) clearTimeout(timer);
      sock.removeAllListeners();
      servedNote(a);
      this._attach(sock);
      d.resolve();
    });
    sock.on('error', (err) => failed(new JqConnectionError(err.code || 'EIO',
      `${addrText(a)}: ${err.message}`, err)));
    sock.on('close', () => failed(new JqConnectionError('EEOF',
      `${addrText(a)}: connection closed`)));
    if (d.timeoutMs) {
      timer = setTimeout(() => failed(new JqConnectionError('ETIMEDOUT',
        `connecting to ${addrText(a)} timed out after ${d.timeoutMs} ms`)), d.timeoutMs);
    }
  }

  /** The connection is up: read from it, write what waited. */
  _attach(sock) {
    this._connected = true;
    if (this.addr.port !== undefined) sock.setNoDelay(true);
    sock.on('data', (chunk) => this._splitter.push(chunk));
    sock.on('error', (err) => this._fail(new JqConnectionError(err.code || 'EIO',
      `${this.address}: ${err.message}`, err)));
    sock.on('end', () => this._fail(new JqConnectionError('EEOF',
      'connection closed by the server')));
    sock.on('close', () => this._fail(new JqConnectionError('EEOF',
      'connection closed')));
    const queued = this._outq;
    this._outq = [];
    for (const text of queued) this._write(text);
    if (this._ending) sock.end();
  }

  /** @type {string} the address, for messages */
  get address() {
    return this.addr.path !== undefined ? `unix:${this.addr.path}`
      : (this.addr.host.includes(':') ? `[${this.addr.host}]:${this.addr.port}`
        : `${this.addr.host}:${this.addr.port}`);
  }

  /** @type {boolean} the connection is usable (not closed or failed) */
  get isOpen() { return !this._closed; }

  /** @type {number} calls waiting for their reply */
  get pendingCount() { return this._pending.length - this._head; }

  // -- plumbing ----------------------------------------------------------------

  _fail(err) {
    if (this._closed) return;
    this._closed = true;
    this._closeError = err;
    this._splitter.stopped = true;
    const pending = this._pending.slice(this._head);
    this._pending = [];
    this._head = 0;
    for (const p of pending) p.reject(err);
    this._socket.destroy();
    this.emit('close', err && err.code === 'ECLOSED' ? null : err);
  }

  _write(text) {
    if (!this._connected) {
      this._outq.push(text);
      return;
    }
    const sock = this._socket;
    if (!this._corked) {
      this._corked = true;
      sock.cork();
      process.nextTick(() => { this._corked = false; sock.uncork(); });
    }
    sock.write(text);
  }

  /**
   * Queue one request; resolves with the raw reply (ok or not).
   * @param {object|string} frame an object, or (raw) the text of one line
   */
  _request(frame, op, raw) {
    if (this._closed) {
      return Promise.reject(this._closeError && this._closeError.code !== 'ECLOSED' ? this._closeError
        : new JqConnectionError('ECLOSED', 'client closed'));
    }
    let text;
    let id = null;
    if (typeof frame === 'string') {
      if (/[\n]/.test(frame) || frame.replace(/\r$/, '') === '') {
        return Promise.reject(new TypeError('a raw frame must be one non-empty line'));
      }
      text = `${frame}\n`;
    } else {
      id = this._nextId++;
      if (this._nextId > Number.MAX_SAFE_INTEGER) this._nextId = 1;
      try {
        text = `${JSON.stringify({ id, ...frame })}\n`;
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise((resolve, reject) => {
      this._pending.push({ id, op, resolve, reject, raw });
      this._write(text);
    });
  }

  _shift() {
    if (this._head >= this._pending.length) return undefined;
    const p = this._pending[this._head];
    this._pending[this._head++] = undefined;
    if (this._head === this._pending.length) {
      this._pending = [];
      this._head = 0;
    } else if (this._head >= 1024 && this._head * 2 >= this._pending.length) {
      this._pending = this._pending.slice(this._head);
      this._head = 0;
    }
    return p;
  }

  _onLine(line) {
    if (this._closed || line === '') return;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch (e) {
      this._fail(new JqConnectionError('EPROTO', `reply is not JSON: ${line.slice(0, 200)}`, e));
      return;
    }
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) {
      this._fail(new JqConnectionError('EPROTO', `reply is not an object: ${line.slice(0, 200)}`));
      return;
    }
    // The two unsolicited frames (PROTOCOL.md 1, 13 item 2): "id": null with
    // code limit (max_connections) or unauthorized (auth_timeout).  No
    // reply to a request of ours has "id": null with these codes.
    if (msg.id === null && msg.ok === false && msg.error
        && (msg.error.code === 'limit' || msg.error.code === 'unauthorized')) {
      this._fail(JqError.fromReply(msg.error));
      return;
    }
    const p = this._shift();
    if (!p) {
      this._fail(new JqConnectionError('EPROTO', `unexpected reply: ${line.slice(0, 200)}`));
      return;
    }
    // A frame the server could not read has "id": null (bad_request,
    // frame_too_large); otherwise the id must be ours.
    if (p.id !== null && msg.id !== p.id && !(msg.id === null && msg.ok === false)) {
      p.reject(new JqConnectionError('EPROTO', `reply id ${JSON.stringify(msg.id)} does not match request id ${p.id}`));
      this._fail(new JqConnectionError('EPROTO', 'reply out of order'));
      return;
    }
    if (p.raw || msg.ok === true) {
      p.resolve(msg);
    } else {
      const err = JqError.fromReply(msg.error, p.op);
      p.reject(err);
      if (p.op === 'auth' && err.code === 'unauthorized') this._fail(err);
    }
  }

  // -- generic -----------------------------------------------------------------

  /**
   * Send any op; resolves with the reply object (including `id` and `ok`)
   * when ok, rejects with JqError otherwise.
   * @param {string} op
   * @param {object} [fields] camelCase or snake_case; undefined/null left out
   * @returns {Promise<object>}
   */
  call(op, fields) {
    return this._request(addFields({ op }, fields), op, false);
  }

  /** Like call(), with `required` fields sent as they are (null included). */
  _op(op, required, opts) {
    return this._request(Object.assign(addFields({ op }, opts), required), op, false);
  }

  /**
   * Send a frame as given and resolve with the raw reply, ok or not (only
   * connection errors reject).  A string is written as one line as is (for
   * testing servers: invalid JSON, odd ids); it must not be empty.
   * @param {object|string} frame
   * @returns {Promise<object>}
   */
  raw(frame) {
    if (typeof frame === 'string') return this._request(frame, undefined, true);
    const { id, ...rest } = frame;  // the client's own id is used for matching
    return this._request(rest, frame.op, true);
  }

  /**
   * Close the connection now (idempotent).  Calls waiting for a reply are
   * rejected with JqConnectionError "ECLOSED"; a request blocked on the
   * server is abandoned and leases taken on this connection return to their
   * channels.  With a channel name, closes the channel instead (op
   * `close`, same as {@link Client#closeChan}).
   * @param {string} [chan]
   * @returns {Promise<void>}
   */
  close(chan) {
    if (chan !== undefined) return this.closeChan(chan);
    return new Promise((resolve) => {
      if (this._socket.destroyed) { this._fail(new JqConnectionError('ECLOSED', 'client closed')); resolve(); return; }
      this._socket.once('close', () => resolve());
      this._fail(new JqConnectionError('ECLOSED', 'client closed'));
    });
  }

  /**
   * Half-close: no more requests; every reply due is still read, then the
   * server closes the connection.  A request that would block (and those
   * behind it) is abandoned by the server and rejected here with
   * JqConnectionError "EEOF" (PROTOCOL.md 4.4).
   * @returns {Promise<void>} resolved once the connection is closed
   */
  end() {
    return new Promise((resolve) => {
      if (this._closed) { resolve(); return; }
      this.once('close', () => resolve());
      if (this._connected) this._socket.end(); else this._ending = true;
    });
  }

  /** Let the process exit while this client is open. @returns {this} */
  unref() { this._unref = true; this._socket.unref(); return this; }

  /** Undo {@link Client#unref}. @returns {this} */
  ref() { this._unref = false; this._socket.ref(); return this; }

  // -- session -----------------------------------------------------------------

  /**
   * Server identity, served before auth.
   * @returns {Promise<{server: string, version: string, protocol: number, auth_required: boolean}>}
   */
  async hello() { return result(await this.call('hello')); }

  /**
   * Authenticate this connection (done by the constructor when there is a
   * token).  A wrong token rejects with JqError "unauthorized" and the
   * connection is closed (pending calls are rejected with the same error).
   * @param {string} token
   * @returns {Promise<void>}
   */
  async auth(token) { await this.call('auth', { token }); }

  /**
   * Round trip.  Answered after every earlier change is committed.
   * @returns {Promise<void>}
   */
  async ping() { await this.call('ping'); }

  /**
   * Server-wide figures: uptime_ms, connections, channels, buffered_values,
   * buffered_bytes, waiting, jobs{...}, workers{busy,total}, store{...},
   * ops{...}.
   * @returns {Promise<object>}
   */
  async stats() { return result(await this.call('stats')); }

  // -- channels ----------------------------------------------------------------

  /**
   * Create a channel.  Rejects "exists" if it exists with another cap.
   * @param {string} chan  1-128 bytes of [A-Za-z0-9._:-]
   * @param {number} [cap] 0 (default): unbuffered
   * @returns {Promise<boolean>} true if created, false if it existed with this cap
   */
  async make(chan, cap = 0) { return (await this.call('make', { chan, cap })).created; }

  /**
   * Send one value (any JSON value, null included).  Buffered: done when it
   * is in the buffer, durably; unbuffered: when a receiver took it.
   * Rejects not_found, closed, timeout, too_large, limit.
   * @param {string} chan
   * @param {*} value
   * @param {{timeoutMs?: number}} [opts]
   * @returns {Promise<void>}
   */
  async send(chan, value, opts) {
    if (value === undefined) throw new TypeError('send: value is required (null is a value)');
    await this._op('send', { chan, value }, opts);
  }

  /**
   * Send several values to a buffered channel, all or nothing, in order;
   * waits until there is room for all.  More than cap, or an unbuffered
   * channel: bad_request.
   * @param {string} chan
   * @param {Array<*>} values
   * @param {{timeoutMs?: number}} [opts]
   * @returns {Promise<void>}
   */
  async sendBatch(chan, values, opts) {
    if (!Array.isArray(values)) throw new TypeError('sendBatch: values must be an array');
    await this._op('send', { chan, values }, opts);
  }

  /**
   * Receive one value (which may be null).  Rejects JqError "closed" when
   * the channel is closed and drained, "timeout", "not_found".
   * @param {string} chan
   * @param {{timeoutMs?: number}} [opts]
   * @returns {Promise<*>}
   */
  async recv(chan, opts) {
    const r = await this._op('recv', { chan }, opts);
    if (!('value' in r)) {
      if (r.closed === true) throw closedError(chan, 'recv');
      throw new JqConnectionError('EPROTO', 'recv reply without value');
    }
    return r.value;
  }

  /**
   * Receive 1..max values: waits for the first, then takes what is there.
   * Rejects JqError "closed" when the channel is closed and drained.
   * @param {string} chan
   * @param {number} max
   * @param {{timeoutMs?: number}} [opts]
   * @returns {Promise<Array<*>>}
   */
  async recvMany(chan, max, opts) {
    const r = await this._op('recv', { chan, max }, opts);
    if (r.closed === true && !(r.values && r.values.length)) throw closedError(chan, 'recv');
    return r.values;
  }

  /**
   * Receive one value on lease (at-least-once; buffered channels only).
   * Rejects like {@link Client#recv}.
   * @param {string} chan
   * @param {number} leaseMs
   * @param {{timeoutMs?: number}} [opts]
   * @returns {Promise<Lease>} {value, lease, redelivered, ack(), nack()}
   */
  async recvLease(chan, leaseMs, opts) {
    const r = await this._op('recv', { chan, lease_ms: leaseMs }, opts);
    if (!('value' in r)) {
      if (r.closed === true) throw closedError(chan, 'recv');
      throw new JqConnectionError('EPROTO', 'recv reply without value');
    }
    return new Lease(this, chan, r.value, r.lease, r.redelivered || 0);
  }

  /**
   * Receive 1..max values on lease.
   * @param {string} chan
   * @param {number} max
   * @param {number} leaseMs
   * @param {{timeoutMs?: number}} [opts]
   * @returns {Promise<Lease[]>}
   */
  async recvLeases(chan, max, leaseMs, opts) {
    const r = await this._op('recv', { chan, max, lease_ms: leaseMs }, opts);
    if (r.closed === true && !(r.values && r.values.length)) throw closedError(chan, 'recv');
    const red = Array.isArray(r.redelivered) ? r.redelivered : [];
    return r.values.map((v, i) => new Lease(this, chan, v, r.leases[i], red[i] || 0));
  }

  /**
   * Remove a leased value for good.  not_found when the lease is no longer live.
   * @param {string} chan
   * @param {string|Lease} lease
   * @returns {Promise<void>}
   */
  async ack(chan, lease) {
    await this.call('ack', { chan, lease: lease instanceof Lease ? lease.lease : lease });
  }

  /**
   * Return a leased value to the front of its channel now.
   * @param {string} chan
   * @param {string|Lease} lease
   * @returns {Promise<void>}
   */
  async nack(chan, lease) {
    await this.call('nack', { chan, lease: lease instanceof Lease ? lease.lease : lease });
  }

  /**
   * Close a channel (op `close`): no more sends, buffered values still
   * drain.  Rejects "closed" if already closed.
   * @param {string} chan
   * @returns {Promise<void>}
   */
  async closeChan(chan) {
    if (typeof chan !== 'string') throw new TypeError('closeChan: chan must be a string');
    await this.call('close', { chan });
  }

  /**
   * Delete a channel and its values; requests waiting on it fail not_found.
   * @param {string} chan
   * @returns {Promise<void>}
   */
  async drop(chan) { await this.call('drop', { chan }); }

  /**
   * A channel's stat object: chan, cap, len, closed, leased,
   * senders_waiting, receivers_waiting, sent, received.
   * @param {string} chan
   * @returns {Promise<object>}
   */
  async stat(chan) { return result(await this.call('stat', { chan })); }

  /**
   * Stat objects of the channels whose name starts with prefix, by name.
   * @param {string} [prefix]
   * @returns {Promise<object[]>}
   */
  async chans(prefix) { return (await this.call('chans', { prefix })).chans; }

  /**
   * Go's select over recv cases ({recv: chan}) and send cases
   * ({send: chan, value}); see {@link recvCase}, {@link sendCase}.
   * A chosen send case on a closed channel rejects "closed", a missing or
   * dropped channel "not_found", both with `err.index`; "timeout".
   * @param {Array<{recv: string}|{send: string, value: *}>} cases
   * @param {{timeoutMs?: number}} [opts]
   * @returns {Promise<SelectResult>}
   */
  async select(cases, opts) {
    const r = await this._op('select', { cases }, opts);
    const out = { index: r.index, closed: r.closed === true };
    if ('value' in r) out.value = r.value;
    return out;
  }

  // -- jobs --------------------------------------------------------------------

  /**
   * Submit a job; resolves at once with its id.  With a `key` a retained
   * job already has, that job's id and duplicate: true (nothing runs).
   * @param {string[]} argv
   * @param {{env?: Object<string,string>, cwd?: string, stdin?: string,
   *   timeoutMs?: number, deadlineMs?: number, runTimeoutMs?: number,
   *   delayMs?: number, group?: string, parent?: number, key?: string,
   *   name?: string, resultChan?: string, priority?: number,
   *   retries?: number}} [opts]
   * @returns {Promise<{job: number, duplicate: boolean}>}
   */
  async submit(argv, opts) {
    const r = await this._op('submit', { argv }, opts);
    return { job: r.job, duplicate: r.duplicate === true };
  }

  /**
   * A job's result object so far (with stdout, stderr).  not_found.
   * @param {number} job
   * @returns {Promise<object>}
   */
  async job(job) { return result(await this.call('job', { job })); }

  /**
   * Result objects without stdout/stderr, newest first.
   * @param {{state?: string, group?: string, limit?: number, before?: number}} [opts]
   * @returns {Promise<object[]>}
   */
  async jobs(opts) { return (await this.call('jobs', opts)).jobs; }

  /**
   * Cancel a job and its descendants, or every job of a group.
   * @param {number|string|{job?: number, group?: string}} target a job id,
   *   a group name, or {job} / {group}
   * @returns {Promise<number>} how many were canceled
   */
  async cancel(target) {
    let fields = target;
    if (typeof target === 'number') fields = { job: target };
    else if (typeof target === 'string') fields = { group: target };
    return (await this.call('cancel', fields)).canceled;
  }

  /**
   * Block until every named job (or every job of a group) is final; the
   * result objects ordered by id.  On timeout rejects "timeout" with
   * `err.pending`.  Use a client of its own for long waits.
   * @param {number[]|number|string|{jobs?: number[], group?: string}} target
   *   job ids, one job id, a group name, or {jobs} / {group}
   * @param {{timeoutMs?: number}} [opts]
   * @returns {Promise<object[]>}
   */
  async wait(target, opts) {
    let fields;
    if (Array.isArray(target)) fields = { jobs: target };
    else if (typeof target === 'number') fields = { jobs: [target] };
    else if (typeof target === 'string') fields = { group: target };
    else fields = target;
    return (await this.call('wait', { ...fields, ...opts })).results;
  }

  /**
   * Counts by state and summed progress of a group: group, total, queued,
   * running, succeeded, failed, deadline_exceeded, canceled, progress.
   * @param {string} group
   * @returns {Promise<object>}
   */
  async group(group) { return result(await this.call('group', { group })); }
}

/**
 * Connect (and authenticate when there is a token); resolves with the
 * client once it is usable.
 * @param {string|Array|object} [addr] "HOST:PORT", "unix:PATH", a path, or a
 *   list of them (an array, or separated by commas); default JQ_ADDR, else
 *   defaultAddr()
 * @param {ClientOptions} [opts]
 * @returns {Promise<Client>}
 */
function connect(addr, opts) {
  try {
    return new Client(addr, opts).ready;
  } catch (e) {
    return Promise.reject(e);  // a bad address
  }
}

module.exports = {
  connect,
  Client,
  Lease,
  JqError,
  JqConnectionError,
  LineSplitter,
  parseAddr,
  recvCase,
  sendCase,
  ERROR_CODES,
  JOB_STATES,
  FINAL_STATES,
  DEFAULT_ADDR,
  DIAL_TIMEOUT_MS,
  parseAddrs,
  defaultAddr,
  defaultTokenFile,
};

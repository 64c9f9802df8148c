'use strict';
// The client: one multiplexed connection (PROTOCOL.md 4.7) shared by every
// call, replies matched by id; AbortSignal on every call (mapped to the op
// `abort`, 9.5); reconnection with capped, jittered backoff, after which
// idempotent calls are sent again and the others fail with
// OutcomeUnknownError (13 items 19-23).  The ops and how each may be
// retried are the table OPS below.

const { EventEmitter } = require('node:events');
const crypto = require('node:crypto');
const { Conn } = require('./conn.js');
const { addFields, unsendable, withId } = require('./frame.js');
const {
  JqError, JqConnectionError, OutcomeUnknownError,
} = require('./errors.js');
const {
  parseAddrs, addrText, defaultToken, DIAL_TIMEOUT_MS,
} = require('./addr.js');

/**
 * Every op: `blocks` (may wait on the server: counted against
 * maxPending, PROTOCOL.md 4.7) and `retry`: whether a request written on
 * a connection that was lost before its reply is sent again on the next
 * (true, false, or a test of its frame).  Retried: reads, acks/nacks/
 * touches (a lease outlives its connection only for named consumers; an
 * unnamed one answers not_found, the truth), keyed sends and submits
 * (6.6, 11.3), leased recvs (a lease whose reply was lost comes back when
 * it expires), watch (frames already delivered are not repeated).
 * Unknown ops (call()) count as blocking and not retried.
 */
const keyed = (f) => typeof f.key === 'string';
const OPS = {
  hello: { retry: true },
  auth: { retry: true },
  ping: { retry: true },
  stats: { retry: true },
  abort: { retry: false },
  make: { retry: true },
  send: { blocks: true, retry: keyed },
  recv: { blocks: true, retry: (f) => f.lease_ms !== undefined },
  ack: { retry: true },
  nack: { retry: true },
  touch: { retry: true },
  close: { retry: false },
  drop: { retry: false },
  stat: { retry: true },
  chans: { retry: true },
  select: { blocks: true, retry: false },
  peek: { retry: true },
  submit: { retry: keyed },
  job: { retry: true },
  jobs: { retry: true },
  cancel: { retry: true },
  wait: { blocks: true, retry: true },
  group: { retry: true },
  groups: { retry: true },
  watch: { blocks: true, retry: true },
  workers: { retry: true },
  retry: { retry: false },
  purge: { retry: true },
  pool: { retry: true },
};
const UNKNOWN_OP = { blocks: true, retry: false };

/** Reconnect defaults (ms): first delay, cap, and how long to keep trying. */
const RECONNECT = Object.freeze({ minDelayMs: 50, maxDelayMs: 2000, giveUpMs: 30000 });
/** auth + hello on a new connection, at most (ms), when connectTimeoutMs is not set (as the Go client). */
const HANDSHAKE_TIMEOUT_MS = 30000;
/** Default for maxPending: jqd's default max_pending. */
const MAX_PENDING = 1024;
/** Default for maxQueued: calls waiting in the client, at most. */
const MAX_QUEUED = 4096;
/** Default for maxFrameBytes: jqd's default max_frame; and room for an id. */
const MAX_FRAME_BYTES = 1048576;
const FRAME_ID_BYTES = 24;

/** The reply without `id` and `ok`. */
function result(reply) {
  const { id, ok, ...rest } = reply;
  return rest;
}

function closedError(chan, op) {
  return new JqError('closed', `channel '${chan}' is closed`, {}, op);
}

/** recv and recvMany return values only: a lease they would drop could never be acked. */
function noLease(op, instead, opts) {
  if (opts && (opts.leaseMs !== undefined || opts.lease_ms !== undefined)) {
    throw new TypeError(`${op}: leaseMs is not an option of ${op} (the lease could not be acked): `
      + `use ${instead}`);
  }
}

function abortReason(signal) {
  if (signal.reason !== undefined) return signal.reason;
  const e = new Error('This operation was aborted');
  e.name = 'AbortError';
  return e;
}

function timeoutReason(ms) {
  return new DOMException(`the call took longer than clientTimeoutMs (${ms} ms)`, 'TimeoutError');
}

// -- leases and select cases --------------------------------------------------

/**
 * A value received on lease: ack it when the work is done, nack it to give
 * it back, touch it to keep it longer.
 */
class Lease {
  constructor(client, chan, value, lease, redelivered = 0, consumer = null) {
    this.chan = chan;
    this.value = value;
    this.lease = lease;
    this.redelivered = redelivered;
    /** the named consumer that owns it, or null (unnamed: tied to the connection) */
    this.consumer = consumer;
    this.done = false;
    Object.defineProperty(this, 'client', { value: client, enumerable: false });
  }

  async ack(opts) {
    await this.client.ack(this.chan, this.lease, opts);
    this.done = true;
  }

  async nack(opts) {
    await this.client.nack(this.chan, this.lease, opts);
    this.done = true;
  }

  touch(leaseMs, opts) { return this.client.touch(this.chan, this.lease, leaseMs, opts); }
}

function recvCase(chan) { return { recv: chan }; }
function sendCase(chan, value) { return { send: chan, value }; }

// -- the client ---------------------------------------------------------------

class Client extends EventEmitter {
  /**
   * Starts connecting at once; calls may be made right away (written once
   * the connection is up).  `ready` resolves once connected.
   * @param {string|Array|object} [addr]
   * @param {object} [opts] see jqclient.d.ts (ClientOptions)
   */
  constructor(addr, opts = {}) {
    super();
    this.addrs = parseAddrs(addr);
    this.addr = this.addrs[0];
    const useTls = Boolean(this.addrs.some((a) => a.tls) || opts.tls);
    const unix = this.addrs.find((a) => a.path !== undefined);
    if (useTls && unix) throw new TypeError(`TLS is for TCP addresses, not unix:${unix.path}`);
    let token = opts.token;
    if (token === undefined) token = process.env.JQ_TOKEN;
    if (token === undefined && this.addrs.some((a) => a.path === undefined)) token = defaultToken();
    this._token = typeof token === 'string' ? token.trim() : '';
    this.consumer = opts.consumer || null;
    this.sendKeys = opts.sendKeys === 'auto';
    this.maxPending = opts.maxPending || MAX_PENDING;
    this.maxQueued = opts.maxQueued || MAX_QUEUED;
    this.maxFrameBytes = opts.maxFrameBytes || MAX_FRAME_BYTES;
    this._reconnect = opts.reconnect === false ? null
      : { ...RECONNECT, ...(typeof opts.reconnect === 'object' ? opts.reconnect : {}) };
    this._waitForServer = Boolean(opts.waitForServer) && this._reconnect !== null;
    this._connOpts = {
      addrs: this.addrs,
      useTls,
      tlsOpts: typeof opts.tls === 'object' ? opts.tls : {},
      timeoutMs: opts.connectTimeoutMs || (this.addrs.length > 1 ? DIAL_TIMEOUT_MS : 0),
      maxReplyBytes: opts.maxReplyBytes || 256 * 1024 * 1024,
      unref: false,
    };
    this._conn = null;        // the open connection (hello done), or null
    this._calls = new Map();  // id -> call written on _conn, reply not yet read
    this._queue = [];         // calls waiting for a connection, or for its 'drain'
    this._afterReconnect = []; // calls answered shutting_down: for the next connection
    this._slots = 0;          // blocking calls holding a maxPending slot
    this._slotWaiters = [];   // blocking calls waiting for one
    this._delayed = new Set(); // keyed sends waiting to be sent again (_sendLater)
    this._nextId = 1;
    this._closed = false;
    this._closeError = null;
    this._timer = null;       // the reconnect timer
    this._dialing = null;     // the connection being dialed or greeted
    this._ending = false;
    /** hello's reply on the current connection */
    this.server = null;
    /** connections made (1 after the first; more after reconnects) */
    this.connects = 0;
    this.ready = new Promise((resolve, reject) => { this._readyCbs = { resolve, reject }; });
    this.ready.catch(() => {});
    this._dial(Date.now(), 0);
  }

  // -- connection ---------------------------------------------------------------

  /** Dial, authenticate, say hello; on failure retry with backoff or give up. */
  _dial(downSince, attempt) {
    this._timer = null;
    if (this._closed) return;
    const conn = new Conn({
      ...this._connOpts,
      onMessage: (m) => this._onMessage(conn, m),
      onClose: (err) => this._onClose(conn, err),
      onDrain: () => this._pump(),
    });
    this._dialing = conn;
    conn.open().then(() => this._handshake(conn)).then((hello) => {
      this._dialing = null;
      if (this._closed) { conn.destroy(); return; }
      this.addr = conn.addr;
      this._conn = conn;
      this.server = hello;
      this.connects += 1;
      if (this._ending) conn.end();
      this._queue = this._afterReconnect.concat(this._queue);
      this._afterReconnect = [];
      this._pump();
      if (this.connects === 1) this._readyCbs.resolve(this);
      else this.emit('reconnect', { address: this.address, attempt });
    }, (err) => {
      this._dialing = null;
      conn.destroy(err);
      if (this._closed) return;
      // A wrong token or a server that cannot multiplex will not change;
      // shutting_down and limit (max_connections) may.
      const fatal = err.code === 'unauthorized' || err.code === 'EPROTO'
        || this._reconnect === null || (this.connects === 0 && !this._waitForServer);
      if (fatal || Date.now() - downSince >= this._reconnect.giveUpMs) {
        this._shut(fatal ? err : new JqConnectionError('EGAVEUP',
          `no connection for ${this._reconnect.giveUpMs} ms: ${err.message}`, err));
        return;
      }
      this._retryLater(downSince, attempt + 1, err);
    });
  }

  _retryLater(downSince, attempt, err) {
    const r = this._reconnect;
    const cap = Math.min(r.maxDelayMs, r.minDelayMs * 2 ** Math.min(attempt, 20));
    const delay = Math.round(cap / 2 + Math.random() * (cap / 2));  // jitter
    this.emit('disconnect', err, delay);
    this._timer = setTimeout(() => this._dial(downSince, attempt), delay);
    if (this._connOpts.unref) this._timer.unref();
  }

  /**
   * auth (when there is a token) and hello {multiplex, consumer}, pipelined;
   * a server that does not answer within connectTimeoutMs (else
   * HANDSHAKE_TIMEOUT_MS) fails the dial: it would hold every call.
   */
  _handshake(conn) {
    const ms = this._connOpts.timeoutMs || HANDSHAKE_TIMEOUT_MS;
    const timer = setTimeout(() => conn.destroy(new JqConnectionError('ETIMEDOUT',
      `${addrText(conn.addr)}: no answer to hello within ${ms} ms`)), ms);
    if (this._connOpts.unref) timer.unref();
    const done = () => clearTimeout(timer);
    const p = this._greet(conn);
    p.then(done, done);
    return p;
  }

  _greet(conn) {
    const ask = (frame) => new Promise((resolve, reject) => {
      const id = this._nextId++;
      this._calls.set(id, {
        op: frame.op, conn, hs: true, resolve, reject,
      });
      conn.write(withId(id, JSON.stringify(frame)));
    });
    const auth = this._token ? ask({ op: 'auth', token: this._token }) : null;
    if (auth) auth.catch(() => {});
    const hello = ask(addFields({ op: 'hello', multiplex: true }, { consumer: this.consumer }));
    return Promise.all([auth, hello]).then(([, h]) => {
      if (h.multiplex !== true) {
        throw new JqConnectionError('EPROTO', 'the server does not multiplex connections '
          + '(protocol 1.1 needed; jqd older than 1.1: use the v1 client)');
      }
      return result(h);
    });
  }

  /** The one call (not auth, hello or abort) waiting for a reply on conn, or null. */
  _onlyCall(conn) {
    let only = null;
    for (const call of this._calls.values()) {
      if (call.conn !== conn || call.hs) continue;
      if (only) return null;
      only = call;
    }
    return only;
  }

  _onClose(conn, err) {
    // Calls written on this connection: theirs is an unknown outcome.  A
    // connection broken by a reply against the protocol (EPROTO) or too
    // long (ETOOBIG) may break again the same way: nothing is sent again.
    const broken = err.code === 'EPROTO' || err.code === 'ETOOBIG';
    const lost = [];
    for (const [id, call] of this._calls) {
      if (call.conn === conn) { this._calls.delete(id); lost.push(call); }
    }
    const again = [];  // sent again before the calls still queued (written after them)
    for (const call of lost) {
      if (call.hs) { call.reject(err); continue; }
      call.sent = false;
      if (this._closed || this._reconnect === null || this._ending) this._settle(call, err);
      else if (call.aborting) this._settle(call, call.retry ? call.abortWith : new OutcomeUnknownError(call.op, err));
      else if (call.retry && broken) this._settle(call, err);
      else if (call.retry) { call.retried = true; again.push(call); }
      else this._settle(call, new OutcomeUnknownError(call.op, err));
    }
    if (again.length) this._queue = again.concat(this._queue);
    if (conn !== this._conn) return;  // a dial that failed: _dial decides
    this._conn = null;
    this.server = null;
    if (this._closed) return;
    if (this._reconnect === null || this._ending || err instanceof JqError) {
      this._shut(err);
      return;
    }
    this._retryLater(Date.now(), 0, err);
  }

  /** Close for good: every call still waiting rejects with err. */
  _shut(err) {
    if (this._closed) return;
    this._closed = true;
    this._closeError = err;
    if (this._timer) { clearTimeout(this._timer); this._timer = null; }
    const rest = [...this._afterReconnect, ...this._queue, ...this._slotWaiters, ...this._delayed,
      ...this._calls.values()];
    this._queue = [];
    this._afterReconnect = [];
    this._delayed.clear();
    this._slotWaiters = [];
    this._calls.clear();
    for (const call of rest) if (call.hs) call.reject(err); else this._settle(call, err);
    if (this._conn) this._conn.destroy(err);
    if (this._dialing) this._dialing.destroy(err);
    this._readyCbs.reject(err);
    this.emit('close', err && err.code === 'ECLOSED' ? null : err);
  }

  // -- calls --------------------------------------------------------------------

  /**
   * Start a call.  frame: the request without id; opts: its local options
   * (signal, clientTimeoutMs, onEvent); raw: resolve with the reply as is.
   */
  _start(frame, opts, raw) {
    if (this._closed) {
      const e = this._closeError;
      return Promise.reject(e && e.code !== 'ECLOSED' ? e : new JqConnectionError('ECLOSED', 'client closed'));
    }
    let text;
    try { text = JSON.stringify(frame); } catch (e) { return Promise.reject(e); }
    const bad = unsendable(text);
    if (bad) return Promise.reject(new TypeError(bad));
    const bytes = text.length < this.maxFrameBytes / 3 ? text.length : Buffer.byteLength(text);
    if (bytes + FRAME_ID_BYTES > this.maxFrameBytes) {
      // The server's frame_too_large reply has "id": null, which a
      // multiplexed connection cannot match to its call: refuse it here.
      return Promise.reject(new JqError('frame_too_large', `request of about ${bytes} bytes is longer `
        + `than maxFrameBytes (${this.maxFrameBytes})`, {}, frame.op));
    }
    const kind = OPS[frame.op] || UNKNOWN_OP;
    const waits = (kind.blocks && this._slots >= this.maxPending) || !this._canWrite();
    if (waits && this._queue.length + this._slotWaiters.length >= this.maxQueued) {
      return Promise.reject(new JqError('limit', `${this.maxQueued} calls already wait in the client `
        + '(for a connection, for the socket to drain, or for one of maxPending): raise maxQueued, '
        + 'or wait for replies before making more calls', { maxQueued: this.maxQueued }, frame.op));
    }
    const call = {
      op: frame.op,
      text,  // the frame as JSON, without its id
      raw,
      blocks: Boolean(kind.blocks),
      retry: typeof kind.retry === 'function' ? kind.retry(frame) : kind.retry,
      onEvent: opts && opts.onEvent,
      sent: false,
      settled: false,
      aborting: false,
      abortWith: undefined,
      retried: false,
      slot: false,    // holds one of maxPending
      id: 0,          // on conn, once written
      conn: null,
      cleanup: null,  // functions to run once settled
      resolve: null,
      reject: null,
    };
    const p = new Promise((resolve, reject) => { call.resolve = resolve; call.reject = reject; });
    const signal = opts && opts.signal;
    if (signal) {
      if (signal.aborted) return Promise.reject(abortReason(signal));
      const onAbort = () => this._abort(call, abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      call.cleanup = [() => signal.removeEventListener('abort', onAbort)];
    }
    const ms = opts && opts.clientTimeoutMs;
    if (ms !== undefined && ms !== null) {
      const t = setTimeout(() => this._abort(call, timeoutReason(ms)), ms);
      (call.cleanup || (call.cleanup = [])).push(() => clearTimeout(t));
    }
    if (call.blocks && this._slots >= this.maxPending) this._slotWaiters.push(call);
    else this._admit(call);
    return p;
  }

  _admit(call) {
    if (call.blocks) { this._slots += 1; call.slot = true; }
    this._enqueue(call);
  }

  /** A call may be written now: connected, the socket not full, nothing queued before it. */
  _canWrite() { return this._conn !== null && !this._conn.congested && this._queue.length === 0; }

  /** Write call now if it may be, else queue it (written on connect or 'drain', in order). */
  _enqueue(call) {
    if (this._canWrite()) this._write(call); else this._queue.push(call);
  }

  /** Write queued calls until the socket is full (then its 'drain' calls this again). */
  _pump() {
    let n = 0;
    while (this._conn && !this._conn.congested && n < this._queue.length) this._write(this._queue[n++]);
    this._queue.splice(0, n);
  }

  _write(call) {
    const id = this._nextId++;
    if (this._nextId > Number.MAX_SAFE_INTEGER) this._nextId = 1;
    call.id = id;
    call.conn = this._conn;
    call.sent = true;
    this._calls.set(id, call);
    this._conn.write(withId(id, call.text));
    if (call.aborting) this._sendAbort(call);
  }

  /**
   * Send call again after a backoff (reconnect's delays, doubling), for up
   * to reconnect.giveUpMs; then it rejects with err.
   */
  _sendLater(call, err) {
    const r = this._reconnect;
    if (call.busy === undefined) {
      call.busy = { since: Date.now(), n: 0, timer: null };
      (call.cleanup || (call.cleanup = [])).push(() => {
        clearTimeout(call.busy.timer);
        this._delayed.delete(call);
      });
    }
    if (Date.now() - call.busy.since >= r.giveUpMs) { this._settle(call, err); return; }
    const delay = Math.min(r.maxDelayMs, r.minDelayMs * 2 ** Math.min(call.busy.n, 20));
    call.busy.n += 1;
    this._delayed.add(call);
    call.busy.timer = setTimeout(() => {
      this._delayed.delete(call);
      this._enqueue(call);
    }, delay);
    if (this._connOpts.unref) call.busy.timer.unref();
  }

  /** The caller gave up (signal, clientTimeoutMs). */
  _abort(call, reason) {
    if (call.settled || call.aborting) return;
    call.aborting = true;
    call.abortWith = reason;
    if (!call.sent) {  // never written: nothing to undo
      this._queue = this._queue.filter((c) => c !== call);
      this._afterReconnect = this._afterReconnect.filter((c) => c !== call);
      this._slotWaiters = this._slotWaiters.filter((c) => c !== call);
      this._settle(call, reason);
      return;
    }
    this._sendAbort(call);
  }

  _sendAbort(call) {
    const id = this._nextId++;
    this._calls.set(id, {
      op: 'abort', conn: call.conn, hs: true, resolve() {}, reject() {},
    });
    call.conn.write(`{"id":${id},"op":"abort","ref":${call.id}}`);
  }

  _settle(call, err, value) {
    if (call.settled) return;
    call.settled = true;
    if (call.cleanup) for (const f of call.cleanup) f();
    if (call.slot) {
      call.slot = false;
      this._slots -= 1;
      const next = this._slotWaiters.shift();
      if (next) this._admit(next);
    }
    if (err) {
      if (call.retried && err instanceof JqError) err.retried = true;
      call.reject(err);
    } else call.resolve(value);
  }

  _onMessage(conn, msg) {
    const call = msg.id === null ? undefined : this._calls.get(msg.id);
    if (!call || call.conn !== conn) {
      // "id": null (PROTOCOL.md 13 item 2): a notice (limit, unauthorized)
      // ends the connection; bad_request or frame_too_large answers a
      // frame jqd could not read: the only call pending, if just one is.
      // Anything else unmatched breaks the protocol.
      const code = msg.id === null && msg.ok === false && msg.error ? msg.error.code : null;
      if (code === 'limit' || code === 'unauthorized') {
        conn.destroy(JqError.fromReply(msg.error));
        return;
      }
      const only = code === 'bad_request' || code === 'frame_too_large' ? this._onlyCall(conn) : null;
      if (only) {
        this._calls.delete(only.id);
        only.sent = false;
        this._settle(only, JqError.fromReply(msg.error, only.op));
        return;
      }
      conn.destroy(new JqConnectionError('EPROTO', `reply to no request: ${JSON.stringify(msg).slice(0, 200)}`));
      return;
    }
    if (msg.event !== undefined && msg.ok === true) {  // a watch frame (11.15)
      if (call.onEvent) call.onEvent(msg);
      return;
    }
    this._calls.delete(msg.id);
    if (call.hs) {
      if (msg.ok === true) call.resolve(msg);
      else {
        const e = JqError.fromReply(msg.error, call.op);
        call.reject(e);
        if (call.op === 'auth' && e.code === 'unauthorized') conn.destroy(e);
      }
      return;
    }
    call.sent = false;
    if (msg.ok === true || call.raw) { this._settle(call, null, msg); return; }
    const err = JqError.fromReply(msg.error, call.op);
    if (err.code === 'canceled' && call.aborting) { this._settle(call, call.abortWith); return; }
    if (err.code === 'exists' && call.op === 'send' && call.retried && call.retry && this._reconnect) {
      // A keyed send sent again after a loss: its first is still blocked
      // on the old connection, which jqd has not seen close (6.6, 13 item 23).
      this._sendLater(call, err);
      return;
    }
    if (err.code === 'shutting_down' && this._reconnect && !this._ending) {
      // Not executed, or abandoned taking nothing (6.5): safe to send again
      // once the server is back.
      if (call.aborting) { this._settle(call, call.abortWith); return; }
      call.retried = true;
      this._afterReconnect.push(call);
      return;
    }
    this._settle(call, err);
    if (call.op === 'auth' && err.code === 'unauthorized') conn.destroy(err);
  }

  // -- state --------------------------------------------------------------------

  /** the address connected to (or tried), as text */
  get address() { return addrText(this.addr); }

  /** false once closed for good (close(), a fatal error, giving up) */
  get isOpen() { return !this._closed; }

  /** true while a connection is up */
  get isConnected() { return this._conn !== null; }

  /** calls not yet settled */
  get pendingCount() {
    let n = this._queue.length + this._afterReconnect.length + this._slotWaiters.length
      + this._delayed.size;
    for (const c of this._calls.values()) if (!c.hs) n += 1;
    return n;
  }

  /** Close now (idempotent); with a channel name, the op `close` instead. */
  close(chan) {
    if (chan !== undefined) return this.closeChan(chan);
    const conn = this._conn;
    this._shut(new JqConnectionError('ECLOSED', 'client closed'));
    if (!conn || !conn.sock || conn.sock.destroyed) return Promise.resolve();
    return new Promise((resolve) => conn.sock.once('close', () => resolve()));
  }

  /** Half-close: the replies due are read, blocked calls end (EEOF); no reconnect. */
  end() {
    return new Promise((resolve) => {
      if (this._closed) { resolve(); return; }
      this.once('close', () => resolve());
      this._ending = true;
      if (this._conn) this._conn.end();
      else if (this.connects > 0) {  // between connections: nothing is due
        this._shut(new JqConnectionError('EEOF', 'ended while reconnecting'));
      }
    });
  }

  unref() {
    this._connOpts.unref = true;
    if (this._conn) this._conn.ref(false);
    if (this._dialing) this._dialing.ref(false);
    if (this._timer) this._timer.unref();
    return this;
  }

  ref() {
    this._connOpts.unref = false;
    if (this._conn) this._conn.ref(true);
    if (this._dialing) this._dialing.ref(true);
    if (this._timer) this._timer.ref();
    return this;
  }

  // -- generic ------------------------------------------------------------------

  /** Any op; resolves with the reply (id and ok included), rejects JqError. */
  call(op, fields, opts) {
    const local = opts && fields ? { ...fields, ...opts } : opts || fields;
    return this._start(addFields({ op }, fields), local, false);
  }

  /** Like call(), `required` fields sent as they are (null included). */
  _op(op, required, opts) {
    return this._start(Object.assign(addFields({ op }, opts), required), opts, false);
  }

  /** Send a frame (an object; its id is the client's) and resolve with the reply, ok or not. */
  raw(frame, opts) {
    if (!frame || typeof frame !== 'object') {
      return Promise.reject(new TypeError('raw: a frame object is needed (text frames need a serial connection)'));
    }
    const { id, ...rest } = frame;
    return this._start(rest, opts, true);
  }

  // -- session ------------------------------------------------------------------

  /**
   * opts.consumer: this connection's named consumer from now on, and the
   * client's (said again on every reconnect, as the `consumer` option).
   * No `multiplex`: the client's connections always are.
   */
  async hello(opts) {
    if (opts && opts.multiplex !== undefined) {
      throw new TypeError('hello: multiplex cannot be set: the client\'s connections are always multiplexed');
    }
    const r = result(await this._op('hello', {}, opts));
    if (opts && opts.consumer) this.consumer = opts.consumer;
    return r;
  }

  async auth(token, opts) {
    await this._op('auth', { token }, opts);
    this._token = token;
  }

  async ping(opts) { await this.call('ping', undefined, opts); }

  async stats(opts) { return result(await this.call('stats', undefined, opts)); }

  // -- channels -----------------------------------------------------------------

  /** opts: maxDeliveries, deadLetter, dedupWindowMs, dedupMax. */
  async make(chan, cap = 0, opts) { return (await this._op('make', { chan, cap }, opts)).created; }

  _sendKey(opts) {
    if (opts && opts.key !== undefined && opts.key !== null) return opts;
    return this.sendKeys ? { ...opts, key: crypto.randomUUID() } : opts;
  }

  /** opts: timeoutMs, key; resolves {duplicate}. */
  async send(chan, value, opts) {
    if (value === undefined) throw new TypeError('send: value is required (null is a value)');
    const r = await this._op('send', { chan, value }, this._sendKey(opts));
    return { duplicate: r.duplicate === true };
  }

  async sendBatch(chan, values, opts) {
    if (!Array.isArray(values)) throw new TypeError('sendBatch: values must be an array');
    const r = await this._op('send', { chan, values }, this._sendKey(opts));
    return { duplicate: r.duplicate === true };
  }

  async recv(chan, opts) {
    noLease('recv', 'recvLease(chan, leaseMs, opts)', opts);
    const r = await this._op('recv', { chan }, opts);
    if (!('value' in r)) {
      if (r.closed === true) throw closedError(chan, 'recv');
      throw new JqConnectionError('EPROTO', 'recv reply without value');
    }
    return r.value;
  }

  async recvMany(chan, max, opts) {
    noLease('recvMany', 'recvLeases(chan, max, leaseMs, opts)', opts);
    const r = await this._op('recv', { chan, max }, opts);
    if (r.closed === true && !(r.values && r.values.length)) throw closedError(chan, 'recv');
    return r.values;
  }

  _consumer(opts) { return (opts && opts.consumer) || this.consumer; }

  async recvLease(chan, leaseMs, opts) {
    const r = await this._op('recv', { chan, lease_ms: leaseMs }, opts);
    if (!('value' in r)) {
      if (r.closed === true) throw closedError(chan, 'recv');
      throw new JqConnectionError('EPROTO', 'recv reply without value');
    }
    return new Lease(this, chan, r.value, r.lease, r.redelivered || 0, this._consumer(opts));
  }

  async recvLeases(chan, max, leaseMs, opts) {
    const r = await this._op('recv', { chan, max, lease_ms: leaseMs }, opts);
    if (r.closed === true && !(r.values && r.values.length)) throw closedError(chan, 'recv');
    const red = Array.isArray(r.redelivered) ? r.redelivered : [];
    const who = this._consumer(opts);
    return r.values.map((v, i) => new Lease(this, chan, v, r.leases[i], red[i] || 0, who));
  }

  async ack(chan, lease, opts) {
    await this._op('ack', { chan, lease: lease instanceof Lease ? lease.lease : lease }, opts);
  }

  /** opts: delayMs, reason. */
  async nack(chan, lease, opts) {
    await this._op('nack', { chan, lease: lease instanceof Lease ? lease.lease : lease }, opts);
  }

  /** Resolves the new deadline_ms (server clock). */
  async touch(chan, lease, leaseMs, opts) {
    const r = await this._op('touch', {
      chan, lease: lease instanceof Lease ? lease.lease : lease, lease_ms: leaseMs,
    }, opts);
    return r.deadline_ms;
  }

  async closeChan(chan, opts) {
    if (typeof chan !== 'string') throw new TypeError('closeChan: chan must be a string');
    await this._op('close', { chan }, opts);
  }

  async drop(chan, opts) { await this._op('drop', { chan }, opts); }

  async stat(chan, opts) { return result(await this._op('stat', { chan }, opts)); }

  async chans(prefix, opts) { return (await this._op('chans', {}, { prefix, ...opts })).chans; }

  async peek(chan, n, opts) { return (await this._op('peek', { chan }, { n, ...opts })).values; }

  async select(cases, opts) {
    const r = await this._op('select', { cases }, opts);
    const out = { index: r.index, closed: r.closed === true };
    if ('value' in r) out.value = r.value;
    if ('lease' in r) out.lease = r.lease;
    return out;
  }

  // -- jobs ---------------------------------------------------------------------

  async submit(argv, opts) {
    const r = await this._op('submit', { argv }, opts);
    return { job: r.job, duplicate: r.duplicate === true };
  }

  async job(job, opts) { return result(await this._op('job', { job }, opts)); }

  async jobs(opts) { return (await this._op('jobs', {}, opts)).jobs; }

  async cancel(target, opts) {
    let fields = target;
    if (typeof target === 'number') fields = { job: target };
    else if (typeof target === 'string') fields = { group: target };
    return (await this._op('cancel', fields, opts)).canceled;
  }

  async wait(target, opts) {
    let fields;
    if (Array.isArray(target)) fields = { jobs: target };
    else if (typeof target === 'number') fields = { jobs: [target] };
    else if (typeof target === 'string') fields = { group: target };
    else fields = target;
    return (await this._op('wait', fields, opts)).results;
  }

  async group(group, opts) { return result(await this._op('group', { group }, opts)); }

  /** A page of groups by name (protocol 1.4): {groups, more}; opts: prefix, after, limit. */
  async groups(opts) { return result(await this._op('groups', {}, opts)); }

  /**
   * Follow a job (a number) or a group (a string) until it is final;
   * onEvent(frame) gets each frame (state, progress, output, synced,
   * lagged).  After a reconnect the watch is sent again and the frames
   * already delivered (states, output of the same attempt) are skipped.
   * Resolves with the results, as wait.
   */
  async watch(target, opts = {}) {
    const fields = typeof target === 'number' ? { job: target } : { group: target };
    const seen = new Set();       // job:attempt:state
    const shown = new Map();      // job:attempt:stream -> characters delivered
    const sent = new Map();       // the same, counted in this connection's snapshot
    let attempt = new Map();      // job -> attempt of its last state frame
    const user = opts.onEvent;
    const onEvent = (f) => {
      if (f.event === 'synced' || f.event === 'lagged') { if (user) user(f); return; }
      if (f.event === 'state') {
        const a = f.result && f.result.attempt;
        attempt.set(f.job, a);
        const k = `${f.job}:${a}:${f.state}`;
        if (seen.has(k)) return;
        seen.add(k);
      } else if (f.event === 'output') {
        const k = `${f.job}:${attempt.get(f.job)}:${f.stream}`;
        const at = sent.get(k) || 0;
        sent.set(k, at + f.data.length);
        const done = shown.get(k) || 0;
        if (at + f.data.length <= done) return;
        const fresh = at >= done ? f : { ...f, data: f.data.slice(done - at) };
        shown.set(k, at + f.data.length);
        if (user) user(fresh);
        return;
      }
      if (user) user(f);
    };
    // The frame counts restart with each connection's snapshot.
    const restart = () => { sent.clear(); attempt = new Map(); };
    this.on('reconnect', restart);
    try {
      const r = await this._op('watch', fields, { ...opts, onEvent });
      return r.results;
    } finally {
      this.off('reconnect', restart);
    }
  }

  async workers(opts) { return (await this.call('workers', undefined, opts)).workers; }

  async retry(job, opts) { return (await this._op('retry', { job }, opts)).job; }

  async purge(opts) { return (await this._op('purge', {}, opts)).purged; }

  /** opts: pool, pause, workers. */
  async pool(opts) { return result(await this._op('pool', {}, opts)); }
}

/** Connect; resolves with the client once connected (and authenticated). */
function connect(addr, opts) {
  try {
    return new Client(addr, opts).ready;
  } catch (e) {
    return Promise.reject(e);
  }
}

module.exports = {
  Client, Lease, connect, recvCase, sendCase, OPS, RECONNECT,
};

'use strict';
// One connection to jqd: dial an address list (each address within its
// dial timeout, TLS when asked), split the input into lines, parse each
// as a JSON object and hand it on; write frames, coalescing the writes of
// one tick.  It knows nothing of requests: lib/client.js matches replies
// by id and decides what a lost connection means.

const net = require('node:net');
const tls = require('node:tls');
const { JqConnectionError } = require('./errors.js');
const { addrText, servedNote, dialOrder } = require('./addr.js');

/** Frames of one tick are written together up to this many characters. */
const FLUSH_BYTES = 65536;

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
 * A connection.  `onMessage(obj)` gets each reply object; `onClose(err)`
 * is called once when it is gone (err: a JqConnectionError).
 */
class Conn {
  /**
   * @param {object} o {addrs, useTls, tlsOpts, timeoutMs, maxReplyBytes,
   *   unref, onMessage, onClose, onDrain}
   */
  constructor(o) {
    this.o = o;
    this.sock = null;
    this.addr = null;
    this.closed = false;
    this.out = '';      // frames written this tick, not yet on the socket
    /** true from a socket.write() that answered false until its 'drain' */
    this.congested = false;
    this.splitter = new LineSplitter((line) => this._line(line), o.maxReplyBytes,
      () => this.destroy(new JqConnectionError('ETOOBIG',
        `reply longer than maxReplyBytes (${o.maxReplyBytes})`)));
  }

  /**
   * Dial the list, starting with the address that served last; resolves
   * once one connected (and finished its TLS handshake), rejects with the
   * error of a single address or one naming every address of a list.
   * @returns {Promise<void>}
   */
  open() {
    const order = dialOrder(this.o.addrs);
    const failures = [];
    return new Promise((resolve, reject) => {
      const next = (i) => {
        if (this.closed) { reject(new JqConnectionError('ECLOSED', 'client closed')); return; }
        this._dialOne(order[i]).then(resolve, (err) => {
          failures.push(err);
          if (i + 1 < order.length) { next(i + 1); return; }
          if (order.length === 1) { reject(err); return; }
          const e = new JqConnectionError(err.code, `cannot connect to any of the ${order.length} `
            + `addresses: ${failures.map((f) => f.message).join('; ')}`);
          e.errors = failures;
          reject(e);
        });
      };
      next(0);
    });
  }

  _dialOne(a) {
    const { useTls, tlsOpts, timeoutMs } = this.o;
    this.addr = a;
    const sock = useTls
      ? tls.connect({
        host: a.host,
        port: a.port,
        servername: net.isIP(a.host) ? undefined : a.host,
        minVersion: 'TLSv1.2',
        ...tlsOpts,
      })
      : net.createConnection(a);
    this.sock = sock;
    if (this.o.unref) sock.unref();
    return new Promise((resolve, reject) => {
      let timer = null;
      const failed = (err) => {
        if (timer) clearTimeout(timer);
        sock.removeAllListeners();
        sock.on('error', () => {});
        sock.destroy();
        reject(err);
      };
      sock.once(useTls ? 'secureConnect' : 'connect', () => {
        if (timer) clearTimeout(timer);
        sock.removeAllListeners();
        if (this.closed) { failed(new JqConnectionError('ECLOSED', 'client closed')); return; }
        servedNote(a);
        this._attach(sock);
        resolve();
      });
      sock.on('error', (err) => failed(new JqConnectionError(err.code || 'EIO',
        `${addrText(a)}: ${err.message}`, err)));
      sock.on('close', () => failed(new JqConnectionError('EEOF',
        `${addrText(a)}: connection closed`)));
      if (timeoutMs) {
        timer = setTimeout(() => failed(new JqConnectionError('ETIMEDOUT',
          `connecting to ${addrText(a)} timed out after ${timeoutMs} ms`)), timeoutMs);
        if (this.o.unref) timer.unref();
      }
    });
  }

  _attach(sock) {
    if (this.addr.port !== undefined) sock.setNoDelay(true);
    sock.on('drain', () => {
      this.congested = false;
      if (!this.closed && this.o.onDrain) this.o.onDrain();
    });
    sock.on('data', (chunk) => this.splitter.push(chunk));
    sock.on('error', (err) => this.destroy(new JqConnectionError(err.code || 'EIO',
      `${addrText(this.addr)}: ${err.message}`, err)));
    sock.on('end', () => this.destroy(new JqConnectionError('EEOF',
      'connection closed by the server')));
    sock.on('close', () => this.destroy(new JqConnectionError('EEOF', 'connection closed')));
  }

  _line(line) {
    if (this.closed || line === '') return;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch (e) {
      this.destroy(new JqConnectionError('EPROTO', `reply is not JSON: ${line.slice(0, 200)}`, e));
      return;
    }
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) {
      this.destroy(new JqConnectionError('EPROTO', `reply is not an object: ${line.slice(0, 200)}`));
      return;
    }
    this.o.onMessage(msg);
  }

  /**
   * Write one frame (its JSON text); the frames of one tick in one write,
   * or at once when they reach FLUSH_BYTES.  The caller checks
   * `congested` first (the socket's buffer is full: wait for onDrain);
   * what is buffered here is then at most FLUSH_BYTES and one frame.
   */
  write(text) {
    if (this.closed) return;
    if (this.out === '') process.nextTick(() => this._flush());
    this.out += `${text}\n`;
    if (this.out.length >= FLUSH_BYTES) this._flush();
  }

  _flush() {
    const out = this.out;
    this.out = '';
    if (!this.closed && out && !this.sock.write(out)) this.congested = true;
  }

  /** Half-close: the server answers what it has, then closes. */
  end() {
    if (this.closed || !this.sock) return;
    this._flush();
    this.sock.end();
  }

  ref(on) {
    this.o.unref = !on;
    if (this.sock) { if (on) this.sock.ref(); else this.sock.unref(); }
  }

  /** Close now (idempotent); onClose(err) once. */
  destroy(err) {
    if (this.closed) return;
    this.closed = true;
    this.splitter.stopped = true;
    if (this.sock) this.sock.destroy();
    this.o.onClose(err || new JqConnectionError('ECLOSED', 'client closed'));
  }
}

module.exports = { Conn, LineSplitter };

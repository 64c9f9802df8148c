'use strict';
// Worker: the at-least-once loop over a channel (PROTOCOL.md 6.3, 6.3.1,
// 10.11, 13 items 21-22).  Up to `concurrency` values at a time, each
// received on lease by a named consumer; while its handler runs the lease
// is touched at half of leaseMs; success acks it, a throw nacks it with
// the error's text as `reason` (and nackDelayMs).  stop() (or the signal,
// or SIGTERM/SIGINT) stops taking values, lets running handlers finish
// for graceMs, then nacks what is still running.

const os = require('node:os');
const { setMaxListeners } = require('node:events');
const { JqError } = require('./errors.js');

const WORKER_DEFAULTS = Object.freeze({
  concurrency: 1, leaseMs: 30000, graceMs: 10000, nackDelayMs: 0,
});
/** The protocol's limit on a nack's reason (bytes of UTF-8). */
const REASON_MAX_BYTES = 1024;

/**
 * The error's text as a nack reason: no NUL, at most REASON_MAX_BYTES of
 * UTF-8, cut between characters (encodeInto writes whole ones only, and
 * lone surrogates as U+FFFD, which jqd would refuse otherwise).
 */
function reasonOf(err) {
  let s = err instanceof Error ? (err.message || err.name) : String(err);
  if (!s) s = 'error';
  const buf = Buffer.alloc(REASON_MAX_BYTES);
  const { written } = new TextEncoder().encodeInto(s.replace(/\0/g, ''), buf);
  return buf.toString('utf8', 0, written);
}

class Worker {
  /**
   * @param {import('./client.js').Client} client
   * @param {string} chan
   * @param {(value: any, job: object) => any} handler  job: {lease, signal}
   * @param {object} [opts] concurrency, leaseMs, consumer, graceMs,
   *   nackDelayMs, signal, handleSignals (default true), onError
   */
  constructor(client, chan, handler, opts = {}) {
    this.client = client;
    this.chan = chan;
    this.handler = handler;
    this.opts = { ...WORKER_DEFAULTS, ...opts };
    this.consumer = opts.consumer || client.consumer || `node-${os.hostname()}-${process.pid}`;
    this.processed = 0;
    this.failed = 0;
    this._stopping = new AbortController();
    // Each slot's blocked recv listens to it: no MaxListenersExceededWarning.
    setMaxListeners(this.opts.concurrency + 10, this._stopping.signal);
    this._running = new Set();  // {lease, ctl}: handlers not yet settled
    this._run = null;
    this._stuck = null;         // rejects run(): handlers that ignore their aborted signal
    this._graceTimer = null;
  }

  /**
   * Run until the channel is closed and drained, or stop() ; resolves
   * {processed, failed}.
   */
  run() {
    if (this._run) return this._run;
    const sigs = [];
    if (this.opts.handleSignals !== false) {
      for (const s of ['SIGTERM', 'SIGINT']) {
        const h = () => this.stop();
        process.once(s, h);
        sigs.push([s, h]);
      }
    }
    const ext = this.opts.signal;
    const onExt = () => this.stop();
    if (ext) {
      if (ext.aborted) this.stop();
      else ext.addEventListener('abort', onExt, { once: true });
    }
    const slots = Array.from({ length: this.opts.concurrency }, () => this._slot());
    // A slot that fails stops the others; run() settles once all have, or
    // rejects when handlers outlive their aborted signal (_stuck).
    const stuck = new Promise((resolve, reject) => { this._stuck = reject; });
    this._run = Promise.race([Promise.allSettled(slots), stuck]).then((ends) => {
      const failed = ends.find((e) => e.status === 'rejected');
      if (failed) throw failed.reason;
      return { processed: this.processed, failed: this.failed };
    }).finally(() => {
      for (const [s, h] of sigs) process.off(s, h);
      if (ext) ext.removeEventListener('abort', onExt);
      clearTimeout(this._graceTimer);
    });
    return this._run;
  }

  /** Stop taking values; running handlers get graceMs, then are nacked. */
  stop() {
    if (this._stopping.signal.aborted) return this._run || Promise.resolve();
    this._stopping.abort(new Error('worker stopping'));
    const { graceMs } = this.opts;
    // graceMs to finish; then their signals abort (and their values are
    // nacked), and they get graceMs more to honour it before run() rejects.
    this._graceTimer = setTimeout(() => {
      for (const r of this._running) r.ctl.abort(new Error('worker stopped: grace period over'));
      this._graceTimer = setTimeout(() => {
        if (this._running.size && this._stuck) {
          this._stuck(new Error(`worker: ${this._running.size} handler(s) still running ${graceMs} ms `
            + 'after their signal aborted (graceMs after stop()); a handler must end when its signal aborts'));
        }
      }, graceMs);
      this._graceTimer.unref();
    }, graceMs);
    this._graceTimer.unref();
    return this._run || Promise.resolve({ processed: this.processed, failed: this.failed });
  }

  async _slot() {
    const stop = this._stopping.signal;
    for (;;) {
      if (stop.aborted) return;
      let lease;
      try {
        lease = await this.client.recvLease(this.chan, this.opts.leaseMs,
          { consumer: this.consumer, signal: stop });
      } catch (e) {
        if (stop.aborted) return;
        if (e instanceof JqError && e.code === 'closed') return;  // closed and drained
        this.stop();
        throw e;
      }
      if (stop.aborted) {  // it came while stopping: give it back
        await lease.nack({ reason: 'worker stopping' }).catch(() => {});
        return;
      }
      await this._handle(lease);
    }
  }

  async _handle(lease) {
    const { leaseMs } = this.opts;
    const ctl = new AbortController();
    const entry = { lease, ctl };
    this._running.add(entry);
    const touch = setInterval(() => {
      lease.touch(leaseMs).catch((e) => {
        // not_found: the lease is gone (expired): the value is someone else's.
        if (e instanceof JqError && e.code === 'not_found') ctl.abort(new Error('lease lost'));
      });
    }, Math.max(1, Math.floor(leaseMs / 2)));
    // The slot (and run()) waits for the handler to settle even when its
    // signal aborted: at most `concurrency` handlers ever run.
    const work = Promise.resolve()
      .then(() => this.handler(lease.value, { lease, signal: ctl.signal }))
      .then(() => ({ ok: true }), (err) => ({ err }));
    const ended = work.then(() => { this._running.delete(entry); });
    const aborted = new Promise((resolve) => {
      ctl.signal.addEventListener('abort', () => resolve({ aborted: true }), { once: true });
    });
    const outcome = await Promise.race([work, aborted]);
    clearInterval(touch);
    try {
      await this._settle(lease, outcome, ctl.signal);
    } finally {
      await ended;
    }
  }

  /** Ack, nack, or (lease lost) nothing; a failure goes to onError. */
  async _settle(lease, outcome, signal) {
    const { nackDelayMs } = this.opts;
    try {
      if (outcome.ok) {
        // Counted before the ack, as failed is before its nack (and as the
        // Go worker counts): an ack sent again after a crash may answer
        // not_found although the first had landed (6.3.1).
        this.processed += 1;
        await lease.ack();
      } else if (outcome.aborted) {
        if (signal.reason && signal.reason.message === 'lease lost') return;
        await lease.nack({ reason: reasonOf(signal.reason) });
      } else {
        this.failed += 1;
        await lease.nack({ reason: reasonOf(outcome.err), delayMs: nackDelayMs || undefined });
      }
    } catch (e) {
      if (this.opts.onError) this.opts.onError(e, lease);
    }
  }
}

module.exports = { Worker, WORKER_DEFAULTS };

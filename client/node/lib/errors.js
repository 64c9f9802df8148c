'use strict';
// The errors a call can reject with, and the protocol's fixed vocabularies
// (error codes, job states).  One class per way a call can fail:
//   JqError              the server answered "ok": false (or sent a notice)
//   JqConnectionError    no connection (refused, closed, protocol broken)
//   OutcomeUnknownError  the request was written, the connection was lost
//                        before its reply, and it is not safe to send again

/** The error codes of the protocol (PROTOCOL.md 7; canceled: 1.1). */
const ERROR_CODES = Object.freeze([
  'bad_request', 'unknown_op', 'frame_too_large', 'unauthorized',
  'not_found', 'exists', 'closed', 'timeout', 'too_large', 'limit',
  'shutting_down', 'internal', 'canceled',
]);

/** The six job states (PROTOCOL.md 11.1). */
const JOB_STATES = Object.freeze([
  'queued', 'running', 'succeeded', 'failed', 'deadline_exceeded', 'canceled',
]);
/** The final job states. */
const FINAL_STATES = Object.freeze([
  'succeeded', 'failed', 'deadline_exceeded', 'canceled',
]);

/**
 * An error reply from the server ("ok": false), or one of its unsolicited
 * notices ("id": null: limit, unauthorized).
 */
class JqError extends Error {
  constructor(code, message, details, op) {
    super(message);
    this.name = 'JqError';
    this.code = code;
    this.details = details || {};
    this.op = op;
  }

  /** the select case (`details.index`) */
  get index() { return this.details.index; }

  /** jobs not finished (`details.pending`, wait) */
  get pending() { return this.details.pending; }

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
 * No usable connection: `code` is the system's ("ECONNREFUSED", "ENOENT",
 * ...) or "EEOF" (closed by the server), "ECLOSED" (closed by this client),
 * "EPROTO" (a reply against the protocol), "ETOOBIG" (a reply over
 * maxReplyBytes), "EGAVEUP" (reconnecting failed for reconnect.giveUpMs).
 */
class JqConnectionError extends Error {
  constructor(code, message, cause) {
    super(message, cause ? { cause } : undefined);
    this.name = 'JqConnectionError';
    this.code = code;
  }
}

/**
 * The request was written but its connection was lost before the reply,
 * and it is not idempotent (an unkeyed send, a plain recv, select, close,
 * drop, retry, an unkeyed submit): it may or may not have taken effect
 * (PROTOCOL.md 6.1).  Not a server error.  `code` is "EOUTCOME"; `cause`
 * is the connection's error; `op` the op.
 */
class OutcomeUnknownError extends Error {
  constructor(op, cause) {
    super(`outcome of '${op}' unknown: the connection was lost before its reply`
      + (cause ? ` (${cause.message})` : ''), cause ? { cause } : undefined);
    this.name = 'OutcomeUnknownError';
    this.code = 'EOUTCOME';
    this.op = op;
  }
}

module.exports = {
  JqError, JqConnectionError, OutcomeUnknownError, ERROR_CODES, JOB_STATES, FINAL_STATES,
};

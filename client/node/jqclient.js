'use strict';
/**
 * jqclient: the Node.js client for jqd, the job-queue daemon.  No
 * dependencies, Node 18 or later, CommonJS (this file) and ESM
 * (jqclient.mjs); types in jqclient.d.ts; README.md says how to use it.
 *
 *   lib/errors.js  error classes, error codes, job states
 *   lib/addr.js    addresses and tokens, as jq-client finds them
 *   lib/conn.js    one connection: dial, lines, JSON
 *   lib/frame.js   request frames as text; what jqd would refuse whole
 *   lib/client.js  Client: multiplexed calls, abort, reconnect and retries
 *   lib/worker.js  Worker: leases, touches, ack/nack, graceful stop
 */

// Destructured and exported by name, so that node's ESM loader sees each
// name of this CommonJS module (import { Client } from '.../jqclient.js').
const {
  JqError, JqConnectionError, OutcomeUnknownError, ERROR_CODES, JOB_STATES, FINAL_STATES,
} = require('./lib/errors.js');
const {
  parseAddr, parseAddrs, defaultAddr, defaultTokenFile, DEFAULT_ADDR, DIAL_TIMEOUT_MS,
} = require('./lib/addr.js');
const { LineSplitter } = require('./lib/conn.js');
const {
  connect, Client, Lease, recvCase, sendCase, RECONNECT,
} = require('./lib/client.js');
const { Worker } = require('./lib/worker.js');

module.exports = {
  connect,
  Client,
  Lease,
  Worker,
  JqError,
  JqConnectionError,
  OutcomeUnknownError,
  LineSplitter,
  parseAddr,
  parseAddrs,
  defaultAddr,
  defaultTokenFile,
  recvCase,
  sendCase,
  ERROR_CODES,
  JOB_STATES,
  FINAL_STATES,
  DEFAULT_ADDR,
  DIAL_TIMEOUT_MS,
  RECONNECT,
};

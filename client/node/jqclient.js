'use strict';
/**
 * jqclient: the Node.js client for jqd, the job-queue daemon.  No
 * dependencies, Node 18 or later, CommonJS (this file) and ESM
 * (jqclient.mjs); types in jqclient.d.ts; README.md says how to use it.
 *
 *   lib/errors.js  error classes, error codes, job states
 *   lib/addr.js    addresses and tokens, as jq-client finds them
 *   lib/conn.js    one connection: dial, lines, JSON
 *   lib/client.js  Client: multiplexed calls, abort, reconnect and retries
 *   lib/worker.js  Worker: leases, touches, ack/nack, graceful stop
 */

const errors = require('./lib/errors.js');
const addr = require('./lib/addr.js');
const { LineSplitter } = require('./lib/conn.js');
const client = require('./lib/client.js');
const { Worker } = require('./lib/worker.js');

module.exports = {
  connect: client.connect,
  Client: client.Client,
  Lease: client.Lease,
  Worker,
  JqError: errors.JqError,
  JqConnectionError: errors.JqConnectionError,
  OutcomeUnknownError: errors.OutcomeUnknownError,
  LineSplitter,
  parseAddr: addr.parseAddr,
  parseAddrs: addr.parseAddrs,
  defaultAddr: addr.defaultAddr,
  defaultTokenFile: addr.defaultTokenFile,
  recvCase: client.recvCase,
  sendCase: client.sendCase,
  ERROR_CODES: errors.ERROR_CODES,
  JOB_STATES: errors.JOB_STATES,
  FINAL_STATES: errors.FINAL_STATES,
  DEFAULT_ADDR: addr.DEFAULT_ADDR,
  DIAL_TIMEOUT_MS: addr.DIAL_TIMEOUT_MS,
  RECONNECT: client.RECONNECT,
};

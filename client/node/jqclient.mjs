// ESM entry of jqclient: the CommonJS module's exports, by name.
//   import { Client, Worker } from 'jqclient';
import jq from './jqclient.js';

export const {
  connect, Client, Lease, Worker, JqError, JqConnectionError, OutcomeUnknownError,
  LineSplitter, parseAddr, parseAddrs, defaultAddr, defaultTokenFile, recvCase, sendCase,
  ERROR_CODES, JOB_STATES, FINAL_STATES, DEFAULT_ADDR, DIAL_TIMEOUT_MS, RECONNECT,
} = jq;
export default jq;

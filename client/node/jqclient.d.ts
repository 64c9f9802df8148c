// Type declarations of jqclient (the Node.js client of jqd).  Checked
// against the runtime by test/types.test.js: every name exported here
// exists there and the reverse, and so do the classes' methods.
/// <reference types="node" />

import { EventEmitter } from 'node:events';

/** Any JSON value, as JSON.parse returns it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** An address: "unix:PATH", a path, "HOST:PORT", "[IPV6]:PORT", "tls:HOST:PORT". */
export type Addr = string | { host?: string; port?: number } | { path: string };
export type ParsedAddr = { path: string } | { host: string; port: number; tls?: boolean };

export interface ReconnectOptions {
  /** first delay after a loss (default 50 ms), doubled up to maxDelayMs, jittered */
  minDelayMs?: number;
  /** cap of the delay (default 2000 ms) */
  maxDelayMs?: number;
  /** give up after this long without a connection (default 30000 ms; Infinity: never) */
  giveUpMs?: number;
}

export interface ClientOptions {
  /** sent with auth on every connection; undefined: JQ_TOKEN, else over TCP the token file; null: none */
  token?: string | null;
  /** TLS over TCP: true, or node's tls.connect options (ca, cert, key, servername, ...) */
  tls?: boolean | import('node:tls').ConnectionOptions;
  /** per address of a list, for connect and TLS handshake (default 2000 for a list, none for one address); also bounds auth + hello (default there 30000) */
  connectTimeoutMs?: number;
  /** longest reply line accepted (default 256 MiB) */
  maxReplyBytes?: number;
  /** longest request sent (default 1 MiB, jqd's max_frame); longer: JqError frame_too_large */
  maxFrameBytes?: number;
  /** the connection's default named consumer (hello's consumer) */
  consumer?: string;
  /** blocking calls in flight at most (default 1024, jqd's max_pending); more wait in the client */
  maxPending?: number;
  /** calls waiting in the client at most (for a connection, the socket's 'drain', or maxPending; default 4096); past it a call rejects at once with JqError limit */
  maxQueued?: number;
  /** "auto": every send without a key gets a random one, so it is retried safely */
  sendKeys?: 'auto';
  /** reconnect after a loss (default: on, with these defaults); false: a loss closes the client */
  reconnect?: boolean | ReconnectOptions;
  /** retry the first connect too, as a reconnect (default false: ready rejects at once) */
  waitForServer?: boolean;
}

/** Options every call takes (never sent). */
export interface CallOptions {
  /** abort the call: `abort` is sent; rejects with signal.reason unless the reply came first */
  signal?: AbortSignal;
  /** abort the call after this many ms (client side), rejecting with a TimeoutError */
  clientTimeoutMs?: number;
}

/** Calls that may block take the server's timeout_ms too. */
export interface BlockingOptions extends CallOptions {
  /** server side: undefined waits as long as it takes, 0 never waits */
  timeoutMs?: number;
}

export interface SendOptions extends BlockingOptions {
  /** idempotency key (1-256 bytes): a retry is answered duplicate */
  key?: string;
}

/** recv/recvMany return values only: leaseMs is refused (TypeError), use recvLease/recvLeases */
export interface PlainRecvOptions extends BlockingOptions {
  leaseMs?: never;
}

export interface RecvOptions extends BlockingOptions {
  /** named consumer for this receive (overrides the client's) */
  consumer?: string;
}

export interface MakeOptions extends CallOptions {
  maxDeliveries?: number;
  deadLetter?: string;
  dedupWindowMs?: number;
  dedupMax?: number;
}

export interface NackOptions extends CallOptions {
  delayMs?: number;
  reason?: string;
}

export interface SubmitOptions extends CallOptions {
  env?: Record<string, string>;
  cwd?: string;
  stdin?: string;
  timeoutMs?: number;
  deadlineMs?: number;
  runTimeoutMs?: number;
  delayMs?: number;
  group?: string;
  parent?: number;
  key?: string;
  name?: string;
  resultChan?: string;
  priority?: number;
  retries?: number;
  pool?: string;
}

export interface WatchFrame {
  event: 'state' | 'progress' | 'output' | 'synced' | 'lagged' | string;
  job?: number;
  state?: string;
  result?: JobResult;
  stream?: 'stdout' | 'stderr';
  data?: string;
  progress?: { done: number; total: number | null };
  dropped_bytes?: number;
  dropped_frames?: number;
  [key: string]: unknown;
}

export interface WatchOptions extends CallOptions {
  output?: boolean;
  progress?: boolean;
  onEvent?: (frame: WatchFrame) => void;
}

export interface JobResult {
  job: number;
  name: string | null;
  group: string | null;
  state: string;
  exit_code: number | null;
  signal: number | null;
  error: string | null;
  stdout?: string;
  stderr?: string;
  attempt: number;
  submitted_ms: number;
  started_ms: number | null;
  finished_ms: number | null;
  [key: string]: unknown;
}

export interface SelectCase { recv?: string; send?: string; value?: Json; }
export interface SelectResult { index: number; closed: boolean; value?: Json; lease?: string; }

export declare const ERROR_CODES: readonly string[];
export declare const JOB_STATES: readonly string[];
export declare const FINAL_STATES: readonly string[];
export declare const DEFAULT_ADDR: string;
export declare const DIAL_TIMEOUT_MS: number;
export declare const RECONNECT: Readonly<Required<ReconnectOptions>>;

export declare class JqError extends Error {
  constructor(code: string, message: string, details?: Record<string, unknown>, op?: string);
  code: string;
  details: Record<string, unknown>;
  op?: string;
  /** true when the call was sent again after a reconnect before this reply */
  retried?: boolean;
  readonly index: number | undefined;
  readonly pending: number | undefined;
  static fromReply(error: unknown, op?: string): JqError;
}

export declare class JqConnectionError extends Error {
  constructor(code: string, message: string, cause?: Error);
  code: string;
  errors?: Error[];
}

export declare class OutcomeUnknownError extends Error {
  constructor(op: string, cause?: Error);
  code: 'EOUTCOME';
  op: string;
}

export declare class LineSplitter {
  constructor(onLine: (line: string) => void, maxLine?: number, onTooLong?: () => void);
  push(chunk: Buffer): void;
  readonly pendingBytes: number;
}

export declare class Lease<T = Json> {
  chan: string;
  value: T;
  lease: string;
  redelivered: number;
  consumer: string | null;
  done: boolean;
  ack(opts?: CallOptions): Promise<void>;
  nack(opts?: NackOptions): Promise<void>;
  /** resolves the new deadline_ms (server clock) */
  touch(leaseMs: number, opts?: CallOptions): Promise<number>;
}

export declare class Client extends EventEmitter {
  constructor(addr?: Addr | Addr[], opts?: ClientOptions);
  readonly ready: Promise<Client>;
  addrs: ParsedAddr[];
  addr: ParsedAddr;
  consumer: string | null;
  sendKeys: boolean;
  maxPending: number;
  maxQueued: number;
  maxFrameBytes: number;
  /** hello's reply on the current connection, or null while disconnected */
  server: Record<string, unknown> | null;
  /** connections made so far */
  connects: number;
  readonly address: string;
  readonly isOpen: boolean;
  readonly isConnected: boolean;
  readonly pendingCount: number;
  close(chan?: string): Promise<void>;
  end(): Promise<void>;
  unref(): this;
  ref(): this;
  call(op: string, fields?: Record<string, unknown>, opts?: CallOptions): Promise<Record<string, any>>;
  raw(frame: Record<string, unknown>, opts?: CallOptions): Promise<Record<string, any>>;
  /** consumer: this connection's named consumer from now on, and the client's (said again on reconnects) */
  hello(opts?: CallOptions & { consumer?: string }): Promise<Record<string, any>>;
  auth(token: string, opts?: CallOptions): Promise<void>;
  ping(opts?: CallOptions): Promise<void>;
  stats(opts?: CallOptions): Promise<Record<string, any>>;
  make(chan: string, cap?: number, opts?: MakeOptions): Promise<boolean>;
  send(chan: string, value: Json, opts?: SendOptions): Promise<{ duplicate: boolean }>;
  sendBatch(chan: string, values: Json[], opts?: SendOptions): Promise<{ duplicate: boolean }>;
  recv<T = Json>(chan: string, opts?: PlainRecvOptions): Promise<T>;
  recvMany<T = Json>(chan: string, max: number, opts?: PlainRecvOptions): Promise<T[]>;
  recvLease<T = Json>(chan: string, leaseMs: number, opts?: RecvOptions): Promise<Lease<T>>;
  recvLeases<T = Json>(chan: string, max: number, leaseMs: number, opts?: RecvOptions): Promise<Lease<T>[]>;
  ack(chan: string, lease: string | Lease<any>, opts?: CallOptions): Promise<void>;
  nack(chan: string, lease: string | Lease<any>, opts?: NackOptions): Promise<void>;
  touch(chan: string, lease: string | Lease<any>, leaseMs: number, opts?: CallOptions): Promise<number>;
  closeChan(chan: string, opts?: CallOptions): Promise<void>;
  drop(chan: string, opts?: CallOptions): Promise<void>;
  stat(chan: string, opts?: CallOptions): Promise<Record<string, any>>;
  chans(prefix?: string, opts?: CallOptions): Promise<Record<string, any>[]>;
  peek<T = Json>(chan: string, n?: number, opts?: CallOptions): Promise<T[]>;
  select(cases: SelectCase[], opts?: RecvOptions): Promise<SelectResult>;
  submit(argv: string[], opts?: SubmitOptions): Promise<{ job: number; duplicate: boolean }>;
  job(job: number, opts?: CallOptions): Promise<JobResult>;
  jobs(opts?: CallOptions & { state?: string; group?: string; limit?: number; before?: number }): Promise<JobResult[]>;
  cancel(target: number | string | { job?: number; group?: string }, opts?: CallOptions): Promise<number>;
  wait(target: number | number[] | string | { jobs?: number[]; group?: string },
    opts?: BlockingOptions & { output?: boolean }): Promise<JobResult[]>;
  group(group: string, opts?: CallOptions): Promise<Record<string, any>>;
  groups(opts?: CallOptions & { prefix?: string; after?: string; limit?: number }):
    Promise<{ groups: Record<string, any>[]; more: boolean }>;
  watch(target: number | string, opts?: WatchOptions): Promise<JobResult[]>;
  workers(opts?: CallOptions): Promise<Record<string, any>[]>;
  retry(job: number, opts?: CallOptions): Promise<number>;
  purge(opts?: CallOptions & { state?: string; group?: string; beforeMs?: number; olderThanMs?: number }): Promise<number>;
  pool(opts?: CallOptions & { pool?: string; pause?: boolean; workers?: number }): Promise<Record<string, any>>;
  on(event: 'close', listener: (err: Error | null) => void): this;
  on(event: 'disconnect', listener: (err: Error, delayMs: number) => void): this;
  on(event: 'reconnect', listener: (info: { address: string; attempt: number }) => void): this;
  on(event: string, listener: (...args: any[]) => void): this;
}

export interface WorkerJob<T = Json> {
  lease: Lease<T>;
  /** aborted when the lease is lost or the grace period after stop() is over: the handler must then end (its slot stays taken until it does) */
  signal: AbortSignal;
}

export interface WorkerOptions {
  /** handlers running at once (default 1) */
  concurrency?: number;
  /** lease of each value (default 30000 ms); touched every leaseMs / 2 */
  leaseMs?: number;
  /** named consumer (default: the client's, else node-HOSTNAME-PID) */
  consumer?: string;
  /** after stop(), how long running handlers may finish before their signal aborts and their values are nacked (default 10000); then as long again to end before run() rejects */
  graceMs?: number;
  /** nack delay after a handler failed (default 0) */
  nackDelayMs?: number;
  /** stop when it aborts */
  signal?: AbortSignal;
  /** stop on SIGTERM and SIGINT (default true) */
  handleSignals?: boolean;
  /** an ack or nack that failed (e.g. not_found: the lease expired) */
  onError?: (err: Error, lease: Lease<any>) => void;
}

export declare class Worker<T = Json> {
  constructor(client: Client, chan: string, handler: (value: T, job: WorkerJob<T>) => unknown,
    opts?: WorkerOptions);
  client: Client;
  chan: string;
  consumer: string;
  /** handlers that resolved (whatever their ack answered) */
  processed: number;
  /** handlers that threw */
  failed: number;
  /** until the channel is closed and drained, or stopped, and every handler has ended; rejects with a receive's error (after stopping), or when handlers still run graceMs after their signal aborted */
  run(): Promise<{ processed: number; failed: number }>;
  stop(): Promise<{ processed: number; failed: number } | void>;
}

export declare function connect(addr?: Addr | Addr[], opts?: ClientOptions): Promise<Client>;
export declare function parseAddr(addr?: Addr): ParsedAddr;
export declare function parseAddrs(addr?: Addr | Addr[]): ParsedAddr[];
export declare function defaultAddr(): string;
export declare function defaultTokenFile(): string | null;
export declare function recvCase(chan: string): { recv: string };
export declare function sendCase(chan: string, value: Json): { send: string; value: Json };

declare const jqclient: {
  connect: typeof connect;
  Client: typeof Client;
  Lease: typeof Lease;
  Worker: typeof Worker;
  JqError: typeof JqError;
  JqConnectionError: typeof JqConnectionError;
  OutcomeUnknownError: typeof OutcomeUnknownError;
  LineSplitter: typeof LineSplitter;
  parseAddr: typeof parseAddr;
  parseAddrs: typeof parseAddrs;
  defaultAddr: typeof defaultAddr;
  defaultTokenFile: typeof defaultTokenFile;
  recvCase: typeof recvCase;
  sendCase: typeof sendCase;
  ERROR_CODES: typeof ERROR_CODES;
  JOB_STATES: typeof JOB_STATES;
  FINAL_STATES: typeof FINAL_STATES;
  DEFAULT_ADDR: typeof DEFAULT_ADDR;
  DIAL_TIMEOUT_MS: typeof DIAL_TIMEOUT_MS;
  RECONNECT: typeof RECONNECT;
};
export default jqclient;

#!/usr/bin/env node
'use strict';
// node-producer.js: feed tasks into a jqd channel, with back-pressure.
//
// Usage:
//   node examples/node-producer.js [options] < tasks.txt     one task per line
//   node examples/node-producer.js [options] -n 10000        generate tasks
//
// Options:
//   -a, --addr ADDR      jqd address: HOST:PORT, unix:PATH or a socket path
//                        (default: $JQ_ADDR, else the local jqd's Unix socket)
//   -c, --chan NAME      channel to send to (default: tasks)
//       --cap N          capacity used if the channel must be made (default 1000);
//                        an existing channel is used with its own capacity
//   -n, --count N        generate N tasks {"id": i, "n": 1000 * i} (i = 1..N),
//                        as examples/python-worker.py takes them, instead of
//                        reading stdin
//       --json           parse each input line as JSON (default: send it as a string)
//   -w, --window N       sends in flight at most (default 64)
//   -b, --batch N        values per send (a batch: all or nothing; default 1;
//                        at most the channel's capacity)
//   -p, --progress-ms N  progress report interval on stderr (default 1000; 0: off)
//   -h, --help
// The token comes from $JQ_TOKEN when the server wants one.
//
// Back-pressure: the producer keeps at most --window sends (of --batch values)
// unanswered.  When the channel is full the server holds the sends (they
// block, PROTOCOL.md 4.3), the window fills up, and the producer stops
// reading its input until consumers make room, so memory stays bounded
// however fast the input is.  Progress is read with `stat` on a second
// connection, because the first one is busy with blocked sends.
//
// Example consumer: examples/python-worker.py (README.md, "Examples"), or
//   jq-client recv tasks -n 100
//
// Exit status: 0 all sent; 1 a send failed (the tasks sent before it stay
// queued; a failed send may or may not have been applied); 2 usage.

const readline = require('node:readline');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { connect, JqError } = require(path.join(__dirname, '..', 'client', 'node', 'jqclient.js'));

function usage(msg) {
  if (msg) process.stderr.write(`node-producer: ${msg}\n`);
  process.stderr.write('usage: node-producer.js [-a ADDR] [-c CHAN] [--cap N] [-n N | --json] [-w N] [-b N] [-p MS]\n');
  process.exit(2);
}

function intOpt(values, name, dflt, min) {
  if (values[name] === undefined) return dflt;
  const v = Number(values[name]);
  if (!Number.isSafeInteger(v) || v < min) usage(`--${name} must be an integer >= ${min}`);
  return v;
}

async function* generated(n) {
  for (let i = 1; i <= n; i++) yield { id: i, n: 1000 * i };
}

async function* fromStdin(json) {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of rl) {
    lineNo += 1;
    if (line === '') continue;
    if (!json) { yield line; continue; }
    try {
      yield JSON.parse(line);
    } catch (e) {
      throw new Error(`line ${lineNo}: not JSON: ${e.message}`);
    }
  }
}

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        addr: { type: 'string', short: 'a' },
        chan: { type: 'string', short: 'c', default: 'tasks' },
        cap: { type: 'string' },
        count: { type: 'string', short: 'n' },
        json: { type: 'boolean', default: false },
        window: { type: 'string', short: 'w' },
        batch: { type: 'string', short: 'b' },
        'progress-ms': { type: 'string', short: 'p' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    usage(e.message);
  }
  if (values.help) usage();
  const chan = values.chan;
  const cap = intOpt(values, 'cap', 1000, 1);
  const count = intOpt(values, 'count', undefined, 0);
  const window = intOpt(values, 'window', 64, 1);
  let batch = intOpt(values, 'batch', 1, 1);
  const progressMs = intOpt(values, 'progress-ms', 1000, 0);

  const client = await connect(values.addr);
  const monitor = await connect(values.addr);   // stat while client's sends block

  // Make the channel, or use the existing one.
  let chanCap = cap;
  try {
    const created = await client.make(chan, cap);
    process.stderr.write(`${created ? 'made' : 'using'} channel '${chan}' (cap ${cap})\n`);
  } catch (e) {
    if (!(e instanceof JqError) || e.code !== 'exists') throw e;
    chanCap = (await monitor.stat(chan)).cap;
    process.stderr.write(`using channel '${chan}' (cap ${chanCap})\n`);
  }
  if (batch > 1 && chanCap === 0) usage(`--batch needs a buffered channel ('${chan}' has cap 0)`);
  if (batch > chanCap && chanCap > 0) batch = chanCap;

  // Progress.
  const t0 = Date.now();
  let sent = 0;
  const inflight = new Set();
  let reporting = false;
  const report = async (final) => {
    if (reporting && !final) return;
    reporting = true;
    try {
      const st = await monitor.stat(chan);
      const secs = (Date.now() - t0) / 1000;
      process.stderr.write(`${final ? 'done: ' : ''}sent ${sent} (${(sent / Math.max(secs, 0.001)).toFixed(0)}/s), `
        + `in flight ${inflight.size}, channel ${st.len}/${st.cap} buffered, ${st.leased} leased, `
        + `${st.receivers_waiting} receivers waiting\n`);
    } catch (e) {
      process.stderr.write(`progress: ${e.message}\n`);
    } finally {
      reporting = false;
    }
  };
  const timer = progressMs ? setInterval(() => { report(false); }, progressMs) : null;

  // Send with a bounded window of unanswered sends.
  let failure = null;
  let stopping = false;
  process.once('SIGINT', () => { stopping = true; process.stderr.write('interrupted: finishing the sends in flight\n'); });
  const launch = (items) => {
    const p = (items.length === 1 && batch === 1 ? client.send(chan, items[0]) : client.sendBatch(chan, items))
      .then(() => { sent += items.length; }, (e) => { failure = failure || e; })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };
  const source = count !== undefined ? generated(count) : fromStdin(values.json);
  let pending = [];
  try {
    for await (const item of source) {
      if (failure || stopping) break;
      pending.push(item);
      if (pending.length < batch) continue;
      launch(pending);
      pending = [];
      while (inflight.size >= window && !failure) await Promise.race(inflight);
    }
    if (pending.length && !failure && !stopping) launch(pending);
  } finally {
    await Promise.all(inflight);
    if (timer) clearInterval(timer);
  }
  if (progressMs) await report(true);
  await Promise.all([client.close(), monitor.close()]);
  if (failure) {
    process.stderr.write(`node-producer: send failed: ${failure.code ? `${failure.code}: ` : ''}${failure.message}\n`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  process.stderr.write(`node-producer: ${e.code ? `${e.code}: ` : ''}${e.message}\n`);
  process.exit(1);
});

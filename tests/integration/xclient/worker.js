#!/usr/bin/env node
'use strict';
// Cross-client role (tests/integration/test_cross_client.py): the Node
// worker.  Usage: JQ_ADDR=unix:/path/jqd.sock worker.js CHAN DONE NAME
// Named consumer NAME, 4 at a time through the client's Worker: for each
// value v of CHAN, send {"n": v.n, "by": NAME} to DONE with key "d-<n>",
// then ack.  Exits 0 once CHAN is closed and drained, printing
// "processed K".  Survives jqd restarts: it reconnects (for up to 30 s
// while jqd is down), its keyed sends are retried and its leases, a named
// consumer's, stay valid.

const path = require('node:path');
const { Client, Worker } = require(path.join(__dirname, '..', '..', '..', 'client', 'node', 'jqclient.js'));

// Short, as the work is: a lease whose reply was lost to a crash comes back
// this soon (it is touched at half of it while the work runs).
const LEASE_MS = 5000;

async function main() {
  const [chan, done, name] = process.argv.slice(2);
  if (!name) {
    process.stderr.write('usage: worker.js CHAN DONE NAME\n');
    process.exit(2);
  }
  const client = new Client(undefined, {
    consumer: name, waitForServer: true, reconnect: { giveUpMs: 30000 },
  });
  client.on('disconnect', (err) => process.stderr.write(`worker ${name}: disconnected: ${err.message}\n`));
  await client.ready;
  const worker = new Worker(client, chan, async (v) => {
    await client.send(done, { n: v.n, by: name }, { key: `d-${v.n}` });
  }, { concurrency: 4, leaseMs: LEASE_MS, onError: (e) => process.stderr.write(`worker ${name}: ${e.message}\n`) });
  const { processed } = await worker.run();
  await client.close();
  process.stdout.write(`processed ${processed}\n`);
}

main().catch((e) => {
  process.stderr.write(`worker: ${e.code ? `${e.code}: ` : ''}${e.message}\n`);
  process.exit(1);
});

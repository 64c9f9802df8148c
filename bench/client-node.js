#!/usr/bin/env node
'use strict';
// Round trips per second of `ping` from N concurrent callers (async tasks)
// sharing ONE connection of the Node client, against a running jqd.
//   JQ_ADDR=unix:/path/jqd.sock node bench/client-node.js --callers 8 --seconds 5 --mode mux
// --mode mux: this tree's client (one multiplexed connection);
// --mode v1:  the v1 client of commit d41f24a (serial, pipelined), taken
//             out of git with `git show` into a temporary directory.
// Prints one line: client=node mode=M callers=N ops=TOTAL rps=OPS_PER_S

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { parseArgs } = require('node:util');

const V1_COMMIT = 'd41f24a';

function loadClient(mode) {
  if (mode === 'mux') return require(path.join(__dirname, '..', 'client', 'node', 'jqclient.js'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jqbench-v1-'));
  const file = path.join(dir, 'jqclient.js');
  let text;
  try {
    text = execFileSync('git', ['-C', path.join(__dirname, '..'), 'show', `${V1_COMMIT}:client/node/jqclient.js`],
      { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`--mode v1 needs a git checkout holding ${V1_COMMIT}: ${String(e.stderr || e.message).trim()}`);
  }
  fs.writeFileSync(file, text);
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return require(file);
}

async function main() {
  const { values } = parseArgs({
    options: {
      callers: { type: 'string', default: '1' },
      seconds: { type: 'string', default: '5' },
      mode: { type: 'string', default: 'mux' },
    },
  });
  const callers = Number(values.callers);
  const seconds = Number(values.seconds);
  if (!(callers >= 1) || !(seconds > 0) || !['mux', 'v1'].includes(values.mode)) {
    process.stderr.write('usage: client-node.js [--callers N] [--seconds S] [--mode mux|v1]\n');
    process.exit(2);
  }
  const jq = loadClient(values.mode);
  const c = await jq.connect(process.env.JQ_ADDR);
  await c.ping();  // warm
  let ops = 0;
  let stop = false;
  const t0 = process.hrtime.bigint();
  setTimeout(() => { stop = true; }, seconds * 1000);
  await Promise.all(Array.from({ length: callers }, async () => {
    while (!stop) {
      await c.ping();
      ops += 1;
    }
  }));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await c.close();
  process.stdout.write(`client=node mode=${values.mode} callers=${callers} ops=${ops} rps=${Math.round(ops / secs)}\n`);
}

main().catch((e) => {
  process.stderr.write(`client-node: ${e.message}\n`);
  process.exit(1);
});

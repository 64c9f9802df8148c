'use strict';
// Job ops against a real jqd: submit, job, jobs, cancel, wait, group,
// result_chan, idempotency keys.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { connect, FINAL_STATES } = require('../jqclient.js');
const { SKIP, startServer, waitUntil, uniq } = require('./harness.js');

describe('jobs', { skip: SKIP }, () => {
  let srv;
  let c;
  let w;   // a second client for blocking waits

  before(async () => {
    srv = await startServer({ workers: 2 });
    c = await connect(srv.addr, { token: null });
    w = await connect(srv.addr, { token: null });
  });

  after(async () => {
    if (w) await w.close();
    if (c) await c.close();
    if (srv) await srv.stop();
  });

  it('submit, wait, job: output, env, stdin, exit codes', async () => {
    const a = await c.submit(['sh', '-c', 'echo hello; echo oops >&2'], { name: 'greet' });
    assert.equal(typeof a.job, 'number');
    assert.equal(a.duplicate, false);
    const b = await c.submit(['sh', '-c', 'echo "$GREETING $JQ_GROUP"; cat; exit 3'],
      { env: { GREETING: 'hi' }, stdin: 'from stdin\n', group: uniq('g') });
    const bad = await c.submit(['no-such-command-here']);
    const results = await w.wait([bad.job, a.job, b.job, a.job]);
    assert.deepEqual(results.map((r) => r.job), [a.job, b.job, bad.job].sort((x, y) => x - y));
    const [ra, rb, rbad] = results;
    assert.equal(ra.state, 'succeeded');
    assert.equal(ra.name, 'greet');
    assert.equal(ra.stdout, 'hello\n');
    assert.equal(ra.stderr, 'oops\n');
    assert.equal(ra.exit_code, 0);
    assert.equal(ra.attempt, 1);
    assert.equal(rb.state, 'failed');
    assert.equal(rb.exit_code, 3);
    assert.match(rb.stdout, /^hi g-\d+-\d+\nfrom stdin\n$/);
    assert.equal(rbad.state, 'failed');
    assert.match(rbad.error, /^cannot start: no-such-command-here/);
    const j = await c.job(a.job);
    assert.equal(j.job, a.job);
    assert.equal(j.stdout, 'hello\n');
    assert.ok(FINAL_STATES.includes(j.state));
    assert.equal(j.id, undefined);
    assert.ok(Number.isSafeInteger(j.submitted_ms));
    await assert.rejects(c.job(999999), { code: 'not_found', message: 'no job 999999' });
    await assert.rejects(c.submit([]), { code: 'bad_request' });
    await assert.rejects(c.submit(['true'], { timeoutMs: 0 }), { code: 'bad_request' });
    await assert.rejects(c.submit(['true'], { parent: 999999 }), { code: 'not_found' });
    await assert.rejects(c.submit(['true'], { resultChan: uniq('nowhere') }), { code: 'not_found' });
  });

  it('idempotency key: a second submit returns the same job, duplicate', async () => {
    const key = uniq('key');
    const a = await c.submit(['true'], { key });
    const b = await c.submit(['false'], { key });
    assert.deepEqual(b, { job: a.job, duplicate: true });
    await w.wait(a.job);
  });

  it('deadlines: timeoutMs, runTimeoutMs, deadlineMs', async () => {
    const a = await c.submit(['sleep', '10'], { timeoutMs: 200 });
    const b = await c.submit(['sleep', '10'], { runTimeoutMs: 200 });
    const d = await c.submit(['true'], { deadlineMs: 0 });
    const rs = await w.wait([a.job, b.job, d.job], { timeoutMs: 20000 });
    assert.deepEqual(rs.map((r) => r.state), ['deadline_exceeded', 'deadline_exceeded', 'deadline_exceeded']);
    assert.deepEqual(rs.map((r) => r.error), ['deadline exceeded', 'run_timeout', 'deadline exceeded']);
  });

  it('cancel a job (and its child), a group; wait timeout with pending', async () => {
    const parent = await c.submit(['sleep', '60'], { name: 'parent' });
    const child = await c.submit(['sleep', '60'], { parent: parent.job });
    await assert.rejects(c.wait([parent.job, child.job], { timeoutMs: 0 }),
      (e) => e.code === 'timeout' && e.pending === 2 && e.details.pending === 2);
    await waitUntil(async () => (await c.job(parent.job)).state === 'running', 10000, 'parent running');
    assert.equal(await c.cancel(parent.job), 2);
    const rs = await w.wait([parent.job, child.job], { timeoutMs: 20000 });
    assert.deepEqual(rs.map((r) => r.state), ['canceled', 'canceled']);
    assert.equal(await c.cancel(parent.job), 0);
    assert.equal(await c.cancel({ job: parent.job }), 0);
    const late = await c.submit(['true'], { parent: parent.job });
    assert.equal((await c.job(late.job)).error, 'parent is done');

    const g = uniq('grp');
    await c.submit(['sleep', '60'], { group: g });
    await c.submit(['sleep', '60'], { group: g, delayMs: 60000 });
    assert.equal(await c.cancel({ group: g }), 2);
    const gr = await w.wait({ group: g }, { timeoutMs: 20000 });
    assert.equal(gr.length, 2);
    assert.ok(gr.every((r) => r.state === 'canceled'));
    assert.equal(await c.cancel(uniq('nobody')), 0);
    await assert.rejects(c.cancel(999999), { code: 'not_found' });
    await assert.rejects(c.cancel({ job: 1, group: g }), { code: 'bad_request' });
  });

  it('wait on a group, group counts and progress, jobs listing and paging', async () => {
    const g = uniq('render');
    const ids = [];
    for (const n of ['a', 'b', 'c']) {
      const { job } = await c.submit(['sh', '-c', 'echo 2 5 >&3; echo 5 5 >&3; echo frame-$NAME'],
        { env: { NAME: n }, group: g, priority: n === 'c' ? 5 : 0 });
      ids.push(job);
    }
    const results = await w.wait(g, { timeoutMs: 20000 });
    assert.deepEqual(results.map((r) => r.job), ids);
    assert.deepEqual(results.map((r) => r.stdout), ['frame-a\n', 'frame-b\n', 'frame-c\n']);
    assert.deepEqual(results[0].progress, { done: 5, total: 5 });
    assert.equal(results[2].priority, 5);
    const counts = await c.group(g);
    assert.deepEqual(counts, {
      group: g, total: 3, queued: 0, running: 0, succeeded: 3, failed: 0,
      deadline_exceeded: 0, canceled: 0, progress: { done: 15, total: 15 },
    });
    assert.deepEqual(await w.wait({ group: uniq('nobody') }), []);
    assert.equal((await c.group(uniq('nobody'))).total, 0);
    assert.deepEqual(await c.groups({ prefix: g }), { groups: [{ ...counts, waiters: 0 }], more: false });

    const listed = await c.jobs({ group: g });
    assert.deepEqual(listed.map((j) => j.job), [...ids].reverse());
    assert.ok(listed.every((j) => !('stdout' in j) && !('stderr' in j)));
    const page1 = await c.jobs({ group: g, limit: 2 });
    assert.deepEqual(page1.map((j) => j.job), [ids[2], ids[1]]);
    const page2 = await c.jobs({ group: g, limit: 2, before: page1.at(-1).job });
    assert.deepEqual(page2.map((j) => j.job), [ids[0]]);
    assert.deepEqual(await c.jobs({ group: g, before: ids[0] }), []);
    const succeeded = await c.jobs({ state: 'succeeded' });
    assert.ok(succeeded.length >= 3 && succeeded.every((j) => j.state === 'succeeded'));
    assert.ok((await c.jobs()).length >= 3);
    await assert.rejects(c.jobs({ state: 'done' }), { code: 'bad_request' });
    await assert.rejects(c.wait([]), { code: 'bad_request' });
    await assert.rejects(c.wait([999999]), { code: 'not_found' });
  });

  it('result_chan: the result object arrives as a value', async () => {
    const ch = uniq('results');
    await c.make(ch, 2);
    const { job } = await c.submit(['echo', 'one'], { resultChan: ch });
    const r = await w.recv(ch, { timeoutMs: 20000 });
    assert.equal(r.job, job);
    assert.equal(r.state, 'succeeded');
    assert.equal(r.stdout, 'one\n');
    const { job: j2 } = await c.submit(['echo', 'two'], { resultChan: ch });
    const l = await w.recvLease(ch, 30000, { timeoutMs: 20000 });
    assert.equal(l.value.job, j2);
    await l.ack();
  });
});

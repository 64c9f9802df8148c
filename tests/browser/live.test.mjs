// Live updates reach the page over Server-Sent Events (PROTOCOL.md 16)
// without a reload: a channel's length after sends and receives through
// the protocol, the overview's buffered values, a running job's progress
// bar and its stdout, step by step, and its end.  Nothing on the page
// moves while the numbers change (layout shifts).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  SEL, TEST_MS, WAIT_MS, fixture, layoutShiftSince, pageNow, painted, screenshot,
  steppedJob, viewUrl, waitChanPageLen, waitDom, waitFor,
} from './harness.mjs';

let fx;
before(async () => { fx = await fixture(); }, { timeout: TEST_MS });
after(async () => { if (fx) await fx.close(); }, { timeout: TEST_MS });

/** A length as the page shows it: the number first ("7", "7 / 100"). */
const lenRe = (n) => `^${n}\\b`;

/**
 * Open hash; waitLen(page, n, what) waits until the view shows channel
 * chan's length n.  Two values sent through the protocol, then one
 * received: the view follows, and nothing on it moves meanwhile.
 * afterSend(page): what else the view shows after the sends.
 */
async function lengthFollows(hash, chan, waitLen, afterSend = async () => {}) {
  await fx.withPage(async (page) => {
    await page.goto(viewUrl(fx.srv, hash));
    const n = (await fx.srv.client.stat(chan)).len;
    await waitLen(page, n, `the length of ${chan}`);
    const t0 = await pageNow(page);
    await fx.srv.client.sendBatch(chan, [{ to: 'dev@example.org' }, { to: 'ops@example.org' }]);
    await waitLen(page, n + 2, `${chan} after two sends`);
    await afterSend(page);
    await fx.srv.client.recv(chan);
    await waitLen(page, n + 1, `${chan} after a receive`);
    await painted(page);
    const shift = await layoutShiftSince(page, t0);
    assert.ok(shift < 0.05, `layout shift while the length changed: ${shift}`);
  });
}

test('the channels view: a row\'s length follows sends and receives', { timeout: TEST_MS }, async () => {
  const cell = `${SEL.chanRow('orders')} ${SEL.t('chan-len')}`;
  await lengthFollows('#/channels', 'orders',
    (page, n, what) => waitDom(page, cell, 'text', 're', lenRe(n), what));
});

test('a channel\'s page: its length follows sends and receives', { timeout: TEST_MS }, async () => {
  await lengthFollows('#/channels/emails', 'emails', waitChanPageLen,
    (page) => waitDom(page, SEL.t('peek-list'), 'text', 'has', 'ops@example.org', 'the new values peeked'));
});

test('the overview: buffered values follow a send', { timeout: TEST_MS }, async () => {
  await fx.withPage(async (page) => {
    await page.goto(viewUrl(fx.srv, '#/'));
    const b0 = (await fx.srv.client.stats()).buffered_values;
    await waitDom(page, SEL.t('stat-buffered'), 'text', 're', lenRe(b0), 'buffered values');
    await fx.srv.client.send('orders', { sku: 'C-1' });
    await waitDom(page, SEL.t('stat-buffered'), 'text', 're', lenRe(b0 + 1), 'buffered after a send');
  });
});

test('a running job: the progress bar moves, stdout grows, the end shows', { timeout: TEST_MS }, async () => {
  const steps = 4;
  const { job, go } = await steppedJob(fx.srv, steps, { group: 'render' });
  await waitFor(async () => (await fx.srv.client.job(job)).state === 'running', `job ${job} running`);
  await fx.withPage(async (page) => {
    await page.goto(viewUrl(fx.srv, `#/jobs/${job}`));
    await waitDom(page, SEL.t('job-state'), 'text', 'has', 'running', 'the job running');
    for (let i = 1; i < steps; i += 1) {
      go(i);
      // the bar: aria-valuenow in percent (role=progressbar) or a <progress>
      await waitDom(page, SEL.t('job-progress'), 'progress', 'eq', (100 * i) / steps,
        `the bar at ${i}/${steps}`);
      await waitDom(page, SEL.t('job-progress-text'), 'text', 're', `^${i} / ${steps}$`,
        `progress ${i}/${steps} in words`);
      await waitDom(page, SEL.t('job-stdout'), 'text', 'has', `frame ${i}/${steps} rendered`,
        `stdout of frame ${i}`);
      // the server agrees: what the page shows is the job's own progress
      const r = await fx.srv.client.job(job);
      assert.deepEqual(r.progress, { done: i, total: steps });
    }
    await screenshot(page, 'job-running-wide', 'job');
    go(steps);
    const [res] = await fx.srv.client.wait([job], { timeoutMs: WAIT_MS, output: false });
    assert.equal(res.state, 'succeeded');
    await waitDom(page, SEL.t('job-state'), 'text', 'has', 'succeeded', 'the job\'s end');
    await waitDom(page, SEL.t('job-stdout'), 'text', 'has', `frame ${steps}/${steps}`, 'the last frame\'s output');
  });
});

test('left and opened again 8 times in one tab: the dashboard still loads and goes live',
  { timeout: TEST_MS }, async () => {
    // Chromium keeps a page it leaves in its back/forward cache, and with
    // it any stream the page did not close; it allows 6 connections to a
    // host: a page that keeps its streams open while away hangs at the
    // seventh visit.
    await fx.withPage(async (page) => {
      for (let i = 0; i < 8; i += 1) {
        await page.goto('about:blank');
        await page.goto(viewUrl(fx.srv, '#/channels/emails'));
        const n = (await fx.srv.client.stat('emails')).len;
        await waitChanPageLen(page, n, `visit ${i + 1}: the length of emails`);
      }
      const n = (await fx.srv.client.stat('emails')).len;
      await fx.srv.client.send('emails', { to: 'back@example.org' });
      await waitChanPageLen(page, n + 1, 'live after the last visit');
      await fx.srv.client.recv('emails');
    });
  });

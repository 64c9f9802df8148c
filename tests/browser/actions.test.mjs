// Actions taken on the page change the server, as seen through the
// protocol: cancel a running job, retry a failed one, close a channel,
// drop one (after its confirmation; Escape leaves it be), drain a worker.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  SEL, TEST_MS, WAIT_MS, clickAction, fixture, painted, screenshot, steppedJob, viewUrl,
  waitChanPageLen, waitDom, waitFor, within,
} from './harness.mjs';

let fx;
before(async () => { fx = await fixture({ agent: true }); }, { timeout: TEST_MS });
after(async () => { if (fx) await fx.close(); }, { timeout: TEST_MS });

test('cancel a running job from its page: canceled on the server', { timeout: TEST_MS }, async () => {
  const { job } = await steppedJob(fx.srv, 1, { name: 'to-cancel' });
  await waitFor(async () => (await fx.srv.client.job(job)).state === 'running', `job ${job} running`);
  await fx.withPage(async (page) => {
    await page.goto(viewUrl(fx.srv, `#/jobs/${job}`));
    await waitDom(page, SEL.t('job-state'), 'text', 'has', 'running', 'the job running');
    await clickAction(page, 'cancel');
    const [res] = await fx.srv.client.wait([job], { timeoutMs: WAIT_MS, output: false });
    assert.equal(res.state, 'canceled');
    assert.equal((await fx.srv.client.job(job)).state, 'canceled');
    await waitDom(page, SEL.t('job-state'), 'text', 'has', 'canceled', 'the page shows it canceled');
    await painted(page);
    assert.equal(await page.$(SEL.action('cancel')), null, 'no Cancel on a final job');
    await screenshot(page, 'job-canceled-wide');
  });
});

test('retry a failed job from its page: a new job retries it', { timeout: TEST_MS }, async () => {
  const { failed } = fx.data;
  await fx.withPage(async (page) => {
    await page.goto(viewUrl(fx.srv, `#/jobs/${failed}`));
    await waitDom(page, SEL.t('job-state'), 'text', 'has', 'failed', 'the job failed');
    await clickAction(page, 'retry');
    const retried = await waitFor(async () => (await fx.srv.client.jobs({ limit: 10 }))
      .find((j) => j.retry_of === failed), `a retry of job ${failed}`);
    assert.deepEqual(retried.argv, ['sh', '-c', 'echo about to fail; exit 3']);
  });
});

test('close a channel from its page', { timeout: TEST_MS }, async () => {
  await fx.srv.client.make('to-close', 3);
  await fx.withPage(async (page) => {
    await page.goto(viewUrl(fx.srv, '#/channels/to-close'));
    await waitChanPageLen(page, 0, 'the channel\'s length');
    await clickAction(page, 'close', { confirmText: 'to-close' });
    await waitFor(async () => (await fx.srv.client.stat('to-close')).closed, 'to-close closed');
  });
});

test('drop a channel: only after its confirmation', { timeout: TEST_MS }, async () => {
  await fx.srv.client.make('to-drop', 3);
  await fx.srv.client.send('to-drop', 'x');
  const exists = async () => (await fx.srv.client.chans('to-drop')).some((c) => c.chan === 'to-drop');
  await fx.withPage(async (page) => {
    await page.goto(viewUrl(fx.srv, '#/channels/to-drop'));
    await waitChanPageLen(page, 1, 'the channel\'s length');
    await page.click(SEL.action('drop'));
    await page.waitForSelector(SEL.t('confirm-ok'), { visible: true });
    await screenshot(page, 'channel-drop-confirm-wide');
    await page.keyboard.press('Escape');
    await page.waitForSelector(SEL.t('confirm-ok'), { hidden: true });
    assert.ok(await exists(), 'Escape: the channel is still there');
    assert.equal((await fx.srv.client.stats()).ops.drop, 0, 'nothing was dropped');
    assert.ok(await clickAction(page, 'drop', { confirmText: 'to-drop' }), 'Drop asks first');
    await waitFor(async () => !(await exists()), 'to-drop dropped');
  });
});

test('drain a worker from the workers view: the agent finishes and exits', { timeout: TEST_MS }, async () => {
  await fx.withPage(async (page) => {
    await page.goto(viewUrl(fx.srv, '#/workers'));
    await waitDom(page, SEL.workerRow('agent-1'), 'count', 'eq', 1, 'the agent\'s row');
    const drains = (await fx.srv.client.stats()).ops.worker_drain;
    await clickAction(page, 'drain', { within: SEL.workerRow('agent-1'), confirmText: 'agent-1' });
    // jq-worker exits once drained and idle (PROTOCOL.md 11.22)
    const code = await within(fx.agent.exited, 'the agent\'s exit');
    assert.equal(code, 0, 'the agent exited after the drain');
    assert.equal((await fx.srv.client.stats()).ops.worker_drain, drains + 1);
    assert.ok((await fx.srv.client.workers()).every((w) => w.worker !== 'agent-1' || w.state !== 'active'));
    await waitDom(page, SEL.workerRow('agent-1'), 'text', 're', 'draining|disconnected',
      'the row says the worker is going');
    await screenshot(page, 'workers-drained-wide');
  });
});

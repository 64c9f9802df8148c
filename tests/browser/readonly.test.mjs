// Server modes: with --http-readonly the page shows a read-only badge and
// no action at all, and the API refuses actions (403) without effect;
// without a token the dashboard says what to do (and the API is closed)
// unless --insecure-tcp, where it is served without login.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  SEL, TEST_MS, WIDTHS, fixture, pageFetch, painted, screenshot,
  startJqd, steppedJob, viewUrl, waitDom, waitFor, withContextPage,
} from './harness.mjs';

let fx;
before(async () => {
  fx = await fixture({ jqdOpts: { args: ['--http-readonly'] }, agent: true });
}, { timeout: TEST_MS });
after(async () => { if (fx) await fx.close(); }, { timeout: TEST_MS });

test('read-only: a badge, no action on any view', { timeout: TEST_MS }, async () => {
  const { job, go } = await steppedJob(fx.srv, 1);
  await waitFor(async () => (await fx.srv.client.job(job)).state === 'running', `job ${job} running`);
  const views = [
    ['#/', SEL.t('stat-buffered')],
    [`#/jobs/${job}`, SEL.t('job-state')],
    [`#/jobs/${fx.data.failed}`, SEL.t('job-state')],
    ['#/channels', SEL.chanRow('orders')],
    ['#/channels/orders', SEL.chanStat],
    ['#/groups/render', SEL.jobRow()],
    ['#/workers', SEL.workerRow('agent-1')],
  ];
  try {
    await fx.withPage(async (page) => {
      for (const [hash, ready] of views) {
        await page.goto(viewUrl(fx.srv, hash));
        await page.waitForSelector(ready);
        await page.waitForSelector(SEL.t('readonly-badge'), { visible: true });
        await painted(page);
        const actions = await page.$$eval(SEL.anyAction, (es) => es.map((e) => e.dataset.test));
        assert.deepEqual(actions, [], `${hash}: no actions`);
      }
      await page.goto(viewUrl(fx.srv, `#/jobs/${job}`));
      await waitDom(page, SEL.t('job-state'), 'text', 'has', 'running');
      for (const w of WIDTHS) {
        await page.setViewport({ width: w.width, height: w.height });
        await screenshot(page, `readonly-job-${w.name}`);
      }
    });
  } finally {
    go(1);
  }
});

test('read-only: the API refuses actions, even with the CSRF token', { timeout: TEST_MS }, async () => {
  await fx.withPage(async (page) => {
    page.expectProblem(/status of 403/);
    await page.goto(viewUrl(fx.srv, '#/'));
    await page.waitForSelector(SEL.t('stat-buffered'));
    const s = await pageFetch(page, 'GET', '/api/session');
    assert.equal(s.body.readonly, true);
    for (const [op, body] of [['cancel', { job: fx.data.delayed }], ['drop', { chan: 'orders' }],
      ['close', { chan: 'emails' }], ['retry', { job: fx.data.failed }]]) {
      const r = await pageFetch(page, 'POST', `/api/${op}`, body, { csrf: true });
      assert.equal(r.status, 403, `${op}: ${r.text}`);
      assert.equal(r.body.error.code, 'forbidden');
      assert.match(r.body.error.message, /read-only/);
    }
    assert.equal((await fx.srv.client.job(fx.data.delayed)).state, 'queued');
    assert.equal((await fx.srv.client.stat('orders')).chan, 'orders');
    assert.equal((await fx.srv.client.stat('emails')).closed, false);
    assert.equal((await fx.srv.client.jobs({ limit: 50 })).some((j) => j.retry_of), false);
  });
});

test('no token: the page says what to do, the API is closed', { timeout: TEST_MS }, async () => {
  const srv = await startJqd({ token: null });
  try {
    await withContextPage(fx.browser, async (page) => {
      page.expectProblem(/status of 403/);
      await page.goto(viewUrl(srv, '#/'));
      await waitDom(page, 'body', 'text', 'has', 'token-file', 'the explanation');
      assert.equal(await page.$(SEL.t('login-token')), null, 'no login: there is no token');
      const s = await pageFetch(page, 'GET', '/api/session');
      assert.equal(s.body.auth, 'unavailable');
      const r = await pageFetch(page, 'GET', '/api/stats');
      assert.equal(r.status, 403);
      assert.equal(r.body.error.code, 'unauthorized');
      await screenshot(page, 'no-token-wide');
    });
  } finally {
    await srv.stop();
  }
});

test('no token with --insecure-tcp: served without login', { timeout: TEST_MS }, async () => {
  const srv = await startJqd({ token: null, insecure: true });
  try {
    await srv.client.make('open', 4);
    await withContextPage(fx.browser, async (page) => {
      await page.goto(viewUrl(srv, '#/channels'));
      await page.waitForSelector(SEL.chanRow('open'));
      const s = await pageFetch(page, 'GET', '/api/session');
      assert.equal(s.body.auth, 'none');
      assert.equal(await page.$(SEL.t('login-token')), null);
    });
  } finally {
    await srv.stop();
  }
});

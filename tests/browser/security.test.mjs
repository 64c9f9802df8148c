// The dashboard's security model (DASH-API.md, PROTOCOL.md 16) seen from
// a browser: the token login (a wrong token refused, the right one in,
// the session cookie HttpOnly and SameSite=Strict, out of the page's
// reach), the API closed without a session, forged POSTs refused without
// effect -- from the page itself without the CSRF header (403), and from
// a page of another origin (another port: same site, so the browser does
// send the cookie) -- and logout.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';

import {
  SEL, TEST_MS, fixture, loginUi, pageFetch, screenshot, viewUrl, waitDom, withContextPage,
} from './harness.mjs';

let fx;
before(async () => { fx = await fixture(); }, { timeout: TEST_MS });
after(async () => { if (fx) await fx.close(); }, { timeout: TEST_MS });

test('without a session: the login view, the API answers 401', { timeout: TEST_MS }, async () => {
  await withContextPage(fx.browser, async (page) => {
    page.expectProblem(/status of 401/);
    await page.goto(viewUrl(fx.srv, '#/jobs'));
    await page.waitForSelector(SEL.t('login-token'), { visible: true });
    assert.equal(await page.$eval(SEL.t('login-token'), (e) => e.type), 'password');
    assert.equal(await page.$(SEL.jobRow()), null, 'no data without a session');
    const r = await pageFetch(page, 'GET', '/api/stats');
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, 'unauthorized');
    const s = await pageFetch(page, 'GET', '/api/session');
    assert.equal(s.status, 200);
    assert.equal(s.body.auth, 'token');
    assert.equal(s.body.authenticated, false);
    assert.equal(s.body.csrf, null);
    await screenshot(page, 'login-wide');
  });
});

test('login: a wrong token is refused, the right one lets in; the cookie is HttpOnly',
  { timeout: TEST_MS }, async () => {
    await withContextPage(fx.browser, async (page) => {
      page.expectProblem(/status of 401/);
      await loginUi(page, fx.srv, 'not-the-token');
      await waitDom(page, 'body', 'text', 're', 'wrong token', 'the page says the token is wrong');
      await screenshot(page, 'login-wrong-wide');
      assert.equal((await page.cookies()).find((c) => c.name === 'jqd_session'), undefined);
      const field = SEL.t('login-token');
      await page.$eval(field, (e) => { e.value = ''; });
      await page.type(field, fx.srv.token);
      await page.click(SEL.t('login-submit'));
      await waitDom(page, SEL.t('stat-buffered'), 'count', 'eq', 1, 'the overview after login');
      const cookie = (await page.cookies()).find((c) => c.name === 'jqd_session');
      assert.ok(cookie, 'a session cookie');
      assert.match(cookie.value, /^[0-9a-f]{64}$/);
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Strict');
      assert.equal(cookie.path, '/');
      assert.equal(cookie.secure, false, 'plain HTTP: not Secure');
      assert.ok(!(await page.evaluate(() => document.cookie)).includes('jqd_session'),
        'document.cookie does not show it');
      const s = await pageFetch(page, 'GET', '/api/session');
      assert.equal(s.body.authenticated, true);
      assert.match(s.body.csrf, /^[0-9a-f]{64}$/);
    });
  });

test('a POST from the page without the CSRF header is refused (403), changes nothing',
  { timeout: TEST_MS }, async () => {
    await fx.withPage(async (page) => {
      page.expectProblem(/status of 403/);
      await page.goto(viewUrl(fx.srv, '#/'));
      await page.waitForSelector(SEL.t('stat-buffered'));
      const ops0 = (await fx.srv.client.stats()).ops;
      const none = await pageFetch(page, 'POST', '/api/drop', { chan: 'orders' });
      assert.equal(none.status, 403);
      assert.equal(none.body.error.code, 'forbidden');
      const wrong = await page.evaluate(async () => (await fetch('/api/drop', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': '0'.repeat(64) },
        body: JSON.stringify({ chan: 'orders' }),
      })).status);
      assert.equal(wrong, 403, 'a wrong CSRF token');
      assert.equal((await fx.srv.client.stat('orders')).chan, 'orders', 'orders is still there');
      assert.equal((await fx.srv.client.stats()).ops.drop, ops0.drop, 'no drop ran');
      // With the session's token the same kind of request works.
      const ok = await pageFetch(page, 'POST', '/api/cancel', { job: fx.data.delayed }, { csrf: true });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(ok.body.canceled, 1);
      assert.equal((await fx.srv.client.job(fx.data.delayed)).state, 'canceled');
    });
  });

/** A page of another origin (127.0.0.1, another port) that attacks target. */
function evilServer(target) {
  const pages = {
    // the classic JSON CSRF: a form posting text/plain that reads as JSON
    '/form': `<!doctype html><title>evil</title>
<form id="f" method="POST" action="${target}/api/drop" enctype="text/plain">
<input name='{"chan":"orders","x":"' value='"}'><button id="go">win</button></form>`,
    // fetch without CORS: no preflight, the browser sends the cookie
    '/fetch': `<!doctype html><title>evil</title><script>
fetch(${JSON.stringify(`${target}/api/drop`)}, { method: 'POST', mode: 'no-cors',
  credentials: 'include', headers: { 'Content-Type': 'text/plain' },
  body: '{"chan":"orders"}' }).then(() => { document.title = 'sent'; },
  () => { document.title = 'failed'; });
</script>`,
    // fetch with JSON: the preflight fails (no CORS headers), nothing sent
    '/cors': `<!doctype html><title>evil</title><script>
fetch(${JSON.stringify(`${target}/api/drop`)}, { method: 'POST', credentials: 'include',
  headers: { 'Content-Type': 'application/json' }, body: '{"chan":"orders"}' })
  .then((r) => { document.title = 'answered ' + r.status; }, () => { document.title = 'blocked'; });
</script>`,
  };
  const srv = http.createServer((req, res) => {
    const body = pages[req.url];
    res.writeHead(body ? 200 : 404, { 'Content-Type': 'text/html' });
    res.end(body || '');
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${srv.address().port}`,
    close: () => new Promise((r) => { srv.close(r); srv.closeAllConnections(); }),
  })));
}

// Another origin can only send what a form can (text/plain, no CSRF
// header): PROTOCOL.md 16 refuses a POST that is not JSON with 415 before
// looking for the CSRF token; a JSON POST needs a CORS preflight, which
// jqd never answers with CORS headers, so the browser sends nothing.
test('a POST from a page of another origin is refused, changes nothing',
  { timeout: TEST_MS }, async () => {
    const evil = await evilServer(fx.srv.url);
    const page = await fx.page();
    try {
      const ops0 = (await fx.srv.client.stats()).ops;
      // the form: the browser navigates to the answer, a refusal
      await page.goto(`${evil.url}/form`);
      const [nav] = await Promise.all([page.waitForNavigation(), page.click('#go')]);
      assert.equal(nav.url(), `${fx.srv.url}/api/drop`);
      assert.equal(nav.status(), 415);
      assert.equal((await nav.json()).error.code, 'bad_request');
      // fetch, no-cors: the page cannot read the answer; the browser can
      const answered = page.waitForResponse((r) => r.url() === `${fx.srv.url}/api/drop`);
      await page.goto(`${evil.url}/fetch`);
      assert.equal((await answered).status(), 415);
      // fetch with JSON: stopped by the browser at the preflight
      await page.goto(`${evil.url}/cors`);
      await page.waitForFunction(() => document.title !== 'evil', { polling: 'raf' });
      assert.equal(await page.title(), 'blocked');
      assert.equal((await fx.srv.client.stat('orders')).chan, 'orders', 'orders is still there');
      assert.equal((await fx.srv.client.stats()).ops.drop, ops0.drop, 'no drop ran');
    } finally {
      await page.close();
      await evil.close();
    }
  });

test('Log out ends the session: the login view, the API answers 401', { timeout: TEST_MS }, async () => {
  await withContextPage(fx.browser, async (page) => {
    page.expectProblem(/status of 401/);
    await loginUi(page, fx.srv);
    await page.waitForSelector(SEL.t('stat-buffered'));
    const csrf = (await pageFetch(page, 'GET', '/api/session')).body.csrf;
    const logouts = (await fx.srv.client.stats()).ops;
    await page.click(SEL.t('logout'));
    await page.waitForSelector(SEL.t('login-token'), { visible: true });
    assert.equal((await page.cookies()).find((c) => c.name === 'jqd_session'), undefined,
      'the cookie is cleared');
    assert.equal((await pageFetch(page, 'GET', '/api/stats')).status, 401);
    // the old session's CSRF token is worth nothing now
    const r = await page.evaluate(async (t) => (await fetch('/api/drop', { method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': t },
      body: JSON.stringify({ chan: 'orders' }) })).status, csrf);
    assert.equal(r, 401);
    assert.equal((await fx.srv.client.stats()).ops.drop, logouts.drop);
  });
});

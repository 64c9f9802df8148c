// Every view of the dashboard loads with data from a live jqd, at 1280x800
// and 390x844 (a screenshot of each), without console errors, uncaught
// exceptions or CSP violations; the overview in light and dark; the
// keyboard reaches the navigation and follows it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  DOC_SHOTS, SEL, TEST_MS, WIDTHS, fixture, makeHistory, overflowX, painted, screenshot,
  squeezedText, viewUrl, waitChanPageLen, waitDom, waitHash,
} from './harness.mjs';

let fx;
// The README's overview (JQTEST_SCREENSHOT_DOCS) shows two minutes of traffic.
const HISTORY_S = 120;
before(async () => {
  fx = await fixture({ agent: true });
  if (DOC_SHOTS) await makeHistory(fx.srv, HISTORY_S);
}, { timeout: TEST_MS + (DOC_SHOTS ? (HISTORY_S + 30) * 1000 : 0) });
after(async () => { if (fx) await fx.close(); }, { timeout: TEST_MS });

/**
 * Open hash in a new page, wait for ready(page) (the view rendered with
 * its data), run check(page), then the same at phone width, with a
 * screenshot at each width; no problem recorded meanwhile.
 * docName: also the README's screenshot of that name.
 */
async function view(name, hash, ready, check = async () => {}, docName) {
  await fx.withPage(async (page) => {
    await page.goto(viewUrl(fx.srv, hash));
    await ready(page);
    await check(page);
    for (const w of WIDTHS) {
      await page.setViewport({ width: w.width, height: w.height });
      await painted(page);
      if (w.name === 'phone') {
        assert.equal(await overflowX(page), null, `${name} at ${w.width} px`);
        assert.equal(await squeezedText(page), null, `${name} at ${w.width} px: text squeezed`);
      }
      await screenshot(page, `${name}-${w.name}`, w.name === 'wide' ? docName : undefined);
    }
  });
}

test('overview: buffered values, jobs by state, workers', { timeout: TEST_MS }, async () => {
  const st = await fx.srv.client.stats();
  assert.equal(st.buffered_values, fx.data.buffered);
  await view('overview', '#/', async (page) => {
    await waitDom(page, SEL.t('stat-buffered'), 'text', 'has', String(fx.data.buffered),
      'buffered values on the overview');
  }, async (page) => {
    // jobs by state: each count is the server's, and links to the jobs view
    for (const [state, n] of Object.entries(st.jobs)) {
      const tile = `${SEL.t('jobs-state')}[data-state="${state}"]`;
      assert.equal(await page.$eval(`${tile} ${SEL.t('jobs-state-count')}`, (e) => e.textContent.trim()),
        String(n), `jobs ${state}`);
      assert.match(await page.$eval(tile, (e) => e.getAttribute('href')), new RegExp(`state=${state}`));
    }
    await waitDom(page, SEL.t('remote-workers'), 'text', 'has', '1 active', 'the agent, active');
  }, 'overview');
});

test('channels: one row per channel, with its length', { timeout: TEST_MS }, async () => {
  await view('channels', '#/channels', async (page) => {
    await waitDom(page, SEL.chanRow(), 'count', 'ge', Object.keys(fx.data.chans).length,
      'a row per channel');
  }, async (page) => {
    for (const name of Object.keys(fx.data.chans)) {
      assert.ok(await page.$(SEL.chanRow(name)), `row of ${name}`);
    }
    const len = await page.$eval(`${SEL.chanRow('orders')} ${SEL.t('chan-len')}`,
      (e) => e.textContent.trim());
    assert.match(len, /^5\b/, 'orders holds 5 values');
  });
});

test('a channel: its stat and the values at its head', { timeout: TEST_MS }, async () => {
  await view('channel', '#/channels/orders', async (page) => {
    await waitChanPageLen(page, 5, 'the length of orders');
    await waitDom(page, 'body', 'text', 'has', 'A-1', 'the head value (peek)');
  }, async (page) => {
    const text = await page.$eval('body', (b) => b.innerText);
    assert.match(text, /A-5/, 'the fifth value peeked too');
  });
});

test('jobs: newest first, every state, filtered by state', { timeout: TEST_MS }, async () => {
  const { ok, failed, group, delayed, remote } = fx.data;
  await view('jobs', '#/jobs', async (page) => {
    await waitDom(page, SEL.jobRow(delayed), 'count', 'ge', 1, 'the newest job\'s row');
  }, async (page) => {
    for (const id of [ok, failed, ...group, remote]) {
      assert.ok(await page.$(SEL.jobRow(id)), `row of job ${id}`);
    }
    const ids = await page.$$eval(SEL.jobRow(), (rows) => rows.map((r) => Number(r.dataset.job)));
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
  });
  await view('jobs-failed', '#/jobs?state=failed', async (page) => {
    await waitDom(page, SEL.jobRow(failed), 'count', 'eq', 1, 'the failed job');
  }, async (page) => {
    const ids = await page.$$eval(SEL.jobRow(), (rows) => rows.map((r) => Number(r.dataset.job)));
    assert.deepEqual(ids, [failed], 'only the failed job');
  });
});

test('a job: state, argv, env keys, output', { timeout: TEST_MS }, async () => {
  await view('job', `#/jobs/${fx.data.ok}`, async (page) => {
    await waitDom(page, SEL.t('job-state'), 'text', 'has', 'succeeded', 'the job\'s state');
    await waitDom(page, SEL.t('job-stdout'), 'text', 'has', 'hello from the dashboard test',
      'the job\'s stdout');
  }, async (page) => {
    const text = await page.$eval('body', (b) => b.innerText);
    assert.match(text, /greet/, 'its name');
    assert.match(text, /GREETING/, 'its env keys');
    assert.match(text, /REGION/, 'its env keys');
    assert.doesNotMatch(text, /\beu\b/, 'never the env values');
  });
  await view('job-failed', `#/jobs/${fx.data.failed}`, async (page) => {
    await waitDom(page, SEL.t('job-state'), 'text', 'has', 'failed', 'the failed job\'s state');
  }, async (page) => {
    assert.match(await page.$eval('body', (b) => b.innerText), /\b3\b/, 'its exit status');
  });
});

test('groups: progress and counts; a group: its jobs', { timeout: TEST_MS }, async () => {
  await view('groups', '#/groups', async (page) => {
    await waitDom(page, SEL.groupRow('render'), 'count', 'eq', 1, 'the group render');
  }, async (page) => {
    const row = await page.$eval(SEL.groupRow('render'), (e) => e.innerText);
    assert.match(row, /3/, 'its three jobs');
  });
  await view('group', '#/groups/render', async (page) => {
    await waitDom(page, SEL.jobRow(), 'count', 'eq', fx.data.group.length, 'the group\'s jobs');
  });
});

test('workers: the agent, its pools and slots', { timeout: TEST_MS }, async () => {
  await view('workers', '#/workers', async (page) => {
    await waitDom(page, SEL.workerRow('agent-1'), 'count', 'eq', 1, 'the agent\'s row');
  }, async (page) => {
    const row = await page.$eval(SEL.workerRow('agent-1'), (e) => e.innerText);
    assert.match(row, /gpu/, 'its pool');
  });
});

/** Relative luminance (WCAG) of a CSS rgb()/rgba() colour; null if transparent. */
function luminance(css) {
  const m = /rgba?\(([\d.]+), ([\d.]+), ([\d.]+)(?:, ([\d.]+))?\)/.exec(css);
  if (!m || (m[4] !== undefined && Number(m[4]) === 0)) return null;
  const lin = (v) => { const c = v / 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * lin(+m[1]) + 0.7152 * lin(+m[2]) + 0.0722 * lin(+m[3]);
}

test('overview in light and dark: readable in both', { timeout: TEST_MS }, async () => {
  await fx.withPage(async (page) => {
    for (const scheme of ['light', 'dark']) {
      await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: scheme }]);
      await page.goto(viewUrl(fx.srv, '#/'));
      await waitDom(page, SEL.t('stat-buffered'), 'text', 'has', String(fx.data.buffered));
      const { fg, bg } = await page.evaluate(() => {
        const cs = (e) => getComputedStyle(e);
        let bgc = cs(document.body).backgroundColor;
        if (/, 0\)$|transparent/.test(bgc)) bgc = cs(document.documentElement).backgroundColor;
        return { fg: cs(document.body).color, bg: bgc };
      });
      const lf = luminance(fg);
      const lb = luminance(bg);
      assert.ok(lb !== null, `${scheme}: the page paints its own background (${bg})`);
      assert.ok(scheme === 'dark' ? lb < 0.2 : lb > 0.6, `${scheme} background ${bg}`);
      const contrast = (Math.max(lf, lb) + 0.05) / (Math.min(lf, lb) + 0.05);
      assert.ok(contrast >= 4.5, `${scheme}: text ${fg} on ${bg}: contrast ${contrast.toFixed(1)} < 4.5`);
      for (const w of WIDTHS) {
        await page.setViewport({ width: w.width, height: w.height });
        await screenshot(page, `overview-${scheme}-${w.name}`);
      }
      await page.setViewport({ width: 1280, height: 800 });
    }
  });
});

test('keyboard: Tab reaches the navigation, Enter follows it, focus is visible',
  { timeout: TEST_MS }, async () => {
    await fx.withPage(async (page) => {
      await page.goto(viewUrl(fx.srv, '#/'));
      await waitDom(page, SEL.t('stat-buffered'), 'text', 'has', String(fx.data.buffered));
      for (const [viewName, hash, ready] of [
        ['channels', '#/channels', SEL.chanRow('orders')],
        ['jobs', '#/jobs', SEL.jobRow(fx.data.ok)],
        ['overview', '#/', SEL.t('stat-buffered')],
      ]) {
        // Tab forwards, or Shift+Tab back when the link comes before the
        // focus (the view's own links may be many: 100 rows).
        let reached = false;
        for (let i = 0; i < 200 && !reached; i += 1) {
          const back = await page.evaluate((s) => {
            const a = document.activeElement;
            const t = document.querySelector(s);
            return Boolean(a && a !== document.body && t
              && (a.compareDocumentPosition(t) & Node.DOCUMENT_POSITION_PRECEDING));
          }, SEL.nav(viewName));
          if (back) {
            await page.keyboard.down('Shift');
            await page.keyboard.press('Tab');
            await page.keyboard.up('Shift');
          } else {
            await page.keyboard.press('Tab');
          }
          reached = await page.evaluate((s) => document.activeElement?.matches(s) ?? false,
            SEL.nav(viewName));
        }
        assert.ok(reached, `Tab reaches the ${viewName} link`);
        const focus = await page.evaluate(() => {
          const cs = getComputedStyle(document.activeElement);
          return { outline: cs.outlineStyle, width: cs.outlineWidth, shadow: cs.boxShadow };
        });
        assert.ok((focus.outline !== 'none' && focus.width !== '0px') || focus.shadow !== 'none',
          `the focused ${viewName} link shows it (${JSON.stringify(focus)})`);
        await page.keyboard.press('Enter');
        await waitHash(page, hash);
        await page.waitForSelector(ready);
      }
    });
  });

test('the checks can fail: a CSP violation and a console error are seen', { timeout: TEST_MS }, async () => {
  const page = await fx.page();
  try {
    await page.goto(viewUrl(fx.srv, '#/'));
    await page.waitForSelector(SEL.t('stat-buffered'));
    await page.evaluate(() => {
      // an inline style attribute: style-src 'self' refuses it
      document.body.setAttribute('style', 'outline: 1px solid red');
      console.error('an error on purpose');
    });
    await waitDom(page, 'body', 'attr:style', 'has', 'outline');
    await painted(page);
    const seen = page.problems().join('\n');
    assert.match(seen, /CSP violation: style-src/);
    assert.match(seen, /console error: an error on purpose/);
  } finally {
    await page.close();
  }
});

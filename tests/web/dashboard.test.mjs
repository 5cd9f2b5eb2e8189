// The dashboard in a real browser: the sample data is loaded through POST /events, the page
// is opened in headless Chromium (Debian's, driven by playwright-core), and every number its
// three charts show is compared with what the API answers. The screenshot goes to
// tests/web/out/; with UPDATE_SCREENSHOT=1 also to docs/dashboard.png (the README's picture).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, copyFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { BASE, loadSample, getJSON, postEvents, launchChromium, settled, shownDau, shownTop } from './lib.mjs';

const OUT = 'tests/web/out';
const FROM = '2025-08-01';
const TO = '2025-08-31';

let browser;
let page;
const pageErrors = [];

before(async () => {
  mkdirSync(OUT, { recursive: true });
  await loadSample();
  browser = await launchChromium(chromium);
  page = await browser.newPage({ viewport: { width: 1440, height: 900 }, timezoneId: 'UTC' });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  await page.goto(`${BASE}/dashboard?from=${FROM}&to=${TO}`);
  await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 30000 });
});

after(async () => {
  if (browser) await browser.close();
});

test('the page loads without errors', async () => {
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#error'));
  assert.deepEqual(pageErrors, []);
  assert.equal(await page.inputValue('#from'), FROM);
  assert.equal(await page.inputValue('#to'), TO);
  // uPlot drew its canvas
  assert.equal(await page.locator('#dau-chart canvas').count(), 1);
});

test('the DAU chart shows the API\'s numbers', async () => {
  const api = await getJSON(`/stats/dau?from=${FROM}&to=${TO}`);
  assert.deepEqual(await shownDau(page), api);
  assert.ok(api.some((d) => d.unique_users > 0), 'sample data should have users in August 2025');
  const peak = Math.max(...api.map((d) => d.unique_users));
  assert.equal(await page.textContent('#kpi-peak'), peak.toLocaleString('en-US'));
});

test('the top-events bars show the API\'s numbers, in order', async () => {
  const api = await getJSON(`/stats/top-events?from=${FROM}&to=${TO}&limit=10`);
  const shown = await shownTop(page);
  assert.deepEqual(shown.map(({ event_type, count }) => ({ event_type, count })), api);
  for (const s of shown) assert.equal(s.label, s.count.toLocaleString('en-US'));
});

test('the retention heatmap shows the API\'s cohorts and rates', async () => {
  const rows = await page.$$eval('#ret-table tbody tr', (trs) =>
    trs.map((tr) => ({
      cohort: tr.dataset.cohort,
      size: Number(tr.dataset.cohortSize),
      cells: [...tr.querySelectorAll('td[data-window]')].map((td) => ({
        index: Number(td.dataset.window),
        count: Number(td.dataset.count),
        rate: Number(td.dataset.rate),
        text: td.textContent,
        cls: td.className,
        bg: td.style.background,
      })),
    })));
  // 31 days in August: one daily cohort per day, 15 windows (day 0..14)
  assert.equal(rows.length, 31);
  assert.equal(rows[0].cohort, FROM);
  assert.equal(rows[30].cohort, TO);
  assert.equal(rows[0].cells.length, 15);
  // The API is asked for a few cohorts directly; the page must agree cell by cell.
  for (const i of [0, 1, 9, 20, 29]) {
    const row = rows[i];
    const api = await getJSON(`/stats/retention?start_date=${row.cohort}&windows=14&granularity=day`);
    assert.equal(row.size, api.cohort_size, row.cohort);
    assert.deepEqual(row.cells.map(({ index, count, rate }) => ({ index, count, rate })),
      api.windows.map(({ index, count, rate }) => ({ index, count, rate })), row.cohort);
    for (const c of row.cells) {
      const start = api.windows[c.index].start;
      if (start > TO) {
        assert.equal(c.cls, 'future');
      } else if (api.cohort_size > 0) {
        // labelled with the rate in percent, shaded
        assert.equal(parseFloat(c.text), Number((c.rate * 100).toFixed(1)), `${row.cohort} window ${c.index}`);
        assert.ok(c.bg, 'cell is shaded');
      }
    }
  }
  assert.equal(rows[0].cells[0].text, '100%');
});

test('without a range in the URL the page finds the last 30 days with data', async () => {
  const p = await browser.newPage({ viewport: { width: 1440, height: 900 }, timezoneId: 'UTC' });
  await p.goto(`${BASE}/dashboard`);
  await p.waitForSelector('body[data-state="ready"]', { timeout: 30000 });
  const to = await p.inputValue('#to');
  const dau = await getJSON(`/stats/dau?from=${to}&to=${to}`);
  assert.ok(dau[0].unique_users > 0, `the default range ends on ${to}, a day with data`);
  // and the page says that it moved back from today (the sample data is from August 2025)
  assert.match(await p.textContent('#notice'), new RegExp(`showing the 30 days up to ${to}, the last day with data`));
  assert.match(p.url(), /from=\d{4}-\d{2}-\d{2}&to=\d{4}-\d{2}-\d{2}/);
  await p.close();
});

// --- the range in the address, the quick ranges, the captions and cards -------------------------

// open: a new tab on the dashboard with this query string, once its load has settled.
async function open(query) {
  const p = await browser.newPage({ viewport: { width: 1440, height: 900 }, timezoneId: 'UTC' });
  const errors = [];
  p.on('pageerror', (e) => errors.push(e.message));
  await p.goto(`${BASE}/dashboard${query}`);
  const state = await settled(p);
  return { p, state, errors };
}

const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);

for (const [query, why] of [
  ['?from=2025-08-31&to=2025-08-01', /"to" \(2025-08-01\) is before "from" \(2025-08-31\)/],
  ['?from=2015-01-01&to=2025-08-31', /at most 3,?660 days/],
  ['?from=2025-02-30&to=2025-03-31', /"from" \(2025-02-30\) is not a calendar date/],
  ['?from=2025-08-01', /both "from" and "to"/],
]) {
  test(`a bad range in the address is reported, not replaced: ${query}`, async () => {
    const { p, state, errors } = await open(query);
    assert.equal(state, 'error');
    const msg = await p.textContent('#error');
    assert.match(msg, why);
    assert.match(msg, /in the address/);
    assert.equal(await p.isVisible('#error'), true);
    // no other range is shown instead: no numbers at all, the address unchanged
    assert.deepEqual(await shownDau(p), []);
    assert.equal(new URL(p.url()).search, query);
    assert.deepEqual(errors, []);
    await p.close();
  });
}

test('the quick ranges count back from today, and say so', async () => {
  const { p } = await open(`?from=${FROM}&to=${TO}`);
  const today = Date.parse(isoDay(Date.now()));
  for (const days of [7, 30, 90, 365]) {
    const b = p.locator(`.presets button[data-days="${days}"]`);
    const title = await b.getAttribute('title');
    const from = isoDay(today - (days - 1) * 86400000);
    assert.match(title, new RegExp(`last ${days} days up to today`, 'i'));
    assert.ok(title.includes(`${from} – ${isoDay(today)}`), title);
    assert.equal(await b.getAttribute('aria-label'), title);
  }
  assert.match(await p.textContent('.presets'), /up to today/i);
  await p.click('.presets button[data-days="7"]');
  await p.waitForFunction((from) => document.querySelector('#from').value !== from &&
    document.body.dataset.state === 'ready', FROM);
  assert.equal(await p.inputValue('#to'), isoDay(today));
  assert.equal(await p.inputValue('#from'), isoDay(today - 6 * 86400000));
  await p.close();
});

test('the weekly cohort caption adds up to the cohorts of the range', async () => {
  // 365 days: 52 full weeks from 2024-09-01 and one day left over; at most 31 rows are asked for
  const { p, state } = await open('?from=2024-09-01&to=2025-08-31');
  assert.equal(state, 'ready');
  const rows = await p.$$eval('#ret-table tbody tr', (trs) => trs.map((tr) => tr.dataset.cohort));
  const note = await p.textContent('#ret-note');
  const num = (re) => { const m = note.match(re); return m ? Number(m[1]) : 0; };
  // shown + hidden as empty + not asked for = every cohort that fits in the range
  const shown = num(/^\D*(\d+)/);
  const total = num(/of (\d+) weekly cohorts/);
  const hidden = num(/(\d+) empty/);
  const notAsked = num(/(\d+) older/);
  assert.equal(shown, rows.length, note);
  assert.equal(total, 52, note);
  assert.equal(shown + hidden + notAsked, total, note);
  assert.equal(notAsked, 52 - 31, note);
  assert.match(note, /the last day \(Aug 31\) is not a full week/, note);
  assert.equal(rows.at(-1), '2025-08-24'); // 2024-09-01 + 51 weeks
  // its week 1 (Aug 31 – Sep 6) runs past the range: hatched like the weeks after it
  assert.equal(await p.getAttribute('#ret-table tr[data-cohort="2025-08-24"] td[data-window="1"]', 'class'), 'future');
  await p.close();
});

test('"back in period 1" counts only cohorts whose period 1 lies in the range', async () => {
  const { p } = await open('?from=2025-08-01&to=2025-08-30');
  const rows = await p.$$eval('#ret-table tbody tr', (trs) => trs.map((tr) => {
    const w1 = tr.querySelector('td[data-window="1"]');
    return { size: Number(tr.dataset.cohortSize), count: Number(w1.dataset.count), future: w1.className === 'future' };
  }));
  const counted = rows.filter((r) => !r.future && r.size > 0);
  assert.ok(rows.some((r) => r.future && r.size > 0), 'the Aug 30 cohort has users and its day 1 is after the range');
  const rate = counted.reduce((a, r) => a + r.count, 0) / counted.reduce((a, r) => a + r.size, 0);
  assert.equal(await p.textContent('#kpi-ret'), `${(rate * 100).toFixed(1)}% back in period 1`);
  await p.close();
});

test('Average DAU of a range with little activity is not shown as 0', async () => {
  // One user on one day of an otherwise empty month: 1/31 of a user per day.
  const { status } = await postEvents([{ event_id: '3f0c2a8e-7b1d-4c55-9e2a-5d8f6b1a0c31',
    occurred_at: '2023-03-15T12:00:00Z', user_id: 'web-test-quiet-month', event_type: 'app_open' }]);
  assert.equal(status, 200);
  const api = await getJSON('/stats/dau?from=2023-03-01&to=2023-03-31');
  const sum = api.reduce((a, d) => a + d.unique_users, 0);
  assert.ok(sum >= 1 && sum < 2, `2023-03 should hold only the probe, not ${sum} user-days`);
  const { p } = await open('?from=2023-03-01&to=2023-03-31');
  assert.equal(await p.textContent('#kpi-peak'), '1');
  const avg = await p.textContent('#kpi-avg');
  assert.notEqual(avg, '0');
  assert.ok(Math.abs(Number(avg) - sum / 31) < 0.0005, `average ${avg}, expected ${sum / 31}`);
  await p.close();
});

test('WAU and MAU lines beside DAU show the API\'s numbers', async () => {
  const wau = await getJSON(`/stats/active-users?from=${FROM}&to=${TO}&window=7`);
  const mau = await getJSON(`/stats/active-users?from=${FROM}&to=${TO}&window=28`);
  const shown = await page.$$eval('#dau-table tbody tr', (rows) =>
    rows.map((r) => ({ date: r.dataset.date, wau: Number(r.dataset.wau), mau: Number(r.dataset.mau) })));
  assert.deepEqual(shown, wau.map((d, i) => ({ date: d.date, wau: d.active_users, mau: mau[i].active_users })));
  assert.ok(wau.some((d) => d.active_users > 0));
});

test('the zone defaults to the browser\'s, and the event filter narrows DAU, WAU and MAU', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, timezoneId: 'Asia/Kathmandu' });
  const p = await ctx.newPage();
  await p.goto(`${BASE}/dashboard?from=${FROM}&to=${TO}`);
  await p.waitForSelector('body[data-state="ready"]', { timeout: 30000 });
  // ICU may name the zone by its older link (Asia/Katmandu); the server knows both names
  const own = await p.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
  assert.ok(['Asia/Kathmandu', 'Asia/Katmandu'].includes(own), own);
  assert.equal(await p.inputValue('#tz'), own);
  const ktm = await getJSON(`/stats/dau?from=${FROM}&to=${TO}&tz=${encodeURIComponent(own)}`);
  assert.deepEqual(await shownDau(p), ktm);
  // another zone and an event type, through the form
  await p.selectOption('#tz', 'America/New_York');
  await p.fill('#event-type', 'login');
  await p.click('#range button.primary');
  // load() marks the page loading before it rewrites the address: after the new address the
  // next "ready" is this load's
  await p.waitForFunction(() => location.search.includes('event_type=login'));
  assert.equal(await settled(p), 'ready');
  const q = `from=${FROM}&to=${TO}&tz=America/New_York&event_type=login`;
  assert.deepEqual(await shownDau(p), await getJSON(`/stats/dau?${q}`));
  const wau = await getJSON(`/stats/active-users?${q}&window=7`);
  assert.deepEqual(await p.$$eval('#dau-table tbody tr', (rows) => rows.map((r) => Number(r.dataset.wau))),
    wau.map((d) => d.active_users));
  const top = await getJSON(`/stats/top-events?from=${FROM}&to=${TO}&tz=America/New_York&limit=10`);
  assert.deepEqual((await shownTop(p)).map(({ event_type, count }) => ({ event_type, count })), top);
  assert.match(p.url(), /tz=America%2FNew_York/);
  assert.match(p.url(), /event_type=login/);
  await ctx.close();
});

test('screenshot', async () => {
  await page.screenshot({ path: `${OUT}/dashboard.png`, fullPage: true });
  if (process.env.UPDATE_SCREENSHOT === '1') {
    mkdirSync('docs', { recursive: true });
    copyFileSync(`${OUT}/dashboard.png`, 'docs/dashboard.png');
  }
});

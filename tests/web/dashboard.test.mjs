// The dashboard in a real browser: the sample data is loaded through POST /events, the page
// is opened in headless Chromium (Debian's, driven by playwright-core), and every number its
// three charts show is compared with what the API answers. The screenshot goes to
// tests/web/out/; with UPDATE_SCREENSHOT=1 also to docs/dashboard.png (the README's picture).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, copyFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { BASE, loadSample, getJSON } from './lib.mjs';

const OUT = 'tests/web/out';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FROM = '2025-08-01';
const TO = '2025-08-31';

let browser;
let page;
const pageErrors = [];

before(async () => {
  mkdirSync(OUT, { recursive: true });
  await loadSample();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
  });
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
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
  const shown = await page.$$eval('#dau-table tbody tr', (rows) =>
    rows.map((r) => ({ date: r.dataset.date, unique_users: Number(r.dataset.value) })));
  assert.deepEqual(shown, api);
  assert.ok(api.some((d) => d.unique_users > 0), 'sample data should have users in August 2025');
  const peak = Math.max(...api.map((d) => d.unique_users));
  assert.equal(await page.textContent('#kpi-peak'), peak.toLocaleString('en-US'));
});

test('the top-events bars show the API\'s numbers, in order', async () => {
  const api = await getJSON(`/stats/top-events?from=${FROM}&to=${TO}&limit=10`);
  const shown = await page.$$eval('#top-bars li.bar', (items) =>
    items.map((li) => ({
      event_type: li.querySelector('.bar-name').textContent,
      count: Number(li.dataset.count),
      label: li.querySelector('.bar-value').textContent,
    })));
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
  const p = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await p.goto(`${BASE}/dashboard`);
  await p.waitForSelector('body[data-state="ready"]', { timeout: 30000 });
  const to = await p.inputValue('#to');
  const dau = await getJSON(`/stats/dau?from=${to}&to=${to}`);
  assert.ok(dau[0].unique_users > 0, `the default range ends on ${to}, a day with data`);
  assert.match(p.url(), /from=\d{4}-\d{2}-\d{2}&to=\d{4}-\d{2}-\d{2}/);
  await p.close();
});

test('screenshot', async () => {
  await page.screenshot({ path: `${OUT}/dashboard.png`, fullPage: true });
  if (process.env.UPDATE_SCREENSHOT === '1') {
    mkdirSync('docs', { recursive: true });
    copyFileSync(`${OUT}/dashboard.png`, 'docs/dashboard.png');
  }
});

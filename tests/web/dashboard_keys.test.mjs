// The dashboard and Swagger UI on a server configured with API keys: a second stack (same
// database, API_KEYS set) is started next to the test stack, the sample data is loaded through
// the test stack, and headless Chromium checks that the dashboard asks for a read key, refuses
// a wrong one, shows the API's numbers with the right one, keeps it for the tab only
// (sessionStorage: a reload does not ask again, "forget" does), never puts it in an address or
// nginx's access log, and that Swagger UI's "Authorize" (X-API-Key or Bearer) makes "Try it
// out" work.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { loadSample, getJSON, launchChromium, settled, shownDau, shownTop, sideStackUp } from './lib.mjs';

const FROM = '2025-08-01';
const TO = '2025-08-31';
const READ_KEY = 'dash-read-key-5c1e9a7d';
const INGEST_KEY = 'dash-ingest-key-83b2f0';
const WRONG_KEY = 'not-a-key-of-this-server-0001';
const KEYS = [READ_KEY, INGEST_KEY, WRONG_KEY];

let side; // { base, varDir, down }
let browser;
let page;
const requests = []; // every request the dashboard tab made: { url, key }
const problems = []; // page errors and CSP violations

before(async () => {
  await loadSample();
  side = await sideStackUp({ API_KEYS: `${READ_KEY}:read ${INGEST_KEY}:ingest` });
  browser = await launchChromium(chromium);
  page = await browser.newPage({ viewport: { width: 1440, height: 900 }, timezoneId: 'UTC' });
  page.on('request', (r) => requests.push({ url: r.url(), key: r.headers()['x-api-key'] }));
  page.on('pageerror', (e) => problems.push(e.message));
  // 401 answers are logged by Chromium as failed loads: expected here; a CSP refusal is not.
  page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text()); });
});

after(async () => {
  if (browser) await browser.close();
  if (side) side.down();
});

const storedKeys = () => page.evaluate(() => ({
  session: Object.values(sessionStorage), local: localStorage.length,
}));

// submitKey: type a key into the form and send it; resolves when the page settled again (the
// submit handler sets the state to "loading" before the click returns).
async function submitKey(key) {
  await page.fill('#api-key', key);
  await page.click('#key-form button[type="submit"]');
  return settled(page);
}

test('the side stack wants a key for /stats', async () => {
  const res = await fetch(`${side.base}/stats/dau?from=${FROM}&to=${TO}`);
  assert.equal(res.status, 401);
  assert.deepEqual(await getJSON(`/stats/dau?from=${FROM}&to=${TO}`, { base: side.base, key: READ_KEY }),
    await getJSON(`/stats/dau?from=${FROM}&to=${TO}`));
});

test('the dashboard first asks for a read key and shows no data', async () => {
  const res = await page.goto(`${side.base}/dashboard?from=${FROM}&to=${TO}`);
  assert.equal(await settled(page), 'auth');
  // the page's Content-Security-Policy is still the strict one (no inline script)
  const csp = res.headers()['content-security-policy'];
  assert.match(csp, /default-src 'self'/);
  assert.doesNotMatch(csp, /script-src[^;]*unsafe-inline/);
  assert.equal(await page.isVisible('#key-panel'), true);
  assert.equal(await page.getAttribute('#api-key', 'type'), 'password');
  assert.equal(await page.getAttribute('#api-key', 'name'), null, 'a named input could end up in an address');
  const text = await page.textContent('#key-panel');
  assert.match(text, /read/);
  assert.match(text, /only for this browser tab/);
  assert.equal(await page.isVisible('#key-msg'), false);
  assert.equal(await page.isVisible('#forget-key'), false);
  assert.equal(await page.isVisible('#dau-chart'), false);
  assert.deepEqual(await shownDau(page), []);
  assert.equal(await page.textContent('#kpi-peak'), '–');
  assert.deepEqual(await storedKeys(), { session: [], local: 0 });
});

test('a wrong key is refused and asked for again', async () => {
  assert.equal(await submitKey(WRONG_KEY), 'auth');
  assert.match(await page.textContent('#key-msg'), /key was refused \(401/);
  assert.equal(await page.isVisible('#key-panel'), true);
  assert.deepEqual(await shownDau(page), []);
  assert.deepEqual(await storedKeys(), { session: [], local: 0 }, 'a refused key is not kept');
  // a key without the read scope is refused too, and says why
  assert.equal(await submitKey(INGEST_KEY), 'auth');
  assert.match(await page.textContent('#key-msg'), /refused.*read scope/);
  assert.deepEqual(await storedKeys(), { session: [], local: 0 });
});

test('the read key shows the API\'s numbers', async () => {
  const before = requests.length;
  assert.equal(await submitKey(READ_KEY), 'ready', await page.textContent('#error'));
  assert.equal(await page.isVisible('#key-panel'), false);
  assert.equal(await page.isVisible('#forget-key'), true);
  const dau = await getJSON(`/stats/dau?from=${FROM}&to=${TO}`, { base: side.base, key: READ_KEY });
  assert.ok(dau.some((d) => d.unique_users > 0));
  assert.deepEqual(await shownDau(page), dau);
  const peak = Math.max(...dau.map((d) => d.unique_users));
  assert.equal(await page.textContent('#kpi-peak'), peak.toLocaleString('en-US'));
  const top = await getJSON(`/stats/top-events?from=${FROM}&to=${TO}&limit=10`, { base: side.base, key: READ_KEY });
  assert.deepEqual((await shownTop(page)).map(({ event_type, count }) => ({ event_type, count })), top);
  assert.ok(await page.$$eval('#ret-table tbody tr', (trs) => trs.length) > 0);
  // kept in sessionStorage only, and sent as X-API-Key on every /stats request
  assert.deepEqual(await storedKeys(), { session: [READ_KEY], local: 0 });
  const stats = requests.slice(before).filter((r) => new URL(r.url).pathname.startsWith('/stats/'));
  assert.ok(stats.length >= 3);
  for (const r of stats) assert.equal(r.key, READ_KEY, r.url);
});

test('a reload of the tab keeps working without asking again', async () => {
  await page.reload();
  assert.equal(await settled(page), 'ready');
  assert.equal(await page.isVisible('#key-panel'), false);
  assert.deepEqual(await shownDau(page),
    await getJSON(`/stats/dau?from=${FROM}&to=${TO}`, { base: side.base, key: READ_KEY }));
  // another tab has its own sessionStorage: it asks
  const other = await browser.newPage({ timezoneId: 'UTC' });
  await other.goto(`${side.base}/dashboard?from=${FROM}&to=${TO}`);
  assert.equal(await settled(other), 'auth');
  await other.close();
});

test('the key is in no address and in no log', async () => {
  const urls = [page.url(), ...requests.map((r) => r.url)];
  assert.ok(urls.length > 10);
  for (const u of urls) for (const k of KEYS) assert.ok(!u.includes(k), `${k} in ${u}`);
  const log = readFileSync(`${side.varDir}/log/nginx-access.log`, 'utf8');
  assert.match(log, /"path":"\/stats\/dau","status":401/);
  assert.match(log, /"path":"\/stats\/dau","status":200/);
  await new Promise((r) => setTimeout(r, 400)); // a worker writes its access lines within 250 ms
  const worker = readFileSync(`${side.varDir}/log/worker.log`, 'utf8');
  assert.match(worker, /"route":"\/stats\/dau","status":200/);
  for (const k of KEYS) {
    assert.ok(!log.includes(k), `${k} in nginx-access.log`);
    assert.ok(!worker.includes(k), `${k} in worker.log`);
  }
});

test('"Forget API key" clears it and asks again', async () => {
  await Promise.all([page.waitForSelector('body[data-state="auth"]'), page.click('#forget-key')]);
  assert.match(await page.textContent('#key-msg'), /forgotten/);
  assert.equal(await page.isVisible('#forget-key'), false);
  assert.deepEqual(await shownDau(page), []);
  assert.equal(await page.textContent('#kpi-peak'), '–');
  assert.deepEqual(await storedKeys(), { session: [], local: 0 });
  await page.reload();
  assert.equal(await settled(page), 'auth');
  assert.equal(await page.isVisible('#key-msg'), false);
});

test('no page errors and no Content-Security-Policy violations', () => {
  assert.deepEqual(problems, []);
});

// --- Swagger UI --------------------------------------------------------------------------------

test('Swagger UI: "Authorize" with X-API-Key or Bearer makes "Try it out" work', async () => {
  const p = await browser.newPage({ viewport: { width: 1440, height: 900 }, timezoneId: 'UTC' });
  const op = '#operations-stats-getDau';
  await p.goto(`${side.base}/docs`);
  await p.waitForSelector(`${op} .opblock-summary-control`, { timeout: 30000 });
  await p.click(`${op} .opblock-summary-control`);
  await p.fill(`${op} tr[data-param-name="from"] input`, FROM);
  await p.fill(`${op} tr[data-param-name="to"] input`, TO);
  const status = `${op} .live-responses-table tbody .response-col_status`;
  const execute = async () => {
    const [res] = await Promise.all([
      p.waitForResponse((r) => r.url().includes('/stats/dau?')),
      p.click(`${op} .btn.execute`),
    ]);
    await p.waitForFunction(([sel, code]) => document.querySelector(sel)?.textContent.trim().startsWith(code),
      [status, String(res.status())]);
    return { status: res.status(), curl: await p.textContent(`${op} .curl-command`) };
  };
  assert.equal((await execute()).status, 401);

  // the two schemes of conf/openapi.yaml, one after the other
  for (const [input, header] of [['#api_key_value', `X-API-Key: ${READ_KEY}`],
    ['#auth-bearer-value', `Authorization: Bearer ${READ_KEY}`]]) {
    await p.click('.auth-wrapper .btn.authorize');
    await p.fill(input, READ_KEY);
    await p.click(`.auth-container:has(${input}) button.authorize`);
    await p.click('.modal-ux .btn-done >> nth=0');
    const { status, curl } = await execute();
    assert.equal(status, 200, header);
    assert.ok(curl.includes(header), curl);
    // log out again (the modal's "Logout" of that scheme)
    await p.click('.auth-wrapper .btn.authorize');
    await p.click('.modal-ux button:has-text("Logout")');
    await p.click('.modal-ux .btn-done >> nth=0');
  }
  assert.equal((await execute()).status, 401);
  // Swagger UI keeps the key in the page only
  assert.equal(await p.evaluate(() => localStorage.length + sessionStorage.length), 0);
  await p.close();
});

// Helpers shared by the web tests: the stack's address (from tests/integration/run.sh), a
// small RFC 4180 CSV reader, loading the sample CSV through POST /events, Chromium and what the
// dashboard shows.
import { readFileSync } from 'node:fs';

export const BASE = process.env.EVENTS_BASE_URL;
if (!BASE) throw new Error('EVENTS_BASE_URL is not set: run through tests/integration/run.sh --cmd');

// parseCsv: rows of fields; quoted fields may hold commas, "" and line breaks.
export function parseCsv(text) {
  const rows = [];
  let row = [], field = '', i = 0, quoted = false;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  for (; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}

// sampleEvents: the sample CSV as API events.
export function sampleEvents(path = process.env.EVENTS_SAMPLE_CSV) {
  const [head, ...rows] = parseCsv(readFileSync(path, 'utf8'));
  const col = Object.fromEntries(head.map((h, i) => [h, i]));
  return rows.filter((r) => r.length > 1).map((r) => ({
    event_id: r[col.event_id],
    occurred_at: r[col.occurred_at],
    user_id: r[col.user_id],
    event_type: r[col.event_type],
    properties: r[col.properties_json] ? JSON.parse(r[col.properties_json]) : {},
  }));
}

// postEvents: POST a batch; returns {status, body}.
export async function postEvents(events) {
  const res = await fetch(`${BASE}/events`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(events),
  });
  return { status: res.status, body: await res.json() };
}

// loadSample: the sample CSV stored (first run accepts, later runs count duplicates).
export async function loadSample() {
  const events = sampleEvents();
  for (let i = 0; i < events.length; i += 1000) {
    const { status, body } = await postEvents(events.slice(i, i + 1000));
    if (status !== 200) throw new Error(`POST /events: ${status} ${JSON.stringify(body)}`);
  }
  return events;
}

// getJSON: GET a route of the stack (or of another one: opts.base), optionally with a key.
export async function getJSON(path, { base = BASE, key = null } = {}) {
  const res = await fetch(base + path, { headers: key ? { 'X-API-Key': key } : {} });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

// --- the browser -----------------------------------------------------------------------------

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export function launchChromium(chromium) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
  });
}

// settled: wait until the dashboard has finished a load (ready or error).
export async function settled(page, timeout = 30000) {
  await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout });
  return page.getAttribute('body', 'data-state');
}

// shownDau / shownTop: what the dashboard's DAU chart and top-events bars hold (their DOM copies).
export function shownDau(page) {
  return page.$$eval('#dau-table tbody tr', (rows) =>
    rows.map((r) => ({ date: r.dataset.date, unique_users: Number(r.dataset.value) })));
}

export function shownTop(page) {
  return page.$$eval('#top-bars li.bar', (items) =>
    items.map((li) => ({
      event_type: li.querySelector('.bar-name').textContent,
      count: Number(li.dataset.count),
      label: li.querySelector('.bar-value').textContent,
    })));
}

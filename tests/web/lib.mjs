// Helpers shared by the web tests: the stack's address (from tests/integration/run.sh), a
// small RFC 4180 CSV reader, loading the sample CSV through POST /events, Chromium and what the
// dashboard shows, and a second stack with other settings (API keys) on the same database.
import { readFileSync, mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

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

// settled: wait until the dashboard has finished a load (ready, error, or asking for a key).
export async function settled(page, timeout = 30000) {
  await page.waitForSelector('body[data-state="ready"], body[data-state="error"], body[data-state="auth"]',
    { timeout });
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

// --- a second stack (e.g. with API keys) on the same database ---------------------------------

// sideStackUp: tools/stack.sh up under a fresh VAR_DIR on a free port, sharing the database of
// the test stack (the pool as events_app, migrations as the owner), with extra settings in env
// (e.g. { API_KEYS: 'k:read' }). Returns { base, varDir, down }; down() stops it and removes
// VAR_DIR, and also runs when the process exits without having called it.
export async function sideStackUp(env = {}) {
  const owner = process.env.DATABASE_URL || '';
  const at = owner.indexOf('@/');
  if (at < 0) throw new Error(`DATABASE_URL does not name the embedded cluster: ${owner}`);
  const varDir = mkdtempSync(join(tmpdir(), 'events-side-'));
  chmodSync(varDir, 0o755); // PostgreSQL, nginx and the pool run as other users
  const stackEnv = {
    ...process.env, ...env, VAR_DIR: varDir, WORKERS: '2', EVENTS_ENV_FILE: '/dev/null',
    DATABASE_URL: `postgresql://events_app${owner.slice(at)}`, MIGRATE_DATABASE_URL: owner,
  };
  let stopped = false;
  const onSignal = (sig) => { down(); process.exit(sig === 'SIGINT' ? 130 : 143); };
  const down = () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', down);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    try {
      execFileSync('tools/stack.sh', ['down'], { env: stackEnv, stdio: 'ignore' });
    } finally {
      rmSync(varDir, { recursive: true, force: true });
    }
  };
  process.on('exit', down);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const r = spawnSync('tools/stack.sh', ['up'], { env: { ...stackEnv, PORT: String(port) }, encoding: 'utf8' });
    if (r.status === 0) return { base: `http://127.0.0.1:${port}`, varDir, down };
    if (r.status !== 3 || attempt >= 4) { // 3: the port was taken meanwhile
      down();
      throw new Error(`side stack did not start (exit ${r.status}):\n${r.stdout}${r.stderr}`);
    }
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

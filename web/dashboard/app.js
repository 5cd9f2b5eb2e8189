// The dashboard: reads the date range (URL ?from=&to=&granularity=&tz=&event_type=, else the
// last 30 days with data in the browser's zone), asks the public /stats/* routes, and draws
// DAU, WAU and MAU lines (uPlot), a top-events bar
// list and a retention heatmap. Every number drawn is also in the DOM (data-* attributes and a
// visually hidden table) for screen readers and for tests/web/dashboard.test.mjs. When the
// server is configured with API keys, a 401 brings up a form for a read key, kept in this tab's
// sessionStorage only (tests/web/dashboard_keys.test.mjs).
import uPlot from '/assets/uplot/uPlot.esm.js';

const DAY_MS = 86400000;
const MAX_RANGE_DAYS = 3660;      // API.md: to - from + 1 <= 3660
const MAX_COHORTS = 31;           // heatmap rows
const MAX_WINDOWS = { day: 14, week: 12 };
const CONCURRENCY = 4;            // nginx limits /stats/* per client; stay well under the burst

const $ = (sel) => document.querySelector(sel);
const fmt = new Intl.NumberFormat('en-US');

// --- dates (all UTC, as the API) ---------------------------------------------------------

const iso = (ms) => new Date(ms).toISOString().slice(0, 10);
// parseDay: ms of a YYYY-MM-DD calendar date, else NaN (Date.parse would take 2025-02-30 as
// March 2nd: the round trip refuses it).
const parseDay = (s) => {
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(s || '') ? Date.parse(s + 'T00:00:00Z') : NaN;
  return !isNaN(ms) && iso(ms) === s ? ms : NaN;
};
const todayMs = () => parseDay(iso(Date.now()));
const addDays = (ms, n) => ms + n * DAY_MS;
const daysBetween = (a, b) => Math.round((b - a) / DAY_MS);
const shortDay = (ms) =>
  new Date(ms).toLocaleDateString('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });

// --- zone and event filter -------------------------------------------------------------------
// Days are calendar days of the zone picked (default: the browser's own); every /stats request
// carries it as tz. The event filter narrows DAU, WAU and MAU.

const browserZone = () => {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
};
let zone = 'UTC';
let eventType = '';

function fillZones(selected) {
  let names = [];
  try {
    names = Intl.supportedValuesOf('timeZone');
  } catch {
    /* an older browser: the list holds what is needed below */
  }
  const all = [...new Set(['UTC', ...names, selected])].sort();
  $('#tz').replaceChildren(...all.map((n) => new Option(n, n, false, n === selected)));
}

// --- HTTP ----------------------------------------------------------------------------------

class ApiError extends Error {}

// AuthError: the server wants an API key (401), or refused the one sent (401/403).
class AuthError extends ApiError {
  constructor(message, status, sentKey) {
    super(message);
    this.status = status;
    this.sentKey = sentKey;
  }
}

// --- the API key, when the server is configured with keys -----------------------------------
// Asked for only after a /stats request answers 401. Kept in sessionStorage (this tab only,
// gone when it closes; never localStorage, never the address, never logged) and sent as
// X-API-Key on every /stats request.

const KEY_ITEM = 'events-dashboard:api-key';
let apiKey = null;
try {
  apiKey = sessionStorage.getItem(KEY_ITEM) || null;
} catch {
  /* storage disabled: the key lives in this page only */
}

function setKey(key) {
  apiKey = key || null;
  try {
    if (apiKey) sessionStorage.setItem(KEY_ITEM, apiKey);
    else sessionStorage.removeItem(KEY_ITEM);
  } catch {
    /* as above */
  }
  $('#forget-key').hidden = !apiKey;
}

// getJSON: GET a stats route (with the API key, if any); waits out a 429 (Retry-After) a few times.
async function getJSON(path, params, signal) {
  const url = path + '?' + new URLSearchParams({ ...params, tz: zone });
  for (let attempt = 0; ; attempt++) {
    const key = apiKey;
    const headers = { Accept: 'application/json' };
    if (key) headers['X-API-Key'] = key;
    const res = await fetch(url, { headers, signal });
    if (res.status === 429 && attempt < 5) {
      const wait = Number(res.headers.get('Retry-After')) || 1;
      await new Promise((r) => setTimeout(r, wait * 1000));
      continue;
    }
    let body = null;
    try {
      body = await res.json();
    } catch {
      /* a non-JSON answer is reported below */
    }
    if (!res.ok) {
      const why = body && body.message ? body.message : res.statusText;
      if (res.status === 401 || res.status === 403) throw new AuthError(why, res.status, Boolean(key));
      throw new ApiError(`${path}: ${res.status} ${why}`);
    }
    return body;
  }
}

// pool: run tasks (functions returning promises) with at most n in flight; results in order.
async function pool(tasks, n) {
  const out = new Array(tasks.length);
  let next = 0;
  async function lane() {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]();
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, lane));
  return out;
}

// --- range ---------------------------------------------------------------------------------

class RangeProblem extends Error {}

const GRANULARITIES = ['auto', 'day', 'week'];

// checkRange: the range of two YYYY-MM-DD strings, or a RangeProblem saying what is wrong with
// it, in the words of the API's own rules (API.md: to >= from, to - from + 1 <= 3660).
function checkRange(fromText, toText, gran = 'auto') {
  if (!fromText || !toText) throw new RangeProblem('pick both "from" and "to"');
  const from = parseDay(fromText);
  const to = parseDay(toText);
  if (isNaN(from)) throw new RangeProblem(`"from" (${fromText}) is not a calendar date (YYYY-MM-DD)`);
  if (isNaN(to)) throw new RangeProblem(`"to" (${toText}) is not a calendar date (YYYY-MM-DD)`);
  if (to < from) throw new RangeProblem(`"to" (${toText}) is before "from" (${fromText})`);
  const days = daysBetween(from, to) + 1;
  if (days > MAX_RANGE_DAYS)
    throw new RangeProblem(`at most ${fmt.format(MAX_RANGE_DAYS)} days, not ${fmt.format(days)}`);
  if (!GRANULARITIES.includes(gran)) throw new RangeProblem(`cohorts are auto, day or week, not "${gran}"`);
  return { from, to, gran, dau: null };
}

// urlRange: the range the address asks for, null when it names none; a range it gets wrong is
// an error on the page, never silently another range.
function urlRange() {
  const q = new URLSearchParams(location.search);
  const gran = q.get('granularity') ?? 'auto';
  if (!q.has('from') && !q.has('to')) {
    if (!GRANULARITIES.includes(gran)) throw new RangeProblem(`cohorts are auto, day or week, not "${gran}"`);
    return null;
  }
  return checkRange(q.get('from'), q.get('to'), gran);
}

// initialRange: the address's range when it has one; else the last 30 days, moved back to the
// last 30 days that have data when those are empty (one long DAU query), and then said so.
async function initialRange(signal) {
  let r;
  try {
    r = urlRange();
  } catch (err) {
    const q = new URLSearchParams(location.search);
    for (const k of ['from', 'to']) $(`#${k}`).value = isNaN(parseDay(q.get(k))) ? '' : q.get(k);
    err.message = `The range in the address is not valid: ${err.message}. ` +
      'Pick a range above and press Apply.';
    throw err;
  }
  if (r) return r;
  const gran = new URLSearchParams(location.search).get('granularity') ?? 'auto';
  const end = todayMs();
  const recent = await getJSON('/stats/dau', { from: iso(addDays(end, -29)), to: iso(end) }, signal);
  if (recent.some((d) => d.unique_users > 0)) return { from: addDays(end, -29), to: end, gran, dau: recent };
  const all = await getJSON('/stats/dau', { from: iso(addDays(end, 1 - MAX_RANGE_DAYS)), to: iso(end) }, signal);
  for (let i = all.length - 1; i >= 0; i--) {
    if (all[i].unique_users > 0) {
      const last = parseDay(all[i].date);
      showNotice(`No events in the last 30 days up to today (${iso(end)}): showing the 30 days up to ` +
        `${all[i].date}, the last day with data.`);
      return { from: addDays(last, -29), to: last, gran, dau: null };
    }
  }
  showNotice(`No events stored yet: send some with POST /events (see API docs).`);
  return { from: addDays(end, -29), to: end, gran, dau: recent };
}

function showRange(r) {
  $('#from').value = iso(r.from);
  $('#to').value = iso(r.to);
  $('#granularity').value = r.gran;
}

function rangeFromForm() {
  return checkRange($('#from').value, $('#to').value, $('#granularity').value);
}

// --- DAU line chart --------------------------------------------------------------------------

let dauPlot = null;

function renderDau(dau, wau, mau) {
  const xs = dau.map((d) => parseDay(d.date) / 1000);
  const ys = dau.map((d) => d.unique_users);
  const el = $('#dau-chart');
  const data = [xs, ys, wau.map((d) => d.active_users), mau.map((d) => d.active_users)];

  const tbody = $('#dau-table tbody');
  tbody.replaceChildren(
    ...dau.map((d, i) => {
      const tr = document.createElement('tr');
      tr.dataset.date = d.date;
      tr.dataset.value = d.unique_users;
      tr.dataset.wau = wau[i].active_users;
      tr.dataset.mau = mau[i].active_users;
      tr.innerHTML = `<td>${d.date}</td><td>${d.unique_users}</td><td>${wau[i].active_users}</td><td>${mau[i].active_users}</td>`;
      return tr;
    }),
  );

  if (dauPlot) dauPlot.destroy();
  const fill = (u) => {
    if (!u.bbox || !Number.isFinite(u.bbox.top + u.bbox.height)) return 'rgba(37, 99, 235, 0.12)';
    const g = u.ctx.createLinearGradient(0, u.bbox.top, 0, u.bbox.top + u.bbox.height);
    g.addColorStop(0, 'rgba(37, 99, 235, 0.28)');
    g.addColorStop(1, 'rgba(37, 99, 235, 0.02)');
    return g;
  };
  const series = [
    { value: (u, v) => (v == null ? '–' : iso(v * 1000)) },
    {
      label: 'DAU',
      stroke: '#2563eb',
      width: 2,
      fill,
      points: { show: dau.length <= 62, size: 5, fill: '#fff' },
      value: (u, v) => (v == null ? '–' : fmt.format(v)),
    },
  ];
  series.push({ label: 'WAU', stroke: '#f59e0b', width: 1.5, points: { show: false } });
  series.push({ label: 'MAU', stroke: '#7c3aed', width: 1.5, dash: [6, 4], points: { show: false } });
  const opts = {
    width: el.clientWidth || 800,
    height: 280,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'), // x values are local dates
    cursor: { drag: { x: true, y: false }, points: { size: 8 } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] } },
    axes: [
      { stroke: '#52606d', grid: { stroke: '#eef1f4' }, ticks: { stroke: '#d9dee3' } },
      { stroke: '#52606d', grid: { stroke: '#eef1f4' }, ticks: { show: false }, size: 56,
        values: (u, vals) => vals.map((v) => fmt.format(v)) },
    ],
    series,
  };
  dauPlot = new uPlot(opts, data, el);
}

new ResizeObserver(() => {
  const el = $('#dau-chart');
  if (dauPlot && el.clientWidth) dauPlot.setSize({ width: el.clientWidth, height: 280 });
}).observe(document.documentElement);

// --- top events bars -------------------------------------------------------------------------

const PALETTE = ['#2563eb', '#0891b2', '#059669', '#65a30d', '#d97706', '#dc2626', '#db2777', '#7c3aed', '#4f46e5', '#0d9488'];

function renderTop(top) {
  const list = $('#top-bars');
  const max = top.length ? top[0].count : 1;
  if (!top.length) {
    list.innerHTML = '<li class="empty">No events in this range.</li>';
    return;
  }
  list.replaceChildren(
    ...top.map((t, i) => {
      const li = document.createElement('li');
      li.className = 'bar';
      li.dataset.eventType = t.event_type;
      li.dataset.count = t.count;
      const name = document.createElement('span');
      name.className = 'bar-name';
      name.textContent = t.event_type;
      name.title = t.event_type;
      const track = document.createElement('span');
      track.className = 'bar-track';
      const fillEl = document.createElement('span');
      fillEl.className = 'bar-fill';
      fillEl.style.width = `${Math.max(0.5, (100 * t.count) / max)}%`;
      fillEl.style.background = PALETTE[i % PALETTE.length];
      track.append(fillEl);
      const val = document.createElement('span');
      val.className = 'bar-value';
      val.textContent = fmt.format(t.count);
      li.append(name, track, val);
      return li;
    }),
  );
}

// --- retention heatmap -----------------------------------------------------------------------

// heatColor: white → deep blue by rate (perceptually even enough for 0..1), text colour to match.
function heatColor(rate) {
  const t = Math.sqrt(Math.max(0, Math.min(1, rate)));
  const lerp = (a, b) => Math.round(a + (b - a) * t);
  return { bg: `rgb(${lerp(239, 30)}, ${lerp(246, 64)}, ${lerp(255, 175)})`, fg: t > 0.55 ? '#fff' : '#1f2933' };
}

function retentionPlan(r) {
  const span = daysBetween(r.from, r.to) + 1;
  const gran = r.gran === 'auto' ? (span <= 45 ? 'day' : 'week') : r.gran;
  const p = gran === 'day' ? 1 : 7;
  const periods = Math.max(1, Math.floor(span / p));
  const windows = Math.min(MAX_WINDOWS[gran], periods - 1);
  // The latest cohorts that start inside the range, oldest first.
  const count = Math.min(MAX_COHORTS, periods);
  const starts = [];
  for (let i = periods - count; i < periods; i++) starts.push(addDays(r.from, i * p));
  return { gran, p, windows, starts, cohortsInRange: periods };
}

async function loadRetention(r, signal) {
  const plan = retentionPlan(r);
  const tasks = plan.starts.map((s) => () =>
    getJSON('/stats/retention', { start_date: iso(s), windows: plan.windows, granularity: plan.gran }, signal));
  return { plan, rows: await pool(tasks, CONCURRENCY) };
}

// pastRange: window w does not lie wholly inside the range (hatched, and left out of the
// "back in period 1" card).
const pastRange = (r, plan, w) => addDays(parseDay(w.start), plan.p - 1) > r.to;

// retentionCaption: how the rows shown relate to the cohorts of the range. Every cohort that
// fits in the range is accounted for: shown + empty ones hidden + older ones not asked for
// (at most MAX_COHORTS are) = all; days after the last full period are named too.
function retentionCaption(plan, shown, hiddenEmpty, r) {
  const span = daysBetween(r.from, r.to) + 1;
  const end = r.to;
  const kind = plan.gran === 'day' ? 'daily' : 'weekly';
  const total = plan.cohortsInRange;
  const notAsked = total - plan.starts.length;
  const parts = [];
  if (hiddenEmpty > 0) parts.push(`${hiddenEmpty} empty ones before the first user hidden`);
  if (notAsked > 0) parts.push(`${notAsked} older ones not loaded (at most ${MAX_COHORTS} are)`);
  let text = parts.length ? `${shown} of ${total} ${kind} cohorts: ${parts.join(', ')}` : `${shown} ${kind} cohorts`;
  const rest = span - total * plan.p;
  if (rest === 1) text += ` · the last day (${shortDay(end)}) is not a full week`;
  else if (rest > 1) text += ` · the last ${rest} days (${shortDay(addDays(end, 1 - rest))} – ${shortDay(end)}) are not a full week`;
  return `${text} · cohort = first event ever`;
}

function renderRetention(r, { plan, rows: all }) {
  // Leading empty cohorts (before the first user arrived) are noise: drop them.
  const first = all.findIndex((row) => row.cohort_size > 0);
  const rows = first > 0 ? all.slice(first) : all;
  const thead = $('#ret-table thead');
  const tbody = $('#ret-table tbody');
  const unit = plan.gran === 'day' ? 'Day' : 'Week';
  const head = ['<tr><th scope="col" class="cohort">Cohort</th><th scope="col" class="size">Users</th>'];
  for (let k = 0; k <= plan.windows; k++) head.push(`<th scope="col">${unit} ${k}</th>`);
  thead.innerHTML = head.join('') + '</tr>';

  tbody.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement('tr');
      tr.dataset.cohort = row.start_date;
      tr.dataset.cohortSize = row.cohort_size;
      const start = parseDay(row.start_date);
      const label = plan.gran === 'day' ? shortDay(start) : `${shortDay(start)} – ${shortDay(addDays(start, 6))}`;
      tr.innerHTML = `<th scope="row" class="cohort">${label}</th><td class="size">${fmt.format(row.cohort_size)}</td>`;
      for (const w of row.windows) {
        const td = document.createElement('td');
        td.dataset.window = w.index;
        td.dataset.count = w.count;
        td.dataset.rate = w.rate;
        if (pastRange(r, plan, w)) {
          td.className = 'future';
          td.title = `${w.start}: ${parseDay(w.start) > r.to ? 'after' : 'runs past'} the selected range`;
        } else if (row.cohort_size === 0) {
          td.className = 'none';
          td.textContent = '·';
          td.title = 'empty cohort';
        } else {
          const c = heatColor(w.rate);
          td.className = 'cell';
          td.style.background = c.bg;
          td.style.color = c.fg;
          td.textContent = `${(w.rate * 100).toFixed(w.rate >= 0.9995 || w.rate === 0 ? 0 : 1)}%`;
          td.title = `${row.start_date} cohort, ${unit.toLowerCase()} ${w.index} (${w.start}): ` +
            `${fmt.format(w.count)} of ${fmt.format(row.cohort_size)} users`;
        }
        tr.append(td);
      }
      return tr;
    }),
  );
  $('#ret-note').textContent = retentionCaption(plan, rows.length, Math.max(0, first), r);
  return rows;
}

// --- summary cards ---------------------------------------------------------------------------

const fmtSmall = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 2 });

function renderCards(r, plan, dau, top, rows) {
  const vals = dau.map((d) => d.unique_users);
  const peak = Math.max(0, ...vals);
  const peakDay = dau.find((d) => d.unique_users === peak);
  const userDays = vals.reduce((a, b) => a + b, 0);
  const avg = vals.length ? userDays / vals.length : 0;
  const events = top.reduce((a, t) => a + t.count, 0);
  $('#kpi-peak').textContent = fmt.format(peak);
  $('#kpi-peak-day').textContent = peak && peakDay ? `on ${peakDay.date}` : 'no users';
  // One decimal hid small averages: one user on one day of 30 is 0.033, not 0.
  $('#kpi-avg').textContent = avg > 0 && avg < 1 ? fmtSmall.format(avg) : fmt.format(Math.round(avg * 10) / 10);
  $('#kpi-avg').title = `${fmt.format(userDays)} user-days / ${fmt.format(vals.length)} days`;
  $('#kpi-days').textContent = `over ${dau.length} days`;
  $('#kpi-events').textContent = fmt.format(events);
  $('#kpi-events').dataset.value = events;
  $('#kpi-types').textContent = `${top.length} event types`;
  const cohort = rows.reduce((a, r) => a + r.cohort_size, 0);
  // Period 1 as the heatmap shows it: cohorts whose period 1 runs past the range (hatched
  // there) are left out, not counted as nobody coming back.
  const w1 = rows.filter((row) => row.windows.length > 1 && row.cohort_size > 0 && !pastRange(r, plan, row.windows[1]));
  const w1rate = w1.length
    ? w1.reduce((a, row) => a + row.windows[1].count, 0) / w1.reduce((a, row) => a + row.cohort_size, 0) : null;
  $('#kpi-new').textContent = fmt.format(cohort);
  $('#kpi-ret').textContent = w1rate == null ? ' ' : `${(w1rate * 100).toFixed(1)}% back in period 1`;
}

// --- wiring ----------------------------------------------------------------------------------

let current = null;   // AbortController of the load in progress
let lastRange = null; // the range of the last load (null: the initial one), redone after a key
let keyNote = '';     // said on the key form next time it shows

function setState(state) {
  document.body.dataset.state = state;
  for (const id of ['#dau-panel', '#top-panel', '#ret-panel']) $(id).dataset.state = state;
}

function showError(msg) {
  const el = $('#error');
  el.textContent = msg;
  el.hidden = !msg;
}

function showNotice(msg) {
  const el = $('#notice');
  el.textContent = msg;
  el.hidden = !msg;
}

// clearData: nothing of a previous load stays on the page (after a refused or forgotten key,
// or a range that is not valid).
function clearData() {
  if (dauPlot) dauPlot.destroy();
  dauPlot = null;
  $('#dau-table tbody').replaceChildren();
  $('#top-bars').replaceChildren();
  $('#ret-table thead').replaceChildren();
  $('#ret-table tbody').replaceChildren();
  $('#ret-note').textContent = 'cohort by first event';
  for (const id of ['#kpi-peak', '#kpi-avg', '#kpi-events', '#kpi-new']) {
    $(id).textContent = '–';
    $(id).removeAttribute('title');
  }
  for (const id of ['#kpi-peak-day', '#kpi-days', '#kpi-types', '#kpi-ret']) $(id).textContent = ' ';
}

// askForKey: the key form, after a 401 (or 403) from /stats. A key that was sent and refused is
// dropped and the form says so.
function askForKey(err) {
  clearData();
  showError('');
  showNotice('');
  let msg = keyNote;
  keyNote = '';
  if (err.sentKey) {
    setKey(null);
    msg = `The key was refused (${err.status}: ${err.message}). Enter a key with the read scope.`;
  }
  $('#key-msg').textContent = msg;
  $('#key-msg').hidden = !msg;
  $('#key-panel').hidden = false;
  setState('auth');
  $('#api-key').focus();
}

async function load(rangeOrNull) {
  if (current) current.abort();
  const ctl = new AbortController();
  current = ctl;
  lastRange = rangeOrNull;
  setState('loading');
  showError('');
  showNotice('');
  labelPresets();
  try {
    const r = rangeOrNull || (await initialRange(ctl.signal));
    lastRange = { ...r, dau: null };
    showRange(r);
    const q = new URLSearchParams({ from: iso(r.from), to: iso(r.to) });
    if (r.gran !== 'auto') q.set('granularity', r.gran);
    q.set('tz', zone);
    if (eventType) q.set('event_type', eventType);
    history.replaceState(null, '', `${location.pathname}?${q}`);
    const params = { from: iso(r.from), to: iso(r.to) };
    const users = eventType ? { ...params, event_type: eventType } : params;
    const [dau, wau, mau, top, ret] = await Promise.all([
      r.dau && !eventType ? Promise.resolve(r.dau) : getJSON('/stats/dau', users, ctl.signal),
      getJSON('/stats/active-users', { ...users, window: 7 }, ctl.signal),
      getJSON('/stats/active-users', { ...users, window: 28 }, ctl.signal),
      getJSON('/stats/top-events', { ...params, limit: 10 }, ctl.signal),
      loadRetention(r, ctl.signal),
    ]);
    if (ctl.signal.aborted) return;
    $('#key-panel').hidden = true;
    renderDau(dau, wau, mau);
    renderTop(top);
    const rows = renderRetention(r, ret);
    renderCards(r, ret.plan, dau, top, rows);
    keyNote = '';
    setState('ready');
  } catch (err) {
    if (err.name === 'AbortError' || ctl.signal.aborted) return;
    ctl.abort(); // the other requests of this load are of no use now
    if (err instanceof AuthError) {
      askForKey(err);
      return;
    }
    clearData();
    showError(err instanceof RangeProblem ? err.message : `Could not load the statistics: ${err.message}`);
    setState('error');
  }
}

// The zone and the filter from the address, else the browser's zone and no filter.
function initialView() {
  const q = new URLSearchParams(location.search);
  zone = q.get('tz') || browserZone();
  eventType = q.get('event_type') || '';
  fillZones(zone);
  $('#event-type').value = eventType;
}

$('#range').addEventListener('submit', (e) => {
  e.preventDefault();
  zone = $('#tz').value || 'UTC';
  eventType = $('#event-type').value.trim();
  try {
    load(rangeFromForm());
  } catch (err) {
    showError(err.message);
  }
});

// The quick ranges are "last N days up to today", today included (as in PostHog or Amplitude),
// whatever range is shown; their labels carry the dates.
function presetRange(days) {
  const to = todayMs();
  return { from: addDays(to, 1 - days), to };
}

function labelPresets() {
  for (const b of document.querySelectorAll('.presets button')) {
    const days = Number(b.dataset.days);
    const { from, to } = presetRange(days);
    const label = `Last ${days} days up to today: ${iso(from)} – ${iso(to)} (today included)`;
    b.title = label;
    b.setAttribute('aria-label', label);
  }
}

for (const b of document.querySelectorAll('.presets button')) {
  b.addEventListener('click', () => {
    labelPresets();
    const { from, to } = presetRange(Number(b.dataset.days));
    $('#from').value = iso(from);
    $('#to').value = iso(to);
    $('#range').requestSubmit();
  });
}

// The key form: the key goes to sessionStorage only; the input has no name, so even a submit
// without this script could not put it in an address.
$('#key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('#api-key');
  const key = input.value.trim();
  input.value = '';
  if (!key) {
    $('#key-msg').textContent = 'Enter the key first.';
    $('#key-msg').hidden = false;
    return;
  }
  setKey(key);
  $('#key-panel').hidden = true;
  load(lastRange);
});

$('#forget-key').addEventListener('click', () => {
  setKey(null);
  keyNote = 'The key is forgotten: this tab no longer holds it.';
  load(lastRange);
});

setKey(apiKey);
initialView();
load(null);

// conf/openapi.yaml against the code and the running stack:
//   1. its paths and methods are exactly the routes of fcgi/router.c;
//   2. real responses (200s and every error status we can provoke) are documented for their
//      operation and validate against the spec's schemas (Ajv, JSON Schema 2020-12);
//   3. it passes `redocly lint` (the recommended ruleset);
//   4. nginx serves it at /openapi.yaml and Swagger UI at /docs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import YAML from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { BASE } from './lib.mjs';

const SPEC_PATH = 'conf/openapi.yaml';
const spec = YAML.parse(readFileSync(SPEC_PATH, 'utf8'));

// --- 1. routes ---------------------------------------------------------------------------

function routerRoutes() {
  const src = readFileSync('fcgi/router.c', 'utf8');
  const re = /\[ROUTE_[A-Z_]+\]\s*=\s*\{\s*"([^"]+)"\s*,\s*"([A-Z]+)"/g;
  const out = new Set();
  for (const m of src.matchAll(re)) out.add(`${m[2]} ${m[1]}`);
  return out;
}

function specRoutes() {
  const out = new Set();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'])
      if (item[method]) out.add(`${method.toUpperCase()} ${path}`);
  }
  return out;
}

test('the spec documents exactly the routes of fcgi/router.c', () => {
  const code = routerRoutes();
  assert.ok(code.size >= 6, `parsed only ${code.size} routes from fcgi/router.c`);
  assert.deepEqual([...specRoutes()].sort(), [...code].sort());
});

// --- 2. real responses against the schemas ------------------------------------------------

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const SCHEMAS_ID = 'https://events.invalid/openapi/schemas';
// Component $refs become refs into one schema document that holds the components.
const rewrite = (node) =>
  JSON.parse(JSON.stringify(node).replaceAll('"#/components/schemas/', `"${SCHEMAS_ID}#/$defs/`));
ajv.addSchema({ $id: SCHEMAS_ID, $defs: rewrite(spec.components.schemas) });

const deref = (obj) => {
  if (obj && obj.$ref) {
    const parts = obj.$ref.replace(/^#\//, '').split('/');
    return parts.reduce((o, k) => o[k], spec);
  }
  return obj;
};

const validators = new Map();
function validatorFor(schema) {
  const key = JSON.stringify(schema);
  if (!validators.has(key)) validators.set(key, ajv.compile(rewrite(schema)));
  return validators.get(key);
}

// checkResponse: the status is documented for path+method, the body validates, headers hold.
function checkResponse(path, method, res) {
  assert.ok(res.headers['x-request-id'], `${method} ${path} ${res.status}: no X-Request-ID`);
  let schema;
  if (spec.paths[path]) {
    // A method the path does not have (405) is documented on the path's own operation.
    const item = spec.paths[path];
    const op = item[method.toLowerCase()] || Object.values(item).find((o) => o && o.responses);
    const documented = op && deref(op.responses[String(res.status)]);
    assert.ok(documented, `${method} ${path}: status ${res.status} is not documented`);
    const type = res.headers['content-type'].split(';')[0].trim();
    const media = documented.content && documented.content[type];
    assert.ok(media, `${method} ${path} ${res.status}: content type ${type} not documented`);
    schema = media.schema;
    for (const name of Object.keys(documented.headers || {}))
      assert.ok(res.headers[name.toLowerCase()] !== undefined, `${method} ${path} ${res.status}: no ${name} header`);
  } else {
    assert.equal(res.status, 404);
    schema = { $ref: '#/components/schemas/Error' };
  }
  if (!schema || schema.type === 'string') return;
  const body = JSON.parse(res.body);
  const validate = validatorFor(schema);
  assert.ok(validate(body),
    `${method} ${path} ${res.status}: ${ajv.errorsText(validate.errors)}\n${res.body.slice(0, 500)}`);
}

// request: one HTTP request; body may be a string or Buffer. Resolves {status, headers, body}.
function request(method, pathAndQuery, { body, headers = {}, contentLength } = {}) {
  return new Promise((resolve, reject) => {
    const url = new URL(pathAndQuery, BASE);
    const h = { ...headers };
    if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
    if (contentLength !== undefined) h['content-length'] = contentLength;
    const req = http.request(url, { method, headers: h }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        req.destroy();
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else if (contentLength !== undefined) req.flushHeaders(); // announce a body, never send it
    else req.end();
  });
}

const ev = (over = {}) => ({
  event_id: randomUUID(),
  occurred_at: '2024-01-10T12:00:00Z', // far from the sample's August 2025
  user_id: 'openapi-test-user',
  event_type: 'openapi_test',
  properties: { from: 'openapi.test.mjs' },
  ...over,
});
const json = { 'Content-Type': 'application/json' };

const cases = [
  // 200s
  ['POST', '/events', { body: JSON.stringify([ev(), ev({ user_id: 7 })]), headers: json }, 200],
  ['POST', '/events', { body: JSON.stringify({ events: [ev()] }), headers: json }, 200],
  ['POST', '/events', { body: JSON.stringify(ev()), headers: json }, 200],
  ['POST', '/events', { body: JSON.stringify(ev()) + '\n' + JSON.stringify(ev()) + '\n',
    headers: { 'Content-Type': 'application/x-ndjson' } }, 200],
  ['GET', '/stats/dau?from=2024-01-09&to=2024-01-11', {}, 200],
  ['GET', '/stats/top-events?from=2024-01-01&to=2024-01-31&limit=5', {}, 200],
  ['GET', '/stats/retention?start_date=2024-01-10&windows=3&granularity=day', {}, 200],
  ['GET', '/stats/retention?start_date=2024-01-08&windows=2&granularity=week', {}, 200],
  ['GET', '/stats/dau?from=2024-01-09&to=2024-01-11&tz=Asia/Kathmandu&event_type=login', {}, 200],
  ['GET', '/stats/top-events?from=2024-01-09&to=2024-01-11&tz=America/New_York', {}, 200],
  ['GET', '/stats/retention?start_date=2024-01-10&windows=3&tz=Europe/Kyiv&start_event=login&return_event=login', {}, 200],
  ['GET', '/stats/active-users?from=2024-01-09&to=2024-01-11&window=7&tz=Australia/Lord_Howe', {}, 200],
  ['GET', '/stats/active-users?from=2024-01-09&to=2024-01-11&window=91', {}, 422],
  ['GET', '/stats/dau?from=2024-01-09&to=2024-01-11&tz=../../etc/passwd', {}, 422],
  ['GET', '/healthz', {}, 200],
  ['GET', '/metrics', {}, 200],
  // errors
  ['POST', '/events', { body: '[{"event_id": ', headers: json }, 400],
  ['GET', '/stats/dau?from=%zz&to=2024-01-01', {}, 400],
  ['GET', '/no/such/route', {}, 404],
  ['GET', '/events', {}, 405],
  ['POST', '/stats/dau?from=2024-01-01&to=2024-01-02', { body: '', headers: json }, 405],
  ['DELETE', '/healthz', {}, 405],
  ['POST', '/events', { contentLength: 11 * 1024 * 1024, headers: json }, 413],
  ['POST', '/events', { body: JSON.stringify(Array.from({ length: 10001 }, () => ev())), headers: json }, 413],
  ['POST', '/events', { body: 'event_id,occurred_at', headers: { 'Content-Type': 'text/csv' } }, 415],
  ['POST', '/events', { body: '[]', headers: json }, 422],
  ['POST', '/events', { body: JSON.stringify([ev(), ev({ occurred_at: 'yesterday', user_id: '' })]), headers: json }, 422],
  ['GET', '/stats/dau?from=2024-01-05', {}, 422],
  ['GET', '/stats/top-events?from=2024-01-01&to=2024-01-31&limit=0', {}, 422],
  ['GET', '/stats/retention?start_date=2024-01-01&granularity=month', {}, 422],
  ['GET', '/stats/retention?start_date=9999-12-30&windows=5', {}, 422],
];

for (const [method, path, opts, status] of cases) {
  test(`${method} ${path.slice(0, 70)} → ${status} matches the spec`, async () => {
    const res = await request(method, path, opts);
    assert.equal(res.status, status, res.body.slice(0, 300));
    checkResponse(new URL(path, BASE).pathname, method, res);
  });
}

test('405 answers carry an Allow header', async () => {
  const res = await request('GET', '/events');
  assert.equal(res.headers.allow, 'POST');
});

// --- 3. lint ------------------------------------------------------------------------------

test('redocly lint passes', async () => {
  const { stdout, stderr } = await promisify(execFile)(
    'node_modules/.bin/redocly', ['lint', '--format', 'stylish', SPEC_PATH],
    { env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } },
  ).catch((err) => assert.fail(`redocly lint failed:\n${err.stdout}\n${err.stderr}`));
  assert.match(stdout + stderr, /valid/i);
});

// --- 4. served by nginx --------------------------------------------------------------------

test('nginx serves the spec at /openapi.yaml and Swagger UI at /docs', async () => {
  const yaml = await request('GET', '/openapi.yaml');
  assert.equal(yaml.status, 200);
  assert.deepEqual(YAML.parse(yaml.body), spec);
  assert.ok(yaml.headers['x-request-id']);
  for (const p of ['/docs', '/docs/']) {
    const page = await request('GET', p);
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type'], /^text\/html/);
    assert.match(page.body, /swagger-ui-bundle\.js/);
  }
  const init = await request('GET', '/docs/swagger-initializer.js');
  assert.match(init.body, /url: '\/openapi\.yaml'/);
  for (const asset of ['/assets/swagger-ui/swagger-ui-bundle.js', '/assets/swagger-ui/swagger-ui.css',
    '/assets/swagger-ui/swagger-ui-standalone-preset.js']) {
    const res = await request('GET', asset);
    assert.equal(res.status, 200, asset);
  }
});

// TrafficPolicy `csrf` end to end, from kgateway's "CSRF" page: Envoy's csrf filter refuses a
// POST (PUT, DELETE, PATCH) whose Origin, or Referer, is neither the request's Host nor one of
// `additionalOrigins` with `403 Invalid origin`, after the JWT check; other methods pass; a csrf
// without percentageEnabled checks nothing, and on a route turns off the Gateway's.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { hostRoute, startHarness, type Harness, routePolicy, SAMPLE_TOKEN, SAMPLE_JWT_EXTENSION, requestsCounted } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { configDumpText } from '../../src/config/dump.js';

const TOKEN = SAMPLE_TOKEN;
const jwtExtension = SAMPLE_JWT_EXTENSION;


let h: Harness;
const count = (result: string) => requestsCounted(h, result);

before(async () => {
  h = await startHarness({
    manifests: [
      // The docs' policy on the sample route (www.example.com).
      routePolicy('csrf', 'httpbin', '  csrf:\n    percentageEnabled: 100\n    additionalOrigins:\n    - exact: allowThisOne.example.com\n      ignoreCase: false\n    - suffix: .TRUSTED.example.com\n      ignoreCase: true\n    - safeRegex: "partner-[0-9]+\\\\.example\\\\.org"') +
        // No percentageEnabled: checks nothing.
        hostRoute('off', 'off.example.com') +
        routePolicy('csrf-off', 'off', '  csrf:\n    additionalOrigins: [{ exact: x.example.com }]') +
        // JWT, then csrf.
        `---\n${jwtExtension}\n` +
        hostRoute('guarded', 'guarded.example.com') +
        routePolicy('guarded', 'guarded', '  jwtAuth: { extensionRef: { name: selfminted-jwt } }\n  csrf: { percentageEnabled: 100 }'),
    ],
  });
});
after(() => h?.close());

const send = (method: string, headers: Record<string, string> = {}, host = 'www.example.com') => request({ port: h.port, method, path: '/anything', headers: { host, ...headers }, ...(method === 'GET' || method === 'HEAD' ? {} : { body: 'x=1' }) });

test("the docs' example: a POST without Origin or Referer gets Envoy's 403 Invalid origin; with an allowed origin it passes", async () => {
  const n = h.echo.received.length;
  const denied = count('CSRF_INVALID_ORIGIN');
  const r = await send('POST');
  assert.equal(r.status, 403);
  assert.equal(r.body, 'Invalid origin');
  assert.equal(r.headers['content-type'], 'text/plain');
  assert.equal(h.echo.received.length, n);
  assert.equal(count('CSRF_INVALID_ORIGIN') - denied, 1);
  const ok = await send('POST', { origin: 'allowThisOne.example.com' });
  assert.equal(ok.status, 200);
  assert.equal(h.echo.received.length, n + 1);
});

test('the source is the Origin\'s host[:port] (the scheme plays no part), else the Referer\'s; it must be the Host as sent', async () => {
  const cases: [Record<string, string>, number][] = [
    [{ origin: 'https://www.example.com' }, 200],
    [{ origin: 'http://www.example.com/ignored?path' }, 200],
    [{ origin: 'http://WWW.example.com' }, 403],
    [{ origin: 'http://www.example.com:8080' }, 403],
    [{ referer: 'https://www.example.com/page' }, 200],
    [{ referer: 'https://evil.example.net/page' }, 403],
    [{ origin: 'null' }, 403],
    [{ origin: 'https://evil.example.net', referer: 'https://www.example.com/' }, 403],
    [{ origin: '', referer: 'https://www.example.com/' }, 200],
  ];
  for (const [headers, status] of cases) assert.equal((await send('POST', headers)).status, status, JSON.stringify(headers));
  // With a port in the Host, the Origin needs the same port.
  assert.equal((await send('POST', { origin: 'http://www.example.com:8080' }, 'www.example.com:8080')).status, 200);
});

test('additionalOrigins: exact, suffix with ignoreCase, a safeRegex matched whole against host[:port]', async () => {
  assert.equal((await send('POST', { origin: 'https://api.trusted.EXAMPLE.com' })).status, 200);
  assert.equal((await send('POST', { origin: 'https://partner-42.example.org' })).status, 200);
  assert.equal((await send('POST', { origin: 'https://partner-42.example.org:8443' })).status, 403);
  assert.equal((await send('POST', { origin: 'https://allowthisone.example.com' })).status, 403);
});

test('only POST, PUT, DELETE and PATCH are checked', async () => {
  for (const m of ['PUT', 'DELETE', 'PATCH']) assert.equal((await send(m, { origin: 'https://evil.example.net' })).status, 403, m);
  for (const m of ['GET', 'HEAD', 'OPTIONS']) assert.equal((await send(m, { origin: 'https://evil.example.net' })).status, 200, m);
});

test('a csrf without percentageEnabled checks nothing (kgateway writes 0%), with a warning', async () => {
  assert.equal((await send('POST', { origin: 'https://evil.example.net' }, 'off.example.com')).status, 200);
  assert.ok(h.gateway.snapshot.problems.some((p) => p.resource === 'TrafficPolicy/httpbin/csrf-off' && p.severity === 'warning' && p.path === 'spec.csrf'));
});

test('the JWT check runs first (csrf is in the route stage): a cross-site POST without a token gets the 401', async () => {
  const r = await send('POST', { origin: 'https://evil.example.net' }, 'guarded.example.com');
  assert.equal(r.status, 401);
  assert.equal(r.body, 'Jwt is missing');
  const d = await send('POST', { origin: 'https://evil.example.net', authorization: `Bearer ${TOKEN}` }, 'guarded.example.com');
  assert.equal(d.status, 403);
  const ok = await send('POST', { origin: 'https://guarded.example.com', authorization: `Bearer ${TOKEN}` }, 'guarded.example.com');
  assert.equal(ok.status, 200);
});

test('/config_dump shows each route\'s csrf and where it comes from', () => {
  const dump = configDumpText(h.gateway.snapshot);
  assert.match(dump, /"csrf": \{\s+"percentageEnabled": 100,\s+"additionalOrigins": 3,\s+"from": "TrafficPolicy\/httpbin\/csrf@HTTPRoute"/);
});

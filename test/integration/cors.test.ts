// CORS end to end, as kgateway configures Envoy's cors filter (before jwt_authn): a preflight from
// an allowed origin is answered by the gateway (200, no token needed, never proxied); any other
// request from an allowed origin gets allow-origin (the request's origin, never `*`),
// allow-credentials and expose-headers on its answer, the JWT check's 401 included; an origin not
// allowed gets nothing added, and its preflight goes on (to the JWT check). Per field, the rule's
// CORS filter, else the route's TrafficPolicy, else the listener's, else the Gateway's.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { filteredRoute, jwtExtension, portSharingGateway, sampleRoute, startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { mint, rsaKeys } from '../helpers/tokens.js';
import { configDumpText } from '../../src/config/dump.js';

const keys = rsaKeys('cors');
let h: Harness;

const policy = (name: string, kind: string, target: string, spec: string, ns = 'httpbin') => `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name}, namespace: ${ns} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: ${kind}, name: ${target} }]
${spec}`;

before(async () => {
  h = await startHarness({
    manifests: [
      // The Gateway's policy: JWT on every route, and a CORS policy every route falls back on.
      jwtExtension('jwt', 'kgateway-system', keys.jwks) +
        policy(
          'gateway',
          'Gateway',
          'http',
          `  jwtAuth: { extensionRef: { name: jwt } }
  cors:
    allowOrigins: ["https://app.example.com", "https://*.partner.example"]
    allowCredentials: true
    allowMethods: [GET, POST]
    allowHeaders: [authorization, content-type]
    exposeHeaders: [x-request-id]
    maxAge: 600
`,
          'kgateway-system',
        ) +
        // The rule's CORS filter: its fields replace the policies' (allowHeaders "*" echoes the request's).
        filteredRoute('filtered', '/anything/filtered', '[{ type: CORS, cors: { allowOrigins: ["https://other.example.com"], allowMethods: ["*"], allowHeaders: ["*"] } }]') +
        // A route policy that turns CORS off on its route.
        `---\n${sampleRoute('off', '/anything/off')}` +
        policy('off', 'HTTPRoute', 'off', '  cors: { disable: {} }\n') +
        // A redirect rule: a direct response, where Envoy's cors filter does nothing.
        filteredRoute('moved', '/anything/moved', '[{ type: RequestRedirect, requestRedirect: { hostname: new.example.com } }, { type: CORS, cors: { allowOrigins: ["https://app.example.com"] } }]') +
        // The route's own response rules, and an upstream that sends its own allow-origin.
        filteredRoute('own-headers', '/response-headers', '[{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: access-control-allow-origin, value: "https://set-by-rule.example" }], add: [{ name: x-rule, value: "1" }] } }]') +
        // A second Gateway whose routes are matched again after the JWT check (claimsToHeaders):
        // the CORS decision is the first route's.
        portSharingGateway('rm', 'http', '*.rm.example.com') +
        jwtExtension('claims', 'httpbin', keys.jwks, { providerLines: '      claimsToHeaders: [{ name: tenant, header: x-tenant }]\n' }) +
        `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: rm-jwt, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: rm }]
  jwtAuth: { extensionRef: { name: claims, namespace: httpbin } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: rm, namespace: httpbin }
spec:
  parentRefs: [{ name: rm, namespace: kgateway-system }]
  hostnames: [a.rm.example.com]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /anything } }]
    filters: [{ type: CORS, cors: { allowOrigins: ["https://first.example"] } }]
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]
  - matches: [{ path: { type: PathPrefix, value: /anything }, headers: [{ name: x-tenant, value: acme }] }]
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]
`,
    ],
  });
});
after(() => h.close());

const call = (method: string, path: string, headers: Record<string, string> = {}) => request({ port: h.port, method, path, headers: { host: 'www.example.com', ...headers } });
const token = () => mint({ alg: 'RS256', key: keys.privateKey, kid: 'cors', payload: { iss: 'https://idp.example.com', exp: Math.floor(Date.now() / 1000) + 600 } });
const metric = (result: string) => Number(h.gateway.renderMetrics().match(new RegExp(`jwtgate_requests_total\\{result="${result}"\\} (\\d+)`))?.[1] ?? NaN);

test('a preflight from an allowed origin: answered 200 by the gateway, without a token, never proxied, with the policy\'s allow headers; counted as CORS_PREFLIGHT', async () => {
  const n = h.echo.received.length;
  const p0 = metric('CORS_PREFLIGHT');
  const res = await call('OPTIONS', '/anything', { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' });
  assert.equal(res.status, 200);
  assert.equal(res.body, '');
  assert.equal(res.headers['access-control-allow-origin'], 'https://app.example.com');
  assert.equal(res.headers['access-control-allow-credentials'], 'true');
  assert.equal(res.headers['access-control-allow-methods'], 'GET, POST');
  assert.equal(res.headers['access-control-allow-headers'], 'authorization, content-type');
  assert.equal(res.headers['access-control-max-age'], '600');
  assert.equal(res.headers['www-authenticate'], undefined);
  assert.equal(h.echo.received.length, n);
  assert.equal(metric('CORS_PREFLIGHT') - p0, 1);
  // A wildcard origin: `*` stands for any run of characters (kgateway's regex), not the bare domain.
  assert.equal((await call('OPTIONS', '/anything', { origin: 'https://a.b.partner.example', 'access-control-request-method': 'GET' })).headers['access-control-allow-origin'], 'https://a.b.partner.example');
  assert.equal((await call('OPTIONS', '/anything', { origin: 'https://partner.example', 'access-control-request-method': 'GET' })).status, 401);
});

test('a preflight from an origin not allowed goes on: the JWT check answers it (401), with no CORS headers', async () => {
  const res = await call('OPTIONS', '/anything', { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' });
  assert.equal(res.status, 401);
  assert.equal(res.headers['access-control-allow-origin'], undefined);
  // OPTIONS without access-control-request-method is not a preflight: the JWT check answers it.
  const plain = await call('OPTIONS', '/anything', { origin: 'https://app.example.com' });
  assert.equal(plain.status, 401);
  assert.equal(plain.headers['access-control-allow-origin'], 'https://app.example.com');
});

test('an actual request from an allowed origin: allow-origin, allow-credentials and expose-headers on the upstream\'s answer and on the 401', async () => {
  const ok = await call('GET', '/anything', { origin: 'https://app.example.com', authorization: `Bearer ${token()}` });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com');
  assert.equal(ok.headers['access-control-allow-credentials'], 'true');
  assert.equal(ok.headers['access-control-expose-headers'], 'x-request-id');
  assert.equal(ok.headers['access-control-allow-methods'], undefined);
  // The upstream saw the Origin (the gateway does not strip it).
  assert.match(ok.body, /"Origin": \[\s*"https:\/\/app.example.com"/);
  const denied = await call('GET', '/anything', { origin: 'https://app.example.com' });
  assert.equal(denied.status, 401);
  assert.equal(denied.headers['access-control-allow-origin'], 'https://app.example.com');
  assert.ok(denied.headers['www-authenticate']);
  // Not allowed, or no Origin: nothing added.
  assert.equal((await call('GET', '/anything', { origin: 'https://evil.example.com', authorization: `Bearer ${token()}` })).headers['access-control-allow-origin'], undefined);
  assert.equal((await call('GET', '/anything', { authorization: `Bearer ${token()}` })).headers['access-control-allow-origin'], undefined);
});

test("the rule's CORS filter replaces the policy's fields it sets (origins, methods and headers: * echoes the request's); the others fall back on the Gateway policy's", async () => {
  const res = await call('OPTIONS', '/anything/filtered', { origin: 'https://other.example.com', 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'x-custom' });
  assert.equal(res.status, 200);
  assert.equal(res.headers['access-control-allow-origin'], 'https://other.example.com');
  assert.equal(res.headers['access-control-allow-methods'], 'PATCH');
  assert.equal(res.headers['access-control-allow-headers'], 'x-custom');
  // maxAge is the filter's (the CRD's default, 5); credentials and expose-headers fall back on the Gateway policy's.
  assert.equal(res.headers['access-control-max-age'], '5');
  assert.equal(res.headers['access-control-allow-credentials'], 'true');
  assert.equal(res.headers['access-control-expose-headers'], 'x-request-id');
  // The Gateway policy's origin is not allowed there: its list is replaced, not added to.
  assert.equal((await call('OPTIONS', '/anything/filtered', { origin: 'https://app.example.com', 'access-control-request-method': 'GET' })).status, 401);
});

test('cors.disable on the route: no preflight answer, no CORS headers', async () => {
  const res = await call('OPTIONS', '/anything/off', { origin: 'https://app.example.com', 'access-control-request-method': 'GET' });
  assert.equal(res.status, 401);
  assert.equal(res.headers['access-control-allow-origin'], undefined);
});

test("config_dump shows each route's CORS policy and where its fields come from", () => {
  const dump = JSON.parse(configDumpText(h.gateway.snapshot)) as { listeners: { routeDefs: Record<string, { route: string; cors?: Record<string, unknown> }> }[] };
  const defs = dump.listeners.flatMap((l) => Object.values(l.routeDefs));
  const of = (name: string) => defs.find((d) => d.route === `httpbin/${name}`)?.cors;
  assert.deepEqual(of('filtered'), {
    allowOrigins: ['https://other.example.com'],
    allowCredentials: true,
    allowMethods: '*',
    allowHeaders: '*',
    exposeHeaders: 'x-request-id',
    maxAge: '5',
    from: ['HTTPRoute CORS filter', 'TrafficPolicy/kgateway-system/gateway@Gateway'],
  });
  assert.equal(of('off'), undefined);
  assert.deepEqual(of('httpbin')?.['from'], ['TrafficPolicy/kgateway-system/gateway@Gateway']);
});

test('a redirect rule: no CORS (a direct response, where Envoy\'s cors filter does nothing)', async () => {
  const pre = await call('OPTIONS', '/anything/moved', { origin: 'https://app.example.com', 'access-control-request-method': 'GET' });
  assert.equal(pre.status, 401);
  const res = await call('GET', '/anything/moved', { origin: 'https://app.example.com', authorization: `Bearer ${token()}` });
  assert.equal(res.status, 302);
  assert.equal(res.headers['access-control-allow-origin'], undefined);
});

test("the cors filter's headers come last: over the route's own rules and the upstream's", async () => {
  const res = await call('GET', '/response-headers?access-control-allow-origin=https://upstream.example&access-control-expose-headers=x-up', { origin: 'https://app.example.com', authorization: `Bearer ${token()}` });
  assert.equal(res.status, 200);
  assert.equal(res.headers['access-control-allow-origin'], 'https://app.example.com');
  assert.equal(res.headers['access-control-expose-headers'], 'x-request-id');
  assert.equal(res.headers['x-rule'], '1');
  // An origin not allowed: the upstream's and the rule's own stay.
  const other = await call('GET', '/response-headers?access-control-allow-origin=https://upstream.example', { origin: 'https://evil.example', authorization: `Bearer ${token()}` });
  assert.equal(other.headers['access-control-allow-origin'], 'https://set-by-rule.example');
});

test('repeated Origin and Access-Control-Request-Headers fields are joined with "," (inline headers in Envoy); a control character in them is a 400', async () => {
  const raw = await import('node:net');
  const send = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const sock = raw.connect(h.port, '127.0.0.1', () => sock.end(text));
      let out = '';
      sock.on('data', (d) => (out += d.toString('latin1')));
      sock.on('end', () => resolve(out));
      sock.on('error', reject);
    });
  const joined = await send('OPTIONS /anything/filtered HTTP/1.1\r\nHost: www.example.com\r\nOrigin: https://other.example.com\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: x-one\r\nAccess-Control-Request-Headers: x-two\r\nConnection: close\r\n\r\n');
  assert.match(joined, /^HTTP\/1\.1 200/);
  assert.match(joined, /\r\naccess-control-allow-headers: x-one,x-two\r\n/i);
  // Two Origin fields make one origin Envoy's exact matcher does not allow.
  const two = await send('OPTIONS /anything/filtered HTTP/1.1\r\nHost: www.example.com\r\nOrigin: https://other.example.com\r\nOrigin: https://other.example.com\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n');
  assert.match(two, /^HTTP\/1\.1 401/);
  const del = await send('OPTIONS /anything/filtered HTTP/1.1\r\nHost: www.example.com\r\nOrigin: https://other.example.com\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: x\x7f\r\nConnection: close\r\n\r\n');
  assert.match(del, /^HTTP\/1\.1 400/);
  assert.doesNotMatch(del, /access-control-allow/i);
  const delOrigin = await send('GET /anything HTTP/1.1\r\nHost: www.example.com\r\nOrigin: https://app.example.com\x7f\r\nConnection: close\r\n\r\n');
  assert.match(delOrigin, /^HTTP\/1\.1 400/);
  // allowHeaders "*" and no request headers: an empty field, as Envoy writes it.
  const empty = await send('OPTIONS /anything/filtered HTTP/1.1\r\nHost: www.example.com\r\nOrigin: https://other.example.com\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n');
  assert.match(empty, /\r\naccess-control-allow-headers: ?\r\n/i);
});

test("after a re-match (claimsToHeaders), the answer keeps the first route's CORS decision, as Envoy's filter decides once", async () => {
  const acme = mint({ alg: 'RS256', key: keys.privateKey, kid: 'cors', payload: { iss: 'https://idp.example.com', tenant: 'acme', exp: Math.floor(Date.now() / 1000) + 600 } });
  const res = await request({ port: h.port, path: '/anything', headers: { host: 'a.rm.example.com', origin: 'https://first.example', authorization: `Bearer ${acme}` } });
  assert.equal(res.status, 200);
  assert.match(res.body, /"X-Tenant": \[\s*"acme"/);
  assert.equal(res.headers['access-control-allow-origin'], 'https://first.example');
});

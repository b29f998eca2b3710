// kgateway's DirectResponse end to end, from the manifests of its "Direct responses" page: the
// rule with the ExtensionRef answers itself (Envoy's direct_response: the status, the body as
// text/plain, a location for a 3xx) after the JWT check, with its response header rules, and the
// other rules proxy; a rule that also has backendRefs, two DirectResponses, or one that does not
// exist fails closed with kgateway's 500; one in a backendRef's filters is ignored.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, staticBackend, type Harness, SAMPLE_TOKEN, SAMPLE_JWT_EXTENSION, requestsCounted, directResponse, directResponseRef } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { configDumpText } from '../../src/config/dump.js';

const TOKEN = SAMPLE_TOKEN;
const jwtExtension = SAMPLE_JWT_EXTENSION;
const ROBOTS = 'User-agent: *\nDisallow: /direct-response\n';

const ext = directResponseRef;
const toEcho = '[{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]';

let h: Harness;
const count = (result: string) => requestsCounted(h, result);

before(async () => {
  h = await startHarness({
    manifests: [
      directResponse('direct-response', `{ status: 510, body: ${JSON.stringify(ROBOTS)} }`) +
        directResponse('moved', '{ status: 301 }') +
        directResponse('healthy', '{ status: 200 }') +
        directResponse('unused', '{ status: 204 }') +
        directResponse('created', '{ status: 201, body: created }') +
        directResponse('json', `{ status: 200, body: ${JSON.stringify('{"ok":true}')} }`) +
        directResponse('empty', '{ status: 204, body: never-sent }') +
        // The docs' route: everything proxied, /direct-response answered.
        `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: httpbin-direct-response, namespace: httpbin }
spec:
  hostnames: [direct-response.com]
  parentRefs: [{ name: http, namespace: kgateway-system }]
  rules:
  - matches: [{ path: { type: PathPrefix, value: / } }]
    backendRefs: ${toEcho}
  - matches: [{ path: { type: Exact, value: /direct-response } }]
    filters: [${ext('direct-response')}]
  - matches: [{ path: { type: PathPrefix, value: /old } }]
    filters: [${ext('moved')}, { type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-served-by, value: gateway }] } }]
  - matches: [{ path: { type: Exact, value: /healthz } }]
    filters: [${ext('healthy')}]
  - matches: [{ path: { type: Exact, value: /items } }]
    filters: [${ext('created')}]
  - matches: [{ path: { type: Exact, value: /status.json } }]
    filters: [${ext('json')}, { type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: content-type, value: application/json }] } }]
  - matches: [{ path: { type: Exact, value: /nothing } }]
    filters: [${ext('empty')}]
  - matches: [{ path: { type: PathPrefix, value: /clash-backends } }]
    filters: [${ext('direct-response')}]
    backendRefs: ${toEcho}
  - matches: [{ path: { type: PathPrefix, value: /clash-twice } }]
    filters: [${ext('direct-response')}, ${ext('healthy')}]
  - matches: [{ path: { type: PathPrefix, value: /missing } }]
    filters: [${ext('nowhere')}]
  - matches: [{ path: { type: PathPrefix, value: /on-backend } }]
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin, filters: [${ext('direct-response')}] }]
` +
        // The same answer behind the JWT policy of the default config, on another host.
        `---\n${jwtExtension}\n` +
        `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: guarded, namespace: httpbin }
spec:
  hostnames: [guarded.example.com]
  parentRefs: [{ name: http, namespace: kgateway-system }]
  rules:
  - filters: [${ext('direct-response')}]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: guarded-jwt, namespace: httpbin }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: guarded }]
  jwtAuth: { extensionRef: { name: selfminted-jwt } }
` +
        staticBackend('unused-backend', [1]),
    ],
  });
});
after(() => h?.close());

const get = (p: string, host = 'direct-response.com:8080', headers: Record<string, string> = {}, method = 'GET') => request({ port: h.port, method, path: p, headers: { host, ...headers } });

test("the docs' DirectResponse: 510 with its body as text/plain; the upstream never sees it; the route's other rule proxies", async () => {
  const n = h.echo.received.length;
  const answered = count('DIRECT_RESPONSE');
  const r = await get('/direct-response');
  assert.equal(r.status, 510);
  assert.equal(r.body, ROBOTS);
  assert.equal(r.headers['content-type'], 'text/plain');
  assert.equal(r.headers['content-length'], '41');
  assert.equal(r.headers['location'], undefined);
  assert.equal(h.echo.received.length, n);
  assert.equal(count('DIRECT_RESPONSE') - answered, 1);
  const proxied = await get('/status/200');
  assert.equal(proxied.status, 200);
  assert.equal(h.echo.received.length, n + 1);
});

test('a 3xx gets a location of the request itself, and the rule\'s ResponseHeaderModifier applies; no body: no content-type, content-length 0', async () => {
  const r = await get('/old/page?x=1');
  assert.equal(r.status, 301);
  assert.equal(r.headers['location'], 'http://direct-response.com:8080/old/page?x=1');
  assert.equal(r.headers['x-served-by'], 'gateway');
  assert.equal(r.headers['content-type'], undefined);
  assert.equal(r.headers['content-length'], '0');
  assert.equal(r.body, '');
  const health = await get('/healthz');
  assert.equal(health.status, 200);
  assert.equal(health.body, '');
  assert.equal(health.headers['location'], undefined);
});

test("a 201 gets a location too; a content-type the rule's ResponseHeaderModifier adds replaces text/plain (Envoy adds text/plain only when none is set); a 204 goes out without its body", async () => {
  const created = await get('/items');
  assert.equal(created.status, 201);
  assert.equal(created.headers['location'], 'http://direct-response.com:8080/items');
  const json = await get('/status.json');
  assert.equal(json.status, 200);
  assert.equal(json.headers['content-type'], 'application/json');
  assert.deepEqual(json.rawHeaders.filter((_, i, all) => i % 2 === 1 && all[i - 1]!.toLowerCase() === 'content-type'), ['application/json']);
  assert.equal(json.body, '{"ok":true}');
  const empty = await get('/nothing');
  assert.equal(empty.status, 204);
  assert.equal(empty.body, '');
  assert.equal(empty.headers['content-type'], undefined);
  assert.ok(h.gateway.snapshot.problems.some((p) => p.resource === 'DirectResponse/httpbin/empty' && p.severity === 'warning' && p.path === 'spec.body'));
});

test('HEAD gets the status and headers without the body; a POST body is not needed', async () => {
  const head = await get('/direct-response', undefined, {}, 'HEAD');
  assert.equal(head.status, 510);
  assert.equal(head.headers['content-length'], '41');
  assert.equal(head.body, '');
  const post = await request({ port: h.port, method: 'POST', path: '/direct-response', headers: { host: 'direct-response.com:8080', 'content-type': 'text/plain' }, body: 'x'.repeat(1000) });
  assert.equal(post.status, 510);
  assert.equal(post.body, ROBOTS);
});

test('a TrafficPolicy JWT check runs before the direct response (Envoy\'s router answers after the filters)', async () => {
  const denied = await get('/anything', 'guarded.example.com');
  assert.equal(denied.status, 401);
  assert.equal(denied.body, 'Jwt is missing');
  const ok = await get('/anything', 'guarded.example.com', { authorization: `Bearer ${TOKEN}` });
  assert.equal(ok.status, 510);
  assert.equal(ok.body, ROBOTS);
});

test('a DirectResponse on a rule with backendRefs, two on one rule, or one that does not exist: kgateway replaces the rule with its 500, and the upstream never sees it', async () => {
  const n = h.echo.received.length;
  for (const p of ['/clash-backends', '/clash-twice', '/missing']) {
    const r = await get(p);
    assert.equal(r.status, 500, p);
    assert.equal(r.body, 'invalid route configuration detected and replaced with a direct response.', p);
  }
  assert.equal(h.echo.received.length, n);
  const errors = h.gateway.snapshot.problems.filter((p) => p.resource === 'HTTPRoute/httpbin/httpbin-direct-response' && p.severity === 'error').map((p) => `${p.path}: ${p.message}`);
  assert.equal(errors.length, 3);
  assert.match(errors[0]!, /^spec\.rules\[7\]\.filters\[0\]\.extensionRef: DirectResponse cannot be applied to route with existing action: the rule also has backendRefs/);
  assert.match(errors[1]!, /^spec\.rules\[8\]\.filters\[1\]\.extensionRef: DirectResponse cannot be applied to route with existing action: the rule also has a second DirectResponse filter/);
  assert.match(errors[2]!, /^spec\.rules\[9\]\.filters\[0\]\.extensionRef: gateway\.kgateway\.dev\/DirectResponse\/httpbin\/nowhere: policy not found/);
  // The route's status says which rules kgateway replaces, and why.
  const status = h.gateway.snapshot.statuses.find((x) => x.resource === 'HTTPRoute/httpbin/httpbin-direct-response');
  assert.match(JSON.stringify(status), /no action specified: gateway\.kgateway\.dev\/DirectResponse\/httpbin\/nowhere: policy not found/);
});

test('a DirectResponse in a backendRef\'s filters is ignored with a warning, as kgateway ignores it: the request is proxied', async () => {
  const r = await get('/on-backend');
  assert.equal(r.status, 404);
  assert.equal(h.echo.received.at(-1)!.url, '/on-backend');
  assert.ok(h.gateway.snapshot.problems.some((p) => p.severity === 'warning' && p.path === 'spec.rules[10].backendRefs[0].filters[0]'));
});

test('a DirectResponse no rule uses is warned about; /config_dump shows each rule\'s answer and where it comes from', () => {
  assert.ok(h.gateway.snapshot.problems.some((p) => p.resource === 'DirectResponse/httpbin/unused' && p.severity === 'warning' && /not used by any HTTPRoute rule/.test(p.message)));
  const dump = JSON.parse(configDumpText(h.gateway.snapshot)) as { listeners: { routeDefs: Record<string, { directResponse?: unknown }> }[] };
  const defs = Object.assign({}, ...dump.listeners.map((l) => l.routeDefs)) as Record<string, { directResponse?: unknown }>;
  assert.deepEqual(defs['httpbin/httpbin-direct-response/1/0']!.directResponse, { status: 510, bodyBytes: 41, from: 'DirectResponse/httpbin/direct-response' });
});

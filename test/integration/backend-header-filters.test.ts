// Header filters on an HTTPRoute rule's backendRefs[] entry, end to end through a real gateway to
// the real echo upstream, as kgateway configures Envoy: with one backendRef, its
// RequestHeaderModifier / ResponseHeaderModifier join the route's own lists after the rule's
// (one evaluation, Gateway API's HTTPRouteBackendRequestHeaderModifier cases); with several, each
// is its weighted cluster's rules, applied before the route's (two evaluations, so the route's
// `%REQ%` sees the backend's writes and the route's `set` wins), to the requests drawn to that
// backendRef and to their answers. RequestRedirect and URLRewrite there are ignored, as kgateway
// ignores them.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { lastReceived, startHarness, staticBackend, type Echo, type Harness } from '../helpers/harness.js';
import { startEchoUpstream } from '../../src/upstream/echo.js';
import { request } from '../helpers/http-client.js';
import { configDumpText } from '../../src/config/dump.js';

let h: Harness;
/** A second upstream: the rule with two backendRefs sends one to the harness's echo, the other here. */
let other: Echo;
const backend = (filters: string, name = 'httpbin') => `{ group: gateway.kgateway.dev, kind: Backend, name: ${name}, filters: ${filters} }`;

before(async () => {
  other = await startEchoUpstream({ host: '127.0.0.1', port: 0 });
  h = await startHarness({
    manifests: [
      staticBackend('other', [other.port]) +
        `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: backend-filters, namespace: httpbin }
spec:
  parentRefs: [{ name: http, namespace: kgateway-system }]
  hostnames: [filters.example.com]
  rules:
  # One backendRef: Gateway API's backend request header modifier cases, and the rule's own filter in the same lists.
  - matches: [{ path: { type: PathPrefix, value: /anything/one } }]
    filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-both, value: rule }] } }]
    backendRefs:
    - ${backend(`[{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: X-Header-Set, value: set-overwrites-values }, { name: x-both, value: backend }], add: [{ name: x-header-add, value: add-appends-values }], remove: [x-header-remove] } },
                  { type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: x-resp, value: one }] } },
                  { type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /elsewhere } } }]`)}
  # Two backendRefs: each one's rules go with the requests drawn to it; the route's come after.
  - matches: [{ path: { type: PathPrefix, value: /anything/two } }]
    filters:
    - { type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-order, value: rule }, { name: x-seen, value: "saw %REQ(x-backend)%" }] } }
    - { type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-rule, value: "yes" }] } }
    backendRefs:
    - ${backend(`[{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-backend, value: a }, { name: x-order, value: backend }] } }, { type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: x-from, value: a }] } }]`)}
    - ${backend(`[{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-backend, value: b }] } }, { type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: x-from, value: b }] } }]`, 'other')}
`,
    ],
  });
});

after(async () => {
  await h?.close();
  await other?.close();
});

const get = (path: string, headers: Record<string, string> = {}) => request({ port: h.port, path, headers: { host: 'filters.example.com', ...headers } });

test('one backendRef: its header filters apply as the route\'s (set overwrites, add appends, remove drops, names without regard to case), after the rule\'s own in the same lists; a URLRewrite there is ignored with a warning', async () => {
  const res = await get('/anything/one/x', { 'x-header-set': 'some-other-value', 'x-header-add': 'add-value', 'x-header-remove': 'remove-me' });
  assert.equal(res.status, 200);
  const r = h.echo.received.at(-1)!;
  assert.equal(r.url.split('?')[0], '/anything/one/x', 'the backendRef\'s URLRewrite is not applied');
  assert.deepEqual(lastReceived(h.echo, 'x-header-set'), ['set-overwrites-values']);
  assert.deepEqual(lastReceived(h.echo, 'x-header-add'), ['add-value', 'add-appends-values']);
  assert.deepEqual(lastReceived(h.echo, 'x-header-remove'), []);
  assert.deepEqual(lastReceived(h.echo, 'x-both'), ['backend'], 'one evaluation: the backendRef\'s set comes after the rule\'s');
  assert.equal(res.headers['x-resp'], 'one');
  const warning = h.gateway.snapshot.problems.find((p) => p.path === 'spec.rules[0].backendRefs[0].filters[2]');
  assert.match(warning?.message ?? '', /URLRewrite in backendRefs\[\]\.filters is ignored, as kgateway ignores it/);
});

test('several backendRefs: the drawn one\'s rules on its request and its answer, before the route\'s (whose %REQ% sees them and whose set wins); both are drawn', async () => {
  const drawn = new Set<string>();
  for (let i = 0; i < 40 && drawn.size < 2; i++) {
    const [mine, others] = [h.echo.received.length, other.received.length];
    const res = await get('/anything/two');
    assert.equal(res.status, 200);
    // backendRef a is the harness's echo, b the other upstream: the request went to one of them.
    const to = h.echo.received.length > mine ? h.echo : other;
    assert.equal(h.echo.received.length - mine + other.received.length - others, 1);
    const [b] = lastReceived(to, 'x-backend');
    assert.equal(b, to === h.echo ? 'a' : 'b', 'each upstream gets its own backendRef\'s rules');
    drawn.add(b!);
    assert.equal(res.headers['x-from'], b, 'the answer gets the rules of the backendRef its request was drawn to');
    assert.equal(res.headers['x-rule'], 'yes');
    assert.deepEqual(lastReceived(to, 'x-seen'), [`saw ${b}`], 'the route\'s %REQ% sees the backendRef\'s write');
    assert.deepEqual(lastReceived(to, 'x-order'), ['rule'], 'the route\'s set comes after the backendRef\'s');
  }
  assert.deepEqual([...drawn].sort(), ['a', 'b']);
});

test('/config_dump lists each backendRef\'s header rules with the route\'s; the configuration has no errors', () => {
  type RouteDef = { backends: { headerRules?: { request: string[]; from: string[] } }[]; headerRules?: { request: string[] } };
  const dump = JSON.parse(configDumpText(h.gateway.snapshot)) as { listeners: { routeDefs: Record<string, RouteDef> }[] };
  const defs = Object.assign({}, ...dump.listeners.map((l) => l.routeDefs)) as Record<string, RouteDef>;
  const routes = Object.entries(defs)
    .filter(([id]) => id.startsWith('httpbin/backend-filters/'))
    .map(([id, r]) => ({ id, ...r }));
  const one = routes.find((r) => r.id.endsWith('/0/0'))!;
  assert.deepEqual(one.headerRules?.request, ['remove x-header-remove', 'set x-both', 'set x-header-set', 'set x-both', 'add x-header-add']);
  const two = routes.find((r) => r.id.endsWith('/1/0'))!;
  assert.deepEqual(two.backends[0]!.headerRules?.request, ['set x-backend', 'set x-order', 'set x-order', 'set x-seen (formatted)']);
  assert.deepEqual(two.backends[1]!.headerRules?.from, ['backendRefs[1] RequestHeaderModifier', 'backendRefs[1] ResponseHeaderModifier', 'RequestHeaderModifier', 'ResponseHeaderModifier']);
  assert.equal(h.gateway.snapshot.problems.filter((p) => p.severity === 'error').length, 0, JSON.stringify(h.gateway.snapshot.problems.filter((p) => p.severity === 'error')));
});

test('several backendRefs, one of them unresolved: the 500 its share gets carries that backendRef\'s response rules before the route\'s (Envoy\'s cluster-not-found local reply on the drawn weighted cluster)', async () => {
  const g = await startHarness({
    manifests: [
      `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: half-missing, namespace: httpbin }
spec:
  parentRefs: [{ name: http, namespace: kgateway-system }]
  hostnames: [missing.example.com]
  rules:
  - filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-rule, value: "yes" }] } }]
    backendRefs:
    - ${backend(`[{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: x-from, value: ok }] } }]`)}
    - { group: gateway.kgateway.dev, kind: Backend, name: does-not-exist, filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: x-from, value: missing }] } }] }
`,
    ],
  });
  try {
    const statuses = new Set<number>();
    for (let i = 0; i < 60 && statuses.size < 2; i++) {
      const res = await request({ port: g.port, path: '/anything/x', headers: { host: 'missing.example.com' } });
      statuses.add(res.status);
      assert.ok(res.status === 200 || res.status === 500, String(res.status));
      assert.equal(res.headers['x-from'], res.status === 500 ? 'missing' : 'ok');
      assert.equal(res.headers['x-rule'], 'yes');
    }
    assert.deepEqual([...statuses].sort(), [200, 500]);
  } finally {
    await g.close();
  }
});

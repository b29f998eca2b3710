// TrafficPolicy rateLimit.local end to end, as kgateway configures Envoy's local_ratelimit filter:
// a token bucket per Envoy per-filter config (a route-side policy's per rule match, a Gateway
// policy's shared by the Gateway's routes on the port), the most specific level's config wins
// (`local: {}` turns a less specific one off), checked after the JWT and rbac filters (a request
// they refuse takes no token), answered `429 local_rate_limited` with the route's response
// header rules.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { filteredRoute, jwtExtension, portSharingGateway, sampleRoute, startHarness, type Harness, routePolicy } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { mint, rsaKeys } from '../helpers/tokens.js';
import { configDumpText } from '../../src/config/dump.js';

const keys = rsaKeys('rl');
let h: Harness;


before(async () => {
  h = await startHarness({
    manifests: [
      // The Gateway's policy: one bucket of 4 for every route of the Gateway on its port that has
      // no more specific config (the sample route and shared-a / shared-b here).
      `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: gateway-limit, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http }]
  rateLimit: { local: { tokenBucket: { maxTokens: 4, tokensPerFill: 1, fillInterval: 100s } } }
---
${sampleRoute('shared-a', '/anything/shared-a')}---
${sampleRoute('shared-b', '/anything/shared-b')}` +
        filteredRoute('limited', '/anything/limited', '[{ type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-limited-route, value: "yes" }] } }]') +
        routePolicy('limited', 'limited', '  rateLimit: { local: { tokenBucket: { maxTokens: 2, fillInterval: 100s } } }\n') +
        `---\n${sampleRoute('free', '/anything/free')}` +
        routePolicy('free', 'free', '  rateLimit: { local: {} }\n') +
        `---\n${sampleRoute('guarded', '/anything/guarded')}` +
        routePolicy(
          'guarded',
          'guarded',
          `  jwtAuth: { extensionRef: { name: jwt } }
  rbac: { policy: { matchExpressions: ["request.headers['x-allow'] == 'yes'"] } }
  rateLimit: { local: { tokenBucket: { maxTokens: 1, fillInterval: 100s } } }
`,
        ) +
        jwtExtension('jwt', 'httpbin', keys.jwks) +
        `---\n${sampleRoute('not-enforced', '/anything/not-enforced')}` +
        routePolicy('not-enforced', 'not-enforced', '  rateLimit: { local: { tokenBucket: { maxTokens: 1, fillInterval: 100s }, percentEnforced: 0 } }\n') +
        `---\n${sampleRoute('not-enabled', '/anything/not-enabled')}` +
        routePolicy('not-enabled', 'not-enabled', '  rateLimit: { local: { tokenBucket: { maxTokens: 1, fillInterval: 100s }, percentEnabled: 0 } }\n') +
        // A route policy on a route with two hostnames and two matches: a bucket per match per
        // virtual host (kgateway copies the route into each hostname's virtual host).
        `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: multi, namespace: httpbin }
spec:
  parentRefs: [{ name: http, namespace: kgateway-system }]
  hostnames: [c.example.com, d.example.com]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /anything/m1 } }, { path: { type: PathPrefix, value: /anything/m2 } }]
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]
` +
        routePolicy('multi', 'multi', '  rateLimit: { local: { tokenBucket: { maxTokens: 1, fillInterval: 100s } } }\n') +
        // A rule kgateway replaces with its 500 (an invalid policy): answered before any check, no token taken.
        `---\n${sampleRoute('broken', '/anything/broken')}` +
        routePolicy('broken', 'broken', '  rateLimit: { local: { percentEnabled: 5 } }\n') +
        // A second Gateway on the port, its listener's policy: a bucket per virtual host (hostname).
        portSharingGateway('vh', 'web', '*.vh.example.com') +
        `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: vh-listener, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: vh, sectionName: web }]
  rateLimit: { local: { tokenBucket: { maxTokens: 1, fillInterval: 100s } } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: vh-a, namespace: httpbin }
spec:
  parentRefs: [{ name: vh, namespace: kgateway-system }]
  hostnames: [a.vh.example.com]
  rules:
  - backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: vh-b, namespace: httpbin }
spec:
  parentRefs: [{ name: vh, namespace: kgateway-system }]
  hostnames: [b.vh.example.com]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /anything/one } }, { path: { type: PathPrefix, value: /anything/two } }]
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]
` +
        `---\n${sampleRoute('refill', '/anything/refill')}` +
        routePolicy('refill', 'refill', '  rateLimit: { local: { tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillInterval: 1s } } }\n'),
    ],
  });
});
after(() => h.close());

const get = (path: string, headers: Record<string, string> = {}) => request({ port: h.port, path, headers: { host: 'www.example.com', ...headers } });
const at = (host: string, path: string) => request({ port: h.port, path, headers: { host } });
const metric = (result: string) => Number(h.gateway.renderMetrics().match(new RegExp(`jwtgate_requests_total\\{result="${result}"\\} (\\d+)`))?.[1] ?? NaN);

test('a route policy: its bucket of 2 lets 2 requests through, then 429 local_rate_limited (text/plain, the route\'s response header rules), never proxied, counted as RATE_LIMITED', async () => {
  const n = h.echo.received.length;
  const limited0 = metric('RATE_LIMITED');
  assert.equal((await get('/anything/limited/1')).status, 200);
  assert.equal((await get('/anything/limited/2')).status, 200);
  assert.equal(h.echo.received.length, n + 2);
  const res = await get('/anything/limited/3');
  assert.equal(res.status, 429);
  assert.equal(res.body, 'local_rate_limited');
  assert.match(String(res.headers['content-type']), /^text\/plain/);
  assert.equal(res.headers['x-limited-route'], 'yes');
  assert.equal(res.headers['www-authenticate'], undefined);
  assert.equal((await get('/anything/limited/4')).status, 429);
  assert.equal(h.echo.received.length, n + 2);
  assert.equal(metric('RATE_LIMITED') - limited0, 2);
});

test('the Gateway policy: one bucket shared by the Gateway\'s routes without their own config; a route\'s own config and local: {} are not charged to it', async () => {
  // The route policy's bucket above is its own: the Gateway's 4 tokens are all still there.
  assert.equal((await get('/anything/shared-a/1')).status, 200);
  assert.equal((await get('/anything/shared-b/1')).status, 200);
  assert.equal((await get('/anything')).status, 200);
  // The rule replaced by kgateway's 500 takes none.
  for (let i = 0; i < 3; i++) assert.equal((await get('/anything/broken')).status, 500, `broken #${i}`);
  // local: {} (kgateway's "disable") replaces the Gateway's config on its route: never limited, takes nothing.
  for (let i = 0; i < 6; i++) assert.equal((await get('/anything/free')).status, 200, `free #${i}`);
  assert.equal((await get('/anything/shared-a/2')).status, 200);
  assert.equal((await get('/anything/shared-a/3')).status, 429);
  assert.equal((await get('/anything/shared-b/3')).status, 429);
  assert.equal((await get('/anything')).status, 429);
  assert.equal((await get('/anything/broken')).status, 500);
  assert.equal((await get('/anything/free')).status, 200);
});

test('a route policy: a bucket per match and per hostname of the route (each an Envoy route of its own)', async () => {
  assert.equal((await at('c.example.com', '/anything/m1')).status, 200);
  assert.equal((await at('c.example.com', '/anything/m1')).status, 429);
  assert.equal((await at('c.example.com', '/anything/m2')).status, 200);
  assert.equal((await at('d.example.com', '/anything/m1')).status, 200);
  assert.equal((await at('d.example.com', '/anything/m2')).status, 200);
  assert.equal((await at('d.example.com', '/anything/m2')).status, 429);
});

test("a listener policy: one bucket per virtual host, shared by that host's routes, not by the listener's other hosts", async () => {
  assert.equal((await at('a.vh.example.com', '/anything')).status, 200);
  assert.equal((await at('a.vh.example.com', '/anything')).status, 429);
  assert.equal((await at('b.vh.example.com', '/anything/one')).status, 200);
  assert.equal((await at('b.vh.example.com', '/anything/two')).status, 429);
});

test('checked after JWT and rbac: requests they refuse (401, 403) take no token; the first one let through takes the only token', async () => {
  const token = mint({ alg: 'RS256', key: keys.privateKey, kid: 'rl', payload: { iss: 'https://idp.example.com', exp: Math.floor(Date.now() / 1000) + 600 } });
  for (let i = 0; i < 3; i++) assert.equal((await get('/anything/guarded')).status, 401);
  for (let i = 0; i < 3; i++) assert.equal((await get('/anything/guarded', { authorization: `Bearer ${token}` })).status, 403);
  assert.equal((await get('/anything/guarded', { authorization: `Bearer ${token}`, 'x-allow': 'yes' })).status, 200);
  const res = await get('/anything/guarded', { authorization: `Bearer ${token}`, 'x-allow': 'yes' });
  assert.equal(res.status, 429);
  assert.equal(res.body, 'local_rate_limited');
  // Still 401 without a token: the JWT check comes first.
  assert.equal((await get('/anything/guarded')).status, 401);
});

test('percentEnforced 0 and percentEnabled 0: an empty bucket lets every request through', async () => {
  for (let i = 0; i < 4; i++) assert.equal((await get('/anything/not-enforced')).status, 200, `not-enforced #${i}`);
  for (let i = 0; i < 4; i++) assert.equal((await get('/anything/not-enabled')).status, 200, `not-enabled #${i}`);
});

test('the bucket refills: tokensPerFill per fillInterval', async () => {
  assert.equal((await get('/anything/refill')).status, 200);
  assert.equal((await get('/anything/refill')).status, 429);
  await sleep(1100);
  assert.equal((await get('/anything/refill')).status, 200);
  assert.equal((await get('/anything/refill')).status, 429);
});

test('config_dump shows each route\'s bucket, where it comes from and what shares it', () => {
  const dump = JSON.parse(configDumpText(h.gateway.snapshot)) as { listeners: { routeDefs: Record<string, { route: string; rateLimit?: Record<string, unknown> }> }[] };
  const defs = dump.listeners.flatMap((l) => Object.values(l.routeDefs));
  const of = (name: string) => defs.find((d) => d.route === `httpbin/${name}`)?.rateLimit;
  assert.deepEqual(of('limited'), { maxTokens: 2, tokensPerFill: 1, fillIntervalMs: 100_000, percentEnabled: 100, percentEnforced: 100, bucket: 'route, host www.example.com', policy: 'TrafficPolicy/httpbin/limited@HTTPRoute' });
  assert.equal(of('shared-a')?.['bucket'], 'Gateway kgateway-system/http port 8080');
  assert.equal(of('shared-a')?.['policy'], 'TrafficPolicy/kgateway-system/gateway-limit@Gateway');
  assert.equal(of('free'), undefined);
  assert.equal(of('vh-a')?.['bucket'], 'listener kgateway-system/vh/web host a.vh.example.com');
  assert.equal(of('broken'), undefined);
});

test('a reload keeps a bucket whose place and settings are unchanged (tokens and all), and starts a changed one full', async () => {
  assert.equal((await get('/anything/limited/5')).status, 429);
  assert.equal((await h.gateway.reload()).ok, true);
  assert.equal((await get('/anything/limited/6')).status, 429);
  assert.equal((await at('a.vh.example.com', '/anything')).status, 429);
  // The route's policy now allows 3: a new bucket, full.
  const file = path.join(h.dir, '10-test.yaml');
  const text = await readFile(file, 'utf8');
  assert.ok(text.includes('maxTokens: 2, fillInterval: 100s'));
  await writeFile(file, text.replace('maxTokens: 2, fillInterval: 100s', 'maxTokens: 3, fillInterval: 100s'));
  assert.equal((await h.gateway.reload()).ok, true);
  for (let i = 0; i < 3; i++) assert.equal((await get('/anything/limited/7')).status, 200, `after the change #${i}`);
  assert.equal((await get('/anything/limited/8')).status, 429);
  // The other buckets keep their state.
  assert.equal((await at('a.vh.example.com', '/anything')).status, 429);
  assert.equal((await get('/anything/shared-a/4')).status, 429);
});

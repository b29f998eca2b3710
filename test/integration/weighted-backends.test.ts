// Weighted backendRefs: each request draws its backend at random by weight, as Envoy's
// weighted_clusters do, so a rule's split holds whatever other routes the traffic interleaves
// with; a backendRef that does not resolve keeps its share, answered with 500 (kgateway points
// it at a blackhole cluster).
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { startEchoUpstream, type EchoUpstream } from '../../src/upstream/echo.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { seedManifestsDir, sampleTokenPath } from '../helpers/paths.js';

let a: EchoUpstream;
let b: EchoUpstream;
let h: Harness;

const backend = (name: string, port: number) => `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: ${name}, namespace: httpbin }
spec: { type: Static, static: { hosts: [{ host: 127.0.0.1, port: ${port} }] } }
`;

before(async () => {
  a = await startEchoUpstream({ host: '127.0.0.1', port: 0 });
  b = await startEchoUpstream({ host: '127.0.0.1', port: 0 });
  h = await startHarness({
    manifests: [
      backend('a', a.port) +
        backend('b', b.port) +
        `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: split, namespace: httpbin }
spec:
  parentRefs: [{ name: http, namespace: kgateway-system }]
  hostnames: [www.example.com]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /anything/split } }]
    backendRefs:
    - { group: gateway.kgateway.dev, kind: Backend, name: a }
    - { group: gateway.kgateway.dev, kind: Backend, name: b }
  - matches: [{ path: { type: PathPrefix, value: /anything/half-missing } }]
    backendRefs:
    - { group: gateway.kgateway.dev, kind: Backend, name: a }
    - { group: gateway.kgateway.dev, kind: Backend, name: does-not-exist }
  - matches: [{ path: { type: PathPrefix, value: /anything/other-kind } }]
    backendRefs:
    - { group: gateway.kgateway.dev, kind: Backend, name: a, weight: 3 }
    - { group: example.com, kind: Foo, name: x, weight: 1 }
  - matches: [{ path: { type: PathPrefix, value: /anything/all-zero } }]
    backendRefs:
    - { group: gateway.kgateway.dev, kind: Backend, name: a, weight: 0 }
    - { group: gateway.kgateway.dev, kind: Backend, name: b, weight: 0 }
  - matches: [{ path: { type: PathPrefix, value: /anything/invalid-backend } }]
    backendRefs:
    - { group: gateway.kgateway.dev, kind: Backend, name: broken }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: broken, namespace: httpbin }
spec: { type: Static, static: { hosts: [{ host: 127.0.0.1, port: 0 }] } }
`,
    ],
  });
});
after(async () => {
  await h.close();
  await a.close();
  await b.close();
});

test('a 1:1 split stays near even when every other request goes to another route', async () => {
  const a0 = a.received.length;
  const b0 = b.received.length;
  for (let i = 0; i < 100; i++) {
    assert.equal((await request({ port: h.port, path: '/anything/split' })).status, 200);
    assert.equal((await request({ port: h.port, path: '/headers' })).status, 200);
  }
  const toA = a.received.length - a0;
  const toB = b.received.length - b0;
  assert.equal(toA + toB, 100);
  // Binomial(100, 0.5): below 20 has probability ~1e-9.
  assert.ok(toA >= 20 && toB >= 20, `a ${toA}, b ${toB}`);
});

test('the share of a backendRef that does not resolve gets 500 with an empty body (Envoy: cluster not found), the rest is served', async () => {
  for (const [path, low] of [['/anything/half-missing', 20], ['/anything/other-kind', 8]] as const) {
    const counts = new Map<number, number>();
    for (let i = 0; i < 100; i++) {
      const r = await request({ port: h.port, path });
      counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
      if (r.status === 500) {
        assert.equal(r.body, '');
        assert.equal(r.headers['content-type'], undefined);
        assert.equal(r.headers['content-length'], '0');
      }
    }
    assert.deepEqual([...counts.keys()].sort(), [200, 500], path);
    // Binomial(100, 0.5) and (100, 0.25): below 20 and 8 have probability < 1e-6.
    assert.ok(counts.get(200)! >= 20 && counts.get(500)! >= low, `${path}: ${JSON.stringify([...counts])}`);
  }
  // An unsupported kind is an unresolved reference, not a broken rule.
  const st = h.gateway.snapshot.statuses.find((s) => s.resource === 'HTTPRoute/httpbin/split')!;
  assert.doesNotMatch(JSON.stringify(st), /RouteRuleReplaced/);
  const p = h.gateway.snapshot.problems.find((x) => x.resource === 'HTTPRoute/httpbin/split' && x.path === 'spec.rules[2].backendRefs[1].kind');
  assert.match(p?.message ?? '', /backendRef example\.com\/Foo not supported by jwtgate .*requests drawn to it get 500/);
});

test('a backendRef with filters (a TrafficPolicy with jwtAuth through ExtensionRef) makes its rule answer 500: never proxied without the JWT check kgateway applies per backend', async () => {
  // The seed's GatewayExtension alone (its TrafficPolicy would protect the whole Gateway).
  const extension = readFileSync(path.join(seedManifestsDir, '01-basic-jwt.yaml'), 'utf8').split(/^---$/m)[0]!;
  const token = readFileSync(sampleTokenPath, 'utf8').trim();
  const g = await startHarness({
    manifests: [
      extension +
        backend('a', a.port) +
        `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: api-jwt, namespace: httpbin }
spec:
  jwtAuth: { extensionRef: { name: selfminted-jwt, namespace: kgateway-system } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api, namespace: httpbin }
spec:
  parentRefs: [{ name: http, namespace: kgateway-system }]
  hostnames: [api.example.com]
  rules:
  - backendRefs:
    - group: gateway.kgateway.dev
      kind: Backend
      name: a
      filters:
      - type: ExtensionRef
        extensionRef: { group: gateway.kgateway.dev, kind: TrafficPolicy, name: api-jwt }
  - matches: [{ path: { type: PathPrefix, value: /anything/empty-filters } }]
    backendRefs:
    - { group: gateway.kgateway.dev, kind: Backend, name: a, filters: [] }
`,
    ],
  });
  try {
    const a0 = a.received.length;
    for (const headers of [{}, { authorization: `Bearer ${token}` }] as Record<string, string>[]) {
      const r = await request({ port: g.port, host: 'api.example.com', path: '/anything/secret', headers });
      assert.equal(r.status, 500);
    }
    assert.equal(a.received.length, a0, 'nothing reached the backend');
    // An empty list is no filter.
    assert.equal((await request({ port: g.port, host: 'api.example.com', path: '/anything/empty-filters' })).status, 200);
    const p = g.gateway.snapshot.problems.find((x) => x.resource === 'HTTPRoute/httpbin/api' && x.path === 'spec.rules[0].backendRefs[0].filters');
    assert.equal(p?.severity, 'error');
    assert.match(p?.message ?? '', /^backendRefs\[\]\.filters other than .* are not supported by jwtgate, and a filter may not be skipped: the rule answers 500/);
    const st = g.gateway.snapshot.statuses.find((x) => x.resource === 'HTTPRoute/httpbin/api')!;
    assert.match(JSON.stringify(st), /RouteRuleReplaced/);
  } finally {
    await g.close();
  }
});

test('a backend kgateway reaches over TLS (BackendTLSPolicy, or a BackendConfigPolicy with tls) is not sent cleartext: its requests get 500 and the problem says why', async () => {
  const g = await startHarness({
    manifests: [
      backend('tls-a', a.port) +
        backend('tls-b', b.port) +
        `---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: { name: a-tls, namespace: httpbin }
spec:
  targetRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: tls-a }]
  validation: { hostname: a.internal, wellKnownCACertificates: System }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: BackendConfigPolicy
metadata: { name: b-tls, namespace: httpbin }
spec:
  targetRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: tls-b }]
  tls: { sni: b.internal, wellKnownCACertificates: System }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: tls, namespace: httpbin }
spec:
  parentRefs: [{ name: http, namespace: kgateway-system }]
  hostnames: [tls.example.com]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /anything/a } }]
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: tls-a }]
  - matches: [{ path: { type: PathPrefix, value: /anything/b } }]
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: tls-b }]
`,
    ],
  });
  try {
    const [a0, b0] = [a.received.length, b.received.length];
    for (const path of ['/anything/a', '/anything/b']) {
      const r = await request({ port: g.port, host: 'tls.example.com', path, headers: { cookie: 'session=secret' } });
      assert.equal(r.status, 500, path);
      assert.equal(r.body, '');
    }
    assert.deepEqual([a.received.length, b.received.length], [a0, b0], 'nothing went out in cleartext');
    const byRule = (i: number) => g.gateway.snapshot.problems.find((x) => x.resource === 'HTTPRoute/httpbin/tls' && x.path === `spec.rules[${i}].backendRefs[0].name`);
    assert.match(byRule(0)?.message ?? '', /^Backend httpbin\/tls-a is to be reached over TLS \(BackendTLSPolicy httpbin\/a-tls\), which jwtgate does not originate to backends/);
    assert.match(byRule(1)?.message ?? '', /^Backend httpbin\/tls-b is to be reached over TLS \(BackendConfigPolicy httpbin\/b-tls sets tls\)/);
  } finally {
    await g.close();
  }
});

test('a rule whose backendRefs all have weight 0 (ROUTE_CONFIG_INVALID), or whose only backendRef is an invalid Backend (an empty body), answers 500 and sends nothing upstream; check says why', async () => {
  const [a0, b0] = [a.received.length, b.received.length];
  // README's error table: ROUTE_CONFIG_INVALID for a rule whose weights are all 0; an unresolved backend is an empty 500.
  for (const [path, body] of [['/anything/all-zero', 'invalid route configuration detected and replaced with a direct response.'], ['/anything/invalid-backend', '']]) {
    for (let i = 0; i < 4; i++) {
      const r = await request({ port: h.port, host: 'www.example.com', path });
      assert.equal(r.status, 500, path);
      assert.equal(r.body, body, path);
    }
  }
  assert.deepEqual([a.received.length, b.received.length], [a0, b0], 'nothing reached a backend');
  const at = (p: string) => h.gateway.snapshot.problems.filter((x) => x.resource === 'HTTPRoute/httpbin/split' && x.path === p).map((x) => [x.severity, x.message]);
  assert.deepEqual(at('spec.rules[3].backendRefs'), [['warning', 'every backendRef has weight 0: requests matching this rule get 500']]);
  assert.deepEqual(at('spec.rules[4].backendRefs[0].name'), [['error', 'Backend httpbin/broken is invalid (requests for it get 500): spec.static.hosts[0].port: Invalid value: 0: must be greater than or equal to 1']]);
});

// ListenerPolicy / HTTPListenerPolicy `earlyRequestHeaderModifier` end to end: Envoy's early header
// mutation, which kgateway configures on the Gateway's connection manager. It runs before the
// connection manager's own fields (x-forwarded-for appended, x-request-id replaced) and before
// routing, so routes match on its result and the upstream never sees what it removes. A
// `perPort` entry replaces `default` for its port.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { lastReceived, sampleApp, startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { configDumpText } from '../../src/config/dump.js';

let h: Harness;

const extra = `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: ListenerPolicy
metadata: { name: early, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http }]
  default:
    httpSettings:
      earlyRequestHeaderModifier:
        set: [{ name: x-env, value: prod }, { name: x-request-id, value: early }]
        add: [{ name: x-forwarded-for, value: 10.9.9.9 }]
        remove: [x-user-id]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: prod-only, namespace: httpbin }
spec:
  parentRefs: [{ name: http, namespace: kgateway-system }]
  hostnames: [www.example.com]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /anything/prod-only }, headers: [{ name: x-env, value: prod }] }]
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]
  # A match on a field Envoy's connection manager sets: the port's routes see those fields before
  # routing (jwtgate sets them ahead of routing there), and still after the early rules.
  - matches: [{ path: { type: PathPrefix, value: /anything/edge }, headers: [{ name: x-forwarded-proto, value: http }] }]
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: multi, namespace: kgateway-system }
spec:
  gatewayClassName: kgateway
  listeners:
  - { name: a, protocol: HTTP, port: 8083, hostname: multi.example.com, allowedRoutes: { namespaces: { from: All } } }
  - { name: b, protocol: HTTP, port: 8084, hostname: multi.example.com, allowedRoutes: { namespaces: { from: All } } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: multi, namespace: httpbin }
spec:
  parentRefs: [{ name: multi, namespace: kgateway-system }]
  rules:
  - backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: ListenerPolicy
metadata: { name: multi, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: multi }]
  default:
    httpSettings:
      earlyRequestHeaderModifier: { remove: [x-user-id] }
  perPort:
  - port: 8084
    listener:
      httpSettings: { idleTimeout: 30s }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: HTTPListenerPolicy
metadata: { name: legacy, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: multi }]
  earlyRequestHeaderModifier: { add: [{ name: x-legacy, value: 'yes' }] }
`;

before(async () => {
  h = await startHarness({ base: (p) => sampleApp(p) + extra, gateway: { portOverrides: new Map([[8080, 0], [8083, 0], [8084, 0]]) } });
});
after(() => h.close());

/** The header lines the upstream received for `name` (lowercase), in order. */
const received = (name: string): string[] => lastReceived(h.echo, name);

test('early rules run before the connection manager\'s fields and before routing: the upstream never sees the removed header, routes match on the set one, x-forwarded-for is appended to the added value, x-request-id is still replaced', async () => {
  const n = h.echo.received.length;
  const res = await request({ port: h.port, path: '/anything/prod-only/x', headers: { host: 'www.example.com', 'x-user-id': 'admin', 'x-env': 'dev' } });
  // Without the early set, x-env: dev would not match the prod-only route (404).
  assert.equal(res.status, 200);
  assert.equal(h.echo.received.length, n + 1);
  assert.deepEqual(received('x-user-id'), []);
  assert.deepEqual(received('x-env'), ['prod']);
  const xff = received('x-forwarded-for');
  assert.equal(xff.length, 1);
  assert.match(xff[0]!, /^10\.9\.9\.9,\d+\.\d+\.\d+\.\d+$/);
  const id = received('x-request-id');
  assert.equal(id.length, 1);
  assert.notEqual(id[0], 'early');
  assert.match(id[0]!, /^[0-9a-f-]{36}$/);
});

test('perPort replaces default for its port; an HTTPListenerPolicy\'s rules apply after the ListenerPolicy\'s, and check warns that both are set', async () => {
  const a = await request({ port: h.gateway.port(8083), path: '/anything/a', headers: { host: 'multi.example.com', 'x-user-id': 'admin' } });
  assert.equal(a.status, 200);
  assert.deepEqual(received('x-user-id'), []);
  assert.deepEqual(received('x-legacy'), ['yes']);
  const b = await request({ port: h.gateway.port(8084), path: '/anything/b', headers: { host: 'multi.example.com', 'x-user-id': 'admin' } });
  assert.equal(b.status, 200);
  // Port 8084's perPort settings have no early rules: default's removal does not apply there.
  assert.deepEqual(received('x-user-id'), ['admin']);
  assert.deepEqual(received('x-legacy'), ['yes']);
  const warn = h.gateway.snapshot.problems.find((p) => p.resource === 'Gateway/kgateway-system/multi' && p.severity === 'warning');
  assert.match(warn?.message ?? '', /both a ListenerPolicy and HTTPListenerPolicy kgateway-system\/legacy set earlyRequestHeaderModifier for port 8083: jwtgate applies the ListenerPolicy's rules first/);
});

test('/config_dump shows each listener\'s early rules by operation and name, not their values', () => {
  const dump = JSON.parse(configDumpText(h.gateway.snapshot)) as { listeners: { port: number; gateway: string; earlyHeaderRules?: string[] }[] };
  const byPort = (port: number) => dump.listeners.find((l) => l.port === port);
  assert.deepEqual(byPort(8080)?.earlyHeaderRules, ['add x-forwarded-for', 'set x-env', 'set x-request-id', 'remove x-user-id']);
  assert.deepEqual(byPort(8083)?.earlyHeaderRules, ['remove x-user-id', 'add x-legacy']);
  assert.deepEqual(byPort(8084)?.earlyHeaderRules, ['add x-legacy']);
  assert.ok(!configDumpText(h.gateway.snapshot).includes('10.9.9.9'));
});

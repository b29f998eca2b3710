// ListenerSet / XListenerSet listeners jwtgate does not serve fail closed on their parent
// Gateway: their hostname answers 500 on its port instead of falling through to the Gateway's
// own catch-all route (which would serve without the JWT check the ListenerSet's route has).
// A set the parent does not admit (allowedListeners) is ignored, as kgateway ignores it.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';

let h: Harness;

const base = (echoPort: number): string => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: http, namespace: gw }
spec:
  gatewayClassName: kgateway
  allowedListeners: { namespaces: { from: Same } }
  listeners:
  - { name: http, protocol: HTTP, port: 8080, allowedRoutes: { namespaces: { from: All } } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: public, namespace: gw }
spec:
  parentRefs: [{ name: http }]
  rules:
  - backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: public }]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: public, namespace: gw }
spec: { static: { hosts: [{ host: 127.0.0.1, port: ${echoPort} }] } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: { name: api, namespace: gw }
spec:
  parentRef: { name: http }
  listeners:
  - { name: api, protocol: HTTP, port: 8080, hostname: api.example.com }
---
apiVersion: gateway.networking.x-k8s.io/v1alpha1
kind: XListenerSet
metadata: { name: xapi, namespace: gw }
spec:
  parentRef: { name: http }
  listeners:
  - { name: api, protocol: HTTP, port: 8080, hostname: xapi.example.com }
---
apiVersion: gateway.networking.x-k8s.io/v1alpha1
kind: XListenerSet
metadata: { name: elsewhere, namespace: other }
spec:
  parentRef: { name: http, namespace: gw }
  listeners:
  - { name: api, protocol: HTTP, port: 8080, hostname: other.example.com }
`;

before(async () => {
  h = await startHarness({ base });
});
after(() => h.close());

test('an admitted ListenerSet or XListenerSet listener answers 500 for its hostname; the upstream never sees it', async () => {
  const n = h.echo.received.length;
  for (const host of ['api.example.com', 'xapi.example.com']) {
    const res = await request({ port: h.port, path: '/anything/admin', headers: { host } });
    assert.equal(res.status, 500, host);
    assert.equal(res.body, 'invalid route configuration detected and replaced with a direct response.');
  }
  assert.equal(h.echo.received.length, n);
});

test('the Gateway\'s own listener still serves its other hosts, and a set it does not admit is ignored', async () => {
  for (const host of ['www.example.com', 'other.example.com']) {
    const res = await request({ port: h.port, path: '/get', headers: { host } });
    assert.equal(res.status, 200, host);
  }
  const problems = h.gateway.snapshot.problems;
  const ls = problems.find((p) => p.resource === 'ListenerSet/gw/api');
  assert.equal(ls?.severity, 'error');
  assert.match(ls?.message ?? '', /ListenerSets are not supported by jwtgate: requests for hostname api\.example\.com on port 8080 \(Gateway gw\/http\) get 500/);
  const other = problems.find((p) => p.resource === 'XListenerSet/other/elsewhere');
  assert.equal(other?.severity, 'warning');
  assert.match(other?.message ?? '', /does not admit this XListenerSet/);
});

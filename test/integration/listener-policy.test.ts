// Also: tls on an HTTP listener, which the API server refuses (the Gateway is not served).
// A kgateway ListenerPolicy / HTTPListenerPolicy that can deny a connection (`rbac`) or strip a
// header before routing (`earlyRequestHeaderModifier`) makes every request for the hosts of the
// Gateways it targets answer 500: jwtgate applies neither, and serving the Gateway would let
// every client through with the header kgateway removes. The Gateway keeps its hosts, so they do
// not fall through to another Gateway's routes on the same port (so does a Gateway with an
// inherited-policy-priority jwtgate does not implement). Tuning fields stay warnings.
import test from 'node:test';
import assert from 'node:assert/strict';
import { sampleApp, startHarness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Gateway } from '../../src/gateway.js';
import { startEchoUpstream } from '../../src/upstream/echo.js';

const rbacPolicy = (target: string) => `apiVersion: gateway.kgateway.dev/v1alpha1
kind: ListenerPolicy
metadata: { name: corp-only, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: ${target} }]
  default:
    rbac:
      action: Allow
      policy: { matchExpressions: ['source.address.startsWith("10.")'] }
`;

/** A second Gateway on 8081, so that the start succeeds when the sample Gateway on 8080 is refused. */
const OTHER_GATEWAY = `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: other, namespace: kgateway-system }
spec:
  gatewayClassName: kgateway
  listeners:
  - { name: http, protocol: HTTP, port: 8081 }
`;

/** A gateway on `manifests` (given the echo upstream's port), 8080 and 8081 on free ports, stopped after `fn`. */
async function withSecondGateway(manifests: (echoPort: number) => string, fn: (gateway: Gateway) => Promise<void>): Promise<void> {
  const echo = await startEchoUpstream({ host: '127.0.0.1', port: 0 });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jwtgate-test-'));
  await writeFile(path.join(dir, 'base.yaml'), manifests(echo.port));
  const gateway = await Gateway.start({ configPaths: [dir], host: '127.0.0.1', portOverrides: new Map([[8080, 0], [8081, 0]]), verifyThreads: 1 });
  try {
    await fn(gateway);
  } finally {
    await gateway.stop(0);
    await echo.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const INVALID_ROUTE = 'invalid route configuration detected and replaced with a direct response.';

test('a ListenerPolicy with rbac on the Gateway: every request for its hosts answers 500 (not 200 for every client)', async () => {
  const h = await startHarness({ base: (p) => sampleApp(p) + '---\n' + rbacPolicy('http') });
  try {
    const res = await request({ port: h.port, path: '/get', headers: { host: 'www.example.com' } });
    assert.equal(res.status, 500);
    assert.equal(res.body, INVALID_ROUTE);
    assert.equal(h.echo.received.length, 0, 'nothing reached the upstream');
    const gw = h.gateway.snapshot.problems.find((p) => p.resource === 'Gateway/kgateway-system/http');
    assert.equal(gw?.severity, 'error');
    assert.match(gw?.message ?? '', /ListenerPolicy kgateway-system\/corp-only sets spec\.default\.rbac, which jwtgate does not apply: every request for the Gateway's hosts answers 500/);
  } finally {
    await h.close();
  }
});

/** Gateway `api` (api.example.com, a JWT policy) and Gateway `web` (any host) on one port, each with a route to the echo upstream. */
const twoGateways = (echoPort: number, apiExtra = '') => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: api, namespace: kgateway-system${apiExtra} }
spec:
  gatewayClassName: kgateway
  listeners:
  - { name: http, protocol: HTTP, port: 8080, hostname: api.example.com, allowedRoutes: { namespaces: { from: All } } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: web, namespace: kgateway-system }
spec:
  gatewayClassName: kgateway
  listeners:
  - { name: http, protocol: HTTP, port: 8080, allowedRoutes: { namespaces: { from: All } } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api, namespace: httpbin }
spec:
  parentRefs: [{ name: api, namespace: kgateway-system }]
  rules: [{ backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: httpbin }
spec:
  parentRefs: [{ name: web, namespace: kgateway-system }]
  rules: [{ backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }] }]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: httpbin, namespace: httpbin }
spec:
  type: Static
  static: { hosts: [{ host: 127.0.0.1, port: ${echoPort} }] }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: { name: jwt, namespace: kgateway-system }
spec:
  jwt:
    providers:
    - name: p
      issuer: https://issuer.example.com
      jwks: { local: { inline: '{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}' } }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: api-jwt, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: api }]
  jwtAuth: { extensionRef: { name: jwt } }
`;

test("a Gateway answering 500 for a ListenerPolicy or an inherited-policy-priority keeps its hosts: they do not fall through to another Gateway's catch-all on the same port", async () => {
  const cases: [string, (p: number) => string][] = [
    ['without', (p) => twoGateways(p)],
    ['ListenerPolicy', (p) => twoGateways(p) + '---\n' + rbacPolicy('api')],
    ['inherited-policy-priority', (p) => twoGateways(p, ', annotations: { kgateway.dev/inherited-policy-priority: ShallowMergePreferParent }')],
  ];
  const seen: string[] = [];
  for (const [name, base] of cases) {
    const h = await startHarness({ base });
    try {
      const api = await request({ port: h.port, path: '/get', headers: { host: 'api.example.com' } });
      const web = await request({ port: h.port, path: '/get', headers: { host: 'www.example.com' } });
      seen.push(`${name}: api ${api.status} ${api.body.slice(0, 20)}, web ${web.status}`);
    } finally {
      await h.close();
    }
  }
  assert.deepEqual(seen, [
    'without: api 401 Jwt is missing, web 200',
    `ListenerPolicy: api 500 ${INVALID_ROUTE.slice(0, 20)}, web 200`,
    `inherited-policy-priority: api 500 ${INVALID_ROUTE.slice(0, 20)}, web 200`,
  ]);
});

test('an HTTPListenerPolicy removing an identity header early is applied: its Gateway is served without that header; tuning fields are warnings', async () => {
  const ops = `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ops, namespace: kgateway-system }
spec:
  gatewayClassName: kgateway
  listeners:
  - { name: http, protocol: HTTP, port: 8081, hostname: ops.example.com, allowedRoutes: { namespaces: { from: All } } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ops, namespace: httpbin }
spec:
  parentRefs: [{ name: ops, namespace: kgateway-system }]
  rules:
  - backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: HTTPListenerPolicy
metadata: { name: strip, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: ops }]
  earlyRequestHeaderModifier: { remove: [x-user-id] }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: ListenerPolicy
metadata: { name: tuning, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http }]
  default:
    perConnectionBufferLimitBytes: 65536
    httpSettings: { idleTimeout: 30s }
`;
  const h = await startHarness({ base: (p) => sampleApp(p) + ops, gateway: { portOverrides: new Map([[8080, 0], [8081, 0]]) } });
  try {
    const ops = await request({ port: h.gateway.port(8081), path: '/get', headers: { host: 'ops.example.com', 'x-user-id': 'admin' } });
    assert.equal(ops.status, 200);
    const seen = h.echo.received.at(-1)!.headers.filter((_, i) => i % 2 === 0).map((x) => x.toLowerCase());
    assert.ok(!seen.includes('x-user-id'), seen.join(' '));
    // The other Gateway has no early rules: a client's x-user-id passes there.
    const res = await request({ port: h.port, path: '/get', headers: { host: 'www.example.com', 'x-user-id': 'admin' } });
    assert.equal(res.status, 200);
    assert.ok(h.echo.received.at(-1)!.headers.some((x) => x.toLowerCase() === 'x-user-id'));
    const problems = h.gateway.snapshot.problems;
    assert.deepEqual(problems.filter((p) => p.resource === 'HTTPListenerPolicy/kgateway-system/strip'), []);
    assert.deepEqual(problems.filter((p) => p.resource === 'Gateway/kgateway-system/ops' && p.severity === 'error'), []);
    const tuning = problems.filter((p) => p.resource === 'ListenerPolicy/kgateway-system/tuning');
    assert.deepEqual(tuning.map((p) => [p.severity, p.path]), [['warning', 'spec.default.perConnectionBufferLimitBytes'], ['warning', 'spec.default.httpSettings.idleTimeout']]);
  } finally {
    await h.close();
  }
});

test('tls on an HTTP listener: the API server refuses the Gateway, so it is not served (it was served as plain HTTP)', async () => {
  const tlsGateway = (echoPort: number) =>
    sampleApp(echoPort).replace('allowedRoutes: { namespaces: { from: All } } }', 'allowedRoutes: { namespaces: { from: All } }, tls: { certificateRefs: [{ name: cert }] } }') + OTHER_GATEWAY;
  await withSecondGateway(tlsGateway, async (gateway) => {
    assert.throws(() => gateway.port(8080), /no listener on port 8080/);
    const gw = gateway.snapshot.problems.find((p) => p.resource === 'Gateway/kgateway-system/http');
    assert.equal(gw?.severity, 'error');
    assert.equal(gw?.path, 'spec.listeners[0].tls');
  });
});

// Also: tls on an HTTP listener, which the API server refuses (the Gateway is not served).
// A kgateway ListenerPolicy / HTTPListenerPolicy that can deny a connection (`rbac`) or strip a
// header before routing (`earlyRequestHeaderModifier`) leaves the Gateways it targets unserved:
// jwtgate applies neither, and serving the Gateway would let every client through with the
// header kgateway removes. Tuning fields (timeouts, buffer limits, ...) stay warnings.
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

test('a ListenerPolicy with rbac on the Gateway: its port is not served (not 200 for every client)', async () => {
  // The sample Gateway on 8080 is refused; a second Gateway keeps the harness up.
  await withSecondGateway((echoPort) => sampleApp(echoPort) + OTHER_GATEWAY + '---\n' + rbacPolicy('http'), async (gateway) => {
    assert.throws(() => gateway.port(8080), /no listener on port 8080/);
    const gw = gateway.snapshot.problems.find((p) => p.resource === 'Gateway/kgateway-system/http');
    assert.equal(gw?.severity, 'error');
    assert.match(gw?.message ?? '', /ListenerPolicy kgateway-system\/corp-only sets spec\.default\.rbac, which jwtgate does not apply: the Gateway is not served/);
  });
});

test('an HTTPListenerPolicy removing an identity header early: its Gateway is not served, another Gateway still is; tuning fields are warnings', async () => {
  const ops = `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ops, namespace: kgateway-system }
spec:
  gatewayClassName: kgateway
  listeners:
  - { name: http, protocol: HTTP, port: 8081, hostname: ops.example.com, allowedRoutes: { namespaces: { from: All } } }
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
    assert.throws(() => h.gateway.port(8081), /no listener on port 8081/);
    const res = await request({ port: h.port, path: '/get', headers: { host: 'www.example.com' } });
    assert.equal(res.status, 200);
    const problems = h.gateway.snapshot.problems;
    const strip = problems.find((p) => p.resource === 'HTTPListenerPolicy/kgateway-system/strip');
    assert.equal(strip?.severity, 'error');
    assert.equal(strip?.path, 'spec.earlyRequestHeaderModifier');
    const gw = problems.find((p) => p.resource === 'Gateway/kgateway-system/ops');
    assert.match(gw?.message ?? '', /HTTPListenerPolicy kgateway-system\/strip sets spec\.earlyRequestHeaderModifier, which jwtgate does not apply: the Gateway is not served/);
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

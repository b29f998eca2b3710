// Route timeouts end to end, as kgateway sets the Envoy route's `timeout` and `idle_timeout`:
// an HTTPRoute rule's Gateway API `timeouts` (backendRequest, when set, else request; 0s turns it
// off) win over a TrafficPolicy's `timeouts.request`; a listener's or Gateway's policy fills in
// for routes that set none; `timeouts.streamIdle`, when shorter, answers `504 stream timeout`.
// The upstream is the real echo server's /delay/:ms; the gateway's own default here is 2 s. undici
// checks these timers about every 0.5 s, so one fires up to ~1 s late: each delay below is over
// the timeout it should meet by more than that, and under the one it should not by as much. The
// requests run at once (in `before`), the tests read their answers.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { hostRoute, portSharingGateway, startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { configDumpText } from '../../src/config/dump.js';

let h: Harness;
const get = (host: string, path: string) => request({ port: h.port, path, headers: { host } });
const metric = (result: string) => Number(h.gateway.renderMetrics().match(new RegExp(`jwtgate_requests_total\\{result="${result}"\\} (\\d+)`))?.[1] ?? NaN);

/** Requests made at once: host and path. */
const CASES: Record<string, [string, string]> = {
  default: ['www.example.com', '/delay/3500'],
  defaultFast: ['www.example.com', '/delay/100'],
  rule: ['rule.example.com', '/delay/1800'],
  ruleFast: ['rule.example.com', '/delay/20'],
  backend: ['backend.example.com', '/delay/1800'],
  off: ['off.example.com', '/delay/3500'],
  zeroBackend: ['zero-backend.example.com', '/delay/1800'],
  idleOnly: ['idle-only.example.com', '/delay/1800'],
  policy: ['policy.example.com', '/delay/1800'],
  both: ['both.example.com', '/delay/1800'],
  idle: ['idle.example.com', '/delay/1800'],
  idleFast: ['idle.example.com', '/delay/20'],
  slowDefault: ['a.slow.example.com', '/delay/3500'],
  slowOwn: ['b.slow.example.com', '/delay/1800'],
};
const res = new Map<string, Awaited<ReturnType<typeof get>>>();
let idleTimeouts = NaN;
const status = (n: string) => res.get(n)!.status;

const route = (name: string, host: string, extra = '', gateway = 'http') => hostRoute(name, host, extra, 'httpbin', gateway);

const policy = (name: string, kind: string, target: string, timeouts: string, ns = 'httpbin') => `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name}, namespace: ${ns} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: ${kind}, name: ${target} }]
  timeouts: ${timeouts}
`;

before(async () => {
  h = await startHarness({
    gateway: { upstreamTimeoutMs: 2000 },
    manifests: [
      route('rule-request', 'rule.example.com', '    timeouts: { request: 300ms }\n') +
        route('rule-backend', 'backend.example.com', '    timeouts: { request: 10s, backendRequest: 300ms }\n') +
        route('rule-off', 'off.example.com', '    timeouts: { request: 0s }\n') +
        // request 0s (none) takes any backendRequest (the CRD's rule only bounds a non-zero request).
        route('rule-zero-backend', 'zero-backend.example.com', '    timeouts: { request: 0s, backendRequest: 300ms }\n') +
        // No route timeout at all: the stream idle timeout is the only bound.
        route('idle-only', 'idle-only.example.com', '    timeouts: { request: 0s }\n') +
        policy('idle-only', 'HTTPRoute', 'idle-only', '{ streamIdle: 300ms }') +
        route('policy', 'policy.example.com') +
        policy('policy', 'HTTPRoute', 'policy', '{ request: 300ms }') +
        route('both', 'both.example.com', '    timeouts: { request: 5s }\n') +
        policy('both', 'HTTPRoute', 'both', '{ request: 300ms }') +
        route('idle', 'idle.example.com') +
        policy('idle', 'HTTPRoute', 'idle', '{ request: 5s, streamIdle: 300ms }') +
        // A second Gateway on the same port, with a Gateway policy: the default of its routes.
        portSharingGateway('slow', 'http', '*.slow.example.com') +
        policy('slow-gateway', 'Gateway', 'slow', '{ request: 5s }', 'kgateway-system') +
        route('slow-default', 'a.slow.example.com', '', 'slow') +
        route('slow-own', 'b.slow.example.com', '', 'slow') +
        policy('slow-own', 'HTTPRoute', 'slow-own', '{ request: 300ms }'),
    ],
  });
  const before0 = metric('STREAM_IDLE_TIMEOUT');
  const names = Object.keys(CASES);
  const answers = await Promise.all(names.map((n) => get(CASES[n]![0], CASES[n]![1])));
  names.forEach((n, i) => res.set(n, answers[i]!));
  idleTimeouts = metric('STREAM_IDLE_TIMEOUT') - before0;
});
after(() => h.close());


test('without a route timeout the gateway default applies (2 s here): 504 upstream request timeout', () => {
  assert.equal(status('default'), 504);
  assert.equal(res.get('default')!.body, 'upstream request timeout');
  assert.equal(status('defaultFast'), 200);
});

test('an HTTPRoute rule timeouts.request: its own (300 ms), not the default; a faster answer passes', () => {
  assert.equal(status('rule'), 504);
  assert.equal(res.get('rule')!.body, 'upstream request timeout');
  assert.equal(status('ruleFast'), 200);
});

test('backendRequest is the route timeout when set (kgateway: the more specific); request 0s turns the timeout off', () => {
  assert.equal(status('backend'), 504);
  assert.equal(status('zeroBackend'), 504);
  // Over the gateway's 2 s default, no timeout at all.
  assert.equal(status('off'), 200);
  assert.match(res.get('off')!.body, /"delayMs": *3500/);
});

test("a TrafficPolicy timeouts.request sets the route timeout; the HTTPRoute rule's own wins over it", () => {
  assert.equal(status('policy'), 504);
  // The rule's 5 s over the policy's 300 ms.
  assert.equal(status('both'), 200);
});

test('timeouts.streamIdle shorter than the route timeout: 504 stream timeout, counted as STREAM_IDLE_TIMEOUT', () => {
  assert.equal(status('idle'), 504);
  assert.equal(res.get('idle')!.body, 'stream timeout');
  // With the route timeout off (0s), the stream idle timeout still applies.
  assert.equal(status('idleOnly'), 504);
  assert.equal(res.get('idleOnly')!.body, 'stream timeout');
  assert.equal(idleTimeouts, 2);
  assert.equal(status('idleFast'), 200);
});

test("a Gateway policy's timeouts.request is the default of its routes (5 s over the gateway's 2 s); a route's own policy wins", () => {
  assert.equal(status('slowDefault'), 200);
  assert.equal(status('slowOwn'), 504);
});

test("config_dump shows each route's timeouts and where they come from", () => {
  const dump = JSON.parse(configDumpText(h.gateway.snapshot)) as { listeners: { routeDefs: Record<string, { route: string; timeouts?: Record<string, unknown> }> }[] };
  const defs = dump.listeners.flatMap((l) => Object.values(l.routeDefs));
  const of = (name: string) => defs.find((d) => d.route === `httpbin/${name}`)?.timeouts;
  assert.deepEqual(of('rule-backend'), { requestMs: 300, from: ['HTTPRoute timeouts'] });
  assert.deepEqual(of('rule-off'), { requestMs: 0, from: ['HTTPRoute timeouts'] });
  // The policy's request lost to the rule's own: not a source, and reported Overridden (kgateway: overridden by the built-in policy).
  assert.deepEqual(of('both'), { requestMs: 5000, from: ['HTTPRoute timeouts'] });
  const both = h.gateway.snapshot.statuses.find((x) => x.resource === 'TrafficPolicy/httpbin/both');
  assert.equal(both?.conditions.find((c) => c.type === 'Attached')?.reason, 'Overridden');
  assert.deepEqual(of('idle'), { requestMs: 5000, streamIdleMs: 300, from: ['TrafficPolicy/httpbin/idle@HTTPRoute'] });
  assert.deepEqual(of('slow-default'), { requestMs: 5000, from: ['TrafficPolicy/kgateway-system/slow-gateway@Gateway'] });
  assert.equal(of('httpbin'), undefined);
});

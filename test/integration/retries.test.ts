// Retries end to end, from the manifests a kgateway user has: an HTTPRoute rule's Gateway API
// `retry` (kgateway's fixed retry_on, `codes`, `attempts`, `backoff`) and a TrafficPolicy's
// `retry` (`retryOn`, `statusCodes`, `attempts`, `backoffBaseInterval`), the rule's own over a
// policy's, a listener's policy for routes without one, a refused connection retried on the next
// endpoint, a body replayed, and what /metrics and /config_dump say. The upstream is a real HTTP
// server whose `/flaky/<key>` answers 503 to its first request for each key and 200 after.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { hostRoute, portSharingGateway, startHarness, staticBackend, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { configDumpText } from '../../src/config/dump.js';
import { createLogger } from '../../src/observability/log.js';

let h: Harness;
let up: http.Server;
let upPort: number;
let dead: number;
const logLines: string[] = [];
/** The access-log line of the request to `path`, once written. */
async function logged(path: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 100; i++) {
    const e = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((x) => x['msg'] === 'request' && x['path'] === path);
    if (e) return e;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no access-log line for ${path}`);
}
/** Requests the upstream received, by path, with their bodies. */
const received: { path: string; body: string }[] = [];
const seen = (path: string) => received.filter((r) => r.path === path).length;
const flaky = new Map<string, number>();
const retries = (event: string) => Number(h.gateway.renderMetrics().match(new RegExp(`jwtgate_upstream_retries_total\\{event="${event}"\\} (\\d+)`))?.[1] ?? NaN);

const get = (host: string, path: string) => request({ port: h.port, path, headers: { host } });

const route = (name: string, host: string, extra = '', backend = 'scripted', gateway = 'http') => hostRoute(name, host, extra, backend, gateway);

const policy = (name: string, targetRef: string, retry: string, ns = 'httpbin') => `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name}, namespace: ${ns} }
spec:
  targetRefs: [${targetRef}]
  retry: ${retry}
`;

before(async () => {
  up = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, body: Buffer.concat(chunks).toString() });
      const always = /^\/always\/(\d{3})$/.exec(path);
      let status = 200;
      if (always) status = Number(always[1]);
      else if (path.startsWith('/flaky/')) {
        const n = (flaky.get(path) ?? 0) + 1;
        flaky.set(path, n);
        if (n === 1) status = 503;
      }
      const body = `${status} for ${path} (${seen(path)})`;
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  upPort = (up.address() as AddressInfo).port;
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  dead = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  const routeRef = (name: string) => `{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${name} }`;
  h = await startHarness({
    gateway: { accessLog: true, logger: createLogger('info', (l) => logLines.push(l)) },
    manifests: [
      staticBackend('scripted', [upPort]) +
        staticBackend('pair', [dead, upPort]) +
        route('rule-retry', 'rule.example.com', '    retry: { attempts: 2, codes: [503], backoff: 10ms }\n') +
        route('plain', 'plain.example.com') +
        // backendRequest alone: the route timeout and, with the retry, the per-try timeout (kgateway's applyTimeouts).
        route('br-only', 'br-only.example.com', '    retry: { attempts: 1 }\n    timeouts: { backendRequest: 2s }\n') +
        route('tp-retry', 'tp.example.com') +
        policy('tp-retry', routeRef('tp-retry'), '{ retryOn: [5xx], attempts: 1, backoffBaseInterval: 10ms }') +
        // The rule's own retry (codes 502 only; kgateway's retry_on has no 5xx) wins over the policy's.
        route('both', 'both.example.com', '    retry: { attempts: 1, codes: [502] }\n') +
        policy('both', routeRef('both'), '{ retryOn: [5xx], attempts: 3 }') +
        // kgateway's retry_on for an HTTPRoute retry covers a refused connection.
        route('pair', 'pair.example.com', '    retry: { attempts: 1 }\n', 'pair') +
        // A listener's policy (its virtual host) for the routes of a second Gateway on the port.
        portSharingGateway('edge', 'edge', '*.edge.example.com') +
        policy('edge', '{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: edge }', '{ retryOn: [gateway-error], attempts: 1, backoffBaseInterval: 10ms }', 'kgateway-system') +
        route('edge-default', 'a.edge.example.com', '', 'scripted', 'edge') +
        route('edge-own', 'b.edge.example.com', '', 'scripted', 'edge') +
        policy('edge-own', routeRef('edge-own'), '{ retryOn: [retriable-4xx], attempts: 1 }'),
    ],
  });
});

after(async () => {
  await h?.close();
  await new Promise<void>((r) => up.close(() => r()));
});

test("an HTTPRoute rule's retry: a 503 in its codes is retried and the client gets the next answer", async () => {
  const before0 = retries('retry');
  const r = await get('rule.example.com', '/flaky/rule');
  assert.equal(r.status, 200);
  assert.equal(r.body, '200 for /flaky/rule (2)');
  assert.equal(seen('/flaky/rule'), 2);
  assert.equal(retries('retry') - before0, 1);
  const line = await logged('/flaky/rule');
  assert.equal(line['attempts'], 2);
  assert.equal(line['endpoint'], `127.0.0.1:${upPort}`);
  // Codes it does not name are not: kgateway's retry_on for the rule has no 5xx.
  const s = await get('rule.example.com', '/always/500');
  assert.equal(s.status, 500);
  assert.equal(seen('/always/500'), 1);
});

test('a route without a retry policy is not retried', async () => {
  const r = await get('plain.example.com', '/flaky/plain');
  assert.equal(r.status, 503);
  assert.equal(r.body, '503 for /flaky/plain (1)');
  assert.equal(seen('/flaky/plain'), 1);
  assert.equal((await logged('/flaky/plain'))['attempts'], undefined);
});

test("a TrafficPolicy's retry: 5xx retried once, then the last answer goes to the client", async () => {
  assert.equal((await get('tp.example.com', '/flaky/tp')).status, 200);
  const exceeded = retries('limit_exceeded');
  const r = await get('tp.example.com', '/always/502');
  assert.equal(r.status, 502);
  assert.equal(r.body, '502 for /always/502 (2)');
  assert.equal(seen('/always/502'), 2);
  assert.equal(retries('limit_exceeded') - exceeded, 1);
});

test("the rule's own retry wins over a TrafficPolicy's on its route", async () => {
  const r = await get('both.example.com', '/always/504');
  assert.equal(r.status, 504);
  assert.equal(seen('/always/504'), 1);
  const st = h.gateway.snapshot.statuses.find((x) => x.resource === 'TrafficPolicy/httpbin/both');
  assert.equal(st?.conditions.find((c) => c.type === 'Attached')?.reason, 'Overridden');
});

test('a refused connection is retried on the next endpoint of the Backend', async () => {
  const before0 = retries('retry');
  const a = await get('pair.example.com', '/pair/1');
  const b = await get('pair.example.com', '/pair/2');
  assert.deepEqual([a.status, b.status], [200, 200]);
  // Round robin over [refusing, live]: each request's first pick is the refusing endpoint, its
  // retry's the live one (the retry's pick moves the rotation on, as Envoy's load balancer's).
  assert.equal(retries('retry') - before0, 2);
  assert.equal(seen('/pair/1') + seen('/pair/2'), 2);
});

test("a listener's TrafficPolicy retries the routes without their own; a route's own policy replaces it", async () => {
  assert.equal((await get('a.edge.example.com', '/flaky/edge-a')).status, 200);
  assert.equal(seen('/flaky/edge-a'), 2);
  // The route's policy (retriable-4xx only) replaces the listener's whole: the 503 goes out.
  assert.equal((await get('b.edge.example.com', '/flaky/edge-b')).status, 503);
  assert.equal(seen('/flaky/edge-b'), 1);
});

test('a request body is sent again, whole, with the retry', async () => {
  const body = JSON.stringify({ order: 42, items: Array.from({ length: 500 }, (_, i) => `item-${i}`) });
  const r = await request({ port: h.port, method: 'POST', path: '/flaky/post', headers: { host: 'rule.example.com', 'content-type': 'application/json' }, body });
  assert.equal(r.status, 200);
  const got = received.filter((x) => x.path === '/flaky/post');
  assert.equal(got.length, 2);
  assert.deepEqual(got.map((x) => x.body), [body, body]);
});

test("config_dump shows a route's retry policy as Envoy's, and where it comes from", () => {
  const dump = JSON.parse(configDumpText(h.gateway.snapshot)) as { listeners: { routeDefs: Record<string, { route: string; retry?: Record<string, unknown> }> }[] };
  const defs = dump.listeners.flatMap((l) => Object.values(l.routeDefs));
  const of = (name: string) => defs.find((d) => d.route === `httpbin/${name}`)?.retry;
  assert.deepEqual(of('rule-retry'), {
    retryOn: 'cancelled,connect-failure,refused-stream,retriable-headers,retriable-status-codes,unavailable',
    numRetries: 2,
    retriableStatusCodes: [503],
    backoff: { baseIntervalMs: 10, maxIntervalMs: 100 },
    from: 'HTTPRoute retry',
  });
  assert.equal(of('tp-retry')?.['retryOn'], '5xx');
  assert.equal(of('tp-retry')?.['from'], 'TrafficPolicy/httpbin/tp-retry@HTTPRoute');
  assert.equal(of('edge-default')?.['from'], 'TrafficPolicy/kgateway-system/edge@Listener');
  assert.equal(of('plain'), undefined);
  assert.equal(of('br-only')?.['perTryTimeoutMs'], 2000);
  const br = defs.find((d) => d.route === 'httpbin/br-only') as { timeouts?: Record<string, unknown> } | undefined;
  assert.deepEqual(br?.timeouts, { requestMs: 2000, from: ['HTTPRoute timeouts'] });
});

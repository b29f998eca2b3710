// TrafficPolicy `autoHostRewrite` end to end: Envoy's auto_host_rewrite sends, on each upstream
// attempt, the Host of the endpoint it goes to (a kgateway Backend's static host as written, no
// port); the rule's URLRewrite hostname wins; a more specific `false` keeps it off; a Service's
// endpoints (no host name in kgateway's EDS) leave the client's Host alone.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { hostRoute, lastReceived, routePolicy, sampleApp, startHarness, type Harness, ruleOverrideRoute } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { configDumpText } from '../../src/config/dump.js';
import { Forwarder } from '../../src/proxy/forwarder.js';
import { FakeExchange, gatewayRequest } from '../helpers/fake-exchange.js';
import { startEchoUpstream } from '../../src/upstream/echo.js';

let h: Harness;
let closedPort = 0;
let shadow: http.Server;
const shadowHosts: (string | undefined)[] = [];

/** A port nothing listens on (bound, then closed). */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const backend = (name: string, hosts: string) => `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: ${name}, namespace: httpbin }
spec:
  type: Static
  static: { hosts: [${hosts}] }
`;

before(async () => {
  closedPort = await freePort();
  shadow = http.createServer((req, res) => {
    shadowHosts.push(req.headers.host);
    req.resume();
    req.on('end', () => res.writeHead(200).end());
  });
  await new Promise<void>((r) => shadow.listen(0, '127.0.0.1', r));
  const shadowPort = (shadow.address() as net.AddressInfo).port;
  h = await startHarness({
    base: (p) =>
      sampleApp(p) +
      backend('by-name', `{ host: localhost, port: ${p} }`) +
      // The first host refuses connections: a retry goes to the second, with its own Host.
      backend('two-hosts', `{ host: localhost, port: ${closedPort} }, { host: 127.0.0.1, port: ${p} }`) +
      backend('shadow', `{ host: 127.0.0.1, port: ${shadowPort} }`),
    manifests: [
      hostRoute('auto', 'auto.example.com', '', 'by-name') +
        routePolicy('auto', 'auto', '  autoHostRewrite: true') +
        // The rule's URLRewrite hostname wins (kgateway leaves auto_host_rewrite off there).
        hostRoute('literal', 'literal.example.com', '    filters: [{ type: URLRewrite, urlRewrite: { hostname: literal.internal } }]\n', 'by-name') +
        routePolicy('literal-auto', 'literal', '  autoHostRewrite: true') +
        // A rule-level false (an ExtensionRef policy) beats the route's true.
        ruleOverrideRoute('levels', 'levels.example.com', '/off', 'no-auto-host', 'autoHostRewrite: false', 'by-name') +
        routePolicy('levels', 'levels', '  autoHostRewrite: true') +
        hostRoute('retried', 'retried.example.com', '', 'two-hosts') +
        routePolicy('retried', 'retried', '  autoHostRewrite: true\n  retry: { retryOn: [connect-failure], attempts: 1, backoffBaseInterval: 10ms }') +
        // A mirrored rule: the shadow is made from the request's own Host.
        hostRoute('mirrored', 'mirrored.example.com', '    filters: [{ type: RequestMirror, requestMirror: { backendRef: { group: gateway.kgateway.dev, kind: Backend, name: shadow } } }]\n', 'by-name') +
        routePolicy('mirrored', 'mirrored', '  autoHostRewrite: true'),
    ],
  });
});
after(async () => {
  await h?.close();
  await new Promise<void>((r) => shadow.close(() => r()));
});

const get = (host: string, p = '/headers') => request({ port: h.port, path: p, headers: { host } });
const retries = () => Number(h.gateway.renderMetrics().match(/jwtgate_upstream_retries_total\{event="retry"\} (\d+)/)?.[1] ?? 0);

test("the upstream gets the Backend host's name as Host (no port), and no x-forwarded-host", async () => {
  const r = await get('auto.example.com:8080');
  assert.equal(r.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'host'), ['localhost']);
  assert.deepEqual(lastReceived(h.echo, 'x-forwarded-host'), []);
});

test("the rule's URLRewrite hostname wins, and check says the policy is not applied there", async () => {
  await get('literal.example.com');
  assert.deepEqual(lastReceived(h.echo, 'host'), ['literal.internal']);
  const w = h.gateway.snapshot.problems.filter((p) => p.resource === 'HTTPRoute/httpbin/literal' && p.severity === 'warning');
  assert.deepEqual(
    w.map((p) => `${p.path}: ${p.message}`),
    ["spec.rules[0].filters: this rule's URLRewrite filter sets the hostname, so the autoHostRewrite of TrafficPolicy/httpbin/literal-auto is not applied to it (kgateway keeps the filter's hostname)"],
  );
});

test('a more specific autoHostRewrite: false keeps the client\'s Host', async () => {
  await get('levels.example.com', '/off/x');
  assert.deepEqual(lastReceived(h.echo, 'host'), ['levels.example.com']);
  await get('levels.example.com', '/on');
  assert.deepEqual(lastReceived(h.echo, 'host'), ['localhost']);
});

test('each attempt carries its own endpoint\'s Host: a retry after a refused connection to "localhost" arrives as 127.0.0.1', async () => {
  const before = retries();
  for (let i = 0; i < 4; i++) {
    const r = await get('retried.example.com');
    assert.equal(r.status, 200);
    assert.deepEqual(lastReceived(h.echo, 'host'), ['127.0.0.1']);
  }
  assert.ok(retries() - before >= 1, 'no request was retried: the refused host was never tried');
});

test("a mirror's Host is the request's own with -shadow, not the rewritten one (Envoy copies the shadow's headers before the upstream request rewrites the Host)", async () => {
  const n = shadowHosts.length;
  const r = await get('mirrored.example.com:8080');
  assert.equal(r.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'host'), ['localhost']);
  for (let i = 0; i < 200 && shadowHosts.length === n; i++) await new Promise((res) => setTimeout(res, 10));
  assert.deepEqual(shadowHosts.slice(n), ['mirrored.example.com-shadow:8080']);
});

test('/config_dump shows the routes that rewrite the Host and the policy they take it from', () => {
  const dump = JSON.parse(configDumpText(h.gateway.snapshot)) as { listeners: { routeDefs: Record<string, { autoHostRewrite?: unknown }> }[] };
  const defs = Object.assign({}, ...dump.listeners.map((l) => l.routeDefs)) as Record<string, { autoHostRewrite?: unknown }>;
  assert.deepEqual(defs['httpbin/auto/0/0']!.autoHostRewrite, { from: 'TrafficPolicy/httpbin/auto@HTTPRoute' });
  assert.equal(defs['httpbin/literal/0/0']!.autoHostRewrite, undefined);
  assert.equal(defs['httpbin/levels/0/0']!.autoHostRewrite, undefined);
  assert.deepEqual(defs['httpbin/levels/1/0']!.autoHostRewrite, { from: 'TrafficPolicy/httpbin/levels@HTTPRoute' });
});

test("a Service's endpoints have no host name in kgateway's EDS: the client's Host goes as it is", async () => {
  const echo = await startEchoUpstream({ port: 0 });
  const fwd = new Forwarder({});
  try {
    for (const [key, host] of [['Service/httpbin/httpbin:8000', 'www.example.com:8080'], ['Backend/httpbin/x', '127.0.0.1']] as const) {
      const fx = new FakeExchange();
      fwd.forward(gatewayRequest({ path: '/headers' }), { key, endpoints: [{ host: '127.0.0.1', port: echo.port }] }, fx, undefined, undefined, { autoHostRewrite: true });
      await fx.finished();
      assert.equal(fx.status, 200, key);
      const rec = echo.received.at(-1)!;
      assert.equal(rec.headers[rec.headers.findIndex((n, i) => i % 2 === 0 && n.toLowerCase() === 'host') + 1], host, key);
    }
  } finally {
    await fwd.close();
    await echo.close();
  }
});

// Envoy command operators in header rule values, end to end through a real gateway to the real
// echo upstream: the kgateway docs' "Dynamic request headers" (x-client-ip from
// %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%) and "Dynamic response headers" (x-response-code from
// %RESPONSE_CODE%) examples, on an HTTPRoute filter and on a TrafficPolicy; %REQ% reading a claim
// header the JWT filter set; an empty value leaving the client's field alone; a ListenerPolicy's
// early rules reading the request before routing; the gateway's own 401 getting its status.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { filteredRoute, jwtExtension, lastReceived, routePolicy, startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { mint, rsaKeys } from '../helpers/tokens.js';
import { configDumpText } from '../../src/config/dump.js';

const keys = rsaKeys('fmt');
let h: Harness;

const token = (claims: Record<string, unknown>) =>
  mint({ alg: 'RS256', key: keys.privateKey, kid: 'fmt', payload: { iss: 'https://idp.example.com', exp: Math.floor(Date.now() / 1000) + 600, ...claims } });

const policy = routePolicy;

before(async () => {
  h = await startHarness({
    manifests: [
      jwtExtension('jwt', 'httpbin', keys.jwks, { providerLines: '      claimsToHeaders: [{ name: team, header: x-team }]\n' }) +
        // The docs' examples on HTTPRoute filters.
        filteredRoute(
          'docs-route',
          '/anything/docs-route',
          `[{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-client-ip, value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" }] } },
            { type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: x-response-code, value: "%RESPONSE_CODE%" }] } }]`,
        ) +
        // The same on a TrafficPolicy (Envoy's header_mutation filter), with the JWT check.
        filteredRoute('docs-policy', '/anything/docs-policy', '[]') +
        policy(
          'docs-policy',
          'docs-policy',
          `  jwtAuth:
    extensionRef: { name: jwt }
  headerModifiers:
    request:
      set: [{ name: x-client-ip, value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" }]
    response:
      set: [{ name: x-response-code, value: "%RESPONSE_CODE%" }, { name: x-rid, value: "%REQ(x-request-id)%" }]
`,
        ) +
        // %REQ% after the JWT filter (the claim header), the request line, an empty value, time and ids.
        filteredRoute(
          'req',
          '/anything/req',
          `[{ type: RequestHeaderModifier, requestHeaderModifier: {
              set: [{ name: x-who, value: "team=%REQ(x-team)% via %REQ(:method)% %REQ(:path)%" }, { name: x-keep, value: "%REQ(x-missing)%" }, { name: x-started, value: "%START_TIME(%s)%" }],
              add: [{ name: x-id, value: "%UNIQUE_ID%" }, { name: x-literal, value: "100%% %PROTOCOL%" }] } },
            { type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-echo-type, value: "%RESP(content-type):16%|%REQ(x-team)%" }] } }]`,
        ) +
        policy('req', 'req', '  jwtAuth:\n    extensionRef: { name: jwt }\n') +
        `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: ListenerPolicy
metadata: { name: early, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http }]
  default:
    httpSettings:
      earlyRequestHeaderModifier:
        set: [{ name: x-first-path, value: "%REQ(:path)%" }]
`,
    ],
  });
});

after(async () => {
  await h?.close();
});

test('the kgateway docs\' dynamic header examples on HTTPRoute filters: x-client-ip is the client\'s address at the upstream, x-response-code the status at the client', async () => {
  const res = await request({ port: h.port, path: '/anything/docs-route', headers: { host: 'www.example.com', 'x-client-ip': '6.6.6.6' } });
  assert.equal(res.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'x-client-ip'), ['127.0.0.1']);
  assert.equal(res.headers['x-response-code'], '200');
});

test('the same examples on a TrafficPolicy: the upstream gets the address, and the gateway\'s own 401 gets x-response-code: 401', async () => {
  const jwt = token({ team: 'dev' });
  const ok = await request({ port: h.port, path: '/anything/docs-policy', headers: { host: 'www.example.com', authorization: `Bearer ${jwt}` } });
  assert.equal(ok.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'x-client-ip'), ['127.0.0.1']);
  assert.equal(ok.headers['x-response-code'], '200');
  const n = h.echo.received.length;
  const denied = await request({ port: h.port, path: '/anything/docs-policy', headers: { host: 'www.example.com' } });
  assert.equal(denied.status, 401);
  assert.equal(denied.body, 'Jwt is missing');
  assert.equal(denied.headers['x-response-code'], '401');
  assert.equal(h.echo.received.length, n);
  // %REQ% in a response rule reads the request as Envoy's connection manager left it: on the
  // upstream's answer the x-request-id sent, on the gateway's own 401 a new one, never the client's.
  assert.deepEqual([ok.headers['x-rid']], lastReceivedFrom(n - 1, 'x-request-id'));
  const own = await request({ port: h.port, path: '/anything/docs-policy', headers: { host: 'www.example.com', 'x-request-id': 'client-id' } });
  assert.equal(own.status, 401);
  assert.match(String(own.headers['x-rid']), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

function lastReceivedFrom(index: number, name: string): string[] {
  const r = h.echo.received[index]!;
  const out: string[] = [];
  for (let i = 0; i < r.headers.length; i += 2) if (r.headers[i]!.toLowerCase() === name) out.push(r.headers[i + 1]!);
  return out;
}

test('%REQ% sees the request as the router does (the JWT filter\'s claim header, the path before any rewrite); an empty value leaves the client\'s field; %RESP% and %REQ% in a response rule', async () => {
  const jwt = token({ team: 'dev' });
  const before = Math.floor(Date.now() / 1000);
  const res = await request({ port: h.port, path: '/anything/req?q=1', method: 'GET', headers: { host: 'www.example.com', authorization: `Bearer ${jwt}`, 'x-keep': 'from-client' } });
  assert.equal(res.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'x-who'), ['team=dev via GET /anything/req?q=1']);
  assert.deepEqual(lastReceived(h.echo, 'x-keep'), ['from-client']);
  assert.deepEqual(lastReceived(h.echo, 'x-literal'), ['100% HTTP/1.1']);
  const started = Number(lastReceived(h.echo, 'x-started')[0]);
  assert.ok(started >= before && started <= Math.floor(Date.now() / 1000), String(started));
  const id = lastReceived(h.echo, 'x-id')[0]!;
  assert.match(id, /^[0-9a-f-]{36}$/);
  // The ListenerPolicy's early rule read the path before routing.
  assert.deepEqual(lastReceived(h.echo, 'x-first-path'), ['/anything/req?q=1']);
  assert.equal(res.headers['x-echo-type'], 'application/json|dev');
  await request({ port: h.port, path: '/anything/req', headers: { host: 'www.example.com', authorization: `Bearer ${jwt}` } });
  assert.notEqual(lastReceived(h.echo, 'x-id')[0], id, 'a new id per request');
});

test('/config_dump marks the rules with command operators (values still left out), and the configuration has no errors', () => {
  const text = configDumpText(h.gateway.snapshot);
  assert.match(text, /"set x-client-ip \(formatted\)"/);
  assert.match(text, /"set x-first-path \(formatted\)"/);
  assert.match(text, /"add x-literal"/, 'a value whose operators are fixed at load is literal text');
  assert.equal(h.gateway.snapshot.problems.filter((p) => p.severity === 'error').length, 0);
});

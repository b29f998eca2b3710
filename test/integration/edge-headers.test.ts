// Envoy's connection manager sets x-forwarded-for/-proto and x-request-id, and removes the
// x-envoy-* fields of an external request, x-forwarded-client-cert and an invalid or repeated
// referer, and reduces TE to `trailers` or nothing, before it picks a route
// (ConnectionManagerUtility::mutateRequestHeaders). A route that matches on one of them sees
// Envoy's values: a client cannot forge them to reach a rule whose JWT check is disabled.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { SAMPLE_GATEWAY, startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { mint, rsaKeys } from '../helpers/tokens.js';
import { nodeAddress } from '../../src/proxy/header-rules.js';

const keys = rsaKeys('edge');
// The element the gateway appends to x-forwarded-for for these loopback clients (as Envoy: its node address).
const NODE = nodeAddress();
const NODE_RE = NODE.replace(/\./g, '\\.');
let h: Harness;

const manifests = (echoPort: number) => `${SAMPLE_GATEWAY}---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: echo, namespace: kgateway-system }
spec: { type: Static, static: { hosts: [{ host: 127.0.0.1, port: ${echoPort} }] } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: kgateway-system }
spec:
  parentRefs: [{ name: http }]
  rules:
  - name: public
    matches:
    - { path: { type: PathPrefix, value: /anything/a }, headers: [{ name: x-envoy-internal, value: "true" }] }
    - { path: { type: PathPrefix, value: /anything/b }, headers: [{ name: x-forwarded-for, type: RegularExpression, value: '10\\.[0-9]+\\.[0-9]+\\.[0-9]+' }] }
    - { path: { type: PathPrefix, value: /anything/c }, headers: [{ name: x-forwarded-proto, value: https }] }
    - { path: { type: PathPrefix, value: /anything/d }, headers: [{ name: x-forwarded-client-cert, type: RegularExpression, value: '.*Hash=[0-9a-f]+.*' }] }
    - { path: { type: PathPrefix, value: /anything/e }, headers: [{ name: x-request-id, value: chosen }] }
    - { path: { type: PathPrefix, value: /anything/f }, headers: [{ name: x-forwarded-for, type: RegularExpression, value: '10\\.1\\.2\\.3,${NODE_RE}' }] }
    - { path: { type: PathPrefix, value: /anything/g }, headers: [{ name: x-forwarded-proto, value: http }] }
    - { path: { type: PathPrefix, value: /anything/h }, headers: [{ name: x-envoy-external-address, value: 127.0.0.1 }] }
    - { path: { type: PathPrefix, value: /anything/i }, headers: [{ name: x-forwarded-for, type: RegularExpression, value: '(.*,)?10\\.0\\.[0-9]+\\.[0-9]+' }] }
    - { path: { type: PathPrefix, value: /anything/l }, headers: [{ name: x-forwarded-for, type: RegularExpression, value: '(.*,)?${NODE_RE}' }] }
    - { path: { type: PathPrefix, value: /anything/r }, headers: [{ name: referer, type: RegularExpression, value: '.*(#| ).*' }] }
    - { path: { type: PathPrefix, value: /anything/s }, headers: [{ name: referer, value: 'https://app.example.com/' }] }
    - { path: { type: PathPrefix, value: /anything/t }, headers: [{ name: te, value: gzip }] }
    - { path: { type: PathPrefix, value: /anything/u }, headers: [{ name: te, value: trailers }] }
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: echo }]
  - name: rest
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: echo }]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: { name: jwt, namespace: kgateway-system }
spec:
  jwt:
    providers:
    - name: p
      issuer: edge-idp
      jwks: { local: { inline: '${JSON.stringify({ keys: [keys.jwk] })}' } }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: all, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http }]
  jwtAuth: { extensionRef: { name: jwt } }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: public, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: app, sectionName: public }]
  jwtAuth: { disable: {} }
`;

before(async () => {
  h = await startHarness({ base: manifests });
});
after(async () => {
  await h.close();
});

function upstreamHeaders(): Map<string, string[]> {
  const raw = h.echo.received.at(-1)!.headers;
  const out = new Map<string, string[]>();
  for (let i = 0; i < raw.length; i += 2) out.set(raw[i]!.toLowerCase(), [...(out.get(raw[i]!.toLowerCase()) ?? []), raw[i + 1]!]);
  return out;
}

test('forged x-envoy-internal, x-forwarded-for, x-forwarded-proto, x-forwarded-client-cert or x-request-id do not reach the public rule: the JWT check applies (401)', async () => {
  const n = h.echo.received.length;
  for (const [path, headers] of [
    ['/anything/a', { 'x-envoy-internal': 'true' }],
    ['/anything/b', { 'x-forwarded-for': '10.1.2.3' }],
    ['/anything/c', { 'x-forwarded-proto': 'https' }],
    ['/anything/d', { 'x-forwarded-client-cert': 'By=spiffe://x;Hash=ab12' }],
    ['/anything/e', { 'x-request-id': 'chosen' }],
    // The README's pattern for "clients in 10.0.0.0/16" (the element the gateway appends): forged elements before it do not match.
    ['/anything/i', { 'x-forwarded-for': '10.0.0.1' }],
    ['/anything/i', { 'x-forwarded-for': '1.1.1.1, 10.0.0.1' }],
  ] as const) {
    const res = await request({ port: h.port, path, headers });
    assert.equal(res.status, 401, `${path} ${JSON.stringify(headers)}`);
    assert.equal(res.body, 'Jwt is missing');
  }
  assert.equal(h.echo.received.length, n, 'nothing reached the upstream');
  // The same pattern for the real client's range matches it, whatever the client put before it.
  for (const headers of [{}, { 'x-forwarded-for': '10.0.0.1' }] as Record<string, string>[]) assert.equal((await request({ port: h.port, path: '/anything/l', headers })).status, 200, JSON.stringify(headers));
});

test('routes see Envoy\'s values: x-forwarded-for with the client address appended, x-forwarded-proto the scheme; the upstream gets the same values, x-forwarded-client-cert removed', async () => {
  const f = await request({ port: h.port, path: '/anything/f', headers: { 'x-forwarded-for': '10.1.2.3', 'x-forwarded-client-cert': 'Hash=ab', 'x-envoy-internal': 'true' } });
  assert.equal(f.status, 200, 'matched on the appended value');
  const up = upstreamHeaders();
  assert.deepEqual(up.get('x-forwarded-for'), [`10.1.2.3,${NODE}`]);
  assert.deepEqual(up.get('x-forwarded-proto'), ['http']);
  assert.equal(up.get('x-forwarded-client-cert'), undefined);
  assert.equal(up.get('x-envoy-internal'), undefined);
  assert.equal(up.get('x-request-id')?.length, 1);
  assert.match(up.get('x-request-id')![0]!, /^[0-9a-f-]{36}$/);
  assert.deepEqual(up.get('x-envoy-external-address'), ['127.0.0.1']);
  // x-envoy-external-address is the client address (Envoy sets it on edge requests), whatever the client sent.
  const ea = await request({ port: h.port, path: '/anything/h', headers: { 'x-envoy-external-address': '6.6.6.6' } });
  assert.equal(ea.status, 200);
  assert.deepEqual(upstreamHeaders().get('x-envoy-external-address'), ['127.0.0.1']);
  const g = await request({ port: h.port, path: '/anything/g', headers: { 'x-forwarded-proto': 'https' } });
  assert.equal(g.status, 200, 'x-forwarded-proto: http, whatever the client sent');
  assert.deepEqual(upstreamHeaders().get('x-forwarded-proto'), ['http']);
});

test('with a token, the rest of the port behaves as before: one x-forwarded-for, x-request-id and x-forwarded-proto upstream', async () => {
  const token = mint({ alg: 'RS256', key: keys.privateKey, kid: 'edge', payload: { iss: 'edge-idp', exp: Math.floor(Date.now() / 1000) + 600 } });
  const res = await request({ port: h.port, path: '/anything/z', headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': '1.1.1.1', 'x-request-id': 'mine', 'x-forwarded-client-cert': 'Hash=ab' } });
  assert.equal(res.status, 200);
  const up = upstreamHeaders();
  assert.deepEqual(up.get('x-forwarded-for'), [`1.1.1.1,${NODE}`]);
  assert.deepEqual(up.get('x-forwarded-proto'), ['http']);
  assert.equal(up.get('x-request-id')?.length, 1);
  assert.notEqual(up.get('x-request-id')![0], 'mine');
  assert.equal(up.get('x-forwarded-client-cert'), undefined);
  assert.equal(up.get('authorization'), undefined);
});

test('on a dual-stack listener (--host ::) the client address is written as Envoy writes it: an IPv4 client as 127.0.0.1, not v4-mapped; ::1 compressed', async () => {
  const { clientAddress } = await import('../../src/http/server.js');
  assert.equal(clientAddress('0000:0000:0000:0000:0000:ffff:7f00:0001'), '127.0.0.1');
  // Every byte of the mapped address, each of its two 16-bit groups split into two octets.
  assert.equal(clientAddress('0000:0000:0000:0000:0000:ffff:c0a8:fe0b'), '192.168.254.11');
  assert.equal(clientAddress('0000:0000:0000:0000:0000:FFFF:0A01:0203'), '10.1.2.3');
  assert.equal(clientAddress('0000:0000:0000:0000:0000:0000:0000:0001'), '::1');
  assert.equal(clientAddress('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  const dual = await startHarness({ gateway: { host: '::' } });
  try {
    const http = await import('node:http');
    for (const [address, expected] of [['127.0.0.1', '127.0.0.1'], ['::1', '::1']] as const) {
      const body = await new Promise<string>((resolve, reject) => {
        const r = http.request({ host: address, port: dual.port, path: '/headers', headers: { host: 'www.example.com' }, agent: false }, (res) => {
          let b = '';
          res.on('data', (c) => (b += c));
          res.on('end', () => resolve(b));
        });
        r.on('error', reject);
        r.end();
      }).catch((err: Error) => (address === '::1' ? '' : Promise.reject(err)));
      if (body === '') continue; // no IPv6 loopback on this machine
      const up = JSON.parse(body).headers as Record<string, string[]>;
      // x-forwarded-for gets the node address for a loopback client; x-envoy-external-address is the client's, as written by Envoy.
      assert.deepEqual(up['X-Forwarded-For'], [NODE], address);
      assert.deepEqual(up['X-Envoy-External-Address'], [expected], address);
    }
  } finally {
    await dual.close();
  }
});

test('a Referer Envoy removes (a fragment, a space, or repeated) cannot reach a rule matching on it: the JWT check applies (401); a valid one matches and reaches the upstream', async () => {
  const n = h.echo.received.length;
  for (const [path, referer] of [
    ['/anything/r', 'https://app.example.com/#top'],
    ['/anything/r', 'not a url'],
    ['/anything/s', ['https://app.example.com/', 'https://app.example.com/']],
  ] as const) {
    const res = await request({ port: h.port, path, headers: { referer: referer as string | string[] } });
    assert.equal(res.status, 401, `${path} ${JSON.stringify(referer)}`);
    assert.equal(res.body, 'Jwt is missing');
  }
  assert.equal(h.echo.received.length, n, 'nothing reached the upstream');
  const ok = await request({ port: h.port, path: '/anything/s', headers: { referer: 'https://app.example.com/' } });
  assert.equal(ok.status, 200);
  assert.deepEqual(upstreamHeaders().get('referer'), ['https://app.example.com/']);
});

test('a port whose only pre-routing match is on referer, or on te, checks it before routing too', async () => {
  for (const [match, headers] of [
    ["{ name: referer, type: RegularExpression, value: '.*#.*' }", { referer: 'https://app.example.com/#top' }],
    ['{ name: te, value: gzip }', { te: 'gzip', connection: 'TE' }],
  ] as const) {
    const only = await startHarness({
      base: (echoPort) => manifests(echoPort).replace(/    matches:\n(    - .*\n)+/, `    matches:\n    - { path: { type: PathPrefix, value: /anything/r }, headers: [${match}] }\n`),
    });
    try {
      const res = await request({ port: only.port, path: '/anything/r', headers });
      assert.equal(res.status, 401, match);
      assert.equal(res.body, 'Jwt is missing');
      assert.equal(only.echo.received.length, 0);
    } finally {
      await only.close();
    }
  }
});

test('with a token, on the rest of the port: an invalid Referer is not sent upstream, a valid one is', async () => {
  const token = mint({ alg: 'RS256', key: keys.privateKey, kid: 'edge', payload: { iss: 'edge-idp', exp: Math.floor(Date.now() / 1000) + 600 } });
  const bad = await request({ port: h.port, path: '/anything/z', headers: { authorization: `Bearer ${token}`, referer: 'https://app.example.com/#top' } });
  assert.equal(bad.status, 200);
  assert.equal(upstreamHeaders().get('referer'), undefined);
  const good = await request({ port: h.port, path: '/anything/z', headers: { authorization: `Bearer ${token}`, referer: '/previous/page?q=1' } });
  assert.equal(good.status, 200);
  assert.deepEqual(upstreamHeaders().get('referer'), ['/previous/page?q=1']);
});

test('routes see TE as Envoy leaves it: `TE: gzip` is removed before routing (the JWT check applies, 401), `TE: gzip, trailers` matches `trailers` and reaches the upstream as `trailers`', async () => {
  const n = h.echo.received.length;
  const gz = await request({ port: h.port, path: '/anything/t', headers: { te: 'gzip', connection: 'TE' } });
  assert.equal(gz.status, 401);
  assert.equal(gz.body, 'Jwt is missing');
  assert.equal(h.echo.received.length, n, 'nothing reached the upstream');
  const tr = await request({ port: h.port, path: '/anything/u', headers: { te: 'gzip, trailers', connection: 'TE' } });
  assert.equal(tr.status, 200);
  assert.deepEqual(upstreamHeaders().get('te'), ['trailers']);
});

// Review of the DirectResponse bodyFormat (4145d39): %LOCAL_REPLY_BODY%, numbers as Envoy writes
// them, a claim header named like a connection-manager header, and checks that held (a
// __proto__ key, an empty body, HEAD, header rules' omit_empty_values on such a route).
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness, SAMPLE_TOKEN, SAMPLE_JWT_EXTENSION, directResponse, directResponseRef } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { envoyNumber } from '../../src/proxy/body-format.js';

const ext = directResponseRef;
const dr = directResponse;
const rule = (p: string, filters: string) => `  - matches: [{ path: { type: PathPrefix, value: ${p} } }]\n    filters: [${filters}]\n`;

let h: Harness;
before(async () => {
  const claimExt = SAMPLE_JWT_EXTENSION.replace('name: selfminted-jwt', 'name: claim-rid').replace('header: x-team', 'header: x-request-id');
  h = await startHarness({
    manifests: [
      dr('lrb', `{ status: 200, bodyFormat: { text: "prefix %LOCAL_REPLY_BODY% suffix" } }`) +
        dr('nums', `{ status: 200, bodyFormat: { json: { small: 0.00001, tiny: 1.0e-7, big: 1.0e+16, negz: -0.0, lakh: 100000, n: 123456, h: 200, f: 1.5 } } }`) +
        dr('proto', `{ status: 200, bodyFormat: { json: { "__proto__": "x", a: 1 } } }`) +
        dr('rid', `{ status: 200, bodyFormat: { text: "%REQ(x-request-id)%" } }`) +
        dr('empty', `{ status: 200, bodyFormat: { text: "%REQ(x-empty)%" } }`) +
        dr('hj', `{ status: 200, bodyFormat: { json: { p: "%REQ(:path)%" } } }`) +
        dr('plain', `{ status: 200, body: plain }`) +
        `---\n${SAMPLE_JWT_EXTENSION}\n---\n${claimExt}\n` +
        `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: probe, namespace: httpbin }
spec:
  hostnames: [probe.example.com]
  parentRefs: [{ name: http, namespace: kgateway-system }]
  rules:
${rule('/lrb', ext('lrb'))}${rule('/nums', ext('nums'))}${rule('/proto', ext('proto'))}${rule('/empty', ext('empty'))}${rule('/hj', ext('hj'))}${rule(
          '/hdr',
          `${ext('hj')}, { type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-a, value: "%REQ(x-none)%" }, { name: x-b, value: "v=%REQ(x-none)%" }, { name: x-c, value: "%REQ(x-some)%" }] } }`,
        )}${rule(
          '/hdrplain',
          `${ext('plain')}, { type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-a, value: "%REQ(x-none)%" }, { name: x-b, value: "v=%REQ(x-none)%" }] } }`,
        )}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: probe-rid, namespace: httpbin }
spec:
  hostnames: [rid.example.com]
  parentRefs: [{ name: http, namespace: kgateway-system }]
  rules:
${rule('/', ext('rid'))}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: probe-rid-jwt, namespace: httpbin }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: probe-rid }]
  jwtAuth:
    extensionRef: { name: claim-rid }
`,
    ],
  });
});
after(async () => {
  await h?.close();
});

const host = { host: 'probe.example.com' };

test('%LOCAL_REPLY_BODY% is an Envoy HTTP command: "" with kgateway (Envoy integration test: "prefix  suffix")', async () => {
  const errs = h.gateway.snapshot.problems.filter((p) => p.severity === 'error').map((p) => `${p.path}: ${p.message}`);
  const res = await request({ port: h.port, path: '/lrb', headers: host });
  assert.deepEqual([res.status, res.body], [200, 'prefix  suffix'], errs.join('\n'));
});

test('numbers as Envoy serializeDouble writes them (shortest, C-style exponent)', async () => {
  const res = await request({ port: h.port, path: '/nums', headers: host });
  assert.equal(res.body, '{"big":1e+16,"f":1.5,"h":200,"lakh":1e+05,"n":123456,"negz":-0,"small":1e-05,"tiny":1e-07}\n');
});

test('a __proto__ key is an ordinary key', async () => {
  const res = await request({ port: h.port, path: '/proto', headers: host });
  assert.equal(res.body, '{"__proto__":"x","a":1}\n');
});

test('a claim header named x-request-id replaces the connection manager\'s (jwt_authn runs after it)', async () => {
  const res = await request({ port: h.port, path: '/', headers: { host: 'rid.example.com', authorization: `Bearer ${SAMPLE_TOKEN}` } });
  assert.equal(res.status, 200);
  assert.equal(res.body, 'dev');
});

test('a formatted body that is empty: no body, no content-type', async () => {
  const res = await request({ port: h.port, path: '/empty', headers: { ...host, 'x-empty': '' } });
  assert.equal(res.body, '');
  assert.equal(res.headers['content-type'], undefined);
  assert.equal(res.headers['content-length'], '0');
});

test('HEAD: the GET body\'s length, no body', async () => {
  const get = await request({ port: h.port, path: '/hj', headers: host });
  const head = await request({ port: h.port, path: '/hj', method: 'HEAD', headers: host });
  assert.equal(get.body, '{"p":"/hj"}\n');
  assert.equal(head.body, '');
  assert.equal(head.headers['content-length'], String(Buffer.byteLength(get.body)));
});

test('header rules on a bodyFormat route keep omit_empty_values (no "undefined", no "-")', async () => {
  for (const p of ['/hdr', '/hdrplain']) {
    const res = await request({ port: h.port, path: p, headers: { ...host, 'x-some': 's' } });
    assert.equal(res.headers['x-a'], undefined, p);
    assert.equal(res.headers['x-b'], 'v=', p);
    if (p === '/hdr') {
      assert.equal(res.headers['x-c'], 's');
    }
  }
});

test('envoyNumber: Buffer::Util::serializeDouble\'s outputs (buffer_util_test) and the plain/exponent choice', () => {
  const cases: [number, string][] = [[0, '0'], [0.5, '0.5'], [3.141592654, '3.141592654'], [-989282.1087, '-989282.1087'], [1.23456789012345e67, '1.23456789012345e+67'],
    [10000, '10000'], [100000, '1e+05'], [0.001, '0.001'], [0.0001, '1e-04'], [-0, '-0'], [12345678901234567890, '12345678901234567000'], [NaN, 'null']];
  for (const [x, want] of cases) assert.equal(envoyNumber(x), want, String(x));
});

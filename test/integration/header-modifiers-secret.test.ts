// TrafficPolicy headerModifiers values from Secrets (kgateway 2.3's `secretRef`), end to end
// through a real gateway to the real echo upstream: the kgateway docs' request example (Secret
// backend-creds, X-Api-Key and X-Tenant-Id at the upstream) and response example (Secret
// response-signing, X-Response-Signature at the client); every key of a Secret when neither
// name nor key is given; a key that is also the header name; a value read by Envoy's formatter;
// an empty value skipping its rule; and what makes the policy invalid (its routes answer
// kgateway's 500): a missing Secret or key, another namespace's Secret without a ReferenceGrant,
// a value ending in a newline. No Secret value is ever quoted.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { filteredRoute, lastReceived, routePolicy, startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { configDumpText } from '../../src/config/dump.js';

let h: Harness;

const secret = (name: string, ns: string, data: Record<string, string>) => `---
apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: ${ns} }
type: Opaque
stringData: ${JSON.stringify(data)}
`;
const policy = (name: string, route: string, body: string) => routePolicy(name, route, `  headerModifiers:\n${body}`);

before(async () => {
  h = await startHarness({
    manifests: [
      // The docs' two examples, on the whole Gateway as the docs apply them.
      secret('backend-creds', 'kgateway-system', { 'api-key': 'my-secret-api-key', 'tenant-id': 'tenant-abc' }) +
        `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: httpbin-secret-headers, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http }]
  headerModifiers:
    request:
      set:
      - name: X-Api-Key
        secretRef: { name: backend-creds, key: api-key }
      - name: X-Tenant-Id
        secretRef: { name: backend-creds, key: tenant-id }
` +
        // The response example on the sample app's HTTPRoute (one Gateway-wide headerModifiers wins
        // its level, so the docs' two Gateway-wide policies do not both apply, here as in kgateway).
        secret('response-signing', 'httpbin', { 'signing-key': 'my-response-signing-key' }) +
        `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: httpbin-secret-response-headers, namespace: httpbin }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: httpbin }]
  headerModifiers:
    response:
      set:
      - name: X-Response-Signature
        secretRef: { name: response-signing, key: signing-key }
` +
        // Route-level policies in the app's namespace.
        secret('app-headers', 'httpbin', { 'x-b-second': 'two', 'x-a-first': 'one', 'X-Upper': 'up', 'x-formatted': 'client=%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% 100%%', 'x-empty': '' }) +
        filteredRoute('all', '/anything/all', '[]') +
        policy('all', 'all', '    request:\n      add: [{ secretRef: { name: app-headers } }]\n') +
        filteredRoute('by-key', '/anything/by-key', '[]') +
        policy('by-key', 'by-key', '    request:\n      set: [{ secretRef: { name: app-headers, key: x-a-first } }, { name: x-named, secretRef: { name: app-headers, key: x-formatted } }, { name: x-keep, secretRef: { name: app-headers, key: x-empty } }]\n') +
        // Refused: each makes its policy invalid, so its route answers 500.
        filteredRoute('missing-secret', '/anything/missing-secret', '[]') +
        policy('missing-secret', 'missing-secret', '    request:\n      set: [{ name: x-k, secretRef: { name: nowhere } }]\n') +
        filteredRoute('missing-key', '/anything/missing-key', '[]') +
        policy('missing-key', 'missing-key', '    request:\n      set: [{ name: x-k, secretRef: { name: app-headers, key: not-there } }]\n') +
        filteredRoute('other-ns', '/anything/other-ns', '[]') +
        policy('other-ns', 'other-ns', '    request:\n      set: [{ name: x-k, secretRef: { name: backend-creds, namespace: kgateway-system, key: api-key } }]\n') +
        secret('newline', 'httpbin', { token: 'abc123\n' }) +
        filteredRoute('newline', '/anything/newline', '[]') +
        policy('newline', 'newline', '    request:\n      set: [{ name: x-token, secretRef: { name: newline, key: token } }]\n'),
    ],
  });
});

after(async () => {
  await h?.close();
});

const get = (path: string, headers: Record<string, string> = {}) => request({ port: h.port, path, headers: { host: 'www.example.com', ...headers } });

test('the kgateway docs\' examples: X-Api-Key and X-Tenant-Id from Secret backend-creds at the upstream (a Gateway-wide policy), X-Response-Signature from response-signing at the client (on the route)', async () => {
  const res = await get('/headers');
  assert.equal(res.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'x-api-key'), ['my-secret-api-key']);
  assert.deepEqual(lastReceived(h.echo, 'x-tenant-id'), ['tenant-abc']);
  assert.equal(res.headers['x-response-signature'], 'my-response-signing-key');
});

test('neither name nor key: every key of the Secret is a header, in byte order; a key alone names the header; the value goes through Envoy\'s formatter; an empty value skips its rule', async () => {
  const all = await get('/anything/all');
  assert.equal(all.status, 200);
  const received = h.echo.received.at(-1)!.headers;
  const names = received.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()).filter((n) => ['x-upper', 'x-a-first', 'x-b-second', 'x-formatted'].includes(n));
  assert.deepEqual(names, ['x-upper', 'x-a-first', 'x-b-second', 'x-formatted'], 'byte order: uppercase first');
  assert.deepEqual(lastReceived(h.echo, 'x-formatted'), ['client=127.0.0.1 100%']);
  assert.deepEqual(lastReceived(h.echo, 'x-empty'), [], 'an empty value adds no header');
  const byKey = await get('/anything/by-key', { 'x-keep': 'from-client' });
  assert.equal(byKey.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'x-a-first'), ['one']);
  assert.deepEqual(lastReceived(h.echo, 'x-named'), ['client=127.0.0.1 100%']);
  assert.deepEqual(lastReceived(h.echo, 'x-keep'), ['from-client'], 'a set with an empty value leaves the client\'s field');
});

test('a missing Secret or key, another namespace without a ReferenceGrant, or a value ending in a newline make the policy invalid: its route answers 500, the error at the secretRef, no value quoted', async () => {
  const n = h.echo.received.length;
  for (const p of ['missing-secret', 'missing-key', 'other-ns', 'newline']) {
    const res = await get(`/anything/${p}`);
    assert.equal(res.status, 500, p);
    assert.equal(res.body, 'invalid route configuration detected and replaced with a direct response.', p);
  }
  assert.equal(h.echo.received.length, n);
  const problems = h.gateway.snapshot.problems.filter((p) => p.severity === 'error').map((p) => `${p.resource} ${p.path}: ${p.message}`);
  const at = (name: string) => problems.find((p) => p.startsWith(`TrafficPolicy/httpbin/${name} spec.headerModifiers.request.set[0].secretRef: request: failed to resolve header 'x-`)) ?? problems.join('\n');
  assert.match(at('missing-secret'), /secret httpbin\/nowhere: Secret httpbin\/nowhere not found/);
  assert.match(at('missing-key'), /secret httpbin\/app-headers does not contain key "not-there": its keys: /);
  assert.match(at('other-ns'), /missing reference grant: Secret kgateway-system\/backend-creds is in another namespace/);
  assert.match(at('newline'), /holds a control character .*it ends in a newline/);
  const text = JSON.stringify(h.gateway.snapshot.problems) + configDumpText(h.gateway.snapshot);
  for (const v of ['my-secret-api-key', 'tenant-abc', 'abc123', 'my-response-signing-key']) assert.ok(!text.includes(v), v);
});

// kgateway sets normalize_path and merge_slashes on the HCM: Envoy routes on the normalized
// path and sends it upstream. A route-scoped JWT policy on /anything/admin must therefore apply
// to every spelling of that path (dot segments, %2E, backslashes, doubled slashes), and a path
// with a fragment or %00 gets 400.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { sampleRoute, startHarness, type Harness } from '../helpers/harness.js';
import { mint, rsaKeys } from '../helpers/tokens.js';

const keys = rsaKeys('admin');
let h: Harness;

before(async () => {
  h = await startHarness({
    manifests: [
      `${sampleRoute('admin', '/anything/admin')}---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: { name: admin-jwt, namespace: httpbin }
spec:
  jwt:
    providers:
    - name: admin
      issuer: admin-idp
      jwks: { local: { inline: '${JSON.stringify({ keys: [keys.jwk] })}' } }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: admin-jwt, namespace: httpbin }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: admin }]
  jwtAuth: { extensionRef: { name: admin-jwt } }
`,
    ],
  });
});
after(() => h.close());

/** Sends `target` byte for byte (Node's client would refuse or rewrite some of them). */
function raw(target: string, headers = ''): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(h.port, '127.0.0.1', () => s.write(`GET ${target} HTTP/1.1\r\nhost: www.example.com\r\n${headers}connection: close\r\n\r\n`));
    let data = '';
    s.setEncoding('latin1');
    s.on('data', (d) => (data += d));
    s.on('end', () => {
      const [head, body = ''] = data.split('\r\n\r\n');
      resolve({ status: Number(head!.split(' ')[1]), head: head!, body });
    });
    s.on('error', reject);
  });
}

test('every spelling of the protected path gets the JWT check (401) and never reaches the upstream', async () => {
  const n = h.echo.received.length;
  for (const p of ['/anything/admin', '//anything/admin', '/anything//admin', '/anything/./admin', '/anything/x/../admin', '/anything/%2e/admin', '/anything/x/%2E%2E/admin', '/anything/x\\..\\admin', '/public/../anything/admin/secrets', '/anything/%61dmin', '/public/..;/anything/admin', '/anything/x/..;jsessionid=1/admin', '/anything/.;/admin']) {
    const r = await raw(p);
    assert.equal(r.status, 401, p);
    assert.equal(r.body, 'Jwt is missing', p);
  }
  assert.equal(h.echo.received.length, n);
});

test('the realm shows the normalized path', async () => {
  const r = await raw('/anything/x/../admin/./y?q=1');
  assert.equal(r.status, 401);
  assert.match(r.head, /www-authenticate: Bearer realm="http:\/\/www\.example\.com\/anything\/admin\/y\?q=1"/i);
});

test('with a valid token the upstream receives the normalized path, the query untouched', async () => {
  const token = mint({ alg: 'RS256', key: keys.privateKey, kid: 'admin', payload: { iss: 'admin-idp', exp: Math.floor(Date.now() / 1000) + 600 } });
  const n = h.echo.received.length;
  const r = await raw('/anything/x/..//admin/%7Eme?a=/../b', `authorization: Bearer ${token}\r\n`);
  assert.equal(r.status, 200);
  assert.equal(h.echo.received.length, n + 1);
  assert.equal(h.echo.received[n]!.url, '/anything/admin/~me?a=/../b');
});

test('unprotected paths are normalized too before they are forwarded', async () => {
  const n = h.echo.received.length;
  const r = await raw('/anything/a/./b//c');
  assert.equal(r.status, 200);
  assert.equal(h.echo.received[n]!.url, '/anything/a/b/c');
});

test('a fragment in the path or query, or %00, gets 400 Bad Request and is not forwarded', async () => {
  const n = h.echo.received.length;
  for (const p of ['/anything/admin#x', '/anything?a=1#x', '/anything/%00']) {
    const r = await raw(p);
    assert.equal(r.status, 400, p);
    assert.equal(r.body, 'Bad Request', p);
  }
  assert.equal(h.echo.received.length, n);
});

// Remote JWKS over TLS against a loopback server with a test CA made by openssl: an https://
// URL uses TLS with the default trust store (so the test CA is refused), a BackendConfigPolicy
// `spec.tls` (Secret ca.crt, files.rootCA, insecureSkipVerify, sni, verifySubjectAltNames) is
// honoured, SNI and Host carry the URL's host while the connection goes to the backend address.
// Plus fetch-level limits on real sockets (a streamed body over the limit).
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { fetchJwks } from '../../src/jwks/remote-fetch.js';
import type { RemoteJwksSpec, RemoteTlsSpec } from '../../src/types.js';
import { startHarness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { JWKS_PATH, startJwksServer, waitFor, type JwksServer } from '../helpers/jwks-server.js';
import { captureLog, EXT_ID, remoteJwksManifests, tokenFor } from '../helpers/remote-jwks.js';
import { jwksOf, rsaSigningKey } from '../helpers/signing-keys.js';
import { makeTestCa, type TestCa } from '../helpers/test-ca.js';

const K1 = rsaSigningKey('k1');
let ca: TestCa;
let idp: JwksServer;

test.before(async () => {
  ca = makeTestCa();
  idp = await startJwksServer({ jwks: jwksOf(K1), tls: { key: ca.keyPem, cert: ca.certPem } });
});
test.after(async () => {
  await idp.close();
  ca.cleanup();
});

const spec = (tls: RemoteTlsSpec | undefined, url = `https://idp.test:${idp.port}${JWKS_PATH}`): RemoteJwksSpec => ({
  id: 'GatewayExtension/ns/ext#tls',
  url,
  target: { host: '127.0.0.1', port: idp.port },
  ...(tls ? { tls } : {}),
  cacheDurationMs: 600_000,
  failedRefetchDurationMs: 1000,
  numRetries: 0,
  backOffBaseMs: 1000,
  backOffMaxMs: 10_000,
});

test('https:// without a policy: TLS with the default trust store, so a private CA is refused (not plaintext)', async () => {
  const before = idp.requests.length;
  const r = await fetchJwks(spec(undefined));
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.outcome === 'tls_error', JSON.stringify(r));
  assert.ok(!r.ok && /certificate/i.test(r.reason), !r.ok ? r.reason : '');
  assert.equal(idp.requests.length, before, 'no HTTP request got through');
});

test('BackendConfigPolicy CA (Secret ca.crt or files.rootCA): verified; SNI and Host are the URL host, the socket goes to the backend', async () => {
  const before = idp.requests.length;
  const withSecret = await fetchJwks(spec({ insecureSkipVerify: false, caPem: ca.caPem }));
  assert.ok(withSecret.ok, JSON.stringify(withSecret));
  assert.equal(withSecret.keys[0]!.kid, 'k1');
  const withFile = await fetchJwks(spec({ insecureSkipVerify: false, caFile: ca.caFile }));
  assert.ok(withFile.ok, JSON.stringify(withFile));
  const got = idp.requests.slice(before);
  assert.equal(got.length, 2);
  for (const r of got) {
    assert.equal(r.sni, 'idp.test');
    assert.equal(r.host, `idp.test:${idp.port}`);
  }
});

test('sni overrides the SNI; verifySubjectAltNames is enforced; insecureSkipVerify skips verification; a missing CA file fails', async () => {
  const before = idp.requests.length;
  const sni = await fetchJwks(spec({ insecureSkipVerify: false, caPem: ca.caPem, sni: 'other.test' }));
  assert.ok(sni.ok);
  assert.equal(idp.requests.at(-1)!.sni, 'other.test');
  const sanOk = await fetchJwks(spec({ insecureSkipVerify: false, caPem: ca.caPem, verifySubjectAltNames: ['idp.test'] }));
  assert.ok(sanOk.ok);
  const sanBad = await fetchJwks(spec({ insecureSkipVerify: false, caPem: ca.caPem, verifySubjectAltNames: ['login.example.com'] }));
  assert.ok(!sanBad.ok && sanBad.outcome === 'tls_error' && /verifySubjectAltNames/.test(sanBad.reason), JSON.stringify(sanBad));
  const insecure = await fetchJwks(spec({ insecureSkipVerify: true }));
  assert.ok(insecure.ok);
  // Default trust store with sni: the name must match too (and the CA is unknown anyway).
  const system = await fetchJwks(spec({ insecureSkipVerify: false, sni: 'idp.test' }));
  assert.ok(!system.ok && system.outcome === 'tls_error');
  const missing = await fetchJwks(spec({ insecureSkipVerify: false, caFile: `${ca.dir}/nope.crt` }));
  assert.ok(!missing.ok && missing.outcome === 'tls_config' && /nope\.crt/.test(missing.reason), JSON.stringify(missing));
  // Files OpenSSL cannot load: a configuration error before connecting, not retried as a connect failure.
  writeFileSync(`${ca.dir}/not-pem.crt`, 'not a certificate');
  const notPem = await fetchJwks(spec({ insecureSkipVerify: false, caFile: `${ca.dir}/not-pem.crt` }));
  assert.ok(!notPem.ok && notPem.outcome === 'tls_config' && notPem.attempts === 0, JSON.stringify(notPem));
  const otherKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const mismatch = await fetchJwks(spec({ insecureSkipVerify: true, certPem: ca.certPem, keyPem: otherKey }));
  assert.ok(!mismatch.ok && mismatch.outcome === 'tls_config' && mismatch.attempts === 0 && /TLS configuration/.test(mismatch.reason), JSON.stringify(mismatch));
  const ecKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const otherType = await fetchJwks(spec({ insecureSkipVerify: true, certPem: ca.certPem, keyPem: ecKey }));
  assert.ok(!otherType.ok && otherType.outcome === 'tls_config' && otherType.attempts === 0 && /does not belong/.test(otherType.reason), JSON.stringify(otherType));
  const broken = await fetchJwks(spec({ insecureSkipVerify: false, error: 'BackendConfigPolicy/ns/p: Secret ns/s not found' }));
  assert.ok(!broken.ok && broken.outcome === 'tls_config' && /Secret ns\/s not found/.test(broken.reason));
  assert.equal(idp.requests.length - before, 3, 'one request per successful handshake only (sni, SAN match, insecure)');
});

test('a client certificate (Secret tls.crt/tls.key, mTLS) is presented to the JWKS server in the handshake', async () => {
  const seen: (string | undefined)[] = [];
  const server = https.createServer({ key: ca.keyPem, cert: ca.certPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    seen.push(peer && peer.fingerprint256 ? peer.fingerprint256 : undefined);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(jwksOf(K1));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    const at = (tls: RemoteTlsSpec): RemoteJwksSpec => ({ ...spec(tls, `https://idp.test:${port}${JWKS_PATH}`), target: { host: '127.0.0.1', port } });
    const mtls = await fetchJwks(at({ insecureSkipVerify: false, caPem: ca.caPem, certPem: ca.certPem, keyPem: ca.keyPem }));
    assert.ok(mtls.ok, JSON.stringify(mtls));
    const without = await fetchJwks(at({ insecureSkipVerify: false, caPem: ca.caPem }));
    assert.ok(without.ok, JSON.stringify(without));
    assert.deepEqual(seen, [new crypto.X509Certificate(ca.certPem).fingerprint256, undefined]);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('an http:// URL with a BackendConfigPolicy tls still originates TLS (Envoy: the cluster decides, not the scheme)', async () => {
  const r = await fetchJwks(spec({ insecureSkipVerify: false, caPem: ca.caPem, sni: 'idp.test' }, `http://idp.test:${idp.port}${JWKS_PATH}`));
  assert.ok(r.ok, JSON.stringify(r));
});

test('a streamed body over the limit is cut off; the deadline covers a body that trickles', async () => {
  let served = 0;
  const server = http.createServer((_req, res) => {
    served++;
    res.writeHead(200, { 'content-type': 'application/json' });
    if (served === 1) {
      // Chunked, no content-length: the limit applies while reading.
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const push = () => {
        while (sent < 40 && res.write(chunk)) sent++;
        if (sent < 40) res.once('drain', push);
        else res.end();
      };
      push();
    } else {
      res.write('{"keys":');
      // Never finishes.
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const plain: RemoteJwksSpec = { ...spec(undefined, `http://127.0.0.1:${port}/keys`), target: { host: '127.0.0.1', port } };
  try {
    const big = await fetchJwks(plain, { maxBodyBytes: 1024 * 1024 });
    assert.ok(!big.ok && big.outcome === 'body_too_large', JSON.stringify(big));
    const t0 = Date.now();
    const slow = await fetchJwks(plain, { timeoutMs: 300 });
    assert.ok(!slow.ok && slow.outcome === 'timeout', JSON.stringify(slow));
    assert.ok(Date.now() - t0 < 2000);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('through the gateway: https JWKS behind a Backend, first refused (default trust store), then served with a BackendConfigPolicy + Secret CA', async (t) => {
  const url = `https://idp.test:${idp.port}${JWKS_PATH}`;
  const before = idp.requests.length;
  {
    const log = captureLog();
    const h = await startHarness({ manifests: [remoteJwksManifests({ url, backendPort: idp.port })], gateway: { logger: log.logger } });
    try {
      const res = await request({ port: h.port, headers: { authorization: `Bearer ${tokenFor(K1)}` } });
      assert.equal(res.status, 401);
      assert.equal(res.body, 'Jwks remote fetch is failed');
      const failed = log.find('remote JWKS fetch failed')[0]!;
      assert.equal(failed['outcome'], 'tls_error');
      assert.equal(failed['provider'], EXT_ID);
      assert.equal(failed['url'], url);
      assert.ok(h.gateway.snapshot.problems.some((p) => p.severity === 'warning' && /https:\/\/ URL and no BackendConfigPolicy tls/.test(p.message)));
    } finally {
      await h.close();
    }
  }
  const secret = `apiVersion: v1
kind: Secret
metadata: { name: idp-ca, namespace: kgateway-system }
type: Opaque
data:
  ca.crt: ${Buffer.from(ca.caPem).toString('base64')}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: BackendConfigPolicy
metadata: { name: idp-tls, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: jwks-idp }]
  tls:
    secretRef: { name: idp-ca }
`;
  const h = await startHarness({ manifests: [remoteJwksManifests({ url, backendPort: idp.port, extra: secret })] });
  try {
    assert.deepEqual(h.gateway.snapshot.problems.filter((p) => p.severity === 'error'), []);
    const res = await request({ port: h.port, headers: { authorization: `Bearer ${tokenFor(K1)}` } });
    assert.equal(res.status, 200);
    const got = idp.requests.slice(before);
    assert.equal(got.length, 1, 'one fetch (the refused handshake never became a request)');
    assert.equal(got[0]!.sni, 'idp.test');
    assert.equal(got[0]!.host, `idp.test:${idp.port}`);
    const ks = h.gateway.snapshot.keySets.get(EXT_ID);
    assert.ok(ks?.kind === 'remote' && ks.tls?.source === 'BackendConfigPolicy/kgateway-system/idp-tls');
    await waitFor(() => h.gateway.ready, 'ready');
    t.diagnostic(`TLS through the gateway: ${got.length} fetch received, SNI ${got[0]!.sni}`);
  } finally {
    await h.close();
  }
});

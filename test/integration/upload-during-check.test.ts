// An upload whose JWT check takes a while (a kid-miss refetch from a slow IdP): the gateway stops
// reading it past 64 KiB while the check runs, so a large body waits in the client and the
// kernel, not in the gateway's memory, and once the token is accepted the whole body reaches the
// upstream. Found by mutation testing: no test failed when the pause was removed.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../helpers/harness.js';
import { pacedUpload, request } from '../helpers/http-client.js';
import { JWKS_PATH, startJwksServer } from '../helpers/jwks-server.js';
import { remoteJwksManifests, tokenFor } from '../helpers/remote-jwks.js';
import { jwksOf, rsaSigningKey } from '../helpers/signing-keys.js';

const MiB = 1024 * 1024;

test('a 32 MiB upload waiting for a 2 s JWT check is held back (the client has written under 16 MiB after 1.5 s), then reaches the upstream whole with 200', { timeout: 30_000 }, async () => {
  const K1 = rsaSigningKey('k1');
  const K2 = rsaSigningKey('k2');
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  const h = await startHarness({ manifests: [remoteJwksManifests({ url: `http://127.0.0.1:${idp.port}${JWKS_PATH}`, backendPort: idp.port })] });
  try {
    assert.equal((await request({ port: h.port, headers: { authorization: `Bearer ${tokenFor(K1)}` } })).status, 200);
    // K2 is not in the key set yet: its token waits for a refetch the IdP answers after 2 s.
    idp.queue({ body: jwksOf(K1, K2), delayMs: 2000, headers: { 'content-type': 'application/json' } });
    const body = Buffer.alloc(32 * MiB, 'u');
    const res = await pacedUpload({ port: h.port, path: '/anything', headers: { authorization: `Bearer ${tokenFor(K2)}` }, body, watchMs: 1500 });
    assert.ok(!(res instanceof Error), String(res));
    assert.equal(res.status, 200);
    assert.ok(res.writtenAt >= 0 && res.writtenAt < 16 * MiB, `the gateway kept reading while the check ran: the client had written ${res.writtenAt} bytes after 1.5 s`);
    assert.equal(h.echo.received.at(-1)!.bodyLength, body.length);
  } finally {
    await h.close();
    await idp.close();
  }
});

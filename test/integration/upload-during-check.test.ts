// An upload whose JWT check takes a while (a kid-miss refetch from a slow IdP): the gateway stops
// reading it past 64 KiB while the check runs, so a large body waits in the client and the
// kernel, not in the gateway's memory, and once the token is accepted the whole body reaches the
// upstream. Found by mutation testing: no test failed when the pause was removed.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startHarness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
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
    let written = 0;
    let writtenAt1500 = -1;
    const res = await new Promise<{ status: number } | Error>((resolve) => {
      const req = http.request(
        { host: '127.0.0.1', port: h.port, path: '/anything', method: 'POST', agent: false, headers: { host: 'www.example.com:8080', authorization: `Bearer ${tokenFor(K2)}`, 'content-type': 'application/octet-stream', 'content-length': String(body.length) } },
        (r) => {
          r.resume();
          r.on('end', () => resolve({ status: r.statusCode! }));
        },
      );
      req.on('error', resolve);
      const pump = (): void => {
        while (written < body.length) {
          const piece = body.subarray(written, written + 64 * 1024);
          written += piece.length;
          if (!req.write(piece)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
      setTimeout(() => (writtenAt1500 = written), 1500);
    });
    assert.ok(!(res instanceof Error), String(res));
    assert.equal(res.status, 200);
    assert.ok(writtenAt1500 >= 0 && writtenAt1500 < 16 * MiB, `the gateway kept reading while the check ran: the client had written ${writtenAt1500} bytes after 1.5 s`);
    assert.equal(h.echo.received.at(-1)!.bodyLength, body.length);
  } finally {
    await h.close();
    await idp.close();
  }
});

// A gzipped upload (TrafficPolicy compression.requestDecompression) to an upstream that reads it
// slowly: the client is held back as for a plain upload. The client's body is resumed when the
// decoder has taken what it was given, not on the upstream's next read: resumed there, the
// decoder's input took in the whole compressed body while the upstream read a few chunks.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { hostRoute, routePolicy, startHarness, staticBackend } from '../helpers/harness.js';
import { pacedUpload } from '../helpers/http-client.js';

const MiB = 1024 * 1024;

test('a 64 MiB gzipped upload to an upstream that reads a chunk every 100 ms for 3 s is held back (under 32 MiB written after 2.5 s), then arrives whole and inflated', { timeout: 60_000 }, async () => {
  let received = -1;
  const upstream = http.createServer((req, res) => {
    let n = 0;
    const t0 = Date.now();
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (Date.now() - t0 > 3000) return;
      req.pause();
      setTimeout(() => req.resume(), 100);
    });
    req.on('end', () => {
      received = n;
      res.end(String(n));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  const h = await startHarness({
    manifests: [staticBackend('slow', [port]) + hostRoute('slow', 'slow.example', '', 'slow') + routePolicy('slow', 'slow', '  compression:\n    requestDecompression: {}')],
  });
  try {
    // Random bytes: the compressed body is as large as the inflated one.
    const plain = randomBytes(64 * MiB);
    const gz = zlib.gzipSync(plain, { level: 1 });
    const res = await pacedUpload({ port: h.port, path: '/upload', headers: { host: 'slow.example', 'content-encoding': 'gzip' }, body: gz, watchMs: 2500 });
    assert.ok(!(res instanceof Error), String(res));
    assert.equal(res.status, 200);
    assert.ok(res.writtenAt >= 0 && res.writtenAt < 32 * MiB, `the gateway kept reading a compressed upload the upstream did not take: the client had written ${res.writtenAt} bytes after 2.5 s`);
    assert.equal(res.text, String(plain.length));
    assert.equal(received, plain.length);
  } finally {
    await h.close();
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  }
});

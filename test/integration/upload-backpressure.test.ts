// An upload to an upstream that reads it slowly: the gateway stops reading the client
// (ClientExchange.pauseBody) once the upstream stops taking the body, so a large upload waits
// in the client and the kernel, not in the gateway's memory; when the upstream reads again, the
// whole body arrives. Found by mutation testing: no test failed when pauseBody did nothing
// (the forwarder tests drive a fake exchange).
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sampleApp, startHarness } from '../helpers/harness.js';
import { pacedUpload } from '../helpers/http-client.js';

const MiB = 1024 * 1024;

test('a 64 MiB upload to an upstream that does not read it for 2 s is held back (the client has written under 24 MiB after 1.5 s), then reaches the upstream whole', { timeout: 30_000 }, async () => {
  let received = -1;
  const upstream = http.createServer((req, res) => {
    req.pause();
    setTimeout(() => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        received = n;
        res.end(String(n));
      });
      req.resume();
    }, 2000);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  const h = await startHarness({ base: () => sampleApp(upstreamPort) });
  try {
    const body = Buffer.alloc(64 * MiB, 'u');
    const res = await pacedUpload({ port: h.port, path: '/upload', headers: {}, body, watchMs: 1500 });
    assert.ok(!(res instanceof Error), String(res));
    assert.equal(res.status, 200);
    assert.ok(res.writtenAt >= 0 && res.writtenAt < 24 * MiB, `the gateway kept reading an upload the upstream did not take: the client had written ${res.writtenAt} bytes after 1.5 s`);
    assert.equal(res.text, String(body.length));
    assert.equal(received, body.length);
  } finally {
    await h.close();
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  }
});

// An upload whose JWT check takes a while (a kid-miss refetch from a slow IdP): the gateway stops
// reading it past 64 KiB while the check runs, so a large body waits in the client and the
// kernel, not in the gateway's memory, and once the token is accepted the whole body reaches the
// upstream. Found by mutation testing: no test failed when the pause was removed.
import test from 'node:test';
import assert from 'node:assert/strict';
import { pacedUpload } from '../helpers/http-client.js';
import { withSlowRotation } from '../helpers/remote-jwks.js';

const MiB = 1024 * 1024;

test('a 32 MiB upload waiting for a 2 s JWT check is held back (the client has written under 16 MiB after 1.5 s), then reaches the upstream whole with 200', { timeout: 30_000 }, async () => {
  // K2 is not in the key set yet: its token waits for a refetch the IdP answers after 2 s.
  await withSlowRotation(2000, {}, async (h, _log, k2Token) => {
    const body = Buffer.alloc(32 * MiB, 'u');
    const res = await pacedUpload({ port: h.port, path: '/anything', headers: { authorization: `Bearer ${k2Token}` }, body, watchMs: 1500 });
    assert.ok(!(res instanceof Error), String(res));
    assert.equal(res.status, 200);
    assert.ok(res.writtenAt >= 0 && res.writtenAt < 16 * MiB, `the gateway kept reading while the check ran: the client had written ${res.writtenAt} bytes after 1.5 s`);
    assert.equal(h.echo.received.at(-1)!.bodyLength, body.length);
  });
});

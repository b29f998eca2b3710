// The refresher thread's handle on the main thread (src/jwks/refresher.ts), what an operator and
// a waiting request see of it: entries a fetched key set drops are logged with their reason
// (README "Remote JWKS"); a thread that keeps dying is restarted after 100 ms, then 200 ms,
// 400 ms… (doubling, not a restart loop), counted in jwtgate_jwks_refresher_restarts_total; a
// request waiting for a kid-miss refetch when the thread dies is answered at once, not after the
// 6 s bound. Through the real gateway and refresher thread, against a JWKS server on loopback.
import test from 'node:test';
import assert from 'node:assert/strict';
import type { Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { JWKS_PATH, startJwksServer, waitFor } from '../helpers/jwks-server.js';
import { EXT_ID, tokenFor, withGateway } from '../helpers/remote-jwks.js';
import { jwksOf, rsaSigningKey } from '../helpers/signing-keys.js';
import type { Worker } from 'node:worker_threads';

const K1 = rsaSigningKey('k1');
const K2 = rsaSigningKey('k2');

const call = (h: Harness, token: string) => request({ port: h.port, headers: { authorization: `Bearer ${token}` } });

test('an entry the fetched key set drops is logged with the provider, the URL and its reason; the valid keys are served', async () => {
  const doc = JSON.stringify({ keys: [K1.publicJwk, { kty: 'XYZ', kid: 'odd-one' }] });
  const idp = await startJwksServer({ jwks: doc });
  try {
    await withGateway({ port: idp.port }, async (h, log) => {
      assert.equal((await call(h, tokenFor(K1))).status, 200);
      const dropped = log.find('remote JWKS: key dropped');
      assert.equal(dropped.length, 1, JSON.stringify(log.lines));
      assert.equal(dropped[0]!['level'], 'warn');
      assert.equal(dropped[0]!['provider'], EXT_ID);
      assert.equal(dropped[0]!['url'], `http://127.0.0.1:${idp.port}${JWKS_PATH}`);
      assert.match(String(dropped[0]!['reason']), /odd-one/);
      assert.equal(h.gateway.jwksRefresher!.stats(EXT_ID)!.keyCount, 1);
    });
  } finally {
    await idp.close();
  }
});

test('a refresher thread that keeps dying is restarted with a doubling delay (100, 200, 400 ms), each restart counted in /metrics', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  try {
    await withGateway({ port: idp.port }, async (h, log) => {
      const refresher = h.gateway.jwksRefresher!;
      for (let i = 1; i <= 3; i++) {
        // kill() answers undefined while no thread runs (a restart pending): wait for the new one.
        await waitFor(async () => (await refresher.kill()) !== undefined, `thread ${i} to kill`);
        await waitFor(() => refresher.restarts === i, `restart ${i}`);
      }
      const delays = log.find('JWKS refresher thread exited').map((l) => l['restartInMs']);
      assert.deepEqual(delays, [100, 200, 400]);
      assert.match(h.gateway.renderMetrics(), /\njwtgate_jwks_refresher_restarts_total 3\n/);
      assert.equal((await call(h, tokenFor(K1))).status, 200, 'the last good keys serve throughout');
    });
  } finally {
    await idp.close();
  }
});

test('a command the refresher thread cannot handle is logged as an error ("JWKS refresher error", with its reason) and does not take the thread down: it still refetches', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  try {
    await withGateway({ port: idp.port }, async (h, log) => {
      assert.equal((await call(h, tokenFor(K1))).status, 200);
      const refresher = h.gateway.jwksRefresher!;
      // A malformed configure (no spec list) posted straight to the thread.
      (refresher as unknown as { worker: Worker }).worker.postMessage({ type: 'configure', specs: null });
      await waitFor(() => log.find('JWKS refresher error').length === 1, 'the error to be logged');
      const [line] = log.find('JWKS refresher error');
      assert.equal(line!['level'], 'error');
      assert.match(String(line!['reason']), /^refresher: TypeError: .*not iterable/);
      // The same thread, still working: a kid-miss refetch brings in the rotated key.
      idp.always({ status: 200, body: jwksOf(K1, K2) });
      assert.equal((await call(h, tokenFor(K2))).status, 200);
      assert.equal(refresher.restarts, 0);
      assert.equal(log.find('JWKS refresher thread exited').length, 0);
      assert.equal(log.find('JWKS refresher error').length, 1);
    });
  } finally {
    await idp.close();
  }
});

test('a request waiting for a kid-miss refetch when the refresher thread dies is answered at once (401), not after the refetch bound', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  try {
    await withGateway({ port: idp.port }, async (h) => {
      assert.equal((await call(h, tokenFor(K1))).status, 200);
      // The refetch the unknown kid asks for hangs at the IdP.
      idp.queue({ status: 200, body: jwksOf(K1, K2), delayMs: 4000 });
      const n = idp.fetches();
      const t0 = Date.now();
      const pending = call(h, tokenFor(K2));
      await waitFor(() => idp.fetches() > n, 'the kid-miss refetch to reach the IdP');
      await h.gateway.jwksRefresher!.kill();
      const res = await pending;
      const took = Date.now() - t0;
      assert.equal(res.status, 401);
      assert.ok(took < 2500, `answered when the thread died, not at the 6 s bound: ${took} ms`);
    });
  } finally {
    await idp.close();
  }
});

test('a request waiting for a kid-miss refetch the refresher thread never answers (a stalled thread) gets its 401 at the bound, the fetch timeout plus 1 s, not later', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  try {
    await withGateway({ port: idp.port, gateway: { jwksFetchTimeoutMs: 500 } }, async (h, log) => {
      assert.equal((await call(h, tokenFor(K1))).status, 200);
      // The stall, at the one seam between the main thread and the refresher thread: its refetch
      // commands are never delivered, so no answer (not even a failed fetch) ever comes back.
      const refresher = h.gateway.jwksRefresher!;
      const worker = (refresher as unknown as { worker: Worker }).worker;
      const post = worker.postMessage.bind(worker);
      const dropped: unknown[] = [];
      worker.postMessage = (cmd: { type?: string }) => (cmd?.type === 'refetch' ? void dropped.push(cmd) : post(cmd));
      const n = idp.fetches();
      const proxied = h.echo.received.length;
      const t0 = Date.now();
      const res = await Promise.race([call(h, tokenFor(K2)), new Promise<'no answer'>((r) => setTimeout(() => r('no answer'), 3000).unref())]);
      const took = Date.now() - t0;
      assert.notEqual(res, 'no answer', `still waiting ${took} ms after the 1.5 s bound`);
      assert.equal(dropped.length, 1, 'the unknown kid asked the thread for one refetch');
      if (res === 'no answer') return;
      assert.equal(res.status, 401);
      assert.equal(res.body, 'Jwks doesn\'t have key to match kid or alg from Jwt');
      assert.ok(took >= 1400 && took < 2500, `answered at the 500 + 1000 ms bound: ${took} ms`);
      assert.equal(idp.fetches(), n, 'the stalled thread fetched nothing');
      assert.equal(h.echo.received.length, proxied, 'the upstream never saw the request');
      assert.equal(log.find('remote JWKS fetch failed').length, 0, 'no fetch outcome came back');
      // The refetch is over: a later miss asks again (it was not left pending).
      const again = call(h, tokenFor(K2));
      await waitFor(() => dropped.length === 2, 'a second refetch request');
      worker.postMessage = post;
      assert.equal((await again).status, 401);
    });
  } finally {
    await idp.close();
  }
});

// The refresher thread's handle on the main thread (src/jwks/refresher.ts), what an operator and
// a waiting request see of it: entries a fetched key set drops are logged with their reason
// (README "Remote JWKS"); a thread that keeps dying is restarted after 100 ms, then 200 ms,
// 400 ms… (doubling, not a restart loop), counted in jwtgate_jwks_refresher_restarts_total; a
// request waiting for a kid-miss refetch when the thread dies is answered at once, not after the
// 6 s bound. Through the real gateway and refresher thread, against a JWKS server on loopback.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { JWKS_PATH, startJwksServer, waitFor } from '../helpers/jwks-server.js';
import { captureLog, EXT_ID, remoteJwksManifests, tokenFor, type CapturedLog, type RemoteOpts } from '../helpers/remote-jwks.js';
import { jwksOf, rsaSigningKey } from '../helpers/signing-keys.js';

const K1 = rsaSigningKey('k1');
const K2 = rsaSigningKey('k2');

async function withGateway(o: Omit<RemoteOpts, 'url' | 'backendPort'> & { port: number }, fn: (h: Harness, log: CapturedLog) => Promise<void>): Promise<void> {
  const log = captureLog();
  const { port, ...rest } = o;
  const h = await startHarness({
    manifests: [remoteJwksManifests({ url: `http://127.0.0.1:${port}${JWKS_PATH}`, backendPort: port, ...rest })],
    gateway: { logger: log.logger },
  });
  try {
    await fn(h, log);
  } finally {
    await h.close();
  }
}

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

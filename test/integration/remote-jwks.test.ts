// Remote JWKS against a JWKS server the tests control, through the real gateway, refresher
// thread and verify workers: the IdP down at start (both fastListener modes), 500s then
// recovery, slow answers past the fetch timeout, garbage bodies, a kid storm, key rotation and
// removal, the refresher thread dying. Every test counts the fetches the server received.
import test from 'node:test';
import assert from 'node:assert/strict';
import type { Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { freePort, JWKS_PATH, startJwksServer, waitFor, type Answer } from '../helpers/jwks-server.js';
import { EXT_ID, ISSUER, tokenFor, withGateway } from '../helpers/remote-jwks.js';
import { mint } from '../helpers/tokens.js';
import crypto from 'node:crypto';
import net from 'node:net';
import { jwksOf, rsaSigningKey } from '../helpers/signing-keys.js';
import { startAdmin } from '../../src/observability/admin.js';

const K1 = rsaSigningKey('k1');
const K2 = rsaSigningKey('k2');
const STRANGER = rsaSigningKey('stranger');
const INVALID = 'Bearer realm="http://www.example.com:8080/headers", error="invalid_token"';

const call = (h: Harness, token: string) => request({ port: h.port, headers: { authorization: `Bearer ${token}` } });
const stats = (h: Harness) => h.gateway.jwksRefresher!.stats(EXT_ID)!;

test('IdP down at start, fastListener false: the listener waits for the first attempt only, 401 Jwks remote fetch is failed, then recovery', async (t) => {
  const port = await freePort();
  const started = Date.now();
  await withGateway({ port, failedRefetchDuration: '100ms' }, async (h, log) => {
    assert.ok(Date.now() - started < 3000, 'a refused connection ends the first attempt at once');
    assert.equal(h.gateway.ready, true, 'the first attempt ended (failed): ready, as Envoy lets the listener start');
    const res = await call(h, tokenFor(K1));
    assert.equal(res.status, 401);
    assert.equal(res.body, 'Jwks remote fetch is failed');
    assert.equal(res.headers['www-authenticate'], INVALID);
    assert.equal(h.echo.received.length, 0, 'the upstream never saw the request');
    const failed = log.find('remote JWKS fetch failed')[0]!;
    assert.equal(failed['provider'], EXT_ID);
    assert.equal(failed['url'], `http://127.0.0.1:${port}${JWKS_PATH}`);
    assert.equal(failed['outcome'], 'connect_error');
    assert.match(String(failed['msg']), /ECONNREFUSED/);
    assert.equal(failed['serving'], 'no keys: 401 Jwks remote fetch is failed');

    const idp = await startJwksServer({ port, jwks: jwksOf(K1) });
    try {
      await waitFor(async () => (await call(h, tokenFor(K1))).status === 200, 'recovery after the IdP came up');
      assert.equal(idp.fetches(), 1, 'one fetch once the IdP is up');
      assert.ok(log.find('remote JWKS loaded').length === 1);
      assert.ok(h.gateway.metrics.get('jwtgate_jwks_fetch_total', 'connect_error') >= 1);
      assert.equal(h.gateway.metrics.get('jwtgate_jwks_fetch_total', 'ok'), 1);
      t.diagnostic(`down at start (fastListener false): ${stats(h).fetches.connect_error} refused attempts, then ${idp.fetches()} fetch received`);
    } finally {
      await idp.close();
    }
  });
});

test('IdP down or slow at start, fastListener true: the listener does not wait; requests get 401 until the keys arrive', async (t) => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  idp.queue({ delayMs: 2000 });
  try {
    const started = Date.now();
    await withGateway({ port: idp.port, fastListener: true }, async (h) => {
      assert.ok(Date.now() - started < 2000, `start did not wait for the slow first fetch (${Date.now() - started} ms)`);
      assert.equal(h.gateway.ready, true);
      const early = await call(h, tokenFor(K1));
      assert.equal(early.status, 401);
      assert.equal(early.body, 'Jwks remote fetch is failed');
      await waitFor(async () => (await call(h, tokenFor(K1))).status === 200, 'keys after the slow first fetch');
      assert.equal(idp.fetches(), 1);
    });
  } finally {
    await idp.close();
  }
  // And refused outright: start is not delayed either.
  const port = await freePort();
  await withGateway({ port, fastListener: true, failedRefetchDuration: '50ms' }, async (h) => {
    assert.equal((await call(h, tokenFor(K1))).body, 'Jwks remote fetch is failed');
    const late = await startJwksServer({ port, jwks: jwksOf(K1) });
    try {
      await waitFor(async () => (await call(h, tokenFor(K1))).status === 200, 'recovery');
      t.diagnostic(`fastListener true: slow IdP fetched once; down IdP fetched ${late.fetches()} time(s) after it came up`);
      assert.equal(late.fetches(), 1);
    } finally {
      await late.close();
    }
  });
});

test('fastListener false with a slow IdP: the listener starts after the first fetch, so the first request already passes', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  idp.queue({ delayMs: 600 });
  try {
    const started = Date.now();
    await withGateway({ port: idp.port }, async (h) => {
      assert.ok(Date.now() - started >= 550, 'start waited for the first fetch');
      const res = await call(h, tokenFor(K1));
      assert.equal(res.status, 200);
      assert.equal(idp.fetches(), 1);
      // The fetch went to the backend with the URL's host as Host.
      assert.equal(idp.requests[0]!.host, `127.0.0.1:${idp.port}`);
    });
  } finally {
    await idp.close();
  }
});

test('500s then recovery: retries per retryPolicy inside one fetch, failedRefetchDuration between fetches; exact fetch count', async (t) => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  idp.queue({ status: 500, body: 'oops' }, { status: 503, body: 'busy' }, { status: 500, body: 'oops' });
  try {
    await withGateway({ port: idp.port, failedRefetchDuration: '500ms', retryPolicy: '{ numRetries: 2, backOff: { baseInterval: 10ms, maxInterval: 20ms } }' }, async (h, log) => {
      assert.equal(idp.fetches(), 3, 'the first fetch: 1 try + 2 retries, all 5xx');
      assert.equal((await call(h, tokenFor(K1))).body, 'Jwks remote fetch is failed');
      const failed = log.find('remote JWKS fetch failed')[0]!;
      assert.match(String(failed['msg']), /HTTP 500/);
      assert.equal(failed['attempts'], 3);
      assert.equal(failed['status'], 500);
      await waitFor(async () => (await call(h, tokenFor(K1))).status === 200, 'recovery');
      assert.equal(idp.fetches(), 4, '3 failed tries, then 1 good fetch');
      assert.equal(h.gateway.metrics.get('jwtgate_jwks_fetch_total', 'http_status'), 1);
      assert.equal(h.gateway.metrics.get('jwtgate_jwks_fetch_total', 'ok'), 1);
      assert.equal(h.gateway.jwksRefresher!.restarts, 0, 'the refresher thread never crashed');
      t.diagnostic(`500s then recovery: ${idp.fetches()} requests received (3 in the failed fetch, 1 good)`);
    });
  } finally {
    await idp.close();
  }
});

test('an operator can see which IdP fails: /metrics per key set (keys in use, last good fetch, fetches by outcome) and /config_dump with the keys and the fetch record', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  idp.queue({ status: 500, body: 'oops' });
  try {
    await withGateway({ port: idp.port, failedRefetchDuration: '300ms' }, async (h) => {
      const admin = await startAdmin(() => h.gateway, '127.0.0.1', 0);
      try {
        const get = async (path: string) => (await fetch(`http://127.0.0.1:${admin.port}${path}`)).text();
        const provider = `provider="${EXT_ID}"`;
        const failing = await get('/metrics');
        assert.match(failing, new RegExp(`\\njwtgate_jwks_keys\\{${provider.replace(/[#/]/g, '.')}\\} 0\\n`));
        assert.match(failing, /jwtgate_jwks_provider_fetches_total\{provider="[^"]+",outcome="http_status"\} 1\n/);
        assert.match(failing, /jwtgate_jwks_provider_fetches_total\{provider="[^"]+",outcome="timeout"\} 0\n/, 'every outcome shown from the start, at 0');
        assert.doesNotMatch(failing, /jwtgate_jwks_last_success_timestamp_seconds\{/);
        assert.match(failing, /\njwtgate_jwks_refresher_restarts_total 0\n/);
        const before = JSON.parse(await get('/config_dump')).extensions[0].providers[0].keySet;
        assert.equal(before.keyCount, 0);
        assert.match(before.lastFailure, /HTTP 500/);
        assert.ok(Math.abs(Date.parse(before.lastFailureAt) - Date.now()) < 30_000, before.lastFailureAt);
        await waitFor(async () => (await call(h, tokenFor(K1))).status === 200, 'recovery');
        const ok = await get('/metrics');
        assert.match(ok, /\njwtgate_jwks_keys\{provider="[^"]+"\} 1\n/);
        const at = Number(/jwtgate_jwks_last_success_timestamp_seconds\{provider="[^"]+"\} ([0-9.]+)\n/.exec(ok)?.[1]);
        assert.ok(Math.abs(at - Date.now() / 1000) < 30, `last success ${at}`);
        assert.match(ok, /jwtgate_jwks_provider_fetches_total\{provider="[^"]+",outcome="ok"\} 1\n/);
        const after = JSON.parse(await get('/config_dump')).extensions[0].providers[0].keySet;
        assert.equal(after.keyCount, 1);
        assert.equal(after.keys[0].kid, 'k1');
        assert.match(after.keys[0].thumbprint, /^[A-Za-z0-9_-]{16,}$/);
        assert.ok(after.lastSuccess);
        assert.equal(after.lastFailureAt, before.lastFailureAt, 'the failure keeps its time after the success');
        assert.deepEqual(after.fetches, { http_status: 1, ok: 1 });
      } finally {
        await admin.close();
      }
    });
  } finally {
    await idp.close();
  }
});

test('a 404 is not retried and a 4xx is a failure with its status logged', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  idp.queue({ status: 404, body: 'nope' });
  try {
    await withGateway({ port: idp.port, failedRefetchDuration: '50ms', retryPolicy: '{ numRetries: 3 }' }, async (h, log) => {
      assert.equal(idp.fetches(), 1, '4xx: no retry');
      assert.match(String(log.find('remote JWKS fetch failed')[0]!['msg']), /HTTP 404/);
      await waitFor(async () => (await call(h, tokenFor(K1))).status === 200, 'recovery');
      assert.equal(idp.fetches(), 2);
      assert.equal(h.gateway.jwksRefresher!.restarts, 0);
    });
  } finally {
    await idp.close();
  }
});

test('slow answers past the fetch timeout: logged, never crash, and the last good keys keep serving', async (t) => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  try {
    await withGateway({ port: idp.port, cacheDuration: '200ms', failedRefetchDuration: '50ms', gateway: { jwksFetchTimeoutMs: 300 } }, async (h, log) => {
      assert.equal((await call(h, tokenFor(K1))).status, 200);
      idp.always({ delayMs: 2000 });
      await waitFor(() => log.find('remote JWKS fetch failed').some((l) => l['outcome'] === 'timeout'), 'a timed-out refresh');
      const timeout = log.find('remote JWKS fetch failed').find((l) => l['outcome'] === 'timeout')!;
      assert.match(String(timeout['msg']), /timed out after 300 ms/);
      assert.equal(timeout['provider'], EXT_ID);
      assert.equal(timeout['serving'], 'last good key set');
      assert.equal((await call(h, tokenFor(K1))).status, 200, 'still served with the last good keys');
      assert.equal(stats(h).changes, 1, 'no new generation');
      idp.always(undefined);
      const before = stats(h).fetches.ok ?? 0;
      await waitFor(() => (stats(h).fetches.ok ?? 0) > before, 'a good fetch again');
      assert.equal(h.gateway.jwksRefresher!.restarts, 0, 'the refresher thread never crashed');
      t.diagnostic(`slow IdP: ${stats(h).fetches.timeout} timed-out fetches, ${idp.fetches()} requests received`);
    });
  } finally {
    await idp.close();
  }
});

test('garbage answers are rejected with a logged reason naming provider and URL, and never replace the last good set', async (t) => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  const huge = JSON.stringify({ keys: [{ kty: 'oct', k: 'A'.repeat(1024 * 1024 + 10) }] });
  const garbage: (Answer & { want: string })[] = [
    { body: '<html>not json</html>', headers: { 'content-type': 'text/html' }, want: 'bad_json' },
    { body: '{"keys":[]}', want: 'no_valid_keys' },
    { body: '{"keys":[{"kty":"RSA","kid":"x"}]}', want: 'no_valid_keys' },
    { body: '{"foo":1}', want: 'bad_jwks' },
    { body: '[1,2]', want: 'bad_jwks' },
    { body: huge, want: 'body_too_large' },
    { body: '', want: 'empty_body' },
    { status: 302, body: '', headers: { location: '/elsewhere' }, want: 'http_status' },
  ];
  try {
    await withGateway({ port: idp.port, cacheDuration: '50ms', failedRefetchDuration: '10ms' }, async (h, log) => {
      assert.equal((await call(h, tokenFor(K1))).status, 200);
      const base = idp.fetches();
      idp.queue(...garbage.map(({ want: _w, ...a }) => a));
      await waitFor(() => log.find('remote JWKS fetch failed').length >= garbage.length, 'every garbage answer seen', 10_000);
      const failures = log.find('remote JWKS fetch failed').slice(0, garbage.length);
      assert.deepEqual(failures.map((l) => l['outcome']), garbage.map((g) => g.want));
      for (const f of failures) {
        assert.equal(f['provider'], EXT_ID);
        assert.equal(f['url'], `http://127.0.0.1:${idp.port}${JWKS_PATH}`);
        assert.equal(f['serving'], 'last good key set');
        assert.ok(!String(f['msg']).includes('AAAA'), 'no body content in the reason');
      }
      assert.match(String(failures[2]!['msg']), /no valid key in the JWKS: keys\[0\] "kid": "x": RSA key needs "n" and "e"|no valid key in the JWKS: keys\[0\]/);
      assert.equal((await call(h, tokenFor(K1))).status, 200, 'the last good set is still in use');
      assert.equal(stats(h).changes, 1, 'garbage never made a new generation');
      assert.ok(idp.fetches() >= base + garbage.length);
      assert.equal(h.gateway.jwksRefresher!.restarts, 0, 'the refresher thread never crashed');
      t.diagnostic(`garbage: ${garbage.length} bad answers rejected (${garbage.map((g) => g.want).join(', ')})`);
    });
  } finally {
    await idp.close();
  }
});

test('a hostile JWKS (904 KB of 90,000-character alg values, a 12,000-character content-type) gives short failure lines and a short /config_dump lastFailure (one 450 KB warning at every retry)', async () => {
  const alg = 'A'.repeat(90_000);
  const hostile = JSON.stringify({ keys: Array.from({ length: 10 }, (_, i) => ({ ...K1.publicJwk, kid: `k${i}`, alg })) });
  assert.ok(hostile.length > 900_000 && hostile.length < 1024 * 1024, String(hostile.length));
  const idp = await startJwksServer({ jwks: hostile });
  try {
    await withGateway({ port: idp.port, failedRefetchDuration: '50ms' }, async (h, log) => {
      await waitFor(() => log.find('remote JWKS fetch failed').length >= 1, 'the hostile document refused');
      const first = log.find('remote JWKS fetch failed')[0]!;
      assert.equal(first['outcome'], 'no_valid_keys');
      const cutAlg = `${JSON.stringify(alg.slice(0, 100))}…(90000 characters)`;
      assert.ok(String(first['msg']).startsWith(`remote JWKS fetch failed: no valid key in the JWKS: keys[0] (kid "k0"): RSA key with "alg" ${cutAlg} (must be RS* or PS*); keys[1]`), String(first['msg']).slice(0, 400));
      assert.ok(JSON.stringify(first).length < 3000, `a ${JSON.stringify(first).length}-character line`);
      const dumped = h.gateway.remoteState(EXT_ID)!.lastFailure!;
      assert.ok(dumped.length < 2100, `lastFailure of ${dumped.length} characters`);
      assert.ok(dumped.includes(cutAlg));

      // A reason no value quote shortens (a server's content-type): the whole is cut at 2,048 characters.
      const type = `text/plain; x=${'y'.repeat(12_000)}`;
      idp.always({ body: 'not json', headers: { 'content-type': type } });
      await waitFor(() => log.find('remote JWKS fetch failed').some((l) => l['outcome'] === 'bad_json'), 'the bad_json failure');
      const bad = log.find('remote JWKS fetch failed').find((l) => l['outcome'] === 'bad_json')!;
      const reason = `body is not JSON (8 bytes, content-type ${type})`;
      const capped = `${reason.slice(0, 2048)}…(${reason.length} characters)`;
      assert.equal(bad['msg'], `remote JWKS fetch failed: ${capped}`);
      await waitFor(() => h.gateway.remoteState(EXT_ID)!.lastFailure === capped, 'lastFailure capped');
    });
  } finally {
    await idp.close();
  }
});

test('the failure reason cap is at exactly 2,048 characters: a 2,048-character reason is logged and dumped whole, a 2,049-character one is cut to 2,048 and its length', async () => {
  // bad_json's reason quotes the server's content-type: its length sets the reason's.
  const reasonOf = (type: string) => `body is not JSON (8 bytes, content-type ${type})`;
  const typeFor = (length: number, fill: string) => {
    const head = 'text/plain; x=';
    const type = `${head}${fill.repeat(length - reasonOf(head).length)}`;
    assert.equal(reasonOf(type).length, length);
    return type;
  };
  const exact = reasonOf(typeFor(2048, 'a'));
  const over = reasonOf(typeFor(2049, 'b'));
  const idp = await startJwksServer();
  idp.always({ body: 'not json', headers: { 'content-type': typeFor(2048, 'a') } });
  try {
    await withGateway({ port: idp.port, failedRefetchDuration: '50ms' }, async (h, log) => {
      const failures = () => log.find('remote JWKS fetch failed').filter((l) => l['outcome'] === 'bad_json');
      await waitFor(() => failures().length >= 1, 'the 2,048-character failure');
      assert.equal(failures()[0]!['msg'], `remote JWKS fetch failed: ${exact}`);
      assert.equal(h.gateway.remoteState(EXT_ID)!.lastFailure, exact);
      assert.equal(stats(h).lastFailure, exact);

      idp.always({ body: 'not json', headers: { 'content-type': typeFor(2049, 'b') } });
      const capped = `${over.slice(0, 2048)}…(2049 characters)`;
      await waitFor(() => failures().some((l) => l['msg'] !== `remote JWKS fetch failed: ${exact}`), 'the 2,049-character failure');
      const cut = failures().find((l) => l['msg'] !== `remote JWKS fetch failed: ${exact}`)!;
      assert.equal(cut['msg'], `remote JWKS fetch failed: ${capped}`);
      await waitFor(() => h.gateway.remoteState(EXT_ID)!.lastFailure === capped, 'lastFailure cut');
      assert.equal(stats(h).lastFailure, capped);
    });
  } finally {
    await idp.close();
  }
});

test('kid storm: many unknown kids cause at most one early refetch per cooldown', async (t) => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  try {
    await withGateway({ port: idp.port }, async (h, log) => {
      assert.equal(idp.fetches(), 1);
      // 400 requests, each with another unknown kid, 50 at a time.
      const statuses: string[] = [];
      for (let wave = 0; wave < 8; wave++) {
        const batch = await Promise.all(Array.from({ length: 50 }, (_, i) => call(h, tokenFor(STRANGER, { kid: `unknown-${wave}-${i}` }))));
        for (const r of batch) statuses.push(`${r.status} ${r.body}`);
      }
      assert.equal(statuses.length, 400);
      assert.ok(statuses.every((s) => s === "401 Jwks doesn't have key to match kid or alg from Jwt"), [...new Set(statuses)].join(' | '));
      assert.equal(idp.fetches(), 2, 'the initial fetch + one early refetch (30 s cooldown)');
      assert.equal(stats(h).earlyRefetches, 1);
      assert.equal((await call(h, tokenFor(K1))).status, 200, 'good tokens unaffected');
      assert.ok(log.lines.every((l) => !JSON.stringify(l).includes(tokenFor(K1).split('.')[2]!.slice(0, 20))), 'no token in the logs');
      t.diagnostic(`kid storm (30 s cooldown): 400 requests with 400 unknown kids -> ${idp.fetches()} fetches received (1 initial + ${stats(h).earlyRefetches} early refetch)`);
    });
    // A short cooldown: never more early refetches than the cooldown allows over the storm.
    const before = idp.fetches();
    await withGateway({ port: idp.port, gateway: { jwksRefetchCooldownMs: 200 } }, async (h) => {
      const started = Date.now();
      for (let wave = 0; wave < 6; wave++) {
        await Promise.all(Array.from({ length: 40 }, (_, i) => call(h, tokenFor(STRANGER, { kid: `w${wave}-${i}` }))));
        await new Promise((r) => setTimeout(r, 80));
      }
      const elapsed = Date.now() - started;
      const early = stats(h).earlyRefetches;
      const received = idp.fetches() - before;
      assert.equal(received, 1 + early, 'every fetch is the initial one or a counted early refetch');
      assert.ok(early >= 1 && early <= Math.floor(elapsed / 200) + 1, `${early} early refetches in ${elapsed} ms with a 200 ms cooldown`);
      t.diagnostic(`kid storm (200 ms cooldown): 240 requests over ${elapsed} ms -> ${received} fetches (1 initial + ${early} early)`);
    });
  } finally {
    await idp.close();
  }
});

test('rotation with a controlled IdP: a new kid is fetched once (coalesced), old tokens pass while published, a removed key stops being honoured', async (t) => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  try {
    await withGateway({ port: idp.port, gateway: { jwksRefetchCooldownMs: 100 } }, async (h) => {
      const t1 = tokenFor(K1);
      assert.equal((await call(h, t1)).status, 200);
      assert.equal((await call(h, t1)).status, 200);
      assert.ok(h.gateway.metrics.get('jwtgate_result_cache_total', 'hit') >= 1, 'the old token is a cache hit');
      idp.jwks = jwksOf(K2, K1);
      const before = idp.fetches();
      // 30 concurrent first requests with the new key: they share one early refetch.
      const t2 = tokenFor(K2);
      const burst = await Promise.all(Array.from({ length: 30 }, () => call(h, t2)));
      assert.deepEqual([...new Set(burst.map((r) => `${r.status} ${r.status === 200 ? '' : r.body}`))], ['200 ']);
      assert.equal(idp.fetches() - before, 1, 'one fetch for the whole burst');
      assert.equal(stats(h).changes, 2, 'a new generation');
      assert.equal((await call(h, t1)).status, 200, 'the old key is still published');
      // The old key is withdrawn; the next fetch (here a kid miss after the cooldown) drops it,
      // and the old token's cached verification is no longer honoured.
      idp.jwks = jwksOf(K2);
      await new Promise((r) => setTimeout(r, 150));
      assert.equal((await call(h, tokenFor(STRANGER, { kid: 'k3' }))).status, 401);
      assert.equal(stats(h).changes, 3);
      const old = await call(h, t1);
      assert.equal(old.status, 401);
      assert.equal(old.body, "Jwks doesn't have key to match kid or alg from Jwt");
      assert.equal((await call(h, t2)).status, 200);
      t.diagnostic(`controlled rotation: 30-request burst with a new kid -> 1 fetch; ${idp.fetches()} fetches in total`);
    });
  } finally {
    await idp.close();
  }
});

test('a burst of one new token waiting for a kid-miss refetch is checked once after it: the waiting requests share the check in the pool (found by mutation testing)', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  try {
    await withGateway({ port: idp.port, gateway: { jwksRefetchCooldownMs: 100, verifyMode: 'pool' } }, async (h) => {
      assert.equal((await call(h, tokenFor(K1))).status, 200);
      idp.jwks = jwksOf(K2, K1);
      const checks = () => h.gateway.metrics.get('jwtgate_jwt_verifications_total', 'pool') + h.gateway.metrics.get('jwtgate_jwt_verifications_total', 'inline');
      const before = checks();
      const t2 = tokenFor(K2);
      const burst = await Promise.all(Array.from({ length: 10 }, () => call(h, t2)));
      assert.deepEqual(burst.map((r) => r.status), Array(10).fill(200));
      assert.equal(checks() - before, 1, 'one signature check for the ten requests');
    });
  } finally {
    await idp.close();
  }
});

test('the refresher thread is restarted when it dies, and the last good key sets stay in use meanwhile', async (t) => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  try {
    await withGateway({ port: idp.port, cacheDuration: '300ms' }, async (h, log) => {
      const tok = tokenFor(K1);
      assert.equal((await call(h, tok)).status, 200);
      const refresher = h.gateway.jwksRefresher!;
      await refresher.kill();
      assert.equal((await call(h, tokenFor(K1))).status, 200, 'served from the main thread keys while the thread is gone');
      await waitFor(() => refresher.restarts === 1, 'restart');
      assert.ok(log.find('JWKS refresher thread exited').length === 1);
      const n = idp.fetches();
      await waitFor(() => idp.fetches() > n, 'the restarted thread refreshes on schedule');
      assert.equal(stats(h).changes, 1, 'same keys after the restart: same generation');
      assert.equal((await call(h, tokenFor(K1))).status, 200);
      t.diagnostic(`refresher restart: ${refresher.restarts} restart, ${idp.fetches()} fetches in total`);
    });
  } finally {
    await idp.close();
  }
});

test('the kid-miss cooldown runs on the monotonic clock: a wall clock stepped back an hour (NTP, a VM resumed) does not stretch it', async (t) => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  try {
    await withGateway({ port: idp.port, gateway: { jwksRefetchCooldownMs: 300 } }, async (h) => {
      assert.equal((await call(h, tokenFor(STRANGER, { kid: 'a' }))).status, 401);
      assert.equal(idp.fetches(), 2, 'the initial fetch + one early refetch');
      // A second miss inside the cooldown: answered at once, the cooldown's end recorded.
      assert.equal((await call(h, tokenFor(STRANGER, { kid: 'b' }))).status, 401);
      assert.equal(idp.fetches(), 2);
      const realNow = Date.now.bind(Date);
      t.mock.method(Date, 'now', () => realNow() - 3_600_000);
      await new Promise((r) => setTimeout(r, 400));
      idp.jwks = jwksOf(K1, STRANGER);
      const res = await call(h, tokenFor(STRANGER, { kid: STRANGER.kid }));
      assert.equal(idp.fetches(), 3, 'the cooldown ended after 300 ms, not an hour later');
      assert.equal(res.status, 200);
    });
  } finally {
    await idp.close();
  }
});

test('a kid miss while the cooldown runs does not wait: it answers at once', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  try {
    await withGateway({ port: idp.port }, async (h) => {
      assert.equal((await call(h, tokenFor(STRANGER, { kid: 'a' }))).status, 401);
      assert.equal(idp.fetches(), 2);
      idp.always({ delayMs: 3000 });
      const t0 = Date.now();
      assert.equal((await call(h, tokenFor(STRANGER, { kid: 'b' }))).status, 401);
      assert.ok(Date.now() - t0 < 1000, 'no fetch, no wait during the cooldown');
      assert.equal(idp.fetches(), 2);
    });
  } finally {
    await idp.close();
  }
});


test('a key set that changes to one whose kid holds the old separators still counts as changed: the withdrawn key stops being honoured', async () => {
  const X = rsaSigningKey('a');
  const Y = rsaSigningKey('b');
  const idp = await startJwksServer({ jwks: jwksOf(X, Y) });
  try {
    await withGateway({ port: idp.port, cacheDuration: '300ms' }, async (h, log) => {
      assert.equal((await call(h, tokenFor(X))).status, 200);
      const loaded = log.find('remote JWKS loaded')[0]!.keys as string[];
      const thumbprintX = loaded[0]!.split('/')[2];
      // X withdrawn; Y alone, under a kid that spells what the old joined digest of {X, Y} was.
      idp.jwks = JSON.stringify({ keys: [{ ...JSON.parse(jwksOf(Y)).keys[0], kid: `a|RS256|${thumbprintX},b` }] });
      await waitFor(() => stats(h).changes === 2, 'the new key set published');
      const res = await call(h, tokenFor(X));
      assert.equal(res.status, 401);
      assert.equal(res.body, 'Jwks doesn\'t have key to match kid or alg from Jwt');
    });
  } finally {
    await idp.close();
  }
});

test('a restarted refresher thread reports unchanged oct (HS256) keys as unchanged: no new generation', async () => {
  const secret = crypto.randomBytes(32);
  const idp = await startJwksServer({ jwks: JSON.stringify({ keys: [{ kty: 'oct', kid: 'h1', alg: 'HS256', k: secret.toString('base64url') }] }) });
  try {
    await withGateway({ port: idp.port, cacheDuration: '300ms' }, async (h, log) => {
      const token = mint({ alg: 'HS256', key: crypto.createSecretKey(secret), kid: 'h1', payload: { iss: ISSUER, exp: Math.floor(Date.now() / 1000) + 600 } });
      assert.equal((await call(h, token)).status, 200);
      const refresher = h.gateway.jwksRefresher!;
      await refresher.kill();
      await waitFor(() => refresher.restarts === 1, 'the restart');
      const n = idp.fetches();
      await waitFor(() => idp.fetches() >= n + 2, 'two fetches by the restarted thread');
      assert.equal(stats(h).changes, 1, 'same keys, same generation');
      assert.equal(log.find('remote JWKS changed').length, 0);
      assert.equal((await call(h, token)).status, 200);
    });
  } finally {
    await idp.close();
  }
});

test('the same keys in another order are the same key set: no new generation at each refresh (IdP replicas that list keys differently emptied the signature cache every time)', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1, K2) });
  try {
    await withGateway({ port: idp.port, cacheDuration: '100ms' }, async (h, log) => {
      assert.equal((await call(h, tokenFor(K2))).status, 200);
      idp.jwks = jwksOf(K2, K1);
      const n = idp.fetches();
      await waitFor(() => idp.fetches() >= n + 3, 'three fetches of the reordered set');
      assert.equal(stats(h).changes, 1, 'same keys, same generation');
      assert.equal(log.find('remote JWKS changed').length, 0);
      assert.equal((await call(h, tokenFor(K1))).status, 200);
      // A real change is still one.
      idp.jwks = jwksOf(K2);
      await waitFor(() => stats(h).changes === 2, 'the withdrawal of k1 published');
      assert.equal((await call(h, tokenFor(K1))).status, 401);
    });
  } finally {
    await idp.close();
  }
});

test('a client that leaves while its token waits for a kid-miss refetch is counted as CLIENT_CLOSED, and nothing is sent for it', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  try {
    await withGateway({ port: idp.port }, async (h) => {
      assert.equal((await call(h, tokenFor(K1))).status, 200);
      const n = h.echo.received.length;
      const closedBefore = h.gateway.metrics.get('jwtgate_requests_total', 'CLIENT_CLOSED');
      // K2 is not in the set: its kid triggers a refetch, which the IdP answers slowly.
      idp.jwks = jwksOf(K1, K2);
      idp.queue({ delayMs: 1500 });
      const gone = request({ port: h.port, headers: { authorization: `Bearer ${tokenFor(K2)}` }, timeoutMs: 300 }).catch((err: Error) => err);
      assert.match(String(await gone), /client timeout/);
      await waitFor(() => h.gateway.metrics.get('jwtgate_requests_total', 'CLIENT_CLOSED') === closedBefore + 1, 'CLIENT_CLOSED counted', 5000);
      assert.equal(h.echo.received.length, n, 'never forwarded');
    });
  } finally {
    await idp.close();
  }
});

test('a client that leaves while its token waits for a kid-miss refetch: its request ends when it leaves (duration in the access log and the histogram), not when the slow fetch returns', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  try {
    await withGateway({ port: idp.port, gateway: { accessLog: true } }, async (h, log) => {
      assert.equal((await call(h, tokenFor(K1))).status, 200);
      // K2's kid is unknown: the check waits for an early refetch, which the IdP answers slowly.
      idp.queue({ body: jwksOf(K1, K2), delayMs: 1500 });
      const sock = net.connect(h.port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      sock.write(`GET /headers HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${tokenFor(K2)}\r\n\r\n`);
      await waitFor(() => idp.fetches() === 2, 'the early refetch');
      sock.destroy();
      await waitFor(() => log.lines.some((l) => l['msg'] === 'request' && l['result'] === 'CLIENT_CLOSED'), 'the CLIENT_CLOSED line', 5000);
      const line = log.lines.find((l) => l['msg'] === 'request' && l['result'] === 'CLIENT_CLOSED')!;
      assert.ok((line['durationMs'] as number) < 1000, `ended when the client left: ${line['durationMs']} ms (the fetch took 1500)`);
      assert.equal(h.gateway.metrics.requestDuration.count, 2);
      assert.equal(h.gateway.metrics.requestDuration.countAtMost(1000), 2);
    });
  } finally {
    await idp.close();
  }
});

test('without asyncFetch a key set is not used past its cacheDuration, as Envoy: the IdP failing past it gives 401 Jwks remote fetch is failed (its cached results too) until a fetch succeeds; with asyncFetch the last good keys stay', { timeout: 40_000 }, async (t) => {
  for (const asyncFetch of [false, true]) {
    const idp = await startJwksServer({ jwks: jwksOf(K1) });
    try {
      // `fastListener: false` is the default: it only makes the helper write `asyncFetch`.
      await withGateway({ port: idp.port, cacheDuration: '2s', ...(asyncFetch ? { fastListener: false } : {}) }, async (h, log) => {
        const token = tokenFor(K1);
        assert.equal((await call(h, token)).status, 200);
        assert.equal((await call(h, token)).status, 200, 'a cached result');
        idp.always({ status: 500, body: 'down' });
        const started = Date.now();
        if (!asyncFetch) {
          await waitFor(async () => (await call(h, token)).status === 401, 'the key set to expire', 15_000);
          const res = await call(h, token);
          assert.equal(res.body, 'Jwks remote fetch is failed');
          assert.equal(res.headers['www-authenticate'], INVALID);
          const expired = log.find('remote JWKS expired');
          assert.equal(expired.length, 1);
          assert.equal(expired[0]!['provider'], EXT_ID);
          assert.equal(expired[0]!['cacheDurationMs'], 2000);
          assert.equal(stats(h).keyCount, 0);
          assert.equal(log.find('remote JWKS fetch failed').at(-1)!['serving'], 'no keys: 401 Jwks remote fetch is failed');
          t.diagnostic(`no asyncFetch: 401 ${Date.now() - started} ms after the IdP began failing (cacheDuration 2 s)`);
          idp.always(undefined);
          await waitFor(async () => (await call(h, token)).status === 200, 'the keys back once a fetch succeeds', 10_000);
        } else {
          await waitFor(() => log.find('remote JWKS fetch failed').length >= 3, 'three failed refreshes', 15_000);
          assert.ok(Date.now() - started > 2000);
          assert.equal((await call(h, token)).status, 200, 'asyncFetch: the last good keys stay in use');
          assert.equal(log.find('remote JWKS expired').length, 0);
        }
      });
    } finally {
      await idp.close();
    }
  }
});

test('--jwks-refetch-cooldown-ms 0: no early refetch on an unknown kid, as Envoy: 401 Jwks doesn\'t have key to match kid or alg from Jwt until a scheduled fetch brings the key', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  try {
    await withGateway({ port: idp.port, gateway: { jwksRefetchCooldownMs: 0 } }, async (h) => {
      assert.equal((await call(h, tokenFor(K1))).status, 200);
      idp.jwks = jwksOf(K1, STRANGER);
      for (let i = 0; i < 3; i++) {
        const res = await call(h, tokenFor(STRANGER));
        assert.equal(res.status, 401);
        assert.equal(res.body, "Jwks doesn't have key to match kid or alg from Jwt");
      }
      assert.equal(idp.fetches(), 1, 'only the first fetch');
      assert.equal(stats(h).earlyRefetches, 0);
    });
  } finally {
    await idp.close();
  }
});

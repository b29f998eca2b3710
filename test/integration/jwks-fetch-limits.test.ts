// What one remote JWKS fetch accepts and how it retries, pinned at the edges (README "Remote
// JWKS" and "Limits"): only HTTP 200 succeeds (not another 2xx); the 1 MiB body limit lets a
// body of exactly the limit through, declared or streamed; a blank body is `empty_body`; the URL's
// query is sent; retries happen on resets and unusable answers but not on certificate errors;
// the backoff is capped at maxInterval; a retry that could not start before the 5 s deadline is
// not waited for (the failure is answered at once, not a timeout later). Against real sockets on
// loopback.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { fetchJwks, type JwksFetchResult } from '../../src/jwks/remote-fetch.js';
import type { RemoteJwksSpec } from '../../src/types.js';
import { JWKS_PATH, startJwksServer } from '../helpers/jwks-server.js';
import { jwksOf, rsaSigningKey } from '../helpers/signing-keys.js';
import { makeTestCa } from '../helpers/test-ca.js';

const K1 = rsaSigningKey('k1');
const JWKS = jwksOf(K1);

const spec = (port: number, over: Partial<RemoteJwksSpec> = {}): RemoteJwksSpec => ({
  id: `GatewayExtension/ns/ext#limits-${port}`,
  url: `http://idp.test:${port}${JWKS_PATH}`,
  target: { host: '127.0.0.1', port },
  cacheDurationMs: 600_000,
  failedRefetchDurationMs: 1000,
  numRetries: 0,
  backOffBaseMs: 1,
  backOffMaxMs: 1,
  ...over,
});

const outcomeOf = (r: JwksFetchResult) => (r.ok ? 'ok' : r.outcome);

/** A plain HTTP server answering each request with `answer`. */
async function withServer(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void, fn: (port: number) => Promise<void>): Promise<void> {
  const server = http.createServer(answer);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    await fn((server.address() as net.AddressInfo).port);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

test('only HTTP 200 is a success: a 201 or 203 carrying a valid JWKS is http_status, with its status, not retried', async () => {
  const idp = await startJwksServer({ jwks: JWKS });
  try {
    for (const status of [201, 203]) {
      idp.queue({ status, body: JWKS }, { status, body: JWKS });
      const before = idp.fetches();
      const r = await fetchJwks(spec(idp.port, { numRetries: 1 }));
      assert.equal(outcomeOf(r), 'http_status', JSON.stringify(r));
      assert.ok(!r.ok && r.status === status && /only 200/.test(r.reason), JSON.stringify(r));
      assert.equal(idp.fetches() - before, 1, `a ${status} is not retried`);
      idp.always(undefined);
    }
  } finally {
    await idp.close();
  }
});

test('a body of exactly the size limit is accepted, declared (Content-Length) or streamed (chunked); one byte more is body_too_large', async () => {
  const limit = 4096;
  const exact = JWKS + ' '.repeat(limit - JWKS.length);
  assert.equal(Buffer.byteLength(exact), limit);
  let body = exact;
  let chunked = false;
  await withServer(
    (_req, res) => {
      if (chunked) {
        res.writeHead(200, { 'content-type': 'application/json' });
        // Two chunks, so the count is made while reading.
        res.write(body.slice(0, 100));
        res.end(body.slice(100));
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
        res.end(body);
      }
    },
    async (port) => {
      for (chunked of [false, true]) {
        body = exact;
        const ok = await fetchJwks(spec(port), { maxBodyBytes: limit });
        assert.equal(outcomeOf(ok), 'ok', `exactly ${limit} bytes (${chunked ? 'chunked' : 'content-length'}): ${JSON.stringify(ok)}`);
        assert.ok(ok.ok && ok.bytes === limit);
        body = exact + ' ';
        const over = await fetchJwks(spec(port), { maxBodyBytes: limit });
        assert.equal(outcomeOf(over), 'body_too_large', `${limit + 1} bytes (${chunked ? 'chunked' : 'content-length'})`);
      }
    },
  );
});

test('a 200 whose body is only whitespace is empty_body (not bad_json)', async () => {
  const idp = await startJwksServer({ jwks: JWKS });
  try {
    idp.queue({ status: 200, body: ' \r\n\t ' });
    const r = await fetchJwks(spec(idp.port));
    assert.equal(outcomeOf(r), 'empty_body', JSON.stringify(r));
  } finally {
    await idp.close();
  }
});

test('the URL query is sent with the path (an IdP that needs ?tenant=… gets it)', async () => {
  const idp = await startJwksServer({ jwks: JWKS });
  try {
    const r = await fetchJwks(spec(idp.port, { url: `http://idp.test:${idp.port}${JWKS_PATH}?tenant=a&v=2` }));
    assert.equal(outcomeOf(r), 'ok', JSON.stringify(r));
    assert.equal(idp.requests.at(-1)?.path, `${JWKS_PATH}?tenant=a&v=2`);
  } finally {
    await idp.close();
  }
});

test('retry_on reset and on an unusable answer: both are retried per numRetries (a raw server that fails once, then answers)', async () => {
  for (const [fail, outcome] of [
    [(s: net.Socket) => s.destroy(), 'reset'],
    [(s: net.Socket) => s.end('HTTP/1.1 2x0 OK\r\n\r\n'), 'bad_response'],
  ] as const) {
    let connections = 0;
    const server = net.createServer((s) => {
      s.on('error', () => {});
      const n = ++connections;
      s.once('data', () => (n === 1 ? fail(s) : s.end(`HTTP/1.1 200 OK\r\nContent-Length: ${JWKS.length}\r\nConnection: close\r\n\r\n${JWKS}`)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const once = await fetchJwks(spec(port, { id: `GatewayExtension/ns/ext#${outcome}-0` }), { timeoutMs: 3000 });
      assert.equal(outcomeOf(once), outcome, 'without retries the first failure ends the fetch');
      connections = 0;
      const r = await fetchJwks(spec(port, { id: `GatewayExtension/ns/ext#${outcome}-1`, numRetries: 1 }), { timeoutMs: 3000 });
      assert.equal(outcomeOf(r), 'ok', `${outcome} then 200: ${JSON.stringify(r)}`);
      assert.equal(r.attempts, 2);
    } finally {
      server.close();
    }
  }
});

test('a certificate error is not retried, whatever numRetries says (retrying cannot help)', async () => {
  const ca = makeTestCa();
  const idp = await startJwksServer({ jwks: JWKS, tls: { key: ca.keyPem, cert: ca.certPem } });
  try {
    // https:// without a policy: the default trust store refuses the test CA.
    const r = await fetchJwks(spec(idp.port, { url: `https://idp.test:${idp.port}${JWKS_PATH}`, numRetries: 3 }), { timeoutMs: 3000 });
    assert.equal(outcomeOf(r), 'tls_error', JSON.stringify(r));
    assert.equal(r.attempts, 1);
  } finally {
    await idp.close();
    ca.cleanup();
  }
});

test('a BackendConfigPolicy CA without verifySubjectAltNames checks the chain, not the host name (kgateway): a URL host the certificate does not name is fetched', async () => {
  const ca = makeTestCa();
  const idp = await startJwksServer({ jwks: JWKS, tls: { key: ca.keyPem, cert: ca.certPem } });
  try {
    // The certificate names idp.test, other.test and 127.0.0.1, not unnamed.test.
    const r = await fetchJwks(spec(idp.port, { url: `https://unnamed.test:${idp.port}${JWKS_PATH}`, tls: { insecureSkipVerify: false, caPem: ca.caPem } }), { timeoutMs: 3000 });
    assert.equal(outcomeOf(r), 'ok', JSON.stringify(r));
    // The same with verifySubjectAltNames naming it: refused.
    const named = await fetchJwks(spec(idp.port, { url: `https://unnamed.test:${idp.port}${JWKS_PATH}`, tls: { insecureSkipVerify: false, caPem: ca.caPem, verifySubjectAltNames: ['unnamed.test'] } }), { timeoutMs: 3000 });
    assert.equal(outcomeOf(named), 'tls_error');
  } finally {
    await idp.close();
    ca.cleanup();
  }
});

test('retry backoff: exponential from baseInterval and capped at maxInterval (jitter pinned to its top)', async () => {
  const idp = await startJwksServer({ jwks: JWKS });
  try {
    idp.always({ status: 503, body: 'down' });
    // base 150 ms, max 300 ms: waits of 150, 300, 300 (uncapped: 150, 300, 600).
    const r = await fetchJwks(spec(idp.port, { numRetries: 3, backOffBaseMs: 150, backOffMaxMs: 300 }), { random: () => 0.999999 });
    assert.equal(outcomeOf(r), 'http_status');
    assert.equal(r.attempts, 4);
    const at = idp.requests.map((q) => q.at);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    assert.equal(gaps.length, 3);
    assert.ok(gaps[0]! >= 140 && gaps[0]! < 260, `first wait ~150 ms: ${gaps}`);
    assert.ok(gaps[1]! >= 290, `second wait ~300 ms: ${gaps}`);
    assert.ok(gaps[2]! >= 290 && gaps[2]! < 450, `third wait capped at maxInterval (300 ms), not 600 ms: ${gaps}`);
  } finally {
    await idp.close();
  }
});

test('a retry whose backoff would end past the fetch deadline is not waited for: the failure is answered at once, with its own outcome (not a timeout)', async () => {
  const idp = await startJwksServer({ jwks: JWKS });
  try {
    idp.always({ status: 500, body: 'down' });
    const t0 = Date.now();
    const r = await fetchJwks(spec(idp.port, { numRetries: 3, backOffBaseMs: 2000, backOffMaxMs: 2000 }), { timeoutMs: 800 });
    const took = Date.now() - t0;
    assert.ok(!r.ok && r.outcome === 'http_status' && r.status === 500, JSON.stringify(r));
    assert.equal(r.attempts, 1);
    assert.ok(took < 600, `answered without sleeping to the deadline: ${took} ms`);
    assert.equal(idp.fetches(), 1);
  } finally {
    await idp.close();
  }
});

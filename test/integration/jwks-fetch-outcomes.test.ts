// How a remote JWKS fetch that got no usable answer is labelled (the `outcome` of the fetch log
// line and of jwtgate_jwks_fetch_total): nobody listening is `connect_error`; a connection
// closed or reset after it was made is `reset`; an answer that is not usable HTTP/1.1 is
// `bad_response`. Each against a raw TCP server on loopback.
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { fetchJwks, type JwksFetchResult } from '../../src/jwks/remote-fetch.js';
import { freePort } from '../helpers/jwks-server.js';

const spec = (port: number) => ({
  id: 'GatewayExtension/ns/ext#p',
  url: `http://127.0.0.1:${port}/keys`,
  target: { host: '127.0.0.1', port },
  cacheDurationMs: 60_000,
  failedRefetchDurationMs: 1_000,
  numRetries: 0,
  backOffBaseMs: 1,
  backOffMaxMs: 1,
});

/** Fetches from a server that answers the request with `answer` (written raw), or with `act`. */
async function fetchFrom(answer: string | ((s: net.Socket) => void)): Promise<JwksFetchResult> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => (typeof answer === 'string' ? s.end(answer) : answer(s)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await fetchJwks(spec((server.address() as net.AddressInfo).port), { timeoutMs: 3_000 });
  } finally {
    server.close();
  }
}

const outcomeOf = (r: JwksFetchResult) => (r.ok ? 'ok' : r.outcome);

test('nobody listening: connect_error', async () => {
  assert.equal(outcomeOf(await fetchJwks(spec(await freePort()), { timeoutMs: 3_000 })), 'connect_error');
});

test("a Static Backend's hosts are tried in turn: a dead first host costs one attempt (a retry, or the next fetch), not every fetch", async () => {
  const jwks = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', kid: 'k', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] });
  const hits: number[] = [];
  const live = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => {
      hits.push(Date.now());
      s.end(`HTTP/1.1 200 OK\r\nContent-Length: ${jwks.length}\r\n\r\n${jwks}`);
    });
  });
  await new Promise<void>((r) => live.listen(0, '127.0.0.1', r));
  const livePort = (live.address() as net.AddressInfo).port;
  const dead = { host: '127.0.0.1', port: await freePort() };
  try {
    const base = { ...spec(livePort), target: dead, alternates: [{ host: '127.0.0.1', port: livePort }] };
    // With retryPolicy: the retry goes to the next host, and this fetch succeeds.
    const retried = await fetchJwks({ ...base, id: 'GatewayExtension/ns/ext#retry', numRetries: 1 }, { timeoutMs: 3_000 });
    assert.equal(outcomeOf(retried), 'ok');
    assert.equal(retried.attempts, 2);
    // Without: the first fetch fails on the dead host, the next one (failedRefetchDuration later) reaches the live one.
    const one = { ...base, id: 'GatewayExtension/ns/ext#noretry' };
    assert.equal(outcomeOf(await fetchJwks(one, { timeoutMs: 3_000 })), 'connect_error');
    assert.equal(outcomeOf(await fetchJwks(one, { timeoutMs: 3_000 })), 'ok');
    assert.equal(outcomeOf(await fetchJwks(one, { timeoutMs: 3_000 })), 'connect_error', 'round robin: back to the first host');
    assert.equal(hits.length, 2);
    // A host name that does not resolve is no endpoint (Envoy's DNS cluster): the next host is
    // tried within the same attempt, so no fetch fails on it, retryPolicy or not.
    const named = { ...base, id: 'GatewayExtension/ns/ext#unresolved', target: { host: 'jwks.does-not-exist.invalid', port: livePort } };
    for (let i = 0; i < 3; i++) {
      const r = await fetchJwks(named, { timeoutMs: 3_000 });
      assert.equal(outcomeOf(r), 'ok', `fetch ${i}`);
      assert.equal(r.attempts, 1);
    }
    assert.equal(hits.length, 5);
    // A spec with fewer hosts under the same id (a new configuration) does not read past its list.
    const liveHost = { host: '127.0.0.1', port: livePort };
    const three = { ...spec(livePort), id: 'GatewayExtension/ns/ext#shrunk', alternates: [liveHost, liveHost] };
    for (let i = 0; i < 2; i++) assert.equal(outcomeOf(await fetchJwks(three, { timeoutMs: 3_000 })), 'ok');
    assert.equal(outcomeOf(await fetchJwks({ ...three, alternates: [liveHost] }, { timeoutMs: 3_000 })), 'ok');
  } finally {
    live.close();
  }
});

test('closed or reset after the connection was made: reset', async () => {
  assert.equal(outcomeOf(await fetchFrom((s) => s.destroy())), 'reset');
  assert.equal(outcomeOf(await fetchFrom('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"keys":[]}')), 'reset', 'closed before the body was complete');
  assert.equal(
    outcomeOf(
      await fetchFrom((s) => {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"ke');
        setTimeout(() => s.resetAndDestroy(), 50);
      }),
    ),
    'reset',
  );
});

test('an answer that is not usable HTTP/1.1: bad_response, with the parser\'s reason', async () => {
  const bad = await fetchFrom('HTTP/1.1 2x0 OK\r\n\r\n');
  assert.equal(outcomeOf(bad), 'bad_response');
  assert.match(!bad.ok ? bad.reason : '', /Invalid status code/);
  assert.equal(outcomeOf(await fetchFrom('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n')), 'bad_response');
  assert.equal(outcomeOf(await fetchFrom(`HTTP/1.1 200 OK\r\nX-A: ${'a'.repeat(70_000)}\r\n\r\n`)), 'bad_response');
  assert.equal(outcomeOf(await fetchFrom('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}')), 'bad_response');
});

test('no host of the Backend resolves: the fetch fails as connect_error naming the last host tried, in one attempt (every host tried, none skipped)', async () => {
  const port = await freePort();
  const r = await fetchJwks(
    { ...spec(port), id: 'GatewayExtension/ns/ext#none-resolve', target: { host: 'jwks-a.does-not-exist.invalid', port }, alternates: [{ host: 'jwks-b.does-not-exist.invalid', port }] },
    { timeoutMs: 3_000 },
  );
  assert.equal(outcomeOf(r), 'connect_error', JSON.stringify(r));
  assert.equal(r.attempts, 1);
  assert.match(!r.ok ? r.reason : '', /ENOTFOUND jwks-b\.does-not-exist\.invalid/);
});

test('a TLS handshake that breaks off (the server answers in plaintext): tls_error with OpenSSL\'s reason, retried per numRetries like a reset', async () => {
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    s.on('error', () => {});
    s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const tlsSpec = { ...spec(port), id: 'GatewayExtension/ns/ext#plaintext', url: `https://127.0.0.1:${port}/keys`, tls: { insecureSkipVerify: true } };
    const once = await fetchJwks(tlsSpec, { timeoutMs: 3_000 });
    assert.equal(outcomeOf(once), 'tls_error', JSON.stringify(once));
    assert.match(!once.ok ? once.reason : '', /^TLS: .*wrong version number/i);
    assert.equal(once.attempts, 1);
    assert.equal(connections, 1);
    const retried = await fetchJwks({ ...tlsSpec, numRetries: 2 }, { timeoutMs: 3_000 });
    assert.equal(outcomeOf(retried), 'tls_error', JSON.stringify(retried));
    assert.equal(retried.attempts, 3, 'a broken-off handshake is retried (Envoy: connect-failure/reset), unlike a certificate error');
    assert.equal(connections, 4);
  } finally {
    server.close();
  }
});

test('the fetch request is GET of the URL path and query, Host the URL host, User-Agent Go-browser (spec §3, the request Envoy sends)', async () => {
  let head = '';
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) s.end('HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const r = await fetchJwks({ ...spec(port), url: `http://idp.example:${port}/realms/x/certs?a=1` }, { timeoutMs: 3_000 });
    assert.equal(outcomeOf(r), 'http_status');
  } finally {
    server.close();
  }
  const lines = head.split('\r\n');
  assert.equal(lines[0], 'GET /realms/x/certs?a=1 HTTP/1.1');
  const fields = Object.fromEntries(lines.slice(1).filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  assert.equal(fields['host'], `idp.example:${port}`);
  assert.equal(fields['user-agent'], 'Go-browser');
});

// Bad and unusual input at the HTTP layer against a real gateway: oversized headers and tokens,
// unknown hosts, upstream down, bodies both ways, HEAD, slow and vanishing clients. The gateway
// must answer each with a clear status and keep serving.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, seedManifestsDir, sampleTokenPath } from '../helpers/paths.js';
import { startHarness, sampleApp, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { waitFor } from '../helpers/jwks-server.js';
import { createLogger } from '../../src/observability/log.js';
import { patternBytes } from '../../src/upstream/echo.js';
import { HttpServer } from '../../src/http/server.js';
import { StartupError } from '../../src/errors.js';
import { nodeAddress } from '../../src/proxy/header-rules.js';

const TOKEN = readFileSync(sampleTokenPath, 'utf8').trim();
const basic = readFileSync(path.join(seedManifestsDir, '01-basic-jwt.yaml'), 'utf8');
const auth = { authorization: `Bearer ${TOKEN}` };

let h: Harness;
before(async () => {
  h = await startHarness({ manifests: [basic] });
});
after(() => h.close());

test('headers over 60 KiB get 431 and never reach the upstream', async () => {
  const res = await request({ port: h.port, headers: { ...auth, 'x-filler': 'a'.repeat(70 * 1024) } });
  assert.equal(res.status, 431);
  assert.equal(res.body, 'Request Header Fields Too Large');
  assert.equal(h.echo.received.length, 0);
  assert.equal(h.gateway.metrics.get('jwtgate_requests_total', 'REQUEST_HEADERS_TOO_LARGE'), 1);
});

test('431s are logged once per 10 s with a count, not once each (clients choose how often)', async () => {
  const lines: Record<string, unknown>[] = [];
  const g = await startHarness({ manifests: [basic], gateway: { maxRequestHeadersBytes: 4096, logger: createLogger('info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>)) } });
  try {
    for (let i = 0; i < 5; i++) assert.equal((await request({ port: g.port, headers: { 'x-filler': 'a'.repeat(5000) } })).status, 431);
    assert.equal(g.gateway.metrics.get('jwtgate_requests_total', 'REQUEST_HEADERS_TOO_LARGE'), 5);
    assert.equal(lines.filter((l) => l['msg'] === 'request headers too large').length, 1);
  } finally {
    await g.close();
  }
});

test('the header limit counts each field as name + value + 4 (": " and CRLF) plus the target\'s path and query: exactly the limit is served, one byte more (in a value or in the query) is 431', async () => {
  const g = await startHarness({ manifests: [basic], gateway: { maxRequestHeadersBytes: 1000 } });
  const raw = (data: string) =>
    new Promise<string>((resolve) => {
      const sock = net.connect(g.port, '127.0.0.1', () => sock.write(data));
      let reply = '';
      sock.setEncoding('latin1');
      sock.on('data', (d) => {
        reply += d;
        if (reply.includes('\r\n\r\n')) sock.destroy();
      });
      sock.on('error', () => {});
      sock.on('close', () => resolve(reply));
    });
  // Counted: '/x' (2) + 'q' (1) + host (4 + 17 + 4) + x-filler (8 + n + 4) = 40 + n. An unknown host: a 404 unless over the limit.
  const head = (query: string, n: number) => `GET /x?${query} HTTP/1.1\r\nHost: other.example.org\r\nX-Filler: ${'a'.repeat(n)}\r\n\r\n`;
  try {
    assert.match(await raw(head('q', 1000 - 40)), /^HTTP\/1\.1 404 /, 'exactly the limit');
    assert.match(await raw(head('q', 1000 - 39)), /^HTTP\/1\.1 431 /, 'one byte over, in a value');
    assert.match(await raw(head('qq', 1000 - 40)), /^HTTP\/1\.1 431 /, 'one byte over, in the query');
    assert.equal(g.gateway.metrics.get('jwtgate_requests_total', 'REQUEST_HEADERS_TOO_LARGE'), 2);
    assert.equal(g.echo.received.length, 0);
  } finally {
    await g.close();
  }
});

test('the count of a 431 flood that stops is logged when its window ends, and at stop', async () => {
  const lines: Record<string, unknown>[] = [];
  const g = await startHarness({ manifests: [basic], gateway: { maxRequestHeadersBytes: 4096, oversizeLogWindowMs: 300, logger: createLogger('info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>)) } });
  const oversize = () => lines.filter((l) => l['msg'] === 'request headers too large');
  try {
    for (let i = 0; i < 4; i++) assert.equal((await request({ port: g.port, headers: { 'x-filler': 'a'.repeat(5000) } })).status, 431);
    await waitFor(() => oversize().length === 2, 'the count of the flood in a line of its own', 3000);
    assert.equal(oversize()[0]!['alsoSinceLastLine'], undefined);
    assert.equal(oversize()[1]!['alsoSinceLastLine'], 3);
    assert.equal(oversize()[1]!['limit'], 4096);
    // A window with one more: its line comes at the window's end, or here at stop.
    assert.equal((await request({ port: g.port, headers: { 'x-filler': 'a'.repeat(5000) } })).status, 431);
  } finally {
    await g.close();
  }
  // The fifth: a line of its own (its window had ended), or a count flushed at stop.
  const rest = oversize().slice(2);
  assert.equal(rest.length, 1);
  assert.equal(rest[0]!['alsoSinceLastLine'] ?? 1, 1);
});

test('a 100 KiB token gets 431, a 20 KiB garbage token gets a clean 401', async () => {
  assert.equal((await request({ port: h.port, headers: { authorization: `Bearer ${'a'.repeat(100 * 1024)}` } })).status, 431);
  const res = await request({ port: h.port, headers: { authorization: `Bearer ${'a'.repeat(10 * 1024)}.${'b'.repeat(10 * 1024)}.c` } });
  assert.equal(res.status, 401);
  assert.equal(res.body, 'Jwt header is an invalid JSON');
});

test('the gateway still serves after the bad requests', async () => {
  assert.equal((await request({ port: h.port, headers: auth })).status, 200);
});

test('an unknown host gets 404 from the router', async () => {
  const res = await request({ port: h.port, host: 'other.example.org', headers: auth });
  assert.equal(res.status, 404);
  assert.equal(res.body, '');
  assert.equal(res.headers['content-type'], undefined, 'Envoy\'s router answers a 404 with no body and no content-type');
  assert.equal(res.headers['content-length'], '0');
});

test('request bodies stream to the upstream and response bodies back', async () => {
  const body = Buffer.alloc(3 * 1024 * 1024, 'x');
  const res = await request({ port: h.port, method: 'POST', path: '/anything', headers: { ...auth, 'content-type': 'application/octet-stream' }, body });
  assert.equal(res.status, 200);
  assert.equal(h.echo.received.at(-1)!.bodyLength, body.length);
  const big = await request({ port: h.port, path: '/bytes/2000000', headers: auth });
  assert.equal(big.status, 200);
  assert.equal(Buffer.byteLength(big.body, 'latin1') > 0, true);
  assert.equal(big.headers['content-length'], '2000000');
});

test('the upstream sees the client address appended to x-forwarded-for, and the Host the client sent; x-forwarded-host only as the client sent it (Envoy adds none without a host rewrite)', async () => {
  const received = async (headers: Record<string, string>) => {
    const n = h.echo.received.length;
    const res = await request({ port: h.port, host: 'WWW.Example.com:8080', headers: { ...auth, ...headers } });
    assert.equal(res.status, 200);
    const got = h.echo.received[n]!;
    return (name: string) => {
      const out: string[] = [];
      for (let i = 0; i < got.headers.length; i += 2) if (got.headers[i]!.toLowerCase() === name) out.push(got.headers[i + 1]!);
      return out;
    };
  };
  const value = await received({ 'x-forwarded-for': '203.0.113.9' });
  // A loopback client: the gateway's node address is appended, as Envoy appends its own for a loopback peer.
  assert.deepEqual(value('x-forwarded-for'), [`203.0.113.9,${nodeAddress()}`]);
  assert.deepEqual(value('host'), ['WWW.Example.com:8080']);
  assert.deepEqual(value('x-forwarded-host'), []);
  const client = await received({ 'x-forwarded-host': 'shop.example' });
  assert.deepEqual(client('x-forwarded-host'), ['shop.example']);
});

test('a chunked request body is streamed to the upstream whole; a body on a request the gateway rejects is not', async () => {
  const sock = net.connect(h.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  let reply = '';
  sock.on('data', (d) => (reply += d));
  const n = h.echo.received.length;
  sock.write(`POST /anything HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n`);
  sock.write('5\r\nhello\r\n');
  await new Promise((r) => setTimeout(r, 50));
  sock.write('6\r\n world\r\n0\r\n\r\n');
  await waitFor(() => reply.includes('\r\n\r\n'), 'the response head');
  assert.match(reply, /^HTTP\/1\.1 200/);
  await waitFor(() => h.echo.received[n]?.completed === true, 'the upstream to receive the whole body');
  assert.equal(h.echo.received[n]!.bodyLength, 11);
  // Same upload without a token: 401 at once, nothing reaches the upstream.
  sock.write('POST /anything HTTP/1.1\r\nHost: www.example.com:8080\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  reply = '';
  await waitFor(() => reply.includes('Jwt is missing'), 'the 401');
  assert.match(reply, /^HTTP\/1\.1 401/);
  assert.equal(h.echo.received.length, n + 1);
  sock.destroy();
});

test("a proxied response carries one Date, the gateway's (uWS writes it, README): the upstream's own Date is not copied next to it", async () => {
  const forged = 'Sat, 01 Jan 2000 00:00:00 GMT';
  const res = await request({ port: h.port, path: `/response-headers?date=${encodeURIComponent(forged)}`, headers: auth });
  assert.equal(res.status, 200);
  const dates = res.rawHeaders.filter((_, i) => i % 2 === 1 && res.rawHeaders[i - 1]!.toLowerCase() === 'date');
  assert.equal(dates.length, 1, `one Date field: ${JSON.stringify(dates)}`);
  assert.notEqual(dates[0], forged);
  assert.ok(Math.abs(Date.parse(dates[0]!) - Date.now()) < 60_000, dates[0]);
});

test('HEAD is proxied without a body', async () => {
  const res = await request({ port: h.port, method: 'HEAD', path: '/get', headers: auth });
  assert.equal(res.status, 200);
  assert.equal(res.body, '');
});

/**
 * Writes `pieces` on a new connection, 50 ms apart; returns what came back once `answered` holds
 * (default: one response head) or within 500 ms, and whether the gateway closed the connection
 * without answering.
 */
async function sendInPieces(pieces: string[], answered = (reply: string) => reply.includes('\r\n\r\n')): Promise<{ reply: string; closed: boolean }> {
  const sock = net.connect(h.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  let reply = '';
  let closed = false;
  sock.on('data', (d) => (reply += d));
  sock.on('error', () => {});
  sock.on('close', () => (closed = true));
  for (const p of pieces) {
    sock.write(p);
    await new Promise((r) => setTimeout(r, 50));
  }
  await waitFor(() => closed || answered(reply), 'an answer or the connection closed', 500).catch(() => {});
  sock.destroy();
  return { reply, closed: closed && reply === '' };
}

test('a request head sent in two pieces: answered up to 4,096 bytes; over it uWS 20.30 closes the connection without an answer (README Limits) and the gateway keeps serving', async () => {
  const head = (total: number) => {
    const start = `GET /get HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${TOKEN}\r\nx-filler: `;
    return `${start}${'a'.repeat(total - start.length - 4)}\r\n\r\n`;
  };
  const small = head(4096);
  assert.equal(small.length, 4096);
  const ok = await sendInPieces([small.slice(0, 100), small.slice(100)]);
  assert.match(ok.reply, /^HTTP\/1\.1 200 /);
  const big = head(4097);
  const cut = await sendInPieces([big.slice(0, 100), big.slice(100)]);
  assert.equal(cut.reply, '');
  assert.equal(cut.closed, true);
  // The same 4,097 bytes in one piece are answered.
  assert.match((await sendInPieces([big])).reply, /^HTTP\/1\.1 200 /);
});

test('pipelining: requests answered at once are answered in order; one sent behind a proxied request makes uWS 20.30 close the connection (README Limits)', async () => {
  const local = 'GET /get HTTP/1.1\r\nHost: other.example.org\r\n\r\n';
  const proxied = `GET /get HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`;
  const inOrder = await sendInPieces([local + local + proxied], (reply) => reply.includes('"url"'));
  assert.deepEqual(inOrder.reply.match(/HTTP\/1\.1 \d+/g), ['HTTP/1.1 404', 'HTTP/1.1 404', 'HTTP/1.1 200']);
  const refused = await sendInPieces([proxied + local]);
  assert.equal(refused.reply, '');
  assert.equal(refused.closed, true);
  assert.equal((await request({ port: h.port, headers: auth })).status, 200);
});

test('a declared body of 1,000,000,000 bytes or more: uWS 20.30 closes the connection without an answer (README Limits); 999,999,999 is forwarded', async () => {
  const n = h.echo.received.length;
  const head = (length: number) => `POST /anything HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${length}\r\n\r\nxxxx`;
  const refused = await sendInPieces([head(1_000_000_000)]);
  assert.equal(refused.reply, '');
  assert.equal(refused.closed, true);
  assert.equal(h.echo.received.length, n, 'nothing reached the upstream');
  const sock = net.connect(h.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.on('error', () => {});
  sock.write(head(999_999_999));
  await waitFor(() => h.echo.received.length === n + 1, 'the upstream to get the 999,999,999-byte upload');
  sock.destroy();
});

test('a client that sends half a request does not block others', async () => {
  const slow = net.connect(h.port, '127.0.0.1');
  await new Promise((r) => slow.once('connect', r));
  slow.write('GET /headers HTTP/1.1\r\nHost: www.example.com\r\nX-Slow: ');
  const res = await request({ port: h.port, headers: auth });
  assert.equal(res.status, 200);
  slow.destroy();
});

test('a slow upload (about 600 bytes a second for 12 s, past uWS\'s 10 s timer) is proxied whole, not cut (it was, below ~16 KB/s)', { timeout: 30_000 }, async () => {
  const sock = net.connect(h.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const chunks = 40;
  const chunk = 'x'.repeat(180);
  sock.write(`POST /anything HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${chunks * chunk.length}\r\n\r\n`);
  let answer = '';
  sock.on('data', (d) => (answer += d));
  const closed = new Promise((r) => sock.once('close', r));
  for (let i = 0; i < chunks && !sock.destroyed; i++) {
    await new Promise((r) => setTimeout(r, 300));
    sock.write(chunk);
  }
  await waitFor(() => answer.includes('\r\n\r\n') || sock.destroyed, 'an answer', 10_000);
  assert.match(answer, /^HTTP\/1\.1 200 /);
  assert.equal(h.echo.received.at(-1)!.bodyLength, chunks * chunk.length);
  sock.destroy();
  await closed;
});

test('a client that disconnects mid-request does not crash the gateway', async () => {
  const sock = net.connect(h.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write(`GET /delay/500 HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
  await new Promise((r) => setTimeout(r, 100));
  sock.destroy();
  await new Promise((r) => setTimeout(r, 600));
  assert.equal((await request({ port: h.port, headers: auth })).status, 200);
});

test('--upstream-max-connections 1 --upstream-max-pending 0: a second concurrent request gets the overflow 503, counted in the metrics', async () => {
  const g = await startHarness({ manifests: [basic], gateway: { upstreamMaxConnections: 1, upstreamMaxPending: 0 } });
  try {
    const slow = request({ port: g.port, path: '/delay/400', headers: auth });
    await waitFor(() => g.echo.received.length === 1, 'the first request at the upstream');
    const over = await request({ port: g.port, path: '/get', headers: auth });
    assert.equal(over.status, 503);
    assert.equal(over.body, 'upstream connect error or disconnect/reset before headers. reset reason: overflow');
    assert.equal(over.headers['www-authenticate'], undefined);
    assert.equal((await slow).status, 200);
    assert.deepEqual(g.echo.received.map((r) => r.url), ['/delay/400']);
    assert.equal(g.gateway.metrics.get('jwtgate_requests_total', 'UPSTREAM_OVERFLOW'), 1);
    assert.equal(g.gateway.metrics.get('jwtgate_upstream_responses_total', 'UPSTREAM_OVERFLOW'), 1);
    // The slot came back with the first exchange's end.
    assert.equal((await request({ port: g.port, path: '/get', headers: auth })).status, 200);
  } finally {
    await g.close();
  }
});

test('upstream down -> 503 with a clear body; upstream too slow -> 504', async () => {
  const dead = await startHarness({
    manifests: [basic],
    base: () => sampleApp(1),
  });
  try {
    const res = await request({ port: dead.port, headers: auth });
    assert.equal(res.status, 503);
    assert.equal(res.body, 'upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused');
  } finally {
    await dead.close();
  }
  const slow = await startHarness({ manifests: [basic], gateway: { upstreamTimeoutMs: 300 } });
  try {
    const res = await request({ port: slow.port, path: '/delay/2000', headers: auth });
    assert.equal(res.status, 504);
    assert.equal(res.body, 'upstream request timeout');
  } finally {
    await slow.close();
  }
});

/**
 * GET `target` (with the sample token, Connection: close) from a client that reads nothing for
 * 400 ms, so the response backs up into the gateway; returns every byte received.
 */
async function slowRead(target: string): Promise<Buffer> {
  const sock = net.connect(h.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.pause();
  sock.write(`GET ${target} HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`);
  await new Promise((r) => setTimeout(r, 400));
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  sock.resume();
  await new Promise((r) => sock.once('close', r));
  return Buffer.concat(chunks);
}

test('a slow-reading client gets the whole large response (backpressure both ways), and the exchange then ends (counted, upstream resumed to its end)', async () => {
  const done = () => h.gateway.metrics.get('jwtgate_upstream_responses_total', '2xx');
  const before = done();
  const raw = await slowRead('/bytes/8000000');
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, split).toString();
  assert.match(head, /^HTTP\/1\.1 200 OK/);
  assert.match(head, /content-length: 8000000/i);
  assert.equal(raw.length - split - 4, 8_000_000);
  // The upstream, paused while the client read slowly, must be resumed so the exchange sees its end
  // (else it stays in flight, holding its upstream connection, never counted). On loopback the last
  // bytes usually go out from a write, not from onWritable: the kernel's buffers are large.
  await waitFor(() => done() === before + 1, 'the proxied response counted as complete', 3000);
});

test('a slow-reading client gets the whole chunked response (no content-length upstream), in order', async () => {
  const raw = await slowRead('/stream-bytes/8000000');
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, split).toString();
  assert.match(head, /^HTTP\/1\.1 200 OK/);
  assert.match(head, /transfer-encoding: chunked/i);
  assert.doesNotMatch(head, /content-length/i);
  assert.deepEqual(dechunk(raw.subarray(split + 4)), patternBytes(8_000_000));
});

test('a client that stops reading a chunked response: the upstream is held back (its writes stall), not read into memory; it resumes when the client reads', { timeout: 30_000 }, async () => {
  // An endless chunked response, written as fast as the socket takes it (capped at 128 MiB).
  const CAP = 128 * 1024 * 1024;
  let written = 0;
  const upstreamSockets: net.Socket[] = [];
  const upstream = net.createServer((sock) => {
    upstreamSockets.push(sock);
    sock.on('error', () => {});
    sock.once('data', () => {
      sock.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
      const framed = Buffer.concat([Buffer.from('10000\r\n'), Buffer.alloc(0x10000, 'y'), Buffer.from('\r\n')]);
      const pump = () => {
        while (written < CAP && !sock.destroyed) {
          written += 0x10000;
          if (!sock.write(framed)) return void sock.once('drain', pump);
        }
      };
      pump();
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const g = await startHarness({ base: () => sampleApp((upstream.address() as net.AddressInfo).port) });
  const client = net.connect(g.port, '127.0.0.1');
  client.on('error', () => {});
  try {
    await new Promise((r) => client.once('connect', r));
    client.pause();
    client.write('GET /endless HTTP/1.1\r\nHost: www.example.com:8080\r\n\r\n');
    await new Promise((r) => setTimeout(r, 2000));
    const held = written;
    assert.ok(held < 48 * 1024 * 1024, `the upstream wrote ${(held / 1048576).toFixed(0)} MiB to a client that reads nothing`);
    let got = 0;
    client.on('data', (d: Buffer) => (got += d.length));
    client.resume();
    await waitFor(() => got > held + 8 * 1024 * 1024 && written > held, 'the response flowing again once the client reads', 10_000);
  } finally {
    client.destroy();
    // The response never ends: cut it at the upstream too, or closing the gateway waits for it.
    for (const sock of upstreamSockets) sock.destroy();
    await g.close();
    upstream.close();
    upstream.unref();
  }
});

/** The payload of a complete chunked body (throws on a malformed or truncated one). */
function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    assert.ok(eol > at, `chunk size line at ${at}`);
    const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
    assert.ok(Number.isInteger(size), 'chunk size');
    at = eol + 2;
    if (size === 0) return Buffer.concat(parts);
    assert.ok(at + size + 2 <= body.length, 'chunk complete');
    parts.push(body.subarray(at, at + size));
    at += size + 2;
  }
}

test('a bug thrown in the synchronous request path answers 500 and is logged; the gateway keeps serving', async () => {
  const lines: string[] = [];
  const g = await startHarness({ manifests: [basic], gateway: { logger: createLogger('info', (l) => lines.push(l)) } });
  try {
    const auth = (g.gateway as unknown as { auth: { authenticate: (...a: unknown[]) => unknown } }).auth;
    const real = auth.authenticate;
    auth.authenticate = () => {
      throw new Error('boom');
    };
    const res = await request({ port: g.port, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 500);
    assert.equal(res.body, 'internal error');
    assert.equal(g.echo.received.length, 0);
    assert.equal(g.gateway.metrics.get('jwtgate_requests_total', 'INTERNAL'), 1);
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request handling failed unexpectedly');
    assert.ok(logged, 'logged');
    assert.match(logged.err, /boom/);
    assert.ok(!lines.join('').includes(TOKEN), 'no token in the log');
    auth.authenticate = real;
    assert.equal((await request({ port: g.port, headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  } finally {
    await g.close();
  }
});

test('an upload answered 401 before its body arrived: the rest of the body is not kept in memory', async () => {
  const sock = net.connect(h.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  let reply = '';
  sock.on('data', (d) => (reply += d));
  sock.on('error', () => {});
  const total = 32 * 1024 * 1024;
  sock.write(`POST /anything HTTP/1.1\r\nHost: www.example.com:8080\r\nContent-Length: ${total}\r\n\r\n`);
  await waitFor(() => reply.includes('Jwt is missing'), 'the 401');
  assert.match(reply, /^HTTP\/1\.1 401/);
  global.gc?.();
  const before = process.memoryUsage().arrayBuffers;
  const chunk = Buffer.alloc(256 * 1024, 'x');
  let sent = 0;
  while (sent < total && !sock.destroyed) {
    // The gateway may close the connection while a write waits: 'drain' then never comes (this waited forever).
    if (!sock.write(chunk)) await new Promise((r) => (sock.destroyed ? r(undefined) : (sock.once('drain', r), sock.once('close', r))));
    sent += chunk.length;
  }
  await new Promise((r) => setTimeout(r, 200));
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < 8 * 1024 * 1024, `${(grown / 1048576).toFixed(1)} MiB of body kept after the 401 (${(sent / 1048576).toFixed(0)} MiB sent)`);
  sock.destroy();
  assert.equal((await request({ port: h.port, headers: auth })).status, 200);
});

test('claim headers re-route the request (Envoy clear_route_cache): a rule matching x-team wins after auth', async () => {
  const jwt = readFileSync(path.join(repoRoot, 'config', 'default', '10-jwt.yaml'), 'utf8');
  // The sample app with its one rule split: x-team: dev -> the echo upstream, anything else -> a dead backend.
  const catchAll = '  - backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]\n';
  const app = (echoPort: number) => {
    const base = sampleApp(echoPort);
    assert.ok(base.includes(catchAll));
    return `${base.replace(catchAll, `  - matches: [{ headers: [{ name: x-team, value: dev }] }]\n${catchAll.replace('- ', '  ')}  - backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: nowhere }]\n`)}---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: nowhere, namespace: httpbin }
spec:
  type: Static
  static: { hosts: [{ host: 127.0.0.1, port: 1 }] }
`;
  };
  const g = await startHarness({ base: app, manifests: [jwt] });
  try {
    // Matched first without x-team (catch-all rule, a dead backend); the claim header added by
    // the JWT stage re-routes it to the x-team rule.
    const res = await request({ port: g.port, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body).headers['X-Team'], ['dev']);
    assert.equal(g.echo.received.length, 1);
  } finally {
    await g.close();
  }
});

test('a port already taken on an IPv6 host: listen fails with the address bracketed ([::1]:port), as the CLI reports it', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '::1', resolve));
  const port = (taken.address() as net.AddressInfo).port;
  const server = new HttpServer({ host: '::1', maxRequestHeadersBytes: 60 * 1024 }, () => {}, () => {});
  try {
    await assert.rejects(server.listen(8080, port), (err: Error) => {
      assert.ok(err instanceof StartupError);
      assert.equal(err.message, `cannot listen on [::1]:${port} (Gateway listener port 8080): the port is in use or not permitted, or the address is not one of this machine's`);
      return true;
    });
  } finally {
    server.close();
    await new Promise<void>((resolve) => taken.close(() => resolve()));
  }
});

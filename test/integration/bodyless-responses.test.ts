// Responses without a body (HEAD, 204, 304) and uploads answered before they end, on one
// keep-alive client connection of a real gateway: each answer must be complete and correctly
// framed, and the connection must carry the next request. uWS 20.30's endWithoutBody(length)
// left such responses unfinished: a HEAD the gateway answered itself aborted the process, and a
// proxied one dropped the connection at the next request.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { seedManifestsDir, sampleTokenPath } from '../helpers/paths.js';
import { startHarness, sampleApp, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/jwks-server.js';
import { request } from '../helpers/http-client.js';

const TOKEN = readFileSync(sampleTokenPath, 'utf8').trim();
// Same header and payload, six signature characters changed: well formed, needs a real check, fails it.
const BAD_SIGNATURE = TOKEN.slice(0, -6) + (TOKEN.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA');
const basic = readFileSync(path.join(seedManifestsDir, '01-basic-jwt.yaml'), 'utf8');

interface RawResponse {
  status: number;
  /** Header names lower-cased; repeated ones joined with ", ". */
  headers: Record<string, string>;
  body: string;
}

/** One client connection that sends raw requests and reads the responses in order. */
class Conn {
  private buf = Buffer.alloc(0);
  closed = false;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => (this.buf = Buffer.concat([this.buf, d])));
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => {});
  }

  static async open(port: number): Promise<Conn> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    return new Conn(sock);
  }

  /** Sends `head` (a request line plus header lines, without the blank line) and reads the answer. */
  async exchange(head: string, opts: { bodyless?: boolean } = {}): Promise<RawResponse> {
    this.sock.write(`${head}\r\n\r\n`);
    return this.read(opts.bodyless ?? false);
  }

  /** The next response; `bodyless`: it has no body whatever its headers say (HEAD, 204, 304). */
  async read(bodyless: boolean): Promise<RawResponse> {
    let end = -1;
    await waitFor(() => (end = this.buf.indexOf('\r\n\r\n')) >= 0 || this.closed, 'a response head');
    assert.ok(end >= 0, `connection closed before a response head (got ${JSON.stringify(this.buf.toString('latin1'))})`);
    const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const status = Number(lines[0]!.split(' ')[1]);
    const length = bodyless ? 0 : Number(headers['content-length'] ?? 0);
    assert.equal(headers['transfer-encoding'], undefined, 'these tests expect length-framed answers');
    await waitFor(() => this.buf.length >= end + 4 + length || this.closed, 'the response body');
    const body = this.buf.subarray(end + 4, end + 4 + length).toString('latin1');
    this.buf = this.buf.subarray(end + 4 + length);
    return { status, headers, body };
  }

  /** Bytes received past the responses read so far (a HEAD answer must not carry a body). */
  get extra(): string {
    return this.buf.toString('latin1');
  }

  close(): void {
    this.sock.destroy();
  }
}

/** A raw HTTP/1.1 upstream on loopback: every request head it reads is kept in `heads` and answered with `answer(target)`, written as it is. */
async function rawUpstream(answer: (target: string) => string): Promise<{ port: number; heads: string[]; close(): void }> {
  const heads: string[] = [];
  const server = net.createServer((sock) => {
    let seen = '';
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => {
      seen += d.toString('latin1');
      for (let end = seen.indexOf('\r\n\r\n'); end >= 0; end = seen.indexOf('\r\n\r\n')) {
        heads.push(seen.slice(0, end));
        const target = seen.slice(0, end).split(' ')[1]!;
        seen = seen.slice(end + 4);
        sock.write(answer(target));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    heads,
    close: () => {
      server.close();
      server.unref();
    },
  };
}

let h: Harness;
before(async () => {
  h = await startHarness({ manifests: [basic] });
});
after(() => h.close());

test("HEAD answered by the gateway itself (401, 404): the GET's status and Content-Length, no body, and the connection carries on; a 431 closes the connection (as Envoy's codec), a HEAD's with Content-Length: 0", async () => {
  // Over the 60 KiB limit, under the ~64 KiB uWS accepts on a connection that carried a request.
  const filler = `\r\nx-filler: ${'a'.repeat(61 * 1024)}`;
  for (const method of ['GET', 'HEAD']) {
    const big = await Conn.open(h.port);
    try {
      await big.exchange('GET /get HTTP/1.1\r\nHost: other.example.org');
      const res = await big.exchange(`${method} /get HTTP/1.1\r\nHost: www.example.com:8080${filler}`, { bodyless: method === 'HEAD' });
      assert.equal(res.status, 431);
      // A HEAD answer that must close says Content-Length: 0: uWS closes gracefully only through end().
      assert.equal(res.headers['content-length'], method === 'HEAD' ? '0' : String('Request Header Fields Too Large'.length), method);
      assert.equal(res.headers['connection'], 'close');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(big.closed, true, `${method}: closed after the 431`);
      assert.equal(big.extra, '');
    } finally {
      big.close();
    }
  }
  const c = await Conn.open(h.port);
  try {
    const cases = [
      { head: 'www.example.com:8080', extra: '', status: 401, body: 'Jwt is missing' },
      { head: 'other.example.org', extra: '', status: 404, body: '' },
    ];
    for (const k of cases) {
      const get = await c.exchange(`GET /get HTTP/1.1\r\nHost: ${k.head}${k.extra}`);
      assert.equal(get.status, k.status);
      assert.equal(get.body, k.body);
      const res = await c.exchange(`HEAD /get HTTP/1.1\r\nHost: ${k.head}${k.extra}`, { bodyless: true });
      assert.equal(res.status, k.status);
      assert.equal(res.headers['content-length'], String(k.body.length));
      assert.equal(res.headers['content-type'], k.body === '' ? undefined : 'text/plain');
    }
    const n = h.echo.received.length;
    const ok = await c.exchange(`GET /get HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${TOKEN}`);
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).url, 'http://www.example.com:8080/get');
    assert.equal(h.echo.received.length, n + 1);
    assert.equal(c.extra, '', 'no body bytes after any HEAD answer');
    assert.equal(c.closed, false);
  } finally {
    c.close();
  }
});

test('HEAD answered 401 after a check in the verify pool: complete, and the connection carries on', async () => {
  const g = await startHarness({ manifests: [basic], gateway: { verifyMode: 'pool' } });
  const c = await Conn.open(g.port);
  try {
    const res = await c.exchange(`HEAD /get HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${BAD_SIGNATURE}`, { bodyless: true });
    assert.equal(res.status, 401);
    assert.equal(res.headers['content-length'], String('Jwt verification fails'.length));
    assert.match(res.headers['www-authenticate']!, /error="invalid_token"/);
    // Answered after a round trip to the pool (a worker that has not read the key set yet hands
    // the item back to be checked inline, so the check itself may be counted either way).
    assert.equal(g.gateway.metrics.get('jwtgate_verify_pool_tasks_total', 'ok'), 1);
    assert.equal(g.gateway.metrics.get('jwtgate_jwt_verifications_total', 'pool') + g.gateway.metrics.get('jwtgate_jwt_verifications_total', 'inline'), 1);
    const ok = await c.exchange(`GET /get HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${TOKEN}`);
    assert.equal(ok.status, 200);
    assert.equal(c.extra, '');
  } finally {
    c.close();
    await g.close();
  }
});

test("proxied 204, 304 and HEAD: no body, 204 without Content-Length, HEAD with the upstream's, and the connection carries on", async () => {
  const c = await Conn.open(h.port);
  const auth = `Host: www.example.com:8080\r\nAuthorization: Bearer ${TOKEN}`;
  try {
    const n = h.echo.received.length;
    const noContent = await c.exchange(`GET /status/204 HTTP/1.1\r\n${auth}`, { bodyless: true });
    assert.equal(noContent.status, 204);
    assert.equal(noContent.headers['content-length'], undefined);
    const notModified = await c.exchange(`GET /status/304 HTTP/1.1\r\n${auth}`, { bodyless: true });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers['location'], '/redirect/1');
    const head = await c.exchange(`HEAD /get HTTP/1.1\r\n${auth}`, { bodyless: true });
    assert.equal(head.status, 200);
    assert.match(head.headers['content-length'] ?? '', /^[1-9]\d*$/, 'the length of the GET body the upstream reported');
    assert.equal(head.headers['content-type'], 'application/json; charset=utf-8');
    const get = await c.exchange(`GET /get HTTP/1.1\r\n${auth}`);
    assert.equal(get.status, 200);
    assert.equal(JSON.parse(get.body).url, 'http://www.example.com:8080/get');
    assert.equal(c.extra, '');
    assert.equal(c.closed, false);
    assert.deepEqual(h.echo.received.slice(n).map((r) => `${r.method} ${r.url}`), ['GET /status/204', 'GET /status/304', 'HEAD /get', 'GET /get']);
  } finally {
    c.close();
  }
});

/** Sends a `bytes`-long upload on `c` after `head`, and resolves with whether all of it was written (no stall). */
async function upload(c: Conn, head: string, bytes: number): Promise<boolean> {
  c.sock.write(`${head}\r\nContent-Length: ${bytes}\r\n\r\n`);
  const chunk = Buffer.alloc(64 * 1024, 'x');
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (c.sock.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent)))) continue;
    const drained = await Promise.race([
      new Promise<boolean>((r) => c.sock.once('drain', () => r(true))),
      new Promise<boolean>((r) => setTimeout(() => r(false), 5000).unref()),
    ]);
    if (!drained) return false;
  }
  return true;
}

test('an upload accepted after a pooled check (its first bytes buffered while the check ran) reaches the upstream whole', async () => {
  const g = await startHarness({ manifests: [basic], gateway: { verifyMode: 'pool' } });
  try {
    const body = Buffer.alloc(8 * 1024 * 1024, 'u');
    const res = await request({ port: g.port, method: 'POST', path: '/anything', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream' }, body });
    assert.equal(res.status, 200);
    assert.equal(g.echo.received.length, 1);
    assert.equal(g.echo.received[0]!.bodyLength, body.length);
    assert.equal(g.gateway.metrics.get('jwtgate_verify_pool_tasks_total', 'ok'), 1, 'the check went through the pool');
  } finally {
    await g.close();
  }
});

test('a small chunked upload that arrives whole with its head, before its pooled check ends, reaches the upstream whole and its end is passed on (200 at once, not a hang)', async () => {
  const g = await startHarness({ manifests: [basic], gateway: { verifyMode: 'pool' } });
  const c = await Conn.open(g.port);
  try {
    // One write: the head and the whole chunked body, buffered while the worker checks the token.
    // Without a length, the last chunk's flag is the only end the upstream request gets.
    c.sock.write(`POST /anything HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n`);
    const res = await c.read(false);
    assert.equal(res.status, 200);
    assert.equal(g.echo.received.length, 1);
    assert.equal(g.echo.received[0]!.bodyLength, 11);
    assert.equal(g.gateway.metrics.get('jwtgate_verify_pool_tasks_total', 'ok'), 1, 'the check went through the pool');
  } finally {
    c.close();
    await g.close();
  }
});

test('an upload answered 401 after a pooled check, with more than 64 KiB already buffered: the rest is read and dropped, and the connection carries on', async () => {
  const g = await startHarness({ manifests: [basic], gateway: { verifyMode: 'pool' } });
  const c = await Conn.open(g.port);
  try {
    const whole = await upload(c, `POST /anything HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${BAD_SIGNATURE}`, 32 * 1024 * 1024);
    assert.equal(whole, true, 'the upload stalled: the gateway stopped reading it');
    const res = await c.read(false);
    assert.equal(res.status, 401);
    assert.equal(res.body, 'Jwt verification fails');
    const ok = await c.exchange(`GET /get HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${TOKEN}`);
    assert.equal(ok.status, 200);
    assert.equal(g.echo.received.length, 1, 'only the GET reached the upstream');
  } finally {
    c.close();
    await g.close();
  }
});

test('an upstream that answers before reading the upload: the client gets the answer, the rest of the upload is read and dropped, and the connection carries on', async () => {
  // Answers a connection's first request 200 ms after its head arrived, never reading its body.
  const upstream = net.createServer((sock) => {
    let seen = '';
    sock.on('error', () => {});
    sock.on('data', function onData(d: Buffer) {
      seen += d.toString('latin1');
      if (!seen.includes('\r\n\r\n')) return;
      sock.off('data', onData);
      sock.pause();
      // Then closes: the rest of that upload is never read, and the next request needs a new connection.
      setTimeout(() => sock.end('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nearly'), 200);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = (upstream.address() as net.AddressInfo).port;
  const g = await startHarness({ base: () => sampleApp(upstreamPort) });
  const c = await Conn.open(g.port);
  try {
    const whole = await upload(c, 'POST /anything HTTP/1.1\r\nHost: www.example.com:8080', 32 * 1024 * 1024);
    assert.equal(whole, true, 'the upload stalled: the gateway stopped reading it');
    const res = await c.read(false);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'early');
    const next = await c.exchange('GET /get HTTP/1.1\r\nHost: www.example.com:8080');
    assert.equal(next.status, 200);
    assert.equal(next.body, 'early');
  } finally {
    c.close();
    await g.close();
    upstream.close();
    upstream.unref();
  }
});

test("an upstream 304 carrying the entity's Content-Length (RFC 9110 §8.6) reaches the client as it is, and the connection carries on", async () => {
  // Answers every request by its path: /304 with Content-Length 1234 and no body, else 200 "ok".
  const upstream = await rawUpstream((target) => (target === '/304' ? 'HTTP/1.1 304 Not Modified\r\netag: "v1"\r\ncontent-length: 1234\r\n\r\n' : 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
  const g = await startHarness({ base: () => sampleApp(upstream.port) });
  const c = await Conn.open(g.port);
  try {
    for (let i = 0; i < 2; i++) {
      const res = await c.exchange('GET /304 HTTP/1.1\r\nHost: www.example.com:8080\r\nIf-None-Match: "v1"', { bodyless: true });
      assert.equal(res.status, 304);
      assert.equal(res.headers['etag'], '"v1"');
      assert.equal(res.headers['content-length'], '1234');
    }
    const next = await c.exchange('GET /other HTTP/1.1\r\nHost: www.example.com:8080');
    assert.equal(next.status, 200);
    assert.equal(next.body, 'ok');
    assert.equal(c.extra, '');
    assert.equal(c.closed, false);
    assert.equal(g.gateway.metrics.get('jwtgate_requests_total', 'UPSTREAM_BAD_RESPONSE'), 0);
  } finally {
    c.close();
    await g.close();
    upstream.close();
  }
});

test("an upstream header value's trailing spaces and tabs are stripped before it reaches the client, as Envoy's codec does", async () => {
  const upstream = await rawUpstream(() => 'HTTP/1.1 200 OK\r\nx-pad: v \t \r\nx-inner: a  b\r\ncontent-length: 2\r\n\r\nok');
  const g = await startHarness({ base: () => sampleApp(upstream.port) });
  const sock = net.connect(g.port, '127.0.0.1');
  try {
    let raw = '';
    sock.on('data', (d: Buffer) => (raw += d.toString('latin1')));
    await new Promise((r) => sock.once('connect', r));
    sock.write(`GET /get HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
    await waitFor(() => raw.includes('\r\n\r\nok'), 'the response');
    const lines = raw.slice(0, raw.indexOf('\r\n\r\n')).split('\r\n');
    assert.equal(lines[0], 'HTTP/1.1 200 OK');
    assert.ok(lines.includes('x-pad: v'), JSON.stringify(lines));
    assert.ok(lines.includes('x-inner: a  b'), JSON.stringify(lines));
  } finally {
    sock.destroy();
    await g.close();
    upstream.close();
  }
});

test('an upstream that answers a `TE: trailers` request (forwarded, as Envoy forwards it) with a chunked body and trailers: the client gets the whole body and the `Trailer` field but no trailers (as from Envoy, whose HTTP/1 codec drops them), and each request is answered', async () => {
  const upstream = await rawUpstream(() => 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\nx-sum: abc\r\n\r\n');
  const g = await startHarness({ base: () => sampleApp(upstream.port) });
  try {
    for (let i = 0; i < 2; i++) {
      const res = await request({ port: g.port, path: '/get', headers: { authorization: `Bearer ${TOKEN}`, te: 'trailers', connection: 'TE' } });
      assert.equal(res.status, 200);
      assert.equal(res.body, 'hello world');
      assert.equal(res.headers['trailer'], 'x-sum');
      assert.equal(res.headers['x-sum'], undefined);
    }
    const te = upstream.heads.map((head) => head.split('\r\n').find((l) => l.toLowerCase().startsWith('te:')));
    assert.deepEqual(te, ['te: trailers', 'te: trailers']);
  } finally {
    await g.close();
    upstream.close();
  }
});

test("an upstream status Node's table has no reason phrase for (599) reaches the client with its code and the reason 'Unknown', as Envoy's codec writes it; the body is intact and the connection carries on", async () => {
  // Answers every request 599 with its own reason phrase, which is not passed on.
  const upstream = await rawUpstream(() => 'HTTP/1.1 599 Network Connect Timeout\r\ncontent-length: 4\r\n\r\nslow');
  const g = await startHarness({ base: () => sampleApp(upstream.port) });
  const c = await Conn.open(g.port);
  try {
    for (let i = 0; i < 2; i++) {
      const res = await c.exchange('GET /x HTTP/1.1\r\nHost: www.example.com:8080');
      assert.equal(res.status, 599);
      assert.equal(res.body, 'slow');
    }
    assert.equal(c.closed, false);
    c.sock.write('GET /x HTTP/1.1\r\nHost: www.example.com:8080\r\n\r\n');
    await waitFor(() => c.extra.includes('slow'), 'the third answer');
    assert.match(c.extra, /^HTTP\/1\.1 599 Unknown\r\n/);
  } finally {
    c.close();
    await g.close();
    upstream.close();
  }
});

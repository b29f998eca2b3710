// Requests whose target or header values undici cannot send, through a real gateway with one
// upstream connection: each used to jam that connection for good (undici's Pool never reuses a
// connection it picked for a request it then refused), so a handful of them from any client
// stopped the endpoint. Now they get 400 and the endpoint keeps serving; a non-ASCII path
// reaches the upstream as the bytes the client sent.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startHarness, sampleApp, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/jwks-server.js';

/** Request lines as the upstream received them (a raw server: node:http would refuse non-ASCII targets). */
const received: Buffer[] = [];
let upstream: net.Server;
let h: Harness;

before(async () => {
  upstream = net.createServer((sock) => {
    let seen = Buffer.alloc(0);
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => {
      seen = Buffer.concat([seen, d]);
      for (let end = seen.indexOf('\r\n\r\n'); end >= 0; end = seen.indexOf('\r\n\r\n')) {
        received.push(seen.subarray(0, seen.indexOf('\r\n')));
        seen = seen.subarray(end + 4);
        sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as net.AddressInfo).port;
  h = await startHarness({ base: () => sampleApp(port), gateway: { upstreamMaxConnections: 1 } });
});
after(async () => {
  await h.close();
  upstream.close();
});

/** Sends `head` (bytes of the request line and headers) on a new connection; what came back once `until` holds (3 s at most). */
async function exchange(head: Buffer, until: (reply: string, closed: boolean) => boolean): Promise<string> {
  const sock = net.connect(h.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  let reply = '';
  let closed = false;
  sock.on('data', (d) => (reply += d.toString('latin1')));
  sock.on('error', () => {});
  sock.on('close', () => (closed = true));
  sock.write(Buffer.concat([head, Buffer.from('\r\n\r\n')]));
  await waitFor(() => until(reply, closed), 'an answer', 3000);
  sock.destroy();
  return reply;
}

/** The status line sent back to `head`, or '' if the connection closed without one. */
async function send(head: Buffer): Promise<string> {
  const reply = await exchange(head, (r, closed) => closed || /\r\n\r\n/.test(r));
  return reply.split('\r\n')[0]!;
}

const line = (s: string) => Buffer.from(s, 'latin1');

test('a header value with DEL: 400 Bad Request; a content-length that is not digits: the connection closed; nothing sent upstream, and the endpoint keeps serving', async () => {
  const before = h.gateway.metrics.get('jwtgate_requests_total', 'REQUEST_INVALID');
  const n = received.length;
  for (const head of [
    line('GET /get HTTP/1.1\r\nHost: www.example.com\r\nX-A: a\x7fb'),
    line('GET /get HTTP/1.1\r\nHost: www.example.com\r\nX-Forwarded-For: 1.2.3.4\x7f'),
  ]) {
    assert.equal(await send(head), 'HTTP/1.1 400 Bad Request', JSON.stringify(head.toString('latin1')));
  }
  // uWS closes the connection itself after a content-length it cannot parse, so the 400 is not seen.
  assert.equal(await send(line('POST /anything HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: abc')), '');
  assert.equal(received.length, n, 'nothing reached the upstream');
  assert.equal(h.gateway.metrics.get('jwtgate_requests_total', 'REQUEST_INVALID') - before, 3);
  assert.equal(await send(line('GET /get HTTP/1.1\r\nHost: www.example.com')), 'HTTP/1.1 200 OK');
  assert.deepEqual(received.at(-1), line('GET /get HTTP/1.1'));
});

test('a header value or query with DEL: the 400 says Connection: close and the gateway closes the connection, as Envoy\'s codec does (a keep-alive request: the close is the gateway\'s)', async () => {
  for (const bad of ['GET /get HTTP/1.1\r\nHost: www.example.com\r\nX-A: a\x7fb', 'GET /get?q=a\x7fb HTTP/1.1\r\nHost: www.example.com']) {
    const n = received.length;
    const reply = await exchange(line(bad), (_r, closed) => closed);
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/, JSON.stringify(bad));
    assert.match(reply, /\r\nconnection: close\r\n/i);
    assert.equal(received.length, n, 'nothing reached the upstream');
  }
});

test('a path with raw UTF-8 (中, é) reaches the upstream percent-encoded byte by byte (Envoy path normalization), the query as the same bytes, again and again', async () => {
  const path = Buffer.from('/files/中é?q=é', 'utf8');
  const sent = Buffer.from('/files/%E4%B8%AD%C3%A9?q=é', 'utf8');
  for (let i = 0; i < 3; i++) {
    assert.equal(await send(Buffer.concat([line('GET '), path, line(' HTTP/1.1\r\nHost: www.example.com')])), 'HTTP/1.1 200 OK');
    assert.deepEqual(received.at(-1), Buffer.concat([line('GET '), sent, line(' HTTP/1.1')]));
  }
});

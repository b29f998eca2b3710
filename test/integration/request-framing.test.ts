// Requests whose head cannot be trusted, answered before routing as Envoy's codec does: a second
// Host or a Host that is not an authority (400), two different content-lengths (400), a transfer
// coding other than chunked (501). The answer says `Connection: close` and the connection is
// closed after it; a request pipelined behind it in the same packet is never served (README Limits).
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { startHarness, type Harness } from '../helpers/harness.js';
import { seedManifestsDir } from '../helpers/paths.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';

let h: Harness;

before(async () => {
  h = await startHarness({});
});
after(() => h.close());

/**
 * Writes `data` on a new connection (and `later`, 200 ms after, if the connection is still open);
 * everything read until the gateway closes it (or 3 s).
 */
function exchange(data: string, later?: string, port = h.port): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.write(data);
      if (later !== undefined) setTimeout(() => !sock.destroyed && sock.write(later), 200);
    });
    let text = '';
    let closed = false;
    sock.setEncoding('latin1');
    sock.on('data', (d) => (text += d));
    sock.on('error', () => {});
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ text, closed });
    }, 3000);
    sock.on('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve({ text, closed });
    });
  });
}

const statusLines = (text: string) => text.split('\r\n').filter((l) => l.startsWith('HTTP/1.1 '));

test('a second Host header, or a Host that is not an authority: 400, connection closed, nothing forwarded', async () => {
  const n = h.echo.received.length;
  const before = h.gateway.metrics.get('jwtgate_requests_total', 'REQUEST_INVALID');
  for (const hosts of ['Host: www.example.com\r\nHost: other.example', 'Host: www.example.com/evil', 'Host: www.example.com\\x']) {
    const r = await exchange(`GET /headers HTTP/1.1\r\n${hosts}\r\n\r\n`);
    assert.match(r.text, /\r\nConnection: close\r\n/i);
    assert.deepEqual(statusLines(r.text), ['HTTP/1.1 400 Bad Request'], hosts);
    assert.ok(r.closed, `${hosts}: the connection is closed`);
  }
  assert.equal(h.echo.received.length, n);
  assert.equal(h.gateway.metrics.get('jwtgate_requests_total', 'REQUEST_INVALID') - before, 3);
});

test('HEAD with a second Host: 400 and the connection closed too (a HEAD answer used to keep it open, so the next request was read)', async () => {
  const n = h.echo.received.length;
  const r = await exchange('HEAD /anything HTTP/1.1\r\nHost: www.example.com\r\nHost: evil.example\r\n\r\n');
  assert.deepEqual(statusLines(r.text), ['HTTP/1.1 400 Bad Request']);
  assert.match(r.text, /\r\nConnection: close\r\n/i);
  assert.ok(r.closed);
  assert.equal(h.echo.received.length, n);
});

test('two different content-lengths: 400, Connection: close, the request not forwarded', async () => {
  const n = h.echo.received.length;
  const r = await exchange('POST /anything HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello');
  assert.deepEqual(statusLines(r.text), ['HTTP/1.1 400 Bad Request']);
  assert.match(r.text, /\r\nConnection: close\r\n/i);
  assert.ok(r.closed);
  assert.equal(h.echo.received.length, n);
});

test('the same content-length twice is one length: forwarded', async () => {
  const n = h.echo.received.length;
  const r = await exchange('POST /anything HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
  assert.deepEqual(statusLines(r.text), ['HTTP/1.1 200 OK']);
  assert.equal(h.echo.received.length, n + 1);
});

test('transfer-encoding other than chunked: 501 Not Implemented, connection closed; Chunked in any case is fine', async () => {
  const n = h.echo.received.length;
  for (const te of ['gzip, chunked', 'chunked, identity', 'deflate', 'chunked\r\nTransfer-Encoding: gzip']) {
    const r = await exchange(`POST /anything HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: ${te}\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    assert.deepEqual(statusLines(r.text), ['HTTP/1.1 501 Not Implemented'], te);
    assert.match(r.text, /\r\n\r\nNot Implemented$/);
    assert.ok(r.closed, te);
  }
  assert.equal(h.echo.received.length, n);
  const ok = await exchange('POST /anything HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  assert.deepEqual(statusLines(ok.text), ['HTTP/1.1 200 OK']);
  assert.equal(h.echo.received.at(-1)!.bodyLength, 5);
});

test('a Host with a port, an IPv6 literal or sub-delims is an authority: served', async () => {
  for (const host of ['www.example.com:8080', 'WWW.Example.com']) {
    const r = await exchange(`GET /headers HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    assert.deepEqual(statusLines(r.text), ['HTTP/1.1 200 OK'], host);
  }
  const v6 = await exchange('GET /headers HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n');
  assert.deepEqual(statusLines(v6.text), ['HTTP/1.1 404 Not Found'], 'an IPv6 authority is valid; no listener hostname matches it');
});

test('answered before its body was read (a 404 here, a 401 to an upload likewise): Connection: close and the socket closed at once (uWS left it open with no idle timeout)', async () => {
  for (const head of ['POST /anything HTTP/1.1\r\nHost: nope.example\r\nContent-Length: 3\r\n\r\nabc', 'POST /anything HTTP/1.1\r\nHost: nope.example\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n']) {
    const r = await exchange(head);
    assert.deepEqual(statusLines(r.text), ['HTTP/1.1 404 Not Found']);
    assert.match(r.text, /\r\nConnection: close\r\n/i);
    assert.ok(r.closed, 'closed by the gateway within 3 s');
  }
  // A bodiless request keeps its connection.
  const r = await exchange('GET /anything HTTP/1.1\r\nHost: nope.example\r\n\r\n');
  assert.deepEqual(statusLines(r.text), ['HTTP/1.1 404 Not Found']);
  assert.doesNotMatch(r.text, /Connection: close/i);
});

test('an upload answered at once (401, no token) is read to its end before the connection closes, as Envoy\'s delayed close: a client still writing its body (Node\'s http, in its own process) reads the 401 instead of a reset', async () => {
  const jwt = await startHarness({ manifests: [readFileSync(path.join(seedManifestsDir, '01-basic-jwt.yaml'), 'utf8')] });
  try {
    // The client runs in another process: in this one, its writes and the gateway's answer would take turns on one event loop.
    const client = `
      const http = require('node:http');
      const size = 1000000;
      const one = () => new Promise((resolve) => {
        const req = http.request({ host: '127.0.0.1', port: ${jwt.port}, method: 'POST', path: '/headers', agent: false, headers: { host: 'www.example.com:8080', 'content-length': size } });
        req.on('response', (res) => { res.resume(); res.on('end', () => resolve(res.statusCode + ' ' + res.headers.connection)); });
        req.on('error', (e) => resolve('error ' + e.code));
        const chunk = Buffer.alloc(65536, 117);
        let sent = 0;
        const pump = () => {
          while (sent < size) {
            const n = Math.min(chunk.length, size - sent);
            sent += n;
            if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void req.once('drain', pump);
          }
          req.end();
        };
        pump();
      });
      (async () => { const out = []; for (let i = 0; i < 8; i++) out.push(await one()); console.log(JSON.stringify(out)); })();`;
    const out = await new Promise<string>((resolve, reject) => execFile(process.execPath, ['-e', client], { timeout: 30_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))));
    assert.deepEqual(JSON.parse(out), Array(8).fill('401 close'));
  } finally {
    await jwt.close();
  }
});

test('an early answer waits at most ~1 s for a body that does not come, then goes out and the connection closes', async () => {
  const t0 = Date.now();
  const r = await exchange('POST /anything HTTP/1.1\r\nHost: nope.example\r\nContent-Length: 100\r\n\r\nabc');
  const ms = Date.now() - t0;
  assert.deepEqual(statusLines(r.text), ['HTTP/1.1 404 Not Found']);
  assert.match(r.text, /\r\nConnection: close\r\n/i);
  assert.ok(r.closed, 'closed by the gateway');
  assert.ok(ms >= 900, `answered after the linger period, ${ms} ms`);
});

test('an early answer goes out as soon as the rest of its upload has arrived, not at the end of the ~1 s linger', async () => {
  const t0 = Date.now();
  // The last 97 body bytes come 200 ms after the head: the 404 follows them, long before 1 s.
  const r = await exchange('POST /anything HTTP/1.1\r\nHost: nope.example\r\nContent-Length: 100\r\n\r\nabc', 'x'.repeat(97));
  const ms = Date.now() - t0;
  assert.deepEqual(statusLines(r.text), ['HTTP/1.1 404 Not Found']);
  assert.match(r.text, /\r\nConnection: close\r\n/i);
  assert.ok(r.closed, 'closed by the gateway');
  assert.ok(ms >= 150 && ms < 700, `answered once the body had arrived (~200 ms), not after the linger: ${ms} ms`);
});

test('CONNECT is answered 400 before routing (it used to reach undici, which refused it: a 500 and a new upstream pool each time)', async () => {
  const n = h.echo.received.length;
  const internal = h.gateway.metrics.get('jwtgate_requests_total', 'INTERNAL');
  const r = await exchange('CONNECT /headers HTTP/1.1\r\nHost: www.example.com\r\n\r\n');
  assert.deepEqual(statusLines(r.text), ['HTTP/1.1 400 Bad Request']);
  assert.equal(h.echo.received.length, n);
  assert.equal(h.gateway.metrics.get('jwtgate_requests_total', 'INTERNAL'), internal);
});

test('a request in the same packet behind one answered with Connection: close (two content-lengths, whose second length makes it the body) is never served: the connection closes (uWS used to serve it and keep the connection: a desync)', async () => {
  const n = h.echo.received.length;
  const smuggled = 'GET /headers HTTP/1.1\r\nHost: www.example.com\r\n\r\n';
  const r = await exchange(`POST /headers HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`);
  assert.ok(r.closed);
  assert.ok(!statusLines(r.text).some((l) => l.startsWith('HTTP/1.1 200')), r.text);
  assert.equal(h.echo.received.length, n, 'nothing reached the upstream');
  // Alone, the answer goes out: 400 and close.
  const alone = await exchange('POST /headers HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n');
  assert.deepEqual(statusLines(alone.text), ['HTTP/1.1 400 Bad Request']);
  assert.ok(alone.closed);
});

test('an empty content-length or transfer-encoding (uWS reads either as no body) is refused: 400 / 501, the connection closed, a body behind it never served', async () => {
  const n = h.echo.received.length;
  const smuggled = 'GET /headers HTTP/1.1\r\nHost: www.example.com\r\n\r\n';
  const cl = await exchange(`POST /headers HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: \r\n\r\n`);
  assert.deepEqual(statusLines(cl.text), ['HTTP/1.1 400 Bad Request']);
  assert.ok(cl.closed);
  const te = await exchange(`POST /headers HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: \r\n\r\n`);
  assert.deepEqual(statusLines(te.text), ['HTTP/1.1 501 Not Implemented']);
  assert.ok(te.closed);
  const both = await exchange(`POST /headers HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: \r\n\r\n${smuggled}`);
  assert.ok(both.closed);
  assert.ok(!statusLines(both.text).some((l) => l.startsWith('HTTP/1.1 200')), both.text);
  assert.equal(h.echo.received.length, n);
});

test('a client\'s close anywhere in Connection (close, x-foo; or a second field) closes after a local answer, and a request pipelined behind it is not served', async () => {
  const n = h.echo.received.length;
  for (const conn of ['Connection: close, x-foo', 'Connection: keep-alive\r\nConnection: close', 'Connection: close']) {
    const r = await exchange(`GET /nowhere HTTP/1.1\r\nHost: nowhere.example\r\n${conn}\r\n\r\n`);
    assert.deepEqual(statusLines(r.text), ['HTTP/1.1 404 Not Found'], conn);
    // uWS itself recognizes a lone `close` and then writes no Connection: close of its own.
    if (conn !== 'Connection: close') assert.match(r.text, /\r\nConnection: close\r\n/i, conn);
    assert.ok(r.closed, conn);
    const piped = await exchange(`GET /nowhere HTTP/1.1\r\nHost: nowhere.example\r\n${conn}\r\n\r\nGET /headers HTTP/1.1\r\nHost: www.example.com\r\n\r\n`);
    assert.ok(piped.closed);
    assert.ok(!statusLines(piped.text).some((l) => l.startsWith('HTTP/1.1 200')), piped.text);
  }
  assert.equal(h.echo.received.length, n);
});

test('a 431 closes the connection, as Envoy\'s codec does: a request behind it (in the same read, or a second content-length\'s body) is never served', async () => {
  const n = h.echo.received.length;
  const pad = `x-pad: ${'a'.repeat(62_000)}\r\n`;
  const smuggled = 'GET /headers HTTP/1.1\r\nHost: www.example.com\r\n\r\n';
  for (const data of [
    `GET /headers HTTP/1.1\r\nHost: www.example.com\r\n${pad}\r\n${smuggled}`,
    `POST /headers HTTP/1.1\r\nHost: www.example.com\r\n${pad}Content-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
  ]) {
    const r = await exchange(data);
    assert.ok(r.closed);
    assert.ok(!statusLines(r.text).some((l) => l.startsWith('HTTP/1.1 200')), r.text.slice(0, 300));
  }
  const alone = await exchange(`GET /headers HTTP/1.1\r\nHost: www.example.com\r\n${pad}\r\n`);
  assert.deepEqual(statusLines(alone.text), ['HTTP/1.1 431 Request Header Fields Too Large']);
  assert.ok(alone.closed, 'closed after the 431');
  assert.equal(h.echo.received.length, n);
});

test('HEAD answered locally for a client that sent Connection: close keeps its Content-Length (health checkers send HEAD with close); with close in a list it still closes, and the request behind it is not served', async () => {
  // A local answer with a body: the seed's JWT policy answers 401 'Jwt is missing' (14 bytes).
  const jwt = await startHarness({ manifests: [readFileSync(path.join(seedManifestsDir, '01-basic-jwt.yaml'), 'utf8')] });
  try {
    const r = await exchange('HEAD /headers HTTP/1.1\r\nHost: www.example.com\r\nConnection: Close\r\n\r\n', undefined, jwt.port);
    assert.deepEqual(statusLines(r.text), ['HTTP/1.1 401 Unauthorized']);
    assert.match(r.text, /\r\nContent-Length: 14\r\n/i);
    assert.ok(r.closed);
  } finally {
    await jwt.close();
  }
  const n = h.echo.received.length;
  const list = await exchange('HEAD /nowhere HTTP/1.1\r\nHost: nowhere.example\r\nConnection: keep-alive, close\r\n\r\n', 'GET /headers HTTP/1.1\r\nHost: www.example.com\r\n\r\n');
  assert.deepEqual(statusLines(list.text), ['HTTP/1.1 404 Not Found']);
  assert.ok(list.closed);
  assert.equal(h.echo.received.length, n, 'the later request was not served');
});


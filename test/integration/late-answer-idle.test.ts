// An upload answered after an asynchronous check (a 401 from the verify pool) before its body
// had all arrived. uWebSockets.js 20.30 turns its idle timer off when the last body chunk arrives
// (it expects the answer still to come) and re-arms it only when an answer ends after that: an
// answer written first, the upload ending after it, left the kept connection with no idle timeout
// at all, so one small request each let a client hold sockets forever. Such an answer now waits
// for the rest of the upload as an early answer does (README Behaviour): kept when the upload
// ends within ~1 s, else sent with Connection: close. Either way the connection ends when idle.
// Found by a fuzz sweep of the client side.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { startHarness, SAMPLE_TOKEN, type Harness } from '../helpers/harness.js';
import { repoRoot } from '../helpers/paths.js';

let h: Harness;

before(async () => {
  // The pool always: the check is answered after the request callback, as under load.
  h = await startHarness({ files: [path.join(repoRoot, 'config', 'default', '10-jwt.yaml')], gateway: { verifyMode: 'pool' } });
});
after(() => h.close());

/** The sample token with one signature byte changed: well formed, checked in the pool, refused. */
function badSignatureToken(n: number): string {
  const [head, payload, sig] = SAMPLE_TOKEN.split('.');
  const bytes = Buffer.from(sig!, 'base64url');
  bytes[n] ^= 0xff;
  return `${head}.${payload}.${bytes.toString('base64url')}`;
}

/**
 * Sends `head`, then `rest` 300 ms later (the pooled check is over by then) or, with
 * `afterAnswer`, once the answer has come. Resolves with what was read and whether the gateway
 * closed the connection within 30 s of the start (uWS's idle timeout is 10 s).
 */
function upload(head: string, rest: string, afterAnswer = false): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect(h.port, '127.0.0.1', () => {
      sock.write(head);
      if (!afterAnswer) setTimeout(() => !sock.destroyed && sock.write(rest), 300);
    });
    let text = '';
    let sent = false;
    sock.setEncoding('latin1');
    sock.on('error', () => {});
    sock.on('data', (d) => {
      text += d;
      if (afterAnswer && !sent && text.includes('Jwt verification fails')) {
        sent = true;
        sock.write(rest);
      }
    });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ text, closed: false });
    }, 30_000);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
  });
}

const statusLines = (text: string) => text.split('\r\n').filter((l) => l.startsWith('HTTP/1.1 '));

test('a Content-Length upload whose body ends after its pooled check: 401, and the kept connection still closes when idle (it had no idle timeout)', { timeout: 60_000 }, async () => {
  const r = await upload(`POST /anything HTTP/1.1\r\nHost: www.example.com\r\nAuthorization: Bearer ${badSignatureToken(3)}\r\nContent-Length: 10\r\n\r\n`, '0123456789');
  assert.deepEqual(statusLines(r.text), ['HTTP/1.1 401 Unauthorized']);
  assert.ok(r.text.endsWith('Jwt verification fails'));
  assert.ok(r.closed, 'the connection was still open 30 s after the upload: no idle timeout');
});

test('the same with Expect: 100-continue', { timeout: 60_000 }, async () => {
  const r = await upload(`POST /anything HTTP/1.1\r\nHost: www.example.com\r\nAuthorization: Bearer ${badSignatureToken(4)}\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n`, '0123456789');
  assert.deepEqual(statusLines(r.text), ['HTTP/1.1 100 Continue', 'HTTP/1.1 401 Unauthorized']);
  assert.ok(r.closed, 'the connection was still open 30 s after the upload: no idle timeout');
});

test('a chunked upload whose last chunk comes after its pooled check: the same', { timeout: 60_000 }, async () => {
  const r = await upload(`POST /anything HTTP/1.1\r\nHost: www.example.com\r\nAuthorization: Bearer ${badSignatureToken(5)}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`, '0\r\n\r\n');
  assert.deepEqual(statusLines(r.text), ['HTTP/1.1 401 Unauthorized']);
  assert.ok(r.closed, 'the connection was still open 30 s after the upload: no idle timeout');
});

test('a client that waits for the answer before sending the rest of its body gets the 401 with Connection: close after ~1 s, as for an early answer', { timeout: 60_000 }, async () => {
  const r = await upload(`POST /anything HTTP/1.1\r\nHost: www.example.com\r\nAuthorization: Bearer ${badSignatureToken(6)}\r\nContent-Length: 10\r\n\r\n`, '0123456789', true);
  assert.deepEqual(statusLines(r.text), ['HTTP/1.1 401 Unauthorized']);
  assert.match(r.text, /\r\nConnection: close\r\n/i);
  assert.ok(r.closed, 'the connection was still open 30 s after the upload: no idle timeout');
});

test('the gateway still serves a valid token afterwards, and nothing reached the upstream', async () => {
  const s = net.connect(h.port, '127.0.0.1');
  const text = await new Promise<string>((resolve) => {
    let t = '';
    s.setEncoding('latin1');
    s.on('data', (d) => (t += d));
    s.on('close', () => resolve(t));
    s.write(`GET /get HTTP/1.1\r\nHost: www.example.com\r\nAuthorization: Bearer ${SAMPLE_TOKEN}\r\nConnection: close\r\n\r\n`);
  });
  assert.deepEqual(statusLines(text), ['HTTP/1.1 200 OK']);
  assert.equal(h.echo.received.length, 1);
});

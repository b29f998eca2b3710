// TrafficPolicy `buffer` under --max-request-body-bytes smaller than its maxRequestSize: the
// global limit bounds what the gateway holds (413 request body too large as soon as the body,
// or its declared length, passes it), instead of holding the body up to the route's limit first.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { hostRoute, routePolicy, startHarness, type Harness, requestsCounted } from '../helpers/harness.js';

let h: Harness;
const count = (result: string) => requestsCounted(h, result);

before(async () => {
  h = await startHarness({
    gateway: { maxRequestBodyBytes: 2000 },
    manifests: [hostRoute('small', 'small.example.com') + routePolicy('small', 'small', "  buffer:\n    maxRequestSize: '1024'") + hostRoute('big', 'big.example.com') + routePolicy('big', 'big', "  buffer:\n    maxRequestSize: '4Ki'")],
  });
});
after(() => h?.close());

/** Writes `text` and returns what was read within `waitMs` (or until the gateway closed). */
function send(text: string, waitMs = 800): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect(h.port, '127.0.0.1');
    let out = '';
    let timer: NodeJS.Timeout | undefined;
    sock.setEncoding('latin1');
    sock.on('data', (d) => (out += d));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    sock.on('connect', () => {
      sock.write(text);
      timer = setTimeout(() => sock.destroy(), waitMs);
    });
  });
}

test('a chunked body past the global limit is answered as it passes it, not held up to the route\'s 4Ki', async () => {
  const before = count('REQUEST_BODY_TOO_LARGE');
  const n = h.echo.received.length;
  // 2,500 bytes, the body not finished: nothing more will come.
  const out = await send('POST /anything HTTP/1.1\r\nHost: big.example.com\r\nTransfer-Encoding: chunked\r\n\r\n9c4\r\n' + 'z'.repeat(2500) + '\r\n');
  assert.match(out, /^HTTP\/1\.1 413 Payload Too Large\r\n[^]*\r\n\r\nrequest body too large$/);
  assert.equal(count('REQUEST_BODY_TOO_LARGE') - before, 1);
  assert.equal(h.echo.received.length, n);
});

test('a declared content-length over the global limit (under the route\'s) is answered at once', async () => {
  const out = await send('POST /anything HTTP/1.1\r\nHost: big.example.com\r\nContent-Length: 3000\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 413 Payload Too Large\r\n[^]*\r\n\r\nrequest body too large$/);
});

test('the route\'s limit, when it is the smaller, still answers its own 413; bodies under both pass', async () => {
  const out = await send('POST /anything HTTP/1.1\r\nHost: small.example.com\r\nContent-Length: 1500\r\n\r\n');
  assert.match(out, /\r\n\r\nPayload Too Large$/);
  const ok = await send('POST /anything HTTP/1.1\r\nHost: big.example.com\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n' + 'y'.repeat(2000), 2000);
  assert.match(ok, /^HTTP\/1\.1 200 OK\r\n/);
  assert.equal(h.echo.received.at(-1)!.bodyLength, 2000);
});

// TrafficPolicy `buffer` end to end, from kgateway's "Buffering" page (per route): Envoy's buffer
// filter reads the whole request body before the request goes upstream (the upstream sees nothing
// until then, and a chunked body arrives with its content-length), answers `413 Payload Too Large`
// and closes the connection once more than maxRequestSize bytes have come, after the JWT check;
// `disable` on a more specific level turns it off.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { hostRoute, lastReceived, routePolicy, startHarness, type Harness, SAMPLE_TOKEN, SAMPLE_JWT_EXTENSION, requestsCounted, ruleOverrideRoute } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { configDumpText } from '../../src/config/dump.js';

const TOKEN = SAMPLE_TOKEN;
const jwtExtension = SAMPLE_JWT_EXTENSION;

let h: Harness;
const count = (result: string) => requestsCounted(h, result);

before(async () => {
  h = await startHarness({
    manifests: [
      // The docs' policy, on the sample route (www.example.com).
      routePolicy('transformation-buffer-limit', 'httpbin', "  buffer:\n    maxRequestSize: '1024'") +
        // A route-level limit, turned off on one rule by an ExtensionRef policy.
        ruleOverrideRoute('levels', 'levels.example.com', '/open', 'no-buffer', 'buffer: { disable: {} }') +
        routePolicy('levels', 'levels', '  buffer: { maxRequestSize: 1Ki }') +
        // JWT first, then the buffer.
        `---\n${jwtExtension}\n` +
        hostRoute('guarded', 'guarded.example.com') +
        routePolicy('guarded', 'guarded', '  jwtAuth: { extensionRef: { name: selfminted-jwt } }\n  buffer: { maxRequestSize: 100 }'),
    ],
  });
});
after(() => h?.close());

const post = (host: string, p: string, body: string, headers: Record<string, string> = {}) => request({ port: h.port, method: 'POST', path: p, headers: { host, 'content-type': 'text/plain', ...headers }, body });

/**
 * A raw connection: writes `parts` one after the other, `gapMs` apart (calling `between` before
 * each write after the first); everything read until the gateway closes it, or 3 s after the last
 * write.
 */
function raw(parts: string[], gapMs = 0, between?: (i: number) => void): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect(h.port, '127.0.0.1');
    let text = '';
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ text, closed });
    };
    sock.setEncoding('latin1');
    sock.on('data', (d) => (text += d));
    sock.on('error', () => {});
    sock.on('close', () => {
      closed = true;
      done();
    });
    sock.on('connect', async () => {
      for (let i = 0; i < parts.length; i++) {
        if (i > 0 && gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        if (sock.destroyed) return;
        if (i > 0) between?.(i);
        sock.write(parts[i]!);
      }
      timer = setTimeout(done, 3000);
    });
  });
}

test("the docs' example (maxRequestSize '1024'): 1,024 bytes pass, 1,025 get Envoy's 413 Payload Too Large and never reach the upstream", async () => {
  const ok = await post('www.example.com', '/anything', 'a'.repeat(1024));
  assert.equal(ok.status, 200);
  assert.equal(h.echo.received.at(-1)!.bodyLength, 1024);
  assert.deepEqual(lastReceived(h.echo, 'content-length'), ['1024']);
  const n = h.echo.received.length;
  const before413 = count('PAYLOAD_TOO_LARGE');
  const r = await post('www.example.com', '/anything', 'a'.repeat(1025));
  assert.equal(r.status, 413);
  assert.equal(r.body, 'Payload Too Large');
  assert.equal(r.headers['content-type'], 'text/plain');
  assert.equal(r.headers.connection, 'close');
  assert.equal(h.echo.received.length, n);
  assert.equal(count('PAYLOAD_TOO_LARGE') - before413, 1);
  // A request without a body is not held.
  assert.equal((await request({ port: h.port, path: '/anything', headers: { host: 'www.example.com' } })).status, 200);
});

test('the upstream sees nothing until the whole body has come', async () => {
  const n = h.echo.received.length;
  let seenBeforeEnd = -1;
  const r = await raw(['POST /anything HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(500), 'y'.repeat(500)], 400, () => (seenBeforeEnd = h.echo.received.length - n));
  assert.equal(seenBeforeEnd, 0);
  assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.equal(h.echo.received.length, n + 1);
  assert.equal(h.echo.received.at(-1)!.bodyLength, 1000);
});

test('a chunked body goes upstream with its content-length and without transfer-encoding, as Envoy\'s buffer filter sends it', async () => {
  const r = await raw(['POST /anything HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n' + 'c'.repeat(256) + '\r\n', '100\r\n' + 'd'.repeat(256) + '\r\n0\r\n\r\n'], 100);
  assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.equal(h.echo.received.at(-1)!.bodyLength, 512);
  assert.deepEqual(lastReceived(h.echo, 'content-length'), ['512']);
  assert.deepEqual(lastReceived(h.echo, 'transfer-encoding'), []);
});

test('a chunked body that grows past the limit gets the 413 as it does, and the connection is closed; a declared length over it at once', async () => {
  const n = h.echo.received.length;
  const grown = await raw(['POST /anything HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n' + 'c'.repeat(800) + '\r\n', '320\r\n' + 'd'.repeat(800) + '\r\n'], 100);
  assert.match(grown.text, /^HTTP\/1\.1 413 Payload Too Large\r\n/);
  assert.match(grown.text, /\r\n\r\nPayload Too Large$/);
  assert.equal(grown.closed, true);
  const declared = await raw(['POST /anything HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 5000\r\n\r\n']);
  assert.match(declared.text, /^HTTP\/1\.1 413 Payload Too Large\r\n/);
  assert.equal(declared.closed, true);
  assert.equal(h.echo.received.length, n);
});

test('the JWT check comes first: a request without a token gets 401 Jwt is missing, whatever its body', async () => {
  const n = h.echo.received.length;
  const denied = await post('guarded.example.com', '/anything', 'z'.repeat(5000));
  assert.equal(denied.status, 401);
  assert.equal(denied.body, 'Jwt is missing');
  const big = await post('guarded.example.com', '/anything', 'z'.repeat(101), { authorization: `Bearer ${TOKEN}` });
  assert.equal(big.status, 413);
  assert.equal(h.echo.received.length, n);
  const ok = await post('guarded.example.com', '/anything', 'z'.repeat(100), { authorization: `Bearer ${TOKEN}` });
  assert.equal(ok.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'x-team'), ['dev']);
});

test('levels: the most specific applies whole, and disable on a rule turns the route\'s off there', async () => {
  assert.equal((await post('levels.example.com', '/anything', 'l'.repeat(1025))).status, 413);
  assert.equal((await post('levels.example.com', '/anything', 'l'.repeat(1024))).status, 200);
  const open = await post('levels.example.com', '/open', 'l'.repeat(100_000));
  assert.equal(open.status, 404);
  assert.equal(h.echo.received.at(-1)!.bodyLength, 100_000);
});

test('/config_dump shows each route\'s limit in bytes and where it comes from', () => {
  const dump = JSON.parse(configDumpText(h.gateway.snapshot)) as { listeners: { routeDefs: Record<string, { buffer?: unknown }> }[] };
  const defs = Object.assign({}, ...dump.listeners.map((l) => l.routeDefs)) as Record<string, { buffer?: unknown }>;
  assert.deepEqual(defs['httpbin/httpbin/0/0']!.buffer, { maxRequestBytes: 1024, from: 'TrafficPolicy/httpbin/transformation-buffer-limit@HTTPRoute' });
  assert.deepEqual(defs['httpbin/levels/1/0']!.buffer, { maxRequestBytes: 1024, from: 'TrafficPolicy/httpbin/levels@HTTPRoute' });
  assert.equal(defs['httpbin/levels/0/0']!.buffer, undefined);
  assert.deepEqual(defs['httpbin/guarded/0/0']!.buffer, { maxRequestBytes: 100, from: 'TrafficPolicy/httpbin/guarded@HTTPRoute' });
});

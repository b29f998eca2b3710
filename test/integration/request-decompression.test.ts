// TrafficPolicy `compression.requestDecompression` end to end, from kgateway's "Compression" page:
// Envoy's decompressor filters inflate a request body whose first content-encoding token is one of
// the route's libraries (gzip by default): the upstream gets it inflated and chunked, without
// that token and its content-length; other encodings and `no-transform` pass as they came; a body
// that is not valid for its encoding is refused (400) instead of half-sent.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { hostRoute, lastReceived, requestsCounted, routePolicy, ruleOverrideRoute, startHarness, type Harness } from '../helpers/harness.js';
import { configDumpText } from '../../src/config/dump.js';
import { request } from '../helpers/http-client.js';

let h: Harness;

before(async () => {
  h = await startHarness({
    manifests: [
      // The docs' example.
      hostRoute('httpbin-decompression', 'decompression.example') +
        routePolicy('httpbin-decompression', 'httpbin-decompression', '  compression:\n    requestDecompression: {}') +
        hostRoute('brotli', 'brotli.example') +
        routePolicy('brotli', 'brotli', '  compression:\n    requestDecompression: { libraries: [Brotli] }'),
    ],
  });
});
after(() => h?.close());

async function post(host: string, body: Buffer, headers: Record<string, string>, port = h.port, path = '/echo'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const r = await request({ port, path, method: 'POST', headers: { host, 'content-type': 'text/plain', ...headers }, body });
  return { status: r.status, headers: r.headers, body: r.raw };
}

test("the docs' example: a gzipped body reaches the upstream inflated, chunked, without content-encoding or its content-length", async () => {
  const r = await post('decompression.example', zlib.gzipSync('Hello, world!'), { 'content-encoding': 'gzip' });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'Hello, world!');
  assert.deepEqual(lastReceived(h.echo, 'content-encoding'), []);
  assert.deepEqual(lastReceived(h.echo, 'content-length'), []);
  assert.deepEqual(lastReceived(h.echo, 'transfer-encoding'), ['chunked']);
});

test('the first token only, in any case: the rest of the list stays', async () => {
  const r = await post('decompression.example', zlib.gzipSync('layered'), { 'content-encoding': 'GZIP, identity' });
  assert.equal(r.body.toString(), 'layered');
  assert.deepEqual(lastReceived(h.echo, 'content-encoding'), ['identity']);
});

test('another encoding, or Cache-Control no-transform, passes as it came', async () => {
  const br = zlib.brotliCompressSync('brotli body');
  const r = await post('decompression.example', br, { 'content-encoding': 'br' });
  assert.deepEqual(r.body, br);
  assert.deepEqual(lastReceived(h.echo, 'content-encoding'), ['br']);
  const gz = zlib.gzipSync('kept');
  const kept = await post('decompression.example', gz, { 'content-encoding': 'gzip', 'cache-control': 'No-Transform' });
  assert.deepEqual(kept.body, gz);
  assert.deepEqual(lastReceived(h.echo, 'content-length'), [String(gz.length)]);
});

test('libraries: [Brotli] inflates brotli and leaves gzip alone', async () => {
  const r = await post('brotli.example', zlib.brotliCompressSync('from brotli'), { 'content-encoding': 'br' });
  assert.equal(r.body.toString(), 'from brotli');
  const gz = zlib.gzipSync('not mine');
  assert.deepEqual((await post('brotli.example', gz, { 'content-encoding': 'gzip' })).body, gz);
});

test('a large body is inflated whole through backpressure (4 MiB of text)', async () => {
  const plain = Buffer.from(randomBytes(3 * 1024 * 1024).toString('base64'));
  const r = await post('decompression.example', zlib.gzipSync(plain), { 'content-encoding': 'gzip' });
  assert.equal(r.status, 200);
  assert.equal(r.body.length, plain.length);
  assert.ok(r.body.equals(plain));
  assert.equal(h.echo.received.at(-1)!.bodyLength, plain.length);
});

test('an empty chunked body in gzip goes on empty, without its content-encoding (Envoy inflates nothing to nothing; zlib alone calls it truncated)', async () => {
  const r = await post('decompression.example', Buffer.alloc(0), { 'content-encoding': 'gzip', 'transfer-encoding': 'chunked' });
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 0);
  assert.equal(h.echo.received.at(-1)!.bodyLength, 0);
  assert.deepEqual(lastReceived(h.echo, 'content-encoding'), []);
});

test('a decompression bomb (64 MiB of zeros in 64 KB of gzip) is refused past 100 times its size, as Envoy\'s max_inflate_ratio stops it: 400, and the upstream request is cut', async () => {
  const bomb = zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024));
  const ended = new Promise<{ aborted: boolean; bodyLength: number }>((resolve) => h.echo.events.once('end', (rec: { aborted: boolean; bodyLength: number }) => resolve(rec)));
  const before = requestsCounted(h, 'REQUEST_INVALID');
  // The answer may be lost to a reset: the gateway closes the connection while the upload is
  // still coming (as Envoy does after an early answer); when it arrives it is the 400.
  const r = await post('decompression.example', bomb, { 'content-encoding': 'gzip' }).catch(() => undefined);
  if (r !== undefined) {
    assert.equal(r.status, 400);
    assert.equal(r.body.toString(), 'Bad Request');
  }
  const rec = await ended;
  assert.equal(requestsCounted(h, 'REQUEST_INVALID') - before, 1);
  assert.equal(rec.aborted, true);
  assert.ok(rec.bodyLength < 16 * 1024 * 1024, `the upstream got ${rec.bodyLength} bytes`);
});

test('a body that is not valid gzip gets 400 Bad Request, and the connection is closed', async () => {
  const r = await post('decompression.example', Buffer.from('this is not gzip at all, not even close'), { 'content-encoding': 'gzip' });
  assert.equal(r.status, 400);
  assert.equal(r.body.toString(), 'Bad Request');
  assert.equal(r.headers.connection, 'close');
});

test('/config_dump shows the codecs a route inflates', () => {
  const dump = JSON.parse(configDumpText(h.gateway.snapshot)) as { listeners: { routeDefs: Record<string, { requestDecompression?: unknown }> }[] };
  const defs = Object.assign({}, ...dump.listeners.map((l) => l.routeDefs)) as Record<string, { requestDecompression?: unknown }>;
  assert.deepEqual(defs['httpbin/httpbin-decompression/0/0']!.requestDecompression, ['gzip']);
  assert.deepEqual(defs['httpbin/brotli/0/0']!.requestDecompression, ['br']);
});

test('levels: a Gateway-wide requestDecompression is turned off on a rule by a more specific disable', async () => {
  const g = await startHarness({
    manifests: [
      `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: gateway-gunzip, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http }]
  compression: { requestDecompression: {} }
` + ruleOverrideRoute('levels', 'levels.example', '/echo', 'no-gunzip', 'compression: { requestDecompression: { disable: {} } }'),
    ],
  });
  try {
    const gz = zlib.gzipSync('levels');
    const send = async (p: string) => (await post('levels.example', gz, { 'content-encoding': 'gzip' }, g.port, p)).body;
    assert.equal((JSON.parse((await send('/anything')).toString()) as { data: string }).data, 'levels');
    assert.deepEqual(await send('/echo'), gz);
  } finally {
    await g.close();
  }
});

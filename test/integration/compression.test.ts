// TrafficPolicy `compression.responseCompression` end to end, from kgateway's "Compression" page:
// Envoy's compressor filters compress a proxied answer the client accepts (gzip, or brotli when
// listed), chunked without Content-Length, with `Vary: Accept-Encoding`; they leave alone short
// answers, other content types, no-transform, encoded answers and bodiless ones; the choice follows
// Envoy's q-value rules; a strong ETag goes, a weak one stays; `disable` turns them off.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import { hostRoute, routePolicy, startHarness, type Harness, ruleOverrideRoute } from '../helpers/harness.js';
import { configDumpText } from '../../src/config/dump.js';
import { request } from '../helpers/http-client.js';

let h: Harness;

before(async () => {
  h = await startHarness({
    manifests: [
      // The docs' example.
      hostRoute('httpbin-compression', 'compression.example') +
        routePolicy('httpbin-compression', 'httpbin-compression', '  compression:\n    responseCompression: {}') +
        // Brotli first, then gzip; any length; a short list of types.
        hostRoute('both', 'both.example') +
        routePolicy('both', 'both', '  compression:\n    responseCompression:\n      libraries: [Brotli, Gzip]\n      minContentLengthBytes: 0\n      contentTypes: [application/json, text/plain]') +
        // A route-level policy, turned off on one rule by an ExtensionRef policy.
        ruleOverrideRoute('levels', 'levels.example', '/plain', 'no-compression', 'compression: { responseCompression: { disable: {} } }') +
        routePolicy('levels', 'levels', '  compression: { responseCompression: {} }') +
        // A Gateway-wide gzip: the rule-level disable below turns it off too.
        `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: gateway-gzip, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http }]
  compression: { responseCompression: {} }
` +
        // Zstd (Node.js 20 has none): a warning.
        hostRoute('zstd', 'zstd.example') +
        routePolicy('zstd', 'zstd', '  compression:\n    responseCompression: { libraries: [Zstd, Gzip] }\n    requestDecompression: {}'),
    ],
  });
});
after(() => h?.close());

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

async function send(host: string, path: string, headers: Record<string, string> = {}, method = 'GET', body?: Buffer | string): Promise<Raw> {
  const r = await request({ port: h.port, path, method, headers: { host, ...headers }, ...(body !== undefined ? { body } : {}) });
  return { status: r.status, headers: r.headers, body: r.raw };
}

const echo = (host: string, body: string, type: string, headers: Record<string, string> = {}) => send(host, '/echo', { 'content-type': type, ...headers }, 'POST', body);
const TEXT = 'The quick brown fox jumps over the lazy dog. '.repeat(40);

test("the docs' example: an answer the client accepts gzip for is gzipped, chunked, with Vary; without Accept-Encoding it goes as it is, with Vary", async () => {
  const gz = await send('compression.example', '/headers', { 'accept-encoding': 'gzip' });
  assert.equal(gz.status, 200);
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gz.headers['content-length'], undefined);
  assert.equal(gz.headers['transfer-encoding'], 'chunked');
  assert.equal(gz.headers.vary, 'Accept-Encoding');
  const json = JSON.parse(zlib.gunzipSync(gz.body).toString()) as { headers: Record<string, string[]> };
  // The upstream got the client's Accept-Encoding as it was.
  assert.deepEqual(json.headers['Accept-Encoding'], ['gzip']);
  const plain = await send('compression.example', '/headers');
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.headers['content-length'], String(plain.body.length));
  assert.equal(plain.headers.vary, 'Accept-Encoding');
  JSON.parse(plain.body.toString());
});

test('a large answer is compressed whole, through backpressure both ways', async () => {
  const big = 'x'.repeat(64) + TEXT.repeat(400);
  const r = await echo('compression.example', big, 'text/plain', { 'accept-encoding': 'gzip' });
  assert.equal(r.headers['content-encoding'], 'gzip');
  assert.ok(r.body.length < big.length / 5);
  assert.equal(zlib.gunzipSync(r.body).toString(), big);
});

test("left alone (no Vary): under the minimum length, a type outside the list, Cache-Control no-transform, an answer already encoded", async () => {
  for (const [body, type, extra] of [
    ['short', 'text/plain', {}],
    [TEXT, 'image/png', {}],
  ] as const) {
    const r = await echo('compression.example', body, type, { 'accept-encoding': 'gzip', ...extra });
    assert.equal(r.headers['content-encoding'], undefined, type);
    assert.equal(r.headers.vary, undefined, type);
    assert.equal(r.body.toString(), body);
  }
  const noTransform = await send('both.example', '/response-headers?cache-control=public,%20No-Transform', { 'accept-encoding': 'gzip' });
  assert.equal(noTransform.headers['content-encoding'], undefined);
  assert.equal(noTransform.headers.vary, undefined);
  const encoded = await send('both.example', '/response-headers?content-encoding=identity', { 'accept-encoding': 'gzip' });
  assert.equal(encoded.headers['content-encoding'], 'identity');
  assert.equal(encoded.headers.vary, undefined);
  assert.equal(encoded.body.toString(), '{}\n');
});

test('HEAD gets Vary and its Content-Length, never a Content-Encoding', async () => {
  const r = await send('compression.example', '/headers', { 'accept-encoding': 'gzip' }, 'HEAD');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-encoding'], undefined);
  assert.equal(r.headers.vary, 'Accept-Encoding');
  assert.ok(Number(r.headers['content-length']) > 30);
});

test('an answer with Content-Length: 0 is never compressed, even with minContentLengthBytes 0 (Envoy\'s codec ends the stream with its head)', async () => {
  const r = await send('both.example', '/status/200', { 'accept-encoding': 'gzip' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-encoding'], undefined);
  assert.equal(r.headers['content-length'], '0');
  assert.equal(r.body.length, 0);
});

test("Envoy's choice: q-values, ties to the earlier token, * for the first library listed, q=0 and identity, case-sensitive names", async () => {
  const cases: [string, string | undefined][] = [
    ['gzip', 'gzip'],
    ['br', 'br'],
    ['gzip, br', 'gzip'],
    ['br, gzip', 'br'],
    ['gzip;q=0.5, br;q=0.8', 'br'],
    ['*', 'br'],
    ['br;q=0, *', 'gzip'],
    ['identity, gzip', undefined],
    ['gzip;q=0.1, identity;q=0.5', undefined],
    ['GZIP', undefined],
    ['deflate', undefined],
    ['gzip;q=x, br;q=0.2', 'br'],
    ['gzip;q=0.2, br;q=inf', 'br'],
    // 32-bit floats: 0.3 and 0.30000001 tie, so the earlier token wins.
    ['gzip;q=0.3, br;q=0.30000001', 'gzip'],
  ];
  for (const [accept, want] of cases) {
    const r = await send('both.example', '/headers', { 'accept-encoding': accept });
    assert.equal(r.headers['content-encoding'], want, accept);
    if (want === 'br') JSON.parse(zlib.brotliDecompressSync(r.body).toString());
    if (want === 'gzip') JSON.parse(zlib.gunzipSync(r.body).toString());
  }
});

test('a strong ETag is removed from a compressed answer, a weak one kept; an existing Vary gets Accept-Encoding once', async () => {
  const strong = await send('both.example', '/response-headers?etag=%22abc%22&vary=Origin', { 'accept-encoding': 'gzip' });
  assert.equal(strong.headers['content-encoding'], 'gzip');
  assert.equal(strong.headers.etag, undefined);
  assert.equal(strong.headers.vary, 'Origin, Accept-Encoding');
  assert.equal(zlib.gunzipSync(strong.body).toString(), '{}\n');
  const weak = await send('both.example', '/response-headers?etag=W/%22abc%22&vary=accept-encoding', { 'accept-encoding': 'gzip' });
  assert.equal(weak.headers['content-encoding'], 'gzip');
  assert.equal(weak.headers.etag, 'W/"abc"');
  // Envoy's token check is case-sensitive: a lowercase one gets Accept-Encoding appended.
  assert.equal(weak.headers.vary, 'accept-encoding, Accept-Encoding');
});

test('Cache-Control, Content-Type and Vary are read over all their field lines, as Envoy folds them into one', async () => {
  // no-transform on a second Cache-Control line: not compressed, and no Vary.
  const nt = await send('both.example', '/response-headers?cache-control=public&cache-control=no-transform', { 'accept-encoding': 'gzip' });
  assert.equal(nt.headers['content-encoding'], undefined);
  assert.equal(nt.headers.vary, undefined);
  // Accept-Encoding on a second Vary line: not added again.
  const v = await send('both.example', '/response-headers?vary=Origin&vary=Accept-Encoding', { 'accept-encoding': 'gzip' });
  assert.equal(v.headers['content-encoding'], 'gzip');
  assert.equal(v.headers.vary, 'Origin, Accept-Encoding');
  // Two Content-Type lines read as one type, `text/plain,application/json`: in no list.
  const ct = await send('both.example', '/response-headers?content-type=text/plain', { 'accept-encoding': 'gzip' });
  assert.equal(ct.headers['content-encoding'], undefined);
  assert.equal(ct.headers.vary, undefined);
});

test('each chunk the upstream sends is flushed to the client compressed, before the next one exists', async () => {
  const part1 = 'first line of a stream, long enough to be worth compressing\n';
  const part2 = 'second line, sent only once the first has come back\n';
  const got = await new Promise<{ early: string; all: Buffer }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: h.port, path: '/echo', method: 'POST', headers: { host: 'compression.example', 'content-type': 'text/plain', 'accept-encoding': 'gzip' }, agent: false }, (res) => {
      assert.equal(res.headers['content-encoding'], 'gzip');
      const chunks: Buffer[] = [];
      let early: string | undefined;
      const timer = setTimeout(() => reject(new Error('the first line did not come back before the second was sent')), 3000);
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        if (early !== undefined) return;
        early = zlib.gunzipSync(Buffer.concat(chunks), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString();
        if (early === part1) {
          clearTimeout(timer);
          req.end(part2);
        } else early = undefined;
      });
      res.on('end', () => resolve({ early: early ?? '', all: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.write(part1);
  });
  assert.equal(got.early, part1);
  assert.equal(zlib.gunzipSync(got.all).toString(), part1 + part2);
});

test('disable on a rule turns the route\'s and the Gateway\'s compression off there', async () => {
  const off = await send('levels.example', '/plain/headers', { 'accept-encoding': 'gzip' });
  assert.equal(off.headers['content-encoding'], undefined);
  assert.equal(off.headers.vary, undefined);
  const on = await send('levels.example', '/headers', { 'accept-encoding': 'gzip' });
  assert.equal(on.headers['content-encoding'], 'gzip');
});

test('Zstd is warned about; the policy\'s gzip still applies', async () => {
  const r = await send('zstd.example', '/headers', { 'accept-encoding': 'zstd, gzip;q=0.5' });
  assert.equal(r.headers['content-encoding'], 'gzip');
  const w = h.gateway.snapshot.problems.filter((p) => p.resource === 'TrafficPolicy/httpbin/zstd' && p.severity === 'warning').map((p) => p.path);
  assert.deepEqual(w, ['spec.compression.responseCompression.libraries']);
});

test('/config_dump shows each route\'s compressors and where they come from', () => {
  const dump = JSON.parse(configDumpText(h.gateway.snapshot)) as { listeners: { routeDefs: Record<string, { compression?: unknown }> }[] };
  const defs = Object.assign({}, ...dump.listeners.map((l) => l.routeDefs)) as Record<string, { compression?: unknown }>;
  assert.deepEqual(defs['httpbin/both/0/0']!.compression, {
    codecs: [
      { codec: 'br', minContentLength: 0, contentTypes: 2 },
      { codec: 'gzip', minContentLength: 0, contentTypes: 2 },
    ],
    from: ['TrafficPolicy/httpbin/both@HTTPRoute'],
  });
  assert.equal(defs['httpbin/levels/0/0']!.compression, undefined);
});

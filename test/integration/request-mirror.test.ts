// The HTTPRoute RequestMirror filter end to end, from the manifests a kgateway user has, behind
// the default config's Gateway-wide JWT policy: a checked request is copied to the mirror
// Backend with Envoy's shadow Host and the claim headers, a refused one is not, a mirror whose
// backend does not resolve is dropped (the rule serves), and /metrics and /config_dump say so.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { filteredRoute, startHarness, staticBackend, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { repoRoot, sampleTokenPath } from '../helpers/paths.js';
import { configDumpText } from '../../src/config/dump.js';

const TOKEN = readFileSync(sampleTokenPath, 'utf8').trim();
// The embedded default config's JWT policy: the seed's GatewayExtension with claimsToHeaders, on Gateway http.
const claims = readFileSync(path.join(repoRoot, 'config', 'default', '10-jwt.yaml'), 'utf8');

let h: Harness;
let shadow: http.Server;
const copies: { url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
const mirrored = (result: string) => Number(h.gateway.renderMetrics().match(new RegExp(`jwtgate_upstream_mirrors_total\\{result="${result}"\\} (\\d+)`))?.[1] ?? NaN);

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting until ${what}`);
}

before(async () => {
  shadow = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      copies.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(500).end('the mirror answer is never seen');
    });
  });
  await new Promise<void>((r) => shadow.listen(0, '127.0.0.1', r));
  const port = (shadow.address() as AddressInfo).port;
  h = await startHarness({
    manifests: [
      claims +
        staticBackend('shadow', [port]) +
        filteredRoute('mirrored', '/anything/mirrored', '[{ type: RequestMirror, requestMirror: { backendRef: { group: gateway.kgateway.dev, kind: Backend, name: shadow } } }]') +
        filteredRoute('lost-mirror', '/anything/lost', '[{ type: RequestMirror, requestMirror: { backendRef: { group: gateway.kgateway.dev, kind: Backend, name: nowhere } } }]'),
    ],
  });
});

after(async () => {
  await h?.close();
  await new Promise<void>((r) => shadow.close(() => r()));
});

test("a checked request is copied to the mirror with Envoy's shadow Host and the claim headers; the client gets the primary's answer", async () => {
  const sent = mirrored('sent');
  const body = JSON.stringify({ order: 7 });
  const r = await request({ port: h.port, method: 'POST', path: '/anything/mirrored?x=1', headers: { host: 'www.example.com:8080', authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body });
  assert.equal(r.status, 200);
  assert.match(r.body, /"url": *"http:\/\/www\.example\.com:8080\/anything\/mirrored\?x=1"/);
  await until(() => mirrored('sent') - sent === 1, 'the copy was answered');
  const c = copies.at(-1)!;
  assert.equal(c.url, '/anything/mirrored?x=1');
  assert.equal(c.headers.host, 'www.example.com-shadow:8080');
  assert.equal(c.headers['x-org'], 'solo.io');
  assert.equal(c.headers['x-team'], 'dev');
  assert.equal(c.body, body);
});

test('a request the JWT check refuses is not mirrored', async () => {
  const before0 = copies.length;
  const r = await request({ port: h.port, path: '/anything/mirrored', headers: { host: 'www.example.com:8080' } });
  assert.equal(r.status, 401);
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(copies.length, before0);
});

test("a mirror whose backend does not resolve is dropped with a warning, and its rule serves", async () => {
  const r = await request({ port: h.port, path: '/anything/lost', headers: { host: 'www.example.com:8080', authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200);
  const warning = h.gateway.snapshot.problems.find((p) => p.resource === 'HTTPRoute/httpbin/lost-mirror' && p.severity === 'warning');
  assert.ok(warning, 'a warning for the dropped mirror');
  assert.match(warning.path, /^spec\.rules\[0\]\.filters\[0\]/);
});

test("config_dump shows a route's mirrors", () => {
  const dump = JSON.parse(configDumpText(h.gateway.snapshot)) as { listeners: { routeDefs: Record<string, { route: string; mirrors?: unknown }> }[] };
  const defs = dump.listeners.flatMap((l) => Object.values(l.routeDefs));
  assert.deepEqual(defs.find((d) => d.route === 'httpbin/mirrored')?.mirrors, [{ backend: 'Backend/httpbin/shadow', fraction: '100/100' }]);
  assert.equal(defs.find((d) => d.route === 'httpbin/lost-mirror')?.mirrors, undefined);
});

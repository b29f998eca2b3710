// Gateway API's URLRewrite HTTPRoute filter end to end, as kgateway configures Envoy's route
// action: the upstream gets the new path (query kept) with x-envoy-original-path, and the new Host
// (no x-forwarded-host); routing, JWT and the access log see the path as received.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { filteredRoute, lastReceived, startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { rewrittenPath } from '../../src/proxy/redirect.js';

let h: Harness;

const rewriteRoute = (name: string, prefix: string, rewrite: string) => filteredRoute(name, prefix, `[{ type: URLRewrite, urlRewrite: ${rewrite} }]`);

before(async () => {
  h = await startHarness({
    manifests: [
      rewriteRoute('prefix', '/api', '{ path: { type: ReplacePrefixMatch, replacePrefixMatch: /anything/v2 } }') +
        rewriteRoute('strip', '/strip', '{ path: { type: ReplacePrefixMatch, replacePrefixMatch: / } }') +
        rewriteRoute('full', '/full', '{ hostname: internal.example.com, path: { type: ReplaceFullPath, replaceFullPath: /anything/replaced } }') +
        rewriteRoute('empty', '/empty', '{ path: { type: ReplacePrefixMatch, replacePrefixMatch: "" } }') +
        rewriteRoute('host-only', '/anything/hosted', '{ hostname: backend.internal }') +
        // Envoy's router applies the route's header rules first, then the rewrite sets x-envoy-original-path.
        rewriteRoute('ruled', '/ruled', '{ path: { type: ReplacePrefixMatch, replacePrefixMatch: /anything/r } } }, { type: RequestHeaderModifier, requestHeaderModifier: { remove: [x-envoy-original-path], add: [{ name: x-extra, value: "1" }] }'),
    ],
  });
});
after(() => h.close());

const get = (path: string, headers: Record<string, string> = {}) => request({ port: h.port, path, headers: { host: 'www.example.com:8080', ...headers } });
const lastUrl = () => h.echo.received.at(-1)!.url;
const received = (name: string) => lastReceived(h.echo, name);

test('ReplacePrefixMatch: the matched prefix replaced, the query kept, x-envoy-original-path the path and query received (a client\'s own replaced); Host kept', async () => {
  const res = await get('/api/users?x=1', { 'x-envoy-original-path': '/forged' });
  assert.equal(res.status, 200);
  assert.equal(lastUrl(), '/anything/v2/users?x=1');
  assert.deepEqual(received('x-envoy-original-path'), ['/api/users?x=1']);
  assert.deepEqual(received('host'), ['www.example.com:8080']);
});

test('ReplacePrefixMatch "/": the prefix and the slashes after it become one "/" (kgateway\'s regex_rewrite)', async () => {
  // The echo upstream has no /a/b (its 404 passes through): what it received is the point.
  const n = h.echo.received.length;
  await get('/strip//a/b');
  assert.equal(h.echo.received.length, n + 1);
  assert.equal(lastUrl(), '/a/b');
  await get('/strip');
  assert.equal(lastUrl(), '/');
});

test('ReplaceFullPath and hostname: the path replaced, the query kept, the new Host sent, no x-forwarded-host', async () => {
  assert.equal((await get('/full/whatever?q=2')).status, 200);
  assert.equal(lastUrl(), '/anything/replaced?q=2');
  assert.deepEqual(received('host'), ['internal.example.com']);
  assert.deepEqual(received('x-forwarded-host'), []);
  assert.deepEqual(received('x-envoy-original-path'), ['/full/whatever?q=2']);
});

test('an empty replacement rewrites nothing (kgateway emits none); a hostname alone keeps the path and adds no x-envoy-original-path', async () => {
  await get('/empty/x');
  assert.equal(lastUrl(), '/empty/x');
  assert.deepEqual(received('x-envoy-original-path'), []);
  await get('/anything/hosted/y');
  assert.equal(lastUrl(), '/anything/hosted/y');
  assert.deepEqual(received('host'), ['backend.internal']);
  assert.deepEqual(received('x-envoy-original-path'), []);
});

test('rewrittenPath as Envoy rewrites: prefix_rewrite cuts the matched length (a value ending in / doubles the slash, as there), "/" strips with the slashes after the prefix', () => {
  assert.equal(rewrittenPath({ prefix: { matched: '/foo', rewrite: '/xyz/' } }, '/foo/bar'), '/xyz//bar');
  assert.equal(rewrittenPath({ prefix: { matched: '/foo/', rewrite: '/xyz' } }, '/foo/bar'), '/xyzbar');
  assert.equal(rewrittenPath({ prefix: { matched: '/foo', rewrite: '/' } }, '/foo///bar'), '/bar');
  assert.equal(rewrittenPath({ prefix: { matched: '/', rewrite: '/' } }, '//a'), '/a');
  assert.equal(rewrittenPath({ fullPath: '' }, '/a'), undefined);
  assert.equal(rewrittenPath({ host: 'h' }, '/a'), undefined);
});

test('the route\'s header rules run before the rewrite sets x-envoy-original-path (Envoy\'s order): a rule removing it does not', async () => {
  await get('/ruled/x?z=1');
  assert.equal(lastUrl(), '/anything/r/x?z=1');
  assert.deepEqual(received('x-envoy-original-path'), ['/ruled/x?z=1']);
  assert.deepEqual(received('x-extra'), ['1']);
});

// TrafficPolicy urlRewrite whose substitution leaves an empty path: Envoy's router does no rewrite
// then (rewritePathByPrefixOrRegex returns nothing for an empty result): the request goes with its
// path (and query) as received and without x-envoy-original-path. It answered 500 (undici refuses
// an empty path) and replaced the endpoint's connection pool.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { hostRoute, lastReceived, routePolicy, startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';

let h: Harness;

before(async () => {
  h = await startHarness({
    manifests: [hostRoute('strip', 'strip.example') + routePolicy('strip', 'strip', '  urlRewrite: { pathRegex: { pattern: "^/anything(/.*)?$", substitution: "\\\\1" } }')],
  });
});
after(() => h?.close());

const get = (p: string) => request({ port: h.port, path: p, headers: { host: 'strip.example' } });

test('the rewrite strips the prefix where something follows it', async () => {
  const r = await get('/anything/get');
  assert.equal(r.status, 200);
  assert.equal(h.echo.received.at(-1)!.url, '/get');
  assert.deepEqual(lastReceived(h.echo, 'x-envoy-original-path'), ['/anything/get']);
});

test('an empty result is no rewrite: the path as received, no x-envoy-original-path, with or without a query', async () => {
  for (const p of ['/anything', '/anything?q=1']) {
    const r = await get(p);
    assert.equal(r.status, 200, `${p}: ${r.body}`);
    assert.equal(h.echo.received.at(-1)!.url, p);
    assert.deepEqual(lastReceived(h.echo, 'x-envoy-original-path'), []);
  }
});

// TrafficPolicy urlRewrite whose substitution makes a path without a leading `/` (`^/api/` to
// `v2/`): Envoy sends it as it is (an origin server answers such a request target 400); undici
// refuses it inside dispatch, which answered 500, logged a bug and replaced the endpoint's
// connection pool on every such request. Now refused before dispatch: 400, the pool kept.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { hostRoute, routePolicy, startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';

let h: Harness;

before(async () => {
  h = await startHarness({
    manifests: [hostRoute('rel', 'rel.example') + routePolicy('rel', 'rel', '  urlRewrite: { pathRegex: { pattern: "^/api/", substitution: "v2/" } }')],
  });
});
after(() => h?.close());

test('a rewritten path without a leading slash is refused before dispatch: 400, and the upstream connection is kept', async () => {
  const plain = () => request({ port: h.port, path: '/anything', headers: { host: 'www.example.com' } });
  await plain();
  const c0 = h.echo.connections;
  await plain();
  assert.equal(h.echo.connections, c0);
  const n = h.echo.received.length;
  const r = await request({ port: h.port, path: '/api/x', headers: { host: 'rel.example' } });
  assert.equal(r.status, 400);
  assert.equal(h.echo.received.length, n);
  assert.equal(Number(h.gateway.renderMetrics().match(/jwtgate_requests_total\{result="INTERNAL"\} (\d+)/)?.[1] ?? 0), 0);
  await plain();
  assert.equal(h.echo.connections, c0, 'the pool was not replaced');
  // A path the regex leaves alone goes as usual.
  assert.equal((await request({ port: h.port, path: '/anything/x', headers: { host: 'rel.example' } })).status, 200);
});

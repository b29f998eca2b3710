// CORS origin matching as kgateway converts `allowOrigins` (exact; a trailing `*` a prefix; any
// other `*` a regex `.*`) and Envoy matches it (an entry that matches the string `*` allows every
// origin), and how a route's policy is put together from the levels.
import test from 'node:test';
import assert from 'node:assert/strict';
import { originAllowed, originMatcher } from '../../src/proxy/cors.js';
import { compileText } from '../../src/config/build.js';
import { selectRoute } from '../../src/routing/match.js';
import type { GatewayRequest } from '../../src/http/exchange.js';

const allows = (origins: string[], origin: string): boolean => originAllowed({ origins: origins.map(originMatcher) }, origin);

test('exact, prefix and glob origins', () => {
  assert.equal(allows(['https://a.example'], 'https://a.example'), true);
  assert.equal(allows(['https://a.example'], 'https://a.example:443'), false);
  assert.equal(allows(['https://a.example'], 'HTTPS://A.EXAMPLE'), false, 'case-sensitive, as Envoy\'s exact matcher');
  // A trailing * is a prefix: anything after it, including nothing.
  assert.equal(allows(['https://*'], 'https://anything.example:8443'), true);
  assert.equal(allows(['https://*'], 'https://'), true);
  assert.equal(allows(['https://*'], 'http://a.example'), false);
  // Any other *: a run of characters (dots too), anchored at both ends.
  assert.equal(allows(['https://*.example.com'], 'https://a.b.example.com'), true);
  assert.equal(allows(['https://*.example.com'], 'https://.example.com'), true);
  assert.equal(allows(['https://*.example.com'], 'https://example.com'), false);
  assert.equal(allows(['https://*.example.com'], 'https://a.example.com.evil.net'), false);
  assert.equal(allows(['http://*.a.com:*'], 'http://x.a.com:8080'), true);
  // Parts may not overlap: `a*a` needs two a's.
  assert.equal(allows(['https://a*a.example'], 'https://a.example'), false);
  assert.equal(allows(['https://a*a.example'], 'https://aa.example'), true);
  assert.equal(allows(['https://x*y*z.example'], 'https://xzy.example'), false);
  assert.equal(allows(['https://x*y*z.example'], 'https://x1y2z.example'), true);
  // A middle part may not run into the last one.
  assert.equal(allows(['https://a*b*bc'], 'https://abc'), false);
  assert.equal(allows(['https://a*b*bc'], 'https://abbc'), true);
});

test('an entry that matches the string "*" allows every origin ("*" alone, kgateway\'s empty prefix)', () => {
  assert.equal(allows(['*'], 'https://whatever.example'), true);
  assert.equal(allows(['https://a.example'], '*'), false);
  assert.equal(allows([], 'https://a.example'), false);
});

const GW = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: default }
spec:
  gatewayClassName: kgateway
  listeners: [{ name: http, protocol: HTTP, port: 8080 }]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: gw-cors, namespace: default }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: gw }]
  cors: { allowOrigins: ["https://gw.example"], allowCredentials: true, exposeHeaders: [x-gw] }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: route-cors, namespace: default }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: app }]
  cors: { allowOrigins: ["https://route.example"], allowMethods: [PUT], allowHeaders: [x-route] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: default }
spec:
  parentRefs: [{ name: gw }]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /filtered } }]
    filters: [{ type: CORS, cors: { allowOrigins: ["https://filter.example"], allowCredentials: false } }]
    backendRefs: [{ name: app, port: 80 }]
  - matches: [{ path: { type: PathPrefix, value: /plain } }]
    backendRefs: [{ name: app, port: 80 }]
`;

test("a route's policy, field by field: the rule's CORS filter replaces the route's TrafficPolicy whole (its unset fields fall back on the Gateway's, not the route policy's); allowCredentials: false is unset", () => {
  const s = compileText(GW, { generation: 1 }, 'cors.yaml');
  assert.deepEqual(s.problems.filter((p) => p.severity === 'error'), []);
  const cors = (path: string) => {
    const r: GatewayRequest = { method: 'GET', path, query: '', host: 'h', authority: 'h', headers: [], remoteAddress: '', scheme: 'http' };
    return selectRoute(s.ports.get(8080)!, r)!.route.cors;
  };
  const f = cors('/filtered')!;
  assert.deepEqual(f.origins, [{ exact: 'https://filter.example' }]);
  assert.equal(f.allowMethods, undefined, "not the route policy's PUT");
  assert.equal(f.allowHeaders, undefined);
  assert.equal(f.allowCredentials, true, "the Gateway's");
  assert.equal(f.exposeHeaders, 'x-gw');
  assert.deepEqual(f.from, ['HTTPRoute CORS filter', 'TrafficPolicy/default/gw-cors@Gateway']);
  const p = cors('/plain')!;
  assert.deepEqual(p.origins, [{ exact: 'https://route.example' }]);
  assert.equal(p.allowMethods, 'PUT');
  assert.equal(p.allowHeaders, 'x-route');
  assert.equal(p.allowCredentials, true);
  assert.equal(p.maxAge, '5');
  assert.deepEqual(p.from, ['TrafficPolicy/default/route-cors@HTTPRoute', 'TrafficPolicy/default/gw-cors@Gateway']);
});

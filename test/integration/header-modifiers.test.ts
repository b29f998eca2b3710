// Header rules end to end, through a real gateway to the real echo upstream: Gateway API's
// RequestHeaderModifier / ResponseHeaderModifier HTTPRoute filters (kgateway: the Envoy route's
// request_headers_to_add/_remove, applied by the router after every filter) and kgateway's
// TrafficPolicy `headerModifiers` (Envoy's header_mutation filter in the route stage, after the
// JWT and RBAC filters; every level's rules apply, the most specific first). Response rules
// apply to the upstream's answer and to the gateway's own local replies on the route (Envoy
// applies a route's response rules to local replies since 1.16).
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { filteredRoute, jwtExtension, lastReceived, sampleRoute, startHarness, staticBackend, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { mint, rsaKeys } from '../helpers/tokens.js';
import { configDumpText } from '../../src/config/dump.js';

const keys = rsaKeys('hdr');
let h: Harness;

const ext = jwtExtension('jwt', 'httpbin', keys.jwks, { providerLines: '      claimsToHeaders: [{ name: team, header: x-team }, { name: org, header: x-org }]\n' });

const policy = (name: string, target: { kind: 'HTTPRoute' | 'Gateway'; name: string; ns?: string }, body: string) => `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name}, namespace: ${target.ns ?? 'httpbin'} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: ${target.kind}, name: ${target.name} }]
${body}
`;
const jwtAuth = '  jwtAuth:\n    extensionRef: { name: jwt }\n';

before(async () => {
  h = await startHarness({
    manifests: [
      ext +
        filteredRoute(
          'req',
          '/anything/req',
          `[{ type: RequestHeaderModifier, requestHeaderModifier: {
              set: [{ name: X-Team, value: overridden }, { name: x-request-id, value: fixed-id }, { name: x-pct, value: '100%% sure' }],
              add: [{ name: x-multi, value: from-route }, { name: user-agent, value: gw/1 }, { name: x-new, value: 'Jos\u00e9' }],
              remove: [x-remove-me, x-forwarded-proto, X-Org] } }]`,
        ) +
        policy('req', { kind: 'HTTPRoute', name: 'req' }, jwtAuth) +
        filteredRoute(
          'resp',
          '/response-headers',
          `[{ type: ResponseHeaderModifier, responseHeaderModifier: {
              set: [{ name: x-up, value: set-by-route }],
              add: [{ name: x-added, value: one }, { name: content-type, value: extra }],
              remove: [x-gone] } }]`,
        ) +
        policy('resp', { kind: 'HTTPRoute', name: 'resp' }, jwtAuth) +
        // TrafficPolicy headerModifiers at the route and at the Gateway, and a rule filter on the same names.
        filteredRoute('order', '/anything/order', `[{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-order, value: rule-filter }] } }]`) +
        policy(
          'order',
          { kind: 'HTTPRoute', name: 'order' },
          jwtAuth +
            `  headerModifiers:
    request:
      add: [{ name: x-tp, value: route-policy }, { name: x-order, value: route-policy }, { name: x-both, value: kept }]
      set: [{ name: x-both, value: set-then-removed }]
      remove: [x-both, x-team]
    response:
      set: [{ name: x-resp-tp, value: route-policy }]`,
        ) +
        policy(
          'gateway-wide',
          { kind: 'Gateway', name: 'http', ns: 'kgateway-system' },
          `  headerModifiers:
    request:
      add: [{ name: x-tp, value: gateway-policy }]
    response:
      add: [{ name: x-resp-gw, value: gateway-policy }]`,
        ) +
        // Refused values and names: the rule answers 500, as kgateway's replaced rule.
        filteredRoute('cmd', '/anything/cmd', `[{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-client, value: '%DOWNSTREAM_REMOTE_ADDRESS%' }] } }]`) +
        filteredRoute('host', '/anything/host', `[{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: Host, value: other.example.com }] } }]`) +
        filteredRoute(
          'twice',
          '/anything/twice',
          `[{ type: RequestHeaderModifier, requestHeaderModifier: { add: [{ name: a, value: b }] } }, { type: RequestHeaderModifier, requestHeaderModifier: { add: [{ name: c, value: d }] } }]`,
        ) +
        '---\n' +
        sampleRoute('plain', '/anything/plain') +
        // Two route-side levels: the rule's ExtensionRef policy replaces the HTTPRoute's (one merged route config).
        filteredRoute('layers', '/anything/layers', `[{ type: ExtensionRef, extensionRef: { group: gateway.kgateway.dev, kind: TrafficPolicy, name: layers-filter } }]`) +
        policy('layers-route', { kind: 'HTTPRoute', name: 'layers' }, `  headerModifiers:\n    request:\n      add: [{ name: x-layer, value: route }]`) +
        `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: layers-filter, namespace: httpbin }
spec:
  headerModifiers:
    request:
      add: [{ name: x-layer, value: filter }]
` +
        // Local replies on a route with response rules: rbac's 403, and the 503 of a backend that refuses connections.
        filteredRoute('denied', '/anything/denied', `[{ type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-local, value: denied } ] } }]`) +
        policy('denied', { kind: 'HTTPRoute', name: 'denied' }, `  rbac:\n    action: Deny\n    policy:\n      matchExpressions: ["request.method == 'GET'"]`) +
        filteredRoute('dead', '/anything/dead', `[{ type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-local, value: dead } ] } }]`).replace('name: httpbin }]', 'name: dead }]') +
        staticBackend('dead', [1]),
    ],
  });
});
after(() => h.close());

const token = (claims: Record<string, unknown> = { team: 'dev', org: 'solo.io' }) =>
  mint({ alg: 'RS256', key: keys.privateKey, kid: 'hdr', payload: { iss: 'https://idp.example.com', exp: Math.floor(Date.now() / 1000) + 600, ...claims } });
const get = (path: string, headers: Record<string, string | string[]> = {}) => request({ port: h.port, path, headers: { host: 'www.example.com', ...headers } });

/** The header lines the upstream received for `name` (lowercase), in order. */
const received = (name: string): string[] => lastReceived(h.echo, name);

test('RequestHeaderModifier: applied after the JWT filter and the connection manager, removals first, set replaces every field, add appends a line (joined with "," for an Envoy inline header such as user-agent); %% is a literal %', async () => {
  const n = h.echo.received.length;
  const res = await get('/anything/req/x', {
    authorization: `Bearer ${token()}`,
    'x-remove-me': 'secret',
    'x-multi': 'from-client',
    'user-agent': 'curl/8',
    'x-request-id': 'client-id',
  });
  assert.equal(res.status, 200);
  assert.equal(h.echo.received.length, n + 1);
  // set over the claim header jwt_authn wrote; remove of another claim header and of what the connection manager set.
  assert.deepEqual(received('x-team'), ['overridden']);
  assert.deepEqual(received('x-org'), []);
  assert.deepEqual(received('x-forwarded-proto'), []);
  assert.deepEqual(received('x-remove-me'), []);
  assert.deepEqual(received('x-request-id'), ['fixed-id']);
  assert.deepEqual(received('x-pct'), ['100% sure']);
  assert.deepEqual(received('x-multi'), ['from-client', 'from-route']);
  assert.deepEqual(received('user-agent'), ['curl/8,gw/1']);
  // A non-ASCII value goes out as its UTF-8 bytes (the echo reads them as latin1).
  assert.deepEqual(received('x-new'), [Buffer.from('José', 'utf8').toString('latin1')]);
  // The token is still removed, and x-forwarded-for still set.
  assert.deepEqual(received('authorization'), []);
  assert.equal(received('x-forwarded-for').length, 1);
});

test('ResponseHeaderModifier: on the upstream\'s answer (set over its field, add, remove) and on the 401 the JWT filter answers on that route', async () => {
  const ok = await get('/response-headers?x-up=upstream&x-gone=bye&x-keep=yes', { authorization: `Bearer ${token()}` });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['x-up'], 'set-by-route');
  assert.equal(ok.headers['x-added'], 'one');
  assert.equal(ok.headers['x-gone'], undefined);
  assert.equal(ok.headers['x-keep'], 'yes');
  // content-type is one of Envoy's inline headers: the added value is joined to the first.
  assert.equal(ok.headers['content-type'], 'application/json; charset=utf-8,extra');
  const denied = await get('/response-headers?x-up=upstream');
  assert.equal(denied.status, 401);
  assert.equal(denied.body, 'Jwt is missing');
  assert.equal(denied.headers['x-added'], 'one');
  assert.equal(denied.headers['x-up'], 'set-by-route');
  assert.equal(denied.headers['content-type'], 'text/plain,extra');
  assert.match(String(denied.headers['www-authenticate']), /^Bearer realm=/);
});

test('TrafficPolicy headerModifiers: the route\'s policy then the Gateway\'s (both apply, most specific first), add then set then remove, before the rule\'s own RequestHeaderModifier; it can remove a claim header', async () => {
  const res = await get('/anything/order/x', { authorization: `Bearer ${token()}`, 'x-both': 'client' });
  assert.equal(res.status, 200);
  assert.deepEqual(received('x-tp'), ['route-policy', 'gateway-policy']);
  // The rule's filter (the router's rules) comes last: its set replaces the policy's add.
  assert.deepEqual(received('x-order'), ['rule-filter']);
  // kgateway lists removals last: a name set and removed is gone, the client's value too.
  assert.deepEqual(received('x-both'), []);
  assert.deepEqual(received('x-team'), []);
  assert.deepEqual(received('x-org'), ['solo.io']);
  assert.equal(res.headers['x-resp-tp'], 'route-policy');
  assert.equal(res.headers['x-resp-gw'], 'gateway-policy');
  // A route without its own rules still gets the Gateway's, on the upstream's answer and on a 404-free 200.
  const plain = await get('/anything/plain/x');
  assert.equal(plain.status, 200);
  assert.deepEqual(received('x-tp'), ['gateway-policy']);
  assert.equal(plain.headers['x-resp-gw'], 'gateway-policy');
  assert.equal(plain.headers['x-resp-tp'], undefined);
});

test('refused rules fail closed: an Envoy command operator, the host header and a repeated filter make their rule answer 500 (with the Gateway-level response rules) and are reported with their path', async () => {
  const n = h.echo.received.length;
  for (const p of ['/anything/cmd/x', '/anything/host/x', '/anything/twice/x']) {
    const res = await get(p);
    assert.equal(res.status, 500, p);
    assert.equal(res.body, 'invalid route configuration detected and replaced with a direct response.');
    // kgateway clears the replaced rule's own rules; the Gateway's header_mutation config still applies.
    assert.equal(res.headers['x-resp-gw'], 'gateway-policy', p);
  }
  // No route: no route's rules at all.
  const none = await request({ port: h.port, path: '/anything', headers: { host: 'no-route.example.com' } });
  assert.equal(none.status, 404);
  assert.equal(none.headers['x-resp-gw'], undefined);
  assert.equal(h.echo.received.length, n);
  const problems = h.gateway.snapshot.problems.filter((p) => p.severity === 'error').map((p) => `${p.resource} ${p.path}: ${p.message}`);
  assert.ok(problems.some((p) => p.startsWith('HTTPRoute/httpbin/cmd spec.rules[0].filters[0].requestHeaderModifier.set[0].value: Invalid value: %DOWNSTREAM_REMOTE_ADDRESS% is not evaluated by jwtgate: the client\'s port is not known here')), problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith('HTTPRoute/httpbin/host spec.rules[0].filters[0].requestHeaderModifier.set[0].name: Forbidden: RequestHeaderModifier may not change the host header')), problems.join('\n'));
  assert.ok(problems.some((p) => p === 'HTTPRoute/httpbin/twice spec.rules[0].filters: Invalid value: RequestHeaderModifier filter cannot be repeated'), problems.join('\n'));
});

test('/config_dump lists each route\'s header rules by operation and name, in the order they apply, without their values', () => {
  const text = configDumpText(h.gateway.snapshot);
  // Every route object in the dump, wherever it sits.
  const routes: { id: string; headerRules?: unknown }[] = [];
  JSON.parse(text, (_k, v: unknown) => {
    if (v !== null && typeof v === 'object' && typeof (v as { id?: unknown }).id === 'string' && 'match' in v) routes.push(v as unknown as { id: string });
    return v;
  });
  const order = routes.find((r) => r.id.startsWith('httpbin/order/'));
  assert.ok(order, routes.map((r) => r.id).join(' '));
  assert.deepEqual(order.headerRules, {
    request: ['add x-tp', 'add x-order', 'add x-both', 'set x-both', 'remove x-both', 'remove x-team', 'add x-tp', 'set x-order'],
    response: ['set x-resp-tp', 'add x-resp-gw'],
    from: ['TrafficPolicy/httpbin/order@HTTPRoute', 'TrafficPolicy/kgateway-system/gateway-wide@Gateway', 'RequestHeaderModifier'],
  });
  assert.ok(!text.includes('fixed-id') && !text.includes('route-policy'));
});

test('the gateway\'s own answers on a route carry its response rules: rbac\'s 403 and the 503 of an upstream that refuses the connection', async () => {
  const denied = await get('/anything/denied/x');
  assert.equal(denied.status, 403);
  assert.equal(denied.body, 'RBAC: access denied');
  assert.equal(denied.headers['x-local'], 'denied');
  const dead = await get('/anything/dead/x');
  assert.equal(dead.status, 503);
  assert.equal(dead.headers['x-local'], 'dead');
  assert.equal(dead.headers['x-resp-gw'], 'gateway-policy');
});

test('route-side TrafficPolicies merge into one route config: a rule ExtensionRef policy\'s headerModifiers replace the HTTPRoute-level policy\'s; the Gateway\'s still apply', async () => {
  const res = await get('/anything/layers/x');
  assert.equal(res.status, 200);
  assert.deepEqual(received('x-layer'), ['filter']);
  assert.deepEqual(received('x-tp'), ['gateway-policy']);
});

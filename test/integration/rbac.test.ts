// TrafficPolicy `rbac` end to end (spec §2.3-2.4, §5), through a real gateway to the real echo
// upstream: Envoy's RBAC filter runs after the JWT filters and sees the claims jwt_authn leaves in
// its metadata, the claim headers it set and not the token it removed; a denial is kgateway's
// 403 `RBAC: access denied` and never reaches the upstream; the most specific level's rbac
// replaces the others; an expression Envoy would refuse makes its routes answer 500.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { SAMPLE_GATEWAY, sampleRoute, startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { mint, rsaKeys } from '../helpers/tokens.js';
import { configDumpText } from '../../src/config/dump.js';

const keys = rsaKeys('rbac');
const PAYLOAD = "metadata.filter_metadata['envoy.filters.http.jwt_authn']['payload']";
let h: Harness;

/** A GatewayExtension in httpbin with one provider; `lines`: its further fields, indented. */
const ext = (name: string, mode: 'Strict' | 'AllowMissing', o: { issuer?: string; jwks?: string; lines?: string } = {}) => `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: { name: ${name}, namespace: httpbin }
spec:
  jwt:
    validationMode: ${mode}
    providers:
    - name: idp
      issuer: ${o.issuer ?? 'https://idp.example.com'}
${o.lines ?? '      claimsToHeaders: [{ name: team, header: x-team }]\n'}      jwks: { local: { inline: '${o.jwks ?? keys.jwks}' } }
`;

const policy = (name: string, target: { kind: 'HTTPRoute' | 'Gateway'; name: string; ns?: string }, body: string) => `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name}, namespace: ${target.ns ?? 'httpbin'} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: ${target.kind}, name: ${target.name} }]
${body}
`;

const rbac = (action: 'Allow' | 'Deny', exprs: string[]) => `  rbac:
    action: ${action}
    policy:
      matchExpressions:
${exprs.map((e) => `      - ${JSON.stringify(e)}`).join('\n')}`;

const jwtAuth = (ext: string) => `  jwtAuth:\n    extensionRef: { name: ${ext} }\n`;

before(async () => {
  h = await startHarness({
    manifests: [
      ext('strict', 'Strict') +
        ext('optional', 'AllowMissing') +
        '---\n' + sampleRoute('claims', '/anything/claims') +
        policy('claims', { kind: 'HTTPRoute', name: 'claims' }, jwtAuth('strict') + rbac('Allow', [`${PAYLOAD}['team'] == 'dev' && request.headers['x-team'] == 'dev' && !('authorization' in request.headers)`])) +
        '---\n' + sampleRoute('optional', '/anything/optional') +
        policy('optional', { kind: 'HTTPRoute', name: 'optional' }, jwtAuth('optional') + rbac('Allow', [`${PAYLOAD}['team'] == 'dev'`])) +
        '---\n' + sampleRoute('deny', '/anything/deny') +
        policy('deny', { kind: 'HTTPRoute', name: 'deny' }, rbac('Deny', ["request.headers['x-role'] == 'guest'", "request.method == 'DELETE'"])) +
        '---\n' + sampleRoute('edge', '/anything/edge') +
        policy('edge', { kind: 'HTTPRoute', name: 'edge' }, rbac('Allow', ["has(request.id) && request.headers['x-forwarded-proto'] == 'http' && request.headers['x-forwarded-for'].size() > 0 && request.path == '/anything/edge/x?a=1'"])) +
        '---\n' + sampleRoute('query', '/anything/query') +
        policy('query', { kind: 'HTTPRoute', name: 'query' }, jwtAuth('strict') + rbac('Allow', ["request.query == 'q=a b&z=1' && request.path == '/anything/query/x?q=a b&z=1' && request.headers[':path'] == request.path"])) +
        '---\n' + sampleRoute('off', '/anything/off') +
        policy('off', { kind: 'HTTPRoute', name: 'off' }, '  jwtAuth:\n    disable: {}\n' + rbac('Allow', ["metadata.filter_metadata['dev.kgateway.disable_jwt']['disable'] == true"])) +
        '---\n' + sampleRoute('bad', '/anything/bad') +
        policy('bad', { kind: 'HTTPRoute', name: 'bad' }, rbac('Allow', ["'admin' in request.headers['x-roles'].split(',')"])) +
        // The Gateway-wide rbac: the sample route (/headers, /anything) has no rbac of its own.
        policy('gateway-wide', { kind: 'Gateway', name: 'http', ns: 'kgateway-system' }, rbac('Allow', ["request.headers['x-gw'] == 'yes'"])),
    ],
  });
});
after(() => h.close());

const token = (claims: Record<string, unknown>) => mint({ alg: 'RS256', key: keys.privateKey, kid: 'rbac', payload: { iss: 'https://idp.example.com', exp: Math.floor(Date.now() / 1000) + 600, ...claims } });
const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => request({ port: h.port, path, method, headers: { host: 'www.example.com', ...headers } });
const metric = (result: string) => Number(h.gateway.renderMetrics().match(new RegExp(`jwtgate_requests_total\\{result="${result}"\\} (\\d+)`))?.[1] ?? NaN);

function assertDenied(res: Awaited<ReturnType<typeof get>>): void {
  assert.equal(res.status, 403);
  assert.equal(res.body, 'RBAC: access denied');
  assert.equal(res.headers['content-type'], 'text/plain');
  assert.equal(res.headers['www-authenticate'], undefined);
}

test('claim-based Allow: a token whose claim matches reaches the upstream with its claim header and without the token; another claim gets 403 RBAC: access denied and the upstream never sees it', async () => {
  const n = h.echo.received.length;
  const denied0 = metric('RBAC_DENIED');
  const ok = await get('/anything/claims/x', { authorization: `Bearer ${token({ team: 'dev' })}` });
  assert.equal(ok.status, 200);
  const seen = h.echo.received.at(-1)!;
  const names = seen.headers.filter((_, i) => i % 2 === 0).map((x) => x.toLowerCase());
  assert.equal(seen.headers[names.indexOf('x-team') * 2 + 1], 'dev');
  assert.ok(!names.includes('authorization'));
  assertDenied(await get('/anything/claims/x', { authorization: `Bearer ${token({ team: 'ops' })}` }));
  // A client's own x-team is removed before the JWT filter sets the claim's value: no spoofing.
  assertDenied(await get('/anything/claims/x', { authorization: `Bearer ${token({ team: 'ops' })}`, 'x-team': 'dev' }));
  assert.equal(h.echo.received.length, n + 1);
  assert.equal(metric('RBAC_DENIED') - denied0, 2);
});

test('JWT runs first: no token on a Strict route is 401 Jwt is missing, not the RBAC 403', async () => {
  const res = await get('/anything/claims/x');
  assert.equal(res.status, 401);
  assert.equal(res.body, 'Jwt is missing');
});

test('AllowMissing without a token: jwt_authn leaves no metadata, so a claim expression does not match and Allow denies', async () => {
  const n = h.echo.received.length;
  assertDenied(await get('/anything/optional/x'));
  assert.equal((await get('/anything/optional/x', { authorization: `Bearer ${token({ team: 'dev' })}` })).status, 200);
  assert.equal(h.echo.received.length, n + 1);
});

test('Deny refuses what one expression matches (an OR) and lets the rest through; no JWT on the route', async () => {
  const n = h.echo.received.length;
  assertDenied(await get('/anything/deny/x', { 'x-role': 'guest' }));
  assertDenied(await get('/anything/deny/x', {}, 'DELETE'));
  assert.equal((await get('/anything/deny/x', { 'x-role': 'member' })).status, 200);
  assert.equal((await get('/anything/deny/x')).status, 200);
  assert.equal(h.echo.received.length, n + 2);
});

test("the expressions see Envoy's request: x-request-id and x-forwarded-* set by the connection manager before the filters, the path with its query", async () => {
  assert.equal((await get('/anything/edge/x?a=1')).status, 200);
  assertDenied(await get('/anything/edge/x?a=2'));
});

test('the most specific level wins: the Gateway-wide rbac applies to a route without its own, a route-level rbac replaces it', async () => {
  assertDenied(await get('/headers'));
  assert.equal((await get('/headers', { 'x-gw': 'yes' })).status, 200);
  // /anything/deny's own Deny policy replaced the Gateway's Allow: no x-gw needed there.
  assert.equal((await get('/anything/deny/x')).status, 200);
});

test("an expression Envoy refuses to build (split is not in Envoy's CEL) makes the policy invalid: its route answers kgateway's 500, and the problem names the expression", async () => {
  const n = h.echo.received.length;
  const res = await get('/anything/bad/x', { 'x-roles': 'admin' });
  assert.equal(res.status, 500);
  assert.equal(res.body, 'invalid route configuration detected and replaced with a direct response.');
  assert.equal(h.echo.received.length, n);
  const p = h.gateway.snapshot.problems.find((x) => x.resource === 'TrafficPolicy/httpbin/bad');
  assert.equal(p?.severity, 'error');
  assert.equal(p?.path, 'spec.rbac.policy.matchExpressions[0]');
  assert.match(p?.message ?? '', /function 'split' is not available in Envoy's CEL/);
});

test("after a claim header moves the request to another route (clear_route_cache), that route's rbac sees the payload of the token verified before the new match, when its own extension verified none", async () => {
  const tenantKeys = rsaKeys('tenant');
  const otherKeys = rsaKeys('other');
  const route = (name: string, match: string) => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: httpbin }
spec:
  parentRefs: [{ name: http, namespace: kgateway-system }]
  rules:
  - matches: [${match}]
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]
`;
  const h2 = await startHarness({
    base: (echoPort) =>
      `${SAMPLE_GATEWAY}---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: httpbin, namespace: httpbin }
spec: { type: Static, static: { hosts: [{ host: 127.0.0.1, port: ${echoPort} }] } }
` +
      route('tenant-route', "{ path: { type: PathPrefix, value: / }, headers: [{ name: x-tenant, value: acme }] }") +
      route('other-route', '{ path: { type: PathPrefix, value: / } }') +
      ext('tenant-jwt', 'AllowMissing', { issuer: 'tenant-idp', jwks: tenantKeys.jwks, lines: '      claimsToHeaders: [{ name: tenant, header: x-tenant }]\n' }) +
      ext('other-jwt', 'AllowMissing', { issuer: 'other-idp', jwks: otherKeys.jwks, lines: '      tokenSource: { header: { header: x-other-token } }\n' }) +
      policy('tenant', { kind: 'HTTPRoute', name: 'tenant-route' }, jwtAuth('tenant-jwt')) +
      policy('other', { kind: 'HTTPRoute', name: 'other-route' }, jwtAuth('other-jwt') + rbac('Allow', [`${PAYLOAD}['tenant'] == 'other'`])),
  });
  try {
    const t = (tenant: string) => mint({ alg: 'RS256', key: tenantKeys.privateKey, kid: 'tenant', payload: { iss: 'tenant-idp', tenant, exp: Math.floor(Date.now() / 1000) + 600 } });
    const go = (tenant: string) => request({ port: h2.port, path: '/anything', headers: { 'x-tenant': 'acme', authorization: `Bearer ${t(tenant)}` } });
    // tenant-jwt accepts, sets x-tenant: other, the request matches other-route, whose
    // extension finds no token of its own (AllowMissing): rbac reads the tenant token's payload.
    const moved = await go('other');
    assert.equal(moved.status, 200);
    assert.deepEqual(JSON.parse(moved.body).headers['X-Tenant'], ['other']);
    // Without a token, other-route's rbac has no payload: denied.
    const bare = await request({ port: h2.port, path: '/anything' });
    assert.equal(bare.status, 403);
    assert.equal(bare.body, 'RBAC: access denied');
  } finally {
    await h2.close();
  }
});

test('/config_dump shows each route\'s effective rbac: its action, how many expressions and which policy at which level', () => {
  const dump = JSON.parse(configDumpText(h.gateway.snapshot)) as { listeners: unknown };
  const text = JSON.stringify(dump);
  assert.match(text, /"rbac":\{"action":"Deny","expressions":2,"policy":"TrafficPolicy\/httpbin\/deny@HTTPRoute"\}/);
  assert.match(text, /"rbac":\{"action":"Allow","expressions":1,"policy":"TrafficPolicy\/kgateway-system\/gateway-wide@Gateway"\}/);
});

test("jwtAuth.disable: the route's rbac sees kgateway's dev.kgateway.disable_jwt metadata", async () => {
  assert.equal((await get('/anything/off/x')).status, 200);
});

test("after the JWT check removes an access_token query parameter, the expressions see Envoy's :path: the rest sorted and decoded (the upstream gets it re-encoded where it must be)", async () => {
  const res = await get(`/anything/query/x?z=1&access_token=${token({ team: 'dev' })}&q=a%20b`);
  assert.equal(res.status, 200);
  assert.equal(h.echo.received.at(-1)!.url, '/anything/query/x?q=a%20b&z=1');
  assertDenied(await get(`/anything/query/x?z=1&access_token=${token({ team: 'dev' })}&q=a%20c`));
});

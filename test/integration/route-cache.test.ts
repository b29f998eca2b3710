// Envoy's clear_route_cache (spec §4.8 step 5; kgateway sets it on providers with claimsToHeaders):
// the request is matched to a route again only after such a provider accepted a token. A request
// an AllowMissing extension lets through without a token keeps the route it matched, so a client
// cannot use the sanitizing of a claim header to land on a route whose own JWT check never runs.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { SAMPLE_GATEWAY, startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { startEchoUpstream, type EchoUpstream } from '../../src/upstream/echo.js';
import { mint, rsaKeys } from '../helpers/tokens.js';

const tenantKeys = rsaKeys('tenant');
const adminKeys = rsaKeys('admin');
let secret: EchoUpstream;
let h: Harness;

// tenant-route: `x-tenant: acme` (also the tenant provider's claim header), optional JWT
// (AllowMissing), the public echo. secret-route: everything else, a Strict JWT (its token in
// x-admin-token), the secret echo. solo-route: solo.example.com with `x-tenant: acme` only, the
// tenant check, the public echo. Envoy's filter order puts strict-jwt before tenant-jwt.
/** A Static Backend in kgateway-system to 127.0.0.1:`port`. */
const backend = (name: string, port: number) => `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: ${name}, namespace: kgateway-system }
spec: { type: Static, static: { hosts: [{ host: 127.0.0.1, port: ${port} }] } }
`;

/** An HTTPRoute on the sample Gateway, one rule: `match` (YAML flow map) to Backend `to`. */
const httpRoute = (name: string, hostname: string | undefined, match: string, to: string) => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: kgateway-system }
spec:
  parentRefs: [{ name: http }]
${hostname !== undefined ? `  hostnames: [${hostname}]\n` : ''}  rules:
  - matches: [${match}]
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: ${to} }]
`;

/** A GatewayExtension in kgateway-system with one provider; `lines`: its further fields, indented. */
const extension = (name: string, provider: string, issuer: string, jwks: string, lines: string, mode = '') => `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: { name: ${name}, namespace: kgateway-system }
spec:
  jwt:
${mode}    providers:
    - name: ${provider}
      issuer: ${issuer}
${lines}      jwks: { local: { inline: '${jwks}' } }
`;

const TENANT_MATCH = '{ path: { type: PathPrefix, value: / }, headers: [{ name: x-tenant, value: acme }] }';

const manifests = (publicPort: number) =>
  SAMPLE_GATEWAY +
  backend('public', publicPort) +
  backend('secret', secret.port) +
  httpRoute('tenant-route', 'www.example.com', TENANT_MATCH, 'public') +
  httpRoute('secret-route', 'www.example.com', '{ path: { type: PathPrefix, value: / } }', 'secret') +
  httpRoute('solo-route', 'solo.example.com', TENANT_MATCH, 'public') +
  extension('tenant-jwt', 'tenant', 'tenant-idp', tenantKeys.jwks, '      claimsToHeaders: [{ name: tenant, header: x-tenant }]\n', '    validationMode: AllowMissing\n') +
  extension('strict-jwt', 'admin', 'admin-idp', adminKeys.jwks, '      tokenSource: { header: { header: x-admin-token } }\n') +
  `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: tenant-policy, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: tenant-route }, { group: gateway.networking.k8s.io, kind: HTTPRoute, name: solo-route }]
  jwtAuth: { extensionRef: { name: tenant-jwt } }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: secret-policy, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: secret-route }]
  jwtAuth: { extensionRef: { name: strict-jwt } }
`;

const tenantToken = (tenant: string) =>
  mint({ alg: 'RS256', key: tenantKeys.privateKey, kid: 'tenant', payload: { iss: 'tenant-idp', tenant, exp: Math.floor(Date.now() / 1000) + 600 } });

before(async () => {
  secret = await startEchoUpstream({ host: '127.0.0.1', port: 0 });
  h = await startHarness({ base: manifests });
});
after(async () => {
  await h.close();
  await secret.close();
});

test('no token, no x-tenant: secret-route, whose Strict JWT check answers 401', async () => {
  const res = await request({ port: h.port, path: '/anything' });
  assert.equal(res.status, 401);
  assert.equal(res.body, 'Jwt is missing');
  assert.equal(secret.received.length, 0);
});

test('no token, x-tenant: acme: tenant-route lets it through (AllowMissing) and it stays there, the header removed; the secret backend never sees it', async () => {
  const n = h.echo.received.length;
  const res = await request({ port: h.port, path: '/anything', headers: { 'x-tenant': 'acme' } });
  assert.equal(res.status, 200);
  assert.equal(h.echo.received.length, n + 1, 'the public backend got it');
  assert.equal(JSON.parse(res.body).headers['X-Tenant'], undefined, 'the client-sent claim header was removed');
  assert.equal(secret.received.length, 0);
});

test('a tenant token with tenant acme: accepted, x-tenant added from the claim, matched again and still on tenant-route', async () => {
  const n = h.echo.received.length;
  const res = await request({ port: h.port, path: '/anything', headers: { 'x-tenant': 'acme', authorization: `Bearer ${tenantToken('acme')}` } });
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(res.body).headers['X-Tenant'], ['acme']);
  assert.equal(h.echo.received.length, n + 1);
  assert.equal(secret.received.length, 0);
  // A client's x-tenant it names in Connection is gone before the first match, as Envoy's codec
  // removes it: secret-route, whose Strict check answers 401; neither backend sees it.
  const named = await request({ port: h.port, path: '/anything', headers: { 'x-tenant': 'acme', connection: 'x-tenant', authorization: `Bearer ${tenantToken('acme')}` } });
  assert.equal(named.status, 401);
  assert.equal(named.body, 'Jwt is missing');
  assert.equal(h.echo.received.length, n + 1);
  assert.equal(secret.received.length, 0);
});

const adminToken = () => mint({ alg: 'RS256', key: adminKeys.privateKey, kid: 'admin', payload: { iss: 'admin-idp', exp: Math.floor(Date.now() / 1000) + 600 } });

test('a tenant token whose claim moves the request to secret-route: secret-route\'s own JWT check runs there (401 without its token)', async () => {
  const n = h.echo.received.length;
  const res = await request({ port: h.port, path: '/anything', headers: { 'x-tenant': 'acme', authorization: `Bearer ${tenantToken('other')}` } });
  assert.equal(res.status, 401);
  assert.equal(res.body, 'Jwt is missing');
  assert.equal(secret.received.length, 0, 'the secret backend never saw it');
  assert.equal(h.echo.received.length, n);
});

test('the same request with secret-route\'s token too: both checks pass, the secret backend gets it with the claim header', async () => {
  const res = await request({ port: h.port, path: '/anything', headers: { 'x-tenant': 'acme', authorization: `Bearer ${tenantToken('other')}`, 'x-admin-token': adminToken() } });
  assert.equal(res.status, 200);
  assert.equal(secret.received.length, 1);
  assert.deepEqual(JSON.parse(res.body).headers['X-Tenant'], ['other']);
  assert.equal(JSON.parse(res.body).headers['X-Admin-Token'], undefined, 'the admin token was removed (forwardToken unset)');
});

test('a client\'s x-tenant named in Connection is gone before the first match: the request goes to secret-route from the start, whose check alone runs (the tenant token is not read, no claim header is added)', async () => {
  const before = secret.received.length;
  const res = await request({ port: h.port, path: '/anything', headers: { 'x-tenant': 'acme', connection: 'x-tenant', authorization: `Bearer ${tenantToken('other')}`, 'x-admin-token': adminToken() } });
  assert.equal(res.status, 200);
  assert.equal(secret.received.length, before + 1);
  assert.equal(JSON.parse(res.body).headers['X-Tenant'], undefined);
});

test('a claim header that leaves the request matching no route at all: 404 with no body (Envoy: route not found after clear_route_cache), never the first route\'s backend', async () => {
  const n = h.echo.received.length;
  const s = secret.received.length;
  const res = await request({ port: h.port, host: 'solo.example.com', path: '/anything', headers: { 'x-tenant': 'acme', authorization: `Bearer ${tenantToken('other')}` } });
  assert.equal(res.status, 404);
  assert.equal(res.body, '');
  assert.equal(h.echo.received.length, n, 'the first route\'s backend never saw it');
  assert.equal(secret.received.length, s);
  // The same request whose claim keeps it on the route is proxied there.
  const ok = await request({ port: h.port, host: 'solo.example.com', path: '/anything', headers: { 'x-tenant': 'acme', authorization: `Bearer ${tenantToken('acme')}` } });
  assert.equal(ok.status, 200);
  assert.equal(h.echo.received.length, n + 1);
});

test("after a query token's removal, the re-match reads Envoy's :path query (the rest decoded): a route matching q=a b is found for q=a%20b", async () => {
  const keys = rsaKeys('q');
  const h2 = await startHarness({
    base: (echoPort) =>
      SAMPLE_GATEWAY +
      backend('public', echoPort) +
      backend('other', secret.port) +
      httpRoute('decoded', undefined, '{ path: { type: PathPrefix, value: / }, queryParams: [{ name: q, value: a b }], headers: [{ name: x-team, value: dev }] }', 'public') +
      httpRoute('rest', undefined, '{ path: { type: PathPrefix, value: / } }', 'other') +
      extension('q-jwt', 'p', 'q-idp', keys.jwks, '      claimsToHeaders: [{ name: team, header: x-team }]\n') +
      `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: q-policy, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http }]
  jwtAuth: { extensionRef: { name: q-jwt } }
`,
  });
  try {
    const t = mint({ alg: 'RS256', key: keys.privateKey, kid: 'q', payload: { iss: 'q-idp', team: 'dev', exp: Math.floor(Date.now() / 1000) + 600 } });
    const before = secret.received.length;
    const n = h2.echo.received.length;
    const res = await request({ port: h2.port, path: `/anything?access_token=${t}&q=a%20b` });
    assert.equal(res.status, 200);
    assert.equal(h2.echo.received.length, n + 1, 'the decoded-query route got it');
    assert.equal(h2.echo.received.at(-1)!.url, '/anything?q=a%20b');
    assert.equal(secret.received.length, before);
  } finally {
    await h2.close();
  }
});

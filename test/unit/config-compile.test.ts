// compileSnapshot: provider compilation (keys, defaults, locations, audiences), key sets
// (inline, ConfigMap, remote), backends, invalid policies, statuses, freezing, and the
// check report / config_dump output.

import test from 'node:test';
import assert from 'node:assert/strict';
import { keyPair } from '../fixtures/auth/keys.js';
import { KGW, gateway, md, route, type Doc } from '../fixtures/config/manifests.js';
import { compileFiles, compileText } from '../../src/config/build.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compileSnapshot } from '../../src/config/compile.js';
import { configDump, configDumpText } from '../../src/config/dump.js';
import { loadManifestsFromText } from '../../src/config/load.js';
import { formatCheckReport, hasErrors } from '../../src/config/report.js';
import type { Snapshot } from '../../src/config/snapshot.js';
import { SENSITIVE_NAME } from '../../src/config/schema.js';
import type { GatewayRequest } from '../../src/http/exchange.js';
import { pickBackend, selectRoute } from '../../src/routing/match.js';

const JWK = { ...keyPair('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' };
const JWKS = JSON.stringify({ keys: [JWK] });

const ext = (providers: Doc[], jwt: Doc = {}, name = 'ext', ns = 'default'): Doc => ({ apiVersion: KGW, kind: 'GatewayExtension', metadata: md(name, ns), spec: { jwt: { providers, ...jwt } } });
const provider = (o: Doc = {}): Doc => ({ name: 'p', issuer: 'iss', jwks: { local: { inline: JWKS } }, ...o });
const policy = (spec: Doc, name = 'pol', ns = 'default'): Doc => ({ apiVersion: KGW, kind: 'TrafficPolicy', metadata: md(name, ns), spec });
const target = (kind: string, name: string, sectionName?: string): Doc => ({ group: 'gateway.networking.k8s.io', kind, name, ...(sectionName ? { sectionName } : {}) });

function build(docs: Doc[], opts: { clusterDomain?: string; defaultClockSkewSeconds?: number } = {}): Snapshot {
  return compileText(docs.map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 7, ...opts }, 't.yaml');
}

function req(host: string, p = '/'): GatewayRequest {
  return { method: 'GET', path: p, query: '', host, authority: host, headers: [], remoteAddress: '127.0.0.1', scheme: 'http' };
}

function errors(s: Snapshot): string[] {
  return s.problems.filter((p) => p.severity === 'error').map((p) => `${p.resource} ${p.path}: ${p.message}`);
}

test('providers: key, defaults, sorting, locations, audiences, claims, clock skew', () => {
  const s = build([
    ext([
      provider({ name: 'zeta', tokenSource: { queryParameter: 'jwt' } }),
      provider({
        name: 'alpha',
        issuer: 'https://idp.example.com',
        audiences: ['https://api.example.com/', 'http://other/', 'plain', 'https://x//'],
        tokenSource: { header: { header: 'X-JWT', prefix: 'Token ' } },
        claimsToHeaders: [
          { name: 'org.team', header: 'X-Team' },
          { name: 'sub', header: 'x-sub' },
        ],
        forwardToken: true,
        clockSkew: '2m',
      }),
      provider({ name: 'mid', issuer: undefined, claimsToHeaders: [{ name: 'sub', header: 'X-Sub' }] }),
    ]),
  ]);
  assert.deepEqual(errors(s), []);
  const e = s.extensions.get('default/ext');
  assert.ok(e);
  assert.equal(e.key, 'default/ext');
  assert.equal(e.filterName, 'jwt/default/ext');
  assert.equal(e.allowMissing, false);
  assert.deepEqual(e.providers.map((p) => p.key), ['ext_default_alpha', 'ext_default_mid', 'ext_default_zeta']);
  assert.deepEqual(e.sanitizeHeaders, ['x-sub', 'x-team']);
  const [alpha, mid, zeta] = e.providers;
  assert.deepEqual(alpha, {
    key: 'ext_default_alpha',
    name: 'alpha',
    issuer: 'https://idp.example.com',
    audiences: ['api.example.com', 'other', 'plain', 'x/'],
    headerLocations: [{ name: 'x-jwt', prefix: 'Token ' }],
    queryLocations: [],
    claimsToHeaders: [
      { claim: 'org.team', path: ['org', 'team'], header: 'x-team' },
      { claim: 'sub', path: ['sub'], header: 'x-sub' },
    ],
    forwardToken: true,
    clockSkewSeconds: 120,
    keySetId: 'GatewayExtension/default/ext#alpha',
  });
  assert.equal(mid!.issuer, '');
  assert.deepEqual(mid!.headerLocations, [{ name: 'authorization', prefix: 'Bearer ' }]);
  assert.deepEqual(mid!.queryLocations, ['access_token']);
  assert.deepEqual(zeta!.headerLocations, []);
  assert.deepEqual(zeta!.queryLocations, ['jwt']);
  // keySetIds are unique per provider
  assert.equal(new Set(e.providers.map((p) => p.keySetId)).size, 3);
  for (const p of e.providers) assert.equal(s.keySets.get(p.keySetId)?.kind, 'local');
});

test('clockSkew 87600h, the most kgateway accepts, is served as written', () => {
  const s = build([ext([provider({ clockSkew: '87600h' })])]);
  assert.deepEqual(s.problems.filter((p) => p.severity === 'error'), []);
  assert.equal(s.extensions.get('default/ext')!.providers[0]!.clockSkewSeconds, 315_360_000);
});

test('providers: defaultClockSkewSeconds applies when clockSkew is unset; AllowMissing', () => {
  const s = build([ext([provider()], { validationMode: 'AllowMissing' })], { defaultClockSkewSeconds: 5 });
  const e = s.extensions.get('default/ext')!;
  assert.equal(e.allowMissing, true);
  assert.equal(e.providers[0]!.clockSkewSeconds, 5);
  assert.equal(e.allowFailed, false);
  const s2 = build([ext([provider()], { validationMode: '' })]);
  assert.equal(s2.extensions.get('default/ext')!.allowMissing, false);
  const s3 = build([ext([provider()], { validationMode: 'AllowMissingOrFailed' })]);
  assert.deepEqual(s3.problems.filter((p) => p.severity === 'error'), []);
  assert.equal(s3.extensions.get('default/ext')!.allowMissing, true);
  assert.equal(s3.extensions.get('default/ext')!.allowFailed, true);
});

test('keys: ConfigMap jwks in the extension namespace', () => {
  const s = build([
    ext([provider({ jwks: { local: { configMapRef: { name: 'keys' } } } })], {}, 'ext', 'auth'),
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: md('keys', 'auth'), data: { jwks: JWKS } },
  ]);
  assert.deepEqual(errors(s), []);
  const ks = s.keySets.get('GatewayExtension/auth/ext#p');
  assert.ok(ks && ks.kind === 'local');
  assert.equal(ks.keys[0]!.kid, 'k1');
  assert.equal(ks.keys[0]!.kty, 'EC');
});

test('keys: an injected importer is used and its dropped keys become warnings', () => {
  const { resources, problems } = loadManifestsFromText(JSON.stringify(ext([provider()])), 'i.yaml');
  let seen = '';
  const { snapshot } = compileSnapshot(resources, {
    generation: 1,
    problems,
    importLocalJwks: (text) => {
      seen = text;
      return { ok: true, keys: [], format: 'jwks', dropped: ['keys[0]: EC key with crv P-384 and alg ES256'] };
    },
  });
  assert.equal(seen, JWKS);
  const warnings = snapshot.problems.filter((p) => p.severity === 'warning').map((p) => p.message);
  assert.ok(warnings.includes('key dropped: keys[0]: EC key with crv P-384 and alg ES256'), warnings.join('\n'));
  assert.ok(warnings.some((w) => w.includes("no usable key: requests for this provider get 401 Jwks doesn't have any valid public key")));
});

test('remote JWKS: compiled to a RemoteKeySet with Envoy defaults and a resolved target', () => {
  const s = build(
    [
      ext([
        provider({ name: 'svc', jwks: { remote: { url: 'https://idp.example.com/jwks', backendRef: { name: 'idp', port: 8443 } } } }),
        provider({
          name: 'be',
          jwks: {
            remote: {
              url: 'http://keys.internal/certs',
              backendRef: { group: 'gateway.kgateway.dev', kind: 'Backend', name: 'keys', namespace: 'idp' },
              cacheDuration: '5m',
              asyncFetch: { fastListener: true, failedRefetchDuration: '500ms' },
              retryPolicy: { numRetries: 3, backOff: { baseInterval: '200ms' } },
            },
          },
        }),
        provider({ name: 'max', jwks: { remote: { url: 'https://i/j', backendRef: { name: 'idp', port: 443 }, retryPolicy: { backOff: { baseInterval: '1s', maxInterval: '3s' } } } } }),
      ]),
      { apiVersion: KGW, kind: 'Backend', metadata: md('keys', 'idp'), spec: { static: { hosts: [{ host: '10.1.2.3', port: 8080 }] } } },
      {
        apiVersion: 'gateway.networking.k8s.io/v1beta1',
        kind: 'ReferenceGrant',
        metadata: md('allow-ext', 'idp'),
        spec: { from: [{ group: 'gateway.kgateway.dev', kind: 'GatewayExtension', namespace: 'default' }], to: [{ group: 'gateway.kgateway.dev', kind: 'Backend' }] },
      },
    ],
    { clusterDomain: 'corp.local' },
  );
  assert.deepEqual(errors(s), []);
  assert.equal(s.problems.filter((p) => p.message.includes('not supported yet')).length, 0, 'jwks.remote is fetched by the refresher');
  // https:// without a BackendConfigPolicy: TLS with the default trust store, reported as a difference from kgateway.
  assert.deepEqual(
    s.problems.filter((p) => p.message.startsWith('https:// URL and no BackendConfigPolicy tls')).map((p) => p.path),
    ['spec.jwt.providers[0].jwks.remote.url', 'spec.jwt.providers[2].jwks.remote.url'],
  );
  assert.deepEqual(s.keySets.get('GatewayExtension/default/ext#svc'), {
    kind: 'remote',
    id: 'GatewayExtension/default/ext#svc',
    url: 'https://idp.example.com/jwks',
    target: { host: 'idp.default.svc.corp.local', port: 8443 },
    cacheDurationMs: 600_000,
    asyncFetch: false,
    fastListener: false,
    failedRefetchDurationMs: 1000,
    numRetries: 0,
    backOffBaseMs: 1000,
    backOffMaxMs: 10_000,
    tls: { insecureSkipVerify: false },
  });
  assert.deepEqual(s.keySets.get('GatewayExtension/default/ext#be'), {
    kind: 'remote',
    id: 'GatewayExtension/default/ext#be',
    url: 'http://keys.internal/certs',
    target: { host: '10.1.2.3', port: 8080 },
    cacheDurationMs: 300_000,
    asyncFetch: true,
    fastListener: true,
    failedRefetchDurationMs: 500,
    numRetries: 3,
    backOffBaseMs: 200,
    backOffMaxMs: 2000,
  });
  const max = s.keySets.get('GatewayExtension/default/ext#max');
  assert.ok(max && max.kind === 'remote');
  assert.equal(max.backOffMaxMs, 3000);
  // The extension itself is usable.
  assert.ok(s.extensions.get('default/ext'));
});

test('boundaries and defaults the other provider tests do not reach: a custom header without prefix takes the whole value (Envoy value_prefix ""); backOff maxInterval equal to baseInterval is accepted (>= base)', () => {
  const s = build([
    ext([
      provider({ name: 'hdr', tokenSource: { header: { header: 'X-Token' } } }),
      provider({ name: 'eq', jwks: { remote: { url: 'http://i/j', backendRef: { name: 'idp', port: 80 }, retryPolicy: { backOff: { baseInterval: '2s', maxInterval: '2s' } } } } }),
    ]),
  ]);
  assert.deepEqual(errors(s), []);
  const e = s.extensions.get('default/ext');
  assert.ok(e, 'the extension is valid');
  const hdr = e.providers.find((p) => p.name === 'hdr')!;
  assert.deepEqual(hdr.headerLocations, [{ name: 'x-token', prefix: '' }]);
  assert.deepEqual(hdr.queryLocations, []);
  const eq = s.keySets.get('GatewayExtension/default/ext#eq');
  assert.ok(eq && eq.kind === 'remote');
  assert.equal(eq.backOffBaseMs, 2000);
  assert.equal(eq.backOffMaxMs, 2000);
});

test('backends: Services by DNS name, Backends by their hosts, weights summed', () => {
  const s = build(
    [
      gateway(),
      route({
        rules: [
          {
            backendRefs: [
              { name: 'app', port: 80, weight: 3 },
              { group: 'gateway.kgateway.dev', kind: 'Backend', name: 'static', weight: 1 },
              { name: 'canary', port: 8080, weight: 0 },
            ],
          },
        ],
      }),
      { apiVersion: KGW, kind: 'Backend', metadata: md('static'), spec: { static: { hosts: [{ host: 'a.internal', port: 81 }, { host: '10.0.0.2', port: 82 }] } } },
    ],
    { clusterDomain: 'example.internal' },
  );
  assert.deepEqual(errors(s), []);
  const sel = selectRoute(s.ports.get(8080)!, req('any.host'));
  assert.ok(sel);
  assert.deepEqual(sel.route.backends.map((b) => [b.target?.key, b.weight]), [
    ['Service/default/app:80', 3],
    ['Backend/default/static', 1],
    ['Service/default/canary:8080', 0],
  ]);
  assert.equal(sel.route.totalWeight, 4);
  assert.deepEqual(s.backends.get('Service/default/app:80')?.endpoints, [{ host: 'app.default.svc.example.internal', port: 80 }]);
  assert.deepEqual(s.backends.get('Backend/default/static')?.endpoints, [
    { host: 'a.internal', port: 81 },
    { host: '10.0.0.2', port: 82 },
  ]);
});

test('backends: a backendRef of a kind jwtgate cannot resolve is ResolvedRefs False / InvalidKind and keeps its share; the rule is not replaced', () => {
  const s = build([gateway(), route({ rules: [{ backendRefs: [{ name: 'app', port: 80, weight: 3 }, { group: 'example.com', kind: 'Foo', name: 'x', weight: 1 }] }] })]);
  assert.deepEqual(errors(s).filter((e) => e.includes('example.com/Foo')).length, 1);
  const rs = s.statuses.find((x) => x.resource === 'HTTPRoute/default/app')!;
  assert.deepEqual(rs.conditions.find((c) => c.type === 'ResolvedRefs')?.reason, 'InvalidKind');
  assert.equal(rs.conditions.some((c) => c.reason === 'RouteRuleReplaced'), false);
  const r = selectRoute(s.ports.get(8080)!, req('h'))!.route;
  assert.equal(r.invalid, undefined);
  assert.deepEqual(r.backends.map((b) => [b.target?.key, b.weight]), [['Service/default/app:80', 3], [undefined, 1]]);
});

test('a null item in a rule\'s filters or backendRefs is an error at its index, and the rule answers 500 (the API server refuses the route; the item was skipped silently, so the rule was served)', () => {
  for (const rule of [{ filters: [null], backendRefs: [{ name: 'app', port: 80 }] }, { backendRefs: [{ name: 'app', port: 80 }, null] }]) {
    const s = build([gateway(), route({ rules: [rule] })]);
    const at = rule.filters ? 'spec.rules[0].filters[0]' : 'spec.rules[0].backendRefs[1]';
    assert.deepEqual(
      s.problems.filter((p) => p.severity === 'error').map((p) => [p.resource, p.path, p.message]),
      [['HTTPRoute/default/app', at, 'Invalid value: null: list items must not be empty']],
    );
    const r = selectRoute(s.ports.get(8080)!, req('h'))!.route;
    assert.match(String(r.invalid), new RegExp(`^${at.replace(/[[\].]/g, '\\$&')}: Invalid value: null`));
  }
});

test('status: a parentRef to a core-group kind (a Service) is Accepted False / InvalidKind, named core/Service as in its warning', () => {
  const s = build([gateway(), route({ parentRefs: [{ group: '', kind: 'Service', name: 'svc' }] })]);
  const rs = s.statuses.find((x) => x.resource === 'HTTPRoute/default/app')!;
  const accepted = rs.conditions.find((c) => c.type === 'Accepted')!;
  assert.deepEqual([accepted.status, accepted.reason, accepted.message], ['False', 'InvalidKind', 'parent core/Service not supported']);
});

test('backends: a cross-namespace backendRef needs a ReferenceGrant from HTTPRoute', () => {
  const grant = {
    apiVersion: 'gateway.networking.k8s.io/v1beta1',
    kind: 'ReferenceGrant',
    metadata: md('allow', 'shared'),
    spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'default' }], to: [{ group: '', kind: 'Service', name: 'db' }] },
  };
  const docs = [gateway(), route({ rules: [{ backendRefs: [{ name: 'db', namespace: 'shared', port: 5432 }] }] })];
  const without = build(docs);
  assert.ok(errors(without).some((e) => e.includes('is not permitted')));
  const rs = without.statuses.find((x) => x.resource === 'HTTPRoute/default/app')!;
  assert.deepEqual(rs.conditions.find((c) => c.type === 'ResolvedRefs')?.reason, 'RefNotPermitted');
  // The unresolved ref keeps its share, answered with 500 (kgateway's blackhole cluster).
  const unresolved = selectRoute(without.ports.get(8080)!, req('h'))!.route;
  assert.deepEqual(unresolved.backends, [{ target: undefined, weight: 1 }]);
  assert.equal(pickBackend(unresolved, 0)?.target, undefined);

  const withGrant = build([...docs, grant]);
  assert.deepEqual(errors(withGrant), []);
  assert.deepEqual(selectRoute(withGrant.ports.get(8080)!, req('h'))?.route.backends.map((b) => b.target?.key), ['Service/shared/db:5432']);
  // A grant for another name does not apply.
  const other = build([...docs, { ...grant, spec: { ...(grant.spec as Doc), to: [{ group: '', kind: 'Service', name: 'cache' }] } }]);
  assert.ok(errors(other).some((e) => e.includes('is not permitted')));
});

test('RequestMirror: each rule\'s mirrors in filter order, as kgateway writes request_mirror_policies (percent n/100, fraction ⌊n/d × 10⁶⌋/10⁶, neither 100/100); resolved as backendRefs are, shared with them in snapshot.backends; /config_dump shows them', () => {
  const KGW_GROUP = 'gateway.kgateway.dev';
  const mirror = (backendRef: Doc, m: Doc = {}): Doc => ({ type: 'RequestMirror', requestMirror: { backendRef, ...m } });
  const at = (value: string): Doc => ({ path: { type: 'PathPrefix', value } });
  const s = build([
    gateway(),
    { apiVersion: KGW, kind: 'Backend', metadata: md('shadow-be'), spec: { static: { hosts: [{ host: 'shadow.example.com', port: 8080 }] } } },
    route({
      rules: [
        { matches: [at('/percent')], filters: [mirror({ name: 'shadow', port: 80 }, { percent: 25 })], backendRefs: [{ name: 'app', port: 80 }] },
        { matches: [at('/third')], filters: [mirror({ name: 'shadow', port: 80 }, { fraction: { numerator: 1, denominator: 3 } })], backendRefs: [{ name: 'app', port: 80 }] },
        { matches: [at('/default-denominator')], filters: [mirror({ name: 'shadow', port: 80 }, { fraction: { numerator: 1 } })], backendRefs: [{ name: 'app', port: 80 }] },
        { matches: [at('/all')], filters: [mirror({ name: 'shadow', port: 80 })], backendRefs: [{ name: 'app', port: 80 }] },
        {
          matches: [at('/two'), at('/two-b')],
          filters: [mirror({ group: KGW_GROUP, kind: 'Backend', name: 'shadow-be' }, { percent: 50 }), { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: 'b' }] } }, mirror({ name: 'app', port: 80 }, { fraction: { numerator: 7, denominator: 7 } })],
          backendRefs: [{ name: 'app', port: 80 }],
        },
        { matches: [at('/none')], backendRefs: [{ name: 'app', port: 80 }] },
      ],
    }),
  ]);
  assert.deepEqual(s.problems.map((p) => `${p.severity} ${p.path}: ${p.message}`), []);
  const t = s.ports.get(8080)!;
  const mirrorsOf = (p: string) => selectRoute(t, req('h', p))!.route.mirrors?.map((m) => [m.target.key, m.numerator, m.denominator]);
  assert.deepEqual(mirrorsOf('/percent'), [['Service/default/shadow:80', 25, 100]]);
  assert.deepEqual(mirrorsOf('/third'), [['Service/default/shadow:80', 333333, 1_000_000]]);
  assert.deepEqual(mirrorsOf('/default-denominator'), [['Service/default/shadow:80', 10000, 1_000_000]]);
  assert.deepEqual(mirrorsOf('/all'), [['Service/default/shadow:80', 100, 100]]);
  assert.deepEqual(mirrorsOf('/two'), [['Backend/default/shadow-be', 50, 100], ['Service/default/app:80', 1_000_000, 1_000_000]]);
  assert.deepEqual(mirrorsOf('/two-b'), mirrorsOf('/two'), 'every match of the rule');
  const none = selectRoute(t, req('h', '/none'))!.route;
  assert.equal('mirrors' in none, false, 'no field without a mirror');
  // The targets are the snapshot's: the forwarder prepares them, and one backend is one object.
  const two = selectRoute(t, req('h', '/two'))!.route;
  assert.equal(two.mirrors![1]!.target, two.backends[0]!.target);
  assert.equal(two.mirrors![0]!.target, s.backends.get('Backend/default/shadow-be'));
  assert.deepEqual(s.backends.get('Backend/default/shadow-be')?.endpoints, [{ host: 'shadow.example.com', port: 8080 }]);
  assert.deepEqual(s.backends.get('Service/default/shadow:80')?.endpoints, [{ host: 'shadow.default.svc.cluster.local', port: 80 }]);
  // /config_dump
  const dump = JSON.parse(configDumpText(s)) as { listeners: { routeDefs: Record<string, { match: { path: { value: string } }; mirrors?: unknown }> }[] };
  const defs = Object.values(dump.listeners[0]!.routeDefs);
  assert.deepEqual(defs.find((d) => d.match.path.value === '/two')?.mirrors, [
    { backend: 'Backend/default/shadow-be', fraction: '50/100' },
    { backend: 'Service/default/app:80', fraction: '1000000/1000000' },
  ]);
  assert.deepEqual(defs.find((d) => d.match.path.value === '/third')?.mirrors, [{ backend: 'Service/default/shadow:80', fraction: '333333/1000000' }]);
  assert.equal(defs.find((d) => d.match.path.value === '/none')?.mirrors, undefined);
});

test('RequestMirror: kgateway\'s float64 product, truncated (a ratio just under a step stays under it), and 0 percent kept (it mirrors nothing)', () => {
  const mirrorOf = (m: Doc) => {
    const s = build([gateway(), route({ rules: [{ filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', port: 80 }, ...m } }], backendRefs: [{ name: 'app', port: 80 }] }] })]);
    const r = selectRoute(s.ports.get(8080)!, req('h'))!.route.mirrors?.[0];
    return r && [r.numerator, r.denominator];
  };
  assert.deepEqual(mirrorOf({ fraction: { numerator: 2, denominator: 3 } }), [666666, 1_000_000]);
  // 41/80 × 10⁶ is 512499.99999999994 in float64: Go's uint32() makes it 512499, as Math.trunc does (not 512500).
  assert.deepEqual(mirrorOf({ fraction: { numerator: 41, denominator: 80 } }), [512499, 1_000_000]);
  assert.deepEqual(mirrorOf({ fraction: { numerator: 0, denominator: 5 } }), [0, 1_000_000]);
  assert.deepEqual(mirrorOf({ fraction: { numerator: 2147483647, denominator: 2147483647 } }), [1_000_000, 1_000_000]);
  assert.deepEqual(mirrorOf({ percent: 0 }), [0, 100]);
  assert.deepEqual(mirrorOf({ percent: 100 }), [100, 100]);
});

test('RequestMirror a kgateway would drop: the rule still serves, without that mirror (a warning says why); a redirect rule and an invalid rule mirror nothing; a grant lets a mirror reach another namespace', () => {
  const mirror = (backendRef: Doc): Doc => ({ type: 'RequestMirror', requestMirror: { backendRef } });
  const at = (value: string): Doc => ({ path: { type: 'PathPrefix', value } });
  const docs = [
    gateway(),
    route({
      rules: [
        { matches: [at('/missing')], filters: [mirror({ group: 'gateway.kgateway.dev', kind: 'Backend', name: 'nope' }), mirror({ name: 'shadow', port: 80 })], backendRefs: [{ name: 'app', port: 80 }] },
        { matches: [at('/other-ns')], filters: [mirror({ name: 'shadow', namespace: 'other', port: 80 })], backendRefs: [{ name: 'app', port: 80 }] },
        { matches: [at('/redirect')], filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'x.example.com' } }, mirror({ name: 'shadow', port: 80 })] },
        { matches: [at('/invalid')], filters: [mirror({ name: 'shadow', port: 80 }), { type: 'ExternalAuth', externalAuth: {} }], backendRefs: [{ name: 'app', port: 80 }] },
        { matches: [at('/bad-ext')], filters: [mirror({ name: 'shadow', port: 80 }), { type: 'ExtensionRef', extensionRef: { group: 'gateway.kgateway.dev', kind: 'TrafficPolicy', name: 'nope' } }], backendRefs: [{ name: 'app', port: 80 }] },
      ],
    }),
  ];
  const s = build(docs);
  const t = s.ports.get(8080)!;
  const missing = selectRoute(t, req('h', '/missing'))!.route;
  assert.equal(missing.invalid, undefined, 'the rule serves');
  assert.deepEqual(missing.backends.map((b) => b.target?.key), ['Service/default/app:80']);
  assert.deepEqual(missing.mirrors?.map((m) => m.target.key), ['Service/default/shadow:80'], 'only the mirror that resolves');
  const otherNs = selectRoute(t, req('h', '/other-ns'))!.route;
  assert.equal(otherNs.invalid, undefined);
  assert.equal(otherNs.mirrors, undefined);
  const redirect = selectRoute(t, req('h', '/redirect'))!.route;
  assert.ok(redirect.redirect);
  assert.equal(redirect.mirrors, undefined);
  for (const p of ['/invalid', '/bad-ext']) {
    const r = selectRoute(t, req('h', p))!.route;
    assert.ok(r.invalid, p);
    assert.equal(r.mirrors, undefined, p);
  }
  const warnings = s.problems.filter((p) => p.severity === 'warning').map((p) => `${p.path}: ${p.message}`).sort();
  assert.deepEqual(warnings, [
    'spec.rules[0].filters[0]: RequestMirror is dropped, as kgateway drops it: requestMirror.backendRef.name: Backend default/nope not found. The rule serves without it: no copy of its requests is sent',
    'spec.rules[1].filters[0]: RequestMirror is dropped, as kgateway drops it: requestMirror.backendRef.namespace: backendRef to Service other/shadow is not permitted: no ReferenceGrant in namespace other allows HTTPRoutes from namespace default. The rule serves without it: no copy of its requests is sent',
    'spec.rules[2].filters[1]: RequestMirror is dropped on a rule with a RequestRedirect filter: the rule answers every request with the redirect and sends none upstream, so no copy is sent (kgateway writes no mirror for a redirect route either)',
  ]);
  // A mirror does not count for the route's references: kgateway drops it without a status.
  const rs = s.statuses.find((x) => x.resource === 'HTTPRoute/default/app')!;
  assert.equal(rs.conditions.find((c) => c.type === 'ResolvedRefs')?.status, 'True');
  assert.equal(s.backends.has('Service/other/shadow:80'), false);

  const grant = {
    apiVersion: 'gateway.networking.k8s.io/v1beta1',
    kind: 'ReferenceGrant',
    metadata: md('allow', 'other'),
    spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'default' }], to: [{ group: '', kind: 'Service', name: 'shadow' }] },
  };
  const granted = build([...docs, grant]);
  assert.deepEqual(selectRoute(granted.ports.get(8080)!, req('h', '/other-ns'))!.route.mirrors?.map((m) => m.target.key), ['Service/other/shadow:80']);
});

test('invalid policy on a route: the route answers 500, others are unaffected', () => {
  const s = build([
    gateway(),
    route({ rules: [{ name: 'main', matches: [{ path: { type: 'PathPrefix', value: '/a' } }], backendRefs: [{ name: 'app', port: 80 }] }] }),
    route({ rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/b' } }], backendRefs: [{ name: 'b', port: 80 }] }] }, 'other'),
    policy({ targetRefs: [target('HTTPRoute', 'app')], jwtAuth: { extensionRef: { name: 'missing' } } }),
  ]);
  const t = s.ports.get(8080)!;
  const a = selectRoute(t, req('h', '/a'));
  assert.equal(a?.route.invalid, 'TrafficPolicy/default/pol is invalid: default/missing: gateway extension not found');
  assert.equal(a?.listener.invalid, undefined);
  assert.equal(selectRoute(t, req('h', '/b'))?.route.invalid, undefined);
  const st = s.statuses.find((x) => x.resource === 'TrafficPolicy/default/pol')!;
  assert.deepEqual(st.conditions, [
    { type: 'Accepted', status: 'False', reason: 'Invalid', message: 'default/missing: gateway extension not found' },
    { type: 'Attached', status: 'False', reason: 'Pending', message: '' },
  ]);
  // The route's status says which rule kgateway replaced, and why (spec §2.5).
  const rs = s.statuses.find((x) => x.resource === 'HTTPRoute/default/app')!;
  assert.equal(rs.conditions.find((c) => c.type === 'Accepted')?.status, 'True');
  assert.deepEqual(rs.conditions.find((c) => c.type === 'kgateway.dev/Programmed'), {
    type: 'kgateway.dev/Programmed',
    status: 'False',
    reason: 'RouteRuleReplaced',
    message: 'Replaced Rule (0): TrafficPolicy/default/pol is invalid: default/missing: gateway extension not found',
  });
  const other = s.statuses.find((x) => x.resource === 'HTTPRoute/default/other')!;
  assert.equal(other.conditions.find((c) => c.type === 'kgateway.dev/Programmed'), undefined);
});

test('a policy whose extension is invalid carries the extension error as its status message (golden jwt/cross-namespace.yaml)', () => {
  const s = build([
    gateway(),
    route({}),
    ext([provider({ jwks: { remote: { url: 'https://idp.example.com/jwks', backendRef: { name: 'idp', namespace: 'idp', port: 443 } } } })]),
    policy({ targetRefs: [target('HTTPRoute', 'app')], jwtAuth: { extensionRef: { name: 'ext' } } }),
  ]);
  const st = s.statuses.find((x) => x.resource === 'TrafficPolicy/default/pol')!;
  assert.deepEqual(st.conditions[0], { type: 'Accepted', status: 'False', reason: 'Invalid', message: 'jwt: jwt: remote jwks: unresolved backend ref: missing reference grant' });
  // The problem line still names the extension.
  assert.ok(s.problems.some((p) => p.resource === 'TrafficPolicy/default/pol' && p.message === 'GatewayExtension default/ext is invalid: jwt: jwt: remote jwks: unresolved backend ref: missing reference grant'));
});

test('a misspelt or empty jwtAuth fails closed: the policy is invalid and its Gateway answers 500 (it served without a JWT check)', () => {
  for (const spec of [{ jwtAuht: { extensionRef: { name: 'ext' } } }, { jwtAuth: null, extensionRef: { name: 'ext' } }, { jwtAuth: { extensionRef: { name: 123 } } }]) {
    const s = build([gateway(), route(), ext([provider()]), policy({ targetRefs: [target('Gateway', 'gw')], ...spec })]);
    const sel = selectRoute(s.ports.get(8080)!, req('h', '/'));
    assert.match(sel?.listener.invalid ?? '', /^TrafficPolicy\/default\/pol is invalid: /, JSON.stringify(spec));
    assert.ok(hasErrors(s));
    assert.ok(!s.problems.some((p) => p.message.includes('undefined')), JSON.stringify(s.problems));
  }
});

test('a TrafficPolicy whose name the API server refuses (JWT-Policy) still fails its targets closed (found by the config fuzzer: the Gateway served without a JWT check)', () => {
  const s = build([gateway(), route(), ext([provider()]), policy({ targetRefs: [target('Gateway', 'gw')], jwtAuth: { extensionRef: { name: 'ext' } } }, 'JWT-Policy')]);
  const sel = selectRoute(s.ports.get(8080)!, req('h', '/'));
  assert.match(sel?.listener.invalid ?? '', /^TrafficPolicy\/default\/JWT-Policy is invalid: invalid metadata: metadata\.name: /);
  const st = s.statuses.find((x) => x.resource === 'TrafficPolicy/default/JWT-Policy')!;
  assert.equal(st.conditions[0]!.status, 'False');
});

test('a rule whose match is broken (a lower-case method) keeps its match, widened to its path, and answers 500: /admin does not fall through to the public rule (config fuzzer)', () => {
  const s = build([
    gateway(),
    route({
      rules: [
        { name: 'admin', matches: [{ path: { type: 'PathPrefix', value: '/admin' }, method: 'get' }], backendRefs: [{ name: 'admin', port: 80 }] },
        { name: 'public', backendRefs: [{ name: 'www', port: 80 }] },
      ],
    }),
  ]);
  const t = s.ports.get(8080)!;
  assert.match(selectRoute(t, req('h', '/admin/x'))?.route.invalid ?? '', /method/);
  assert.equal(selectRoute(t, req('h', '/other'))?.route.invalid, undefined);
  assert.equal(selectRoute(t, req('h', '/other'))?.route.ruleName, 'public');
  // A null match is an error (it was dropped silently), and its rule answers 500.
  const n = build([gateway(), route({ rules: [{ name: 'admin', matches: [null], backendRefs: [{ name: 'admin', port: 80 }] }] })]);
  assert.ok(n.problems.some((p) => p.path === 'spec.rules[0].matches[0]' && p.severity === 'error'));
  assert.ok(selectRoute(n.ports.get(8080)!, req('h', '/x'))?.route.invalid);
});

test('a resource defined twice: the last definition is used, as kubectl apply leaves it, and the first is reported as an error naming where the other is', () => {
  const s = build([
    gateway(),
    route({ rules: [{ name: 'old', backendRefs: [{ name: 'old', port: 80 }] }] }),
    ext([provider()]),
    route({ rules: [{ name: 'new', backendRefs: [{ name: 'new', port: 80 }] }] }),
    policy({ targetRefs: [target('HTTPRoute', 'app')], jwtAuth: { extensionRef: { name: 'ext' } } }),
  ]);
  const sel = selectRoute(s.ports.get(8080)!, req('h', '/'));
  assert.equal(sel?.route.ruleName, 'new');
  assert.equal(sel?.route.auth.jwt.length, 1, 'the policy targets the route by name, whichever definition is used');
  const dup = s.problems.filter((p) => p.message.startsWith('duplicate HTTPRoute default/app'));
  assert.equal(dup.length, 1);
  assert.equal(dup[0]!.severity, 'error');
  assert.match(dup[0]!.message, /defined again at t\.yaml:\d+, which is the one used/);
  assert.match(dup[0]!.source ?? '', /^t\.yaml:/);
  assert.notEqual(dup[0]!.source, dup[0]!.message.match(/at (t\.yaml:\d+)/)?.[1]);
});

test('invalid policy on a listener: a 500 for the hosts that listener owns, its siblings on the port served; on the Gateway: a catch-all 500 for the port', () => {
  const s = build([
    gateway({
      listeners: [
        { name: 'a', protocol: 'HTTP', port: 8080, hostname: 'a.example.com' },
        { name: 'b', protocol: 'HTTP', port: 8080, hostname: 'b.example.com' },
        { name: 'c', protocol: 'HTTP', port: 8081 },
      ],
    }),
    route({ hostnames: [] }),
    ext([provider({ jwks: { local: { inline: 'garbage' } } })]),
    policy({ targetRefs: [target('Gateway', 'gw', 'a')], jwtAuth: { extensionRef: { name: 'ext' } } }),
  ]);
  const a = selectRoute(s.ports.get(8080)!, req('a.example.com', '/anything/at/all'));
  assert.ok(a);
  assert.match(a.listener.invalid ?? '', /^TrafficPolicy\/default\/pol is invalid: cannot parse local jwks: /);
  assert.equal(a.route.invalid, a.listener.invalid);
  // kgateway: a listener's policies live on the virtual hosts it owns, and only those are
  // replaced (found by a policy fuzzer: the sibling listener's hosts answered 500 too).
  const b = selectRoute(s.ports.get(8080)!, req('b.example.com', '/'));
  assert.equal(b?.listener.invalid, undefined);
  assert.equal(b?.route.invalid, undefined);
  assert.equal(b?.route.route, 'default/app');
  // Not a host of any listener on the port: no virtual host, no route.
  assert.equal(selectRoute(s.ports.get(8080)!, req('c.example.com', '/')), undefined);
  const c = selectRoute(s.ports.get(8081)!, req('c.example.com', '/'));
  assert.equal(c?.listener.invalid, undefined);
  assert.equal(c?.route.route, 'default/app');
  const gw = s.statuses.find((x) => x.resource === 'Gateway/default/gw')!;
  assert.equal(gw.conditions.find((c) => c.type === 'Programmed')?.status, 'False');
  // A Gateway-wide invalid policy: the whole RouteConfiguration of each of its ports is the catch-all 500.
  const w = build([
    gateway({ listeners: [{ name: 'a', protocol: 'HTTP', port: 8080, hostname: 'a.example.com' }, { name: 'b', protocol: 'HTTP', port: 8080, hostname: 'b.example.com' }] }),
    route({ hostnames: [] }),
    ext([provider({ jwks: { local: { inline: 'garbage' } } })]),
    policy({ targetRefs: [target('Gateway', 'gw')], jwtAuth: { extensionRef: { name: 'ext' } } }),
  ]);
  for (const host of ['a.example.com', 'b.example.com', 'c.example.com']) assert.match(selectRoute(w.ports.get(8080)!, req(host, '/'))?.route.invalid ?? '', /pol is invalid/, host);
  // An invalid policy on a listener without hostname: the hosts it owns, not a sibling's.
  const n = build([
    gateway({ listeners: [{ name: 'any', protocol: 'HTTP', port: 8080 }, { name: 'b', protocol: 'HTTP', port: 8080, hostname: 'b.example.com' }] }),
    route({ hostnames: [] }),
    ext([provider({ jwks: { local: { inline: 'garbage' } } })]),
    policy({ targetRefs: [target('Gateway', 'gw', 'any')], jwtAuth: { extensionRef: { name: 'ext' } } }),
  ]);
  assert.match(selectRoute(n.ports.get(8080)!, req('x.example.com', '/'))?.route.invalid ?? '', /pol is invalid/);
  assert.equal(selectRoute(n.ports.get(8080)!, req('b.example.com', '/'))?.route.invalid, undefined);
});

test('a Gateway-wide invalid policy on a Gateway sharing its port with another: the hosts it owns answer 500, they do not fall through to the other Gateway\'s catch-all (found in review: 200 without a token)', () => {
  const gw = (name: string, created: string): Doc => ({ ...gateway({}, name), metadata: { ...md(name), creationTimestamp: created } });
  const docs = (extName: string) => [
    gw('public', '2024-01-01T00:00:00Z'),
    route({ parentRefs: [{ name: 'public' }] }, 'public-all'),
    gw('secure', '2025-01-01T00:00:00Z'),
    route({ parentRefs: [{ name: 'secure' }], hostnames: ['secure.example.com'] }, 'secure-app'),
    ext([provider()]),
    policy({ targetRefs: [target('Gateway', 'secure')], jwtAuth: { extensionRef: { name: extName } } }),
  ];
  const ok = build(docs('ext'));
  assert.equal(selectRoute(ok.ports.get(8080)!, req('secure.example.com', '/'))?.route.auth.jwt.length, 1);
  const bad = build(docs('ext-typo'));
  assert.match(selectRoute(bad.ports.get(8080)!, req('secure.example.com', '/'))?.route.invalid ?? '', /pol is invalid/);
  assert.equal(selectRoute(bad.ports.get(8080)!, req('other.example.com', '/'))?.route.route, 'default/public-all', 'the other Gateway\'s hosts are its own');
});

test('an invalid rule (unsupported filter) is replaced by a 500; the route stays accepted', () => {
  const s = build([
    gateway(),
    route({
      rules: [
        { matches: [{ path: { type: 'PathPrefix', value: '/ok' } }], backendRefs: [{ name: 'app', port: 80 }] },
        { matches: [{ path: { type: 'PathPrefix', value: '/bad' } }], filters: [{ type: 'ExternalAuth', externalAuth: { protocol: 'HTTP', backendRef: { name: 'auth', port: 80 } } }], backendRefs: [{ name: 'app', port: 80 }] },
      ],
    }),
  ]);
  const t = s.ports.get(8080)!;
  assert.equal(selectRoute(t, req('h', '/ok'))?.route.invalid, undefined);
  assert.match(selectRoute(t, req('h', '/bad'))?.route.invalid ?? '', /filter type ExternalAuth not supported/);
  const st = s.statuses.find((x) => x.resource === 'HTTPRoute/default/app')!;
  assert.equal(st.conditions.find((c) => c.type === 'Accepted')?.status, 'True');
  const replaced = st.conditions.find((c) => c.type === 'kgateway.dev/Programmed');
  assert.equal(replaced?.reason, 'RouteRuleReplaced');
  assert.match(replaced?.message ?? '', /^Replaced Rule \(1\): .*filter type ExternalAuth not supported/);
});

test('a rule whose ExtensionRef filter names a TrafficPolicy that does not exist is replaced by a 500: it is not served without the policy the filter asks for', () => {
  const s = build([
    gateway(),
    route({
      rules: [
        { matches: [{ path: { type: 'PathPrefix', value: '/ok' } }], backendRefs: [{ name: 'app', port: 80 }] },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/admin' } }],
          filters: [{ type: 'ExtensionRef', extensionRef: { group: 'gateway.kgateway.dev', kind: 'TrafficPolicy', name: 'jwt-admin' } }],
          backendRefs: [{ name: 'app', port: 80 }],
        },
      ],
    }),
  ]);
  const t = s.ports.get(8080)!;
  assert.equal(selectRoute(t, req('h', '/ok'))?.route.invalid, undefined);
  const admin = selectRoute(t, req('h', '/admin'))?.route;
  assert.equal(admin?.invalid, 'ExtensionRef filter: TrafficPolicy default/jwt-admin not found');
  assert.equal(admin?.auth.jwt.length, 0);
  const replaced = s.statuses.find((x) => x.resource === 'HTTPRoute/default/app')!.conditions.find((c) => c.type === 'kgateway.dev/Programmed');
  assert.equal(replaced?.reason, 'RouteRuleReplaced');
});

test('statuses: every resource gets an Accepted condition', () => {
  const s = build([
    gateway(),
    route(),
    ext([provider()]),
    policy({ targetRefs: [target('Gateway', 'gw')], jwtAuth: { extensionRef: { name: 'ext' } } }),
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: md('cm'), data: { a: 'b' } },
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: md('d'), spec: {} },
    { apiVersion: 'v1', kind: 'Service', metadata: md('app'), spec: { ports: [{ port: 80 }] } },
  ]);
  const by = new Map(s.statuses.map((x) => [x.resource, x.conditions]));
  assert.equal(s.statuses.length, 7);
  assert.deepEqual(by.get('Gateway/default/gw')?.[0], { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Gateway accepted' });
  assert.deepEqual(by.get('HTTPRoute/default/app')?.[0], { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Route accepted' });
  assert.deepEqual(by.get('GatewayExtension/default/ext')?.[0], { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'GatewayExtension accepted' });
  assert.equal(by.get('ConfigMap/default/cm')?.[0]?.status, 'True');
  assert.deepEqual(by.get('Deployment/default/d')?.[0]?.reason, 'UnsupportedKind');
  assert.deepEqual(by.get('Service/default/app')?.[0]?.reason, 'Ignored');
  assert.equal(s.statuses[0]!.source, 't.yaml:1');
});

test('statuses: a policy whose target does not exist is Pending, and the route sees no JWT', () => {
  const s = build([gateway(), route(), ext([provider()]), policy({ targetRefs: [target('Gateway', 'nope')], jwtAuth: { extensionRef: { name: 'ext' } } })]);
  const st = s.statuses.find((x) => x.resource === 'TrafficPolicy/default/pol')!;
  assert.deepEqual(st.conditions[1], { type: 'Attached', status: 'False', reason: 'Pending', message: 'no target found: kgateway silently ignores this policy' });
  assert.deepEqual(selectRoute(s.ports.get(8080)!, req('h'))?.route.auth.jwt, []);
});

test('statuses: a policy\'s ancestors are the Gateways it reaches, directly or through its routes (spec §2.5); check prints them in kgateway\'s PolicyStatus form', () => {
  const s = build([
    gateway(),
    gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8081 }] }, 'gw2'),
    route({ parentRefs: [{ name: 'gw' }, { name: 'gw2' }] }),
    route({ parentRefs: [{ name: 'gw2' }] }, 'other'),
    ext([provider()]),
    policy({ targetRefs: [target('HTTPRoute', 'app')], jwtAuth: { extensionRef: { name: 'ext' } } }, 'on-route'),
    policy({ targetRefs: [target('HTTPRoute', 'app', 'main')], jwtAuth: { extensionRef: { name: 'ext' } } }, 'on-rule'),
    policy({ targetRefs: [target('Gateway', 'gw2', 'http')], jwtAuth: { extensionRef: { name: 'ext' } } }, 'on-listener'),
    policy({ targetRefs: [target('Gateway', 'nope')], jwtAuth: { extensionRef: { name: 'ext' } } }, 'on-nothing'),
  ]);
  const ancestors = (name: string) => s.statuses.find((x) => x.resource === `TrafficPolicy/default/${name}`)!.ancestors?.map((a) => `${a.group}/${a.kind}/${a.namespace}/${a.name}`);
  const both = ['gateway.networking.k8s.io/Gateway/default/gw', 'gateway.networking.k8s.io/Gateway/default/gw2'];
  assert.deepEqual(ancestors('on-route'), both);
  assert.deepEqual(ancestors('on-rule'), both);
  assert.deepEqual(ancestors('on-listener'), ['gateway.networking.k8s.io/Gateway/default/gw2']);
  assert.equal(ancestors('on-nothing'), undefined, 'reaches no Gateway: no ancestor entry');
  const text = formatCheckReport(s);
  assert.match(
    text,
    /TrafficPolicy\/default\/on-listener {2}\(t\.yaml:\d+\)\n {2}status:\n {4}ancestors:\n {4}- ancestorRef:\n {8}group: gateway\.networking\.k8s\.io\n {8}kind: Gateway\n {8}name: gw2\n {8}namespace: default\n {6}controllerName: kgateway\.dev\/kgateway\n {6}conditions:\n {6}- type: Accepted\n {8}status: "True"\n {8}reason: Valid\n/,
  );
  assert.match(text, /TrafficPolicy\/default\/on-nothing {2}\(t\.yaml:\d+\)\n {2}status:\n {4}conditions:\n/);
});

test('a configuration that compiles to more than 500,000 route entries (hostnames x rules x matches) is refused whole, naming the route that went over', () => {
  const hostnames = Array.from({ length: 16 }, (_, i) => `h${i}.example.com`);
  const rules = Array.from({ length: 16 }, (_, r) => ({ matches: Array.from({ length: 64 }, (_, m) => ({ path: { type: 'PathPrefix', value: `/r${r}/m${m}` } })), backendRefs: [{ name: 'app', port: 80 }] }));
  // 16 x 16 x 64 = 16,384 entries a route: the 31st goes over.
  const routes = Array.from({ length: 31 }, (_, i) => route({ hostnames, rules }, `r${String(i).padStart(2, '0')}`));
  assert.throws(
    () => build([gateway(), ...routes]),
    (err: Error) => err.name === 'ConfigError' && /^cannot load configuration: HTTPRoute\/default\/r\d\d \(t\.yaml:\d+\): the configuration compiles to more than 500000 route entries/.test(err.message),
  );
  assert.doesNotThrow(() => build([gateway(), ...routes.slice(0, 30)]));
});

test('a TrafficPolicy whose targets the API server refuses attaches to nothing, and there is nothing to fail closed: serve refuses to start (check reports it; warnings about targets do not)', async () => {
  const G = 'gateway.networking.k8s.io';
  const dir = mkdtempSync(path.join(tmpdir(), 'jwtgate-targets-'));
  const serveOf = async (docs: Doc[]): Promise<Snapshot> => {
    writeFileSync(path.join(dir, 'c.yaml'), docs.map((d) => JSON.stringify(d)).join('\n---\n'));
    return compileFiles([dir], { generation: 1 }, { loadErrorsFatal: true });
  };
  const jwt = { jwtAuth: { extensionRef: { name: 'ext' } } };
  try {
    for (const [targets, field] of [
      [{ targetRefs: [{ kind: 'Gateway', name: 'gw' }] }, 'spec.targetRefs[0].group'],
      [{ targetRefs: [{ group: G, name: 'gw' }] }, 'spec.targetRefs[0].kind'],
      [{ targetRefs: [{ group: G, kind: 'Gateway', name: 7 }] }, 'spec.targetRefs[0].name'],
      [{ targetRefs: [{ group: '', kind: 'Service', name: 'gw' }] }, 'spec.targetRefs[0].kind'],
      [{ targetRefs: [] }, 'spec.targetRefs'],
      [{ targetRefs: { group: G, kind: 'Gateway', name: 'gw' } }, 'spec.targetRefs'],
      [{ targetSelectors: [{ group: G, kind: 'HTTPRoute', matchLabels: 'app' }] }, 'spec.targetSelectors[0].matchLabels'],
    ] as const) {
      const docs = [gateway(), route(), ext([provider()]), policy({ ...targets, ...jwt })];
      await assert.rejects(serveOf(docs), (err: Error) => err.name === 'ConfigError' && err.message.startsWith('cannot load configuration:\n  TrafficPolicy/default/pol ' + field + ' (') && err.message.includes('the policy cannot tell what it targets: serve refuses to start'), JSON.stringify(targets));
      // check (no loadErrorsFatal) reports the same error and goes on.
      const s = build(docs);
      assert.ok(s.problems.some((p) => p.fatal && p.severity === 'error' && p.path === field), JSON.stringify(targets));
    }
    // With a name the API server refuses too (JWT-Policy): still refused (its 500 had no target).
    await assert.rejects(serveOf([gateway(), route(), ext([provider()]), policy({ targetRefs: [{ kind: 'Gateway', name: 'gw' }], ...jwt }, 'JWT-Policy')]), (err: Error) => err.message.includes('TrafficPolicy/default/JWT-Policy spec.targetRefs[0].group'));
    // A readable target kgateway ignores (another group) is a warning: serve starts.
    const s = await serveOf([gateway(), route(), ext([provider()]), policy({ targetRefs: [{ group: 'example.com', kind: 'Gateway', name: 'gw' }], ...jwt })]);
    assert.ok(s.problems.some((p) => p.severity === 'warning' && p.path === 'spec.targetRefs[0].group'));
    assert.ok(!s.problems.some((p) => p.fatal));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a listener jwtgate cannot serve (allowedRoutes Selector, HTTPS) fails closed: its hostname answers 500 instead of reaching a sibling listener\'s public routes', () => {
  for (const api of [
    { name: 'api', protocol: 'HTTP', port: 8080, hostname: 'api.example.com', allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { a: 'b' } } } } },
    { name: 'api', protocol: 'HTTPS', port: 8080, hostname: 'api.example.com' },
  ]) {
    const s = build([gateway({ listeners: [api, { name: 'web', protocol: 'HTTP', port: 8080 }] }), route({ parentRefs: [{ name: 'gw', sectionName: 'web' }] })]);
    const t = s.ports.get(8080)!;
    assert.match(selectRoute(t, req('api.example.com', '/'))?.route.invalid ?? '', /^listener api: /, api.protocol);
    assert.equal(selectRoute(t, req('www.example.com', '/'))?.route.invalid, undefined, 'other hosts keep the public route');
    assert.equal(selectRoute(t, req('www.example.com', '/'))?.route.route, 'default/app');
  }
  // On a port nothing else serves, nothing is bound for it.
  const alone = build([gateway({ listeners: [{ name: 'tls', protocol: 'HTTPS', port: 8443, hostname: 'api.example.com' }, { name: 'web', protocol: 'HTTP', port: 8080 }] }), route()]);
  assert.deepEqual([...alone.ports.keys()], [8080]);
});

test('a listener with a route kind jwtgate does not serve is dropped, as kgateway does: its hostname goes to the other listeners (and their policies)', () => {
  const s = build([
    gateway({ listeners: [{ name: 'pub', protocol: 'HTTP', port: 8080, hostname: '*.example.com', allowedRoutes: { kinds: [{ kind: 'HTTPRoute' }, { kind: 'TCPRoute' }] } }, { name: 'all', protocol: 'HTTP', port: 8080 }] }),
    route({ parentRefs: [{ name: 'gw' }] }),
    ext([provider()]),
    policy({ targetRefs: [target('Gateway', 'gw', 'all')], jwtAuth: { extensionRef: { name: 'ext' } } }),
  ]);
  const sel = selectRoute(s.ports.get(8080)!, req('api.example.com', '/'));
  assert.equal(sel?.listener.name, 'all');
  assert.deepEqual(sel?.route.auth.jwt.map((e) => e.filterName), ['jwt/default/ext']);
});

test('allowedRoutes.kinds as an empty list means the protocol\'s kinds, as unset (Gateway API; kgateway validateSupportedRoutes): HTTPRoutes attach', () => {
  const s = build([gateway({ listeners: [{ name: 'web', protocol: 'HTTP', port: 8080, allowedRoutes: { kinds: [] } }] }), route({ parentRefs: [{ name: 'gw' }] })]);
  assert.deepEqual(s.problems.map((p) => `${p.path}: ${p.message}`), []);
  assert.equal(selectRoute(s.ports.get(8080)!, req('www.example.com', '/'))?.route.route, 'default/app');
});

test('a listener the API server refuses (a hostname not in lowercase) leaves the whole Gateway unserved, not the rest of it', () => {
  const s = build([gateway({ listeners: [{ name: 'web', protocol: 'HTTP', port: 8080 }, { name: 'api', protocol: 'HTTP', port: 8080, hostname: 'API.example.com' }] }), route()]);
  assert.equal(s.ports.size, 0);
  const st = s.statuses.find((x) => x.resource === 'Gateway/default/gw')!;
  assert.deepEqual([st.conditions[0]!.status, st.conditions[0]!.reason], ['False', 'Invalid']);
  // The bad hostname is not taken for "no hostname": no made-up conflict with the catch-all.
  assert.ok(!s.problems.some((p) => /conflicts with/.test(p.message)), JSON.stringify(s.problems));
});

test('two Gateways on one port routing the same host (through different listener hostnames, or one\'s exact host inside the other\'s wildcard) is an error', () => {
  const s = build([
    gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] }, 'api'),
    gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8080, hostname: '*.example.com' }] }, 'web'),
    route({ parentRefs: [{ name: 'api' }], hostnames: ['api.example.com'] }, 'protected'),
    route({ parentRefs: [{ name: 'web' }], hostnames: ['api.example.com', 'www.example.com'] }, 'public'),
  ]);
  const err = s.problems.find((p) => p.severity === 'error' && /is routed on port 8080 by Gateway/.test(p.message));
  assert.ok(err, JSON.stringify(s.problems));
  assert.match(err.message, /^host api\.example\.com is routed on port 8080 by Gateway default\/(web|api) .*its requests get only one Gateway's routes and policies/);
  assert.ok(!s.problems.some((p) => /www\.example\.com is routed/.test(p.message)), 'a host only one Gateway routes is fine');
  // An exact host of one Gateway inside another's wildcard route host.
  const w = build([
    gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8080, hostname: '*.example.com' }] }, 'x'),
    gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] }, 'y'),
    route({ parentRefs: [{ name: 'x' }] }, 'rx'),
    route({ parentRefs: [{ name: 'y' }], hostnames: ['api.example.com'] }, 'ry'),
  ]);
  assert.ok(w.problems.some((p) => p.severity === 'error' && /^host api\.example\.com is routed on port 8080 by Gateway default\/x/.test(p.message)), JSON.stringify(w.problems));
  // Nested wildcards, in either order, on label boundaries only; a wildcard never covers its bare domain.
  const pair = (a: string[], b: string[]) =>
    build([
      gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] }, 'g1'),
      gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] }, 'g2'),
      route({ parentRefs: [{ name: 'g1' }], hostnames: a }, 'r1'),
      route({ parentRefs: [{ name: 'g2' }], hostnames: b }, 'r2'),
    ]).problems.filter((p) => /is routed on port/.test(p.message)).length;
  assert.equal(pair(['*.example.com'], ['*.api.example.com']), 1, 'a child wildcard after its parent');
  assert.equal(pair(['*.api.example.com'], ['*.example.com']), 1, 'a parent wildcard after its child');
  assert.equal(pair(['*.example.com'], ['*.example.com']), 1, 'the same wildcard');
  assert.equal(pair(['*.example.com'], ['*.xexample.com', 'example.com', 'a.xexample.com']), 0, 'no label boundary, or the bare domain');
  assert.equal(pair(['*.com'], ['a.b.example.com']), 1, 'an exact host several labels under a wildcard');
  // Two listeners of one Gateway: no error.
  const one = build([gateway({ listeners: [{ name: 'a', protocol: 'HTTP', port: 8080, hostname: '*.example.com' }, { name: 'b', protocol: 'HTTP', port: 8080 }] }), route({ hostnames: ['api.example.com'] })]);
  assert.ok(!one.problems.some((p) => /is routed on port/.test(p.message)));
});

test('fail-closed listeners: kinds HTTPRoute+GRPCRoute keep the listener; a Selector listener without hostname does not take another Gateway\'s hosts; HTTP and HTTPS without hostname on one port are no conflict; a wildcard fail-closed listener owns the hosts its sibling names', () => {
  const grpc = build([
    gateway({ listeners: [{ name: 'api', protocol: 'HTTP', port: 8080, hostname: 'api.example.com', allowedRoutes: { kinds: [{ kind: 'HTTPRoute' }, { kind: 'GRPCRoute' }] } }, { name: 'web', protocol: 'HTTP', port: 8080 }] }),
    route({ parentRefs: [{ name: 'gw', sectionName: 'api' }] }, 'protected'),
    route({ parentRefs: [{ name: 'gw', sectionName: 'web' }] }, 'public'),
  ]);
  assert.equal(selectRoute(grpc.ports.get(8080)!, req('api.example.com', '/'))?.route.route, 'default/protected');
  const other = build([
    gateway({ listeners: [{ name: 'sel', protocol: 'HTTP', port: 8080, allowedRoutes: { namespaces: { from: 'Selector', selector: {} } } }, { name: 'h', protocol: 'HTTP', port: 9090 }] }, 'a'),
    gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] }, 'b'),
    route({ parentRefs: [{ name: 'b' }] }, 'rb'),
  ]);
  assert.equal(selectRoute(other.ports.get(8080)!, req('b.example.com', '/'))?.route.route, 'default/rb');
  const both = build([gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }, { name: 'https', protocol: 'HTTPS', port: 8080 }] }), route()]);
  assert.equal(selectRoute(both.ports.get(8080)!, req('x.example.com', '/'))?.route.route, 'default/app');
  const wild = build([
    gateway({ listeners: [{ name: 'sel', protocol: 'HTTP', port: 8080, hostname: '*.example.com', allowedRoutes: { namespaces: { from: 'Selector', selector: {} } } }, { name: 'web', protocol: 'HTTP', port: 8080 }] }),
    route({ parentRefs: [{ name: 'gw', sectionName: 'web' }], hostnames: ['www.example.com', 'other.org'] }),
  ]);
  assert.match(selectRoute(wild.ports.get(8080)!, req('www.example.com', '/'))?.route.invalid ?? '', /^listener sel: /);
  assert.equal(selectRoute(wild.ports.get(8080)!, req('other.org', '/'))?.route.route, 'default/app');
});

test('the snapshot is frozen', () => {
  const s = build([gateway(), route(), ext([provider()]), policy({ targetRefs: [target('Gateway', 'gw')], jwtAuth: { extensionRef: { name: 'ext' } } })]);
  assert.equal(s.generation, 7);
  assert.ok(Object.isFrozen(s));
  assert.ok(Object.isFrozen(s.problems));
  assert.ok(Object.isFrozen(s.statuses));
  const sel = selectRoute(s.ports.get(8080)!, req('h'))!;
  assert.ok(Object.isFrozen(sel.route));
  assert.ok(Object.isFrozen(sel.route.auth.jwt));
  assert.ok(Object.isFrozen(sel.listener));
  assert.ok(Object.isFrozen(s.extensions.get('default/ext')!.providers[0]));
  assert.throws(() => (sel.route.backends as unknown[]).push(1), TypeError);
  // Keys keep working after freezing (KeyObjects are not frozen).
  const ks = s.keySets.get('GatewayExtension/default/ext#p');
  assert.ok(ks && ks.kind === 'local');
  assert.equal(ks.keys[0]!.key.asymmetricKeyType, 'ec');
});

test('check report: statuses in kgateway form, problems with source, summary line', () => {
  const s = build([gateway(), ext([provider({ issuers: 'x', audiences: [] })])]);
  const text = formatCheckReport(s);
  assert.ok(hasErrors(s));
  assert.match(text, /^Gateway\/default\/gw {2}\(t\.yaml:1\)\n {2}status:\n {4}conditions:\n {4}- type: Accepted\n {6}status: "True"\n {6}reason: Accepted\n {6}message: Gateway accepted\n/);
  assert.match(text, /\nProblems:\n {2}error {3}GatewayExtension\/default\/ext spec\.jwt\.providers\[0\]\.audiences {2}\(t\.yaml:3\)\n {10}Required value: must have at least 1 item\n/);
  assert.match(text, /error {3}GatewayExtension\/default\/ext spec\.jwt\.providers\[0\]\.issuers {2}\(t\.yaml:3\)\n {10}unknown field "issuers": did you mean "issuer"\? \(kubectl's strict field validation refuses it\)\n/);
  assert.match(text, /\n2 resources, 2 errors, 0 warnings\n$/);
  const clean = build([gateway()]);
  assert.equal(hasErrors(clean), false);
  assert.equal(hasErrors([]), false);
  assert.match(formatCheckReport({ statuses: [], problems: [] }), /^0 resources, 0 errors, 0 warnings\n$/);
});

test('config_dump text: the same document as JSON.stringify(configDump, null, 2), with the routes serialized once per snapshot and the key sets\' fetch record read each time', () => {
  const s = build([
    gateway(),
    route({ rules: [{ matches: [{ path: { value: '/api' }, headers: [{ name: 'x-env', value: 'prod' }] }], backendRefs: [{ name: 'app', port: 80 }] }, { backendRefs: [{ name: 'app', port: 80 }] }] }),
    ext([provider()]),
    policy({ targetRefs: [target('Gateway', 'gw')], jwtAuth: { extensionRef: { name: 'ext' } } }),
  ]);
  let portsRead = 0;
  const counted = new Proxy(s, {
    get(t, k, r) {
      if (k === 'ports') portsRead++;
      return Reflect.get(t, k, r);
    },
  });
  const first = configDumpText(counted);
  assert.equal(first, JSON.stringify(configDump(s), null, 2));
  assert.equal(configDumpText(counted), first);
  assert.equal(portsRead, 1, 'the routes were serialized once');
  // The live part (a key set's fetch record) is read at each dump.
  let reads = 0;
  configDumpText(counted, () => {
    reads++;
    return undefined;
  });
  assert.equal(portsRead, 1);
  assert.ok(reads >= 0);
});

test('config_dump: routes, policies, providers and key metadata, never key material', () => {
  const s = build([
    gateway(),
    route({ rules: [{ matches: [{ path: { value: '/api' }, headers: [{ name: 'Authorization', value: 'Basic c2VjcmV0' }, { name: 'x-env', value: 'prod' }] }], backendRefs: [{ name: 'app', port: 80 }] }] }),
    ext([provider({ claimsToHeaders: [{ name: 'sub', header: 'x-sub' }] })]),
    policy({ targetRefs: [target('Gateway', 'gw')], jwtAuth: { extensionRef: { name: 'ext' } } }),
  ]);
  const dump = configDump(s) as Record<string, any>;
  const text = JSON.stringify(dump);
  assert.ok(!text.includes(String(JWK.x)), 'no public key coordinates');
  assert.ok(!text.includes('c2VjcmV0'), 'credential-looking header match values are redacted');
  assert.equal(dump.generation, 7);
  const l = dump.listeners[0];
  assert.equal(l.port, 8080);
  assert.equal(l.gateway, 'default/gw');
  const r = l.routeDefs[l.routes.any[0]];
  assert.deepEqual(r.match.path, { type: 'PathPrefix', value: '/api' });
  assert.deepEqual(r.match.headers, [
    { name: 'authorization', type: 'Exact', value: '[redacted]' },
    { name: 'x-env', type: 'Exact', value: 'prod' },
  ]);
  assert.deepEqual(r.auth, { jwt: ['jwt/default/ext'], policies: ['TrafficPolicy/default/pol@Gateway'], disabled: false });
  const p = dump.extensions[0].providers[0];
  assert.equal(p.key, 'ext_default_p');
  assert.equal(p.keySet.keyCount, 1);
  assert.deepEqual(Object.keys(p.keySet.keys[0]).sort(), ['alg', 'crv', 'kid', 'kty', 'thumbprint']);
  assert.deepEqual(dump.backends, [{ key: 'Service/default/app:80', endpoints: ['app.default.svc.cluster.local:80'] }]);
  assert.deepEqual(dump.problems, { errors: 0, warnings: 0 });
});

test('config_dump shows what runs: a rule\'s method match, the 500 reason of an invalid rule and of a fail-closed listener, audiences null when unset (branches no test took)', () => {
  const s = build([
    gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }, { name: 'tls', protocol: 'HTTPS', port: 8080, hostname: 'secure.example.com' }] }),
    route({
      rules: [
        { name: 'post', matches: [{ path: { type: 'PathPrefix', value: '/p' }, method: 'POST' }], backendRefs: [{ name: 'app', port: 80 }] },
        { name: 'bad', matches: [{ path: { type: 'PathPrefix', value: '/b' } }], filters: [{ type: 'ExternalAuth', externalAuth: { protocol: 'HTTP', backendRef: { name: 'auth', port: 80 } } }], backendRefs: [{ name: 'app', port: 80 }] },
      ],
    }),
    ext([provider({ name: 'a', audiences: ['aud'] }), provider({ name: 'b' })]),
    policy({ targetRefs: [target('Gateway', 'gw')], jwtAuth: { extensionRef: { name: 'ext' } } }),
  ]);
  const dump = JSON.parse(configDumpText(s)) as Record<string, any>;
  const byName = new Map<string, any>(dump.listeners.map((l: any) => [l.name, l]));
  const tls = byName.get('tls');
  assert.equal(tls.invalid, 'listener tls: protocol HTTPS is not supported by jwtgate');
  assert.deepEqual(tls.routes.exact, { 'secure.example.com': ['default/gw/tls/invalid'] });
  assert.equal(tls.routeDefs['default/gw/tls/invalid'].invalid, 'listener tls: protocol HTTPS is not supported by jwtgate');
  const http = byName.get('http');
  assert.equal('invalid' in http, false, 'a served listener has no invalid');
  const post = http.routeDefs['default/app/0/0'];
  assert.deepEqual(post.match, { path: { type: 'PathPrefix', value: '/p' }, method: 'POST', headers: [], queryParams: [] });
  assert.equal('invalid' in post, false);
  const bad = http.routeDefs['default/app/1/0'];
  assert.deepEqual(bad.match, { path: { type: 'PathPrefix', value: '/b' }, headers: [], queryParams: [] }, 'no method when the match has none');
  assert.equal(bad.invalid, 'spec.rules[1].filters[0].type: filter type ExternalAuth not supported by jwtgate (only RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, RequestRedirect, URLRewrite, CORS, and ExtensionRef to gateway.kgateway.dev/TrafficPolicy or DirectResponse)');
  assert.deepEqual(dump.extensions[0].providers.map((p: any) => [p.name, p.audiences]), [['a', ['aud']], ['b', null]]);
});

test('config_dump redaction: credential-looking header and query parameter names (SENSITIVE_NAME)', () => {
  for (const n of ['authorization', 'x-auth', 'X-Auth-Token', 'cookie', 'x-api_key', 'api-key', 'x-api.key', 'key', 'x-key', 'sig', 'x-signature', 'client_secret', 'x-session-id', 'x-credentials', 'passwd', 'x-accesskey', 'subscriptionkey', 'jwt', 'access_jwt', 'x-hub-signature-256', 'code', 'x-apikey-2', 'apikey_v2', 'api-key-secondary', 'x-api-key-id', 'x-key2', 'x-key-2', 'x-key_2'])
    assert.ok(SENSITIVE_NAME.test(n), n);
  for (const n of ['x-env', 'x-team', 'x-design', 'keyword', 'monkey-see', 'version', 'view', 'signal', 'x-code-path', 'config'])
    assert.ok(!SENSITIVE_NAME.test(n), n);
});

test('a Gateway with an error of its own is Accepted False and not served; its routes find no listener', () => {
  const s = build([gateway({ gatewayClassName: '', listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] }), route({ rules: [{ backendRefs: [{ name: 'app', port: 80 }] }] })]);
  assert.equal(s.ports.size, 0, 'no listener is served');
  const gw = s.statuses.find((x) => x.resource === 'Gateway/default/gw')!;
  assert.match(gw.conditions.find((c) => c.type === 'Accepted')!.message, /gatewayClassName.*\(not served\)$/);
  const rt = s.statuses.find((x) => x.resource === 'HTTPRoute/default/app')!;
  assert.deepEqual(rt.conditions.find((c) => c.type === 'Accepted'), { type: 'Accepted', status: 'False', reason: 'NoMatchingParent', message: 'Gateway default/gw has no valid listener' });
});

test('a rule whose regex is refused keeps its match, widened, and answers 500: its requests do not fall through to another route without its JWT check', () => {
  const s = build([
    gateway(),
    route({ rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'app', port: 80 }] }] }, 'public'),
    route({
      rules: [
        { matches: [{ path: { type: 'RegularExpression', value: '/anything/(?=x)y' } }], backendRefs: [{ name: 'app', port: 80 }] },
        { matches: [{ path: { type: 'PathPrefix', value: '/h' }, headers: [{ type: 'RegularExpression', name: 'x-a', value: '(a)\\1' }] }], backendRefs: [{ name: 'app', port: 80 }] },
      ],
    }, 'admin'),
  ]);
  const t = s.ports.get(8080)!;
  const a = selectRoute(t, req('h', '/anything/users'));
  assert.equal(a?.route.route, 'default/admin');
  assert.match(a?.route.invalid ?? '', /lookaround/);
  const hdr = selectRoute(t, { ...req('h', '/h'), headers: ['x-a', 'anything'] });
  assert.equal(hdr?.route.route, 'default/admin');
  assert.match(hdr?.route.invalid ?? '', /backreferences/);
  // Widened to any value of the header, not to requests without it: those are not this rule's.
  assert.equal(selectRoute(t, req('h', '/h'))?.route.route, 'default/public');
  assert.equal(selectRoute(t, req('h', '/other'))?.route.route, 'default/public');
  assert.equal(selectRoute(t, req('h', '/other'))?.route.invalid, undefined);
});

test('a valid JWT GatewayExtension no TrafficPolicy names is warned about: its check applies nowhere (an example file loaded without its policy)', () => {
  const unused = build([gateway(), route(), ext([provider()])]);
  const w = unused.problems.filter((p) => p.resource === 'GatewayExtension/default/ext' && p.severity === 'warning');
  assert.deepEqual(w.map((p) => p.message), ['GatewayExtension default/ext is not used by any TrafficPolicy (jwtAuth.extensionRef): no route checks its tokens']);
  const used = build([gateway(), route(), ext([provider()]), policy({ targetRefs: [target('Gateway', 'gw')], jwtAuth: { extensionRef: { name: 'ext' } } })]);
  assert.ok(!used.problems.some((p) => p.message.includes('is not used by any TrafficPolicy')));
});

test('documents the API server refuses whose loss would serve requests without their JWT check make serve refuse to start (config fuzzer): a misspelt TrafficPolicy or HTTPRoute kind or group, a policy in a refused namespace or with a misspelt targetRefs key, a refused HTTPRoute', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'jwtgate-refused-'));
  const serveOf = async (docs: Doc[]): Promise<Snapshot> => {
    writeFileSync(path.join(dir, 'c.yaml'), docs.map((d) => JSON.stringify(d)).join('\n---\n'));
    return compileFiles([dir], { generation: 1 }, { loadErrorsFatal: true });
  };
  const jwt = { jwtAuth: { extensionRef: { name: 'ext' } } };
  const pol = (o: Doc = {}, spec: Doc = { targetRefs: [target('Gateway', 'gw')], ...jwt }): Doc => ({ ...policy(spec), ...o });
  try {
    const cases: [string, Doc[], RegExp][] = [
      ['kind TrafficPolicys', [pol({ kind: 'TrafficPolicys' })], /TrafficPolicys is not a kind the API server knows \(did you mean TrafficPolicy in gateway\.kgateway\.dev\?\)/],
      ['kind trafficpolicy', [pol({ kind: 'trafficpolicy' })], /did you mean TrafficPolicy/],
      ['kind TraficPolcy (two edits)', [pol({ kind: 'TraficPolcy' })], /TraficPolcy is not a kind the API server knows \(did you mean TrafficPolicy in gateway\.kgateway\.dev\?\)/],
      ['apiVersion without its group', [pol({ apiVersion: 'v1alpha1' })], /TrafficPolicy in group "" \(the core group: apiVersion has no group\) is not kgateway's: write apiVersion: gateway\.kgateway\.dev\/v1alpha1/],
      ['group gateways.kgateway.dev', [pol({ apiVersion: 'gateways.kgateway.dev/v1alpha1' })], /TrafficPolicy in group gateways\.kgateway\.dev is not kgateway's: write apiVersion: gateway\.kgateway\.dev\/v1alpha1/],
      ['kind HTTPRoutex', [{ ...route(), kind: 'HTTPRoutex' }], /did you mean HTTPRoute in gateway\.networking\.k8s\.io/],
      ['policy namespace "default "', [pol({ metadata: md('pol', 'default ') })], /metadata\.namespace.*serve refuses to start/],
      ['targetRef: (misspelt key)', [pol({}, { targetRef: [target('Gateway', 'gw')], ...jwt })], /names no target it can be attached to \(its targetRefs key is misspelt\)/],
      ['trgetSelectors: (misspelt key)', [pol({}, { trgetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', matchLabels: { a: 'b' } }], ...jwt })], /its targetRefs key is misspelt/],
      ['group gateway.kgatewy.dv (two edits from kgateway\'s group)', [pol({ apiVersion: 'gateway.kgatewy.dv/v1alpha1' })], /TrafficPolicy in group gateway\.kgatewy\.dv is not kgateway's: write apiVersion: gateway\.kgateway\.dev\/v1alpha1/],
      ['targtRef: (misspelt key, two edits away)', [pol({}, { targtRef: [target('Gateway', 'gw')], ...jwt })], /its targetRefs key is misspelt/],
      ['HTTPRoute named API', [route({}, 'API')], /HTTPRoute\/default\/API metadata\.name.*serve refuses to start/],
      ['parentRef without name', [route({ parentRefs: [{ namespace: 'default' }] })], /spec\.parentRefs\[0\]\.name.*the route is refused/],
      // The API server refuses the whole route (found by mutation testing: its rules were served).
      ['HTTPRoute with 17 rules', [route({ rules: Array.from({ length: 17 }, (_, i) => ({ matches: [{ path: { type: 'PathPrefix', value: `/r${i}` } }] })) }, 'big')], /HTTPRoute\/default\/big spec\.rules .*Too many: 17: must have at most 16 items \(the route is refused: serve refuses to start/],
      ['HTTPRoute rules not a list', [route({ rules: 'all' }, 'str')], /HTTPRoute\/default\/str spec\.rules .*must be a list \(the route is refused/],
    ];
    for (const [name, docs, message] of cases) {
      await assert.rejects(serveOf([gateway(), route({}, 'other'), ext([provider()]), ...docs]), (err: Error) => err.name === 'ConfigError' && message.test(err.message), name);
    }
    // Not refused (found in review): another project's kind of the same or a near name (Istio's
    // Gateway, Gloo Mesh's TrafficPolicy, SMI's and Consul's TCPRoute, Linkerd's HTTPRoute) is
    // only warned about; a hostname that is a dotless hex label (`cafe`) is a name; an invalid
    // policy without targets meant for ExtensionRef filters (its extension not deployed yet)
    // attaches to nothing, as in kgateway.
    const foreign = [
      { apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: md('istio'), spec: {} },
      { apiVersion: 'networking.mesh.gloo.solo.io/v1', kind: 'TrafficPolicy', metadata: md('mesh'), spec: {} },
      { apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'TCPRoute', metadata: md('smi'), spec: {} },
      { apiVersion: 'consul.hashicorp.com/v1alpha1', kind: 'TCPRoute', metadata: md('consul'), spec: {} },
      { apiVersion: 'policy.linkerd.io/v1beta3', kind: 'HTTPRoute', metadata: md('linkerd'), spec: {} },
    ];
    const s = await serveOf([gateway(), route(), route({ hostnames: ['cafe'] }, 'hex'), ext([provider()]), pol(), policy({ jwtAuth: { extensionRef: { name: 'not-deployed' } } }, 'extref-only'), ...foreign]);
    assert.equal(s.problems.filter((p) => p.severity === 'warning' && p.path === 'kind').length, foreign.length);
    assert.ok(!s.problems.some((p) => p.resource === 'HTTPRoute/default/hex' && p.severity === 'error'), JSON.stringify(s.problems.filter((p) => p.resource === 'HTTPRoute/default/hex')));
    assert.ok(s.problems.some((p) => p.resource === 'TrafficPolicy/default/extref-only' && p.severity === 'error' && !p.fatal));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a misspelt kind of any kind jwtgate reads (Backnd, GatewayExtention, ListnerPolicy, HTTPListnerPolicy, Gatway, Secrets) is an error with "did you mean" (the API server says "no matches for kind"); other kinds (ConfigMap, DirectResponse, Deployment, GatewayParameters) are as before', () => {
  const doc = (apiVersion: string, kind: string, name: string): Doc => ({ apiVersion, kind, metadata: md(name), spec: {} });
  const GWV1 = 'gateway.networking.k8s.io/v1';
  const s = build([
    gateway(),
    route(),
    doc(KGW, 'Backnd', 'a'),
    doc(KGW, 'GatewayExtention', 'b'),
    doc(KGW, 'ListnerPolicy', 'c'),
    doc(KGW, 'HTTPListnerPolicy', 'd'),
    doc(GWV1, 'Gatway', 'e'),
    { apiVersion: 'v1', kind: 'Secrets', metadata: md('f') },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: md('g'), data: {} },
    doc(KGW, 'DirectResponse', 'h'),
    doc('apps/v1', 'Deployment', 'i'),
    doc(KGW, 'GatewayParameters', 'j'),
  ]);
  const kindProblems = s.problems.filter((p) => p.path === 'kind').map((p) => `${p.severity} ${p.resource}: ${p.message}`);
  const refused = (kind: string, name: string, av: string, near: string): string =>
    `error ${kind}/default/${name}: ${av} ${kind} is not a kind the API server knows (did you mean ${near}?): the API server refuses it ("no matches for kind"); serve refuses to start, as dropping it could drop a policy, a route or a listener`;
  assert.deepEqual(kindProblems, [
    refused('Backnd', 'a', KGW, 'Backend in gateway.kgateway.dev'),
    refused('GatewayExtention', 'b', KGW, 'GatewayExtension in gateway.kgateway.dev'),
    refused('ListnerPolicy', 'c', KGW, 'ListenerPolicy in gateway.kgateway.dev'),
    refused('HTTPListnerPolicy', 'd', KGW, 'HTTPListenerPolicy in gateway.kgateway.dev'),
    refused('Gatway', 'e', GWV1, 'Gateway in gateway.networking.k8s.io'),
    refused('Secrets', 'f', 'v1', 'Secret in the core group (apiVersion: v1)'),
    `warning Deployment/default/i: kind Deployment (apps/v1) ignored: jwtgate does not use it`,
    `warning GatewayParameters/default/j: kind GatewayParameters (${KGW}) ignored: jwtgate does not use it`,
  ]);
  assert.ok(s.problems.filter((p) => p.path === 'kind' && p.severity === 'error').every((p) => p.fatal), 'serve refuses to start');
});

test('a jwtAuth.disable that wins over a jwtAuth.extensionRef at the same level only by the tie-break (same weight; age, then name) is warned about, naming both, the target and the tie-break', () => {
  const jwt = (name: string, targetRefs: Doc[], ts?: string, weight?: string): Doc => ({
    ...policy({ targetRefs, jwtAuth: { extensionRef: { name: 'ext' } } }, name),
    metadata: { ...md(name), ...(ts ? { creationTimestamp: ts } : {}), ...(weight ? { annotations: { 'kgateway.dev/policy-weight': weight } } : {}) },
  });
  const off = (name: string, targetRefs: Doc[], ts?: string, weight?: string): Doc => ({ ...jwt(name, targetRefs, ts, weight), spec: { targetRefs, jwtAuth: { disable: {} } } });
  const warnings = (docs: Doc[]): string[] => build([gateway(), route(), ext([provider()]), ...docs]).problems.filter((p) => p.severity === 'warning' && /tie-break/.test(p.message)).map((p) => `${p.resource} ${p.path}: ${p.message}`);
  const gw = [target('Gateway', 'gw')];
  // By name (no creationTimestamp): debug-open sorts before jwt-policy.
  assert.deepEqual(warnings([jwt('jwt-policy', gw), off('debug-open', gw)]), [
    'TrafficPolicy/default/debug-open spec.jwtAuth.disable: jwtAuth.disable of TrafficPolicy default/debug-open wins over jwtAuth.extensionRef of TrafficPolicy default/jwt-policy on Gateway default/gw only by the tie-break (same kgateway.dev/policy-weight 0; neither has a creationTimestamp, so the first by namespace/name, default/debug-open): JWT checking is off there. If that is meant, give default/debug-open a higher kgateway.dev/policy-weight annotation than default/jwt-policy; if not, remove one of the two policies (or give default/jwt-policy the higher weight)',
  ]);
  // By age, on a listener and on a route rule.
  const [byAge] = warnings([jwt('a-jwt', [target('Gateway', 'gw', 'http')], '2024-02-01T00:00:00Z'), off('z-open', [target('Gateway', 'gw', 'http')], '2024-01-01T00:00:00Z')]);
  assert.match(byAge ?? '', /on listener http of Gateway default\/gw only by the tie-break \(same kgateway\.dev\/policy-weight 0; default\/z-open is older \(creationTimestamp 2024-01-01T00:00:00Z, default\/a-jwt: 2024-02-01T00:00:00Z\)\)/);
  assert.match(warnings([jwt('b', [target('HTTPRoute', 'app', 'main')]), off('a', [target('HTTPRoute', 'app', 'main')])])[0] ?? '', /on rule main of HTTPRoute default\/app only by the tie-break/);
  // The older has a creationTimestamp and the other none (it sorts last, "none"); the same creationTimestamp falls to the name (branches no test took).
  assert.match(warnings([jwt('a-jwt', gw), off('z-open', gw, '2024-01-01T00:00:00Z')])[0] ?? '', /same kgateway\.dev\/policy-weight 0; default\/z-open is older \(creationTimestamp 2024-01-01T00:00:00Z, default\/a-jwt: none\)\): JWT checking is off there/);
  assert.match(warnings([jwt('jwt-policy', gw, '2024-01-01T00:00:00Z'), off('debug-open', gw, '2024-01-01T00:00:00Z')])[0] ?? '', /same kgateway\.dev\/policy-weight 0; same creationTimestamp, so the first by namespace\/name, default\/debug-open\): JWT checking is off there/);
  // An explicit intent is not warned about: the disable has the higher weight, or the extension
  // wins, or they are at different levels.
  assert.deepEqual(warnings([jwt('jwt-policy', gw), off('debug-open', gw, undefined, '10')]), []);
  assert.deepEqual(warnings([jwt('a-jwt', gw), off('z-open', gw)]), []);
  assert.deepEqual(warnings([jwt('jwt-policy', gw), off('debug-open', [target('HTTPRoute', 'app')])]), []);
});

test('config_dump: a match value is cut after 1,024 characters (its length said), not before; the validation mode is shown (found by mutation testing)', () => {
  const at = 'a'.repeat(1024);
  const over = 'b'.repeat(1025);
  const s = build([
    gateway(),
    route({ rules: [{ matches: [{ path: { value: '/api' }, headers: [{ name: 'x-at', value: at }, { name: 'x-over', value: over }] }], backendRefs: [{ name: 'app', port: 80 }] }] }),
    ext([provider()], { validationMode: 'AllowMissing' }),
    ext([provider()], {}, 'strict'),
    ext([provider()], { validationMode: 'AllowMissingOrFailed' }, 'lenient'),
    policy({ targetRefs: [target('Gateway', 'gw')], jwtAuth: { extensionRef: { name: 'ext' } } }),
  ]);
  const dump = configDump(s) as Record<string, any>;
  const l = dump.listeners[0];
  const r = l.routeDefs[l.routes.any[0]];
  assert.deepEqual(r.match.headers, [
    { name: 'x-at', type: 'Exact', value: at },
    { name: 'x-over', type: 'Exact', value: `${'b'.repeat(1024)}…(1025 characters)` },
  ]);
  const modes = Object.fromEntries(dump.extensions.map((e: { key: string; validationMode: string }) => [e.key, e.validationMode]));
  // AllowMissingOrFailed was shown as AllowMissing (mutation review): a reader would think invalid tokens are refused.
  assert.deepEqual(modes, { 'default/ext': 'AllowMissing', 'default/strict': 'Strict', 'default/lenient': 'AllowMissingOrFailed' });
});

test('a route with a wildcard hostname on a listener with an exact hostname serves the listener\'s host when the wildcard covers it, and nothing when it does not', () => {
  const listener = gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8080, hostname: 'api.example.com' }] });
  const covered = build([listener, route({ hostnames: ['*.example.com'] })]);
  assert.deepEqual(errors(covered), []);
  assert.equal(selectRoute(covered.ports.get(8080)!, req('api.example.com'))?.route.route, 'default/app');
  assert.equal(selectRoute(covered.ports.get(8080)!, req('www.example.com')), undefined);
  const apart = build([listener, route({ hostnames: ['*.other.com'] })]);
  assert.equal(selectRoute(apart.ports.get(8080)!, req('api.example.com')), undefined);
});

test('ListenerPolicy targetSelectors: a denying ListenerPolicy refuses the Gateways of the group and kind its matchLabels select, in its namespace (every namespace from the global policy namespace)', () => {
  const gw = (name: string, ns: string, labels: Doc, port: number): Doc => ({ ...gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port }] }, name, ns), metadata: md(name, ns, { labels }) });
  const lp = (ns: string, selectors: Doc[]): Doc => ({ apiVersion: KGW, kind: 'ListenerPolicy', metadata: md('lp', ns), spec: { targetSelectors: selectors, default: { rbac: { action: 'Allow' } } } });
  const edge = { group: 'gateway.networking.k8s.io', kind: 'Gateway', matchLabels: { tier: 'edge' } };
  const gateways = [gw('a', 'default', { tier: 'edge' }, 8080), gw('b', 'default', { tier: 'internal' }, 8081), gw('c', 'other', { tier: 'edge' }, 8082)];
  const refused = (s: Snapshot): string[] =>
    s.problems.filter((p) => p.resource.startsWith('Gateway/') && p.path === 'spec' && p.severity === 'error').map((p) => `${p.resource}: ${p.message}`);
  const msg = (ns: string) => `ListenerPolicy ${ns}/lp sets spec.default.rbac, which jwtgate does not apply: every request for the Gateway's hosts answers 500 rather than being served without it`;
  assert.deepEqual(refused(compileText([...gateways, lp('default', [edge])].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 })), [`Gateway/default/a: ${msg('default')}`]);
  assert.deepEqual(
    refused(compileText([...gateways, lp('kgateway-system', [edge])].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1, globalPolicyNamespace: 'kgateway-system' })),
    [`Gateway/default/a: ${msg('kgateway-system')}`, `Gateway/other/c: ${msg('kgateway-system')}`],
  );
  // Another group's Gateway kind, or another kind, selects nothing.
  assert.deepEqual(refused(compileText([...gateways, lp('default', [{ ...edge, group: 'networking.istio.io' }, { ...edge, kind: 'ListenerSet' }])].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 })), []);
  // The refused Gateway answers 500 for its hosts; the one not selected is served.
  const s = compileText([...gateways, lp('default', [edge]), route({ parentRefs: [{ name: 'a' }, { name: 'b' }] })].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 });
  assert.equal(selectRoute(s.ports.get(8080)!, req('h'))?.route.invalid, 'ListenerPolicy default/lp sets spec.default.rbac, which jwtgate does not apply');
  assert.equal(selectRoute(s.ports.get(8081)!, req('h'))?.route.invalid, undefined);
  // targetRefs likewise: a Gateway of gateway.networking.k8s.io by name is refused; the same name
  // with another group, or of another kind, refuses nothing (branch no test took).
  const lpRefs = (refs: Doc[]): Doc => ({ apiVersion: KGW, kind: 'ListenerPolicy', metadata: md('lp', 'default'), spec: { targetRefs: refs, default: { rbac: { action: 'Allow' } } } });
  const ref = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'a' };
  assert.deepEqual(refused(compileText([...gateways, lpRefs([ref])].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 })), [`Gateway/default/a: ${msg('default')}`]);
  assert.deepEqual(refused(compileText([...gateways, lpRefs([{ ...ref, group: 'networking.istio.io' }, { ...ref, kind: 'ListenerSet' }])].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 })), []);
});

test('a BackendConfigPolicy with tls in the global policy namespace selecting Services by label: a Service backendRef of any namespace answers 500 rather than go out in cleartext; elsewhere only its own namespace (branch no test took)', () => {
  const bcpDoc: Doc = {
    apiVersion: KGW,
    kind: 'BackendConfigPolicy',
    metadata: md('svc-tls', 'infra'),
    spec: { targetSelectors: [{ group: '', kind: 'Service', matchLabels: { app: 'x' } }], tls: { wellKnownCACertificates: 'System', sni: 'app.internal' } },
  };
  const text = [gateway(), route(), bcpDoc].map((d) => JSON.stringify(d)).join('\n---\n');
  const on = compileText(text, { generation: 1, globalPolicyNamespace: 'infra' }, 't.yaml');
  assert.deepEqual(errors(on), [
    'HTTPRoute/default/app spec.rules[0].backendRefs[0].name: Service default/app is to be reached over TLS (BackendConfigPolicy infra/svc-tls sets tls for Services its targetSelectors select, and jwtgate reads no Service labels), which jwtgate does not originate to backends (it proxies in plain HTTP): requests drawn to it get 500 rather than being sent in cleartext',
  ]);
  const unresolved = selectRoute(on.ports.get(8080)!, req('h'))!.route;
  assert.equal(pickBackend(unresolved, 0)?.target, undefined, 'answered 500, not sent in plain HTTP');
  // Not the global policy namespace: the selector stays in namespace infra, and default/app is served.
  const off = compileText(text, { generation: 1 }, 't.yaml');
  assert.deepEqual(errors(off), []);
  assert.equal(pickBackend(selectRoute(off.ports.get(8080)!, req('h'))!.route, 0)?.target?.key, 'Service/default/app:80');
});

test('a fail-closed listener\'s host is not reported as contested by another Gateway on its port: it answers 500 there, which its own error says (branch no test took)', () => {
  const s = build([
    gateway({ listeners: [{ name: 'sel', protocol: 'HTTP', port: 8080, hostname: 'api.example.com', allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { a: 'b' } } } } }, { name: 'web', protocol: 'HTTP', port: 8080 }] }, 'a'),
    gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] }, 'b'),
    route({ parentRefs: [{ name: 'a', sectionName: 'web' }], hostnames: ['api.example.com'] }, 'ra'),
    route({ parentRefs: [{ name: 'b' }], hostnames: ['api.example.com'] }, 'rb'),
  ]);
  assert.deepEqual(errors(s), [
    "Gateway/default/a spec.listeners[0].allowedRoutes.namespaces.from: allowedRoutes.namespaces.from: Selector is not supported by jwtgate (use Same or All): requests for its hostname get 500 rather than reach another listener's routes",
  ]);
  const sel = selectRoute(s.ports.get(8080)!, req('api.example.com', '/'));
  assert.equal(sel?.listener.name, 'sel');
  assert.match(sel?.route.invalid ?? '', /^listener sel: allowedRoutes\.namespaces\.from: Selector is not supported by jwtgate/);
});

test('contested hosts: a Gateway\'s later wildcard under a suffix that Gateway noted first and another Gateway noted second is reported against the other Gateway (branch no test took)', () => {
  const at = (name: string, ts: string, listeners: Doc[]): Doc => ({ ...gateway({ listeners }, name), metadata: { ...md(name), creationTimestamp: ts } });
  const s = build([
    at('g1', '2024-01-01T00:00:00Z', [{ name: 'http', protocol: 'HTTP', port: 8080 }]),
    at('g2', '2024-02-01T00:00:00Z', [{ name: 'wild', protocol: 'HTTP', port: 8080, hostname: '*.example.com' }, { name: 'any', protocol: 'HTTP', port: 8080 }]),
    route({ parentRefs: [{ name: 'g1' }], hostnames: ['*.example.com'] }, 'r1'),
    route({ parentRefs: [{ name: 'g2', sectionName: 'wild' }], hostnames: ['*.example.com'] }, 'r2'),
    route({ parentRefs: [{ name: 'g2', sectionName: 'any' }], hostnames: ['*.com'] }, 'r3'),
  ]);
  assert.deepEqual(
    errors(s).map((e) => e.slice(0, e.indexOf(': jwtgate serves'))),
    [
      'Gateway/default/g1 spec.listeners[0]: host *.example.com is routed on port 8080 by Gateway default/g2 (listener "wild") and by this Gateway (listener "http")',
      'Gateway/default/g2 spec.listeners[1]: host *.com is routed on port 8080 by Gateway default/g1 (listener "http") and by this Gateway (listener "any")',
    ],
  );
});

test('a ListenerSet listener without hostname on a port its Gateway serves fails closed for every host no other listener takes (branch no test took)', () => {
  const s = build([
    gateway({ allowedListeners: { namespaces: { from: 'Same' } }, listeners: [{ name: 'http', protocol: 'HTTP', port: 8080, hostname: 'api.example.com' }] }),
    route(),
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'ListenerSet', metadata: md('ls'), spec: { parentRef: { name: 'gw' }, listeners: [{ name: 'any', protocol: 'HTTP', port: 8080 }] } },
  ]);
  assert.deepEqual(errors(s), [
    "ListenerSet/default/ls spec.listeners[0]: ListenerSet default/ls listener any: ListenerSets are not supported by jwtgate: requests for any host no other listener of the port takes on port 8080 (Gateway default/gw) get 500 rather than reach the Gateway's other listeners' routes",
  ]);
  const t = s.ports.get(8080)!;
  assert.equal(selectRoute(t, req('api.example.com', '/'))?.route.route, 'default/app');
  assert.match(selectRoute(t, req('www.example.com', '/'))?.route.invalid ?? '', /ListenerSets are not supported by jwtgate/);
});

test('a BackendTLSPolicy without targetRefs, or with targetRefs that is not a list, is warned about as unsupported and marks no backend as TLS; the compile goes on (branch no test took)', () => {
  for (const spec of [{}, { targetRefs: 'app' }, { targetRefs: { kind: 'Service', name: 'app' } }] as Doc[]) {
    const s = build([gateway(), route(), { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'BackendTLSPolicy', metadata: md('b'), spec }]);
    assert.deepEqual(errors(s), [], JSON.stringify(spec));
    assert.ok(s.problems.some((p) => p.resource === 'BackendTLSPolicy/default/b' && p.severity === 'warning' && /^BackendTLSPolicy is not supported by jwtgate/.test(p.message)), JSON.stringify(s.problems));
    assert.equal(pickBackend(selectRoute(s.ports.get(8080)!, req('h'))!.route, 0)?.target?.key, 'Service/default/app:80');
  }
});

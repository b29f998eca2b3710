// The extAuth configuration (TrafficPolicy extAuth + GatewayExtension extAuth.httpService) against
// kgateway's API and translation: fields, defaults and limits, ReferenceGrants, attachment levels,
// filter order, statuses, `check` and /config_dump. The config review's probes, kept as tests:
// seven failed on 9580ae5 (TLS by BackendTLSPolicy or label, the extension's status twice,
// backendRef.weight, kgateway.dev/policy-weight order, a number shown in headersToAdd).

import test from 'node:test';
import assert from 'node:assert/strict';
import { KGW, gateway, md, route, type Doc } from '../fixtures/config/manifests.js';
import { compileText } from '../../src/config/build.js';
import { configDump } from '../../src/config/dump.js';
import { formatCheckReport } from '../../src/config/report.js';
import type { CompiledRoute, Snapshot } from '../../src/config/snapshot.js';

const ext = (extAuth: unknown, name = 'authz', ns = 'default', annotations?: Record<string, string>): Doc => ({
  apiVersion: KGW,
  kind: 'GatewayExtension',
  metadata: md(name, ns, annotations ? { annotations } : {}),
  spec: { extAuth },
});
const hs = (o: Doc = {}): Doc => ({ backendRef: { name: 'authz', port: 4444 }, ...o });
const policy = (spec: Doc, name = 'pol', ns = 'default', annotations?: Record<string, string>): Doc => ({
  apiVersion: KGW,
  kind: 'TrafficPolicy',
  metadata: md(name, ns, annotations ? { annotations } : {}),
  spec,
});
const tgt = (kind: string, name: string, sectionName?: string): Doc => ({ group: 'gateway.networking.k8s.io', kind, name, ...(sectionName ? { sectionName } : {}) });
const grant = (fromKind: string, fromNs: string, toKind: string, toGroup: string, ns: string): Doc => ({
  apiVersion: 'gateway.networking.k8s.io/v1beta1',
  kind: 'ReferenceGrant',
  metadata: md('g', ns),
  spec: { from: [{ group: 'gateway.kgateway.dev', kind: fromKind, namespace: fromNs }], to: [{ group: toGroup, kind: toKind }] },
});

function build(docs: Doc[]): Snapshot {
  return compileText(docs.map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 }, 't.yaml');
}
function build2(text: string): Snapshot {
  return compileText(text, { generation: 1 }, 't.yaml');
}
const errs = (s: Snapshot): string[] => s.problems.filter((p) => p.severity === 'error').map((p) => `${p.resource} ${p.path}: ${p.message}`);
const warns = (s: Snapshot): string[] => s.problems.filter((p) => p.severity === 'warning').map((p) => `${p.resource} ${p.path}: ${p.message}`);
function routes(s: Snapshot): CompiledRoute[] {
  const out: CompiledRoute[] = [];
  for (const pt of s.ports.values()) for (const l of pt.listeners) {
    for (const rs of l.routes.exact.values()) out.push(...rs);
    for (const w of l.routes.wildcard) out.push(...w.routes);
    out.push(...l.routes.any);
  }
  return out;
}
const cond = (s: Snapshot, resource: string, type: string) => s.statuses.find((x) => x.resource === resource)?.conditions.find((c) => c.type === type);
const provider = (s: Snapshot) => routes(s)[0]?.auth.extAuth?.[0]?.provider;

// ---------------------------------------------------------------------------------------------
// 1. Fields, defaults, validation

test('defaults: timeout 2s, statusOnError 403, no retry; retry: {} gives attempts 1, backoff 1s/10s', () => {
  let s = build([ext({ httpService: hs() }), gateway(), route(), policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { extensionRef: { name: 'authz' } } })]);
  assert.deepEqual(errs(s), []);
  const p = provider(s)!;
  assert.equal(p.timeoutMs, 2000);
  assert.equal(p.statusOnError, 403);
  assert.equal(p.retries, 0);
  assert.equal(p.target.host, 'authz.default.svc.cluster.local');
  s = build([ext({ httpService: hs({ retry: {} }) }), gateway(), route(), policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { extensionRef: { name: 'authz' } } })]);
  assert.equal(provider(s)!.retries, 1);
  assert.equal(provider(s)!.backoffBaseMs, 1000);
  assert.equal(provider(s)!.backoffMaxMs, 10000);
  s = build([ext({ httpService: hs({ retry: { attempts: 0 } }) }), gateway(), route(), policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { extensionRef: { name: 'authz' } } })]);
  assert.deepEqual(errs(s), []);
  assert.equal(provider(s)!.retries, 0);
});

const bad: [string, unknown, string, RegExp][] = [
  ['typo headersToFoward', { headersToFoward: ['x'], httpService: hs() }, 'spec.extAuth.headersToFoward', /did you mean "headersToForward"/],
  ['typo in httpService', { httpService: hs({ requestTimout: '1s' }) }, 'spec.extAuth.httpService.requestTimout', /did you mean "requestTimeout"/],
  ['typo in authorizationResponse', { httpService: hs({ authorizationResponse: { headersToBackned: ['x'] } }) }, 'spec.extAuth.httpService.authorizationResponse.headersToBackned', /did you mean/],
  ['typo in retry', { httpService: hs({ retry: { attempt: 2 } }) }, 'spec.extAuth.httpService.retry.attempt', /did you mean "attempts"/],
  ['typo in withRequestBody', { httpService: hs(), withRequestBody: { maxRequestByte: 1 } }, 'spec.extAuth.withRequestBody.maxRequestByte', /did you mean/],
  ['draft API allowedUpstreamHeaders', { httpService: hs({ authorizationResponse: { allowedUpstreamHeaders: ['x'] } }) }, 'spec.extAuth.httpService.authorizationResponse.allowedUpstreamHeaders', /unknown field/],
  ['timeout 1.5s (CRD pattern)', { httpService: hs({ requestTimeout: '1.5s' }) }, 'spec.extAuth.httpService.requestTimeout', /invalid duration/],
  ['timeout 0s (>= 1ms)', { httpService: hs({ requestTimeout: '0s' }) }, 'spec.extAuth.httpService.requestTimeout', /at least 1ms/],
  ['timeout 100000s (5 digits)', { httpService: hs({ requestTimeout: '100000s' }) }, 'spec.extAuth.httpService.requestTimeout', /invalid duration/],
  ['timeout a number', { httpService: hs({ requestTimeout: 5 }) }, 'spec.extAuth.httpService.requestTimeout', /duration string/],
  ['attempts -1', { httpService: hs({ retry: { attempts: -1 } }) }, 'spec.extAuth.httpService.retry.attempts', /0/],
  ['backoff without baseInterval', { httpService: hs({ retry: { backoff: { maxInterval: '1s' } } }) }, 'spec.extAuth.httpService.retry.backoff.baseInterval', /Required/],
  ['maxInterval < baseInterval', { httpService: hs({ retry: { backoff: { baseInterval: '1s', maxInterval: '500ms' } } }) }, 'spec.extAuth.httpService.retry.backoff.maxInterval', /greater than or equal/],
  ['statusOnError 512', { httpService: hs(), statusOnError: 512 }, 'spec.extAuth.statusOnError', /511/],
  ['percentageEnabled 101', { httpService: hs(), percentageEnabled: 101 }, 'spec.extAuth.percentageEnabled', /100/],
  ['percentageEnabled -1', { httpService: hs(), percentageEnabled: -1 }, 'spec.extAuth.percentageEnabled', /0/],
  ['percentageEnabled "50"', { httpService: hs(), percentageEnabled: '50' }, 'spec.extAuth.percentageEnabled', /integer/],
  ['maxRequestBytes 0', { httpService: hs(), withRequestBody: { maxRequestBytes: 0 } }, 'spec.extAuth.withRequestBody.maxRequestBytes', /1/],
  ['withRequestBody without maxRequestBytes', { httpService: hs(), withRequestBody: {} }, 'spec.extAuth.withRequestBody.maxRequestBytes', /Required/],
  ['statPrefix ""', { httpService: hs(), statPrefix: '' }, 'spec.extAuth.statPrefix', /.+/],
  ['Service without port', { httpService: { backendRef: { name: 'authz' } } }, 'spec.extAuth.httpService.backendRef.port', /must have port for Service reference/],
  ['port 70000', { httpService: { backendRef: { name: 'authz', port: 70000 } } }, 'spec.extAuth.httpService.backendRef.port', /65535/],
  ['both services', { httpService: hs(), grpcService: { backendRef: { name: 'x', port: 1 } } }, 'spec.extAuth', /exactly one of grpcService, httpService/],
  ['headersToForward a string', { httpService: hs(), headersToForward: 'x' }, 'spec.extAuth.headersToForward', /must be a list/],
  ['headersToAdd number value', { httpService: hs({ authorizationRequest: { headersToAdd: { a: 1 } } }) }, 'spec.extAuth.httpService.authorizationRequest.headersToAdd.a', /must be of type string/],
  ['headersToAdd a list', { httpService: hs({ authorizationRequest: { headersToAdd: [{ name: 'a', value: 'b' }] } }) }, 'spec.extAuth.httpService.authorizationRequest.headersToAdd', /map/],
  ['extAuth a list', [], 'spec.extAuth', /must be an object/],
  ['httpService a string', { httpService: 'x' }, 'spec.extAuth.httpService', /must be an object/],
  ['backendRef kind ConfigMap', { httpService: { backendRef: { kind: 'ConfigMap', name: 'x' } } }, 'spec.extAuth.httpService.backendRef', /not supported/],
];
for (const [name, ea, path, msg] of bad) {
  test(`invalid GatewayExtension extAuth: ${name}`, () => {
    const s = build([ext(ea), gateway(), route(), policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { extensionRef: { name: 'authz' } } })]);
    const hit = s.problems.find((p) => p.severity === 'error' && p.resource === 'GatewayExtension/default/authz' && p.path === path);
    assert.ok(hit, `no error at ${path}: ${JSON.stringify(errs(s))}`);
    assert.match(hit.message, msg);
    // The policy using it fails closed.
    assert.ok(errs(s).some((e) => e.startsWith('TrafficPolicy/default/pol spec.extAuth.extensionRef')), JSON.stringify(errs(s)));
  });
}

test('backendRef.weight is a field of gwv1.BackendRef (the CRD accepts it, default 1): not an error', () => {
  const s = build([ext({ httpService: { backendRef: { name: 'authz', port: 4444, weight: 1 } } }), gateway(), route(), policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { extensionRef: { name: 'authz' } } })]);
  assert.deepEqual(errs(s), []);
});

test('kind Backend with group gateway.kgateway.dev resolves; group/kind default to core Service', () => {
  const be: Doc = { apiVersion: KGW, kind: 'Backend', metadata: md('authz-be'), spec: { type: 'Static', static: { hosts: [{ host: '10.0.0.9', port: 9000 }] } } };
  const s = build([be, ext({ httpService: { backendRef: { group: 'gateway.kgateway.dev', kind: 'Backend', name: 'authz-be' } } }), gateway(), route(), policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { extensionRef: { name: 'authz' } } })]);
  assert.deepEqual(errs(s), []);
  assert.deepEqual(provider(s)!.target, { host: '10.0.0.9', port: 9000 });
});

test('TrafficPolicy extAuth shapes: [], {}, both, a number name, a typo', () => {
  const cases: [unknown, string, RegExp][] = [
    [[], 'spec.extAuth', /must be an object/],
    [{}, 'spec.extAuth', /exactly one of extensionRef, disable/],
    [{ extensionRef: { name: 'authz' }, disable: {} }, 'spec.extAuth', /exactly one/],
    [{ extensionRef: { name: 5 } }, 'spec.extAuth.extensionRef.name', /.+/],
    [{ extensionRef: { name: 'authz' }, withRequestBdy: { maxRequestBytes: 1 } }, 'spec.extAuth.withRequestBdy', /did you mean "withRequestBody"/],
    [{ extensionRef: { name: 'authz' }, contextExtensions: { a: 1 } }, 'spec.extAuth.contextExtensions.a', /string/],
  ];
  for (const [ea, path, msg] of cases) {
    const s = build([ext({ httpService: hs() }), gateway(), route(), policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: ea })]);
    const hit = s.problems.find((p) => p.severity === 'error' && p.resource === 'TrafficPolicy/default/pol' && p.path === path);
    assert.ok(hit, `${JSON.stringify(ea)}: ${JSON.stringify(errs(s))}`);
    assert.match(hit.message, msg);
  }
});

test('weird YAML does not crash compile', () => {
  const texts = [
    'apiVersion: gateway.kgateway.dev/v1alpha1\nkind: GatewayExtension\nmetadata: {name: a}\nspec:\n  extAuth:\n    httpService:\n      backendRef: {name: x, port: 1}\n      authorizationRequest:\n        headersToAdd: {a: 1, b: [1], c: {d: e}, "": x, __proto__: y, constructor: z}\n',
    'apiVersion: gateway.kgateway.dev/v1alpha1\nkind: GatewayExtension\nmetadata: {name: a}\nspec:\n  extAuth:\n    headersToForward: [1, null, {a: b}, ""]\n    httpService:\n      backendRef: [1]\n      authorizationResponse: []\n      retry: 3\n',
    'apiVersion: gateway.kgateway.dev/v1alpha1\nkind: GatewayExtension\nmetadata: {name: a}\nspec:\n  type: ExtAuth\n  extAuth:\n',
    'apiVersion: gateway.kgateway.dev/v1alpha1\nkind: GatewayExtension\nmetadata: {name: a}\nspec:\n  extAuth: {httpService: {backendRef: {name: x, port: 1}, retry: {backoff: {baseInterval: 1, maxInterval: []}}}, withRequestBody: []}\n',
    'apiVersion: gateway.kgateway.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: p}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]\n  extAuth: {extensionRef: [], withRequestBody: {maxRequestBytes: "1"}}\n',
    'apiVersion: gateway.kgateway.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: p}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]\n  extAuth: {extensionRef: {name: a, namespace: 7}}\n---\napiVersion: gateway.kgateway.dev/v1alpha1\nkind: GatewayExtension\nmetadata: {name: a}\nspec: {extAuth: {httpService: {backendRef: {name: x, port: 1}, pathPrefix: 5}}}\n',
  ];
  for (const t of texts) {
    const s = build2(t);
    assert.ok(errs(s).length > 0, t);
    configDump(s);
    formatCheckReport(s);
  }
});

// ---------------------------------------------------------------------------------------------
// 2. ReferenceGrants

test('cross-namespace Service backendRef needs a grant from GatewayExtension', () => {
  const e = ext({ httpService: { backendRef: { name: 'authz', namespace: 'auth', port: 4444 } } });
  const pol = policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { extensionRef: { name: 'authz' } } });
  let s = build([e, gateway(), route(), pol]);
  assert.ok(errs(s).some((x) => x.includes('spec.extAuth.httpService.backendRef') && x.includes('missing reference grant')), JSON.stringify(errs(s)));
  s = build([e, gateway(), route(), pol, grant('GatewayExtension', 'default', 'Service', '', 'auth')]);
  assert.deepEqual(errs(s), []);
  assert.equal(provider(s)!.target.host, 'authz.auth.svc.cluster.local');
  // A grant for TrafficPolicy is not one for the GatewayExtension.
  s = build([e, gateway(), route(), pol, grant('TrafficPolicy', 'default', 'Service', '', 'auth')]);
  assert.ok(errs(s).length > 0);
});

test('an extension whose backend does not resolve is not reported Accepted (its status)', () => {
  const e = ext({ httpService: { backendRef: { name: 'authz', namespace: 'auth', port: 4444 } } });
  const s = build([e, gateway(), route(), policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { extensionRef: { name: 'authz' } } })]);
  const c = cond(s, 'GatewayExtension/default/authz', 'Accepted');
  assert.equal(c?.status, 'False', `status says ${JSON.stringify(c)} while check has ${JSON.stringify(errs(s))}`);
});

test('cross-namespace extensionRef: no grant needed (kgateway default ReferenceGrantMode PERMISSIVE), as jwtAuth', () => {
  const s = build([ext({ httpService: hs() }, 'authz', 'auth'), gateway(), route(), policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { extensionRef: { name: 'authz', namespace: 'auth' } } })]);
  assert.deepEqual(errs(s), []);
  assert.equal(provider(s)!.target.host, 'authz.auth.svc.cluster.local');
});

// ---------------------------------------------------------------------------------------------
// 3. Attachment

const two = (): Doc[] => [ext({ httpService: hs() }, 'a'), ext({ httpService: hs() }, 'b')];
const entries = (s: Snapshot) => (routes(s)[0]!.auth.extAuth ?? []).map((e) => `${e.provider.filterName}<${e.origin}>${e.body ? e.body.maxBytes : ''}`);

test('within a level: higher weight wins; the loser is Overridden', () => {
  const s = build([
    ...two(),
    gateway(),
    route(),
    policy({ targetRefs: [tgt('HTTPRoute', 'app')], extAuth: { extensionRef: { name: 'a' } } }, 'p1'),
    policy({ targetRefs: [tgt('HTTPRoute', 'app')], extAuth: { extensionRef: { name: 'b' } } }, 'p2', 'default', { 'kgateway.dev/policy-weight': '10' }),
  ]);
  assert.deepEqual(errs(s), []);
  assert.deepEqual(entries(s), ['ext_auth/default/b<TrafficPolicy/default/p2@HTTPRoute>']);
  assert.equal(cond(s, 'TrafficPolicy/default/p1', 'Attached')?.reason, 'Overridden');
});

test('Gateway + Listener + route all run in name order; the same extension once, with the most specific body', () => {
  const s = build([
    ...two(),
    ext({ httpService: hs() }, 'c'),
    gateway(),
    route(),
    policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { extensionRef: { name: 'c' }, withRequestBody: { maxRequestBytes: 5 } } }, 'g'),
    policy({ targetRefs: [tgt('Gateway', 'gw', 'http')], extAuth: { extensionRef: { name: 'b' } } }, 'l'),
    policy({ targetRefs: [tgt('HTTPRoute', 'app')], extAuth: { extensionRef: { name: 'c' }, withRequestBody: { maxRequestBytes: 9 } } }, 'r'),
  ]);
  assert.deepEqual(errs(s), []);
  assert.deepEqual(entries(s), ['ext_auth/default/b<TrafficPolicy/default/l@Listener>', 'ext_auth/default/c<TrafficPolicy/default/r@HTTPRoute>9']);
  for (const n of ['g', 'l', 'r']) assert.equal(cond(s, `TrafficPolicy/default/${n}`, 'Attached')?.reason, 'Attached', n);
});

test('route side: rule beats HTTPRoute (its disable does not apply); Gateway disable turns all off', () => {
  let s = build([
    ...two(),
    gateway(),
    route(),
    policy({ targetRefs: [tgt('HTTPRoute', 'app')], extAuth: { disable: {} } }, 'r'),
    policy({ targetRefs: [tgt('HTTPRoute', 'app', 'main')], extAuth: { extensionRef: { name: 'a' } } }, 'rule'),
  ]);
  assert.deepEqual(entries(s), ['ext_auth/default/a<TrafficPolicy/default/rule@Rule>']);
  assert.equal(cond(s, 'TrafficPolicy/default/r', 'Attached')?.reason, 'Overridden');
  s = build([
    ...two(),
    gateway(),
    route(),
    policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { disable: {} } }, 'g'),
    policy({ targetRefs: [tgt('HTTPRoute', 'app', 'main')], extAuth: { extensionRef: { name: 'a' } } }, 'rule'),
  ]);
  assert.equal(routes(s)[0]!.auth.extAuth, undefined);
  assert.equal(routes(s)[0]!.auth.extAuthOff, 'TrafficPolicy/default/g@Gateway');
});

test('GatewayExtension kgateway.dev/policy-weight orders ext_authz filters (higher first), before the name', () => {
  const s = build([
    ext({ httpService: hs() }, 'a'),
    ext({ httpService: hs() }, 'b', 'default', { 'kgateway.dev/policy-weight': '10' }),
    gateway(),
    route(),
    policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { extensionRef: { name: 'a' } } }, 'g'),
    policy({ targetRefs: [tgt('HTTPRoute', 'app')], extAuth: { extensionRef: { name: 'b' } } }, 'r'),
  ]);
  assert.deepEqual(entries(s).map((e) => e.split('<')[0]), ['ext_auth/default/b', 'ext_auth/default/a']);
});

// ---------------------------------------------------------------------------------------------
// 4. check and config_dump

test('config_dump and check show no headersToAdd value, no forwarded header value', () => {
  const SECRET = 'Bearer s3cr3t-static-token';
  const s = build([
    ext({ headersToForward: ['x-ext-authz'], httpService: hs({ pathPrefix: '/verify', authorizationRequest: { headersToAdd: { authorization: SECRET, 'x-api-key': 'k3y-value' } } }) }),
    gateway(),
    route(),
    policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { extensionRef: { name: 'authz' } } }),
  ]);
  assert.deepEqual(errs(s), []);
  const dump = JSON.stringify(configDump(s));
  assert.ok(!dump.includes('s3cr3t') && !dump.includes('k3y-value'));
  const report = formatCheckReport(s);
  assert.ok(!report.includes('s3cr3t') && !report.includes('k3y-value'));
  assert.match(dump, /authz\.default\.svc\.cluster\.local:4444\/verify/);
});

test('an error about a headersToAdd value does not quote the value (a static key)', () => {
  const s = build2(
    'apiVersion: gateway.kgateway.dev/v1alpha1\nkind: GatewayExtension\nmetadata: {name: a}\nspec:\n  extAuth:\n    httpService:\n      backendRef: {name: x, port: 1}\n      authorizationRequest:\n        headersToAdd: {x-api-key: 98765432123}\n',
  );
  const text = JSON.stringify(s.problems);
  assert.ok(!text.includes('98765432123'), text);
});

test('an uppercase header name in the lists is warned about', () => {
  const s = build([ext({ headersToForward: ['X-Ext-Authz'], httpService: hs({ authorizationResponse: { headersToBackend: ['X-User'] } }) }), gateway(), route()]);
  assert.equal(warns(s).filter((w) => w.includes('never matches')).length, 2, JSON.stringify(warns(s)));
});

// ---------------------------------------------------------------------------------------------
// TLS to the authorization server (README: "a backend that TLS is configured for
// (BackendConfigPolicy tls, BackendTLSPolicy ...)" makes the extension invalid)

const pol0 = (): Doc => policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { extensionRef: { name: 'authz' } } });

test('a BackendConfigPolicy tls on the authz Service makes the extension invalid', () => {
  const bcp: Doc = { apiVersion: KGW, kind: 'BackendConfigPolicy', metadata: md('tls'), spec: { targetRefs: [{ group: '', kind: 'Service', name: 'authz' }], tls: { insecureSkipVerify: true } } };
  const s = build([ext({ httpService: hs() }), gateway(), route(), pol0(), bcp]);
  assert.ok(errs(s).some((e) => e.includes('TLS to an authorization server')), JSON.stringify(errs(s)));
});

test('a BackendTLSPolicy on the authz Service makes the extension invalid', () => {
  const btp: Doc = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'BackendTLSPolicy',
    metadata: md('btp'),
    spec: { targetRefs: [{ group: '', kind: 'Service', name: 'authz' }], validation: { hostname: 'authz.example.com', wellKnownCACertificates: 'System' } },
  };
  const s = build([ext({ httpService: hs() }), gateway(), route(), pol0(), btp]);
  assert.ok(errs(s).some((e) => e.includes('TLS to an authorization server')), JSON.stringify(errs(s)));
  assert.equal(provider(s), undefined);
});

test('a BackendConfigPolicy tls selecting Services by label makes the extension invalid (as a route backendRef)', () => {
  const bcp: Doc = { apiVersion: KGW, kind: 'BackendConfigPolicy', metadata: md('tls'), spec: { targetSelectors: [{ group: '', kind: 'Service', matchLabels: { app: 'authz' } }], tls: { insecureSkipVerify: true } } };
  const s = build([ext({ httpService: hs() }), gateway(), route(), pol0(), bcp]);
  assert.ok(errs(s).some((e) => e.includes('TLS to an authorization server')), JSON.stringify(errs(s)));
});

test('an invalid extAuth extension: its status message is its own error, not "expected gatewayextension type JWT"', () => {
  const s = build([ext({ grpcService: { backendRef: { name: 'x', port: 1 } } }), gateway(), route(), pol0()]);
  const c = cond(s, 'GatewayExtension/default/authz', 'Accepted');
  assert.equal(c?.status, 'False');
  assert.doesNotMatch(c!.message, /expected gatewayextension type JWT/);
});

test('an extAuth.disable that wins over an extAuth.extensionRef at the same level only by the tie-break is warned about, as for jwtAuth; with a higher weight it is not', () => {
  const open = (annotations?: Record<string, string>) => policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { disable: {} } }, 'debug-open', 'default', annotations);
  const tie = build([ext({ httpService: hs() }), gateway(), route(), policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { extensionRef: { name: 'authz' } } }, 'ext-policy'), open()]);
  assert.deepEqual(
    warns(tie).filter((w) => /tie-break/.test(w)),
    [
      'TrafficPolicy/default/debug-open spec.extAuth.disable: extAuth.disable of TrafficPolicy default/debug-open wins over extAuth.extensionRef of TrafficPolicy default/ext-policy on Gateway default/gw only by the tie-break (same kgateway.dev/policy-weight 0; neither has a creationTimestamp, so the first by namespace/name, default/debug-open): the ext auth checks are off there. If that is meant, give default/debug-open a higher kgateway.dev/policy-weight annotation than default/ext-policy; if not, remove one of the two policies (or give default/ext-policy the higher weight)',
    ],
  );
  const meant = build([ext({ httpService: hs() }), gateway(), route(), policy({ targetRefs: [tgt('Gateway', 'gw')], extAuth: { extensionRef: { name: 'authz' } } }, 'ext-policy'), open({ 'kgateway.dev/policy-weight': '5' })]);
  assert.deepEqual(warns(meant).filter((w) => /tie-break/.test(w)), []);
});

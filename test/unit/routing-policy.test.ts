// TrafficPolicy attachment and precedence (spec §2.1, §2.4): Gateway < listener < HTTPRoute <
// rule < ExtensionRef; weight then age within a level (filter order among ExtensionRefs); the same extension at two levels runs once;
// different extensions at gateway and route levels both run (AND); `disable` anywhere that
// applies turns JWT off; attachment statuses.

import test from 'node:test';
import assert from 'node:assert/strict';
import { keyPair } from '../fixtures/auth/keys.js';
import { compileText } from '../../src/config/build.js';
import type { RouteAuth, Snapshot } from '../../src/config/snapshot.js';
import type { GatewayRequest } from '../../src/http/exchange.js';
import { selectRoute } from '../../src/routing/match.js';
import { foldPolicies, type AttachedPolicy, type LevelPolicies } from '../../src/routing/policy-attachment.js';
import type { RetrySpec } from '../../src/proxy/retry.js';
import { configDumpText } from '../../src/config/dump.js';

type Doc = Record<string, unknown>;
const GWAPI = 'gateway.networking.k8s.io/v1';
const KGW = 'gateway.kgateway.dev/v1alpha1';
const JWKS = JSON.stringify({ keys: [{ ...keyPair('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid: 'k', alg: 'ES256' }] });

const gateway: Doc = {
  apiVersion: GWAPI,
  kind: 'Gateway',
  metadata: { name: 'gw', namespace: 'default', labels: { tier: 'edge' } },
  spec: {
    gatewayClassName: 'kgateway',
    listeners: [
      { name: 'http', protocol: 'HTTP', port: 8080 },
      { name: 'other', protocol: 'HTTP', port: 9090 },
    ],
  },
};

const route: Doc = {
  apiVersion: GWAPI,
  kind: 'HTTPRoute',
  metadata: { name: 'app', namespace: 'default', labels: { team: 'shop' } },
  spec: {
    parentRefs: [{ name: 'gw' }],
    rules: [
      { name: 'public', matches: [{ path: { value: '/public' } }], backendRefs: [{ name: 'app', port: 80 }] },
      { name: 'private', matches: [{ path: { value: '/private' } }], backendRefs: [{ name: 'app', port: 80 }] },
    ],
  },
};

function ext(name: string, ns = 'default'): Doc {
  return { apiVersion: KGW, kind: 'GatewayExtension', metadata: { name, namespace: ns }, spec: { jwt: { providers: [{ name: 'p', issuer: name, jwks: { local: { inline: JWKS } } }] } } };
}

function pol(name: string, spec: Doc, created?: string): Doc {
  return { apiVersion: KGW, kind: 'TrafficPolicy', metadata: { name, namespace: 'default', ...(created ? { creationTimestamp: created } : {}) }, spec };
}

const onGateway = (sectionName?: string): Doc => ({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw', ...(sectionName ? { sectionName } : {}) }] });
const onRoute = (sectionName?: string): Doc => ({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'app', ...(sectionName ? { sectionName } : {}) }] });
const jwt = (extName: string, ns?: string): Doc => ({ jwtAuth: { extensionRef: { name: extName, ...(ns ? { namespace: ns } : {}) } } });
const disable: Doc = { jwtAuth: { disable: {} } };

/** The route with an ExtensionRef filter to `policy` on rule `private`. */
function routeWithFilter(policy: string): Doc {
  const r = structuredClone(route) as { spec: { rules: Doc[] } };
  r.spec.rules[1]!['filters'] = [{ type: 'ExtensionRef', extensionRef: { group: 'gateway.kgateway.dev', kind: 'TrafficPolicy', name: policy } }];
  return r as Doc;
}

function build(docs: Doc[]): Snapshot {
  const s = compileText(docs.map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 }, 'pol.yaml');
  assert.deepEqual(
    s.problems.filter((p) => p.severity === 'error'),
    [],
  );
  return s;
}

function auth(s: Snapshot, path: string, port = 8080): RouteAuth {
  const r: GatewayRequest = { method: 'GET', path, query: '', host: 'h', authority: 'h', headers: [], remoteAddress: '', scheme: 'http' };
  const sel = selectRoute(s.ports.get(port)!, r);
  assert.ok(sel, `a route for ${path}`);
  return sel.route.auth;
}

const keys = (a: RouteAuth): string[] => a.jwt.map((e) => e.key);

function attached(s: Snapshot, name: string): string {
  const c = s.statuses.find((x) => x.resource === `TrafficPolicy/default/${name}`)?.conditions.find((x) => x.type === 'Attached');
  return `${c?.status}/${c?.reason}`;
}

test('Gateway level: every route of every listener', () => {
  const s = build([gateway, route, ext('a'), pol('p', { ...onGateway(), ...jwt('a') })]);
  for (const [path, port] of [['/public', 8080], ['/private', 8080], ['/private', 9090]] as const) {
    const a = auth(s, path, port);
    assert.deepEqual(keys(a), ['default/a']);
    assert.deepEqual(a.origins, ['TrafficPolicy/default/p@Gateway']);
    assert.equal(a.disabled, false);
  }
  assert.equal(attached(s, 'p'), 'True/Attached');
});

test('listener level (sectionName): only that listener', () => {
  const routeBoth = structuredClone(route) as { spec: { parentRefs: Doc[] } };
  routeBoth.spec.parentRefs = [{ name: 'gw', sectionName: 'http' }, { name: 'gw', sectionName: 'other' }];
  const s = build([gateway, routeBoth as Doc, ext('a'), pol('p', { ...onGateway('http'), ...jwt('a') })]);
  assert.deepEqual(auth(s, '/public', 8080).origins, ['TrafficPolicy/default/p@Listener']);
  assert.deepEqual(keys(auth(s, '/public', 9090)), []);
});

test('same extension at gateway and route level: runs once, the most specific origin is kept', () => {
  const s = build([gateway, route, ext('a'), pol('g', { ...onGateway(), ...jwt('a') }), pol('r', { ...onRoute(), ...jwt('a') })]);
  const a = auth(s, '/public');
  assert.deepEqual(keys(a), ['default/a']);
  assert.deepEqual(a.origins, ['TrafficPolicy/default/r@HTTPRoute']);
  assert.equal(attached(s, 'g'), 'True/Attached');
  assert.equal(attached(s, 'r'), 'True/Attached');
});

test('different extensions at gateway and route level: both run (AND), in filter-name order', () => {
  const s = build([gateway, route, ext('zeta'), ext('alpha', 'auth'), pol('g', { ...onGateway(), ...jwt('zeta') }), pol('r', { ...onRoute(), ...jwt('alpha', 'auth') })]);
  const a = auth(s, '/public');
  // jwt/auth/alpha < jwt/default/zeta
  assert.deepEqual(a.jwt.map((e) => e.filterName), ['jwt/auth/alpha', 'jwt/default/zeta']);
  assert.deepEqual(a.origins, ['TrafficPolicy/default/r@HTTPRoute', 'TrafficPolicy/default/g@Gateway']);
});

test('different extensions at gateway and listener level: both run', () => {
  const s = build([gateway, route, ext('a'), ext('b'), pol('g', { ...onGateway(), ...jwt('a') }), pol('l', { ...onGateway('http'), ...jwt('b') })]);
  assert.deepEqual(keys(auth(s, '/public')), ['default/a', 'default/b']);
});

test('route side: ExtensionRef > rule (sectionName) > whole HTTPRoute; losers are Overridden', () => {
  const s = build([
    gateway,
    routeWithFilter('f'),
    ext('route-ext'),
    ext('rule-ext'),
    ext('filter-ext'),
    pol('r', { ...onRoute(), ...jwt('route-ext') }),
    pol('rule', { ...onRoute('private'), ...jwt('rule-ext') }),
    pol('f', jwt('filter-ext')),
  ]);
  const priv = auth(s, '/private');
  assert.deepEqual(keys(priv), ['default/filter-ext']);
  assert.deepEqual(priv.origins, ['TrafficPolicy/default/f@ExtensionRef']);
  const pub = auth(s, '/public');
  assert.deepEqual(keys(pub), ['default/route-ext']);
  assert.equal(attached(s, 'f'), 'True/Attached');
  assert.equal(attached(s, 'rule'), 'False/Overridden');
  assert.equal(attached(s, 'r'), 'True/Attached', 'still effective on the public rule');
});

test('rule sectionName only affects that rule', () => {
  const s = build([gateway, route, ext('a'), pol('p', { ...onRoute('private'), ...jwt('a') })]);
  assert.deepEqual(keys(auth(s, '/private')), ['default/a']);
  assert.deepEqual(auth(s, '/private').origins, ['TrafficPolicy/default/p@Rule']);
  assert.deepEqual(keys(auth(s, '/public')), []);
});

test('within a level the oldest policy wins, then the name', () => {
  const s = build([
    gateway,
    route,
    ext('a'),
    ext('b'),
    pol('newer', { ...onGateway(), ...jwt('a') }, '2024-01-01T00:00:00Z'),
    pol('older', { ...onGateway(), ...jwt('b') }, '2020-01-01T00:00:00Z'),
  ]);
  assert.deepEqual(keys(auth(s, '/public')), ['default/b']);
  assert.equal(attached(s, 'older'), 'True/Attached');
  assert.equal(attached(s, 'newer'), 'False/Overridden');
  const byName = build([gateway, route, ext('a'), ext('b'), pol('p2', { ...onGateway(), ...jwt('a') }), pol('p1', { ...onGateway(), ...jwt('b') })]);
  assert.deepEqual(keys(auth(byName, '/public')), ['default/b']);
});

test('a policy without jwtAuth does not take part in jwtAuth precedence', () => {
  const s = build([gateway, route, ext('a'), pol('empty', { ...onGateway() }, '2000-01-01T00:00:00Z'), pol('p', { ...onGateway(), ...jwt('a') })]);
  assert.deepEqual(keys(auth(s, '/public')), ['default/a']);
});

test('disable on the route turns off gateway-level JWT (e2e TestJwtDisable)', () => {
  const s = build([gateway, route, ext('a'), pol('g', { ...onGateway(), ...jwt('a') }), pol('off', { ...onRoute('public'), ...disable })]);
  assert.deepEqual(auth(s, '/public'), { jwt: [], origins: ['TrafficPolicy/default/off@Rule'], disabled: true });
  assert.deepEqual(keys(auth(s, '/private')), ['default/a']);
});

test('disable on the Gateway also turns off route-level JWT', () => {
  const s = build([gateway, route, ext('a'), pol('off', { ...onGateway(), ...disable }), pol('r', { ...onRoute(), ...jwt('a') })]);
  const a = auth(s, '/public');
  assert.equal(a.disabled, true);
  assert.deepEqual(a.jwt, []);
  assert.deepEqual(a.origins, ['TrafficPolicy/default/off@Gateway']);
});

test('several ExtensionRef filters on a rule: the first in filter order with jwtAuth wins, whatever the ages and weights (kgateway keeps the filters\' order; found by a policy fuzzer: a newer first filter with JWT lost to an older disable, 200 without a token)', () => {
  const r = structuredClone(route) as { spec: { rules: Doc[] } };
  const f = (name: string) => ({ type: 'ExtensionRef', extensionRef: { group: 'gateway.kgateway.dev', kind: 'TrafficPolicy', name } });
  r.spec.rules[1]!['filters'] = [f('none'), f('require'), f('off')];
  const weighted = (name: string, spec: Doc, created: string, weight: string): Doc => {
    const d = pol(name, spec, created) as { metadata: Record<string, unknown> };
    d.metadata['annotations'] = { 'kgateway.dev/policy-weight': weight };
    return d as Doc;
  };
  const s = build([gateway, r as Doc, ext('a'), pol('none', {}, '2023-01-01T00:00:00Z'), pol('require', jwt('a'), '2024-05-01T00:00:00Z'), weighted('off', disable, '2024-01-01T00:00:00Z', '100')]);
  const a = auth(s, '/private');
  assert.equal(a.disabled, false);
  assert.deepEqual(keys(a), ['default/a']);
  assert.deepEqual(a.origins, ['TrafficPolicy/default/require@ExtensionRef']);
  assert.equal(attached(s, 'off'), 'False/Overridden');
  // The other order: the disable comes first and wins.
  r.spec.rules[1]!['filters'] = [f('off'), f('require')];
  assert.equal(auth(build([gateway, r as Doc, ext('a'), pol('require', jwt('a'), '2020-01-01T00:00:00Z'), pol('off', disable, '2024-01-01T00:00:00Z')]), '/private').disabled, true);
});

test('disable through an ExtensionRef filter', () => {
  const s = build([gateway, routeWithFilter('off'), ext('a'), pol('g', { ...onGateway(), ...jwt('a') }), pol('off', disable)]);
  assert.equal(auth(s, '/private').disabled, true);
  assert.equal(auth(s, '/public').disabled, false);
});

test('a route-level extension overrides a route-level disable when it is more specific', () => {
  const s = build([gateway, routeWithFilter('on'), ext('a'), pol('off', { ...onRoute(), ...disable }), pol('on', jwt('a'))]);
  assert.deepEqual(keys(auth(s, '/private')), ['default/a']);
  assert.equal(auth(s, '/public').disabled, true);
  assert.equal(attached(s, 'off'), 'True/Attached');
});

test('targetSelectors attach by labels in the policy namespace', () => {
  const s = build([
    gateway,
    route,
    ext('a'),
    pol('sel', { targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', matchLabels: { team: 'shop' } }], ...jwt('a') }),
  ]);
  assert.deepEqual(auth(s, '/public').origins, ['TrafficPolicy/default/sel@HTTPRoute']);
});

test('global policy namespace (kgateway KGW_GLOBAL_POLICY_NAMESPACE): its targetSelectors reach every namespace, its targetRefs do not', () => {
  const inNs = (d: Doc, ns: string): Doc => ({ ...d, metadata: { ...(d['metadata'] as Doc), namespace: ns } });
  const selRoute = { targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', matchLabels: { team: 'shop' } }] };
  const selListener = { targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', matchLabels: { tier: 'edge' }, sectionName: 'other' }] };
  const docs = [gateway, route, ext('a', 'infra'), ext('b', 'infra'), inNs(pol('global-jwt', { ...selRoute, ...jwt('a') }), 'infra'), inNs(pol('global-listener', { ...selListener, ...jwt('b') }), 'infra'), inNs(pol('by-name', { ...onRoute(), ...jwt('b') }), 'infra')];
  const text = docs.map((d) => JSON.stringify(d)).join('\n---\n');

  // Without the setting (kgateway's default) nothing attaches, and check says why.
  const off = compileText(text, { generation: 1 });
  assert.deepEqual(keys(auth(off, '/public')), []);
  const w = off.problems.find((p) => p.resource === 'TrafficPolicy/infra/global-jwt' && p.path === 'spec.targetSelectors[0]');
  assert.equal(w?.severity, 'warning');
  assert.match(w!.message, /matchLabels select no HTTPRoute in namespace infra, only HTTPRoute default\/app in other namespaces: kgateway attaches a policy to another namespace only from its global policy namespace \(KGW_GLOBAL_POLICY_NAMESPACE\).*--global-policy-namespace infra/);

  // With it, the selectors attach across namespaces (route level and a listener by sectionName);
  // the policy naming its target stays namespace-local.
  const on = compileText(text, { generation: 1, globalPolicyNamespace: 'infra' });
  // Only that the two extensions both run on listener "other" (a and b at two levels).
  assert.deepEqual(
    on.problems.filter((p) => p.resource === 'TrafficPolicy/infra/global-jwt' || p.resource === 'TrafficPolicy/infra/global-listener').map((p) => `${p.resource} ${p.path}`),
    ['TrafficPolicy/infra/global-jwt spec.jwtAuth.extensionRef'],
  );
  assert.deepEqual(auth(on, '/public').origins, ['TrafficPolicy/infra/global-jwt@HTTPRoute']);
  assert.deepEqual(keys(auth(on, '/public', 9090)).sort(), ['infra/a', 'infra/b']);
  assert.match(on.problems.find((p) => p.resource === 'TrafficPolicy/infra/by-name')!.message, /target HTTPRoute default\/app not found in namespace infra/);
  const st = on.statuses.find((x) => x.resource === 'TrafficPolicy/infra/global-jwt')!;
  assert.equal(st.conditions.find((c) => c.type === 'Attached')?.status, 'True');

  // Another namespace's policies stay local even with the setting, and the warning names the global namespace.
  const elsewhere = compileText(text, { generation: 1, globalPolicyNamespace: 'kgateway-system' });
  assert.deepEqual(keys(auth(elsewhere, '/public')), []);
  const w2 = elsewhere.problems.find((p) => p.resource === 'TrafficPolicy/infra/global-jwt' && p.path === 'spec.targetSelectors[0]');
  assert.match(w2!.message, /only policies in the global policy namespace kgateway-system \(--global-policy-namespace\) attach to another namespace.*move the policy to namespace kgateway-system$/);
});

test('a selector whose sectionName the selected resources lack: one warning for the selector when it attaches nowhere, none when it attaches somewhere (kgateway is silent)', () => {
  const second = { ...route, metadata: { name: 'other', namespace: 'default', labels: { team: 'shop' } }, spec: { parentRefs: [{ name: 'gw' }], rules: [{ name: 'misc', backendRefs: [{ name: 'app', port: 80 }] }] } };
  const sel = (section: string): Doc => ({ targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', matchLabels: { team: 'shop' }, sectionName: section }] });
  const some = compileText([gateway, route, second, ext('a'), pol('p', { ...sel('private'), ...jwt('a') })].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 });
  assert.deepEqual(some.problems.filter((p) => p.resource === 'TrafficPolicy/default/p'), []);
  const none = compileText([gateway, route, second, ext('a'), pol('p', { ...sel('nope'), ...jwt('a') })].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 });
  const w = none.problems.filter((p) => p.resource === 'TrafficPolicy/default/p');
  assert.equal(w.length, 1, JSON.stringify(w));
  assert.equal(w[0]!.path, 'spec.targetSelectors[0].sectionName');
  assert.match(w[0]!.message, /^rule "nope" is in none of the 2 HTTPRoutes these matchLabels select \(default\/app, default\/other\): this selector attaches nothing$/);
});

test('a policy whose target is in another namespace is ignored, with a warning', () => {
  const other = { ...pol('p', { ...onGateway(), ...jwt('a') }), metadata: { name: 'p', namespace: 'team' } };
  const s = compileText([gateway, route, ext('a'), ext('a', 'team'), other].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 });
  assert.deepEqual(keys(auth(s, '/public')), []);
  const w = s.problems.find((p) => p.resource === 'TrafficPolicy/team/p' && p.severity === 'warning');
  assert.equal(w?.message.startsWith('target Gateway default/gw not found in namespace team: kgateway silently ignores this policy'), true, w?.message);
  const st = s.statuses.find((x) => x.resource === 'TrafficPolicy/team/p')!;
  assert.deepEqual(st.conditions[1], { type: 'Attached', status: 'False', reason: 'Pending', message: 'no target found: kgateway silently ignores this policy' });
});

test('an extension in another namespace is allowed (PERMISSIVE ReferenceGrant mode)', () => {
  const s = build([gateway, route, ext('shared', 'auth'), pol('p', { ...onGateway(), ...jwt('shared', 'auth') })]);
  assert.deepEqual(keys(auth(s, '/public')), ['auth/shared']);
});

test('foldPolicies: invalid policies never win; an empty fold is NO_AUTH', () => {
  const e = { key: 'ns/e', filterName: 'jwt/ns/e', allowMissing: false, allowFailed: false, providers: [], sanitizeHeaders: [] };
  const ok: AttachedPolicy = { id: 'TrafficPolicy/ns/ok', namespace: 'ns', name: 'ok', createdMs: 2, weight: 0, jwtAuth: { kind: 'extension', ext: e } };
  const bad: AttachedPolicy = { id: 'TrafficPolicy/ns/bad', namespace: 'ns', name: 'bad', createdMs: 1, weight: 0, jwtAuth: { kind: 'disable' }, invalid: 'x' };
  const r = foldPolicies([{ level: 'Gateway', policies: [bad, ok] }]);
  assert.deepEqual(r.auth.origins, ['TrafficPolicy/ns/ok@Gateway']);
  assert.deepEqual(r.effective, ['TrafficPolicy/ns/ok']);
  const none = foldPolicies([]);
  assert.deepEqual(none.auth, { jwt: [], origins: [], disabled: false });
});

test('foldPolicies: same weight and age: namespace/name decides, in either listing order (a disable named later loses)', () => {
  const e = { key: 'ns/e', filterName: 'jwt/ns/e', allowMissing: false, allowFailed: false, providers: [], sanitizeHeaders: [] };
  const a: AttachedPolicy = { id: 'TrafficPolicy/ns/a', namespace: 'ns', name: 'a', createdMs: 5, weight: 0, jwtAuth: { kind: 'extension', ext: e } };
  const b: AttachedPolicy = { id: 'TrafficPolicy/ns/b', namespace: 'ns', name: 'b', createdMs: 5, weight: 0, jwtAuth: { kind: 'disable' } };
  const z: AttachedPolicy = { id: 'TrafficPolicy/aa/z', namespace: 'aa', name: 'z', createdMs: 5, weight: 0, jwtAuth: { kind: 'disable' } };
  for (const policies of [[a, b], [b, a]]) {
    const r = foldPolicies([{ level: 'HTTPRoute', policies }]);
    assert.deepEqual(r.auth, { jwt: [e], origins: ['TrafficPolicy/ns/a@HTTPRoute'], disabled: false });
    assert.deepEqual(r.overridden, ['TrafficPolicy/ns/b']);
  }
  for (const policies of [[a, z], [z, a]]) {
    const r = foldPolicies([{ level: 'HTTPRoute', policies }]);
    assert.equal(r.auth.disabled, true, 'aa/z sorts before ns/a');
    assert.deepEqual(r.overridden, ['TrafficPolicy/ns/a']);
  }
});

test('kgateway.dev/policy-weight: within a level the higher weight wins, before age (a newer weighted JWT policy beats an older disable)', () => {
  const weighted = pol('weighted', { ...onRoute(), ...jwt('a') }, '2026-01-02T00:00:00Z') as { metadata: Doc };
  weighted.metadata['annotations'] = { 'kgateway.dev/policy-weight': '100' };
  const s = build([gateway, route, ext('a'), pol('old-disable', { ...onRoute(), ...disable }, '2026-01-01T00:00:00Z'), weighted as Doc]);
  const a = auth(s, '/public');
  assert.equal(a.disabled, false);
  assert.deepEqual(a.jwt.map((e) => e.key), ['default/a']);
  // Without the weight the older disable wins.
  const s2 = build([gateway, route, ext('a'), pol('old-disable', { ...onRoute(), ...disable }, '2026-01-01T00:00:00Z'), pol('weighted', { ...onRoute(), ...jwt('a') }, '2026-01-02T00:00:00Z')]);
  assert.equal(auth(s2, '/public').disabled, true);
});

test('kgateway.dev/policy-weight is read as kgateway reads it (strconv.ParseInt(v, 10, 32)): a sign is fine; spaces, a newline or a value past int32 make the policy invalid, so its targets answer 500', () => {
  const withWeight = (w: string): Snapshot => {
    const d = pol('w', { ...onRoute(), ...disable }) as { metadata: Doc };
    d.metadata['annotations'] = { 'kgateway.dev/policy-weight': w };
    return compileText([gateway, route, ext('a'), d as Doc].map((x) => JSON.stringify(x)).join('\n---\n'), { generation: 1 }, 'pol.yaml');
  };
  const sel = (s: Snapshot) => selectRoute(s.ports.get(8080)!, { method: 'GET', path: '/public', query: '', host: 'h', authority: 'h', headers: [], remoteAddress: '', scheme: 'http' })!;
  for (const ok of ['+5', '-5', '2147483647', '-2147483648', '007']) {
    const s = withWeight(ok);
    assert.equal(sel(s).route.invalid, undefined, ok);
    assert.equal(sel(s).route.auth.disabled, true, ok);
  }
  for (const bad of [' 5', '5\n', '2147483648', '-2147483649', '9999999999', '1.5', '', '0x10']) {
    const s = withWeight(bad);
    assert.match(sel(s).route.invalid ?? '', /policy-weight must be a 32-bit integer/, JSON.stringify(bad));
  }
});

test('kgateway.dev/inherited-policy-priority: ShallowMergePreferParent is refused (its routes answer 500) rather than letting a route-level disable win', () => {
  const gw = structuredClone(gateway) as { metadata: Doc };
  gw.metadata['annotations'] = { 'kgateway.dev/inherited-policy-priority': 'ShallowMergePreferParent' };
  const s = compileText([gw, route, ext('a'), pol('gw-jwt', { ...onGateway(), ...jwt('a') }), pol('route-off', { ...onRoute(), ...disable })].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 }, 'pol.yaml');
  const err = s.problems.find((p) => p.resource === 'Gateway/default/gw' && p.severity === 'error');
  assert.match(err?.message ?? '', /ShallowMergePreferParent" is not supported/);
  const r: GatewayRequest = { method: 'GET', path: '/public', query: '', host: 'h', authority: 'h', headers: [], remoteAddress: '', scheme: 'http' };
  assert.match(selectRoute(s.ports.get(8080)!, r)?.route.invalid ?? '', /inherited-policy-priority "ShallowMergePreferParent" is not supported/, 'every route of that Gateway answers 500');
});

test('different extensions at gateway and route level: check warns on the route-level policy that both run, and that the first removes the token the second needs', () => {
  const warnings = (s: Snapshot): string[] => s.problems.filter((p) => p.severity === 'warning').map((p) => `${p.resource} ${p.path}: ${p.message}`);
  const s = build([gateway, route, ext('zeta'), ext('alpha', 'auth'), pol('g', { ...onGateway(), ...jwt('zeta') }), pol('r', { ...onRoute(), ...jwt('alpha', 'auth') })]);
  assert.deepEqual(warnings(s), [
    'TrafficPolicy/default/r spec.jwtAuth.extensionRef: GatewayExtension auth/alpha (this policy, at the HTTPRoute level) and GatewayExtension default/zeta (TrafficPolicy default/g, at the Gateway level) both apply to HTTPRoute default/app: ' +
      "different GatewayExtensions do not override each other (kgateway's docs say route-level policies take precedence; for JWT that holds only for the same GatewayExtension): both JWT filters run, jwt/auth/alpha first, and a request must pass each. " +
      "auth/alpha's provider p does not set forwardToken: true, so it removes the token it accepted and default/zeta then answers 401 Jwt is missing: no request with one token passes. Set forwardToken: true on auth/alpha's providers, or use one GatewayExtension (with both providers) at one level",
  ]);
  // Once per pair, whatever the number of rules and listeners; the gateway-level extension first
  // in filter order: still on the route-level policy.
  const fwd = ext('alpha', 'auth') as { spec: { jwt: { providers: Doc[] } } };
  fwd.spec.jwt.providers[0]!['forwardToken'] = true;
  const s2 = build([gateway, route, ext('zeta'), fwd as Doc, pol('g', { ...onGateway(), ...jwt('zeta') }), pol('r', { ...onRoute(), ...jwt('alpha', 'auth') })]);
  const w2 = warnings(s2);
  assert.equal(w2.length, 1);
  assert.match(w2[0]!, /^TrafficPolicy\/default\/r spec\.jwtAuth\.extensionRef: .*a request must pass each: if one check is meant, use one GatewayExtension at one level$/);
  // The same extension at both levels runs once: nothing to say.
  assert.deepEqual(warnings(build([gateway, route, ext('a'), pol('g', { ...onGateway(), ...jwt('a') }), pol('r', { ...onRoute(), ...jwt('a') })])), []);
});

test('a policy whose only target is a ListenerSet or a GRPCRoute: Attached False says the kind is not served here and what its requests get (not that kgateway ignores it)', () => {
  const gw = structuredClone(gateway) as { spec: Doc };
  gw.spec['allowedListeners'] = { namespaces: { from: 'Same' } };
  const set: Doc = {
    apiVersion: 'gateway.networking.x-k8s.io/v1alpha1',
    kind: 'XListenerSet',
    metadata: { name: 'ls', namespace: 'default' },
    spec: { parentRef: { name: 'gw' }, listeners: [{ name: 'a', protocol: 'HTTP', port: 8080, hostname: 'a.example.com' }, { name: 'b', protocol: 'HTTP', port: 8081 }] },
  };
  const onSet = { targetRefs: [{ group: 'gateway.networking.x-k8s.io', kind: 'XListenerSet', name: 'ls' }] };
  const onGrpc = { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', name: 'g' }] };
  const onBoth = { targetRefs: [...(onRoute().targetRefs as Doc[]), ...onGrpc.targetRefs] };
  const s = compileText([gw as Doc, route, set, ext('a'), pol('p', { ...onSet, ...jwt('a') }), pol('q', { ...onGrpc, ...jwt('a') }), pol('m', { ...onBoth, ...jwt('a') })].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 }, 'pol.yaml');
  const cond = (name: string) => s.statuses.find((x) => x.resource === `TrafficPolicy/default/${name}`)!.conditions.find((c) => c.type === 'Attached')!;
  assert.deepEqual(cond('p'), {
    type: 'Attached',
    status: 'False',
    reason: 'Pending',
    message:
      'target XListenerSet default/ls: ListenerSets are not served by jwtgate, so this target attaches to nothing here, where kgateway attaches the policy to it; what its requests get: XListenerSet default/ls: ' +
      'listener a: requests for hostname a.example.com on port 8080 (Gateway default/gw) get 500; listener b: not served (jwtgate does not listen on port 8081 for Gateway default/gw): connection refused, as no Gateway listens on that port',
  });
  assert.match(cond('q').message, /^target GRPCRoute default\/g: GRPCRoutes are not served by jwtgate .*so this target attaches to nothing here, where kgateway attaches the policy to it$/);
  assert.doesNotMatch(cond('q').message, /silently ignores/);
  // A served target and an unserved one: attached, but not "to all targets".
  assert.equal(cond('m').status, 'True');
  assert.match(cond('m').message, /^Attached to its targets jwtgate serves; not here: target GRPCRoute default\/g: GRPCRoutes are not served/);
  // The XListenerSet's own status says the same, per listener.
  const ls = s.statuses.find((x) => x.resource === 'XListenerSet/default/ls')!.conditions[0]!;
  assert.match(ls.message, /^ListenerSets are not supported by jwtgate: XListenerSet default\/ls: listener a: .* get 500; listener b: not served .*connection refused/);
});

test('different extensions at gateway and route level, the later one AllowMissing, the earlier with two providers that remove the token, on two routes: the warning says the request then passes unchecked, names both providers and both routes (branches no test took)', () => {
  const warnings = (s: Snapshot): string[] => s.problems.filter((p) => p.severity === 'warning').map((p) => `${p.resource} ${p.path}: ${p.message}`);
  const two = ext('alpha', 'auth') as { spec: { jwt: { providers: Doc[] } } };
  two.spec.jwt.providers.push({ name: 'q', issuer: 'alpha-2', jwks: { local: { inline: JWKS } } });
  const lax = ext('zeta') as { spec: { jwt: Doc } };
  lax.spec.jwt['validationMode'] = 'AllowMissing';
  const route2 = { ...route, metadata: { name: 'app2', namespace: 'default' } };
  const onBoth: Doc = { targetRefs: ['app', 'app2'].map((name) => ({ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name })) };
  const s = build([gateway, route, route2, lax as Doc, two as Doc, pol('g', { ...onGateway(), ...jwt('zeta') }), pol('r', { ...onBoth, ...jwt('alpha', 'auth') })]);
  assert.deepEqual(warnings(s), [
    'TrafficPolicy/default/r spec.jwtAuth.extensionRef: GatewayExtension auth/alpha (this policy, at the HTTPRoute level) and GatewayExtension default/zeta (TrafficPolicy default/g, at the Gateway level) both apply to HTTPRoutes default/app, default/app2: ' +
      "different GatewayExtensions do not override each other (kgateway's docs say route-level policies take precedence; for JWT that holds only for the same GatewayExtension): both JWT filters run, jwt/auth/alpha first, and a request must pass each. " +
      "auth/alpha's providers p, q do not set forwardToken: true, so it removes the token it accepted and default/zeta (AllowMissing) then finds no token and lets the request through unchecked, without its claim headers. Set forwardToken: true on auth/alpha's providers, or use one GatewayExtension (with both providers) at one level",
  ]);
});

const rbacOf = (action: 'Allow' | 'Deny', expr: string): Doc => ({ rbac: { action, policy: { matchExpressions: [expr] } } });

test('rbac: the most specific level replaces the others (route side, then listener, then Gateway); Gateway and listener winners stay Attached, a less specific route level is Overridden; within a level the oldest wins', () => {
  const s = build([
    gateway,
    routeWithFilter('f'),
    pol('gw', { ...onGateway(), ...rbacOf('Allow', "request.method == 'GET'") }, '2020-01-01T00:00:00Z'),
    pol('listener', { ...onGateway('http'), ...rbacOf('Allow', "request.method == 'HEAD'") }),
    pol('whole-route', { ...onRoute(), ...rbacOf('Deny', "request.method == 'PUT'") }),
    pol('f', rbacOf('Deny', "request.method == 'POST'")),
    pol('gw-newer', { ...onGateway(), ...rbacOf('Deny', 'true') }, '2030-01-01T00:00:00Z'),
  ]);
  assert.equal(auth(s, '/private').rbac?.origin, 'TrafficPolicy/default/f@ExtensionRef');
  assert.equal(auth(s, '/private').rbac?.action, 'Deny');
  assert.equal(auth(s, '/public').rbac?.origin, 'TrafficPolicy/default/whole-route@HTTPRoute');
  assert.equal(attached(s, 'f'), 'True/Attached');
  assert.equal(attached(s, 'whole-route'), 'True/Attached', 'effective on the public rule');
  assert.equal(attached(s, 'listener'), 'True/Attached');
  assert.equal(attached(s, 'gw'), 'True/Attached');
  assert.equal(attached(s, 'gw-newer'), 'False/Overridden');
  // Without route-side rbac: the listener's replaces the Gateway's; on the other listener, the Gateway's applies.
  const s2 = build([gateway, route, pol('gw', { ...onGateway(), ...rbacOf('Allow', 'true') }), pol('listener', { ...onGateway('http'), ...rbacOf('Deny', 'true') })]);
  assert.equal(auth(s2, '/public').rbac?.origin, 'TrafficPolicy/default/listener@Listener');
  assert.equal(auth(s2, '/public', 9090).rbac?.origin, 'TrafficPolicy/default/gw@Gateway');
});

test('rbac and jwtAuth fold separately: a route takes its jwtAuth from one policy and its rbac from another', () => {
  const s = build([gateway, route, ext('a'), pol('jwt', { ...onGateway(), ...jwt('a') }), pol('authz', { ...onRoute(), ...rbacOf('Allow', 'true') })]);
  const a = auth(s, '/public');
  assert.deepEqual(keys(a), ['default/a']);
  assert.equal(a.rbac?.origin, 'TrafficPolicy/default/authz@HTTPRoute');
  assert.equal(attached(s, 'jwt'), 'True/Attached');
  assert.equal(attached(s, 'authz'), 'True/Attached');
});

test('check warns when an rbac reads the JWT claims on routes where no JWT check runs (no jwtAuth, or jwtAuth.disable): under Allow every request there would get 403', () => {
  const claims = rbacOf('Allow', "metadata.filter_metadata['envoy.filters.http.jwt_authn']['payload']['team'] == 'dev'");
  const warned = (s: Snapshot) => s.problems.filter((p) => p.severity === 'warning' && p.path === 'spec.rbac.policy.matchExpressions').map((p) => `${p.resource}: ${p.message}`);
  const none = build([gateway, route, pol('authz', { ...onRoute(), ...claims })]);
  assert.equal(warned(none).length, 1);
  assert.match(warned(none)[0]!, /^TrafficPolicy\/default\/authz: expressions read the JWT claims .* but no JWT check runs on HTTPRoute default\/app .* this Allow policy answers 403 to every request there/);
  const disabled = build([gateway, route, ext('a'), pol('jwt', { ...onGateway(), ...jwt('a') }), pol('off', { ...onRoute('public'), ...disable }), pol('authz', { ...onRoute(), ...claims })]);
  assert.equal(warned(disabled).length, 1, 'the public rule has jwtAuth.disable');
  assert.match(warned(disabled)[0]!, /no JWT check runs on HTTPRoute default\/app \(public\) \(no jwtAuth/, 'only the rule without the check is named');
  const checked = build([gateway, route, ext('a'), pol('jwt', { ...onGateway(), ...jwt('a') }), pol('authz', { ...onRoute(), ...claims })]);
  assert.deepEqual(warned(checked), []);
  const headerOnly = build([gateway, route, pol('authz', { ...onRoute(), ...rbacOf('Allow', "request.headers['x-role'] == 'admin'") })]);
  assert.deepEqual(warned(headerOnly), [], 'an rbac that does not read claims is not warned about');
  const presence = build([gateway, route, pol('authz', { ...onRoute(), ...rbacOf('Allow', "!('envoy.filters.http.jwt_authn' in metadata.filter_metadata)") })]);
  assert.deepEqual(warned(presence), [], 'a presence test of the metadata is not a read of the claims');
  const deny = build([gateway, route, pol('authz', { ...onRoute(), ...rbacOf('Deny', 'metadata.filter_metadata["envoy.filters.http.jwt_authn"].payload.team == "guest"') })]);
  assert.match(warned(deny)[0] ?? '', /this Deny policy never denies by claims there/);
});

function routeOf(s: Snapshot, path: string, port = 8080) {
  const r: GatewayRequest = { method: 'GET', path, query: '', host: 'h', authority: 'h', headers: [], remoteAddress: '', scheme: 'http' };
  const sel = selectRoute(s.ports.get(port)!, r);
  assert.ok(sel, `a route for ${path}`);
  return sel.route;
}
const bucket = (maxTokens: number): Doc => ({ rateLimit: { local: { tokenBucket: { maxTokens, fillInterval: '1s' } } } });

test('rateLimit.local: the most specific level replaces the others, whole (route side, then listener, then Gateway); Gateway and listener winners stay Attached, a less specific route level and an older-or-lighter one in a level are Overridden', () => {
  const s = build([
    gateway,
    routeWithFilter('f'),
    pol('gw', { ...onGateway(), ...bucket(1) }, '2020-01-01T00:00:00Z'),
    pol('listener', { ...onGateway('http'), ...bucket(2) }),
    pol('whole-route', { ...onRoute(), ...bucket(3) }),
    pol('f', bucket(4)),
    pol('gw-newer', { ...onGateway(), ...bucket(5) }, '2030-01-01T00:00:00Z'),
  ]);
  assert.equal(routeOf(s, '/private').rateLimit?.origin, 'TrafficPolicy/default/f@ExtensionRef');
  assert.equal(routeOf(s, '/private').rateLimit?.bucket.spec.maxTokens, 4);
  assert.equal(routeOf(s, '/public').rateLimit?.origin, 'TrafficPolicy/default/whole-route@HTTPRoute');
  assert.equal(attached(s, 'f'), 'True/Attached');
  assert.equal(attached(s, 'whole-route'), 'True/Attached', 'effective on the public rule');
  assert.equal(attached(s, 'listener'), 'True/Attached');
  assert.equal(attached(s, 'gw'), 'True/Attached');
  assert.equal(attached(s, 'gw-newer'), 'False/Overridden');
  // Without route-side configs: the listener's replaces the Gateway's; on the other listener the Gateway's applies.
  const s2 = build([gateway, route, pol('gw', { ...onGateway(), ...bucket(1) }), pol('listener', { ...onGateway('http'), ...bucket(2) })]);
  assert.equal(routeOf(s2, '/public').rateLimit?.origin, 'TrafficPolicy/default/listener@Listener');
  assert.equal(routeOf(s2, '/public', 9090).rateLimit?.origin, 'TrafficPolicy/default/gw@Gateway');
  // Both rules of the Gateway's routes on a port share the Gateway's bucket; the listener's is per virtual host, shared by its routes there.
  assert.equal(routeOf(s2, '/public', 9090).rateLimit?.bucket, routeOf(s2, '/private', 9090).rateLimit?.bucket);
  assert.equal(routeOf(s2, '/public').rateLimit?.bucket, routeOf(s2, '/private').rateLimit?.bucket);
  // A route-side policy: a bucket per rule (per Envoy route).
  const s3 = build([gateway, route, pol('r', { ...onRoute(), ...bucket(3) })]);
  assert.notEqual(routeOf(s3, '/public').rateLimit?.bucket, routeOf(s3, '/private').rateLimit?.bucket);
  // A whole-route policy that each rule's own replaces is Overridden.
  const s5 = build([gateway, route, pol('whole', { ...onRoute(), ...bucket(3) }), pol('pub', { ...onRoute('public'), ...bucket(1) }), pol('priv', { ...onRoute('private'), ...bucket(2) })]);
  assert.equal(routeOf(s5, '/public').rateLimit?.origin, 'TrafficPolicy/default/pub@Rule');
  assert.equal(attached(s5, 'whole'), 'False/Overridden');
  assert.equal(attached(s5, 'priv'), 'True/Attached');
  // local: {} on the route side turns the Gateway's off there, and is itself Attached.
  const s4 = build([gateway, route, pol('gw', { ...onGateway(), ...bucket(1) }), pol('off', { ...onRoute('public'), rateLimit: { local: {} } })]);
  assert.equal(routeOf(s4, '/public').rateLimit, undefined);
  assert.equal(routeOf(s4, '/private').rateLimit?.origin, 'TrafficPolicy/default/gw@Gateway');
  assert.equal(attached(s4, 'off'), 'True/Attached');
});

test('timeouts: an HTTPRoute rule\'s own win the route timeout; the route side\'s most specific policy, then the listener\'s, then the Gateway\'s fill in what is unset, field by field', () => {
  const r = structuredClone(route) as { spec: { rules: Doc[] } };
  r.spec.rules[0]!['timeouts'] = { request: '7s' };
  const s = build([
    gateway,
    r as Doc,
    pol('gw', { ...onGateway(), timeouts: { request: '30s', streamIdle: '60s' } }),
    pol('listener', { ...onGateway('http'), timeouts: { request: '20s' } }),
    pol('rule', { ...onRoute('private'), timeouts: { request: '2s' } }),
    pol('whole-route', { ...onRoute(), timeouts: { request: '3s', streamIdle: '4s' } }, '2020-01-01T00:00:00Z'),
  ]);
  // public: the rule's own 7 s over the route policy's 3 s; its streamIdle 4 s.
  assert.deepEqual(routeOf(s, '/public').timeouts, { requestMs: 7000, idleMs: 4000, origins: ['HTTPRoute timeouts', 'TrafficPolicy/default/whole-route@HTTPRoute'] });
  // private: the rule policy replaces the whole-route one (streamIdle too), the Gateway's streamIdle fills in.
  assert.deepEqual(routeOf(s, '/private').timeouts, { requestMs: 2000, idleMs: 60000, origins: ['TrafficPolicy/default/rule@Rule', 'TrafficPolicy/default/gw@Gateway'] });
  // The other listener: no listener policy there (the route's policies apply on every listener).
  assert.deepEqual(routeOf(s, '/private', 9090).timeouts, { requestMs: 2000, idleMs: 60000, origins: ['TrafficPolicy/default/rule@Rule', 'TrafficPolicy/default/gw@Gateway'] });
  const s2 = build([gateway, route, pol('gw', { ...onGateway(), timeouts: { request: '30s' } }), pol('listener', { ...onGateway('http'), timeouts: { request: '20s' } })]);
  assert.deepEqual(routeOf(s2, '/public').timeouts, { requestMs: 20000, origins: ['TrafficPolicy/default/listener@Listener'] });
  assert.deepEqual(routeOf(s2, '/public', 9090).timeouts, { requestMs: 30000, origins: ['TrafficPolicy/default/gw@Gateway'] });
  assert.equal(attached(s, 'whole-route'), 'True/Attached', 'effective on the public rule');
  assert.equal(attached(s, 'listener'), 'True/Attached', 'on its virtual host, though every route there sets its own');
  // A whole-route policy that each rule's own replaces is Overridden.
  const s3 = build([gateway, route, pol('whole', { ...onRoute(), timeouts: { request: '3s' } }), pol('pub', { ...onRoute('public'), timeouts: { request: '1s' } }), pol('priv', { ...onRoute('private'), timeouts: { streamIdle: '1s' } })]);
  assert.equal(attached(s3, 'whole'), 'False/Overridden');
  assert.deepEqual(routeOf(s3, '/private').timeouts, { idleMs: 1000, origins: ['TrafficPolicy/default/priv@Rule'] });
  // A rule with retry: the route timeout is request, not backendRequest (which becomes the per-try timeout).
  const withRetry = structuredClone(route) as { spec: { rules: Doc[] } };
  withRetry.spec.rules[0]!['timeouts'] = { request: '9s', backendRequest: '2s' };
  withRetry.spec.rules[0]!['retry'] = { attempts: 2 };
  withRetry.spec.rules[1]!['timeouts'] = { request: '9s', backendRequest: '2s' };
  const s4 = build([gateway, withRetry as Doc]);
  assert.equal(routeOf(s4, '/public').timeouts?.requestMs, 9000);
  assert.equal(routeOf(s4, '/private').timeouts?.requestMs, 2000);
  // No timeouts anywhere: none on the route (the gateway's --upstream-timeout-ms applies).
  assert.equal(routeOf(build([gateway, route]), '/public').timeouts, undefined);
});

const retryOf = (attempts: number): RetrySpec => ({ retryOn: ['5xx'], numRetries: attempts, statusCodes: [], backoffBaseMs: 25 });
const retryPolicy = (name: string, attempts: number, createdMs = 1): AttachedPolicy => ({ id: `TrafficPolicy/default/${name}`, namespace: 'default', name, createdMs, weight: 0, retry: retryOf(attempts) });

test('foldPolicies retry: the most specific level applies whole (route side, then listener, then Gateway); the HTTPRoute rule\'s own retry beats every route-side policy, which is Overridden, while the listener\'s and Gateway\'s stay attached', () => {
  const gw = retryPolicy('gw', 1);
  const listener = retryPolicy('listener', 2);
  const whole = retryPolicy('whole', 3);
  const ruleLevel = retryPolicy('rule', 4);
  const levels = (...ls: [LevelPolicies['level'], AttachedPolicy[]][]): LevelPolicies[] => ls.map(([level, policies]) => ({ level, policies }));
  // Listener beats Gateway.
  const a = foldPolicies(levels(['Gateway', [gw]], ['Listener', [listener]]));
  assert.deepEqual(a.retry, { spec: retryOf(2), origin: 'TrafficPolicy/default/listener@Listener' });
  assert.deepEqual([...a.effective].sort(), ['TrafficPolicy/default/gw', 'TrafficPolicy/default/listener']);
  // Route side beats listener; the more specific route level beats the whole route, which is Overridden; the listener stays attached.
  const b = foldPolicies(levels(['Gateway', [gw]], ['Listener', [listener]], ['HTTPRoute', [whole]], ['Rule', [ruleLevel]]));
  assert.deepEqual(b.retry, { spec: retryOf(4), origin: 'TrafficPolicy/default/rule@Rule' });
  assert.deepEqual(b.overridden, ['TrafficPolicy/default/whole']);
  assert.ok(b.effective.includes('TrafficPolicy/default/listener') && b.effective.includes('TrafficPolicy/default/gw'));
  // The rule's own retry: no policy retry on the route; the route-side policies are Overridden, the listener and Gateway ones attached.
  const c = foldPolicies(levels(['Gateway', [gw]], ['Listener', [listener]], ['HTTPRoute', [whole]], ['Rule', [ruleLevel]]), { ruleSetsRetry: true });
  assert.equal(c.retry, undefined);
  assert.deepEqual([...c.overridden].sort(), ['TrafficPolicy/default/rule', 'TrafficPolicy/default/whole']);
  assert.deepEqual([...c.effective].sort(), ['TrafficPolicy/default/gw', 'TrafficPolicy/default/listener']);
  // Within a level the oldest wins; levels do not merge (the winner's fields alone).
  const d = foldPolicies(levels(['HTTPRoute', [retryPolicy('newer', 5, 9), retryPolicy('older', 6, 2)]]));
  assert.equal(d.retry?.origin, 'TrafficPolicy/default/older@HTTPRoute');
  assert.deepEqual(d.overridden, ['TrafficPolicy/default/newer']);
  // The rule's own timeouts do not take the retry from a policy.
  assert.equal(foldPolicies(levels(['HTTPRoute', [whole]]), { ruleSetsTimeout: true }).retry?.origin, 'TrafficPolicy/default/whole@HTTPRoute');
});

test('retry from the manifests: an HTTPRoute rule\'s retry (with its timeouts) and a TrafficPolicy\'s, as kgateway writes Envoy\'s route retry policy; statuses; none on a redirect or an invalid rule; /config_dump shows it', () => {
  const r = structuredClone(route) as { spec: { rules: Doc[] } };
  r.spec.rules[0]!['retry'] = { attempts: 3, codes: [503], backoff: '100ms' };
  r.spec.rules[0]!['timeouts'] = { request: '10s', backendRequest: '2s' };
  const s = build([
    gateway,
    r as Doc,
    pol('gw', { ...onGateway(), retry: { retryOn: ['gateway-error'], attempts: 5 } }),
    pol('listener', { ...onGateway('http'), retry: { retryOn: ['reset'] } }),
    pol('whole-route', { ...onRoute(), retry: { retryOn: ['5xx'], statusCodes: [404] } }),
  ]);
  const pub = routeOf(s, '/public');
  const { flags: _f, ...ruleRetry } = pub.retry!;
  assert.deepEqual(ruleRetry, {
    retryOn: ['cancelled', 'connect-failure', 'refused-stream', 'retriable-headers', 'retriable-status-codes', 'unavailable'],
    numRetries: 3,
    statusCodes: [503],
    perTryTimeoutMs: 2000,
    backoffBaseMs: 100,
    backoffMaxMs: 1000,
    origin: 'HTTPRoute retry',
  });
  assert.equal(pub.timeouts?.requestMs, 10000);
  const priv = routeOf(s, '/private');
  const { flags: _g, ...policyRetry } = priv.retry!;
  assert.deepEqual(policyRetry, { retryOn: ['5xx', 'retriable-status-codes'], numRetries: 1, statusCodes: [404], backoffBaseMs: 25, backoffMaxMs: 250, origin: 'TrafficPolicy/default/whole-route@HTTPRoute' });
  // whole-route wins on the private rule (Attached there); the listener's and the Gateway's stay attached.
  assert.equal(attached(s, 'whole-route'), 'True/Attached');
  assert.equal(attached(s, 'listener'), 'True/Attached');
  assert.equal(attached(s, 'gw'), 'True/Attached');
  // The other listener: no listener policy there, the route's still wins.
  assert.equal(routeOf(s, '/private', 9090).retry?.origin, 'TrafficPolicy/default/whole-route@HTTPRoute');
  // Without the route's policy: the listener's, else the Gateway's.
  const s2 = build([gateway, route, pol('gw', { ...onGateway(), retry: { retryOn: ['gateway-error'], attempts: 5 } }), pol('listener', { ...onGateway('http'), retry: { retryOn: ['reset'] } })]);
  assert.equal(routeOf(s2, '/public').retry?.origin, 'TrafficPolicy/default/listener@Listener');
  assert.deepEqual(routeOf(s2, '/public').retry?.retryOn, ['reset']);
  assert.equal(routeOf(s2, '/public', 9090).retry?.origin, 'TrafficPolicy/default/gw@Gateway');
  assert.equal(routeOf(s2, '/public', 9090).retry?.numRetries, 5);
  // A policy on the rule that has its own retry: Overridden (kgateway: the built-in HTTPRoute retry wins).
  const s3 = build([gateway, r as Doc, pol('pub', { ...onRoute('public'), retry: { retryOn: ['5xx'] } })]);
  assert.equal(routeOf(s3, '/public').retry?.origin, 'HTTPRoute retry');
  assert.equal(attached(s3, 'pub'), 'False/Overridden');
  // retry: {} is one retry, no codes, 25 ms; attempts 0 stays 0; a backendRequest of 0s is no per-try timeout.
  const r4 = structuredClone(route) as { spec: { rules: Doc[] } };
  r4.spec.rules[0]!['retry'] = {};
  r4.spec.rules[1]!['retry'] = { attempts: 0 };
  r4.spec.rules[1]!['timeouts'] = { backendRequest: '0s' };
  const s4 = build([gateway, r4 as Doc]);
  assert.deepEqual([routeOf(s4, '/public').retry?.numRetries, routeOf(s4, '/public').retry?.statusCodes, routeOf(s4, '/public').retry?.backoffBaseMs, routeOf(s4, '/public').retry?.perTryTimeoutMs], [1, [], 25, undefined]);
  assert.equal(routeOf(s4, '/private').retry?.numRetries, 0);
  assert.equal('perTryTimeoutMs' in routeOf(s4, '/private').retry!, false);
  // A redirect rule answers itself: no retry; nor does a rule kgateway replaced with a 500.
  const r5 = structuredClone(route) as { spec: { rules: Doc[] } };
  r5.spec.rules[0]!['filters'] = [{ type: 'RequestRedirect', requestRedirect: { hostname: 'x.example.com' } }];
  r5.spec.rules[0]!['retry'] = { attempts: 2 };
  r5.spec.rules[1]!['retry'] = { attempts: 2 };
  r5.spec.rules[1]!['filters'] = [{ type: 'ExternalAuth', externalAuth: { protocol: 'HTTP', backendRef: { name: 'auth', port: 80 } } }];
  const s5 = compileText([gateway, r5 as Doc, pol('gw', { ...onGateway(), retry: { retryOn: ['5xx'] } })].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 }, 'pol.yaml');
  assert.ok(routeOf(s5, '/public').redirect);
  assert.equal(routeOf(s5, '/public').retry, undefined);
  assert.ok(routeOf(s5, '/private').invalid);
  assert.equal(routeOf(s5, '/private').retry, undefined);
  // /config_dump: retry_on as Envoy's string, the backoff with its 10 x base maximum, and where it comes from.
  const dump = JSON.parse(configDumpText(s)) as { listeners: { port: number; routeDefs: Record<string, { match: { path: { value: string } }; retry?: unknown }> }[] };
  const defs = Object.values(dump.listeners.find((l) => l.port === 8080)!.routeDefs);
  assert.deepEqual(defs.find((d) => d.match.path.value === '/public')?.retry, {
    retryOn: 'cancelled,connect-failure,refused-stream,retriable-headers,retriable-status-codes,unavailable',
    numRetries: 3,
    retriableStatusCodes: [503],
    perTryTimeoutMs: 2000,
    backoff: { baseIntervalMs: 100, maxIntervalMs: 1000 },
    from: 'HTTPRoute retry',
  });
  assert.deepEqual(defs.find((d) => d.match.path.value === '/private')?.retry, {
    retryOn: '5xx,retriable-status-codes',
    numRetries: 1,
    retriableStatusCodes: [404],
    backoff: { baseIntervalMs: 25, maxIntervalMs: 250 },
    from: 'TrafficPolicy/default/whole-route@HTTPRoute',
  });
});

// Route precedence as kgateway sorts it (routeutils/sortable_route.go), host selection, and
// route attachment (parentRefs, sectionName, port, allowedRoutes, hostname intersection,
// ReferenceGrant), all through compileSnapshot + selectRoute.

import test from 'node:test';
import assert from 'node:assert/strict';
import { compileText } from '../../src/config/build.js';
import type { Snapshot } from '../../src/config/snapshot.js';
import type { GatewayRequest } from '../../src/http/exchange.js';
import { selectRoute } from '../../src/routing/match.js';

type Doc = Record<string, unknown>;
const GWAPI = 'gateway.networking.k8s.io/v1';

function gateway(listeners: Doc[] = [{ name: 'http', protocol: 'HTTP', port: 8080, allowedRoutes: { namespaces: { from: 'All' } } }], name = 'gw', ns = 'default', meta: Doc = {}): Doc {
  return { apiVersion: GWAPI, kind: 'Gateway', metadata: { name, namespace: ns, ...meta }, spec: { gatewayClassName: 'kgateway', listeners } };
}

/** An HTTPRoute whose every rule sends to a Service named after the rule (so tests can tell them apart). */
function route(name: string, rules: Doc[], o: { ns?: string; hostnames?: string[]; parentRefs?: Doc[]; created?: string } = {}): Doc {
  return {
    apiVersion: GWAPI,
    kind: 'HTTPRoute',
    metadata: { name, namespace: o.ns ?? 'default', ...(o.created ? { creationTimestamp: o.created } : {}) },
    spec: {
      parentRefs: o.parentRefs ?? [{ name: 'gw', namespace: 'default' }],
      ...(o.hostnames ? { hostnames: o.hostnames } : {}),
      rules: rules.map((r, i) => ({ backendRefs: [{ name: `${name}-${i}`, port: 80 }], ...r })),
    },
  };
}

const prefix = (value: string, extra: Doc = {}): Doc => ({ matches: [{ path: { type: 'PathPrefix', value }, ...extra }] });
const exact = (value: string): Doc => ({ matches: [{ path: { type: 'Exact', value } }] });
const regex = (value: string): Doc => ({ matches: [{ path: { type: 'RegularExpression', value } }] });

function build(docs: Doc[]): Snapshot {
  const s = compileText(docs.map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 }, 'p.yaml');
  const errs = s.problems.filter((p) => p.severity === 'error');
  assert.deepEqual(errs, [], 'fixture compiles without errors');
  return s;
}

function hit(s: Snapshot, p: string, o: { host?: string; method?: string; headers?: string[]; query?: string; port?: number } = {}): string | undefined {
  const host = o.host ?? 'example.com';
  const r: GatewayRequest = { method: o.method ?? 'GET', path: p, query: o.query ?? '', host, authority: host, headers: o.headers ?? [], remoteAddress: '::1', scheme: 'http' };
  const t = s.ports.get(o.port ?? 8080);
  const sel = t && selectRoute(t, r);
  return sel?.route.backends[0]?.target?.key.replace(/^Service\/[^/]+\//, '').replace(/:80$/, '');
}

test('Exact > RegularExpression > PathPrefix, across routes, whatever their age', () => {
  const s = build([
    gateway(),
    route('old', [prefix('/api')], { created: '2020-01-01T00:00:00Z' }),
    route('rx', [regex('/api/.*')], { created: '2021-01-01T00:00:00Z' }),
    route('ex', [exact('/api/users')], { created: '2022-01-01T00:00:00Z' }),
  ]);
  assert.equal(hit(s, '/api/users'), 'ex-0');
  assert.equal(hit(s, '/api/orders'), 'rx-0');
  assert.equal(hit(s, '/api'), 'old-0');
  assert.equal(hit(s, '/other'), undefined);
});

test('a rule without matches, with matches: null or with matches: [] matches every path (Gateway API default PathPrefix /)', () => {
  for (const matches of [undefined, null, []]) {
    const s = build([gateway(), route('app', [matches === undefined ? {} : { matches }])]);
    assert.equal(hit(s, '/'), 'app-0', JSON.stringify(matches));
    assert.equal(hit(s, '/anything/deep'), 'app-0', JSON.stringify(matches));
  }
});

test('longest PathPrefix wins; a prefix ending in / is a plain prefix, as kgateway gives it to Envoy (it does not match the path without the slash) and sorts by its written length', () => {
  const s = build([gateway(), route('r', [prefix('/'), prefix('/api'), prefix('/api/v1/')])]);
  assert.equal(hit(s, '/api/v1'), 'r-1', 'kgateway: prefix "/api/v1/" does not match /api/v1');
  assert.equal(hit(s, '/api/v1/'), 'r-2');
  assert.equal(hit(s, '/api/v1/users'), 'r-2');
  assert.equal(hit(s, '/api/v1//x'), 'r-2');
  assert.equal(hit(s, '/api/v10'), 'r-1');
  assert.equal(hit(s, '/api'), 'r-1');
  assert.equal(hit(s, '/apix'), 'r-0');
  assert.equal(hit(s, '/'), 'r-0');
  // Written length decides: "/api/" (5) sorts before "/api" (4) even with fewer header matches.
  const t = build([gateway(), route('r', [prefix('/api', { headers: [{ name: 'x-client', value: 'mobile' }] }), prefix('/api/')])]);
  assert.equal(hit(t, '/api/users', { headers: ['x-client', 'mobile'] }), 'r-1');
  assert.equal(hit(t, '/api', { headers: ['x-client', 'mobile'] }), 'r-0');
});

test('regular expressions are not ordered by length (kgateway): the older route wins', () => {
  const s = build([
    gateway(),
    route('short', [regex('/a.*')], { created: '2020-01-01T00:00:00Z' }),
    route('long', [regex('/a/very/specific/.*')], { created: '2021-01-01T00:00:00Z' }),
  ]);
  assert.equal(hit(s, '/a/very/specific/x'), 'short-0');
});

test('same path: a method match, then more header matches, then more query matches', () => {
  const s = build([
    gateway(),
    route('r', [
      prefix('/x'),
      prefix('/x', { queryParams: [{ name: 'a', value: '1' }] }),
      prefix('/x', { headers: [{ name: 'x-a', value: '1' }] }),
      prefix('/x', { headers: [{ name: 'x-a', value: '1' }, { name: 'x-b', value: '1' }] }),
      prefix('/x', { method: 'POST' }),
    ]),
  ]);
  assert.equal(hit(s, '/x', { method: 'POST', headers: ['x-a', '1', 'x-b', '1'], query: 'a=1' }), 'r-4');
  assert.equal(hit(s, '/x', { headers: ['x-a', '1', 'x-b', '1'], query: 'a=1' }), 'r-3');
  assert.equal(hit(s, '/x', { headers: ['x-a', '1'], query: 'a=1' }), 'r-2');
  assert.equal(hit(s, '/x', { query: 'a=1' }), 'r-1');
  assert.equal(hit(s, '/x'), 'r-0');
  // The method match wins whichever order the rules are written in.
  const first = build([gateway(), route('m', [prefix('/x', { method: 'POST' }), prefix('/x'), prefix('/x', { method: 'PUT' })])]);
  assert.equal(hit(first, '/x', { method: 'POST' }), 'm-0');
  assert.equal(hit(first, '/x', { method: 'PUT' }), 'm-2');
  assert.equal(hit(first, '/x'), 'm-1');
  const last = build([gateway(), route('m', [prefix('/x'), prefix('/x', { method: 'PUT' })])]);
  assert.equal(hit(last, '/x', { method: 'PUT' }), 'm-1');
  // ... and whichever route is older or listed first: the method match comes before age.
  const older = '2024-01-01T00:00:00Z';
  const newer = '2025-01-01T00:00:00Z';
  for (const docs of [
    [route('new', [prefix('/x', { method: 'POST' })], { created: newer }), route('old', [prefix('/x')], { created: older })],
    [route('old', [prefix('/x')], { created: older }), route('new', [prefix('/x', { method: 'POST' })], { created: newer })],
  ]) {
    const s2 = build([gateway(), ...docs]);
    assert.equal(hit(s2, '/x', { method: 'POST' }), 'new-0');
    assert.equal(hit(s2, '/x'), 'old-0');
  }
});

test('ties: oldest creationTimestamp, then namespace/name, then rule and match order', () => {
  const ts = build([
    gateway(),
    route('zzz', [prefix('/t')], { created: '2020-01-01T00:00:00Z' }),
    route('aaa', [prefix('/t')], { created: '2024-01-01T00:00:00Z' }),
  ]);
  assert.equal(hit(ts, '/t'), 'zzz-0', 'older wins over alphabetical');
  const names = build([gateway(), route('bbb', [prefix('/t')]), route('aaa', [prefix('/t')], { ns: 'zzz' }), route('aab', [prefix('/t')])]);
  assert.equal(hit(names, '/t'), 'aab-0', 'default/aab < default/bbb < zzz/aaa');
  // A manifest without creationTimestamp counts as newer than one with it.
  const missing = build([gateway(), route('aaa', [prefix('/t')]), route('zzz', [prefix('/t')], { created: '2030-01-01T00:00:00Z' })]);
  assert.equal(hit(missing, '/t'), 'zzz-0');
  const order = build([gateway(), route('r', [prefix('/t'), prefix('/t')])]);
  assert.equal(hit(order, '/t'), 'r-0');
  const matches = build([
    gateway(),
    {
      apiVersion: GWAPI,
      kind: 'HTTPRoute',
      metadata: { name: 'm' },
      spec: {
        parentRefs: [{ name: 'gw' }],
        rules: [
          { matches: [{ path: { value: '/a' } }, { path: { value: '/b' } }], backendRefs: [{ name: 'first', port: 80 }] },
          { matches: [{ path: { value: '/b' } }], backendRefs: [{ name: 'second', port: 80 }] },
        ],
      },
    },
  ]);
  assert.equal(hit(matches, '/b'), 'first');
});

test('hosts: an exact route hostname is its own virtual host (no fallthrough to wildcard or any)', () => {
  const s = build([
    gateway(),
    route('exact-host', [prefix('/only')], { hostnames: ['foo.example.com'] }),
    route('wild-host', [prefix('/')], { hostnames: ['*.example.com'] }),
    route('any-host', [prefix('/')]),
  ]);
  assert.equal(hit(s, '/only', { host: 'foo.example.com' }), 'exact-host-0');
  assert.equal(hit(s, '/elsewhere', { host: 'foo.example.com' }), undefined);
  assert.equal(hit(s, '/elsewhere', { host: 'bar.example.com' }), 'wild-host-0');
  assert.equal(hit(s, '/elsewhere', { host: 'example.com' }), 'any-host-0');
  assert.equal(hit(s, '/elsewhere', { host: 'example.org' }), 'any-host-0');
});

test('hosts: the longest wildcard hostname is the virtual host, whatever the order the routes came in; no fallthrough to a shorter wildcard or to any-host; a wildcard needs a label', () => {
  const s = build([
    gateway(),
    route('wild-short', [prefix('/')], { hostnames: ['*.example.com'] }),
    route('wild-long', [prefix('/only')], { hostnames: ['*.b.example.com'] }),
    route('any-host', [prefix('/')]),
  ]);
  assert.equal(hit(s, '/only', { host: 'a.b.example.com' }), 'wild-long-0');
  assert.equal(hit(s, '/elsewhere', { host: 'a.b.example.com' }), undefined, 'the *.b.example.com virtual host has no route for it: 404, as Envoy');
  assert.equal(hit(s, '/elsewhere', { host: 'b.example.com' }), 'wild-short-0');
  assert.equal(hit(s, '/', { host: '.example.com' }), 'any-host-0', 'an empty label matches no wildcard (Envoy: the host must be longer than the suffix)');
});

test('hosts: route hostnames are intersected with the listener hostname', () => {
  const s = build([
    gateway([{ name: 'wild', protocol: 'HTTP', port: 8080, hostname: '*.example.com' }]),
    route('r', [prefix('/')], { hostnames: ['a.example.com', 'other.org', '*.sub.example.com', '*.com'] }),
    route('nohost', [prefix('/n')]),
  ]);
  assert.equal(hit(s, '/', { host: 'a.example.com' }), 'r-0');
  assert.equal(hit(s, '/', { host: 'other.org' }), undefined, 'outside the listener hostname');
  assert.equal(hit(s, '/', { host: 'x.sub.example.com' }), 'r-0');
  // `*.com` intersected with `*.example.com` is `*.example.com`, shared with the route
  // without hostnames (which gets the listener's hostname).
  assert.equal(hit(s, '/n', { host: 'z.example.com' }), 'nohost-0');
  assert.equal(hit(s, '/', { host: 'z.example.com' }), 'r-0');
  assert.equal(hit(s, '/', { host: 'example.com' }), undefined);
});

test('listeners: sectionName and port select the listener; most specific listener hostname first', () => {
  const s = build([
    gateway([
      { name: 'any', protocol: 'HTTP', port: 8080, allowedRoutes: { namespaces: { from: 'All' } } },
      { name: 'api', protocol: 'HTTP', port: 8080, hostname: 'api.example.com', allowedRoutes: { namespaces: { from: 'All' } } },
      { name: 'admin', protocol: 'HTTP', port: 9090 },
    ]),
    route('to-api', [prefix('/')], { parentRefs: [{ name: 'gw', sectionName: 'api' }] }),
    route('to-any', [prefix('/')], { parentRefs: [{ name: 'gw', sectionName: 'any' }] }),
    route('to-9090', [prefix('/')], { parentRefs: [{ name: 'gw', port: 9090 }] }),
  ]);
  assert.equal(hit(s, '/', { host: 'api.example.com' }), 'to-api-0');
  assert.equal(hit(s, '/', { host: 'www.example.com' }), 'to-any-0');
  assert.equal(hit(s, '/', { host: 'www.example.com', port: 9090 }), 'to-9090-0');
  const l = s.ports.get(8080)!.listeners.map((x) => x.name);
  assert.deepEqual(l, ['api', 'any']);
});

test('listeners of one Gateway on one port share virtual hosts (kgateway merges them by host)', () => {
  const s = build([
    gateway([
      { name: 'plain', protocol: 'HTTP', port: 8080 },
      { name: 'wild', protocol: 'HTTP', port: 8080, hostname: '*.example.com' },
    ]),
    route('on-plain', [prefix('/p')], { hostnames: ['foo.example.com'], parentRefs: [{ name: 'gw', sectionName: 'plain' }] }),
    route('on-wild', [prefix('/w')], { hostnames: ['foo.example.com'], parentRefs: [{ name: 'gw', sectionName: 'wild' }] }),
  ]);
  assert.equal(hit(s, '/p', { host: 'foo.example.com' }), 'on-plain-0');
  assert.equal(hit(s, '/w', { host: 'foo.example.com' }), 'on-wild-0');
});

test('allowedRoutes: Same (default) refuses other namespaces, All accepts them', () => {
  const same = compileText(
    [gateway([{ name: 'http', protocol: 'HTTP', port: 8080 }]), route('r', [prefix('/')], { ns: 'team' })].map((d) => JSON.stringify(d)).join('\n---\n'),
    { generation: 1 },
  );
  assert.equal(hit(same, '/'), undefined);
  const st = same.statuses.find((x) => x.resource === 'HTTPRoute/team/r')!;
  assert.deepEqual(st.conditions[0]?.reason, 'NotAllowedByListeners');
  const all = build([gateway(), route('r', [prefix('/')], { ns: 'team' })]);
  assert.equal(hit(all, '/'), 'r-0');
});

test('ReferenceGrant: a cross-namespace Backend is allowed only with a grant', () => {
  const docs = [
    gateway(),
    {
      apiVersion: GWAPI,
      kind: 'HTTPRoute',
      metadata: { name: 'r', namespace: 'default' },
      spec: { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ group: 'gateway.kgateway.dev', kind: 'Backend', name: 'be', namespace: 'shared' }] }] },
    },
    { apiVersion: 'gateway.kgateway.dev/v1alpha1', kind: 'Backend', metadata: { name: 'be', namespace: 'shared' }, spec: { static: { hosts: [{ host: '10.0.0.9', port: 9000 }] } } },
  ];
  const grant = {
    apiVersion: 'gateway.networking.k8s.io/v1beta1',
    kind: 'ReferenceGrant',
    metadata: { name: 'g', namespace: 'shared' },
    spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'default' }], to: [{ group: 'gateway.kgateway.dev', kind: 'Backend' }] },
  };
  const without = compileText(docs.map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 });
  assert.ok(without.problems.some((p) => p.severity === 'error' && p.message.includes('not permitted')));
  const s = build([...docs, grant]);
  const t = s.ports.get(8080)!;
  const sel = selectRoute(t, { method: 'GET', path: '/', query: '', host: 'h', authority: 'h', headers: [], remoteAddress: '', scheme: 'http' });
  assert.deepEqual(sel?.route.backends.map((b) => b.target?.endpoints), [[{ host: '10.0.0.9', port: 9000 }]]);
  // A grant in the wrong namespace does not count.
  const wrongNs = compileText([...docs, { ...grant, metadata: { name: 'g', namespace: 'default' } }].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 });
  assert.ok(wrongNs.problems.some((p) => p.severity === 'error' && p.message.includes('not permitted')));
  // A grant from another namespace, or one the API server refuses (an unknown field), does not count either.
  const notPermitted = (g: object) =>
    compileText([...docs, g].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 }).problems.some((p) => p.resource === 'HTTPRoute/default/r' && p.severity === 'error' && p.message.includes('not permitted'));
  assert.equal(notPermitted({ ...grant, spec: { ...grant.spec, from: [{ ...grant.spec.from[0], namespace: 'team' }] } }), true, 'from another namespace');
  assert.equal(notPermitted({ ...grant, spec: { ...grant.spec, extra: true } }), true, 'an invalid grant');
  assert.equal(notPermitted(grant), false);
});

test('a backendRef in group "core" is a Service, as in group ""', () => {
  const s = build([gateway(), { apiVersion: GWAPI, kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'default' }, spec: { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ group: 'core', kind: 'Service', name: 'app', port: 80 }] }] } }]);
  const sel = selectRoute(s.ports.get(8080)!, { method: 'GET', path: '/', query: '', host: 'h', authority: 'h', headers: [], remoteAddress: '', scheme: 'http' });
  assert.deepEqual(sel?.route.backends.map((b) => b.target?.key), ['Service/default/app:80']);
});

test('two Gateways on one port: the older Gateway serves a shared hostname, with a warning', () => {
  const s = compileText(
    [
      gateway([{ name: 'http', protocol: 'HTTP', port: 8080 }], 'new', 'default', { creationTimestamp: '2024-01-01T00:00:00Z' }),
      gateway([{ name: 'http', protocol: 'HTTP', port: 8080 }], 'old', 'default', { creationTimestamp: '2020-01-01T00:00:00Z' }),
      route('to-new', [prefix('/')], { parentRefs: [{ name: 'new' }] }),
      route('to-old', [prefix('/')], { parentRefs: [{ name: 'old' }] }),
    ]
      .map((d) => JSON.stringify(d))
      .join('\n---\n'),
    { generation: 1 },
  );
  assert.equal(hit(s, '/'), 'to-old-0');
  assert.ok(s.problems.some((p) => p.resource === 'Gateway/default/new' && p.severity === 'warning' && p.message.includes('jwtgate serves one socket per port')));
});

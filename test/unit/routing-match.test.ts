// selectRoute / pickBackend on hand-built tables: Envoy path semantics, header and query
// matching, host and listener selection, weighted backends.

import test from 'node:test';
import assert from 'node:assert/strict';
import type { BackendTarget, CompiledRoute, Listener, PortTable, RouteTable, ValueMatch } from '../../src/config/snapshot.js';
import type { GatewayRequest } from '../../src/http/exchange.js';
import { headerValue, pickBackend, queryValue, routeMatches, selectRoute } from '../../src/routing/match.js';
import { percentDecode } from '../../src/http/percent-decode.js';
import { compileAnchored } from '../../src/routing/regex.js';

function route(id: string, o: Partial<CompiledRoute> & { prefix?: string; exact?: string; regex?: string } = {}): CompiledRoute {
  const path =
    o.exact !== undefined
      ? { type: 'Exact' as const, value: o.exact }
      : o.regex !== undefined
        ? { type: 'RegularExpression' as const, value: o.regex, regex: (compileAnchored(o.regex) as unknown as { regex: import("../../src/routing/regex.js").Matcher }).regex }
        : { type: 'PathPrefix' as const, value: o.prefix ?? '/' };
  return {
    id,
    route: `default/${id}`,
    path,
    headers: o.headers ?? [],
    queryParams: o.queryParams ?? [],
    auth: { jwt: [], origins: [], disabled: false },
    claimHeaders: [],
    backends: o.backends ?? [],
    totalWeight: o.totalWeight ?? 0,
    ...(o.method !== undefined ? { method: o.method } : {}),
  };
}

function vm(name: string, value: string, regex = false): ValueMatch {
  return regex ? { name, type: 'RegularExpression', value, regex: (compileAnchored(value) as unknown as { regex: import("../../src/routing/regex.js").Matcher }).regex } : { name, type: 'Exact', value };
}

function table(exact: Record<string, CompiledRoute[]> = {}, wildcard: Record<string, CompiledRoute[]> = {}, any: CompiledRoute[] = []): RouteTable {
  return {
    exact: new Map(Object.entries(exact)),
    wildcard: Object.entries(wildcard)
      .map(([h, routes]) => ({ suffix: h.slice(1), routes }))
      .sort((a, b) => b.suffix.length - a.suffix.length),
    any,
  };
}

function listener(name: string, routes: RouteTable, hostname?: string): Listener {
  return { gateway: 'default/gw', name, port: 8080, ...(hostname ? { hostname } : {}), routes };
}

function req(p: string, o: { host?: string; method?: string; query?: string; headers?: string[] } = {}): GatewayRequest {
  const host = o.host ?? 'example.com';
  return { method: o.method ?? 'GET', path: p, query: o.query ?? '', host, authority: host, headers: o.headers ?? [], remoteAddress: '127.0.0.1', scheme: 'http' };
}

const one = (r: CompiledRoute): PortTable => ({ port: 8080, listeners: [listener('l', table({}, {}, [r]))] });

test('PathPrefix matches whole path segments (Envoy path_separated_prefix)', () => {
  const r = route('p', { prefix: '/foo' });
  for (const p of ['/foo', '/foo/', '/foo/bar', '/foo/bar/baz']) assert.ok(routeMatches(r, req(p)), p);
  for (const p of ['/foobar', '/fo', '/Foo', '/', '/bar/foo']) assert.equal(routeMatches(r, req(p)), false, p);
  const root = route('root', { prefix: '/' });
  for (const p of ['/', '/x', '/x/y']) assert.ok(routeMatches(root, req(p)), p);
});

test('Exact is exact and case-sensitive', () => {
  const r = route('e', { exact: '/foo' });
  assert.ok(routeMatches(r, req('/foo')));
  for (const p of ['/foo/', '/Foo', '/foo/bar', '/fo']) assert.equal(routeMatches(r, req(p)), false, p);
});

test('RegularExpression matches the whole path (anchored)', () => {
  const r = route('r', { regex: '/api/v[0-9]+' });
  assert.ok(routeMatches(r, req('/api/v1')));
  assert.ok(routeMatches(r, req('/api/v42')));
  for (const p of ['/api/v1/x', '/x/api/v1', '/api/vx']) assert.equal(routeMatches(r, req(p)), false, p);
  const alt = route('alt', { regex: '/a|/b' });
  assert.ok(routeMatches(alt, req('/b')));
  assert.equal(routeMatches(alt, req('/ab')), false, 'alternation stays inside the anchors');
  const ci = route('ci', { regex: '(?i)/admin' });
  assert.ok(routeMatches(ci, req('/ADMIN')));
});

test('method, headers (exact, regex, repeated values) and query params', () => {
  const r = route('m', { method: 'POST', headers: [vm('x-env', 'prod'), vm('x-ver', 'v[12]', true)], queryParams: [vm('debug', 'on')] });
  const headers = ['x-env', 'prod', 'x-ver', 'v2'];
  assert.ok(routeMatches(r, req('/', { method: 'POST', headers, query: 'debug=on' })));
  assert.equal(routeMatches(r, req('/', { method: 'GET', headers, query: 'debug=on' })), false, 'method');
  assert.equal(routeMatches(r, req('/', { method: 'POST', headers: ['x-env', 'Prod', 'x-ver', 'v2'], query: 'debug=on' })), false, 'header values are case-sensitive');
  assert.equal(routeMatches(r, req('/', { method: 'POST', headers: ['x-env', 'prod'], query: 'debug=on' })), false, 'missing header');
  assert.equal(routeMatches(r, req('/', { method: 'POST', headers, query: 'debug=off' })), false, 'query value');
  assert.equal(routeMatches(r, req('/', { method: 'POST', headers, query: '' })), false, 'missing query');
  // A query parameter regex matches the whole first value (RE2, anchored).
  const qre = route('qre', { queryParams: [vm('v', 'v[12]', true)] });
  assert.ok(routeMatches(qre, req('/', { query: 'v=v2' })));
  for (const q of ['v=v3', 'v=v12', 'v=xv1', 'w=v1', 'v=v3&v=v1']) assert.equal(routeMatches(qre, req('/', { query: q })), false, q);
  // Repeated header values are joined with ',' (Envoy getAllOfHeaderAsString).
  const rep = route('rep', { headers: [vm('x-a', '1,2')] });
  assert.ok(routeMatches(rep, req('/', { headers: ['x-a', '1', 'x-b', 'z', 'x-a', '2'] })));
  assert.equal(headerValue(['x-a', '1', 'x-a', '2'], 'x-a'), '1,2');
  assert.equal(headerValue([], 'x-a'), undefined);
});

test('query values are compared as sent (Envoy route matching does not percent-decode); first value wins', () => {
  assert.equal(queryValue('q=a%20b', 'q'), 'a%20b');
  assert.equal(queryValue('q=a+b', 'q'), 'a+b');
  assert.equal(queryValue('x=1&q=first&q=second', 'q'), 'first');
  assert.equal(queryValue('%71=encoded-name', 'q'), undefined, 'an encoded name is another name');
  assert.equal(queryValue('q', 'q'), '');
  assert.equal(queryValue('q=', 'q'), '');
  assert.equal(queryValue('qq=1&q2=2', 'q'), undefined);
  assert.equal(queryValue('', 'q'), undefined);
  assert.equal(queryValue('&&q=1&', 'q'), '1');
  assert.equal(queryValue('a&b&q&c=1', 'q'), '');
  assert.equal(queryValue('x=1=2&q=3&%71=4', 'q'), '3');
  assert.equal(queryValue('q=a=b', 'q'), 'a=b');
  assert.equal(queryValue('a&b=1', 'a&b'), undefined, 'a name never spans a &');
  assert.equal(percentDecode('100%'), '100%');
  assert.equal(percentDecode('%zz%41'), '%zzA');
  assert.equal(percentDecode('%E2%82%AC'), '€');
  // view=%70ublic is not view=public: a request cannot pick a route by encoding its value.
  const r = route('q', { queryParams: [vm('view', 'public')] });
  assert.ok(routeMatches(r, req('/', { query: 'view=public' })));
  assert.ok(!routeMatches(r, req('/', { query: 'view=%70ublic' })));
});

test('a request\'s query and headers are read once per request, however many routes match on them (a long query against 1,000 query-matching routes cost routes × query bytes: a request-path DoS)', () => {
  const routes = Array.from({ length: 1000 }, (_, i) => route(`r${i}`, { prefix: '/api', queryParams: [vm('tenant', `t${i}`)], headers: [vm('x-tenant', `t${i}`)] }));
  const t: PortTable = { port: 8080, listeners: [listener('l', table({}, {}, routes))] };
  let queryReads = 0;
  let headerReads = 0;
  const base = req('/api', { query: `${'&'.repeat(60_000)}tenant=t999`, headers: ['x-tenant', 't999', 'x-tenant', 'again'] });
  const counted = {
    ...base,
    get query() {
      queryReads++;
      return base.query;
    },
    get headers() {
      headerReads++;
      return base.headers;
    },
  } as GatewayRequest;
  assert.equal(selectRoute(t, counted), undefined, 'x-tenant is "t999,again": no route');
  assert.equal(queryReads, 0, 'the header condition failed first for every route: the query was never needed');
  assert.equal(headerReads, 1);
  // Query conditions only: 999 routes fail on the query value, the last matches.
  const byQuery: PortTable = { port: 8080, listeners: [listener('l', table({}, {}, routes.map((r) => ({ ...r, headers: [] }))))] };
  let reads = 0;
  const counted2 = {
    ...base,
    get query() {
      reads++;
      return base.query;
    },
  } as GatewayRequest;
  assert.equal(selectRoute(byQuery, counted2)?.route.id, 'r999');
  assert.equal(reads, 1);
});

test('host selection: exact, then the longest wildcard, then any; no fallthrough', () => {
  const exact = route('exact', { prefix: '/only' });
  const wildShort = route('wild-short');
  const wildLong = route('wild-long');
  const any = route('any');
  const t: PortTable = {
    port: 8080,
    listeners: [listener('l', table({ 'foo.example.com': [exact] }, { '*.example.com': [wildShort], '*.bar.example.com': [wildLong] }, [any]))],
  };
  assert.equal(selectRoute(t, req('/only', { host: 'foo.example.com' }))?.route, exact);
  // The exact host has its own virtual host: routes of other hosts are not tried.
  assert.equal(selectRoute(t, req('/other', { host: 'foo.example.com' })), undefined);
  assert.equal(selectRoute(t, req('/', { host: 'x.example.com' }))?.route, wildShort);
  assert.equal(selectRoute(t, req('/', { host: 'a.b.example.com' }))?.route, wildShort, 'a wildcard covers several labels');
  assert.equal(selectRoute(t, req('/', { host: 'x.bar.example.com' }))?.route, wildLong);
  assert.equal(selectRoute(t, req('/', { host: 'example.com' }))?.route, any, '*.example.com does not match example.com');
  assert.equal(selectRoute(t, req('/', { host: 'other.org' }))?.route, any);
  assert.equal(selectRoute(t, req('/', { host: '' }))?.route, any);
});

test('listener selection across listeners on a port: most specific host wins', () => {
  const a = route('a');
  const b = route('b');
  const c = route('c');
  const t: PortTable = {
    port: 8080,
    listeners: [
      listener('exact', table({ 'a.example.com': [a] }), 'a.example.com'),
      listener('wild', table({}, { '*.example.com': [b] }), '*.example.com'),
      listener('none', table({}, {}, [c])),
    ],
  };
  assert.equal(selectRoute(t, req('/', { host: 'a.example.com' }))?.listener.name, 'exact');
  assert.equal(selectRoute(t, req('/', { host: 'z.example.com' }))?.listener.name, 'wild');
  assert.equal(selectRoute(t, req('/', { host: 'z.org' }))?.listener.name, 'none');
  // A longer wildcard in a later listener still wins over a shorter one.
  const deep = route('deep');
  const t2: PortTable = {
    port: 8080,
    listeners: [listener('wild', table({}, { '*.example.com': [b] }), '*.example.com'), listener('none', table({}, { '*.deep.example.com': [deep] }))],
  };
  assert.equal(selectRoute(t2, req('/', { host: 'x.deep.example.com' }))?.route, deep);
  // And in an earlier listener it is not overridden by a later, shorter one that also matches.
  const t3: PortTable = {
    port: 8080,
    listeners: [listener('deep', table({}, { '*.deep.example.com': [deep] }), '*.deep.example.com'), listener('wild', table({}, { '*.example.com': [b] }), '*.example.com')],
  };
  assert.equal(selectRoute(t3, req('/', { host: 'x.deep.example.com' }))?.listener.name, 'deep');
  assert.equal(selectRoute(t3, req('/', { host: 'x.other.example.com' }))?.listener.name, 'wild');
});

test('an empty port table or no match gives undefined', () => {
  assert.equal(selectRoute({ port: 1, listeners: [] }, req('/')), undefined);
  assert.equal(selectRoute(one(route('x', { exact: '/x' })), req('/y')), undefined);
});

test('pickBackend: weighted, weight 0 never chosen, counter wraps', () => {
  const A: BackendTarget = { key: 'A', endpoints: [] };
  const B: BackendTarget = { key: 'B', endpoints: [] };
  const Z: BackendTarget = { key: 'Z', endpoints: [] };
  const r = route('w', {
    backends: [
      { target: A, weight: 3 },
      { target: Z, weight: 0 },
      { target: B, weight: 1 },
    ],
    totalWeight: 4,
  });
  const counts = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const t = pickBackend(r, i)!.target!;
    counts.set(t.key, (counts.get(t.key) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(counts), { A: 300, B: 100 });
  assert.equal(pickBackend(r, Number.MAX_SAFE_INTEGER)?.target?.key, ['A', 'A', 'A', 'B'][Number.MAX_SAFE_INTEGER % 4]);
  assert.equal(pickBackend(r, -1)?.target?.key, 'B');
  assert.equal(pickBackend(route('none'), 0), undefined);
  assert.equal(pickBackend(route('zero', { backends: [{ target: Z, weight: 0 }], totalWeight: 0 }), 5), undefined);
});

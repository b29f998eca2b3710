// TrafficPolicy rbac's CEL (spec §5): what an expression sees of a request (Envoy's attributes
// after the JWT filters), what counts as a match (only a successful `true`), and the Allow/Deny
// inversion of kgateway's matcher.
import test from 'node:test';
import assert from 'node:assert/strict';
import { activation, compileExpression, rbacAllows, regexCacheState, type RbacPolicy } from '../../src/auth/rbac.js';
import type { GatewayRequest } from '../../src/http/exchange.js';

function req(o: Partial<GatewayRequest> = {}): GatewayRequest {
  return {
    method: 'GET',
    path: '/api/v1/items',
    query: 'page=2&sort=asc',
    host: 'www.example.com',
    authority: 'www.example.com:8080',
    headers: ['x-role', 'admin', 'x-multi', 'a', 'x-multi', 'b', 'user-agent', 'curl/8.5', 'x-request-id', 'rid-1', 'x-team', 'dev'],
    remoteAddress: '10.1.2.3',
    scheme: 'http',
    ...o,
  };
}

const CLAIMS = JSON.parse('{"sub":"alice","iss":"https://idp","team":"dev","level":3,"admin":true,"groups":["eng","ops"],"org":{"name":"solo.io","tier":"gold"},"exp":1.9e9}') as Record<string, unknown>;
const PAYLOAD = "metadata.filter_metadata['envoy.filters.http.jwt_authn']['payload']";

/** `claims` null: no token was verified (no jwt_authn metadata). */
function evaluate(expr: string, r: GatewayRequest = req(), claims: Record<string, unknown> | null = CLAIMS, disabled = false): boolean {
  const c = compileExpression(expr);
  assert.ok(c.ok, `${expr}: ${c.ok ? '' : c.error}`);
  return c.match(activation(r, claims ?? undefined, disabled));
}

const TRUE_CASES = [
  // request attributes (Envoy's context.cc): path with the query, url_path without, host = :authority
  "request.path == '/api/v1/items?page=2&sort=asc'",
  "request.url_path == '/api/v1/items'",
  "request.query == 'page=2&sort=asc'",
  "request.host == 'www.example.com:8080'",
  "request.method == 'GET'",
  "request.scheme == 'http'",
  "request.protocol == 'HTTP/1.1'",
  "request.useragent == 'curl/8.5'",
  "request.id == 'rid-1'",
  "request.size == 0",
  "request.time > timestamp('2024-01-01T00:00:00Z')",
  // headers: lowercase keys, repeated values joined with ",", pseudo-headers present
  "request.headers['x-role'] == 'admin'",
  "request.headers['x-multi'] == 'a,b'",
  "request.headers[':path'] == '/api/v1/items?page=2&sort=asc'",
  "request.headers[':authority'] == 'www.example.com:8080'",
  "request.headers[':method'] == 'GET'",
  "'x-role' in request.headers",
  "has(request.headers.x_nope) == false",
  // claims in jwt_authn's metadata: numbers are doubles, lists and objects nest
  `${PAYLOAD}['team'] == 'dev'`,
  `${PAYLOAD}.sub == 'alice'`,
  `${PAYLOAD}['level'] == 3`,
  `${PAYLOAD}['level'] == 3.0`,
  `${PAYLOAD}['level'] >= 2`,
  `${PAYLOAD}['admin']`,
  `'ops' in ${PAYLOAD}['groups']`,
  `size(${PAYLOAD}['groups']) == 2`,
  `${PAYLOAD}['org']['tier'] == 'gold'`,
  `has(${PAYLOAD}.org)`,
  // functions Envoy's CEL has: matches is RE2::PartialMatch (a search), contains/startsWith/endsWith
  "request.url_path.matches('v[0-9]+')",
  "request.url_path.matches('^/api/')",
  "request.url_path.startsWith('/api') && request.url_path.endsWith('items') && request.url_path.contains('/v1/')",
  "size(request.headers['x-role']) == 5",
  "int(request.headers['x-multi'].size()) == 3",
  "request.method in ['GET', 'HEAD']",
  "request.method == 'POST' ? false : true",
  // heterogeneous equality (cel-cpp's default) and error absorption by || / &&
  '1 == 1.0',
  "request.headers['x-missing'] == 'x' || true",
  "!(request.headers['x-missing'] == 'x' && false)",
  "{'a': 1}['a'] == 1",
];

const FALSE_CASES = [
  // a missing key is an error: no match (never a silent empty string)
  "request.headers['x-missing'] == ''",
  "request.headers['x-missing'] != 'admin'",
  "request.referer == ''",
  "has(request.referer)",
  `${PAYLOAD}['missing'] == 'x'`,
  `${PAYLOAD}['missing'] != 'x'`,
  // wrong types, concatenation Envoy leaves off, a non-bool result
  `${PAYLOAD}['team'] > 1`,
  "request.method + '' == 'GET'",
  "[1] + [2] == [1, 2]",
  "request.method",
  "request.headers['x-role']",
  "1",
  // regex over a value from the request: linear time, and no match when the pattern is bad
  "request.url_path.matches(request.headers['x-role'] + '(')",
  "request.url_path.matches('^v1')",
];

for (const e of TRUE_CASES) test(`match: ${e}`, () => assert.equal(evaluate(e), true));
for (const e of FALSE_CASES) test(`no match: ${e}`, () => assert.equal(evaluate(e), false));

test('without a verified token (AllowMissing, no JWT on the route) the jwt_authn metadata is absent: every claim expression is no match, also a negated one', () => {
  for (const e of [`${PAYLOAD}['team'] == 'dev'`, `${PAYLOAD}['team'] != 'dev'`, `!(${PAYLOAD}['team'] == 'dev')`, `has(${PAYLOAD}.team)`]) {
    assert.equal(evaluate(e, req(), null), false, e);
  }
  assert.equal(evaluate("!('envoy.filters.http.jwt_authn' in metadata.filter_metadata)", req(), null), true);
  assert.equal(evaluate("'envoy.filters.http.jwt_authn' in metadata.filter_metadata", req(), CLAIMS), true);
});

test("jwtAuth.disable leaves kgateway's dev.kgateway.disable_jwt metadata", () => {
  const e = "metadata.filter_metadata['dev.kgateway.disable_jwt']['disable'] == true";
  assert.equal(evaluate(e, req(), null, true), true);
  assert.equal(evaluate(e, req(), null, false), false);
});

test('an absent user-agent, x-request-id or content-length: useragent and id missing, size 0; a content-length gives size', () => {
  const bare = req({ headers: [], query: '' });
  assert.equal(evaluate("has(request.useragent) || has(request.id)", bare), false);
  assert.equal(evaluate("request.path == '/api/v1/items' && request.query == ''", bare), true);
  assert.equal(evaluate('request.size == 42', req({ method: 'POST', headers: ['content-length', '42'] })), true);
  assert.equal(evaluate("request.referer == 'https://a.example/'", req({ headers: ['referer', 'https://a.example/'] })), true);
});

test('a catastrophic-backtracking pattern taken from the request returns at once (RE2, not RegExp)', () => {
  const r = req({ headers: ['x-p', '(a+)+$'], path: `/${'a'.repeat(5000)}!` });
  assert.equal(evaluate("request.url_path.matches(request.headers['x-p'])", r), false);
});

test('header names in the activation cannot reach Object.prototype', () => {
  const r = req({ headers: ['__proto__', 'x', 'constructor', 'y'] });
  assert.equal(evaluate("request.headers['__proto__'] == 'x' && request.headers['constructor'] == 'y'", r), true);
  assert.equal(evaluate("request.headers['toString'] == 'x'", r), false);
});

function policy(action: 'Allow' | 'Deny', exprs: string[]): RbacPolicy {
  return {
    action,
    expressions: exprs.map((e) => {
      const c = compileExpression(e);
      assert.ok(c.ok);
      return c.match;
    }),
    readsClaims: false,
    origin: 'TrafficPolicy/ns/p@HTTPRoute',
  };
}

test('Allow lets through what one expression matches (an OR) and nothing else; Deny refuses what one matches and lets the rest through', () => {
  const allow = policy('Allow', ["request.headers['x-role'] == 'root'", `${PAYLOAD}['team'] == 'dev'`]);
  assert.equal(rbacAllows(allow, req(), CLAIMS, false), true);
  assert.equal(rbacAllows(allow, req(), { ...CLAIMS, team: 'ops' }, false), false);
  assert.equal(rbacAllows(allow, req(), undefined, false), false);
  assert.equal(rbacAllows(allow, req({ headers: ['x-role', 'root'] }), undefined, false), true);
  const deny = policy('Deny', ["request.method == 'DELETE'", `${PAYLOAD}['team'] == 'guest'`]);
  assert.equal(rbacAllows(deny, req(), CLAIMS, false), true);
  assert.equal(rbacAllows(deny, req({ method: 'DELETE' }), CLAIMS, false), false);
  assert.equal(rbacAllows(deny, req(), { team: 'guest' }, false), false);
  // An expression that errors does not match: under Deny the request passes.
  assert.equal(rbacAllows(deny, req(), undefined, false), true);
});

test("header names are looked up lowercased, as Envoy's HeadersWrapper: request.headers['X-Role'] reads x-role (a Deny written with capitals is not bypassed)", () => {
  assert.equal(evaluate("request.headers['X-Role'] == 'admin'"), true);
  assert.equal(evaluate("'X-ROLE' in request.headers"), true);
  const deny = policy('Deny', ["request.headers['X-Role'] == 'guest'"]);
  assert.equal(rbacAllows(deny, req({ headers: ['x-role', 'guest'] }), undefined, false), false);
});

test("fields Envoy's connection manager removes before the filters are not seen: connection, upgrade (unless an upgrade), keep-alive, proxy-connection, transfer-encoding, expect: 100-continue", () => {
  const hop = req({ method: 'POST', headers: ['connection', 'keep-alive', 'keep-alive', 'timeout=5', 'proxy-connection', 'x', 'transfer-encoding', 'chunked', 'upgrade', 'websocket', 'expect', '100-continue', 'x-kept', '1'] });
  for (const name of ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'expect']) {
    assert.equal(evaluate(`'${name}' in request.headers`, hop), false, name);
  }
  assert.equal(evaluate("request.headers['x-kept'] == '1'", hop), true);
  // An upgrade keeps Connection and Upgrade; an Expect other than 100-continue is kept.
  const up = req({ headers: ['connection', 'Upgrade', 'upgrade', 'websocket', 'expect', 'something'] });
  assert.equal(evaluate("request.headers['connection'] == 'Upgrade' && request.headers['upgrade'] == 'websocket' && request.headers['expect'] == 'something'", up), true);
});

test('request.size: the content-length as an int64, missing when it is not one (a repeated "2,2", over int64)', () => {
  assert.equal(evaluate('request.size == 1234567890123456', req({ headers: ['content-length', '1234567890123456'] })), true);
  assert.equal(evaluate('has(request.size)', req({ headers: ['content-length', '2', 'content-length', '2'] })), false);
  assert.equal(evaluate('has(request.size)', req({ headers: ['content-length', '99999999999999999999'] })), false);
  assert.equal(evaluate('has(request.size)', req({ headers: ['content-length', '9223372036854775808'] })), false, 'int64 max + 1');
  assert.equal(evaluate('request.size == 9223372036854775807', req({ headers: ['content-length', '9223372036854775807'] })), true);
  assert.equal(evaluate('request.size == 0', req({ headers: [] })), true);
});

test('request.time is when the request arrived, not when the expression runs', () => {
  const c = compileExpression("request.time == timestamp('2026-01-02T03:04:05.678Z')");
  assert.ok(c.ok);
  assert.equal(c.match(activation(req(), undefined, false, Date.parse('2026-01-02T03:04:05.678Z'))), true);
  assert.equal(c.match(activation(req(), undefined, false)), false);
});

test('type denotations are identifiers (type(x) == int); headers_bytes is named as not provided', () => {
  assert.equal(evaluate('type(request.size) == int && type(request.path) == string'), true);
  const hb = compileExpression('request.headers_bytes > 0');
  assert.ok(!hb.ok && /request\.headers_bytes is not provided by jwtgate/.test(hb.error));
});

test('an expression nested deeper than 250 levels is refused with a message, not a stack overflow (a 16 KiB 1+1+… sum)', () => {
  const deep = compileExpression(`${Array.from({ length: 8000 }, () => '1').join('+')} > 0`);
  assert.ok(!deep.ok);
  assert.match(deep.error, /nests deeper than 250 levels/);
  const ok = compileExpression(`${Array.from({ length: 200 }, () => '1').join('+')} == 200`);
  assert.ok(ok.ok);
  assert.equal(ok.match(activation(req(), undefined, false)), true);
});

test('patterns taken from requests are cached up to 1,000 and cannot evict the patterns written in the config (compiled once, at load)', () => {
  const written = compileExpression("request.url_path.matches('^/api/v[0-9]+/items$')");
  assert.ok(written.ok);
  assert.equal(regexCacheState('^/api/v[0-9]+/items$').isConstant, true);
  const dynamic = compileExpression("request.url_path.matches(request.headers['x-p'])");
  assert.ok(dynamic.ok);
  for (let i = 0; i < 1500; i++) dynamic.match(activation(req({ headers: ['x-p', `^/api/v${i}`] }), undefined, false));
  const st = regexCacheState('^/api/v[0-9]+/items$');
  assert.ok(st.dynamic <= 1000, `dynamic cache bounded (${st.dynamic})`);
  assert.equal(st.isConstant, true);
  assert.equal(written.match(activation(req({ query: '' }), undefined, false)), true);
});

test("the README's scope example: a space-separated scope claim tested with matches('(^| )admin( |$)')", () => {
  const e = `${PAYLOAD}['scope'].matches('(^| )admin( |$)')`;
  for (const [scope, want] of [['read admin', true], ['admin', true], ['admin write', true], ['administrator', false], ['readadmin', false]] as const) {
    assert.equal(evaluate(e, req(), { scope }), want, scope);
  }
});

// Envoy's substitution format strings in header rule values (src/proxy/header-format.ts): the
// grammar Envoy's SubstitutionFormatParser accepts, what each evaluated command gives on the
// request and the response side, and how a route's own rules (HeaderParser: removals, then every
// value formatted, then the writes) differ from a policy's (HeaderMutations: one after another).
import test from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { formatHeaderValue, parseHeaderValue, type HeaderFormat } from '../../src/proxy/header-format.js';
import { applyHeaderOps, policyOps, routeLevelOps, type HeaderValue } from '../../src/proxy/header-mutation.js';
import { utf8AsLatin1 } from '../../src/proxy/header-rules.js';
import type { GatewayRequest } from '../../src/http/exchange.js';
import { compileText } from '../../src/config/build.js';
import { selectRoute } from '../../src/routing/match.js';

const req = (over: Partial<GatewayRequest> = {}): GatewayRequest =>
  ({ method: 'POST', path: '/a/b', query: 'x=1', host: 'api.example.com', authority: 'api.example.com:8080', headers: ['x-user', 'alice', 'x-user', 'bob', 'host', 'api.example.com:8080'], remoteAddress: '10.1.2.3', scheme: 'http', ...over }) as GatewayRequest;

function fmt(v: string, side: 'request' | 'response' = 'request'): HeaderFormat | string {
  const p = parseHeaderValue(v, side);
  if ('error' in p) throw new Error(p.error);
  return p.value;
}

function evaluate(v: string, opts: { side?: 'request' | 'response'; headers?: string[]; r?: GatewayRequest; startedAt?: number; status?: number } = {}): string {
  const f = fmt(v, opts.side);
  if (typeof f === 'string') return f;
  const r = opts.r ?? req();
  return formatHeaderValue(f, opts.headers ?? r.headers, opts.side === 'response', r, opts.startedAt ?? performance.now(), opts.status ?? 0);
}

function refusal(v: string, side: 'request' | 'response' = 'request'): string {
  const p = parseHeaderValue(v, side);
  assert.ok('error' in p, `${v} should be refused`);
  return p.error;
}

test('grammar: %% is a literal %, literal text around commands is kept, a value without a command stays a string', () => {
  assert.equal(fmt('plain'), 'plain');
  assert.equal(fmt('100%% sure'), '100% sure');
  // HOSTNAME and PROTOCOL are fixed when the configuration is read: the value is literal text.
  assert.equal(fmt('%PROTOCOL% on %HOSTNAME%'), `HTTP/1.1 on ${os.hostname()}`);
  assert.equal(evaluate('ip=%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%;100%%'), 'ip=10.1.2.3;100%');
  // The arguments end at the first ")" that lets the rest match, as Envoy's lazy regex does.
  assert.equal(evaluate('[%REQ(x-user):3%]'), '[ali]');
  assert.match(refusal('50%'), /a % at position 2 starts no Envoy command operator/);
  assert.match(refusal('%req(x)%'), /position 0 starts no Envoy command operator/);
  assert.match(refusal('%REQ(x)'), /position 0 starts no/);
  assert.match(refusal('%NOT_A_THING%'), /is not an Envoy command operator \(Envoy: "Not supported field in StreamInfo"\)/);
  assert.doesNotMatch(refusal('%NOT_A_THING%'), /NOT_A_THING/, 'an unknown name is not quoted (it may be part of a credential)');
  assert.match(refusal('%PROTOCOL(x)%'), /takes no parameters or length/);
  assert.match(refusal('%UNIQUE_ID:4%'), /takes no parameters or length/);
  assert.match(refusal('%REQ%'), /requires parameters/);
  assert.match(refusal('%REQ()%'), /requires parameters/);
  assert.match(refusal('%REQ(a b)%'), /characters a header name cannot hold/);
  assert.match(refusal('%ENVIRONMENT%'), /requires parameters/);
});

test('%REQ(X?Y):N%: the first value of X (repeated fields are not joined), case-insensitive, else Y, cut to N; missing gives \'\'', () => {
  assert.equal(evaluate('%REQ(X-User)%'), 'alice');
  assert.equal(evaluate('%REQ(x-none?x-user)%'), 'alice');
  assert.equal(evaluate('%REQ(x-user?x-none)%'), 'alice');
  assert.equal(evaluate('%REQ(x-none?x-other)%'), '');
  assert.equal(evaluate('%REQ(x-user):2%'), 'al');
  assert.equal(evaluate('a%REQ(x-none)%b'), 'ab');
  // The request line and Host, as Envoy's pseudo-headers (the path before any rewrite, with its query).
  assert.equal(evaluate('%REQ(:path)%'), '/a/b?x=1');
  assert.equal(evaluate('%REQ(:method)% %REQ(:scheme)% %REQ(:authority)% %REQ(host)%'), 'POST http api.example.com:8080 api.example.com:8080');
  assert.equal(evaluate('%REQ(:authority)%', { headers: [] }), 'api.example.com:8080', 'no host field in the list: the request\'s authority');
  assert.equal(evaluate('%REQ(:protocol)%'), '');
  // The response side reads the request, not the answer's list.
  assert.equal(evaluate('%REQ(x-user)%', { side: 'response', headers: ['x-user', 'from-upstream'] }), 'alice');
  // Once it went upstream, the request as sent (Envoy's router edits the downstream map): the
  // request rules' values as text, the path after a rewrite.
  const sent = req({ upstreamPath: '/new', sentHeaders: ['x-user', utf8AsLatin1('Jos\u00e9'), 'host', 'api.example.com:8080'] });
  assert.equal(evaluate('%REQ(x-user)% %REQ(:path)% %REQ(:authority)%', { side: 'response', headers: [], r: sent }), 'Jos\u00e9 /new?x=1 api.example.com:8080');
});

test('%RESP(X)%: the answer\'s first value on the response side, always \'\' on the request side (Envoy reads an empty map there)', () => {
  assert.equal(evaluate('%RESP(content-type)%', { side: 'response', headers: ['content-type', 'text/html', 'content-type', 'x'] }), 'text/html');
  assert.equal(evaluate('%RESP(x-none?content-type):4%', { side: 'response', headers: ['content-type', 'text/html'] }), 'text');
  assert.equal(evaluate('%RESP(content-type)%', { headers: ['content-type', 'text/html'] }), '');
});

test('%RESPONSE_CODE% is the answer\'s status, "0" on the request side; %UNIQUE_ID% is a new UUID each time; %ENVIRONMENT(X)% is read once, "-" when unset', () => {
  assert.equal(evaluate('%RESPONSE_CODE%', { side: 'response', status: 401 }), '401');
  assert.equal(evaluate('%RESPONSE_CODE%'), '0');
  const a = evaluate('%UNIQUE_ID%');
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(evaluate('%UNIQUE_ID%'), a);
  process.env.JWTGATE_FORMAT_TEST = 'region-eu-west';
  try {
    assert.equal(fmt('%ENVIRONMENT(JWTGATE_FORMAT_TEST)%'), 'region-eu-west');
    assert.equal(fmt('%ENVIRONMENT(JWTGATE_FORMAT_TEST):6%'), 'region');
    process.env.JWTGATE_FORMAT_TEST = 'a\nb';
    assert.match(refusal('%ENVIRONMENT(JWTGATE_FORMAT_TEST)%'), /control characters/);
  } finally {
    delete process.env.JWTGATE_FORMAT_TEST;
  }
  assert.equal(fmt('%ENVIRONMENT(JWTGATE_FORMAT_TEST)%'), '-');
  // Names Object.prototype gives process.env are no variables: unset, "-" (they used to be
  // called per request, or read as an error-less refusal).
  for (const n of ['valueOf', 'constructor', 'toString', '__proto__', 'hasOwnProperty']) assert.equal(fmt(`%ENVIRONMENT(${n})%`), '-', n);
  // Fixed at load as '': still a format (giving ''), so the rule is skipped rather than written empty.
  assert.equal(typeof fmt('%REQUESTED_SERVER_NAME%'), 'object', 'plain HTTP listeners: no SNI');
  assert.equal(evaluate('%REQUESTED_SERVER_NAME%'), '');
  process.env.JWTGATE_FORMAT_EMPTY = '';
  try {
    assert.equal(evaluate('%ENVIRONMENT(JWTGATE_FORMAT_EMPTY)%'), '');
    assert.equal(typeof fmt('%ENVIRONMENT(JWTGATE_FORMAT_EMPTY)%'), 'object');
  } finally {
    delete process.env.JWTGATE_FORMAT_EMPTY;
  }
  // Upstream addresses: '' on the request side (no host chosen yet, as in Envoy); refused on the response side.
  assert.equal(evaluate('%UPSTREAM_HOST%'), '');
  assert.equal(typeof fmt('%UPSTREAM_HOST%'), 'object');
  assert.match(refusal('%UPSTREAM_REMOTE_ADDRESS%', 'response'), /not evaluated by jwtgate in a response rule/);
  assert.match(refusal('%DOWNSTREAM_REMOTE_ADDRESS%'), /client's port is not known here/);
  assert.match(refusal('%DOWNSTREAM_LOCAL_ADDRESS%'), /%DOWNSTREAM_LOCAL_ADDRESS% is an Envoy command operator jwtgate does not evaluate/);
});

test('%START_TIME%: Envoy\'s default text, strftime and Envoy\'s sub-second specifiers in UTC, digits truncated; newline specifiers and a length refused', () => {
  // 2026-03-04T05:06:07.891234Z as performance.now() of the request's start.
  const epoch = Date.UTC(2026, 2, 4, 5, 6, 7, 891) + 0.234;
  const startedAt = epoch - performance.timeOrigin;
  const at = (v: string) => evaluate(v, { startedAt });
  assert.equal(at('%START_TIME%'), '2026-03-04T05:06:07.891Z');
  assert.equal(at('%START_TIME(%s.%3f)%'), `${Math.floor(epoch / 1000)}.891`);
  assert.equal(at('%START_TIME(%Y/%m/%d %H:%M:%S %z %Z)%'), '2026/03/04 05:06:07 +0000 UTC');
  assert.equal(at('%START_TIME(%a %b %e %j %y %I%p %T %F %D %R %u %w %C %Ez %%)%'), 'Wed Mar  4 063 26 05AM 05:06:07 2026-03-04 03/04/26 05:06 3 3 20 +00:00 %');
  // The microseconds performance.now() keeps; nanoseconds beyond are zeros. Truncated, not rounded.
  assert.match(at('%START_TIME(%f)%'), /^8912(3[0-9]|4[0-9])000$/);
  assert.equal(at('%START_TIME(%1f|%E2S|%E0S)%'), '8|07.89|07');
  assert.match(refusal('%START_TIME(%H%n)%'), /newline/);
  assert.match(refusal('%START_TIME(%c)%'), /has a format with %c, which jwtgate does not write/);
  assert.match(refusal('%START_TIME(%-d)%'), /flag/);
  assert.match(refusal('%START_TIME(%)%'), /no time specifier/);
});

test('encoding: literal text and the request line go as UTF-8 bytes in an upstream request\'s latin1 list; a header\'s own value is not encoded twice', () => {
  const spec = (value: HeaderValue) => ({ set: [{ name: 'x-v', value }], add: [], remove: [] });
  const r = req({ path: '/caf\u00e9', query: '', headers: ['x-user', utf8AsLatin1('Jos\u00e9')] });
  const headers = [...r.headers];
  applyHeaderOps(headers, routeLevelOps(spec(fmt('\u00e9 %REQ(:path)% %REQ(x-user)%') as HeaderFormat), utf8AsLatin1), false, r, 0);
  assert.equal(Buffer.from(headers[3]!, 'latin1').toString('utf8'), '\u00e9 /caf\u00e9 Jos\u00e9');
});

test('a route\'s own rules: removals first, then every value formatted, then the writes (set, then add); an empty value skips its rule and leaves the field as it was', () => {
  const r = req({ headers: ['x-a', 'old-a', 'x-b', 'old-b', 'x-gone', 'g', 'x-keep', 'client'] });
  const spec = {
    remove: ['x-gone'],
    set: [
      { name: 'x-a', value: fmt('a<%REQ(x-b)%>') },
      { name: 'x-b', value: 'new-b' },
      { name: 'x-keep', value: fmt('%REQ(x-missing)%') },
      { name: 'x-was-gone', value: fmt('%REQ(x-gone)%') },
    ],
    add: [{ name: 'x-c', value: fmt('%REQ(x-a)%') }],
  };
  const headers = [...r.headers];
  applyHeaderOps(headers, routeLevelOps(spec, (v) => v), false, r, 0);
  // x-a sees x-b before the set, x-c sees x-a before the set; x-keep's empty value leaves the client's.
  assert.deepEqual(headers, ['x-keep', 'client', 'x-a', 'a<old-b>', 'x-b', 'new-b', 'x-c', 'old-a']);
  // A policy's rules (header_mutation) run one after another: each sees the ones before it.
  const seq = [...r.headers];
  applyHeaderOps(seq, policyOps({ add: [], set: [{ name: 'x-b', value: 'new-b' }, { name: 'x-a', value: fmt('a<%REQ(x-b)%>') }], remove: [] }, (v) => v), false, r, 0);
  assert.deepEqual(seq, ['x-gone', 'g', 'x-keep', 'client', 'x-b', 'new-b', 'x-a', 'a<new-b>']);
  // An empty value skips a policy's rule too.
  const empty = [...r.headers];
  applyHeaderOps(empty, policyOps({ add: [{ name: 'x-new', value: fmt('%REQ(x-missing)%') }], set: [{ name: 'x-keep', value: fmt('%RESP(x-a)%') }], remove: [] }, (v) => v), false, r, 0);
  assert.deepEqual(empty, r.headers);
});

test('any value either parses or is refused with a message, and a parsed one evaluates on both sides without throwing (20,000 random values from the grammar\'s pieces)', () => {
  const pieces = ['%', '%%', 'REQ', 'RESP', '(', ')', ':', '3', '?', 'x-user', ':path', 'START_TIME', '%s', '%f', '%E3S', '%n', 'ENVIRONMENT', 'PATH', 'valueOf', 'UNIQUE_ID', 'RESPONSE_CODE', 'DOWNSTREAM_REMOTE_ADDRESS', '_WITHOUT_PORT', 'UPSTREAM_HOST', 'a', ' ', '\u00e9', '%Y', '%-d', 'E', '*'];
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  let parsed = 0;
  for (let i = 0; i < 20_000; i++) {
    let v = '';
    for (let k = 1 + rand(8); k > 0; k--) v += pieces[rand(pieces.length)];
    for (const side of ['request', 'response'] as const) {
      const p = parseHeaderValue(v, side);
      if ('error' in p) {
        assert.ok(p.error.length > 0, v);
        continue;
      }
      parsed++;
      if (typeof p.value === 'string') continue;
      const out = formatHeaderValue(p.value, ['x-user', 'alice'], side === 'response', req(), performance.now(), 200);
      assert.equal(typeof out, 'string', v);
    }
  }
  assert.ok(parsed > 1000, `only ${parsed} parsed: the generator should reach the evaluated commands`);
});

test(':N counts bytes as Envoy does: on an upstream request\'s list (UTF-8 bytes as latin1) exactly, on text lists without splitting a character', () => {
  const jp = '\u65e5\u672c\u8a9e'; // three characters, nine bytes in UTF-8
  // Text (an early rule, a response rule): 4 bytes end inside the second character, which is left out.
  assert.equal(evaluate('%REQ(x-jp):4%', { headers: ['x-jp', jp] }), '\u65e5');
  assert.equal(evaluate('%REQ(x-jp):6%', { headers: ['x-jp', jp] }), '\u65e5\u672c');
  assert.equal(evaluate('%RESP(x-jp):5%', { side: 'response', headers: ['x-jp', jp] }), '\u65e5');
  assert.equal(evaluate('%REQ(x-ascii):4%', { headers: ['x-ascii', 'abcdef'] }), 'abcd');
  // An upstream request's list: the first 4 bytes, as Envoy cuts them.
  const r = req({ headers: ['x-jp', utf8AsLatin1(jp)] });
  const headers = [...r.headers];
  applyHeaderOps(headers, routeLevelOps({ set: [{ name: 'x-cut', value: fmt('%REQ(x-jp):4%') }], add: [], remove: [] }, utf8AsLatin1), false, r, 0);
  assert.deepEqual(Buffer.from(headers[3]!, 'latin1'), Buffer.from(jp, 'utf8').subarray(0, 4));
  process.env.JWTGATE_FORMAT_TEST = jp;
  try {
    assert.equal(fmt('%ENVIRONMENT(JWTGATE_FORMAT_TEST):3%'), '\u65e5');
  } finally {
    delete process.env.JWTGATE_FORMAT_TEST;
  }
});

test('%START_TIME%: %E*S drops a zero fraction and trims trailing zeros; a format with text beyond ASCII goes to an upstream request as its UTF-8 bytes', () => {
  const whole = Date.UTC(2026, 2, 4, 5, 6, 7) - performance.timeOrigin;
  assert.equal(evaluate('%START_TIME(%E*S)%', { startedAt: whole }), '07');
  assert.equal(evaluate('%START_TIME(%E*S)%', { startedAt: whole + 500 }), '07.5');
  const r = req({ headers: [] });
  const headers: string[] = [];
  applyHeaderOps(headers, routeLevelOps({ set: [{ name: 'x-t', value: fmt('%START_TIME(%Y\u5e74)%') as HeaderFormat }], add: [], remove: [] }, utf8AsLatin1), false, r, whole);
  assert.equal(Buffer.from(headers[1]!, 'latin1').toString('utf8'), '2026\u5e74');
});

test(':N on a text list through the compiled rules: an early rule and a response rule on the gateway\'s own answer cut before the character N bytes would split, as the upstream request\'s rules cut bytes', () => {
  const jp = '\u65e5\u672c\u8a9e'; // three characters, nine bytes in UTF-8
  const docs = [
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'default' }, spec: { gatewayClassName: 'k', listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] } },
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'app', namespace: 'default' }, spec: { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'app', port: 80 }], filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-route', value: '%REQ(x-jp):4%' }] } }] }] } },
    { apiVersion: 'gateway.kgateway.dev/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'pol', namespace: 'default' }, spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], headerModifiers: { response: { set: [{ name: 'x-policy', value: '%REQ(x-jp):4%' }] } } } },
    { apiVersion: 'gateway.kgateway.dev/v1alpha1', kind: 'ListenerPolicy', metadata: { name: 'lp', namespace: 'default' }, spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], default: { httpSettings: { earlyRequestHeaderModifier: { set: [{ name: 'x-early', value: '%REQ(x-jp):4%' }] } } } } },
  ];
  const snap = compileText(docs.map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 });
  assert.deepEqual(snap.problems.filter((p) => p.severity === 'error'), []);
  const table = snap.ports.get(8080)!;
  // The early rule edits the request's own (text) list.
  const early = req({ headers: ['x-jp', jp] });
  applyHeaderOps(early.headers, table.listeners[0]!.earlyHeaderOps!, false, early, 0);
  assert.deepEqual(early.headers, ['x-jp', jp, 'x-early', '\u65e5']);
  // A 401 the gateway gives itself: nothing went upstream, the response rules read the request as received.
  const local = req({ headers: ['x-jp', jp], edgeApplied: true });
  const answer: string[] = [];
  applyHeaderOps(answer, selectRoute(table, local)!.route.headerMutation!.response, true, local, 0, 401);
  assert.deepEqual(answer, ['x-route', '\u65e5', 'x-policy', '\u65e5']);
});

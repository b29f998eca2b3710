// Header rules between client and upstream: hop-by-hop removal (RFC 9110 §7.6.1), X-Forwarded-*,
// and undici raw response headers -> flat pairs.
import test from 'node:test';
import assert from 'node:assert/strict';
import { clientResponseHeaders, upstreamRequestHeaders as upstreamOrUndefined, upstreamTarget } from '../../src/proxy/header-rules.js';

function req(headers: string[], over: Partial<{ authority: string; remoteAddress: string; scheme: string }> = {}) {
  return { headers, authority: 'api.example.com:8080', remoteAddress: '10.0.0.1', scheme: 'http', ...over };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * The headers sent upstream, for requests that can be sent, without the x-envoy-external-address
 * (the client address, unless a claim header takes the name) and x-request-id that end every list.
 */
function upstreamRequestHeaders(r: Parameters<typeof upstreamOrUndefined>[0]): string[] {
  const out = upstreamOrUndefined(r);
  assert.ok(out, 'the request was refused');
  assert.equal(out.at(-2), 'x-request-id');
  assert.match(out.at(-1)!, UUID);
  if (r.remoteAddress === '' || r.gatewayHeaders?.includes('x-envoy-external-address')) return out.slice(0, -2);
  assert.deepEqual(out.slice(-4, -2), ['x-envoy-external-address', r.remoteAddress]);
  return out.slice(0, -4);
}

test('request: x-request-id is a new UUID per request, a client value replaced; the x-envoy-* fields Envoy strips at the edge are dropped, others kept', () => {
  const input = ['x-request-id', 'client-id', 'x-envoy-internal', 'true', 'x-envoy-retry-on', '5xx', 'x-envoy-max-retries', '9', 'x-envoy-upstream-rq-timeout-ms', '1', 'x-envoy-expected-rq-timeout-ms', '1', 'x-envoy-force-trace', '1', 'x-envoy-original-url', '/x', 'x-envoy-external-address', '1.2.3.4', 'x-envoy-original-path', '/kept', 'x-other', 'y'];
  const a = upstreamOrUndefined(req(input))!;
  const b = upstreamOrUndefined(req(input))!;
  assert.deepEqual(pairs(a).filter(([n]) => n === 'x-request-id').length, 1);
  assert.notEqual(a.at(-1), b.at(-1), 'one id per request');
  assert.ok(!a.includes('client-id'));
  assert.deepEqual(pairs(upstreamRequestHeaders(req(input))).filter(([n]) => n.startsWith('x-envoy-') || n === 'x-other'), [
    ['x-envoy-original-path', '/kept'],
    ['x-other', 'y'],
  ]);
});

test('request: a claim header named x-request-id or x-forwarded-* keeps the claim value the JWT stage set (Envoy: jwt_authn replaces what the connection manager set)', () => {
  const claims = ['x-request-id', 'req-from-jti', 'x-forwarded-host', 'alice', 'x-forwarded-proto', 'acme', 'x-forwarded-for', 'claimed-ip', 'x-envoy-external-address', 'claimed-addr', 'x-envoy-internal', 'maybe'];
  const out = upstreamOrUndefined({ ...req([...claims, 'x-other', 'y']), gatewayHeaders: ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-request-id', 'x-envoy-external-address', 'x-envoy-internal'] })!;
  assert.deepEqual(pairs(out).filter(([n]) => n.startsWith('x-')), [...pairs(claims), ['x-other', 'y']]);
  // x-forwarded-client-cert too: a client's is removed (SANITIZE), the JWT stage's claim value is sent.
  const xfcc = upstreamRequestHeaders({ ...req(['x-forwarded-client-cert', 'By=spiffe://claimed']), gatewayHeaders: ['x-forwarded-client-cert'] });
  assert.deepEqual(pairs(xfcc).filter(([n]) => n === 'x-forwarded-client-cert'), [['x-forwarded-client-cert', 'By=spiffe://claimed']]);
  // A claim absent from the token: the header was removed and stays absent, as in Envoy.
  const none = upstreamOrUndefined({ ...req(['x-other', 'y']), gatewayHeaders: ['x-request-id'] })!;
  assert.equal(none.includes('x-request-id'), false);
  assert.ok(none.includes('x-forwarded-proto'), 'only the claimed names are left to the JWT stage');
  // Other claim headers leave the gateway's own values alone.
  const other = upstreamOrUndefined({ ...req(['x-team', 'dev', 'x-request-id', 'client']), gatewayHeaders: ['x-team'] })!;
  assert.deepEqual(pairs(other).filter(([n]) => n === 'x-forwarded-for' || n === 'x-forwarded-proto'), [['x-forwarded-for', '10.0.0.1'], ['x-forwarded-proto', 'http']]);
  assert.match(other.at(-1)!, UUID);
});

function pairs(list: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i]!, list[i + 1]!]);
  return out;
}

test('request: hop-by-hop fields are removed (`te: trailers` and `trailer` kept, as Envoy keeps them), the rest kept in order; the fields Connection names were removed when the request was read (http-connection-header.test.ts)', () => {
  const input = [
    'host', 'api.example.com:8080',
    'connection', 'keep-alive',
    'keep-alive', 'timeout=5',
    'proxy-connection', 'keep-alive',
    'te', 'trailers',
    'trailer', 'x-checksum',
    'upgrade', 'h2c',
    'expect', '100-continue',
    'proxy-authorization', 'Basic abc',
    'x-team', 'dev',
    'x-team', 'ops',
    'authorization', 'Bearer t',
  ];
  const out = upstreamRequestHeaders(req(input));
  assert.deepEqual(pairs(out), [
    ['host', 'api.example.com:8080'],
    ['te', 'trailers'],
    ['trailer', 'x-checksum'],
    ['proxy-authorization', 'Basic abc'],
    ['x-team', 'dev'],
    ['x-team', 'ops'],
    ['authorization', 'Bearer t'],
    ['x-forwarded-for', '10.0.0.1'],
    ['x-forwarded-proto', 'http'],
  ]);
  assert.equal(input.length, 24, 'the request list is not modified');
});



test('request: an empty x-forwarded-for field adds nothing, and no comma (Envoy appendToHeader)', () => {
  for (const [fields, want] of [
    [[''], '10.0.0.1'],
    [['', '1.1.1.1'], '1.1.1.1,10.0.0.1'],
    [['1.1.1.1', ''], '1.1.1.1,10.0.0.1'],
  ] as const) {
    const out = upstreamRequestHeaders(req(fields.flatMap((f) => ['x-forwarded-for', f])));
    assert.deepEqual(pairs(out).filter(([n]) => n === 'x-forwarded-for'), [['x-forwarded-for', want]], JSON.stringify(fields));
  }
});

test('request: x-forwarded-for appends the client address to all received values; proto is overwritten; a client\'s x-forwarded-host is passed as it is, none added (Envoy without a host rewrite)', () => {
  const out = upstreamRequestHeaders(
    req(['x-forwarded-for', '1.1.1.1', 'x-forwarded-for', '2.2.2.2, 3.3.3.3', 'x-forwarded-proto', 'https', 'x-forwarded-host', 'evil.example'], { scheme: 'http' }),
  );
  assert.deepEqual(pairs(out).slice(-4), [
    ['x-forwarded-host', 'evil.example'],
    ['host', 'api.example.com:8080'],
    ['x-forwarded-for', '1.1.1.1,2.2.2.2, 3.3.3.3,10.0.0.1'],
    ['x-forwarded-proto', 'http'],
  ]);
  assert.equal(pairs(upstreamRequestHeaders(req(['x-a', '1']))).filter(([n]) => n === 'x-forwarded-host').length, 0);
});

test('request: no client address and no authority -> no x-forwarded-for/host, no invented host', () => {
  const out = upstreamRequestHeaders(req(['accept', '*/*'], { remoteAddress: '', authority: '' }));
  assert.deepEqual(pairs(out), [
    ['accept', '*/*'],
    ['x-forwarded-proto', 'http'],
  ]);
});

test('request: host missing from the list is taken from the authority', () => {
  const out = upstreamRequestHeaders(req(['accept', '*/*']));
  assert.deepEqual(pairs(out).slice(0, 2), [
    ['accept', '*/*'],
    ['host', 'api.example.com:8080'],
  ]);
});

test('request: duplicate host/content-length keep the first; transfer-encoding drops content-length', () => {
  assert.deepEqual(pairs(upstreamRequestHeaders(req(['host', 'a', 'host', 'b', 'content-length', '1', 'content-length', '1']))).slice(0, 2), [
    ['host', 'a'],
    ['content-length', '1'],
  ]);
  const chunked = upstreamRequestHeaders(req(['content-length', '10', 'transfer-encoding', 'chunked', 'x', 'y']));
  assert.deepEqual(pairs(chunked).map(([n]) => n), ['x', 'host', 'x-forwarded-for', 'x-forwarded-proto']);
});

test('request: non-ASCII values are sent as their UTF-8 bytes (undici writes headers as latin1)', () => {
  const out = upstreamRequestHeaders(req(['x-user', 'José 日本']));
  const v = out[1]!;
  assert.deepEqual(Buffer.from(v, 'latin1'), Buffer.from('José 日本', 'utf8'));
});

test('request: a non-ASCII x-forwarded-for value is sent as its UTF-8 bytes, with the client address appended', () => {
  const out = upstreamRequestHeaders(req(['x-forwarded-for', 'José']));
  const [[, v]] = pairs(out).filter(([n]) => n === 'x-forwarded-for') as [[string, string]];
  assert.deepEqual(Buffer.from(v, 'latin1'), Buffer.from('José,10.0.0.1', 'utf8'));
});

test('response: the fields a response names in Connection pass, as through Envoy (mutateResponseHeaders removes only Connection itself)', () => {
  const raw = ['Connection', 'X-One', 'X-One', '1', 'Connection', 'x-two', 'X-Two', '2', 'X-Three', '3'].map((s) => Buffer.from(s, 'latin1'));
  assert.deepEqual(pairs(clientResponseHeaders(raw)!), [['x-one', '1'], ['x-two', '2'], ['x-three', '3']]);
});

test('response: raw Buffer pairs -> lowercase flat pairs, repeats kept, hop-by-hop dropped (te, trailer and Connection-named fields pass, as through Envoy)', () => {
  const raw = [
    'Content-Type', 'text/html',
    'Set-Cookie', 'a=1',
    'Connection', 'keep-alive, X-Internal',
    'Keep-Alive', 'timeout=5',
    'Transfer-Encoding', 'chunked',
    'X-Internal', 'secret',
    'Set-Cookie', 'b=2',
    'Trailer', 'x-sum',
    'Upgrade', 'h2c',
    'Proxy-Connection', 'x',
    'TE', 'trailers',
    'Content-Length', '5',
    'X-Name', 'José',
  ].map((s) => Buffer.from(s, 'utf8'));
  assert.deepEqual(pairs(clientResponseHeaders(raw)!), [
    ['content-type', 'text/html'],
    ['set-cookie', 'a=1'],
    ['x-internal', 'secret'],
    ['set-cookie', 'b=2'],
    ['trailer', 'x-sum'],
    ['te', 'trailers'],
    ['content-length', '5'],
    ['x-name', 'José'],
  ]);
});

test('response: trailing whitespace of a value is stripped, as Envoy\'s codec does (HeaderString::rtrim); inner and leading kept as received', () => {
  const raw = ['X-A', 'v  ', 'X-B', 'a b\t \t', 'X-C', '   ', 'X-D', 'w\v\f', 'X-E', ' lead', 'X-F', 'plain'].map((s) => Buffer.from(s, 'latin1'));
  assert.deepEqual(pairs(clientResponseHeaders(raw)!), [
    ['x-a', 'v'],
    ['x-b', 'a b'],
    ['x-c', ''],
    ['x-d', 'w'],
    ['x-e', ' lead'],
    ['x-f', 'plain'],
  ]);
  // A hop-by-hop value is read trimmed too: `chunked ` is chunked.
  assert.deepEqual(clientResponseHeaders(['Transfer-Encoding', 'chunked  ', 'X-G', '1']), ['x-g', '1']);
});

test('response: Connection cannot remove content-length; string input works too', () => {
  assert.deepEqual(pairs(clientResponseHeaders(['Content-Length', '2', 'Connection', 'content-length'])!), [['content-length', '2']]);
});

test('response: a transfer coding other than exactly chunked cannot be passed on (undefined: the body would reach the client still encoded)', () => {
  for (const te of [['gzip, chunked'], ['gzip'], ['chunked', 'chunked'], ['identity', 'chunked'], ['gzip', 'chunked']]) {
    assert.equal(clientResponseHeaders(te.flatMap((v) => ['Transfer-Encoding', v])), undefined, JSON.stringify(te));
  }
  assert.deepEqual(clientResponseHeaders(['Transfer-Encoding', 'Chunked', 'X-A', '1']), ['x-a', '1']);
});

test('request: a value with a control character but tab, or a content-length that is not digits, cannot be sent (undefined)', () => {
  for (const bad of ['a\x7fb', 'a\x01b', 'a\x1fb', '\x00']) {
    assert.equal(upstreamOrUndefined(req(['x-a', bad])), undefined, JSON.stringify(bad));
    assert.equal(upstreamOrUndefined(req(['x-forwarded-for', bad])), undefined, `x-forwarded-for ${JSON.stringify(bad)}`);
  }
  for (const bad of ['abc', '-1', '1e3', '5 ', '']) {
    assert.equal(upstreamOrUndefined(req(['content-length', bad])), undefined, `content-length ${JSON.stringify(bad)}`);
  }
  // Tab, printable ASCII and non-ASCII text are fine; a second content-length is dropped unchecked.
  assert.deepEqual(pairs(upstreamRequestHeaders(req(['x-a', 'a\tb ~', 'content-length', '12', 'content-length', 'x', 'x-b', 'é']))).slice(0, 3), [
    ['x-a', 'a\tb ~'],
    ['content-length', '12'],
    ['x-b', Buffer.from('é', 'utf8').toString('latin1')],
  ]);
});

test('request target: ASCII as it is; non-ASCII as its UTF-8 bytes (one char per byte, as undici writes it); control characters and spaces refused', () => {
  assert.equal(upstreamTarget('/a/b', ''), '/a/b');
  assert.equal(upstreamTarget('/a', 'x=1&y=%20'), '/a?x=1&y=%20');
  assert.equal(upstreamTarget('/中', 'q=é'), Buffer.from('/中?q=é', 'utf8').toString('latin1'));
  for (const bad of ['/a\x7fb', '/a\x01', '/a b', '/a\tb']) assert.equal(upstreamTarget(bad, ''), undefined, JSON.stringify(bad));
  assert.equal(upstreamTarget('/a', 'q=\x7f'), undefined);
});

test('request: x-forwarded-client-cert is removed (Envoy SANITIZE); after applyEdgeHeaders (a port routing on these fields) the edge values are sent as they are, not appended twice', async () => {
  const { applyEdgeHeaders } = await import('../../src/proxy/header-rules.js');
  const plain = upstreamRequestHeaders(req(['x-forwarded-client-cert', 'Hash=ab', 'x-a', '1']));
  assert.deepEqual(pairs(plain).map(([n]) => n), ['x-a', 'host', 'x-forwarded-for', 'x-forwarded-proto']);
  const r = { ...req(['x-forwarded-for', '1.1.1.1', 'x-forwarded-for', '2.2.2.2', 'x-request-id', 'mine', 'x-forwarded-proto', 'https', 'x-forwarded-client-cert', 'Hash=ab', 'x-envoy-internal', 'true', 'x-envoy-external-address', '6.6.6.6', 'x-a', '1']) } as { headers: string[]; authority: string; remoteAddress: string; scheme: string; edgeApplied?: boolean };
  applyEdgeHeaders(r);
  assert.equal(r.edgeApplied, true);
  const edge = pairs(r.headers);
  assert.deepEqual(edge.slice(0, 3), [['x-a', '1'], ['x-forwarded-for', '1.1.1.1,2.2.2.2,10.0.0.1'], ['x-forwarded-proto', 'http']]);
  assert.equal(edge[3]![0], 'x-request-id');
  assert.match(edge[3]![1], UUID);
  assert.deepEqual(edge[4], ['x-envoy-external-address', '10.0.0.1']);
  const out = upstreamOrUndefined(r)!;
  assert.deepEqual(pairs(out), [['x-a', '1'], ['x-forwarded-for', '1.1.1.1,2.2.2.2,10.0.0.1'], ['x-forwarded-proto', 'http'], edge[3]!, edge[4]!, ['host', 'api.example.com:8080']]);
});

test('request: x-request-id, x-envoy-external-address and x-forwarded-for/-proto are the gateway\'s whatever the client\'s Connection says, in both modes', async () => {
  const { applyEdgeHeaders } = await import('../../src/proxy/header-rules.js');
  const named = 'x-request-id, x-envoy-external-address';
  const plain = upstreamOrUndefined(req(['connection', named, 'x-forwarded-for', '1.1.1.1']))!;
  const r = req(['connection', named, 'x-forwarded-for', '1.1.1.1']) as { headers: string[]; authority: string; remoteAddress: string; scheme: string; edgeApplied?: boolean };
  applyEdgeHeaders(r);
  const edge = upstreamOrUndefined(r)!;
  for (const out of [plain, edge]) {
    assert.equal(pairs(out).filter(([n]) => n === 'x-request-id').length, 1);
    assert.deepEqual(pairs(out).filter(([n]) => n === 'x-envoy-external-address'), [['x-envoy-external-address', '10.0.0.1']]);
    assert.deepEqual(pairs(out).filter(([n]) => n === 'x-forwarded-for'), [['x-forwarded-for', '1.1.1.1,10.0.0.1']]);
    assert.deepEqual(pairs(out).filter(([n]) => n === 'x-forwarded-proto'), [['x-forwarded-proto', 'http']]);
  }
});

test('request: a claim header (gatewayHeaders) is sent whatever the client\'s Connection names: the named fields went when the request was read, before the JWT stage added its own', () => {
  const out = upstreamRequestHeaders({ ...req(['x-user', 'alice', 'x-team', 'dev', 'x-other', 'o', 'connection', 'x-user, x-other', 'connection', 'X-Team']), gatewayHeaders: ['x-user', 'x-team'] });
  assert.deepEqual(pairs(out).filter(([n]) => n.startsWith('x-') && !n.startsWith('x-forwarded')), [['x-user', 'alice'], ['x-team', 'dev'], ['x-other', 'o']]);
});

test('request: a Referer is removed when repeated (every one) or when Envoy would not keep its value; a valid one stays where it was', async () => {
  const { applyEdgeHeaders } = await import('../../src/proxy/header-rules.js');
  const names = (out: string[]) => pairs(out).map(([n]) => n);
  assert.deepEqual(pairs(upstreamRequestHeaders(req(['x-a', '1', 'referer', 'https://app.example.com/page?x=1', 'x-b', '2']))).slice(0, 3), [['x-a', '1'], ['referer', 'https://app.example.com/page?x=1'], ['x-b', '2']]);
  for (const headers of [
    ['referer', 'https://app.example.com/', 'x-a', '1', 'referer', 'https://app.example.com/'],
    ['referer', 'https://app.example.com/#section', 'x-a', '1'],
    ['referer', 'https://user@app.example.com/', 'x-a', '1'],
    ['referer', 'not a url', 'x-a', '1'],
  ]) {
    assert.deepEqual(names(upstreamRequestHeaders(req(headers))), ['x-a', 'host', 'x-forwarded-for', 'x-forwarded-proto'], JSON.stringify(headers));
    // On a port whose routes match on referer, the same before routing; then sent as it is.
    const r = req(headers) as { headers: string[]; authority: string; remoteAddress: string; scheme: string; edgeApplied?: boolean };
    applyEdgeHeaders(r);
    assert.equal(names(r.headers).includes('referer'), false, JSON.stringify(headers));
    assert.equal(names(upstreamOrUndefined(r)!).includes('referer'), false);
  }
  const r = req(['referer', '/from/here', 'x-a', '1']) as { headers: string[]; authority: string; remoteAddress: string; scheme: string; edgeApplied?: boolean };
  applyEdgeHeaders(r);
  assert.deepEqual(pairs(r.headers).slice(0, 2), [['referer', '/from/here'], ['x-a', '1']]);
  assert.deepEqual(pairs(upstreamOrUndefined(r)!).filter(([n]) => n === 'referer'), [['referer', '/from/here']]);
  // A claim header named referer was set after Envoy's check: its value is sent whatever it is.
  assert.deepEqual(pairs(upstreamRequestHeaders({ ...req(['referer', 'claim value']), gatewayHeaders: ['referer'] })).filter(([n]) => n === 'referer'), [['referer', 'claim value']]);
});

test('request: TE is sent as exactly `trailers` where one of its members is `trailers` (repeated fields are one list, kept at the first one\'s place), and removed otherwise (Envoy sanitize_te); `Connection: TE` does not remove it', async () => {
  const { applyEdgeHeaders } = await import('../../src/proxy/header-rules.js');
  const te = (headers: string[]) => pairs(upstreamRequestHeaders(req(headers))).filter(([n]) => n === 'te' || n === 'x-a' || n === 'x-b');
  assert.deepEqual(te(['x-a', '1', 'te', 'trailers', 'x-b', '2']), [['x-a', '1'], ['te', 'trailers'], ['x-b', '2']]);
  assert.deepEqual(te(['te', 'gzip;q=0.5, Trailers ', 'x-a', '1']), [['te', 'trailers'], ['x-a', '1']]);
  assert.deepEqual(te(['x-a', '1', 'te', 'gzip', 'x-b', '2', 'te', 'trailers']), [['x-a', '1'], ['te', 'trailers'], ['x-b', '2']]);
  for (const value of ['gzip', 'deflate, chunked', 'trailers;q=1', 'xtrailers', '']) assert.deepEqual(te(['te', value, 'x-a', '1']), [['x-a', '1']], value);
  assert.deepEqual(te(['connection', 'TE', 'te', 'trailers']), [['te', 'trailers']]);
  // Removing a TE before a content-length that a transfer-encoding then drops removes the right pair.
  assert.deepEqual(pairs(upstreamRequestHeaders(req(['te', 'gzip', 'content-length', '5', 'transfer-encoding', 'chunked', 'x-a', '1']))).slice(0, 2), [['x-a', '1'], ['host', 'api.example.com:8080']]);
  // On a port routing on it, the same before routing; then sent as it is.
  for (const [headers, want] of [[['te', 'gzip, trailers', 'x-a', '1', 'te', 'deflate'], [['te', 'trailers'], ['x-a', '1']]], [['te', 'gzip', 'x-a', '1'], [['x-a', '1']]]] as const) {
    const r = req([...headers]) as { headers: string[]; authority: string; remoteAddress: string; scheme: string; edgeApplied?: boolean };
    applyEdgeHeaders(r);
    assert.deepEqual(pairs(r.headers).slice(0, want.length), want);
    assert.deepEqual(pairs(upstreamOrUndefined(r)!).filter(([n]) => n === 'te'), want.filter(([n]) => n === 'te'));
  }
  // A claim header named te was set after Envoy's check: its value is sent as it is.
  assert.deepEqual(pairs(upstreamRequestHeaders({ ...req(['te', 'claim value']), gatewayHeaders: ['te'] })).filter(([n]) => n === 'te'), [['te', 'claim value']]);
});

test('request: a loopback client (127.0.0.0/8, ::1) gets the gateway\'s node address appended to x-forwarded-for, as Envoy appends its own for a loopback peer; x-envoy-external-address stays the client\'s', async () => {
  const { forwardedForElement, nodeAddress, applyEdgeHeaders } = await import('../../src/proxy/header-rules.js');
  for (const remote of ['127.0.0.1', '127.3.2.1', '::1']) {
    assert.equal(forwardedForElement(remote), nodeAddress(), remote);
    const out = upstreamOrUndefined(req(['x-forwarded-for', '9.9.9.9'], { remoteAddress: remote }))!;
    assert.deepEqual(pairs(out).filter(([n]) => n === 'x-forwarded-for' || n === 'x-envoy-external-address'), [['x-forwarded-for', `9.9.9.9,${nodeAddress()}`], ['x-envoy-external-address', remote]]);
    const r = req([], { remoteAddress: remote }) as { headers: string[]; authority: string; remoteAddress: string; scheme: string; edgeApplied?: boolean };
    applyEdgeHeaders(r);
    assert.deepEqual(pairs(r.headers).filter(([n]) => n === 'x-forwarded-for' || n === 'x-envoy-external-address'), [['x-forwarded-for', nodeAddress()], ['x-envoy-external-address', remote]]);
  }
  for (const remote of ['10.0.0.1', '128.0.0.1', '::2', '2001:db8::1', '::ffff:127.0.0.1x']) assert.equal(forwardedForElement(remote), remote);
});

test('the node address is Envoy\'s getLocalAddress for IPv4: the first IPv4 address, in interface order, that is not loopback; 127.0.0.1 when there is none', async () => {
  const { pickNodeAddress } = await import('../../src/proxy/header-rules.js');
  const a = (address: string, family: 'IPv4' | 'IPv6') => ({ address, family, netmask: '', mac: '', internal: false, cidr: null }) as import('node:os').NetworkInterfaceInfo;
  assert.equal(pickNodeAddress({ lo: [a('127.0.0.1', 'IPv4'), a('::1', 'IPv6')], eth0: [a('fe80::1', 'IPv6'), a('192.0.2.2', 'IPv4')], eth1: [a('198.51.100.7', 'IPv4')] }), '192.0.2.2');
  assert.equal(pickNodeAddress({ eth1: [a('198.51.100.7', 'IPv4')], eth0: [a('192.0.2.2', 'IPv4')] }), '198.51.100.7');
  assert.equal(pickNodeAddress({ lo: [a('127.0.0.1', 'IPv4'), a('127.0.1.1', 'IPv4')], eth0: [a('2001:db8::2', 'IPv6')] }), '127.0.0.1');
  assert.equal(pickNodeAddress({}), '127.0.0.1');
  // Node 18.0–18.3 reported the family as a number.
  assert.equal(pickNodeAddress({ eth0: [{ ...a('203.0.113.5', 'IPv4'), family: 4 as unknown as 'IPv4' }] }), '203.0.113.5');
});

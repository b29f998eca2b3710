// Gateway API's RequestRedirect HTTPRoute filter end to end, as kgateway configures Envoy's route
// redirect action: answered by the router after the JWT and RBAC filters (a Strict route without a
// token gets 401, not the redirect), never proxied, with an empty body, the status (302 by
// default) and a `location` built as Envoy's newUri builds it.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { jwtExtension, startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { mint, rsaKeys } from '../helpers/tokens.js';
import { configDumpText } from '../../src/config/dump.js';
import { redirectLocation } from '../../src/proxy/redirect.js';

const keys = rsaKeys('rd');
let h: Harness;

const redirectRoute = (name: string, match: string, redirect: string, extra = '') => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: httpbin }
spec:
  parentRefs: [{ name: http, namespace: kgateway-system }]
  hostnames: [www.example.com]
  rules:
  - matches: [${match}]
    filters: [{ type: RequestRedirect, requestRedirect: ${redirect} }${extra}]
`;

before(async () => {
  h = await startHarness({
    manifests: [
      redirectRoute('to-https', '{ path: { type: PathPrefix, value: /secure } }', '{ scheme: https }') +
        redirectRoute('moved', '{ path: { type: PathPrefix, value: /old } }', '{ hostname: new.example.com, statusCode: 301, path: { type: ReplacePrefixMatch, replacePrefixMatch: /new } }') +
        redirectRoute('full', '{ path: { type: Exact, value: /login } }', '{ port: 8443, path: { type: ReplaceFullPath, replaceFullPath: /auth/login } }', ', { type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-redirected, value: "yes" }] } }') +
        redirectRoute('guarded', '{ path: { type: PathPrefix, value: /guarded } }', '{ hostname: elsewhere.example.com, statusCode: 307 }') +
        jwtExtension('jwt', 'httpbin', keys.jwks) +
        `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: guarded, namespace: httpbin }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: guarded }]
  jwtAuth: { extensionRef: { name: jwt } }
` +
        // No matches: the API server's default, one PathPrefix "/" (Envoy cuts it as one character).
        redirectRoute('default-match', '', '{ hostname: d.example.com, path: { type: ReplacePrefixMatch, replacePrefixMatch: /d/ } }').replace('hostnames: [www.example.com]', 'hostnames: [default.example.com]').replace('  - matches: []\n    filters', '  - filters') +
        redirectRoute('empty-full', '{ path: { type: PathPrefix, value: /empty } }', '{ path: { type: ReplaceFullPath, replaceFullPath: "" } }') +
        redirectRoute('bad-prefix', '{ path: { type: Exact, value: /bad } }', '{ path: { type: ReplacePrefixMatch, replacePrefixMatch: /x } }'),
    ],
  });
});
after(() => h.close());

const get = (path: string, host = 'www.example.com', headers: Record<string, string> = {}, method = 'GET') => request({ port: h.port, path, method, headers: { host, ...headers } });
const metric = (result: string) => Number(h.gateway.renderMetrics().match(new RegExp(`jwtgate_requests_total\\{result="${result}"\\} (\\d+)`))?.[1] ?? NaN);

test('scheme https: 302 to the same host and port, path and query kept, empty body, never proxied; counted as REDIRECT', async () => {
  const n = h.echo.received.length;
  const before0 = metric('REDIRECT');
  const res = await get('/secure/a/../b?x=1&y=%20', 'www.example.com:8080');
  assert.equal(res.status, 302);
  assert.equal(res.headers.location, 'https://www.example.com:8080/secure/b?x=1&y=%20');
  assert.equal(res.body, '');
  assert.equal(res.headers['content-length'], '0');
  assert.equal(res.headers['content-type'], undefined);
  // The http default port is dropped when the scheme changes (Envoy's processRequestHost).
  assert.equal((await get('/secure', 'www.example.com:80')).headers.location, 'https://www.example.com/secure');
  assert.equal(h.echo.received.length, n);
  assert.equal(metric('REDIRECT') - before0, 2);
});

test('hostname, statusCode 301 and ReplacePrefixMatch: the matched prefix replaced, the request port dropped with the host', async () => {
  const res = await get('/old/page?q=1', 'www.example.com:8080');
  assert.equal(res.status, 301);
  assert.equal(res.headers.location, 'http://new.example.com/new/page?q=1');
  assert.equal((await get('/old')).headers.location, 'http://new.example.com/new');
});

test('port and ReplaceFullPath: the request port replaced, the query kept; the route\'s response header rules apply; HEAD gets the same head', async () => {
  const res = await get('/login?next=/home', 'www.example.com:8080');
  assert.equal(res.status, 302);
  assert.equal(res.headers.location, 'http://www.example.com:8443/auth/login?next=/home');
  assert.equal(res.headers['x-redirected'], 'yes');
  const head = await get('/login', 'www.example.com', {}, 'HEAD');
  assert.equal(head.status, 302);
  assert.equal(head.headers.location, 'http://www.example.com:8443/auth/login');
});

test('JWT runs before the redirect: no token 401 Jwt is missing, a valid token 307', async () => {
  const none = await get('/guarded/x');
  assert.equal(none.status, 401);
  assert.equal(none.body, 'Jwt is missing');
  const token = mint({ alg: 'RS256', key: keys.privateKey, kid: 'rd', payload: { iss: 'https://idp.example.com', exp: Math.floor(Date.now() / 1000) + 600 } });
  const ok = await get('/guarded/x', 'www.example.com', { authorization: `Bearer ${token}` });
  assert.equal(ok.status, 307);
  assert.equal(ok.headers.location, 'http://elsewhere.example.com/guarded/x');
});

test('ReplacePrefixMatch without exactly one PathPrefix match: the CRD rule, reported, the rule answers 500; /config_dump shows each redirect', async () => {
  const res = await get('/bad');
  assert.equal(res.status, 500);
  const p = h.gateway.snapshot.problems.find((x) => x.resource === 'HTTPRoute/httpbin/bad-prefix');
  assert.equal(p?.path, 'spec.rules[0].filters[0].requestRedirect.path');
  assert.match(p?.message ?? '', /exactly one PathPrefix match must be specified/);
  assert.match(JSON.stringify(JSON.parse(configDumpText(h.gateway.snapshot))), /"redirect":\{"status":301,"host":"new.example.com","prefix":\{"matched":"\/old","rewrite":"\/new"\}\}/);
});

test('location as Envoy builds it: IPv6 hosts, a prefix "/" (kgateway emits a plain prefix), an empty prefix (no rewrite), a full path with its own query', () => {
  const req = (authority: string, path = '/a/b', query = '') => ({ scheme: 'http', authority, path, query });
  assert.equal(redirectLocation({ status: 302, scheme: 'https' }, req('[::1]:80')), 'https://[::1]/a/b');
  assert.equal(redirectLocation({ status: 302, scheme: 'https' }, req('[::1]:8080')), 'https://[::1]:8080/a/b');
  assert.equal(redirectLocation({ status: 302, port: 9000 }, req('[::1]')), 'http://[::1]:9000/a/b');
  assert.equal(redirectLocation({ status: 302, prefix: { matched: '/', rewrite: '/x' } }, req('h')), 'http://h/xa/b');
  assert.equal(redirectLocation({ status: 302, prefix: { matched: '/a', rewrite: '' } }, req('h')), 'http://h/a/b');
  assert.equal(redirectLocation({ status: 302, fullPath: '/p?z=1' }, req('h', '/a', 'q=2')), 'http://h/p?z=1');
  assert.equal(redirectLocation({ status: 302, scheme: 'http' }, req('h:80')), 'http://h:80/a/b');
});

test('review findings: no matches with ReplacePrefixMatch is the default PathPrefix /; an empty ReplaceFullPath keeps the request path (Envoy leaves path_redirect unset); a DEL byte in the query gets 400, never a location with it', async () => {
  const d = await get('/a/b?q=1', 'default.example.com');
  assert.equal(d.status, 302);
  assert.equal(d.headers.location, 'http://d.example.com/d/a/b?q=1');
  const e = await get('/empty/keep?q=1');
  assert.equal(e.status, 302);
  assert.equal(e.headers.location, 'http://www.example.com/empty/keep?q=1');
  const del = await get('/secure/x?a=b\x7fc');
  assert.equal(del.status, 400);
  assert.equal(del.headers.location, undefined);
});

test('the 400 for a DEL byte a redirect would carry closes a keep-alive connection, as Envoy\'s codec error does', async () => {
  const sock = net.connect(h.port, '127.0.0.1');
  let reply = '';
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  sock.on('data', (d: Buffer) => (reply += d.toString('latin1')));
  sock.on('error', () => {});
  sock.write(Buffer.from('GET /secure/x?a=b\x7fc HTTP/1.1\r\nHost: www.example.com\r\n\r\n', 'latin1'));
  const timer = setTimeout(() => sock.destroy(), 3000);
  await closed;
  clearTimeout(timer);
  assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.match(reply, /\r\nconnection: close\r\n/i, 'closed by the gateway, not by the 3 s guard');
});

// Envoy api_key_auth's checks (api_key_auth.cc) on one policy: sources in order, one place per
// source, `Bearer ` on any header, query and cookie parsing, the client id header, and clearing
// every source's place.
import test from 'node:test';
import assert from 'node:assert/strict';
import { apiKeyDenial, cookieValue, removeCookie, type ApiKeyAuthSpec } from '../../src/auth/api-key-auth.js';
import type { GatewayRequest } from '../../src/http/exchange.js';

const keys = new Map([
  ['k-alice', 'alice'],
  ['k bob', 'bob'],
  ['k+plus', 'plus'],
  ['ключ', 'utf8'],
  ['Bearerx', 'no-space'],
]);
const spec = (over: Partial<ApiKeyAuthSpec> = {}): ApiKeyAuthSpec => ({
  keys,
  sources: [
    { kind: 'header', name: 'x-api-key' },
    { kind: 'query', name: 'api_key' },
    { kind: 'cookie', name: 'auth_token' },
  ],
  hideCredentials: true,
  ...over,
});
const req = (headers: string[] = [], query = ''): GatewayRequest => ({ method: 'GET', path: '/p', query, host: 'h', authority: 'h', headers, remoteAddress: '', scheme: 'http' });

test('no key anywhere, or only empty values: missing', () => {
  assert.equal(apiKeyDenial(spec(), req()), 'API_KEY_MISSING');
  assert.equal(apiKeyDenial(spec(), req(['x-api-key', '', 'cookie', 'auth_token='], 'api_key=')), 'API_KEY_MISSING');
  assert.equal(apiKeyDenial(spec(), req(['x-api-key', 'Bearer '])), 'API_KEY_MISSING');
});

test('the first source with a non-empty value decides, even when its key is unknown', () => {
  assert.equal(apiKeyDenial(spec(), req(['x-api-key', 'nope'], 'api_key=k-alice')), 'API_KEY_UNKNOWN');
  const r = req(['x-api-key', ''], 'api_key=k-alice');
  assert.equal(apiKeyDenial(spec(), r), undefined);
});

test('header: the first value, a leading `Bearer ` (that case, one space) removed on any header', () => {
  assert.equal(apiKeyDenial(spec(), req(['x-api-key', 'Bearer k-alice'])), undefined);
  assert.equal(apiKeyDenial(spec(), req(['x-api-key', 'bearer k-alice'])), 'API_KEY_UNKNOWN');
  assert.equal(apiKeyDenial(spec(), req(['x-api-key', 'Bearer  k-alice'])), 'API_KEY_UNKNOWN');
  assert.equal(apiKeyDenial(spec(), req(['x-api-key', 'k-alice', 'x-api-key', 'other'])), undefined);
  assert.equal(apiKeyDenial(spec(), req(['x-api-key', 'other', 'x-api-key', 'k-alice'])), 'API_KEY_UNKNOWN');
  assert.equal(apiKeyDenial(spec(), req(['x-api-key', 'ключ'])), undefined);
  assert.equal(apiKeyDenial(spec(), req(['x-api-key', 'Bearerx'])), undefined, 'no space: kept whole');
});

test('query: percent-decoded, `+` kept, the first value', () => {
  assert.equal(apiKeyDenial(spec(), req([], 'api_key=k%20bob')), undefined);
  assert.equal(apiKeyDenial(spec(), req([], 'api_key=k+plus')), undefined);
  assert.equal(apiKeyDenial(spec(), req([], 'api_key=%D0%BA%D0%BB%D1%8E%D1%87')), undefined);
  assert.equal(apiKeyDenial(spec(), req([], 'api_key=nope&api_key=k-alice')), 'API_KEY_UNKNOWN');
  assert.equal(apiKeyDenial(spec(), req([], 'api%5Fkey=k-alice')), undefined);
});

test('cookie: the first of that exact name, double quotes removed, across cookie fields', () => {
  assert.equal(apiKeyDenial(spec(), req(['cookie', 'a=1;  auth_token=k-alice'])), undefined);
  assert.equal(apiKeyDenial(spec(), req(['cookie', 'a=1', 'cookie', 'auth_token="k-alice"'])), undefined);
  assert.equal(apiKeyDenial(spec(), req(['cookie', 'Auth_token=k-alice'])), 'API_KEY_MISSING');
  assert.equal(cookieValue(['cookie', 'x; auth_token=1; auth_token=2'], 'auth_token'), '1');
  assert.equal(cookieValue(['cookie', 'auth_token="'], 'auth_token'), '"');
  assert.equal(cookieValue(['cookie', 'auth_token =1'], 'auth_token'), '');
});

test('accepted: the client id header replaces what the client sent; every source\'s place is cleared', () => {
  const r = req(['x-api-key', 'k-alice', 'x-client-id', 'mallory', 'x-client-id', 'eve', 'cookie', 'a=1; auth_token=zzz; b=2'], 'z=1&api_key=x&a=%20');
  assert.equal(apiKeyDenial(spec({ clientIdHeader: 'x-client-id' }), r), undefined);
  assert.deepEqual(r.headers, ['x-client-id', 'alice', 'cookie', 'a=1; b=2']);
  // Envoy's query rewrite: sorted by name, values decoded (then made wire-safe).
  assert.equal(r.query, 'a=%20&z=1');
  assert.equal(r.queryAsEnvoy, 'a= &z=1');
});

test('forwardCredential: nothing is cleared; the client id header is still set', () => {
  const r = req(['x-api-key', 'k-alice', 'cookie', 'auth_token=k-alice'], 'b=1&a=2');
  assert.equal(apiKeyDenial(spec({ hideCredentials: false, clientIdHeader: 'x-client-id' }), r), undefined);
  assert.deepEqual(r.headers, ['x-api-key', 'k-alice', 'cookie', 'auth_token=k-alice', 'x-client-id', 'alice']);
  assert.equal(r.query, 'b=1&a=2');
});

test('a client id header named like a source is set, then cleared with it (Envoy sets it first)', () => {
  const r = req(['x-api-key', 'k-alice']);
  assert.equal(apiKeyDenial(spec({ clientIdHeader: 'x-api-key' }), r), undefined);
  assert.deepEqual(r.headers, []);
});

test('a refused request is left as it came', () => {
  const headers = ['x-api-key', 'nope', 'x-client-id', 'mallory'];
  const r = req([...headers], 'b=1&a=2');
  assert.equal(apiKeyDenial(spec({ clientIdHeader: 'x-client-id' }), r), 'API_KEY_UNKNOWN');
  assert.deepEqual(r.headers, headers);
  assert.equal(r.query, 'b=1&a=2');
});

test('removeCookie (Envoy rebuilds the field): the named cookie out, the others unquoted and joined with `; ` in one field, pieces without `=` dropped; no cookie left, no field; also when the cookie is not there', () => {
  const h1 = ['x', '1', 'cookie', 'a=1;auth_token=k', 'cookie', 'b=2'];
  removeCookie(h1, 'auth_token');
  assert.deepEqual(h1, ['x', '1', 'cookie', 'a=1; b=2']);
  const h2 = ['cookie', 'auth_token=k'];
  removeCookie(h2, 'auth_token');
  assert.deepEqual(h2, []);
  const h3 = ['cookie', 'a="1";flag;b=2'];
  removeCookie(h3, 'auth_token');
  assert.deepEqual(h3, ['cookie', 'a=1; b=2']);
  const h4 = ['cookie', 'flag', 'x', '1'];
  removeCookie(h4, 'auth_token');
  assert.deepEqual(h4, ['x', '1']);
});

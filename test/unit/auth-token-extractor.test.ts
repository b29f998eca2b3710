// Token extraction (spec §4.1) and token removal (spec §4.8.3).
import test from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { extractTokens, parseQuery, removeQueryParam, removeToken } from '../../src/auth/token-extractor.js';
import { percentDecode } from '../../src/http/percent-decode.js';
import { provider, request } from '../fixtures/auth/builders.js';

const defaults = provider();
const tokens = (req: ReturnType<typeof request>, p = defaults) => extractTokens(req, p).map((t) => [t.kind, t.name, t.token]);

test('default locations: Authorization "Bearer " and the access_token query parameter', () => {
  const req = request({ headers: { authorization: 'Bearer a.b.c' }, query: 'access_token=q.r.s' });
  assert.deepEqual(tokens(req), [
    ['header', 'authorization', 'a.b.c'],
    ['query', 'access_token', 'q.r.s'],
  ]);
});

test('the prefix is case-sensitive and found anywhere in the value', () => {
  assert.deepEqual(tokens(request({ headers: { authorization: 'bearer a.b.c' } })), []);
  assert.deepEqual(tokens(request({ headers: { authorization: 'BEARER a.b.c' } })), []);
  assert.deepEqual(tokens(request({ headers: { authorization: 'Basic x, Bearer a.b.c' } })), [['header', 'authorization', 'a.b.c']]);
});

test('after the prefix, characters that are not base64url or "." are skipped, the rest is taken', () => {
  assert.deepEqual(tokens(request({ headers: { authorization: 'Bearer   "a.b.c" trailing' } })), [['header', 'authorization', 'a.b.c" trailing']]);
  assert.deepEqual(tokens(request({ headers: { authorization: 'Bearer .a.b' } })), [['header', 'authorization', '.a.b']]);
  // '-', '_', digits and capitals are token characters too: kept, so "Bearer -<jwt>" is not a good token.
  assert.deepEqual(tokens(request({ headers: { authorization: 'Bearer "-a.b' } })), [['header', 'authorization', '-a.b']]);
  assert.deepEqual(tokens(request({ headers: { authorization: 'Bearer "_a.b' } })), [['header', 'authorization', '_a.b']]);
  assert.deepEqual(tokens(request({ headers: { authorization: 'Bearer "9a.b' } })), [['header', 'authorization', '9a.b']]);
  assert.deepEqual(tokens(request({ headers: { authorization: 'Bearer "Za.b' } })), [['header', 'authorization', 'Za.b']]);
  // Nothing token-like after the prefix: Envoy keeps the whole value (and parsing then fails).
  assert.deepEqual(tokens(request({ headers: { authorization: 'Bearer  !!' } })), [['header', 'authorization', 'Bearer  !!']]);
});

test('each value of a repeated header gives a token, in arrival order', () => {
  const req = request({ headers: [['authorization', 'Bearer one'], ['x', 'y'], ['authorization', 'Bearer two'], ['authorization', 'no prefix']] });
  assert.deepEqual(tokens(req), [
    ['header', 'authorization', 'one'],
    ['header', 'authorization', 'two'],
  ]);
});

test('an empty prefix takes the whole value; header names match lowercase', () => {
  const p = provider({ headerLocations: [{ name: 'x-jwt', prefix: '' }], queryLocations: [] });
  assert.deepEqual(tokens(request({ headers: { 'X-JWT': '  a.b.c ' } }), p), [['header', 'x-jwt', '  a.b.c ']]);
});

test('order: header locations in the provider order (lowercase name + prefix), then sorted query parameters', () => {
  const p = provider({
    headerLocations: [
      { name: 'authorization', prefix: 'Bearer ' },
      { name: 'authorization', prefix: 'JWT ' },
      { name: 'x-token', prefix: '' },
    ],
    queryLocations: ['a_token', 'z_token'],
  });
  const req = request({ headers: [['x-token', 'X'], ['authorization', 'JWT J'], ['authorization', 'Bearer B']], query: 'z_token=Z&a_token=A' });
  assert.deepEqual(tokens(req, p), [
    ['header', 'authorization', 'B'],
    ['header', 'authorization', 'J'],
    ['header', 'x-token', 'X'],
    ['query', 'a_token', 'A'],
    ['query', 'z_token', 'Z'],
  ]);
});

test('query: split on & and =, percent-decoded, no + to space, first value of the parameter', () => {
  assert.deepEqual(tokens(request({ query: 'access_token=a%2Eb%2ec+d&access_token=second' })), [['query', 'access_token', 'a.b.c+d']]);
  assert.deepEqual(tokens(request({ query: 'access%5Ftoken=x' })), [['query', 'access_token', 'x']]);
  assert.deepEqual(tokens(request({ query: 'access_token' })), [['query', 'access_token', '']]);
  assert.deepEqual(tokens(request({ query: 'access_token=a=b' })), [['query', 'access_token', 'a=b']]);
  assert.deepEqual(tokens(request({ query: 'ACCESS_TOKEN=x' })), []);
  assert.deepEqual(tokens(request({ query: '' })), []);
});

test('percent decoding keeps invalid escapes and reads bytes as UTF-8', () => {
  assert.equal(percentDecode('%41%4a%zz%4'), 'AJ%zz%4');
  assert.equal(percentDecode('%C3%A9t%C3%A9'), 'été');
  assert.equal(percentDecode('a+b'), 'a+b');
  assert.equal(percentDecode('é%20'), 'é ');
  // A character outside the BMP (two UTF-16 units) next to an escape is kept whole, and an escape at the very end is decoded.
  assert.equal(percentDecode('😀%41😀'), '😀A😀');
  assert.equal(percentDecode('x%F0%9F%98%80'), 'x😀');
  assert.deepEqual(parseQuery('a=1&&b&=2'), [['a', '1'], ['', ''], ['b', ''], ['', '2']]);
});

test('removing a header token removes the whole header, all values', () => {
  const req = request({ headers: [['authorization', 'Bearer one'], ['x', 'y'], ['authorization', 'Basic zzz']] });
  const [t] = extractTokens(req, defaults);
  removeToken(req, t!);
  assert.deepEqual(req.headers, ['x', 'y']);
});

test('removing a query token re-serializes the rest sorted by key, decoded (only wire-unsafe bytes re-encoded)', () => {
  const req = request({ query: 'b=2&access_token=t&a=%20x%26y&b=1&c' });
  const t = extractTokens(req, defaults).find((x) => x.kind === 'query')!;
  removeToken(req, t);
  // Envoy writes ' x&y' back decoded; the space cannot go on the wire, the '&' can (as Envoy).
  assert.equal(req.query, 'a=%20x&y&b=2&b=1&c=');
  assert.equal(removeQueryParam('access_token=t', 'access_token'), '');
  // A decoded control byte is re-encoded as two hex digits (%09, not %9), as is DEL and '#'.
  assert.equal(removeQueryParam('a=%09%01%7F%23&access_token=t', 'access_token'), 'a=%09%01%7F%23');
  assert.equal(removeQueryParam('access_token=t&access_token=u&z=1', 'access_token'), 'z=1');
});

test('removing a query token keeps the bytes of values and names that are not UTF-8, and sorts names by bytes', () => {
  // Before, the rest was decoded as UTF-8 text: %E9 and %FF%80 came back as %EF%BF%BD (U+FFFD).
  assert.equal(removeQueryParam('a=%FF%80&b=%E9&access_token=t', 'access_token'), 'a=%FF%80&b=%E9');
  assert.equal(removeQueryParam('%E9=1&access_token=t&e=2', 'access_token'), 'e=2&%E9=1');
  // ！ is EF BC 81, 😀 is F0 9F 98 80: by bytes ！ comes first (by UTF-16 units it came second).
  assert.equal(removeQueryParam('%F0%9F%98%80=2&%EF%BC%81=1&access_token=t', 'access_token'), '%EF%BC%81=1&%F0%9F%98%80=2');
  // Raw (not percent-encoded) non-ASCII characters are written as their UTF-8 bytes.
  assert.equal(removeQueryParam('q=wörld&access_token=t', 'access_token'), 'q=w%C3%B6rld');
  // A parameter name that is not ASCII is matched by its UTF-8 bytes, encoded or raw.
  assert.equal(removeQueryParam('t%C3%B6k=x&z=1', 'tök'), 'z=1');
  assert.equal(removeQueryParam('tök=x&z=1', 'tök'), 'z=1');
  // What rbac and a route re-match see is the same bytes read as UTF-8.
  const req = request({ query: 'b=%E9&a=%C3%A9&access_token=t' });
  removeToken(req, extractTokens(req, defaults).find((x) => x.kind === 'query')!);
  assert.equal(req.query, 'a=%C3%A9&b=%E9');
  assert.equal(req.queryAsEnvoy, 'a=é&b=\uFFFD');
});

test('a token cut from a long header or query does not keep that header or query alive (40 KB each, 2,000 of them)', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const kept: string[] = [];
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 2_000; i++) {
    const filler = `${'f'.repeat(40_000)}${i}`;
    const token = `hdr.pay${i}.sig`;
    const [h] = extractTokens(request({ headers: { authorization: `${filler} Bearer ${token}` } }), defaults);
    const [q] = extractTokens(request({ query: `pad=${filler}&access_token=${token}` }), defaults);
    assert.equal(h!.token, token);
    assert.equal(q!.token, token);
    kept.push(h!.token, q!.token);
  }
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  // The two sources are 160 MB; the tokens themselves well under 1 MB.
  assert.ok(grown < 16 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MB for ${kept.length} tokens`);
});

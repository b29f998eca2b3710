// parseJwt: every parse row of the spec §4.4 table with its exact code, the §4.3 details
// (empty segments, base64url strictness, number ranges), and the two RFC checks.
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseJwt, type ParsedJwt } from '../../src/auth/jwt-parse.js';
import { ERRORS } from '../../src/errors.js';
import { SEED_TOKEN } from '../fixtures/auth/builders.js';
import { b64url } from '../helpers/tokens.js';

const seg = (o: unknown) => b64url(typeof o === 'string' ? o : JSON.stringify(o));
const H = seg({ alg: 'RS256', kid: 'k' });
const P = seg({ iss: 'i' });
const S = b64url('sig');
const code = (token: string) => {
  const r = parseJwt(token);
  return r.ok ? 'OK' : r.code;
};
const parsed = (token: string) => {
  const r = parseJwt(token);
  assert.equal(r.ok, true, r.ok ? '' : r.code);
  return r as ParsedJwt;
};

test('the seed token parses', () => {
  const j = parsed(SEED_TOKEN);
  assert.equal(j.alg, 'RS256');
  assert.equal(j.kid, 'solo-public-key-001');
  assert.equal(j.iss, 'solo.io');
  assert.equal(j.exp, 2074274884);
  assert.equal(j.nbf, 0);
  assert.deepEqual(j.aud, []);
  assert.equal(j.payload.team, 'dev');
  assert.equal(j.signingInput, SEED_TOKEN.slice(0, SEED_TOKEN.lastIndexOf('.')));
  assert.equal(j.signature.length, 256);
});

test('§4.4 parse rows, each with its code and catalogue body', () => {
  const rows: [string, string, string][] = [
    ['two segments', `${H}.${P}`, 'JWT_BAD_FORMAT'],
    ['four segments', `${H}.${P}.${S}.${S}`, 'JWT_BAD_FORMAT'],
    ['empty', '', 'JWT_BAD_FORMAT'],
    ['empty signature segment', `${H}.${P}.`, 'JWT_BAD_FORMAT'],
    ['header not base64url', `a$b.${P}.${S}`, 'JWT_HEADER_PARSE_ERROR_BAD_BASE64'],
    ['header with +', `${H.slice(0, -1)}+.${P}.${S}`, 'JWT_HEADER_PARSE_ERROR_BAD_BASE64'],
    ['header not JSON', `${seg('nope')}.${P}.${S}`, 'JWT_HEADER_PARSE_ERROR_BAD_JSON'],
    ['header a JSON array', `${seg([1])}.${P}.${S}`, 'JWT_HEADER_PARSE_ERROR_BAD_JSON'],
    ['header invalid UTF-8', `${b64url(Buffer.from([0x7b, 0xff, 0x7d]))}.${P}.${S}`, 'JWT_HEADER_PARSE_ERROR_BAD_JSON'],
    ['alg missing', `${seg({ kid: 'k' })}.${P}.${S}`, 'JWT_HEADER_BAD_ALG'],
    ['alg not a string', `${seg({ alg: 256 })}.${P}.${S}`, 'JWT_HEADER_BAD_ALG'],
    ['alg null', `${seg({ alg: null })}.${P}.${S}`, 'JWT_HEADER_BAD_ALG'],
    ['alg none', `${seg({ alg: 'none' })}.${P}.${S}`, 'JWT_HEADER_NOT_IMPLEMENTED_ALG'],
    ['alg lowercase', `${seg({ alg: 'rs256' })}.${P}.${S}`, 'JWT_HEADER_NOT_IMPLEMENTED_ALG'],
    ['alg ES256K', `${seg({ alg: 'ES256K' })}.${P}.${S}`, 'JWT_HEADER_NOT_IMPLEMENTED_ALG'],
    ['kid not a string', `${seg({ alg: 'RS256', kid: 7 })}.${P}.${S}`, 'JWT_HEADER_BAD_KID'],
    ['payload not base64url', `${H}.a$b.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_BAD_BASE64'],
    ['payload not JSON', `${H}.${seg('[1')}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_BAD_JSON'],
    ['payload a JSON string', `${H}.${seg('"x"')}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_BAD_JSON'],
    ['iss not a string', `${H}.${seg({ iss: 1 })}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_ISS_NOT_STRING'],
    ['iss null', `${H}.${seg({ iss: null })}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_ISS_NOT_STRING'],
    ['sub not a string', `${H}.${seg({ sub: [] })}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_SUB_NOT_STRING'],
    ['iat not a number', `${H}.${seg({ iat: true })}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_IAT_NOT_INTEGER'],
    ['iat negative', `${H}.${seg({ iat: -1 })}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_IAT_OUT_OF_RANGE'],
    ['nbf a numeric string', `${H}.${seg({ nbf: '5' })}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_NBF_NOT_INTEGER'],
    ['nbf negative', `${H}.${seg({ nbf: -5 })}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_NBF_OUT_OF_RANGE'],
    ['exp not a number', `${H}.${seg({ exp: 'soon' })}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_EXP_NOT_INTEGER'],
    ['exp negative', `${H}.${seg({ exp: -0.5 })}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_EXP_OUT_OF_RANGE'],
    ['exp 2^64', `${H}.${seg('{"exp":18446744073709551616}')}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_EXP_OUT_OF_RANGE'],
    ['jti not a string', `${H}.${seg({ jti: {} })}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_JTI_NOT_STRING'],
    ['aud a number', `${H}.${seg({ aud: 1 })}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_AUD_NOT_STRING_OR_LIST'],
    ['aud a list with a number', `${H}.${seg({ aud: ['a', 1] })}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_AUD_NOT_STRING_OR_LIST'],
    ['aud an object', `${H}.${seg({ aud: {} })}.${S}`, 'JWT_PAYLOAD_PARSE_ERROR_AUD_NOT_STRING_OR_LIST'],
    ['signature not base64url', `${H}.${P}.a+b/`, 'JWT_SIGNATURE_PARSE_ERROR_BAD_BASE64'],
    ['signature of one char mod 4', `${H}.${P}.abcde`, 'JWT_SIGNATURE_PARSE_ERROR_BAD_BASE64'],
  ];
  for (const [name, token, expected] of rows) {
    assert.equal(code(token), expected, name);
    assert.ok(expected in ERRORS, name);
  }
});

test('check order inside jwt.cc: header before payload, iss before exp before aud, signature last', () => {
  assert.equal(code(`${seg({ alg: 'none' })}.a$b.a+b`), 'JWT_HEADER_NOT_IMPLEMENTED_ALG');
  assert.equal(code(`${H}.${seg({ aud: 1, exp: 'x', iss: 2 })}.a+b`), 'JWT_PAYLOAD_PARSE_ERROR_ISS_NOT_STRING');
  assert.equal(code(`${H}.${seg({ aud: 1, exp: 'x', iat: -1 })}.${S}`), 'JWT_PAYLOAD_PARSE_ERROR_IAT_OUT_OF_RANGE');
  assert.equal(code(`${H}.${seg({ aud: 1, exp: 'x' })}.${S}`), 'JWT_PAYLOAD_PARSE_ERROR_EXP_NOT_INTEGER');
  assert.equal(code(`${H}.${seg({ aud: 1, jti: 1 })}.${S}`), 'JWT_PAYLOAD_PARSE_ERROR_JTI_NOT_STRING');
  // The three times in jwt.cc's order: iat, then nbf, then exp.
  assert.equal(code(`${H}.${seg({ exp: 'x', nbf: 'x', iat: 'x' })}.${S}`), 'JWT_PAYLOAD_PARSE_ERROR_IAT_NOT_INTEGER');
  assert.equal(code(`${H}.${seg({ exp: -1, nbf: -1 })}.${S}`), 'JWT_PAYLOAD_PARSE_ERROR_NBF_OUT_OF_RANGE');
  assert.equal(code(`${H}.${seg({ iat: 1, nbf: 'x', sub: 1 })}.${S}`), 'JWT_PAYLOAD_PARSE_ERROR_SUB_NOT_STRING');
  assert.equal(code(`${H}.${seg({ aud: 1 })}.a+b`), 'JWT_PAYLOAD_PARSE_ERROR_AUD_NOT_STRING_OR_LIST');
});

test('empty segments are skipped (absl SkipEmpty): ..h..p.s. parses, signing input rebuilt', () => {
  const j = parsed(`..${H}..${P}.${S}.`);
  assert.equal(j.signingInput, `${H}.${P}`);
  assert.equal(Buffer.from(j.signature).toString(), 'sig');
});

test('base64url: padding optional but exact; whitespace skipped (absl); + and / rejected', () => {
  // A header whose base64url form needs two padding characters.
  let json = '{"alg":"HS256"}';
  while (Buffer.byteLength(json) % 3 !== 1) json += ' ';
  const hs = b64url(json);
  assert.equal(hs.length % 4, 2);
  assert.equal(code(`${hs}.${P}.${S}`), 'OK');
  assert.equal(code(`${hs}==.${P}.${S}`), 'OK');
  assert.equal(code(`${hs}=.${P}.${S}`), 'JWT_HEADER_PARSE_ERROR_BAD_BASE64');
  assert.equal(code(`${hs}===.${P}.${S}`), 'JWT_HEADER_PARSE_ERROR_BAD_BASE64');
  assert.equal(code(`${H}.${P}.${b64url('abc')}=`), 'JWT_SIGNATURE_PARSE_ERROR_BAD_BASE64');
  assert.equal(code(`${H}.${P}.${b64url(Buffer.from([0xfb, 0xff]))}`), 'OK');
  assert.equal(code(`${H}.${P}.${Buffer.from([0xfb, 0xff]).toString('base64')}`), 'JWT_SIGNATURE_PARSE_ERROR_BAD_BASE64');
  assert.equal(code(`${H}.${P}.c2l n`), 'OK');
  assert.equal(code(`${H}.${P}.c2ln=x`), 'JWT_SIGNATURE_PARSE_ERROR_BAD_BASE64');
});

test('times: fractions truncated, missing = 0, just under 2^64 accepted; aud string or list', () => {
  const j = parsed(`${H}.${seg({ iat: 1.9, nbf: 10.99, exp: 20.5, aud: 'one' })}.${S}`);
  assert.equal(j.nbf, 10);
  assert.equal(j.exp, 20);
  assert.deepEqual(j.aud, ['one']);
  const big = parsed(`${H}.${seg('{"exp":18446744073709549568}')}.${S}`);
  assert.equal(big.exp, 18446744073709549568);
  assert.deepEqual(parsed(`${H}.${seg({ aud: ['a', 'b'] })}.${S}`).aud, ['a', 'b']);
  assert.deepEqual(parsed(`${H}.${seg({})}.${S}`).aud, []);
  assert.equal(parsed(`${H}.${seg({})}.${S}`).iss, '');
  assert.equal(parsed(`${seg({ alg: 'EdDSA' })}.${seg({})}.${S}`).kid, '');
});

test('payload claims are own properties only: "constructor" is not a claim', () => {
  const j = parsed(`${H}.${seg({ iss: 'x' })}.${S}`);
  assert.equal(Object.hasOwn(j.payload, 'constructor'), false);
});

test('RFC 7515 crit -> JWT_HEADER_UNSUPPORTED_CRIT; RFC 7797 b64:false -> JWT_HEADER_UNENCODED_PAYLOAD', () => {
  assert.equal(code(`${seg({ alg: 'RS256', crit: ['exp'], exp: 1 })}.${P}.${S}`), 'JWT_HEADER_UNSUPPORTED_CRIT');
  assert.equal(code(`${seg({ alg: 'RS256', crit: [] })}.${P}.${S}`), 'JWT_HEADER_UNSUPPORTED_CRIT');
  assert.equal(code(`${seg({ alg: 'RS256', b64: false, crit: ['b64'] })}.${P}.${S}`), 'JWT_HEADER_UNENCODED_PAYLOAD');
  assert.equal(code(`${seg({ alg: 'RS256', b64: true })}.${P}.${S}`), 'OK');
  // Envoy's own checks still come first.
  assert.equal(code(`${seg({ alg: 'none', crit: ['x'] })}.${P}.${S}`), 'JWT_HEADER_NOT_IMPLEMENTED_ALG');
});

test('failures are shared frozen values (no allocation per failure)', () => {
  const a = parseJwt('x');
  const b = parseJwt('y.z');
  assert.equal(a, b);
  assert.ok(Object.isFrozen(a));
});

test("JSON read as protobuf's parser reads a Struct: a repeated key, a number out of double range, a lone surrogate or nesting over 100 is invalid JSON", () => {
  const bad = '"Jwt payload is an invalid JSON"';
  for (const p of [
    '{"iss":"evil","iss":"i"}',
    '{"\\u0069ss":"evil","iss":"i"}',
    '{"iss":"i","a":{"x":1,"x":2}}',
    '{"iss":"i","a":[{"y":1,"y":1}]}',
    '{"iss":"i","x":1e400}',
    '{"iss":"i","x":-1E+999}',
    `{"iss":"i","x":1${'0'.repeat(400)}}`,
    '{"iss":"i","sub":"\\ud800x"}',
    '{"iss":"i","sub":"\\udc00"}',
  ]) {
    assert.equal(code(`${H}.${seg(p)}.${S}`), 'JWT_PAYLOAD_PARSE_ERROR_BAD_JSON', p);
  }
  assert.equal(`"${ERRORS.JWT_PAYLOAD_PARSE_ERROR_BAD_JSON.body}"`, bad);
  assert.equal(code(`${seg('{"alg":"HS256","alg":"RS256"}')}.${P}.${S}`), 'JWT_HEADER_PARSE_ERROR_BAD_JSON');
  // What protobuf accepts stays accepted: the same key in sibling objects, escapes inside
  // strings that look like structure, a surrogate pair, big but finite numbers.
  for (const p of ['{"iss":"i","a":[{"x":1},{"x":2}],"b":{"x":3}}', '{"iss":"i","k":"}\\",\\"iss\\":{","x":"\\ud83d\\ude00"}', '{"iss":"i","x":1e300,"y":-12345678901234567890}']) {
    assert.equal(code(`${H}.${seg(p)}.${S}`), 'OK', p);
  }
  // protobuf's lexer nests at most 100 objects or arrays, the top-level object included.
  const nested = (n: number) => `{"iss":"i","d":${'['.repeat(n - 1)}${']'.repeat(n - 1)}}`;
  assert.equal(code(`${H}.${seg(nested(100))}.${S}`), 'OK');
  assert.equal(code(`${H}.${seg(nested(101))}.${S}`), 'JWT_PAYLOAD_PARSE_ERROR_BAD_JSON');
  assert.equal(code(`${H}.${seg(`{"iss":"i","d":${'{"a":'.repeat(99)}1${'}'.repeat(99)}}`)}.${S}`), 'OK', '100 objects deep');
  assert.equal(code(`${H}.${seg(`{"iss":"i","d":${'{"a":'.repeat(100)}1${'}'.repeat(100)}}`)}.${S}`), 'JWT_PAYLOAD_PARSE_ERROR_BAD_JSON');
  assert.equal(code(`${H}.${seg(nested(20000))}.${S}`), 'JWT_PAYLOAD_PARSE_ERROR_BAD_JSON');
  assert.equal(code(`${seg(`{"alg":"HS256","x":${'['.repeat(100)}${']'.repeat(100)}}`)}.${P}.${S}`), 'JWT_HEADER_PARSE_ERROR_BAD_JSON');
  // protobuf reads a JSON null as an empty Struct: the payload has no claims, the header no alg.
  assert.equal(parsed(`${H}.${seg('null')}.${S}`).iss, '');
  assert.equal(code(`${seg('null')}.${P}.${S}`), 'JWT_HEADER_BAD_ALG');
});

test('invalid UTF-8 is invalid JSON (protobuf refuses it), also where a replacement character would make valid JSON', () => {
  // {"iss":"i","sub":"<ff>"}: Buffer#toString would read it as "\ufffd" and JSON.parse accept it.
  const payload = Buffer.concat([Buffer.from('{"iss":"i","sub":"'), Buffer.from([0xff]), Buffer.from('"}')]);
  assert.equal(code(`${H}.${b64url(payload)}.${S}`), 'JWT_PAYLOAD_PARSE_ERROR_BAD_JSON');
  const header = Buffer.concat([Buffer.from('{"alg":"RS256","x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
  assert.equal(code(`${b64url(header)}.${P}.${S}`), 'JWT_HEADER_PARSE_ERROR_BAD_JSON');
  // Valid multi-byte UTF-8 in a string is fine.
  assert.equal(parsed(`${H}.${b64url('{"iss":"i","sub":"é€😀"}')}.${S}`).payload.sub, 'é€😀');
});

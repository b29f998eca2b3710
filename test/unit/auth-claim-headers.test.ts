// claim_to_headers value encoding (spec §4.8.2) and nested a.b lookup.
import test from 'node:test';
import assert from 'node:assert/strict';
import { claimHeaderValue, formatNumber, lookupClaim } from '../../src/auth/claim-headers.js';

test('strings as is; an empty string adds nothing', () => {
  assert.equal(claimHeaderValue('dev'), 'dev');
  assert.equal(claimHeaderValue(' spaced '), ' spaced ');
  assert.equal(claimHeaderValue(''), undefined);
});

test('numbers: integral in [0, 2^64) as integers, everything else as std::to_string(double)', () => {
  const cases: [number, string][] = [
    [0, '0'],
    [-0, '0'],
    [42, '42'],
    [2074274884, '2074274884'],
    [1e19, '10000000000000000000'],
    [1e20, '100000000000000000000.000000'],
    [18446744073709549568, '18446744073709549568'],
    [18446744073709551616, '18446744073709551616.000000'],
    [1.5, '1.500000'],
    [-3, '-3.000000'],
    [-1.25, '-1.250000'],
    [0.1, '0.100000'],
    [1e-7, '0.000000'],
    [-1e-7, '-0.000000'],
    [2.0000005, '2.000001'],
    [-1e21, '-1000000000000000000000.000000'],
    // Exact ties round to the even digit, as glibc's printf (expected values from Python's '%f').
    [0.0078125, '0.007812'],
    [-0.0078125, '-0.007812'],
    [2.5e-6, '0.000003'],
    [3.5e-6, '0.000003'],
    [1.0000005, '1.000001'],
    [123.4567895, '123.456789'],
    [5e-324, '0.000000'],
  ];
  for (const [n, s] of cases) {
    assert.equal(formatNumber(n), s, String(n));
    assert.equal(claimHeaderValue(n), s, String(n));
  }
});

test('booleans, null and missing', () => {
  assert.equal(claimHeaderValue(true), 'true');
  assert.equal(claimHeaderValue(false), 'false');
  assert.equal(claimHeaderValue(null), undefined);
  assert.equal(claimHeaderValue(undefined), undefined);
});

test('objects and arrays: standard base64 (with padding) of compact JSON', () => {
  assert.equal(claimHeaderValue(['a', 'b']), 'WyJhIiwiYiJd');
  assert.equal(claimHeaderValue({ openai: ['gpt-3.5-turbo'] }), Buffer.from('{"openai":["gpt-3.5-turbo"]}').toString('base64'));
  assert.equal(claimHeaderValue(['a']), 'WyJhIl0=');
  assert.equal(claimHeaderValue([]), 'W10=');
  assert.equal(claimHeaderValue({}), 'e30=');
  assert.match(claimHeaderValue({ k: '\u00ff\u00fe?>' })!, /[+/]/, 'standard alphabet, not base64url');
});

test('object and array claims are JSON as protobuf writes it (Envoy\'s MessageToJsonString): <, > and invisible characters as \\uXXXX, numbers as SimpleDtoa (%.15g, else %.17g)', () => {
  const json = (v: unknown) => Buffer.from(claimHeaderValue(v)!, 'base64').toString('utf8');
  assert.equal(json({ name: 'Jane <jane@x>' }), '{"name":"Jane \\u003cjane@x\\u003e"}');
  assert.equal(json({ id: 1e15 }), '{"id":1e+15}');
  assert.equal(json([0.00001, 1e-7, 0.1, 2.5, 1, -0]), '[1e-05,1e-07,0.1,2.5,1,-0]');
  assert.equal(json([9007199254740993, 123456789012344.5, 1e21]), '[9007199254740992,123456789012344.5,1e+21]');
  // An exact tie at the 17th digit rounds to even, as glibc's printf (JavaScript rounds it up).
  assert.equal(json([1234567890123456.25, 29677158900866040, 123000]), '[1234567890123456.2,29677158900866040,123000]');
  assert.equal(json(['\u2028\ufeff\u{1d173}\u00ad', 'é日', 'tab\tq"b\\', '\u0001']), '["\\u2028\\ufeff\\ud834\\udd73\\u00ad","é日","tab\\tq\\"b\\\\","\\u0001"]');
  assert.equal(json({ a: { b: [true, null, 'x'] } }), '{"a":{"b":[true,null,"x"]}}');
  // Several members: comma-separated, in token order.
  assert.equal(json({ z: 1, a: 'x', m: { q: [], p: {} } }), '{"z":1,"a":"x","m":{"q":[],"p":{}}}');
  // Negative numbers (%.15g keeps the sign; a tie at the 16th digit needs %.17g) and false.
  assert.equal(json([false, -1.5, -1e-7, -123456789012344.5, -1e21, -0.1]), '[false,-1.5,-1e-07,-123456789012344.5,-1e+21,-0.1]');
});

test('values with CR, LF or NUL are not added (no header injection upstream)', () => {
  assert.equal(claimHeaderValue('a\r\nx-admin: true'), undefined);
  assert.equal(claimHeaderValue('a\nb'), undefined);
  assert.equal(claimHeaderValue('a\0b'), undefined);
});

test('values with another control character (DEL, U+0001) are not added either: undici cannot send them; tab and non-ASCII text are', () => {
  assert.equal(claimHeaderValue('a\x7fb'), undefined);
  assert.equal(claimHeaderValue('a\x01b'), undefined);
  assert.equal(claimHeaderValue('a\tb'), 'a\tb');
  assert.equal(claimHeaderValue('José'), 'José');
});

test('nested paths walk objects only, own properties only', () => {
  const payload = { team: 'dev', llms: { openai: ['gpt'] }, a: { b: { c: 1.5 } }, 'https://ns.example/roles': ['x'], list: [{ x: 1 }] };
  assert.equal(lookupClaim(payload, ['team']), 'dev');
  assert.deepEqual(lookupClaim(payload, ['llms', 'openai']), ['gpt']);
  assert.equal(lookupClaim(payload, ['a', 'b', 'c']), 1.5);
  assert.equal(lookupClaim(payload, ['a', 'x']), undefined);
  assert.equal(lookupClaim(payload, ['team', 'length']), undefined);
  assert.equal(lookupClaim(payload, ['list', '0']), undefined);
  assert.equal(lookupClaim(payload, 'https://ns.example/roles'.split('.')), undefined, 'a dotted claim name cannot be addressed');
  assert.equal(lookupClaim(payload, ['constructor']), undefined);
  assert.equal(lookupClaim(payload, ['a', 'toString']), undefined);
});

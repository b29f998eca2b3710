// Issuer -> time -> audience with an injected clock: exact boundary seconds with the 60 s skew
// and check_audience.cc normalization (spec §4.2).
import test from 'node:test';
import assert from 'node:assert/strict';
import { audienceAllowed, checkClaims, checkTime, normalizeAudience } from '../../src/auth/claim-checks.js';

const NOW = 1_700_000_000;
const policy = (o: Partial<{ issuer: string; audiences: string[] | null; clockSkewSeconds: number }> = {}) => ({
  issuer: '',
  audiences: null,
  clockSkewSeconds: 60,
  ...o,
});
const jwt = (o: Partial<{ iss: string; aud: string[]; nbf: number; exp: number }> = {}) => ({ iss: '', aud: [], nbf: 0, exp: 0, ...o });

test('nbf: fails only when now + skew < nbf (boundary seconds)', () => {
  assert.equal(checkTime(NOW + 60, 0, NOW, 60), undefined);
  assert.equal(checkTime(NOW + 61, 0, NOW, 60), 'JWT_NOT_YET_VALID');
  assert.equal(checkTime(NOW - 1000, 0, NOW, 60), undefined);
});

test('exp: fails only when exp != 0 and now > exp + skew (boundary seconds)', () => {
  assert.equal(checkTime(0, NOW - 60, NOW, 60), undefined);
  assert.equal(checkTime(0, NOW - 61, NOW, 60), 'JWT_EXPIRED');
  assert.equal(checkTime(0, 0, NOW, 60), undefined, 'exp 0 = no limit');
  assert.equal(checkTime(0, 1, NOW, 60), 'JWT_EXPIRED');
});

test('nbf is checked before exp', () => {
  assert.equal(checkTime(NOW + 3600, NOW - 3600, NOW, 60), 'JWT_NOT_YET_VALID');
});

test('a provider skew of 0 falls back to 60 s, as Envoy does', () => {
  assert.equal(checkClaims(jwt({ exp: NOW - 60 }), policy({ clockSkewSeconds: 0 }), NOW), undefined);
  assert.equal(checkClaims(jwt({ exp: NOW - 61 }), policy({ clockSkewSeconds: 0 }), NOW), 'JWT_EXPIRED');
  assert.equal(checkClaims(jwt({ exp: NOW - 10 }), policy({ clockSkewSeconds: 5 }), NOW), 'JWT_EXPIRED');
});

test('issuer: empty provider issuer accepts any (also missing) iss; otherwise exact match', () => {
  assert.equal(checkClaims(jwt(), policy(), NOW), undefined);
  assert.equal(checkClaims(jwt({ iss: 'x' }), policy(), NOW), undefined);
  assert.equal(checkClaims(jwt({ iss: 'solo.io' }), policy({ issuer: 'solo.io' }), NOW), undefined);
  assert.equal(checkClaims(jwt({ iss: 'Solo.io' }), policy({ issuer: 'solo.io' }), NOW), 'JWT_UNKNOWN_ISSUER');
  assert.equal(checkClaims(jwt(), policy({ issuer: 'solo.io' }), NOW), 'JWT_UNKNOWN_ISSUER');
});

test('order: issuer before time before audience', () => {
  const bad = jwt({ iss: 'other', exp: 1, aud: ['nope'] });
  assert.equal(checkClaims(bad, policy({ issuer: 'me', audiences: ['api'] }), NOW), 'JWT_UNKNOWN_ISSUER');
  assert.equal(checkClaims({ ...bad, iss: 'me' }, policy({ issuer: 'me', audiences: ['api'] }), NOW), 'JWT_EXPIRED');
  assert.equal(checkClaims({ ...bad, iss: 'me', exp: 0 }, policy({ issuer: 'me', audiences: ['api'] }), NOW), 'JWT_AUDIENCE_NOT_ALLOWED');
});

test('audience normalization: leading http:// or https:// and one trailing / are stripped', () => {
  assert.equal(normalizeAudience('https://my-api/'), 'my-api');
  assert.equal(normalizeAudience('http://my-api'), 'my-api');
  assert.equal(normalizeAudience('my-api//'), 'my-api/');
  assert.equal(normalizeAudience('HTTPS://my-api'), 'HTTPS://my-api');
  assert.equal(normalizeAudience('ftp://x/'), 'ftp://x');
  assert.equal(normalizeAudience('https://'), '');
  assert.equal(normalizeAudience(''), '');
  const allowed = ['my-api', 'other'];
  assert.equal(audienceAllowed(['https://my-api/'], allowed), true);
  assert.equal(audienceAllowed(['x', 'http://other'], allowed), true);
  assert.equal(audienceAllowed(['your-api'], allowed), false);
  assert.equal(audienceAllowed([], allowed), false, 'no aud while the provider lists some');
  assert.equal(audienceAllowed(['anything'], null), true);
  assert.equal(audienceAllowed([], []), true);
});

test('exp within the clock skew of 2^64 wraps around in jwt.cc\'s uint64 sum and reads as expired, as in Envoy; below that it does not', () => {
  const top = 18446744073709549568; // the largest double below 2^64
  assert.equal(checkTime(0, top, NOW, 2048), 'JWT_EXPIRED');
  assert.equal(checkTime(0, top, NOW, 3600), 'JWT_EXPIRED');
  assert.equal(checkTime(0, top, NOW, 2047), undefined);
  assert.equal(checkTime(0, top, NOW, 60), undefined);
  assert.equal(checkTime(0, 2 ** 63, NOW, 3600), undefined);
});

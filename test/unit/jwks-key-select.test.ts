// Candidate keys (spec §4.5, verify.cc): kid empty/either empty/equal AND key alg empty/equal,
// keys tried in order, first verify wins; the three outcome codes.
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { isCandidateKey } from '../../src/jwks/key-select.js';
import { verifyItemWithKeys } from '../../src/jwks/verify-signature.js';
import type { KeyForWorker, VerifyItem } from '../../src/types.js';
import { sign } from '../helpers/tokens.js';
import { keyPair } from '../fixtures/auth/keys.js';

test('kid/alg candidate matrix', () => {
  const rows: [tokenKid: string, keyKid: string | undefined, tokenAlg: string, keyAlg: string | undefined, candidate: boolean][] = [
    ['', undefined, 'RS256', undefined, true],
    ['', 'k1', 'RS256', undefined, true],
    ['k1', undefined, 'RS256', undefined, true],
    ['k1', 'k1', 'RS256', undefined, true],
    ['k1', 'k2', 'RS256', undefined, false],
    ['k1', '', 'RS256', undefined, true],
    ['', undefined, 'RS256', 'RS256', true],
    ['', undefined, 'RS256', 'PS256', false],
    ['k1', 'k1', 'RS256', 'RS256', true],
    ['k1', 'k1', 'RS256', 'RS384', false],
    ['k1', 'k2', 'RS256', 'RS256', false],
    ['', 'k2', 'ES256', 'ES256', true],
    ['K1', 'k1', 'RS256', undefined, false],
  ];
  for (const [tokenKid, keyKid, tokenAlg, keyAlg, expected] of rows) {
    const key = { ...(keyKid !== undefined ? { kid: keyKid } : {}), ...(keyAlg !== undefined ? { alg: keyAlg } : {}) };
    assert.equal(isCandidateKey(key, tokenKid, tokenAlg), expected, JSON.stringify({ tokenKid, keyKid, tokenAlg, keyAlg }));
  }
});

const a = keyPair('rsa');
const b = keyPair('rsa');
const key = (k: crypto.KeyObject, extra: Partial<KeyForWorker> = {}): KeyForWorker => ({ kty: 'RSA', key: k, ...extra });
const input = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0';
const item = (kid: string, alg = 'RS256', signer = a.privateKey): VerifyItem => ({
  keySetId: 'ks',
  generation: 1,
  alg,
  kid,
  signingInput: input,
  signature: sign(alg, signer, input),
});

test('no kid in the token: every candidate is tried in order, the first that verifies wins', () => {
  assert.deepEqual(verifyItemWithKeys(item(''), [key(b.publicKey), key(a.publicKey)]), { ok: true, keyIndex: 1 });
  assert.deepEqual(verifyItemWithKeys(item(''), [key(a.publicKey), key(a.publicKey)]), { ok: true, keyIndex: 0 });
});

test('kid selects the key; a key without kid is still a candidate', () => {
  const keys = [key(a.publicKey, { kid: 'a' }), key(b.publicKey, { kid: 'b' })];
  assert.deepEqual(verifyItemWithKeys(item('a'), keys), { ok: true, keyIndex: 0 });
  assert.deepEqual(verifyItemWithKeys(item('b', 'RS256', b.privateKey), keys), { ok: true, keyIndex: 1 });
  assert.deepEqual(verifyItemWithKeys(item('zzz'), [key(b.publicKey, { kid: 'b' }), key(a.publicKey)]), { ok: true, keyIndex: 1 });
});

test('no candidate -> JWKS_KID_ALG_MISMATCH; candidates that do not verify -> JWT_VERIFICATION_FAIL', () => {
  assert.deepEqual(verifyItemWithKeys(item('zzz'), [key(a.publicKey, { kid: 'a' })]), { ok: false, code: 'JWKS_KID_ALG_MISMATCH' });
  assert.deepEqual(verifyItemWithKeys(item('a'), [key(a.publicKey, { kid: 'a', alg: 'RS384' })]), { ok: false, code: 'JWKS_KID_ALG_MISMATCH' });
  assert.deepEqual(verifyItemWithKeys(item('a'), [key(b.publicKey, { kid: 'a' })]), { ok: false, code: 'JWT_VERIFICATION_FAIL' });
  // PEM-imported keys are hard-coded RS256: a PS256 token finds no key (spec §1.5).
  assert.deepEqual(verifyItemWithKeys(item('', 'PS256'), [key(a.publicKey, { alg: 'RS256' })]), { ok: false, code: 'JWKS_KID_ALG_MISMATCH' });
});

test('an empty key set -> JWKS_NO_VALID_KEYS', () => {
  assert.deepEqual(verifyItemWithKeys(item(''), []), { ok: false, code: 'JWKS_NO_VALID_KEYS' });
});

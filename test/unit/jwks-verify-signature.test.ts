// Every algorithm family, its negative cases and alg confusion (spec §4.5).
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { verifyItemWithKeys, verifySignature } from '../../src/jwks/verify-signature.js';
import type { KeyForWorker, VerifyItem } from '../../src/types.js';
import { sign } from '../helpers/tokens.js';
import { keyPair } from '../fixtures/auth/keys.js';

const rsa = keyPair('rsa');
const ec = {
  ES256: keyPair('ec', { namedCurve: 'P-256' }),
  ES384: keyPair('ec', { namedCurve: 'P-384' }),
  ES512: keyPair('ec', { namedCurve: 'P-521' }),
};
const crvOf = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' } as const;
const ed = keyPair('ed25519');
const secret = crypto.createSecretKey(crypto.randomBytes(32));
const input = Buffer.from('eyJhbGciOiJ4In0.eyJzdWIiOiJ4In0').toString('latin1');

function setup(alg: string): { signer: crypto.KeyObject; key: KeyForWorker } {
  if (alg.startsWith('RS') || alg.startsWith('PS')) return { signer: rsa.privateKey, key: { kty: 'RSA', key: rsa.publicKey } };
  if (alg.startsWith('ES')) {
    const pair = ec[alg as keyof typeof ec];
    return { signer: pair.privateKey, key: { kty: 'EC', crv: crvOf[alg as keyof typeof crvOf], key: pair.publicKey } };
  }
  if (alg.startsWith('HS')) return { signer: secret, key: { kty: 'oct', key: secret } };
  return { signer: ed.privateKey, key: { kty: 'OKP', crv: 'Ed25519', key: ed.publicKey } };
}

const item = (alg: string, signature: Uint8Array, signingInput = input): VerifyItem => ({ keySetId: 'ks', generation: 1, alg, kid: '', signingInput, signature });
const ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512', 'EdDSA'];

for (const alg of ALGS) {
  test(`${alg}: a good signature verifies; another input or a flipped bit does not`, () => {
    const { signer, key } = setup(alg);
    const sig = sign(alg, signer, input);
    assert.deepEqual(verifyItemWithKeys(item(alg, sig), [key]), { ok: true, keyIndex: 0 });
    assert.deepEqual(verifyItemWithKeys(item(alg, sig, input + 'x'), [key]), { ok: false, code: 'JWT_VERIFICATION_FAIL' });
    const flipped = Buffer.from(sig);
    flipped[flipped.length >> 1]! ^= 1;
    assert.deepEqual(verifyItemWithKeys(item(alg, flipped), [key]), { ok: false, code: 'JWT_VERIFICATION_FAIL' });
  });
}

test('the hash follows the alg suffix: an RS256 signature is not an RS384 one', () => {
  const { key } = setup('RS256');
  assert.equal(verifySignature('RS384', key, Buffer.from(input), sign('RS256', rsa.privateKey, input)), 'fail');
  assert.equal(verifySignature('HS512', { kty: 'oct', key: secret }, Buffer.from(input), sign('HS256', secret, input)), 'fail');
});

test('PS*: PKCS#1 v1.5 signatures do not verify; PSS with any salt length does, as BoringSSL recovers it in jwt_verify_lib (salt 0, the maximum: OpenSSL and Node sign with it by default); a signature shorter than the modulus does not', () => {
  const { key } = setup('PS256');
  const data = Buffer.from(input);
  assert.equal(verifySignature('PS256', key, data, sign('RS256', rsa.privateKey, input)), 'fail');
  assert.equal(verifySignature('RS256', key, data, sign('PS256', rsa.privateKey, input)), 'fail');
  const pss = (saltLength: number) => crypto.sign('sha256', data, { key: rsa.privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength });
  assert.equal(verifySignature('PS256', key, data, pss(0)), 'ok');
  assert.equal(verifySignature('PS256', key, data, pss(crypto.constants.RSA_PSS_SALTLEN_MAX_SIGN)), 'ok');
  assert.equal(verifySignature('PS256', key, data, pss(32)), 'ok');
  // A signature whose first byte is 0, cut to 255 bytes: OpenSSL's PSS path accepts it, BoringSSL does not.
  let sig = pss(32);
  for (let i = 0; sig[0] !== 0 && i < 5000; i++) sig = pss(32);
  assert.equal(sig[0], 0, 'found a signature with a leading zero byte');
  assert.equal(verifySignature('PS256', key, data, sig), 'ok');
  assert.equal(verifySignature('PS256', key, data, sig.subarray(1)), 'fail');
});

test('ES*: r||s read as jwt_verify_lib reads it, two halves as numbers: zero-padded halves verify, a half too large for the curve does not', () => {
  for (const alg of ['ES256', 'ES384', 'ES512'] as const) {
    const { key } = setup(alg);
    const raw = sign(alg, ec[alg].privateKey, input);
    const n = raw.length / 2;
    const padded = Buffer.concat([Buffer.alloc(1), raw.subarray(0, n), Buffer.alloc(1), raw.subarray(n)]);
    assert.equal(verifySignature(alg, key, Buffer.from(input), padded), 'ok', alg);
    const tooLarge = Buffer.concat([Buffer.from([1]), raw.subarray(0, n), Buffer.from([1]), raw.subarray(n)]);
    assert.equal(verifySignature(alg, key, Buffer.from(input), tooLarge), 'fail', alg);
  }
});

test('ES*: raw r||s only; DER signatures and misaligned lengths are rejected', () => {
  const { key } = setup('ES256');
  const data = Buffer.from(input);
  const der = crypto.sign('sha256', data, { key: ec.ES256.privateKey, dsaEncoding: 'der' });
  assert.equal(verifySignature('ES256', key, data, der), 'fail');
  const raw = sign('ES256', ec.ES256.privateKey, input);
  assert.equal(raw.length, 64);
  assert.equal(verifySignature('ES256', key, data, Buffer.concat([raw, Buffer.alloc(2)])), 'fail');
  assert.equal(verifySignature('ES256', key, data, raw.subarray(0, 63)), 'fail');
  assert.equal(sign('ES512', ec.ES512.privateKey, input).length, 132);
});

test('EdDSA: a signature that is not 64 bytes -> JWT_ED25519_SIGNATURE_WRONG_LENGTH', () => {
  const { key } = setup('EdDSA');
  for (const len of [0, 63, 65]) {
    assert.deepEqual(verifyItemWithKeys(item('EdDSA', Buffer.alloc(len)), [key]), { ok: false, code: 'JWT_ED25519_SIGNATURE_WRONG_LENGTH' });
  }
  assert.deepEqual(verifyItemWithKeys(item('EdDSA', Buffer.alloc(64)), [key]), { ok: false, code: 'JWT_VERIFICATION_FAIL' });
});

test('alg confusion: HS256 keyed with the RSA public key never verifies against the RSA key', () => {
  const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' });
  const forged = crypto.createHmac('sha256', pem).update(input).digest();
  assert.deepEqual(verifyItemWithKeys(item('HS256', forged), [{ kty: 'RSA', key: rsa.publicKey }]), { ok: false, code: 'JWT_VERIFICATION_FAIL' });
  const der = rsa.publicKey.export({ type: 'spki', format: 'der' });
  const forged2 = crypto.createHmac('sha256', der).update(input).digest();
  assert.deepEqual(verifyItemWithKeys(item('HS256', forged2), [{ kty: 'RSA', key: rsa.publicKey }]), { ok: false, code: 'JWT_VERIFICATION_FAIL' });
});

test('wrong key family for the alg never verifies (RS with oct, ES with RSA, EdDSA with EC, HS with OKP)', () => {
  const data = Buffer.from(input);
  assert.equal(verifySignature('RS256', { kty: 'oct', key: secret }, data, crypto.createHmac('sha256', secret).update(data).digest()), 'fail');
  assert.equal(verifySignature('ES256', { kty: 'RSA', key: rsa.publicKey }, data, sign('ES256', ec.ES256.privateKey, input)), 'fail');
  assert.equal(verifySignature('EdDSA', { kty: 'EC', crv: 'P-256', key: ec.ES256.publicKey }, data, sign('EdDSA', ed.privateKey, input)), 'fail');
  assert.equal(verifySignature('HS256', { kty: 'OKP', crv: 'Ed25519', key: ed.publicKey }, data, Buffer.alloc(64)), 'fail');
  // An Ed25519 key with a signature that is not 64 bytes stops the search whatever the alg (verify.cc's OKP branch).
  assert.equal(verifySignature('HS256', { kty: 'OKP', crv: 'Ed25519', key: ed.publicKey }, data, Buffer.alloc(32)), 'wrong-length');
  // A key whose declared kty lies about the KeyObject still fails closed instead of throwing.
  assert.equal(verifySignature('RS256', { kty: 'RSA', key: ec.ES256.publicKey }, data, sign('ES256', ec.ES256.privateKey, input)), 'fail');
});

test('an unsupported alg never verifies and never throws', () => {
  assert.equal(verifySignature('none', { kty: 'oct', key: secret }, Buffer.from(input), new Uint8Array()), 'fail');
  assert.deepEqual(verifyItemWithKeys(item('ES256K', Buffer.alloc(64)), [{ kty: 'EC', key: ec.ES256.publicKey }]), { ok: false, code: 'JWT_VERIFICATION_FAIL' });
});

test('a key set [Ed25519 without kid or alg, RSA] and an RS256 token: the Ed25519 key is tried first and ends it (Envoy: Jwt ED25519 signature is wrong length)', () => {
  const keys = [{ kty: 'OKP' as const, crv: 'Ed25519', key: ed.publicKey }, { kty: 'RSA' as const, key: rsa.publicKey }];
  assert.deepEqual(verifyItemWithKeys(item('RS256', sign('RS256', rsa.privateKey, input)), keys), { ok: false, code: 'JWT_ED25519_SIGNATURE_WRONG_LENGTH' });
  assert.deepEqual(verifyItemWithKeys(item('RS256', sign('RS256', rsa.privateKey, input)), [...keys].reverse()), { ok: true, keyIndex: 0 });
});

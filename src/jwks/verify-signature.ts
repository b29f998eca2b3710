// Signature verification of one JWS against a key set, shared by the piscina worker and the
// main thread's inline path: candidate keys in order, first that verifies wins (spec §4.5).
// Failures are values, never exceptions. Does not parse tokens or check claims or time.

import crypto from 'node:crypto';
import type { KeyForWorker, VerifyFailure, VerifyItem, VerifyItemResult } from '../types.js';
import { algorithmInfo, JWK_CURVE_OF_NODE_CURVE } from './algorithms.js';
import { isCandidateKey } from './key-select.js';

export type SignatureCheck = 'ok' | 'fail' | 'wrong-length';

function failure(code: VerifyFailure): VerifyItemResult {
  return Object.freeze({ ok: false, code });
}

/** Shared, frozen result values: the hot path allocates no result objects. */
export const VERIFY_FAILURES: Readonly<Record<VerifyFailure, VerifyItemResult>> = Object.freeze({
  JWKS_KID_ALG_MISMATCH: failure('JWKS_KID_ALG_MISMATCH'),
  JWT_VERIFICATION_FAIL: failure('JWT_VERIFICATION_FAIL'),
  JWT_ED25519_SIGNATURE_WRONG_LENGTH: failure('JWT_ED25519_SIGNATURE_WRONG_LENGTH'),
  JWKS_NO_VALID_KEYS: failure('JWKS_NO_VALID_KEYS'),
  KEYSET_NOT_LOADED: failure('KEYSET_NOT_LOADED'),
});

const OK_BY_INDEX: VerifyItemResult[] = Array.from({ length: 32 }, (_, keyIndex) => Object.freeze({ ok: true, keyIndex }));

function okAt(keyIndex: number): VerifyItemResult {
  return OK_BY_INDEX[keyIndex] ?? { ok: true, keyIndex };
}

// r||s sizes (RFC 7518 §3.4): the signature is exactly twice the curve's coordinate size.
const EC_SIGNATURE_BYTES: Readonly<Record<string, number>> = { 'P-256': 64, 'P-384': 96, 'P-521': 132 };

const NODE_KEY_TYPE: Readonly<Record<string, string>> = { RSA: 'rsa', EC: 'ec', oct: 'secret', OKP: 'ed25519' };

const PSS_PADDING = crypto.constants.RSA_PKCS1_PSS_PADDING;
/**
 * jwt_verify_lib never sets the PSS salt length, so BoringSSL's default applies: -2, "the salt
 * length is recovered and all values accepted" (a signer's 0 or maximum salt verifies too).
 */
const PSS_SALT_AUTO = crypto.constants.RSA_PSS_SALTLEN_AUTO;

/**
 * Verifies `signature` over `data` with one key. A key of another family than the alg never
 * verifies (no alg confusion: HS256 with an RSA public key is 'fail'). 'wrong-length' is
 * returned for an Ed25519 key and a signature that is not 64 bytes, whatever the alg (Envoy stops
 * there).
 */
export function verifySignature(alg: string, key: KeyForWorker, data: Buffer, signature: Uint8Array): SignatureCheck {
  // verify.cc's OKP branch checks the length before anything else, whatever the token's alg: an
  // Ed25519 candidate (one without kid or alg, in a mixed key set) ends the search there.
  if (key.kty === 'OKP' && signature.length !== 64) return 'wrong-length';
  const info = algorithmInfo(alg);
  // The KeyObject itself must be of the family too: crypto.verify would happily run ECDSA with an
  // EC key that a caller mislabelled as RSA.
  if (!info || info.kty !== key.kty || NODE_KEY_TYPE[info.kty] !== (key.key.asymmetricKeyType ?? key.key.type)) return 'fail';
  try {
    switch (info.kty) {
      case 'RSA':
        if (!info.pss) return crypto.verify(info.hash!, data, key.key, signature) ? 'ok' : 'fail';
        // PSS: MGF1 with the same hash, any salt length. BoringSSL wants a signature exactly as
        // long as the modulus; OpenSSL's PSS path also takes one with its leading zero byte cut
        // (a second token text for the same signature).
        if (signature.length !== Math.ceil((key.key.asymmetricKeyDetails?.modulusLength ?? 0) / 8)) return 'fail';
        return crypto.verify(info.hash!, data, { key: key.key, padding: PSS_PADDING, saltLength: PSS_SALT_AUTO }, signature) ? 'ok' : 'fail';
      case 'EC': {
        const crv = key.crv ?? JWK_CURVE_OF_NODE_CURVE[key.key.asymmetricKeyDetails?.namedCurve ?? ''];
        const size = EC_SIGNATURE_BYTES[crv ?? ''];
        if (size === undefined) return 'fail';
        const sig = signature.length === size ? signature : fixedSizeRS(signature, size / 2);
        if (!sig) return 'fail';
        return crypto.verify(info.hash!, data, { key: key.key, dsaEncoding: 'ieee-p1363' }, sig) ? 'ok' : 'fail';
      }
      case 'oct': {
        const mac = crypto.createHmac(info.hash!, key.key).update(data).digest();
        return mac.length === signature.length && crypto.timingSafeEqual(mac, signature) ? 'ok' : 'fail';
      }
      case 'OKP':
        return crypto.verify(null, data, key.key, signature) ? 'ok' : 'fail';
    }
  } catch {
    return 'fail';
  }
}

/**
 * jwt_verify_lib splits an ES signature of any length in half and reads r and s as big-endian
 * numbers, so `00‖r‖00‖s` verifies there: the same halves, leading zeros dropped and left-padded
 * to the coordinate size `n`; undefined when a half is a larger number than fits.
 */
function fixedSizeRS(signature: Uint8Array, n: number): Buffer | undefined {
  const half = Math.floor(signature.length / 2);
  const out = Buffer.alloc(2 * n);
  for (const [from, at] of [[0, n], [half, 2 * n]] as const) {
    let start = from;
    while (start < from + half && signature[start] === 0) start++;
    const len = from + half - start;
    if (len > n) return undefined;
    out.set(signature.subarray(start, from + half), at - len);
  }
  return out;
}

/**
 * `item` against a thread's copy of its key set: KEYSET_NOT_LOADED when this thread has none or an
 * older generation (a newer one is fine: the item was built just before a rotation).
 */
export function verifyWithKeySet(item: VerifyItem, ks: { readonly generation: number; readonly keys: readonly KeyForWorker[] } | undefined): VerifyItemResult {
  return !ks || ks.generation < item.generation ? VERIFY_FAILURES.KEYSET_NOT_LOADED : verifyItemWithKeys(item, ks.keys);
}

/**
 * Verifies one item against `keys` (verify.cc verifyJwtWithoutTimeChecking): no keys ->
 * JWKS_NO_VALID_KEYS; no candidate -> JWKS_KID_ALG_MISMATCH; candidates but none verifies ->
 * JWT_VERIFICATION_FAIL; an Ed25519 candidate with a non-64-byte signature ->
 * JWT_ED25519_SIGNATURE_WRONG_LENGTH. Never throws.
 */
export function verifyItemWithKeys(item: VerifyItem, keys: readonly KeyForWorker[]): VerifyItemResult {
  if (keys.length === 0) return VERIFY_FAILURES.JWKS_NO_VALID_KEYS;
  let data: Buffer | undefined;
  let matched = false;
  try {
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (!isCandidateKey(key, item.kid, item.alg)) continue;
      matched = true;
      // The signing input is base64url text and '.', so latin1 is an exact, fast byte copy.
      data ??= Buffer.from(item.signingInput, 'latin1');
      const r = verifySignature(item.alg, key, data, item.signature);
      if (r === 'ok') return okAt(i);
      if (r === 'wrong-length') return VERIFY_FAILURES.JWT_ED25519_SIGNATURE_WRONG_LENGTH;
    }
  } catch {
    return VERIFY_FAILURES.JWT_VERIFICATION_FAIL;
  }
  return matched ? VERIFY_FAILURES.JWT_VERIFICATION_FAIL : VERIFY_FAILURES.JWKS_KID_ALG_MISMATCH;
}

// The JWS algorithms jwtgate accepts (exactly jwt_verify_lib's list, spec §4.3) and, per
// algorithm, the key type it needs and the digest it uses. Lookup only: no verification here
// (see verify-signature.ts) and no key handling (see import-keys.ts).

export type KeyType = 'RSA' | 'EC' | 'oct' | 'OKP';

export interface AlgorithmInfo {
  /** Key family the algorithm runs on; a key of another family never verifies (no alg confusion). */
  readonly kty: KeyType;
  /** node:crypto digest name; undefined for EdDSA (the hash is part of Ed25519). */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | undefined;
  /** RSASSA-PSS (PS*) instead of PKCS#1 v1.5 (RS*). */
  readonly pss: boolean;
}

function alg(kty: KeyType, hash: AlgorithmInfo['hash'], pss = false): AlgorithmInfo {
  return Object.freeze({ kty, hash, pss });
}

const ALGORITHMS: ReadonlyMap<string, AlgorithmInfo> = new Map([
  ['RS256', alg('RSA', 'sha256')],
  ['RS384', alg('RSA', 'sha384')],
  ['RS512', alg('RSA', 'sha512')],
  ['PS256', alg('RSA', 'sha256', true)],
  ['PS384', alg('RSA', 'sha384', true)],
  ['PS512', alg('RSA', 'sha512', true)],
  ['ES256', alg('EC', 'sha256')],
  ['ES384', alg('EC', 'sha384')],
  ['ES512', alg('EC', 'sha512')],
  ['HS256', alg('oct', 'sha256')],
  ['HS384', alg('oct', 'sha384')],
  ['HS512', alg('oct', 'sha512')],
  ['EdDSA', alg('OKP', undefined)],
]);

/** Info for a supported `alg`, undefined otherwise (`none` included). */
export function algorithmInfo(name: string): AlgorithmInfo | undefined {
  return ALGORITHMS.get(name);
}

/** JWK curve name of a node:crypto (OpenSSL) named curve, for the curves JWS uses. */
export const JWK_CURVE_OF_NODE_CURVE: Readonly<Record<string, string>> = Object.freeze({
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
});

/** EC curve that a JWK `alg` implies (RFC 7518 §3.4), as jwks.cc pairs them. */
export const EC_CURVE_OF_ALG: Readonly<Record<string, string>> = Object.freeze({
  ES256: 'P-256',
  ES384: 'P-384',
  ES512: 'P-521',
});

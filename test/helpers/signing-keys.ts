// Signing keys for remote-JWKS tests: private KeyObjects plus their public and private JWKs.
// Keys are re-imported from PEM: on Node 20, a KeyObject fresh from generateKeyPairSync can
// deadlock when exported while GC finalizes the key-generation job.
import crypto, { type KeyObject } from 'node:crypto';

export interface SigningKey {
  readonly kid: string;
  readonly alg: 'RS256';
  readonly privateKey: KeyObject;
  /** Public JWK with kid/alg/use. */
  readonly publicJwk: Record<string, unknown>;
  /** Private JWK with kid/alg/use (for an IdP's configuration). */
  readonly privateJwk: Record<string, unknown>;
}

export function rsaSigningKey(kid: string): SigningKey {
  const pems = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const privateKey = crypto.createPrivateKey(pems.privateKey);
  const publicKey = crypto.createPublicKey(pems.publicKey);
  const meta = { kid, alg: 'RS256', use: 'sig' };
  return {
    kid,
    alg: 'RS256',
    privateKey,
    publicJwk: { ...publicKey.export({ format: 'jwk' }), ...meta },
    privateJwk: { ...privateKey.export({ format: 'jwk' }), ...meta },
  };
}

/** `{"keys":[…]}` with the public JWKs of `keys`, in order. */
export function jwksOf(...keys: SigningKey[]): string {
  return JSON.stringify({ keys: keys.map((k) => k.publicJwk) });
}

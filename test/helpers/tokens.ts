// Mints JWTs for tests with node:crypto (no library in between, so malformed variants are easy).
import crypto, { type KeyObject } from 'node:crypto';
import { keyPair } from '../fixtures/auth/keys.js';

export const b64url = (v: string | Buffer) => Buffer.from(v).toString('base64url');

export function mint(opts: {
  alg: string;
  key: KeyObject;
  kid?: string;
  header?: Record<string, unknown>;
  payload: Record<string, unknown>;
}): string {
  const header = { alg: opts.alg, typ: 'JWT', ...(opts.kid ? { kid: opts.kid } : {}), ...opts.header };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(opts.payload))}`;
  return `${input}.${b64url(sign(opts.alg, opts.key, input))}`;
}

export function sign(alg: string, key: KeyObject, input: string): Buffer {
  const hash = `sha${alg.slice(2) === 'dDSA' ? '512' : alg.slice(2)}`;
  const data = Buffer.from(input);
  if (alg.startsWith('HS')) return crypto.createHmac(hash, key).update(data).digest();
  if (alg.startsWith('RS')) return crypto.sign(hash, data, key);
  if (alg.startsWith('PS')) return crypto.sign(hash, data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 });
  if (alg.startsWith('ES')) return crypto.sign(hash, data, { key, dsaEncoding: 'ieee-p1363' });
  if (alg === 'EdDSA') return crypto.sign(null, data, key);
  throw new Error(`unsupported alg ${alg}`);
}

/** An RSA key pair and its public JWKS (kid `test-rsa`). */
export function rsaKeys(kid = 'test-rsa') {
  // PEM round trip: Node 20 can deadlock exporting a KeyObject fresh from generateKeyPairSync.
  const { publicKey, privateKey } = keyPair('rsa');
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  return { publicKey, privateKey, jwk, jwks: JSON.stringify({ keys: [jwk] }) };
}

// Key sets as they travel on the BroadcastChannel from the main thread to the verify workers.
// KeyObjects cannot make that trip: Node refuses to post a message holding one to more than one
// receiver (it is a transferable; "Message could not be posted." as soon as two workers listen),
// so keys cross as JWK data and each worker imports each key once per key set generation, when a
// check first needs it. Does not validate keys (they were validated when imported, see
// import-keys.ts).

import crypto from 'node:crypto';
import type { KeyForWorker, KeySetDropMessage, KeySetRequestMessage } from '../types.js';

export interface WireKey {
  readonly kid?: string;
  readonly alg?: string;
  readonly kty: KeyForWorker['kty'];
  readonly crv?: string;
  readonly jwk: crypto.JsonWebKey;
}

/** A key set published on the key-set channel: JWK data instead of KeyObjects (see src/types.ts). */
export interface KeySetWireMessage {
  readonly type: 'keyset';
  readonly id: string;
  readonly generation: number;
  readonly keys: readonly WireKey[];
}

export type KeyWireMessage = KeySetWireMessage | KeySetRequestMessage | KeySetDropMessage;

export function toWire(keys: readonly KeyForWorker[]): WireKey[] {
  return keys.map((k) => ({ ...optional(k), kty: k.kty, jwk: k.key.export({ format: 'jwk' }) }));
}

/**
 * KeyObjects again, each imported when first read (`key`), then kept. Key selection reads only
 * kid, alg, kty and crv, so a check imports just the keys it tries: a large key set (thousands
 * of P-521 keys take seconds to import) no longer stalls the first check of every worker after
 * each new generation. `onImport` is called once per key imported. A key that does not import
 * (never the case for `toWire` output) throws when read; the check it was tried for fails.
 */
export function fromWire(keys: readonly WireKey[], onImport?: () => void): KeyForWorker[] {
  return keys.map((w) => {
    let key: crypto.KeyObject | undefined;
    return {
      ...optional(w),
      kty: w.kty,
      get key(): crypto.KeyObject {
        if (key === undefined) {
          key = w.kty === 'oct' ? crypto.createSecretKey(Buffer.from(w.jwk.k ?? '', 'base64url')) : crypto.createPublicKey({ key: w.jwk, format: 'jwk' });
          onImport?.();
        }
        return key;
      },
    };
  });
}

function optional(k: { readonly kid?: string; readonly alg?: string; readonly crv?: string }): { kid?: string; alg?: string; crv?: string } {
  return {
    ...(k.kid !== undefined ? { kid: k.kid } : {}),
    ...(k.alg !== undefined ? { alg: k.alg } : {}),
    ...(k.crv !== undefined ? { crv: k.crv } : {}),
  };
}

// Only what crosses threads: verify tasks and results (main <-> piscina workers) and key-set
// messages (main/refresher -> every worker over a BroadcastChannel). Clone-safe data only;
// KeyObjects clone across threads.

import type { KeyObject } from 'node:crypto';

/** BroadcastChannel name on which key sets are published to every verify worker. */
export const KEYSET_CHANNEL = 'jwtgate:keysets';

export interface KeyForWorker {
  readonly kid?: string;
  readonly alg?: string;
  readonly kty: 'RSA' | 'EC' | 'oct' | 'OKP';
  readonly crv?: string;
  readonly key: KeyObject;
}

/** Published on KEYSET_CHANNEL whenever a key set is created or replaced. */
export interface KeySetMessage {
  readonly type: 'keyset';
  readonly id: string;
  readonly generation: number;
  readonly keys: readonly KeyForWorker[];
}

/** A worker that starts (or restarts) asks for every current key set. */
export interface KeySetRequestMessage {
  readonly type: 'keyset-request';
}

/** Removes key sets that are no longer referenced by the running snapshot. */
export interface KeySetDropMessage {
  readonly type: 'keyset-drop';
  readonly ids: readonly string[];
}

export type KeyChannelMessage = KeySetMessage | KeySetRequestMessage | KeySetDropMessage;

/** One signature check. `signingInput` is `<header>.<payload>` as received. */
export interface VerifyItem {
  readonly keySetId: string;
  readonly generation: number;
  readonly alg: string;
  /** '' when the token has no kid. */
  readonly kid: string;
  readonly signingInput: string;
  /** Decoded signature bytes. */
  readonly signature: Uint8Array;
}

/** A piscina task carries a batch of items to amortize the round trip. */
export interface VerifyTask {
  readonly items: readonly VerifyItem[];
}

export type VerifyFailure =
  | 'JWKS_KID_ALG_MISMATCH'
  | 'JWT_VERIFICATION_FAIL'
  | 'JWT_ED25519_SIGNATURE_WRONG_LENGTH'
  | 'JWKS_NO_VALID_KEYS'
  /** The worker does not (yet) hold this key set generation: the main thread verifies inline. */
  | 'KEYSET_NOT_LOADED';

/** `keyIndex` = index in the key set of the key that verified (for logging and invalidation). */
export type VerifyItemResult = { readonly ok: true; readonly keyIndex: number } | { readonly ok: false; readonly code: VerifyFailure };

export interface VerifyTaskResult {
  readonly results: readonly VerifyItemResult[];
}

// Only what crosses threads: verify tasks and results (main <-> piscina workers) and key-set
// messages (main -> every verify worker over a BroadcastChannel). Clone-safe data only. A
// KeyObject clones to ONE recipient (postMessage), but a BroadcastChannel message holding one
// cannot be posted once two workers listen, so key sets travel as JWK data (src/jwks/key-wire.ts)
// and each worker imports them once per generation.

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

/** A worker that starts (or restarts) asks for every current key set. */
export interface KeySetRequestMessage {
  readonly type: 'keyset-request';
}

/** Removes key sets that are no longer referenced by the running snapshot. */
export interface KeySetDropMessage {
  readonly type: 'keyset-drop';
  readonly ids: readonly string[];
}

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
  /** The Verifier's number for it, shown in the progress array while a worker runs it (0 or absent: none). */
  readonly seq?: number;
}

/**
 * Slots of the verify workers' progress array (a SharedArrayBuffer of Int32 pairs: checks done,
 * task running), one per worker by `threadId % VERIFY_PROGRESS_SLOTS`; thread ids are handed out
 * in order, so the workers alive at one time never share a slot.
 */
export const VERIFY_PROGRESS_SLOTS = 1024;

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

// ----- JWKS refresher thread (workers/jwks-refresher.ts) <-> main thread (src/jwks/refresher.ts)

/**
 * TLS origination for a remote JWKS fetch: from a BackendConfigPolicy `spec.tls` targeting the
 * backend, or (no policy) an `https://` URL with Node's trust store. PEM text and file paths
 * only; never logged.
 */
export interface RemoteTlsSpec {
  /** `insecureSkipVerify: true`: TLS without any certificate check. */
  readonly insecureSkipVerify: boolean;
  /** SNI sent (and, with the default trust store, the name the certificate must be valid for). */
  readonly sni?: string;
  /** Trusted CA bundle (Secret `ca.crt`); with neither this nor `caFile`: Node's trust store. */
  readonly caPem?: string;
  /** Trusted CA bundle read at each fetch (`files.rootCA`). */
  readonly caFile?: string;
  /** Client certificate and key for mTLS (Secret `tls.crt`/`tls.key`, or `files`). */
  readonly certPem?: string;
  readonly keyPem?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** `verifySubjectAltNames`: the peer certificate must carry one of these SANs. */
  readonly verifySubjectAltNames?: readonly string[];
  /** `TLSv1`..`TLSv1.3` (from `parameters.minVersion`/`maxVersion`). */
  readonly minVersion?: string;
  readonly maxVersion?: string;
  /** `BackendConfigPolicy/ns/name` the settings came from (logs, config_dump). */
  readonly source?: string;
  /** A configuration problem (e.g. the Secret is missing): every fetch fails with it (fail closed). */
  readonly error?: string;
}

/** What the refresher needs to fetch one remote key set (from a snapshot's RemoteKeySet). */
export interface RemoteJwksSpec {
  /** Key set id, `GatewayExtension/ns/name#provider`. */
  readonly id: string;
  readonly url: string;
  /** The backend the connection goes to; the URL's host is sent as Host (and SNI). */
  readonly target: { readonly host: string; readonly port: number };
  /**
   * A Static Backend's other hosts. Fetch attempts, retries included, go to `target` and these in
   * turn, as Envoy's round-robin cluster spreads them over the Backend's endpoints: a dead host
   * costs one attempt, not every fetch.
   */
  readonly alternates?: readonly { readonly host: string; readonly port: number }[];
  readonly tls?: RemoteTlsSpec;
  readonly cacheDurationMs: number;
  readonly failedRefetchDurationMs: number;
  /** Retries within one fetch (0 without retryPolicy, as Envoy). */
  readonly numRetries: number;
  readonly backOffBaseMs: number;
  readonly backOffMaxMs: number;
  /**
   * Set by the main thread, changed only when the source (url, target, alternates, tls) of this id
   * changes: fetch events carry it, so one from a replaced source is told apart. A spec that
   * changes only its timing keeps its epoch, and its keys and schedule.
   */
  readonly epoch?: number;
}

/** A key imported by the refresher, with its loggable thumbprint (an ImportedKey). */
export interface RefreshedKey extends KeyForWorker {
  readonly thumbprint: string;
}

/** Every remote JWKS fetch outcome (the `outcome` label values, seeded at 0 in /metrics). */
export const JWKS_FETCH_OUTCOMES = [
  'ok',
  'http_status',
  'connect_error',
  'reset',
  'bad_response',
  'tls_error',
  'timeout',
  'body_too_large',
  'empty_body',
  'bad_json',
  'bad_jwks',
  'no_valid_keys',
  'tls_config',
  'internal',
] as const;

export type JwksFetchOutcome = (typeof JWKS_FETCH_OUTCOMES)[number];

/** Why a fetch ran. */
export type JwksFetchTrigger = 'initial' | 'refresh' | 'retry' | 'kid-miss';

export type RefresherCommand =
  /**
   * The full set of remote key sets (sent on start, snapshot install and thread restart).
   * `lastSuccessMs`: when each id last loaded (epoch ms), so a restarted thread schedules the
   * next refresh instead of fetching everything again.
   */
  | { readonly type: 'configure'; readonly specs: readonly RemoteJwksSpec[]; readonly lastSuccessMs: Readonly<Record<string, number>> }
  /** A token's kid is not in the key set: refetch early (cooldown and coalescing apply). */
  | { readonly type: 'refetch'; readonly id: string; readonly requestId: number }
  /**
   * A reload's warm-up fetched key set `from` (a staging id) for key set `to`: `to` takes it over,
   * with its schedule, instead of what it had (fetched again otherwise).
   */
  | { readonly type: 'adopt'; readonly from: string; readonly to: string };

export type RefresherEvent =
  /**
   * Every fetch's outcome (one per fetch, retries included in `attempts`). A successful one
   * carries its key set (main decides whether it changed) in the same message, so the keys and
   * the fetch's stats and metrics reach the main thread together: no request can be served with
   * the new keys before the fetch is counted.
   */
  | {
      readonly type: 'fetch';
      readonly id: string;
      readonly url: string;
      readonly outcome: JwksFetchOutcome;
      readonly trigger: JwksFetchTrigger;
      /** Safe to log: names members, statuses and errors, never body content or key material. */
      readonly reason?: string;
      readonly status?: number;
      /** HTTP requests made (1 + retries). */
      readonly attempts: number;
      readonly durationMs: number;
      /** Only when `outcome` is `ok`. */
      readonly keys?: readonly RefreshedKey[];
      /** Only when `outcome` is `ok`: why members of the set were not imported. */
      readonly dropped?: readonly string[];
      /** The first fetch of this key set since it was configured. */
      readonly first: boolean;
      readonly nextFetchInMs: number;
      /** The spec's epoch (RemoteJwksSpec.epoch) when the fetch was made. */
      readonly epoch?: number;
    }
  /** Answer to `refetch`: `fetched` (a fetch ran and succeeded), `failed`, `cooldown`, `unknown` id. */
  | { readonly type: 'refetch-done'; readonly id: string; readonly requestId: number; readonly result: 'fetched' | 'failed' | 'cooldown' | 'unknown'; readonly retryAfterMs?: number };

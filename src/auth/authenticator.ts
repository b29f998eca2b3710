// Runs a route's JWT extensions against a request the way Envoy's jwt_authn filter does with
// kgateway's requirements (spec §4.2, §4.7, §4.8): every extension must pass; within one,
// providers are OR-ed (requires_any) and every token a provider finds must pass. On success it
// edits the request (claim headers, token removal). Synchronous when every token is a cache hit
// or verified inline; a Promise only when a signature check is pending. Never logs tokens.

import type { ErrorCode } from '../errors.js';
import type { JwtExtension, JwtProvider, KeySetSource } from '../config/snapshot.js';
import { removeHeader, removeHeaders, type GatewayRequest } from '../http/exchange.js';
import type { Metrics } from '../observability/metrics.js';
import type { VerifyItem } from '../types.js';
import { checkClaims, systemNowSeconds } from './claim-checks.js';
import { claimHeaderValue, lookupClaim } from './claim-headers.js';
import { parseJwt, type ParsedJwt } from './jwt-parse.js';
import type { ResultCache } from './result-cache.js';
import { extractTokens, removeToken, type ExtractedToken } from './token-extractor.js';
import type { Verifier, VerifierResult } from './verifier.js';

export type AuthOutcome =
  | {
      readonly ok: true;
      readonly claims?: Record<string, unknown>;
      /**
       * Set when `stopOnClear` stopped the run: the index of the extension that accepted a token
       * with claim headers (Envoy clears the route cache there). The rest did not run.
       */
      readonly stoppedAt?: number;
    }
  | { readonly ok: false; readonly code: ErrorCode };

/** A key set as the running snapshot sees it, with the generation published to the verifier. */
export interface KeySetRef {
  readonly source: KeySetSource;
  readonly generation: number;
}

export interface AuthenticatorOptions {
  verifier: Verifier;
  cache: ResultCache;
  /** Whole seconds since the epoch (default: the system clock). */
  nowSeconds?: () => number;
  /** The key set a provider names; undefined when the snapshot has none by that id. */
  keySet: (id: string) => KeySetRef | undefined;
  /** Counts cache lookups in `jwtgate_result_cache_total{outcome=hit|miss|shared}`. */
  metrics?: Pick<Metrics, 'inc'>;
  /**
   * A remote key set has no key for a token's kid/alg: ask for an early refetch (the refresher
   * applies a cooldown and coalesces). Resolves when it is done or refused; the token is then
   * verified once more if the key set's generation changed. Unset: no refetch (Envoy).
   */
  refetchKeySet?: (id: string) => Promise<boolean>;
}

// Internal results are allocation-free on the fast path: a code string is a failure, an object
// is success (a token's ParsedJwt, a provider's or extension's claims).
type TokenResult = ParsedJwt | ErrorCode;
type Claims = Record<string, unknown>;
type ClaimsResult = Claims | ErrorCode;
type Maybe<T> = T | Promise<T>;

/** An extension that passed without a token (AllowMissing): no claims to report. */
const NO_CLAIMS: Claims = Object.freeze({});
const OK_NO_CLAIMS: AuthOutcome = Object.freeze({ ok: true });
const failures = new Map<ErrorCode, AuthOutcome>();
function failure(code: ErrorCode): AuthOutcome {
  let f = failures.get(code);
  if (!f) failures.set(code, (f = Object.freeze({ ok: false, code })));
  return f;
}

export class Authenticator {
  private readonly verifier: Verifier;
  private readonly cache: ResultCache;
  private readonly now: () => number;
  private readonly keySet: (id: string) => KeySetRef | undefined;
  private readonly metrics: Pick<Metrics, 'inc'> | undefined;
  private readonly refetchKeySet: ((id: string) => Promise<boolean>) | undefined;

  constructor(opts: AuthenticatorOptions) {
    this.verifier = opts.verifier;
    this.cache = opts.cache;
    this.now = opts.nowSeconds ?? systemNowSeconds;
    this.keySet = opts.keySet;
    this.metrics = opts.metrics;
    this.refetchKeySet = opts.refetchKeySet;
  }

  /**
   * Applies `extensions` in order (each must pass). Edits `req.headers`/`req.query` as Envoy
   * would: sanitized claim headers always; claim headers and token removal on success. The
   * claims are the payload of the last token verified by the last extension that saw one.
   */
  authenticate(req: GatewayRequest, extensions: readonly JwtExtension[], stopOnClear = false): Maybe<AuthOutcome> {
    return this.runExtensions(req, extensions, 0, undefined, stopOnClear);
  }

  /**
   * `stopOnClear`: return right after an extension that sets `req.clearRouteCache` (with
   * `stoppedAt`), so the caller can match the route again before the next extension runs, as
   * Envoy's later jwt_authn filters read the route it matches again.
   */
  private runExtensions(req: GatewayRequest, exts: readonly JwtExtension[], i: number, claims: Claims | undefined, stopOnClear: boolean): Maybe<AuthOutcome> {
    for (; i < exts.length; i++) {
      // A denial's realm shows the URI as this extension received it (Envoy's filter saves
      // original_uri_ before verifying), not the query a passing token was already removed
      // from: put back on failure (the request is then answered, never forwarded).
      const query = req.query;
      const r = this.runExtension(req, exts[i]!);
      if (r instanceof Promise) {
        const at = i;
        return r.then((v) => {
          if (typeof v === 'string') {
            req.query = query;
            return failure(v);
          }
          const c = v === NO_CLAIMS ? claims : v;
          if (stopOnClear && req.clearRouteCache === true) return { ok: true, ...(c ? { claims: c } : {}), stoppedAt: at };
          return this.runExtensions(req, exts, at + 1, c, stopOnClear);
        });
      }
      if (typeof r === 'string') {
        req.query = query;
        return failure(r);
      }
      if (r !== NO_CLAIMS) claims = r;
      if (stopOnClear && req.clearRouteCache === true) return { ok: true, ...(claims ? { claims } : {}), stoppedAt: i };
    }
    return claims ? { ok: true, claims } : OK_NO_CLAIMS;
  }

  private runExtension(req: GatewayRequest, ext: JwtExtension): Maybe<ClaimsResult> {
    // Sanitize first, whatever the outcome: clients cannot send the claim headers themselves.
    removeHeaders(req.headers, ext.sanitizeHeaders);
    return this.runProviders(req, ext, 0, undefined, false);
  }

  /** requires_any: the first provider that passes wins. */
  private runProviders(req: GatewayRequest, ext: JwtExtension, i: number, firstOther: ErrorCode | undefined, unknownIssuer: boolean): Maybe<ClaimsResult> {
    const providers = ext.providers;
    for (; i < providers.length; i++) {
      const p = providers[i]!;
      // Envoy's ProviderVerifierImpl sanitizes its own claim headers before it extracts: an
      // earlier provider that verified a good token and then failed on another one added its
      // claim headers, and a later provider with the same header names must not forward them.
      if (i > 0) for (const c of p.claimsToHeaders) removeHeader(req.headers, c.header);
      const r = this.runProvider(req, p);
      if (r instanceof Promise) {
        const at = i;
        const other = firstOther;
        const unknown = unknownIssuer;
        return r.then((v) => {
          if (typeof v !== 'string') return v;
          return this.runProviders(req, ext, at + 1, other ?? (isPrecedenceError(v) ? v : undefined), unknown || v === 'JWT_UNKNOWN_ISSUER');
        });
      }
      if (typeof r !== 'string') return r;
      if (r === 'JWT_UNKNOWN_ISSUER') unknownIssuer = true;
      else if (firstOther === undefined && isPrecedenceError(r)) firstOther = r;
    }
    // All failed (spec §4.7): the first error that is neither missing nor unknown issuer, else
    // unknown issuer if any provider said so, else missing; AllowMissing turns missing into OK.
    const code = firstOther ?? (unknownIssuer ? 'JWT_UNKNOWN_ISSUER' : 'JWT_MISSING');
    return ext.allowFailed || (code === 'JWT_MISSING' && ext.allowMissing) ? NO_CLAIMS : code;
  }

  /** Every token the provider finds must pass, verified last-extracted first (spec §4.2). */
  private runProvider(req: GatewayRequest, provider: JwtProvider): Maybe<ClaimsResult> {
    const tokens = extractTokens(req, provider);
    if (tokens.length === 0) return 'JWT_MISSING';
    return this.runTokens(req, provider, tokens, tokens.length - 1, NO_CLAIMS);
  }

  private runTokens(req: GatewayRequest, provider: JwtProvider, tokens: readonly ExtractedToken[], i: number, claims: Claims): Maybe<ClaimsResult> {
    for (; i >= 0; i--) {
      const r = this.checkToken(provider, tokens[i]!.token);
      if (r instanceof Promise) {
        const at = i;
        return r.then((v) => {
          if (typeof v === 'string') return v;
          this.onGoodToken(req, provider, tokens[at]!, v);
          return at === 0 ? v.payload : this.runTokens(req, provider, tokens, at - 1, v.payload);
        });
      }
      if (typeof r === 'string') return r;
      // As in Envoy's handleGoodJwt, each good token edits the request at once.
      this.onGoodToken(req, provider, tokens[i]!, r);
      claims = r.payload;
    }
    return claims;
  }

  /** parse -> issuer -> time -> audience -> keys -> signature (via the cache and the verifier). */
  private checkToken(provider: JwtProvider, token: string): Maybe<TokenResult> {
    const ks = this.keySet(provider.keySetId);
    const cached = ks && this.cache.lookup(token, provider.keySetId, ks.generation);
    // A token cached for another provider's key set is parsed already: the parse depends on the token only.
    const jwt = cached ?? this.cache.parsed(token) ?? parseJwt(token);
    if (!jwt.ok) return jwt.code;
    const claimError = checkClaims(jwt, provider, this.now());
    if (claimError) {
      if (cached && claimError === 'JWT_EXPIRED') this.cache.delete(token);
      return claimError;
    }
    if (cached) {
      this.metrics?.inc('jwtgate_result_cache_total', 'hit');
      return cached;
    }
    if (!ks) return 'JWKS_NO_VALID_KEYS';
    if (ks.source.kind === 'remote') {
      if (this.verifier.keyCount(provider.keySetId) === 0) return 'JWKS_FETCH_FAILED';
    } else if (ks.source.keys.length === 0) {
      return 'JWKS_NO_VALID_KEYS';
    }

    const keySetId = provider.keySetId;
    const generation = ks.generation;
    const shared = this.cache.pending<VerifierResult>(token, keySetId, generation);
    if (shared) {
      this.metrics?.inc('jwtgate_result_cache_total', 'shared');
      return shared.then((r) => this.afterVerify(r, token, jwt, keySetId, ks));
    }
    this.metrics?.inc('jwtgate_result_cache_total', 'miss');
    const r = this.startVerify(token, jwt, keySetId, generation);
    return r instanceof Promise ? r.then((v) => this.afterVerify(v, token, jwt, keySetId, ks)) : this.afterVerify(r, token, jwt, keySetId, ks);
  }

  /** The signature check of `jwt` against one key set generation; a pooled one is shared with identical concurrent checks. */
  private startVerify(token: string, jwt: ParsedJwt, keySetId: string, generation: number): VerifierResult | Promise<VerifierResult> {
    const item: VerifyItem = { keySetId, generation, alg: jwt.alg, kid: jwt.kid, signingInput: jwt.signingInput, signature: jwt.signature };
    const r = this.verifier.verifyMaybeSync(item);
    return r instanceof Promise ? this.cache.share(token, keySetId, generation, r) : r;
  }

  private afterVerify(r: VerifierResult, token: string, jwt: ParsedJwt, keySetId: string, ks: KeySetRef, refetched = false): Maybe<TokenResult> {
    if (r.ok) {
      this.cache.record(token, jwt, keySetId, ks.generation);
      return jwt;
    }
    if (r.code === 'JWKS_KID_ALG_MISMATCH' && ks.source.kind === 'remote' && this.refetchKeySet && !refetched) return this.afterKidMiss(token, jwt, keySetId, ks);
    // The verifier has no keys for this generation (not published yet): for a remote key set
    // that is a fetch that has not succeeded; for a local one, no usable key.
    if (r.code === 'KEYSET_NOT_LOADED') return ks.source.kind === 'remote' ? 'JWKS_FETCH_FAILED' : 'JWKS_NO_VALID_KEYS';
    return r.code;
  }

  /**
   * Key rotation (beyond Envoy, which waits for the next scheduled refresh): the IdP may have
   * published a new key since the last fetch. One early refetch per key set per cooldown, shared
   * by every request that misses meanwhile; then one more check against the new generation.
   */
  private afterKidMiss(token: string, jwt: ParsedJwt, keySetId: string, ks: KeySetRef): Promise<TokenResult> {
    return this.refetchKeySet!(keySetId).then(() => {
      const now = this.keySet(keySetId);
      if (!now || now.generation === ks.generation) return 'JWKS_KID_ALG_MISMATCH';
      const r = this.cache.pending<VerifierResult>(token, keySetId, now.generation) ?? this.startVerify(token, jwt, keySetId, now.generation);
      return r instanceof Promise ? r.then((v) => this.afterVerify(v, token, jwt, keySetId, now, true)) : this.afterVerify(r, token, jwt, keySetId, now, true);
    });
  }

  /** handleGoodJwt: claim headers are added, then (forward=false) the token is removed. */
  private onGoodToken(req: GatewayRequest, provider: JwtProvider, location: ExtractedToken, jwt: ParsedJwt): void {
    // kgateway sets clear_route_cache on exactly the providers with claimsToHeaders.
    if (provider.claimsToHeaders.length > 0) req.clearRouteCache = true;
    for (const c of provider.claimsToHeaders) {
      const v = claimHeaderValue(lookupClaim(jwt.payload, c.path));
      if (v !== undefined) req.headers.push(c.header, v);
    }
    if (!provider.forwardToken) removeToken(req, location);
  }
}

function isPrecedenceError(code: ErrorCode): boolean {
  return code !== 'JWT_MISSING' && code !== 'JWT_UNKNOWN_ISSUER';
}

// TrafficPolicy `rateLimit.local`: Envoy's local_ratelimit filter as kgateway configures it
// (per-route typed_per_filter_config `ratelimit/local`, in the RateLimit stage: after jwt_authn and
// rbac, before the route stage's header_mutation and the router). Envoy 1.38's bucket is
// AtomicTokenBucketImpl: it starts full and refills continuously at tokensPerFill per
// fillInterval, up to maxTokens (no timer: refilled lazily when a request takes a token).

/** A `rateLimit.local.tokenBucket`, as the CRD defaults it. */
export interface TokenBucketSpec {
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
}

/** `rateLimit.local` as validated: a bucket, or `{}` (kgateway's way to turn a less specific one off). */
export type LocalRateLimitSpec =
  | { readonly kind: 'bucket'; readonly bucket: TokenBucketSpec; readonly percentEnabled: number; readonly percentEnforced: number }
  | { readonly kind: 'disabled' };

/** One Envoy per-filter config object's bucket: shared by every route that config lands on. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly perMs: number;

  constructor(readonly spec: TokenBucketSpec, now: number = performance.now()) {
    this.tokens = spec.maxTokens;
    this.last = now;
    this.perMs = spec.tokensPerFill / spec.fillIntervalMs;
  }

  /** Takes one token if there is one (refilling first for the time since the last call). */
  take(now: number = performance.now()): boolean {
    const elapsed = now - this.last;
    if (elapsed > 0) {
      const t = this.tokens + elapsed * this.perMs;
      this.tokens = t > this.spec.maxTokens ? this.spec.maxTokens : t;
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Tokens left (fractional while refilling); for config_dump and tests. */
  available(now: number = performance.now()): number {
    const t = this.tokens + Math.max(0, now - this.last) * this.perMs;
    return t > this.spec.maxTokens ? this.spec.maxTokens : t;
  }
}

/** What a route carries: its bucket and the runtime fractions (`percentEnabled` / `percentEnforced`). */
export interface RouteRateLimit {
  readonly bucket: TokenBucket;
  /** 0..100: the share of requests the filter looks at (Envoy's filter_enabled). */
  readonly percentEnabled: number;
  /** 0..100: the share of limited requests that are refused (filter_enforced); the others pass. */
  readonly percentEnforced: number;
  /** `TrafficPolicy/ns/name@Level`, for config_dump. */
  readonly origin: string;
  /** Which per-filter config the bucket belongs to (and so what shares it), for config_dump. */
  readonly scope: string;
}

/**
 * Whether the request may go on. Envoy samples filter_enabled, then (when the bucket is empty)
 * filter_enforced, each as a runtime fraction; a request not enforced passes without a token.
 */
export function rateLimitAllows(rl: RouteRateLimit): boolean {
  if (rl.percentEnabled < 100 && Math.random() * 100 >= rl.percentEnabled) return true;
  if (rl.bucket.take()) return true;
  return rl.percentEnforced < 100 && Math.random() * 100 >= rl.percentEnforced;
}

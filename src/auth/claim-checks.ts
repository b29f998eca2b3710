// The claim checks Envoy's authenticator runs after parsing and before the signature, in its
// order (spec §4.2): issuer, then time (nbf, exp with clock skew), then audience. Pure: the
// clock is a parameter. Does not parse tokens or touch keys.

import type { ErrorCode } from '../errors.js';

/** Envoy's kClockSkewInSecond, used when a provider sets no (or a zero) skew. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 60;

/** Seconds since the epoch, whole seconds (DateUtil::nowToSeconds). */
export function systemNowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export interface CheckedClaims {
  readonly iss: string;
  readonly aud: readonly string[];
  readonly nbf: number;
  readonly exp: number;
}

export interface ClaimPolicy {
  /** '' = any issuer, including a missing one. */
  readonly issuer: string;
  /** Already normalized; null (or empty) = aud not checked. */
  readonly audiences: readonly string[] | null;
  readonly clockSkewSeconds: number;
}

/** Undefined when every check passes, else the first failing code in Envoy's order. */
export function checkClaims(jwt: CheckedClaims, policy: ClaimPolicy, nowSeconds: number): ErrorCode | undefined {
  if (policy.issuer !== '' && jwt.iss !== policy.issuer) return 'JWT_UNKNOWN_ISSUER';
  const skew = policy.clockSkewSeconds > 0 ? policy.clockSkewSeconds : DEFAULT_CLOCK_SKEW_SECONDS;
  const time = checkTime(jwt.nbf, jwt.exp, nowSeconds, skew);
  if (time) return time;
  if (!audienceAllowed(jwt.aud, policy.audiences)) return 'JWT_AUDIENCE_NOT_ALLOWED';
  return undefined;
}

/** jwt.cc verifyTimeConstraint: 0 means "no limit" for exp; a missing nbf is 0 and never fails. */
export function checkTime(nbf: number, exp: number, nowSeconds: number, skewSeconds: number): 'JWT_NOT_YET_VALID' | 'JWT_EXPIRED' | undefined {
  if (nowSeconds + skewSeconds < nbf) return 'JWT_NOT_YET_VALID';
  if (exp !== 0 && (nowSeconds > exp + skewSeconds || (exp >= 2 ** 63 && wrapsUint64(exp, skewSeconds)))) return 'JWT_EXPIRED';
  return undefined;
}

/**
 * jwt.cc computes `exp + clock_skew` in uint64_t: an `exp` within the skew of 2^64 wraps around
 * to a small number and the token reads as expired there, so it does here.
 */
function wrapsUint64(exp: number, skewSeconds: number): boolean {
  return BigInt(exp) + BigInt(Math.trunc(skewSeconds)) >= 2n ** 64n;
}

/**
 * check_audience.cc: allowed when the provider lists no audiences, or when one of the token's
 * `aud` values, normalized, is in the (pre-normalized) list.
 */
export function audienceAllowed(tokenAud: readonly string[], allowed: readonly string[] | null): boolean {
  if (!allowed || allowed.length === 0) return true;
  for (const a of tokenAud) if (allowed.includes(normalizeAudience(a))) return true;
  return false;
}

/** Strips one leading `http://` or `https://` and one trailing '/' (check_audience.cc). */
export function normalizeAudience(aud: string): string {
  let start = 0;
  if (aud.startsWith('http://')) start = 7;
  else if (aud.startsWith('https://')) start = 8;
  const end = aud.length > start && aud.charCodeAt(aud.length - 1) === 47 ? aud.length - 1 : aud.length;
  return start === 0 && end === aud.length ? aud : aud.slice(start, end);
}

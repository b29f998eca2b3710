// HTTP basic authentication: kgateway's TrafficPolicy `basicAuth`, checked as Envoy's basic_auth
// filter checks it (basic_auth_filter.cc). The first `authorization` value must be `Basic ` (that
// case, one space) and strict standard base64 of `user:password`; the user is everything before
// the first colon, compared byte for byte; the password's SHA-1, in base64, must be the 28
// characters the htpasswd line gives after `{SHA}`. A request that passes keeps its
// `Authorization` header (kgateway sets no option that would remove it).

import { createHash, timingSafeEqual } from 'node:crypto';
import type { ErrorCode } from '../errors.js';
import { firstHeaderValue } from '../http/exchange.js';

/** A `basicAuth` user list as kgateway hands it to Envoy. */
export interface BasicAuthSpec {
  /**
   * User name (its UTF-8 bytes as a latin1 string, so a lookup compares bytes) -> the 28
   * base64 characters after `{SHA}` (as written: Envoy compares strings, so a value that is not
   * base64 of a SHA-1 matches no password).
   */
  readonly users: ReadonlyMap<string, string>;
}

/** The `basicAuth` a route enforces, and where it comes from (`TrafficPolicy/ns/name@Level`). */
export interface BasicAuthPolicy extends BasicAuthSpec {
  readonly origin: string;
}

/** The `users` key for a user name as written in an htpasswd line. */
export function basicAuthUserKey(name: string): string {
  return Buffer.from(name, 'utf8').toString('latin1');
}

/** Why `headers` fail `policy`, or undefined when they pass. */
export function basicAuthDenial(policy: BasicAuthSpec, headers: readonly string[]): ErrorCode | undefined {
  const value = firstHeaderValue(headers, 'authorization');
  if (value === undefined) return 'BASIC_AUTH_MISSING';
  if (!value.startsWith('Basic ')) return 'BASIC_AUTH_BAD_SCHEME';
  const decoded = decodeStrictBase64(value.slice(6));
  const colon = decoded === undefined ? -1 : decoded.indexOf(0x3a);
  if (colon < 0) return 'BASIC_AUTH_BAD_FORMAT';
  const stored = policy.users.get(decoded!.toString('latin1', 0, colon));
  if (stored === undefined) return 'BASIC_AUTH_DENIED';
  const given = Buffer.from(createHash('sha1').update(decoded!.subarray(colon + 1)).digest('base64'), 'latin1');
  const want = Buffer.from(stored, 'latin1');
  return given.length === want.length && timingSafeEqual(given, want) ? undefined : 'BASIC_AUTH_DENIED';
}

const STANDARD_BASE64 = /^[A-Za-z0-9+/]*$/;

/**
 * Envoy's Base64::decodeWithoutPadding: up to two trailing `=` dropped, then only the standard
 * alphabet, a length that is not 1 mod 4 and no bits set past the last byte; anything else
 * (including empty) is not a credential. undefined when invalid.
 */
export function decodeStrictBase64(text: string): Buffer | undefined {
  let n = text.length;
  if (n > 0 && text.charCodeAt(n - 1) === 0x3d) {
    n--;
    if (n > 0 && text.charCodeAt(n - 1) === 0x3d) n--;
  }
  if (n === 0 || n % 4 === 1) return undefined;
  const body = n === text.length ? text : text.slice(0, n);
  if (!STANDARD_BASE64.test(body)) return undefined;
  const tail = n % 4;
  if (tail !== 0) {
    const last = sextet(body.charCodeAt(n - 1));
    if ((tail === 2 && (last & 0x0f) !== 0) || (tail === 3 && (last & 0x03) !== 0)) return undefined;
  }
  return Buffer.from(body, 'base64');
}

function sextet(c: number): number {
  if (c >= 65 && c <= 90) return c - 65;
  if (c >= 97 && c <= 122) return c - 71;
  if (c >= 48 && c <= 57) return c + 4;
  return c === 43 ? 62 : 63;
}

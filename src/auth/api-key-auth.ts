// API keys: kgateway's TrafficPolicy `apiKeyAuth`, checked as Envoy's api_key_auth filter checks
// it (api_key_auth.cc). The key sources are tried in order and the first non-empty value is the
// key; each source reads ONE place (its header if it names one, else its query parameter, else
// its cookie), whatever kgateway's docs say about falling back within a source. A header value
// loses a leading `Bearer ` (that case, one space), whatever the header. The key must be one of
// the policy's exactly. On success the client id header (if any) is set, then, unless
// `forwardCredential`, every source's place is cleared: its header removed, its query parameter
// removed (the query rewritten as Envoy rewrites it: sorted, values decoded), its cookie dropped.

import type { ErrorCode } from '../errors.js';
import { firstHeaderValue, removeHeader, type GatewayRequest } from '../http/exchange.js';
import { parseQuery, removeQueryParamInPlace } from './token-extractor.js';

/** Where one key source reads: Envoy's KeySource uses its header, else its query, else its cookie. */
export interface ApiKeySource {
  readonly kind: 'header' | 'query' | 'cookie';
  /** Header names lowercase; query parameters and cookies as written. */
  readonly name: string;
}

/** An `apiKeyAuth` as kgateway hands it to Envoy. */
export interface ApiKeyAuthSpec {
  /** Key (as the Secret holds it, a JS string as header values are) -> client id (the Secret's data key). */
  readonly keys: ReadonlyMap<string, string>;
  /** In order; `[{header: api-key}]` when the policy names none. */
  readonly sources: readonly ApiKeySource[];
  /** `!forwardCredential`: clear every source's place once a key is accepted. */
  readonly hideCredentials: boolean;
  /** `clientIdHeader`, lowercase: set to the accepted key's client id, replacing any the client sent. */
  readonly clientIdHeader?: string;
}

/** The `apiKeyAuth` a route enforces, and where it comes from (`TrafficPolicy/ns/name@Level`). */
export interface ApiKeyAuthPolicy extends ApiKeyAuthSpec {
  readonly origin: string;
}

/**
 * Checks `req` against `policy`: the denial's code, or undefined when a key is accepted (then
 * `req` has its client id header and, unless forwarded, no credentials).
 */
export function apiKeyDenial(policy: ApiKeyAuthSpec, req: GatewayRequest): ErrorCode | undefined {
  let key = '';
  let params: [string, string][] | undefined;
  for (const s of policy.sources) {
    if (s.kind === 'header') key = headerKey(req.headers, s.name);
    else if (s.kind === 'query') key = queryKey((params ??= parseQuery(req.query)), s.name);
    else key = cookieValue(req.headers, s.name);
    if (key !== '') break;
  }
  if (key === '') return 'API_KEY_MISSING';
  const client = policy.keys.get(key);
  if (client === undefined) return 'API_KEY_UNKNOWN';
  if (policy.clientIdHeader !== undefined) setHeader(req.headers, policy.clientIdHeader, client);
  if (policy.hideCredentials) {
    for (const s of policy.sources) {
      if (s.kind === 'header') removeHeader(req.headers, s.name);
      else if (s.kind === 'query') {
        if (req.query !== '') removeQueryParamInPlace(req, s.name);
      } else removeCookie(req.headers, s.name);
    }
  }
  return undefined;
}

/** The first value of header `name`, without a leading `Bearer `. */
function headerKey(headers: readonly string[], name: string): string {
  const v = firstHeaderValue(headers, name) ?? '';
  return v.startsWith('Bearer ') ? v.slice(7) : v;
}

/** The first value of query parameter `name` (percent-decoded, read as UTF-8; `+` stays a plus). */
function queryKey(params: readonly [string, string][], name: string): string {
  for (const [k, v] of params) if (k === name) return v;
  return '';
}

/**
 * Envoy's forEachCookie over every `cookie` field: `;`-separated pieces (empty ones skipped),
 * the name from the first non-space character to the first `=` (a piece without one is
 * skipped), the value the rest, without the double quotes around it (RFC 6265 §4.1.1). `fn`
 * returns false to stop.
 */
function forEachCookie(headers: readonly string[], fn: (name: string, value: string) => boolean): void {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'cookie') continue;
    for (const piece of headers[i + 1]!.split(';')) {
      if (piece === '') continue;
      const eq = piece.indexOf('=');
      if (eq < 0) continue;
      let start = 0;
      while (start < eq && piece.charCodeAt(start) === 0x20) start++;
      let value = piece.slice(eq + 1);
      if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22) value = value.slice(1, -1);
      if (!fn(piece.slice(start, eq), value)) return;
    }
  }
}

/** Envoy's parseCookieValue: the value of the first cookie of that exact name ('' when none). */
export function cookieValue(headers: readonly string[], name: string): string {
  let value = '';
  forEachCookie(headers, (k, v) => {
    if (k !== name) return true;
    value = v;
    return false;
  });
  return value;
}

/**
 * Envoy's removeCookieValue: the `cookie` fields replaced by one holding every other cookie as
 * forEachCookie reads it (`name=value`, quotes removed; pieces without `=` dropped), joined with
 * `; `, or by none when no cookie is left. Also when no cookie of that name was sent. (Its source
 * was not among the stored copies of Envoy to check this against; api_key_auth.cc calls it.)
 */
export function removeCookie(headers: string[], name: string): void {
  const kept: string[] = [];
  forEachCookie(headers, (k, v) => {
    if (k !== name) kept.push(`${k}=${v}`);
    return true;
  });
  removeHeader(headers, 'cookie');
  if (kept.length > 0) headers.push('cookie', kept.join('; '));
}

/** Sets header `name` to `value` alone (Envoy's setCopy: every earlier value removed). */
function setHeader(headers: string[], name: string, value: string): void {
  removeHeader(headers, name);
  headers.push(name, value);
}

// Where a provider's tokens are in a request, and how a forwarded request loses them again,
// as Envoy's extractor.cc does (spec §4.1, §4.8.3): header prefixes found anywhere and
// case-sensitively, every header value a token, query parameters percent-decoded (first value
// wins). Does not parse or verify tokens.

import { percentDecode, percentDecodeBytes } from '../http/percent-decode.js';
import type { JwtProvider } from '../config/snapshot.js';
import { removeHeader, type GatewayRequest } from '../http/exchange.js';

export interface ExtractedToken {
  readonly token: string;
  /** 'header': `name` is the lowercase header; 'query': `name` is the parameter as configured. */
  readonly kind: 'header' | 'query';
  readonly name: string;
}

type Locations = Pick<JwtProvider, 'headerLocations' | 'queryLocations'>;

/**
 * Tokens in extraction order: header locations in the provider's (already sorted) order, each
 * header value in arrival order, then query parameters in sorted order. Callers verify them
 * last-extracted first.
 */
export function extractTokens(req: GatewayRequest, provider: Locations): ExtractedToken[] {
  const out: ExtractedToken[] = [];
  const headers = req.headers;
  for (const loc of provider.headerLocations) {
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] !== loc.name) continue;
      const value = headers[i + 1]!;
      let token = value;
      if (loc.prefix !== '') {
        const pos = value.indexOf(loc.prefix);
        if (pos < 0) continue;
        token = own(tokenAfter(value, pos + loc.prefix.length), value);
      }
      out.push({ token, kind: 'header', name: loc.name });
    }
  }
  if (provider.queryLocations.length > 0 && req.query !== '') {
    const params = parseQuery(req.query);
    for (const name of provider.queryLocations) {
      const first = firstValue(params, name);
      if (first !== undefined) out.push({ token: own(first, req.query), kind: 'query', name });
    }
  }
  return out;
}

/**
 * `token` as a string of its own when it is a small part of `source`: V8 keeps a substring as a
 * view of its parent, so a cached token cut from a 40 KB header (`<filler> Bearer <token>`) or
 * query kept all 40 KB alive, ~440 MB for the 10,000 cache entries bounded at 16 MiB. The copy
 * (a UTF-8 round trip, lossless for these strings) is made only then, not for `Bearer <token>`.
 */
function own(token: string, source: string): string {
  return source.length - token.length > 64 ? Buffer.from(token, 'utf8').toString('utf8') : token;
}

/** Removes a token's location (forwardToken false): the whole header, or the query parameter. */
export function removeToken(req: GatewayRequest, location: ExtractedToken): void {
  if (location.kind === 'header') removeHeader(req.headers, location.name);
  else removeQueryParamInPlace(req, location.name);
}

/**
 * Removes query parameter `name` from `req` as Envoy removes one from `:path` (the rest
 * re-serialized: see removeQueryParam), also when it is not there.
 */
export function removeQueryParamInPlace(req: GatewayRequest, name: string): void {
  const bytes = removeQueryParamBytes(req.query, name);
  req.query = wireSafe(bytes);
  // What Envoy's `:path` holds (the values decoded), for rbac's request.path and request.query
  // and a route re-match, read as UTF-8 as every other part of the request is.
  if (req.query !== bytes) req.queryAsEnvoy = Buffer.from(bytes, 'latin1').toString('utf8');
  else if (req.queryAsEnvoy !== undefined) req.queryAsEnvoy = undefined;
}

// Base64url characters plus '.', per extractor.cc ConstantBase64UrlEncodingCharsPlusDot.
function isJwtChar(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95 || c === 46;
}

/**
 * extractor.cc extractJWT (Envoy PR #28678): skip characters that are not base64url or '.',
 * then take the rest of the value. With no such character the whole value is returned as is.
 */
function tokenAfter(value: string, from: number): string {
  for (let i = from; i < value.length; i++) if (isJwtChar(value.charCodeAt(i))) return i === 0 ? value : value.slice(i);
  return value;
}

/**
 * Query parameters as [decodedName, decodedValue] pairs in order (QueryParamsMulti parse), decoded
 * by `decode` (as UTF-8 text by default).
 */
export function parseQuery(query: string, decode: (s: string) => string = percentDecode): [string, string][] {
  const out: [string, string][] = [];
  let start = 0;
  while (start < query.length) {
    let end = query.indexOf('&', start);
    if (end < 0) end = query.length;
    const eq = query.indexOf('=', start);
    if (eq >= 0 && eq < end) out.push([decode(query.slice(start, eq)), decode(query.slice(eq + 1, end))]);
    else out.push([decode(query.slice(start, end)), '']);
    start = end + 1;
  }
  return out;
}

function firstValue(params: readonly [string, string][], name: string): string | undefined {
  for (const [k, v] of params) if (k === name) return v;
  return undefined;
}

/**
 * Envoy's replaceQueryString after `remove(name)`: the remaining parameters re-serialized sorted
 * by (decoded) name in byte order (a btree map of `std::string`), values in arrival order, from
 * their *decoded* bytes and not re-encoded (spec §4.8.3), except the bytes no request-target may
 * hold (wireSafe). Returns the new query without '?', '' when nothing is left.
 */
export function removeQueryParam(query: string, name: string): string {
  return wireSafe(removeQueryParamBytes(query, name));
}

/**
 * removeQueryParam's result before wireSafe, as a binary string (one character per byte): exactly
 * the bytes Envoy writes into `:path`, those that are not UTF-8 (`%E9`) included.
 */
function removeQueryParamBytes(query: string, name: string): string {
  const nameBytes = Buffer.from(name, 'utf8').toString('latin1');
  const byName = new Map<string, string[]>();
  for (const [k, v] of parseQuery(query, percentDecodeBytes)) {
    if (k === nameBytes) continue;
    const values = byName.get(k);
    if (values) values.push(v);
    else byName.set(k, [v]);
  }
  // Binary strings: `<` compares bytes, as std::string's operator<.
  const names = [...byName.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let out = '';
  for (const k of names) for (const v of byName.get(k)!) out += (out === '' ? '' : '&') + k + '=' + v;
  return out;
}

// Envoy writes the decoded bytes back as they are. Bytes that cannot appear in an HTTP/1.1
// request-target at all (space, controls, DEL, '#', and 0x80–0xFF) would make the upstream request
// invalid (undici refuses such a path), so only those are percent-encoded again, byte by byte.
const NOT_WIRE_SAFE = /[^\x21-\x22\x24-\x7e]/;
function wireSafe(bytes: string): string {
  if (!NOT_WIRE_SAFE.test(bytes)) return bytes;
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes.charCodeAt(i);
    if (c > 0x20 && c < 0x7f && c !== 0x23) out += bytes[i];
    else out += '%' + (c < 16 ? '0' : '') + c.toString(16).toUpperCase();
  }
  return out;
}

// TrafficPolicy `compression.responseCompression`: Envoy's compressor filter, one per codec, as
// kgateway configures it (the codec's defaults; min_content_length and content_type only when the
// policy sets them). What it decides on a response head, in Envoy's order
// (compressor_filter.cc encodeHeaders):
// - a codec may compress when the response's Content-Length, if any, is at least its minimum
//   (30 bytes by default), its Content-Type, if any, is in its list, Cache-Control has no
//   `no-transform` and there is no Content-Encoding (any value);
// - then `Vary: Accept-Encoding` is added (to a Vary without that token), compressed or not;
// - the codec is chosen from the request's Accept-Encoding by q-value (Envoy's chooseEncoding:
//   `q=0` rules a codec out, `identity` and `*` take part, ties go to the earlier token, `*` means
//   the first codec of the chain, names are case-sensitive); none without Accept-Encoding;
// - a response without a body (HEAD, 204, 304, Content-Length: 0) is never compressed.
// When compressed: Content-Length removed (the client gets it chunked), Content-Encoding set, a
// strong ETag removed (a weak one kept), the body compressed with a flush after each chunk.

import zlib from 'node:zlib';
import { firstHeaderValue as first, joinedHeaderValue as joined } from '../http/exchange.js';

export type Codec = 'gzip' | 'br';

export interface CodecConfig {
  readonly codec: Codec;
  /** Envoy's min_content_length: 30 unless the policy's minContentLengthBytes says otherwise. */
  readonly minLength: number;
  /** Lowercase media types (Envoy's default list unless the policy's contentTypes). */
  readonly contentTypes: ReadonlySet<string>;
}

export interface RouteCompression {
  /** The compressors on the route, in filter-chain order (gzip, then brotli). */
  readonly codecs: readonly CodecConfig[];
  /** Where each comes from (`TrafficPolicy/ns/name@Level`), for config_dump. */
  readonly origins: readonly string[];
}

/** Envoy's default content_type list for its compressor filter. */
export const DEFAULT_CONTENT_TYPES: readonly string[] = [
  'text/html',
  'text/plain',
  'text/css',
  'application/javascript',
  'application/x-javascript',
  'text/javascript',
  'text/x-javascript',
  'text/ecmascript',
  'text/js',
  'text/jscript',
  'text/x-js',
  'application/ecmascript',
  'application/x-json',
  'application/xml',
  'application/json',
  'image/svg+xml',
  'text/xml',
  'application/xhtml+xml',
  'application/grpc-web',
  'application/grpc-web+proto',
];

export const DEFAULT_MIN_CONTENT_LENGTH = 30;


/** Whether a comma-separated header value holds `token` (ASCII case-insensitive, trimmed). */
function hasToken(value: string, token: string): boolean {
  for (const t of value.split(',')) if (t.trim().toLowerCase() === token) return true;
  return false;
}

/** absl::SimpleAtof on a trimmed q value: a decimal or exponent number, or inf, infinity, nan. */
const FLOAT = /^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)$/i;

/** A q value as Envoy holds it: a 32-bit float (so 0.3 and 0.30000001 tie). */
function qValue(v: string): number {
  const t = v.toLowerCase().replace(/^\+/, '');
  const n = t === 'inf' || t === 'infinity' ? Infinity : t === '-inf' || t === '-infinity' ? -Infinity : t === 'nan' || t === '-nan' ? NaN : Number(t);
  return Math.fround(n);
}

/**
 * Envoy's chooseEncoding: the codec of `allowed` (chain order) the client's Accept-Encoding picks,
 * or undefined for none (identity wins, nothing acceptable, no header).
 */
export function chooseEncoding(acceptEncoding: string | undefined, allowed: readonly Codec[]): Codec | undefined {
  if (acceptEncoding === undefined) return undefined;
  const ok = new Set<string>(allowed);
  const pairs: { name: string; q: number }[] = [];
  for (const token of acceptEncoding.split(',')) {
    if (token.trim() === '') continue;
    const semi = token.indexOf(';');
    const name = (semi === -1 ? token : token.slice(0, semi)).trim();
    let q = 1;
    if (semi !== -1) {
      const params = token.slice(semi + 1);
      const eq = params.indexOf('=');
      if (eq !== -1 && params.slice(0, eq).trim().toLowerCase() === 'q') {
        const v = params.slice(eq + 1).trim();
        if (!FLOAT.test(v)) continue;
        q = qValue(v);
      }
    }
    pairs.push({ name, q });
    if (q === 0) ok.delete(name);
  }
  if (pairs.length === 0 || ok.size === 0) return undefined;
  let choice = { name: 'identity', q: 0 };
  for (const p of pairs) if (p.q > choice.q && (ok.has(p.name) || p.name === 'identity' || p.name === '*')) choice = p;
  if (choice.q === 0 || choice.name === 'identity') return undefined;
  if (choice.name === '*') return allowed.find((c) => ok.has(c));
  return choice.name as Codec;
}

/**
 * Envoy's compressor filters on a response head: adds Vary and, when a codec is chosen, sets the
 * compression headers (in place). Returns the codec to compress the body with, or undefined.
 * `endStream`: the response has no body (HEAD, 204, 304, Content-Length: 0).
 */
export function compressResponseHead(c: RouteCompression, acceptEncoding: string | undefined, headers: string[], endStream: boolean): Codec | undefined {
  if (first(headers, 'content-encoding') !== undefined) return undefined;
  const cacheControl = joined(headers, 'cache-control');
  if (cacheControl !== undefined && hasToken(cacheControl, 'no-transform')) return undefined;
  const lengthText = first(headers, 'content-length');
  const length = lengthText === undefined ? undefined : /^[0-9]+$/.test(lengthText) ? Number(lengthText) : -1;
  const typeText = joined(headers, 'content-type');
  const type = typeText === undefined ? undefined : (typeText.includes(';') ? typeText.slice(0, typeText.indexOf(';')) : typeText).trim().toLowerCase();
  const allowed: Codec[] = [];
  for (const k of c.codecs) {
    if (length !== undefined && !(length >= k.minLength)) continue;
    if (type !== undefined && !k.contentTypes.has(type)) continue;
    allowed.push(k.codec);
  }
  if (allowed.length === 0) return undefined;
  addVary(headers);
  if (endStream) return undefined;
  const codec = chooseEncoding(acceptEncoding, allowed);
  if (codec === undefined) return undefined;
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    const n = headers[i];
    if (n === 'content-length') headers.splice(i, 2);
    else if (n === 'etag') {
      const v = headers[i + 1]!;
      // Envoy removes a strong ETag (it no longer names these bytes) and keeps a weak one.
      if (v.length > 2 && !(v.startsWith('W/') || v.startsWith('w/'))) headers.splice(i, 2);
    }
  }
  headers.push('content-encoding', codec);
  return codec;
}

/**
 * Envoy's insertVaryHeader: `Accept-Encoding` added to the first Vary unless a Vary field line
 * (Envoy sees them folded into one) has it, or a Vary of its own.
 */
function addVary(headers: string[]): void {
  const all = joined(headers, 'vary');
  if (all === undefined) {
    headers.push('vary', 'Accept-Encoding');
    return;
  }
  // Envoy's findToken: trimmed, case-sensitive (`accept-encoding` does not count).
  if (all.split(',').some((t) => t.trim() === 'Accept-Encoding')) return;
  let i = 0;
  while (headers[i] !== 'vary') i += 2;
  const v = headers[i + 1]!;
  headers[i + 1] = v === '' ? 'Accept-Encoding' : `${v}, Accept-Encoding`;
}

/** The codec's compressor with Envoy's defaults (gzip: level 6, memory level 5, window 12 bits; brotli: quality 3, window 18 bits, block 24 bits). */
export function createEncoder(codec: Codec): zlib.Gzip | zlib.BrotliCompress {
  if (codec === 'gzip') return zlib.createGzip({ level: 6, memLevel: 5, windowBits: 12, chunkSize: 4096 });
  return zlib.createBrotliCompress({
    chunkSize: 4096,
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 3, [zlib.constants.BROTLI_PARAM_LGWIN]: 18, [zlib.constants.BROTLI_PARAM_LGBLOCK]: 24 },
  });
}

/** The flush Envoy does after each chunk of a compressed body. */
export function flushKind(codec: Codec): number {
  return codec === 'gzip' ? zlib.constants.Z_SYNC_FLUSH : zlib.constants.BROTLI_OPERATION_FLUSH;
}

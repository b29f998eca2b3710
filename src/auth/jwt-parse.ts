// Parses a compact JWS the way jwt_verify_lib's jwt.cc does (spec §4.3), returning Envoy's
// exact failure codes, plus two RFC checks Envoy skips (`crit`, `b64: false`). Hot path on a
// cache miss: one pass over the dots, no per-character regexes, shared failure values. Does
// not check issuer, time, audience or the signature.

import { isUtf8 } from 'node:buffer';
import type { ErrorCode } from '../errors.js';
import { algorithmInfo } from '../jwks/algorithms.js';
import { decodeBase64Url, decodeBase64UrlOwn } from '../jwks/base64url.js';

export interface ParsedJwt {
  readonly ok: true;
  readonly alg: string;
  /** '' when the header has no kid. */
  readonly kid: string;
  /** '' when the payload has no iss. */
  readonly iss: string;
  /** Empty when the payload has no aud. */
  readonly aud: readonly string[];
  /** Seconds, fractions truncated; 0 when absent (no limit). */
  readonly nbf: number;
  readonly exp: number;
  /** The payload claims (JSON numbers are doubles, as in Envoy's protobuf Struct). */
  readonly payload: Record<string, unknown>;
  /** `<header>.<payload>` as signed. */
  readonly signingInput: string;
  readonly signature: Uint8Array;
  /** Objects and arrays in the payload: what the parsed claims hold beyond the token's bytes. */
  readonly payloadContainers: number;
}

export interface JwtParseFailure {
  readonly ok: false;
  readonly code: ErrorCode;
}

const failures = new Map<ErrorCode, JwtParseFailure>();
function fail(code: ErrorCode): JwtParseFailure {
  let f = failures.get(code);
  if (!f) failures.set(code, (f = Object.freeze({ ok: false, code })));
  return f;
}

// 2^64 as a double: jwt_verify_lib rejects values >= this (struct_utils.cc GetUInt64).
const TWO_POW_64 = 18446744073709551616;

type TimeClaim = 'iat' | 'nbf' | 'exp';
const TIME_CODES: Record<TimeClaim, readonly [ErrorCode, ErrorCode]> = {
  iat: ['JWT_PAYLOAD_PARSE_ERROR_IAT_NOT_INTEGER', 'JWT_PAYLOAD_PARSE_ERROR_IAT_OUT_OF_RANGE'],
  nbf: ['JWT_PAYLOAD_PARSE_ERROR_NBF_NOT_INTEGER', 'JWT_PAYLOAD_PARSE_ERROR_NBF_OUT_OF_RANGE'],
  exp: ['JWT_PAYLOAD_PARSE_ERROR_EXP_NOT_INTEGER', 'JWT_PAYLOAD_PARSE_ERROR_EXP_OUT_OF_RANGE'],
};

/** Parses `token`; the failure is one of the JWT_* parse codes of src/errors.ts. */
export function parseJwt(token: string): ParsedJwt | JwtParseFailure {
  // absl::StrSplit(jwt, '.', SkipEmpty()): exactly three non-empty segments.
  let h: string, p: string, s: string, signingInput: string;
  const d1 = token.indexOf('.');
  const d2 = d1 < 0 ? -1 : token.indexOf('.', d1 + 1);
  if (d1 > 0 && d2 > d1 + 1 && d2 < token.length - 1 && token.indexOf('.', d2 + 1) < 0) {
    h = token.slice(0, d1);
    p = token.slice(d1 + 1, d2);
    s = token.slice(d2 + 1);
    signingInput = token.slice(0, d2);
  } else {
    const segs = token.split('.').filter((x) => x.length > 0);
    if (segs.length !== 3) return fail('JWT_BAD_FORMAT');
    [h, p, s] = segs as [string, string, string];
    // verify.cc signs `header_str_base64url_ + "." + payload_str_base64url_` (the kept segments).
    signingInput = `${h}.${p}`;
  }

  const headerBytes = decodeBase64Url(h);
  if (!headerBytes) return fail('JWT_HEADER_PARSE_ERROR_BAD_BASE64');
  const header = parseJsonObject(headerBytes);
  if (!header) return fail('JWT_HEADER_PARSE_ERROR_BAD_JSON');
  const alg = own(header, 'alg');
  if (typeof alg !== 'string') return fail('JWT_HEADER_BAD_ALG');
  if (!algorithmInfo(alg)) return fail('JWT_HEADER_NOT_IMPLEMENTED_ALG');
  const kid = own(header, 'kid');
  if (kid !== undefined && typeof kid !== 'string') return fail('JWT_HEADER_BAD_KID');
  // Stricter than Envoy, per RFC: an unencoded payload (RFC 7797) would be verified over the
  // wrong bytes, and a `crit` extension we do not implement must make the JWS invalid (RFC 7515 §4.1.11).
  if (own(header, 'b64') === false) return fail('JWT_HEADER_UNENCODED_PAYLOAD');
  if (Object.hasOwn(header, 'crit')) return fail('JWT_HEADER_UNSUPPORTED_CRIT');

  const payloadBytes = decodeBase64Url(p);
  if (!payloadBytes) return fail('JWT_PAYLOAD_PARSE_ERROR_BAD_BASE64');
  const payload = parseJsonObject(payloadBytes);
  if (!payload) return fail('JWT_PAYLOAD_PARSE_ERROR_BAD_JSON');
  const payloadContainers = lastContainers;

  // jwt.cc order: iss, sub, iat, nbf, exp, jti, aud.
  const iss = own(payload, 'iss');
  if (iss !== undefined && typeof iss !== 'string') return fail('JWT_PAYLOAD_PARSE_ERROR_ISS_NOT_STRING');
  const sub = own(payload, 'sub');
  if (sub !== undefined && typeof sub !== 'string') return fail('JWT_PAYLOAD_PARSE_ERROR_SUB_NOT_STRING');
  const iat = timeClaim(payload, 'iat');
  if (typeof iat !== 'number') return iat;
  const nbf = timeClaim(payload, 'nbf');
  if (typeof nbf !== 'number') return nbf;
  const exp = timeClaim(payload, 'exp');
  if (typeof exp !== 'number') return exp;
  const jti = own(payload, 'jti');
  if (jti !== undefined && typeof jti !== 'string') return fail('JWT_PAYLOAD_PARSE_ERROR_JTI_NOT_STRING');
  const aud = audiences(own(payload, 'aud'));
  if (!aud) return fail('JWT_PAYLOAD_PARSE_ERROR_AUD_NOT_STRING_OR_LIST');

  // Small Buffers are views into Node's shared 8 KiB pool, and posting a view to a verify worker
  // clones its whole ArrayBuffer: the signature gets an exact-size buffer of its own.
  const signature = decodeBase64UrlOwn(s);
  if (!signature) return fail('JWT_SIGNATURE_PARSE_ERROR_BAD_BASE64');

  return { ok: true, alg, kid: kid ?? '', iss: iss ?? '', aud, nbf, exp, payload, signingInput, signature, payloadContainers };
}

/**
 * JSON object from UTF-8 bytes, read as protobuf's JSON parser reads a `Struct` (jwt.cc):
 * undefined for invalid UTF-8, invalid JSON, a non-object, or what protobuf refuses and
 * JSON.parse accepts (see protobufRefuses). `null` is an empty object, as protobuf reads it.
 */
function parseJsonObject(bytes: Buffer): Record<string, unknown> | undefined {
  // protobuf's JSON parser rejects invalid UTF-8; Buffer#toString would silently replace it.
  if (!isUtf8(bytes)) return undefined;
  const text = bytes.toString('utf8');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (v === null) {
    lastContainers = 0;
    return {};
  }
  if (typeof v !== 'object' || Array.isArray(v)) return undefined;
  return protobufRefuses(text) ? undefined : (v as Record<string, unknown>);
}

/**
 * protobuf's JSON lexer (json/internal/lexer.h): `ParseOptions::kDefaultDepth` 100, one level per
 * `{` or `[`; the next one fails with "JSON content was too deeply nested".
 */
const PROTOBUF_MAX_DEPTH = 100;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * `text` is valid JSON. True when protobuf's parser would refuse it: a key repeated within one
 * object (`repeated map key`; JSON.parse keeps the last, so `{"iss":"evil","iss":"good"}` would
 * pass an issuer check on a value that a first-wins reader of the forwarded token never sees),
 * a number beyond double range (`1e400`), an escape that leaves a lone surrogate, or objects and
 * arrays nested more than 100 deep (the top-level object counts). One pass
 * over the characters; strings are copied only when they hold an escape.
 */
function protobufRefuses(text: string): boolean {
  // One Set of keys per open object; null for an open array.
  const open: (Set<string> | null)[] = [];
  let containers = 0;
  let expectKey = false;
  // Without any backslash, every string ends at the next quote.
  const plain = text.indexOf('\\') < 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      if (plain) i = text.indexOf('"', i + 1);
      else {
        for (i++; ; i++) {
          const d = text.charCodeAt(i);
          if (d === 0x5c /* \ */) {
            escaped = true;
            i++;
          } else if (d === 0x22) break;
        }
      }
      let value: string | undefined;
      if (escaped) {
        value = JSON.parse(text.slice(start, i + 1)) as string;
        if (LONE_SURROGATE.test(value)) return true;
      }
      if (expectKey) {
        const keys = open[open.length - 1]!;
        const key = value ?? text.slice(start + 1, i);
        if (keys.has(key)) return true;
        keys.add(key);
        expectKey = false;
      }
    } else if (c === 0x7b /* { */) {
      if (open.push(new Set()) > PROTOBUF_MAX_DEPTH) return true;
      containers++;
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      if (open.push(null) > PROTOBUF_MAX_DEPTH) return true;
      containers++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
    } else if (c === 0x2c /* , */) {
      expectKey = open[open.length - 1] !== null;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      let exponent = false;
      for (let d; i + 1 < text.length && (d = NUMBER_CHAR[text.charCodeAt(i + 1)]!) !== 0; i++) if (d === 2) exponent = true;
      // Up to 300 digits without an exponent cannot leave double range.
      if ((exponent || i - start >= 300) && !Number.isFinite(Number(text.slice(start, i + 1)))) return true;
    }
  }
  lastContainers = containers;
  return false;
}

/** Objects and arrays counted by the last protobufRefuses that accepted its text (read at once). */
let lastContainers = 0;

/** 1 for the characters of a JSON number, 2 for its exponent mark. */
const NUMBER_CHAR = new Uint8Array(128);
for (const ch of '0123456789+-.') NUMBER_CHAR[ch.charCodeAt(0)] = 1;
NUMBER_CHAR[0x45] = NUMBER_CHAR[0x65] = 2;

function own(o: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(o, name) ? o[name] : undefined;
}

function timeClaim(payload: Record<string, unknown>, name: TimeClaim): number | JwtParseFailure {
  const v = own(payload, name);
  if (v === undefined) return 0;
  if (typeof v !== 'number') return fail(TIME_CODES[name][0]);
  if (v < 0 || v >= TWO_POW_64) return fail(TIME_CODES[name][1]);
  return Math.trunc(v);
}

const NO_AUDIENCES: readonly string[] = Object.freeze([]);

function audiences(v: unknown): readonly string[] | undefined {
  if (v === undefined) return NO_AUDIENCES;
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v)) return undefined;
  for (const a of v) if (typeof a !== 'string') return undefined;
  return v as string[];
}

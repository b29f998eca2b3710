// Claim values to request headers exactly as Envoy's claim_to_headers writes them (spec §4.8.2):
// nested `a.b` lookup, numbers as integer text or std::to_string(double), objects and arrays
// as standard base64 of compact JSON as protobuf writes it, nothing for null/missing/empty. Does not decide which
// headers are sanitized or when (authenticator.ts does).

import { CONTROL_CHAR } from '../http/field-value.js';

const TWO_POW_64 = 18446744073709551616;

/** Walks `path` through nested objects (own properties only); undefined when absent. */
export function lookupClaim(payload: Record<string, unknown>, path: readonly string[]): unknown {
  let cur: unknown = payload;
  for (let i = 0; i < path.length; i++) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
    const key = path[i]!;
    if (!Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/**
 * Header value for a claim, or undefined when Envoy adds nothing (missing, null, empty
 * string). Values containing CR, LF or NUL are also not added: they would let a token
 * issuer inject headers upstream. Nor are values with any other control character but tab
 * (U+0001–U+001F, U+007F): undici refuses to send them, and RFC 9110 §5.5 does not allow them.
 */
export function claimHeaderValue(value: unknown): string | undefined {
  let out: string;
  switch (typeof value) {
    case 'string':
      out = value;
      break;
    case 'number':
      out = formatNumber(value);
      break;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return undefined;
      return Buffer.from(protobufJson(value), 'utf8').toString('base64');
    default:
      return undefined;
  }
  if (out === '' || CONTROL_CHAR.test(out)) return undefined;
  return out;
}

/**
 * authenticator.cc convertClaimDoubleToString: integral values in [0, 2^64) as integers,
 * anything else as std::to_string(double), i.e. printf("%f"): `1.500000`, `-3.000000`.
 */
export function formatNumber(n: number): string {
  if (n >= 0 && n < TWO_POW_64 && Number.isInteger(n)) {
    return n <= Number.MAX_SAFE_INTEGER ? String(n) : BigInt(n).toString();
  }
  return printfFixed6(n);
}

const F64 = new DataView(new ArrayBuffer(8));

/**
 * printf("%f", n) as glibc prints it: the double's exact binary value rounded to 6 decimals,
 * an exact tie to the even digit (Number#toFixed rounds ties up: 0.0078125 would give 0.007813
 * where Envoy sends 0.007812), the sign kept on a negative value that rounds to zero.
 */
/** A finite double as its sign and |n| = mantissa × 2^exponent, exactly (subnormals have no implicit leading 1). */
function binaryParts(n: number): { negative: boolean; mantissa: bigint; exponent: number } {
  F64.setFloat64(0, n);
  const bits = F64.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  return {
    negative: bits >> 63n === 1n,
    mantissa: biased === 0 ? bits & 0xfffffffffffffn : (bits & 0xfffffffffffffn) | (1n << 52n),
    exponent: biased === 0 ? -1074 : biased - 1075,
  };
}

function printfFixed6(n: number): string {
  const { negative, mantissa, exponent } = binaryParts(n);
  let units: bigint; // round(|n| × 10^6)
  if (exponent >= 0) {
    units = (mantissa << BigInt(exponent)) * 1_000_000n;
  } else {
    const scaled = mantissa * 1_000_000n;
    const divisor = 1n << BigInt(-exponent);
    units = scaled / divisor;
    const twiceRest = (scaled % divisor) * 2n;
    if (twiceRest > divisor || (twiceRest === divisor && (units & 1n) === 1n)) units += 1n;
  }
  const digits = units.toString().padStart(7, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -6)}.${digits.slice(-6)}`;
}

/**
 * JSON of a claim object or array as Envoy writes it (protobuf MessageToJsonString of the
 * Struct/ListValue it parsed the payload into): compact; numbers as io::SimpleDtoa (%.15g, or
 * %.17g when that does not read back: `1e+15`, `1e-05`); strings escaped as protobuf's JSON
 * writer escapes them (`<` `>` and invisible/format characters as \uXXXX). Keys stay in token
 * order (protobuf's map order is not specified).
 */
export function protobufJson(v: unknown): string {
  switch (typeof v) {
    case 'number':
      return simpleDtoa(v);
    case 'string':
      return jsonString(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) out += (i === 0 ? '' : ',') + protobufJson(v[i]);
        return out + ']';
      }
      let out = '{';
      let first = true;
      for (const k of Object.keys(v)) {
        out += (first ? '' : ',') + jsonString(k) + ':' + protobufJson((v as Record<string, unknown>)[k]);
        first = false;
      }
      return out + '}';
    }
    default:
      return 'null';
  }
}

/**
 * printf("%.{p}g", x) as glibc prints it: the double's exact decimal value rounded to p
 * significant digits, an exact tie to the even digit (JavaScript's toPrecision rounds ties up).
 */
function formatG(x: number, p: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const { negative, mantissa, exponent } = binaryParts(x);
  // |x| = all × 10^scale exactly.
  const all = exponent >= 0 ? (mantissa << BigInt(exponent)).toString() : (mantissa * 5n ** BigInt(-exponent)).toString();
  const scale = exponent >= 0 ? 0 : exponent;
  let keep = all.length <= p ? all.padEnd(p, '0') : all.slice(0, p);
  let exp10 = all.length - 1 + scale;
  if (all.length > p) {
    const rest = all.slice(p);
    const up = rest[0]! > '5' || (rest[0] === '5' && (/[1-9]/.test(rest.slice(1)) || (Number(keep[p - 1]) & 1) === 1));
    if (up) {
      const bumped = (BigInt(keep) + 1n).toString();
      if (bumped.length > p) {
        keep = bumped.slice(0, p);
        exp10++;
      } else keep = bumped;
    }
  }
  const sign = negative ? '-' : '';
  if (exp10 < -4 || exp10 >= p) {
    const frac = keep.slice(1).replace(/0+$/, '');
    return `${sign}${keep[0]}${frac ? `.${frac}` : ''}e${exp10 < 0 ? '-' : '+'}${String(Math.abs(exp10)).padStart(2, '0')}`;
  }
  const text = exp10 >= 0 ? `${keep.slice(0, exp10 + 1)}.${keep.slice(exp10 + 1)}` : `0.${'0'.repeat(-exp10 - 1)}${keep}`;
  return sign + text.replace(/0+$/, '').replace(/\.$/, '');
}

function simpleDtoa(x: number): string {
  const short = formatG(x, 15);
  return Number(short) === x ? short : formatG(x, 17);
}

const SHORT_ESCAPES: Readonly<Record<number, string>> = { 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r', 34: '\\"', 92: '\\\\' };
/** Code point ranges protobuf's JSON writer writes as \uXXXX (writer.cc MustEscape). */
const ESCAPED_RANGES: readonly (readonly [number, number])[] = [
  [0x00, 0x1f], [0x3c, 0x3c], [0x3e, 0x3e], [0x7f, 0x9f], [0xad, 0xad], [0x600, 0x603], [0x6dd, 0x6dd], [0x70f, 0x70f],
  [0x17b4, 0x17b5], [0x200b, 0x200f], [0x2028, 0x202e], [0x2060, 0x2064], [0x206a, 0x206f], [0xfeff, 0xfeff],
  [0xfff9, 0xfffb], [0x1d173, 0x1d17a], [0xe0001, 0xe0001], [0xe0020, 0xe007f],
];
/** Anything that may need escaping: the common all-plain string is returned quoted as it is. */
const MAY_ESCAPE = /[\u0000-\u001f"\\<>\u007f-\u009f\u00ad\u0600-\u0603\u06dd\u070f\u17b4\u17b5\u200b-\u200f\u2028-\u202e\u2060-\u2064\u206a-\u206f\ufeff\ufff9-\ufffb\ud834\udb40]/;

function jsonString(s: string): string {
  if (!MAY_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    const short = SHORT_ESCAPES[cp];
    if (short !== undefined) out += short;
    else if (ESCAPED_RANGES.some(([a, b]) => cp >= a && cp <= b)) {
      for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return out + '"';
}

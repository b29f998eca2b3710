// Claim values to request headers exactly as Envoy's claim_to_headers writes them (spec §4.8.2):
// nested `a.b` lookup, numbers as integer text or std::to_string(double), objects and arrays
// as standard base64 of compact JSON, nothing for null/missing/empty. Does not decide which
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
      return Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
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
function printfFixed6(n: number): string {
  F64.setFloat64(0, n);
  const bits = F64.getBigUint64(0);
  const negative = bits >> 63n === 1n;
  const biased = Number((bits >> 52n) & 0x7ffn);
  // n = mantissa × 2^exponent exactly (subnormals have no implicit leading 1).
  const mantissa = biased === 0 ? bits & 0xfffffffffffffn : (bits & 0xfffffffffffffn) | (1n << 52n);
  const exponent = biased === 0 ? -1074 : biased - 1075;
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

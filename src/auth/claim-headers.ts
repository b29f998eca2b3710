// Claim values to request headers exactly as Envoy's claim_to_headers writes them (spec §4.8.2):
// nested `a.b` lookup, numbers as integer text or std::to_string(double), objects and arrays
// as standard base64 of compact JSON, nothing for null/missing/empty. Does not decide which
// headers are sanitized or when (authenticator.ts does).

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
  if (out === '' || /[\x00-\x08\x0a-\x1f\x7f]/.test(out)) return undefined;
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
  // toFixed switches to exponent notation from 1e21 on; such doubles are integers, so print them exactly.
  if (Math.abs(n) >= 1e21) return `${n < 0 ? '-' : ''}${BigInt(Math.abs(n)).toString()}.000000`;
  // Like printf, toFixed keeps the sign of a negative value that rounds to zero ("-0.000000").
  return n.toFixed(6);
}

// Kubernetes resource.Quantity, as kgateway reads TrafficPolicy `buffer.maxRequestSize`: a number
// with an optional binary (Ki … Ei), decimal (n, u, m, k, M … E) or exponent (e3, E-2) suffix, turned
// into bytes with Quantity.Value(), which rounds a fraction up ("1.5Gi" is 1610612736, "0.5" is 1).
// Exact: the value is kept as a fraction of BigInts until it is rounded.

/** The API server's own rule for the text of a quantity (and its message). */
const QUANTITY_TEXT = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|n|u|m|k|M|G|T|P|E|)$/;
const K8S_RULE = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

const BINARY: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

export type QuantityResult = { readonly ok: true; readonly value: bigint; readonly positive: boolean } | { readonly ok: false; readonly error: string };

/** A quantity's Value(): the integer it rounds up to (a negative one toward zero's far side, as Go's ceiling of a negative). */
export function quantityValue(text: string): QuantityResult {
  const m = QUANTITY_TEXT.exec(text);
  if (m === null) return { ok: false, error: K8S_RULE };
  const [, sign, number, suffix] = m as unknown as [string, string, string, string];
  const [whole, frac = ''] = number.split('.') as [string, string?];
  let num = BigInt(`${whole === '' ? '0' : whole}${frac}`);
  let den = 10n ** BigInt(frac.length);
  if (suffix in BINARY) num *= 2n ** BigInt(BINARY[suffix]!);
  else {
    const exp = suffix in DECIMAL ? DECIMAL[suffix]! : Number(suffix.slice(1));
    // An exponent the API server would not take (it keeps quantities within int64 scale).
    if (!Number.isSafeInteger(exp) || Math.abs(exp) > 1000) return { ok: false, error: K8S_RULE };
    if (exp >= 0) num *= 10n ** BigInt(exp);
    else den *= 10n ** BigInt(-exp);
  }
  if (sign === '-') num = -num;
  // Round up (toward +infinity).
  const q = num / den;
  const value = num % den !== 0n && num > 0n ? q + 1n : q;
  return { ok: true, value, positive: num > 0n };
}

// Strict base64url decoding with the acceptance rules of absl::WebSafeBase64Unescape, which
// Envoy's jwt_verify_lib uses for JWT segments and JWK members (spec §4.3): alphabet
// `A-Z a-z 0-9 - _` only (`+` and `/` are rejected), padding optional but, when present, of the
// right length, ASCII whitespace skipped. Does not encode and does not check trailing bits.

const DATA = new Int8Array(128).fill(-1);
{
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  for (let i = 0; i < alphabet.length; i++) DATA[alphabet.charCodeAt(i)] = i;
}

// absl::ascii_isspace: space, \t, \n, \v, \f, \r.
function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

const WHITESPACE = /[\t\n\v\f\r ]/g;
// The common case, alphabet only and no padding: one native regex pass instead of a JS loop.
const PLAIN = /^[A-Za-z0-9_-]*$/;

/** Decoded bytes, or undefined when `s` is not valid base64url (absl rules). */
export function decodeBase64Url(s: string): Buffer | undefined {
  if (PLAIN.test(s)) return (s.length & 3) === 1 ? undefined : Buffer.from(s, 'base64url');
  return decodeSlow(s);
}

/**
 * Like decodeBase64Url, but the bytes are in an ArrayBuffer of their own (not a view into Node's
 * shared 8 KiB pool, which posting to a worker would clone whole), without a second copy.
 */
export function decodeBase64UrlOwn(s: string): Uint8Array | undefined {
  if (!PLAIN.test(s)) {
    const b = decodeSlow(s);
    return b && (b.byteLength === b.buffer.byteLength ? b : new Uint8Array(b));
  }
  const n = s.length;
  if ((n & 3) === 1) return undefined;
  const out = Buffer.allocUnsafeSlow((n >> 2) * 3 + ((n & 3) === 0 ? 0 : (n & 3) - 1));
  out.write(s, 'base64url');
  return out;
}

function decodeSlow(s: string): Buffer | undefined {
  const n = s.length;
  let data = 0;
  let sawSpace = false;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 128 && DATA[c]! >= 0) { data++; continue; }
    if (isSpace(c)) { sawSpace = true; continue; }
    break;
  }
  const rem = data & 3;
  if (rem === 1) return undefined;
  if (i < n) {
    // Only padding ('=' or, as absl allows, '.') and whitespace may follow the data.
    let pads = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c === 61 || c === 46) pads++;
      else if (isSpace(c)) sawSpace = true;
      else return undefined;
    }
    const expected = rem === 2 ? 2 : rem === 3 ? 1 : 0;
    if (pads !== expected) return undefined;
    s = s.replace(/[=.]/g, '');
  }
  if (sawSpace) s = s.replace(WHITESPACE, '');
  return Buffer.from(s, 'base64url');
}

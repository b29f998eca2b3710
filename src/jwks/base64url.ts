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

/** Decoded bytes, or undefined when `s` is not valid base64url (absl rules). */
export function decodeBase64Url(s: string): Buffer | undefined {
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

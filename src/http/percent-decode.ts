// Percent-decoding of URL query names and values for token extraction (Envoy's
// parseAndDecodeQueryString; route matching compares them as sent): valid `%XX` sequences become bytes, anything else
// (a lone `%`, bad hex) is kept as is, and the bytes are read as UTF-8. `+` is not a space.

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * PercentEncoding::decode: `%XX` with two hex digits becomes that byte, anything else is kept
 * (no '+' to space). Bytes are read back as UTF-8.
 */
export function percentDecode(s: string): string {
  if (s.indexOf('%') < 0) return s;
  return Buffer.from(decodedBytes(s)).toString('utf8');
}

/**
 * percentDecode's bytes as a binary string (one character per byte, U+0000–U+00FF), for callers
 * that write the bytes back (a query re-serialized as Envoy does) and must not lose those that
 * are not UTF-8 (`%E9`, Latin-1): `<` on such strings orders them by bytes, as a `std::string`.
 */
export function percentDecodeBytes(s: string): string {
  return Buffer.from(decodedBytes(s)).toString('latin1');
}

function decodedBytes(s: string): number[] {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 && i + 2 < s.length) {
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        bytes.push(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    if (c < 128) {
      bytes.push(c);
      continue;
    }
    const cp = s.codePointAt(i)!;
    if (cp > 0xffff) i++;
    for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) bytes.push(b);
  }
  return bytes;
}

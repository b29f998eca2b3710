// Comparing strings by their UTF-8 bytes (Go's and Envoy's order), and shortening text for messages and logs without splitting a UTF-16 surrogate pair: a cut between
// the two halves of an emoji leaves a lone surrogate, which JSON log lines show as `\ud83d`.

/** `s` if it has at most `max` UTF-16 units, else its first `keep` units (one fewer when that would split a pair) followed by `...`. */
export function cutText(s: string, max: number, keep: number): string {
  if (s.length <= max) return s;
  const c = s.charCodeAt(keep - 1);
  return `${s.slice(0, c >= 0xd800 && c <= 0xdbff ? keep - 1 : keep)}...`;
}

/** By the strings' UTF-8 bytes, as Go's `cmp.Compare` and Envoy's `std::string` `<` order them (JavaScript's `<` compares UTF-16 units, which differs past U+FFFF). */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

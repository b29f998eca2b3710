// Shortening text for messages and logs without splitting a UTF-16 surrogate pair: a cut between
// the two halves of an emoji leaves a lone surrogate, which JSON log lines show as `\ud83d`.

/** `s` if it has at most `max` UTF-16 units, else its first `keep` units (one fewer when that would split a pair) followed by `...`. */
export function cutText(s: string, max: number, keep: number): string {
  if (s.length <= max) return s;
  const c = s.charCodeAt(keep - 1);
  return `${s.slice(0, c >= 0xd800 && c <= 0xdbff ? keep - 1 : keep)}...`;
}

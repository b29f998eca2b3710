// TrafficPolicy `urlRewrite.pathRegex`: kgateway copies `pattern` and `substitution` into the
// Envoy route's `regex_rewrite`, which Envoy's router applies to the path (the query kept) with
// RE2's GlobalReplace. This is GlobalReplace as RE2 defines it, on re2js (the RE2 port the route
// matches use), so the same path comes out:
// - every non-overlapping match, left to right, is replaced; an empty match right where the last
//   match ended is skipped (one character is copied instead); with no match the path is unchanged;
// - `^` and `$` anchor at the ends of the whole path, not where the search resumes;
// - in the substitution, `\0`–`\9` insert a group (empty when it did not take part) and `\\` a
//   backslash; any other escape (`\g<name>`, a lone trailing `\`) ends that match's substitution
//   there (RE2 logs "invalid rewrite pattern" and keeps what it wrote); `$1` is literal text;
// - a substitution that names a group the pattern does not have makes GlobalReplace refuse to
//   run: the path is never rewritten.
// `check` warns about the last three (validate-traffic-policy.ts).

import { RE2JS } from 're2js';

export interface PathRegexRewrite {
  readonly pattern: string;
  readonly substitution: string;
  /** The compiled pattern. */
  readonly re: RE2JS;
  /** RE2's GlobalReplace refuses the substitution (a group the pattern does not have): the path stays as it is. */
  readonly refused: boolean;
}

export type PathRegexResult = { readonly ok: true; readonly rewrite: PathRegexRewrite } | { readonly ok: false; readonly error: string };

/** The highest group `\N` of `substitution` names (RE2's MaxSubmatch: every `\digit`, before or after a bad escape). */
export function maxSubmatch(substitution: string): number {
  let max = 0;
  for (let i = 0; i < substitution.length; i++) {
    if (substitution.charCodeAt(i) !== 0x5c /* \ */) continue;
    i++;
    const c = substitution.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39 && c - 0x30 > max) max = c - 0x30;
  }
  return max;
}

/** The first escape of `substitution` RE2's Rewrite refuses (`\g`, a trailing `\`), with its index, or undefined. */
export function badEscape(substitution: string): { index: number; text: string } | undefined {
  for (let i = 0; i < substitution.length; i++) {
    if (substitution.charCodeAt(i) !== 0x5c) continue;
    const c = substitution.charCodeAt(i + 1);
    if ((c >= 0x30 && c <= 0x39) || c === 0x5c) {
      i++;
      continue;
    }
    return { index: i, text: substitution.slice(i, i + 2) };
  }
  return undefined;
}

/** Compiles `pattern` as RE2 (and so Envoy) reads it; the error says what RE2 refuses. */
export function compilePathRegex(pattern: string, substitution: string): PathRegexResult {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const hint = /\(\?<?[=!]/.test(pattern) ? ': lookaround assertions are not supported by RE2 (Envoy\'s regex engine)' : '';
    return { ok: false, error: `invalid regular expression "${pattern}" (RE2 syntax, as Envoy reads it): ${msg}${hint}` };
  }
  // re2js's first match runs its slow first pass: done here, at build time.
  re.matcher('/').find(0);
  return { ok: true, rewrite: { pattern, substitution, re, refused: maxSubmatch(substitution) > re.groupCount() } };
}

/** RE2's Rewrite: the substitution for the current match, appended to `out` up to a refused escape. */
function substitute(out: string, substitution: string, m: ReturnType<RE2JS['matcher']>, input: string): string {
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution.charCodeAt(i);
    if (c !== 0x5c) {
      out += substitution[i];
      continue;
    }
    i++;
    const d = substitution.charCodeAt(i);
    if (d >= 0x30 && d <= 0x39) {
      const s = m.start(d - 0x30);
      if (s >= 0) out += input.slice(s, m.end(d - 0x30));
    } else if (d === 0x5c) out += '\\';
    else return out;
  }
  return out;
}

/** The path (without its query) `r` makes of `path`, as Envoy's regex_rewrite does. */
export function regexRewritePath(r: PathRegexRewrite, path: string): string {
  if (r.refused) return path;
  const m = r.re.matcher(path);
  let out = '';
  let p = 0;
  let lastEnd = -1;
  let count = 0;
  while (p <= path.length) {
    if (!m.find(p)) break;
    const start = m.start();
    const end = m.end();
    if (p < start) out += path.slice(p, start);
    if (start === lastEnd && start === end) {
      // An empty match where the last one ended: copy one character (a whole code point) and go on.
      if (p < path.length) {
        const cp = path.codePointAt(p)!;
        const n = cp > 0xffff ? 2 : 1;
        out += path.slice(p, p + n);
        p += n;
      } else p++;
      continue;
    }
    out = substitute(out, r.substitution, m, path);
    p = end;
    lastEnd = end;
    count++;
  }
  if (count === 0) return path;
  if (p < path.length) out += path.slice(p);
  return out;
}

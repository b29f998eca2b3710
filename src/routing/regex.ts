// Compiles the RE2 patterns Gateway API RegularExpression matches carry (Envoy safe_regex), once,
// at snapshot build time, with re2js, a JavaScript port of RE2 itself: the same syntax (`\pL`,
// `[[:alpha:]]`, `\Q…\E`, `(?P<n>…)`, inline flags anywhere), the same semantics (what `.`, `\s`,
// `(?i)`, `(?m)` match) and the same linear-time matching, so a pattern accepted here is accepted
// by Envoy and matches the same requests, and no input can make a match explode. JavaScript's own
// RegExp differs from RE2 on all of those and backtracks (`/files/([\w.-]+)+\.txt` and a
// 32-character path held the event loop for seconds). A match costs ~0.8 µs against ~0.1 µs for
// a V8 RegExp, on routes with RegularExpression matches only.

import { RE2JS } from 're2js';

/** What a route match needs of a compiled pattern: a full-string test. */
export interface Matcher {
  test(s: string): boolean;
}

export type RegexResult = { readonly ok: true; readonly regex: Matcher } | { readonly ok: false; readonly error: string };

/** A full-string match (`RE2::FullMatch`, as Envoy's safe_regex matches the whole path or value). */
class Re2Matcher implements Matcher {
  constructor(private readonly re: RE2JS) {}
  test(s: string): boolean {
    return this.re.matches(s);
  }
}

/**
 * Results by pattern: a configuration repeats its patterns (one per route of each team, the same
 * header match on every rule), and a heavy one costs up to ~0.2 s to compile and warm. Matchers
 * are immutable, so one serves every match that has its pattern. Only filled at build time.
 */
const compiled = new Map<string, RegexResult>();
const MAX_COMPILED = 10_000;

/** Compiles `pattern` with RE2's syntax; the error names what RE2 (and so Envoy) refuses. */
export function compileAnchored(pattern: string): RegexResult {
  let r = compiled.get(pattern);
  if (r === undefined) {
    r = compile(pattern);
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    compiled.set(pattern, r);
  }
  return r;
}

function compile(pattern: string): RegexResult {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const hint = /\(\?<?[=!]/.test(pattern)
      ? ': lookaround assertions are not supported by RE2 (Envoy\'s regex engine)'
      : /(^|[^\\])(\\\\)*\\[1-9](?![0-7])/.test(pattern)
        ? ': backreferences are not supported by RE2 (Envoy\'s regex engine)'
        : '';
    return { ok: false, error: `invalid regular expression "${pattern}" (RE2 syntax, as Envoy reads it): ${msg}${hint}` };
  }
  // The first match of a pattern runs re2js's slow first pass (up to ~0.2 s for some patterns):
  // done here, at build time, not on the first request.
  re.matches('');
  return { ok: true, regex: new Re2Matcher(re) };
}

/**
 * For a match whose pattern is refused: a matcher that accepts at least everything the pattern
 * could (the path's literal prefix, or anything), so the rule, which answers 500, still catches
 * its requests instead of letting them fall through to another route without its JWT check.
 */
export function overApproximation(pattern: string): Matcher {
  // Flags (a case-insensitive prefix) or an alternation anywhere (`/docs|/admin/…`: the text
  // before the first special character is not required) leave no prefix to rely on.
  if (/^\(\?/.test(pattern) || pattern.includes('|')) return { test: () => true };
  const src = pattern.replace(/^\^/, '');
  let prefix = '';
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if ('\\.^$|?*+()[]{}'.includes(c)) {
      // A quantifier makes the character before it optional.
      if ('?*{'.includes(c)) prefix = prefix.slice(0, -1);
      break;
    }
    prefix += c;
  }
  return { test: (s: string) => s.startsWith(prefix) };
}

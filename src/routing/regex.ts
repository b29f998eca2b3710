// Compiles the RE2 patterns Gateway API RegularExpression matches carry (Envoy safe_regex) into
// anchored JavaScript RegExps, once, at snapshot build time. RE2 constructs JavaScript lacks are
// translated ((?i) flags, (?P<name>) groups); JavaScript-only constructs RE2 rejects (lookaround,
// backreferences) are refused, so a config that works here also works on Envoy.

//
// RE2 runs in linear time; JavaScript's backtracking engine does not, so `/files/([\w.-]+)+\.txt`
// and a 32-character path would hold the event loop for seconds. V8's linear-time engine takes
// over a match that backtracks too much (`--enable-experimental-regexp-engine-on-excessive-
// backtracks`, set here for the process before any pattern is compiled). That engine has no
// case-insensitive mode, so an `(?i)` pattern is compiled case-folded and matched against the
// lowercased value instead of with the `i` flag. It cannot run large counted repeats (`{1,64}`)
// either: a pattern it cannot run (`([\w.-]{1,64})+` would still explode on the backtracking
// engine) is matched by re2js, a JavaScript port of RE2 itself (linear, exact RE2 semantics,
// ~0.8 µs a match against V8's ~0.1 µs, so only for those patterns).

import v8 from 'node:v8';
import { RE2JS } from 're2js';

v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
// Lets compileAnchored ask V8 whether a pattern can run on the linear engine (the `l` flag).
v8.setFlagsFromString('--enable-experimental-regexp-engine');

/** What a route match needs of a compiled pattern: a full-string test. */
export interface Matcher {
  test(s: string): boolean;
}

export type RegexResult = { readonly ok: true; readonly regex: Matcher } | { readonly ok: false; readonly error: string };

/** An RE2 pattern run by re2js (full-string match, as Envoy's safe_regex). */
class Re2Matcher implements Matcher {
  private readonly re: RE2JS;
  constructor(pattern: string) {
    this.re = RE2JS.compile(pattern);
  }
  test(s: string): boolean {
    return this.re.matches(s);
  }
}

/** An `(?i)` pattern: compiled case-folded, tested against the lowercased value. */
class LowercasedRegExp extends RegExp {
  override test(s: string): boolean {
    return super.test(s.toLowerCase());
  }
}

/** One escape at `i` (`\W`, `\x41`, `\u{1F600}`, `\p{Lu}`): its text, and the character it stands for when it is one. */
function escapeAt(src: string, i: number): { text: string; char: string } {
  const next = src[i + 1] ?? '';
  let len = 2;
  if (next === 'x') len = 4;
  else if (next === 'u') len = src[i + 2] === '{' ? src.indexOf('}', i) - i + 1 : 6;
  else if ((next === 'p' || next === 'P') && src[i + 2] === '{') len = src.indexOf('}', i) - i + 1;
  if (len <= 1) len = 2;
  const text = src.slice(i, i + len);
  const code = next === 'x' || next === 'u' ? Number.parseInt(text.slice(2).replace(/[{}]/g, ''), 16) : NaN;
  return { text, char: Number.isNaN(code) ? '' : String.fromCodePoint(code) };
}

const isLetter = (c: string) => c !== '' && c.toLowerCase() !== c.toUpperCase();

/**
 * `src` for a lowercased value: letters outside classes lowercased; inside a class every item is
 * kept and the lowercase of its A-Z letters added (`[ -Z]` also takes `a-z`, `[Q-c]` stays a valid
 * range), so the class matches a lowercased character whenever RE2's (?i) would match it.
 */
function caseFoldPattern(src: string): string {
  let out = '';
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === '\\') {
      const e = escapeAt(src, i);
      out += isLetter(e.char) ? e.char.toLowerCase() : e.text;
      i += e.text.length - 1;
    } else if (c === '[') {
      const end = classEnd(src, i);
      out += foldClass(src.slice(i, end + 1));
      i = end;
    } else {
      out += c.toLowerCase();
    }
  }
  return out;
}

/** Index of the `]` closing the class that opens at `i` (a leading `]` or `^]` is a member). */
function classEnd(src: string, i: number): number {
  let j = i + 1;
  if (src[j] === '^') j++;
  if (src[j] === ']') j++;
  for (; j < src.length; j++) {
    if (src[j] === '\\') j += escapeAt(src, j).text.length - 1;
    else if (src[j] === ']') return j;
  }
  return src.length - 1;
}

function foldClass(cls: string): string {
  const close = cls.endsWith(']') ? cls.length - 1 : cls.length;
  let body = cls.slice(1, close);
  let neg = '';
  if (body.startsWith('^')) {
    neg = '^';
    body = body.slice(1);
  }
  // Items: single characters (as written) and ranges; the added lowercase copies go at the end.
  const items: { text: string; char: string }[] = [];
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '\\') {
      const e = escapeAt(body, i);
      items.push(e);
      i += e.text.length - 1;
    } else {
      items.push({ text: body[i]!, char: body[i]! });
    }
  }
  let added = '';
  for (let k = 0; k < items.length; k++) {
    const a = items[k]!;
    const b = items[k + 2];
    if (items[k + 1]?.text === '-' && b !== undefined && a.char !== '' && b.char !== '') {
      const lo = Math.max(a.char.codePointAt(0)!, 0x41);
      const hi = Math.min(b.char.codePointAt(0)!, 0x5a);
      if (lo <= hi) added += `${String.fromCharCode(lo + 32)}-${String.fromCharCode(hi + 32)}`;
      k += 2;
    } else if (isLetter(a.char) && a.char !== a.char.toLowerCase()) {
      added += a.char.toLowerCase();
    }
  }
  return `[${neg}${body}${added}]`;
}

/** Full-string match (`^(?:…)$`), as Envoy's safe_regex matches the whole path / value. */
export function compileAnchored(pattern: string): RegexResult {
  let src = pattern;
  let flags = '';
  const lead = /^\(\?([imsU]+)\)/.exec(src);
  if (lead) {
    for (const f of lead[1]!) {
      if (f === 'i' && !flags.includes('i')) flags += 'i';
      else if (f === 's' && !flags.includes('s')) flags += 's';
      else if (f === 'm' && !flags.includes('m')) flags += 'm';
      else if (f === 'U') return { ok: false, error: `regular expression "${pattern}": the (?U) flag is not supported by jwtgate` };
    }
    src = src.slice(lead[0].length);
  }
  if (/\(\?<?[=!]/.test(src)) return { ok: false, error: `regular expression "${pattern}": lookaround assertions are not supported by RE2 (Envoy's regex engine)` };
  if (/(^|[^\\])(\\\\)*\\[1-9]/.test(src) || /\\k</.test(src)) {
    return { ok: false, error: `regular expression "${pattern}": backreferences are not supported by RE2 (Envoy's regex engine)` };
  }
  if (/\(\?[imsU-]+[):]/.test(src)) return { ok: false, error: `regular expression "${pattern}": inline flags are only supported at the start of the pattern` };
  src = src.replace(/\(\?P<([A-Za-z_][A-Za-z0-9_]*)>/g, '(?<$1>');
  try {
    const fold = flags.includes('i');
    const source = `^(?:${fold ? caseFoldPattern(src) : src})$`;
    const jsFlags = flags.replace('i', '');
    const regex = fold ? new LowercasedRegExp(source, jsFlags) : new RegExp(source, jsFlags);
    // V8's linear engine cannot run it (large counted repeats): RE2 itself, through re2js.
    if (!linearEngineRuns(source, jsFlags)) return { ok: true, regex: new Re2Matcher(pattern) };
    return { ok: true, regex };
  } catch (err) {
    const msg = err instanceof Error ? err.message.replace(/^Invalid regular expression: /, '') : String(err);
    return { ok: false, error: `invalid regular expression "${pattern}": ${msg}` };
  }
}

/** Whether V8's linear-time engine can run `source` (it refuses large counted repeats). */
function linearEngineRuns(source: string, flags: string): boolean {
  try {
    new RegExp(source, `${flags}l`);
    return true;
  } catch {
    return false;
  }
}

/**
 * For a match whose pattern is refused: a matcher that accepts at least everything the pattern
 * could (the path's literal prefix, or anything), so the rule, which answers 500, still catches
 * its requests instead of letting them fall through to another route without its JWT check.
 */
export function overApproximation(pattern: string): Matcher {
  let src = pattern.replace(/^\(\?[a-zA-Z]+\)/, '');
  if (/^\(\?[a-zA-Z]+\)/.test(pattern) && /i/.test(pattern.slice(0, pattern.indexOf(')')))) src = '';
  src = src.replace(/^\^/, '');
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

// Compiles the RE2 patterns Gateway API RegularExpression matches carry (Envoy safe_regex) into
// anchored JavaScript RegExps, once, at snapshot build time. RE2 constructs JavaScript lacks are
// translated ((?i) flags, (?P<name>) groups); JavaScript-only constructs RE2 rejects (lookaround,
// backreferences) are refused, so a config that works here also works on Envoy.

//
// RE2 runs in linear time; JavaScript's backtracking engine does not, so `/files/([\w.-]+)+\.txt`
// and a 32-character path would hold the event loop for seconds. V8's linear-time engine takes
// over a match that backtracks too much (`--enable-experimental-regexp-engine-on-excessive-
// backtracks`, set here for the process before any pattern is compiled). That engine has no
// case-insensitive mode, so an `(?i)` pattern is compiled lowercased and matched against the
// lowercased value instead of with the `i` flag.

import v8 from 'node:v8';

v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

export type RegexResult = { readonly ok: true; readonly regex: RegExp } | { readonly ok: false; readonly error: string };

/** An `(?i)` pattern: compiled lowercased, tested against the lowercased value. */
class LowercasedRegExp extends RegExp {
  override test(s: string): boolean {
    return super.test(s.toLowerCase());
  }
}

/** `src` with its literal letters lowercased; escapes (`\W`, `\S`, `\x41`, `\p{Lu}`) kept as written. */
function lowercasePattern(src: string): string {
  let out = '';
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c !== '\\') {
      out += c.toLowerCase();
      continue;
    }
    const next = src[i + 1] ?? '';
    let len = 2;
    if (next === 'x') len = 4;
    else if (next === 'u') len = src[i + 2] === '{' ? src.indexOf('}', i) - i + 1 : 6;
    else if ((next === 'p' || next === 'P') && src[i + 2] === '{') len = src.indexOf('}', i) - i + 1;
    if (len <= 1) len = 2;
    const escape = src.slice(i, i + len);
    // A letter written as a code (\x41, \u0041) is a letter too: lowercased like the others.
    const code = next === 'x' || next === 'u' ? Number.parseInt(escape.slice(2).replace(/[{}]/g, ''), 16) : NaN;
    const ch = Number.isNaN(code) ? '' : String.fromCodePoint(code);
    out += ch !== '' && ch.toLowerCase() !== ch.toUpperCase() ? ch.toLowerCase() : escape;
    i += len - 1;
  }
  return out;
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
    if (flags.includes('i')) return { ok: true, regex: new LowercasedRegExp(`^(?:${lowercasePattern(src)})$`, flags.replace('i', '')) };
    return { ok: true, regex: new RegExp(`^(?:${src})$`, flags) };
  } catch (err) {
    const msg = err instanceof Error ? err.message.replace(/^Invalid regular expression: /, '') : String(err);
    return { ok: false, error: `invalid regular expression "${pattern}": ${msg}` };
  }
}

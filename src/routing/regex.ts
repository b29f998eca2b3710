// Compiles the RE2 patterns Gateway API RegularExpression matches carry (Envoy safe_regex) into
// anchored JavaScript RegExps, once, at snapshot build time. RE2 constructs JavaScript lacks are
// translated ((?i) flags, (?P<name>) groups); JavaScript-only constructs RE2 rejects (lookaround,
// backreferences) are refused, so a config that works here also works on Envoy.

export type RegexResult = { readonly ok: true; readonly regex: RegExp } | { readonly ok: false; readonly error: string };

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
    return { ok: true, regex: new RegExp(`^(?:${src})$`, flags) };
  } catch (err) {
    const msg = err instanceof Error ? err.message.replace(/^Invalid regular expression: /, '') : String(err);
    return { ok: false, error: `invalid regular expression "${pattern}": ${msg}` };
  }
}

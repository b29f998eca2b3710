// The one parser for the duration strings kgateway manifests carry (`10m`, `1h30m`, `500ms`).
// It enforces the CRD patterns exactly (kubebuilder `Pattern` markers, spec §1.2/§1.6) and
// returns milliseconds; nothing else in jwtgate reads duration strings.

/** `RemoteJWKS.cacheDuration`, `asyncFetch.failedRefetchDuration`, `backOff.*Interval`. */
export const DURATION_PATTERN = '^([0-9]{1,5}(h|m|s|ms)){1,4}$';
/** `providers[].clockSkew` (kgateway #14686): whole seconds, no `ms`. */
export const CLOCK_SKEW_PATTERN = '^([0-9]{1,5}(h|m|s)){1,3}$';

export type DurationResult = { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly error: string };

export interface DurationOptions {
  /** Accept the `ms` unit (default true). */
  readonly allowMilliseconds?: boolean;
  /** Maximum number of `<digits><unit>` groups (default 4). */
  readonly maxGroups?: number;
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/**
 * Parses `^([0-9]{1,5}(h|m|s|ms)){1,4}$` (or the clock-skew variant) into milliseconds.
 * Groups are summed, as Go's time.ParseDuration does after the CRD pattern accepted the text
 * (`1h1h` = 2h). Never throws.
 */
export function parseDuration(text: unknown, opts: DurationOptions = {}): DurationResult {
  const allowMs = opts.allowMilliseconds ?? true;
  const maxGroups = opts.maxGroups ?? 4;
  const pattern = allowMs ? DURATION_PATTERN : CLOCK_SKEW_PATTERN;
  const example = allowMs ? 'e.g. 10m, 1h30m, 500ms' : 'e.g. 60s, 2m, 1m30s';
  if (typeof text !== 'string') {
    const hint = typeof text === 'number' ? ` (write "${text}s" for seconds)` : '';
    return { ok: false, error: `must be a duration string (${example}), got ${describe(text)}${hint}` };
  }
  const bad = (): DurationResult => ({ ok: false, error: `invalid duration "${text}": ${example} (pattern ${pattern})` });
  let i = 0;
  let groups = 0;
  let total = 0;
  while (i < text.length) {
    const start = i;
    while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
    const digits = i - start;
    if (digits < 1 || digits > 5) return bad();
    const value = Number(text.slice(start, i));
    let unit: string;
    const c = text[i];
    // `ms` is only a unit when the next group cannot start at the `s` (groups start with a digit).
    if (c === 'm' && text[i + 1] === 's') unit = 'ms';
    else if (c === 'h' || c === 'm' || c === 's') unit = c;
    else return bad();
    if (unit === 'ms' && !allowMs) return bad();
    i += unit.length;
    groups++;
    if (groups > maxGroups) return bad();
    total += value * UNIT_MS[unit]!;
  }
  if (groups === 0) return bad();
  return { ok: true, ms: total };
}

/** Clock skew (`^([0-9]{1,5}(h|m|s)){1,3}$`) in whole seconds. */
export function parseClockSkew(text: unknown): { readonly ok: true; readonly seconds: number } | { readonly ok: false; readonly error: string } {
  const r = parseDuration(text, { allowMilliseconds: false, maxGroups: 3 });
  return r.ok ? { ok: true, seconds: r.ms / 1000 } : r;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  return Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : typeof v;
}

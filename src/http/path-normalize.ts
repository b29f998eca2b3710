// The request path as Envoy's HTTP connection manager rewrites it before routing when kgateway
// configures it (`normalize_path: true`, `merge_slashes: true`, escaped slashes kept): the
// Chromium-derived path canonicalizer of Envoy's `PathUtil::canonicalPath` (dot segments
// resolved, `%2E` counted as a dot, `\` read as `/`, escapes of unreserved characters decoded,
// characters not allowed in a path escaped, `%00` refused), then runs of `/` merged. Routes are
// matched on the result, the upstream receives it, and the `WWW-Authenticate` realm shows it, so
// `/public/../admin` and `//admin` reach the `/admin` route and its JWT check, as in kgateway; and
// first, as Envoy 1.38.4, parameters are stripped from dot segments (`/public/..;/admin`).

// Per byte: 0 copied as is; UNESCAPE: copied, and `%XX` of it decoded; ESCAPE: written as `%XX`;
// INVALID: the path is refused. `%` and `.` and `\` have their own branches.
const PASS = 0;
const UNESCAPE = 1;
const ESCAPE = 2;
const INVALID = 3;

const CLASS = new Uint8Array(256).fill(ESCAPE); // controls, DEL and every byte >= 0x80
CLASS[0] = INVALID;
for (let c = 0x21; c < 0x7f; c++) CLASS[c] = PASS;
for (const c of ' "#%<>?\\^`{|}') CLASS[c.charCodeAt(0)] = ESCAPE;
for (let c = 0x30; c <= 0x39; c++) CLASS[c] = UNESCAPE;
for (let c = 0x41; c <= 0x5a; c++) CLASS[c] = UNESCAPE;
for (let c = 0x61; c <= 0x7a; c++) CLASS[c] = UNESCAPE;
for (const c of '-_~') CLASS[c.charCodeAt(0)] = UNESCAPE;

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const PERCENT = 0x25;
const HEX = '0123456789ABCDEF';

/**
 * True when `path` is already what normalization would produce: it starts with `/`, has no `//`
 * and no `/.`, and only bytes that are copied as they are. Nearly every request takes this
 * branch (one pass over the characters, no allocation).
 */
function isNormal(path: string): boolean {
  if (path.charCodeAt(0) !== SLASH) return false;
  let prev = SLASH;
  for (let i = 1; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c >= 0x80 || CLASS[c]! >= ESCAPE) return false;
    if ((c === SLASH || c === DOT) && prev === SLASH) return false;
    prev = c;
  }
  return true;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** The byte of a valid `%XX` at `i`, or -1. */
function escapedAt(b: Uint8Array, i: number, end: number): number {
  if (i + 3 > end) return -1;
  const hi = hexValue(b[i + 1]!);
  const lo = hexValue(b[i + 2]!);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/** Length of a dot at `i`: 1 for `.`, 3 for `%2E`/`%2e`, 0 otherwise. */
function dotAt(b: Uint8Array, i: number, end: number): number {
  if (i >= end) return 0;
  if (b[i] === DOT) return 1;
  if (b[i] === PERCENT && i + 2 < end && b[i + 1] === 0x32 && (b[i + 2] === 0x45 || b[i + 2] === 0x65)) return 3;
  return 0;
}

const isSlash = (c: number | undefined) => c === SLASH || c === BACKSLASH;

/** Chromium's path canonicalization over the path's bytes; undefined when it fails (`%00`). */
function canonicalize(bytes: Uint8Array): string | undefined {
  const end = bytes.length;
  const out: number[] = [];
  if (!isSlash(bytes[0])) out.push(SLASH);
  let ok = true;
  let lastBadPercent = -10;
  for (let i = 0; i < end; i++) {
    const c = bytes[i]!;
    const dot = dotAt(bytes, i, end);
    if (dot > 0) {
      if (out[out.length - 1] !== SLASH) {
        out.push(DOT);
        i += dot - 1;
        continue;
      }
      const after = i + dot;
      let kind: 'name' | 'cur' | 'up' = 'name';
      let consumed = 0;
      if (after === end) kind = 'cur';
      else if (isSlash(bytes[after])) [kind, consumed] = ['cur', 1];
      else {
        const dot2 = dotAt(bytes, after, end);
        if (dot2 > 0) {
          const after2 = after + dot2;
          if (after2 === end) [kind, consumed] = ['up', dot2];
          else if (isSlash(bytes[after2])) [kind, consumed] = ['up', dot2 + 1];
        }
      }
      if (kind === 'name') {
        out.push(DOT);
        i += dot - 1;
      } else {
        if (kind === 'up') backUpToPreviousSlash(out);
        i += dot + consumed - 1;
      }
      continue;
    }
    if (c === BACKSLASH) {
      out.push(SLASH);
      continue;
    }
    if (c === PERCENT) {
      const v = escapedAt(bytes, i, end);
      if (v < 0) {
        // Not an escape: kept, remembered for the nested-escape check below.
        lastBadPercent = out.length;
        out.push(PERCENT);
        continue;
      }
      i += 2;
      const cls = CLASS[v]!;
      if (cls === UNESCAPE) {
        out.push(v);
        if (lastBadPercent >= out.length - 3) checkNestedEscape(bytes, i + 1, end, lastBadPercent, out);
      } else {
        // Kept exactly as sent (hex case included).
        out.push(PERCENT, bytes[i - 1]!, bytes[i]!);
        if (cls === INVALID) ok = false;
      }
      continue;
    }
    const cls = CLASS[c]!;
    if (cls === ESCAPE || cls === INVALID) {
      out.push(PERCENT, HEX.charCodeAt(c >> 4), HEX.charCodeAt(c & 15));
      if (cls === INVALID) ok = false;
      continue;
    }
    out.push(c);
  }
  return ok ? Buffer.from(out).toString('latin1') : undefined;
}

/** `out` ends with `/`: drop the last segment (never above the first `/`). */
function backUpToPreviousSlash(out: number[]): void {
  let i = out.length - 1;
  if (i === 0) return;
  i--;
  while (out[i] !== SLASH && i > 0) i--;
  out.length = i + 1;
}

/**
 * An invalid `%` followed by characters that, once unescaped, form a valid escape (`%%30%30`
 * would become `%00`): the `%` is written as `%25` so the output cannot be read differently.
 */
function checkNestedEscape(bytes: Uint8Array, next: number, end: number, badAt: number, out: number[]): void {
  const length = out.length;
  const last = out[length - 1]!;
  const appendNext = badAt === length - 2;
  if (appendNext) {
    if (next === end || bytes[next]! >= 0x80) return;
    out.push(bytes[next]!);
  }
  const hi = hexValue(out[badAt + 1]!);
  const lo = hexValue(out[badAt + 2]!);
  if (hi >= 0 && lo >= 0) {
    if (!appendNext) out.push(out[badAt + 1]!);
    out[badAt + 1] = 0x32;
    out[badAt + 2] = 0x35;
    out.push(last);
  } else if (appendNext) {
    out.length = length;
  }
}

/**
 * Envoy 1.38.4's first step (CVE-2026-73551; runtime guard strip_dotdot_segments_with_parameters,
 * on by default): a segment that starts with `..;` or `.;` loses its parameters, so the
 * canonicalizer resolves it. Without it `/public/..;/admin` matched `/public` and went upstream as
 * it was, where Tomcat, Jetty or Spring read `..;` as `..` and served `/admin` without the check.
 * As Envoy: segments split on `/` only, and only literal dots (`%2E%2E;` is a name there too).
 */
function stripDotSegmentParameters(path: string): string {
  if (!path.includes('.;')) return path;
  return path
    .split('/')
    .map((s) => (s.startsWith('..;') ? '..' : s.startsWith('.;') ? '.' : s))
    .join('/');
}

/**
 * The normalized path (no query: uWS gives it apart), or undefined when Envoy answers 400: the
 * path has a `#` (runtime guard `http_reject_path_with_fragment`, on by default) or fails
 * canonicalization. uWS hands the path over as UTF-8 text; non-ASCII characters come out
 * percent-encoded byte by byte, as Envoy escapes every byte >= 0x80 (bytes that were not UTF-8
 * reach here as U+FFFD already, so they come out as `%EF%BF%BD`: see README Limits).
 */
export function normalizePath(path: string): string | undefined {
  if (isNormal(path)) return path;
  if (path.includes('#')) return undefined;
  const canonical = canonicalize(Buffer.from(stripDotSegmentParameters(path), 'utf8'));
  if (canonical === undefined) return undefined;
  return canonical.includes('//') ? canonical.replace(/\/{2,}/g, '/') : canonical;
}

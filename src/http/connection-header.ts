// A request's `Connection` header as Envoy's HTTP/1 codec treats it, when the request is read:
// before routing and before any filter, so a route match or a JWT check never sees a field the
// client named there (RFC 9110 §7.6.1: such fields are hop-by-hop).

import { removeHeaders } from './exchange.js';
import { headerValue } from '../routing/match.js';

/** Connection members that are options, not field names (Envoy's list), and `connection` itself. */
const CONNECTION_OPTIONS = new Set(['close', 'keep-alive', 'upgrade', 'http2-settings', 'connection']);
/**
 * Fields a client may not name in `Connection`: removing them would hide where the request came
 * from, so Envoy refuses the request (400) rather than remove them. And `host`: Envoy's header map
 * takes the name for `:authority`, so removing it leaves a request without a host, which its
 * connection manager answers 400.
 */
const NOT_NOMINABLE = new Set(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'host']);
/**
 * Kept though named: `content-length` (the framing jwtgate forwards the body with; Envoy's codec
 * has framed the body already), and `te`, which RFC 9110 has a client name in `Connection`
 * (`TE: trailers` with `Connection: TE`) and which Envoy keeps as `trailers` (the rest of its
 * rule is upstreamRequestHeaders').
 */
const NOMINATION_KEPT = new Set(['content-length', 'te']);
/** Envoy's StringUtil::trim: ASCII whitespace only (a no-break space is part of a name there). */
const ASCII_SPACE = /^[ \t\r\n\v\f]+|[ \t\r\n\v\f]+$/g;

/**
 * Envoy's Utility::isUpgrade: a `Connection` field with the member `upgrade`, and an `Upgrade`
 * field. (`headers`: after removeNominatedFields, which takes `upgrade` out of an h2c request's.)
 */
export function isUpgrade(headers: readonly string[]): boolean {
  if (headerValue(headers, 'upgrade') === undefined) return false;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'connection' && headers[i + 1]!.toLowerCase().split(',').some((m) => m.replace(ASCII_SPACE, '') === 'upgrade')) return true;
  }
  return false;
}

/**
 * Envoy's HTTP/1 codec on a request's `Connection` (Http::Utility::sanitizeConnectionHeader, run
 * before routing and before any filter, so a route match or a JWT check never sees what it
 * removes): every field a member names is removed from `headers` (in place), but those in
 * NOMINATION_KEPT. False, and nothing removed, when Envoy refuses the request (400): ten or more
 * members, a member naming one of NOT_NOMINABLE or starting with `:`, or a named `te` of 256
 * bytes or more. An `Upgrade: h2c` request first loses its `HTTP2-Settings` field and its
 * `upgrade` and `http2-settings` members, as in Envoy's codec, which does not take h2c up; any
 * other upgrade request is left as it is (Envoy's codec checks Connection only when it is not
 * handling an upgrade; jwtgate forwards it as a plain request, with the fields it names).
 * `connection`: the request's `Connection` fields, joined with `,`.
 */
export function removeNominatedFields(headers: string[], connection: string): boolean {
  // Nearly every Connection field is just `keep-alive` or `close`: nothing to remove, no split.
  const lower = connection.toLowerCase();
  if (lower === 'keep-alive' || lower === 'close') return true;
  let members = lower.split(',');
  if (members.some((m) => m.replace(ASCII_SPACE, '') === 'upgrade')) {
    const upgrade = headerValue(headers, 'upgrade');
    if (upgrade !== undefined && upgrade.toLowerCase() !== 'h2c') return true;
    if (upgrade !== undefined) {
      removeHeaders(headers, ['http2-settings']);
      members = members.filter((m) => {
        const t = m.replace(ASCII_SPACE, '');
        return t !== 'upgrade' && t !== 'http2-settings';
      });
    }
  }
  let count = 0;
  for (const m of members) if (m !== '') count++;
  if (count >= 10) return false;
  let names: string[] | undefined;
  for (const m of members) {
    const name = m.replace(ASCII_SPACE, '');
    if (name === '' || CONNECTION_OPTIONS.has(name)) continue;
    if (NOT_NOMINABLE.has(name) || name.charCodeAt(0) === 0x3a /* : */) return false;
    if (name === 'te' && (headerValue(headers, 'te') ?? '').length >= 256) return false;
    if (!NOMINATION_KEPT.has(name)) (names ??= []).push(name);
  }
  if (names !== undefined) removeHeaders(headers, names);
  return true;
}

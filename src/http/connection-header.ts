// A request's `Connection` header as Envoy's HTTP/1 codec treats it, when the request is read:
// before routing and before any filter, so a route match or a JWT check never sees a field the
// client named there (RFC 9110 §7.6.1: such fields are hop-by-hop).

import { removeHeaders } from './exchange.js';

/** Connection members that are options, not field names (Envoy's list), and `connection` itself. */
const CONNECTION_OPTIONS = new Set(['close', 'keep-alive', 'upgrade', 'http2-settings', 'connection']);
/**
 * Fields a client may not name in `Connection`: removing them would hide where the request came
 * from, so Envoy refuses the request (400) rather than remove them.
 */
const NOT_NOMINABLE = new Set(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto']);
/**
 * Kept though named: `host` (Envoy holds it as `:authority`, which a name in `Connection` cannot
 * reach), `content-length` (the framing jwtgate forwards the body with), and `te`, which RFC 9110
 * has a client name in `Connection` (`TE: trailers` with `Connection: TE`) and which Envoy keeps
 * as `trailers` (the rest of its rule is upstreamRequestHeaders').
 */
const NOMINATION_KEPT = new Set(['host', 'content-length', 'te']);

/**
 * Envoy's HTTP/1 codec on a request's `Connection` (Http::Utility::sanitizeConnectionHeader, run
 * before routing and before any filter, so a route match or a JWT check never sees what it
 * removes): every field a member names is removed from `headers` (in place), but those in
 * NOMINATION_KEPT. False, and nothing removed, when Envoy refuses the request (400): ten or more
 * members, a member naming one of NOT_NOMINABLE or starting with `:`, or a named `te` of 256
 * bytes or more. Nothing is done for an upgrade request. `connection`: the request's
 * `Connection` fields, joined with `,`.
 */
export function removeNominatedFields(headers: string[], connection: string): boolean {
  // Nearly every Connection field is just `keep-alive` or `close`: nothing to remove, no split.
  const lower = connection.toLowerCase();
  if (lower === 'keep-alive' || lower === 'close') return true;
  const members = lower.split(',');
  // An upgrade request (`Connection: upgrade` with an `Upgrade` field) is left as it is: Envoy's
  // codec checks Connection only when it is not handling an upgrade.
  if (members.some((m) => m.trim() === 'upgrade') && hasField(headers, 'upgrade')) return true;
  let count = 0;
  for (const m of members) if (m !== '') count++;
  if (count >= 10) return false;
  let names: string[] | undefined;
  for (const m of members) {
    const name = m.trim();
    if (name === '' || CONNECTION_OPTIONS.has(name)) continue;
    if (NOT_NOMINABLE.has(name) || name.charCodeAt(0) === 0x3a /* : */) return false;
    if (name === 'te' && joined(headers, 'te').length >= 256) return false;
    if (!NOMINATION_KEPT.has(name)) (names ??= []).push(name);
  }
  if (names !== undefined) removeHeaders(headers, names);
  return true;
}

function hasField(headers: readonly string[], name: string): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return true;
  return false;
}

/** The values of every `name` field of `headers`, joined with `,` (empty when there is none). */
function joined(headers: readonly string[], name: string): string {
  let value: string | undefined;
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) value = value === undefined ? headers[i + 1]! : `${value},${headers[i + 1]!}`;
  return value ?? '';
}

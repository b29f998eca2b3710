// Header rewriting between the client and the upstream: hop-by-hop removal (RFC 9110 §7.6.1),
// X-Forwarded-* as an edge proxy sets them, and undici's raw response headers turned into the
// flat pair list ClientExchange takes. Pure functions over flat `[name, value, …]` lists with
// lowercase names; no I/O, no per-header objects. Routing/auth header edits happen earlier.
//
// Header strings are UTF-8 text on both sides: uWebSockets.js decodes request header bytes as
// UTF-8 and encodes response header strings as UTF-8, while undici writes request headers as
// latin1 (one byte per char) and we read response bytes ourselves. So non-ASCII request values
// are re-encoded to their UTF-8 bytes and response values are decoded as UTF-8: a claim header
// `x-user: José` reaches the upstream as the same bytes Envoy would send.

import { randomUUID } from 'node:crypto';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { removeHeader } from '../http/exchange.js';
import { CONTROL_CHAR } from '../http/field-value.js';
import { isValidReferer } from '../http/referer.js';

/**
 * The fields Envoy's connection manager removes from every request before any filter or route
 * sees it (ConnectionManagerUtility::mutateRequestHeaders; `connection` and `upgrade` too unless
 * the request is an upgrade): never forwarded, and not in what rbac expressions see.
 */
export const REMOVED_BEFORE_FILTERS: ReadonlySet<string> = new Set(['keep-alive', 'proxy-connection', 'transfer-encoding']);
/**
 * Connection-specific fields never forwarded (RFC 9110 §7.6.1, RFC 9112 §7.1), the ones Envoy's
 * connection manager removes: `connection` itself (the fields it names were removed when the
 * request was read, but for an upgrade request: removeNominatedFields in
 * http/connection-header.ts),
 * `keep-alive`, `proxy-connection`, `transfer-encoding` (undici frames the body itself), `upgrade`
 * (WebSocket/h2c upgrades are not proxied yet). `expect` is also dropped: it is answered between
 * the client and the gateway (uWS sends `100 Continue`), as Envoy does, and undici refuses it.
 * `te` is handled on its own (hasTrailersMember). `trailer` is forwarded, as by Envoy, though the
 * trailers it announces are not (nor are they by Envoy's HTTP/1 codec, which drops them).
 * `proxy-authorization` is kept (Envoy forwards it; it is meant for the gateway's own upstream
 * proxy, which may be what the backend is).
 */
export const REQUEST_HOP_BY_HOP: ReadonlySet<string> = new Set([...REMOVED_BEFORE_FILTERS, 'connection', 'upgrade', 'expect']);
/**
 * `x-envoy-*` request fields Envoy removes from an external request at the edge
 * (ConnectionManagerUtility: `x-envoy-internal` for a client that is not internal, then
 * cleanInternalHeaders), so a client cannot mark itself internal or set the retries and timeouts
 * of an Envoy behind the gateway (a mesh sidecar).
 */
const ENVOY_EDGE_STRIPPED = new Set([
  'x-envoy-internal',
  'x-envoy-decorator-operation',
  'x-envoy-downstream-service-cluster',
  'x-envoy-downstream-service-node',
  'x-envoy-retriable-status-codes',
  'x-envoy-retriable-header-names',
  'x-envoy-retry-on',
  'x-envoy-retry-grpc-on',
  'x-envoy-max-retries',
  'x-envoy-upstream-alt-stat-name',
  'x-envoy-upstream-rq-timeout-ms',
  'x-envoy-upstream-rq-per-try-timeout-ms',
  'x-envoy-upstream-rq-timeout-alt-response',
  'x-envoy-expected-rq-timeout-ms',
  'x-envoy-force-trace',
  'x-envoy-ip-tags',
  'x-envoy-original-url',
  'x-envoy-hedge-on-per-try-timeout',
]);
/** What Envoy removes from a response (ConnectionManagerUtility::mutateResponseHeaders); `te` and `trailer` pass, as there. */
export const RESPONSE_HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * Fields Envoy's connection manager sets or removes before it picks a route
 * (ConnectionManagerUtility::mutateRequestHeaders runs before the route is resolved): a route
 * matching on one of them sees Envoy's value, never the client's. `x-forwarded-client-cert` is
 * removed (`forward_client_cert_details` SANITIZE, Envoy's default: the listeners are plain HTTP).
 */
export const EDGE_HEADERS: ReadonlySet<string> = new Set([
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-request-id',
  'x-forwarded-client-cert',
  'x-envoy-external-address',
  ...ENVOY_EDGE_STRIPPED,
]);

/**
 * Every field whose value a route sees only after applyEdgeHeaders: EDGE_HEADERS, and the two
 * Envoy's connection manager checks and may remove before routing (`referer`, `te`).
 */
export const PRE_ROUTE_HEADERS: ReadonlySet<string> = new Set([...EDGE_HEADERS, 'referer', 'te']);

/**
 * Envoy's TE rule (ConnectionManagerUtility, `sanitize_te`): a request's `TE` is kept as exactly
 * `trailers` when one of its comma-separated members is `trailers`, and removed otherwise (a
 * transfer coding such as `gzip` is hop-by-hop and means nothing to the upstream). Repeated
 * fields count as one list.
 */
function hasTrailersMember(te: string): boolean {
  const lower = te.toLowerCase();
  if (!lower.includes('trailers')) return false;
  for (const member of lower.split(',')) if (member.trim() === 'trailers') return true;
  return false;
}

/**
 * Rewrites `req.headers` (a new array) as Envoy's connection manager leaves them before routing:
 * the client address appended to `x-forwarded-for` (forwardedForElement), `x-forwarded-proto` set
 * to the scheme, a new `x-request-id`, `x-envoy-external-address` set to the client address, the
 * other `x-envoy-*` fields of external requests and `x-forwarded-client-cert` removed, a repeated
 * or invalid `referer` removed, `te` reduced to `trailers` or removed. Then `edgeApplied` is set,
 * and upstreamRequestHeaders sends these values as they are. Once per request (a second call does
 * nothing). Before routing only on ports whose routes match on one of PRE_ROUTE_HEADERS: elsewhere
 * the route cannot depend on them and upstreamRequestHeaders does the same in its one pass; on an
 * answer the gateway gives itself, when a DirectResponse bodyFormat or a response rule's
 * `%REQ(x)%` reads the request as Envoy's router has it.
 */
export function applyEdgeHeaders(req: { headers: string[]; readonly remoteAddress: string; readonly scheme: string; edgeApplied?: boolean; readonly gatewayHeaders?: readonly string[] }): void {
  if (req.edgeApplied === true) return;
  const src = req.headers;
  const out: string[] = [];
  // Called after the JWT stage (a DirectResponse bodyFormat): a claim header of one of these
  // names keeps its value, as jwt_authn sets it after Envoy's connection manager did its part.
  const gw = req.gatewayHeaders;
  let xff: string | undefined;
  let referers = 0;
  let referer = '';
  let teAt = -1;
  let trailers = false;
  for (let i = 0; i < src.length; i += 2) {
    const name = src[i]!;
    if (claimed(gw, name)) out.push(name, src[i + 1]!);
    else if (name === 'x-forwarded-for') xff = appendToList(xff, src[i + 1]!);
    else if (name === 'te') {
      if (teAt === -1) {
        teAt = out.length;
        out.push(name, 'trailers');
      }
      trailers ||= hasTrailersMember(src[i + 1]!);
    } else if (!EDGE_HEADERS.has(name)) {
      if (name === 'referer' && referers++ === 0) referer = src[i + 1]!;
      out.push(name, src[i + 1]!);
    }
  }
  if (teAt !== -1 && !trailers) out.splice(teAt, 2);
  if (referers > 1 || (referers === 1 && !isValidReferer(referer))) removeHeader(out, 'referer');
  if (!claimed(gw, 'x-forwarded-for')) {
    if (req.remoteAddress !== '') xff = appendToList(xff, forwardedForElement(req.remoteAddress));
    if (xff !== undefined) out.push('x-forwarded-for', xff);
  }
  if (!claimed(gw, 'x-forwarded-proto')) out.push('x-forwarded-proto', req.scheme);
  if (!claimed(gw, 'x-request-id')) out.push('x-request-id', randomUUID());
  if (req.remoteAddress !== '' && !claimed(gw, 'x-envoy-external-address')) out.push('x-envoy-external-address', req.remoteAddress);
  req.headers = out;
  req.edgeApplied = true;
}

/** A character beyond ASCII: the rare value whose UTF-8 bytes differ from its characters. */
export const NON_ASCII = /[^\x00-\x7f]/;
const TRAILING_WHITESPACE = /[ \t\v\f]+$/;
/** Anything but tab and printable ASCII: the rare value that needs a closer look. */
const NOT_PLAIN = /[^\t\x20-\x7e]/;
const DIGITS = /^[0-9]+$/;
/** Anything but printable ASCII without space, in a request target. */
const NOT_TARGET_PLAIN = /[^\x21-\x7e]/;
const TARGET_REFUSED = /[\x00-\x20\x7f]/;

/** UTF-8 bytes of `s` as a latin1 string, so undici's latin1 header write emits UTF-8. */
export function utf8AsLatin1(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/** `s` as undici writes it (UTF-8 bytes as latin1), itself when it is ASCII. */
export function wireValue(s: string): string {
  return NON_ASCII.test(s) ? utf8AsLatin1(s) : s;
}

/** The text whose UTF-8 bytes a latin1 string holds (utf8AsLatin1's inverse: an upstream request's value read back). */
export function latin1AsUtf8(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

/**
 * The header list sent upstream for `req` (new array; `req.headers` is not modified), or
 * undefined when the request cannot be sent as it is: a field value with a control character
 * (uWebSockets.js lets DEL and others through) or a `content-length` that is not digits. undici
 * would refuse it, and Envoy's codec answers such a request 400.
 *
 * - hop-by-hop fields are removed (see above; the fields a client named in `Connection` are
 *   already gone, removeNominatedFields, before the JWT stage added its claim headers, but for an
 *   upgrade request, which Envoy forwards with them);
 * - `host` is kept as received (Envoy keeps the authority unless a host rewrite is configured);
 *   only the first `host`/`content-length` is kept (undici rejects duplicates; uWS has already
 *   rejected conflicting ones); when `transfer-encoding` was present `content-length` is dropped
 *   (RFC 9112 §6.3: transfer-encoding wins; avoids forwarding a smuggling-prone pair);
 * - `x-forwarded-for`: the client address is appended to what the client sent, values of
 *   repeated fields joined with `,` (Envoy with `use_remote_address: true` and zero trusted
 *   hops, which is how kgateway configures its listeners);
 * - `x-forwarded-proto`: overwritten with the scheme the client used (Envoy does the same at the
 *   edge, a client-supplied value is not trusted);
 * - `x-forwarded-host`: a client's field is passed as it is, and none is added (Envoy appends one
 *   only with `append_x_forwarded_host` on a host rewrite, which kgateway leaves off for a
 *   URLRewrite filter's hostname; a TrafficPolicy's urlRewrite is refused);
 * - `x-request-id`: a new UUID, a client's value replaced; the `x-envoy-*` fields Envoy strips
 *   from external requests are dropped;
 * - `referer`: removed when repeated or when its value is not a URL Envoy accepts (isValidReferer),
 *   as Envoy's connection manager removes it; `te`: sent as `trailers` where one of its members is
 *   `trailers`, otherwise removed (Envoy's `sanitize_te`), at the place of the first `te` field;
 * - any of these that is one of `gatewayHeaders` keeps the value the JWT stage set (the
 *   client's was removed before), as Envoy's jwt_authn replaces what its connection manager set.
 */
export function upstreamRequestHeaders(req: {
  readonly headers: readonly string[];
  readonly authority: string;
  readonly remoteAddress: string;
  readonly scheme: string;
  readonly gatewayHeaders?: readonly string[];
  readonly edgeApplied?: boolean;
}): string[] | undefined {
  const src = req.headers;
  const out: string[] = [];
  // applyEdgeHeaders already set x-forwarded-for/-proto and x-request-id: sent as they are.
  const edge = req.edgeApplied === true;
  // A claim header (claimsToHeaders) may take one of the names set below: as in Envoy, where the
  // connection manager sets them before jwt_authn replaces them, the claim's value is sent.
  const gw = req.gatewayHeaders;
  let xff: string | undefined;
  let hasHost = false;
  let lengthAt = -1;
  let chunked = false;
  let referers = 0;
  let referer = '';
  let teAt = -1;
  let trailers = false;
  for (let i = 0; i < src.length; i += 2) {
    const name = src[i]!;
    let value = src[i + 1]!;
    switch (name) {
      case 'transfer-encoding':
        chunked = true;
        continue;
      case 'x-forwarded-for':
        if (edge || claimed(gw, name)) break;
        if (NOT_PLAIN.test(value) && CONTROL_CHAR.test(value)) return undefined;
        xff = appendToList(xff, value);
        continue;
      case 'x-forwarded-proto':
      case 'x-request-id':
      case 'x-envoy-external-address':
        if (edge || claimed(gw, name)) break;
        continue;
      case 'x-forwarded-client-cert':
        if (claimed(gw, name)) break;
        continue;
      case 'referer':
        // Checked after the loop: a second one removes both. A claim header of that name was set
        // after Envoy's check, and applyEdgeHeaders has already checked the client's.
        if (!edge && !claimed(gw, name) && referers++ === 0) referer = value;
        break;
      case 'te':
        // As for referer: the first field's place is kept, its value set after the loop.
        if (edge || claimed(gw, name)) break;
        if (teAt === -1) {
          teAt = out.length;
          out.push(name, 'trailers');
        }
        trailers ||= hasTrailersMember(value);
        continue;
      case 'host':
        if (hasHost) continue;
        hasHost = true;
        break;
      case 'content-length':
        if (lengthAt !== -1) continue;
        if (!DIGITS.test(value)) return undefined;
        lengthAt = out.length;
        break;
      default:
        if (REQUEST_HOP_BY_HOP.has(name)) continue;
        if (name.charCodeAt(0) === 0x78 /* x */ && name.startsWith('x-envoy-') && ENVOY_EDGE_STRIPPED.has(name) && !claimed(gw, name)) continue;
    }
    if (NOT_PLAIN.test(value)) {
      if (CONTROL_CHAR.test(value)) return undefined;
      value = utf8AsLatin1(value);
    }
    out.push(name, value);
  }
  if (teAt !== -1 && !trailers) {
    out.splice(teAt, 2);
    if (lengthAt > teAt) lengthAt -= 2;
  }
  if (chunked && lengthAt !== -1) out.splice(lengthAt, 2);
  if (referers > 1 || (referers === 1 && !isValidReferer(referer))) removeHeader(out, 'referer');
  const authority = wireValue(req.authority);
  if (!hasHost && authority !== '') out.push('host', authority);
  if (!edge && !claimed(gw, 'x-forwarded-for')) {
    if (req.remoteAddress !== '') xff = appendToList(xff, forwardedForElement(req.remoteAddress));
    if (xff !== undefined) out.push('x-forwarded-for', wireValue(xff));
  }
  if (!edge && !claimed(gw, 'x-forwarded-proto')) out.push('x-forwarded-proto', req.scheme);
  if (edge) return out;
  // Envoy at the edge sets x-envoy-external-address to the client address (every client is
  // external: Envoy 1.36 treats no address as internal unless internal_address_config says so).
  if (req.remoteAddress !== '' && !claimed(gw, 'x-envoy-external-address')) out.push('x-envoy-external-address', req.remoteAddress);
  // Envoy at the edge (use_remote_address, preserve_external_request_id off) replaces a
  // client's x-request-id with a fresh UUID. A client's x-forwarded-client-cert (removed under
  // Envoy's default SANITIZE) was dropped above.
  if (!claimed(gw, 'x-request-id')) out.push('x-request-id', randomUUID());
  return out;
}

/**
 * The element the gateway appends to x-forwarded-for for a client at `remote`: its address, but
 * for a loopback client (a sidecar, `kubectl port-forward`, a local curl) the gateway's own node
 * address, as Envoy appends `localInfo().address()` for a loopback peer
 * (ConnectionManagerUtility::appendXff). x-envoy-external-address keeps the client's address.
 */
export function forwardedForElement(remote: string): string {
  return remote.startsWith('127.') || remote === '::1' ? nodeAddress() : remote;
}

let node: string | undefined;

/**
 * The gateway's node address, found once (pickNodeAddress over this machine's interfaces; the
 * Gateway asks at start). If the interfaces cannot be read, 127.0.0.1, as Envoy with none found.
 */
export function nodeAddress(): string {
  if (node === undefined) {
    try {
      node = pickNodeAddress(networkInterfaces());
    } catch {
      node = '127.0.0.1';
    }
  }
  return node;
}

/**
 * Envoy's node address (Network::Utility::getLocalAddress for IPv4, its default): the first IPv4
 * address, in interface order, that is not a loopback address; 127.0.0.1 when there is none.
 */
export function pickNodeAddress(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string {
  for (const list of Object.values(interfaces)) {
    for (const a of list ?? []) if ((a.family === 'IPv4' || (a.family as unknown) === 4) && !a.address.startsWith('127.')) return a.address;
  }
  return '127.0.0.1';
}

/**
 * An x-forwarded-for list with `value` appended: `a,b`, as Envoy joins it (Utility::appendXff
 * appends with ",", and repeated fields of this inline header are joined with ","). A client's
 * own field keeps its spelling (`a, b` stays).
 */
function appendToList(list: string | undefined, value: string): string | undefined {
  // Envoy's appendToHeader: an empty value adds nothing, and no delimiter goes after an empty list.
  if (value === '') return list;
  return list === undefined || list === '' ? value : `${list},${value}`;
}

/** `name` is one of the claim headers the JWT stage set (no allocation: on every proxied request). */
function claimed(gw: readonly string[] | undefined, name: string): boolean {
  return gw !== undefined && gw.length > 0 && gw.includes(name);
}

/** Sets `x-envoy-original-path` in an upstream header list to `pathAndQuery` (a client's own replaced), as its bytes. */
export function setOriginalPath(headers: string[], pathAndQuery: string): void {
  removeHeader(headers, 'x-envoy-original-path');
  headers.push('x-envoy-original-path', wireValue(pathAndQuery));
}

/**
 * The request target sent upstream: `path` and `query` as the client sent their bytes (uWS
 * decodes them as UTF-8, undici writes one byte per character), or undefined when it holds a
 * character undici refuses (a control character or a space; uWS lets DEL through), or a path
 * that neither starts with `/` nor is an absolute URL (a TrafficPolicy urlRewrite substitution
 * can make one: Envoy sends it as it is, undici refuses it inside dispatch and its Pool then
 * jams the connection it picked).
 */
export function upstreamTarget(path: string, query: string): string | undefined {
  if (path.charCodeAt(0) !== 0x2f /* / */ && !path.startsWith('http://') && !path.startsWith('https://')) return undefined;
  const target = query === '' ? path : `${path}?${query}`;
  if (!NOT_TARGET_PLAIN.test(target)) return target;
  if (TARGET_REFUSED.test(target)) return undefined;
  return utf8AsLatin1(target);
}

/**
 * Flat client response headers from undici's raw header list (Buffers as received, or strings),
 * minus hop-by-hop fields. The fields a response names in `Connection` pass, as through Envoy
 * (mutateResponseHeaders removes only `Connection` itself). Names are lowercased, order and
 * repeated fields (`set-cookie`) are kept. `content-length` is kept: the client side uses it to
 * frame the response (and strips it for HEAD/204/304).
 */
export function clientResponseHeaders(raw: readonly (Buffer | string)[]): string[] | undefined {
  const out: string[] = [];
  let te: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    const v = raw[i + 1]!;
    const name = typeof n === 'string' ? n.toLowerCase() : n.toString('latin1').toLowerCase();
    let value = typeof v === 'string' ? v : v.toString('utf8');
    // Envoy's codec strips a value's trailing whitespace (HeaderString::rtrim: llhttp, like
    // http_parser, keeps it); the leading one is already gone.
    const last = value.charCodeAt(value.length - 1);
    if (last === 0x20 || last === 0x09 || last === 0x0b || last === 0x0c) value = value.replace(TRAILING_WHITESPACE, '');
    if (RESPONSE_HOP_BY_HOP.has(name)) {
      if (name === 'transfer-encoding') te = te === undefined ? value : `${te}, ${value}`;
      continue;
    }
    out.push(name, value);
  }
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') return undefined;
  return out;
}

// Header mutations configured on a route: Gateway API's RequestHeaderModifier and
// ResponseHeaderModifier HTTPRoute filters (kgateway turns them into the Envoy route's
// request_headers_to_add/_remove and response_headers_to_add/_remove) and kgateway's TrafficPolicy
// `headerModifiers` (Envoy's header_mutation HTTP filter, per route). Compiled once per
// configuration into a list of operations per direction, applied to the flat `[name, value, …]`
// lists the proxy sends: no per-request allocation beyond the values written.

import { removeHeader, type GatewayRequest } from '../http/exchange.js';
import { encodeFormat, formatHeaderValue, type HeaderFormat } from './header-format.js';

/** One operation, in the order it applies. Names are lowercase; values as they go on the wire. */
export interface HeaderOp {
  readonly op: 'remove' | 'set' | 'add' | 'together';
  readonly name: string;
  /** Request side: the UTF-8 bytes as a latin1 string (undici writes one byte per char); response side: the text (uWS writes UTF-8). */
  readonly value: string;
  /** A value with Envoy command operators, evaluated per request ('' skips the operation); `value` is then ''. */
  readonly format?: HeaderFormat;
  /**
   * `together`: a route's own sets and adds when one of them has a format (Envoy's
   * HeaderParser::evaluateHeaders): every value evaluated before any is written.
   */
  readonly ops?: readonly HeaderOp[];
}

/** A header rule's value: literal text, or a format with Envoy command operators. */
export type HeaderValue = string | HeaderFormat;

/** What one filter or policy asks for (names as written; values checked). */
export interface HeaderFilterSpec {
  readonly set: readonly { readonly name: string; readonly value: HeaderValue }[];
  readonly add: readonly { readonly name: string; readonly value: HeaderValue }[];
  readonly remove: readonly string[];
}

/** The mutations a route applies: request ops before the upstream request goes out, response ops on every answer given on the route. */
export interface RouteHeaderMutation {
  readonly request: readonly HeaderOp[];
  readonly response: readonly HeaderOp[];
  /** For /config_dump: where each came from. */
  readonly origins: readonly string[];
}

/**
 * Envoy's predefined O(1) ("inline") headers (envoy/http/header_map.h): a second value added to
 * one of these is joined to the first with `,` (HeaderMapImpl::insertByKey); any other name gets
 * a second field line.
 */
const INLINE_REQUEST = new Set([
  'x-client-trace-id', 'x-envoy-downstream-service-cluster', 'x-envoy-downstream-service-node', 'x-envoy-external-address',
  'x-envoy-force-trace', 'x-envoy-hedge-on-per-try-timeout', 'x-envoy-internal', 'x-envoy-ip-tags', 'x-envoy-retry-on',
  'x-envoy-retry-grpc-on', 'x-envoy-retriable-status-codes', 'x-envoy-retriable-header-names', 'x-envoy-is-timeout-retry',
  'x-envoy-original-path', 'x-envoy-original-url', 'x-envoy-upstream-alt-stat-name', 'x-envoy-upstream-rq-timeout-alt-response',
  'expect', 'x-forwarded-client-cert', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'grpc-timeout', 'host', 'te',
  'user-agent', 'x-envoy-expected-rq-timeout-ms', 'x-envoy-max-retries', 'x-envoy-upstream-rq-timeout-ms',
  'x-envoy-upstream-rq-per-try-timeout-ms', 'x-envoy-upstream-stream-duration-ms', 'x-forwarded-port',
  // request and response
  'connection', 'content-type', 'x-envoy-decorator-operation', 'keep-alive', 'proxy-connection', 'proxy-status', 'x-request-id',
  'transfer-encoding', 'upgrade', 'via', 'content-length', 'x-envoy-attempt-count',
  // registered by the CORS filter, compiled into Envoy's builds
  'origin', 'access-control-request-method', 'access-control-request-headers',
]);
const INLINE_RESPONSE = new Set([
  'date', 'x-envoy-degraded', 'x-envoy-immediate-health-check-fail', 'x-envoy-ratelimited', 'x-envoy-upstream-canary',
  'x-envoy-upstream-healthchecked-cluster', 'location', 'server', 'x-envoy-upstream-service-time', 'grpc-message', 'grpc-status',
  'connection', 'content-type', 'x-envoy-decorator-operation', 'keep-alive', 'proxy-connection', 'proxy-status', 'x-request-id',
  'transfer-encoding', 'upgrade', 'via', 'content-length', 'x-envoy-attempt-count',
  // registered by the CORS filter, compiled into Envoy's builds
  'access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods', 'access-control-allow-headers',
  'access-control-expose-headers', 'access-control-max-age',
]);

/**
 * Header names a mutation may not touch here, with why. `host` (and `:`-prefixed names, which the
 * name pattern already refuses) Envoy itself refuses ("may not be modified"/"removed"); the others
 * frame the message or the connection, which jwtgate (uWebSockets.js to the client, undici to the
 * upstream) sets itself: changed, the message would be cut or refused.
 */
export const UNMUTABLE: Readonly<Record<string, string>> = {
  host: 'Envoy refuses it (":-prefixed or host headers may not be modified"): kgateway\'s route would not be built',
  'content-length': 'jwtgate frames each message itself',
  'transfer-encoding': 'jwtgate frames each message itself',
  connection: 'jwtgate manages connections itself',
  'keep-alive': 'jwtgate manages connections itself',
  'proxy-connection': 'jwtgate manages connections itself',
  upgrade: 'jwtgate does not proxy upgrades',
  expect: 'the client and jwtgate settle it (100 Continue); the upstream client refuses it',
};

/** On responses, the same but `expect`, a request field (a response rule on it changes nothing the gateway relies on). */
export const UNMUTABLE_RESPONSE: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(UNMUTABLE).filter(([name]) => name !== 'expect'));

/**
 * Envoy's order for a route's (or a weighted cluster's) own header rules
 * (HeaderParser::evaluateHeaders): every removal, then every overwrite (`set`), then every append
 * (`add`).
 */
export function routeLevelOps(spec: HeaderFilterSpec, encode: (v: string) => string): HeaderOp[] {
  const removals = spec.remove.map((name) => ({ op: 'remove' as const, name: name.toLowerCase(), value: '' }));
  const writes = [...spec.set.map((h) => writeOp('set', h, encode)), ...spec.add.map((h) => writeOp('add', h, encode))];
  // Envoy formats every value against the headers after the removals, before any write.
  if (writes.some((o) => o.format !== undefined)) return [...removals, { op: 'together', name: '', value: '', ops: writes }];
  return [...removals, ...writes];
}

/** `op name` per operation, in the order they apply (`/config_dump`; values left out, a rule may set a credential), `(formatted)` after one with command operators. */
export function describeOps(ops: readonly HeaderOp[]): string[] {
  return ops.flatMap((o) => (o.op === 'together' ? describeOps(o.ops!) : [`${o.op} ${o.name}${o.format !== undefined ? ' (formatted)' : ''}`]));
}

function writeOp(op: 'set' | 'add', h: { readonly name: string; readonly value: HeaderValue }, encode: (v: string) => string): HeaderOp {
  const name = h.name.toLowerCase();
  return typeof h.value === 'string' ? { op, name, value: encode(h.value) } : { op, name, value: '', format: encodeFormat(h.value, encode) };
}

/**
 * kgateway's order for a TrafficPolicy's headerModifiers (pluginutils ConvertMutations, applied
 * in list order by Envoy's header_mutation filter): every `add`, then every `set`, then every
 * removal. A name both set and removed is removed.
 */
export function policyOps(spec: HeaderFilterSpec, encode: (v: string) => string): HeaderOp[] {
  return [
    ...spec.add.map((h) => writeOp('add', h, encode)),
    ...spec.set.map((h) => writeOp('set', h, encode)),
    ...spec.remove.map((name) => ({ op: 'remove' as const, name: name.toLowerCase(), value: '' })),
  ];
}

/**
 * Applies `ops` in order to the flat list `headers` (edited in place):
 * - `remove`: every field of that name;
 * - `set`: every field of that name removed, then one added (Envoy's setReferenceKey);
 * - `add`: a field added; for one of Envoy's inline headers already present, the value is joined
 *   to its first field's with `,` instead, as Envoy's header map does;
 * - a value with a format is evaluated first (for request `req`, which came at `startedAt`, a
 *   performance.now(); `status`: the answer's, 0 on the request side), and
 *   the operation skipped when it gives '' (kgateway never sets Envoy's keep_empty_value);
 * - `together`: its operations' values all evaluated, then written in order.
 */
export function applyHeaderOps(headers: string[], ops: readonly HeaderOp[], response: boolean, req: GatewayRequest, startedAt: number, status = 0): void {
  const inline = response ? INLINE_RESPONSE : INLINE_REQUEST;
  for (let k = 0; k < ops.length; k++) {
    const o = ops[k]!;
    if (o.op === 'remove') {
      removeHeader(headers, o.name);
      continue;
    }
    if (o.op === 'together') {
      const group = o.ops!;
      const values = group.map((g) => valueOf(g, headers, response, req, startedAt, status));
      for (let i = 0; i < group.length; i++) if (values[i] !== undefined) write(headers, group[i]!, values[i]!, inline);
      continue;
    }
    const value = valueOf(o, headers, response, req, startedAt, status);
    if (value !== undefined) write(headers, o, value, inline);
  }
}

/** What `o` (a set or add) writes now, or undefined when its format gives '' and the operation is skipped. */
function valueOf(o: HeaderOp, headers: readonly string[], response: boolean, req: GatewayRequest, startedAt: number, status: number): string | undefined {
  if (o.format === undefined) return o.value;
  const value = formatHeaderValue(o.format, headers, response, req, startedAt, status);
  return value === '' ? undefined : value;
}

/** `o`'s write of `value`: `add` appends (joined for an inline header present), `set` replaces. */
function write(headers: string[], o: HeaderOp, value: string, inline: ReadonlySet<string>): void {
  const name = o.name;
  if (o.op === 'add') {
    if (inline.has(name)) {
      const at = indexOfName(headers, name);
      if (at !== -1) {
        headers[at + 1] = headers[at + 1] === '' ? value : `${headers[at + 1]},${value}`;
        return;
      }
    }
    headers.push(name, value);
    return;
  }
  removeHeader(headers, name);
  headers.push(name, value);
}

function indexOfName(headers: readonly string[], name: string): number {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return i;
  return -1;
}

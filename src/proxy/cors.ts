// CORS: Gateway API's HTTPRoute `CORS` filter and kgateway's TrafficPolicy `cors`, as kgateway
// builds Envoy's CorsPolicy (pkg/pluginsdk/policy/cors.go) and Envoy's cors filter applies it
// (source/extensions/filters/http/cors/cors_filter.cc). The filter runs in kgateway's Cors stage,
// before jwt_authn: a preflight from an allowed origin is answered there (200, no token needed);
// any other request from an allowed origin goes on, and its answer (the upstream's, or a local
// reply such as the JWT check's 401) gets the allow-origin headers.

import { inlineHeaderValue, type GatewayRequest } from '../http/exchange.js';
import type { HeaderOp } from './header-mutation.js';
import { CONTROL_CHAR } from '../http/field-value.js';

/** One `allowOrigins` entry as kgateway converts it: exact, prefix (one trailing `*`) or a glob (`*` = any run of characters). */
export type OriginMatcher = { readonly exact: string } | { readonly prefix: string } | { readonly glob: readonly string[] };

/** One level's CORS config (a filter or a policy); a field left out is empty (Envoy falls back on a less specific level's). */
export interface CorsSpec {
  readonly origins?: readonly OriginMatcher[];
  readonly allowCredentials?: boolean;
  /** Joined with `, ` as kgateway joins them. */
  readonly allowMethods?: string;
  readonly allowHeaders?: string;
  readonly exposeHeaders?: string;
  /** Seconds, as text. */
  readonly maxAge?: string;
}

/** A route's CORS policy: every field resolved (per field, the most specific level that sets it). */
export interface RouteCors extends CorsSpec {
  /** Where the fields come from (`HTTPRoute CORS filter`, `TrafficPolicy/ns/name@Level`), for config_dump. */
  readonly from: readonly string[];
}

/** kgateway's conversion of an `allowOrigins` entry. */
export function originMatcher(origin: string): OriginMatcher {
  const star = origin.indexOf('*');
  if (star < 0) return { exact: origin };
  if (star === origin.length - 1) return { prefix: origin.slice(0, -1) };
  return { glob: origin.split('*') };
}

function matches(m: OriginMatcher, origin: string): boolean {
  if ('exact' in m) return origin === m.exact;
  if ('prefix' in m) return origin.startsWith(m.prefix);
  // ^part0.*part1.*…partN$: the first part at the start, the last at the end, the others in order.
  const parts = m.glob;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (origin.length < first.length + last.length || !origin.startsWith(first) || !origin.endsWith(last)) return false;
  let at = first.length;
  const end = origin.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const k = origin.indexOf(parts[i]!, at);
    if (k < 0 || k + parts[i]!.length > end) return false;
    at = k + parts[i]!.length;
  }
  return true;
}

/**
 * Whether a matcher allows the origin. (Envoy also allows every origin when a matcher matches the
 * string `*`; of kgateway's conversions only `*` itself, an empty prefix, does, and it matches
 * every origin anyway.)
 */
export function originAllowed(cors: CorsSpec, origin: string): boolean {
  const ms = cors.origins;
  if (ms === undefined) return false;
  for (const m of ms) if (matches(m, origin)) return true;
  return false;
}

/** A request header's value, or ''. `origin` and `access-control-request-*` are inline headers in Envoy (its cors filter registers them). */
function header(req: GatewayRequest, name: string): string {
  return inlineHeaderValue(req.headers, name);
}

/**
 * What the cors filter does with a request on a route with CORS: undefined (not a CORS request,
 * or an origin not allowed: nothing to add, a preflight goes on); the preflight answer's headers;
 * or the headers the answer gets. 'invalid': a control character in a value it would echo into
 * a response header (Envoy's codec answers such a request 400).
 */
export function corsRequest(cors: RouteCors, req: GatewayRequest): { readonly preflight?: string[]; readonly ops: HeaderOp[] } | 'invalid' | undefined {
  const origin = header(req, 'origin');
  if (origin === '') return undefined;
  if (CONTROL_CHAR.test(origin)) return 'invalid';
  if (!originAllowed(cors, origin)) return undefined;
  const pre = preflightHeaders(cors, req, origin);
  if (pre === 'invalid') return 'invalid';
  return pre !== undefined ? { preflight: pre, ops: [] } : { ops: responseOps(cors, origin) };
}

/**
 * Envoy's decodeHeaders for a request from the allowed `origin`: the answer to a preflight
 * (status 200, no body: its header list), or undefined when the request is not one and goes on.
 */
function preflightHeaders(cors: RouteCors, req: GatewayRequest, origin: string): string[] | 'invalid' | undefined {
  if (req.method !== 'OPTIONS') return undefined;
  const requestMethod = header(req, 'access-control-request-method');
  if (requestMethod === '') return undefined;
  const out = ['access-control-allow-origin', origin];
  if (cors.allowCredentials === true) out.push('access-control-allow-credentials', 'true');
  if (cors.allowMethods !== undefined) {
    if (cors.allowMethods === '*' && CONTROL_CHAR.test(requestMethod)) return 'invalid';
    out.push('access-control-allow-methods', cors.allowMethods === '*' ? requestMethod : cors.allowMethods);
  }
  if (cors.allowHeaders !== undefined) {
    // `*`: the request's (Envoy writes the field even when the request has none, empty).
    const v = cors.allowHeaders === '*' ? header(req, 'access-control-request-headers') : cors.allowHeaders;
    if (CONTROL_CHAR.test(v)) return 'invalid';
    out.push('access-control-allow-headers', v);
  }
  if (cors.maxAge !== undefined) out.push('access-control-max-age', cors.maxAge);
  // The cors filter's own encodeHeaders runs on the answer too: the exposed headers.
  if (cors.exposeHeaders !== undefined) out.push('access-control-expose-headers', cors.exposeHeaders);
  return out;
}

/**
 * Envoy's encodeHeaders: for a CORS request from the allowed `origin`, the headers set on its
 * answer (the upstream's, or a local reply of a later filter), replacing any of the same name.
 */
function responseOps(cors: RouteCors, origin: string): HeaderOp[] {
  const ops: HeaderOp[] = [{ op: 'set', name: 'access-control-allow-origin', value: origin }];
  if (cors.allowCredentials === true) ops.push({ op: 'set', name: 'access-control-allow-credentials', value: 'true' });
  if (cors.exposeHeaders !== undefined) ops.push({ op: 'set', name: 'access-control-expose-headers', value: cors.exposeHeaders });
  return ops;
}

/** Envoy's per-field fallback over the per-filter configs, most specific first; undefined when no level sets origins or anything else. */
export function mergeCors(levels: readonly { readonly spec: CorsSpec; readonly from: string }[]): RouteCors | undefined {
  const out: { -readonly [K in keyof CorsSpec]: CorsSpec[K] } = {};
  const from: string[] = [];
  for (const { spec, from: f } of levels) {
    let used = false;
    for (const k of ['origins', 'allowCredentials', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'maxAge'] as const) {
      const v = spec[k];
      if (out[k] === undefined && v !== undefined && !(Array.isArray(v) && v.length === 0)) {
        (out as Record<string, unknown>)[k] = v;
        used = true;
      }
    }
    if (used) from.push(f);
  }
  if (from.length === 0) return undefined;
  return { ...out, from: from };
}

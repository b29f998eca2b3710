// Folds the TrafficPolicies that apply to one route (on one listener) into its RouteAuth,
// following kgateway (spec §2.1, §2.4): five attachment levels, Gateway < Listener < HTTPRoute
// < Rule < ExtensionRef. Within a level the policy with `jwtAuth` of the highest weight, then the
// oldest, wins; among a rule's ExtensionRef filters, the first in filter order. The route-side
// levels (HTTPRoute, Rule, ExtensionRef) merge into one Envoy route config (most specific
// wins); Gateway and Listener land on the RouteConfiguration and VirtualHost. Each JWT filter
// is enabled by whichever level names its extension, so DIFFERENT extensions at different
// levels all run (an AND, filter-name order) and the SAME extension runs once. `disable` on
// any effective level skips every JWT filter. `rbac` is folded on its own: one Envoy filter, so
// the most specific level's replaces the others. `headerModifiers` too: Envoy's header_mutation
// filter applies the per-route config of every level that has one, the most specific first.
// `rateLimit.local` is Envoy's local_ratelimit filter: the most specific level's config is the one
// Envoy consults (route, then virtual host, then route configuration). `retry` is the Envoy
// route's (or virtual host's) retry policy: the most specific level's applies whole, and an
// HTTPRoute rule's own `retry` beats every TrafficPolicy's on its route.

import type { CompiledExpression, RbacPolicy } from '../auth/rbac.js';
import type { JwtExtension, RouteAuth } from '../config/snapshot.js';
import type { HeaderOp } from '../proxy/header-mutation.js';
import type { LocalRateLimitSpec } from './local-rate-limit.js';
import type { CorsSpec } from '../proxy/cors.js';
import type { RetrySpec } from '../proxy/retry.js';
import type { BasicAuthPolicy, BasicAuthSpec } from '../auth/basic-auth.js';
import type { ApiKeyAuthPolicy, ApiKeyAuthSpec } from '../auth/api-key-auth.js';
import type { CsrfPolicy } from '../auth/csrf.js';
import type { PathRegexRewrite } from '../proxy/path-regex-rewrite.js';
import type { Codec, CodecConfig, RouteCompression } from '../proxy/compression.js';
import type { TrafficPolicyModel } from '../config/validate-traffic-policy.js';
import { extAuthOrder, type ExtAuthBody, type ExtAuthEntry, type ExtAuthProvider } from '../auth/ext-authz.js';

export type PolicyLevel = 'Gateway' | 'Listener' | 'HTTPRoute' | 'Rule' | 'ExtensionRef';

/**
 * A TrafficPolicy as it attaches: the fields its model carries as they are (`timeouts`, `cors`,
 * `retry`, `csrf`, `urlRewrite`, `compression`'s two sides, `autoHostRewrite`, `buffer`), and the
 * ones compile.ts resolves (the JWT extension, the header operations, the credentials).
 */
export interface AttachedPolicy
  extends Pick<TrafficPolicyModel, 'timeouts' | 'cors' | 'retry' | 'csrf' | 'urlRewrite' | 'responseCompression' | 'requestDecompression' | 'autoHostRewrite' | 'buffer'> {
  /** `TrafficPolicy/namespace/name` */
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  readonly createdMs: number;
  /** `kgateway.dev/policy-weight`: a higher weight wins within a level (default 0). */
  readonly weight: number;
  readonly jwtAuth?: { readonly kind: 'extension'; readonly ext: JwtExtension } | { readonly kind: 'disable' };
  /** `extAuth`: its resolved provider with the policy's body settings, or `disable`. */
  readonly extAuth?: { readonly kind: 'extension'; readonly provider: ExtAuthProvider; readonly body?: ExtAuthBody } | { readonly kind: 'disable' };
  readonly rbac?: { readonly action: 'Allow' | 'Deny'; readonly expressions: readonly CompiledExpression[]; readonly readsClaims: boolean };
  /** `headerModifiers`, as operations in the order kgateway's header_mutation config lists them. */
  readonly headerModifiers?: { readonly request: readonly HeaderOp[]; readonly response: readonly HeaderOp[] };
  /** `rateLimit.local`. */
  readonly localRateLimit?: LocalRateLimitSpec;
  /** `basicAuth`: its users (from `users` or the Secret), or `disabled` (`disable: {}`). */
  readonly basicAuth?: BasicAuthSpec | 'disabled';
  /** `apiKeyAuth`: its keys (from its Secrets), sources and forwarding, or `disabled` (`disable: {}`). */
  readonly apiKeyAuth?: ApiKeyAuthSpec | 'disabled';
  /** Set when the policy is invalid: its targets answer 500. */
  readonly invalid?: string;
}

export interface LevelPolicies {
  readonly level: PolicyLevel;
  readonly policies: readonly AttachedPolicy[];
}

/** The TrafficPolicy header rules of a route, in the order they apply, and the policies they come from. */
export interface PolicyHeaders {
  readonly request: readonly HeaderOp[];
  readonly response: readonly HeaderOp[];
  readonly origins: readonly string[];
  /**
   * The listener's and Gateway's response rules alone (on the virtual host and route
   * configuration in Envoy): what a rule kgateway replaced with a direct response still gets.
   */
  readonly outerResponse: readonly HeaderOp[];
  readonly outerOrigins: readonly string[];
}

/** The `rateLimit.local` config Envoy consults on a route: the most specific level's. */
export interface PolicyRateLimit {
  readonly spec: LocalRateLimitSpec;
  readonly policyId: string;
  readonly level: PolicyLevel;
}

/** The TrafficPolicy timeouts of a route, each with the policy it comes from (`id@Level`). */
export interface PolicyTimeouts {
  readonly requestMs?: number;
  readonly requestOrigin?: string;
  readonly streamIdleMs?: number;
  readonly streamIdleOrigin?: string;
}

/** The TrafficPolicy `cors` configs of a route, most specific first (the route side's, the listener's, the Gateway's). */
export type PolicyCors = readonly { readonly spec: CorsSpec | 'disabled'; readonly from: string; readonly routeSide: boolean }[];

export interface FoldResult {
  readonly auth: RouteAuth;
  readonly cors?: PolicyCors;
  readonly headers?: PolicyHeaders;
  readonly rateLimit?: PolicyRateLimit;
  readonly timeouts?: PolicyTimeouts;
  /** The TrafficPolicy `retry` that applies (none when the HTTPRoute rule has its own), and where it comes from (`id@Level`). */
  readonly retry?: { readonly spec: RetrySpec; readonly origin: string };
  /** The TrafficPolicy `urlRewrite` that wins the route side, if any. */
  readonly urlRewrite?: PolicyUrlRewrite;
  /** The compressors the TrafficPolicies' `compression.responseCompression` turn on, if any. */
  readonly compression?: RouteCompression;
  /** The codecs the TrafficPolicies' `compression.requestDecompression` inflate, if any. */
  readonly decompression?: readonly Codec[];
  /** The TrafficPolicy whose `autoHostRewrite: true` applies (`id@Level`), if any. */
  readonly autoHostRewrite?: string;
  /** The TrafficPolicy `buffer` that applies, if any (none where the most specific one is `disable`). */
  readonly buffer?: PolicyBuffer;
  /** Policy ids whose jwtAuth or rbac is effective on this route. */
  readonly effective: readonly string[];
  /** Policy ids with jwtAuth or rbac that lost it (to an older policy in the level, or a more specific level) and have nothing effective. */
  readonly overridden: readonly string[];
}

export const NO_AUTH: RouteAuth = Object.freeze({ jwt: Object.freeze([]), origins: Object.freeze([]), disabled: false });

const ROUTE_SIDE: readonly PolicyLevel[] = ['ExtensionRef', 'Rule', 'HTTPRoute'];

/** Within a level: the highest `kgateway.dev/policy-weight`, then the oldest, then by name. */
export function olderFirst(a: AttachedPolicy, b: AttachedPolicy): number {
  if (a.weight !== b.weight) return b.weight - a.weight;
  if (a.createdMs !== b.createdMs) return a.createdMs < b.createdMs ? -1 : 1;
  const ka = `${a.namespace}/${a.name}`;
  const kb = `${b.namespace}/${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** The first invalid policy among these levels, as a message for the 500 direct response. */
export function firstInvalid(levels: readonly LevelPolicies[]): string | undefined {
  for (const l of levels) {
    for (const p of l.policies) if (p.invalid !== undefined) return `${p.id} is invalid: ${p.invalid}`;
  }
  return undefined;
}

type PolicyField = 'jwtAuth' | 'extAuth' | 'rbac' | 'headerModifiers' | 'localRateLimit' | 'timeouts' | 'cors' | 'retry' | 'basicAuth' | 'apiKeyAuth' | 'csrf' | 'urlRewrite' | 'buffer' | 'autoHostRewrite' | 'responseCompression' | 'requestDecompression';

/** Per level, the policy whose `field` wins there (weight, then age; ExtensionRef: filter order). */
function levelWinners(levels: readonly LevelPolicies[], field: PolicyField, overridden: Set<string>): Map<PolicyLevel, AttachedPolicy> {
  const winners = new Map<PolicyLevel, AttachedPolicy>();
  for (const l of levels) {
    const candidates = l.policies.filter((p) => p[field] !== undefined && p.invalid === undefined);
    if (candidates.length === 0) continue;
    // ExtensionRef filters keep the rule's filter order: kgateway appends them as the rule lists
    // them and its merge keeps the first policy that sets the field (weight and age play no part
    // there); the policies targeting a level are sorted by weight, then age.
    const inOrder = l.level === 'ExtensionRef';
    const sorted = inOrder ? candidates : [...candidates].sort(olderFirst);
    const prev = winners.get(l.level);
    const all = prev ? (inOrder ? [prev, ...sorted] : [prev, ...sorted].sort(olderFirst)) : sorted;
    winners.set(l.level, all[0]!);
    for (const p of all.slice(1)) overridden.add(p.id);
  }
  return winners;
}

/**
 * The policies whose `field` takes part on a route, most specific first: the route side's winner
 * (the route side merges into one route config, so a less specific route level loses there and is
 * overridden), then the listener's (virtual host) and the Gateway's (route configuration) winners,
 * which stay attached to their level even where a more specific config replaces them.
 */
function layered(levels: readonly LevelPolicies[], field: Exclude<PolicyField, 'jwtAuth'>, overridden: Set<string>): { level: PolicyLevel; p: AttachedPolicy }[] {
  const winners = levelWinners(levels, field, overridden);
  const out: { level: PolicyLevel; p: AttachedPolicy }[] = [];
  let routeSide = false;
  for (const level of [...ROUTE_SIDE, 'Listener', 'Gateway'] as const) {
    const p = winners.get(level);
    if (!p) continue;
    if (level !== 'Listener' && level !== 'Gateway') {
      if (routeSide) {
        overridden.add(p.id);
        continue;
      }
      routeSide = true;
    }
    out.push({ level, p });
  }
  return out;
}

/**
 * The policy whose `field` applies where Envoy takes the most specific per-filter (or route)
 * config whole, with its level, and every policy that stays attached for it.
 */
function mostSpecific(levels: readonly LevelPolicies[], field: Exclude<PolicyField, 'jwtAuth'>, overridden: Set<string>): { level: PolicyLevel; p: AttachedPolicy; attached: string[] } | undefined {
  const layers = layered(levels, field, overridden);
  if (layers.length === 0) return undefined;
  return { ...layers[0]!, attached: layers.map((l) => l.p.id) };
}

/**
 * `rbac` is one Envoy filter (envoy.filters.http.rbac) whose per-filter config the most specific
 * level replaces (route, then virtual host, then route configuration): one policy's rbac applies.
 */
function foldRbac(levels: readonly LevelPolicies[], overridden: Set<string>): { rbac: RbacPolicy; attached: string[] } | undefined {
  const m = mostSpecific(levels, 'rbac', overridden);
  if (m === undefined) return undefined;
  const { level, p, attached } = m;
  return { rbac: { action: p.rbac!.action, expressions: p.rbac!.expressions, readsClaims: p.rbac!.readsClaims, origin: `${p.id}@${level}` }, attached };
}

/**
 * `basicAuth` and `apiKeyAuth`: each one Envoy filter (basic_auth, api_key_auth), disabled on the
 * listener, whose most specific per-filter config applies whole (kgateway merges the field whole
 * too): the route side's winner, else the listener's, else the Gateway's. A `disable` there turns
 * the filter off for the route.
 */
function foldCredentials<F extends 'basicAuth' | 'apiKeyAuth'>(
  levels: readonly LevelPolicies[],
  field: F,
  overridden: Set<string>,
): { policy?: (F extends 'basicAuth' ? BasicAuthPolicy : ApiKeyAuthPolicy) | undefined; disabledBy?: string; attached: string[] } | undefined {
  const m = mostSpecific(levels, field, overridden);
  if (m === undefined) return undefined;
  const { level, p, attached } = m;
  const spec = p[field]!;
  const origin = `${p.id}@${level}`;
  if (spec === 'disabled') return { disabledBy: origin, attached };
  return { policy: { ...(spec as BasicAuthSpec | ApiKeyAuthSpec), origin } as F extends 'basicAuth' ? BasicAuthPolicy : ApiKeyAuthPolicy, attached };
}

/**
 * `csrf`: Envoy's csrf filter resolves the most specific per-filter config, whole (route, then
 * virtual host, then route configuration). One whose filter_enabled is 0% (no
 * `percentageEnabled`) wins there too, and checks nothing.
 */
function foldCsrf(levels: readonly LevelPolicies[], overridden: Set<string>): { csrf?: CsrfPolicy; attached: string[] } | undefined {
  const m = mostSpecific(levels, 'csrf', overridden);
  if (m === undefined) return undefined;
  const { level, p, attached } = m;
  return p.csrf!.enabledPercent > 0 ? { csrf: { ...p.csrf!, origin: `${p.id}@${level}` }, attached } : { attached };
}

/**
 * `headerModifiers`: kgateway's header_mutation filter. The route side merges into one route
 * config (the most specific level's wins); the listener's (virtual host) and the Gateway's (route
 * configuration) per-filter configs apply as well, after it (Envoy's default order, most specific
 * first, so a less specific level's rule on the same name comes last).
 */
function foldHeaders(levels: readonly LevelPolicies[], overridden: Set<string>): { headers: PolicyHeaders; attached: string[] } | undefined {
  const layers = layered(levels, 'headerModifiers', overridden);
  if (layers.length === 0) return undefined;
  const request: HeaderOp[] = [];
  const response: HeaderOp[] = [];
  const origins: string[] = [];
  const outerResponse: HeaderOp[] = [];
  const outerOrigins: string[] = [];
  for (const { level, p } of layers) {
    request.push(...p.headerModifiers!.request);
    response.push(...p.headerModifiers!.response);
    origins.push(`${p.id}@${level}`);
    if (level === 'Listener' || level === 'Gateway') {
      outerResponse.push(...p.headerModifiers!.response);
      outerOrigins.push(`${p.id}@${level}`);
    }
  }
  return { headers: { request, response, origins, outerResponse, outerOrigins }, attached: layers.map((l) => l.p.id) };
}

/**
 * `rateLimit.local`: one Envoy filter whose most specific per-filter config applies (a route's
 * replaces its virtual host's, which replaces its route configuration's), as a whole.
 */
function foldRateLimit(levels: readonly LevelPolicies[], overridden: Set<string>): { rateLimit: PolicyRateLimit; attached: string[] } | undefined {
  const m = mostSpecific(levels, 'localRateLimit', overridden);
  if (m === undefined) return undefined;
  const { level, p, attached } = m;
  return { rateLimit: { spec: p.localRateLimit!, policyId: p.id, level }, attached };
}

/**
 * `timeouts`: fields of the Envoy route (`timeout`, `idle_timeout`). The route side merges into
 * one route config (the most specific level's wins); a listener's or Gateway's policy fills in
 * what the route's leaves unset (kgateway's timeout defaults), the listener's first.
 */
function foldTimeouts(levels: readonly LevelPolicies[], overridden: Set<string>, ruleSetsTimeout: boolean): { timeouts: PolicyTimeouts; attached: string[] } | undefined {
  // The rule's own timeout (kgateway's built-in policy, applied first) takes the route timeout.
  let requestSet = ruleSetsTimeout;
  let out: PolicyTimeouts = {};
  const attached: string[] = [];
  for (const { level, p } of layered(levels, 'timeouts', overridden)) {
    const t = p.timeouts!;
    const origin = `${p.id}@${level}`;
    let used = false;
    if (!requestSet && t.requestMs !== undefined) {
      out = { ...out, requestMs: t.requestMs, requestOrigin: origin };
      requestSet = true;
      used = true;
    }
    if (out.streamIdleMs === undefined && t.streamIdleMs !== undefined) {
      out = { ...out, streamIdleMs: t.streamIdleMs, streamIdleOrigin: origin };
      used = true;
    }
    // A listener or Gateway policy stays attached to its virtual host or route configuration; a
    // route-side one that sets nothing here (the rule's own timeout won) is overridden.
    if (used || level === 'Listener' || level === 'Gateway') attached.push(p.id);
    else overridden.add(p.id);
  }
  return attached.length === 0 ? undefined : { timeouts: out, attached };
}

/**
 * `retry`: the Envoy route's retry policy, or the virtual host's, whole (levels do not merge): the
 * route side's winner, else the listener's, else the Gateway's. The HTTPRoute rule's own `retry`
 * (kgateway's built-in policy) beats every TrafficPolicy's on the route: the route side's are then
 * overridden; a listener's or Gateway's stays attached to its virtual host or route configuration.
 */
function foldRetry(levels: readonly LevelPolicies[], overridden: Set<string>, ruleSetsRetry: boolean): { retry?: { spec: RetrySpec; origin: string }; attached: string[] } | undefined {
  const layers = layered(levels, 'retry', overridden);
  if (layers.length === 0) return undefined;
  if (ruleSetsRetry) {
    const attached: string[] = [];
    for (const { level, p } of layers) {
      if (level === 'Listener' || level === 'Gateway') attached.push(p.id);
      else overridden.add(p.id);
    }
    return { attached };
  }
  const { level, p } = layers[0]!;
  return { retry: { spec: p.retry!, origin: `${p.id}@${level}` }, attached: layers.map((l) => l.p.id) };
}

/**
 * `urlRewrite`: a field of the Envoy route (kgateway merges it whole; its CRD lets only policies
 * on HTTPRoutes set it): the route side's winner applies.
 */
function foldUrlRewrite(levels: readonly LevelPolicies[], overridden: Set<string>): { urlRewrite: PolicyUrlRewrite; attached: string[] } | undefined {
  const m = mostSpecific(levels, 'urlRewrite', overridden);
  if (m === undefined) return undefined;
  const { level, p, attached } = m;
  return { urlRewrite: { rewrite: p.urlRewrite!, origin: `${p.id}@${level}` }, attached };
}

/**
 * `buffer`: Envoy's buffer filter, disabled on the listener, resolves the most specific per-filter
 * config, whole (route, then virtual host, then route configuration); a `disable` there turns it
 * off for the route.
 */
function foldBuffer(levels: readonly LevelPolicies[], overridden: Set<string>): { buffer?: PolicyBuffer; attached: string[] } | undefined {
  const m = mostSpecific(levels, 'buffer', overridden);
  if (m === undefined) return undefined;
  const { level, p, attached } = m;
  return p.buffer === 'disabled' ? { attached } : { buffer: { maxBytes: p.buffer!, origin: `${p.id}@${level}` }, attached };
}

/**
 * `compression.responseCompression`: one Envoy compressor filter per codec, each resolving its most
 * specific per-route config (route, then virtual host, then route configuration): a codec is on
 * where the most specific level that names it, or turns all off (`disable`), says so. The chain
 * order (what `*` in Accept-Encoding picks) is the order the most specific level lists them.
 */
function foldCompression(levels: readonly LevelPolicies[], overridden: Set<string>): { compression?: RouteCompression; attached: string[] } | undefined {
  const layers = layered(levels, 'responseCompression', overridden);
  if (layers.length === 0) return undefined;
  const codecs: CodecConfig[] = [];
  const origins: string[] = [];
  for (const { level, p } of layers) {
    const c = p.responseCompression!;
    if (c === 'disabled') break;
    let used = false;
    for (const k of c) {
      if (codecs.some((x) => x.codec === k.codec)) continue;
      codecs.push(k);
      used = true;
    }
    if (used) origins.push(`${p.id}@${level}`);
  }
  return { ...(codecs.length > 0 ? { compression: { codecs, origins } } : {}), attached: layers.map((l) => l.p.id) };
}

/**
 * `compression.requestDecompression`: one Envoy decompressor filter per codec, resolved as the
 * compressors are (each codec from the most specific level that names it; `disable` ends it).
 */
function foldDecompression(levels: readonly LevelPolicies[], overridden: Set<string>): { codecs?: Codec[]; attached: string[] } | undefined {
  const layers = layered(levels, 'requestDecompression', overridden);
  if (layers.length === 0) return undefined;
  const codecs: Codec[] = [];
  for (const { p } of layers) {
    const c = p.requestDecompression!;
    if (c === 'disabled') break;
    for (const k of c) if (!codecs.includes(k)) codecs.push(k);
  }
  return { ...(codecs.length > 0 ? { codecs } : {}), attached: layers.map((l) => l.p.id) };
}

/**
 * `autoHostRewrite`: a field of the Envoy route (kgateway merges it whole; a `false` that wins
 * keeps a less specific `true` off): the route side's winner.
 */
function foldAutoHost(levels: readonly LevelPolicies[], overridden: Set<string>): { origin?: string; attached: string[] } | undefined {
  const m = mostSpecific(levels, 'autoHostRewrite', overridden);
  if (m === undefined) return undefined;
  const { level, p, attached } = m;
  return { ...(p.autoHostRewrite === true ? { origin: `${p.id}@${level}` } : {}), attached };
}

/** A TrafficPolicy's `buffer` on a route: Envoy's buffer filter limit, with where it comes from. */
export interface PolicyBuffer {
  readonly maxBytes: number;
  /** `TrafficPolicy/ns/name@Level` */
  readonly origin: string;
}

/** A TrafficPolicy's `urlRewrite` on a route, with where it comes from. */
export interface PolicyUrlRewrite {
  readonly rewrite: PathRegexRewrite;
  /** `TrafficPolicy/ns/name@Level` */
  readonly origin: string;
}

/**
 * `extAuth`: one Envoy ext_authz filter per GatewayExtension (`ext_auth/<ns>/<name>`), disabled on
 * the listener and turned on by each level whose winning policy names it, as JWT filters are: the
 * route side's winner, the listener's and the Gateway's each turn theirs on, DIFFERENT extensions
 * all run (the GatewayExtension's `kgateway.dev/policy-weight` first, then filter-name order), the SAME one runs once with the most specific level's settings
 * (its `withRequestBody`). A `disable` on any of those levels turns every one off (kgateway's
 * global_disable/ext_auth metadata, which every ext_authz filter's filter_enabled_metadata reads).
 */
function foldExtAuth(levels: readonly LevelPolicies[], overridden: Set<string>): { entries?: ExtAuthEntry[]; disabledBy?: string; attached: string[] } | undefined {
  const layers = layered(levels, 'extAuth', overridden);
  if (layers.length === 0) return undefined;
  const attached = layers.map((l) => l.p.id);
  const off = layers.find((l) => l.p.extAuth!.kind === 'disable');
  if (off !== undefined) return { disabledBy: `${off.p.id}@${off.level}`, attached };
  // Most specific first in `layers`: the first to name a filter gives its settings.
  const byFilter = new Map<string, ExtAuthEntry>();
  for (const { level, p } of layers) {
    const ea = p.extAuth as { kind: 'extension'; provider: ExtAuthProvider; body?: ExtAuthBody };
    if (byFilter.has(ea.provider.filterName)) continue;
    byFilter.set(ea.provider.filterName, { provider: ea.provider, ...(ea.body ? { body: ea.body } : {}), origin: `${p.id}@${level}` });
  }
  const entries = [...byFilter.values()].sort((a, b) => extAuthOrder(a.provider, b.provider));
  return { entries, attached };
}

/** What the HTTPRoute rule sets itself, which wins over the TrafficPolicies' fields of the same name. */
export interface RuleOwn {
  /** The rule has its own `timeouts`, which win the route timeout. */
  readonly ruleSetsTimeout?: boolean;
  /** The rule has its own `retry`, which wins over every TrafficPolicy `retry`. */
  readonly ruleSetsRetry?: boolean;
}

export function foldPolicies(levels: readonly LevelPolicies[], own: RuleOwn = {}): FoldResult {
  const overridden = new Set<string>();
  const headers = foldHeaders(levels, overridden);
  const rateLimit = foldRateLimit(levels, overridden);
  const timeouts = foldTimeouts(levels, overridden, own.ruleSetsTimeout ?? false);
  const retry = foldRetry(levels, overridden, own.ruleSetsRetry ?? false);
  const urlRewrite = foldUrlRewrite(levels, overridden);
  const buffer = foldBuffer(levels, overridden);
  const autoHost = foldAutoHost(levels, overridden);
  const compression = foldCompression(levels, overridden);
  const decompression = foldDecompression(levels, overridden);
  // cors: Envoy's cors filter reads every level's per-filter config (field by field); each winner stays attached.
  const corsLayers = layered(levels, 'cors', overridden);
  const cors: PolicyCors = corsLayers.map(({ level, p }) => ({ spec: p.cors!, from: `${p.id}@${level}`, routeSide: level !== 'Listener' && level !== 'Gateway' }));
  const withHeaders = {
    ...(headers ? { headers: headers.headers } : {}),
    ...(rateLimit ? { rateLimit: rateLimit.rateLimit } : {}),
    ...(timeouts ? { timeouts: timeouts.timeouts } : {}),
    ...(retry?.retry ? { retry: retry.retry } : {}),
    ...(urlRewrite ? { urlRewrite: urlRewrite.urlRewrite } : {}),
    ...(buffer?.buffer ? { buffer: buffer.buffer } : {}),
    ...(autoHost?.origin !== undefined ? { autoHostRewrite: autoHost.origin } : {}),
    ...(compression?.compression ? { compression: compression.compression } : {}),
    ...(decompression?.codecs ? { decompression: decompression.codecs } : {}),
    ...(cors.length > 0 ? { cors } : {}),
  };
  const rbac = foldRbac(levels, overridden);
  const basic = foldCredentials(levels, 'basicAuth', overridden);
  const apiKey = foldCredentials(levels, 'apiKeyAuth', overridden);
  const csrf = foldCsrf(levels, overridden);
  const ext = foldExtAuth(levels, overridden);
  const winners = levelWinners(levels, 'jwtAuth', overridden);
  // Route side: the most specific level wins the merged route config.
  let routeWinner: { level: PolicyLevel; p: AttachedPolicy } | undefined;
  for (const level of ROUTE_SIDE) {
    const p = winners.get(level);
    if (!p) continue;
    if (!routeWinner) routeWinner = { level, p };
    else overridden.add(p.id);
  }
  const effective: { level: PolicyLevel; p: AttachedPolicy }[] = [];
  for (const level of ['Gateway', 'Listener'] as const) {
    const p = winners.get(level);
    if (p) effective.push({ level, p });
  }
  if (routeWinner) effective.push(routeWinner);
  const effectiveIds = [...new Set([...effective.map((e) => e.p.id), ...(rbac ? rbac.attached : []), ...(headers ? headers.attached : []), ...(rateLimit ? rateLimit.attached : []), ...(timeouts ? timeouts.attached : []), ...(retry ? retry.attached : []), ...(basic ? basic.attached : []), ...(apiKey ? apiKey.attached : []), ...(csrf ? csrf.attached : []), ...(urlRewrite ? urlRewrite.attached : []), ...(buffer ? buffer.attached : []), ...(autoHost ? autoHost.attached : []), ...(compression ? compression.attached : []), ...(decompression ? decompression.attached : []), ...(ext ? ext.attached : []), ...corsLayers.map((l) => l.p.id)])];
  for (const id of effectiveIds) overridden.delete(id);
  // What applies besides the JWT filters: rbac, the credential checks and csrf.
  const besidesJwt = {
    ...(rbac ? { rbac: rbac.rbac } : {}),
    ...(basic?.policy ? { basicAuth: basic.policy } : {}),
    ...(apiKey?.policy ? { apiKeyAuth: apiKey.policy } : {}),
    ...(csrf?.csrf ? { csrf: csrf.csrf } : {}),
    ...(basic?.disabledBy !== undefined ? { basicAuthOff: basic.disabledBy } : {}),
    ...(apiKey?.disabledBy !== undefined ? { apiKeyAuthOff: apiKey.disabledBy } : {}),
    ...(ext?.entries !== undefined && ext.entries.length > 0 ? { extAuth: ext.entries } : {}),
    ...(ext?.disabledBy !== undefined ? { extAuthOff: ext.disabledBy } : {}),
  };
  if (effective.length === 0) return { auth: Object.keys(besidesJwt).length > 0 ? { ...NO_AUTH, ...besidesJwt } : NO_AUTH, ...withHeaders, effective: effectiveIds, overridden: [...overridden] };

  const disabling = effective.filter((e) => e.p.jwtAuth!.kind === 'disable');
  if (disabling.length > 0) {
    return {
      auth: { jwt: [], origins: disabling.map((e) => `${e.p.id}@${e.level}`), disabled: true, ...besidesJwt },
      ...withHeaders,
      effective: effectiveIds,
      overridden: [...overridden],
    };
  }
  // Least specific first, so the most specific origin of a shared extension is the one kept.
  const byExt = new Map<string, { ext: JwtExtension; origin: string }>();
  for (const e of effective) {
    const ja = e.p.jwtAuth as { kind: 'extension'; ext: JwtExtension };
    byExt.set(ja.ext.filterName, { ext: ja.ext, origin: `${e.p.id}@${e.level}` });
  }
  const entries = [...byExt.values()].sort((a, b) => (a.ext.filterName < b.ext.filterName ? -1 : a.ext.filterName > b.ext.filterName ? 1 : 0));
  return {
    auth: { jwt: entries.map((x) => x.ext), origins: entries.map((x) => x.origin), disabled: false, ...besidesJwt },
    ...withHeaders,
    effective: effectiveIds,
    overridden: [...overridden],
  };
}

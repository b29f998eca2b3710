// HTTPRoute (gateway.networking.k8s.io/v1): parentRefs, hostnames and rules with their matches
// compiled to the snapshot's PathMatch/ValueMatch (regexes compiled here, once). Errors in
// parentRefs/hostnames reject the whole route; an error inside a rule marks only that rule
// invalid (kgateway replaces such a rule with a 500 direct response, spec §2.5).

import type { ConfigProblem } from '../errors.js';
import { compileAnchored, overApproximation, type Matcher } from '../routing/regex.js';
import type { PathMatch, ValueMatch } from './snapshot.js';
import type { RawResource } from './resource.js';
import type { HeaderFilterSpec } from '../proxy/header-mutation.js';
import { any, durationMs, enumOf, int, list, obj, ParseCtx, SENSITIVE_NAME, str, type Infer } from './schema.js';
import { gatewayHeaderFilter } from './validate-header-filter.js';
import { corsFilter, corsSpec } from './validate-cors.js';
import type { CorsSpec } from '../proxy/cors.js';
import type { RetryOn, RetrySpec } from '../proxy/retry.js';
import { CONTROL_CHAR } from '../http/field-value.js';
import {
  backendObjectReference,
  checkBackendRef,
  dnsSubdomain,
  documentSchema,
  GATEWAY_API_GROUP,
  group,
  groupKind,
  headerName,
  hostname,
  kind,
  backendRefKind,
  refSuggestion,
  KGATEWAY_GROUP,
  namespaceName,
  modelBase,
  objectName,
  sectionName,
} from './validate-common.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;

const parentRef = obj({
  group: group().default(GATEWAY_API_GROUP),
  kind: kind().default('Gateway'),
  namespace: namespaceName().optional(),
  name: objectName(),
  sectionName: sectionName().optional(),
  port: int({ min: 1, max: 65535 }).optional(),
});

const spec = obj(
  {
    parentRefs: list(parentRef, { max: 32 }).optional(),
    hostnames: list(hostname(), { max: 16 }).optional(),
    rules: any().optional(),
  },
  { ignored: { useDefaultGateways: 'useDefaultGateways is ignored by jwtgate' } },
);

const rule = obj(
  {
    name: sectionName().optional(),
    matches: any().optional(),
    filters: any().optional(),
    backendRefs: any().optional(),
    // Gateway API HTTPRouteTimeouts (Duration: ^([0-9]{1,5}(h|m|s|ms)){1,4}$; 0s disables).
    timeouts: obj({ request: durationMs().optional(), backendRequest: durationMs().optional() }).optional(),
    // Gateway API HTTPRouteRetry.
    retry: obj({
      // HTTPRouteRetryStatusCode: +kubebuilder:validation:Minimum:=400, Maximum:=599.
      codes: list(int({ min: 400, max: 599 })).optional(),
      // No CRD minimum; kgateway writes it to Envoy's num_retries, an unsigned integer.
      attempts: int().check((n, path, cx) => {
        if (n < 0) cx.error(path, `Invalid value: ${n}: attempts may not be negative (it is Envoy's num_retries, an unsigned count of retries; 0 means no retry)`);
      }).optional(),
      // Envoy's retry_back_off.base_interval must be over 0 (a 0s backoff would have kgateway's
      // whole route configuration refused).
      backoff: durationMs({ minMs: 1 }).optional(),
    }).optional(),
  },
  {
    ignored: {
      sessionPersistence: 'sessionPersistence is ignored: not supported by jwtgate yet',
    },
  },
);

/**
 * The `retry_on` kgateway writes for an HTTPRoute rule's retry (its convertRetry), sorted: connection
 * failures, the gRPC codes Envoy treats as retriable, and the rule's `codes`. No `reset`: a
 * connection closed or reset after the request was sent, or a per-try timeout, is not retried.
 */
const HTTPROUTE_RETRY_ON: readonly RetryOn[] = ['cancelled', 'connect-failure', 'refused-stream', 'retriable-headers', 'retriable-status-codes', 'unavailable'];

/** Envoy's default retry backoff base interval (kgateway leaves it unset without `backoff`). */
const DEFAULT_BACKOFF_MS = 25;

const headerMatch = obj({
  type: enumOf(['Exact', 'RegularExpression'] as const).default('Exact'),
  name: headerName(256),
  value: str({ min: 1, max: 4096, noShellVarCheck: true }),
});

const queryMatch = obj({
  type: enumOf(['Exact', 'RegularExpression'] as const).default('Exact'),
  name: headerName(256),
  value: str({ min: 1, max: 1024, noShellVarCheck: true }),
});

const match = obj({
  path: obj({
    type: enumOf(['Exact', 'PathPrefix', 'RegularExpression'] as const).default('PathPrefix'),
    value: str({ max: 1024, noShellVarCheck: true }).default('/'),
  }).default({ type: 'PathPrefix', value: '/' }),
  headers: list(headerMatch, { max: 16 }).optional(),
  queryParams: list(queryMatch, { max: 16 }).optional(),
  method: enumOf(METHODS).optional(),
});

/** A redirect or rewrite path: Envoy checks path_redirect and prefix_rewrite as header values (no CR, LF, NUL); jwtgate refuses every control character, which would go into `location` or the request line. */
const redirectPathValue = str({ max: 1024 }).check((v, path, cx) => {
  if (CONTROL_CHAR.test(v)) cx.error(path, 'Invalid value: a path may not hold control characters (CR, LF, NUL and the like): it becomes the location header or the upstream request line');
});

/** Gateway API's HTTPPathModifier (RequestRedirect and URLRewrite), with the CRD's rules: the field the type names is set, and only that one. */
const pathModifier = obj({
  type: enumOf(['ReplaceFullPath', 'ReplacePrefixMatch'] as const),
  replaceFullPath: redirectPathValue.optional(),
  replacePrefixMatch: redirectPathValue.optional(),
}).check((m, path, cx) => {
  if (m.type === 'ReplaceFullPath' && m.replaceFullPath === undefined) cx.error(`${path}.replaceFullPath`, "Required value: replaceFullPath must be specified when type is set to 'ReplaceFullPath'");
  if (m.type === 'ReplacePrefixMatch' && m.replacePrefixMatch === undefined) cx.error(`${path}.replacePrefixMatch`, "Required value: replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'");
  if (m.type !== 'ReplaceFullPath' && m.replaceFullPath !== undefined) cx.error(`${path}.replaceFullPath`, "Forbidden: type must be 'ReplaceFullPath' when replaceFullPath is set");
  if (m.type !== 'ReplacePrefixMatch' && m.replacePrefixMatch !== undefined) cx.error(`${path}.replacePrefixMatch`, "Forbidden: type must be 'ReplacePrefixMatch' when replacePrefixMatch is set");
});

/** Gateway API's int32 bound (the CRD's `format: int32`). */
const INT32_MAX = 2_147_483_647;

/**
 * Gateway API's HTTPRequestMirrorFilter with its CRD's rules: `percent` or `fraction`, not both;
 * a fraction's numerator at most its denominator (100 when unset).
 */
const requestMirror = obj({
  backendRef: backendObjectReference,
  percent: int({ min: 0, max: 100 }).optional(),
  fraction: obj({
    numerator: int({ min: 0, max: INT32_MAX }),
    denominator: int({ min: 1, max: INT32_MAX }).default(100),
  })
    .check((f, path, cx) => {
      if (f.numerator !== undefined && f.denominator !== undefined && f.numerator > f.denominator) cx.error(path, 'Invalid value: numerator must be less than or equal to denominator');
    })
    .optional(),
}).check((m, path, cx) => {
  if (m.percent !== undefined && m.fraction !== undefined) cx.error(path, 'Invalid value: Only one of percent or fraction may be specified in HTTPRequestMirrorFilter');
});

const filter = obj(
  {
    type: str({ min: 1 }),
    extensionRef: obj({ group: group(), kind: kind(), name: objectName() }).optional(),
    requestHeaderModifier: gatewayHeaderFilter('RequestHeaderModifier', 'request').optional(),
    requestMirror: requestMirror.optional(),
    requestRedirect: obj({
      scheme: enumOf(['http', 'https'] as const).optional(),
      hostname: dnsSubdomain(253).optional(),
      path: pathModifier.optional(),
      port: int({ min: 1, max: 65535 }).optional(),
      statusCode: int({ min: 301, max: 308 })
        .check((c, path, cx) => {
          if (![301, 302, 303, 307, 308].includes(c)) cx.error(path, `Unsupported value: ${c}: supported values: 301, 302, 303, 307, 308`);
        })
        .default(302),
    }).optional(),
    responseHeaderModifier: gatewayHeaderFilter('ResponseHeaderModifier', 'response').optional(),
    urlRewrite: obj({ hostname: dnsSubdomain(253).optional(), path: pathModifier.optional() }).optional(),
    cors: corsFilter.optional(),
  },
  { unknown: 'allow' },
);

/** Gateway API's filter types and the field each one's configuration goes in. */
const FILTER_FIELDS: Readonly<Record<string, string>> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestMirror: 'requestMirror',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  ExtensionRef: 'extensionRef',
  CORS: 'cors',
  ExternalAuth: 'externalAuth',
};

const backendRef = obj(
  {
    group: group().default(''),
    kind: kind().default('Service'),
    name: objectName(),
    namespace: namespaceName().optional(),
    port: int({ min: 1, max: 65535 }).optional(),
    weight: int({ min: 0, max: 1_000_000 }).default(1),
    filters: any().optional(),
  },
);

const document = documentSchema(spec);

export interface ParentRefModel {
  readonly index: number;
  readonly group: string;
  readonly kind: string;
  /** Defaulted to the route's namespace. */
  readonly namespace: string;
  readonly name: string;
  readonly sectionName?: string;
  readonly port?: number;
}

export interface MatchModel {
  readonly index: number;
  readonly path: PathMatch;
  readonly method?: string;
  readonly headers: readonly ValueMatch[];
  readonly queryParams: readonly ValueMatch[];
  /** A pattern of it was refused: the match stands widened, and its rule answers 500. */
  readonly widened?: true;
}

/** A BackendObjectReference (a rule's backendRef, a RequestMirror's), its namespace defaulted. */
export interface BackendObjectRefModel {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  /** Defaulted to the route's namespace. */
  readonly namespace: string;
  readonly port?: number;
  /** A kind jwtgate cannot resolve (neither Service nor kgateway Backend): an unresolved reference. */
  readonly unsupportedKind?: true;
}

export interface BackendRefModel extends BackendObjectRefModel {
  readonly index: number;
  readonly weight: number;
  /** Its own RequestHeaderModifier / ResponseHeaderModifier filters (kgateway: the weighted cluster's header rules). */
  readonly requestHeaderModifier?: HeaderFilterSpec;
  readonly responseHeaderModifier?: HeaderFilterSpec;
}

/**
 * A RequestMirror filter as kgateway writes Envoy's request_mirror_policies (its
 * getFractionPercent): `percent` as n/100, `fraction` as ⌊n/d × 10⁶⌋/10⁶, neither as 100/100.
 */
export interface MirrorModel {
  /** The filter's path (`spec.rules[i].filters[j]`), where a dropped mirror is warned about. */
  readonly path: string;
  readonly backendRef: BackendObjectRefModel;
  readonly numerator: number;
  readonly denominator: 100 | 1_000_000;
}

export interface RuleModel {
  readonly index: number;
  readonly name?: string;
  readonly matches: readonly MatchModel[];
  /** Names of TrafficPolicies referenced by ExtensionRef filters, in filter order. */
  readonly policyFilters: readonly { readonly name: string; readonly path: string }[];
  readonly backendRefs: readonly BackendRefModel[];
  /** A RequestRedirect filter: the rule answers with a redirect instead of proxying. */
  readonly requestRedirect?: RedirectModel;
  /** An ExtensionRef filter to a kgateway DirectResponse (in the route's namespace): the rule answers with it. Resolved in compile.ts. */
  readonly directResponse?: { readonly name: string; readonly path: string };
  /** A URLRewrite filter: the Host and path sent upstream. */
  readonly urlRewrite?: RewriteModel;
  /** A CORS filter: its CorsPolicy (it replaces a route-side TrafficPolicy's `cors`). */
  readonly cors?: CorsSpec;
  /**
   * RequestMirror filters, in filter order (the filter may be repeated: every one applies). None
   * on a rule with a RequestRedirect or an invalid rule. Resolved, or dropped, in compile.ts.
   */
  readonly requestMirrors?: readonly MirrorModel[];
  /** RequestHeaderModifier / ResponseHeaderModifier filters (at most one of each). */
  readonly requestHeaderModifier?: HeaderFilterSpec;
  readonly responseHeaderModifier?: HeaderFilterSpec;
  /**
   * The Envoy route timeout kgateway derives from the rule's `timeouts` (0 = none), when it sets
   * one: `backendRequest` if set (without `retry`), else `request`.
   */
  readonly timeoutMs?: number;
  /**
   * The rule's `retry` as kgateway writes Envoy's route retry policy: its fixed `retry_on`,
   * `attempts` (1 when unset) retries, `codes`, `backoff` (25 ms when unset), and the rule's
   * `timeouts.backendRequest` as the per-try timeout.
   */
  readonly retry?: RetrySpec;
  /** Set when the rule has an error: its routes answer 500 (kgateway RouteRuleReplaced). */
  readonly invalid?: string;
}

export interface RedirectModel {
  readonly scheme?: 'http' | 'https';
  readonly hostname?: string;
  readonly path?: { readonly type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; readonly replaceFullPath?: string; readonly replacePrefixMatch?: string };
  readonly port?: number;
  readonly statusCode: number;
}

export interface RewriteModel {
  readonly hostname?: string;
  readonly path?: RedirectModel['path'];
}

export interface HTTPRouteModel {
  readonly raw: RawResource;
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  readonly parentRefs: readonly ParentRefModel[];
  readonly hostnames: readonly string[];
  readonly rules: readonly RuleModel[];
  /** False when parentRefs / hostnames / the spec itself have errors: the route is not accepted. */
  readonly valid: boolean;
  readonly error?: string;
}

const DEFAULT_MATCH = { path: { type: 'PathPrefix', value: '/' } };

export function validateHTTPRoute(raw: RawResource, problems: ConfigProblem[]): HTTPRouteModel {
  const cx = ParseCtx.for(raw, problems);
  const before = problems.length;
  const doc = document.parse(raw.object, '', cx);
  // kgateway honours it only with KGW_WEIGHTED_ROUTE_PRECEDENCE=true, where it puts the route's
  // matches ahead of other routes' (a heavier protected route tried before a public one).
  if (raw.annotations['kgateway.dev/route-weight'] !== undefined) {
    cx.warn('metadata.annotations.kgateway.dev/route-weight', 'kgateway.dev/route-weight is ignored by jwtgate: routes are ordered by Gateway API precedence, as kgateway by default (with KGW_WEIGHTED_ROUTE_PRECEDENCE=true kgateway tries heavier routes first, and a request could reach a different route than here)');
  }
  const s = doc?.spec;
  const ns = raw.namespace;
  const parentRefs: ParentRefModel[] = (s?.parentRefs ?? []).map((p, index) => ({
    index,
    group: p.group,
    kind: p.kind,
    namespace: p.namespace ?? ns,
    name: p.name,
    ...(p.sectionName !== undefined ? { sectionName: p.sectionName } : {}),
    ...(p.port !== undefined ? { port: p.port } : {}),
  }));
  parentRefs.forEach((p) => {
    // A ListenerSet parent is warned about in compile.ts, which knows what its listeners get
    // (500 for their hostnames on a port the parent Gateway serves, else not served at all).
    if ((p.kind !== 'Gateway' || p.group !== GATEWAY_API_GROUP) && !p.kind.endsWith('ListenerSet')) {
      cx.warn(`spec.parentRefs[${p.index}]`, `parent ${groupKind(p.group, p.kind)} is not supported by jwtgate (only Gateway): this parentRef is ignored${refSuggestion(p.group, p.kind, [[GATEWAY_API_GROUP, 'Gateway']])}`);
    }
  });
  if (s && parentRefs.length === 0) cx.warn('spec.parentRefs', 'no parentRefs: the route is not attached to any Gateway');
  const topErrors = cx.errors;

  const specObj = (raw.object['spec'] ?? {}) as Record<string, unknown>;
  let rawRules = specObj['rules'];
  const rules: RuleModel[] = [];
  if (rawRules === undefined || rawRules === null) rawRules = [{ matches: [DEFAULT_MATCH] }];
  // The API server refuses the whole route for these, as for a bad parentRef: not a rule's 500.
  let rulesRefused = false;
  if (!Array.isArray(rawRules)) {
    cx.error('spec.rules', 'Invalid value: must be a list');
    rulesRefused = true;
  } else {
    if (rawRules.length > 16) {
      cx.error('spec.rules', `Too many: ${rawRules.length}: must have at most 16 items`);
      rulesRefused = true;
    }
    const ruleNames = new Map<string, number>();
    rawRules.forEach((rr, i) => {
      const m = validateRule(rr, i, ns, cx, ruleNames);
      if (m) rules.push(m);
    });
  }
  return {
    ...modelBase(raw, cx, problems, before),
    parentRefs,
    hostnames: s?.hostnames ?? [],
    rules,
    valid: topErrors === 0 && !rulesRefused && doc !== undefined,
  };
}

function validateRule(rr: unknown, i: number, ns: string, cx: ParseCtx, ruleNames: Map<string, number>): RuleModel | undefined {
  const p = `spec.rules[${i}]`;
  const e0 = cx.errors;
  // Only the problems this rule added are looked at (not every problem of every resource so far).
  const before = cx.problems.length;
  const firstError = (): string | undefined => {
    if (cx.errors === e0) return undefined;
    const e = cx.problems.slice(before).find((x) => x.resource === cx.resource && x.severity === 'error' && (x.path === p || x.path.startsWith(`${p}.`)));
    return e ? `${e.path}: ${e.message}` : `${p}: invalid`;
  };
  if (rr === null || rr === undefined) {
    cx.error(p, 'Invalid value: null');
    return undefined;
  }
  const r = rule.parse(rr, p, cx);
  if (!r) return undefined;
  if (r.name !== undefined) {
    const prev = ruleNames.get(r.name);
    if (prev !== undefined) cx.error(`${p}.name`, `Duplicate value: "${r.name}": rule names must be unique (also spec.rules[${prev}])`);
    else ruleNames.set(r.name, i);
  }

  // matches
  const matches: MatchModel[] = [];
  let rawMatches = r.matches;
  // No matches (absent, null or an empty list) is Gateway API's default: PathPrefix "/".
  if (rawMatches === undefined || rawMatches === null || (Array.isArray(rawMatches) && rawMatches.length === 0)) rawMatches = [DEFAULT_MATCH];
  if (!Array.isArray(rawMatches)) cx.error(`${p}.matches`, 'Invalid value: must be a list');
  else {
    if (rawMatches.length > 64) cx.error(`${p}.matches`, `Too many: ${rawMatches.length}: must have at most 64 items`);
    rawMatches.forEach((rm, j) => {
      const mp = `${p}.matches[${j}]`;
      const m0 = cx.errors;
      if (rm === null) cx.error(mp, 'Invalid value: null: a match must be an object');
      const mm = rm === null ? undefined : match.parse(rm, mp, cx);
      const compiled = mm && cx.errors === m0 ? compileMatch(mm, j, mp, cx) : undefined;
      // A match with a refused regex is kept (widened): its rule is invalid and answers 500.
      if (compiled && (cx.errors === m0 || compiled.widened)) matches.push(compiled);
      // Any other broken match (a lower-case method, a bad header match, …) is kept too, widened
      // to its path alone (or everything), so the invalid rule's 500 still catches its requests:
      // dropped, they would fall through to another rule without this rule's JWT check.
      else matches.push(widenedMatch(rm, j, mp, cx));
    });
  }

  // filters
  const policyFilters: { name: string; path: string }[] = [];
  let requestHeaderModifier: HeaderFilterSpec | undefined;
  let responseHeaderModifier: HeaderFilterSpec | undefined;
  let requestRedirect: RedirectModel | undefined;
  let redirectPath = '';
  let urlRewrite: RewriteModel | undefined;
  let cors: CorsSpec | undefined;
  let rewritePath = '';
  const mirrors: MirrorModel[] = [];
  const directResponses: { name: string; path: string }[] = [];
  if (r.filters !== undefined) {
    if (!Array.isArray(r.filters)) cx.error(`${p}.filters`, 'Invalid value: must be a list');
    else {
      if (r.filters.length > 16) cx.error(`${p}.filters`, `Too many: ${r.filters.length}: must have at most 16 items`);
      const seenTypes = new Set<string>();
      r.filters.forEach((rf, j) => {
        const fp = `${p}.filters[${j}]`;
        // A null item: the API server refuses the route (list items must be objects); here the rule answers 500.
        if (rf === null || rf === undefined) return void cx.error(fp, 'Invalid value: null: list items must not be empty');
        const f0 = cx.errors;
        const f = filter.parse(rf, fp, cx);
        if (!f || f.type === undefined) return;
        checkFilterFields(rf as Record<string, unknown>, f.type, fp, cx);
        if ((f.type === 'RequestHeaderModifier' || f.type === 'ResponseHeaderModifier' || f.type === 'RequestRedirect' || f.type === 'URLRewrite' || f.type === 'CORS') && seenTypes.has(f.type)) {
          cx.error(`${p}.filters`, `Invalid value: ${f.type} filter cannot be repeated`);
        }
        seenTypes.add(f.type);
        if (f.type === 'RequestHeaderModifier') {
          requestHeaderModifier = f.requestHeaderModifier;
          return;
        }
        if (f.type === 'ResponseHeaderModifier') {
          responseHeaderModifier = f.responseHeaderModifier;
          return;
        }
        if (f.type === 'RequestRedirect') {
          requestRedirect = f.requestRedirect;
          redirectPath = `${fp}.requestRedirect`;
          return;
        }
        if (f.type === 'URLRewrite') {
          urlRewrite = f.urlRewrite;
          rewritePath = `${fp}.urlRewrite`;
          return;
        }
        if (f.type === 'CORS') {
          if (f.cors !== undefined) cors = corsSpec(f.cors);
          return;
        }
        // May be repeated: every mirror applies, in filter order.
        if (f.type === 'RequestMirror') {
          const m = f.requestMirror;
          if (m === undefined || cx.errors !== f0 || !checkBackendRef(m.backendRef, `${fp}.requestMirror.backendRef`, cx)) return;
          mirrors.push({ path: fp, backendRef: objectRef(m.backendRef, ns), ...mirrorFraction(m) });
          return;
        }
        if (f.type !== 'ExtensionRef') {
          cx.error(`${fp}.type`, `filter type ${f.type} not supported by jwtgate (only RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, RequestRedirect, URLRewrite, CORS, and ExtensionRef to gateway.kgateway.dev/TrafficPolicy or DirectResponse)`);
          return;
        }
        if (!f.extensionRef) {
          cx.error(`${fp}.extensionRef`, 'Required value: extensionRef must be specified for ExtensionRef filter type');
          return;
        }
        const er = f.extensionRef;
        // A kind or name that failed its schema is reported with its path already.
        if (typeof er.kind !== 'string' || typeof er.name !== 'string') return;
        if (er.group === KGATEWAY_GROUP && er.kind === 'DirectResponse') {
          directResponses.push({ name: er.name, path: `${fp}.extensionRef` });
          return;
        }
        if (er.group !== KGATEWAY_GROUP || er.kind !== 'TrafficPolicy') {
          cx.error(`${fp}.extensionRef`, `filter type ExtensionRef to ${groupKind(er.group, er.kind)} not supported by jwtgate (only gateway.kgateway.dev/TrafficPolicy and DirectResponse)${refSuggestion(er.group, er.kind, [[KGATEWAY_GROUP, 'TrafficPolicy'], [KGATEWAY_GROUP, 'DirectResponse']])}`);
          return;
        }
        policyFilters.push({ name: er.name, path: `${fp}.extensionRef` });
      });
    }
  }

  // The CRD's rule for ReplacePrefixMatch. No matches (absent or null) is the API server's
  // default, one PathPrefix `/`; an empty list is not.
  for (const [what, m, at] of [['RequestRedirect', requestRedirect, redirectPath], ['URLRewrite', urlRewrite, rewritePath]] as const) {
    if (m?.path?.type !== 'ReplacePrefixMatch') continue;
    const ms = r.matches === undefined || r.matches === null ? [DEFAULT_MATCH] : Array.isArray(r.matches) ? r.matches : [];
    const pathType = (x: unknown): unknown => (x !== null && typeof x === 'object' ? ((x as { path?: { type?: unknown } }).path?.type ?? 'PathPrefix') : undefined);
    if (ms.length !== 1 || pathType(ms[0]) !== 'PathPrefix') cx.error(`${at}.path`, `Invalid value: When using ${what} filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified`);
  }
  // A rewritten path goes on the upstream request line: one that does not start with `/`, or
  // that holds a space, the upstream client cannot send (Envoy sends it as written and the
  // upstream answers). Refused here, so the rule fails closed instead of failing every request.
  for (const [field, v] of [['replaceFullPath', urlRewrite?.path?.replaceFullPath], ['replacePrefixMatch', urlRewrite?.path?.replacePrefixMatch]] as const) {
    if (v === undefined || v === '') continue;
    if (!v.startsWith('/')) cx.error(`${rewritePath}.path.${field}`, 'Invalid value: a rewritten path must start with "/": jwtgate cannot send another request target upstream');
    else if (v.includes(' ')) cx.error(`${rewritePath}.path.${field}`, 'Invalid value: a rewritten path may not hold a space: jwtgate cannot send it on the upstream request line (write %20)');
  }
  // kgateway's DirectResponse plugin sets the route's action, and refuses a route that has one
  // already (backendRefs, a redirect, another DirectResponse: "DirectResponse cannot be applied
  // to route with existing action"): kgateway replaces that rule with its 500, so does jwtgate.
  const direct = directResponses[0];
  if (direct !== undefined) {
    const clash =
      directResponses.length > 1
        ? 'a second DirectResponse filter'
        : Array.isArray(r.backendRefs) && r.backendRefs.length > 0
          ? 'backendRefs'
          : requestRedirect !== undefined
            ? 'a RequestRedirect filter'
            : urlRewrite !== undefined
              ? 'a URLRewrite filter (it rewrites what is sent upstream, and a direct response sends nothing)'
              : undefined;
    if (clash !== undefined) {
      cx.error(directResponses.length > 1 ? directResponses[1]!.path : direct.path, `DirectResponse cannot be applied to route with existing action: the rule also has ${clash}; kgateway replaces the rule with its 500 (invalid route configuration), so does jwtgate: keep one action per rule`);
    }
    // Envoy's router mirrors only what it sends upstream (kgateway skips a mirror on a route without a route action).
    for (const m of mirrors) cx.warn(m.path, 'RequestMirror is dropped on a rule with a DirectResponse: the rule answers every request itself and sends none upstream, so no copy is sent');
    if (r.timeouts !== undefined || r.retry !== undefined) cx.warn(`${p}.${r.timeouts !== undefined ? 'timeouts' : 'retry'}`, 'timeouts and retry do nothing on a rule with a DirectResponse: it sends nothing upstream (kgateway applies them only to a route action)');
  }
  if (requestRedirect !== undefined) {
    if (Array.isArray(r.filters) && r.filters.some((x) => x !== null && typeof x === 'object' && (x as { type?: unknown }).type === 'URLRewrite')) {
      cx.error(`${p}.filters`, 'Invalid value: May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both');
    }
    // kgateway's redirect action replaces the route's cluster: the backends are never used (newer
    // Gateway API CRDs refuse the pair).
    if (Array.isArray(r.backendRefs) && r.backendRefs.length > 0) {
      cx.warn(`${p}.backendRefs`, 'backendRefs are not used on a rule with a RequestRedirect filter: the rule answers every request with the redirect, as kgateway does (newer Gateway API CRDs refuse the pair)');
    }
    // Envoy mirrors only requests its router sends upstream; kgateway adds no mirror to a
    // redirect route (it has no route action to carry one).
    for (const m of mirrors) {
      cx.warn(m.path, 'RequestMirror is dropped on a rule with a RequestRedirect filter: the rule answers every request with the redirect and sends none upstream, so no copy is sent (kgateway writes no mirror for a redirect route either)');
    }
  }

  // timeouts: the CRD's rule, then kgateway's translation (krtcollections applyTimeouts): the
  // route timeout is backendRequest when set (it is the more specific), request otherwise; with
  // a retry policy it is request, and backendRequest becomes the per-try timeout.
  let timeoutMs: number | undefined;
  const t = r.timeouts;
  const hasRetry = rr !== null && typeof rr === 'object' && (rr as Record<string, unknown>)['retry'] !== undefined && (rr as Record<string, unknown>)['retry'] !== null;
  if (t !== undefined) {
    if (t.request !== undefined && t.backendRequest !== undefined && t.request !== 0 && t.backendRequest > t.request) {
      cx.error(`${p}.timeouts`, 'Invalid value: backendRequest timeout cannot be longer than request timeout');
    }
    // applyTimeouts: both set, with a retry, the route timeout is request (backendRequest is the
    // per-try timeout); backendRequest alone is the route timeout, retry or not.
    timeoutMs = t.backendRequest !== undefined && (!hasRetry || t.request === undefined) ? t.backendRequest : t.request;
  }
  // retry: kgateway's convertRetry. A per-try timeout of 0 is none to Envoy (no per-try timer).
  let retry: RetrySpec | undefined;
  if (hasRetry && r.retry !== undefined && (r.retry.attempts ?? 0) >= 0) {
    const perTry = t?.backendRequest;
    retry = {
      retryOn: HTTPROUTE_RETRY_ON,
      numRetries: r.retry.attempts ?? 1,
      statusCodes: r.retry.codes ?? [],
      ...(perTry !== undefined && perTry > 0 ? { perTryTimeoutMs: perTry } : {}),
      backoffBaseMs: r.retry.backoff ?? DEFAULT_BACKOFF_MS,
    };
  }

  // backendRefs
  const backendRefs: BackendRefModel[] = [];
  if (r.backendRefs !== undefined) {
    if (!Array.isArray(r.backendRefs)) cx.error(`${p}.backendRefs`, 'Invalid value: must be a list');
    else {
      if (r.backendRefs.length > 16) cx.error(`${p}.backendRefs`, `Too many: ${r.backendRefs.length}: must have at most 16 items`);
      r.backendRefs.forEach((rb, j) => {
        const bp = `${p}.backendRefs[${j}]`;
        const b0 = cx.errors;
        if (rb === null || rb === undefined) return void cx.error(bp, 'Invalid value: null: list items must not be empty');
        const b = backendRef.parse(rb, bp, cx);
        if (!b || cx.errors !== b0) return;
        // kgateway applies a backendRef's header filters to the requests sent to that backend
        // (its weighted cluster's header rules, or the route's with one backendRef), ignores a
        // RequestMirror, RequestRedirect, URLRewrite or DirectResponse there (warned about), and
        // applies the others (an ExtensionRef TrafficPolicy's jwtAuth included): those jwtgate
        // does not apply make the rule answer 500, as a filter may not be skipped.
        let ownRequest: HeaderFilterSpec | undefined;
        let ownResponse: HeaderFilterSpec | undefined;
        if (b.filters !== undefined && b.filters !== null && !(Array.isArray(b.filters) && b.filters.length === 0)) {
          const items: readonly unknown[] | undefined = Array.isArray(b.filters) ? b.filters : undefined;
          let unsupported = items === undefined;
          // HTTPBackendRef.filters has the CRD rules of a rule's filters: at most 16, none of these
          // four repeated, not RequestRedirect with URLRewrite (the API server refuses the route).
          if (items !== undefined && items.length > 16) cx.error(`${bp}.filters`, `Too many: ${items.length}: must have at most 16 items`);
          const seenTypes = new Set<string>();
          items?.forEach((x, k) => {
            const fp = `${bp}.filters[${k}]`;
            const type = x !== null && typeof x === 'object' ? (x as { type?: unknown }).type : undefined;
            if (isMirrorFilter(x)) backendRefMirror(x, fp, cx);
            else if (isDirectResponseFilter(x)) cx.warn(fp, 'an ExtensionRef to a DirectResponse in backendRefs[].filters is ignored, as kgateway ignores it: the requests drawn to this backend are proxied. In the rule\'s filters (without backendRefs) it answers every request of the rule');
            else if (type === 'RequestHeaderModifier' || type === 'ResponseHeaderModifier' || type === 'RequestRedirect' || type === 'URLRewrite') {
              const f = filter.parse(x, fp, cx);
              if (!f) return;
              checkFilterFields(x as Record<string, unknown>, type, fp, cx);
              if (seenTypes.has(type)) cx.error(`${bp}.filters`, `Invalid value: ${type} filter cannot be repeated`);
              seenTypes.add(type);
              if (type === 'RequestHeaderModifier' || type === 'ResponseHeaderModifier') {
                if (type === 'RequestHeaderModifier') ownRequest = f.requestHeaderModifier;
                else ownResponse = f.responseHeaderModifier;
              } else cx.warn(fp, `${type} in backendRefs[].filters is ignored, as kgateway ignores it ("filter policy is not supported on backendRef"): the requests drawn to this backend are sent as they are. In the rule's filters it applies to every request of the rule`);
            } else unsupported = true;
          });
          if (seenTypes.has('RequestRedirect') && seenTypes.has('URLRewrite')) {
            cx.error(`${bp}.filters`, 'Invalid value: May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both');
          }
          if (unsupported) {
            cx.error(
              `${bp}.filters`,
              'backendRefs[].filters other than RequestHeaderModifier and ResponseHeaderModifier (applied) and RequestMirror, RequestRedirect, URLRewrite and a DirectResponse (ignored, as kgateway ignores them) are not supported by jwtgate, and a filter may not be skipped: the rule answers 500. kgateway applies them to the requests drawn to this backend (a TrafficPolicy ExtensionRef with jwtAuth included); with one backendRef, move them to the rule\'s filters',
            );
          }
        }
        if (!checkBackendRef(b, bp, cx)) return;
        // An unsupported kind is an unresolved reference (ResolvedRefs False, InvalidKind, reported
        // when references are resolved): only its weight's share gets 500, not the whole rule.
        backendRefs.push({
          ...(backendRefKind(b.group, b.kind) ? {} : { unsupportedKind: true as const }),
          index: j,
          group: b.group,
          kind: b.kind,
          name: b.name,
          namespace: b.namespace ?? ns,
          ...(b.port !== undefined ? { port: b.port } : {}),
          weight: b.weight,
          ...(ownRequest !== undefined ? { requestHeaderModifier: ownRequest } : {}),
          ...(ownResponse !== undefined ? { responseHeaderModifier: ownResponse } : {}),
        });
      });
    }
  }
  const invalid = firstError();
  const requestMirrors = invalid === undefined && requestRedirect === undefined && direct === undefined ? mirrors : [];
  return {
    index: i,
    ...(r.name !== undefined ? { name: r.name } : {}),
    matches,
    policyFilters,
    backendRefs,
    ...(requestHeaderModifier !== undefined ? { requestHeaderModifier } : {}),
    ...(requestRedirect !== undefined ? { requestRedirect } : {}),
    ...(direct !== undefined ? { directResponse: direct } : {}),
    ...(urlRewrite !== undefined ? { urlRewrite } : {}),
    ...(cors !== undefined ? { cors } : {}),
    ...(requestMirrors.length > 0 ? { requestMirrors } : {}),
    ...(responseHeaderModifier !== undefined ? { responseHeaderModifier } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(retry !== undefined ? { retry } : {}),
    ...(invalid !== undefined ? { invalid } : {}),
  };
}

type MatchSpec = Infer<typeof match>;

/** The CRD's rules: a filter's configuration is in the field its type names, and no other. */
function checkFilterFields(rf: Record<string, unknown>, type: string, fp: string, cx: ParseCtx): void {
  for (const [t, field] of Object.entries(FILTER_FIELDS)) {
    const set = rf[field] !== undefined && rf[field] !== null;
    if (t === type && !set && t !== 'ExtensionRef') cx.error(`${fp}.${field}`, `Required value: filter.${field} must be specified for ${t} filter.type`);
    if (t !== type && set) cx.error(`${fp}.${field}`, `Forbidden: filter.${field} must be nil if the filter.type is not ${t}`);
  }
}

function objectRef(ref: Infer<typeof backendObjectReference>, ns: string): BackendObjectRefModel {
  return {
    ...(backendRefKind(ref.group, ref.kind) ? {} : { unsupportedKind: true as const }),
    group: ref.group,
    kind: ref.kind,
    name: ref.name,
    namespace: ref.namespace ?? ns,
    ...(ref.port !== undefined ? { port: ref.port } : {}),
  };
}

/**
 * Envoy's runtime_fraction for a mirror: `percent` over 100, as kgateway's getFractionPercent
 * writes it; `fraction` as the float64 ratio times a million, truncated (uint32()), over a
 * million: the share Gateway API means. kgateway's toEnvoyPercentage multiplies the ratio by
 * 10,000 instead (it expects a percentage), so kgateway mirrors 1/100 of a `fraction`; jwtgate
 * does not copy that bug (README, RequestMirror). Neither: every request (100/100).
 */
function mirrorFraction(m: Infer<typeof requestMirror>): { numerator: number; denominator: 100 | 1_000_000 } {
  if (m.percent !== undefined) return { numerator: m.percent, denominator: 100 };
  if (m.fraction !== undefined) return { numerator: Math.trunc((m.fraction.numerator / m.fraction.denominator) * 1_000_000), denominator: 1_000_000 };
  return { numerator: 100, denominator: 100 };
}

function isDirectResponseFilter(x: unknown): boolean {
  if (x === null || typeof x !== 'object' || (x as { type?: unknown }).type !== 'ExtensionRef') return false;
  const er = (x as { extensionRef?: unknown }).extensionRef;
  return er !== null && typeof er === 'object' && (er as { group?: unknown }).group === KGATEWAY_GROUP && (er as { kind?: unknown }).kind === 'DirectResponse' && typeof (er as { name?: unknown }).name === 'string';
}

function isMirrorFilter(x: unknown): boolean {
  return x !== null && typeof x === 'object' && (x as { type?: unknown }).type === 'RequestMirror';
}

/** A RequestMirror in a backendRef's filters: checked as the CRD checks it, then ignored with a warning. */
function backendRefMirror(x: unknown, fp: string, cx: ParseCtx): void {
  const e0 = cx.errors;
  const f = filter.parse(x, fp, cx);
  if (!f) return;
  checkFilterFields(x as Record<string, unknown>, 'RequestMirror', fp, cx);
  if (f.requestMirror !== undefined && cx.errors === e0) checkBackendRef(f.requestMirror.backendRef, `${fp}.requestMirror.backendRef`, cx);
  if (cx.errors !== e0) return;
  cx.warn(fp, 'RequestMirror in backendRefs[].filters is ignored, as kgateway ignores it ("filter policy is not supported on backendRef"): no copy is sent. In the rule\'s filters it mirrors every request of the rule');
}

/** A broken match as little as it could have matched: its path when that part is valid, else every path. */
function widenedMatch(rm: unknown, index: number, mp: string, cx: ParseCtx): MatchModel {
  const quiet = new ParseCtx(cx.resource, []);
  const rawPath = rm !== null && typeof rm === 'object' ? (rm as Record<string, unknown>)['path'] : undefined;
  const pathOnly = match.parse(rawPath === undefined ? {} : { path: rawPath }, mp, quiet);
  const compiled = pathOnly && quiet.errors === 0 ? compileMatch(pathOnly, index, mp, quiet) : undefined;
  const path = compiled && quiet.errors === 0 ? compiled.path : { type: 'PathPrefix' as const, value: '/' };
  return { index, path, headers: [], queryParams: [], widened: true };
}

function compileMatch(m: MatchSpec, index: number, mp: string, cx: ParseCtx): MatchModel | undefined {
  let widened = false;
  const refused = () => (widened = true);
  const pathType = m.path.type;
  let value = m.path.value;
  let path: PathMatch;
  const pp = `${mp}.path.value`;
  if (pathType === 'RegularExpression') {
    const r = compileAnchored(value);
    // A refused pattern keeps its match, widened to what it could match, so the rule (answered
    // with 500) still catches its requests: dropped, they would fall through to another route
    // without this rule's JWT check.
    if (!r.ok) {
      cx.error(pp, r.error);
      widened = true;
    }
    path = { type: 'RegularExpression', value, regex: r.ok ? r.regex : overApproximation(value) };
  } else {
    if (!value.startsWith('/')) {
      cx.error(pp, `Invalid value: "${value}": value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']`);
      return undefined;
    }
    for (const bad of ['//', '/./', '/../', '%2f', '%2F', '#']) {
      if (value.includes(bad)) {
        cx.error(pp, `Invalid value: "${value}": must not contain '${bad}' when type one of ['Exact', 'PathPrefix']`);
        return undefined;
      }
    }
    if (value.endsWith('/..') || value.endsWith('/.')) {
      cx.error(pp, `Invalid value: "${value}": must not end with '/..' or '/.' when type one of ['Exact', 'PathPrefix']`);
      return undefined;
    }
    // A PathPrefix ending in '/' is kept as written: kgateway gives Envoy a plain `prefix` for it
    // (path_separated_prefix only for a value not ending in '/'), so "/abc/" does not match
    // "/abc" (the Gateway API text says a trailing '/' is ignored), and it sorts by its written
    // length (routing/match.ts, routing/route-table.ts).
    path = { type: pathType, value };
  }
  const headers: ValueMatch[] = [];
  const seenH = new Set<string>();
  (m.headers ?? []).forEach((h, k) => {
    const name = h.name.toLowerCase();
    if (seenH.has(name)) {
      cx.error(`${mp}.headers[${k}].name`, `Duplicate value: "${h.name}": header names must be unique within a match (case-insensitive)`);
      return;
    }
    seenH.add(name);
    const vm = valueMatch(name, h.type, h.value, `${mp}.headers[${k}].value`, cx, refused);
    if (vm) headers.push(vm);
  });
  const queryParams: ValueMatch[] = [];
  const seenQ = new Set<string>();
  (m.queryParams ?? []).forEach((q, k) => {
    if (seenQ.has(q.name)) {
      cx.error(`${mp}.queryParams[${k}].name`, `Duplicate value: "${q.name}": query parameter names must be unique within a match`);
      return;
    }
    seenQ.add(q.name);
    const vm = valueMatch(q.name, q.type, q.value, `${mp}.queryParams[${k}].value`, cx, refused);
    if (vm) queryParams.push(vm);
  });
  return {
    index,
    path,
    ...(m.method !== undefined ? { method: m.method } : {}),
    headers,
    queryParams,
    ...(widened ? { widened: true } : {}),
  };
}

/** Stands for a refused header or query pattern: any value. */
const ANY_VALUE: Matcher = { test: () => true };

function valueMatch(name: string, type: 'Exact' | 'RegularExpression', value: string, p: string, cx: ParseCtx, refused: () => void): ValueMatch | undefined {
  if (type === 'Exact') return { name, type, value };
  const r = compileAnchored(value);
  if (r.ok) return { name, type, value, regex: r.regex };
  // Refused: any value matches, so the rule (answered with 500) keeps catching its requests.
  cx.error(p, SENSITIVE_NAME.test(name) ? `invalid regular expression (RE2 syntax, as Envoy reads it); not shown: a value matched against ${name} may be a credential` : r.error);
  refused();
  return { name, type, value, regex: ANY_VALUE };
}

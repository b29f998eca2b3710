// TrafficPolicy (gateway.kgateway.dev/v1alpha1): targets (targetRefs / targetSelectors),
// `jwtAuth` (spec §2.1-2.2), `rbac` (§2.3, its expressions compiled by auth/rbac.ts),
// `headerModifiers`, `rateLimit.local`, `timeouts`, `retry`, `cors`, `basicAuth` and
// `apiKeyAuth`. Other policy fields are recognised and reported as ignored; a misspelt field gets
// a "did you mean". Reference resolution happens in compile.ts (the Secrets of `basicAuth` and
// `apiKeyAuth`, and the htpasswd lines, in credentials.ts).

import type { ConfigProblem } from '../errors.js';
import type { RawResource } from './resource.js';
import { compileExpression, JWT_METADATA, type CompiledExpression } from '../auth/rbac.js';
import type { HeaderFilterSpec } from '../proxy/header-mutation.js';
import { any, bool, describe, durationMs, enumOf, int, isObject, list, obj, ParseCtx, str, stringMap, type Infer } from './schema.js';
import type { LocalRateLimitSpec } from '../routing/local-rate-limit.js';
import { parseDuration } from './duration.js';
import { corsPolicy, corsSpec } from './validate-cors.js';
import type { CorsSpec } from '../proxy/cors.js';
import { RETRY_ON, type RetryOn, type RetrySpec } from '../proxy/retry.js';
import type { ApiKeySource } from '../auth/api-key-auth.js';
import { asciiLower, type CsrfSpec, type OriginMatcher } from '../auth/csrf.js';
import { compileAnchored } from '../routing/regex.js';
import { quantityValue } from './quantity.js';
import { DEFAULT_CONTENT_TYPES, DEFAULT_MIN_CONTENT_LENGTH, type Codec, type CodecConfig } from '../proxy/compression.js';
import { badEscape, compilePathRegex, maxSubmatch, type PathRegexRewrite } from '../proxy/path-regex-rewrite.js';
import { kgatewayHeaderFilter, type KgatewayHeaderFilterSpec } from './validate-header-filter.js';
import { documentSchema, GATEWAY_API_GROUP, refSuggestion, group, HEADER_NAME, headerName, kind, markFatal, namespaceName, objectName, policyTargetRef, sectionName, type PolicyTargetRef, modelBase } from './validate-common.js';
import { extAuthBufferSettings } from './validate-gateway-extension.js';

/**
 * kgateway TrafficPolicy fields jwtgate does not implement (yet) whose absence kgateway's
 * behaviour depends on for what reaches the upstream: ignoring one would let through requests
 * kgateway denies (an `extAuth` server, an OAuth2 login, an `acl`, a prompt guard), answers
 * itself (`directResponse`) or changes (`transformation`'s headers and bodies), as
 * an HTTPRoute filter that cannot be applied must not be skipped. A policy that sets one is
 * invalid: its routes fail closed with kgateway's 500. Each with what it would have done.
 */
const REFUSED: Readonly<Record<string, string>> = {
  oauth2: 'requests without its login',
  acl: 'requests its rules would deny',
  extProc: 'requests its external processor would deny or change',
  ai: 'requests its prompt guard or AI settings would deny or change',
  directResponse: 'requests it would answer itself, to the backend (for a fixed answer, name a DirectResponse in an HTTPRoute rule\'s ExtensionRef filter)',
  transformation: 'requests and responses it would rewrite',
};

/** The other kgateway TrafficPolicy fields jwtgate does not implement (yet): warnings. */
const NOT_SUPPORTED = [
  'hashPolicies',
  // Fields of later kgateway versions: known, not applied.
  'tracing',
  'faultInjection',
  'internalRedirect',
];

const targetSelector = obj({
  group: group(),
  kind: kind(),
  matchLabels: stringMap(),
  sectionName: sectionName().optional(),
});

// ExtAuthPolicy: the GatewayExtension to ask (its ext_authz filter turned on here) or `disable`
// (every ext auth filter off here, kgateway's global_disable/ext_auth metadata).
const extAuth = obj(
  {
    extensionRef: obj({ name: objectName(), namespace: namespaceName().optional() }).optional(),
    withRequestBody: extAuthBufferSettings.optional(),
    contextExtensions: stringMap().optional(),
    disable: obj({}).optional(),
  },
  { exactlyOneOf: [['extensionRef', 'disable']] },
);

const jwtAuth = obj(
  {
    extensionRef: obj({ name: objectName(), namespace: namespaceName().optional() }).optional(),
    disable: obj({}).optional(),
  },
  { exactlyOneOf: [['extensionRef', 'disable']] },
);

// shared.Authorization (spec §2.3): every expression is parsed and checked here, as kgateway
// parses it and Envoy builds it; one it or Envoy refuses makes the policy invalid (its routes 500).
const matchExpression = str({ min: 1, max: 16384, noShellVarCheck: true }).map((source, path, cx): CompiledExpression | undefined => {
  const r = compileExpression(source);
  if (r.ok) return r.match;
  cx.error(path, r.error);
  return undefined;
});

const CLAIMS_READ = new RegExp(`\\[\\s*(['"])${JWT_METADATA.replace(/\./g, '\\.')}\\1\\s*\\]\\s*[[.]`);

const rbac = obj({
  action: enumOf(['Allow', 'Deny'] as const).default('Allow'),
  policy: obj({
    matchExpressions: list(matchExpression, { min: 1, max: 256 }),
  }),
});

// kgateway's HeaderModifiers (shared.HeaderModifiers): Envoy's header_mutation filter, per route,
// in the route stage (after the JWT and RBAC filters, before the router).
const headerModifiers = obj(
  {
    request: kgatewayHeaderFilter('headerModifiers.request', 'request').optional(),
    response: kgatewayHeaderFilter('headerModifiers.response', 'response').optional(),
  },
  {
    refused: {
      filterStage:
        'filterStage is not supported by this jwtgate version (its header rules run after the JWT and rbac checks, kgateway\'s default stage): the policy is rejected so that its routes fail closed (500) instead of changing headers at another point',
    },
  },
);

// kgateway's RateLimit: `local` is Envoy's local_ratelimit filter per route (applied); `global`
// needs a rate limit service (a RateLimit GatewayExtension) jwtgate does not call: warned about.
const INT32_MAX = 2 ** 31 - 1;
const tokenBucket = obj({
  maxTokens: int({ min: 1, max: INT32_MAX }),
  tokensPerFill: int({ min: 1, max: INT32_MAX }).default(1),
  fillInterval: durationMs({ minMs: 50 }),
});
const localRateLimit = obj({
  tokenBucket: tokenBucket.optional(),
  percentEnabled: int({ min: 0, max: 100 }).optional(),
  percentEnforced: int({ min: 0, max: 100 }).optional(),
});
const rateLimit = obj(
  { local: localRateLimit.optional() },
  { ignored: { global: 'rateLimit.global ignored: jwtgate does not call a rate limit service (a RateLimit GatewayExtension) yet, so only rateLimit.local limits requests' } },
);

// kgateway's Timeouts (shared.Timeouts): the Envoy route's timeout and idle_timeout.
const timeouts = obj({ request: durationMs().optional(), streamIdle: durationMs().optional() });

// kgateway's Retry: Envoy's route retry policy (policy.BuildRetryPolicy). The CRD's rule that
// retryOn or statusCodes is set is checked in validateTrafficPolicy, on the written fields.
const retry = obj(
  {
    retryOn: list(enumOf(RETRY_ON), { min: 1 }).optional(),
    attempts: int({ min: 0, max: INT32_MAX }).default(1),
    perTryTimeout: durationMs({ minMs: 1 }).optional(),
    statusCodes: list(int({ min: 400, max: 599 }), { min: 1 }).optional(),
    backoffBaseInterval: durationMs({ minMs: 1 }).default(25),
  },
  {
    // Fields of newer kgateway builds.
    ignored: {
      retryHostPredicates: 'retry.retryHostPredicates ignored: not applied by this jwtgate version (a retry may go to a backend host an earlier attempt of the request already tried)',
      rateLimitedBackOff: "retry.rateLimitedBackOff ignored: not applied by this jwtgate version (the backoff between retries is the exponential one from backoffBaseInterval; the upstream's rate-limit reset headers are not read)",
    },
  },
);

// kgateway's BasicAuthPolicy (basic_auth_types.go): exactly one of `users` (htpasswd lines),
// `secretRef` (a Secret's htpasswd key, `.htpasswd` by default) and `disable`. The lines are
// checked in compile.ts (credentials.ts), as kgateway checks them when it translates the policy.
const basicAuth = obj(
  {
    // Never quoted in a message: a line holds a password hash (or a password).
    users: list(str({ secret: true }), { min: 1, max: 256 }).optional(),
    secretRef: obj({ name: objectName(), namespace: namespaceName().optional(), key: str({ min: 1 }).default('.htpasswd') }).optional(),
    disable: obj({}).optional(),
  },
  { exactlyOneOf: [['users', 'secretRef', 'disable']], exactlyOneOfCel: true },
);

// kgateway's CSRFPolicy: at most one of percentageEnabled and percentageShadowed (0-100, no
// defaults), and up to 16 additional origins, each a shared.StringMatcher (exactly one of exact,
// prefix, suffix, contains, safeRegex; ignoreCase for the first four).
const stringMatcher = obj(
  {
    exact: str({ max: 1024 }).optional(),
    prefix: str({ max: 1024 }).optional(),
    suffix: str({ max: 1024 }).optional(),
    contains: str({ max: 1024 }).optional(),
    safeRegex: str({ min: 1, max: 1024 }).optional(),
    ignoreCase: bool().optional(),
  },
  { exactlyOneOf: [['exact', 'prefix', 'suffix', 'contains', 'safeRegex']], exactlyOneOfCel: true },
);

const csrf = obj({
  percentageEnabled: int({ min: 0, max: 100 }).optional(),
  percentageShadowed: int({ min: 0, max: 100 }).optional(),
  additionalOrigins: list(stringMatcher, { max: 16 }).optional(),
});

// kgateway's APIKeySource: one place to read the key from. The CRD's rule (at least one of the
// three is set) and what Envoy makes of more than one are checked in validateTrafficPolicy, on
// the written fields.
const apiKeySource = obj({
  header: str({ min: 1, max: 256 }).optional(),
  query: str({ min: 1, max: 256 }).optional(),
  cookie: str({ min: 1, max: 256 }).optional(),
});

// kgateway's APIKeyAuth: exactly one of `secretRef` (a Gateway API SecretObjectReference),
// `secretSelector` and `disable`; the key sources (`[{header: api-key}]` when none), whether the
// key goes on to the upstream, and the header that carries the client id (Envoy's Forwarding:
// its PGV rule is a header name of at most 1024 characters).
const apiKeyAuth = obj(
  {
    keySources: list(apiKeySource, { max: 16 }).optional(),
    forwardCredential: bool().optional(),
    clientIdHeader: headerName(1024).optional(),
    secretRef: obj({ group: group().default(''), kind: kind().default('Secret'), name: objectName(), namespace: namespaceName().optional() }).optional(),
    secretSelector: obj(
      { matchLabels: stringMap() },
      {
        refused: {
          matchExpressions:
            'matchExpressions is a field of kgateway versions newer than the one jwtgate follows, and jwtgate does not implement it: the policy is rejected so that its routes fail closed (500) instead of accepting the keys of Secrets it would not select; select with matchLabels',
        },
      },
    ).optional(),
    disable: obj({}).optional(),
  },
  { exactlyOneOf: [['secretRef', 'secretSelector', 'disable']], exactlyOneOfCel: true },
);

// kgateway's URLRewrite (2.2): `pathRegex`, the Envoy route's regex_rewrite (its one field, which
// the CRD requires).
const urlRewrite = obj({
  pathRegex: obj({ pattern: str({ min: 1, max: 1024 }), substitution: str({ min: 1, max: 1024 }) }),
});

// kgateway's Buffer (2.1): Envoy's buffer filter on the route, with its byte limit, or `disable`
// (exactly one). maxRequestSize is a resource.Quantity (an integer or a quantity string).
const buffer = obj(
  {
    maxRequestSize: any().optional(),
    disable: obj({}).optional(),
  },
  { exactlyOneOf: [['maxRequestSize', 'disable']], exactlyOneOfCel: true },
);

// kgateway's Compression: Envoy's compressor filters on the route's responses (gzip by default;
// brotli and zstd from kgateway 2.4, the minimum length and content types on its main branch),
// and its decompressor on request bodies.
const compressionLibraries = list(enumOf(['Gzip', 'Brotli', 'Zstd'] as const), { min: 1, max: 3 });
const compression = obj({
  responseCompression: obj({
    libraries: compressionLibraries.optional(),
    minContentLengthBytes: int({ min: 0, max: INT32_MAX }).optional(),
    contentTypes: list(str({ min: 1, max: 256 }), { min: 1, max: 50 }).optional(),
    disable: obj({}).optional(),
  }).optional(),
  requestDecompression: obj({ libraries: compressionLibraries.optional(), disable: obj({}).optional() }).optional(),
});

/** Envoy's max_request_bytes is a uint32; the CRD's rule keeps the size under 4Gi. */
const BUFFER_MAX_EXCLUSIVE = 4294967296n;

const spec = obj(
  {
    targetRefs: list(policyTargetRef, { min: 1, max: 16 }).optional(),
    targetSelectors: list(targetSelector, { min: 1, max: 16 }).optional(),
    jwtAuth: jwtAuth.optional(),
    extAuth: extAuth.optional(),
    rbac: rbac.optional(),
    headerModifiers: headerModifiers.optional(),
    rateLimit: rateLimit.optional(),
    timeouts: timeouts.optional(),
    retry: retry.optional(),
    cors: corsPolicy.optional(),
    basicAuth: basicAuth.optional(),
    apiKeyAuth: apiKeyAuth.optional(),
    csrf: csrf.optional(),
    urlRewrite: urlRewrite.optional(),
    buffer: buffer.optional(),
    autoHostRewrite: bool().optional(),
    compression: compression.optional(),
  },
  {
    legacy: {
      jwt: 'spec.jwt is the older name (also used by the jwt-claim-extraction docs): use spec.jwtAuth: {extensionRef: {name: <GatewayExtension>}}',
    },
    refused: Object.fromEntries(
      Object.entries(REFUSED).map(([f, what]) => [f, `${f} is not supported by this jwtgate version: the policy is rejected so that its routes fail closed (500) instead of passing on ${what}`]),
    ),
    ignored: Object.fromEntries(NOT_SUPPORTED.map((f) => [f, `${f} ignored: not supported yet by this jwtgate version`])),
  },
);

const document = documentSchema(spec);

export type TargetSelector = Infer<typeof targetSelector>;

export interface TargetRefModel extends PolicyTargetRef {
  readonly path: string;
}

export interface TrafficPolicyModel {
  readonly raw: RawResource;
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  readonly targetRefs: readonly TargetRefModel[];
  readonly targetSelectors: readonly (TargetSelector & { readonly path: string })[];
  /**
   * Targets of kinds kgateway attaches to and jwtgate does not serve (GRPCRoute, ListenerSet,
   * XListenerSet): they attach to nothing here; compile.ts says what their requests get.
   */
  readonly unservedTargets: readonly UnservedTarget[];
  /** `jwtAuth`, when set: an extension (namespace defaulted to the policy's) or disable. */
  readonly jwtAuth?: { readonly kind: 'extension'; readonly namespace: string; readonly name: string } | { readonly kind: 'disable' };
  /** `extAuth`, when set: a GatewayExtension (namespace defaulted to the policy's) with the policy's body settings, or disable. */
  readonly extAuth?: { readonly kind: 'extension'; readonly namespace: string; readonly name: string; readonly body?: { readonly maxBytes: number; readonly partial: boolean } } | { readonly kind: 'disable' };
  /** `rbac`, when set and every expression compiled (else the policy is invalid). */
  readonly rbac?: { readonly action: 'Allow' | 'Deny'; readonly expressions: readonly CompiledExpression[]; readonly readsClaims: boolean };
  /** `headerModifiers`, when set (an empty one still wins its level, as kgateway merges it, and so removes a less specific route-side policy's rules). */
  readonly headerModifiers?: { readonly request?: KgatewayHeaderFilterSpec; readonly response?: KgatewayHeaderFilterSpec };
  /** `rateLimit.local`, when set and valid: a bucket, or `{}` (turns a less specific level's off). */
  readonly localRateLimit?: LocalRateLimitSpec;
  /** `cors`, when set: its CorsPolicy, or `disabled` (`cors.disable`: the filter is off where this level is the most specific). */
  readonly cors?: CorsSpec | 'disabled';
  /** `timeouts`, when set: the route timeout and the stream idle timeout in ms (0 = none). */
  readonly timeouts?: { readonly requestMs?: number; readonly streamIdleMs?: number };
  /** `retry`, when set and valid: the Envoy route retry policy kgateway builds from it. */
  readonly retry?: RetrySpec;
  /** `basicAuth`, when set and its union valid: its inline htpasswd lines, the Secret key holding them, or disable. */
  readonly basicAuth?: BasicAuthModel;
  /** `apiKeyAuth`, when set and its union valid: where its keys come from with its key sources and forwarding, or disable. */
  readonly apiKeyAuth?: ApiKeyAuthModel;
  /** `csrf`, when set and valid: Envoy's CsrfPolicy as kgateway writes it. */
  readonly csrf?: CsrfSpec;
  /** `urlRewrite.pathRegex`, when set and its pattern compiled: the Envoy route's regex_rewrite. */
  readonly urlRewrite?: PathRegexRewrite;
  /** `compression.responseCompression`, when set and valid: the compressors it enables (a codec Node.js lacks left out), or `disabled`. */
  readonly responseCompression?: readonly CodecConfig[] | 'disabled';
  /** `compression.requestDecompression`, when set: the codecs whose request bodies are inflated, or `disabled`. */
  readonly requestDecompression?: readonly Codec[] | 'disabled';
  /** `autoHostRewrite`, when set (and the policy targets HTTPRoutes only): Envoy's route auto_host_rewrite. */
  readonly autoHostRewrite?: boolean;
  /** `buffer`, when set and valid: the byte limit of Envoy's buffer filter, or `disabled`. */
  readonly buffer?: number | 'disabled';
  readonly valid: boolean;
  readonly error?: string;
}

/** A TrafficPolicy `basicAuth`, before its lines are checked and its Secret read (compile.ts). */
export type BasicAuthModel =
  | { readonly kind: 'users'; readonly users: readonly string[] }
  | { readonly kind: 'secret'; readonly namespace: string; readonly name: string; readonly key: string }
  | { readonly kind: 'disable' };

/** A TrafficPolicy `apiKeyAuth`, before its Secrets are read (compile.ts). */
export type ApiKeyAuthModel =
  | { readonly kind: 'disable' }
  | {
      readonly kind: 'keys';
      /** `secretRef` (its namespace defaulted to the policy's) or `secretSelector`. */
      readonly secrets:
        | { readonly kind: 'ref'; readonly group: string; readonly refKind: string; readonly namespace: string; readonly name: string }
        | { readonly kind: 'selector'; readonly matchLabels: Readonly<Record<string, string>> };
      /** Each key source as Envoy reads it (one place each), `[{header: api-key}]` when none is given. */
      readonly sources: readonly ApiKeySource[];
      /** `!forwardCredential`. */
      readonly hideCredentials: boolean;
      /** `clientIdHeader`, lowercase. */
      readonly clientIdHeader?: string;
    };

export interface UnservedTarget {
  readonly group: string;
  readonly kind: string;
  /** A targetRef's name; undefined for a selector. */
  readonly name?: string;
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly sectionName?: string;
  readonly path: string;
}

const SUPPORTED_KINDS = new Set(['Gateway', 'HTTPRoute']);
const TARGET_KINDS = [[GATEWAY_API_GROUP, 'Gateway'], [GATEWAY_API_GROUP, 'HTTPRoute'], [GATEWAY_API_GROUP, 'GRPCRoute'], [GATEWAY_API_GROUP, 'ListenerSet'], ['gateway.networking.x-k8s.io', 'XListenerSet']] as const;
const TARGET_PATH = /^spec\.target(Refs|Selectors)(\[|\.|$)/;

function checkTarget(t: { group: string; kind: string }, p: string, cx: ParseCtx): boolean | 'unserved' {
  // A required field that failed its schema (already reported with its path) leaves the item
  // incomplete: it targets nothing.
  if (typeof t.kind !== 'string' || typeof t.group !== 'string') return false;
  if (SUPPORTED_KINDS.has(t.kind)) {
    if (t.group !== GATEWAY_API_GROUP) {
      cx.warn(`${p}.group`, `group "${t.group}" with kind ${t.kind}: kgateway only matches gateway.networking.k8s.io/${t.kind}, so this target is ignored${refSuggestion(t.group, t.kind, TARGET_KINDS)}`);
      return false;
    }
    return true;
  }
  // Warned about in compile.ts, which knows what the requests for that target get.
  if (t.kind === 'GRPCRoute' || t.kind.endsWith('ListenerSet')) return 'unserved';
  cx.error(`${p}.kind`, `Unsupported value: "${t.kind}": supported target kinds: Gateway, HTTPRoute, GRPCRoute, *ListenerSet${refSuggestion(t.group, t.kind, TARGET_KINDS)}`);
  return false;
}

export function validateTrafficPolicy(raw: RawResource, problems: ConfigProblem[]): TrafficPolicyModel {
  const cx = ParseCtx.for(raw, problems);
  const before = problems.length;
  const doc = document.parse(raw.object, '', cx);
  const s = doc?.spec;
  const targetRefs: TargetRefModel[] = [];
  const unservedTargets: UnservedTarget[] = [];
  (s?.targetRefs ?? []).forEach((t, i) => {
    const p = `spec.targetRefs[${i}]`;
    if (typeof t.name !== 'string') return;
    const r = checkTarget(t, p, cx);
    if (r === 'unserved') unservedTargets.push({ group: t.group, kind: t.kind, name: t.name, ...(t.sectionName !== undefined ? { sectionName: t.sectionName } : {}), path: p });
    else if (r) targetRefs.push({ ...t, path: p });
  });
  const targetSelectors: (TargetSelector & { path: string })[] = [];
  (s?.targetSelectors ?? []).forEach((t, i) => {
    const p = `spec.targetSelectors[${i}]`;
    const labels = t.matchLabels as unknown;
    if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) return;
    const r = checkTarget(t, p, cx);
    if (r === 'unserved') unservedTargets.push({ group: t.group, kind: t.kind, matchLabels: t.matchLabels, ...(t.sectionName !== undefined ? { sectionName: t.sectionName } : {}), path: p });
    else if (r) targetSelectors.push({ ...t, path: p });
  });
  // `jwtAuth:` with nothing under it (an extensionRef indented one level too little, `~`):
  // kubectl drops the null and the policy would enforce nothing; refused so its targets fail
  // closed and `check` says why.
  const rawSpec = raw.object['spec'];
  if (rawSpec !== null && typeof rawSpec === 'object' && 'jwtAuth' in rawSpec && (rawSpec as Record<string, unknown>)['jwtAuth'] === null) {
    cx.error('spec.jwtAuth', 'jwtAuth is empty (null): is its extensionRef indented under it? Write jwtAuth: {extensionRef: {name: <GatewayExtension>}} or jwtAuth: {disable: {}}');
  }
  // The same for the other access checks: kubectl drops the null and the routes would serve
  // without the credentials the policy asks for.
  for (const [f, fields] of [['basicAuth', 'users, secretRef'], ['apiKeyAuth', 'secretRef, secretSelector'], ['extAuth', 'extensionRef']] as const) {
    if (isObject(rawSpec) && f in rawSpec && rawSpec[f] === null) cx.error(`spec.${f}`, `${f} is empty (null): are its ${fields} indented under it? Write ${f}: {${fields.split(', ')[0]}: ...} or ${f}: {disable: {}}`);
  }
  // Targets the API server refuses (no kind, a name that is not a string, an empty list, an
  // unsupported kind) leave the policy attached to nothing, so its routes would serve without
  // the JWT check it asks for, and there is no target to fail closed: `serve` refuses to start.
  markFatal(problems, undefined, (path) => TARGET_PATH.test(path), ' (the policy cannot tell what it targets: serve refuses to start)', before);
  let jwt: TrafficPolicyModel['jwtAuth'];
  const ref = s?.jwtAuth?.extensionRef;
  // A name that failed its schema (reported with its path) names no extension.
  if (ref && typeof ref.name === 'string') jwt = { kind: 'extension', namespace: ref.namespace ?? raw.namespace, name: ref.name };
  else if (s?.jwtAuth?.disable) jwt = { kind: 'disable' };
  let extAuthM: TrafficPolicyModel['extAuth'];
  const ea = s?.extAuth;
  if (ea?.extensionRef && typeof ea.extensionRef.name === 'string') {
    const b = ea.withRequestBody;
    extAuthM = { kind: 'extension', namespace: ea.extensionRef.namespace ?? raw.namespace, name: ea.extensionRef.name, ...(b?.maxRequestBytes !== undefined ? { body: { maxBytes: b.maxRequestBytes, partial: b.allowPartialMessage ?? false } } : {}) };
  } else if (ea?.disable) extAuthM = { kind: 'disable' };
  if (ea?.contextExtensions !== undefined) cx.warn('spec.extAuth.contextExtensions', 'contextExtensions reach a gRPC authorization server only (Envoy puts them in its check request): no effect with an httpService');
  if (ea?.withRequestBody?.packAsBytes) cx.warn('spec.extAuth.withRequestBody.packAsBytes', 'packAsBytes has no effect with an httpService (the body is sent as it is)');
  // An expression that did not compile made the policy invalid (never applied, its routes 500).
  const exprs = s?.rbac?.policy?.matchExpressions;
  const sources = (raw.object['spec'] as { rbac?: { policy?: { matchExpressions?: unknown } } } | undefined)?.rbac?.policy?.matchExpressions;
  // A read of jwt_authn's metadata (['envoy.filters.http.jwt_authn'][...] or .payload), not a
  // presence test ('envoy.filters.http.jwt_authn' in metadata.filter_metadata).
  const readsClaims = Array.isArray(sources) && sources.some((e) => typeof e === 'string' && CLAIMS_READ.test(e));
  const rbacModel = s?.rbac !== undefined && exprs !== undefined ? { action: s.rbac.action, expressions: exprs, readsClaims } : undefined;
  const localRateLimit = localRateLimitModel(s?.rateLimit?.local, raw.object['spec'], cx);
  // The CRD's rule on the pair: a retry's perTryTimeout must be under the request timeout.
  const perTry = isObject(rawSpec) && isObject(rawSpec['retry']) ? parseDuration(rawSpec['retry']['perTryTimeout']) : undefined;
  if (perTry?.ok && s?.timeouts?.request !== undefined && perTry.ms >= s.timeouts.request) {
    cx.error('spec.retry.perTryTimeout', 'Invalid value: retry.perTryTimeout must be less than timeouts.request');
  }
  const retryModel = retrySpec(s?.retry, rawSpec, cx);
  const tm = s?.timeouts;
  const c = s?.cors;
  if (c?.disable !== undefined) {
    const others = Object.keys((rawSpec as { cors?: Record<string, unknown> }).cors ?? {}).filter((k) => k !== 'disable' && k !== 'maxAge');
    if (others.length > 0) cx.warn('spec.cors.disable', `disable turns CORS off here: ${others.join(', ')} ignored`);
  }
  const corsModel: CorsSpec | 'disabled' | undefined = c === undefined ? undefined : c.disable !== undefined ? 'disabled' : corsSpec(c);
  const basicAuthM = basicAuthModel(s?.basicAuth, rawSpec, raw.namespace);
  const csrfM = csrfModel(s?.csrf, rawSpec, cx);
  const apiKeyAuthM = apiKeyAuthModel(s?.apiKeyAuth, rawSpec, raw.namespace, cx);
  const urlRewriteM = urlRewriteModel(s?.urlRewrite, rawSpec, cx);
  const autoHost = routeOnlyField('autoHostRewrite', rawSpec, cx) ? s?.autoHostRewrite : undefined;
  const bufferM = bufferModel(s?.buffer, cx);
  const compressionM = responseCompressionModel(s?.compression, rawSpec, cx);
  const decompressionM = requestDecompressionModel(s?.compression, cx);
  return {
    ...modelBase(raw, cx, problems, before),
    targetRefs,
    targetSelectors,
    unservedTargets,
    ...(jwt !== undefined ? { jwtAuth: jwt } : {}),
    ...(extAuthM !== undefined ? { extAuth: extAuthM } : {}),
    ...(rbacModel !== undefined ? { rbac: rbacModel } : {}),
    ...(s?.headerModifiers !== undefined ? { headerModifiers: s.headerModifiers } : {}),
    ...(localRateLimit !== undefined ? { localRateLimit } : {}),
    ...(corsModel !== undefined ? { cors: corsModel } : {}),
    ...(retryModel !== undefined ? { retry: retryModel } : {}),
    ...(basicAuthM !== undefined ? { basicAuth: basicAuthM } : {}),
    ...(csrfM !== undefined ? { csrf: csrfM } : {}),
    ...(apiKeyAuthM !== undefined ? { apiKeyAuth: apiKeyAuthM } : {}),
    ...(urlRewriteM !== undefined ? { urlRewrite: urlRewriteM } : {}),
    ...(bufferM !== undefined ? { buffer: bufferM } : {}),
    ...(compressionM !== undefined ? { responseCompression: compressionM } : {}),
    ...(decompressionM !== undefined ? { requestDecompression: decompressionM } : {}),
    ...(typeof autoHost === 'boolean' ? { autoHostRewrite: autoHost } : {}),
    ...(tm !== undefined ? { timeouts: { ...(tm.request !== undefined ? { requestMs: tm.request } : {}), ...(tm.streamIdle !== undefined ? { streamIdleMs: tm.streamIdle } : {}) } } : {}),
    valid: cx.errors === 0,
  };
}

/**
 * `compression` as kgateway writes Envoy's compressor filters: `responseCompression` enables one per
 * library (gzip when none is listed), each with Envoy's defaults unless minContentLengthBytes or
 * contentTypes (which replaces Envoy's list) say otherwise; `disable` turns them all off here.
 * Zstd needs Node.js 22: left out with a warning (the client gets another codec, or no
 * compression). `requestDecompression` is not applied yet: warned about.
 */
function responseCompressionModel(c: Infer<typeof compression> | undefined, rawSpec: unknown, cx: ParseCtx): readonly CodecConfig[] | 'disabled' | undefined {
  if (c === undefined) return undefined;
  const raw = isObject(rawSpec) && isObject(rawSpec['compression']) ? rawSpec['compression'] : {};
  if (raw['responseCompression'] === undefined && raw['requestDecompression'] === undefined) {
    cx.error('spec.compression', 'Invalid value: at least one of responseCompression, requestDecompression must be set');
    return undefined;
  }
  for (const side of ['responseCompression', 'requestDecompression'] as const) {
    const libs = c[side]?.libraries;
    if (libs !== undefined && new Set(libs).size !== libs.length) cx.error(`spec.compression.${side}.libraries`, 'Invalid value: libraries must not contain duplicates');
  }
  const r = c.responseCompression;
  if (r === undefined) return undefined;
  if (r.disable !== undefined) return 'disabled';
  const libs = r.libraries ?? ['Gzip'];
  if (libs.includes('Zstd')) {
    cx.warn('spec.compression.responseCompression.libraries', `Zstd is not available in Node.js ${process.versions.node.split('.')[0]} (it needs 22.15 or later): responses are compressed with ${libs.length > 1 ? 'the other libraries' : 'nothing'} instead, as Envoy serves a client that does not accept zstd`);
  }
  const contentTypes = new Set((r.contentTypes ?? DEFAULT_CONTENT_TYPES).map((t) => t.trim().toLowerCase()));
  const minLength = r.minContentLengthBytes ?? DEFAULT_MIN_CONTENT_LENGTH;
  return libs.flatMap((l): CodecConfig[] => (l === 'Gzip' ? [{ codec: 'gzip', minLength, contentTypes }] : l === 'Brotli' ? [{ codec: 'br', minLength, contentTypes }] : []));
}

/**
 * `compression.requestDecompression` as kgateway writes Envoy's decompressor filters: one per
 * library (gzip when none is listed) inflating request bodies, or `disable`. Zstd needs Node.js
 * 22: left out with a warning (a zstd body goes to the upstream as it came).
 */
function requestDecompressionModel(c: Infer<typeof compression> | undefined, cx: ParseCtx): readonly Codec[] | 'disabled' | undefined {
  const d = c?.requestDecompression;
  if (d === undefined) return undefined;
  if (d.disable !== undefined) return 'disabled';
  const libs = d.libraries ?? ['Gzip'];
  if (libs.includes('Zstd')) {
    cx.warn('spec.compression.requestDecompression.libraries', `Zstd is not available in Node.js ${process.versions.node.split('.')[0]} (it needs 22.15 or later): a request body in zstd goes to the upstream as it came, with its content-encoding`);
  }
  return libs.flatMap((l): Codec[] => (l === 'Gzip' ? ['gzip'] : l === 'Brotli' ? ['br'] : []));
}

/**
 * `buffer` as kgateway writes Envoy's BufferPerRoute: `disabled`, or `max_request_bytes` from
 * maxRequestSize (Quantity.Value(), a fraction rounded up), which the CRD's rule keeps over 0 and
 * under 4Gi: a YAML integer or a quantity string ("1Mi", "512Ki", "65536").
 */
function bufferModel(b: Infer<typeof buffer> | undefined, cx: ParseCtx): number | 'disabled' | undefined {
  if (b === undefined) return undefined;
  if (b.disable !== undefined) return b.maxRequestSize === undefined ? 'disabled' : undefined;
  const v = b.maxRequestSize;
  if (v === undefined || v === null) return undefined;
  const p = 'spec.buffer.maxRequestSize';
  let bytes: bigint;
  let positive: boolean;
  if (typeof v === 'number' && Number.isInteger(v)) {
    bytes = BigInt(v);
    positive = v > 0;
  } else if (typeof v === 'string') {
    const q = quantityValue(v);
    if (!q.ok) {
      cx.error(p, `Invalid value: ${describe(v, cx, p)}: ${q.error} (a size such as "1Mi", "512Ki" or 65536)`);
      return undefined;
    }
    bytes = q.value;
    positive = q.positive;
  } else {
    cx.error(p, `Invalid value: ${describe(v, cx, p)}: must be an integer or a quantity string such as "1Mi"`);
    return undefined;
  }
  // The CRD's rule, on the value written (a fraction above 0 passes it, and rounds up to 1).
  if (!positive || bytes >= BUFFER_MAX_EXCLUSIVE) {
    cx.error(p, `Invalid value: ${describe(v, cx, p)}: maxRequestSize must be greater than 0 and less than 4Gi`);
    return undefined;
  }
  return Number(bytes);
}

/**
 * The CRD's rule for the fields of the Envoy route itself (`urlRewrite`, `autoHostRewrite`): only a
 * policy whose every target is an HTTPRoute may set them (one with no target, named by a rule's
 * ExtensionRef filter, may). False when the field is absent or the rule refuses it.
 */
function routeOnlyField(field: 'urlRewrite' | 'autoHostRewrite', rawSpec: unknown, cx: ParseCtx): boolean {
  if (!isObject(rawSpec) || rawSpec[field] === undefined) return false;
  const targets = [...(Array.isArray(rawSpec['targetRefs']) ? rawSpec['targetRefs'] : []), ...(Array.isArray(rawSpec['targetSelectors']) ? rawSpec['targetSelectors'] : [])];
  if (targets.some((t) => !isObject(t) || t['kind'] !== 'HTTPRoute')) {
    cx.error(`spec.${field}`, `Invalid value: ${field} can only be used when targeting HTTPRoute resources (it is a field of an Envoy route: target the HTTPRoute, or name a policy without targetRefs in a rule's ExtensionRef filter)`);
    return false;
  }
  return true;
}

/**
 * `urlRewrite.pathRegex` as kgateway builds the Envoy route's regex_rewrite: the pattern compiled
 * as RE2 (kgateway compiles it when it builds the policy; one that does not compile makes the
 * policy invalid, so its routes answer 500), the substitution as written. The CRD's rule: only a
 * policy whose every target is an HTTPRoute may set it (one with no target, named by an
 * ExtensionRef filter, may). What RE2 makes of a substitution it cannot use is warned about.
 */
function urlRewriteModel(u: Infer<typeof urlRewrite> | undefined, rawSpec: unknown, cx: ParseCtx): PathRegexRewrite | undefined {
  if (!routeOnlyField('urlRewrite', rawSpec, cx)) return undefined;
  const pr = u?.pathRegex;
  // A field that failed its schema (reported with its path) leaves the policy invalid.
  if (pr === undefined || typeof pr.pattern !== 'string' || typeof pr.substitution !== 'string') return undefined;
  const r = compilePathRegex(pr.pattern, pr.substitution);
  if (!r.ok) {
    cx.error('spec.urlRewrite.pathRegex.pattern', r.error);
    return undefined;
  }
  const p = 'spec.urlRewrite.pathRegex.substitution';
  const bad = badEscape(pr.substitution);
  if (r.rewrite.refused) {
    const n = maxSubmatch(pr.substitution);
    const groups = r.rewrite.re.groupCount();
    cx.warn(p, `the substitution uses \\${n} but the pattern has ${groups === 0 ? 'no capture group' : groups === 1 ? 'one capture group' : `${groups} capture groups`}: Envoy's RE2 refuses to substitute, so no path is ever rewritten`);
  } else if (bad !== undefined) {
    cx.warn(p, `"${bad.text}" is not an escape RE2 substitutes (only \\0 to \\9 and \\\\): Envoy writes the substitution up to it and drops the rest (use \\1 for a group; named groups cannot be referred to)`);
  }
  if (!r.rewrite.refused && /\$[0-9{]/.test(pr.substitution)) cx.warn(p, 'RE2 reads "$1" as literal text: refer to a group as \\1');
  // A match at the start of the path replaced by text that does not start with `/` leaves a
  // target Envoy sends and origins refuse (jwtgate answers 400): almost always a forgotten `/`.
  if (!r.rewrite.refused && pr.pattern.startsWith('^') && !/^[/\\]/.test(pr.substitution)) {
    cx.warn(p, `a path the pattern matches (it is anchored at the start) becomes one that does not start with "/" ("${pr.substitution.length > 40 ? `${pr.substitution.slice(0, 40)}…` : pr.substitution}"): such requests are answered 400 (Envoy sends them, origin servers refuse them); start the substitution with "/"`);
  }
  return r.rewrite;
}

/**
 * `retry` as kgateway's BuildRetryPolicy writes Envoy's route retry policy: `retry_on` the given
 * conditions, plus `retriable-status-codes` with statusCodes (sorted, without repeats),
 * `num_retries` attempts, the status codes, the per-try timeout and the backoff base interval.
 * The CRD's rule on the type: retryOn or statusCodes is set.
 */
function retrySpec(r: Infer<typeof retry> | undefined, rawSpec: unknown, cx: ParseCtx): RetrySpec | undefined {
  const raw = isObject(rawSpec) && isObject(rawSpec['retry']) ? rawSpec['retry'] : undefined;
  if (raw === undefined) return undefined;
  const set = (k: string): boolean => raw[k] !== undefined && raw[k] !== null;
  if (!set('retryOn') && !set('statusCodes')) {
    cx.error('spec.retry', 'Invalid value: retryOn or statusCodes must be set');
    return undefined;
  }
  // A field that failed its schema (reported with its path) leaves the policy invalid.
  if (r === undefined || typeof r.attempts !== 'number' || typeof r.backoffBaseInterval !== 'number') return undefined;
  const statusCodes = r.statusCodes ?? [];
  const on: RetryOn[] = [...(r.retryOn ?? [])];
  if (statusCodes.length > 0) on.push('retriable-status-codes');
  return {
    retryOn: [...new Set(on)].sort(),
    numRetries: r.attempts,
    statusCodes,
    ...(r.perTryTimeout !== undefined ? { perTryTimeoutMs: r.perTryTimeout } : {}),
    backoffBaseMs: r.backoffBaseInterval,
  };
}

/**
 * `rateLimit.local` as kgateway translates it: every field unset (`local: {}`) is its "disable"
 * config (a bucket Envoy never consults, filter_enabled 0%), which wins over a less specific
 * level's as any per-route config does; otherwise the per-route config needs a `tokenBucket`
 * (Envoy refuses a per-route local_ratelimit without one, so kgateway's whole route configuration
 * update would be refused).
 */
function localRateLimitModel(local: Infer<typeof localRateLimit> | undefined, rawSpec: unknown, cx: ParseCtx): LocalRateLimitSpec | undefined {
  const rawLocal = isObject(rawSpec) && isObject(rawSpec['rateLimit']) ? rawSpec['rateLimit']['local'] : undefined;
  if (local === undefined || !isObject(rawLocal)) return undefined;
  const set = (k: string): boolean => rawLocal[k] !== undefined && rawLocal[k] !== null;
  if (!set('tokenBucket') && !set('percentEnabled') && !set('percentEnforced')) return { kind: 'disabled' };
  if (!set('tokenBucket')) {
    cx.error('spec.rateLimit.local.tokenBucket', 'Required value: percentEnabled and percentEnforced need a tokenBucket (Envoy refuses a per-route local rate limit without one); write rateLimit.local: {} to turn a less specific policy\'s limit off');
    return undefined;
  }
  const b = local.tokenBucket;
  if (b === undefined || typeof b.maxTokens !== 'number' || typeof b.fillInterval !== 'number' || typeof b.tokensPerFill !== 'number') return undefined;
  return {
    kind: 'bucket',
    bucket: { maxTokens: b.maxTokens, tokensPerFill: b.tokensPerFill, fillIntervalMs: b.fillInterval },
    percentEnabled: local.percentEnabled ?? 100,
    percentEnforced: local.percentEnforced ?? 100,
  };
}

/**
 * `basicAuth` as compile.ts resolves it: the member of its union that is set (the CRD's rule on
 * the written fields: none or two is its error, and no model). A `users` list with an item that
 * failed its schema (reported at its index) gives none either: the policy is invalid.
 */
function basicAuthModel(b: Infer<typeof basicAuth> | undefined, rawSpec: unknown, ns: string): BasicAuthModel | undefined {
  const raw = isObject(rawSpec) && isObject(rawSpec['basicAuth']) ? rawSpec['basicAuth'] : undefined;
  if (b === undefined || raw === undefined) return undefined;
  const set = (['users', 'secretRef', 'disable'] as const).filter((k) => raw[k] !== undefined && raw[k] !== null);
  if (set.length !== 1) return undefined;
  if (set[0] === 'disable') return b.disable !== undefined ? { kind: 'disable' } : undefined;
  if (set[0] === 'users') {
    const items = raw['users'];
    return Array.isArray(items) && b.users !== undefined && b.users.length === items.length && items.length > 0 ? { kind: 'users', users: b.users } : undefined;
  }
  const r = b.secretRef;
  if (r === undefined || typeof r.name !== 'string' || typeof r.key !== 'string') return undefined;
  return { kind: 'secret', namespace: r.namespace ?? ns, name: r.name, key: r.key };
}

// Envoy's PGV rule on KeySource.header and .cookie (HTTP_HEADER_NAME, not strict): no NUL, CR or LF.
const NOT_IN_HEADER_NAME = /[\0\r\n]/;
const SOURCE_KINDS = ['header', 'query', 'cookie'] as const;

/**
 * `apiKeyAuth` as compile.ts resolves it: its secrets (the member of the union that is set, as
 * for basicAuth) and its key sources as Envoy reads them. A KeySource reads ONE place: its header
 * if it names one, else its query parameter, else its cookie (api_key_auth.cc); kgateway copies
 * the three fields as written and its docs describe a fallback within a source, which Envoy does
 * not do: warned about, naming what is ignored.
 */
function apiKeyAuthModel(a: Infer<typeof apiKeyAuth> | undefined, rawSpec: unknown, ns: string, cx: ParseCtx): ApiKeyAuthModel | undefined {
  const raw = isObject(rawSpec) && isObject(rawSpec['apiKeyAuth']) ? rawSpec['apiKeyAuth'] : undefined;
  if (raw === undefined) return undefined;
  const has = (o: Record<string, unknown>, k: string): boolean => o[k] !== undefined && o[k] !== null;
  const sources: ApiKeySource[] = [];
  const rawSources = raw['keySources'];
  if (Array.isArray(rawSources)) {
    rawSources.forEach((src: unknown, i) => {
      const p = `spec.apiKeyAuth.keySources[${i}]`;
      if (!isObject(src)) return; // reported by the schema
      const set = SOURCE_KINDS.filter((k) => has(src, k));
      if (set.length === 0) {
        cx.error(p, 'at least one of the fields in [header query cookie] must be set');
        return;
      }
      const kind = set[0]!;
      const name = src[kind];
      if (typeof name !== 'string' || name === '') return; // reported by the schema
      if (set.length > 1) {
        const ignored = set.slice(1).map((k) => `${k} "${typeof src[k] === 'string' ? src[k] : ''}"`);
        cx.warn(
          p,
          `${andList(set)} are set: Envoy's api_key_auth reads only the first of header, query, cookie that a key source sets, so this one reads ${kind} "${name}" and ignores ${andList(ignored)} (kgateway's docs describe a fallback within a source that Envoy does not do): give each its own keySources entry, in the order they are to be tried`,
        );
      }
      if (kind !== 'query' && NOT_IN_HEADER_NAME.test(name)) {
        cx.error(`${p}.${kind}`, `Invalid value: a ${kind} name with a NUL, CR or LF character: Envoy refuses it (the key source's HTTP_HEADER_NAME rule)`);
        return;
      }
      if (kind === 'header' && !HEADER_NAME.test(name)) cx.warn(`${p}.header`, `"${name}" is not an HTTP header name (RFC 7230 token): no request has such a header, so this key source never finds a key`);
      sources.push({ kind, name: kind === 'header' ? name.toLowerCase() : name });
    });
  }
  const set = (['secretRef', 'secretSelector', 'disable'] as const).filter((k) => has(raw, k));
  if (a === undefined || set.length !== 1) return undefined;
  if (set[0] === 'disable') {
    const others = ['keySources', 'forwardCredential', 'clientIdHeader'].filter((k) => has(raw, k));
    if (others.length > 0) cx.warn('spec.apiKeyAuth.disable', `disable turns API key authentication off here: ${others.join(', ')} ignored`);
    return a.disable !== undefined ? { kind: 'disable' } : undefined;
  }
  let secrets: Extract<ApiKeyAuthModel, { kind: 'keys' }>['secrets'];
  if (set[0] === 'secretRef') {
    const r = a.secretRef;
    if (r === undefined || typeof r.name !== 'string' || typeof r.group !== 'string' || typeof r.kind !== 'string') return undefined;
    secrets = { kind: 'ref', group: r.group, refKind: r.kind, namespace: r.namespace ?? ns, name: r.name };
  } else {
    const labels = a.secretSelector?.matchLabels;
    if (labels === undefined) return undefined;
    secrets = { kind: 'selector', matchLabels: labels };
  }
  const hideCredentials = a.forwardCredential !== true;
  const clientIdHeader = a.clientIdHeader?.toLowerCase();
  // Envoy sets the client id header, then (credentials hidden) removes every key source's header.
  if (clientIdHeader !== undefined && hideCredentials && sources.some((x) => x.kind === 'header' && x.name === clientIdHeader)) {
    cx.warn('spec.apiKeyAuth.clientIdHeader', `${clientIdHeader} is also a key source's header: Envoy sets it to the client id, then removes it with the credentials (forwardCredential is not true), so the upstream never gets the client id`);
  }
  return {
    kind: 'keys',
    secrets,
    // kgateway's default when keySources is empty.
    sources: sources.length > 0 ? sources : [{ kind: 'header', name: 'api-key' }],
    hideCredentials,
    ...(clientIdHeader !== undefined ? { clientIdHeader } : {}),
  };
}

/** `a`, `a and b`, `a, b and c`. */
function andList(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/**
 * `csrf` as kgateway writes Envoy's CsrfPolicy: filter_enabled `percentageEnabled`% (0 when
 * unset: such a policy checks nothing, and on a route it turns off a Gateway's), shadow_enabled
 * `percentageShadowed`% when set, the additional origins as Envoy StringMatchers (a safeRegex
 * Envoy's RE2 refuses makes the policy invalid, as Envoy would refuse the configuration).
 */
function csrfModel(c: Infer<typeof csrf> | undefined, rawSpec: unknown, cx: ParseCtx): CsrfSpec | undefined {
  const raw = isObject(rawSpec) && isObject(rawSpec['csrf']) ? rawSpec['csrf'] : undefined;
  if (c === undefined || raw === undefined) return undefined;
  if (c.percentageEnabled !== undefined && c.percentageShadowed !== undefined) {
    cx.error('spec.csrf', 'at most one of the fields in [percentageEnabled percentageShadowed] may be set');
    return undefined;
  }
  if (c.percentageEnabled === undefined || c.percentageEnabled === 0) {
    cx.warn(
      'spec.csrf',
      c.percentageShadowed !== undefined
        ? `percentageShadowed only: requests are checked (Envoy counts them in its stats) and none is refused`
        : 'without percentageEnabled (or with 0) kgateway writes the filter at 0%: this csrf checks nothing, and on a route it turns off a csrf of the listener or Gateway; set percentageEnabled: 100 to enforce it',
    );
  }
  const origins: OriginMatcher[] = [];
  let ok = true;
  (c.additionalOrigins ?? []).forEach((m, i) => {
    const p = `spec.csrf.additionalOrigins[${i}]`;
    const kind = (['exact', 'prefix', 'suffix', 'contains', 'safeRegex'] as const).find((k) => m[k] !== undefined);
    if (kind === undefined) return void (ok = false);
    const value = m[kind]!;
    if (kind === 'safeRegex') {
      if (m.ignoreCase !== undefined) cx.warn(`${p}.ignoreCase`, 'ignoreCase has no effect on safeRegex (Envoy); write (?i) in the pattern');
      const r = compileAnchored(value);
      if (!r.ok) {
        cx.error(`${p}.safeRegex`, r.error);
        ok = false;
        return;
      }
      origins.push({ kind, value, ignoreCase: false, regex: r.regex });
      return;
    }
    // Envoy's StringMatcher: prefix, suffix and contains need at least one byte (it refuses the configuration).
    if (value === '' && kind !== 'exact') {
      cx.error(`${p}.${kind}`, `Invalid value: an empty ${kind}: Envoy refuses it (at least 1 byte), so kgateway's configuration would be refused; an empty ${kind} would match every origin`);
      ok = false;
      return;
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) cx.warn(`${p}.${kind}`, `"${value}" has a scheme: Envoy matches the origin's host[:port] only (https://a.example.com is compared as a.example.com), so this never matches as written`);
    const ignoreCase = m.ignoreCase === true;
    origins.push({ kind, value: ignoreCase ? asciiLower(value) : value, ignoreCase });
  });
  if (!ok) return undefined;
  return { enabledPercent: c.percentageEnabled ?? 0, ...(c.percentageShadowed !== undefined ? { shadowPercent: c.percentageShadowed } : {}), additionalOrigins: origins };
}

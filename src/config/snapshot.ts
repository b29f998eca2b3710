// The compiled, frozen configuration snapshot: everything the request path reads. Built once
// per config load by src/config/compile.ts (YAML -> validated resources -> this), never mutated
// afterwards, and swapped atomically by src/gateway.ts. Nothing in here parses, imports keys or
// compiles regexes on the request path: all of that is done when the snapshot is built.

import type { BodyFormat } from '../proxy/body-format.js';
import type { RbacPolicy } from '../auth/rbac.js';
import type { BasicAuthPolicy } from '../auth/basic-auth.js';
import type { ApiKeyAuthPolicy } from '../auth/api-key-auth.js';
import type { CsrfPolicy } from '../auth/csrf.js';
import type { ExtAuthEntry } from '../auth/ext-authz.js';
import type { KeyObject } from 'node:crypto';
import type { ConfigProblem } from '../errors.js';
import type { RemoteTlsSpec } from '../types.js';
import type { Matcher } from '../routing/regex.js';
import type { HeaderOp, RouteHeaderMutation } from '../proxy/header-mutation.js';
import type { RouteRedirect, RouteRewrite } from '../proxy/redirect.js';
import type { RouteRateLimit, TokenBucket } from '../routing/local-rate-limit.js';
import type { RouteCors } from '../proxy/cors.js';
import type { RouteRetry } from '../proxy/retry.js';
import type { RouteMirror } from '../proxy/mirror.js';
import type { PolicyBuffer } from '../routing/policy-attachment.js';
import type { Codec, RouteCompression } from '../proxy/compression.js';

export interface Snapshot {
  /** Monotonic, bumped on every build. */
  readonly generation: number;
  /** One uWS listen socket per port; listeners of all Gateways sharing a port are merged. */
  readonly ports: ReadonlyMap<number, PortTable>;
  /** GatewayExtensions of type jwt, by `namespace/name`. */
  readonly extensions: ReadonlyMap<string, JwtExtension>;
  /** Key sets by id (local: imported now; remote: fetched by the refresher). */
  readonly keySets: ReadonlyMap<string, KeySetSource>;
  /** Every upstream target a route can send to, by BackendTarget.key. */
  readonly backends: ReadonlyMap<string, BackendTarget>;
  /** Per-resource `Accepted` (and for policies `Attached`) conditions, as `check` prints them. */
  readonly statuses: readonly ResourceStatus[];
  /** Every problem found (errors and warnings), with resource and field path. */
  readonly problems: readonly ConfigProblem[];
  /**
   * The `rateLimit.local` buckets of this snapshot by place and settings: a reload's compile takes
   * over those whose key is unchanged, so their tokens carry over.
   */
  readonly rateLimitBuckets?: ReadonlyMap<string, TokenBucket>;
}

export interface ResourceStatus {
  /** `Kind/namespace/name` */
  readonly resource: string;
  readonly source?: string;
  readonly conditions: readonly Condition[];
  /**
   * A TrafficPolicy's ancestors (kgateway `status.ancestors[].ancestorRef`): the Gateways it
   * reaches; each carries `conditions` under controllerName kgateway.dev/kgateway.
   */
  readonly ancestors?: readonly AncestorRef[];
}

export interface AncestorRef {
  readonly group: string;
  readonly kind: 'Gateway';
  readonly namespace: string;
  readonly name: string;
}

export interface Condition {
  readonly type: 'Accepted' | 'Attached' | 'ResolvedRefs' | 'Programmed' | 'kgateway.dev/Programmed';
  readonly status: 'True' | 'False';
  readonly reason: string;
  readonly message: string;
}

export interface PortTable {
  readonly port: number;
  /** Listeners on this port, most specific hostname first (exact, then longest wildcard, then none). */
  readonly listeners: readonly Listener[];
  /** Some listener here has early header rules: the request's listener is picked before routing to apply them. */
  readonly earlyHeaderRules?: true;
}

export interface Listener {
  /** Gateway `namespace/name`. */
  readonly gateway: string;
  readonly name: string;
  readonly port: number;
  /** Lowercase; `*.example.com` allowed; undefined = any host. */
  readonly hostname?: string;
  readonly routes: RouteTable;
  /**
   * Its Gateway's `earlyRequestHeaderModifier` for this port (ListenerPolicy, HTTPListenerPolicy):
   * Envoy's early header mutation, applied before the connection manager's own fields and routing.
   */
  readonly earlyHeaderOps?: readonly HeaderOp[];
  /** Set when a Gateway- or listener-level policy is invalid: every request gets this 500. */
  readonly invalid?: string;
}

/** Routes of one listener, grouped by host. Each array is already sorted by Gateway API precedence. */
export interface RouteTable {
  /** Lowercase host without port -> routes. */
  readonly exact: ReadonlyMap<string, readonly CompiledRoute[]>;
  /** `*.example.com` patterns, longest suffix first; `suffix` is `.example.com`. */
  readonly wildcard: readonly { readonly suffix: string; readonly routes: readonly CompiledRoute[] }[];
  /** Routes that apply to any host of the listener (HTTPRoute without hostnames). */
  readonly any: readonly CompiledRoute[];
}

/** One (HTTPRoute, rule, match) triple. */
/** Envoy's route `direct_response` as kgateway writes it from a DirectResponse. */
export interface RouteDirectResponse {
  readonly status: number;
  /** '' when the DirectResponse has none: no body, no content-type. */
  readonly body: string;
  /** `bodyFormat`: the body formatted for each request (then `body` is ''). */
  readonly bodyFormat?: BodyFormat;
  /** `DirectResponse/namespace/name`. */
  readonly from: string;
}

export interface CompiledRoute {
  /** `namespace/route-name/rule-index/match-index`, for logs and config_dump. */
  readonly id: string;
  /** HTTPRoute `namespace/name`. */
  readonly route: string;
  readonly ruleName?: string;
  readonly path: PathMatch;
  /** Uppercase method, or undefined for any. */
  readonly method?: string;
  readonly headers: readonly ValueMatch[];
  readonly queryParams: readonly ValueMatch[];
  readonly auth: RouteAuth;
  /**
   * Claim header names the JWT stage may add (every `auth.jwt` extension's `sanitizeHeaders`):
   * protected from `Connection` stripping; when non-empty the route is re-matched after auth.
   */
  readonly claimHeaders: readonly string[];
  readonly backends: readonly WeightedBackend[];
  /** Sum of weights (0 = no backend: 500). */
  readonly totalWeight: number;
  /** Header rules (RequestHeaderModifier / ResponseHeaderModifier filters, TrafficPolicy headerModifiers). */
  readonly headerMutation?: RouteHeaderMutation;
  /** A RequestRedirect filter: answered with this redirect (after JWT and rbac) instead of proxied. */
  readonly redirect?: RouteRedirect;
  /** A kgateway DirectResponse (HTTPRoute ExtensionRef filter): the rule answers with it, after the checks, instead of proxying. */
  readonly directResponse?: RouteDirectResponse;
  /** A URLRewrite filter: the Host and path sent upstream. */
  readonly rewrite?: RouteRewrite;
  /** CORS (HTTPRoute CORS filter, TrafficPolicy `cors`): Envoy's cors filter, before the JWT check. */
  readonly cors?: RouteCors;
  /** The route timeout and stream idle timeout (HTTPRoute rule `timeouts`, TrafficPolicy `timeouts`); undefined: the gateway's defaults. */
  readonly timeouts?: RouteTimeouts;
  /** TrafficPolicy `rateLimit.local` (Envoy's local_ratelimit, after JWT and rbac): 429 when its bucket is empty. */
  readonly rateLimit?: RouteRateLimit;
  /** Retries (HTTPRoute rule `retry`, TrafficPolicy `retry`): Envoy's route retry policy, run by the forwarder. */
  readonly retry?: RouteRetry;
  /** TrafficPolicy `compression.requestDecompression`: the codecs of request bodies Envoy's decompressor filters inflate. */
  readonly decompression?: readonly Codec[];
  /** TrafficPolicy `compression.responseCompression`: Envoy's compressor filters on the route's proxied answers. */
  readonly compression?: RouteCompression;
  /** TrafficPolicy `autoHostRewrite`: a Backend's upstream requests carry their endpoint's host as Host. */
  readonly autoHostRewrite?: boolean;
  /** The policy it comes from (`id@Level`), for config_dump. */
  readonly autoHostRewriteFrom?: string;
  /**
   * TrafficPolicy `buffer` (Envoy's buffer filter, after the rate limit): the whole request body is
   * read, up to `maxBytes` (413 `Payload Too Large` past it), before the request goes on.
   */
  readonly buffer?: PolicyBuffer;
  /** RequestMirror filters: copies of the requests sent to other backends, their answers discarded. */
  readonly mirrors?: readonly RouteMirror[];
  /** Set when this route carries an invalid policy/backend: answered with ROUTE_CONFIG_INVALID. */
  readonly invalid?: string;
}

/** A route's timeouts in ms (0 = none). */
export interface RouteTimeouts {
  /** Envoy's route timeout: the HTTPRoute rule's, else a TrafficPolicy's `timeouts.request`; undefined: `--upstream-timeout-ms`. */
  readonly requestMs?: number;
  /** Envoy's route idle_timeout: TrafficPolicy `timeouts.streamIdle`. */
  readonly idleMs?: number;
  /** Where they come from, for config_dump. */
  readonly origins: readonly string[];
}

export interface PathMatch {
  readonly type: 'Exact' | 'PathPrefix' | 'RegularExpression';
  readonly value: string;
  /** Compiled when type is RegularExpression (anchored ^…$, full-path match as in Envoy safe_regex). */
  readonly regex?: Matcher;
}

export interface ValueMatch {
  /** Header names lowercase; query param names as written (case-sensitive). */
  readonly name: string;
  readonly type: 'Exact' | 'RegularExpression';
  readonly value: string;
  readonly regex?: Matcher;
}

/** What the JWT stage does on a route, after all policy precedence is folded in. */
export interface RouteAuth {
  /**
   * Extensions that run, in Envoy filter order (`jwt/<ns>/<name>` ascending). Each must pass
   * (an AND across extensions; spec §2.4). Empty = no JWT on this route (incl. `disable`).
   */
  readonly jwt: readonly JwtExtension[];
  /** Where each entry came from: `TrafficPolicy/ns/name@Gateway|Listener|HTTPRoute|Rule|ExtensionRef`. */
  readonly origins: readonly string[];
  /** True when a `jwtAuth.disable` policy applies. */
  readonly disabled: boolean;
  /** The effective `rbac` (Envoy's RBAC filter, after the JWT filters), when a policy sets one. */
  readonly rbac?: RbacPolicy;
  /** The effective `apiKeyAuth` (Envoy's api_key_auth, the first authentication filter), unless none or disabled. */
  readonly apiKeyAuth?: ApiKeyAuthPolicy;
  /** The effective `basicAuth` (Envoy's basic_auth, after api_key_auth and before jwt_authn), unless none or disabled. */
  readonly basicAuth?: BasicAuthPolicy;
  /** The effective `csrf` (Envoy's csrf filter, in the route stage after the rate limit), when it is enabled. */
  readonly csrf?: CsrfPolicy;
  /** Where a `basicAuth` / `apiKeyAuth` `disable: {}` turned the check off for this route (`TrafficPolicy/ns/name@Level`), for /config_dump. */
  readonly basicAuthOff?: string;
  readonly apiKeyAuthOff?: string;
  /** The ext auth filters that run (Envoy ext_authz with an HTTP service, `ext_auth/<ns>/<name>` order, after basic_auth and before jwt_authn), unless none. */
  readonly extAuth?: readonly ExtAuthEntry[];
  /** Where an `extAuth.disable` turned every ext auth filter off for this route, for /config_dump. */
  readonly extAuthOff?: string;
}

export interface JwtExtension {
  /** `namespace/name` */
  readonly key: string;
  /** `jwt/<namespace>/<name>` (Envoy filter name; sort key). */
  readonly filterName: string;
  /** validationMode AllowMissing (or AllowMissingOrFailed) */
  readonly allowMissing: boolean;
  /**
   * validationMode AllowMissingOrFailed (Envoy allow_missing_or_failed): a request whose token
   * fails every provider passes too, its token forwarded untouched and no claim header added.
   */
  readonly allowFailed: boolean;
  /** Sorted lexicographically by provider key (requires_any order). */
  readonly providers: readonly JwtProvider[];
  /** Lowercase claimsToHeaders header names of every provider: removed from every request first. */
  readonly sanitizeHeaders: readonly string[];
}

export interface JwtProvider {
  /** `<extName>_<extNamespace>_<provider.name>` */
  readonly key: string;
  readonly name: string;
  /** '' = any issuer (also a missing iss). */
  readonly issuer: string;
  /** Normalized (scheme and one trailing slash stripped); null = aud not checked. */
  readonly audiences: readonly string[] | null;
  /** Lowercase header name + prefix ('' = whole value), sorted by lowercase(name)+prefix. */
  readonly headerLocations: readonly { readonly name: string; readonly prefix: string }[];
  /** Query parameter names, sorted. */
  readonly queryLocations: readonly string[];
  /** claim path split on '.', header lowercase. */
  readonly claimsToHeaders: readonly { readonly claim: string; readonly path: readonly string[]; readonly header: string }[];
  readonly forwardToken: boolean;
  readonly clockSkewSeconds: number;
  /** Id into Snapshot.keySets. */
  readonly keySetId: string;
}

/** A key usable for signature checks; imported once when the snapshot is built. */
export interface ImportedKey {
  readonly kid?: string;
  readonly alg?: string;
  readonly kty: 'RSA' | 'EC' | 'oct' | 'OKP';
  /** EC: P-256/P-384/P-521; OKP: Ed25519. */
  readonly crv?: string;
  readonly key: KeyObject;
  /** Short digest of the public key, safe to log. */
  readonly thumbprint: string;
}

export type KeySetSource = LocalKeySet | RemoteKeySet;

export interface LocalKeySet {
  readonly kind: 'local';
  /** e.g. `GatewayExtension/ns/name#provider` */
  readonly id: string;
  readonly keys: readonly ImportedKey[];
}

export interface RemoteKeySet {
  readonly kind: 'remote';
  readonly id: string;
  readonly url: string;
  /** Resolved transport target (Backend/Service host+port; a Static Backend's first host). */
  readonly target?: { readonly host: string; readonly port: number };
  /** A Static Backend's other hosts: fetch attempts go to each host in turn (see RemoteJwksSpec). */
  readonly alternates?: readonly { readonly host: string; readonly port: number }[];
  readonly cacheDurationMs: number;
  /**
   * `asyncFetch` is set. Without it Envoy fetches on demand and does not use a key set past its
   * `cacheDuration`: its keys expire when no fetch has renewed them by then (JwksRefresher).
   */
  readonly asyncFetch: boolean;
  readonly fastListener: boolean;
  readonly failedRefetchDurationMs: number;
  readonly numRetries: number;
  readonly backOffBaseMs: number;
  readonly backOffMaxMs: number;
  /**
   * TLS to the target: a BackendConfigPolicy `spec.tls` targeting the backend, or (none) Node's
   * trust store for an `https://` URL. Undefined: plain HTTP.
   */
  readonly tls?: RemoteTlsSpec;
}

export interface WeightedBackend {
  /**
   * Undefined for a backendRef that does not resolve: its share of the requests gets 500, as
   * kgateway points it at a blackhole cluster answering INTERNAL_SERVER_ERROR.
   */
  readonly target: BackendTarget | undefined;
  readonly weight: number;
  /**
   * With several backendRefs, the header rules of a request drawn to this one: its own filters'
   * (Envoy's weighted cluster, first) with the route's. Undefined: the route's alone.
   */
  readonly headerMutation?: RouteHeaderMutation;
}

export interface BackendTarget {
  /** `Backend/ns/name` or `Service/ns/name:port` */
  readonly key: string;
  /** Endpoints; requests are spread round-robin. */
  readonly endpoints: readonly { readonly host: string; readonly port: number }[];
}

// Builds the frozen Snapshot from loaded resources: validate each kind -> resolve references
// (extensions, ConfigMaps, backends, ReferenceGrants, policy targets) -> attach HTTPRoutes to
// listeners -> fold policies per route -> route tables per port -> statuses. Every problem is
// collected (never the first only); invalid policies turn their targets into 500 direct
// responses as kgateway does (spec §2.5). Runs once per config load, never on the request path.

import { ConfigError, type ConfigProblem } from '../errors.js';
import { hostMatches, hostnameSpecificity, intersectHostnames } from '../routing/hostnames.js';
import { JWT_METADATA } from '../auth/rbac.js';
import { firstInvalid, foldPolicies, NO_AUTH, olderFirst, type AttachedPolicy, type FoldResult, type LevelPolicies, type PolicyHeaders, type PolicyLevel, type PolicyCors, type PolicyRateLimit, type PolicyTimeouts } from '../routing/policy-attachment.js';
import { policyOps, routeLevelOps, type HeaderFilterSpec, type HeaderOp, type RouteHeaderMutation } from '../proxy/header-mutation.js';
import { utf8AsLatin1 } from '../proxy/header-rules.js';
import { asText } from '../proxy/header-format.js';
import { buildRouteTable, type RouteEntry } from '../routing/route-table.js';
import { resolveExtAuth, resolveExtension, type ImportLocalJwks, type ResolvedExtension } from './extensions.js';
import type { ExtAuthProvider } from '../auth/ext-authz.js';
import { resolveBackendTls } from './backend-tls.js';
import { credentialSources, resolveApiKeyAuth, resolveBasicAuth, resolveHeaderModifiers } from './credentials.js';
import { compareAge, creationMs, labelsMatch, resourceId, type RawResource } from './resource.js';
import { ParseCtx } from './schema.js';
import type {
  BackendTarget,
  CompiledRoute,
  RouteDirectResponse,
  Condition,
  JwtExtension,
  JwtProvider,
  KeySetSource,
  Listener,
  PortTable,
  ResourceStatus,
  RouteAuth,
  RouteTimeouts,
  Snapshot,
  WeightedBackend,
} from './snapshot.js';
import { validateResources, type ValidatedConfig } from './validate.js';
import type { BackendModel } from './validate-backend.js';
import { backendRefKind, editDistance, refSuggestion, policyWeight, GATEWAY_API_GROUP, KGATEWAY_GROUP, groupKind, listSome, markFatal, selectorAttachesNothing } from './validate-common.js';
import type { GatewayModel, ListenerModel } from './validate-gateway.js';
import type { BackendObjectRefModel, BackendRefModel, HTTPRouteModel, MirrorModel, RedirectModel, RewriteModel, RuleModel } from './validate-httproute.js';
import type { RouteRedirect, RouteRewrite } from '../proxy/redirect.js';
import type { RouteMirror } from '../proxy/mirror.js';
import { mergeCors, type CorsSpec, type RouteCors } from '../proxy/cors.js';
import { compileRetry, type RouteRetry } from '../proxy/retry.js';
import { TokenBucket, type LocalRateLimitSpec, type RouteRateLimit, type TokenBucketSpec } from '../routing/local-rate-limit.js';
import { referenceAllowed, type BackendConfigPolicyModel, type ReferenceGrantModel } from './validate-misc.js';
import type { TrafficPolicyModel } from './validate-traffic-policy.js';
import type { ListenerPolicyModel } from './validate-listener-policy.js';
import { redactUserinfo } from '../util/host.js';

export interface CompileOptions {
  /** Snapshot.generation (monotonic, chosen by the caller). */
  readonly generation: number;
  /** Services resolve to `NAME.NAMESPACE.svc.<clusterDomain>`; default `cluster.local`. */
  readonly clusterDomain?: string;
  /**
   * kgateway's global policy namespace (`KGW_GLOBAL_POLICY_NAMESPACE`, EP-11584): a TrafficPolicy
   * there attaches through `targetSelectors` to Gateways and HTTPRoutes of every namespace
   * (`targetRefs` stay namespace-local). Unset (kgateway's default): selectors stay in the
   * policy's namespace.
   */
  readonly globalPolicyNamespace?: string;
  /** Clock skew for providers without `clockSkew`, seconds; default 60 (Envoy). */
  readonly defaultClockSkewSeconds?: number;
  /** Problems found by the loader, carried into Snapshot.problems. */
  readonly problems?: readonly ConfigProblem[];
  /** Key importer; default `importLocalJwks` from jwks/import-keys. Tests may inject one. */
  readonly importLocalJwks?: ImportLocalJwks;
  /** The running snapshot's `rateLimit.local` buckets (a reload): those with an unchanged key are kept. */
  readonly previousRateLimitBuckets?: ReadonlyMap<string, TokenBucket>;
}

interface PolicyState {
  readonly model: TrafficPolicyModel;
  readonly attached: AttachedPolicy;
  targetsFound: number;
  referencedByFilter: boolean;
  won: boolean;
  lost: boolean;
  /** Gateways (`ns/name`) the policy reaches, directly or through a route: its status ancestors. */
  readonly ancestors: Set<string>;
  /** What its targets of kinds jwtgate does not serve get (one line per target). */
  readonly unserved: string[];
}

interface ListenerState {
  readonly gw: GatewayModel;
  readonly l: ListenerModel;
  readonly key: string;
  readonly gatewayPolicies: readonly AttachedPolicy[];
  readonly listenerPolicies: readonly AttachedPolicy[];
  invalid?: string;
  /** `invalid` comes from a Gateway-wide policy: the whole port's RouteConfiguration answers 500. */
  invalidWholePort?: boolean;
  /** A listener kgateway would serve and jwtgate cannot: only its own hostname answers 500. */
  readonly failClosed?: true;
  /** A fail-closed listener of a ListenerSet (not in the Gateway's spec.listeners). */
  readonly fromListenerSet?: true;
  readonly byHost: Map<string, RouteEntry[]>;
  readonly any: RouteEntry[];
}

interface RuleState {
  readonly rule: RuleModel;
  readonly filterPolicies: readonly PolicyState[];
  readonly backends: readonly WeightedBackend[];
  readonly totalWeight: number;
  /** The rule's RequestMirrors whose backends resolve, in filter order. */
  readonly mirrors: readonly RouteMirror[];
  /** The DirectResponse its ExtensionRef filter names, resolved. */
  readonly directResponse?: RouteDirectResponse;
  invalid?: string;
}

const nk = (ns: string, name: string): string => `${ns}/${name}`;

/** Compiles resources into a frozen Snapshot (see snapshot.ts). Never throws on bad config. */
export function compileSnapshot(resources: readonly RawResource[], opts: CompileOptions): { snapshot: Snapshot } {
  const problems: ConfigProblem[] = [...(opts.problems ?? [])];
  const clusterDomain = opts.clusterDomain ?? 'cluster.local';
  const v = validateResources(resources, problems);
  refuseListenerPolicyTargets(v.gateways, v.listenerPolicies, problems, opts.globalPolicyNamespace);
  const earlyRules = earlyHeaderRules(v.gateways, v.listenerPolicies, problems, opts.globalPolicyNamespace);

  const gateways = new Map(v.gateways.map((g) => [nk(g.namespace, g.name), g]));
  const routes = new Map(v.routes.map((r) => [nk(r.namespace, r.name), r]));
  const backendModels = new Map(v.backends.map((b) => [nk(b.namespace, b.name), b]));
  const configMaps = new Map(v.configMaps.map((c) => [nk(c.raw.namespace, c.raw.name), c]));

  // --- GatewayExtensions -> JwtExtension + key sets ------------------------------------------
  const backendTls = resolveBackendTls(v.backendConfigPolicies, v.secrets, v.backends, problems, opts.globalPolicyNamespace);
  const tlsRequired = tlsRequiredTargets(v, backendTls, opts.globalPolicyNamespace);
  const keySets = new Map<string, KeySetSource>();
  const resolvedExt = new Map<string, ResolvedExtension>();
  const extensions = new Map<string, JwtExtension>();
  /** extAuth GatewayExtensions by namespace/name: the resolved provider, or why it is invalid. */
  const extAuthProviders = new Map<string, { provider?: ExtAuthProvider; error?: string }>();
  for (const m of v.extensions) {
    const r = resolveExtension(
      m,
      {
        configMaps,
        backends: backendModels,
        referenceGrants: v.referenceGrants,
        clusterDomain,
        defaultClockSkewSeconds: opts.defaultClockSkewSeconds ?? 60,
        backendTls,
        tlsRequired,
        ...(opts.importLocalJwks ? { importLocalJwks: opts.importLocalJwks } : {}),
      },
      problems,
      keySets,
    );
    resolvedExt.set(nk(m.raw.namespace, m.raw.name), r);
    if (r.ext) extensions.set(r.ext.key, r.ext);
    if (m.extensionType === 'extAuth') {
      const ea = resolveExtAuth(m, { configMaps, backends: backendModels, referenceGrants: v.referenceGrants, clusterDomain, defaultClockSkewSeconds: 60, backendTls, tlsRequired }, problems);
      extAuthProviders.set(nk(m.raw.namespace, m.raw.name), ea);
    }
  }

  // --- TrafficPolicies: jwtAuth reference, basicAuth/apiKeyAuth Secrets, validity ------------
  const policies: PolicyState[] = [];
  const policiesByKey = new Map<string, PolicyState>();
  // DirectResponses by namespace/name, for HTTPRoute ExtensionRef filters; those a rule uses.
  const directResponsesByKey = new Map(v.directResponses.map((d) => [nk(d.namespace, d.name), d]));
  const usedDirectResponses = new Set<string>();
  const credentials = credentialSources(v.secrets, v.referenceGrants);
  for (const m of v.policies) {
    const cx = ParseCtx.for(m.raw, problems);
    let invalid = m.valid ? undefined : m.error ?? 'invalid policy';
    let jwtAuth: AttachedPolicy['jwtAuth'];
    if (m.jwtAuth?.kind === 'extension') {
      const key = nk(m.jwtAuth.namespace, m.jwtAuth.name);
      const r = resolvedExt.get(key);
      const p = 'spec.jwtAuth.extensionRef';
      // `msg` is the policy's status message as kgateway writes it (spec §2.2, golden
      // jwt/cross-namespace.yaml: the extension's own error, unprefixed); the problem line names
      // the extension too.
      let msg: string | undefined;
      let problem: string | undefined;
      if (!r) msg = `${key}: gateway extension not found`;
      else if (!r.isJwt) msg = 'expected gatewayextension type JWT';
      else if (!r.ext) {
        msg = r.error ?? 'invalid GatewayExtension';
        problem = `GatewayExtension ${key} is invalid: ${msg}`;
      } else jwtAuth = { kind: 'extension', ext: r.ext };
      if (msg !== undefined) {
        cx.error(p, problem ?? msg);
        invalid ??= msg;
      }
    } else if (m.jwtAuth?.kind === 'disable') jwtAuth = { kind: 'disable' };
    // extAuth: its GatewayExtension, as kgateway's constructExtAuth resolves it.
    let extAuth: AttachedPolicy['extAuth'];
    if (m.extAuth?.kind === 'extension') {
      const key = nk(m.extAuth.namespace, m.extAuth.name);
      const r = resolvedExt.get(key);
      const ea = extAuthProviders.get(key);
      let msg: string | undefined;
      if (!r) msg = `extauth: ${key}: gateway extension not found`;
      else if (r.model.extensionType !== 'extAuth') msg = 'expected gatewayextension type ExtAuth';
      else if (!ea?.provider) msg = `GatewayExtension ${key} is invalid: ${ea?.error ?? 'invalid GatewayExtension'}`;
      else extAuth = { kind: 'extension', provider: ea.provider, ...(m.extAuth.body ? { body: m.extAuth.body } : {}) };
      if (msg !== undefined) {
        cx.error('spec.extAuth.extensionRef', msg);
        invalid ??= msg;
      }
    } else if (m.extAuth?.kind === 'disable') extAuth = { kind: 'disable' };
    // basicAuth and apiKeyAuth: their Secrets and htpasswd lines, as kgateway reads them when it
    // translates the policy (credentials.ts); its error there makes the policy invalid.
    const basicAuth = m.basicAuth ? resolveBasicAuth(m.basicAuth, m.namespace, credentials, cx) : undefined;
    const apiKeyAuth = m.apiKeyAuth ? resolveApiKeyAuth(m.apiKeyAuth, m.namespace, credentials, cx) : undefined;
    // headerModifiers' values from Secrets (newer kgateway), read the same way.
    const headerModifiers = m.headerModifiers ? resolveHeaderModifiers(m.headerModifiers, m.namespace, credentials, cx) : undefined;
    invalid ??= basicAuth?.invalid ?? apiKeyAuth?.invalid ?? headerModifiers?.invalid;
    // kgateway.dev/policy-weight: a higher weight wins a merge conflict within a level.
    const weightText = m.raw.annotations['kgateway.dev/policy-weight'];
    let weight = 0;
    if (weightText !== undefined) {
      // One kgateway cannot parse makes the policy invalid.
      const n = policyWeight(weightText);
      if (n !== undefined) weight = n;
      else {
        const msg = `kgateway.dev/policy-weight must be a 32-bit integer, got "${weightText}"`;
        cx.error('metadata.annotations.kgateway.dev/policy-weight', msg);
        invalid ??= msg;
      }
    }
    const attached: AttachedPolicy = {
      id: resourceId(m.raw),
      namespace: m.namespace,
      name: m.name,
      createdMs: creationMs(m.raw),
      weight,
      ...(jwtAuth ? { jwtAuth } : {}),
      ...(extAuth ? { extAuth } : {}),
      ...(m.rbac ? { rbac: m.rbac } : {}),
      ...(m.localRateLimit ? { localRateLimit: m.localRateLimit } : {}),
      ...(m.timeouts ? { timeouts: m.timeouts } : {}),
      ...(m.retry ? { retry: m.retry } : {}),
      ...(m.cors ? { cors: m.cors } : {}),
      ...(m.csrf ? { csrf: m.csrf } : {}),
      ...(m.urlRewrite ? { urlRewrite: m.urlRewrite } : {}),
      ...(m.buffer !== undefined ? { buffer: m.buffer } : {}),
      ...(m.autoHostRewrite !== undefined ? { autoHostRewrite: m.autoHostRewrite } : {}),
      ...(m.responseCompression !== undefined ? { responseCompression: m.responseCompression } : {}),
      ...(m.requestDecompression !== undefined ? { requestDecompression: m.requestDecompression } : {}),
      ...(basicAuth?.spec !== undefined ? { basicAuth: basicAuth.spec } : {}),
      ...(apiKeyAuth?.spec !== undefined ? { apiKeyAuth: apiKeyAuth.spec } : {}),
      ...(headerModifiers && headerModifiers.invalid === undefined
        ? { headerModifiers: { request: headerModifiers.request ? policyOps(headerModifiers.request, utf8AsLatin1) : [], response: headerModifiers.response ? policyOps(headerModifiers.response, asText) : [] } }
        : {}),
      ...(invalid !== undefined ? { invalid } : {}),
    };
    const st: PolicyState = { model: m, attached, targetsFound: 0, referencedByFilter: false, won: false, lost: false, ancestors: new Set(), unserved: [] };
    policies.push(st);
    policiesByKey.set(nk(m.namespace, m.name), st);
  }
  // A JWT GatewayExtension no TrafficPolicy names checks nothing: worth a word (an example file
  // loaded without its policy, a policy that names another extension by mistake).
  const namedExtensions = new Set(v.policies.flatMap((m) => (m.jwtAuth?.kind === 'extension' ? [nk(m.jwtAuth.namespace, m.jwtAuth.name)] : [])));
  for (const m of v.extensions) {
    const key = nk(m.raw.namespace, m.raw.name);
    if (!resolvedExt.get(key)?.ext || namedExtensions.has(key)) continue;
    ParseCtx.for(m.raw, problems).warn('metadata.name', `GatewayExtension ${key} is not used by any TrafficPolicy (jwtAuth.extensionRef): no route checks its tokens`);
  }

  // --- Policy targets -> attachment indexes --------------------------------------------------
  const atGateway = new Map<string, PolicyState[]>();
  const atListener = new Map<string, PolicyState[]>();
  const atRoute = new Map<string, PolicyState[]>();
  const atRule = new Map<string, PolicyState[]>();
  const push = (map: Map<string, PolicyState[]>, key: string, p: PolicyState): void => {
    const list = map.get(key);
    if (!list) map.set(key, [p]);
    else if (!list.includes(p)) list.push(p);
  };
  /** Attaches `p` to a target; false when the target or its section is not found (warned about unless `quiet`: a selector sums up). */
  const attach = (p: PolicyState, kind: string, name: string, sectionName: string | undefined, path: string, cx: ParseCtx, ns = p.model.namespace, quiet = false): boolean => {
    const key = nk(ns, name);
    if (kind === 'Gateway') {
      const gw = gateways.get(key);
      if (!gw) {
        cx.warn(path, targetNotFound('Gateway', ns, name, v.gateways.map((g) => g.raw)));
        return false;
      }
      if (sectionName !== undefined) {
        const names = [...gw.listeners.map((l) => l.name), ...gw.invalidListeners];
        if (!names.includes(sectionName)) {
          if (!quiet) cx.warn(`${path}.sectionName`, `listener "${sectionName}" not found in Gateway ${key} (listeners: ${names.join(', ') || 'none'}): kgateway silently ignores this target`);
          return false;
        }
        push(atListener, `${key}#${sectionName}`, p);
      } else push(atGateway, key, p);
      p.targetsFound++;
      return true;
    } else if (kind === 'HTTPRoute') {
      const rt = routes.get(key);
      if (!rt) {
        cx.warn(path, targetNotFound('HTTPRoute', ns, name, v.routes.map((r) => r.raw)));
        return false;
      }
      if (sectionName !== undefined) {
        const names = rt.rules.map((r) => r.name).filter((n): n is string => n !== undefined);
        if (!names.includes(sectionName)) {
          if (!quiet) cx.warn(`${path}.sectionName`, `rule "${sectionName}" not found in HTTPRoute ${key} (named rules: ${names.join(', ') || 'none'}): kgateway silently ignores this target`);
          return false;
        }
        push(atRule, `${key}#${sectionName}`, p);
      } else push(atRoute, key, p);
      p.targetsFound++;
      return true;
    }
    return false;
  };
  for (const p of policies) {
    const cx = ParseCtx.for(p.model.raw, problems);
    for (const t of p.model.targetRefs) attach(p, t.kind, t.name, t.sectionName, t.path, cx);
    for (const sel of p.model.targetSelectors) {
      const candidates: RawResource[] =
        sel.kind === 'Gateway' ? v.gateways.map((g) => g.raw) : sel.kind === 'HTTPRoute' ? v.routes.map((r) => r.raw) : [];
      const selected = candidates.filter((r) => labelsMatch(r.labels, sel.matchLabels));
      const global = opts.globalPolicyNamespace !== undefined && p.model.namespace === opts.globalPolicyNamespace;
      const hits = global ? selected : selected.filter((r) => r.namespace === p.model.namespace);
      if (hits.length === 0) {
        const elsewhere = global ? [] : selected.map((r) => `${r.namespace}/${r.name}`);
        cx.warn(sel.path, selectorAttachesNothing(sel.kind, p.model.namespace, elsewhere, opts.globalPolicyNamespace, 'this selector attaches nothing'));
      }
      // A sectionName the selected resources lack is said once for the selector, and only when it
      // attaches nowhere (kgateway says nothing: a label may well be on resources without it).
      let attached = 0;
      for (const h of hits) if (attach(p, sel.kind, h.name, sel.sectionName, sel.path, cx, h.namespace, true)) attached++;
      if (hits.length > 0 && attached === 0 && sel.sectionName !== undefined) {
        cx.warn(`${sel.path}.sectionName`, `${sel.kind === 'Gateway' ? 'listener' : 'rule'} "${sel.sectionName}" is in none of the ${hits.length} ${sel.kind}${hits.length === 1 ? '' : 's'} these matchLabels select (${listSome(hits.map((h) => `${h.namespace}/${h.name}`))}): this selector attaches nothing`);
      }
    }
  }

  // A `disable` that wins over an extensionRef at the same level by the tie-break alone (same
  // weight; then age, then name) turns JWT (or ext auth) off without anyone having said which should win: a
  // second policy added to debug, or left from a test, silently opened the Gateway.
  const tieBreakDisables = (map: Map<string, PolicyState[]>, describe: (key: string) => string, field: 'jwtAuth' | 'extAuth'): void => {
    const off = field === 'jwtAuth' ? 'JWT checking is off there' : 'the ext auth checks are off there';
    for (const [key, list] of map) {
      const sorted = list.filter((p) => p.attached[field] !== undefined && p.attached.invalid === undefined).sort((a, b) => olderFirst(a.attached, b.attached));
      const winner = sorted[0];
      if (winner?.attached[field]?.kind !== 'disable') continue;
      for (const other of sorted.slice(1)) {
        if (other.attached[field]?.kind !== 'extension' || other.attached.weight !== winner.attached.weight) continue;
        const w = winner.attached;
        const o = other.attached;
        const a = `${w.namespace}/${w.name}`;
        const b = `${o.namespace}/${o.name}`;
        const ts = (p: PolicyState): string => p.model.raw.creationTimestamp ?? 'none';
        const by =
          w.createdMs !== o.createdMs
            ? `${a} is older (creationTimestamp ${ts(winner)}, ${b}: ${ts(other)})`
            : `${w.createdMs === Number.POSITIVE_INFINITY ? 'neither has a creationTimestamp' : 'same creationTimestamp'}, so the first by namespace/name, ${a}`;
        ParseCtx.for(winner.model.raw, problems).warn(
          `spec.${field}.disable`,
          `${field}.disable of TrafficPolicy ${a} wins over ${field}.extensionRef of TrafficPolicy ${b} on ${describe(key)} only by the tie-break (same kgateway.dev/policy-weight ${w.weight}; ${by}): ${off}. ` +
            `If that is meant, give ${a} a higher kgateway.dev/policy-weight annotation than ${b}; if not, remove one of the two policies (or give ${b} the higher weight)`,
        );
      }
    }
  };
  const sectionOf = (key: string): [string, string] => {
    const i = key.indexOf('#');
    return [key.slice(0, i), key.slice(i + 1)];
  };
  for (const field of ['jwtAuth', 'extAuth'] as const) {
    tieBreakDisables(atGateway, (k) => `Gateway ${k}`, field);
    tieBreakDisables(atListener, (k) => `listener ${sectionOf(k)[1]} of Gateway ${sectionOf(k)[0]}`, field);
    tieBreakDisables(atRoute, (k) => `HTTPRoute ${k}`, field);
    tieBreakDisables(atRule, (k) => `rule ${sectionOf(k)[1]} of HTTPRoute ${sectionOf(k)[0]}`, field);
  }

  // --- Backends --------------------------------------------------------------------------------
  const backends = new Map<string, BackendTarget>();
  const routeResolved = new Map<string, { ok: boolean; reason?: string; message?: string }>();

  // --- Gateways -> listener states -----------------------------------------------------------
  const listenerStates: ListenerState[] = [];
  const listenersByGateway = new Map<string, ListenerState[]>();
  for (const gw of v.gateways) {
    // A Gateway with an error of its own (not of one listener) is reported Accepted False and
    // not served: the API server would have refused it, so it would not exist for kgateway.
    if (!gw.valid) continue;
    const gkey = nk(gw.namespace, gw.name);
    const states: ListenerState[] = [];
    for (const l of gw.listeners) {
      for (const p of [...(atGateway.get(gkey) ?? []), ...(atListener.get(`${gkey}#${l.name}`) ?? [])]) p.ancestors.add(gkey);
      const st: ListenerState = {
        gw,
        l,
        key: `${gkey}/${l.name}`,
        gatewayPolicies: (atGateway.get(gkey) ?? []).map((p) => p.attached),
        listenerPolicies: (atListener.get(`${gkey}#${l.name}`) ?? []).map((p) => p.attached),
        byHost: new Map(),
        any: [],
      };
      states.push(st);
      listenerStates.push(st);
    }
    // kgateway: HTTP listeners of a Gateway that share a port share one RouteConfiguration. An
    // invalid Gateway-wide policy replaces all of it with a catch-all 500; an invalid listener
    // policy only the virtual hosts that listener owns (its policies live on them:
    // computeVirtualHost's fallback), so a sibling listener's hosts keep being served.
    for (const port of new Set(states.map((s) => s.l.port))) {
      const same = states.filter((s) => s.l.port === port);
      // A Gateway served with something jwtgate does not apply answers 500 as a whole.
      const wide = gw.refused ?? firstInvalid([{ level: 'Gateway', policies: same[0]!.gatewayPolicies }]);
      for (const s of same) {
        const invalid = wide ?? firstInvalid([{ level: 'Listener', policies: s.listenerPolicies }]);
        if (invalid === undefined) continue;
        s.invalid = invalid;
        s.invalidWholePort = wide !== undefined;
      }
    }
    listenersByGateway.set(gkey, states);
  }
  // Listeners jwtgate cannot serve (HTTPS, a Selector) but kgateway would: on a port jwtgate
  // serves, their hostname answers 500 instead of falling through to another listener's routes
  // (a public catch-all would serve what kgateway protects). They take no routes.
  const failClosedByGateway = new Map<string, ListenerState[]>();
  /** A Gateway's listener states, the fail-closed ones included. */
  const allListenersOf = (gkey: string): ListenerState[] => [...(listenersByGateway.get(gkey) ?? []), ...(failClosedByGateway.get(gkey) ?? [])];
  /** Adds a listener of Gateway `gkey` that answers 500 for its hostname and takes no routes. */
  const addFailClosed = (gw: GatewayModel, gkey: string, l: { name: string; index: number; port: number; hostname?: string }, invalid: string, fromListenerSet: boolean): void => {
    const st: ListenerState = {
      gw,
      l: { name: l.name, index: l.index, port: l.port, ...(l.hostname !== undefined ? { hostname: l.hostname } : {}), allowedFrom: 'Same', allowsHTTPRoute: false },
      key: `${gkey}/${l.name}`,
      gatewayPolicies: [],
      listenerPolicies: [],
      invalid,
      failClosed: true,
      ...(fromListenerSet ? { fromListenerSet: true } : {}),
      byHost: new Map(),
      any: [],
    };
    listenerStates.push(st);
    const list = failClosedByGateway.get(gkey);
    if (list) list.push(st);
    else failClosedByGateway.set(gkey, [st]);
  };
  for (const gw of v.gateways) {
    if (!gw.valid) continue;
    const gkey = nk(gw.namespace, gw.name);
    // Only on a port this Gateway serves: the fall-through to guard against is to its own
    // sibling listeners (another Gateway's traffic on the port is not this listener's).
    const servedPorts = new Set((listenersByGateway.get(gkey) ?? []).map((s) => s.l.port));
    for (const f of gw.failClosedListeners) {
      if (servedPorts.has(f.port)) addFailClosed(gw, gkey, f, f.reason, false);
    }
  }
  // ListenerSets / XListenerSets: kgateway adds their listeners to the parent Gateway that admits
  // them (spec.allowedListeners); jwtgate does not serve them, so each fails closed as above: its
  // hostname answers 500 on a port the parent serves, instead of reaching the parent's other
  // listeners' routes (a public catch-all would serve what the ListenerSet's routes protect).
  // What the requests for each ListenerSet's listeners get, by `Kind/namespace/name`: said again
  // to the HTTPRoutes and TrafficPolicies that name one (jwtgate attaches them to nothing).
  const setOutcomes = new Map<string, { whole?: string; listeners: Map<string, string> }>();
  /** The Gateways (`ns/name`) jwtgate serves each port for. */
  const portGateways = new Map<number, Set<string>>();
  for (const [gkey, states] of listenersByGateway) {
    for (const st of states) {
      let set = portGateways.get(st.l.port);
      if (!set) portGateways.set(st.l.port, (set = new Set()));
      set.add(gkey);
    }
  }
  for (const set of v.listenerSets) {
    const outcome = { listeners: new Map<string, string>() } as { whole?: string; listeners: Map<string, string> };
    setOutcomes.set(resourceId(set.raw), outcome);
    if (!set.valid || set.parent === undefined) {
      // refused by the API server, or warned
      outcome.whole = !set.valid ? `the ${set.raw.kind} is invalid (the API server refuses it)` : `its parentRef is not a Gateway: it attaches to nothing`;
      continue;
    }
    const cx = ParseCtx.for(set.raw, problems);
    const gw = gateways.get(set.parent);
    if (!gw) {
      cx.warn('spec.parentRef', `Gateway ${set.parent} not found: this ${set.raw.kind} attaches to nothing and is ignored`);
      outcome.whole = `its Gateway ${set.parent} is not found: nothing of it is served`;
      continue;
    }
    if (!gw.valid) {
      // the Gateway is not served: nothing of it listens
      outcome.whole = `its Gateway ${set.parent} is invalid and not served: nothing of it is served`;
      continue;
    }
    const from = gw.allowedListeners;
    if (from === 'None' || (from === 'Same' && gw.namespace !== set.namespace)) {
      cx.warn(
        'spec.parentRef',
        `Gateway ${set.parent} does not admit this ${set.raw.kind} (its spec.allowedListeners.namespaces.from is ${from}${from === 'None' ? ', the default' : ''}): not attached, as kgateway does; ignored`,
      );
      outcome.whole = `Gateway ${set.parent} does not admit it (spec.allowedListeners): not attached, in kgateway either`;
      continue;
    }
    const gkey = set.parent;
    const servedPorts = new Set((listenersByGateway.get(gkey) ?? []).map((s) => s.l.port));
    const own = [...gw.listeners, ...gw.failClosedListeners];
    for (const l of set.listeners) {
      const p = `spec.listeners[${l.index}]`;
      const clash = own.find((o) => o.port === l.port && o.hostname === l.hostname);
      if (clash) {
        cx.warn(p, `listener ${l.name} has the same port ${l.port} and ${l.hostname ? `hostname ${l.hostname}` : 'no hostname'} as Gateway ${gkey} listener "${clash.name}": Conflicted, not attached (the Gateway's own listener wins, as in kgateway); ignored`);
        outcome.listeners.set(l.name, `Conflicted with Gateway ${gkey} listener "${clash.name}", not attached (in kgateway either)`);
        continue;
      }
      const host = l.hostname !== undefined ? `hostname ${l.hostname}` : 'any host no other listener of the port takes';
      const reason = `${set.raw.kind} ${set.namespace}/${set.name} listener ${l.name}: ListenerSets are not supported by jwtgate`;
      if (!servedPorts.has(l.port)) {
        // Not a 500: nothing of this Gateway listens there; another Gateway's listeners may.
        const others = [...(portGateways.get(l.port) ?? [])];
        const what =
          others.length === 0
            ? 'connection refused, as no Gateway listens on that port'
            : `requests on that port are served by the listeners of ${others.length === 1 ? `Gateway ${others[0]}` : `Gateways ${others.join(', ')}`} there, by hostname`;
        cx.error(p, `${reason}: not served (jwtgate does not listen on port ${l.port} for Gateway ${gkey}): ${what}; its routes get no traffic`);
        outcome.listeners.set(l.name, `not served (jwtgate does not listen on port ${l.port} for Gateway ${gkey}): ${what}`);
        continue;
      }
      cx.error(p, `${reason}: requests for ${host} on port ${l.port} (Gateway ${gkey}) get 500 rather than reach the Gateway's other listeners' routes`);
      outcome.listeners.set(l.name, `requests for ${host} on port ${l.port} (Gateway ${gkey}) get 500`);
      // Indexed after the Gateway's own listeners in tie-breaks (Gateway API: the parent's win).
      addFailClosed(gw, gkey, { name: `${set.raw.kind}/${set.namespace}/${set.name}/${l.name}`, index: 1000 + l.index, port: l.port, ...(l.hostname !== undefined ? { hostname: l.hostname } : {}) }, reason, true);
    }
  }

  /** What requests for a ListenerSet (one listener, with `section`) get, for the resources that name it. */
  const describeSet = (group: string, kind: string, ns: string, name: string, section?: string): string => {
    const set = v.listenerSets.find((x) => x.raw.kind === kind && x.namespace === ns && x.name === name && x.raw.apiVersion.startsWith(`${group}/`));
    const o = set && setOutcomes.get(resourceId(set.raw));
    if (!o) return `${kind} ${ns}/${name} is not found`;
    const what = `${kind} ${ns}/${name}`;
    if (o.whole !== undefined) return `${what}: ${o.whole}`;
    const ls = section !== undefined ? [[section, o.listeners.get(section) ?? 'not found in it'] as const] : [...o.listeners];
    return `${what}: ${ls.map(([n, t]) => `listener ${n}: ${t}`).join('; ')}`;
  };
  const GRPC_UNSERVED = 'GRPCRoutes are not served by jwtgate (it serves HTTP/1.1: gRPC requests are not served, and requests for the route\'s hostnames are matched against the HTTPRoutes of the port)';
  // TrafficPolicy targets of kinds kgateway attaches to and jwtgate does not serve.
  for (const p of policies) {
    if (p.model.unservedTargets.length === 0) continue;
    const cx = ParseCtx.for(p.model.raw, problems);
    const global = opts.globalPolicyNamespace !== undefined && p.model.namespace === opts.globalPolicyNamespace;
    for (const t of p.model.unservedTargets) {
      let names: { ns: string; name: string }[];
      if (t.name !== undefined) names = [{ ns: p.model.namespace, name: t.name }];
      else if (t.kind.endsWith('ListenerSet')) {
        names = v.listenerSets
          .filter((x) => x.raw.kind === t.kind && (global || x.namespace === p.model.namespace) && labelsMatch(x.raw.labels, t.matchLabels ?? {}))
          .map((x) => ({ ns: x.namespace, name: x.name }));
      } else names = [];
      const target = t.name !== undefined ? `target ${t.kind} ${p.model.namespace}/${t.name}` : `target kind ${t.kind}`;
      const attaches = 'so this target attaches to nothing here, where kgateway attaches the policy to it';
      let message: string;
      if (t.kind === 'GRPCRoute') message = `${target}: ${GRPC_UNSERVED}, ${attaches}`;
      else if (names.length === 0) message = `${target}: ListenerSets are not served by jwtgate, ${attaches} (these matchLabels select no ${t.kind} here)`;
      else message = `${target}: ListenerSets are not served by jwtgate, ${attaches}; what its requests get: ${names.map((n) => describeSet(t.group, t.kind, n.ns, n.name, t.sectionName)).join('; ')}`;
      cx.warn(`${t.path}.kind`, message);
      p.unserved.push(message);
    }
  }

  // --- HTTPRoutes -> rules -> attachment -----------------------------------------------------
  const policyById = new Map(policies.map((p) => [p.attached.id, p]));
  const policyOutcome = (id: string, what: 'won' | 'lost' | 'reached', gatewayKey: string): void => {
    const p = policyById.get(id);
    if (!p) return;
    if (what === 'reached') p.ancestors.add(gatewayKey);
    else p[what] = true;
  };
  const routeParentStatus = new Map<string, { accepted: boolean; reason: string; message: string }[]>();
  const attachments: Attachment[] = [];
  for (const rt of v.routes) {
    const rkey = nk(rt.namespace, rt.name);
    const cx = ParseCtx.for(rt.raw, problems);
    const parentResults: { accepted: boolean; reason: string; message: string }[] = [];
    routeParentStatus.set(rkey, parentResults);
    if (!rt.valid) {
      // The API server refuses it (a bad hostname, a parentRef without name…): dropped, its
      // requests would go to another route, a catch-all without its JWT check. Refused.
      const id = resourceId(rt.raw);
      const refused = 'the route is refused: serve refuses to start, as its requests would go to another route';
      if (markFatal(problems, id, (path) => path === 'spec.rules' || !path.startsWith('spec.rules'), ` (${refused})`) === 0) {
        problems.push({ resource: id, path: 'spec', message: refused, severity: 'error', source: rt.raw.source, fatal: true });
      }
      continue;
    }

    // Rules: ExtensionRef policies and backends, once per rule.
    let refsOk = true;
    let refsReason = 'ResolvedRefs';
    let refsMessage = '';
    const rules: RuleState[] = rt.rules.map((rule) => {
      const filterPolicies: PolicyState[] = [];
      let invalid = rule.invalid;
      for (const f of rule.policyFilters) {
        const p = policiesByKey.get(nk(rt.namespace, f.name));
        if (!p) {
          const msg = `ExtensionRef filter: TrafficPolicy ${rt.namespace}/${f.name} not found`;
          cx.error(f.path, msg);
          invalid ??= msg;
          continue;
        }
        p.referencedByFilter = true;
        if (!filterPolicies.includes(p)) filterPolicies.push(p);
      }
      // kgateway looks the DirectResponse up in the route's namespace (an ExtensionRef has no
      // namespace); not found, or not valid, the rule has no action and kgateway replaces it.
      let directResponse: RouteDirectResponse | undefined;
      if (rule.directResponse !== undefined) {
        const key = nk(rt.namespace, rule.directResponse.name);
        const dr = directResponsesByKey.get(key);
        const msg = !dr ? `gateway.kgateway.dev/DirectResponse/${key}: policy not found` : !dr.valid ? `DirectResponse ${key} is invalid (see its own errors)` : undefined;
        if (msg !== undefined) {
          cx.error(rule.directResponse.path, `${msg}: the rule has no action, and answers 500 as kgateway replaces it`);
          invalid ??= `no action specified: ${msg}`;
        } else {
          directResponse = { status: dr!.status, body: dr!.body, ...(dr!.bodyFormat ? { bodyFormat: dr!.bodyFormat } : {}), from: dr!.id };
          usedDirectResponses.add(key);
        }
      }
      const weighted: WeightedBackend[] = [];
      let total = 0;
      rule.backendRefs.forEach((ref) => {
        const r = resolveBackendRef(rt, rule, ref, cx, backendModels, v.referenceGrants, clusterDomain, tlsRequired);
        if (!r.ok) {
          refsOk = false;
          if (refsReason === 'ResolvedRefs') {
            refsReason = r.reason;
            refsMessage = r.message;
          }
          weighted.push({ target: undefined, weight: ref.weight });
          total += ref.weight;
          return;
        }
        const existing = backends.get(r.target.key);
        const target = existing ?? r.target;
        if (!existing) backends.set(target.key, target);
        weighted.push({ target, weight: ref.weight });
        total += ref.weight;
      });
      if (rule.backendRefs.length > 0 && total === 0 && weighted.length > 0) {
        cx.warn(`spec.rules[${rule.index}].backendRefs`, 'every backendRef has weight 0: requests matching this rule get 500');
      }
      // A mirror does not count for the route's ResolvedRefs: kgateway drops one it cannot resolve.
      // An invalid rule (kgateway's 500) mirrors nothing.
      const mirrors: RouteMirror[] = [];
      if (invalid === undefined) {
        for (const m of rule.requestMirrors ?? []) {
          const t = resolveMirror(rt, m, cx, backendModels, v.referenceGrants, clusterDomain, tlsRequired);
          if (!t) continue;
          const target = backends.get(t.key) ?? t;
          if (target === t) backends.set(t.key, t);
          mirrors.push({ target, numerator: m.numerator, denominator: m.denominator });
        }
      }
      return { rule, filterPolicies, backends: weighted, totalWeight: total, mirrors, ...(directResponse !== undefined ? { directResponse } : {}), ...(invalid !== undefined ? { invalid } : {}) };
    });
    routeResolved.set(rkey, refsOk ? { ok: true } : { ok: false, reason: refsReason, message: refsMessage });

    const attachedListeners = new Set<ListenerState>();
    rt.parentRefs.forEach((pr) => {
      const pp = `spec.parentRefs[${pr.index}]`;
      if (pr.kind !== 'Gateway' || pr.group !== GATEWAY_API_GROUP) {
        if (pr.kind.endsWith('ListenerSet')) {
          cx.warn(pp, `parent ${pr.group}/${pr.kind} is not supported by jwtgate (only Gateway): this parentRef is ignored, as ListenerSets are not served; what requests for it get: ${describeSet(pr.group, pr.kind, pr.namespace, pr.name, pr.sectionName)}`);
        }
        parentResults.push({ accepted: false, reason: 'InvalidKind', message: `parent ${groupKind(pr.group, pr.kind)} not supported` });
        return;
      }
      const gkey = nk(pr.namespace, pr.name);
      const gw = gateways.get(gkey);
      if (!gw) {
        const msg = `Gateway ${gkey} not found: the route is not attached to it`;
        cx.warn(pp, msg);
        parentResults.push({ accepted: false, reason: 'NoMatchingParent', message: msg });
        return;
      }
      let candidates = listenersByGateway.get(gkey) ?? [];
      if (pr.sectionName !== undefined) candidates = candidates.filter((s) => s.l.name === pr.sectionName);
      if (pr.port !== undefined) candidates = candidates.filter((s) => s.l.port === pr.port);
      if (candidates.length === 0) {
        const what = [pr.sectionName !== undefined ? `named "${pr.sectionName}"` : '', pr.port !== undefined ? `on port ${pr.port}` : ''].filter(Boolean).join(' ');
        const msg = `Gateway ${gkey} has no valid listener${what ? ` ${what}` : ''}`;
        cx.warn(pp, msg);
        parentResults.push({ accepted: false, reason: 'NoMatchingParent', message: msg });
        return;
      }
      let attachedHere = 0;
      let notAllowed = 0;
      let noHost = 0;
      for (const ls of candidates) {
        if ((ls.l.allowedFrom === 'Same' && rt.namespace !== gw.namespace) || !ls.l.allowsHTTPRoute) {
          notAllowed++;
          continue;
        }
        const hosts = intersectHostnames(ls.l.hostname, rt.hostnames);
        if (hosts !== 'any' && hosts.length === 0) {
          noHost++;
          continue;
        }
        attachedHere++;
        if (attachedListeners.has(ls)) continue;
        attachedListeners.add(ls);
        attachments.push({ ls, rt, rules, hosts });
      }
      if (attachedHere > 0) parentResults.push({ accepted: true, reason: 'Accepted', message: `attached to Gateway ${gkey}` });
      else if (notAllowed > 0 && noHost === 0) {
        const msg = `not allowed by the listeners of Gateway ${gkey} (allowedRoutes: namespaces.from is Same and the route is in namespace ${rt.namespace}, or kinds excludes HTTPRoute)`;
        cx.warn(pp, msg);
        parentResults.push({ accepted: false, reason: 'NotAllowedByListeners', message: msg });
      } else {
        const msg = `no hostname of the route matches a listener hostname of Gateway ${gkey}`;
        cx.warn(pp, msg);
        parentResults.push({ accepted: false, reason: 'NoMatchingListenerHostname', message: msg });
      }
    });
  }

  // A TrafficPolicy whose targets key is misspelt (`targetRef:`, `trgetRefs:`) is invalid and
  // names no target: the 500 its targets would answer lands nowhere and they serve without it.
  // Refused, as an unreadable target is. (Other invalid policies without targets, meant for
  // ExtensionRef filters, attach to nothing in kgateway either.)
  for (const st of policies) {
    const m = st.model;
    if (st.attached.invalid === undefined || st.targetsFound > 0 || st.referencedByFilter) continue;
    if (m.targetRefs.length > 0 || m.targetSelectors.length > 0) continue;
    const id = resourceId(m.raw);
    if (problems.some((p) => p.fatal && p.resource === id)) continue;
    const misspelt = problems.some((p) => p.resource === id && p.severity === 'error' && /^spec\.[A-Za-z_]+$/.test(p.path) && ['targetrefs', 'targetselectors'].some((t) => editDistance(p.path.slice(5).toLowerCase(), t) <= 2));
    if (!misspelt) continue;
    problems.push({
      resource: id,
      path: 'spec',
      message: `the policy names no target it can be attached to (its targetRefs key is misspelt): serve refuses to start, as its targets would be served without it`,
      severity: 'error',
      source: m.raw.source,
      fatal: true,
    });
  }

  // --- Routes -> virtual hosts ---------------------------------------------------------------
  // As kgateway's translateHttpFilterChain: the routes of all listeners of a Gateway on one
  // port are grouped by host; each host's routes form one virtual host owned by the most
  // specific listener whose hostname contains the host (its listener-level policies apply).
  const compiledCache = new Map<string, RouteEntry[]>();
  const rateLimitBuckets = new BucketRegistry(opts.previousRateLimitBuckets);
  const replacedRules = new Map<string, Map<number, string>>();
  const ruleReplaced = (routeKey: string, ruleIndex: number, message: string): void => {
    let m = replacedRules.get(routeKey);
    if (!m) replacedRules.set(routeKey, (m = new Map()));
    m.set(ruleIndex, message);
  };
  // A rule's warning found while compiling its routes, once however many listeners it serves.
  const ruleWarnings = new Set<string>();
  const ruleWarn = (rt: HTTPRouteModel, path: string, message: string): void => {
    const k = `${nk(rt.namespace, rt.name)}|${path}|${message}`;
    if (ruleWarnings.has(k)) return;
    ruleWarnings.add(k);
    ParseCtx.for(rt.raw, problems).warn(path, message);
  };
  let routeEntries = 0;
  const groups = new Map<string, Attachment[]>();
  for (const a of attachments) {
    const k = `${a.ls.gw.namespace}/${a.ls.gw.name}:${a.ls.l.port}`;
    const list = groups.get(k);
    if (list) list.push(a);
    else groups.set(k, [a]);
  }
  for (const group of groups.values()) {
    const gw = group[0]!.ls.gw;
    const port = group[0]!.ls.l.port;
    const gkey = nk(gw.namespace, gw.name);
    const siblings = allListenersOf(gkey).filter((s) => s.l.port === port);
    const byHost = new Map<string, Attachment[]>();
    for (const a of group) {
      for (const h of a.hosts === 'any' ? ['*'] : a.hosts) {
        const list = byHost.get(h);
        if (!list) byHost.set(h, [a]);
        else if (!list.some((x) => x.rt === a.rt)) list.push(a);
      }
    }
    for (const [host, list] of byHost) {
      const owner = ownerListener(host, siblings) ?? list[0]!.ls;
      // A host whose virtual host kgateway gives to a listener jwtgate cannot serve (its
      // policies would apply there): answered 500 by that listener.
      if (owner.failClosed) {
        owner.byHost.set(host, []);
        continue;
      }
      for (const a of list) {
        const entries = withHostBuckets(compileRoutes(owner, a.rt, a.rules, atRoute, atRule, policyOutcome, ruleReplaced, ruleWarn, compiledCache, rateLimitBuckets), owner, host, rateLimitBuckets);
        routeEntries += entries.length;
        if (routeEntries > MAX_ROUTE_ENTRIES) {
          // Hostnames x rules x matches multiply (YAML anchors make it cheap to write): refused
          // as a whole rather than served in part, which could let requests fall through to
          // another route.
          const problem: ConfigProblem = {
            resource: a.rt.id,
            path: 'spec',
            message: `the configuration compiles to more than ${MAX_ROUTE_ENTRIES} route entries (each match of each rule, for each hostname it serves); this HTTPRoute went over: use fewer hostnames or matches per route`,
            severity: 'error',
            source: a.rt.raw.source,
          };
          throw new ConfigError([problem], `cannot load configuration: ${a.rt.id} (${a.rt.raw.source}): ${problem.message}`);
        }
        if (host === '*') owner.any.push(...entries);
        else {
          const bucket = owner.byHost.get(host);
          if (bucket) bucket.push(...entries);
          else owner.byHost.set(host, [...entries]);
        }
      }
    }
  }

  warnStackedExtensions(compiledCache, policyById, problems);
  warnClaimsWithoutJwt(compiledCache, policyById, problems);

  // --- Ports ---------------------------------------------------------------------------------
  const ports = new Map<number, PortTable>();
  const byPort = new Map<number, ListenerState[]>();
  for (const ls of listenerStates) {
    const list = byPort.get(ls.l.port);
    if (list) list.push(ls);
    else byPort.set(ls.l.port, [ls]);
  }
  for (const [port, list] of [...byPort.entries()].sort((a, b) => a[0] - b[0])) {
    list.sort((a, b) => {
      const [ta, la] = hostnameSpecificity(a.l.hostname);
      const [tb, lb] = hostnameSpecificity(b.l.hostname);
      if (ta !== tb) return ta - tb;
      if (la !== lb) return la - lb;
      const age = compareAge(a.gw.raw, b.gw.raw);
      if (age !== 0) return age;
      return a.l.index - b.l.index;
    });
    const seen = new Map<string, ListenerState>();
    for (const ls of list) {
      const k = ls.l.hostname ?? '';
      const first = seen.get(k);
      if (first && first.gw !== ls.gw && !ls.fromListenerSet) {
        ParseCtx.for(ls.gw.raw, problems).warn(
          `spec.listeners[${ls.l.index}]`,
          `listener "${ls.l.name}" has the same port ${port} and ${k ? `hostname ${k}` : 'no hostname'} as Gateway ${nk(first.gw.namespace, first.gw.name)} listener "${first.l.name}": jwtgate serves one socket per port, so hosts both serve go to the older Gateway's listener (kgateway would run a separate proxy per Gateway)`,
        );
      } else if (!first) seen.set(k, ls);
    }
    // Routes of two Gateways that serve the same host on one port (an exact host both name, or
    // one's exact host inside the other's wildcard, or nested wildcards): kgateway gives each
    // Gateway its own proxy, so each Gateway's clients get its routes and policies; on jwtgate's
    // one socket the request goes to one of them by host specificity, whatever the policies. An
    // error, so `check` fails.
    // Hosts are compared through maps keyed by domain suffix (each host walks its parent labels),
    // not pairwise: 64,000 hostnames took seconds, and serve compiles on the admin's event loop.
    // With one Gateway on the port nothing can be contested, and the check is skipped.
    const soleGateway = list.every((ls) => ls.gw === list[0]!.gw);
    const exactHosts = new Map<string, ListenerState>();
    /** Wildcards by their own suffix (`*.b.c` under `.b.c`), and by every suffix they lie under (`.b.c`, `.c`). */
    const wildBySuffix = new Map<string, SuffixSlot>();
    const wildUnder = new Map<string, SuffixSlot>();
    const contested = (host: string, a: ListenerState, b: ListenerState): void => {
      ParseCtx.for(b.gw.raw, problems).error(
        `spec.listeners[${b.l.index}]`,
        `host ${host} is routed on port ${port} by Gateway ${nk(a.gw.namespace, a.gw.name)} (listener "${a.l.name}") and by this Gateway (listener "${b.l.name}"): jwtgate serves one socket per port, so its requests get only one Gateway's routes and policies, by host specificity (kgateway would run a separate proxy per Gateway); give the Gateways different ports or hosts`,
      );
    };
    for (const ls of soleGateway ? [] : list) {
      if (ls.failClosed) continue;
      for (const host of ls.byHost.keys()) {
        if (host.startsWith('*.')) {
          const own = host.slice(1);
          // An earlier wildcard of another Gateway: the same, a parent (`*.c` for `*.b.c`) or a child.
          let other: ListenerState | undefined;
          for (let s: string | undefined = own; s !== undefined && other === undefined; s = parentSuffix(s)) other = otherGateway(wildBySuffix, s, ls);
          other ??= otherGateway(wildUnder, own, ls);
          if (other) contested(host, other, ls);
          noteSuffix(wildBySuffix, own, ls);
          for (let s: string | undefined = own; s !== undefined; s = parentSuffix(s)) noteSuffix(wildUnder, s, ls);
        } else {
          const first = exactHosts.get(host);
          if (!first) exactHosts.set(host, ls);
          else if (first.gw !== ls.gw) contested(host, first, ls);
        }
      }
    }
    for (const [host, ls] of exactHosts) {
      // A wildcard of another Gateway covering it: `*.b.c` or `*.c` for `a.b.c`.
      let w: ListenerState | undefined;
      for (let s = parentSuffix('.' + host); s !== undefined && w === undefined; s = parentSuffix(s)) w = otherGateway(wildBySuffix, s, ls);
      if (w) contested(host, w, ls);
    }
    // One Gateway on the port: its RouteConfiguration is the port's, so an invalid one answers
    // 500 for every host there, not only its listeners' hostnames (spec §2.5: a catch-all `*`).
    const listeners = list.map((ls) => buildListener(ls, soleGateway));
    ports.set(port, { port, listeners, ...(listeners.some((l) => l.earlyHeaderOps !== undefined) ? { earlyHeaderRules: true as const } : {}) });
  }

  // --- Statuses --------------------------------------------------------------------------------
  // A DirectResponse no rule names answers nothing: worth a word (kgateway says nothing).
  for (const d of v.directResponses) {
    const key = nk(d.namespace, d.name);
    if (d.valid && !usedDirectResponses.has(key)) ParseCtx.for(d.raw, problems).warn('metadata.name', `DirectResponse ${key} is not used by any HTTPRoute rule (an ExtensionRef filter in the same namespace, on a rule without backendRefs): it answers no request`);
  }
  const statuses: ResourceStatus[] = [];
  const gwById = new Map(v.gateways.map((g) => [g.id, g]));
  const rtById = new Map(v.routes.map((r) => [r.id, r]));
  const beById = new Map(v.backends.map((b) => [b.id, b]));
  const extById = new Map(v.extensions.map((e) => [e.id, e]));
  const cmById = new Map(v.configMaps.map((c) => [c.id, c]));
  const rgById = new Map(v.referenceGrants.map((c) => [c.id, c]));
  const bcpById = new Map(v.backendConfigPolicies.map((c) => [c.id, c]));
  const secById = new Map(v.secrets.map((c) => [c.id, c]));
  const lsById = new Map(v.listenerSets.map((x) => [x.id, x]));
  const lpById = new Map(v.listenerPolicies.map((x) => [x.id, x]));
  for (const entry of v.all) {
    const conditions: Condition[] = [];
    const { raw, id } = entry;
    if (entry.handling !== 'used') {
      const reason = entry.handling === 'duplicate' ? 'Duplicate' : entry.handling === 'ignored' ? 'Ignored' : entry.handling === 'unsupported' ? 'UnsupportedKind' : 'Invalid';
      conditions.push({ type: 'Accepted', status: entry.handling === 'ignored' ? 'True' : 'False', reason, message: entry.message ?? '' });
      statuses.push({ resource: id, source: raw.source, conditions });
      continue;
    }
    const gw = gwById.get(id);
    const rt = rtById.get(id);
    const be = beById.get(id);
    const ext = extById.get(id);
    const pol = policyById.get(id);
    if (gw) {
      if (!gw.valid) conditions.push({ type: 'Accepted', status: 'False', reason: 'Invalid', message: `${gw.error ?? 'invalid Gateway'} (not served)` });
      else if (gw.invalidListeners.length > 0) {
        conditions.push({ type: 'Accepted', status: 'True', reason: 'ListenersNotValid', message: `listeners not valid (not served): ${gw.invalidListeners.join(', ')}` });
      } else conditions.push({ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Gateway accepted' });
      const states = allListenersOf(nk(gw.namespace, gw.name));
      const bad = states.filter((s) => s.invalid !== undefined);
      if (bad.length > 0) {
        conditions.push({ type: 'Programmed', status: 'False', reason: 'Invalid', message: `listeners answer 500: ${bad.map((s) => `${s.l.name}: ${s.invalid}`).join('; ')}` });
      } else if (gw.valid) conditions.push({ type: 'Programmed', status: 'True', reason: 'Programmed', message: '' });
    } else if (rt) {
      const parents = routeParentStatus.get(nk(rt.namespace, rt.name)) ?? [];
      if (!rt.valid) conditions.push({ type: 'Accepted', status: 'False', reason: 'UnsupportedValue', message: rt.error ?? 'invalid HTTPRoute' });
      else if (parents.length === 0) conditions.push({ type: 'Accepted', status: 'False', reason: 'NoMatchingParent', message: 'no parentRefs' });
      else if (parents.some((p) => p.accepted)) {
        const rejected = parents.filter((p) => !p.accepted);
        conditions.push({ type: 'Accepted', status: 'True', reason: 'Accepted', message: rejected.length ? `some parents rejected the route: ${rejected.map((p) => p.message).join('; ')}` : 'Route accepted' });
      } else conditions.push({ type: 'Accepted', status: 'False', reason: parents[0]!.reason, message: parents.map((p) => p.message).join('; ') });
      const refs = routeResolved.get(nk(rt.namespace, rt.name));
      if (refs) conditions.push(refs.ok ? { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: '' } : { type: 'ResolvedRefs', status: 'False', reason: refs.reason!, message: refs.message! });
      // kgateway (irtranslator/route.go) marks a rule replaced by the 500 direct response, for
      // the rule's own error or an invalid route-, rule- or filter-level policy (spec §2.5).
      const replaced = new Map(rt.rules.flatMap((r) => (r.invalid !== undefined ? [[r.index, r.invalid] as const] : [])));
      for (const [i, m] of replacedRules.get(nk(rt.namespace, rt.name)) ?? []) if (!replaced.has(i)) replaced.set(i, m);
      if (rt.valid && replaced.size > 0) {
        const message = [...replaced].sort((a, b) => a[0] - b[0]).map(([i, m]) => `Replaced Rule (${i}): ${m}`).join('; ');
        conditions.push({ type: 'kgateway.dev/Programmed', status: 'False', reason: 'RouteRuleReplaced', message });
      }
    } else if (be) {
      conditions.push(be.valid ? { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Backend accepted' } : { type: 'Accepted', status: 'False', reason: 'Invalid', message: be.error ?? 'invalid Backend' });
    } else if (ext) {
      const r = resolvedExt.get(nk(ext.raw.namespace, ext.raw.name));
      // An extAuth extension is accepted once its backend resolved (resolveExtAuth), with its own error otherwise.
      const ea = ext.extensionType === 'extAuth' ? extAuthProviders.get(nk(ext.raw.namespace, ext.raw.name)) : undefined;
      const ok = ea !== undefined ? ea.provider !== undefined : r?.ext !== undefined || (ext.valid && r?.isJwt === false);
      const why = ea !== undefined ? ea.error : r?.error;
      conditions.push(ok ? { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'GatewayExtension accepted' } : { type: 'Accepted', status: 'False', reason: 'Invalid', message: why ?? ext.error ?? 'invalid GatewayExtension' });
    } else if (pol) {
      const inv = pol.attached.invalid;
      if (inv !== undefined) {
        conditions.push({ type: 'Accepted', status: 'False', reason: 'Invalid', message: inv });
        conditions.push({ type: 'Attached', status: 'False', reason: 'Pending', message: '' });
      } else {
        conditions.push({ type: 'Accepted', status: 'True', reason: 'Valid', message: 'Policy accepted' });
        if (pol.targetsFound === 0 && !pol.referencedByFilter) {
          conditions.push({
            type: 'Attached',
            status: 'False',
            reason: 'Pending',
            message: pol.unserved.length > 0 ? pol.unserved.join('; ') : 'no target found: kgateway silently ignores this policy',
          });
        } else if (pol.lost && !pol.won) {
          conditions.push({ type: 'Attached', status: 'False', reason: 'Overridden', message: 'Overridden due to conflict with higher priority policy in target(s)' });
        } else if (pol.unserved.length > 0) {
          // Some targets attached, others of kinds jwtgate does not serve: not "all targets".
          conditions.push({ type: 'Attached', status: 'True', reason: 'Attached', message: `Attached to its targets jwtgate serves; not here: ${pol.unserved.join('; ')}` });
        } else conditions.push({ type: 'Attached', status: 'True', reason: 'Attached', message: 'Attached to all targets' });
      }
    } else if (lpById.has(id)) {
      const lp = lpById.get(id)!;
      conditions.push(
        lp.denying.length > 0
          ? { type: 'Accepted', status: 'False', reason: 'Invalid', message: `${lp.denying.join(', ')} not applied by jwtgate: the Gateways it targets are not served` }
          : { type: 'Accepted', status: 'True', reason: 'Accepted', message: `${raw.kind} accepted; its settings are not applied by jwtgate` },
      );
    } else if (lsById.has(id)) {
      const set = lsById.get(id)!;
      conditions.push(
        set.valid
          ? { type: 'Accepted', status: 'False', reason: 'UnsupportedKind', message: `ListenerSets are not supported by jwtgate: ${describeSet(raw.apiVersion.slice(0, raw.apiVersion.indexOf('/')), raw.kind, set.namespace, set.name)}` }
          : { type: 'Accepted', status: 'False', reason: 'Invalid', message: set.error ?? `invalid ${raw.kind}` },
      );
    } else {
      const other = cmById.get(id) ?? rgById.get(id) ?? bcpById.get(id) ?? secById.get(id);
      // A BackendConfigPolicy can also fail when resolved (e.g. its tls Secret is missing).
      const unresolved = bcpById.has(id) && problems.some((p) => p.resource === id && p.severity === 'error');
      const ok = (other?.valid ?? true) && !unresolved;
      conditions.push(ok ? { type: 'Accepted', status: 'True', reason: 'Accepted', message: `${raw.kind} accepted` } : { type: 'Accepted', status: 'False', reason: 'Invalid', message: firstErrorOf(problems, id) });
    }
    const ancestors = pol ? [...pol.ancestors].sort().map((k) => ({ group: GATEWAY_API_GROUP, kind: 'Gateway' as const, namespace: k.slice(0, k.indexOf('/')), name: k.slice(k.indexOf('/') + 1) })) : [];
    statuses.push({ resource: id, source: raw.source, conditions, ...(ancestors.length > 0 ? { ancestors } : {}) });
  }

  const snapshot: Snapshot = {
    generation: opts.generation,
    ports,
    extensions,
    keySets,
    backends,
    statuses,
    problems,
    rateLimitBuckets: rateLimitBuckets.current,
  };
  return { snapshot: deepFreeze(snapshot) };

  // ---------------------------------------------------------------------------------------------

  function buildListener(ls: ListenerState, soleGateway: boolean): Listener {
    const gkey = nk(ls.gw.namespace, ls.gw.name);
    if (ls.invalid !== undefined) {
      // kgateway: the whole RouteConfiguration becomes one catch-all 500 for a Gateway-wide
      // invalid policy (spec §2.5); an invalid listener policy or a fail-closed listener answers
      // so for the listener's hostname and the hosts it owns.
      const catchAll: CompiledRoute = {
        id: `${gkey}/${ls.l.name}/invalid`,
        route: '',
        path: { type: 'PathPrefix', value: '/' },
        headers: [],
        queryParams: [],
        auth: NO_AUTH,
        claimHeaders: [],
        backends: [],
        totalWeight: 0,
        invalid: ls.invalid,
      };
      const entry: RouteEntry = { route: catchAll, createdMs: 0, nsName: '', ruleIndex: 0, matchIndex: 0 };
      const h = ls.l.hostname;
      const wholePort = ls.invalidWholePort === true;
      const hosts = new Map<string, RouteEntry[]>(h !== undefined ? [[h, [entry]]] : []);
      // The hosts it owns always: with another Gateway on the port, a host owned by a listener
      // without hostname would otherwise fall through to that Gateway's catch-all.
      for (const owned of ls.byHost.keys()) if (owned !== '*') hosts.set(owned, [entry]);
      // A listener without hostname takes the port's other hosts, but a fail-closed one only
      // when its Gateway is alone on the port (another Gateway's traffic is not its own); a
      // Gateway-wide invalid policy takes every host of its Gateway's port.
      const takesAny = ls.failClosed ? h === undefined && soleGateway : wholePort ? h === undefined || soleGateway : h === undefined;
      return {
        gateway: gkey,
        name: ls.l.name,
        port: ls.l.port,
        ...(h !== undefined ? { hostname: h } : {}),
        routes: buildRouteTable(hosts, takesAny ? [entry] : []),
        invalid: ls.invalid,
      };
    }
    const early = earlyRules.get(`${gkey}:${ls.l.port}`);
    return {
      gateway: gkey,
      name: ls.l.name,
      port: ls.l.port,
      ...(ls.l.hostname !== undefined ? { hostname: ls.l.hostname } : {}),
      routes: buildRouteTable(ls.byHost, ls.any),
      ...(early !== undefined ? { earlyHeaderOps: early } : {}),
    };
  }
}

interface Attachment {
  readonly ls: ListenerState;
  readonly rt: HTTPRouteModel;
  readonly rules: readonly RuleState[];
  readonly hosts: 'any' | string[];
}

/** kgateway isHostContained: the listener whose hostname contains `host`, most specific first. */
function ownerListener(host: string, listeners: readonly ListenerState[]): ListenerState | undefined {
  let best: ListenerState | undefined;
  let bestLen = -1;
  for (const ls of listeners) {
    const lh = ls.l.hostname;
    const contained = lh === undefined || hostMatches(lh, host);
    if (!contained) continue;
    const len = lh === undefined ? 0 : lh.length;
    if (len > bestLen) {
      best = ls;
      bestLen = len;
    }
  }
  return best;
}

/** Route entries (match x hostname) a configuration may compile to. */
export const MAX_ROUTE_ENTRIES = 500_000;

/** The CompiledRoutes of one HTTPRoute on one listener (memoized: shared by every host). */
function compileRoutes(
  ls: ListenerState,
  rt: HTTPRouteModel,
  rules: readonly RuleState[],
  atRoute: ReadonlyMap<string, PolicyState[]>,
  atRule: ReadonlyMap<string, PolicyState[]>,
  outcome: (policyId: string, what: 'won' | 'lost' | 'reached', gatewayKey: string) => void,
  replaced: (routeKey: string, ruleIndex: number, message: string) => void,
  ruleWarn: (rt: HTTPRouteModel, path: string, message: string) => void,
  cache: Map<string, RouteEntry[]>,
  buckets: BucketRegistry,
): RouteEntry[] {
  const rkey = nk(rt.namespace, rt.name);
  const cacheKey = `${ls.key}|${rkey}`;
  const cached = cache.get(cacheKey);
  if (cached) return cached;
  const out: RouteEntry[] = [];
  const createdMs = creationMs(rt.raw);
  const routePolicies = (atRoute.get(rkey) ?? []).map((p) => p.attached);
  for (const rs of rules) {
    const rule = rs.rule;
    const rulePolicies = rule.name !== undefined ? (atRule.get(`${rkey}#${rule.name}`) ?? []).map((p) => p.attached) : [];
    const levels: LevelPolicies[] = [
      { level: 'Gateway', policies: ls.gatewayPolicies },
      { level: 'Listener', policies: ls.listenerPolicies },
      { level: 'HTTPRoute', policies: routePolicies },
      { level: 'Rule', policies: rulePolicies },
      { level: 'ExtensionRef', policies: rs.filterPolicies.map((p) => p.attached) },
    ];
    const fold = foldPolicies(levels, { ruleSetsTimeout: rule.timeoutMs !== undefined, ruleSetsRetry: rule.retry !== undefined });
    const gkey = nk(ls.gw.namespace, ls.gw.name);
    for (const id of fold.effective) outcome(id, 'won', gkey);
    for (const id of fold.overridden) outcome(id, 'lost', gkey);
    // kgateway's ancestorRef is always the Gateway, for route-level policies too (spec §2.5).
    for (const l of levels.slice(2)) for (const p of l.policies) outcome(p.id, 'reached', gkey);
    const invalid = rs.invalid ?? firstInvalid(levels.slice(2));
    if (invalid !== undefined) replaced(rkey, rule.index, invalid);
    const auth: RouteAuth = invalid !== undefined ? NO_AUTH : fold.auth;
    const claimHeaders = auth.jwt.flatMap((e) => e.sanitizeHeaders);
    // kgateway replaces an invalid rule with a direct response and clears its own header rules;
    // the listener's and Gateway's header_mutation configs still apply to that 500.
    const headerMutation = invalid !== undefined ? outerHeaderMutation(fold.headers) : routeHeaderMutation(rule, fold.headers);
    const perBackend = invalid !== undefined ? undefined : backendHeaderMutations(rule, fold.headers);
    const backends = perBackend === undefined ? rs.backends : rs.backends.map((b, j) => (perBackend[j] !== undefined ? { ...b, headerMutation: perBackend[j] } : b));
    const rd = rule.requestRedirect;
    const rw = rule.urlRewrite;
    // An invalid rule answers its 500 before any check (its auth is NO_AUTH): it takes no token
    // either. (Envoy would run the listener's and Gateway's JWT, rbac and limit before its
    // direct response; a bucket emptied there by unauthenticated requests would deny others.)
    const rl = invalid === undefined ? fold.rateLimit : undefined;
    const timeouts = invalid === undefined ? routeTimeouts(rule, fold.timeouts) : undefined;
    // Envoy's cors filter does nothing on a direct-response route (a redirect, a DirectResponse,
    // kgateway's 500).
    const direct = invalid === undefined && rule.requestRedirect === undefined ? rs.directResponse : undefined;
    const cors = invalid === undefined && rule.requestRedirect === undefined && direct === undefined ? routeCors(rule, fold.cors) : undefined;
    // Nor does the router retry one: the rule's own retry, else the policies'.
    const retry = invalid === undefined && rule.requestRedirect === undefined && direct === undefined ? routeRetry(rule, fold.retry) : undefined;
    // Nor rewrite one: the rule's URLRewrite, then a TrafficPolicy's urlRewrite where the rule's
    // filter rewrites no path (kgateway skips the policy's regex there, silently: warned here).
    const urlRewrite = invalid === undefined && rule.requestRedirect === undefined && direct === undefined ? fold.urlRewrite : undefined;
    if (urlRewrite !== undefined && rw !== undefined && rewritesPath(rw)) {
      const at = urlRewrite.origin.split('@')[0]!;
      ruleWarn(rt, `spec.rules[${rule.index}].filters`, `this rule's URLRewrite filter rewrites the path, so the urlRewrite of ${at} is not applied to it (kgateway applies the rule's filter and skips the policy's regex)`);
    }
    const rewrite =
      invalid !== undefined || (rw === undefined && urlRewrite === undefined)
        ? undefined
        : (matched: string): RouteRewrite => {
            const own = rw !== undefined ? routeRewrite(rw, matched) : {};
            return urlRewrite !== undefined && (rw === undefined || !rewritesPath(rw)) ? { ...own, regex: urlRewrite.rewrite, regexOrigin: urlRewrite.origin } : own;
          };
    // Nor rewrite its Host: a TrafficPolicy's autoHostRewrite, unless the rule's URLRewrite sets
    // the hostname (kgateway then leaves auto_host_rewrite off, silently: warned here).
    let autoHost = invalid === undefined && rule.requestRedirect === undefined && direct === undefined ? fold.autoHostRewrite : undefined;
    if (autoHost !== undefined && rw?.hostname !== undefined) {
      ruleWarn(rt, `spec.rules[${rule.index}].filters`, `this rule's URLRewrite filter sets the hostname, so the autoHostRewrite of ${autoHost.split('@')[0]!} is not applied to it (kgateway keeps the filter's hostname)`);
      autoHost = undefined;
    }
    // Nor mirror one (validate-httproute.ts keeps no mirror on a redirect rule).
    const mirrors = invalid === undefined && rs.mirrors.length > 0 ? rs.mirrors : undefined;
    for (const m of rule.matches) {
      const rateLimit = rl !== undefined ? gatewayRateLimit(rl, ls, buckets) : undefined;
      const route: CompiledRoute = {
        id: `${rkey}/${rule.index}/${m.index}`,
        route: rkey,
        ...(rule.name !== undefined ? { ruleName: rule.name } : {}),
        path: m.path,
        ...(m.method !== undefined ? { method: m.method } : {}),
        headers: m.headers,
        queryParams: m.queryParams,
        auth,
        claimHeaders,
        backends,
        totalWeight: rs.totalWeight,
        ...(headerMutation !== undefined ? { headerMutation } : {}),
        ...(rd !== undefined && invalid === undefined ? { redirect: routeRedirect(rd, m.path.value) } : {}),
        ...(direct !== undefined ? { directResponse: direct } : {}),
        ...(rewrite !== undefined ? { rewrite: rewrite(m.path.value) } : {}),
        ...(rateLimit !== undefined ? { rateLimit } : {}),
        ...(timeouts !== undefined ? { timeouts } : {}),
        ...(cors !== undefined ? { cors } : {}),
        ...(retry !== undefined ? { retry } : {}),
        ...(invalid === undefined && fold.buffer !== undefined ? { buffer: fold.buffer } : {}),
        ...(autoHost !== undefined ? { autoHostRewrite: true, autoHostRewriteFrom: autoHost } : {}),
        ...(invalid === undefined && fold.compression !== undefined ? { compression: fold.compression } : {}),
        ...(invalid === undefined && fold.decompression !== undefined ? { decompression: fold.decompression } : {}),
        ...(mirrors !== undefined ? { mirrors } : {}),
        ...(invalid !== undefined ? { invalid } : {}),
      };
      if (rl !== undefined && rl.level !== 'Gateway' && rl.spec.kind === 'bucket') perHostRateLimit.set(route, rl);
      out.push({ route, createdMs, nsName: rkey, ruleIndex: rule.index, matchIndex: m.index });
    }
  }
  cache.set(cacheKey, out);
  return out;
}

/**
 * A route's header rules: on the request, the TrafficPolicies' (Envoy's header_mutation filter,
 * in the route stage) and then the rule's RequestHeaderModifier (the router's own, last); on the
 * response, the rule's ResponseHeaderModifier (the router's, as the head comes) and then the
 * policies' (the filter's encode side). Undefined when there are none.
 */
function routeHeaderMutation(rule: RuleModel, policies: PolicyHeaders | undefined): RouteHeaderMutation | undefined {
  // One backendRef: kgateway sends it to a plain cluster and adds that backendRef's header
  // filters to the route's own lists, after the rule's: one HeaderParser evaluation.
  const only = rule.backendRefs.length === 1 ? rule.backendRefs[0] : undefined;
  const origins: string[] = [];
  if (rule.requestHeaderModifier) origins.push('RequestHeaderModifier');
  if (rule.responseHeaderModifier) origins.push('ResponseHeaderModifier');
  if (only?.requestHeaderModifier) origins.push('backendRefs[0] RequestHeaderModifier');
  if (only?.responseHeaderModifier) origins.push('backendRefs[0] ResponseHeaderModifier');
  return headerRules(policies, [mergeSpecs(rule.requestHeaderModifier, only?.requestHeaderModifier)], [mergeSpecs(rule.responseHeaderModifier, only?.responseHeaderModifier)], origins);
}

/**
 * Header rules in Envoy's order: the TrafficPolicies' (the header_mutation filter) first on the
 * request and last on the response, the router's evaluations between them, each spec one
 * HeaderParser evaluation, in the order given. Undefined when there are none.
 */
function headerRules(policies: PolicyHeaders | undefined, request: readonly (HeaderFilterSpec | undefined)[], response: readonly (HeaderFilterSpec | undefined)[], own: readonly string[]): RouteHeaderMutation | undefined {
  const router = (specs: readonly (HeaderFilterSpec | undefined)[], encode: (v: string) => string) => specs.flatMap((spec) => (spec ? routeLevelOps(spec, encode) : []));
  const req = [...(policies?.request ?? []), ...router(request, utf8AsLatin1)];
  const res = [...router(response, asText), ...(policies?.response ?? [])];
  if (req.length === 0 && res.length === 0) return undefined;
  return { request: req, response: res, origins: [...(policies?.origins ?? []), ...own] };
}

/** The rule's list entries, then the backendRef's (kgateway appends them to the route's lists). */
function mergeSpecs(a: HeaderFilterSpec | undefined, b: HeaderFilterSpec | undefined): HeaderFilterSpec | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return { set: [...a.set, ...b.set], add: [...a.add, ...b.add], remove: [...a.remove, ...b.remove] };
}

/**
 * With several backendRefs, each one's header rules with the route's (Envoy's
 * WeightedClusterEntry: the cluster's rules, then the route's, as two evaluations). Index: the
 * backendRef's position; undefined where it has none.
 */
function backendHeaderMutations(rule: RuleModel, policies: PolicyHeaders | undefined): (RouteHeaderMutation | undefined)[] | undefined {
  if (rule.backendRefs.length < 2 || !rule.backendRefs.some((b) => b.requestHeaderModifier || b.responseHeaderModifier)) return undefined;
  return rule.backendRefs.map((b, j) => {
    if (!b.requestHeaderModifier && !b.responseHeaderModifier) return undefined;
    const origins: string[] = [];
    if (b.requestHeaderModifier) origins.push(`backendRefs[${j}] RequestHeaderModifier`);
    if (b.responseHeaderModifier) origins.push(`backendRefs[${j}] ResponseHeaderModifier`);
    if (rule.requestHeaderModifier) origins.push('RequestHeaderModifier');
    if (rule.responseHeaderModifier) origins.push('ResponseHeaderModifier');
    return headerRules(policies, [b.requestHeaderModifier, rule.requestHeaderModifier], [b.responseHeaderModifier, rule.responseHeaderModifier], origins);
  });
}

/**
 * A route's timeouts, as kgateway sets the Envoy route's: the HTTPRoute rule's own `timeouts`
 * (built-in policy, applied first) win the route timeout over a TrafficPolicy's `timeouts.request`;
 * `streamIdle` comes from the policies alone. Undefined when nothing sets either.
 */
function routeTimeouts(rule: RuleModel, policies: PolicyTimeouts | undefined): RouteTimeouts | undefined {
  const requestMs = rule.timeoutMs ?? policies?.requestMs;
  const idleMs = policies?.streamIdleMs;
  if (requestMs === undefined && idleMs === undefined) return undefined;
  const origins: string[] = [];
  if (rule.timeoutMs !== undefined) origins.push('HTTPRoute timeouts');
  else if (policies?.requestOrigin !== undefined) origins.push(policies.requestOrigin);
  if (policies?.streamIdleOrigin !== undefined && !origins.includes(policies.streamIdleOrigin)) origins.push(policies.streamIdleOrigin);
  return { ...(requestMs !== undefined ? { requestMs } : {}), ...(idleMs !== undefined ? { idleMs } : {}), origins };
}

/**
 * A route's retry policy: the HTTPRoute rule's own `retry` (kgateway's built-in policy, which
 * overrides a TrafficPolicy's), else the most specific TrafficPolicy `retry`. Undefined: none.
 */
function routeRetry(rule: RuleModel, policy: FoldResult['retry']): RouteRetry | undefined {
  if (rule.retry !== undefined) return compileRetry(rule.retry, 'HTTPRoute retry');
  return policy !== undefined ? compileRetry(policy.spec, policy.origin) : undefined;
}

/**
 * A route's CORS policy, as Envoy's cors filter reads kgateway's per-filter configs: the rule's CORS
 * filter, else the route side's TrafficPolicy (kgateway keeps the built-in filter's config and
 * drops the policy's for that route), then the listener's and the Gateway's policies, each field
 * from the most specific level that sets it. The most specific config alone says whether the
 * filter is on (`cors.disable`). Undefined: no CORS on the route.
 */
function routeCors(rule: RuleModel, policies: PolicyCors | undefined): RouteCors | undefined {
  const levels: { spec: CorsSpec | 'disabled'; from: string }[] = [];
  if (rule.cors !== undefined) levels.push({ spec: rule.cors, from: 'HTTPRoute CORS filter' });
  for (const p of policies ?? []) if (!(p.routeSide && rule.cors !== undefined)) levels.push(p);
  if (levels.length === 0 || levels[0]!.spec === 'disabled') return undefined;
  return mergeCors(levels.filter((l): l is { spec: CorsSpec; from: string } => l.spec !== 'disabled'));
}

/** A route's `rateLimit.local` to be placed per virtual host (its bucket is made by withHostBuckets). */
const perHostRateLimit = new WeakMap<CompiledRoute, PolicyRateLimit>();

/**
 * `rateLimit.local` buckets by place and settings. A bucket whose key the running snapshot had is
 * taken over, tokens and all (Envoy keeps its per-filter configs while kgateway pushes no change).
 */
class BucketRegistry {
  readonly current = new Map<string, TokenBucket>();
  constructor(private readonly previous: ReadonlyMap<string, TokenBucket> | undefined) {}

  get(place: string, spec: TokenBucketSpec): TokenBucket {
    const key = `${place}|${spec.maxTokens}/${spec.tokensPerFill}/${spec.fillIntervalMs}`;
    let b = this.current.get(key) ?? this.previous?.get(key);
    if (b === undefined) b = new TokenBucket(spec);
    this.current.set(key, b);
    return b;
  }
}

/**
 * A route's `rateLimit.local` when it comes from a Gateway policy: on the port's route
 * configuration in Envoy, one bucket shared by every route of the Gateway on that port without a
 * more specific config. A listener's (virtual host) and a route's (each Envoy route) are per
 * virtual host: left to withHostBuckets. `{}` (kgateway's disable config) at the winning level:
 * no limit.
 */
function gatewayRateLimit(rl: PolicyRateLimit, ls: ListenerState, buckets: BucketRegistry): RouteRateLimit | undefined {
  if (rl.spec.kind === 'disabled') return undefined;
  if (rl.level !== 'Gateway') return undefined;
  const scope = `Gateway ${nk(ls.gw.namespace, ls.gw.name)} port ${ls.l.port}`;
  return placed(rl, rl.spec, buckets.get(`${rl.policyId}|${scope}`, rl.spec.bucket), scope);
}

function placed(rl: PolicyRateLimit, spec: Extract<LocalRateLimitSpec, { kind: 'bucket' }>, bucket: TokenBucket, scope: string): RouteRateLimit {
  return { bucket, percentEnabled: spec.percentEnabled, percentEnforced: spec.percentEnforced, origin: `${rl.policyId}@${rl.level}`, scope };
}

/**
 * The entries of one HTTPRoute for one virtual host (`host`: an exact host, a `*.` pattern or
 * `*`), each route whose `rateLimit.local` comes from a listener or route-side policy given the
 * bucket of that virtual host: Envoy builds a listener policy's config once per virtual host, and
 * a route policy's once per route of each virtual host (kgateway copies the routes into every
 * virtual host of their hostnames). Other entries are returned as they are.
 */
function withHostBuckets(entries: RouteEntry[], owner: ListenerState, host: string, buckets: BucketRegistry): RouteEntry[] {
  let out: RouteEntry[] | undefined;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const rl = perHostRateLimit.get(e.route);
    if (rl === undefined || rl.spec.kind !== 'bucket') continue;
    const scope = rl.level === 'Listener' ? `listener ${owner.key} host ${host}` : `route, host ${host}`;
    const place = rl.level === 'Listener' ? `${rl.policyId}|${scope}` : `${rl.policyId}|${e.route.id}|${owner.key}|${host}`;
    out ??= [...entries];
    out[i] = { ...e, route: { ...e.route, rateLimit: placed(rl, rl.spec, buckets.get(place, rl.spec.bucket), scope) } };
  }
  return out ?? entries;
}

/** Envoy's redirect action as kgateway builds it from a RequestRedirect (`matched`: the match's path value). */
function routeRedirect(rd: RedirectModel, matched: string): RouteRedirect {
  return {
    status: rd.statusCode,
    ...(rd.scheme !== undefined ? { scheme: rd.scheme } : {}),
    ...(rd.hostname !== undefined ? { host: rd.hostname } : {}),
    ...(rd.port !== undefined ? { port: rd.port } : {}),
    ...(rd.path?.type === 'ReplaceFullPath' && rd.path.replaceFullPath !== undefined ? { fullPath: rd.path.replaceFullPath } : {}),
    ...(rd.path?.type === 'ReplacePrefixMatch' && rd.path.replacePrefixMatch !== undefined ? { prefix: { matched, rewrite: rd.path.replacePrefixMatch } } : {}),
  };
}

/** A URLRewrite filter that rewrites the path (kgateway emits a prefix_rewrite or regex_rewrite for it). */
function rewritesPath(rw: RewriteModel): boolean {
  const p = rw.path;
  return (p?.type === 'ReplaceFullPath' && p.replaceFullPath !== undefined && p.replaceFullPath !== '') || (p?.type === 'ReplacePrefixMatch' && p.replacePrefixMatch !== undefined && p.replacePrefixMatch !== '');
}

/** Envoy's route rewrite as kgateway builds it from a URLRewrite (`matched`: the match's path value). */
function routeRewrite(rw: RewriteModel, matched: string): RouteRewrite {
  return {
    ...(rw.hostname !== undefined ? { host: rw.hostname } : {}),
    ...(rw.path?.type === 'ReplaceFullPath' && rw.path.replaceFullPath !== undefined ? { fullPath: rw.path.replaceFullPath } : {}),
    ...(rw.path?.type === 'ReplacePrefixMatch' && rw.path.replacePrefixMatch !== undefined ? { prefix: { matched, rewrite: rw.path.replacePrefixMatch } } : {}),
  };
}

/** The listener's and Gateway's response rules alone (an invalid rule's 500), or undefined. */
function outerHeaderMutation(policies: PolicyHeaders | undefined): RouteHeaderMutation | undefined {
  if (policies === undefined || policies.outerResponse.length === 0) return undefined;
  return { request: [], response: policies.outerResponse, origins: policies.outerOrigins };
}

/** Why a backend reference does not resolve: the field at fault and the cause, without its consequence. */
interface Unresolved {
  readonly ok: false;
  /** Route status reason (ResolvedRefs False). */
  readonly reason: string;
  readonly field: 'kind' | 'namespace' | 'name' | 'port';
  readonly cause: string;
  /** What is wrong with the object it names (an invalid Backend's first error), after the cause. */
  readonly detail?: string;
}

/**
 * Resolves a backend reference of an HTTPRoute as kgateway does (a rule's backendRef, a
 * RequestMirror's): a Service (by its cluster DNS name) or a kgateway Backend, a ReferenceGrant
 * for another namespace, never in cleartext where kgateway would speak TLS.
 */
const BACKEND_REF_KINDS = [['', 'Service'], [KGATEWAY_GROUP, 'Backend']] as const;

function resolveRef(
  rt: HTTPRouteModel,
  ref: BackendObjectRefModel,
  backends: ReadonlyMap<string, BackendModel>,
  grants: readonly ReferenceGrantModel[],
  clusterDomain: string,
  tlsRequired: ReadonlyMap<string, string>,
): { ok: true; target: BackendTarget } | Unresolved {
  // A name is any string to the CRD: `user:secret@host` written as one is shown without its password.
  const what = `${ref.kind} ${ref.namespace}/${redactUserinfo(ref.name)}`;
  if (ref.unsupportedKind) {
    const delegation = ref.group === GATEWAY_API_GROUP && ref.kind === 'HTTPRoute' ? ' (route delegation, a backendRef to HTTPRoutes, is not supported by jwtgate)' : '';
    return { ok: false, reason: 'InvalidKind', field: 'kind', cause: `backendRef ${groupKind(ref.group, ref.kind)} not supported by jwtgate (only Service, or gateway.kgateway.dev Backend)${delegation}${refSuggestion(ref.group, ref.kind, BACKEND_REF_KINDS)}` };
  }
  if (!referenceAllowed(grants, { group: GATEWAY_API_GROUP, kind: 'HTTPRoute', namespace: rt.namespace }, { group: ref.group, kind: ref.kind, namespace: ref.namespace, name: ref.name })) {
    return { ok: false, reason: 'RefNotPermitted', field: 'namespace', cause: `backendRef to ${what} is not permitted: no ReferenceGrant in namespace ${ref.namespace} allows HTTPRoutes from namespace ${rt.namespace}` };
  }
  // Traffic kgateway sends over TLS must not go out in cleartext: jwtgate originates no TLS to backends.
  const tlsBy =
    tlsRequired.get(`${ref.kind === 'Service' ? 'Service' : 'Backend'}/${ref.namespace}/${ref.name}`) ??
    (ref.kind === 'Service' ? (tlsRequired.get(`Service/${ref.namespace}/*`) ?? tlsRequired.get('Service/*/*')) : undefined);
  if (tlsBy !== undefined) {
    return { ok: false, reason: 'UnsupportedProtocol', field: 'name', cause: `${what} is to be reached over TLS (${tlsBy}), which jwtgate does not originate to backends (it proxies in plain HTTP)` };
  }
  if (ref.kind === 'Service') {
    const key = `Service/${ref.namespace}/${ref.name}:${ref.port}`;
    return { ok: true, target: { key, endpoints: [{ host: `${ref.name}.${ref.namespace}.svc.${clusterDomain}`, port: ref.port! }] } };
  }
  const b = backends.get(nk(ref.namespace, ref.name));
  if (!b) return { ok: false, reason: 'BackendNotFound', field: 'name', cause: `${what} not found` };
  if (!b.valid) return { ok: false, reason: 'BackendNotFound', field: 'name', cause: `${what} is invalid`, detail: `: ${b.error ?? ''}` };
  return { ok: true, target: { key: `Backend/${ref.namespace}/${ref.name}`, endpoints: b.hosts.map((h) => ({ host: h.host, port: h.port })) } };
}

/** A rule's backendRef: one that does not resolve is an error, and the requests drawn to it get 500. */
function resolveBackendRef(
  rt: HTTPRouteModel,
  rule: RuleModel,
  ref: BackendRefModel,
  cx: ParseCtx,
  backends: ReadonlyMap<string, BackendModel>,
  grants: readonly ReferenceGrantModel[],
  clusterDomain: string,
  tlsRequired: ReadonlyMap<string, string>,
): { ok: true; target: BackendTarget } | { ok: false; reason: string; message: string } {
  const p = `spec.rules[${rule.index}].backendRefs[${ref.index}]`;
  const r = resolveRef(rt, ref, backends, grants, clusterDomain, tlsRequired);
  if (r.ok) return r;
  // Gateway API: an unresolved reference is ResolvedRefs False, and only the requests drawn to it
  // get 500 (kgateway points its share at a cluster Envoy does not have).
  const message =
    r.reason === 'InvalidKind' ? `${r.cause}: requests drawn to it get 500`
    : r.reason === 'UnsupportedProtocol' ? `${r.cause}: requests drawn to it get 500 rather than being sent in cleartext`
    : `${r.cause} (requests for it get 500)${r.detail ?? ''}`;
  cx.error(`${p}.${r.field}`, message);
  return { ok: false, reason: r.reason, message };
}

/**
 * A rule's RequestMirror: its backendRef resolved as a backendRef is. kgateway drops a mirror
 * whose backend does not resolve, is not permitted, or is a kgateway Backend named with a port
 * (BackendPortNotAllowedError), and the rule serves on: here too, with a warning that says so.
 */
function resolveMirror(
  rt: HTTPRouteModel,
  m: MirrorModel,
  cx: ParseCtx,
  backends: ReadonlyMap<string, BackendModel>,
  grants: readonly ReferenceGrantModel[],
  clusterDomain: string,
  tlsRequired: ReadonlyMap<string, string>,
): BackendTarget | undefined {
  const ref = m.backendRef;
  // kgateway checks the ReferenceGrant first, then looks the backend up (where the port fails).
  const permitted = referenceAllowed(grants, { group: GATEWAY_API_GROUP, kind: 'HTTPRoute', namespace: rt.namespace }, { group: ref.group, kind: ref.kind, namespace: ref.namespace, name: ref.name });
  const r: { ok: true; target: BackendTarget } | Unresolved =
    permitted && backendRefKind(ref.group, ref.kind) === 'Backend' && ref.port !== undefined
      ? { ok: false, reason: 'BackendPortNotAllowed', field: 'port', cause: `a gateway.kgateway.dev Backend is named without a port (its hosts carry theirs): port ${ref.port} is not allowed` }
      : resolveRef(rt, ref, backends, grants, clusterDomain, tlsRequired);
  if (r.ok) return r.target;
  cx.warn(m.path, `RequestMirror is dropped, as kgateway drops it: requestMirror.backendRef.${r.field}: ${r.cause}${r.detail ?? ''}. The rule serves without it: no copy of its requests is sent`);
  return undefined;
}

/**
 * `Service/ns/name` and `Backend/ns/name` that kgateway reaches over TLS, with what asks for it:
 * a Gateway API BackendTLSPolicy's targetRefs, and a BackendConfigPolicy with `tls` (which
 * jwtgate applies to remote JWKS fetches only).
 */
function tlsRequiredTargets(v: ValidatedConfig, backendTls: ReadonlyMap<string, unknown>, globalPolicyNamespace: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const key of backendTls.keys()) {
    const bcp = v.backendConfigPolicies.find((p) => p.valid && p.tls && targetsKey(p, key));
    out.set(key, bcp ? `BackendConfigPolicy ${bcp.raw.namespace}/${bcp.raw.name} sets tls` : 'a BackendConfigPolicy with tls selects it');
  }
  // A Service selector: jwtgate reads no Service labels, so every Service the selector could
  // select counts (of the policy's namespace; of all, from the global policy namespace).
  for (const p of v.backendConfigPolicies) {
    if (!p.valid || !p.tls || !p.targetSelectors.some((sel) => backendRefKind(sel.group, sel.kind) === 'Service')) continue;
    const ns = p.raw.namespace === globalPolicyNamespace ? '*' : p.raw.namespace;
    out.set(`Service/${ns}/*`, `BackendConfigPolicy ${p.raw.namespace}/${p.raw.name} sets tls for Services its targetSelectors select, and jwtgate reads no Service labels`);
  }
  for (const a of v.all) {
    if (a.raw.kind !== 'BackendTLSPolicy' || !a.raw.apiVersion.startsWith(`${GATEWAY_API_GROUP}/`)) continue;
    const refs = (a.raw.object['spec'] as { targetRefs?: unknown } | undefined)?.targetRefs;
    if (!Array.isArray(refs)) continue;
    for (const t of refs as { group?: unknown; kind?: unknown; name?: unknown }[]) {
      if (t === null || typeof t !== 'object' || typeof t.name !== 'string' || typeof t.kind !== 'string') continue;
      const kind = backendRefKind(typeof t.group === 'string' ? t.group : '', t.kind);
      if (kind) out.set(`${kind}/${a.raw.namespace}/${t.name}`, `BackendTLSPolicy ${a.raw.namespace}/${a.raw.name}`);
    }
  }
  return out;
}

function targetsKey(p: BackendConfigPolicyModel, key: string): boolean {
  const ns = p.raw.namespace;
  return p.targetRefs.some((t) => `${backendRefKind(t.group, t.kind)}/${ns}/${t.name}` === key);
}

const LEVEL_ORDER: readonly string[] = ['Gateway', 'Listener', 'HTTPRoute', 'Rule', 'ExtensionRef'] satisfies readonly PolicyLevel[];
const LEVEL_WORDS: Readonly<Record<string, string>> = {
  Gateway: 'Gateway level',
  Listener: 'listener level',
  HTTPRoute: 'HTTPRoute level',
  Rule: 'rule level',
  ExtensionRef: 'ExtensionRef filter level',
};

/**
 * Different GatewayExtensions that apply to one route from two levels (a Gateway policy and a
 * route policy, say) both run, each must pass (spec §2.4), where kgateway's docs say the
 * route-level policy takes precedence (spec §6.6). And an earlier extension (`jwt/<ns>/<name>`
 * order) that removes the token it accepted (forwardToken unset) leaves the later one without it:
 * 401 Jwt is missing for every request with one token. Warned once per pair of extensions and
 * more specific policy, on that policy's extensionRef, naming the routes.
 */
function warnStackedExtensions(compiled: ReadonlyMap<string, RouteEntry[]>, policyById: ReadonlyMap<string, PolicyState>, problems: ConfigProblem[]): void {
  const pairs = new Map<string, { a: JwtExtension; b: JwtExtension; originA: string; originB: string; routes: Set<string> }>();
  for (const entries of compiled.values()) {
    for (const { route } of entries) {
      const { jwt, origins } = route.auth;
      for (let i = 0; i < jwt.length; i++) {
        for (let j = i + 1; j < jwt.length; j++) {
          const key = `${origins[i]}|${origins[j]}|${jwt[i]!.filterName}|${jwt[j]!.filterName}`;
          let p = pairs.get(key);
          if (!p) pairs.set(key, (p = { a: jwt[i]!, b: jwt[j]!, originA: origins[i]!, originB: origins[j]!, routes: new Set() }));
          p.routes.add(route.route);
        }
      }
    }
  }
  const split = (origin: string): { id: string; level: string } => {
    const at = origin.lastIndexOf('@');
    return { id: origin.slice(0, at), level: origin.slice(at + 1) };
  };
  for (const { a, b, originA, originB, routes } of pairs.values()) {
    const oa = split(originA);
    const ob = split(originB);
    // On the more specific policy: the one whose author expected it to take over.
    const [specific, general] = LEVEL_ORDER.indexOf(oa.level) >= LEVEL_ORDER.indexOf(ob.level) ? [oa, ob] : [ob, oa];
    const st = policyById.get(specific.id);
    if (!st) continue;
    const name = (id: string): string => id.slice(id.indexOf('/') + 1);
    const extOf = (o: { id: string }): string => (o === oa ? a.key : b.key);
    const on = `${routes.size === 1 ? 'HTTPRoute' : 'HTTPRoutes'} ${listSome([...routes].sort())}`;
    let msg =
      `GatewayExtension ${extOf(specific)} (this policy, at the ${LEVEL_WORDS[specific.level]}) and GatewayExtension ${extOf(general)} (TrafficPolicy ${name(general.id)}, at the ${LEVEL_WORDS[general.level]}) both apply to ${on}: ` +
      `different GatewayExtensions do not override each other (kgateway's docs say route-level policies take precedence; for JWT that holds only for the same GatewayExtension): both JWT filters run, ${a.filterName} first, and a request must pass each`;
    // The earlier one's providers that remove a token from a location the later one reads.
    const readsB = new Set(b.providers.flatMap(tokenLocations));
    const removers = a.providers.filter((p) => !p.forwardToken && tokenLocations(p).some((l) => readsB.has(l)));
    if (removers.length > 0) {
      const who = `${a.key}'s provider${removers.length === 1 ? '' : 's'} ${listSome(removers.map((p) => p.name))} ${removers.length === 1 ? 'does' : 'do'} not set forwardToken: true`;
      const then = b.allowMissing
        ? `${b.key} (AllowMissing) then finds no token and lets the request through unchecked, without its claim headers`
        : `${b.key} then answers 401 Jwt is missing: no request with one token passes`;
      msg += `. ${who}, so it removes the token it accepted and ${then}. Set forwardToken: true on ${a.key}'s providers, or use one GatewayExtension (with both providers) at one level`;
    } else msg += ': if one check is meant, use one GatewayExtension at one level';
    ParseCtx.for(st.model.raw, problems).warn('spec.jwtAuth.extensionRef', msg);
  }
}

/**
 * An `rbac` whose expressions read the JWT claims on routes where no JWT check runs (no
 * `jwtAuth` applies there, or `jwtAuth.disable`): jwt_authn's metadata is never there, so those
 * expressions never match. Under Allow every request there gets 403; under Deny, the claims
 * never deny. Warned once per policy, naming the routes.
 */
function warnClaimsWithoutJwt(compiled: ReadonlyMap<string, RouteEntry[]>, policyById: ReadonlyMap<string, PolicyState>, problems: ConfigProblem[]): void {
  // Per policy and HTTPRoute: its rules without a JWT check, and whether another of its rules has one.
  const byPolicy = new Map<string, { action: 'Allow' | 'Deny'; routes: Map<string, { without: Set<string>; someWith: boolean }> }>();
  for (const entries of compiled.values()) {
    for (const { route, ruleIndex } of entries) {
      const rbac = route.auth.rbac;
      if (rbac === undefined || !rbac.readsClaims || route.invalid !== undefined) continue;
      const id = rbac.origin.slice(0, rbac.origin.lastIndexOf('@'));
      let e = byPolicy.get(id);
      if (!e) byPolicy.set(id, (e = { action: rbac.action, routes: new Map() }));
      let r = e.routes.get(route.route);
      if (!r) e.routes.set(route.route, (r = { without: new Set(), someWith: false }));
      if (route.auth.jwt.length > 0) r.someWith = true;
      else r.without.add(route.ruleName ?? `rules[${ruleIndex}]`);
    }
  }
  for (const [id, { action, routes }] of byPolicy) {
    const st = policyById.get(id);
    if (!st) continue;
    // A route all of whose rules lack the check is named alone; otherwise with those rules.
    const named = [...routes].filter(([, r]) => r.without.size > 0).map(([key, r]) => (r.someWith ? `${key} (${[...r.without].sort().join(', ')})` : key));
    if (named.length === 0) continue;
    const on = `${named.length === 1 ? 'HTTPRoute' : 'HTTPRoutes'} ${listSome(named.sort())}`;
    const then = action === 'Allow' ? 'so they never match and this Allow policy answers 403 to every request there unless another expression matches' : 'so they never match and this Deny policy never denies by claims there';
    ParseCtx.for(st.model.raw, problems).warn(
      'spec.rbac.policy.matchExpressions',
      `expressions read the JWT claims (metadata.filter_metadata['${JWT_METADATA}']) but no JWT check runs on ${on} (no jwtAuth applies there, or jwtAuth.disable does): the claims are never there, ${then}. Attach a jwtAuth to those routes`,
    );
  }
}

/** Where a provider reads its token: `h:<header>` and `q:<query parameter>`. */
function tokenLocations(p: JwtProvider): string[] {
  return [...p.headerLocations.map((l) => `h:${l.name}`), ...p.queryLocations.map((q) => `q:${q}`)];
}

function targetNotFound(kind: string, ns: string, name: string, all: readonly RawResource[]): string {
  const elsewhere = all.filter((r) => r.name === name && r.namespace !== ns).map((r) => r.namespace);
  if (elsewhere.length > 0) {
    return `target ${kind} ${elsewhere[0]}/${name} not found in namespace ${ns}: kgateway silently ignores this policy (a policy must be in the namespace of its target; move it to namespace ${elsewhere[0]})`;
  }
  // A misspelt name (`httpbn` for `httpbin`): the closest of that kind in the policy's namespace.
  let close: string | undefined;
  let best = Number.POSITIVE_INFINITY;
  for (const r of all) {
    if (r.namespace !== ns || r.name === name) continue;
    const d = editDistance(r.name, name);
    if (d <= Math.max(1, Math.min(3, Math.floor(Math.max(r.name.length, name.length) / 4))) && d < best) {
      close = r.name;
      best = d;
    }
  }
  if (close !== undefined) {
    return `target ${kind} ${ns}/${name} not found: kgateway silently ignores this policy; did you mean "${close}"? (${kind} ${ns}/${close} gets no policy from it)`;
  }
  return `target ${kind} ${ns}/${name} not found: kgateway silently ignores this policy`;
}

/** The first listener noted under a suffix, and the first of another Gateway than it: enough to find one of any Gateway but a given one. */
interface SuffixSlot {
  readonly a: ListenerState;
  b?: ListenerState;
}

function noteSuffix(m: Map<string, SuffixSlot>, key: string, ls: ListenerState): void {
  const s = m.get(key);
  if (s === undefined) m.set(key, { a: ls });
  else if (s.b === undefined && s.a.gw !== ls.gw) s.b = ls;
}

/** A listener noted under `key` whose Gateway is not `ls`'s. */
function otherGateway(m: ReadonlyMap<string, SuffixSlot>, key: string, ls: ListenerState): ListenerState | undefined {
  const s = m.get(key);
  if (s === undefined) return undefined;
  if (s.a.gw !== ls.gw) return s.a;
  return s.b !== undefined && s.b.gw !== ls.gw ? s.b : undefined;
}

/** `.b.c` -> `.c` -> undefined: the domain suffixes above one, on label boundaries. */
function parentSuffix(suffix: string): string | undefined {
  const i = suffix.indexOf('.', 1);
  return i < 0 ? undefined : suffix.slice(i);
}

function firstErrorOf(problems: readonly ConfigProblem[], id: string): string {
  const p = problems.find((x) => x.resource === id && x.severity === 'error');
  return p ? `${p.path}: ${p.message}` : 'invalid';
}

/** Freezes plain objects and arrays recursively (Maps are only typed readonly; KeyObjects and RegExps are left alone). */
function deepFreeze<T>(value: T, seen = new Set<unknown>()): T {
  if (value === null || typeof value !== 'object' || seen.has(value)) return value;
  seen.add(value);
  if (value instanceof Map) {
    for (const [, v] of value) deepFreeze(v, seen);
    return value;
  }
  if (value instanceof RegExp || ArrayBuffer.isView(value)) return value;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) return value;
  for (const v of Object.values(value as object)) deepFreeze(v, seen);
  return Object.freeze(value);
}

/** The indexes in `gateways` of the Gateways `lp` targets (targetRefs in its namespace; selectors by labels, in every namespace from the global policy namespace). */
function listenerPolicyTargets(lp: ListenerPolicyModel, gateways: readonly GatewayModel[], globalNs: string | undefined): Set<number> {
  const hit = new Set<number>();
  for (const t of lp.targetRefs) {
    if (t.group !== GATEWAY_API_GROUP || t.kind !== 'Gateway') continue;
    const i = gateways.findIndex((g) => g.namespace === lp.namespace && g.name === t.name);
    if (i >= 0) hit.add(i);
  }
  for (const sel of lp.targetSelectors) {
    if (sel.group !== GATEWAY_API_GROUP || sel.kind !== 'Gateway') continue;
    gateways.forEach((g, i) => {
      if ((g.namespace === lp.namespace || lp.namespace === globalNs) && labelsMatch(g.raw.labels, sel.matchLabels)) hit.add(i);
    });
  }
  return hit;
}

/**
 * Each Gateway port's `earlyRequestHeaderModifier` rules, keyed `namespace/name:port`, as kgateway
 * merges them: among the ListenerPolicies targeting the Gateway, the oldest that sets the field
 * wins (kgateway's shallow merge keeps the first policy's whole modifier); a port with a
 * `perPort` entry in any of them takes its rules from the per-port settings only (they replace
 * `default` there), else from `default`. An HTTPListenerPolicy's rules (kgateway's older kind)
 * come after, as a second early mutation extension. Rules run in kgateway's order (adds, sets,
 * removals; Envoy applies the list in order). A policy refused elsewhere contributes nothing
 * (its Gateways answer 500).
 */
function earlyHeaderRules(gateways: readonly GatewayModel[], policies: readonly ListenerPolicyModel[], problems: ConfigProblem[], globalNs: string | undefined): Map<string, HeaderOp[]> {
  const out = new Map<string, HeaderOp[]>();
  // A policy the API server would refuse (valid false) does not exist for kgateway: no rules.
  const byAge = [...policies].filter((lp) => lp.denying.length === 0 && lp.valid).sort((a, b) => compareAge(a.raw, b.raw));
  const targets = new Map(byAge.map((lp) => [lp, listenerPolicyTargets(lp, gateways, globalNs)]));
  gateways.forEach((g, i) => {
    if (g.refused !== undefined) return;
    const mine = byAge.filter((lp) => targets.get(lp)!.has(i));
    const lps = mine.filter((lp) => lp.raw.kind === 'ListenerPolicy');
    const https = mine.filter((lp) => lp.raw.kind === 'HTTPListenerPolicy');
    const httpRules = https.find((lp) => lp.early.default !== undefined);
    const gkey = nk(g.namespace, g.name);
    const withBoth = new Set<number>();
    for (const port of new Set(g.listeners.map((l) => l.port))) {
      const perPort = lps.some((lp) => lp.early.perPort.has(port));
      const winner = perPort ? lps.find((lp) => lp.early.perPort.get(port) !== undefined) : lps.find((lp) => lp.early.default !== undefined);
      const spec = winner === undefined ? undefined : perPort ? winner.early.perPort.get(port) : winner.early.default;
      const ops = [...(spec ? policyOps(spec, asText) : []), ...(httpRules ? policyOps(httpRules.early.default!, asText) : [])];
      if (spec && httpRules) withBoth.add(port);
      if (ops.length > 0) out.set(`${gkey}:${port}`, ops);
    }
    if (withBoth.size > 0) {
      ParseCtx.for(g.raw, problems).warn(
        'spec',
        `both a ListenerPolicy and HTTPListenerPolicy ${httpRules!.namespace}/${httpRules!.name} set earlyRequestHeaderModifier for port${withBoth.size > 1 ? 's' : ''} ${[...withBoth].join(', ')}: jwtgate applies the ListenerPolicy's rules first, then the HTTPListenerPolicy's (kgateway adds both; their order there is not documented): merge them into the ListenerPolicy`,
      );
    }
  });
  return out;
}

/**
 * A ListenerPolicy / HTTPListenerPolicy that sets a field that can deny or strip (`rbac`,
 * `earlyRequestHeaderModifier`, an unknown one): the Gateways it targets (targetRefs in its
 * namespace; targetSelectors by matchLabels, in every namespace from the global policy
 * namespace) answer 500 for every request for their hosts (`refused`), as a Gateway with an
 * unsupported inherited-policy-priority: serving them would let through connections kgateway
 * refuses, or headers it strips before routing.
 */
function refuseListenerPolicyTargets(gateways: GatewayModel[], policies: readonly ListenerPolicyModel[], problems: ConfigProblem[], globalNs: string | undefined): void {
  for (const policy of policies) {
    let lp = policy;
    // Early header rules for one listener (a target with sectionName): jwtgate places them per
    // Gateway and port only, so that Gateway fails closed rather than serve the rule elsewhere or not at all.
    const hasEarly = lp.early.default !== undefined || [...lp.early.perPort.values()].some((f) => f !== undefined);
    if (hasEarly && [...lp.targetRefs, ...lp.targetSelectors].some((t) => t.sectionName !== undefined)) {
      lp = { ...lp, denying: [...lp.denying, 'earlyRequestHeaderModifier with a target sectionName (jwtgate applies early header rules per Gateway and port)'] };
    }
    if (lp.denying.length === 0) continue;
    const hit = listenerPolicyTargets(lp, gateways, globalNs);
    for (const i of hit) {
      const g = gateways[i]!;
      const what = `${lp.raw.kind} ${lp.namespace}/${lp.name} sets ${lp.denying.join(', ')}, which jwtgate does not apply`;
      ParseCtx.for(g.raw, problems).error('spec', `${what}: every request for the Gateway's hosts answers 500 rather than being served without it`);
      gateways[i] = { ...g, refused: g.refused ?? what };
    }
  }
}

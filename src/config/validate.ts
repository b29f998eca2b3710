// Validates every loaded resource by kind (one validator per kind) and sorts them into typed
// collections. Unknown kinds are reported as ignored; a second resource with the same
// (group, kind, namespace, name) is an error and is not used. References between resources
// are not resolved here (compile.ts does that).

import type { ConfigProblem } from '../errors.js';
import { resourceId, type RawResource } from './resource.js';
import { ParseCtx } from './schema.js';
import { namespaceName, dnsSubdomain, editDistance, GATEWAY_API_GROUP, KGATEWAY_GROUP, markFatal, objectMeta } from './validate-common.js';
import { validateBackend, type BackendModel } from './validate-backend.js';
import { validateGateway, type GatewayModel } from './validate-gateway.js';
import { validateGatewayExtension, type GatewayExtensionModel } from './validate-gateway-extension.js';
import { validateHTTPRoute, type HTTPRouteModel } from './validate-httproute.js';
import { validateListenerSet, type ListenerSetModel } from './validate-listenerset.js';
import { validateListenerPolicy, type ListenerPolicyModel } from './validate-listener-policy.js';
import {
  validateBackendConfigPolicy,
  validateConfigMap,
  validateReferenceGrant,
  validateSecret,
  validateDirectResponse,
  type BackendConfigPolicyModel,
  type ConfigMapModel,
  type ReferenceGrantModel,
  type SecretModel,
  type DirectResponseModel,
} from './validate-misc.js';
import { validateTrafficPolicy, type TrafficPolicyModel } from './validate-traffic-policy.js';

export interface ValidatedConfig {
  readonly gateways: GatewayModel[];
  readonly routes: HTTPRouteModel[];
  readonly backends: BackendModel[];
  readonly extensions: GatewayExtensionModel[];
  readonly policies: TrafficPolicyModel[];
  readonly configMaps: ConfigMapModel[];
  readonly referenceGrants: ReferenceGrantModel[];
  readonly backendConfigPolicies: BackendConfigPolicyModel[];
  /** Secrets (BackendConfigPolicy tls.secretRef). */
  readonly secrets: SecretModel[];
  /** ListenerSets and XListenerSets: not served, their listeners fail closed on their parent. */
  readonly listenerSets: ListenerSetModel[];
  /** ListenerPolicies and HTTPListenerPolicies: not applied; denying ones leave their Gateways unserved. */
  readonly listenerPolicies: ListenerPolicyModel[];
  /** DirectResponses, for HTTPRoute ExtensionRef filters. */
  readonly directResponses: DirectResponseModel[];
  /** Every resource in input order with how it was handled (for statuses). */
  readonly all: { readonly raw: RawResource; readonly id: string; readonly handling: 'used' | 'ignored' | 'duplicate' | 'unsupported' | 'invalid-metadata'; readonly message?: string }[];
}

const GW = GATEWAY_API_GROUP;
const KGW = KGATEWAY_GROUP;
/** Gateway API's experimental group (XListenerSet). */
const XGW = 'gateway.networking.x-k8s.io';

/** Kinds jwtgate reads, by `group/Kind`. */
const KINDS = new Set([`${GW}/Gateway`, `${GW}/HTTPRoute`, `${GW}/ReferenceGrant`, `${KGW}/Backend`, `${KGW}/GatewayExtension`, `${KGW}/TrafficPolicy`, `${KGW}/BackendConfigPolicy`, '/ConfigMap', '/Secret', `${GW}/ListenerSet`, `${XGW}/XListenerSet`, `${KGW}/ListenerPolicy`, `${KGW}/HTTPListenerPolicy`, `${KGW}/DirectResponse`]);
/** Kinds that commonly sit next to the config and need no warning. */
const SILENT = new Set([`${GW}/GatewayClass`, '/Namespace', '/Service']);
const NOT_SUPPORTED: Record<string, string> = {
  [`${GW}/GRPCRoute`]: 'GRPCRoute is not supported by jwtgate yet: ignored (jwtgate serves HTTP/1.1; requests for its hostnames are matched against the HTTPRoutes of the port)',
  [`${GW}/TCPRoute`]: 'TCPRoute is not supported by jwtgate: ignored',
  [`${GW}/TLSRoute`]: 'TLSRoute is not supported by jwtgate: ignored',
  [`${GW}/UDPRoute`]: 'UDPRoute is not supported by jwtgate: ignored',
  [`${GW}/BackendTLSPolicy`]: 'BackendTLSPolicy is not supported by jwtgate: it proxies in plain HTTP, so requests drawn to the Backends and Services this policy targets get 500 (see the HTTPRoutes referencing them)',
};

function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

function versionOf(apiVersion: string): string {
  return apiVersion.slice(apiVersion.indexOf('/') + 1);
}

/**
 * The kinds jwtgate serves from a CRD: their group, whose they are, the versions the CRDs serve
 * and what to write. Gateway API stopped serving v1alpha2 of Gateway and HTTPRoute (gateway-api
 * #2069) and of ReferenceGrant (v1.2, #3361); v1beta1 of Gateway and HTTPRoute is still served,
 * and ReferenceGrant v1 is served from Gateway API v1.5 on.
 */
const HOME: Readonly<Record<string, { readonly group: string; readonly owner: string; readonly versions: readonly string[]; readonly write: string }>> = {
  Gateway: { group: GW, owner: 'Gateway API', versions: ['v1', 'v1beta1'], write: `${GW}/v1` },
  HTTPRoute: { group: GW, owner: 'Gateway API', versions: ['v1', 'v1beta1'], write: `${GW}/v1` },
  ReferenceGrant: { group: GW, owner: 'Gateway API', versions: ['v1beta1', 'v1'], write: `${GW}/v1beta1` },
  TrafficPolicy: { group: KGW, owner: 'kgateway', versions: ['v1alpha1'], write: `${KGW}/v1alpha1` },
  GatewayExtension: { group: KGW, owner: 'kgateway', versions: ['v1alpha1'], write: `${KGW}/v1alpha1` },
  Backend: { group: KGW, owner: 'kgateway', versions: ['v1alpha1'], write: `${KGW}/v1alpha1` },
  BackendConfigPolicy: { group: KGW, owner: 'kgateway', versions: ['v1alpha1'], write: `${KGW}/v1alpha1` },
};

/**
 * Other projects' CRDs with the name of a kind jwtgate serves, by `group/Kind`: real resources
 * that may sit next to the configuration, so only warned about. Any other group for these kinds
 * is an error: a TrafficPolicy in `kgateway.dev` or `gateway.solo.io`, or an HTTPRoute in
 * `networking.k8s.io`, dropped with a warning left its routes without their JWT check.
 */
const FOREIGN: Readonly<Record<string, string>> = {
  'networking.istio.io/Gateway': 'Istio',
  'gateway.solo.io/Gateway': 'Gloo Edge',
  'policy.linkerd.io/HTTPRoute': 'Linkerd',
  'networking.mesh.gloo.solo.io/TrafficPolicy': 'Gloo Mesh',
  'gateway.envoyproxy.io/Backend': 'Envoy Gateway',
};

const REFUSED = ' (the API server refuses it; serve refuses to start, as dropping it could drop a policy or a route)';

/**
 * A group that is a slip for the home group, not another project's: none, the other group
 * jwtgate reads (a ReferenceGrant in kgateway's), within two edits of it, a group with `kgateway`
 * in it (`kgateway.dev`, `gateway.kgateway.io`) or a Kubernetes one (`networking.k8s.io`,
 * `networking.x-k8s.io`), and for kgateway's kinds Gloo's gateway groups (`gateway.solo.io`,
 * `gateway.gloo.solo.io`, `gloo.solo.io`).
 * Another project's CRD of the same kind name in any other group (HAProxy Ingress's Backend,
 * Crossplane's Gateway) is real, accepted by the API server and ignored by kgateway: a warning.
 */
function nearMissGroup(group: string, home: string): boolean {
  if (group === '' || group === KGW || group === GW || editDistance(group, home) <= 2) return true;
  // No other project's CRD lives in a kgateway-named or a Kubernetes (*.k8s.io) group.
  if (/kgateway/.test(group) || /k8s\.io$/.test(group)) return true;
  // Gloo's gateway groups, where kgateway came from (not Solo's other projects: Gloo Mesh and
  // Service Mesh Hub have TrafficPolicy CRDs of their own).
  return home === KGW && GLOO_GATEWAY_GROUPS.includes(group);
}

const GLOO_GATEWAY_GROUPS = ['gateway.solo.io', 'gateway.gloo.solo.io', 'gloo.solo.io'];

/**
 * For a kind jwtgate serves written with a group that is a slip for its own (nearMissGroup), or a
 * version its CRD does not serve: the error to report (undefined when the apiVersion is right, or
 * the group is another project's).
 */
function wrongApiVersion(apiVersion: string, kind: string): string | undefined {
  const home = Object.hasOwn(HOME, kind) ? HOME[kind] : undefined;
  if (home === undefined) return undefined;
  const group = groupOf(apiVersion);
  if (group !== home.group) {
    if (Object.hasOwn(FOREIGN, `${group}/${kind}`) || !nearMissGroup(group, home.group)) return undefined;
    return `${kind} in group ${group === '' ? '"" (the core group: apiVersion has no group)' : group} is not ${home.owner}'s: write apiVersion: ${home.write}${REFUSED}`;
  }
  const version = versionOf(apiVersion);
  if (home.versions.includes(version)) return undefined;
  const served = home.versions.map((v) => `${home.group}/${v}`).join(' or ');
  const why = version === 'v1alpha2' && home.group === GW ? `no longer served by Gateway API's CRDs (deprecated, then removed)` : `not a version the ${home.owner} CRD serves (${served})`;
  return `${apiVersion} ${kind} is ${why}: write apiVersion: ${home.write}${REFUSED}`;
}

export function validateResources(resources: readonly RawResource[], problems: ConfigProblem[]): ValidatedConfig {
  const out: ValidatedConfig = {
    gateways: [],
    routes: [],
    backends: [],
    extensions: [],
    policies: [],
    configMaps: [],
    referenceGrants: [],
    backendConfigPolicies: [],
    secrets: [],
    listenerSets: [],
    listenerPolicies: [],
    directResponses: [],
    all: [],
  };
  // A resource defined twice: the last definition is the one used, as `kubectl apply` of these
  // files leaves the last one in the cluster. It is still an error (`check` exits 1).
  const identity = (raw: RawResource): string => `${groupOf(raw.apiVersion)}/${raw.kind}/${raw.namespace}/${raw.name}`;
  const last = new Map<string, RawResource>();
  for (const raw of resources) last.set(identity(raw), raw);
  for (const raw of resources) {
    const id = resourceId(raw);
    const gk = `${groupOf(raw.apiVersion)}/${raw.kind}`;
    const cx = ParseCtx.for(raw, problems);
    const wrong = wrongApiVersion(raw.apiVersion, raw.kind);
    if (wrong !== undefined) {
      cx.error('apiVersion', wrong);
      markFatal(problems, id, (path) => path === 'apiVersion', '');
      out.all.push({ raw, id, handling: 'unsupported', message: wrong });
      continue;
    }
    if (!KINDS.has(gk)) {
      const foreign = FOREIGN[gk] ?? (Object.hasOwn(HOME, raw.kind) ? 'another project' : undefined);
      if (foreign !== undefined) {
        const msg = `not ${HOME[raw.kind]!.owner}'s ${raw.kind} (group ${groupOf(raw.apiVersion)}: ${foreign === 'another project' ? "another project's" : `${foreign}'s`} ${raw.kind}): ignored`;
        cx.warn('kind', msg);
        out.all.push({ raw, id, handling: 'unsupported', message: msg });
        continue;
      }
      const near = SILENT.has(gk) || NOT_SUPPORTED[gk] !== undefined ? undefined : lookalikeKind(groupOf(raw.apiVersion), raw.kind);
      if (near !== undefined) {
        // The API server refuses it ("no matches for kind"); ignored, a TrafficPolicy, HTTPRoute,
        // Gateway or ListenerPolicy in it would be dropped without a word: routes served
        // unchecked, a header left unstripped.
        const msg = `${raw.apiVersion} ${raw.kind} is not a kind the API server knows (did you mean ${near}?): the API server refuses it ("no matches for kind"); serve refuses to start, as dropping it could drop a policy, a route or a listener`;
        cx.error('kind', msg);
        markFatal(problems, id, (path) => path === 'kind', '');
        out.all.push({ raw, id, handling: 'unsupported', message: msg });
        continue;
      }
      if (SILENT.has(gk)) out.all.push({ raw, id, handling: 'ignored', message: `${raw.kind} is not used by jwtgate` });
      else {
        const msg = NOT_SUPPORTED[gk] ?? `kind ${raw.kind} (${raw.apiVersion}) ignored: jwtgate does not use it`;
        cx.warn('kind', msg);
        out.all.push({ raw, id, handling: 'unsupported', message: msg });
      }
      continue;
    }
    const winner = last.get(identity(raw));
    if (winner !== raw) {
      const msg = `duplicate ${raw.kind} ${raw.namespace}/${raw.name}: defined again at ${winner?.source}, which is the one used (the last definition wins, as with kubectl apply); this one is not used`;
      cx.error('metadata.name', msg);
      out.all.push({ raw, id, handling: 'duplicate', message: msg });
      continue;
    }
    const e0 = cx.errors;
    const p0 = problems.length;
    objectMeta.parse(raw.object['metadata'], 'metadata', cx);
    // A misspelt metadata key: read without it, the resource would be in another namespace
    // (`namspace:` → default), without its labels or annotations; kubectl refuses the manifest.
    markFatal(problems, id, (path) => path.startsWith('metadata.'), ' (serve refuses to start: read without the field, the resource could land in another namespace)', p0);
    namespaceName().parse(raw.namespace, 'metadata.namespace', cx);
    dnsSubdomain().parse(raw.name, 'metadata.name', cx);
    if (cx.errors !== e0) {
      out.all.push({ raw, id, handling: 'invalid-metadata', message: 'invalid metadata' });
      // A TrafficPolicy the API server would refuse for its name (`JWT-Policy`) still takes its
      // targets down with it: they answer 500 rather than serve without the check it asks for.
      if (gk === `${KGW}/TrafficPolicy`) {
        const quiet: ConfigProblem[] = [];
        out.policies.push({ ...validateTrafficPolicy(raw, quiet), valid: false, error: `invalid metadata: ${firstMetadataError(problems, id)}` });
        // Targets it cannot read still make serve refuse to start: with them unreadable, the
        // 500 its targets would answer has nothing to attach to. So does a namespace the API
        // server refuses: its targets are looked up there, and none is found.
        problems.push(...quiet.filter((p) => p.fatal));
        markFatal(problems, id, (path) => path === 'metadata.namespace', WOULD_NOT_APPLY);
      } else if (gk === `${GW}/HTTPRoute`) {
        // A route the API server refuses is dropped: its requests would go to another route
        // (a catch-all without its JWT check) instead.
        markFatal(problems, id, (path) => path.startsWith('metadata.'), WOULD_NOT_APPLY);
      }
      continue;
    }
    out.all.push({ raw, id, handling: 'used' });
    switch (gk) {
      case `${GW}/Gateway`:
        out.gateways.push(validateGateway(raw, problems));
        break;
      case `${GW}/HTTPRoute`:
        out.routes.push(validateHTTPRoute(raw, problems));
        break;
      case `${GW}/ReferenceGrant`:
        out.referenceGrants.push(validateReferenceGrant(raw, problems));
        break;
      case `${KGW}/Backend`:
        out.backends.push(validateBackend(raw, problems));
        break;
      case `${KGW}/GatewayExtension`:
        out.extensions.push(validateGatewayExtension(raw, problems));
        break;
      case `${KGW}/TrafficPolicy`:
        out.policies.push(validateTrafficPolicy(raw, problems));
        break;
      case `${KGW}/BackendConfigPolicy`:
        out.backendConfigPolicies.push(validateBackendConfigPolicy(raw, problems));
        break;
      case `${GW}/ListenerSet`:
      case `${XGW}/XListenerSet`:
        out.listenerSets.push(validateListenerSet(raw, problems));
        break;
      case `${KGW}/ListenerPolicy`:
      case `${KGW}/HTTPListenerPolicy`:
        out.listenerPolicies.push(validateListenerPolicy(raw, problems));
        break;
      case '/ConfigMap':
        out.configMaps.push(validateConfigMap(raw, problems));
        break;
      case '/Secret':
        out.secrets.push(validateSecret(raw, problems));
        break;
      case `${KGW}/DirectResponse`:
        out.directResponses.push(validateDirectResponse(raw, problems));
        break;
    }
  }
  return out;
}

const WOULD_NOT_APPLY = ' (serve refuses to start: without this resource a policy would not apply)';

/**
 * Every kind jwtgate reads, as [group, Kind]: a near miss of one (`Backnd`, `GatewayExtention`,
 * `ListnerPolicy`, `Gatway`, `TrafficPolicys`) is one the API server refuses ("no matches for
 * kind"), and dropped with a warning it could take a policy, a route, a listener or a header
 * rule with it.
 */
const GUARDED: readonly (readonly [string, string])[] = [...KINDS].map((gk) => [gk.slice(0, gk.lastIndexOf('/')), gk.slice(gk.lastIndexOf('/') + 1)] as const);

/** Groups a look-alike kind is looked for in (and near misses of them): Gateway API's, its experimental one and kgateway's. */
const GUARDED_GROUPS = [GW, XGW, KGW];

/**
 * Kind names of the groups jwtgate knows: real kinds, never taken for a misspelling. Besides the
 * ones it reads, warns about or skips silently, the other kinds of kgateway and Gateway API
 * (`GatewayParameters`, `BackendLBPolicy`) and the core kinds near a read one.
 */
const KNOWN_KIND_NAMES = new Set([
  ...[...KINDS, ...SILENT, ...Object.keys(NOT_SUPPORTED)].map((gk) => gk.slice(gk.lastIndexOf('/') + 1)),
  'GatewayParameters',
  'BackendLBPolicy',
  'XBackendTrafficPolicy',
  'XMesh',
  'Endpoints',
  'Event',
]);

/**
 * For a kind jwtgate does not read, in the core group (an apiVersion without its group), in
 * one of kgateway's and Gateway API's groups or a near miss of one (`gateways.kgateway.dev`):
 * the kind jwtgate reads it was probably meant as (`TrafficPolicys`, `trafficpolicy`, `Backnd`,
 * `Gatway`, or the kind itself in the wrong group); else undefined. Another project's group is
 * not looked at: its kinds (SMI's or Consul's TCPRoute, Linkerd's HTTPRoute) are real CRDs.
 */
function lookalikeKind(group: string, kind: string): string | undefined {
  if (group !== '' && !GUARDED_GROUPS.some((g) => editDistance(group, g) <= 2)) return undefined;
  const lower = kind.toLowerCase();
  let best: string | undefined;
  let bestD = 3;
  for (const [g, k] of GUARDED) {
    if (kind === k) {
      if (group !== g) return `${k} in ${g === '' ? 'the core group (apiVersion: v1)' : g}`;
      continue;
    }
    if (KNOWN_KIND_NAMES.has(kind)) continue;
    // Two edits for long kinds, one for short ones (`Secret`: `Secrets`, `secret`).
    const d = editDistance(lower, k.toLowerCase());
    if (d <= (k.length <= 6 ? 1 : 2) && d < bestD) {
      best = `${k} in ${g === '' ? 'the core group (apiVersion: v1)' : g}`;
      bestD = d;
    }
  }
  return best;
}

function firstMetadataError(problems: readonly ConfigProblem[], id: string): string {
  const p = problems.find((x) => x.resource === id && x.severity === 'error' && x.path.startsWith('metadata.'));
  return p ? `${p.path}: ${p.message}` : 'invalid';
}

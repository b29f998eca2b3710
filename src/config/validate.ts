// Validates every loaded resource by kind (one validator per kind) and sorts them into typed
// collections. Unknown kinds are reported as ignored; a second resource with the same
// (group, kind, namespace, name) is an error and is not used. References between resources
// are not resolved here (compile.ts does that).

import type { ConfigProblem } from '../errors.js';
import { resourceId, type RawResource } from './resource.js';
import { ParseCtx } from './schema.js';
import { namespaceName, dnsSubdomain, GATEWAY_API_GROUP, KGATEWAY_GROUP } from './validate-common.js';
import { validateBackend, type BackendModel } from './validate-backend.js';
import { validateGateway, type GatewayModel } from './validate-gateway.js';
import { validateGatewayExtension, type GatewayExtensionModel } from './validate-gateway-extension.js';
import { validateHTTPRoute, type HTTPRouteModel } from './validate-httproute.js';
import {
  validateBackendConfigPolicy,
  validateConfigMap,
  validateReferenceGrant,
  validateSecret,
  type BackendConfigPolicyModel,
  type ConfigMapModel,
  type ReferenceGrantModel,
  type SecretModel,
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
  /** Every resource in input order with how it was handled (for statuses). */
  readonly all: { readonly raw: RawResource; readonly id: string; readonly handling: 'used' | 'ignored' | 'duplicate' | 'unsupported' | 'invalid-metadata'; readonly message?: string }[];
}

const GW = GATEWAY_API_GROUP;
const KGW = KGATEWAY_GROUP;

/** Kinds jwtgate reads, by `group/Kind`. */
const KINDS = new Set([`${GW}/Gateway`, `${GW}/HTTPRoute`, `${GW}/ReferenceGrant`, `${KGW}/Backend`, `${KGW}/GatewayExtension`, `${KGW}/TrafficPolicy`, `${KGW}/BackendConfigPolicy`, '/ConfigMap', '/Secret']);
/** Kinds that commonly sit next to the config and need no warning. */
const SILENT = new Set([`${GW}/GatewayClass`, '/Namespace', '/Service']);
const NOT_SUPPORTED: Record<string, string> = {
  [`${GW}/GRPCRoute`]: 'GRPCRoute is not supported by jwtgate yet: ignored',
  [`${GW}/TCPRoute`]: 'TCPRoute is not supported by jwtgate: ignored',
  [`${GW}/TLSRoute`]: 'TLSRoute is not supported by jwtgate: ignored',
  [`${GW}/UDPRoute`]: 'UDPRoute is not supported by jwtgate: ignored',
  [`${GW}/BackendTLSPolicy`]: 'BackendTLSPolicy is not supported by jwtgate yet: ignored',
};

function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
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
    all: [],
  };
  // A resource defined twice: the last definition is the one used, as `kubectl apply` of these
  // files leaves the last one in the cluster. It is still an error (`check` exits 1).
  const last = new Map<string, RawResource>();
  for (const raw of resources) last.set(`${groupOf(raw.apiVersion)}/${raw.kind}/${raw.namespace}/${raw.name}`, raw);
  for (const raw of resources) {
    const id = resourceId(raw);
    const gk = `${groupOf(raw.apiVersion)}/${raw.kind}`;
    const cx = ParseCtx.for(raw, problems);
    if (!KINDS.has(gk)) {
      if (SILENT.has(gk)) out.all.push({ raw, id, handling: 'ignored', message: `${raw.kind} is not used by jwtgate` });
      else {
        const msg = NOT_SUPPORTED[gk] ?? `kind ${raw.kind} (${raw.apiVersion}) ignored: jwtgate does not use it`;
        cx.warn('kind', msg);
        out.all.push({ raw, id, handling: 'unsupported', message: msg });
      }
      continue;
    }
    const winner = last.get(`${gk}/${raw.namespace}/${raw.name}`);
    if (winner !== raw) {
      const msg = `duplicate ${raw.kind} ${raw.namespace}/${raw.name}: defined again at ${winner?.source}, which is the one used (the last definition wins, as with kubectl apply); this one is not used`;
      cx.error('metadata.name', msg);
      out.all.push({ raw, id, handling: 'duplicate', message: msg });
      continue;
    }
    const e0 = cx.errors;
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
        // 500 its targets would answer has nothing to attach to.
        problems.push(...quiet.filter((p) => p.fatal));
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
      case '/ConfigMap':
        out.configMaps.push(validateConfigMap(raw, problems));
        break;
      case '/Secret':
        out.secrets.push(validateSecret(raw, problems));
        break;
    }
  }
  return out;
}

function firstMetadataError(problems: readonly ConfigProblem[], id: string): string {
  const p = problems.find((x) => x.resource === id && x.severity === 'error' && x.path.startsWith('metadata.'));
  return p ? `${p.path}: ${p.message}` : 'invalid';
}

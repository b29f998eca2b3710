// The supporting kinds: ConfigMap (a `jwks` key for jwks.local.configMapRef), ReferenceGrant
// (cross-namespace backend references) and BackendConfigPolicy (parsed and kept; TLS
// origination is not applied yet).

import type { ConfigProblem } from '../errors.js';
import type { RawResource } from './resource.js';
import { any, bool, list, obj, ParseCtx, stringMap } from './schema.js';
import { documentSchema, group, kind, namespaceName, objectName, policyTargetRef, type PolicyTargetRef } from './validate-common.js';

// ----- ConfigMap (v1) -------------------------------------------------------------------------

const configMapDoc = obj({
  apiVersion: any(),
  kind: any(),
  metadata: any(),
  data: stringMap().optional(),
  binaryData: any().optional(),
  immutable: bool().optional(),
});

export interface ConfigMapModel {
  readonly raw: RawResource;
  readonly id: string;
  readonly data: Readonly<Record<string, string>>;
  readonly valid: boolean;
}

export function validateConfigMap(raw: RawResource, problems: ConfigProblem[]): ConfigMapModel {
  const cx = ParseCtx.for(raw, problems);
  const doc = configMapDoc.parse(raw.object, '', cx);
  return { raw, id: cx.resource, data: doc?.data ?? {}, valid: cx.errors === 0 };
}

// ----- ReferenceGrant (gateway.networking.k8s.io/v1beta1) -------------------------------------

const referenceGrantSpec = obj({
  from: list(obj({ group: group(), kind: kind(), namespace: namespaceName() }), { min: 1, max: 16 }),
  to: list(obj({ group: group(), kind: kind(), name: objectName().optional() }), { min: 1, max: 16 }),
});

export interface ReferenceGrantModel {
  readonly raw: RawResource;
  readonly id: string;
  readonly namespace: string;
  readonly from: readonly { readonly group: string; readonly kind: string; readonly namespace: string }[];
  readonly to: readonly { readonly group: string; readonly kind: string; readonly name?: string }[];
  readonly valid: boolean;
}

export function validateReferenceGrant(raw: RawResource, problems: ConfigProblem[]): ReferenceGrantModel {
  const cx = ParseCtx.for(raw, problems);
  const doc = documentSchema(referenceGrantSpec).parse(raw.object, '', cx);
  return {
    raw,
    id: cx.resource,
    namespace: raw.namespace,
    from: doc?.spec?.from ?? [],
    to: doc?.spec?.to ?? [],
    valid: cx.errors === 0,
  };
}

/**
 * Is a reference from (fromGroup, fromKind) in `fromNamespace` to (toGroup, toKind, toName) in
 * `toNamespace` allowed? Same namespace always is; otherwise a ReferenceGrant in the target
 * namespace must list the source in `from` and the target in `to` (name unset = any).
 */
export function referenceAllowed(
  grants: readonly ReferenceGrantModel[],
  from: { group: string; kind: string; namespace: string },
  to: { group: string; kind: string; namespace: string; name: string },
): boolean {
  if (from.namespace === to.namespace) return true;
  const g = (x: string): string => (x === 'core' ? '' : x);
  return grants.some(
    (rg) =>
      rg.valid &&
      rg.namespace === to.namespace &&
      rg.from.some((f) => g(f.group) === g(from.group) && f.kind === from.kind && f.namespace === from.namespace) &&
      rg.to.some((t) => g(t.group) === g(to.group) && t.kind === to.kind && (t.name === undefined || t.name === to.name)),
  );
}

// ----- BackendConfigPolicy (gateway.kgateway.dev/v1alpha1) ------------------------------------

const BCP_FIELDS = [
  'tls',
  'connectTimeout',
  'perConnectionBufferLimitBytes',
  'tcpKeepalive',
  'commonHttpProtocolOptions',
  'http1ProtocolOptions',
  'http2ProtocolOptions',
  'loadBalancer',
  'healthCheck',
  'outlierDetection',
  'circuitBreakers',
];

const backendConfigPolicySpec = obj(
  {
    targetRefs: list(policyTargetRef, { min: 1, max: 16 }).optional(),
    targetSelectors: any().optional(),
  },
  { ignored: Object.fromEntries(BCP_FIELDS.map((f) => [f, `${f} is kept but not applied by this jwtgate version${f === 'tls' ? ' (no TLS origination to backends yet)' : ''}`])) },
);

export interface BackendConfigPolicyModel {
  readonly raw: RawResource;
  readonly id: string;
  readonly targetRefs: readonly PolicyTargetRef[];
  /** The spec as written (kept for a later version that applies it). */
  readonly spec: Readonly<Record<string, unknown>>;
  readonly valid: boolean;
}

export function validateBackendConfigPolicy(raw: RawResource, problems: ConfigProblem[]): BackendConfigPolicyModel {
  const cx = ParseCtx.for(raw, problems);
  const doc = documentSchema(backendConfigPolicySpec).parse(raw.object, '', cx);
  return {
    raw,
    id: cx.resource,
    targetRefs: doc?.spec?.targetRefs ?? [],
    spec: (raw.object['spec'] ?? {}) as Record<string, unknown>,
    valid: cx.errors === 0,
  };
}

// Shapes shared by several kinds: Kubernetes/Gateway API name formats, the document envelope
// (apiVersion, kind, metadata, spec, status), BackendObjectReference and policy target refs.

import type { RawResource } from './resource.js';
import type { ConfigProblem } from '../errors.js';
import { isIP } from 'node:net';
import { any, int, obj, str, suggest, type Infer, type ParseCtx, type Schema } from './schema.js';

// Gateway API / apimachinery formats (gateway-api apis/v1/shared_types.go).
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const GROUP = /^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const KIND = /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
/** RFC 7230 token: what Envoy and Gateway API accept as a header name. */
export const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

/**
 * A `kgateway.dev/policy-weight` annotation as kgateway reads it: Go's strconv.ParseInt(value,
 * 10, 32) (a sign, decimal digits, no spaces, within int32); undefined for anything else.
 */
export function policyWeight(text: string): number | undefined {
  const n = /^[+-]?[0-9]+$/.test(text) ? Number(text) : NaN;
  return Number.isInteger(n) && n >= -2147483648 && n <= 2147483647 ? n : undefined;
}
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
export const KGATEWAY_GROUP = 'gateway.kgateway.dev';

/** `group/kind` as messages name a kind; the core group (empty) as `core`. */
export function groupKind(group: string | undefined, kind: string): string {
  return `${group || 'core'}/${kind}`;
}

/**
 * For a reference to a group and kind jwtgate does not support: ` (did you mean …?)` naming the
 * supported [group, kind] it was probably meant as, when the kind or the group is a small edit
 * away from a supported one (`Backnd`, `gateway.kgateway.io`, `TraficPolicy`, a kgateway kind
 * without its group); else ''. The core group is '' (`core` too).
 */
export function refSuggestion(group: string, kind: string, supported: readonly (readonly [string, string])[]): string {
  const core = (g: string): boolean => g === '' || g === 'core';
  for (const [g, k] of supported) {
    if (kind !== k) continue;
    if (core(g)) return core(group) ? '' : ` (did you mean the core group? a ${k} has group "" or none)`;
    if (group === '' || suggest(group, [g]) !== undefined) return ` (did you mean group ${g}?)`;
  }
  const groupNear = (g: string): boolean => (core(g) ? core(group) : group === g || group === '' || suggest(group, [g]) !== undefined);
  const near = supported.filter(([g]) => groupNear(g));
  const k = suggest(kind, near.map(([, x]) => x));
  if (k === undefined) return '';
  const g = near.find(([, x]) => x === k)![0];
  return group === g || (core(g) && core(group)) ? ` (did you mean ${k}?)` : ` (did you mean ${groupKind(g, k)}?)`;
}

export function dnsSubdomain(max = 253): Schema<string> {
  return str({ min: 1, max, pattern: DNS_SUBDOMAIN, patternHint: 'must be a lowercase RFC 1123 subdomain (a-z, 0-9, "-", ".")' });
}

export function namespaceName(): Schema<string> {
  return str({ min: 1, max: 63, pattern: DNS_LABEL, patternHint: 'must be a lowercase RFC 1123 label (a-z, 0-9, "-")' });
}

/** Gateway API `SectionName` (listener names, rule names). */
export function sectionName(): Schema<string> {
  return dnsSubdomain(253);
}

/** Gateway API `Hostname`: lowercase, optional `*.` prefix, no IP addresses. */
export function hostname(): Schema<string> {
  return str({ min: 1, max: 253 }).map((v, p, cx) => {
    // An IPv4 address, or an IPv6 one (with a ':': a dotless hex label such as `cafe` is a name).
    if (IPV4.test(v) || (v.includes(':') && isIP(v.replace(/^\[|\]$/g, '')) === 6)) {
      cx.error(p, `Invalid value: "${v}": must be a DNS name, not an IP address`);
      return undefined;
    }
    if (v.includes(':')) {
      cx.error(p, `Invalid value: "${v}": must be a DNS name without a port`);
      return undefined;
    }
    if (v !== v.toLowerCase()) {
      cx.error(p, `Invalid value: "${v}": must be lowercase (write "${v.toLowerCase()}"; hosts are matched case-insensitively)`);
      return undefined;
    }
    if (!HOSTNAME.test(v)) {
      cx.error(p, `Invalid value: "${v}": must be a DNS name, optionally prefixed by a single "*." wildcard label`);
      return undefined;
    }
    return v;
  });
}

export function group(): Schema<string> {
  return str({ max: 253, pattern: GROUP, patternHint: 'must be an API group such as gateway.networking.k8s.io, or "" for the core group' });
}

export function kind(): Schema<string> {
  return str({ min: 1, max: 63, pattern: KIND, patternHint: 'must be a Kubernetes kind such as Service' });
}

export function objectName(): Schema<string> {
  return str({ min: 1, max: 253 });
}

export function headerName(max = 256): Schema<string> {
  return str({ min: 1, max, pattern: HEADER_NAME, patternHint: 'must be a valid HTTP header name (RFC 7230 token: letters, digits and !#$%&\'*+-.^_`|~)' });
}

/**
 * `metadata` (apimachinery ObjectMeta): its keys are checked, an unknown one is an error, as
 * kubectl's strict decoding refuses it (`namspace:` silently moved a policy to `default`). The
 * values of name, namespace, labels and annotations were checked by the loader; the others are
 * server-set or not used by jwtgate and kept as they are.
 */
export const objectMeta = obj(
  {
    name: any().optional(),
    generateName: any().optional(),
    namespace: any().optional(),
    selfLink: any().optional(),
    uid: any().optional(),
    resourceVersion: any().optional(),
    generation: any().optional(),
    creationTimestamp: any().optional(),
    deletionTimestamp: any().optional(),
    deletionGracePeriodSeconds: any().optional(),
    labels: any().optional(),
    annotations: any().optional(),
    ownerReferences: any().optional(),
    finalizers: any().optional(),
    managedFields: any().optional(),
    clusterName: any().optional(),
  },
  { unknownMessage: (field) => `unknown field "${field}": metadata takes name, namespace, labels, annotations and the other ObjectMeta fields (kubectl's strict decoding refuses it)` },
);

/** Top-level document: fields other than spec are accepted (metadata is checked by validateResources with `objectMeta`). */
export function documentSchema<S extends Schema<any>>(spec: S) {
  return obj({
    apiVersion: any(),
    kind: any(),
    metadata: any(),
    spec,
    status: any().optional(),
  });
}

/** Gateway API `BackendObjectReference` (HTTPRoute backendRefs, RemoteJWKS.backendRef). */
export const backendObjectReference = obj({
  group: group().default(''),
  kind: kind().default('Service'),
  name: objectName(),
  namespace: namespaceName().optional(),
  port: int({ min: 1, max: 65535 }).optional(),
});
export type BackendObjectReference = Infer<typeof backendObjectReference>;

/** What a (group, kind) reference names among the targets jwtgate resolves: a core Service or a kgateway Backend. */
export function backendRefKind(group: string, kind: string): 'Service' | 'Backend' | undefined {
  if ((group === '' || group === 'core') && kind === 'Service') return 'Service';
  if (group === KGATEWAY_GROUP && kind === 'Backend') return 'Backend';
  return undefined;
}

/** Gateway API's CEL rule on BackendObjectReference: a Service needs a port. */
export function checkBackendRef(ref: BackendObjectReference, path: string, cx: ParseCtx): boolean {
  if (backendRefKind(ref.group, ref.kind) === 'Service' && ref.port === undefined) {
    cx.error(`${path}.port`, 'Required value: must have port for Service reference');
    return false;
  }
  return true;
}

/** `LocalPolicyTargetReferenceWithSectionName` (TrafficPolicy, BackendConfigPolicy). */
export const policyTargetRef = obj(
  {
    group: group(),
    kind: kind(),
    name: objectName(),
    sectionName: sectionName().optional(),
  },
  {
    // Not a misspelt `name`: a policy's targets are in its own namespace, and the field says
    // where the target is. The error says where the policy must be instead.
    refused: {
      namespace: (v) => {
        const ns = typeof v['namespace'] === 'string' && v['namespace'] !== '' ? v['namespace'] : undefined;
        const what = typeof v['kind'] === 'string' && typeof v['name'] === 'string' && ns !== undefined ? `${v['kind']} ${ns}/${v['name']}` : 'that target';
        return `unknown field "namespace": policy targets have no namespace field (kubectl's strict field validation refuses it): a policy attaches only to targets in its own namespace, so to target ${what}, put the policy in ${ns !== undefined ? `namespace ${ns} (metadata.namespace: ${ns})` : "the target's namespace"}`;
      },
    },
  },
);
export type PolicyTargetRef = Infer<typeof policyTargetRef>;

/**
 * What every validated resource model carries: its identity and, when the validator added
 * errors (problems after index `before`), the first one as `path: message` for its status.
 */
export function modelBase(raw: RawResource, cx: ParseCtx, problems: readonly ConfigProblem[], before: number) {
  let first: ConfigProblem | undefined;
  for (let i = before; i < problems.length && !first; i++) if (problems[i]!.severity === 'error') first = problems[i];
  return { raw, id: cx.resource, namespace: raw.namespace, name: raw.name, ...(first ? { error: `${first.path}: ${first.message}` } : {}) };
}

/**
 * Marks the errors of resource `id` whose field path `include`s as fatal (`serve` refuses to
 * start over them: without the resource a policy would not apply), with `suffix` saying so;
 * `from`: only problems from that index on. Returns how many errors it matched.
 */
export function markFatal(problems: ConfigProblem[], id: string | undefined, include: (path: string) => boolean, suffix: string, from = 0): number {
  let matched = 0;
  for (let i = from; i < problems.length; i++) {
    const p = problems[i]!;
    if ((id !== undefined && p.resource !== id) || p.severity !== 'error' || !include(p.path)) continue;
    matched++;
    if (p.fatal) continue;
    p.fatal = true;
    p.message += suffix;
  }
  return matched;
}

/** Levenshtein distance of two short strings (4 once they differ in length by more than 3). */
export function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 4;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** `a, b, c and 4 more`: names for a message, at most three. */
export function listSome(names: readonly string[]): string {
  if (names.length <= 3) return names.join(', ');
  return `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
}

/**
 * The warning for a policy's `targetSelectors` entry that attaches nothing: `kind` resources its
 * labels select in other namespaces only (`elsewhere`, `ns/name`), or none at all. `global`: the
 * policy is in the global policy namespace `globalNs`. `consequence` ends the sentence.
 */
export function selectorAttachesNothing(kind: string, ns: string, elsewhere: readonly string[], globalNs: string | undefined, consequence: string): string {
  const global = globalNs !== undefined && ns === globalNs;
  if (elsewhere.length === 0) return `matchLabels select no ${kind}${global ? '' : ` in namespace ${ns}`}: ${consequence}`;
  const head = `matchLabels select no ${kind} in namespace ${ns}, only ${kind} ${listSome(elsewhere)} in other namespaces`;
  return globalNs !== undefined
    ? `${head}: only policies in the global policy namespace ${globalNs} (--global-policy-namespace) attach to another namespace, so ${consequence}; move the policy to namespace ${globalNs}`
    : `${head}: kgateway attaches a policy to another namespace only from its global policy namespace (KGW_GLOBAL_POLICY_NAMESPACE), so ${consequence}; if your kgateway sets it to ${ns}, run jwtgate with --global-policy-namespace ${ns}`;
}

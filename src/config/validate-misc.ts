// The supporting kinds: ConfigMap (a `jwks` key for jwks.local.configMapRef), Secret (a CA or
// client certificate for BackendConfigPolicy TLS), ReferenceGrant (cross-namespace backend
// references) and BackendConfigPolicy (`spec.tls` is applied to remote JWKS fetches; the other
// fields are parsed and kept).

import type { ConfigProblem } from '../errors.js';
import type { RawResource } from './resource.js';
import { any, bool, enumOf, int, isObject, list, obj, ParseCtx, setOwn, str, stringMap, type Infer } from './schema.js';
import { parseHeaderValue } from '../proxy/header-format.js';
import { byteOrder } from '../util/text.js';
import { envoyNumber, usesResponseCode, type BodyFormat, type JsonTemplate } from '../proxy/body-format.js';
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

// ----- Secret (v1) ----------------------------------------------------------------------------

const secretDoc = obj({
  apiVersion: any(),
  kind: any(),
  metadata: any(),
  type: str().optional(),
  data: stringMap().optional(),
  stringData: stringMap().optional(),
  immutable: bool().optional(),
});

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export interface SecretModel {
  readonly raw: RawResource;
  readonly id: string;
  /** `data` (base64-decoded) with `stringData` on top, as the API server merges them. Never logged. */
  readonly data: Readonly<Record<string, string>>;
  /** Keys of `data` whose bytes are not UTF-8 (in `data` with U+FFFD for the bad bytes): text they hold cannot be used as it is. */
  readonly notUtf8: ReadonlySet<string>;
  readonly valid: boolean;
}

export function validateSecret(raw: RawResource, problems: ConfigProblem[]): SecretModel {
  const cx = ParseCtx.for(raw, problems);
  const doc = secretDoc.parse(raw.object, '', cx);
  const data: Record<string, string> = {};
  const notUtf8 = new Set<string>();
  for (const [k, v] of Object.entries(doc?.data ?? {})) {
    const compact = v.replace(/\s+/g, '');
    // Messages never quote the value: it is secret material.
    if (compact.length % 4 !== 0 || !BASE64.test(compact)) cx.error(`data.${k}`, 'Invalid value: must be base64-encoded (use stringData for plain text); the value is not shown');
    else {
      const bytes = Buffer.from(compact, 'base64');
      try {
        setOwn(data, k, STRICT_UTF8.decode(bytes));
      } catch {
        // Binary data (a keystore, a DER key): kept, read lossily; those who read text refuse it.
        setOwn(data, k, bytes.toString('utf8'));
        notUtf8.add(k);
      }
    }
  }
  for (const [k, v] of Object.entries(doc?.stringData ?? {})) {
    setOwn(data, k, v);
    notUtf8.delete(k);
  }
  return { raw, id: cx.resource, data, notUtf8, valid: cx.errors === 0 };
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

const referenceGrantDocument = documentSchema(referenceGrantSpec);

export function validateReferenceGrant(raw: RawResource, problems: ConfigProblem[]): ReferenceGrantModel {
  const cx = ParseCtx.for(raw, problems);
  const doc = referenceGrantDocument.parse(raw.object, '', cx);
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
  // Fields of later kgateway versions: known, not applied.
  'dns',
  'upstreamProxyProtocol',
];

const TLS_VERSIONS = ['AUTO', '1.0', '1.1', '1.2', '1.3'] as const;
const notApplied = (f: string): string => `${f} is not applied by jwtgate (Node's TLS defaults are used)`;

/** kgateway `TLS` (backend_config_policy_types.go): TLS origination to the targeted backend. */
const backendTls = obj(
  {
    secretRef: obj({ name: objectName() }).optional(),
    files: obj({
      tlsCertificate: str({ min: 1 }).optional(),
      tlsKey: str({ min: 1 }).optional(),
      rootCA: str({ min: 1 }).optional(),
    }).check((v, p, cx) => {
      if (v.tlsCertificate === undefined && v.tlsKey === undefined && v.rootCA === undefined) cx.error(p, 'At least one of tlsCertificate, tlsKey, or rootCA must be set in TLSFiles');
    }).optional(),
    wellKnownCACertificates: enumOf(['System'] as const).optional(),
    insecureSkipVerify: bool().optional(),
    sni: str({ min: 1 }).optional(),
    verifySubjectAltNames: list(str({ min: 1 })).optional(),
    parameters: obj(
      { minVersion: enumOf(TLS_VERSIONS).optional(), maxVersion: enumOf(TLS_VERSIONS).optional() },
      { ignored: { cipherSuites: notApplied('cipherSuites'), ecdhCurves: notApplied('ecdhCurves'), signatureAlgorithms: notApplied('signatureAlgorithms') } },
    ).optional(),
    simpleTLS: bool().optional(),
  },
  {
    ignored: {
      alpnProtocols: 'alpnProtocols is not applied: jwtgate speaks HTTP/1.1 to the JWKS server',
      allowRenegotiation: notApplied('allowRenegotiation'),
    },
  },
).check((v, p, cx) => {
  // +kubebuilder:validation:AtMostOneOf=secretRef;files;insecureSkipVerify;wellKnownCACertificates
  const sources = (['secretRef', 'files', 'insecureSkipVerify', 'wellKnownCACertificates'] as const).filter((k) => v[k] !== undefined);
  if (sources.length > 1) cx.error(p, `at most one of secretRef, files, insecureSkipVerify, wellKnownCACertificates may be set (${sources.join(' and ')} are set)`);
  if (v.secretRef === undefined && v.files === undefined && v.wellKnownCACertificates === undefined && v.insecureSkipVerify !== true && v.sni === undefined) {
    cx.error(p, 'sni is required when no trust source is set; set sni, provide secretRef, files, or wellKnownCACertificates, or set insecureSkipVerify to true');
  }
});
export type BackendTls = Infer<typeof backendTls>;

const targetSelector = obj({ group: group(), kind: kind(), matchLabels: stringMap() });

/**
 * kgateway's CRD rule on BackendConfigPolicy targets (backend_config_policy_types.go
 * XValidation): a Service, a Backend or an Istio Hostname. The API server refuses anything
 * else; accepting it would leave its `tls` silently unapplied.
 */
function backendTarget(what: 'TargetRefs' | 'TargetSelectors') {
  return (v: { group: string; kind: string }, p: string, cx: ParseCtx): void => {
    if ((v.group === '' && v.kind === 'Service') || (v.group === 'gateway.kgateway.dev' && v.kind === 'Backend')) return;
    if (v.group === 'networking.istio.io' && v.kind === 'Hostname') {
      cx.warn(p, 'an Istio Hostname target is not applied: jwtgate has no Istio service registry');
      return;
    }
    cx.error(p, `${what} must reference either a Kubernetes Service, a Backend, or an Istio Hostname (got group "${v.group}", kind ${v.kind})`);
  };
}

const backendConfigPolicySpec = obj(
  {
    targetRefs: list(policyTargetRef.check(backendTarget('TargetRefs')), { min: 1, max: 16 }).optional(),
    targetSelectors: list(targetSelector.check(backendTarget('TargetSelectors')), { min: 1, max: 16 }).optional(),
    tls: backendTls.optional(),
  },
  { ignored: Object.fromEntries(BCP_FIELDS.filter((f) => f !== 'tls').map((f) => [f, `${f} is kept but not applied by this jwtgate version`])) },
);

export interface BackendConfigPolicyModel {
  readonly raw: RawResource;
  readonly id: string;
  readonly targetRefs: readonly PolicyTargetRef[];
  readonly targetSelectors: readonly { readonly group: string; readonly kind: string; readonly matchLabels: Readonly<Record<string, string>> }[];
  /** `spec.tls`, used for remote JWKS fetches to the targeted Backend or Service. */
  readonly tls?: BackendTls;
  /** The spec as written (kept for a later version that applies it). */
  readonly spec: Readonly<Record<string, unknown>>;
  readonly valid: boolean;
}

const backendConfigPolicyDocument = documentSchema(backendConfigPolicySpec);

export function validateBackendConfigPolicy(raw: RawResource, problems: ConfigProblem[]): BackendConfigPolicyModel {
  const cx = ParseCtx.for(raw, problems);
  const doc = backendConfigPolicyDocument.parse(raw.object, '', cx);
  const tls = doc?.spec?.tls;
  if (tls) cx.warn('spec.tls', 'tls is applied to remote JWKS fetches (jwks.remote.backendRef) only: jwtgate proxies in plain HTTP, so routes to the Backends and Services this policy targets answer 500');
  return {
    raw,
    id: cx.resource,
    targetRefs: doc?.spec?.targetRefs ?? [],
    targetSelectors: doc?.spec?.targetSelectors ?? [],
    ...(tls ? { tls } : {}),
    spec: (raw.object['spec'] ?? {}) as Record<string, unknown>,
    valid: cx.errors === 0,
  };
}

// ----- DirectResponse (gateway.kgateway.dev/v1alpha1) -----------------------------------------

// kgateway's DirectResponse (direct_response_types.go): the answer an HTTPRoute rule's
// ExtensionRef filter gives instead of proxying, Envoy's route `direct_response`. No targetRefs:
// only an ExtensionRef in the same namespace attaches it.
const directResponseSpec = obj(
  {
    status: int({ min: 200, max: 599 }),
    body: str({ min: 1, max: 4096 }).optional(),
    // Newer kgateway: the body as an Envoy format string (`text`) or JSON object of them (`json`).
    bodyFormat: obj(
      {
        // Not applied (warned about below), so not bounded beyond the CRD's string.
        contentType: str().optional(),
        text: str({ min: 1, max: 4096 }).optional(),
        json: any().optional(),
      },
      { exactlyOneOf: [['json', 'text']], exactlyOneOfCel: true },
    ).optional(),
  },
);

/** jwtgate's bounds on a `bodyFormat.json` template (kgateway sets none): nesting and values. */
const MAX_JSON_DEPTH = 16;
const MAX_JSON_VALUES = 1_000;

/** A `bodyFormat.json` template in Envoy's key order, or undefined after reporting why not. */
function jsonTemplate(v: unknown, path: string, cx: ParseCtx): JsonTemplate | undefined {
  const NULL: JsonTemplate = { kind: 'literal', json: 'null' };
  let values = 0;
  let ok = true;
  // Past the limit the walk stops: YAML aliases let a small document hold a template of millions
  // of values (one list referenced again and again), which a full walk would expand (review fix).
  let tooMany = false;
  /** Counts `n` more values; false (reported once) when that passes the limit. */
  const room = (n: number): boolean => {
    if (tooMany) return false;
    values += n;
    if (values <= MAX_JSON_VALUES) return true;
    cx.error(path, `Too many: the template has more than ${MAX_JSON_VALUES} values (jwtgate's limit)`);
    ok = false;
    tooMany = true;
    return false;
  };
  const walk = (x: unknown, p: string, depth: number): JsonTemplate => {
    if (tooMany) return NULL;
    if (depth > MAX_JSON_DEPTH) {
      if (ok) cx.error(p, `Too deep: the template nests more than ${MAX_JSON_DEPTH} levels (jwtgate's limit)`);
      ok = false;
      return NULL;
    }
    if (typeof x === 'string') {
      const parsed = parseHeaderValue(x, 'request', 'body');
      if ('error' in parsed) {
        cx.error(p, `Invalid value: ${parsed.error}`);
        ok = false;
        return NULL;
      }
      return typeof parsed.value === 'string' ? { kind: 'literal', json: JSON.stringify(parsed.value) } : { kind: 'text', format: parsed.value };
    }
    if (x === null || typeof x === 'boolean') return { kind: 'literal', json: String(x) };
    // kgateway reads the template into a protobuf Struct: every number is a double, which Envoy
    // writes in its own way (envoyNumber: 100000 is `1e+05`).
    if (typeof x === 'number') return { kind: 'literal', json: envoyNumber(x) };
    if (Array.isArray(x)) {
      // The items are counted before they are read: a list past the limit stops here.
      if (!room(x.length)) return NULL;
      const items: JsonTemplate[] = [];
      for (let i = 0; i < x.length && !tooMany; i++) items.push(walk(x[i], `${p}[${i}]`, depth + 1));
      return { kind: 'list', items };
    }
    // Plain mappings only: a YAML tag that makes something else (`!!binary` a byte array, `!!set` a Set) is refused below.
    if (isObject(x) && (Object.getPrototypeOf(x) === Object.prototype || Object.getPrototypeOf(x) === null)) {
      const names = Object.keys(x);
      // Counted before they are sorted: a very wide object costs nothing past the limit.
      if (!room(names.length)) return NULL;
      const entries: (readonly [string, JsonTemplate])[] = [];
      for (const k of names.sort(byteOrder)) {
        if (tooMany) break;
        entries.push([k, walk(x[k], `${p}.${k}`, depth + 1)]);
      }
      return { kind: 'object', entries };
    }
    cx.error(p, 'Invalid value: a JSON template holds strings, numbers, booleans, null, lists and objects');
    ok = false;
    return NULL;
  };
  if (!isObject(v)) {
    cx.error(path, 'Invalid value: must be of type object (the CRD\'s type for json)');
    return undefined;
  }
  // The template itself is one value.
  room(1);
  const t = walk(v, path, 0);
  return ok ? t : undefined;
}

export interface DirectResponseModel {
  readonly raw: RawResource;
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  readonly status: number;
  /** '' when none: Envoy then sends no body and no content-type. */
  readonly body: string;
  /** `bodyFormat`: the body formatted for each request instead. */
  readonly bodyFormat?: BodyFormat;
  readonly valid: boolean;
}

const directResponseDocument = documentSchema(directResponseSpec);

/** Envoy's max_direct_response_body_size_bytes, which kgateway leaves at its default. */
const MAX_DIRECT_RESPONSE_BODY_BYTES = 4096;

export function validateDirectResponse(raw: RawResource, problems: ConfigProblem[]): DirectResponseModel {
  const cx = ParseCtx.for(raw, problems);
  const doc = directResponseDocument.parse(raw.object, '', cx);
  const body = doc?.spec?.body ?? '';
  // The CRD counts characters; Envoy refuses a route whose body is over 4096 bytes.
  const bytes = Buffer.byteLength(body);
  if (bytes > MAX_DIRECT_RESPONSE_BODY_BYTES) cx.error('spec.body', `Invalid value: the body is ${bytes} bytes in UTF-8: Envoy refuses a direct response body over ${MAX_DIRECT_RESPONSE_BODY_BYTES} bytes (the CRD's 4096 counts characters)`);
  const status = doc?.spec?.status;
  if (body !== '' && (status === 204 || status === 304)) cx.warn('spec.body', `a ${status} answer has no body in HTTP: this body is never sent`);
  const bf = doc?.spec?.bodyFormat;
  // The CRD's +kubebuilder:validation:AtMostOneOf=body;bodyFormat.
  if (bf !== undefined && doc?.spec?.body !== undefined) cx.error('spec', 'at most one of the fields in [body bodyFormat] may be set');
  let bodyFormat: BodyFormat | undefined;
  if (bf !== undefined) {
    if (bf.text !== undefined) {
      const parsed = parseHeaderValue(bf.text, 'request', 'body');
      if ('error' in parsed) cx.error('spec.bodyFormat.text', `Invalid value: ${parsed.error}`);
      else bodyFormat = { kind: 'text', format: typeof parsed.value === 'string' ? { parts: [parsed.value] } : parsed.value };
    } else if (bf.json !== undefined) {
      const template = jsonTemplate(bf.json, 'spec.bodyFormat.json', cx);
      if (template !== undefined) bodyFormat = { kind: 'json', template };
    }
    // Envoy formats the body before the answer has a status: responseCode().value_or(0).
    if (bodyFormat !== undefined && usesResponseCode(bodyFormat)) cx.warn(`spec.bodyFormat.${bf.text !== undefined ? 'text' : 'json'}`, `%RESPONSE_CODE% in a bodyFormat is always 0 (Envoy formats the body before the answer has its status): write the status, ${doc?.spec?.status ?? 500}, as text`);
    if (bf.contentType !== undefined) cx.warn('spec.bodyFormat.contentType', 'contentType has no effect: Envoy sends every formatted body as text/plain (Envoy issue #43680, as kgateway\'s API documents), and so does jwtgate');
    if (status === 204 || status === 304) cx.warn('spec.bodyFormat', `a ${status} answer has no body in HTTP: this body is never sent`);
  }
  return { raw, id: cx.resource, namespace: raw.namespace, name: raw.name, status: doc?.spec?.status ?? 500, body, ...(bodyFormat ? { bodyFormat } : {}), valid: cx.errors === 0 };
}

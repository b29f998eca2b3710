// ListenerPolicy and HTTPListenerPolicy (gateway.kgateway.dev/v1alpha1): Envoy listener and
// HttpConnectionManager settings for the Gateways they target. jwtgate applies none of them.
// Those that only tune (timeouts, buffer limits, PROXY protocol, access log, tracing...) are
// warned about. Those that can deny a connection or strip a header before routing (`rbac`,
// `earlyRequestHeaderModifier`, and any field jwtgate does not know, which could) are errors, and
// compile.ts makes every request for the hosts of the Gateways the policy targets answer 500
// (`refused`): serving them would let through connections kgateway refuses, or pass an identity
// header kgateway removes.

import type { ConfigProblem } from '../errors.js';
import type { RawResource } from './resource.js';
import { describe, isObject, list, obj, ParseCtx, stringMap } from './schema.js';
import { documentSchema, group, kind, modelBase, objectName, sectionName } from './validate-common.js';

/** Listener-level fields that only tune what kgateway serves: warned about, not applied. */
const TUNING_LISTENER = new Set([
  'proxyProtocol',
  'perConnectionBufferLimitBytes',
  // mTLS on HTTPS listeners, which jwtgate does not serve (they answer 500).
  'clientCertificateValidation',
]);
/** HTTPSettings fields that only tune: warned about, not applied. */
const TUNING_HTTP = new Set([
  'accessLog',
  'tracing',
  'upgradeConfig',
  'useRemoteAddress',
  'xffNumTrustedHops',
  'serverHeaderTransformation',
  'streamIdleTimeout',
  'idleTimeout',
  'healthCheck',
  'preserveHttp1HeaderCase',
  'acceptHttp10',
  'defaultHostForHttp10',
  'maxRequestHeadersKb',
  'generateRequestId',
  'preserveExternalRequestId',
  'uuidRequestIdConfig',
  'xffTrustedCIDRs',
  'skipXFFAppend',
]);
/** Fields that deny or strip: the targeted Gateways answer 500. */
const DENYING: Readonly<Record<string, string>> = {
  rbac: 'rbac (connection access control)',
  earlyRequestHeaderModifier: 'earlyRequestHeaderModifier (headers set or removed before routing)',
};

const spec = obj(
  {
    targetRefs: list(obj({ group: group(), kind: kind(), name: objectName(), sectionName: sectionName().optional() }), { max: 16 }).optional(),
    targetSelectors: list(obj({ group: group(), kind: kind(), matchLabels: stringMap(), sectionName: sectionName().optional() }), { max: 16 }).optional(),
  },
  { unknown: 'allow' }, // the settings are walked by hand below
);

const document = documentSchema(spec);

export interface ListenerPolicyModel {
  readonly raw: RawResource;
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  readonly targetRefs: readonly { readonly group: string; readonly kind: string; readonly name: string }[];
  readonly targetSelectors: readonly { readonly group: string; readonly kind: string; readonly matchLabels: Readonly<Record<string, string>>; readonly path: string }[];
  /** The fields that deny or strip (`spec.default.rbac`, …): the targeted Gateways answer 500. */
  readonly denying: readonly string[];
  readonly valid: boolean;
  readonly error?: string;
}

export function validateListenerPolicy(raw: RawResource, problems: ConfigProblem[]): ListenerPolicyModel {
  const cx = ParseCtx.for(raw, problems);
  const before = problems.length;
  const doc = document.parse(raw.object, '', cx);
  const s = raw.object['spec'];
  const denying: string[] = [];
  const deny = (path: string, key: string): void => {
    denying.push(path);
    cx.error(path, `${DENYING[key] ?? `${key} (a field jwtgate does not know, which could deny or strip)`} is not applied by jwtgate: every request for the hosts of the Gateways this ${raw.kind} targets answers 500 rather than being served without it`);
  };
  /** A field that only tunes (in `tuning`) is warned about; any other denies. */
  const setting = (tuning: ReadonlySet<string>, k: string, p: string): void => {
    if (tuning.has(k)) cx.warn(p, `${k} is ignored: jwtgate does not apply ${raw.kind} settings`);
    else deny(p, k);
  };
  // The API server refuses a value of the wrong type (the resource then does not exist): said, and
  // nothing of it applied.
  const asObject = (v: unknown, path: string): Record<string, unknown> | undefined => {
    if (isObject(v)) return v;
    if (v !== null && v !== undefined) cx.error(path, `Invalid value: ${describe(v, cx, path)}: must be an object`);
    return undefined;
  };
  const http = (v: unknown, path: string): void => {
    const o = asObject(v, path);
    if (o === undefined) return;
    for (const [k, x] of Object.entries(o)) if (x !== null && x !== undefined) setting(TUNING_HTTP, k, `${path}.${k}`);
  };
  const listener = (v: unknown, path: string): void => {
    const o = asObject(v, path);
    if (o === undefined) return;
    for (const [k, x] of Object.entries(o)) {
      if (x === null || x === undefined) continue;
      if (k === 'httpSettings') http(x, `${path}.${k}`);
      else setting(TUNING_LISTENER, k, `${path}.${k}`);
    }
  };
  if (isObject(s)) {
    for (const [k, x] of Object.entries(s)) {
      if (k === 'targetRefs' || k === 'targetSelectors' || x === null || x === undefined) continue;
      if (raw.kind === 'HTTPListenerPolicy') {
        // Its spec holds the HTTPSettings fields itself.
        setting(TUNING_HTTP, k, `spec.${k}`);
      } else if (k === 'default') listener(x, 'spec.default');
      else if (k === 'perPort' && Array.isArray(x)) x.forEach((pp, i) => {
        const o = asObject(pp, `spec.perPort[${i}]`);
        if (o !== undefined) listener(o['listener'], `spec.perPort[${i}].listener`);
      });
      else deny(`spec.${k}`, k);
    }
  }
  const d = doc?.spec;
  return {
    ...modelBase(raw, cx, problems, before),
    targetRefs: d?.targetRefs ?? [],
    targetSelectors: (d?.targetSelectors ?? []).map((t, i) => ({ ...t, path: `spec.targetSelectors[${i}]` })),
    denying,
    valid: cx.errors === 0,
  };
}


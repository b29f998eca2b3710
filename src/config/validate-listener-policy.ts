// ListenerPolicy and HTTPListenerPolicy (gateway.kgateway.dev/v1alpha1): Envoy listener and
// HttpConnectionManager settings for the Gateways they target. jwtgate applies one of them,
// `earlyRequestHeaderModifier` (Envoy's early header mutation, before routing; compile.ts gives
// each listener its rules). Those that only tune (timeouts, buffer limits, PROXY protocol,
// access log, tracing...) are warned about. Those that can deny a connection or strip a header
// before routing and are not applied (`rbac`, an earlyRequestHeaderModifier that cannot be
// served as written, and any field jwtgate does not know, which could) are errors, and
// compile.ts makes every request for the hosts of the Gateways the policy targets answer 500
// (`refused`): serving them would let through connections kgateway refuses, or pass an identity
// header kgateway removes.

import type { ConfigProblem } from '../errors.js';
import type { RawResource } from './resource.js';
import type { HeaderFilterSpec } from '../proxy/header-mutation.js';
import { describe, isObject, list, obj, ParseCtx, stringMap } from './schema.js';
import { gatewayHeaderFilter } from './validate-header-filter.js';
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
};

const earlyModifier = gatewayHeaderFilter('earlyRequestHeaderModifier', 'request');

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
  readonly targetRefs: readonly { readonly group: string; readonly kind: string; readonly name: string; readonly sectionName?: string }[];
  readonly targetSelectors: readonly { readonly group: string; readonly kind: string; readonly matchLabels: Readonly<Record<string, string>>; readonly sectionName?: string; readonly path: string }[];
  /** The fields that deny or strip (`spec.default.rbac`, …): the targeted Gateways answer 500. */
  readonly denying: readonly string[];
  /**
   * `earlyRequestHeaderModifier`: `default` (an HTTPListenerPolicy's own), and per port the
   * ports with a `perPort` entry (whose listener settings replace `default` there), with the
   * entry's modifier if it has one.
   */
  readonly early: { readonly default?: HeaderFilterSpec; readonly perPort: ReadonlyMap<number, HeaderFilterSpec | undefined> };
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
  let earlyDefault: HeaderFilterSpec | undefined;
  const perPort = new Map<number, HeaderFilterSpec | undefined>();
  /** Where the early rules of the listener settings being walked go (`default`, or a port). */
  let earlyPort: number | undefined;
  /** A field that only tunes (in `tuning`) is warned about; an HTTPSettings earlyRequestHeaderModifier is applied; any other denies. */
  const setting = (tuning: ReadonlySet<string>, k: string, p: string, x: unknown): void => {
    if (k === 'earlyRequestHeaderModifier' && tuning === TUNING_HTTP) {
      const e0 = cx.errors;
      const f = earlyModifier.parse(x, p, cx);
      // A rule that cannot be served as written (reported at its path) fails the Gateways closed.
      if (f === undefined || cx.errors !== e0) return void denying.push(`${p} (as written)`);
      // An empty one makes no early mutation in kgateway: it does not set the field.
      if (f.set.length + f.add.length + f.remove.length === 0) return;
      if (earlyPort === undefined) earlyDefault = f;
      else perPort.set(earlyPort, f);
      return;
    }
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
    for (const [k, x] of Object.entries(o)) if (x !== null && x !== undefined) setting(TUNING_HTTP, k, `${path}.${k}`, x);
  };
  const listener = (v: unknown, path: string): void => {
    const o = asObject(v, path);
    if (o === undefined) return;
    for (const [k, x] of Object.entries(o)) {
      if (x === null || x === undefined) continue;
      if (k === 'httpSettings') http(x, `${path}.${k}`);
      else setting(TUNING_LISTENER, k, `${path}.${k}`, x);
    }
  };
  if (isObject(s)) {
    for (const [k, x] of Object.entries(s)) {
      if (k === 'targetRefs' || k === 'targetSelectors' || x === null || x === undefined) continue;
      if (raw.kind === 'HTTPListenerPolicy') {
        // Its spec holds the HTTPSettings fields itself.
        setting(TUNING_HTTP, k, `spec.${k}`, x);
      } else if (k === 'default') listener(x, 'spec.default');
      // The API server refuses a perPort that is not a list: the policy does not exist (not applied).
      else if (k === 'perPort' && !Array.isArray(x)) cx.error('spec.perPort', `Invalid value: ${describe(x, cx, 'spec.perPort')}: must be a list`);
      else if (k === 'perPort') (x as unknown[]).forEach((pp, i) => {
        const o = asObject(pp, `spec.perPort[${i}]`);
        if (o === undefined) return;
        const port = o['port'];
        if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
          // Its settings apply to no known port: an early rule there cannot be placed.
          cx.error(`spec.perPort[${i}].port`, `Invalid value: ${describe(port, cx, `spec.perPort[${i}].port`)}: must be a port number (1-65535)`);
          return void denying.push(`spec.perPort[${i}].port`);
        }
        if (perPort.has(port)) {
          cx.error(`spec.perPort[${i}].port`, `Duplicate value: ${port}`);
          return void denying.push(`spec.perPort[${i}].port`);
        }
        perPort.set(port, undefined);
        earlyPort = port;
        listener(o['listener'], `spec.perPort[${i}].listener`);
        earlyPort = undefined;
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
    early: { ...(earlyDefault !== undefined ? { default: earlyDefault } : {}), perPort },
    valid: cx.errors === 0,
  };
}


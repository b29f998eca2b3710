// Backend (gateway.kgateway.dev/v1alpha1): only the Static type (spec §3). `spec.type` is
// deprecated and inferred from the set field; other types (AWS, AI, ...) are refused.

import type { ConfigProblem } from '../errors.js';
import type { RawResource } from './resource.js';
import { any, enumOf, int, list, obj, ParseCtx, str } from './schema.js';
import { documentSchema, modelBase } from './validate-common.js';
import { hostKind, redactUserinfo } from '../util/host.js';

const OTHER_TYPES: Record<string, string> = { aws: 'AWS', ai: 'AI', dynamicForwardProxy: 'DynamicForwardProxy', gcp: 'GCP', mcp: 'MCP', azure: 'Azure' };
const TYPE_VALUES = ['Static', 'AWS', 'AI', 'DynamicForwardProxy', 'GCP', 'MCP', 'Azure'] as const;

const spec = obj({
  type: enumOf(TYPE_VALUES).optional(),
  static: obj({
    hosts: list(obj({ host: str({ min: 1 }), port: int({ min: 1, max: 65535 }) }), { min: 1 }),
    appProtocol: enumOf(['http2', 'grpc', 'grpc-web', 'kubernetes.io/h2c', 'kubernetes.io/ws'] as const).optional(),
  }).optional(),
  aws: any().optional(),
  ai: any().optional(),
  dynamicForwardProxy: any().optional(),
  gcp: any().optional(),
  mcp: any().optional(),
  azure: any().optional(),
});

const document = documentSchema(spec);

export interface BackendModel {
  readonly raw: RawResource;
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  readonly hosts: readonly { readonly host: string; readonly port: number }[];
  readonly valid: boolean;
  readonly error?: string;
}

export function validateBackend(raw: RawResource, problems: ConfigProblem[]): BackendModel {
  const cx = ParseCtx.for(raw, problems);
  const before = problems.length;
  const doc = document.parse(raw.object, '', cx);
  const s = doc?.spec;
  const specObj = (raw.object['spec'] ?? {}) as Record<string, unknown>;
  const others = Object.keys(OTHER_TYPES).filter((k) => specObj[k] !== undefined && specObj[k] !== null);
  for (const k of others) cx.error(`spec.${k}`, `Backend type ${OTHER_TYPES[k]} is not supported by jwtgate (only Static)`);
  if (s) {
    if (s.type !== undefined && s.type !== 'Static' && others.length === 0) {
      cx.error('spec.type', `Backend type ${s.type} is not supported by jwtgate (only Static)`);
    }
    if (!s.static && others.length === 0 && specObj['static'] === undefined) {
      cx.error('spec', s.type === 'Static' ? 'static must be set when type is Static' : 'Required value: spec.static is needed (jwtgate supports Static backends only)');
    }
    if (s.static?.appProtocol !== undefined) {
      cx.warn('spec.static.appProtocol', `appProtocol ${s.static.appProtocol} is ignored: jwtgate speaks HTTP/1.1 to backends`);
    }
    if (s.type === 'Static') cx.warn('spec.type', 'type is deprecated: the type is inferred from the set field (static)');
    s.static?.hosts.forEach((h, i) => {
      // (A `$VAR` left unexpanded already has its own warning.)
      if (hostKind(h.host) === undefined && !h.host.includes('$')) {
        const shown = redactUserinfo(h.host);
        cx.warn(`spec.static.hosts[${i}].host`, `${JSON.stringify(shown.length > 100 ? shown.slice(0, 100) + '…' : shown)} is neither an IP address (without a zone) nor a DNS name: it never has an address (kgateway hands it to Envoy as a DNS name that does not resolve), so requests go to the other hosts, or get 503 no healthy upstream`);
      }
    });
  }
  return {
    ...modelBase(raw, cx, problems, before),
    hosts: s?.static?.hosts ?? [],
    valid: cx.errors === 0,
  };
}

// GatewayExtension (gateway.kgateway.dev/v1alpha1): the spec union and `spec.jwt` exactly as the
// CRD defines it (spec §1.1-1.6) plus `clockSkew` (#14686). Only shapes are checked here;
// ConfigMap / backend references and key import are resolved in extensions.ts.

import type { ConfigProblem } from '../errors.js';
import type { RawResource } from './resource.js';
import {
  any,
  bool,
  clockSkewSeconds,
  durationMs,
  int,
  isObject,
  list,
  obj,
  ParseCtx,
  Schema,
  str,
  type Infer,
} from './schema.js';
import { backendObjectReference, checkBackendRef, documentSchema, headerName, objectName, modelBase } from './validate-common.js';
import { redactUrlText } from '../jwks/remote-fetch.js';

/** Envoy's effective default when kgateway leaves `cache_duration` unset (spec §1.6, §6.2). */
export const DEFAULT_CACHE_DURATION_MS = 600_000;
export const DEFAULT_FAILED_REFETCH_MS = 1000;
export const DEFAULT_NUM_RETRIES = 1;
export const DEFAULT_BACKOFF_BASE_MS = 1000;

// AllowMissingOrFailed: kgateway #14667 (spec §1.2), Envoy's allow_missing_or_failed.
const validationMode = str().map<'Strict' | 'AllowMissing' | 'AllowMissingOrFailed'>((v, p, cx) => {
  if (v === '' || v === 'Strict') return 'Strict';
  if (v === 'AllowMissing' || v === 'AllowMissingOrFailed') return v;
  cx.error(p, `Unsupported value: "${v}": supported values: "Strict", "AllowMissing", "AllowMissingOrFailed" (empty means Strict)`);
  return undefined;
});

/**
 * kgateway fetches a remote JWKS through a backend it knows (kgateway's own "JWT validation"
 * page shows `remote: {url}` alone, which its CRD refuses): say what to write.
 */
function backendRefHint(v: Record<string, unknown>): string {
  let host = 'the IdP';
  let port = '443';
  if (typeof v['url'] === 'string') {
    try {
      const u = new URL(v['url']);
      if (u.hostname) host = u.hostname;
      port = u.port || (u.protocol === 'http:' ? '80' : '443');
    } catch {
      // keep the placeholders
    }
  }
  return `kgateway fetches the JWKS through a backend, not from the url alone: add backendRef naming the Service or Backend that reaches ${host}, e.g. backendRef: {name: SERVICE, namespace: NS, port: ${port}} (a Service needs its port) or backendRef: {group: gateway.kgateway.dev, kind: Backend, name: BACKEND} (a Backend with static host ${host}, port ${port})`;
}

const remoteJwks = obj({
  url: str({ min: 1, max: 2048 }).check((v, p, cx) => {
    let u: URL | undefined;
    try {
      u = new URL(v);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
      cx.error(p, `Invalid value: "${redactUrlText(v)}": must be a full http:// or https:// URL (Envoy http_uri.uri)`);
    }
  }),
  backendRef: backendObjectReference,
  cacheDuration: durationMs({ minMs: 1 }).default(DEFAULT_CACHE_DURATION_MS),
  asyncFetch: obj({
    fastListener: bool().default(false),
    failedRefetchDuration: durationMs({ minMs: 1 }).default(DEFAULT_FAILED_REFETCH_MS),
  }).optional(),
  retryPolicy: obj({
    numRetries: int({ min: 1, max: 2_147_483_647 }).default(DEFAULT_NUM_RETRIES),
    backOff: obj({
      baseInterval: durationMs({ minMs: 1 }),
      maxInterval: durationMs({ minMs: 1 }).optional(),
    })
      .check((v, p, cx) => {
        if (v.baseInterval !== undefined && v.maxInterval !== undefined && v.maxInterval < v.baseInterval) {
          cx.error(`${p}.maxInterval`, `Invalid value: maxInterval (${v.maxInterval}ms) must be greater than or equal to baseInterval (${v.baseInterval}ms)`);
        }
      })
      .optional(),
  }).optional(),
}, {
  requiredMessage: { backendRef: backendRefHint },
  // A later kgateway version's field: known, not applied.
  ignored: { timeout: 'timeout is not applied by this jwtgate version: a JWKS fetch has 5 s, Envoy\'s fixed timeout, retries included' },
});

const inlineText = str({ min: 1, max: 16384, noShellVarCheck: true });

/** `jwks.local.inline`: a string; a JWKS written as YAML, or as unquoted JSON (a flow map), is not. */
const inlineJwks = new (class extends Schema<string> {
  parse(v: unknown, path: string, cx: ParseCtx): string | undefined {
    if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array)) {
      const what = Array.isArray(v) ? 'a list' : 'an object';
      cx.error(path, `Invalid value: ${what}: must be a string holding the key text (a JWKS or JWK as JSON text, or a PEM public key), not YAML: quote the JSON ('{"keys":[...]}') or write it under a literal block (\`inline: |\` with the JSON indented below)`);
      return undefined;
    }
    return inlineText.parse(v, path, cx);
  }
})();

const jwks = obj(
  {
    local: obj(
      {
        inline: inlineJwks.optional(),
        configMapRef: obj({ name: objectName() }).optional(),
      },
      {
        exactlyOneOf: [['inline', 'configMapRef']],
        legacy: { key: 'jwks.local.key is the older name of this field: use jwks.local.inline (a PEM key, a JWKS or a single JWK)' },
      },
    ).optional(),
    remote: remoteJwks.optional(),
  },
  { exactlyOneOf: [['local', 'remote']] },
);

const provider = obj(
  {
    name: str({ min: 1, max: 253 }),
    issuer: str({ max: 2048 }).optional(),
    audiences: list(str(), { min: 1, max: 32 }).optional(),
    tokenSource: obj(
      {
        header: obj({
          header: headerName(2048),
          prefix: str({ min: 1, max: 2048 }).optional(),
        }).optional(),
        queryParameter: str({ min: 1 }).optional(),
      },
      {
        exactlyOneOf: [['header', 'queryParameter']],
        legacy: {
          headers: 'tokenSource.headers (a list) is the older API: use tokenSource.header: {header: <name>, prefix: <prefix>} (one location per provider)',
          queryParams: 'tokenSource.queryParams (a list) is the older API: use tokenSource.queryParameter: <name>',
        },
      },
    ).optional(),
    claimsToHeaders: list(
      obj(
        { name: str({ min: 1, max: 2048 }), header: headerName(2048) },
        {
          ignored: { append: 'append is not a field of claimsToHeaders (kgateway has none): the incoming header of that name is always removed first, then the claim is added' },
          // A newer kgateway's field (jwt_types.go `Overwrite *bool`, default false; golden
          // jwt/claims-to-headers-overwrite.yaml): with true its header is stripped on every route
          // the extension's policies attach to, also where jwtAuth.disable turns the check off.
          // Ignoring true would let clients send that header where no JWT check runs: refused, so
          // its routes fail closed. false is kgateway's default, what jwtgate does: accepted.
          refused: {
            overwrite: (v) => {
              const o = v['overwrite'];
              if (o === false) return undefined;
              if (typeof o !== 'boolean') return 'Invalid value: overwrite must be a boolean';
              const h = typeof v['header'] === 'string' && v['header'] !== '' && v['header'].length <= 100 ? `header ${v['header']}` : 'this header';
              return (
                `overwrite: true is a field of kgateway versions newer than the one jwtgate follows, and jwtgate does not implement it: there kgateway removes ${h} from the requests of every route the extension's policies attach to, ` +
                `also where jwtAuth.disable turns the JWT check off (a jwt_claim_header_strip filter), where jwtgate removes it only on the routes this extension checks and would pass a client's ${h} on the others. ` +
                `The GatewayExtension is refused meanwhile, so the routes of the TrafficPolicies that use it answer 500: remove overwrite (and do not trust ${h} on routes without this extension's check)`
              );
            },
          },
        },
      ),
      { min: 1, max: 32 },
    ).optional(),
    jwks,
    forwardToken: bool().optional(),
    clockSkew: clockSkewSeconds().optional(),
  },
  {
    // A later kgateway version's field: known, not applied (jwtgate has its own result cache).
    ignored: { cache: 'cache is not applied by this jwtgate version: verified tokens are cached by the gateway itself (10,000 entries, 16 MiB)' },
    legacy: {
      keepToken: 'keepToken is the older API: use forwardToken: true to keep the token (keepToken: Forward), or leave forwardToken unset to remove it (keepToken: Remove)',
      remoteJwks: 'remoteJwks is not a field (the jwt-claim-extraction docs are wrong): use jwks.remote: {url, backendRef}',
    },
  },
);

const jwtSpec = obj({
  validationMode: validationMode.default('Strict'),
  providers: list(provider, { max: 32, uniqueKey: (p) => p.name, uniqueKeyName: 'name' }).optional(),
}, {
  legacy: { jwtProviders: 'jwtProviders is the older API (a list in older kgateway releases, a map in the design doc): use providers: [{name, issuer, jwks, ...}]' },
});

const EXT_TYPES = ['ExtAuth', 'ExtProc', 'RateLimit', 'JWT', 'OAuth2'] as const;
const TYPE_FIELD: Record<(typeof EXT_TYPES)[number], string> = { ExtAuth: 'extAuth', ExtProc: 'extProc', RateLimit: 'rateLimit', JWT: 'jwt', OAuth2: 'oauth2' };

const spec = obj(
  {
    type: str().optional(),
    extAuth: any().optional(),
    extProc: any().optional(),
    rateLimit: any().optional(),
    oauth2: any().optional(),
    jwt: jwtSpec.optional(),
  },
  {
    exactlyOneOf: [['extAuth', 'extProc', 'rateLimit', 'jwt', 'oauth2']],
    legacy: { jwtProviders: 'spec.jwtProviders (with type: JWTProviders) is the older API: use spec.jwt: {providers: [{name, issuer, jwks, ...}]}' },
  },
);

const document = documentSchema(spec);

export type JwtSpec = Infer<typeof jwtSpec>;
export type JwtProviderSpec = Infer<typeof provider>;
export type RemoteJwksSpec = Infer<typeof remoteJwks>;

export interface GatewayExtensionModel {
  readonly raw: RawResource;
  readonly id: string;
  /** Which union member is set ('jwt', 'extAuth', ...), if exactly one. */
  readonly extensionType?: string;
  readonly jwt?: JwtSpec;
  /** False when the manifest has errors (policies that use it are invalid). */
  readonly valid: boolean;
  /** First error, for the policies that reference this extension. */
  readonly error?: string;
}

export function validateGatewayExtension(raw: RawResource, problems: ConfigProblem[]): GatewayExtensionModel {
  const cx = ParseCtx.for(raw, problems);
  const before = problems.length;
  const doc = document.parse(raw.object, '', cx);
  const s = doc?.spec;
  const specObj = (raw.object['spec'] ?? {}) as Record<string, unknown>;
  if (s?.type !== undefined) {
    const t = s.type;
    if (!(EXT_TYPES as readonly string[]).includes(t)) {
      const older = t === 'JWTProviders' ? ' (JWTProviders is the older API\'s type: with spec.jwt set, type can be left out)' : '';
      cx.error('spec.type', `Unsupported value: "${t}": supported values: ${EXT_TYPES.map((e) => `"${e}"`).join(', ')}${older}`);
    } else {
      const field = TYPE_FIELD[t as (typeof EXT_TYPES)[number]];
      if (specObj[field] === undefined || specObj[field] === null) cx.error('spec', `${t} must be set when type is ${t}`);
      else cx.warn('spec.type', 'type is deprecated and has no effect: the set field decides the extension type');
    }
  }
  const set = ['extAuth', 'extProc', 'rateLimit', 'jwt', 'oauth2'].filter((k) => specObj[k] !== undefined && specObj[k] !== null);
  const extensionType = set.length === 1 ? set[0] : undefined;
  if (extensionType && extensionType !== 'jwt') {
    cx.warn(`spec.${extensionType}`, `${extensionType} extensions are not supported by jwtgate (only jwt): policies that reference this extension are invalid`);
  }
  const jwt = s?.jwt;
  if (jwt) {
    // jwtProviders (the older name) already has its error saying what to write instead.
    const renamed = isObject(specObj['jwt']) && specObj['jwt']['jwtProviders'] !== undefined;
    if ((!jwt.providers || jwt.providers.length === 0) && !renamed) {
      cx.error('spec.jwt.providers', 'Required value: at least one provider is needed (jwtgate will not guess what an extension without providers enforces)');
    }
    jwt.providers?.forEach((p, i) => {
      const base = `spec.jwt.providers[${i}]`;
      const r = p.jwks?.remote;
      if (r?.backendRef) checkBackendRef(r.backendRef, `${base}.jwks.remote.backendRef`, cx);
    });
  }
  return {
    ...modelBase(raw, cx, problems, before),
    ...(extensionType !== undefined ? { extensionType } : {}),
    ...(jwt !== undefined ? { jwt } : {}),
    valid: cx.errors === 0,
  };
}

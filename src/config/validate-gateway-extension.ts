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
  stringMap,
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
          // A newer kgateway's field (jwt_types.go `Overwrite *bool`, default false; golden
          // jwt/claims-to-headers-overwrite.yaml): with true its header is stripped on every route
          // the extension's policies attach to, also where jwtAuth.disable turns the check off.
          // Ignoring true would let clients send that header where no JWT check runs: refused, so
          // its routes fail closed. false is kgateway's default, what jwtgate does: accepted.
          refused: {
            // Not in kgateway's CRD: kubectl's strict field validation refuses the manifest, as
            // any unknown field (README: unknown fields are errors).
            append: `unknown field "append": append is not a field of claimsToHeaders (kgateway has none; kubectl's strict field validation refuses it): the incoming header of that name is always removed first, then the claim is added`,
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

/** kgateway's default for `httpService.requestTimeout` (api HTTPDefaultTimeout). */
export const EXT_AUTH_DEFAULT_TIMEOUT_MS = 2000;

/** A list of header names for an exact, case-sensitive match of Envoy's lower-case names. */
const headerNames = (what: string) =>
  list(str({ min: 1, max: 256 })).check((names, p, cx) => {
    names.forEach((n, i) => {
      if (n !== n.toLowerCase()) {
        cx.warn(`${p}[${i}]`, `"${n}" never matches: kgateway gives Envoy exact, case-sensitive matchers and Envoy's header names are lower-case; write "${n.toLowerCase()}" (${what})`);
      }
    });
  });

/** ExtAuthBufferSettings, on the GatewayExtension and on a TrafficPolicy. */
export const extAuthBufferSettings = obj({
  maxRequestBytes: int({ min: 1, max: 2_147_483_647 }),
  allowPartialMessage: bool().default(false),
  // Only a gRPC server's check request has a body field to pack: no effect over HTTP.
  packAsBytes: bool().default(false),
});

const extHttpService = obj({
  // A Gateway API BackendRef: `weight` (default 1) is accepted and has no effect on one backend.
  backendRef: obj({ ...backendObjectReference.shape, weight: int({ min: 0, max: 1_000_000 }).optional() }),
  pathPrefix: str({ max: 1024 })
    .check((v, p, cx) => {
      if (v !== '' && !v.startsWith('/')) cx.error(p, `Invalid value: "${v}": must start with "/" (Envoy refuses a path_prefix that does not)`);
      else if (/[^\x21-\x7e]/.test(v)) cx.error(p, `Invalid value: "${v}": a space, a control character or a character beyond ASCII cannot go in a request path: percent-encode it`);
    })
    .optional(),
  requestTimeout: durationMs({ minMs: 1 }).optional(),
  // Values may be credentials (an API key for the server): never shown in an error.
  authorizationRequest: obj({ headersToAdd: stringMap({ secret: true }).optional() }).optional(),
  authorizationResponse: obj({
    headersToBackend: headerNames('headersToBackend').optional(),
    headersToClient: headerNames('headersToClient').optional(),
    headersToClientOnSuccess: headerNames('headersToClientOnSuccess').optional(),
  }).optional(),
  retry: obj({
    attempts: int({ min: 0, max: 2_147_483_647 }).default(1),
    backoff: obj({
      baseInterval: durationMs({ minMs: 1 }),
      maxInterval: durationMs({ minMs: 1 }).optional(),
    })
      .check((v, p, cx) => {
        if (v.baseInterval !== undefined && v.maxInterval !== undefined && v.maxInterval < v.baseInterval) {
          cx.error(`${p}.maxInterval`, 'Invalid value: maxInterval must be greater than or equal to baseInterval');
        }
      })
      .optional(),
  }).optional(),
});

const extAuthSpec = obj(
  {
    grpcService: any().optional(),
    httpService: extHttpService.optional(),
    headersToForward: headerNames('headersToForward').optional(),
    failOpen: bool().default(false),
    clearRouteCache: bool().default(false),
    withRequestBody: extAuthBufferSettings.optional(),
    statusOnError: int({ min: 100, max: 511 }).default(403),
    statPrefix: str({ min: 1 }).optional(),
    percentageEnabled: int({ min: 0, max: 100 }).optional(),
  },
  { exactlyOneOf: [['grpcService', 'httpService']] },
);

const EXT_TYPES = ['ExtAuth', 'ExtProc', 'RateLimit', 'JWT', 'OAuth2'] as const;
const TYPE_FIELD: Record<(typeof EXT_TYPES)[number], string> = { ExtAuth: 'extAuth', ExtProc: 'extProc', RateLimit: 'rateLimit', JWT: 'jwt', OAuth2: 'oauth2' };

const spec = obj(
  {
    type: str().optional(),
    extAuth: extAuthSpec.optional(),
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
export type ExtAuthSpec = Infer<typeof extAuthSpec>;
export type ExtAuthBufferSpec = Infer<typeof extAuthBufferSettings>;

export interface GatewayExtensionModel {
  readonly raw: RawResource;
  readonly id: string;
  /** Which union member is set ('jwt', 'extAuth', ...), if exactly one. */
  readonly extensionType?: string;
  readonly jwt?: JwtSpec;
  /** `extAuth` with an `httpService` (a `grpcService` is an error: jwtgate has no gRPC client). */
  readonly extAuth?: ExtAuthSpec;
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
  if (extensionType && extensionType !== 'jwt' && extensionType !== 'extAuth') {
    cx.warn(`spec.${extensionType}`, `${extensionType} extensions are not supported by jwtgate (only jwt and extAuth with an httpService): policies that reference this extension are invalid`);
  }
  const extAuth = s?.extAuth;
  if (extAuth) {
    if (extAuth.grpcService !== undefined) {
      cx.error('spec.extAuth.grpcService', 'gRPC authorization services are not supported by jwtgate (it has no gRPC client): use an httpService (Envoy\'s HTTP ext_authz: the server gets the request\'s method, path and headers and answers 200 to allow). The routes of the TrafficPolicies that use this extension answer 500 meanwhile');
    }
    const hs = extAuth.httpService;
    if (hs?.backendRef) checkBackendRef(hs.backendRef, 'spec.extAuth.httpService.backendRef', cx);
    if (extAuth.statusOnError !== undefined && extAuth.statusOnError < 200) {
      cx.warn('spec.extAuth.statusOnError', `${extAuth.statusOnError} is an informational status that cannot end a request: jwtgate answers a failed check 403 instead`);
    }
    if (extAuth.withRequestBody?.packAsBytes) cx.warn('spec.extAuth.withRequestBody.packAsBytes', 'packAsBytes has no effect with an httpService (the body is sent as it is)');
    if (extAuth.statPrefix !== undefined) cx.warn('spec.extAuth.statPrefix', 'statPrefix is not applied: jwtgate counts checks in jwtgate_ext_authz_total{result} on /metrics');
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
    ...(extAuth !== undefined ? { extAuth } : {}),
    valid: cx.errors === 0,
  };
}

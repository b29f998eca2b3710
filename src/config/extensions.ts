// Turns validated jwt GatewayExtensions into the snapshot's JwtExtension + key sets, the way
// kgateway's resolveJwtProviders/TranslateKey do (spec §1.5-1.7): provider keys, Envoy's token
// location defaults, audience normalization, local keys imported now (inline or ConfigMap
// `jwks`), remote JWKS compiled to a RemoteKeySet with its backend and TLS resolved (fetched by
// the refresher thread). Failures make the extension invalid; policies that reference it then
// become invalid too (spec §2.5).

import type { ConfigProblem } from '../errors.js';
import { importLocalJwks } from '../jwks/import-keys.js';
import type { RemoteTlsSpec } from '../types.js';
import { tlsTargetKey } from './backend-tls.js';
import { localJwksError, privateKeyMembers } from './jwks-hints.js';
import type { ImportedKey, JwtExtension, JwtProvider, KeySetSource, RemoteKeySet } from './snapshot.js';
import { ParseCtx } from './schema.js';
import type { BackendModel } from './validate-backend.js';
import { backendRefKind, groupKind, HEADER_NAME, KGATEWAY_GROUP, policyWeight } from './validate-common.js';
import { CONTROL_CHAR } from '../http/field-value.js';
import {
  DEFAULT_BACKOFF_BASE_MS,
  DEFAULT_FAILED_REFETCH_MS,
  EXT_AUTH_DEFAULT_TIMEOUT_MS,
  type GatewayExtensionModel,
  type JwtProviderSpec,
  type RemoteJwksSpec,
} from './validate-gateway-extension.js';
import { referenceAllowed, type ConfigMapModel, type ReferenceGrantModel } from './validate-misc.js';
import { normalizeAudience } from '../auth/claim-checks.js';
import { hostKind, redactUserinfo } from '../util/host.js';
import type { ExtAuthProvider } from '../auth/ext-authz.js';
import { parseHeaderValue, type HeaderFormat } from '../proxy/header-format.js';

export type ImportLocalJwks = (
  text: string,
) => { ok: true; keys: ImportedKey[]; format: 'pem' | 'jwks' | 'jwk'; dropped: string[] } | { ok: false; error: string };

/** An https:// URL without a BackendConfigPolicy: TLS with Node's trust store (Envoy would not originate TLS). */
const HTTPS_DEFAULT_TLS: RemoteTlsSpec = Object.freeze({ insecureSkipVerify: false });

export interface ResolvedExtension {
  readonly model: GatewayExtensionModel;
  /** Set when the extension is a valid jwt extension. */
  readonly ext?: JwtExtension;
  /** Why policies referencing this extension are invalid (not jwt, or an error). */
  readonly error?: string;
  readonly isJwt: boolean;
}

export interface ExtensionContext {
  readonly configMaps: ReadonlyMap<string, ConfigMapModel>;
  readonly backends: ReadonlyMap<string, BackendModel>;
  readonly referenceGrants: readonly ReferenceGrantModel[];
  readonly clusterDomain: string;
  readonly defaultClockSkewSeconds: number;
  readonly importLocalJwks?: ImportLocalJwks;
  /** BackendConfigPolicy TLS by target (`Backend/ns/name`, `Service/ns/name`), see backend-tls.ts. */
  readonly backendTls?: ReadonlyMap<string, RemoteTlsSpec>;
  /** Every target kgateway reaches over TLS (tlsRequiredTargets: by name, or every Service of a namespace or of all), with why. */
  readonly tlsRequired?: ReadonlyMap<string, string>;
}

export function resolveExtension(
  model: GatewayExtensionModel,
  cxt: ExtensionContext,
  problems: ConfigProblem[],
  keySets: Map<string, KeySetSource>,
): ResolvedExtension {
  if (model.extensionType !== undefined && model.extensionType !== 'jwt') {
    return { model, isJwt: false, error: 'expected gatewayextension type JWT' };
  }
  if (!model.jwt) {
    return { model, isJwt: model.extensionType === 'jwt', error: model.error ?? 'invalid GatewayExtension' };
  }
  // References are resolved even when the manifest has errors, so `check` reports every problem.
  const cx = ParseCtx.for(model.raw, problems);
  const e0 = cx.errors;
  const ns = model.raw.namespace;
  const name = model.raw.name;
  const importer = cxt.importLocalJwks ?? (importLocalJwks as ImportLocalJwks);
  const providers: JwtProvider[] = [];
  const localSets: KeySetSource[] = [];
  const errors: string[] = [];
  const fail = (path: string, message: string): void => {
    cx.error(path, message);
    errors.push(message);
  };
  (model.jwt.providers ?? []).forEach((p, i) => {
    const base = `spec.jwt.providers[${i}]`;
    const keySetId = `GatewayExtension/${ns}/${name}#${p.name}`;
    if (p.jwks?.local) {
      let text: string | undefined;
      let textPath = `${base}.jwks.local.inline`;
      if (p.jwks.local.inline !== undefined) text = p.jwks.local.inline;
      else if (p.jwks.local.configMapRef) {
        textPath = `${base}.jwks.local.configMapRef`;
        const cmName = p.jwks.local.configMapRef.name;
        const cm = cxt.configMaps.get(`${ns}/${cmName}`);
        // A name that failed its schema is reported with its path already.
        if (typeof cmName !== 'string') errors.push('configMapRef.name is invalid');
        else if (!cm) fail(`${textPath}.name`, `configmap ${ns}/${cmName} not found (the ConfigMap must be in the GatewayExtension's namespace)`);
        else {
          const v = cm.data['jwks'];
          if (v === undefined || v === '') fail(textPath, `configmap key 'jwks' not found in ConfigMap ${ns}/${cmName}`);
          else text = v;
        }
      }
      if (text !== undefined) {
        let r: ReturnType<ImportLocalJwks>;
        try {
          r = importer(text);
        } catch (err) {
          r = { ok: false, error: `cannot parse local jwks: ${err instanceof Error ? err.message : String(err)}` };
        }
        if (!r.ok) fail(textPath, localJwksError(text, r.error));
        else {
          const priv = r.format === 'pem' ? undefined : privateKeyMembers(text);
          if (priv !== undefined) {
            cx.warn(textPath, `private key material in a manifest (${priv}): only the public key is needed; remove these members (and treat the key as exposed)`);
          }
          for (const d of r.dropped) cx.warn(textPath, `key dropped: ${d}`);
          if (r.keys.length === 0) {
            cx.warn(textPath, "no usable key: requests for this provider get 401 Jwks doesn't have any valid public key");
          }
          localSets.push({ kind: 'local', id: keySetId, keys: r.keys });
        }
      }
    } else if (p.jwks?.remote) {
      if (p.jwks.remote.backendRef) {
        const remote = compileRemote(p.jwks.remote, keySetId, `${base}.jwks.remote`, model, cxt, fail);
        if (remote) {
          localSets.push(remote);
          if (remote.tls === HTTPS_DEFAULT_TLS) {
            cx.warn(
              `${base}.jwks.remote.url`,
              `https:// URL and no BackendConfigPolicy tls for the backend: jwtgate connects with TLS (Node's trust store, certificate checked for ${new URL(remote.url).hostname}); kgateway/Envoy would connect in plaintext and the fetch would fail (add a BackendConfigPolicy with spec.tls to behave the same on both)`,
            );
          }
        }
      }
    }
    if (model.valid) providers.push(compileProvider(p, name, ns, keySetId, cxt.defaultClockSkewSeconds));
  });
  if (!model.valid || cx.errors !== e0) return { model, isJwt: true, error: model.error ?? errors[0] ?? 'invalid GatewayExtension' };
  for (const ks of localSets) keySets.set(ks.id, ks);
  providers.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const sanitize = new Set<string>();
  for (const p of providers) for (const c of p.claimsToHeaders) sanitize.add(c.header);
  const ext: JwtExtension = {
    key: `${ns}/${name}`,
    filterName: `jwt/${ns}/${name}`,
    allowMissing: model.jwt.validationMode !== 'Strict',
    allowFailed: model.jwt.validationMode === 'AllowMissingOrFailed',
    providers,
    sanitizeHeaders: [...sanitize].sort(),
  };
  return { model, isJwt: true, ext };
}

function compileProvider(p: JwtProviderSpec, extName: string, extNs: string, keySetId: string, defaultSkew: number): JwtProvider {
  let headerLocations: { name: string; prefix: string }[];
  let queryLocations: string[];
  const ts = p.tokenSource;
  if (!ts) {
    // Envoy extractor.cc defaults when a provider has no from_headers/from_params.
    headerLocations = [{ name: 'authorization', prefix: 'Bearer ' }];
    queryLocations = ['access_token'];
  } else if (ts.header) {
    headerLocations = [{ name: ts.header.header.toLowerCase(), prefix: ts.header.prefix ?? '' }];
    queryLocations = [];
  } else {
    headerLocations = [];
    queryLocations = ts.queryParameter !== undefined ? [ts.queryParameter] : [];
  }
  headerLocations.sort((a, b) => {
    const ka = a.name + a.prefix;
    const kb = b.name + b.prefix;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  queryLocations.sort();
  return {
    key: `${extName}_${extNs}_${p.name}`,
    name: p.name,
    issuer: p.issuer ?? '',
    audiences: p.audiences ? p.audiences.map(normalizeAudience) : null,
    headerLocations,
    queryLocations,
    claimsToHeaders: (p.claimsToHeaders ?? []).map((c) => ({ claim: c.name, path: c.name.split('.'), header: c.header.toLowerCase() })),
    forwardToken: p.forwardToken === true,
    clockSkewSeconds: p.clockSkew ?? defaultSkew,
    keySetId,
  };
}

function compileRemote(
  r: RemoteJwksSpec,
  id: string,
  path: string,
  model: GatewayExtensionModel,
  cxt: ExtensionContext,
  fail: (path: string, message: string) => void,
): RemoteKeySet | undefined {
  const resolved = resolveBackendTarget(r.backendRef, model.raw.namespace, `${path}.backendRef`, cxt, fail, 'jwt: remote jwks: unresolved backend ref', 'jwt: jwt: remote jwks: unresolved backend ref: missing reference grant');
  if (resolved === undefined) return undefined;
  const { target, alternates, refKind, refNs, name } = resolved;
  // An unusable URL has its error from validation already (and no host to check a certificate for).
  const tls = cxt.backendTls?.get(tlsTargetKey(refKind, refNs, name)) ?? (/^https:/i.test(r.url) && URL.canParse(r.url) ? HTTPS_DEFAULT_TLS : undefined);
  // A backend kgateway reaches over TLS by a policy jwtgate does not apply to JWKS fetches (a
  // BackendTLSPolicy, a BackendConfigPolicy selecting it by label): an http:// URL would go in
  // plain text where kgateway's fetch is encrypted.
  const tlsBy = tls === undefined ? tlsRequiredFor(cxt, refKind, refNs, name) : undefined;
  if (tlsBy !== undefined) {
    fail(`${path}.backendRef`, `jwt: remote jwks: the backend is to be reached over TLS (${tlsBy}), which jwtgate applies to a JWKS fetch only from a BackendConfigPolicy tls naming it in targetRefs, or from an https:// url: the keys would be fetched in plain text`);
    return undefined;
  }
  const base = r.retryPolicy?.backOff?.baseInterval ?? DEFAULT_BACKOFF_BASE_MS;
  return {
    kind: 'remote',
    id,
    url: r.url,
    target,
    ...(alternates ? { alternates } : {}),
    cacheDurationMs: r.cacheDuration,
    asyncFetch: r.asyncFetch !== undefined,
    fastListener: r.asyncFetch?.fastListener ?? false,
    failedRefetchDurationMs: r.asyncFetch?.failedRefetchDuration ?? DEFAULT_FAILED_REFETCH_MS,
    // Envoy retries a JWKS fetch only when retry_policy is set (numRetries then defaults to 1).
    numRetries: r.retryPolicy?.numRetries ?? 0,
    backOffBaseMs: base,
    backOffMaxMs: r.retryPolicy?.backOff?.maxInterval ?? base * 10,
    ...(tls ? { tls } : {}),
  };
}

type BackendRefSpec = RemoteJwksSpec['backendRef'];

/** Why kgateway reaches this backend over TLS (tlsRequiredTargets: by name, or every Service of a namespace or of all), if it does. */
function tlsRequiredFor(cxt: ExtensionContext, refKind: 'Service' | 'Backend', refNs: string, name: string): string | undefined {
  const t = cxt.tlsRequired;
  if (t === undefined) return undefined;
  return t.get(`${refKind}/${refNs}/${name}`) ?? (refKind === 'Service' ? (t.get(`Service/${refNs}/*`) ?? t.get('Service/*/*')) : undefined);
}

/**
 * A GatewayExtension's backendRef as host and port: a Service by its cluster DNS name, a Backend
 * by its first host that can have an address (the others as alternates). `fail` gets the error
 * (prefixed with `what`) when the reference does not resolve.
 */
function resolveBackendTarget(
  ref: BackendRefSpec,
  ns: string,
  bp: string,
  cxt: ExtensionContext,
  fail: (path: string, message: string) => void,
  what: string,
  grantMissing: string,
): { target: { host: string; port: number }; alternates?: { host: string; port: number }[]; refKind: 'Service' | 'Backend'; refNs: string; name: string } | undefined {
  // A name that failed its schema is reported with its path already.
  if (typeof ref.name !== 'string') return undefined;
  const refNs = ref.namespace ?? ns;
  const refKind = backendRefKind(ref.group, ref.kind);
  if (!refKind) {
    fail(bp, `${what}: kind ${groupKind(ref.group, ref.kind)} is not supported (Service or gateway.kgateway.dev Backend)`);
    return undefined;
  }
  if (!referenceAllowed(cxt.referenceGrants, { group: KGATEWAY_GROUP, kind: 'GatewayExtension', namespace: ns }, { group: ref.group, kind: ref.kind, namespace: refNs, name: ref.name })) {
    fail(bp, grantMissing);
    return undefined;
  }
  if (refKind === 'Service') return { target: { host: `${ref.name}.${refNs}.svc.${cxt.clusterDomain}`, port: ref.port! }, refKind, refNs, name: ref.name };
  const b = cxt.backends.get(`${refNs}/${ref.name}`);
  if (!b) {
    fail(bp, `${what}: Backend ${refNs}/${redactUserinfo(ref.name)} not found`);
    return undefined;
  }
  if (!b.valid || b.hosts.length === 0) {
    fail(bp, `${what}: Backend ${refNs}/${redactUserinfo(ref.name)} is invalid${b.error ? ` (${b.error})` : ''}`);
    return undefined;
  }
  // Hosts that never have an address (`check` warns about them) are no endpoints, as in Envoy's
  // DNS cluster; with none left, the first is kept and its connections fail.
  const usable = b.hosts.filter((h) => hostKind(h.host) !== undefined);
  const hosts = usable.length > 0 ? usable : b.hosts.slice(0, 1);
  return {
    target: { host: hosts[0]!.host, port: hosts[0]!.port },
    ...(hosts.length > 1 ? { alternates: hosts.slice(1).map((h) => ({ host: h.host, port: h.port })) } : {}),
    refKind,
    refNs,
    name: ref.name,
  };
}

/**
 * An `extAuth` GatewayExtension with an `httpService`, as kgateway's ResolveExtHttpService and
 * its filter builder configure Envoy's ext_authz: undefined (and the extension's error) when its
 * backend does not resolve or it is invalid.
 */
export function resolveExtAuth(model: GatewayExtensionModel, cxt: ExtensionContext, problems: ConfigProblem[]): { provider?: ExtAuthProvider; error?: string } {
  const spec = model.extAuth;
  const hs = spec?.httpService;
  if (!spec || !hs) return { error: model.error ?? 'invalid GatewayExtension' };
  const cx = ParseCtx.for(model.raw, problems);
  const errors: string[] = [];
  const fail = (path: string, message: string): void => {
    cx.error(path, message);
    errors.push(message);
  };
  const ns = model.raw.namespace;
  const bp = 'spec.extAuth.httpService.backendRef';
  const resolved = hs.backendRef ? resolveBackendTarget(hs.backendRef, ns, bp, cxt, fail, 'failed to resolve ExtAuth HTTP backend', 'failed to resolve ExtAuth HTTP backend: missing reference grant') : undefined;
  if (resolved !== undefined) {
    // jwtgate connects to an authorization server in plain HTTP only: a backend kgateway reaches
    // over TLS (a BackendConfigPolicy's tls, by name or label; a BackendTLSPolicy) is refused.
    const { refKind, refNs, name } = resolved;
    const tlsBy = tlsRequiredFor(cxt, refKind, refNs, name) ?? (cxt.backendTls?.get(tlsTargetKey(refKind, refNs, name)) !== undefined ? 'a BackendConfigPolicy tls' : undefined);
    if (tlsBy !== undefined) {
      fail(bp, `TLS to an authorization server is not supported by jwtgate: the backend is to be reached over TLS (${tlsBy}), and jwtgate would send the checks in plain HTTP. The routes of the TrafficPolicies that use this extension answer 500 meanwhile`);
    } else if (resolved.alternates !== undefined) {
      cx.warn(bp, `the Backend has ${resolved.alternates.length + 1} hosts: jwtgate sends every check to the first, ${resolved.target.host}:${resolved.target.port} (Envoy balances them)`);
    }
  }
  const headersToAdd: [string, string | HeaderFormat][] = [];
  for (const [name, value] of Object.entries(hs.authorizationRequest?.headersToAdd ?? {})) {
    const path = `spec.extAuth.httpService.authorizationRequest.headersToAdd.${name}`;
    if (!HEADER_NAME.test(name)) {
      fail(path, `Invalid value: "${name}": a header name is a token (letters, digits and !#$%&'*+-.^_\`|~)`);
      continue;
    }
    if (CONTROL_CHAR.test(value)) {
      fail(path, 'Invalid value: the value holds a control character (a line break, NUL): Envoy refuses it in a header value');
      continue;
    }
    const parsed = parseHeaderValue(value, 'request');
    if ('error' in parsed) fail(path, parsed.error);
    else headersToAdd.push([name.toLowerCase(), parsed.value]);
  }
  // Go's map order is random in kgateway; here the names go in byte order, so the last of two
  // names that differ only in case wins the same way at every load.
  headersToAdd.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  if (errors.length > 0 || !model.valid || resolved === undefined) return { error: model.error ?? errors[0] ?? 'invalid GatewayExtension' };
  const ar = hs.authorizationResponse;
  const base = hs.retry?.backoff?.baseInterval ?? DEFAULT_BACKOFF_BASE_MS;
  // kgateway.dev/policy-weight orders the ext_authz filters (kgateway's PrecedenceWeight); one it
  // cannot parse is logged there and taken as 0.
  const weightText = model.raw.annotations['kgateway.dev/policy-weight'];
  let weight = 0;
  if (weightText !== undefined) {
    const n = policyWeight(weightText);
    if (n !== undefined) weight = n;
    else cx.warn('metadata.annotations.kgateway.dev/policy-weight', `must be a 32-bit integer, got "${weightText}": taken as 0, as kgateway does (it logs the error)`);
  }
  const provider: ExtAuthProvider = {
    key: `${ns}/${model.raw.name}`,
    filterName: `ext_auth/${ns}/${model.raw.name}`,
    weight,
    target: resolved.target,
    pathPrefix: hs.pathPrefix ?? '',
    timeoutMs: hs.requestTimeout ?? EXT_AUTH_DEFAULT_TIMEOUT_MS,
    forward: new Set(spec.headersToForward ?? []),
    headersToAdd,
    toBackend: new Set(ar?.headersToBackend ?? []),
    ...(ar?.headersToClient !== undefined && ar.headersToClient.length > 0 ? { toClient: new Set(ar.headersToClient) } : {}),
    toClientOnSuccess: new Set(ar?.headersToClientOnSuccess ?? []),
    failOpen: spec.failOpen ?? false,
    clearRouteCache: spec.clearRouteCache ?? false,
    statusOnError: spec.statusOnError ?? 403,
    ...(spec.withRequestBody ? { body: { maxBytes: spec.withRequestBody.maxRequestBytes, partial: spec.withRequestBody.allowPartialMessage ?? false } } : {}),
    ...(spec.percentageEnabled !== undefined ? { percent: spec.percentageEnabled } : {}),
    retries: hs.retry ? hs.retry.attempts ?? 1 : 0,
    backoffBaseMs: base,
    backoffMaxMs: hs.retry?.backoff?.maxInterval ?? base * 10,
  };
  return { provider };
}


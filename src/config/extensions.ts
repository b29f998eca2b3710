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
import { backendRefKind, groupKind, KGATEWAY_GROUP } from './validate-common.js';
import {
  DEFAULT_BACKOFF_BASE_MS,
  DEFAULT_FAILED_REFETCH_MS,
  type GatewayExtensionModel,
  type JwtProviderSpec,
  type RemoteJwksSpec,
} from './validate-gateway-extension.js';
import { referenceAllowed, type ConfigMapModel, type ReferenceGrantModel } from './validate-misc.js';
import { normalizeAudience } from '../auth/claim-checks.js';
import { hostKind, redactUserinfo } from '../util/host.js';

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
  const ns = model.raw.namespace;
  const ref = r.backendRef;
  // A name that failed its schema is reported with its path already.
  if (typeof ref.name !== 'string') return undefined;
  const refNs = ref.namespace ?? ns;
  const bp = `${path}.backendRef`;
  let target: { host: string; port: number } | undefined;
  let alternates: { host: string; port: number }[] | undefined;
  const refKind = backendRefKind(ref.group, ref.kind);
  if (!refKind) {
    fail(bp, `jwt: remote jwks: unresolved backend ref: kind ${groupKind(ref.group, ref.kind)} is not supported (Service or gateway.kgateway.dev Backend)`);
    return undefined;
  }
  if (!referenceAllowed(cxt.referenceGrants, { group: KGATEWAY_GROUP, kind: 'GatewayExtension', namespace: ns }, { group: ref.group, kind: ref.kind, namespace: refNs, name: ref.name })) {
    fail(bp, 'jwt: jwt: remote jwks: unresolved backend ref: missing reference grant');
    return undefined;
  }
  if (refKind === 'Service') {
    target = { host: `${ref.name}.${refNs}.svc.${cxt.clusterDomain}`, port: ref.port! };
  } else {
    const b = cxt.backends.get(`${refNs}/${ref.name}`);
    if (!b) {
      fail(bp, `jwt: remote jwks: unresolved backend ref: Backend ${refNs}/${redactUserinfo(ref.name)} not found`);
      return undefined;
    }
    if (!b.valid || b.hosts.length === 0) {
      fail(bp, `jwt: remote jwks: unresolved backend ref: Backend ${refNs}/${redactUserinfo(ref.name)} is invalid${b.error ? ` (${b.error})` : ''}`);
      return undefined;
    }
    // Hosts that never have an address (`check` warns about them) are no endpoints, as in Envoy's
    // DNS cluster; with none left, the first is kept and its fetches fail.
    const usable = b.hosts.filter((h) => hostKind(h.host) !== undefined);
    const hosts = usable.length > 0 ? usable : b.hosts.slice(0, 1);
    target = { host: hosts[0]!.host, port: hosts[0]!.port };
    if (hosts.length > 1) alternates = hosts.slice(1).map((h) => ({ host: h.host, port: h.port }));
  }
  // An unusable URL has its error from validation already (and no host to check a certificate for).
  const tls = cxt.backendTls?.get(tlsTargetKey(refKind, refNs, ref.name)) ?? (/^https:/i.test(r.url) && URL.canParse(r.url) ? HTTPS_DEFAULT_TLS : undefined);
  const base = r.retryPolicy?.backOff?.baseInterval ?? DEFAULT_BACKOFF_BASE_MS;
  return {
    kind: 'remote',
    id,
    url: r.url,
    target,
    ...(alternates ? { alternates } : {}),
    cacheDurationMs: r.cacheDuration,
    fastListener: r.asyncFetch?.fastListener ?? false,
    failedRefetchDurationMs: r.asyncFetch?.failedRefetchDuration ?? DEFAULT_FAILED_REFETCH_MS,
    // Envoy retries a JWKS fetch only when retry_policy is set (numRetries then defaults to 1).
    numRetries: r.retryPolicy?.numRetries ?? 0,
    backOffBaseMs: base,
    backOffMaxMs: r.retryPolicy?.backOff?.maxInterval ?? base * 10,
    ...(tls ? { tls } : {}),
  };
}

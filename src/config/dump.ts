// JSON for the admin `/config_dump`: listeners with their route tables, the policies folded
// into each route (API key clients and basic auth user counts, never keys or hashes),
// extensions/providers with key-set metadata (kid, alg, kty, thumbprint, never key material),
// backends, and problem counts. Header-match values that look like credentials
// are redacted.

import type { CompiledRoute, ImportedKey, JwtExtension, KeySetSource, RouteTable, Snapshot, ValueMatch } from './snapshot.js';
import { redactUrl } from '../jwks/remote-fetch.js';
import { redactUserinfo } from '../util/host.js';
import { countProblems } from './report.js';
import { SENSITIVE_NAME } from './schema.js';
import { retryOnString } from '../proxy/retry.js';
import { describeOps } from '../proxy/header-mutation.js';

/** Match values longer than this are cut in the dump (a header value may be 4,096 characters). */
const MAX_VALUE_CHARS = 1024;

function shown(value: string): string {
  return value.length <= MAX_VALUE_CHARS ? value : `${value.slice(0, MAX_VALUE_CHARS)}…(${value.length} characters)`;
}

function valueMatchDump(m: ValueMatch): object {
  return { name: m.name, type: m.type, value: SENSITIVE_NAME.test(m.name) ? '[redacted]' : shown(m.value) };
}

function routeDump(r: CompiledRoute): object {
  return {
    id: r.id,
    route: r.route,
    ...(r.ruleName !== undefined ? { ruleName: r.ruleName } : {}),
    match: {
      path: { type: r.path.type, value: shown(r.path.value) },
      ...(r.method !== undefined ? { method: r.method } : {}),
      headers: r.headers.map(valueMatchDump),
      queryParams: r.queryParams.map(valueMatchDump),
    },
    auth: {
      jwt: r.auth.jwt.map((e) => e.filterName),
      policies: [...r.auth.origins],
      disabled: r.auth.disabled,
      ...(r.auth.rbac ? { rbac: { action: r.auth.rbac.action, expressions: r.auth.rbac.expressions.length, policy: r.auth.rbac.origin } } : {}),
      // Envoy's api_key_auth and basic_auth per-route configs by what they check: the client ids
      // and the number of users, never a key or a hash.
      ...(r.auth.apiKeyAuthOff !== undefined ? { apiKeyAuth: { disabled: true, from: r.auth.apiKeyAuthOff } } : {}),
      ...(r.auth.apiKeyAuth
        ? {
            apiKeyAuth: {
              clients: [...new Set(r.auth.apiKeyAuth.keys.values())].sort(),
              sources: r.auth.apiKeyAuth.sources.map((s) => ({ [s.kind]: s.name })),
              forwardCredential: !r.auth.apiKeyAuth.hideCredentials,
              ...(r.auth.apiKeyAuth.clientIdHeader !== undefined ? { clientIdHeader: r.auth.apiKeyAuth.clientIdHeader } : {}),
              from: r.auth.apiKeyAuth.origin,
            },
          }
        : {}),
      ...(r.auth.csrf ? { csrf: { percentageEnabled: r.auth.csrf.enabledPercent, additionalOrigins: r.auth.csrf.additionalOrigins.length, from: r.auth.csrf.origin } } : {}),
      ...(r.auth.basicAuth ? { basicAuth: { users: r.auth.basicAuth.users.size, from: r.auth.basicAuth.origin } } : r.auth.basicAuthOff !== undefined ? { basicAuth: { disabled: true, from: r.auth.basicAuthOff } } : {}),
      // The ext auth filters in the order they run: the server each asks and how (never a header value).
      ...(r.auth.extAuth
        ? {
            extAuth: r.auth.extAuth.map((e) => {
              const p = e.provider;
              const body = e.body ?? p.body;
              return {
                filter: p.filterName,
                server: `${p.target.host}:${p.target.port}${p.pathPrefix}`,
                timeoutMs: p.timeoutMs,
                failOpen: p.failOpen,
                statusOnError: p.statusOnError,
                ...(body ? { withRequestBody: { maxRequestBytes: body.maxBytes, allowPartialMessage: body.partial } } : {}),
                ...(p.percent !== undefined ? { percentageEnabled: p.percent } : {}),
                from: e.origin,
              };
            }),
          }
        : r.auth.extAuthOff !== undefined
          ? { extAuth: { disabled: true, from: r.auth.extAuthOff } }
          : {}),
    },
    backends: r.backends.map((b) => ({
      key: b.target?.key ?? '(unresolved: 500)',
      weight: b.weight,
      // A backendRef's own header rules, with the route's, in the order they apply.
      ...(b.headerMutation ? { headerRules: { request: describeOps(b.headerMutation.request), response: describeOps(b.headerMutation.response), from: [...b.headerMutation.origins] } } : {}),
    })),
    totalWeight: r.totalWeight,
    ...(r.redirect ? { redirect: { ...r.redirect } } : {}),
    // The URLRewrite filter's rewrite, or a TrafficPolicy's urlRewrite where the filter rewrites no path.
    ...(r.rewrite
      ? {
          rewrite: {
            ...(r.rewrite.host !== undefined ? { hostname: r.rewrite.host } : {}),
            ...(r.rewrite.fullPath !== undefined ? { replaceFullPath: r.rewrite.fullPath } : {}),
            ...(r.rewrite.prefix !== undefined ? { replacePrefixMatch: r.rewrite.prefix.rewrite } : {}),
            ...(r.rewrite.regex !== undefined ? { pathRegex: { pattern: r.rewrite.regex.pattern, substitution: r.rewrite.regex.substitution, from: r.rewrite.regexOrigin } } : {}),
          },
        }
      : {}),
    ...(r.compression ? { compression: { codecs: r.compression.codecs.map((k) => ({ codec: k.codec, minContentLength: k.minLength, contentTypes: k.contentTypes.size })), from: [...r.compression.origins] } } : {}),
    ...(r.decompression ? { requestDecompression: [...r.decompression] } : {}),
    ...(r.autoHostRewrite === true ? { autoHostRewrite: { from: r.autoHostRewriteFrom } } : {}),
    ...(r.buffer ? { buffer: { maxRequestBytes: r.buffer.maxBytes, from: r.buffer.origin } } : {}),
    ...(r.directResponse ? { directResponse: { status: r.directResponse.status, ...(r.directResponse.bodyFormat ? { bodyFormat: r.directResponse.bodyFormat.kind } : { bodyBytes: Buffer.byteLength(r.directResponse.body) }), from: r.directResponse.from } } : {}),
    ...(r.cors
      ? {
          cors: {
            ...(r.cors.origins ? { allowOrigins: r.cors.origins.map((m) => ('exact' in m ? m.exact : 'prefix' in m ? `${m.prefix}*` : m.glob.join('*'))) } : {}),
            ...(r.cors.allowCredentials ? { allowCredentials: true } : {}),
            ...(r.cors.allowMethods !== undefined ? { allowMethods: r.cors.allowMethods } : {}),
            ...(r.cors.allowHeaders !== undefined ? { allowHeaders: r.cors.allowHeaders } : {}),
            ...(r.cors.exposeHeaders !== undefined ? { exposeHeaders: r.cors.exposeHeaders } : {}),
            ...(r.cors.maxAge !== undefined ? { maxAge: r.cors.maxAge } : {}),
            from: [...r.cors.from],
          },
        }
      : {}),
    ...(r.timeouts
      ? {
          timeouts: {
            ...(r.timeouts.requestMs !== undefined ? { requestMs: r.timeouts.requestMs } : {}),
            ...(r.timeouts.idleMs !== undefined ? { streamIdleMs: r.timeouts.idleMs } : {}),
            from: [...r.timeouts.origins],
          },
        }
      : {}),
    // Envoy's route retry_policy, as kgateway writes it (max_interval unset: 10 × base).
    ...(r.retry
      ? {
          retry: {
            retryOn: retryOnString(r.retry.retryOn),
            numRetries: r.retry.numRetries,
            retriableStatusCodes: [...r.retry.statusCodes],
            ...(r.retry.perTryTimeoutMs !== undefined ? { perTryTimeoutMs: r.retry.perTryTimeoutMs } : {}),
            backoff: { baseIntervalMs: r.retry.backoffBaseMs, maxIntervalMs: r.retry.backoffMaxMs },
            from: r.retry.origin,
          },
        }
      : {}),
    // Envoy's request_mirror_policies, as kgateway writes them: the backend and its runtime_fraction.
    ...(r.mirrors ? { mirrors: r.mirrors.map((m) => ({ backend: m.target.key, fraction: `${m.numerator}/${m.denominator}` })) } : {}),
    ...(r.rateLimit
      ? {
          rateLimit: {
            maxTokens: r.rateLimit.bucket.spec.maxTokens,
            tokensPerFill: r.rateLimit.bucket.spec.tokensPerFill,
            fillIntervalMs: r.rateLimit.bucket.spec.fillIntervalMs,
            percentEnabled: r.rateLimit.percentEnabled,
            percentEnforced: r.rateLimit.percentEnforced,
            bucket: r.rateLimit.scope,
            policy: r.rateLimit.origin,
          },
        }
      : {}),
    // Header rules by operation and name, in the order they apply; their values are left out
    // (a rule may set a credential for the upstream).
    ...(r.headerMutation
      ? {
          headerRules: {
            request: describeOps(r.headerMutation.request),
            response: describeOps(r.headerMutation.response),
            from: [...r.headerMutation.origins],
          },
        }
      : {}),
    ...(r.invalid !== undefined ? { invalid: r.invalid } : {}),
  };
}

/**
 * A listener's route table: for each host, the ids of its routes in the order they are tried;
 * each route itself once, under `routeDefs` (a route serves every hostname of its HTTPRoute:
 * written out per host, 16 hostnames made the dump 16 times larger).
 */
function tableDump(t: RouteTable): { routes: object; routeDefs: Record<string, object> } {
  const ids = new Map<CompiledRoute, string>();
  const routeDefs: Record<string, object> = {};
  const idOf = (r: CompiledRoute): string => {
    let id = ids.get(r);
    if (id === undefined) {
      id = r.id;
      for (let n = 2; Object.hasOwn(routeDefs, id); n++) id = `${r.id}#${n}`;
      ids.set(r, id);
      routeDefs[id] = routeDump(r);
    }
    return id;
  };
  return {
    routes: {
      exact: Object.fromEntries([...t.exact].map(([h, routes]) => [h, routes.map(idOf)])),
      wildcard: t.wildcard.map((w) => ({ host: `*${w.suffix}`, routes: w.routes.map(idOf) })),
      any: t.any.map(idOf),
    },
    routeDefs,
  };
}

/** A remote key set as it runs (the gateway's view): keys in use and its fetch record. */
export interface RemoteKeySetState {
  readonly keys?: readonly ImportedKey[];
  readonly lastSuccessMs?: number;
  readonly lastFailure?: string;
  readonly lastFailureMs?: number;
  readonly fetches: Readonly<Record<string, number>>;
  readonly earlyRefetches: number;
}

export type RemoteStateOf = (id: string) => RemoteKeySetState | undefined;

function keyDump(k: ImportedKey): object {
  return {
    ...(k.kid !== undefined ? { kid: k.kid } : {}),
    ...(k.alg !== undefined ? { alg: k.alg } : {}),
    kty: k.kty,
    ...(k.crv !== undefined ? { crv: k.crv } : {}),
    thumbprint: k.thumbprint,
  };
}

function keySetDump(ks: KeySetSource | undefined, remoteState?: RemoteStateOf): object {
  if (!ks) return { missing: true };
  if (ks.kind === 'local') {
    return {
      id: ks.id,
      kind: 'local',
      keyCount: ks.keys.length,
      keys: ks.keys.map(keyDump),
    };
  }
  const state = remoteState?.(ks.id);
  return {
    id: ks.id,
    kind: 'remote',
    url: redactUrl(ks.url),
    ...(ks.target ? { target: `${redactUserinfo(ks.target.host)}:${ks.target.port}` } : {}),
    ...(ks.alternates ? { alternates: ks.alternates.map((h) => `${redactUserinfo(h.host)}:${h.port}`) } : {}),
    cacheDurationMs: ks.cacheDurationMs,
    asyncFetch: ks.asyncFetch,
    fastListener: ks.fastListener,
    failedRefetchDurationMs: ks.failedRefetchDurationMs,
    numRetries: ks.numRetries,
    backOffBaseMs: ks.backOffBaseMs,
    backOffMaxMs: ks.backOffMaxMs,
    // TLS settings by what they do; never certificate or key material.
    ...(ks.tls
      ? {
          tls: {
            ...(ks.tls.source !== undefined ? { source: ks.tls.source } : {}),
            trust: ks.tls.insecureSkipVerify ? 'none (insecureSkipVerify)' : ks.tls.caPem ? 'Secret ca.crt' : ks.tls.caFile ? `file ${ks.tls.caFile}` : 'system',
            ...(ks.tls.sni !== undefined ? { sni: ks.tls.sni } : {}),
            ...(ks.tls.verifySubjectAltNames ? { verifySubjectAltNames: [...ks.tls.verifySubjectAltNames] } : {}),
            clientCertificate: Boolean((ks.tls.certPem && ks.tls.keyPem) || (ks.tls.certFile && ks.tls.keyFile)),
            ...(ks.tls.error !== undefined ? { error: ks.tls.error } : {}),
          },
        }
      : {}),
    // What the refresher fetched: the keys in use (none before a first good fetch) and the record.
    ...(state
      ? {
          keyCount: state.keys?.length ?? 0,
          keys: (state.keys ?? []).map(keyDump),
          ...(state.lastSuccessMs !== undefined ? { lastSuccess: new Date(state.lastSuccessMs).toISOString() } : {}),
          ...(state.lastFailure !== undefined ? { lastFailure: state.lastFailure } : {}),
          ...(state.lastFailureMs !== undefined ? { lastFailureAt: new Date(state.lastFailureMs).toISOString() } : {}),
          fetches: { ...state.fetches },
          earlyRefetches: state.earlyRefetches,
        }
      : {}),
  };
}

function extensionDump(e: JwtExtension, snapshot: Snapshot, remoteState?: RemoteStateOf): object {
  return {
    key: e.key,
    filterName: e.filterName,
    validationMode: e.allowFailed ? 'AllowMissingOrFailed' : e.allowMissing ? 'AllowMissing' : 'Strict',
    sanitizeHeaders: [...e.sanitizeHeaders],
    providers: e.providers.map((p) => ({
      key: p.key,
      name: p.name,
      issuer: p.issuer,
      audiences: p.audiences === null ? null : [...p.audiences],
      headerLocations: p.headerLocations.map((h) => ({ name: h.name, prefix: h.prefix })),
      queryLocations: [...p.queryLocations],
      claimsToHeaders: p.claimsToHeaders.map((c) => ({ claim: c.claim, header: c.header })),
      forwardToken: p.forwardToken,
      clockSkewSeconds: p.clockSkewSeconds,
      keySet: keySetDump(snapshot.keySets.get(p.keySetId), remoteState),
    })),
  };
}

/** The last configuration reload, as /config_dump shows it (none before the first). */
export interface LastReload {
  /** When it ended (ISO 8601). */
  readonly at: string;
  readonly ok: boolean;
  /** The generation it applied, or the one still served when it was refused. */
  readonly generation: number;
  /** Why it was refused. */
  readonly reason?: string;
  /** Problems of the configuration it read, by severity. */
  readonly errors: number;
  readonly warnings: number;
}

/** A JSON-safe description of the running snapshot (no key material, no tokens). */
export function configDump(snapshot: Snapshot, remoteState?: RemoteStateOf, lastReload?: LastReload): object {
  return {
    generation: snapshot.generation,
    listeners: listenersDump(snapshot),
    ...liveParts(snapshot, remoteState, lastReload),
  };
}

function listenersDump(snapshot: Snapshot): object[] {
  return [...snapshot.ports.values()].flatMap((pt) =>
    pt.listeners.map((l) => ({
      port: pt.port,
      gateway: l.gateway,
      name: l.name,
      hostname: l.hostname ?? null,
      ...(l.invalid !== undefined ? { invalid: l.invalid } : {}),
      // Its Gateway's early header rules for this port, by operation and name (not the values).
      ...(l.earlyHeaderOps !== undefined ? { earlyHeaderRules: describeOps(l.earlyHeaderOps) } : {}),
      ...tableDump(l.routes),
    })),
  );
}

function liveParts(snapshot: Snapshot, remoteState?: RemoteStateOf, lastReload?: LastReload): object {
  return {
    extensions: [...snapshot.extensions.values()].map((e) => extensionDump(e, snapshot, remoteState)),
    backends: [...snapshot.backends.values()].map((b) => ({ key: b.key, endpoints: b.endpoints.map((e) => `${redactUserinfo(e.host)}:${e.port}`) })),
    problems: countProblems(snapshot.problems),
    ...(lastReload ? { lastReload } : {}),
  };
}

/** The listeners' part of the dump text, per snapshot: it never changes while the snapshot runs. */
const listenersText = new WeakMap<Snapshot, string>();
/** Stands for the listeners in the live document: they come right after the generation (a number), so the first occurrence of its JSON text is theirs. */
const LISTENERS_PLACEHOLDER = '\u0000listeners\u0000';
const LISTENERS_MARK = JSON.stringify(LISTENERS_PLACEHOLDER);

/**
 * `JSON.stringify(configDump(snapshot, remoteState), null, 2)`, with the listeners (the routes:
 * nearly all of a large dump) serialized once per snapshot: a 500,000-route dump took ~0.5 s of
 * the event loop every request, stalling the gateway's traffic for each scrape. The key sets'
 * fetch record and the rest are built each time.
 */
export function configDumpText(snapshot: Snapshot, remoteState?: RemoteStateOf, lastReload?: LastReload): string {
  let listeners = listenersText.get(snapshot);
  if (listeners === undefined) {
    // Indented as it sits in the whole document: one level deep.
    listeners = JSON.stringify(listenersDump(snapshot), null, 2).replace(/\n/g, '\n  ');
    listenersText.set(snapshot, listeners);
  }
  const rest = JSON.stringify({ generation: snapshot.generation, listeners: LISTENERS_PLACEHOLDER, ...liveParts(snapshot, remoteState, lastReload) }, null, 2);
  const at = rest.indexOf(LISTENERS_MARK);
  return rest.slice(0, at) + listeners + rest.slice(at + LISTENERS_MARK.length);
}

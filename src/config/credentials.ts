// The Secrets and htpasswd lines behind a TrafficPolicy's `basicAuth` and `apiKeyAuth`, resolved
// as kgateway resolves them when it translates the policy (trafficpolicy/basic_auth_policy.go,
// api_key_auth.go) into what Envoy's basic_auth and api_key_auth filters are given per route.
// Whatever kgateway answers with an error (a missing Secret or ReferenceGrant, an htpasswd line
// that is not `user:{SHA}hash`, two clients sharing a key), or Envoy refuses, makes the policy
// invalid: its routes answer kgateway's 500. Messages name users, client ids, Secrets, keys of a
// Secret and line numbers, never a hash, a password or an API key.

import { basicAuthUserKey, type BasicAuthSpec } from '../auth/basic-auth.js';
import type { ApiKeyAuthSpec } from '../auth/api-key-auth.js';
import { byteOrder, cutText } from '../util/text.js';
import type { ParseCtx } from './schema.js';
import { KGATEWAY_GROUP, listSome } from './validate-common.js';
import { referenceAllowed, type ReferenceGrantModel, type SecretModel } from './validate-misc.js';
import type { ApiKeyAuthModel, BasicAuthModel } from './validate-traffic-policy.js';
import { SECRET_KEY, type HeaderSide, type KgatewayHeader, type KgatewayHeaderFilterSpec } from './validate-header-filter.js';
import { UNMUTABLE, UNMUTABLE_RESPONSE, type HeaderFilterSpec, type HeaderValue } from '../proxy/header-mutation.js';
import { parseHeaderValue } from '../proxy/header-format.js';
import { CONTROL_CHAR } from '../http/field-value.js';

/** The Secrets a policy may read, and the ReferenceGrants that let it read another namespace's. */
export interface CredentialSources {
  /** `namespace/name` -> Secret. */
  readonly secrets: ReadonlyMap<string, SecretModel>;
  readonly grants: readonly ReferenceGrantModel[];
}

export function credentialSources(secrets: readonly SecretModel[], grants: readonly ReferenceGrantModel[]): CredentialSources {
  return { secrets: new Map(secrets.map((s) => [`${s.raw.namespace}/${s.raw.name}`, s])), grants };
}

/** What a `basicAuth` or `apiKeyAuth` resolves to: its spec (or `disabled`), or why the policy is invalid (kgateway's status message). */
export type Resolved<S> = { readonly spec: S | 'disabled'; readonly invalid?: undefined } | { readonly spec?: undefined; readonly invalid: string };

function fail(cx: ParseCtx, path: string, message: string, hint?: string): { invalid: string } {
  cx.error(path, hint === undefined ? message : `${message}: ${hint}`);
  return { invalid: message };
}

// ---------------------------------------------------------------------------------------------
// Secrets

/** ReferenceGrant identity of a TrafficPolicy (kgateway's `From{TrafficPolicy GroupKind, policy namespace}`). */
function policyFrom(ns: string): { group: string; kind: string; namespace: string } {
  return { group: KGATEWAY_GROUP, kind: 'TrafficPolicy', namespace: ns };
}

function grantHint(secretNs: string, policyNs: string): string {
  return `a ReferenceGrant in namespace ${secretNs} must allow from group ${KGATEWAY_GROUP} kind TrafficPolicy namespace ${policyNs} to group "" kind Secret`;
}

/**
 * kgateway's SecretIndex.GetSecret: a core Secret only (another group or kind has no collection:
 * kgateway's "internal error"), the ReferenceGrant checked before the Secret is looked up. An
 * invalid Secret (one the API server refuses) counts as missing.
 */
function getSecret(src: CredentialSources, policyNs: string, ref: { group: string; kind: string; namespace: string; name: string }): { secret: SecretModel } | { error: string; hint?: string } {
  const id = `${ref.namespace}/${ref.name}`;
  if (ref.group !== '' || ref.kind !== 'Secret') return { error: `internal error looking up secret ${id}`, hint: `only a core Secret (group "", kind Secret) can hold the keys, not ${ref.group || 'core'}/${ref.kind}` };
  if (!referenceAllowed(src.grants, policyFrom(policyNs), { group: '', kind: 'Secret', namespace: ref.namespace, name: ref.name })) {
    return { error: 'missing reference grant', hint: `Secret ${id} is in another namespace: ${grantHint(ref.namespace, policyNs)}` };
  }
  const secret = src.secrets.get(id);
  if (secret === undefined) return { error: `Secret ${id} not found` };
  if (!secret.valid) return { error: `Secret ${id} is invalid`, hint: 'see its own errors' };
  return { secret };
}

// ---------------------------------------------------------------------------------------------
// basicAuth: htpasswd lines

// Go's strings.TrimSpace (unicode.IsSpace), which kgateway applies to the Secret's value and to
// each line: not JavaScript's trim (which also strips U+FEFF and keeps U+0085).
const GO_SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const GO_TRIM = new RegExp(`^[${GO_SPACE}]+|[${GO_SPACE}]+$`, 'g');

export function goTrimSpace(s: string): string {
  return s.replace(GO_TRIM, '');
}

/** One line of htpasswd text, with where it was written. */
export interface HtpasswdLine {
  readonly text: string;
  /** The field path problems about it are reported at. */
  readonly path: string;
  /** Where it is, for a message (`line 3 of Secret ns/name key '.htpasswd'`); none when the path says it. */
  readonly label?: string;
}

export interface HtpasswdProblem {
  readonly path: string;
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

export interface HtpasswdResult {
  /** basicAuthUserKey(name) -> the 28 characters after `{SHA}`. */
  readonly users: Map<string, string>;
  /** Lines kgateway drops (no colon, not a 33-byte `{SHA}` hash, a user already listed): each makes it refuse the policy. */
  readonly dropped: number;
  /** Lines with an empty user name: kgateway passes them on and Envoy refuses the configuration. */
  readonly emptyNames: number;
  readonly problems: readonly HtpasswdProblem[];
}

const HOW_TO_SHA = 'generate one with `htpasswd -nbs USER PASSWORD` or `printf %s PASSWORD | openssl sha1 -binary | base64`';
// Base64 of a 20-byte SHA-1: 27 characters, the last with its low 2 bits clear, and one `=`.
const SHA1_BASE64 = /^[A-Za-z0-9+/]{26}[AEIMQUYcgkosw048]=$/;

/**
 * What a hash that is not `{SHA}` is, named only by a scheme marker from a fixed list: anything
 * else may be a password that merely looks like one (`$uperS3cret$`, `{Winter2024}`), so it is
 * never quoted.
 */
function hashScheme(hash: string): string {
  const crypt = /^\$(2[abxy]?|apr1|1|5|6|y|7|gy|sha1|md5)\$/.exec(hash);
  if (crypt) {
    const id = crypt[1]!;
    if (id.startsWith('2')) return `a bcrypt hash ($${id}$)`;
    if (id === 'apr1') return 'an APR1-MD5 hash ($apr1$)';
    return `a crypt hash ($${id}$)`;
  }
  const scheme = /^\{(SSHA|SHA256|SHA512|SSHA256|SSHA512|MD5|SMD5|CRYPT|PLAIN|CLEARTEXT|ARGON2|PBKDF2)\}/i.exec(hash);
  if (scheme) return `a {${scheme[1]}} hash`;
  return 'a plain-text password or a hash of a kind this check does not name';
}

/**
 * kgateway's validateAndFilterSHAUsers, then what Envoy's basic_auth refuses of what it lets
 * through. Each line is trimmed (Go's TrimSpace); blank lines and `#` comments are skipped; the
 * user is what comes before the first `:`, the hash what follows; the hash must start with
 * `{SHA}` and be 33 bytes long (the base64 itself is not checked: a hash that is not a SHA-1
 * matches no password, warned about); a user already listed is dropped (the first is kept). Any
 * dropped line makes kgateway refuse the policy. An empty user name passes kgateway, and Envoy
 * refuses the configuration ("basic auth: empty user name or password").
 */
export function checkHtpasswd(lines: readonly HtpasswdLine[]): HtpasswdResult {
  const users = new Map<string, string>();
  const firstAt = new Map<string, string>();
  const problems: HtpasswdProblem[] = [];
  let dropped = 0;
  let emptyNames = 0;
  for (const l of lines) {
    const line = goTrimSpace(l.text);
    if (line === '' || line.startsWith('#')) continue;
    const at = l.label === undefined ? '' : `${l.label}: `;
    const bad = (message: string): void => {
      dropped++;
      problems.push({ path: l.path, severity: 'error', message: `${at}${message}` });
    };
    const colon = line.indexOf(':');
    // The line is not shown: without its colon, it may be a password.
    if (colon < 0) {
      bad(`not an htpasswd line: no ":" between a user name and a hash (the line is not shown); write USER:{SHA}HASH, ${HOW_TO_SHA}`);
      continue;
    }
    const name = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    const who = `user "${cutText(name, 60, 57)}"`;
    if (!hash.startsWith('{SHA}')) {
      bad(`${who}: ${hashScheme(hash)}: only {SHA} hashes are supported (Envoy's basic_auth); ${HOW_TO_SHA}`);
      continue;
    }
    // Go's len: bytes.
    const bytes = Buffer.byteLength(hash, 'utf8') - 5;
    if (bytes !== 28) {
      bad(`${who}: ${bytes} characters after {SHA}, where a SHA-1 in base64 has 28${hash.includes(':') ? ' (something follows the hash after a ":")' : ''}; ${HOW_TO_SHA}`);
      continue;
    }
    const key = basicAuthUserKey(name);
    const first = firstAt.get(key);
    if (first !== undefined) {
      bad(`${who} is listed twice (first ${first}): kgateway keeps the first and refuses the policy; remove one of them`);
      continue;
    }
    firstAt.set(key, l.label !== undefined ? `on ${l.label}` : `at ${l.path}`);
    users.set(key, hash.slice(5));
    if (name === '') {
      emptyNames++;
      problems.push({ path: l.path, severity: 'error', message: `${at}an empty user name (the line starts with ":"): Envoy's basic_auth refuses the configuration ("basic auth: empty user name or password"), kgateway passes it on; write the user name before the ":"` });
    } else if (!SHA1_BASE64.test(hash.slice(5))) {
      problems.push({ path: l.path, severity: 'warning', message: `${at}${who}: the 28 characters after {SHA} are not the base64 of a SHA-1 digest: no password matches them; ${HOW_TO_SHA}` });
    }
  }
  return { users, dropped, emptyNames, problems };
}

/**
 * kgateway's constructBasicAuth: the inline `users` joined with newlines, or the Secret's key
 * (`.htpasswd` unless named; missing, empty or not permitted: an error), checked line by line.
 * No valid user, any dropped line, or an empty user name make the policy invalid.
 */
export function resolveBasicAuth(m: BasicAuthModel, policyNs: string, src: CredentialSources, cx: ParseCtx): Resolved<BasicAuthSpec> {
  if (m.kind === 'disable') return { spec: 'disabled' };
  let lines: HtpasswdLine[];
  let path: string;
  let what: string;
  if (m.kind === 'users') {
    path = 'spec.basicAuth.users';
    what = 'users holds';
    lines = m.users.flatMap((item, i) => {
      const parts = item.split('\n');
      return parts.map((text, k) => ({ text, path: `${path}[${i}]`, ...(parts.length > 1 ? { label: `line ${k + 1} of users[${i}]` } : {}) }));
    });
  } else {
    path = 'spec.basicAuth.secretRef';
    const id = `${m.namespace}/${m.name}`;
    const r = getSecret(src, policyNs, { group: '', kind: 'Secret', namespace: m.namespace, name: m.name });
    if ('error' in r) return fail(cx, path, `basic auth: ${r.error}`, r.hint);
    const data = r.secret.data;
    if (!Object.hasOwn(data, m.key)) {
      const keys = Object.keys(data);
      return fail(cx, path, `basic auth: secret ${id} does not contain key '${m.key}'`, keys.length === 0 ? 'the Secret has no data' : `its keys: ${listSome(keys)}${m.key === '.htpasswd' ? ' (name the one that holds the htpasswd lines in secretRef.key)' : ''}`);
    }
    const value = data[m.key]!;
    if (value === '') return fail(cx, path, `basic auth: secret ${id} key '${m.key}' is empty`);
    // Envoy's users DataSource is a string: bytes that are not UTF-8 cannot be programmed.
    if (r.secret.notUtf8.has(m.key)) return fail(cx, path, `basic auth: secret ${id} key '${m.key}' is not UTF-8 text`, 'htpasswd lines are text: write them with stringData, or base64-encode the text itself');
    what = `key '${m.key}' of Secret ${id} holds`;
    lines = value.split('\n').map((text, k) => ({ text, path, label: `line ${k + 1} of Secret ${id} key '${m.key}'` }));
  }
  const r = checkHtpasswd(lines);
  for (const p of r.problems) {
    if (p.severity === 'error') cx.error(p.path, p.message);
    else cx.warn(p.path, p.message);
  }
  // kgateway's order: no valid user, then dropped lines; Envoy's refusal last.
  if (r.users.size === 0) {
    const message = 'basic auth: no valid users with {SHA} hash format found';
    if (r.dropped > 0) return { invalid: message };
    return fail(cx, path, message, `${what} only blank lines and # comments; add USER:{SHA}HASH lines (${HOW_TO_SHA})`);
  }
  if (r.dropped > 0) return { invalid: `basic auth: dropped ${r.dropped} user(s) with invalid hash format (only {SHA} is supported) or duplicate usernames.` };
  if (r.emptyNames > 0) return { invalid: 'basic auth: empty user name or password' };
  return { spec: { users: r.users } };
}

// ---------------------------------------------------------------------------------------------
// apiKeyAuth: keys from Secrets

/**
 * kgateway's secretSelector match: every matchLabels pair equal; a Secret without labels never
 * matches (kgateway skips a nil label map), so `matchLabels: {}` selects every labelled Secret.
 */
function selects(labels: Readonly<Record<string, string>>, match: Readonly<Record<string, string>>): boolean {
  if (Object.keys(labels).length === 0) return false;
  return Object.entries(match).every(([k, v]) => Object.hasOwn(labels, k) && labels[k] === v);
}

/** apimachinery's labels.SelectorFromSet(set).String(): `k=v` pairs sorted by key, joined with `,`. */
function selectorString(match: Readonly<Record<string, string>>): string {
  return Object.keys(match)
    .sort()
    .map((k) => `${k}=${match[k]}`)
    .join(',');
}

/** Why a key can never arrive in a header, or undefined. */
function unreachableKey(key: string): string | undefined {
  if (/\r?\n$/.test(key)) return 'ends with a line break (was it written with echo, without -n?)';
  if (/[\0-\x08\x0a-\x1f\x7f]/.test(key)) return 'holds a control character';
  if (/^[ \t]|[ \t]$/.test(key)) return 'starts or ends with whitespace';
  // uWebSockets.js cuts bytes >= 0x80 at either end of a header value (README, Limits).
  if (/^[^\0-\x7f]|[^\0-\x7f]$/.test(key)) return 'starts or ends with a non-ASCII character, which jwtgate\'s HTTP front end cuts from header values (README, Limits)';
  return undefined;
}

/**
 * kgateway's constructAPIKeyAuth: the Secret `secretRef` names, or those `secretSelector` selects
 * in the policy's namespace and in namespaces whose ReferenceGrants allow it (sorted by
 * namespace/name; none: an error). Each data key is a client id, its value that client's key as
 * written (empty values skipped). Sorted by client, key and Secret, a key seen again under the
 * same client is dropped, under another client it is an error; no key at all is an error.
 */
export function resolveApiKeyAuth(m: ApiKeyAuthModel, policyNs: string, src: CredentialSources, cx: ParseCtx): Resolved<ApiKeyAuthSpec> {
  if (m.kind === 'disable') return { spec: 'disabled' };
  let secrets: SecretModel[];
  let path: string;
  if (m.secrets.kind === 'ref') {
    path = 'spec.apiKeyAuth.secretRef';
    const ref = m.secrets;
    const r = getSecret(src, policyNs, { group: ref.group, kind: ref.refKind, namespace: ref.namespace, name: ref.name });
    if ('error' in r) return fail(cx, path, `API key secret ${ref.name}: ${r.error}`, r.hint);
    secrets = [r.secret];
  } else {
    path = 'spec.apiKeyAuth.secretSelector';
    const match = m.secrets.matchLabels;
    const all = [...src.secrets.values()];
    const matching = all.filter((s) => selects(s.raw.labels, match));
    secrets = matching
      .filter((s) => referenceAllowed(src.grants, policyFrom(policyNs), { group: '', kind: 'Secret', namespace: s.raw.namespace, name: s.raw.name }))
      .sort((a, b) => byteOrder(`${a.raw.namespace}/${a.raw.name}`, `${b.raw.namespace}/${b.raw.name}`));
    if (secrets.length === 0) {
      const message = `failed to get secrets by selector: no Secrets matching ${JSON.stringify(selectorString(match))} in namespace ${JSON.stringify(policyNs)} or in namespaces with a ReferenceGrant allowing Secrets to be referenced from group ${JSON.stringify(KGATEWAY_GROUP)} kind "TrafficPolicy" in namespace ${JSON.stringify(policyNs)}`;
      const elsewhere = matching.map((s) => `${s.raw.namespace}/${s.raw.name}`);
      const unlabelled = all.some((s) => s.raw.namespace === policyNs && Object.keys(s.raw.labels).length === 0);
      const hint =
        elsewhere.length > 0
          ? `Secrets ${listSome(elsewhere)} match in other namespaces: ${grantHint('their namespace', policyNs)}`
          : unlabelled && Object.keys(match).length === 0
            ? 'a Secret without labels is never selected, even by matchLabels {}'
            : undefined;
      return fail(cx, path, message, hint);
    }
    // A Secret the API server would refuse does not exist for kgateway: the others' keys serve.
    for (const s of secrets.filter((x) => !x.valid)) cx.warn(path, `Secret ${s.raw.namespace}/${s.raw.name} matches but is invalid (see its own errors): its keys are not used`);
    secrets = secrets.filter((x) => x.valid);
    if (secrets.length === 0) return fail(cx, path, 'no valid API keys found in secrets', 'every Secret the selector matches is invalid (see their own errors)');
  }
  const parsed: { client: string; key: string; secret: string }[] = [];
  const notText: string[] = [];
  for (const s of secrets) {
    const id = `${s.raw.namespace}/${s.raw.name}`;
    for (const [client, value] of Object.entries(s.data)) {
      if (value === '') continue;
      // Envoy's Credential.key is a string: a key whose bytes are not UTF-8 cannot be programmed.
      if (s.notUtf8.has(client)) {
        notText.push(`the API key of client ${JSON.stringify(client)} in secret ${id} is not UTF-8 text`);
        continue;
      }
      const why = unreachableKey(value);
      if (why !== undefined) cx.warn(path, `the API key of client "${cutText(client, 60, 57)}" in Secret ${id} ${why}: no request header can carry it as it is (a header value loses the whitespace around it and cannot hold line breaks)`);
      // Held as the Secret's string: request header values (uWS decodes them as UTF-8) and
      // query values (percent-decoded, read as UTF-8) are compared with it as they are.
      parsed.push({ client, key: value, secret: id });
    }
  }
  if (notText.length > 0) {
    for (const t of notText) cx.error(path, `${t}: Envoy's api_key_auth holds keys as strings, so kgateway cannot give it this one; use a key of UTF-8 text (base64- or hex-encode binary keys)`);
    return { invalid: `errors processing API key secrets: ${notText.join('; ')}` };
  }
  parsed.sort((a, b) => byteOrder(a.client, b.client) || byteOrder(a.key, b.key) || byteOrder(a.secret, b.secret));
  const keys = new Map<string, string>();
  const seen = new Map<string, { client: string; secret: string }>();
  const duplicates: string[] = [];
  for (const c of parsed) {
    const prev = seen.get(c.key);
    if (prev === undefined) {
      seen.set(c.key, c);
      keys.set(c.key, c.client);
    } else if (prev.client !== c.client) {
      // Never the key itself.
      duplicates.push(`duplicate API key value shared by client ${JSON.stringify(prev.client)} in secret ${prev.secret} and client ${JSON.stringify(c.client)} in secret ${c.secret}`);
    }
  }
  if (duplicates.length > 0) {
    for (const d of duplicates) cx.error(path, `${d}: the client id forwarded for that key would be ambiguous, so kgateway refuses the policy; give each client its own key`);
    return { invalid: `errors processing API key secrets: ${duplicates.join('; ')}` };
  }
  if (keys.size === 0) {
    const ids = secrets.map((s) => `${s.raw.namespace}/${s.raw.name}`);
    return fail(cx, path, 'no valid API keys found in secrets', `${secrets.length === 1 ? 'Secret' : 'Secrets'} ${listSome(ids)} ${secrets.length === 1 ? 'has' : 'have'} no data or only empty values; each data key is a client id, its value that client's API key`);
  }
  return {
    spec: {
      keys,
      sources: m.sources,
      hideCredentials: m.hideCredentials,
      ...(m.clientIdHeader !== undefined ? { clientIdHeader: m.clientIdHeader } : {}),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// headerModifiers: values from Secrets (newer kgateway, pluginutils ConvertHeaderFilter)

/** Envoy's HeaderValue.value bound (`max_bytes: 16384`), which a Secret's value skips the CRD's 4096 for. */
const MAX_HEADER_VALUE_BYTES = 16_384;

/**
 * A TrafficPolicy's `headerModifiers` with each `secretRef` read as kgateway's resolveHeader
 * reads it: the Secret (the policy's namespace by default; another needs a ReferenceGrant), the
 * data key (`key`, else `name`; with neither, every key in byte order, each its own header), its
 * bytes as they are, which Envoy's formatter then reads (`%%`, command operators). A missing
 * Secret or key fails the whole `headerModifiers`, so the policy is invalid (kgateway's `500` on
 * its routes); so does a value Envoy refuses (NUL, CR, LF, over 16 KiB). Values are never quoted.
 */
export function resolveHeaderModifiers(
  hm: { readonly request?: KgatewayHeaderFilterSpec; readonly response?: KgatewayHeaderFilterSpec },
  policyNs: string,
  src: CredentialSources,
  cx: ParseCtx,
): { readonly request?: HeaderFilterSpec; readonly response?: HeaderFilterSpec; readonly invalid?: string } {
  const out: { request?: HeaderFilterSpec; response?: HeaderFilterSpec } = {};
  for (const side of ['request', 'response'] as const) {
    const f = hm[side];
    if (f === undefined) continue;
    const resolved: { add: { name: string; value: HeaderValue }[]; set: { name: string; value: HeaderValue }[] } = { add: [], set: [] };
    // kgateway resolves every `add`, then every `set`; the first failure fails the filter.
    for (const list of ['add', 'set'] as const) {
      for (const h of f[list]) {
        const r = resolveHeader(h, side, policyNs, src, cx);
        if ('invalid' in r) return { invalid: `${side}: ${r.invalid}` };
        resolved[list].push(...r.headers);
      }
    }
    out[side] = { add: resolved.add, set: resolved.set, remove: f.remove };
  }
  return out;
}

function resolveHeader(h: KgatewayHeader, side: HeaderSide, policyNs: string, src: CredentialSources, cx: ParseCtx): { headers: { name: string; value: HeaderValue }[] } | { invalid: string } {
  if (h.secretRef === undefined) return { headers: [{ name: h.name!, value: h.value! }] };
  const ref = h.secretRef;
  const path = `${h.at}.secretRef`;
  // kgateway's ConvertHeaderFilter names the header only when the entry has a `name`.
  const what = h.name !== undefined ? `failed to resolve header '${h.name}'` : 'failed to resolve header value(s)';
  const ns = ref.namespace ?? policyNs;
  const id = `${ns}/${ref.name}`;
  const failWith = (message: string, hint?: string) => {
    cx.error(path, `${side}: ${what}: ${hint === undefined ? message : `${message}: ${hint}`}`);
    return { invalid: `${what}: ${message}` };
  };
  const got = getSecret(src, policyNs, { group: '', kind: 'Secret', namespace: ns, name: ref.name });
  if ('error' in got) return failWith(`secret ${id}: ${got.error}`, got.hint);
  const data = got.secret.data;
  const entries: [string, string][] = [];
  if (h.name === undefined && ref.key === undefined) {
    for (const k of Object.keys(data).sort(byteOrder)) {
      // Each key becomes a header name: one the API server would refuse as a Secret key (a
      // space, a colon, non-ASCII) is no header name, and would reach the wire as it is.
      if (k.length > 253 || !SECRET_KEY.test(k)) return failWith(`a key of Secret ${id} is not a valid Secret data key, so no header name`, 'the API server allows 1-253 letters, digits, -, _ and . in a key');
      entries.push([k, k]);
    }
  } else {
    const key = ref.key ?? h.name!;
    if (!Object.hasOwn(data, key)) {
      const keys = Object.keys(data);
      return failWith(`secret ${id} does not contain key "${key}"`, keys.length === 0 ? 'the Secret has no data' : `its keys: ${listSome(keys)}`);
    }
    entries.push([h.name ?? key, key]);
  }
  const refused = side === 'request' ? UNMUTABLE : UNMUTABLE_RESPONSE;
  const headers: { name: string; value: HeaderValue }[] = [];
  for (const [name, key] of entries) {
    const lower = name.toLowerCase();
    if (Object.hasOwn(refused, lower)) return failWith(`the header ${lower} (key "${key}" of Secret ${id}) may not be changed here`, refused[lower]);
    const raw = data[key]!;
    if (got.secret.notUtf8.has(key)) return failWith(`key "${key}" of Secret ${id} is not UTF-8 text`, 'jwtgate sends header values read from a Secret as text: write it with stringData');
    // Envoy's HeaderValue validation (no NUL, CR or LF); undici refuses the other controls.
    if (CONTROL_CHAR.test(raw)) return failWith(`the value of key "${key}" of Secret ${id} holds a control character (CR, LF, NUL and the like), which a header value cannot`, raw.endsWith('\n') ? 'it ends in a newline: write the Secret without one (stringData, or printf rather than echo before base64)' : undefined);
    if (Buffer.byteLength(raw) > MAX_HEADER_VALUE_BYTES) return failWith(`the value of key "${key}" of Secret ${id} is over ${MAX_HEADER_VALUE_BYTES} bytes, which Envoy refuses for a header value`);
    const parsed = parseHeaderValue(raw, side);
    if ('error' in parsed) return failWith(`the value of key "${key}" of Secret ${id}: ${parsed.error}`);
    // Resolved and checked as kgateway and Envoy do, then without effect: Envoy's connection
    // manager writes the date over any rule (an explicit `name: date` was warned about already).
    if (side === 'response' && lower === 'date') {
      if (h.name === undefined) cx.warn(path, `a headerModifiers.response rule on date (key "${key}" of Secret ${id}) has no effect: the gateway writes the date itself`);
      continue;
    }
    headers.push({ name, value: parsed.value });
  }
  return { headers };
}

// One remote JWKS fetch as Envoy's jwks_fetcher.cc does it (spec §3): GET the URL's path from the
// backend's host:port with the URL's host as Host (and SNI), one deadline (5 s) over the whole
// fetch including retries (retry_on 5xx, connect failure, reset; exponential backoff), success
// only for HTTP 200 with a body that is a JWKS with at least one valid key. Runs in the refresher
// thread; returns values, never throws. Does not schedule, cache or publish (refresh-scheduler.ts).

import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { Client } from 'undici';
import type { ImportedKey } from '../config/snapshot.js';
import type { JwksFetchOutcome, RemoteJwksSpec, RemoteTlsSpec } from '../types.js';
import { MAX_JWKS_INPUT_CHARS, parseJwksDocument } from './import-keys.js';
import { certificateKeyError, isPemCertificate } from '../util/pem.js';
import { readCapped } from '../util/read-capped.js';

/** Envoy's hard-coded remote JWKS timeout (kgateway `remoteJWKSTimeoutSecs = 5`). */
export const DEFAULT_FETCH_TIMEOUT_MS = 5000;

/**
 * For text that is not a usable URL (a config error quotes it): user info, query and fragment
 * hidden by their position, whatever the URL parser would make of it
 * (`user:pass@host/x?key=v` parses with `user:` as its scheme).
 */
export function redactUrlText(url: string): string {
  return url
    .replace(/#.*$/s, '')
    .replace(/\?.+$/s, '?redacted')
    .replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?[^/?#]*@/, (_m, scheme: string | undefined) => `${scheme ?? ''}redacted@`);
}

/**
 * `url` as logs and /config_dump show it: user name, password and every query value replaced by
 * `redacted` (a JWKS URL may carry an API key: `?key=…`), a fragment dropped, the rest kept so
 * the operator can tell which key set it is.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return redactUrlText(url);
  }
  if (u.username === '' && u.password === '' && u.search === '' && u.hash === '') return url;
  // A user name alone can be the credential (`https://TOKEN@host/`).
  if (u.username !== '') u.username = 'redacted';
  if (u.password !== '') u.password = 'redacted';
  if (u.search !== '') {
    // A parameter without a value may be the secret itself (`?SECRET`): only valued names are kept.
    const q = new URLSearchParams(u.search);
    const out = new URLSearchParams();
    for (const [k, v] of q) {
      const name = v === '' ? 'redacted' : k;
      if (!out.has(name)) out.set(name, 'redacted');
    }
    u.search = out.toString();
  }
  u.hash = '';
  return u.toString();
}
/** Larger bodies are refused (a JWKS is a few KiB; this is the local JWKS input limit too). */
export const DEFAULT_MAX_BODY_BYTES = MAX_JWKS_INPUT_CHARS;

export interface JwksFetchOptions {
  /** Deadline for the whole fetch, retries included (default 5000 ms, Envoy's). */
  timeoutMs?: number;
  /** Response bodies above this many bytes fail the fetch (default 1 MiB). */
  maxBodyBytes?: number;
  /** [0, 1) for retry backoff jitter (default Math.random). */
  random?: () => number;
}

export type JwksFetchResult =
  | { readonly ok: true; readonly keys: ImportedKey[]; readonly dropped: string[]; readonly attempts: number; readonly bytes: number }
  | { readonly ok: false; readonly outcome: Exclude<JwksFetchOutcome, 'ok'>; readonly reason: string; readonly attempts: number; readonly status?: number };

type Attempt =
  | { readonly ok: true; readonly keys: ImportedKey[]; readonly dropped: string[]; readonly bytes: number }
  | { readonly ok: false; readonly outcome: Exclude<JwksFetchOutcome, 'ok'>; readonly reason: string; readonly retryable: boolean; readonly status?: number; readonly unresolved?: true };

// Certificate verification failures: retrying cannot help (a handshake reset can, see below).
const CERT_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|SAN_MISMATCH/;

/** Fetches and imports one remote JWKS. Never throws. */
export async function fetchJwks(spec: RemoteJwksSpec, opts: JwksFetchOptions = {}): Promise<JwksFetchResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const random = opts.random ?? Math.random;
  let url: URL;
  try {
    url = new URL(spec.url);
  } catch {
    return { ok: false, outcome: 'internal', reason: 'invalid URL', attempts: 0 };
  }
  let connect: TlsSetup | undefined;
  try {
    connect = await tlsSetup(spec.tls, url);
  } catch (err) {
    return { ok: false, outcome: 'tls_config', reason: `TLS configuration: ${errorText(err)}`, attempts: 0 };
  }
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  for (let retry = 0; ; retry++) {
    const remaining = deadline - Date.now();
    attempts++;
    const r = remaining > 0 ? await attempt(spec, url, connect, remaining, maxBodyBytes) : timedOut(timeoutMs);
    if (r.ok) return { ok: true, keys: r.keys, dropped: r.dropped, attempts, bytes: r.bytes };
    const failed = { ok: false as const, outcome: r.outcome, reason: r.outcome === 'timeout' ? `timed out after ${timeoutMs} ms` : r.reason, attempts, ...(r.status !== undefined ? { status: r.status } : {}) };
    if (!r.retryable || retry >= spec.numRetries) return failed;
    // Envoy's retry backoff: exponential from baseInterval, capped at maxInterval, jittered.
    const cap = Math.min(spec.backOffBaseMs * 2 ** retry, spec.backOffMaxMs);
    const delay = Math.floor(cap / 2 + random() * (cap / 2));
    if (Date.now() + delay >= deadline) return failed;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

interface TlsSetup {
  readonly connect: tls.ConnectionOptions;
  /** SNI for the request (undici takes it per request; an IP is never sent). */
  readonly servername?: string;
}

async function tlsSetup(t: RemoteTlsSpec | undefined, url: URL): Promise<TlsSetup | undefined> {
  // kgateway/Envoy originate TLS only with a BackendConfigPolicy; jwtgate also does for https://.
  if (!t && url.protocol !== 'https:') return undefined;
  if (t?.error) throw new Error(t.error);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const name = t?.sni ?? host;
  const servername = isIP(name) ? undefined : name;
  const connect: tls.ConnectionOptions = {};
  if (t?.minVersion) connect.minVersion = t.minVersion as tls.SecureVersion;
  if (t?.maxVersion) connect.maxVersion = t.maxVersion as tls.SecureVersion;
  const cert = t?.certPem ?? (t?.certFile ? await readFile(t.certFile, 'utf8') : undefined);
  const key = t?.keyPem ?? (t?.keyFile ? await readFile(t.keyFile, 'utf8') : undefined);
  if (cert && key) {
    // What OpenSSL cannot load (a files.* path that is not PEM, a key that does not match its
    // certificate) is a configuration error, said before connecting, not a connect failure.
    const pairError = certificateKeyError(cert, key, t?.certFile ?? 'tls.crt', t?.keyFile ?? 'tls.key');
    if (pairError !== undefined) throw new Error(pairError);
    connect.cert = cert;
    connect.key = key;
  }
  if (t?.insecureSkipVerify) {
    connect.rejectUnauthorized = false;
    connect.checkServerIdentity = () => undefined;
    return { connect, ...(servername ? { servername } : {}) };
  }
  connect.rejectUnauthorized = true;
  const ca = t?.caPem ?? (t?.caFile ? await readFile(t.caFile, 'utf8') : undefined);
  if (ca) {
    // OpenSSL skips what is not a certificate: a CA file without one would trust nothing.
    if (!isPemCertificate(ca)) throw new Error(`${t?.caFile ?? 'ca.crt'} holds no PEM certificate`);
    connect.ca = ca;
  }
  const sans = t?.verifySubjectAltNames;
  if (sans && sans.length > 0) {
    connect.checkServerIdentity = (_host, peer) => {
      const have = (peer.subjectaltname ?? '').split(',').map((s) => s.trim().replace(/^(DNS|IP Address|URI|email):/, ''));
      if (sans.some((s) => have.includes(s))) return undefined;
      return Object.assign(new Error(`certificate SANs (${have.join(', ') || 'none'}) include none of verifySubjectAltNames`), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    };
  } else if (ca) {
    // kgateway with a custom CA and no verifySubjectAltNames: the chain is checked, not the name.
    connect.checkServerIdentity = () => undefined;
  } else {
    // Default trust store: the certificate must be valid for the SNI (or the URL host).
    connect.checkServerIdentity = (_host, peer) => tls.checkServerIdentity(name, peer);
  }
  return { connect, ...(servername ? { servername } : {}) };
}

/** Next host index per key set id, for specs with alternates (a Static Backend's hosts in turn). */
const nextHost = new Map<string, number>();

/** The host this attempt goes to: `target`, then each alternate, in turn across fetches and retries. */
function attemptTarget(spec: RemoteJwksSpec): { readonly host: string; readonly port: number } {
  const alt = spec.alternates;
  if (!alt || alt.length === 0) return spec.target;
  const n = alt.length + 1;
  const i = (nextHost.get(spec.id) ?? 0) % n;
  nextHost.set(spec.id, (i + 1) % n);
  return i === 0 ? spec.target : alt[i - 1]!;
}

/** A connect that failed because the host name has no address: no endpoint, in Envoy's DNS cluster. */
const UNRESOLVED = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);

/**
 * One attempt. A host whose name does not resolve is no endpoint (Envoy's DNS cluster leaves it
 * out): with alternates, the next host is tried at once, within the same attempt.
 */
async function attempt(spec: RemoteJwksSpec, url: URL, setup: TlsSetup | undefined, remainingMs: number, maxBodyBytes: number): Promise<Attempt> {
  const hosts = (spec.alternates?.length ?? 0) + 1;
  const started = Date.now();
  let r: Attempt | undefined;
  for (let k = 0; k < hosts; k++) {
    const left = remainingMs - (Date.now() - started);
    if (left <= 0) return timedOut(remainingMs);
    r = await attemptTo(attemptTarget(spec), url, setup, left, maxBodyBytes);
    if (r.ok || !r.unresolved) return r;
  }
  return r!;
}

async function attemptTo(target: { readonly host: string; readonly port: number }, url: URL, setup: TlsSetup | undefined, remainingMs: number, maxBodyBytes: number): Promise<Attempt> {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  const client = new Client(`${setup ? 'https' : 'http'}://${host}:${target.port}`, {
    connect: { ...(setup?.connect ?? {}), timeout: remainingMs },
    headersTimeout: remainingMs,
    bodyTimeout: remainingMs,
    keepAliveTimeout: 1000,
  });
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), remainingMs);
  try {
    const res = await client.request({
      method: 'GET',
      path: `${url.pathname}${url.search}`,
      // The request Envoy's jwks_fetcher sends (spec §3): Host the URL's host, User-Agent `Go-browser`.
      headers: { host: url.host, 'user-agent': 'Go-browser', accept: 'application/json, application/jwk-set+json' },
      signal: ac.signal,
      ...(setup?.servername ? { servername: setup.servername } : {}),
    });
    const status = res.statusCode;
    // A body destroyed early (non-200, too large) errors when the client closes: that error
    // must have a listener, or it takes the refresher thread down.
    res.body.on('error', () => {});
    if (status !== 200) {
      res.body.destroy();
      // retry_on 5xx,gateway-error: server errors may pass; 4xx and 3xx will not.
      return { ok: false, outcome: 'http_status', reason: `HTTP ${status} (only 200 is accepted)`, retryable: status >= 500, status };
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBodyBytes) {
      res.body.destroy();
      return { ok: false, outcome: 'body_too_large', reason: `body of ${declared} bytes is over the ${maxBodyBytes}-byte limit`, retryable: false, status };
    }
    const body = await readCapped(res.body, maxBodyBytes);
    if (body === undefined) return { ok: false, outcome: 'body_too_large', reason: `body is over the ${maxBodyBytes}-byte limit`, retryable: false, status };
    const bytes = body.length;
    const text = body.toString('utf8');
    if (text.trim() === '') return { ok: false, outcome: 'empty_body', reason: 'HTTP 200 with an empty body', retryable: false, status };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // JSON.parse messages quote the input: say only what it is not.
      return { ok: false, outcome: 'bad_json', reason: `body is not JSON (${bytes} bytes, content-type ${String(res.headers['content-type'] ?? 'none')})`, retryable: false, status };
    }
    const doc = parseJwksDocument(json, { allowX509Map: true });
    if (!doc.ok) return { ok: false, outcome: 'bad_jwks', reason: doc.error, retryable: false, status };
    if (doc.keys.length === 0) {
      const why = doc.dropped.length ? `: ${doc.dropped.slice(0, 5).join('; ')}${doc.dropped.length > 5 ? '; …' : ''}` : ' (empty "keys")';
      return { ok: false, outcome: 'no_valid_keys', reason: `no valid key in the JWKS${why}`, retryable: false, status };
    }
    return { ok: true, keys: doc.keys, dropped: doc.dropped, bytes };
  } catch (err) {
    if (ac.signal.aborted) return timedOut(remainingMs);
    return classify(err);
  } finally {
    clearTimeout(timer);
    client.destroy().catch(() => {});
  }
}

function timedOut(ms: number): Attempt {
  return { ok: false, outcome: 'timeout', reason: `timed out after ${ms} ms`, retryable: false };
}

function classify(err: unknown): Attempt {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e?.code ?? e?.cause?.code ?? '';
  const text = errorText(err);
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return { ok: false, outcome: 'timeout', reason: text, retryable: false };
  }
  if (CERT_ERRORS.test(code) || CERT_ERRORS.test(text)) return { ok: false, outcome: 'tls_error', reason: `TLS: ${text}`, retryable: false };
  // OpenSSL refusing the TLS configuration itself (a CA file or client certificate it cannot
  // read): no server was reached, and retrying cannot help.
  if (code.startsWith('ERR_OSSL')) return { ok: false, outcome: 'tls_config', reason: `TLS configuration: ${text}`, retryable: false };
  if (code.startsWith('ERR_SSL') || code === 'EPROTO' || code.startsWith('ERR_TLS')) {
    // A handshake that breaks off is Envoy's connect-failure/reset: retried.
    return { ok: false, outcome: 'tls_error', reason: `TLS: ${text}`, retryable: true };
  }
  // The server answered, but not with a usable HTTP/1.1 response (a bad status line or chunk,
  // a header block over undici's limit, a body shorter than its content-length, an unsolicited
  // 1xx): Envoy counts such a fetch as failed and retries, as for a reset.
  if (
    code.startsWith('HPE_') ||
    code === 'UND_ERR_HEADERS_OVERFLOW' ||
    code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' ||
    /does not match the HTTP\/1\.1 protocol|^bad response/.test(text)
  ) {
    return { ok: false, outcome: 'bad_response', reason: text, retryable: true };
  }
  // The connection was closed or reset after it was made (before or during the response).
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED') {
    return { ok: false, outcome: 'reset', reason: text, retryable: true };
  }
  return { ok: false, outcome: 'connect_error', reason: text, retryable: true, ...(UNRESOLVED.has(code) ? { unresolved: true as const } : {}) };
}

function errorText(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const msg = e?.cause?.message && e.cause.message !== e.message ? `${e?.message ?? ''}: ${e.cause.message}` : e?.message ?? String(err);
  const code = e?.code ?? e?.cause?.code;
  return code && !msg.includes(code) ? `${msg} (${code})` : msg;
}

// External authorization over HTTP: Envoy's ext_authz filter with an `http_service`, as kgateway
// configures it from a GatewayExtension `extAuth.httpService` (one filter per extension,
// `ext_auth/<ns>/<name>`, turned on per route by a TrafficPolicy `extAuth`). For each request the
// authorization server gets the request's method and path (after `pathPrefix`), its Host, its
// `authorization` and the `headersToForward`, with `content-length` (0, or the buffered body's),
// `x-envoy-internal: true` and `x-envoy-expected-rq-timeout-ms`; `headersToAdd` overwrite. Exactly
// 200 lets the request on (with `headersToBackend` set on it, `x-envoy-auth-headers-to-remove`
// removed from it, `headersToClientOnSuccess` added to its answer); a 5xx, a timeout or a failed
// connection is an error (`statusOnError`, 403 by default, empty; or let through with
// `failOpen`); any other status is a denial, sent to the client with the server's body and its
// headers (all but Host, or `headersToClient` plus `location`, `www-authenticate` and
// `content-length`). See ../../README.md "TrafficPolicy extAuth".

import { Client, Pool, type Dispatcher } from 'undici';
import type { EventEmitter } from 'node:events';
import type { GatewayRequest } from '../http/exchange.js';
import { formatHeaderValue, type HeaderFormat } from '../proxy/header-format.js';
import { latin1AsUtf8, NON_ASCII, REQUEST_HOP_BY_HOP, RESPONSE_HOP_BY_HOP, upstreamTarget, wireValue } from '../proxy/header-rules.js';
import { CONTROL_CHAR } from '../http/field-value.js';
import { readCapped } from '../util/read-capped.js';

/** A GatewayExtension `extAuth` with an `httpService`, resolved (its backendRef to host and port). */
export interface ExtAuthProvider {
  /** `namespace/name` of the GatewayExtension. */
  readonly key: string;
  /** `ext_auth/<namespace>/<name>`: Envoy's filter name, the order the checks run in (after the weight). */
  readonly filterName: string;
  /** The GatewayExtension's `kgateway.dev/policy-weight`: a higher weight's filter runs first (0 by default). */
  readonly weight: number;
  readonly target: { readonly host: string; readonly port: number };
  /** Put before the request's path (Envoy `path_prefix`); '' for none. */
  readonly pathPrefix: string;
  /** The whole check, retries included (Envoy `server_uri.timeout`; kgateway's default 2 s). */
  readonly timeoutMs: number;
  /** `headersToForward`: client headers sent besides the defaults (Envoy compares lower-case names exactly). */
  readonly forward: ReadonlySet<string>;
  /** `authorizationRequest.headersToAdd`: written over the client's of the same name. Names lower-case. */
  readonly headersToAdd: readonly (readonly [string, string | HeaderFormat])[];
  /** `authorizationResponse.headersToBackend`: set on the request when it is allowed. */
  readonly toBackend: ReadonlySet<string>;
  /** `authorizationResponse.headersToClient`: undefined = every header of a denial but Host. */
  readonly toClient?: ReadonlySet<string>;
  /** `authorizationResponse.headersToClientOnSuccess`: added to the answer of an allowed request. */
  readonly toClientOnSuccess: ReadonlySet<string>;
  readonly failOpen: boolean;
  readonly clearRouteCache: boolean;
  readonly statusOnError: number;
  /** `withRequestBody`: the body is read (up to maxBytes) and sent to the server. */
  readonly body?: ExtAuthBody;
  /** `percentageEnabled`: the share of requests checked (the rest pass unchecked); undefined = all. */
  readonly percent?: number;
  /** `httpService.retry`: retries after an error (Envoy's retry_on `5xx,gateway-error,connect-failure,reset`). */
  readonly retries: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

export interface ExtAuthBody {
  readonly maxBytes: number;
  /** `allowPartialMessage`: send the first maxBytes of a longer body instead of answering 413. */
  readonly partial: boolean;
}

/** One ext auth filter on a route: its provider and the route's own settings for it. */
export interface ExtAuthEntry {
  readonly provider: ExtAuthProvider;
  /** The TrafficPolicy's `withRequestBody` (Envoy's per-route check_settings), over the provider's. */
  readonly body?: ExtAuthBody;
  /** `TrafficPolicy/ns/name@Level` */
  readonly origin: string;
}

export type ExtAuthResult =
  | {
      readonly kind: 'ok';
      /** Flat name/value pairs to set on the request (names lower-case, values as text). */
      readonly set: readonly string[];
      /** Request header names to remove (`x-envoy-auth-headers-to-remove`). */
      readonly remove: readonly string[];
      /** Flat pairs to add to the answer the client gets. */
      readonly clientHeaders: readonly string[];
    }
  | { readonly kind: 'denied'; readonly status: number; readonly headers: readonly string[]; readonly body: Buffer }
  | { readonly kind: 'error'; readonly reason: string }
  /** The request cannot be sent as a check (a control character in a value or the path): Envoy's codec answers it 400 first. */
  | { readonly kind: 'invalid' };

/** Envoy's order of the ext_authz filters, as kgateway sorts them: the higher weight first, then by filter name. */
export function extAuthOrder(a: ExtAuthProvider, b: ExtAuthProvider): number {
  if (a.weight !== b.weight) return b.weight - a.weight;
  return a.filterName < b.filterName ? -1 : a.filterName > b.filterName ? 1 : 0;
}

/** What is read of the server's answer at most (Envoy's async client buffers up to its limit, then fails). */
export const MAX_AUTH_RESPONSE_BYTES = 1024 * 1024;
/** Envoy's ext_authz HTTP defaults: the headers every check sends (with `content-length`). */
const ALWAYS_FORWARDED = 'authorization';
/**
 * Client fields never sent in a check, whatever `headersToForward` says: Envoy's connection manager
 * removes the hop-by-hop ones before any filter, and undici refuses to send the others itself.
 */
const NEVER_FORWARDED = new Set([...REQUEST_HOP_BY_HOP, 'te', 'content-length', 'host', 'x-envoy-auth-partial-body']);
/** Headers Envoy never lets a server remove from the request. */
const NOT_REMOVABLE = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade']);
/** Hop-by-hop fields of the server's answer, never passed on (Envoy's connection manager removes them). */
const HOP_BY_HOP = new Set([...RESPONSE_HOP_BY_HOP, 'te', 'trailer']);
/** Always passed on with a denial when `headersToClient` is set (Envoy adds them to the list). */
const DENIAL_ALWAYS = ['location', 'www-authenticate', 'content-length'];

/** The checks' connections: one undici Pool per server (host:port), closed with the gateway. */
export class ExtAuthClient {
  private readonly pools = new Map<string, Pool>();
  private closed = false;

  private pool(p: ExtAuthProvider): Pool {
    if (this.closed) throw new Error('the gateway is stopping');
    const key = poolKey(p);
    let pool = this.pools.get(key);
    if (pool === undefined) {
      pool = new Pool(`http://${key}`, {
        connections: 64,
        connectTimeout: 5000,
        keepAliveTimeout: 4000,
        // A throwing handler makes undici emit 'error' on the Client; never a crash.
        factory: (origin, options) => {
          const client = new Client(origin, options as Client.Options);
          (client as EventEmitter).on('error', () => {});
          return client;
        },
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /**
   * Asks `p`'s server about `req`. `body`: the request body read for it (withRequestBody), and
   * whether it is only the first part. Never rejects: a failure is `{ kind: 'error' }`.
   */
  async check(p: ExtAuthProvider, req: GatewayRequest, startedAt: number, body?: { readonly bytes: Buffer; readonly partial: boolean }, cancel?: AbortSignal): Promise<ExtAuthResult> {
    if (this.closed) return { kind: 'error', reason: 'the gateway is stopping' };
    const headers = authRequestHeaders(p, req, startedAt, body);
    const path = authPath(p, req);
    // Checked before undici sees them: a request undici refuses inside Pool.request leaves the
    // connection it picked unusable, and a few such requests stalled every later check.
    if (headers === undefined || path === undefined) return { kind: 'invalid' };
    const deadline = performance.now() + p.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const left = deadline - performance.now();
      if (left <= 0) return { kind: 'error', reason: 'timeout' };
      const r = await this.once(p, req.method, path, headers, body?.bytes, left, cancel);
      if (r.kind !== 'retry') return r.result;
      if (attempt >= p.retries || this.closed || cancel?.aborted) return { kind: 'error', reason: r.reason };
      // Envoy's jittered exponential back-off: a random wait up to base * 2^attempt, at most max.
      const wait = Math.random() * Math.min(p.backoffBaseMs * 2 ** attempt, p.backoffMaxMs);
      if (performance.now() + wait >= deadline) return { kind: 'error', reason: 'timeout' };
      await new Promise((resolve) => setTimeout(resolve, wait));
      if (this.closed || cancel?.aborted) return { kind: 'error', reason: this.closed ? 'the gateway is stopping' : 'the client went away' };
    }
  }

  /**
   * One try, bounded by `timeoutMs` whatever undici is doing (waiting for a connection, for the
   * answer, for its body): the deadline settles it, then the request is aborted.
   */
  private async once(p: ExtAuthProvider, method: string, path: string, headers: string[], body: Buffer | undefined, timeoutMs: number, cancel: AbortSignal | undefined): Promise<{ kind: 'done'; result: ExtAuthResult } | { kind: 'retry'; reason: string }> {
    if (this.closed) return { kind: 'done', result: { kind: 'error', reason: 'the gateway is stopping' } };
    if (cancel?.aborted) return { kind: 'done', result: { kind: 'error', reason: 'the client went away' } };
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const onCancel = (): void => ac.abort();
    cancel?.addEventListener('abort', onCancel, { once: true });
    const deadline = new Promise<{ kind: 'done'; result: ExtAuthResult }>((resolve) => {
      timer = setTimeout(() => {
        resolve({ kind: 'done', result: { kind: 'error', reason: 'timeout' } });
        ac.abort();
      }, timeoutMs);
    });
    try {
      return await Promise.race([deadline, this.tryOnce(p, method, path, headers, body, timeoutMs, ac)]);
    } finally {
      clearTimeout(timer);
      cancel?.removeEventListener('abort', onCancel);
    }
  }

  private async tryOnce(p: ExtAuthProvider, method: string, path: string, headers: string[], body: Buffer | undefined, timeoutMs: number, ac: AbortController): Promise<{ kind: 'done'; result: ExtAuthResult } | { kind: 'retry'; reason: string }> {
    try {
      const res = await this.pool(p).request({
        method: method as Dispatcher.HttpMethod,
        path,
        headers,
        body: body ?? null,
        signal: ac.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const answer = await readCapped(res.body, MAX_AUTH_RESPONSE_BYTES);
      if (answer === undefined) return { kind: 'done', result: { kind: 'error', reason: `answer over ${MAX_AUTH_RESPONSE_BYTES} bytes` } };
      const status = res.statusCode;
      if (status >= 500) return { kind: 'retry', reason: `status ${status}` };
      const pairs = headerPairs(res.headers);
      if (status === 200) return { kind: 'done', result: allowed(p, pairs) };
      return { kind: 'done', result: denied(p, status, pairs, answer) };
    } catch (err) {
      if (ac.signal.aborted) return { kind: 'done', result: { kind: 'error', reason: 'aborted' } };
      const code = (err as { code?: string })?.code;
      return { kind: 'retry', reason: code ?? String((err as Error)?.message ?? err) };
    }
  }

  /** Closes the pools of servers none of `providers` uses (a reload dropped them); their checks in flight finish. */
  retain(providers: Iterable<ExtAuthProvider>): void {
    const keep = new Set<string>();
    for (const p of providers) keep.add(poolKey(p));
    for (const [key, pool] of this.pools) {
      if (keep.has(key)) continue;
      this.pools.delete(key);
      pool.close().catch(() => {});
    }
  }

  /** Servers with a pool (host:port). */
  get servers(): string[] {
    return [...this.pools.keys()];
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
  }
}

function poolKey(p: ExtAuthProvider): string {
  return `${p.target.host.includes(':') ? `[${p.target.host}]` : p.target.host}:${p.target.port}`;
}

/** `pathPrefix` + the request's path and query as it goes upstream (Envoy's `:path`); undefined when it cannot be sent. */
function authPath(p: ExtAuthProvider, req: GatewayRequest): string | undefined {
  const target = upstreamTarget(req.path, req.query);
  return target === undefined ? undefined : `${p.pathPrefix}${target}`;
}

/**
 * The check's request headers (flat pairs, UTF-8 bytes as latin1): Host, the client's
 * `authorization` and `headersToForward` (repeated fields joined with `,`, as Envoy's check
 * request carries them), `content-length`, `x-envoy-internal`, the expected timeout, then
 * `headersToAdd` over the client's of the same name.
 */
export function authRequestHeaders(p: ExtAuthProvider, req: GatewayRequest, startedAt: number, body?: { readonly bytes: Buffer; readonly partial: boolean }): string[] | undefined {
  const picked = new Map<string, string>();
  const h = req.headers;
  if (CONTROL_CHAR.test(req.authority)) return undefined;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (name !== ALWAYS_FORWARDED && !p.forward.has(name)) continue;
    // Envoy sets its own content-length, its own x-envoy-auth-partial-body, and the Host below.
    if (NEVER_FORWARDED.has(name)) continue;
    const v = h[i + 1]!;
    if (CONTROL_CHAR.test(v)) return undefined;
    const prev = picked.get(name);
    picked.set(name, prev === undefined ? v : `${prev},${v}`);
  }
  const out: string[] = ['host', wireValue(req.authority)];
  for (const [name, v] of picked) out.push(name, wireValue(v));
  out.push('content-length', String(body?.bytes.length ?? 0));
  if (body !== undefined) out.push('x-envoy-auth-partial-body', body.partial ? 'true' : 'false');
  out.push('x-envoy-internal', 'true', 'x-envoy-expected-rq-timeout-ms', String(p.timeoutMs));
  for (const [name, value] of p.headersToAdd) {
    const text = typeof value === 'string' ? value : formatHeaderValue(value, req.headers, false, req, startedAt, 0);
    // A formatted value that comes out empty adds nothing (Envoy's HeaderParser).
    if (text === '') continue;
    if (CONTROL_CHAR.test(text)) return undefined;
    for (let i = out.length - 2; i >= 0; i -= 2) if (out[i] === name) out.splice(i, 2);
    out.push(name, wireValue(text));
  }
  return out;
}

/** undici's header object as flat pairs in order, values as text (undici reads them as latin1). */
function headerPairs(headers: Record<string, string | string[] | undefined>): string[] {
  const out: string[] = [];
  for (const name of Object.keys(headers)) {
    const v = headers[name];
    if (v === undefined) continue;
    const lower = name.toLowerCase();
    for (const one of Array.isArray(v) ? v : [v]) out.push(lower, NON_ASCII.test(one) ? latin1AsUtf8(one) : one);
  }
  return out;
}

function allowed(p: ExtAuthProvider, pairs: readonly string[]): ExtAuthResult {
  const set: string[] = [];
  const remove: string[] = [];
  const clientHeaders: string[] = [];
  for (let i = 0; i < pairs.length; i += 2) {
    const name = pairs[i]!;
    const value = pairs[i + 1]!;
    if (name === 'x-envoy-auth-headers-to-remove') {
      for (const item of value.split(',')) {
        const n = item.trim().toLowerCase();
        if (n !== '' && !n.startsWith(':') && !NOT_REMOVABLE.has(n)) remove.push(n);
      }
      continue;
    }
    if (p.toBackend.has(name)) set.push(name, value);
    if (p.toClientOnSuccess.has(name)) clientHeaders.push(name, value);
  }
  return { kind: 'ok', set, remove, clientHeaders };
}

function denied(p: ExtAuthProvider, status: number, pairs: readonly string[], body: Buffer): ExtAuthResult {
  const headers: string[] = [];
  for (let i = 0; i < pairs.length; i += 2) {
    const name = pairs[i]!;
    if (HOP_BY_HOP.has(name) || name === 'host' || name === 'date' || name === 'server') continue;
    // content-length is the body's own, written with it.
    if (name === 'content-length') continue;
    if (p.toClient !== undefined && !p.toClient.has(name) && !DENIAL_ALWAYS.includes(name)) continue;
    headers.push(name, pairs[i + 1]!);
  }
  return { kind: 'denied', status, headers, body };
}

/** Applies an allowed check's header changes to the request: removals, then the set fields. */
export function applyAllowed(req: GatewayRequest, r: Extract<ExtAuthResult, { kind: 'ok' }>): boolean {
  const h = req.headers;
  let changed = false;
  const drop = (name: string): void => {
    for (let i = h.length - 2; i >= 0; i -= 2) {
      if (h[i] === name) {
        h.splice(i, 2);
        changed = true;
      }
    }
  };
  for (const name of r.remove) drop(name);
  const seen = new Set<string>();
  for (let i = 0; i < r.set.length; i += 2) {
    const name = r.set[i]!;
    // Envoy's setCopy for each of the server's fields: the last of a repeated one wins.
    if (!seen.has(name)) {
      seen.add(name);
      drop(name);
    } else {
      for (let j = h.length - 2; j >= 0; j -= 2) if (h[j] === name) h.splice(j, 2);
    }
    h.push(name, r.set[i + 1]!);
    changed = true;
  }
  return changed;
}

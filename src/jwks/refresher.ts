// Main-thread handle of the one JWKS refresher thread (workers/jwks-refresher.ts): starts it,
// sends it the remote key sets of the running snapshot, receives imported keys and fetch
// outcomes (logged here, with provider and URL, never key material), tells the gateway when a
// key set's content changed, and restarts the thread if it dies (last good keys stay in use).
// Kid-miss refetches are coalesced here: one request per key set in flight, none during a
// cooldown the thread reported. Does not fetch, parse or assign generations (gateway.ts does).

import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ImportedKey, RemoteKeySet } from '../config/snapshot.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { JwksFetchOutcome, RefreshedKey, RefresherCommand, RefresherEvent, RemoteJwksSpec } from '../types.js';
import { DEFAULT_FETCH_TIMEOUT_MS, redactUrl } from './remote-fetch.js';
import { DEFAULT_KID_MISS_COOLDOWN_MS, sourceKey } from './refresh-scheduler.js';
import { cutValue, octThumbprintSalt } from './import-keys.js';
import { monotonicMs } from '../util/monotonic.js';

// Compiled layout: dist/src/jwks/refresher.js -> dist/workers/jwks-refresher.js.
const WORKER_FILE = fileURLToPath(new URL('../../workers/jwks-refresher.js', import.meta.url));

export interface JwksRefresherOptions {
  /** Called when a key set's content (kids, algs, key thumbprints) differs from the last one. */
  onKeySet: (id: string, keys: readonly ImportedKey[]) => void;
  log: Logger;
  /** `jwtgate_jwks_fetch_total{outcome}`. */
  metrics?: Pick<Metrics, 'inc'>;
  /** Minimum time between two kid-miss refetches of one key set (default 30000 ms). */
  kidMissCooldownMs?: number;
  /** Deadline of one fetch, retries included (default 5000 ms, Envoy's). */
  fetchTimeoutMs?: number;
  /** First restart delay after the thread dies; doubles up to 30 s (default 100 ms). */
  restartDelayMs?: number;
}

/** Per key set counters (exported as metrics once per-provider labels exist). */
export interface KeySetFetchStats {
  /** The key set URL as logs show it (query values and credentials redacted). */
  readonly url: string;
  /** Fetches by outcome (`ok`, `http_status`, `timeout`, …). */
  readonly fetches: Partial<Record<JwksFetchOutcome, number>>;
  /** HTTP requests made, retries included. */
  requests: number;
  /** Kid-miss refetches that ran. */
  earlyRefetches: number;
  lastSuccessMs?: number;
  lastFailure?: string;
  /** Wall time of lastFailure: it is kept after later successes. */
  lastFailureMs?: number;
  keyCount: number;
  /** Times the content changed (a new generation was published). */
  changes: number;
}

interface Waiter {
  readonly id: string;
  readonly resolve: (fetched: boolean) => void;
}

const MAX_RESTART_DELAY_MS = 30_000;
/** A thread that ran this long without dying resets the restart backoff. */
const STABLE_MS = 60_000;

export class JwksRefresher {
  private readonly opts: JwksRefresherOptions;
  private readonly log: Logger;
  private readonly fetchTimeoutMs: number;
  private worker: Worker | undefined;
  private workerStartedMs = 0;
  private specs: RemoteJwksSpec[] = [];
  /** What each key set fetches from (sourceKey): a change is a new source. */
  private readonly sourceKeys = new Map<string, string>();
  /** Each key set's epoch (RemoteJwksSpec.epoch), new with each new source. */
  private readonly epochs = new Map<string, number>();
  private nextEpoch = 1;
  /** Staging ids a reload's key set took over (adopt), to the id that did. */
  private readonly adopted = new Map<string, string>();
  private readonly digests = new Map<string, string>();
  private readonly lastSuccessMs = new Map<string, number>();
  private readonly attemptedIds = new Set<string>();
  private readonly attemptWaiters = new Set<() => void>();
  private readonly statsById = new Map<string, KeySetFetchStats>();
  private readonly pendingRefetch = new Map<string, Promise<boolean>>();
  private readonly cooldownUntil = new Map<string, number>();
  private readonly waiters = new Map<number, Waiter>();
  /** Key sets without `asyncFetch`, to their cacheDuration: their keys expire (see expire). */
  private readonly onDemand = new Map<string, number>();
  /** Monotonic time each such key set's keys expire: its last good fetch plus cacheDuration. */
  private readonly expiresAt = new Map<string, number>();
  private expiryTimer: NodeJS.Timeout | undefined;
  private nextRequestId = 0;
  private restartDelay: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Times the thread died and was restarted. */
  restarts = 0;

  constructor(opts: JwksRefresherOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.fetchTimeoutMs = opts.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
    this.restartDelay = opts.restartDelayMs ?? 100;
  }

  /** Installs the remote key sets of a snapshot (starts the thread on first use). */
  configure(keySets: readonly RemoteKeySet[]): void {
    if (this.closed) return;
    const specs: RemoteJwksSpec[] = [];
    for (const ks of keySets) {
      if (!ks.target) continue;
      const spec = toSpec(ks);
      const source = sourceKey(spec);
      const before = this.sourceKeys.get(spec.id);
      if (before !== source) {
        // A new key set, or one that fetches from elsewhere: a new epoch, and what was known of
        // the old source (its last success, keys, first attempt) says nothing about the new one.
        this.epochs.set(spec.id, this.nextEpoch++);
        this.sourceKeys.set(spec.id, source);
        this.lastSuccessMs.delete(spec.id);
        this.digests.delete(spec.id);
        this.attemptedIds.delete(spec.id);
        // The counters go on (they count what the gateway did); what described the old source goes.
        const old = this.statsById.get(spec.id);
        this.statsById.set(spec.id, { url: redactUrl(spec.url), fetches: { ...old?.fetches }, requests: old?.requests ?? 0, earlyRefetches: old?.earlyRefetches ?? 0, keyCount: 0, changes: old?.changes ?? 0 });
      }
      specs.push({ ...spec, epoch: this.epochs.get(spec.id)! });
      if (ks.asyncFetch) {
        this.onDemand.delete(spec.id);
        this.expiresAt.delete(spec.id);
      } else {
        this.onDemand.set(spec.id, ks.cacheDurationMs);
        const last = this.lastSuccessMs.get(spec.id);
        if (last !== undefined) this.expiresAt.set(spec.id, last + ks.cacheDurationMs);
      }
    }
    this.specs = specs;
    const live = new Set(specs.map((s) => s.id));
    for (const id of [...this.sourceKeys.keys()]) {
      if (live.has(id)) continue;
      for (const m of [this.sourceKeys, this.epochs, this.digests, this.lastSuccessMs, this.statsById, this.cooldownUntil, this.onDemand, this.expiresAt]) m.delete(id);
      this.attemptedIds.delete(id);
    }
    this.scheduleExpiry();
    for (const [from, to] of [...this.adopted]) if (!live.has(to)) this.adopted.delete(from);
    if (!this.worker && !this.restartTimer && this.specs.length > 0) this.startWorker();
    else this.sendConfigure();
    this.notifyAttempts();
  }

  /**
   * Key set `to` takes over what was fetched for `from` (a reload's warm-up fetched it under a
   * staging id): its keys (the caller publishes them for `to`), its schedule and its record.
   * Call before configure() with `to` in its new form.
   */
  adopt(from: string, to: string): void {
    if (this.closed || !this.sourceKeys.has(from)) return;
    // The counters add up: they count what the gateway did for `to`, its warm-up included.
    const was = this.statsById.get(to);
    const staged = this.statsById.get(from);
    if (was && staged) {
      const fetches: Partial<Record<JwksFetchOutcome, number>> = { ...was.fetches };
      for (const [k, v] of Object.entries(staged.fetches) as [JwksFetchOutcome, number][]) fetches[k] = (fetches[k] ?? 0) + v;
      this.statsById.set(from, { ...staged, fetches, requests: was.requests + staged.requests, earlyRefetches: was.earlyRefetches + staged.earlyRefetches, changes: was.changes + staged.changes });
    }
    for (const m of [this.sourceKeys, this.epochs, this.digests, this.lastSuccessMs, this.statsById, this.cooldownUntil, this.expiresAt] as Map<string, unknown>[]) {
      if (m.has(from)) m.set(to, m.get(from));
      else m.delete(to);
      m.delete(from);
    }
    if (this.attemptedIds.delete(from)) this.attemptedIds.add(to);
    else this.attemptedIds.delete(to);
    this.specs = this.specs.filter((s) => s.id !== to).map((s) => (s.id === from ? { ...s, id: to } : s));
    // Events the thread sent under `from` before it took the command are `to`'s (an older
    // reload's alias for `to` has long had its events).
    for (const [f, t] of this.adopted) if (t === to) this.adopted.delete(f);
    this.adopted.set(from, to);
    this.post({ type: 'adopt', from, to });
  }

  /** True once the first fetch of `id` ended (success or failure; Envoy's listener warm-up). */
  attempted(id: string): boolean {
    return this.attemptedIds.has(id);
  }

  /** Resolves when every id in `ids` had its first fetch, or after `timeoutMs`. */
  firstAttempts(ids: readonly string[], timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        if (!ids.every((id) => this.attemptedIds.has(id) || !this.sourceKeys.has(id))) return false;
        finish(true);
        return true;
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.attemptWaiters.delete(onChange);
        resolve(ok);
      };
      const onChange = () => void check();
      if (!check()) this.attemptWaiters.add(onChange);
    });
  }

  /**
   * A token's kid is not in key set `id`: asks the thread for an early refetch and resolves
   * when it is done (true: a fetch ran and succeeded; the caller compares generations), at
   * once with false during a cooldown, and after the fetch deadline at the latest. Concurrent
   * callers share one request.
   */
  refetch(id: string): Promise<boolean> {
    const pending = this.pendingRefetch.get(id);
    if (pending) return pending;
    if (!this.worker || this.closed || !this.sourceKeys.has(id)) return Promise.resolve(false);
    const until = this.cooldownUntil.get(id);
    if (until !== undefined && monotonicMs() < until) return Promise.resolve(false);
    const requestId = ++this.nextRequestId;
    const p = new Promise<boolean>((resolve) => {
      // Bounded: a request never waits longer than one fetch (plus slack for the message hops).
      const timer = setTimeout(() => done(false), this.fetchTimeoutMs + 1000);
      timer.unref();
      const done = (fetched: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(requestId);
        if (this.pendingRefetch.get(id) === p) this.pendingRefetch.delete(id);
        resolve(fetched);
      };
      this.waiters.set(requestId, { id, resolve: done });
    });
    this.pendingRefetch.set(id, p);
    this.post({ type: 'refetch', id, requestId });
    return p;
  }

  /** Fetch counters of one key set. */
  stats(id: string): Readonly<KeySetFetchStats> | undefined {
    return this.statsById.get(id);
  }

  /** Terminates the thread as a crash would (it is restarted); for tests and drills. */
  kill(): Promise<number> | undefined {
    return this.worker?.terminate();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.restartTimer = undefined;
    for (const w of [...this.waiters.values()]) w.resolve(false);
    for (const f of [...this.attemptWaiters]) f();
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }

  private startWorker(): void {
    this.restartTimer = undefined;
    const w = new Worker(WORKER_FILE, {
      workerData: {
        kidMissCooldownMs: this.opts.kidMissCooldownMs ?? DEFAULT_KID_MISS_COOLDOWN_MS,
        fetchTimeoutMs: this.fetchTimeoutMs,
        // One salt for the process: a restarted thread must give unchanged oct keys the same thumbprint.
        octThumbprintSalt: octThumbprintSalt(),
      },
    });
    // The refresher never keeps the process alive on its own (Gateway.stop closes it).
    w.unref();
    this.worker = w;
    this.workerStartedMs = monotonicMs();
    w.on('message', (ev: RefresherEvent) => this.onEvent(ev));
    w.on('error', (err) => this.log.error('JWKS refresher thread failed', { err: String(err) }));
    w.on('exit', (code) => this.onExit(w, code));
    this.sendConfigure();
  }

  private onExit(w: Worker, code: number): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    // Requests waiting for a refetch answer with what they have.
    for (const waiter of [...this.waiters.values()]) waiter.resolve(false);
    if (this.closed) return;
    if (monotonicMs() - this.workerStartedMs > STABLE_MS) this.restartDelay = this.opts.restartDelayMs ?? 100;
    const delay = this.restartDelay;
    this.restartDelay = Math.min(this.restartDelay * 2, MAX_RESTART_DELAY_MS);
    this.restarts++;
    this.log.error('JWKS refresher thread exited; restarting it (the last good key sets stay in use)', { code, restartInMs: delay, restarts: this.restarts });
    this.restartTimer = setTimeout(() => {
      if (!this.closed) this.startWorker();
    }, delay);
    this.restartTimer.unref();
  }

  private sendConfigure(): void {
    this.post({ type: 'configure', specs: this.specs, lastSuccessMs: Object.fromEntries(this.lastSuccessMs) });
  }

  private post(cmd: RefresherCommand): void {
    this.worker?.postMessage(cmd);
  }

  private notifyAttempts(): void {
    for (const f of [...this.attemptWaiters]) f();
  }

  private onEvent(ev: RefresherEvent): void {
    if (ev.type === 'refetch-done') {
      if (ev.result === 'cooldown' && ev.retryAfterMs !== undefined) this.cooldownUntil.set(ev.id, monotonicMs() + ev.retryAfterMs);
      this.waiters.get(ev.requestId)?.resolve(ev.result === 'fetched');
      return;
    }
    const id = this.sourceKeys.has(ev.id) ? ev.id : this.adopted.get(ev.id);
    if (id === undefined || !this.sourceKeys.has(id)) {
      if (ev.type === 'fetch' && ev.outcome === 'internal') this.log.error('JWKS refresher error', { reason: ev.reason === undefined ? undefined : capReason(ev.reason) });
      return;
    }
    // Sent by the thread before it took a reload's new source for this key set: about the old one.
    if (ev.epoch !== this.epochs.get(id)) return;
    const stats = this.statsById.get(id)!;
    if (ev.keys) this.installKeySet(id, ev.keys, ev.dropped ?? [], stats);
    this.opts.metrics?.inc('jwtgate_jwks_fetch_total', ev.outcome);
    (stats.fetches as Record<string, number>)[ev.outcome] = (stats.fetches[ev.outcome] ?? 0) + 1;
    stats.requests += ev.attempts;
    if (ev.trigger === 'kid-miss') stats.earlyRefetches++;
    if (ev.outcome === 'ok') {
      stats.lastSuccessMs = Date.now();
      // Monotonic, for a restarted refresher thread's schedule (the stats keep the wall time).
      this.lastSuccessMs.set(id, monotonicMs());
      const ttl = this.onDemand.get(id);
      if (ttl !== undefined) {
        this.expiresAt.set(id, monotonicMs() + ttl);
        this.scheduleExpiry();
      }
      if (this.log.enabled('debug')) this.log.debug('remote JWKS fetched', { provider: id, url: stats.url, trigger: ev.trigger, keys: ev.keys?.length, attempts: ev.attempts, durationMs: ev.durationMs, nextFetchInMs: ev.nextFetchInMs });
    } else {
      const reason = capReason(ev.reason ?? ev.outcome);
      stats.lastFailure = reason;
      stats.lastFailureMs = Date.now();
      const until = this.expiresAt.get(id);
      if (until !== undefined && monotonicMs() >= until) this.expire(id, stats);
      const hasKeys = this.digests.has(id);
      this.log.warn(`remote JWKS fetch failed: ${reason}`, {
        provider: id,
        url: stats.url,
        outcome: ev.outcome,
        ...(ev.status !== undefined ? { status: ev.status } : {}),
        trigger: ev.trigger,
        attempts: ev.attempts,
        retryInMs: ev.nextFetchInMs,
        // Envoy keeps the old keys after a failed async refresh; without any, requests get 401.
        serving: hasKeys ? 'last good key set' : 'no keys: 401 Jwks remote fetch is failed',
        ...(hasKeys && until !== undefined ? { expiresInMs: Math.max(0, Math.round(until - monotonicMs())) } : {}),
      });
    }
    if (ev.first) {
      this.attemptedIds.add(id);
      this.notifyAttempts();
    }
  }

  /**
   * Without `asyncFetch`, Envoy fetches a key set on demand and never uses it past its
   * `cacheDuration`: a request that finds it expired fetches again, and gets `401 Jwks remote
   * fetch is failed` if that fails (spec §4.9). The refresher renews it before then (at
   * cacheDuration − 5 s); when no fetch has succeeded by its expiry, the first failure after it
   * (or, with no answer from the refresher thread, the fetch deadline after it) withdraws the
   * keys: an empty key set is published as a new generation, so neither the keys nor the
   * signature results cached with them are used, until a fetch succeeds again.
   */
  private expire(id: string, stats: KeySetFetchStats): void {
    this.expiresAt.delete(id);
    if (!this.digests.has(id)) return;
    this.digests.delete(id);
    stats.keyCount = 0;
    stats.changes++;
    this.opts.onKeySet(id, []);
    this.log.warn('remote JWKS expired: no fetch succeeded within cacheDuration of the last good one, and without asyncFetch an expired key set is not used (as Envoy); requests get 401 Jwks remote fetch is failed until a fetch succeeds', { provider: id, url: stats.url, cacheDurationMs: this.onDemand.get(id) });
  }

  /** One timer, for the earliest expiry plus the fetch deadline (a refresher thread that stopped reporting). */
  private scheduleExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    if (this.closed || this.expiresAt.size === 0) return;
    const grace = this.fetchTimeoutMs + 1000;
    let first = Infinity;
    for (const at of this.expiresAt.values()) first = Math.min(first, at);
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = undefined;
      const now = monotonicMs();
      for (const [id, at] of [...this.expiresAt]) if (now >= at + grace) this.expire(id, this.statsById.get(id)!);
      this.scheduleExpiry();
    }, Math.max(0, first + grace - monotonicMs()));
    this.expiryTimer.unref();
  }

  /** A successful fetch's key set: handed to the verifier only when it differs from the last one. */
  private installKeySet(id: string, keys: readonly RefreshedKey[], dropped: readonly string[], stats: KeySetFetchStats): void {
    stats.keyCount = keys.length;
    // JSON, not a joined string: a kid may hold any separator, and two different sets must never
    // compare equal (a withdrawn key would stay valid). Sorted: the same keys in another order
    // (IdP replicas behind a load balancer) are the same set, not a new generation that empties
    // the signature cache at every refresh; the order first served is kept.
    const digest = JSON.stringify(keys.map((k) => JSON.stringify([k.kid ?? null, k.alg ?? null, k.thumbprint])).sort());
    if (this.digests.get(id) === digest) return;
    const first = !this.digests.has(id);
    this.digests.set(id, digest);
    stats.changes++;
    this.opts.onKeySet(id, keys as readonly ImportedKey[]);
    // stats.url is the URL as logs show it (redacted once, when the key set was registered).
    const fields = { provider: id, url: stats.url, keys: keys.map((k) => `${k.kid === undefined ? '(no kid)' : cutValue(k.kid)}/${k.alg ?? k.kty}/${k.thumbprint}`) };
    if (first) this.log.info('remote JWKS loaded', fields);
    else this.log.info('remote JWKS changed: new key set generation', fields);
    for (const d of dropped) this.log.warn('remote JWKS: key dropped', { provider: id, url: stats.url, reason: d });
  }
}

/**
 * Characters of a failed fetch's reason kept for its warning and `/config_dump`'s `lastFailure`.
 * Values quoted from the document are cut already (import-keys quoteValue); this bounds the
 * whole, whatever its source (an error text, a server's header), as it is logged at every retry.
 */
export const MAX_FAILURE_REASON_CHARS = 2048;

function capReason(reason: string): string {
  return reason.length > MAX_FAILURE_REASON_CHARS ? `${reason.slice(0, MAX_FAILURE_REASON_CHARS)}…(${reason.length} characters)` : reason;
}

function toSpec(ks: RemoteKeySet): RemoteJwksSpec {
  return {
    id: ks.id,
    url: ks.url,
    target: { host: ks.target!.host, port: ks.target!.port },
    ...(ks.alternates ? { alternates: ks.alternates.map((h) => ({ host: h.host, port: h.port })) } : {}),
    ...(ks.tls ? { tls: ks.tls } : {}),
    cacheDurationMs: ks.cacheDurationMs,
    failedRefetchDurationMs: ks.failedRefetchDurationMs,
    numRetries: ks.numRetries,
    backOffBaseMs: ks.backOffBaseMs,
    backOffMaxMs: ks.backOffMaxMs,
  };
}

// The refresher thread's brain, with the clock, timers, randomness and the fetch injected (tests
// drive it with a fake clock): which remote key set to fetch when. One fetch in flight per key
// set, ever; refresh at cacheDuration − 5 s (Envoy's async fetch, spec §4.9) minus jitter so a
// fleet does not stampede the IdP; after a failure, retry after failedRefetchDuration (fixed, as
// Envoy: the retryPolicy's exponential backoff applies only between the retries of one fetch, in
// remote-fetch.ts), keeping the last good keys; a kid miss asks for one early refetch per
// cooldown (beyond Envoy, which never refetches on an unknown kid). Does not fetch or import
// (remote-fetch.ts) and does not own key set generations (the main thread does).

import type { JwksFetchTrigger, RefresherCommand, RefresherEvent, RemoteJwksSpec } from '../types.js';
import type { JwksFetchResult } from './remote-fetch.js';

/** Envoy refreshes this long before the cache expires (jwks_async_fetcher.cc), if cacheDuration is longer. */
export const REFRESH_AHEAD_MS = 5000;
/** Default minimum time between two kid-miss refetches of one key set. */
export const DEFAULT_KID_MISS_COOLDOWN_MS = 30_000;
/** Refreshes are moved earlier by up to this share of the interval… */
const JITTER_SHARE = 0.1;
/** …and by at most this much. */
const MAX_JITTER_MS = 60_000;
/** setTimeout's largest delay; longer cache durations are clamped (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface SchedulerDeps {
  /** Epoch milliseconds. */
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  /** [0, 1). */
  random(): number;
  fetch(spec: RemoteJwksSpec): Promise<JwksFetchResult>;
  emit(event: RefresherEvent): void;
  /** Minimum time between two kid-miss refetches of one key set (default 30 s). */
  kidMissCooldownMs?: number;
}

interface Entry {
  spec: RemoteJwksSpec;
  /** Spec identity: a changed source (URL, target, TLS: a new epoch) starts over; changed durations apply from the next schedule. */
  key: string;
  timer: unknown;
  inflight: boolean;
  attempted: boolean;
  lastEarlyMs: number;
  removed: boolean;
  /** refetch requests waiting for the fetch in flight. */
  waiters: number[];
}

/**
 * Refresh delay after a success: cacheDuration in whole seconds (Envoy's getCacheDuration,
 * durationToSeconds), minus 5 s when longer than 5 s, minus jitter. A cacheDuration under 1 s
 * (0 whole seconds: Envoy would refetch without pause) refreshes after its own length.
 */
export function refreshDelayMs(spec: Pick<RemoteJwksSpec, 'cacheDurationMs'>, random: () => number): number {
  const wholeMs = Math.floor(spec.cacheDurationMs / 1000) * 1000;
  const base = wholeMs > REFRESH_AHEAD_MS ? wholeMs - REFRESH_AHEAD_MS : wholeMs > 0 ? wholeMs : spec.cacheDurationMs;
  return Math.min(MAX_TIMER_MS, base - jitter(base, random));
}

/** Retry delay after a failed fetch: failedRefetchDuration (Envoy's fixed failed_refetch_duration), jittered. */
export function failedDelayMs(spec: Pick<RemoteJwksSpec, 'failedRefetchDurationMs'>, random: () => number): number {
  const d = spec.failedRefetchDurationMs;
  return Math.min(MAX_TIMER_MS, d - jitter(d, random));
}

function jitter(ms: number, random: () => number): number {
  return Math.floor(random() * Math.min(ms * JITTER_SHARE, MAX_JITTER_MS));
}

/** Two specs fetch from the same place the same way (url, target, alternates, tls). */
export function sameSource(a: RemoteJwksSpec, b: RemoteJwksSpec): boolean {
  return sourceKey(a) === sourceKey(b);
}

/** What a spec fetches from, as a comparable string. */
export function sourceKey(s: { readonly url: string; readonly target?: RemoteJwksSpec['target']; readonly alternates?: RemoteJwksSpec['alternates']; readonly tls?: RemoteJwksSpec['tls'] }): string {
  return JSON.stringify([s.url, s.target?.host, s.target?.port, s.alternates?.map((h) => [h.host, h.port]) ?? null, s.tls ?? null]);
}

export class RefreshScheduler {
  private readonly deps: SchedulerDeps;
  private readonly cooldownMs: number;
  private readonly entries = new Map<string, Entry>();

  constructor(deps: SchedulerDeps) {
    this.deps = deps;
    this.cooldownMs = deps.kidMissCooldownMs ?? DEFAULT_KID_MISS_COOLDOWN_MS;
  }

  handle(cmd: RefresherCommand): void {
    if (cmd.type === 'configure') this.configure(cmd.specs, cmd.lastSuccessMs);
    else if (cmd.type === 'refetch') this.refetch(cmd.id, cmd.requestId);
    else if (cmd.type === 'adopt') this.adopt(cmd.from, cmd.to);
  }

  /** Key set `to` takes over `from`'s entry (its keys were fetched under `from`): no new fetch, the same schedule. */
  adopt(from: string, to: string): void {
    const e = this.entries.get(from);
    if (!e) return;
    const old = this.entries.get(to);
    if (old) this.retire(old);
    this.entries.delete(from);
    e.spec = { ...e.spec, id: to };
    e.key = JSON.stringify(e.spec);
    this.entries.set(to, e);
  }

  /**
   * Installs the full set of key sets. New ones are fetched now, unless `lastSuccessMs` says
   * when they last loaded (a restarted thread): then the next refresh is scheduled from that.
   * Unchanged ones keep their schedule; removed ones stop.
   */
  configure(specs: readonly RemoteJwksSpec[], lastSuccessMs: Readonly<Record<string, number>> = {}): void {
    const live = new Set<string>();
    for (const spec of specs) {
      live.add(spec.id);
      const key = JSON.stringify(spec);
      const old = this.entries.get(spec.id);
      if (old?.key === key) continue;
      if (old && old.spec.epoch === spec.epoch && sameSource(old.spec, spec)) {
        // Only durations or retries changed: the schedule goes on, the next delay is the new one.
        old.spec = spec;
        old.key = key;
        continue;
      }
      if (old) this.retire(old);
      const e: Entry = { spec, key, timer: undefined, inflight: false, attempted: false, lastEarlyMs: -Infinity, removed: false, waiters: [] };
      this.entries.set(spec.id, e);
      const last = old ? undefined : lastSuccessMs[spec.id];
      if (last !== undefined) {
        e.attempted = true;
        this.schedule(e, Math.max(0, last + refreshDelayMs(spec, this.deps.random) - this.deps.now()), 'refresh');
      } else {
        this.start(e, 'initial');
      }
    }
    for (const [id, e] of this.entries) {
      if (live.has(id)) continue;
      this.retire(e);
      this.entries.delete(id);
    }
  }

  /**
   * A token's kid was not in the key set. Joins the fetch in flight if there is one; else
   * fetches now unless an early refetch ran less than the cooldown ago. Always answered with
   * one `refetch-done`.
   */
  refetch(id: string, requestId: number): void {
    const e = this.entries.get(id);
    if (!e) {
      this.deps.emit({ type: 'refetch-done', id, requestId, result: 'unknown' });
      return;
    }
    if (e.inflight) {
      e.waiters.push(requestId);
      return;
    }
    const since = this.deps.now() - e.lastEarlyMs;
    if (since < this.cooldownMs) {
      this.deps.emit({ type: 'refetch-done', id, requestId, result: 'cooldown', retryAfterMs: this.cooldownMs - since });
      return;
    }
    e.lastEarlyMs = this.deps.now();
    e.waiters.push(requestId);
    this.start(e, 'kid-miss');
  }

  private retire(e: Entry): void {
    e.removed = true;
    if (e.timer !== undefined) this.deps.clearTimer(e.timer);
    e.timer = undefined;
    for (const requestId of e.waiters) this.deps.emit({ type: 'refetch-done', id: e.spec.id, requestId, result: 'unknown' });
    e.waiters = [];
  }

  private schedule(e: Entry, ms: number, trigger: JwksFetchTrigger): void {
    if (e.timer !== undefined) this.deps.clearTimer(e.timer);
    e.timer = this.deps.setTimer(() => {
      e.timer = undefined;
      if (!e.removed) this.start(e, trigger);
    }, ms);
  }

  private start(e: Entry, trigger: JwksFetchTrigger): void {
    if (e.inflight) return;
    if (e.timer !== undefined) this.deps.clearTimer(e.timer);
    e.timer = undefined;
    e.inflight = true;
    const t0 = this.deps.now();
    let p: Promise<JwksFetchResult>;
    try {
      p = this.deps.fetch(e.spec);
    } catch (err) {
      p = Promise.resolve({ ok: false, outcome: 'internal', reason: String(err), attempts: 0 });
    }
    p.then(
      (r) => this.done(e, r, trigger, t0),
      (err: unknown) => this.done(e, { ok: false, outcome: 'internal', reason: String(err), attempts: 0 }, trigger, t0),
    );
  }

  private done(e: Entry, r: JwksFetchResult, trigger: JwksFetchTrigger, t0: number): void {
    e.inflight = false;
    if (e.removed) return;
    const { id, url } = e.spec;
    const first = !e.attempted;
    e.attempted = true;
    const next = r.ok ? refreshDelayMs(e.spec, this.deps.random) : failedDelayMs(e.spec, this.deps.random);
    this.deps.emit({
      type: 'fetch',
      id,
      url,
      outcome: r.ok ? 'ok' : r.outcome,
      trigger,
      // The key set rides in the fetch event: when the main thread reads it (or, after it, a
      // refetch answer), it installs the keys and counts the fetch in one step.
      ...(r.ok ? { keys: r.keys, dropped: r.dropped } : { reason: r.reason }),
      ...(!r.ok && r.status !== undefined ? { status: r.status } : {}),
      attempts: r.attempts,
      durationMs: this.deps.now() - t0,
      first,
      nextFetchInMs: next,
      ...(e.spec.epoch !== undefined ? { epoch: e.spec.epoch } : {}),
    });
    const waiters = e.waiters;
    e.waiters = [];
    for (const requestId of waiters) this.deps.emit({ type: 'refetch-done', id, requestId, result: r.ok ? 'fetched' : 'failed' });
    this.schedule(e, next, r.ok ? 'refresh' : 'retry');
  }
}

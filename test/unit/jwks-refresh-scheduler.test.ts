// The refresher's scheduling rules with a fake clock and a fake fetch: refresh at
// cacheDuration − 5 s minus jitter, failures retried after a fixed failedRefetchDuration,
// one fetch in flight per key set, kid-miss refetches coalesced and limited by the cooldown,
// removed key sets stopped, a restarted thread resuming from the last success.
import test from 'node:test';
import assert from 'node:assert/strict';
import { failedDelayMs, refreshDelayMs, RefreshScheduler } from '../../src/jwks/refresh-scheduler.js';
import type { JwksFetchResult } from '../../src/jwks/remote-fetch.js';
import type { RefresherEvent, RemoteJwksSpec } from '../../src/types.js';

const spec = (o: Partial<RemoteJwksSpec> = {}): RemoteJwksSpec => ({
  id: 'GatewayExtension/ns/ext#idp',
  url: 'http://idp.test/keys',
  target: { host: '127.0.0.1', port: 1 },
  cacheDurationMs: 600_000,
  failedRefetchDurationMs: 1000,
  numRetries: 0,
  backOffBaseMs: 1000,
  backOffMaxMs: 10_000,
  ...o,
});

const OK: JwksFetchResult = { ok: true, keys: [], dropped: [], attempts: 1, bytes: 10 };
const FAIL: JwksFetchResult = { ok: false, outcome: 'http_status', reason: 'HTTP 500', attempts: 1, status: 500 };

/** A fake clock with timers, a fetch whose answers the test releases, and the emitted events. */
function rig(opts: { random?: number; cooldownMs?: number } = {}) {
  let now = 1_000_000;
  const timers: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 0;
  const fetches: { spec: RemoteJwksSpec; resolve: (r: JwksFetchResult) => void }[] = [];
  const events: RefresherEvent[] = [];
  const scheduler = new RefreshScheduler({
    now: () => now,
    setTimer: (fn, ms) => {
      const t = { at: now + ms, fn, id: ++nextId };
      timers.push(t);
      return t.id;
    },
    clearTimer: (id) => {
      const i = timers.findIndex((t) => t.id === id);
      if (i >= 0) timers.splice(i, 1);
    },
    random: () => opts.random ?? 0,
    fetch: (s) => new Promise<JwksFetchResult>((resolve) => fetches.push({ spec: s, resolve })),
    emit: (e) => events.push(e),
    kidMissCooldownMs: opts.cooldownMs ?? 30_000,
  });
  const flush = () => new Promise((r) => setImmediate(r));
  return {
    scheduler,
    fetches,
    events,
    timers,
    now: () => now,
    /** Advances the clock, firing due timers in order. */
    async advance(ms: number) {
      const until = now + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const t = timers[0];
        if (!t || t.at > until) break;
        timers.shift();
        now = t.at;
        t.fn();
        await flush();
      }
      now = until;
    },
    /** Answers the oldest pending fetch. */
    async answer(r: JwksFetchResult) {
      const f = fetches.shift();
      assert.ok(f, 'a fetch is pending');
      f.resolve(r);
      await flush();
    },
    nextTimerIn: () => Math.min(...timers.map((t) => t.at)) - now,
    of: <T extends RefresherEvent['type']>(type: T) => events.filter((e): e is Extract<RefresherEvent, { type: T }> => e.type === type),
    /** The fetch events that published a key set. */
    keysets: () => events.filter((e): e is Extract<RefresherEvent, { type: 'fetch' }> => e.type === 'fetch' && e.keys !== undefined),
  };
}

test('refresh delay: cacheDuration in whole seconds (as Envoy), − 5 s when above 5 s, minus up to 10% jitter (max 60 s)', () => {
  assert.equal(refreshDelayMs({ cacheDurationMs: 600_000 }, () => 0), 595_000);
  assert.equal(refreshDelayMs({ cacheDurationMs: 600_000 }, () => 0.999999), 595_000 - 59_499);
  assert.equal(refreshDelayMs({ cacheDurationMs: 3_600_000 }, () => 0.999999), 3_595_000 - 59_999);
  assert.equal(refreshDelayMs({ cacheDurationMs: 5000 }, () => 0), 5000, 'not above 5 s: Envoy refreshes at cacheDuration');
  // Envoy counts cache_duration in whole seconds (getCacheDuration): 5.1 s and 5.9 s are 5 s.
  assert.equal(refreshDelayMs({ cacheDurationMs: 5001 }, () => 0), 5000);
  assert.equal(refreshDelayMs({ cacheDurationMs: 5999 }, () => 0), 5000);
  assert.equal(refreshDelayMs({ cacheDurationMs: 6500 }, () => 0), 1000, '6 whole seconds − 5 s');
  assert.equal(refreshDelayMs({ cacheDurationMs: 1500 }, () => 0), 1000);
  assert.equal(refreshDelayMs({ cacheDurationMs: 2000 }, () => 0.5), 2000 - 100);
  // Under 1 s is 0 whole seconds, a refetch without pause in Envoy: its own length here.
  assert.equal(refreshDelayMs({ cacheDurationMs: 500 }, () => 0), 500);
  assert.equal(refreshDelayMs({ cacheDurationMs: 1 }, () => 0.9), 1);
  assert.equal(refreshDelayMs({ cacheDurationMs: 99_999 * 3_600_000 }, () => 0), 2 ** 31 - 1, 'clamped to the largest timer');
});

test('failed delay: failedRefetchDuration, fixed (Envoy has no backoff), minus up to 10% jitter', () => {
  const s = { failedRefetchDurationMs: 1000 };
  assert.equal(failedDelayMs(s, () => 0), 1000);
  assert.equal(failedDelayMs({ failedRefetchDurationMs: 60_000 }, () => 0), 60_000);
  assert.equal(failedDelayMs({ failedRefetchDurationMs: 200 }, () => 0), 200);
  assert.equal(failedDelayMs(s, () => 0.5), 950);
});

test('configure fetches at once; success schedules the refresh at cacheDuration − 5 s; failures retry every failedRefetchDuration and publish no keys', async () => {
  const r = rig();
  r.scheduler.configure([spec()]);
  assert.equal(r.fetches.length, 1);
  await r.answer(OK);
  assert.deepEqual(r.keysets().map((e) => e.id), [spec().id]);
  const f = r.of('fetch')[0]!;
  assert.equal(f.outcome, 'ok');
  assert.equal(f.first, true);
  assert.deepEqual([f.keys, f.dropped], [OK.keys, OK.dropped], 'the key set rides in the fetch event');
  assert.equal(f.trigger, 'initial');
  assert.equal(r.nextTimerIn(), 595_000);
  await r.advance(594_999);
  assert.equal(r.fetches.length, 0);
  await r.advance(1);
  assert.equal(r.fetches.length, 1, 'refresh fetch');
  await r.answer(FAIL);
  assert.equal(r.keysets().length, 1, 'a failed refresh publishes nothing: the last good keys stay');
  assert.equal(r.of('fetch').at(-1)!.trigger, 'refresh');
  assert.equal(r.of('fetch').at(-1)!.first, false);
  assert.equal(r.nextTimerIn(), 1000);
  await r.advance(1000);
  await r.answer(FAIL);
  assert.equal(r.nextTimerIn(), 1000, 'no backoff: an IdP back from an outage is fetched within failedRefetchDuration');
  assert.equal(r.of('fetch').at(-1)!.trigger, 'retry', 'a fetch after a failure is logged as a retry, not a scheduled refresh');
  for (let i = 0; i < 40; i++) {
    await r.advance(1000);
    await r.answer(FAIL);
    assert.equal(r.nextTimerIn(), 1000);
  }
  await r.advance(1000);
  assert.equal(r.of('fetch').at(-1)!.reason, 'HTTP 500');
  await r.answer(OK);
  assert.equal(r.keysets().length, 2);
  assert.equal(r.nextTimerIn(), 595_000);
  await r.advance(595_000);
  await r.answer(OK);
  assert.equal(r.of('fetch').at(-1)!.trigger, 'refresh', 'after a success: a scheduled refresh again');
});

test('kid miss: coalesced with the fetch in flight, one early refetch per cooldown, answered once per request', async () => {
  const r = rig({ cooldownMs: 30_000 });
  r.scheduler.configure([spec()]);
  // During the initial fetch: joins it, no second fetch.
  r.scheduler.refetch(spec().id, 1);
  r.scheduler.refetch(spec().id, 2);
  assert.equal(r.fetches.length, 1);
  await r.answer(OK);
  assert.deepEqual(r.of('refetch-done').map((e) => [e.requestId, e.result]), [[1, 'fetched'], [2, 'fetched']]);
  // First real kid miss: one fetch; requests meanwhile join it.
  await r.advance(10_000);
  r.scheduler.refetch(spec().id, 3);
  assert.equal(r.fetches.length, 1);
  assert.equal(r.fetches[0]!.spec.id, spec().id);
  for (let i = 4; i < 100; i++) r.scheduler.refetch(spec().id, i);
  assert.equal(r.fetches.length, 1, '96 more kid misses, still one fetch in flight');
  await r.answer(OK);
  assert.equal(r.of('fetch').at(-1)!.trigger, 'kid-miss');
  assert.equal(r.of('refetch-done').filter((e) => e.result === 'fetched').length, 99);
  // Within the cooldown: refused at once, with the time left.
  await r.advance(20_000);
  r.scheduler.refetch(spec().id, 100);
  assert.equal(r.fetches.length, 0);
  const cd = r.of('refetch-done').at(-1)!;
  assert.equal(cd.result, 'cooldown');
  assert.equal(cd.retryAfterMs, 10_000);
  // After the cooldown: allowed again.
  await r.advance(10_000);
  r.scheduler.refetch(spec().id, 101);
  assert.equal(r.fetches.length, 1);
  await r.answer(FAIL);
  assert.equal(r.of('refetch-done').at(-1)!.result, 'failed');
  r.scheduler.refetch('GatewayExtension/ns/ext#other', 102);
  assert.equal(r.of('refetch-done').at(-1)!.result, 'unknown');
});

test('a kid-miss refetch replaces the scheduled refresh (no extra fetch), and the schedule restarts from it', async () => {
  const r = rig();
  r.scheduler.configure([spec()]);
  await r.answer(OK);
  await r.advance(100_000);
  r.scheduler.refetch(spec().id, 1);
  await r.answer(OK);
  assert.equal(r.timers.length, 1, 'one timer');
  assert.equal(r.nextTimerIn(), 595_000);
});

test('never two fetches of one key set at once; a changed spec starts over; removed key sets stop', async () => {
  const r = rig();
  r.scheduler.configure([spec(), spec({ id: 'b', url: 'http://b/keys' })]);
  assert.equal(r.fetches.length, 2);
  r.scheduler.configure([spec(), spec({ id: 'b', url: 'http://b/keys' })]);
  assert.equal(r.fetches.length, 2, 'unchanged specs: nothing new');
  r.scheduler.configure([spec()]);
  await r.answer(OK);
  await r.answer(OK);
  assert.deepEqual(r.keysets().map((e) => e.id), [spec().id], 'the removed key set publishes nothing');
  assert.equal(r.timers.length, 1);
  r.scheduler.configure([spec({ url: 'http://idp.test/other' })]);
  assert.equal(r.fetches.length, 1, 'a changed URL is fetched at once');
  assert.equal(r.fetches[0]!.spec.url, 'http://idp.test/other');
});

test('a restarted thread resumes from the last success instead of fetching everything again', async () => {
  const r = rig();
  r.scheduler.configure([spec(), spec({ id: 'never-loaded' })], { [spec().id]: r.now() - 100_000 });
  assert.deepEqual(r.fetches.map((f) => f.spec.id), ['never-loaded']);
  assert.equal(r.nextTimerIn(), 495_000);
  r.scheduler.configure([spec(), spec({ id: 'late' })], { [spec().id]: r.now() - 10_000_000, late: r.now() - 10_000_000 });
  await r.advance(0);
  assert.deepEqual(r.fetches.map((f) => f.spec.id).sort(), ['late', 'never-loaded'], 'an overdue refresh runs now');
});

test('a fetch that throws is a failure, not a crash', async () => {
  const events: RefresherEvent[] = [];
  const timers: unknown[] = [];
  const s = new RefreshScheduler({
    now: () => 0,
    setTimer: (fn, ms) => timers.push([fn, ms]),
    clearTimer: () => {},
    random: () => 0,
    fetch: () => {
      throw new Error('boom');
    },
    emit: (e) => events.push(e),
  });
  s.configure([spec()]);
  await new Promise((r) => setImmediate(r));
  const f = events.find((e) => e.type === 'fetch');
  assert.ok(f && f.type === 'fetch' && f.outcome === 'internal' && /boom/.test(f.reason ?? ''));
  assert.equal(timers.length, 1, 'retry scheduled');
});

test('a kid-miss request waiting on a key set that is removed or changed is answered "unknown" at once (not left to its time bound)', async () => {
  const r = rig();
  r.scheduler.configure([spec()]);
  await r.answer(OK);
  r.scheduler.refetch(spec().id, 7);
  assert.equal(r.fetches.length, 1);
  r.scheduler.configure([]);
  assert.deepEqual(r.of('refetch-done').map((e) => [e.requestId, e.result]), [[7, 'unknown']]);
  await r.answer(OK);
  assert.equal(r.of('refetch-done').length, 1, 'answered once');
});

test('the cooldown given to the scheduler is the one applied (not the 30 s default)', async () => {
  const r = rig({ cooldownMs: 5000 });
  r.scheduler.configure([spec()]);
  await r.answer(OK);
  r.scheduler.refetch(spec().id, 1);
  await r.answer(OK);
  await r.advance(4999);
  r.scheduler.refetch(spec().id, 2);
  assert.deepEqual(r.of('refetch-done').at(-1), { type: 'refetch-done', id: spec().id, requestId: 2, result: 'cooldown', retryAfterMs: 1 });
  await r.advance(1);
  r.scheduler.refetch(spec().id, 3);
  assert.equal(r.fetches.length, 1, 'after 5 s an early refetch runs again');
});

test('a changed spec is fetched at once even when a last success is given for its id (that success was for the old spec)', async () => {
  const r = rig();
  r.scheduler.configure([spec()]);
  await r.answer(OK);
  r.scheduler.configure([spec({ url: 'http://idp.test/rotated' })], { [spec().id]: r.now() });
  assert.deepEqual(r.fetches.map((f) => f.spec.url), ['http://idp.test/rotated']);
});

test('a reload: a spec that changes only its timing keeps its schedule (the new timing from the next fetch on); a new source (epoch) starts over with a first fetch', async () => {
  const r = rig();
  r.scheduler.configure([spec({ epoch: 1 })]);
  await r.answer(OK);
  assert.equal(r.nextTimerIn(), 595_000);
  r.scheduler.configure([spec({ epoch: 1, cacheDurationMs: 300_000, failedRefetchDurationMs: 2000 })]);
  assert.equal(r.fetches.length, 0, 'no fetch for a timing change');
  assert.equal(r.nextTimerIn(), 595_000, 'the schedule goes on');
  await r.advance(595_000);
  await r.answer(OK);
  assert.equal(r.nextTimerIn(), 295_000, 'then the new cacheDuration');
  r.scheduler.configure([spec({ epoch: 2, url: 'http://other.test/keys' })]);
  assert.equal(r.fetches.length, 1, 'a new source is fetched at once');
  assert.equal(r.fetches[0]!.spec.url, 'http://other.test/keys');
  await r.answer(OK);
  const f = r.of('fetch').at(-1)!;
  assert.deepEqual([f.first, f.trigger, f.epoch], [true, 'initial', 2]);
});

test('adopt: a key set takes over a staging entry (its schedule, its fetch in flight) and drops its own; the events carry its id from then on', async () => {
  const r = rig();
  const real = spec({ epoch: 1 });
  const staged = spec({ id: 'reload-2:GatewayExtension/ns/ext#idp', epoch: 2, url: 'http://new.test/keys' });
  r.scheduler.configure([real, staged]);
  await r.answer(OK);
  assert.equal(r.fetches.length, 1, "the staging entry's fetch is in flight");
  r.scheduler.adopt(staged.id, real.id);
  r.scheduler.configure([{ ...staged, id: real.id }]);
  assert.equal(r.fetches.length, 1, 'no new fetch: the adopted entry is the same source');
  await r.answer(OK);
  const f = r.of('fetch').at(-1)!;
  assert.deepEqual([f.id, f.url, f.epoch, f.first], [real.id, 'http://new.test/keys', 2, true]);
  // The old entry's schedule is gone: one timer, the adopted entry's refresh.
  assert.equal(r.timers.length, 1);
  await r.advance(595_000);
  assert.deepEqual(r.fetches.map((x) => x.spec.url), ['http://new.test/keys']);
  r.scheduler.adopt('unknown', real.id);
  assert.equal(r.fetches.length, 1, 'adopting an unknown id changes nothing');
});

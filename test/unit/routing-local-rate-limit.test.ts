// The local rate limit's token bucket, as Envoy 1.38's AtomicTokenBucketImpl: full at the start,
// refilled continuously at tokensPerFill per fillInterval (no timer, no whole fills), capped at
// maxTokens; and the filter_enabled / filter_enforced fractions.
import test from 'node:test';
import assert from 'node:assert/strict';
import { rateLimitAllows, TokenBucket, type RouteRateLimit } from '../../src/routing/local-rate-limit.js';

test('starts full, takes one token per request, refuses when empty', () => {
  const b = new TokenBucket({ maxTokens: 3, tokensPerFill: 1, fillIntervalMs: 1000 }, 0);
  assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
});

test('refills continuously at tokensPerFill / fillInterval, a fraction at a time, up to maxTokens', () => {
  const b = new TokenBucket({ maxTokens: 3, tokensPerFill: 2, fillIntervalMs: 1000 }, 0);
  for (let i = 0; i < 3; i++) assert.equal(b.take(0), true);
  // 250 ms = half a token: not enough; the half is kept.
  assert.equal(b.take(250), false);
  assert.equal(b.available(250), 0.5);
  assert.equal(b.take(500), true);
  assert.equal(b.take(500), false);
  // A long idle time fills it to maxTokens, no further.
  assert.equal(b.available(1_000_000), 3);
  assert.deepEqual([b.take(1_000_000), b.take(1_000_000), b.take(1_000_000), b.take(1_000_000)], [true, true, true, false]);
});

test('what is left of a token after a take carries over (no whole fills)', () => {
  const b = new TokenBucket({ maxTokens: 3, tokensPerFill: 1, fillIntervalMs: 1000 }, 0);
  for (let i = 0; i < 3; i++) assert.equal(b.take(0), true);
  assert.equal(b.take(1500), true);
  assert.equal(b.available(1500), 0.5);
  assert.equal(b.take(2000), true);
  assert.equal(b.take(2000), false);
});

test('a clock that does not move (or goes back) adds nothing', () => {
  const b = new TokenBucket({ maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 100 }, 1000);
  assert.equal(b.take(1000), true);
  assert.equal(b.take(900), false);
  assert.equal(b.take(1000), false);
  assert.equal(b.take(1100), true);
});

test('percentEnabled and percentEnforced are sampled per request: 0 never limits, 100 always does, 50 about half', () => {
  const empty = (): TokenBucket => {
    const b = new TokenBucket({ maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 3_600_000 });
    b.take();
    return b;
  };
  const rl = (percentEnabled: number, percentEnforced: number): RouteRateLimit => ({ bucket: empty(), percentEnabled, percentEnforced, origin: 'o', scope: 'route' });
  const allowed = (r: RouteRateLimit, n: number): number => {
    let k = 0;
    for (let i = 0; i < n; i++) if (rateLimitAllows(r)) k++;
    return k;
  };
  assert.equal(allowed(rl(100, 100), 1000), 0);
  assert.equal(allowed(rl(0, 100), 1000), 1000);
  assert.equal(allowed(rl(100, 0), 1000), 1000);
  const half = allowed(rl(50, 100), 4000);
  assert.ok(half > 1600 && half < 2400, `percentEnabled 50: ${half} of 4000 let through`);
  const halfEnforced = allowed(rl(100, 50), 4000);
  assert.ok(halfEnforced > 1600 && halfEnforced < 2400, `percentEnforced 50: ${halfEnforced} of 4000 let through`);
});

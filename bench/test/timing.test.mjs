// node --test bench/test/: durations and waits per mode, and what a run should take (lib/timing.mjs).
import test from 'node:test';
import assert from 'node:assert/strict';
import { timing, estimateSec, phases } from '../lib/timing.mjs';
import { scenarios } from '../lib/scenarios.mjs';
import { allPeers } from '../lib/peers.mjs';

const plan = (env = {}) => allPeers(env).map((p) => ({ peer: p.name, scenarios: scenarios(env).filter((s) => !s.jwtOnly || p.jwt) }));

test('the default plan is 34 measurements over 6 peers', () => {
  const p = plan();
  assert.equal(p.length, 6);
  assert.equal(p.reduce((n, x) => n + x.scenarios.length, 0), 34);
});

test('full run settings are those of the committed results', () => {
  const t = timing('full', {});
  assert.deepEqual(t.durations, { closed: 8, open: 8, warmup: 2, openWarmup: 2 });
  assert.equal(t.quietWait, 20);
  assert.equal(t.quietBudget, 90);
  assert.equal(t.retries, 1);
  // 34 × 10 s + probes, load start-up, quiet-gate samples, rotated set-ups, peers, minting: the
  // committed full runs took 382-419 s with the waits for a quiet machine and the drains on top.
  const s = estimateSec({ ...t, tokenCount: 20000 }, plan());
  assert.ok(s > 360 && s < 400, `${s} s`);
});

test('QUICK=1 takes about 2 minutes: no quiet wait nor re-measuring, 0.5 s fixed-rate warm-up', () => {
  const t = timing('quick', {});
  assert.deepEqual(t.durations, { closed: 2, open: 2, warmup: 1, openWarmup: 0.5 });
  assert.equal(t.quietWait, 0);
  assert.equal(t.retries, 0);
  const s = estimateSec({ ...t, tokenCount: 20000 }, plan());
  assert.ok(s <= 125, `${s} s`);
  // What it was: a 10 s quiet wait (a 0.5 s sample before every measurement, up to a 30 s budget),
  // one re-measure, 1 s fixed-rate warm-up: ~2.5 minutes before any wait.
  const before = estimateSec({ durations: { ...t.durations, openWarmup: 1 }, quietWait: 10, tokenCount: 20000 }, plan());
  assert.ok(before > 140, `${before} s`);
});

test('overrides: BENCH_WARMUP sets both warm-ups; BENCH_QUIET_WAIT and BENCH_RETRY_DISTURBED apply in quick runs too', () => {
  assert.deepEqual(timing('quick', { BENCH_WARMUP: '2' }).durations, { closed: 2, open: 2, warmup: 2, openWarmup: 2 });
  assert.deepEqual(timing('full', { BENCH_DURATION: '3' }).durations, { closed: 3, open: 3, warmup: 2, openWarmup: 2 });
  assert.deepEqual(timing('full', { BENCH_DURATION: '3', BENCH_OPEN_DURATION: '5' }).durations, { closed: 3, open: 5, warmup: 2, openWarmup: 2 });
  assert.equal(timing('quick', { BENCH_QUIET_WAIT: '10' }).quietWait, 10);
  assert.equal(timing('quick', { BENCH_RETRY_DISTURBED: '1' }).retries, 1);
  assert.deepEqual(timing('smoke', {}).durations, { closed: 1, open: 1, warmup: 0, openWarmup: 0 });
  assert.deepEqual(phases(timing('quick').durations, { kind: 'open' }), [0.5, 2]);
  assert.deepEqual(phases(timing('quick').durations, { kind: 'closed' }), [1, 2]);
});

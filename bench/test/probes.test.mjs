// node --test bench/test/: a failed base probe takes the peer out of the run; a failed scenario
// probe skips that scenario only (lib/probes.mjs probeVerdict, lib/schedule.mjs).
import test from 'node:test';
import assert from 'node:assert/strict';
import { probeVerdict } from '../lib/probes.mjs';
import { runSchedule } from '../lib/schedule.mjs';

const ok = (name) => ({ name, ok: true, expect: '401', got: '401' });
const bad = (name, expect, got) => ({ name, ok: false, expect, got });

test('probeVerdict: base failures are the peer\'s, scenario failures the scenario\'s', () => {
  const all = probeVerdict([ok('no token'), ok('valid RS256')], [ok('s sample 1')]);
  assert.deepEqual(all, { ok: true, base: false, count: 3 });
  const scen = probeVerdict([ok('no token')], [bad('cache-miss-rs256 sample 2', '200', '401')]);
  assert.equal(scen.ok, false);
  assert.equal(scen.base, false);
  assert.equal(scen.reason, 'cache-miss-rs256 sample 2: expected 200, got 401');
  for (const b of [bad('no token', '401', '200'), bad('valid RS256', '200', '200 but upstream saw x-team=undefined x-org=undefined'), bad('tampered RS256', '401', '200')]) {
    const v = probeVerdict([ok('x'), b], [ok('s sample 1')]);
    assert.equal(v.ok, false);
    assert.equal(v.base, true, b.name);
    assert.match(v.reason, new RegExp(`^${b.name}: expected`));
  }
  // No answer at all (a timeout, a reset after a saturating run) is not a wrong answer: that scenario only.
  const timeout = probeVerdict([ok('x'), bad('no token', '401', 'error: timeout')], [ok('s sample 1')]);
  assert.equal(timeout.ok, false);
  assert.equal(timeout.base, false);
  assert.equal(timeout.reason, 'no token: expected 401, got error: timeout');
});

test('a peer that fails a base probe in one scenario is measured in no other, with the reason', async () => {
  const skipped = [];
  const measured = [];
  const peers = [{ name: 'p' }, { name: 'q' }];
  const scenarios = [{ name: 's1' }, { name: 's2' }, { name: 's3' }];
  await runSchedule({
    peers,
    scenarios,
    start: async () => ({ stop: async () => {} }),
    measure: async (peer, running, sc) => {
      measured.push(`${peer.name}/${sc.name}`);
      // p: a scenario probe fails in s1 (that scenario only), a base probe in s2 (the peer).
      const v = peer.name !== 'p' ? probeVerdict([ok('no token')], []) : sc.name === 's1' ? probeVerdict([ok('no token')], [bad('s1 sample 1', '200', '401')]) : probeVerdict([bad('tampered RS256', '401', '200')], []);
      return v.base ? { out: `failed its base probes in ${sc.name}: ${v.reason}` } : {};
    },
    skipped,
  });
  assert.deepEqual(measured, ['p/s1', 'q/s1', 'p/s2', 'q/s2', 'q/s3']);
  assert.deepEqual(skipped, [{ peer: 'p', scenario: 's3', reason: 'not measured: failed its base probes in s2: tampered RS256: expected 401, got 200' }]);
});

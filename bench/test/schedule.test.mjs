// node --test bench/test/: measurement order, and the (peer, scenario) pairs left out, with why,
// when a peer goes out of the run (lib/schedule.mjs). Fake peers: no processes.
import test from 'node:test';
import assert from 'node:assert/strict';
import { runSchedule } from '../lib/schedule.mjs';

const peers = [{ name: 'a' }, { name: 'b' }, { name: 'c', proxyOnly: true }];
const scenarios = [{ name: 's1' }, { name: 's2', jwtOnly: true }, { name: 's3' }];
const applicable = (p, s) => !(s.jwtOnly && p.proxyOnly);

async function run(order, outAt = {}) {
  const measured = [];
  const stopped = [];
  const skipped = [];
  const out = await runSchedule({
    peers,
    scenarios,
    order,
    applicable,
    start: async (p) => ({ stop: async () => stopped.push(p.name) }),
    measure: async (p, running, sc) => {
      measured.push(`${p.name}/${sc.name}`);
      return outAt[`${p.name}/${sc.name}`] ? { out: outAt[`${p.name}/${sc.name}`] } : {};
    },
    skipped,
  });
  return { measured, stopped, skipped, out };
}

test('interleaved: each scenario on every peer in turn; by-peer: each peer\'s series', async () => {
  assert.deepEqual((await run('interleaved')).measured, ['a/s1', 'b/s1', 'c/s1', 'a/s2', 'b/s2', 'a/s3', 'b/s3', 'c/s3']);
  assert.deepEqual((await run('by-peer')).measured, ['a/s1', 'a/s2', 'a/s3', 'b/s1', 'b/s2', 'b/s3', 'c/s1', 'c/s3']);
  const r = await run('interleaved');
  assert.deepEqual(r.skipped, []);
  assert.deepEqual(r.stopped.sort(), ['a', 'b', 'c']);
});

for (const order of ['interleaved', 'by-peer']) {
  test(`${order}: a peer that died is measured no more, and each scenario it missed is in skipped with the reason`, async () => {
    const r = await run(order, { 'a/s1': 'a died during s1' });
    assert.ok(!r.measured.some((m) => m.startsWith('a/') && m !== 'a/s1'));
    assert.deepEqual(
      r.skipped.filter((s) => s.peer === 'a'),
      [
        { peer: 'a', scenario: 's2', reason: 'not measured: a died during s1' },
        { peer: 'a', scenario: 's3', reason: 'not measured: a died during s1' },
      ],
    );
    assert.ok(r.measured.includes('b/s3'), 'the others go on');
    assert.equal(r.out.get('a'), 'a died during s1');
    assert.ok(r.stopped.includes('a'), 'still stopped at the end');
  });
}

test('a scenario a peer does not run is not listed as skipped', async () => {
  const r = await run('interleaved', { 'c/s1': 'c died during s1' });
  assert.deepEqual(r.skipped, [{ peer: 'c', scenario: 's3', reason: 'not measured: c died during s1' }]);
});

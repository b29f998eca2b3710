// node --test bench/test/ (run by .ci/run): tools/runs-table.mjs, every full run as one row.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fullRuns, runFigures, summary, table } from '../tools/runs-table.mjs';

const tool = fileURLToPath(new URL('../tools/runs-table.mjs', import.meta.url));

const closed = (peer, scenario, rps, cpu = {}, o = {}) => ({
  peer,
  scenario,
  kind: 'closed',
  status: 'ok',
  rps,
  non2xx: scenario === 'missing-token' ? rps * 8 : 0,
  unexpected: 0,
  errors: 0,
  latency: { p50: 1, p99: 2 },
  load: { perProcessCpu: [60] },
  cpu: { peer: 90, upstream: 45, peerUsPerReq: 40, load: 50, other: 1, ...cpu },
  ...o,
});
const open = (peer, rate, p99, onScheduleRate) => ({ peer, scenario: `fixed-rate-${rate}`, kind: 'open', rate, status: 'ok', non2xx: 0, unexpected: 0, errors: 0, latency: { p50: 0.6, p99 }, load: { achievedRate: onScheduleRate, onScheduleRate }, cpu: { peer: 70, upstream: 38, other: 1 } });

/** A full run: jwtgate (cache-hit CPU `hitUs` per request) against nginx and HAProxy. */
function run(timestamp, { hitUs, missingTokenUs, p99, at10000 }) {
  return {
    meta: { timestamp, mode: 'full', custom: false, git: { sha: 'abcdef1234' } },
    results: [
      closed('nginx-proxy', 'cache-hit', 30_000, { peer: 60, upstream: 60 }),
      closed('haproxy', 'cache-hit', 15_000, { peer: 100, upstream: 45 }),
      closed('jwtgate', 'cache-hit', 18_000, { peer: 92, upstream: 46, peerUsPerReq: hitUs }),
      closed('haproxy', 'cache-miss-rs256', 14_000, { peer: 100, upstream: 44 }),
      closed('jwtgate', 'cache-miss-rs256', 9_000, { peer: 120, upstream: 30 }),
      closed('haproxy', 'cache-miss-es256', 10_000, { peer: 110, upstream: 35 }),
      closed('jwtgate', 'cache-miss-es256', 7_000, { peer: 130, upstream: 26 }),
      // The load generator saturated on the 401 path: judged on CPU per request.
      closed('haproxy', 'missing-token', 58_000, { peerUsPerReq: 13.7 }, { load: { perProcessCpu: [99] } }),
      closed('jwtgate', 'missing-token', 57_000, { peerUsPerReq: missingTokenUs }, { load: { perProcessCpu: [99] } }),
      open('haproxy', 2000, 1.13, 2000),
      open('jwtgate', 2000, p99, 2000),
      open('haproxy', 10_000, 200, 9_990),
      open('jwtgate', 10_000, 900, at10000),
    ],
  };
}

test('only default full runs count, oldest first', () => {
  const file = (name, report) => ({ name, text: typeof report === 'string' ? report : JSON.stringify(report) });
  const a = run('2026-11-29T10:00:00.000Z', { hitUs: 38, missingTokenUs: 13, p99: 1, at10000: 9_999 });
  const b = run('2026-11-29T08:00:00.000Z', { hitUs: 50, missingTokenUs: 15, p99: 3, at10000: 8_000 });
  const runs = fullRuns([
    file('2026-11-29T10-00-00Z.json', a),
    file('2026-11-29T08-00-00Z.json', b),
    file('latest.json', a),
    file('micro-latest.json', { meta: { mode: 'micro' } }),
    file('2026-11-29T09-00-00Z.json', { ...a, meta: { ...a.meta, mode: 'quick' } }),
    file('2026-11-29T09-30-00Z.json', { ...a, meta: { ...a.meta, custom: true } }),
    file('2026-11-29T09-40-00Z.json', '{ not json'),
  ]);
  assert.deepEqual(runs.map((r) => r.name), ['2026-11-29T08-00-00Z.json', '2026-11-29T10-00-00Z.json']);
});

test('each run judged by the harness\'s rules, and what the runs add up to', () => {
  const fast = runFigures(run('2026-11-29T10:00:00.000Z', { hitUs: 38, missingTokenUs: 13, p99: 1, at10000: 9_999 }));
  const slow = runFigures(run('2026-11-30T10:00:00.000Z', { hitUs: 50, missingTokenUs: 15, p99: 3, at10000: 8_000 }));
  assert.deepEqual(fast.met, { 'cache-hit': false, 'cache-miss-rs256': false, 'cache-miss-es256': false, 'missing-token': true, 'fixed-rate-2000': true });
  assert.deepEqual(slow.met, { 'cache-hit': false, 'cache-miss-rs256': false, 'cache-miss-es256': false, 'missing-token': false, 'fixed-rate-2000': false });
  assert.deepEqual(fast.perUpstream, { jwtgate: ['2.00', '4.00', '5.00'], haproxy: ['2.22', '2.27', '3.14'] });
  assert.deepEqual(slow.at10000, [{ rps: 8_000, kept: false }, { rps: 9_990, kept: true }]);

  const rows = table([fast, slow]).split('\n');
  assert.equal(rows.length, 4);
  const cells = (line) => line.split('|').slice(1, -1).map((c) => c.trim());
  assert.equal(cells(rows[0]).length, cells(rows[2]).length, 'a cell for every column');
  assert.deepEqual(cells(rows[2]), ['2026-11-29 10:00', 'abcdef1', '30,000', '38.0', '0.60×', '0.64×', '0.70×', '13.0 / 13.7', '1.00 / 1.13', '9,999 / 9,990', '2.00 / 4.00 / 5.00', '2.22 / 2.27 / 3.14', 'missing-token, fixed-rate-2000']);
  assert.equal(cells(rows[3])[9], '8,000 (not kept) / 9,990');
  assert.equal(cells(rows[3]).at(-1), 'none');

  const lines = summary([fast, slow], { splitUs: 42 });
  assert.equal(lines[0], '2 full runs, 2026-11-29T10:00Z to 2026-11-30T10:00Z.');
  assert.ok(lines.includes('missing-token ≥ HAProxy: met in 1 of the 2 runs that judge it.'));
  assert.ok(lines.includes('cache-hit ≥ 1.0× nginx: met in 0 of the 2 runs that judge it.'));
  assert.ok(lines.includes('10,000 req/s: jwtgate kept the rate in 1 of 2 runs.'));
  assert.ok(lines.includes('10,000 req/s: HAProxy kept the rate in 2 of 2 runs.'));
  assert.ok(lines.some((l) => l.endsWith('kept in 1 of 1 runs at most 42 µs, in 0 of 1 above.')));
  assert.ok(lines.includes('÷ upstream, jwtgate: cache-hit 2.00; cache-miss-rs256 4.00; cache-miss-es256 5.00.'));
  assert.ok(summary([fast, slow], { splitUs: 60 }).some((l) => l.endsWith('kept in 1 of 2 runs at most 60 µs, in 0 of 0 above.')));
});

test('a run that cannot judge a target says so instead of counting it', () => {
  const r = run('2026-11-29T10:00:00.000Z', { hitUs: 38, missingTokenUs: 13, p99: 1, at10000: 9_999 });
  // HAProxy's 2,000 req/s phase disturbed by another process: no verdict either way.
  r.results.find((x) => x.peer === 'haproxy' && x.scenario === 'fixed-rate-2000').cpu.other = 35;
  const f = runFigures(r);
  assert.equal(f.met['fixed-rate-2000'], undefined);
  assert.ok(summary([f]).includes('p99 at 2,000 req/s ≤ HAProxy: met in 0 of the 0 runs that judge it (1 could not).'));
});

test('the command reads a results directory and refuses a wrong one', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runs-table-'));
  try {
    const empty = spawnSync(process.execPath, [tool, dir], { encoding: 'utf8' });
    assert.equal(empty.status, 1);
    assert.match(empty.stderr, /no full runs in/);
    writeFileSync(path.join(dir, '2026-11-29T10-00-00Z.json'), JSON.stringify(run('2026-11-29T10:00:00.000Z', { hitUs: 38, missingTokenUs: 13, p99: 1, at10000: 9_999 })));
    const out = execFileSync(process.execPath, [tool, dir, '--split-us', '40'], { encoding: 'utf8' });
    assert.match(out, /^\| run \(UTC\) \| git \|/);
    assert.match(out, /\| 2026-11-29 10:00 \| abcdef1 \|/);
    assert.match(out, /kept in 1 of 1 runs at most 40 µs/);
    const bad = spawnSync(process.execPath, [tool, dir, '--split-us', 'x'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--split-us takes a positive number/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

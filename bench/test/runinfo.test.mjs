// node --test bench/test/: which runs may refresh bench/results/latest.* and how a run is labelled.
import test from 'node:test';
import assert from 'node:assert/strict';
import { overrides, runLabel, refreshesLatest, MEASUREMENT_VARS } from '../lib/runinfo.mjs';
import { markdown } from '../lib/report.mjs';

test('a full run with every default refreshes latest; any measurement override makes it custom and it does not', () => {
  assert.equal(refreshesLatest('full', {}), true);
  assert.deepEqual(overrides({}), {});
  assert.equal(runLabel('full', overrides({})), 'full');
  // The reviewer's case: a partial run rewrote latest.* titled "(full)".
  const partial = { BENCH_PEERS: 'jwtgate,haproxy', BENCH_SCENARIOS: 'cache-hit', BENCH_DURATION: '1' };
  assert.equal(refreshesLatest('full', partial), false);
  assert.deepEqual(overrides(partial), partial);
  assert.equal(runLabel('full', overrides(partial)), 'custom');
  for (const k of ['BENCH_RATES', 'BENCH_WARMUP', 'BENCH_OPEN_DURATION', 'BENCH_LOAD_PROCS', 'BENCH_ORDER', 'BENCH_JWTGATE_ARGS', 'BENCH_JWTGATE_NODE_ARGS', 'BENCH_JWTGATE_MODES', 'BENCH_FIXED_TOKENS', 'BENCH_TOKENS', 'BENCH_CONNECTIONS', 'BENCH_CPUS']) {
    assert.equal(refreshesLatest('full', { [k]: 'x' }), false, k);
  }
  // Output and setup settings do not change what is measured.
  for (const k of ['BENCH_KEEP_TMP', 'BENCH_NO_BUILD', 'BENCH_NO_INSTALL']) assert.equal(refreshesLatest('full', { [k]: '1' }), true, k);
  assert.equal(refreshesLatest('full', { BENCH_PEERS: '' }), true, 'an empty variable is the default');
});

test('every BENCH_ variable the harness reads is either a measurement setting or known not to be one', async () => {
  const { readFileSync, readdirSync } = await import('node:fs');
  const path = await import('node:path');
  const dir = path.join(import.meta.dirname, '..');
  const files = ['run.mjs', ...readdirSync(path.join(dir, 'lib')).map((f) => `lib/${f}`), ...readdirSync(path.join(dir, 'peers')).filter((f) => f.endsWith('.mjs')).map((f) => `peers/${f}`)];
  const seen = new Set();
  for (const f of files) for (const m of readFileSync(path.join(dir, f), 'utf8').matchAll(/\bBENCH_[A-Z_]+[A-Z]\b/g)) seen.add(m[0]);
  const neutral = new Set(['BENCH_OUT', 'BENCH_LATEST', 'BENCH_NO_LATEST', 'BENCH_KEEP_TMP', 'BENCH_NO_BUILD', 'BENCH_NO_INSTALL', 'BENCH_LOAD_CONFIG']);
  for (const v of seen) assert.ok(MEASUREMENT_VARS.includes(v) || neutral.has(v), `${v}: add it to MEASUREMENT_VARS (or to the neutral list here)`);
});

test('quick, smoke, BENCH_OUT, BENCH_LATEST and BENCH_NO_LATEST', () => {
  assert.equal(refreshesLatest('quick', {}), false);
  assert.equal(refreshesLatest('smoke', {}), false);
  assert.equal(refreshesLatest('full', { BENCH_OUT: '/tmp/x' }), false);
  assert.equal(refreshesLatest('full', { BENCH_PEERS: 'jwtgate', BENCH_LATEST: '1' }), true, 'forced');
  assert.equal(refreshesLatest('full', { BENCH_NO_LATEST: '1' }), false);
  assert.equal(refreshesLatest('full', { BENCH_LATEST: '1', BENCH_NO_LATEST: '1' }), false, 'NO_LATEST wins');
  assert.equal(runLabel('quick', { BENCH_PEERS: 'jwtgate' }), 'quick, custom');
  assert.equal(runLabel('quick', {}), 'quick');
});

test('a custom run\'s report says so in its title and lists the overrides', () => {
  const meta = { timestamp: 't', mode: 'full', label: 'custom', overrides: { BENCH_PEERS: 'jwtgate', BENCH_DURATION: '1' }, cores: 2, cpuModel: 'x', memGiB: 1, os: 'linux', node: 'v20', git: { sha: 'abc' }, peers: [], skipped: [], load: { autocannon: '8', procs: 1, connections: 64 }, durations: { warmup: 2, closed: 1, open: 1 }, tokens: 20, order: 'interleaved', cpus: { description: 'shared' } };
  const md = markdown({ meta, scenarios: [], results: [] });
  assert.match(md.split('\n')[0], /\(custom\)$/);
  assert.match(md, /`BENCH_PEERS=jwtgate`, `BENCH_DURATION=1`/);
  assert.match(markdown({ meta: { ...meta, label: undefined, overrides: undefined }, scenarios: [], results: [] }).split('\n')[0], /\(full\)$/, 'older reports have no label');
});

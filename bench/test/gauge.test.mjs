// The machine-speed gauge each run records (bench/lib/gauge.mjs), and where the report shows it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { pageTableIsolation, syscallMicros } from '../lib/gauge.mjs';
import { markdown } from '../lib/report.mjs';

test('syscallMicros: a positive µs figure from a real dd, null when dd fails or is missing', () => {
  const us = syscallMicros(20_000);
  assert.equal(typeof us, 'number');
  assert.ok(us > 0 && us < 1000, `${us} µs per call`);
  assert.equal(syscallMicros(10, () => ({ status: 1 })), null);
  assert.equal(syscallMicros(10, () => ({ error: new Error('ENOENT'), status: null })), null);
});

test('pageTableIsolation: the kernel\'s line, trimmed; null where the file is missing', () => {
  assert.equal(pageTableIsolation(() => 'Mitigation: PTI\n'), 'Mitigation: PTI');
  assert.equal(pageTableIsolation(() => { throw new Error('ENOENT'); }), null);
});

test('the report names the gauge at the start and the end of the run, and the kernel\'s mitigation; older runs without it show no line', () => {
  const meta = { timestamp: 't', mode: 'full', cores: 2, cpuModel: 'x', memGiB: 1, os: 'linux', node: 'v20', git: { sha: 'abc' }, peers: [], skipped: [], load: { autocannon: '8', procs: 1, connections: 64 }, durations: { warmup: 2, closed: 8, open: 8 }, tokens: 20, order: 'interleaved', cpus: { description: 'shared' } };
  const line = (m) => markdown({ meta: m, scenarios: [], results: [] }).split('\n').find((l) => l.startsWith('- Machine speed:'));
  assert.equal(line({ ...meta, syscallUs: { start: 1.274, end: 0.9 }, meltdown: 'Mitigation: PTI' }), '- Machine speed: 1.27 / 0.90 µs per system call (a 1-byte read or write, `dd`, at the start / end of the run; bench/lib/gauge.mjs); kernel: Mitigation: PTI, to compare machines between runs.');
  assert.match(line({ ...meta, syscallUs: { start: null, end: 2 }, meltdown: null }), /^- Machine speed: n\/a \/ 2\.00 µs per system call .*bench\/lib\/gauge\.mjs\), to compare/);
  assert.equal(line(meta), undefined);
});

// node --test bench/test/: the interval a closed-loop run's req/s and CPU figures cover starts
// when requests begin, not when autocannon starts building its clients (with 20,000 rotated
// tokens that took ~0.2 s of an 8 s run, counted as time without requests). Against a local
// node:http server, no peers.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startLoad, merge } from '../lib/load.mjs';

// Resolved as bench/lib resolves it: bench/node_modules if the harness installed it, else the root's (a dev dependency).
const hdr = createRequire(import.meta.url)('hdr-histogram-js');

function server() {
  const seen = [];
  const s = http.createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.end('{}');
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve({ s, seen, url: `http://127.0.0.1:${s.address().port}` })));
}

test('closed loop: req/s over the time from autocannon\'s start to its end; CPU meters started then', async () => {
  const { s, url } = await server();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-test-'));
  const file = path.join(dir, 'tokens.txt');
  // Long tokens, as real ones: building their requests is what autocannon spends its set-up on.
  writeFileSync(file, Array.from({ length: 20_000 }, (_, i) => `tok-${i}-${'x'.repeat(560)}`).join('\n') + '\n');
  const load = await startLoad({ kind: 'closed', procs: 1, connections: 16, url, path: '/headers', tokensFile: file, tokenCount: 20_000, timeoutSec: 5 });
  try {
    let startedAt;
    const t0 = performance.now();
    const r = await load.run(1, () => (startedAt = performance.now()));
    const t1 = performance.now();
    assert.ok(startedAt !== undefined, 'onStart was called');
    assert.ok(startedAt > t0 && startedAt < t1);
    // autocannon stops at its first 1 s tick after the duration: the measured interval is ~1 s.
    assert.ok(r.durationSec > 0.9 && r.durationSec < 1.15, `measured ${r.durationSec} s`);
    assert.ok(r.autocannonDurationSec > r.durationSec, `autocannon's ${r.autocannonDurationSec} s includes its set-up, the measured ${r.durationSec} s does not`);
    // The parent's meters ran from onStart to the end: about the measured interval, not the set-up.
    const metered = (t1 - startedAt) / 1000;
    assert.ok(Math.abs(metered - r.durationSec) < 0.1, `metered ${metered} s vs measured ${r.durationSec} s`);
    assert.ok(r.firstResponseMs >= 0 && r.firstResponseMs < 200, `first response ${r.firstResponseMs} ms after the start`);
    assert.ok(r.completed > 0);
    r.histogram.destroy?.();
  } finally {
    await load.close();
    s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('several load processes: the interval runs from the first start to the last end', () => {
  const h = hdr.build({ bitBucketSize: 64, lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
  h.recordValue(1000);
  const latency = hdr.encodeIntoCompressedBase64(h);
  const one = { completed: 10, statusCodes: { 200: 10 }, durationSec: 1, startMs: 1000, endMs: 2000, autocannonDurationSec: 1.2, cpuPct: 50, latency };
  const two = { completed: 10, statusCodes: { 200: 10 }, durationSec: 1, startMs: 1100, endMs: 2100, autocannonDurationSec: 1.3, cpuPct: 50, latency };
  const m = merge([one, two]);
  assert.equal(m.durationSec, 1.1);
  assert.equal(m.autocannonDurationSec, 1.3);
  assert.equal(m.completed, 20);
  assert.equal(m.histogram.totalCount, 2);
  assert.equal(merge([one]).durationSec, 1, 'one process: its own interval');
});

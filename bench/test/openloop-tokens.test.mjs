// node --test bench/test/: with BENCH_FIXED_TOKENS=rotate, the open-loop generator's token rotation
// goes on across the warm-up and the measured run (and into the next process), as the closed-loop
// one does: it restarted at the first token, so the measured run re-sent the warm-up's tokens,
// which jwtgate's cache had just stored. Against a local node:http server, no peers.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLoad } from '../lib/load.mjs';

test('open loop: each run continues the token rotation where the last one stopped', async () => {
  let seen = [];
  const s = http.createServer((req, res) => {
    seen.push(req.headers.authorization?.slice('Bearer '.length));
    res.end('{}');
  });
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${s.address().port}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-test-'));
  const file = path.join(dir, 'tokens.txt');
  const N = 1000;
  writeFileSync(file, Array.from({ length: N }, (_, i) => `t${i}`).join('\n') + '\n');
  const opts = { kind: 'open', rate: 400, connections: 4, url, path: '/headers', tokensFile: file, tokenCount: N, timeoutSec: 5 };
  const idx = (list) => list.map((t) => Number(t.slice(1)));
  try {
    await rotation(opts, idx, () => seen, (v) => (seen = v));
  } finally {
    s.close();
    s.closeAllConnections?.();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function rotation(opts, idx, get, set) {
  let load = await startLoad(opts);
  try {
    const warm = await load.run(0.5);
    const warmSeen = idx(get());
    set([]);
    const measured = await load.run(0.5);
    const measuredSeen = idx(get());
    set([]);
    assert.equal(warmSeen.length, 200);
    assert.equal(measuredSeen.length, 200);
    assert.deepEqual([...warmSeen].sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i), 'the warm-up starts at the first token');
    assert.deepEqual([...measuredSeen].sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => 200 + i), 'the measured run goes on from there: no token sent twice');
    assert.equal(warm.tokenStart, 200);
    assert.equal(measured.tokenStart, 400);
    warm.histogram.destroy?.();
    measured.histogram.destroy?.();
  } finally {
    await load.close();
  }
  // A new process (the next measurement on the same peer) starts where the last one stopped, and wraps.
  load = await startLoad({ ...opts, tokenStart: 900 });
  try {
    const r = await load.run(0.5);
    assert.deepEqual(idx(get()).sort((a, b) => a - b), [...Array.from({ length: 100 }, (_, i) => i), ...Array.from({ length: 100 }, (_, i) => 900 + i)]);
    assert.equal(r.tokenStart, 100);
    r.histogram.destroy?.();
  } finally {
    await load.close();
  }
}

test('open loop with one token: no rotation to report', async () => {
  const s = http.createServer((req, res) => res.end('{}'));
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const load = await startLoad({ kind: 'open', rate: 200, connections: 2, url: `http://127.0.0.1:${s.address().port}`, token: 'one', timeoutSec: 5 });
  try {
    const r = await load.run(0.2);
    assert.equal(r.tokenStart, undefined);
    r.histogram.destroy?.();
  } finally {
    await load.close();
    s.close();
    s.closeAllConnections?.();
  }
});

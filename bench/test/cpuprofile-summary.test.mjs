// node --test bench/test/: tools/cpuprofile-summary.mjs on a synthetic .cpuprofile.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize } from '../tools/cpuprofile-summary.mjs';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '../tools/cpuprofile-summary.mjs');
const APP = 'file:///app/dist/src';
const NM = 'file:///app/node_modules';

// id -> [functionName, url, parent id, self µs]
const FRAMES = {
  1: ['(root)', '', 0, 0],
  2: ['(idle)', '', 1, 4000],
  3: ['(garbage collector)', '', 1, 100],
  4: ['(program)', '', 1, 50],
  5: ['onRequest', `${APP}/http/server.js`, 1, 200],
  6: ['write', `${APP}/http/server.js`, 5, 300], // a uWS call: its native time is in its own self time
  7: ['checkToken', `${APP}/auth/authenticator.js`, 5, 150],
  8: ['decode', 'node:buffer', 7, 50], // Node internals under jwtgate's auth
  9: ['dispatch', `${NM}/undici/lib/dispatcher/client.js`, 5, 100],
  10: ['writeGeneric', 'node:internal/stream_base_commons', 9, 20],
  11: ['writeLatin1String', '', 10, 400], // native two levels under undici
  12: ['wasm-function[20]', 'wasm://wasm/00034eea', 9, 30],
  13: ['postTask', `${NM}/piscina/dist/worker_pool/index.js`, 7, 250],
  14: ['atomicsWaitLoop', `${NM}/piscina/dist/worker.js`, 1, 5000], // blocked: idle
  15: ['receiveMessageOnPort', 'node:internal/worker/io', 14, 40],
  16: ['from', `${NM}/@scope/pkg/index.js`, 1, 10],
  17: ['emit', 'node:events', 1, 60], // no caller with a group
};

function profile() {
  const nodes = Object.entries(FRAMES).map(([id, [functionName, url]]) => ({
    id: Number(id),
    callFrame: { functionName, url, lineNumber: 0, columnNumber: 0, scriptId: '0' },
    children: Object.entries(FRAMES).filter(([, f]) => f[2] === Number(id)).map(([c]) => Number(c)),
  }));
  const samples = [];
  const timeDeltas = [];
  // Interleaved samples of 10 µs each, as a real profile is.
  const left = new Map(Object.entries(FRAMES).map(([id, f]) => [Number(id), f[3]]));
  while ([...left.values()].some((v) => v > 0)) {
    for (const [id, v] of left) {
      if (v <= 0) continue;
      samples.push(id);
      timeDeltas.push(10);
      left.set(id, v - 10);
    }
  }
  return { nodes, startTime: 0, endTime: timeDeltas.length * 10, samples, timeDeltas };
}

test('self time by group: packages, jwtgate directories, natives to their caller, waits as idle', () => {
  const s = summarize(profile());
  assert.equal(s.idleUs, 4000 + 5000);
  assert.equal(s.busyUs, 1760); // the self µs of every frame above but (idle) and atomicsWaitLoop
  assert.deepEqual(Object.fromEntries(s.groups), {
    'jwtgate src/http': 500,
    'undici (node/native)': 450,
    'piscina': 250,
    'jwtgate src/auth': 150,
    'GC': 100,
    'undici': 100,
    'node/native (no caller with a group)': 60,
    'jwtgate src/auth (node/native)': 50,
    'program (V8/native, no JS frame)': 50,
    'piscina (node/native)': 40,
    '@scope/pkg': 10,
  });
  assert.deepEqual(s.functions[0], ['writeLatin1String', 'undici (node/native)', 400]);
  assert.deepEqual(s.functions[1], ['write http/server.js:1', 'jwtgate src/http', 300]);
  assert.ok(!s.functions.some(([f]) => f.startsWith('atomicsWaitLoop')), 'a blocked wait is not work');
});

test('the CLI scales shares to a measured µs per request, and refuses what is not a profile', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cpuprofile-summary-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'main.cpuprofile');
  writeFileSync(file, JSON.stringify(profile()));
  const ok = spawnSync(process.execPath, [script, file, '--us-per-request', '18.1', '--top', '2'], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  // busy 1760 of 10760 µs; jwtgate src/http is 500/1760 of 18.1 µs = 5.1 µs.
  assert.match(ok.stdout, /^0\.01 s profiled, 16\.4% busy$/m);
  assert.match(ok.stdout, /^ 28\.4%    5\.1 µs  jwtgate src\/http$/m);
  assert.match(ok.stdout, /^ 22\.7%    4\.1 µs  writeLatin1String  \[undici \(node\/native\)\]$/m);
  assert.doesNotMatch(ok.stdout, /emit/, '--top 2 lists two functions');

  writeFileSync(path.join(dir, 'other.json'), '{"nodes":[]}');
  const bad = spawnSync(process.execPath, [script, path.join(dir, 'other.json')], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /other\.json: not a V8 \.cpuprofile/);
  const badScale = spawnSync(process.execPath, [script, file, '--us-per-request', 'fast'], { encoding: 'utf8' });
  assert.equal(badScale.status, 2);
  assert.match(badScale.stderr, /--us-per-request must be a positive number, not "fast"/);
});

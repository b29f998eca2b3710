// node --test bench/test/: tools/gc-survival.mjs in a process that keeps what it allocates
// against one that drops it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const tool = path.join(path.dirname(fileURLToPath(import.meta.url)), '../tools/gc-survival.mjs');
const { summarize } = await import(tool);

/** Runs a script that allocates 100,000 small objects per turn for 40 turns, keeping each one or none. */
function run(dir, name, keep) {
  const out = path.join(dir, `${name}.json`);
  const script = `
    const kept = [];
    let turn = 0;
    let last;
    const step = () => {
      for (let i = 0; i < 100000; i++) {
        last = { i, s: 'x' + i };
        if (${keep}) kept.push(last);
      }
      if (++turn < 40) setImmediate(step);
    };
    setImmediate(step);`;
  execFileSync(process.execPath, ['--import', tool, '-e', script], { env: { ...process.env, GC_SURVIVAL: out, GC_SURVIVAL_AFTER_MS: '0' } });
  return JSON.parse(readFileSync(out, 'utf8'));
}

test('a process that keeps what it allocates shows it survived and promoted; one that drops it does not', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gc-survival-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const drops = run(dir, 'drops', false);
  const keeps = run(dir, 'keeps', true);
  for (const s of [drops, keeps]) {
    assert.ok(s.scavenges > 5, JSON.stringify(s));
    assert.ok(s.allocatedKB > 500, JSON.stringify(s));
    assert.ok(s.costUs > 0, JSON.stringify(s));
  }
  // Everything kept is promoted in the end; nothing kept, next to nothing.
  assert.ok(keeps.promotedKB > 10 * Math.max(1, drops.promotedKB), `${JSON.stringify(keeps)} vs ${JSON.stringify(drops)}`);
  assert.ok(keeps.survivedKB > 2 * drops.survivedKB, `${JSON.stringify(keeps)} vs ${JSON.stringify(drops)}`);
});

test('without GC_SURVIVAL the preload writes nothing and changes nothing', () => {
  const out = execFileSync(process.execPath, ['--import', tool, '-e', 'console.log("ok")'], { encoding: 'utf8', env: { ...process.env, GC_SURVIVAL: '' } });
  assert.equal(out, 'ok\n');
});

test('the summary: per scavenge, young bytes before and after, old and large-object growth; other GCs counted apart', () => {
  const spaces = (young, old, large) => ({
    heapSpaceStatistics: [
      { spaceName: 'new_space', spaceUsedSize: young },
      { spaceName: 'new_large_object_space', spaceUsedSize: 0 },
      { spaceName: 'old_space', spaceUsedSize: old },
      { spaceName: 'large_object_space', spaceUsedSize: large },
    ],
  });
  const s = summarize([
    { gcType: 'Scavenge', cost: 1000, beforeGC: spaces(8e6, 10e6, 1e6), afterGC: spaces(0.2e6, 10.1e6, 1.1e6) },
    { gcType: 'MarkSweepCompact', cost: 9000, beforeGC: spaces(1e6, 20e6, 1e6), afterGC: spaces(0, 5e6, 1e6) },
    { gcType: 'Scavenge', cost: 3000, beforeGC: spaces(6e6, 5e6, 1e6), afterGC: spaces(0.4e6, 5e6, 1e6) },
  ]);
  // Promoted: (0.1 + 0.1) MB, then 0, over 2 scavenges; the major GC's shrink is not counted.
  assert.deepEqual(s, { scavenges: 2, costUs: 2000, allocatedKB: 7000, survivedKB: 300, promotedKB: 100, majors: 1 });
  assert.deepEqual(summarize([]), { scavenges: 0, costUs: null, allocatedKB: null, survivedKB: null, promotedKB: null, majors: 0 });
});

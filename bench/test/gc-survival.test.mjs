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

// node --test bench/test/: tools/tail-gc.mjs on a synthetic trace and GC log.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '../tools/tail-gc.mjs');

test('counts the tail requests in flight during a GC, on the monotonic clock of both files', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tail-gc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const t0 = 5000;
  const lines = [`# t0_monotonic_ms ${t0}`, 'intended_ms\tsend_delay_ms\tservice_ms'];
  // 1,000 requests every 0.5 ms, 0.3 ms each; requests 100..104 (intended 50..52 ms) wait for a
  // 3 ms pause ending at 53 ms; requests 600..604 (300..302 ms) for one ending at 303 ms.
  for (let i = 0; i < 1000; i++) {
    const intended = i * 0.5;
    let service = 0.2;
    if (i >= 100 && i < 105) service = 53 - intended - 0.1;
    if (i >= 600 && i < 605) service = 303 - intended - 0.1;
    lines.push(`${intended.toFixed(3)}\t0.100\t${service.toFixed(3)}`);
  }
  lines.push('500.000\t-\t-'); // never answered: ignored
  writeFileSync(path.join(dir, 'trace.tsv'), lines.join('\n') + '\n');
  // A GC over the first pause only (t0 + 50..53 ms), and one long before the run.
  writeFileSync(path.join(dir, 'gc.tsv'), `start_monotonic_ms\tduration_ms\tkind\n100.000\t2.000\t1\n${t0 + 50}\t3.000\t1\n`);
  const out = execFileSync(process.execPath, [script, path.join(dir, 'trace.tsv'), path.join(dir, 'gc.tsv'), '1'], { encoding: 'utf8' });
  assert.match(out, /run: 1000 completed requests/);
  assert.match(out, /GCs during the run: 1 \(by kind \{"1":1\}\), 3\.00 ms/);
  assert.match(out, /tail \(≥ 1\.000 ms\): 10 requests, 5 of them in flight during a GC/);
});

test('a file without the t0 line is refused with a clear message', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tail-gc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'trace.tsv'), 'intended_ms\tsend_delay_ms\tservice_ms\n0\t0.1\t0.2\n');
  writeFileSync(path.join(dir, 'gc.tsv'), 'start_monotonic_ms\tduration_ms\tkind\n');
  assert.throws(
    () => execFileSync(process.execPath, [script, path.join(dir, 'trace.tsv'), path.join(dir, 'gc.tsv')], { encoding: 'utf8', stdio: 'pipe' }),
    (err) => err.status === 2 && /no "# t0_monotonic_ms" first line/.test(String(err.stderr)),
  );
});

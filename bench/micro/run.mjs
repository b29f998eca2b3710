#!/usr/bin/env node
// Micro-benchmarks of jwtgate's hot functions (npm run bench:micro):
//   node bench/micro/run.mjs [FILTER]     FILTER: substring of "section name" to run only some rows
//   QUICK=1 for shorter samples; MICRO_SAMPLE_MS / MICRO_SAMPLES to tune.
// Runs every bench/micro/*.bench.mjs in name order; each imports jwtgate's compiled modules from
// dist/ (built first when missing or older than src/) and skips, with the reason, what is not built.
// Writes bench/results/micro-latest.json and .md (or MICRO_OUT=DIR); a FILTER or QUICK=1 run
// writes micro-partial.* instead, so the full table the README quotes is not overwritten.
import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureBuilt } from '../lib/setup.mjs';
import { createRunner, root, fmtNs } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2];
const log = (m) => process.stdout.write(`[micro] ${m}\n`);
if (process.env.BENCH_NO_BUILD !== '1') {
  const built = ensureBuilt(root, log);
  if (!built.ok) log(`jwtgate not built (${built.reason}): its rows are skipped`);
}
const runner = createRunner({ filter });
log(`Node ${process.version}, ${os.availableParallelism?.() ?? os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})`);
for (const f of readdirSync(here).filter((f) => f.endsWith('.bench.mjs')).sort()) {
  const mod = await import(pathToFileURL(path.join(here, f)).href);
  try {
    await mod.default(runner);
  } catch (err) {
    log(`${f} failed: ${err.stack ?? err}`);
    process.exitCode = 1;
  }
}
const outDir = process.env.MICRO_OUT ?? path.join(here, '../results');
mkdirSync(outDir, { recursive: true });
let git = { sha: 'unknown', dirty: false };
try {
  git = {
    sha: execFileSync('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(),
    dirty: execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no', '--', 'src', 'workers', 'bench'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '',
  };
} catch {
  /* not a git checkout */
}
const meta = { timestamp: new Date().toISOString(), node: process.version, cores: os.availableParallelism?.() ?? os.cpus().length, cpuModel: os.cpus()[0]?.model, git, ...(filter ? { filter } : {}), quick: process.env.QUICK === '1' };
// A filtered or quick run is not the table the README quotes: written beside it, not over it.
const base = filter || meta.quick ? 'micro-partial' : 'micro-latest';
writeFileSync(path.join(outDir, `${base}.json`), JSON.stringify({ meta, rows: runner.rows }, null, 1) + '\n');
const md = [`# jwtgate micro-benchmarks (${meta.timestamp})`, '', `Node ${meta.node}, ${meta.cores} cores (${meta.cpuModel}); jwtgate git ${git.sha}${git.dirty ? ' (uncommitted changes)' : ''}${filter ? `; only rows matching "${filter}"` : ''}${meta.quick ? '; QUICK=1 (short samples)' : ''}. Median of several samples; ± is half the min–max spread.`, ''];
let section;
for (const r of runner.rows) {
  if (r.section !== section) {
    section = r.section;
    md.push('', `## ${section}`, '', '| benchmark | time/op | ops/s | items/s | ± |', '|---|--:|--:|--:|--:|');
  }
  if (r.skipped) md.push(`| ${r.name} | skipped: ${r.skipped} | | | |`);
  else md.push(`| ${r.name}${r.note ? ` (${r.note})` : ''} | ${fmtNs(r.nsPerOp)} | ${Math.round(r.opsPerSec).toLocaleString('en-US')} | ${r.itemsPerSec && r.itemsPerSec !== r.opsPerSec ? Math.round(r.itemsPerSec).toLocaleString('en-US') : ''} | ${r.spreadPct.toFixed(1)}% |`);
}
writeFileSync(path.join(outDir, `${base}.md`), md.join('\n') + '\n');
log(`wrote ${path.join(outDir, `${base}.md`)}`);
process.exit(process.exitCode ?? 0);

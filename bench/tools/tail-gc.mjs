#!/usr/bin/env node
// How much of a fixed-rate run's tail a peer's GC explains:
//   node bench/tools/tail-gc.mjs TRACE.tsv GC.tsv [THRESHOLD_MS]
// TRACE.tsv from BENCH_OPEN_TRACE, GC.tsv from tools/gc-log.mjs (both on the monotonic clock).
// Prints the GCs during the run and how many requests at or above the threshold (default: the
// run's p99) were in flight while one ran.
import { readFileSync } from 'node:fs';
import { p99Of } from '../lib/stalls.mjs';

const [traceFile, gcFile, thresholdArg] = process.argv.slice(2);
if (!traceFile || !gcFile) {
  console.error('usage: node bench/tools/tail-gc.mjs TRACE.tsv GC.tsv [THRESHOLD_MS]');
  process.exit(2);
}
if (thresholdArg !== undefined && !(Number(thresholdArg) > 0)) {
  console.error(`THRESHOLD_MS must be a positive number of milliseconds, not ${JSON.stringify(thresholdArg)}`);
  process.exit(2);
}
const traceLines = readFileSync(traceFile, 'utf8').trim().split('\n');
const t0 = Number(/^# t0_monotonic_ms (\S+)/.exec(traceLines[0] ?? '')?.[1]);
if (!Number.isFinite(t0)) {
  console.error(`${traceFile}: no "# t0_monotonic_ms" first line (not a BENCH_OPEN_TRACE file?)`);
  process.exit(2);
}
// [intended, done] in monotonic ms, completed requests only.
const reqs = [];
for (const line of traceLines.slice(2)) {
  const [intended, lag, service] = line.split('\t');
  if (lag === '-') continue;
  const start = t0 + Number(intended);
  reqs.push([start, start + Number(lag) + Number(service)]);
}
const gcs = readFileSync(gcFile, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t').map(Number));
// A loop, not Math.max(...): spreading a long run's requests (over ~120,000) overflows the stack.
let end = -Infinity;
for (const [, done] of reqs) if (done > end) end = done;
const during = gcs.filter(([s, d]) => s + d >= t0 && s <= end);
const threshold = thresholdArg ? Number(thresholdArg) : p99Of(reqs.map(([a, b]) => b - a));
const tail = reqs.filter(([a, b]) => b - a >= threshold);
const hit = tail.filter(([a, b]) => during.some(([s, d]) => s < b && s + d > a));
const kinds = {};
for (const [, , k] of during) kinds[k] = (kinds[k] ?? 0) + 1;
console.log(`run: ${reqs.length} completed requests over ${((end - t0) / 1000).toFixed(1)} s`);
console.log(`GCs during the run: ${during.length} (by kind ${JSON.stringify(kinds)}), ${during.map(([, d]) => d.toFixed(2)).join(' ')} ms`);
console.log(`tail (≥ ${threshold.toFixed(3)} ms): ${tail.length} requests, ${hit.length} of them in flight during a GC`);

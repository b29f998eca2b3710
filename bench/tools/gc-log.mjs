// Preload for a Node process (`node --import ./bench/tools/gc-log.mjs …`): records every GC with
// its start on the monotonic clock (process.hrtime, ms; the clock of BENCH_OPEN_TRACE files) and
// writes them to $GC_LOG (TSV: start_monotonic_ms, duration_ms, kind) when the process exits.
// For the harness: BENCH_JWTGATE_NODE_ARGS="--import ./bench/tools/gc-log.mjs" GC_LOG=/tmp/gc.tsv.
// kind: 1 minor (scavenge), 2 major (mark-compact), 4 incremental marking, 8 weak callbacks.
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';

const file = process.env.GC_LOG;
if (file) {
  // performance.now() and process.hrtime run on the same clock from different origins.
  const offset = Number(process.hrtime.bigint()) / 1e6 - performance.now();
  const rows = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) rows.push(`${(e.startTime + offset).toFixed(3)}\t${e.duration.toFixed(3)}\t${e.detail?.kind ?? ''}`);
  }).observe({ entryTypes: ['gc'] });
  process.on('exit', () => writeFileSync(file, `start_monotonic_ms\tduration_ms\tkind\n${rows.join('\n')}\n`));
}

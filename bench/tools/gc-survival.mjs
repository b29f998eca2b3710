// Preload for a Node process (`node --import ./bench/tools/gc-survival.mjs …`): what each of its
// scavenges (V8's young-generation GCs) found still alive, from v8.GCProfiler, and writes a
// summary to $GC_SURVIVAL (one JSON line) when the process exits. A request path whose objects
// die with their request leaves little to copy: the survivors are the requests in flight. More
// than that (objects kept past their request, by a callback or by an old object that points at
// them) is copied, then promoted, and makes every scavenge slower and major GCs more frequent.
//
// For jwtgate under a load, by cpu.mjs (whose warm-up is 2 s; the first GC_SURVIVAL_AFTER_MS of
// the process, 3,000 by default, are left out: start-up and warm-up):
//   GC_SURVIVAL=/tmp/s.json BENCH_JWTGATE_NODE_ARGS="--import ./bench/tools/gc-survival.mjs" \
//     node bench/cpu.mjs --scenario cache-hit --dist DIR
// Fields: scavenges and their mean cost (µs); per scavenge, the mean young-generation bytes found
// (allocatedKB: what was allocated since the one before), left (survivedKB, copied within the
// young generation or promoted) and moved to the old generation (promotedKB); majors: the other GCs.
import v8 from 'node:v8';
import { writeFileSync } from 'node:fs';

const file = process.env.GC_SURVIVAL;
if (file) {
  const afterMs = Number(process.env.GC_SURVIVAL_AFTER_MS ?? 3000);
  let profiler;
  const start = () => {
    profiler = new v8.GCProfiler();
    profiler.start();
  };
  if (afterMs > 0) setTimeout(start, afterMs).unref();
  else start();
  process.on('exit', () => {
    const r = profiler?.stop();
    writeFileSync(file, `${JSON.stringify(summarize(r?.statistics ?? []))}\n`);
  });
}

/** The summary of v8.GCProfiler statistics (exported for the test). */
export function summarize(statistics) {
  const used = (s, name) => s.heapSpaceStatistics.find((x) => x.spaceName === name)?.spaceUsedSize ?? 0;
  const oldBytes = (s) => used(s, 'old_space') + used(s, 'large_object_space');
  const young = (s) => used(s, 'new_space') + used(s, 'new_large_object_space');
  let n = 0, cost = 0, allocated = 0, survived = 0, promoted = 0, majors = 0;
  for (const g of statistics) {
    if (g.gcType !== 'Scavenge') {
      majors++;
      continue;
    }
    n++;
    cost += g.cost;
    allocated += young(g.beforeGC);
    survived += young(g.afterGC);
    promoted += Math.max(0, oldBytes(g.afterGC) - oldBytes(g.beforeGC));
  }
  const per = (x, unit) => (n === 0 ? null : Math.round(x / n / unit));
  return { scavenges: n, costUs: per(cost, 1), allocatedKB: per(allocated, 1e3), survivedKB: per(survived, 1e3), promotedKB: per(promoted, 1e3), majors };
}

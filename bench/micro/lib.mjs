// A tiny micro-benchmark kit (no dependencies): calibrated loops, several samples, median.
// Each bench/micro/*.bench.mjs exports `default async function (b)` and calls b.section(),
// b.sync(), b.async(), b.skip() and b.dist() (imports a compiled jwtgate module, or records why not).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

// The jwtgate checkout whose dist/ is measured (this one unless BENCH_JWTGATE_ROOT says otherwise).
export const root = path.resolve(process.env.BENCH_JWTGATE_ROOT ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'));

const QUICK = process.env.QUICK === '1' || process.env.SMOKE === '1';
const SAMPLE_MS = Number(process.env.MICRO_SAMPLE_MS ?? (QUICK ? 40 : 150));
const SAMPLES = Number(process.env.MICRO_SAMPLES ?? (QUICK ? 3 : 7));

let sink = 0;
const consume = (v) => {
  // Keeps results alive so the JIT cannot drop the work.
  if (v === undefined || v === null) sink ^= 1;
  else if (typeof v === 'boolean') sink ^= v ? 2 : 4;
  else if (typeof v === 'number') sink ^= v | 0;
  else if (typeof v === 'string') sink ^= v.length;
  else sink ^= 8;
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timeLoop(fn, n) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) consume(fn(i));
  return Number(process.hrtime.bigint() - t);
}

export function createRunner({ filter } = {}) {
  const rows = [];
  let section = '';
  let printed = false;
  const want = (name) => {
    const yes = !filter || `${section} ${name}`.toLowerCase().includes(filter.toLowerCase());
    if (yes && !printed) {
      printed = true;
      process.stdout.write(`\n## ${section}\n`);
    }
    return yes;
  };
  return {
    rows,
    section(title) {
      section = title;
      printed = false;
    },
    /** fn(i) is called in a loop; ns/op is the median over SAMPLES samples of ~SAMPLE_MS each. */
    sync(name, fn, { note } = {}) {
      if (!want(name)) return;
      // warm-up and calibration
      let n = 1;
      for (;;) {
        const ns = timeLoop(fn, n);
        if (ns > SAMPLE_MS * 1e6 * 0.25 || n > 1e9) {
          n = Math.max(1, Math.round((n * SAMPLE_MS * 1e6) / Math.max(ns, 1)));
          break;
        }
        n *= 4;
      }
      const per = [];
      for (let s = 0; s < SAMPLES; s++) per.push(timeLoop(fn, n) / n);
      const ns = median(per);
      const spread = ((Math.max(...per) - Math.min(...per)) / ns) * 50;
      const row = { section, name, nsPerOp: ns, opsPerSec: 1e9 / ns, spreadPct: spread, note };
      rows.push(row);
      print(row);
      return row;
    },
    /**
     * fn(i) returns a promise. Keeps `concurrency` calls in flight for ~SAMPLE_MS per sample;
     * reports ops/s (throughput) and, for concurrency 1, the round-trip latency.
     * `itemsPerOp` scales ops/s to items/s for batched calls.
     */
    async async(name, fn, { concurrency = 1, itemsPerOp = 1, note } = {}) {
      if (!want(name)) return;
      const runFor = async (ms) => {
        let i = 0;
        let done = 0;
        const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
        const t0 = process.hrtime.bigint();
        const lane = async () => {
          while (process.hrtime.bigint() < end) {
            consume(await fn(i++));
            done++;
          }
        };
        await Promise.all(Array.from({ length: concurrency }, lane));
        return { done, ns: Number(process.hrtime.bigint() - t0) };
      };
      await runFor(Math.min(200, SAMPLE_MS * 2)); // warm-up
      const per = [];
      for (let s = 0; s < SAMPLES; s++) {
        const r = await runFor(SAMPLE_MS);
        per.push(r.ns / r.done);
      }
      const ns = median(per);
      const spread = ((Math.max(...per) - Math.min(...per)) / ns) * 50;
      const row = { section, name, nsPerOp: ns, opsPerSec: 1e9 / ns, itemsPerSec: (1e9 / ns) * itemsPerOp, concurrency, spreadPct: spread, note };
      rows.push(row);
      print(row);
      return row;
    },
    skip(name, reason) {
      if (!want(name)) return;
      const row = { section, name, skipped: reason };
      rows.push(row);
      process.stdout.write(`  ${name.padEnd(58)} skipped: ${reason}\n`);
    },
    /** Imports <root>/dist/<rel>; returns the module or undefined (and the reason in .why). */
    async dist(rel) {
      const file = path.join(root, 'dist', rel);
      if (!existsSync(file)) {
        this.why = `${path.join('dist', rel)} not built yet`;
        return undefined;
      }
      try {
        return await import(pathToFileURL(file).href);
      } catch (err) {
        this.why = `${path.join('dist', rel)} failed to load: ${err.message.split('\n')[0]}`;
        return undefined;
      }
    },
    why: '',
  };
}

function fmtNs(ns) {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}

function print(r) {
  const ops = r.itemsPerSec && r.itemsPerSec !== r.opsPerSec ? `${Math.round(r.opsPerSec).toLocaleString('en-US')} ops/s = ${Math.round(r.itemsPerSec).toLocaleString('en-US')} items/s` : `${Math.round(r.opsPerSec).toLocaleString('en-US')} ops/s`;
  process.stdout.write(`  ${r.name.padEnd(58)} ${fmtNs(r.nsPerOp).padStart(10)}/op  ${ops.padStart(18)}  ±${r.spreadPct.toFixed(1)}%${r.note ? `  (${r.note})` : ''}\n`);
}

export { fmtNs, sink };

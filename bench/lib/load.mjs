// Parent side of the load generators: starts K closed-loop autocannon processes (lib/load-proc.mjs)
// or one open-loop fixed-rate process (lib/openloop-proc.mjs), pinned with taskset when asked,
// runs them in lock-step (warm-up, then the measured run), merges their HDR histograms and
// reports what the generators themselves cost (their CPU), so a saturated generator is visible.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { spawnChild } from './proc.mjs';

const require = createRequire(import.meta.url);
const hdr = require('hdr-histogram-js');

const here = path.dirname(fileURLToPath(import.meta.url));

function request(handle, msg, timeoutMs, onStarted) {
  return new Promise((resolve, reject) => {
    const child = handle.child;
    const t = setTimeout(() => {
      cleanup();
      reject(new Error(`${handle.name}: no answer to ${msg.type} within ${timeoutMs} ms\n${handle.output()}`));
    }, timeoutMs);
    const onMsg = (m) => {
      if (m?.type === 'started') onStarted?.();
      else if (m?.type === 'done') {
        cleanup();
        resolve(m.result);
      } else if (m?.type === 'error') {
        cleanup();
        reject(new Error(`${handle.name}: ${m.message}`));
      }
    };
    const onExit = () => {
      cleanup();
      reject(new Error(`${handle.name} exited (${JSON.stringify(handle.exitedWith)})\n${handle.output()}`));
    };
    const cleanup = () => {
      clearTimeout(t);
      child.off('message', onMsg);
      child.off('exit', onExit);
    };
    child.on('message', onMsg);
    child.once('exit', onExit);
    if (msg) child.send(msg);
  });
}

function waitReady(handle, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${handle.name} not ready in ${timeoutMs} ms\n${handle.output()}`)), timeoutMs);
    handle.child.on('message', function onMsg(m) {
      if (m?.type === 'ready') {
        clearTimeout(t);
        handle.child.off('message', onMsg);
        resolve();
      }
    });
    handle.exited.then(() => {
      clearTimeout(t);
      reject(new Error(`${handle.name} exited before ready (${JSON.stringify(handle.exitedWith)})\n${handle.output()}`));
    });
  });
}

/**
 * Starts the generator processes for one (peer, scenario) and returns { run(durationSec), close() }.
 * opts: { kind: 'closed'|'open', procs, connections, url, path, tokensFile?, tokenCount?, token?,
 *         tokenStart? (closed: where each connection starts in its token share; open: where its
 *         one stream starts in the token list; the result's tokenStart is where the next load of
 *         the same kind should start), cpus?, rate? (open),
 *         maxConnections? (open), traceFile? (open), timeoutSec }
 */
export async function startLoad(opts) {
  const procs = opts.kind === 'open' ? 1 : Math.max(1, opts.procs ?? 1);
  const handles = [];
  try {
    for (let i = 0; i < procs; i++) {
      const per = Math.ceil((opts.tokenCount ?? 0) / procs);
      const cfg = {
        url: opts.url,
        path: opts.path ?? '/headers',
        connections: Math.max(1, Math.ceil(opts.connections / procs)),
        timeoutSec: opts.timeoutSec ?? 10,
        rate: opts.rate,
        maxConnections: opts.maxConnections,
        token: opts.token,
        tokensFile: opts.tokensFile,
        tokenFrom: opts.tokensFile ? i * per : undefined,
        tokenTo: opts.tokensFile ? Math.min(opts.tokenCount, (i + 1) * per) : undefined,
        tokenStart: opts.tokenStart ?? 0,
        traceFile: opts.traceFile,
      };
      const script = opts.kind === 'open' ? 'openloop-proc.mjs' : 'load-proc.mjs';
      const h = spawnChild(`load-${opts.kind}-${i}`, process.execPath, [path.join(here, script)], {
        env: { BENCH_LOAD_CONFIG: JSON.stringify(cfg) },
        cpus: opts.cpus,
        ipc: true,
      });
      handles.push(h);
    }
    await Promise.all(handles.map((h) => waitReady(h)));
  } catch (err) {
    await Promise.all(handles.map((h) => h.stop(500)));
    throw err;
  }
  return {
    procs,
    pids: handles.map((h) => h.pid),
    /**
     * One run. onStart() is called once, when the first generator says its requests begin (after
     * its set-up: autocannon builds every connection's requests first): the caller starts its
     * CPU meters there, so that they cover the interval the requests are counted over.
     */
    async run(durationSec, onStart) {
      let called = false;
      const started = () => {
        if (!called) {
          called = true;
          onStart?.();
        }
      };
      const results = await Promise.all(handles.map((h) => request(h, { type: 'run', duration: durationSec }, (durationSec + 30) * 1000, started)));
      started();
      return merge(results);
    },
    async close() {
      for (const h of handles) {
        try {
          h.child.send({ type: 'exit' });
        } catch {
          /* gone */
        }
      }
      await Promise.all(handles.map((h) => Promise.race([h.exited, new Promise((r) => setTimeout(r, 2000))])));
      await Promise.all(handles.map((h) => h.stop(500)));
    },
  };
}

/** Merges the per-process results: sums counts, adds histograms, keeps each generator's CPU. */
export function merge(results) {
  const hist = hdr.build({ bitBucketSize: 64, lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
  const out = { completed: 0, sent: 0, errors: 0, timeouts: 0, resets: 0, statusCodes: {}, durationSec: 0, loadCpuPct: [], extra: {} };
  for (const r of results) {
    out.completed += r.completed;
    out.sent += r.sent ?? 0;
    out.errors += r.errors ?? 0;
    out.timeouts += r.timeouts ?? 0;
    out.resets += r.resets ?? 0;
    for (const [k, v] of Object.entries(r.statusCodes ?? {})) out.statusCodes[k] = (out.statusCodes[k] ?? 0) + v;
    out.durationSec = Math.max(out.durationSec, r.durationSec ?? r.wallSec ?? 0);
    if (r.autocannonDurationSec !== undefined) out.autocannonDurationSec = Math.max(out.autocannonDurationSec ?? 0, r.autocannonDurationSec);
    if (r.firstResponseMs !== undefined) out.firstResponseMs = Math.max(out.firstResponseMs ?? 0, r.firstResponseMs);
    out.loadCpuPct.push(r.cpuPct);
    if (r.tokenStart !== undefined) out.tokenStart = Math.max(out.tokenStart ?? 0, r.tokenStart);
    if (r.extra) Object.assign(out.extra, r.extra);
    const h = hdr.decodeFromCompressedBase64(r.latency, 64, false);
    hist.add(h);
    h.destroy?.();
  }
  // Several closed-loop processes: the measured interval runs from the first one's start to the
  // last one's end (monotonic ms, the same clock in every process).
  if (results.length > 1 && results.every((r) => r.startMs !== undefined && r.endMs !== undefined)) {
    out.durationSec = (Math.max(...results.map((r) => r.endMs)) - Math.min(...results.map((r) => r.startMs))) / 1000;
  }
  out.histogram = hist;
  return out;
}

/** p50…max in milliseconds from a µs histogram, plus a percentile curve for the plot. */
export function summarize(hist, { curve = false } = {}) {
  if (!hist || hist.totalCount === 0) return { count: 0 };
  const ms = (us) => Math.round(us) / 1000;
  const s = {
    count: hist.totalCount,
    mean: Math.round(hist.mean) / 1000,
    p50: ms(hist.getValueAtPercentile(50)),
    p90: ms(hist.getValueAtPercentile(90)),
    p99: ms(hist.getValueAtPercentile(99)),
    p999: ms(hist.getValueAtPercentile(99.9)),
    max: ms(hist.maxValue),
  };
  if (curve) {
    // Points evenly spaced on the "nines" axis x = -log10(1 - p/100), up to the resolution the count allows.
    const maxNines = Math.min(5, Math.log10(hist.totalCount));
    const pts = [];
    for (let x = 0; x <= maxNines + 1e-9; x += 0.1) {
      const p = 100 * (1 - Math.pow(10, -x));
      pts.push([Math.round(p * 10000) / 10000, ms(hist.getValueAtPercentile(p))]);
    }
    pts.push([100, ms(hist.maxValue)]);
    s.curve = pts;
  }
  return s;
}

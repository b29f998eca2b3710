// One closed-loop load process (autocannon, programmatic). Started by lib/load.mjs with an IPC
// channel; BENCH_LOAD_CONFIG (JSON) says what to send:
//   { url, path, connections, timeoutSec, tokensFile?, tokenFrom?, tokenTo?, token? }
// Protocol: child -> {type:'ready'}; parent -> {type:'run', duration}; child -> {type:'started'}
// (when requests begin), {type:'done', result}; parent -> {type:'exit'}.
//
// Tokens: with `tokensFile`, the slice [tokenFrom, tokenTo) is dealt round-robin over this
// process's connections (setupClient -> client.setRequests), so every request carries the next
// token of its connection's share: distinct tokens rotate per request across the whole run.
// Each run continues every connection's rotation where it stopped (the requests it sent; a new
// load process starts at the `tokenStart` the last one reached), so the
// measured run after a warm-up, or the next round, does not start again on tokens a cache has
// just seen.
// Latencies are recorded for every response (any status) in microseconds in an HDR histogram,
// sent back compressed so the parent can merge several load processes exactly.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const hdr = require('hdr-histogram-js');

const cfg = JSON.parse(process.env.BENCH_LOAD_CONFIG);
let tokens = null;
if (cfg.tokensFile) {
  const all = readFileSync(cfg.tokensFile, 'utf8').split('\n').filter(Boolean);
  tokens = all.slice(cfg.tokenFrom ?? 0, cfg.tokenTo ?? all.length);
  if (tokens.length === 0) throw new Error(`no tokens in ${cfg.tokensFile} [${cfg.tokenFrom}, ${cfg.tokenTo})`);
} else if (cfg.token) {
  tokens = [cfg.token];
}

function newLatencyHistogram() {
  return hdr.build({ bitBucketSize: 64, lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
}

/** Where each connection stands in its share of the tokens (the requests it has sent). */
const positions = [];

function run(duration) {
  const hist = newLatencyHistogram();
  const latencies = {
    __custom: true,
    recordValue: (ms) => hist.recordValue(Math.max(1, Math.round(ms * 1000))),
    recordValueWithExpectedInterval: (ms) => hist.recordValue(Math.max(1, Math.round(ms * 1000))),
    reset: () => hist.reset(),
    destroy: () => {},
  };
  let clientIndex = 0;
  const setupClient =
    tokens && tokens.length > 1
      ? (client) => {
          const i = clientIndex++ % cfg.connections;
          const reqs = [];
          for (let j = i; j < tokens.length; j += cfg.connections) {
            reqs.push({ method: 'GET', path: cfg.path, headers: { authorization: `Bearer ${tokens[j]}` } });
          }
          if (reqs.length === 0) reqs.push({ method: 'GET', path: cfg.path, headers: { authorization: `Bearer ${tokens[i % tokens.length]}` } });
          // Counted per request sent (autocannon moves to a connection's next request on every
          // send, a resend after a reconnect included), not per answer.
          const start = positions[i] ?? cfg.tokenStart ?? 0;
          positions[i] = start;
          client.on('request', () => positions[i]++);
          const at = start % reqs.length;
          client.setRequests(at === 0 ? reqs : [...reqs.slice(at), ...reqs.slice(0, at)]);
        }
      : undefined;
  const headers = tokens && tokens.length === 1 ? { authorization: `Bearer ${tokens[0]}` } : {};
  // autocannon's own `duration` starts before it builds its clients (setupClient: with 20,000
  // rotated tokens, ~0.2 s of building request buffers, no request sent). The measured interval
  // starts at its 'start' event instead (emitted on the next turn of the event loop after every
  // client was built and its connection opened: the first requests go out then) and ends when it
  // stops; req/s, this process's CPU and (through the 'started' message) the parent's CPU meters
  // all cover that interval.
  let cpu0 = process.cpuUsage();
  let t0 = process.hrtime.bigint();
  let firstResponse;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: cfg.url,
        connections: cfg.connections,
        pipelining: 1,
        duration,
        timeout: cfg.timeoutSec ?? 10,
        headers,
        requests: [{ method: 'GET', path: cfg.path }],
        setupClient,
        skipAggregateResult: true,
        histograms: { latencies },
      },
      (err, r) => {
        if (err) return reject(err);
        const t1 = process.hrtime.bigint();
        const wall = Number(t1 - t0) / 1e9;
        const cpu = process.cpuUsage(cpu0);
        resolve({
          // Monotonic ms (process.hrtime: the same clock in every process), for merging processes.
          startMs: Number(t0) / 1e6,
          endMs: Number(t1) / 1e6,
          autocannonDurationSec: r.duration,
          firstResponseMs: firstResponse === undefined ? undefined : Math.round(Number(firstResponse - t0) / 1e4) / 100,
          completed: r.totalCompletedRequests,
          sent: r.totalRequests,
          errors: r.errors,
          timeouts: r.timeouts,
          resets: r.resets,
          statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats).map(([k, v]) => [k, v.count])),
          durationSec: wall,
          wallSec: wall,
          cpuPct: Math.round(((cpu.user + cpu.system) / 1e6 / wall) * 1000) / 10,
          latency: hdr.encodeIntoCompressedBase64(hist),
          tokenStart: positions.length ? Math.max(...positions) : (cfg.tokenStart ?? 0),
        });
      },
    );
    instance.once('start', () => {
      cpu0 = process.cpuUsage();
      t0 = process.hrtime.bigint();
      process.send({ type: 'started' });
    });
    instance.once('response', () => {
      firstResponse = process.hrtime.bigint();
    });
  });
}

process.on('message', async (m) => {
  if (m?.type === 'run') {
    try {
      process.send({ type: 'done', result: await run(m.duration) });
    } catch (err) {
      process.send({ type: 'error', message: err?.stack ?? String(err) });
    }
  } else if (m?.type === 'exit') {
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready' });

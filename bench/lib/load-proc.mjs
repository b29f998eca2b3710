// One closed-loop load process (autocannon, programmatic). Started by lib/load.mjs with an IPC
// channel; BENCH_LOAD_CONFIG (JSON) says what to send:
//   { url, path, connections, timeoutSec, tokensFile?, tokenFrom?, tokenTo?, token? }
// Protocol: child -> {type:'ready'}; parent -> {type:'run', duration}; child -> {type:'done', result};
// parent -> {type:'exit'}.
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
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    autocannon(
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
        const wall = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu = process.cpuUsage(cpu0);
        resolve({
          completed: r.totalCompletedRequests,
          sent: r.totalRequests,
          errors: r.errors,
          timeouts: r.timeouts,
          resets: r.resets,
          statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats).map(([k, v]) => [k, v.count])),
          durationSec: r.duration,
          wallSec: wall,
          cpuPct: Math.round(((cpu.user + cpu.system) / 1e6 / wall) * 1000) / 10,
          latency: hdr.encodeIntoCompressedBase64(hist),
          tokenStart: positions.length ? Math.max(...positions) : (cfg.tokenStart ?? 0),
        });
      },
    );
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

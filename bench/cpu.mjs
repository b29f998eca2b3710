#!/usr/bin/env node
// CPU per request, per thread, of one jwtgate process (or of a bare uWS app answering 401, the
// floor of the 401 path) under a closed-loop autocannon load: the figure the throughput ratios
// track on a machine where load generator, upstream and gateway share the cores. Used to compare
// two builds side by side (--dist) or two settings, alternating runs.
//
//   node bench/cpu.mjs [--scenario cache-hit|cache-miss-rs256|cache-miss-es256|missing-token]
//                      [--seconds 6] [--runs 1] [--dist DIR] [--target jwtgate|bare-uws-401]
//                      [--rate N] [-- extra jwtgate serve flags]
//
// Closed loop by default (64 connections, as fast as the machine goes); --rate N offers a fixed
// N req/s instead (open loop, one request per event-loop turn: per-request CPU is about twice
// the closed-loop figure, the regime of the fixed-rate latency runs).
//
// Prints req/s, then CPU µs per completed request: the gateway's main thread, its other threads
// (verify workers, V8/libuv helpers) and total, the upstream, total/upstream, and for jwtgate the
// verify pool's items per task. CPU is read from /proc/<pid>/task/*/stat (Linux only). On this
// shared VM the µs figures of one build move ±15% from run to run with the machine, and the
// upstream's move with them: total/upstream divides that out (the upstream does the same work
// per request whatever the gateway is) and is the figure to compare builds by (four runs of one
// build: 1.99/1.99/1.99/1.99; closed-loop proxied scenarios only).
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureBenchDeps, ensureBuilt } from './lib/setup.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(benchDir);
const dashDash = process.argv.indexOf('--');
const USAGE = `usage: node bench/cpu.mjs [--scenario cache-hit|cache-miss-rs256|cache-miss-es256|missing-token]
                        [--seconds 6] [--runs 1] [--dist DIR] [--target jwtgate|bare-uws-401]
                        [--rate N] [-- extra jwtgate serve flags]`;
function usage(problem) {
  console.error(problem ? `bench/cpu.mjs: ${problem}\n${USAGE}` : USAGE);
  process.exit(problem ? 2 : 0);
}
let values;
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2, dashDash < 0 ? undefined : dashDash),
    options: {
      scenario: { type: 'string', default: 'cache-hit' },
      seconds: { type: 'string', default: '6' },
      runs: { type: 'string', default: '1' },
      dist: { type: 'string', default: path.join(root, 'dist') },
      target: { type: 'string', default: 'jwtgate' },
      rate: { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (err) {
  usage(err.message);
}
if (values.help) usage();
const extra = dashDash < 0 ? [] : process.argv.slice(dashDash + 1);
const SCENARIOS = ['cache-hit', 'cache-miss-rs256', 'cache-miss-es256', 'missing-token'];
if (!SCENARIOS.includes(values.scenario)) usage(`--scenario must be one of ${SCENARIOS.join(', ')}`);
if (values.target !== 'jwtgate' && values.target !== 'bare-uws-401') usage('--target must be jwtgate or bare-uws-401');
if (values.target === 'bare-uws-401' && values.scenario !== 'missing-token') usage('--target bare-uws-401 only answers 401: use --scenario missing-token');
const seconds = Number(values.seconds);
const rate = Number(values.rate);
if (!(seconds > 0)) usage('--seconds must be a positive number');
if (!(Number.isInteger(Number(values.runs)) && Number(values.runs) >= 1)) usage('--runs must be a whole number of at least 1');
if (!Number.isInteger(rate) || rate < 0) usage('--rate must be a whole number of requests per second (0: closed loop)');

// Like `npm run bench`: bench/'s own dependencies and an up-to-date dist/ first (the rest of the
// harness imports them).
const log = (m) => console.error(`[bench:cpu] ${m}`);
if (!ensureBenchDeps(benchDir, log)) process.exit(1);
if (values.dist === path.join(root, 'dist')) {
  const built = ensureBuilt(root, log);
  if (!built.ok) {
    log(`cannot build jwtgate: ${built.reason}`);
    process.exit(1);
  }
}
const proc = await import('./lib/proc.mjs');
const { makeKeys, mint, mintMany, payload } = await import('./lib/keys.mjs');
const { jwtgatePeer } = await import('./lib/peers.mjs');
const { startLoad } = await import('./lib/load.mjs');
const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-cpu-'));
proc.installCleanup();
try {
  const keys = makeKeys(dir);
  let tokensFile;
  let token;
  if (values.scenario.startsWith('cache-miss')) {
    const alg = values.scenario.endsWith('es256') ? 'ES256' : 'RS256';
    tokensFile = path.join(dir, 'tokens.txt');
    writeFileSync(tokensFile, (await mintMany(keys[alg], 20_000)).join('\n'));
  } else if (values.scenario === 'cache-hit') {
    token = mint('RS256', keys.RS256.privateKey, payload());
  }

  const upstream = proc.spawnChild('upstream', process.execPath, [path.join(benchDir, 'peers/upstream.mjs'), '--port', '0']);
  const upstreamPort = Number((await proc.waitForLine(upstream, /listening (\d+)/))[1]);

  let target;
  let url;
  let adminUrl;
  if (values.target === 'jwtgate') {
    // The harness's own jwtgate peer (bench config, --admin, --log-level warn), from the build in --dist.
    const running = await jwtgatePeer('auto', extra).start({ root: path.dirname(path.resolve(values.dist)), benchDir, dir, upstreamPort, keys, cpus: {} });
    target = running;
    url = running.url;
    adminUrl = running.adminUrl;
  } else {
    const port = await proc.freePort();
    target = proc.spawnChild('bare-uws-401', process.execPath, [path.join(benchDir, 'peers/uws-401.mjs'), '--port', String(port)], { cwd: root });
    await proc.waitForLine(target, /listening/);
    url = `http://127.0.0.1:${port}`;
    await proc.waitForHttp(`${url}/headers`, { handle: target });
  }
  const metric = async (name) => (await proc.scrapeMetrics(adminUrl))?.[name] ?? 0;

  const load = await startLoad({ kind: rate > 0 ? 'open' : 'closed', rate: rate || undefined, procs: 1, connections: 64, url, path: '/headers', token, tokensFile, tokenCount: tokensFile ? 20_000 : 0, timeoutSec: 10 });
  console.log(`${values.target} ${values.scenario}${extra.length ? ' ' + extra.join(' ') : ''} (${path.relative(root, values.dist) || values.dist}), ${seconds} s per run, ${rate > 0 ? `fixed rate ${rate} req/s` : '64 connections'}`);
  console.log('run  req/s     main  other  total  upstream  (CPU µs per request)  total/upstream  pool items/task');
  await load.run(2);
  for (let run = 1; run <= Number(values.runs); run++) {
    const g0 = proc.threadCpuSeconds(target.pid);
    const u0 = proc.threadCpuSeconds(upstream.pid);
    const pooled0 = await metric('jwtgate_jwt_verifications_total{mode="pool"}');
    const tasks0 = await metric('jwtgate_verify_pool_tasks_total{result="ok"}');
    const r = await load.run(seconds);
    const g1 = proc.threadCpuSeconds(target.pid);
    const u1 = proc.threadCpuSeconds(upstream.pid);
    const pooled = (await metric('jwtgate_jwt_verifications_total{mode="pool"}')) - pooled0;
    const tasks = (await metric('jwtgate_verify_pool_tasks_total{result="ok"}')) - tasks0;
    let main = 0;
    let other = 0;
    for (const [tid, secs] of g1) {
      const d = secs - (g0.get(tid) ?? 0);
      if (tid === String(target.pid)) main += d;
      else other += d;
    }
    let up = 0;
    for (const [tid, secs] of u1) up += secs - (u0.get(tid) ?? 0);
    const n = r.completed;
    const us = (secs) => ((secs * 1e6) / n).toFixed(1).padStart(6);
    console.log(`${String(run).padStart(3)}  ${String(Math.round(n / seconds)).padStart(6)}  ${us(main)} ${us(other)} ${us(main + other)}  ${us(up)}  ${(up > 0 ? ((main + other) / up).toFixed(2) : '-').padStart(29)}  ${tasks ? (pooled / tasks).toFixed(1) : '-'}`);
    r.histogram.destroy?.();
  }
  await load.close();
} finally {
  proc.killAll('SIGTERM');
  await proc.sleep(300);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);

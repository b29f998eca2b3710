#!/usr/bin/env node
// CPU per request, per thread, of one jwtgate process under a closed-loop autocannon load: the
// figure the throughput ratios track on a machine where load generator, upstream and gateway
// share the cores. Used to compare two builds side by side (--dist) or two settings, alternating
// runs. The other targets are the references to compare jwtgate with, measured the same way:
// the harness's nginx (proxy only) and HAProxy peers, and floors: a bare uWS app answering 401
// (bench/peers/uws-401.mjs), and bare uWS proxies checking no token, with undici or with a
// minimal node:net client (bench/peers/uws-proxy.mjs). For those bare proxies, --threads N runs
// N uWS threads on one port and --bare-verify checks every request's token on its own thread (no
// cache; then every scenario applies): what jwtgate's one event loop and its verify pool do not do.
//
//   node bench/cpu.mjs [--scenario cache-hit|cache-miss-rs256|cache-miss-es256|missing-token]
//                      [--seconds 6] [--runs 1] [--dist DIR] [--target TARGET]
//                      [--rate N] [--peer-soft-fail] [--threads N] [--bare-verify]
//                      [-- extra jwtgate serve flags]
//
// Exits 1 when a response was not the scenario's status (or an error), or a cache-miss round hit
// jwtgate's cache: the figures then do not measure the scenario. --peer-soft-fail (used by .ci/run)
// keeps that for jwtgate and the bare uWS floors but makes an external reference (HAProxy, nginx)
// report its failure, including one to start, and exit 0: another program's hiccup never fails CI.
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
//
// BENCH_JWTGATE_NODE_ARGS passes node/V8 flags to jwtgate, as in `npm run bench`; the target is
// stopped with SIGTERM and given at least 3 s to exit, so `--cpu-prof --cpu-prof-dir=DIR` writes
// its profiles.
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
                        [--seconds 6] [--runs 1] [--dist DIR] [--target TARGET]
                        [--rate N] [--peer-soft-fail] [--threads N] [--bare-verify]
                        [-- extra jwtgate serve flags]
--peer-soft-fail: an external reference (haproxy, nginx-proxy) that answers wrong or fails to
                  start is reported, exit 0 (CI: jwtgate and the bare uWS floors still fail it)
targets: jwtgate (default); haproxy; nginx-proxy (cache-hit only: no JWT); bare-uws-401
         (missing-token only); bare-uws-proxy-undici-request, bare-uws-proxy-undici-dispatch,
         bare-uws-proxy-raw (cache-hit only: they check no token)
--threads N, --bare-verify (bare-uws-proxy-* only): N uWS threads on one port; check every
                  request's token inline (no cache), which makes every scenario apply`;
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
      'peer-soft-fail': { type: 'boolean', default: false },
      threads: { type: 'string', default: '1' },
      'bare-verify': { type: 'boolean', default: false },
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
const PROXY_CLIENTS = ['undici-request', 'undici-dispatch', 'raw'];
const TARGETS = ['jwtgate', 'haproxy', 'nginx-proxy', 'bare-uws-401', ...PROXY_CLIENTS.map((c) => `bare-uws-proxy-${c}`)];
if (!TARGETS.includes(values.target)) usage(`--target must be one of ${TARGETS.join(', ')}`);
if (values.target === 'bare-uws-401' && values.scenario !== 'missing-token') usage('--target bare-uws-401 only answers 401: use --scenario missing-token');
const bareProxy = values.target.startsWith('bare-uws-proxy-');
if ((bareProxy || values.target === 'nginx-proxy') && values.scenario !== 'cache-hit' && !(bareProxy && values['bare-verify'])) usage(`--target ${values.target} checks no token: use --scenario cache-hit${bareProxy ? ' (or --bare-verify)' : ''}`);
if (!bareProxy && (values.threads !== '1' || values['bare-verify'])) usage('--threads and --bare-verify apply to the bare-uws-proxy-* targets only');
if (!(Number.isInteger(Number(values.threads)) && Number(values.threads) >= 1)) usage('--threads must be a whole number of at least 1');
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
const { makeKeys, mint, mintMany, payload, probeTokens } = await import('./lib/keys.mjs');
const { baseProbes, probeVerdict } = await import('./lib/probes.mjs');
const { jwtgateArgs, jwtgatePeer, haproxy, nginxProxy } = await import('./lib/peers.mjs');
const { startLoad } = await import('./lib/load.mjs');
const { scenarios } = await import('./lib/scenarios.mjs');
const { cacheHitPct } = await import('./lib/report.mjs');
const { cpuExitCode, softFails } = await import('./lib/cpu-exit.mjs');
const { syscallMicros } = await import('./lib/gauge.mjs');
// --peer-soft-fail and a target other than jwtgate: its failures are reported, exit 0.
const soft = softFails(values.target, values['peer-soft-fail']);
const softNote = soft ? ` (${values.target} is an external reference and --peer-soft-fail is set: exit 0)` : '';
// HAProxy and nginx are the harness's own peers and configs: say what is missing before starting anything.
const refPeer = values.target === 'haproxy' ? haproxy : values.target === 'nginx-proxy' ? nginxProxy : undefined;
const refChecked = refPeer?.check();
if (refChecked && !refChecked.ok) {
  log(`${refChecked.reason}${softNote}`);
  process.exit(soft ? 0 : 1);
}
/** tid -> CPU seconds for a node target; the whole process group as one entry for nginx/HAProxy. */
const cpuOf = (t) => (t.group ? new Map([['group', proc.groupCpuSeconds(t.pid) ?? 0]]) : proc.threadCpuSeconds(t.pid));
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
    const peer = jwtgatePeer('auto', extra, jwtgateArgs(process.env).nodeArgs);
    const running = await proc.startRetryingPortClash(() => peer.start({ root: path.dirname(path.resolve(values.dist)), benchDir, dir, upstreamPort, keys, cpus: {} }));
    target = running;
    url = running.url;
    adminUrl = running.adminUrl;
  } else if (refPeer) {
    // Their CPU is their process group's (nginx workers, HAProxy threads): shown as total, with
    // no main-thread split.
    const running = await proc.startRetryingPortClash(() => refPeer.start({ root, benchDir, dir, upstreamPort, keys, cpus: {}, env: process.env }));
    target = { pid: running.pid, stop: () => running.stop(), group: true };
    url = running.url;
  } else {
    // They bind port 0 and print the port they got, as the upstream does: no port to race for.
    const args = values.target === 'bare-uws-401'
      ? [path.join(benchDir, 'peers/uws-401.mjs'), '--port', '0']
      : [path.join(benchDir, 'peers/uws-proxy.mjs'), '--port', '0', '--upstream-port', String(upstreamPort), '--client', values.target.slice('bare-uws-proxy-'.length),
          '--threads', values.threads, ...(values['bare-verify'] ? ['--verify-jwks', keys.jwksPath] : [])];
    target = proc.spawnChild(values.target, process.execPath, args, { cwd: root });
    const port = Number((await proc.waitForLine(target, /listening (\d+)/))[1]);
    url = `http://127.0.0.1:${port}`;
    await proc.waitForHttp(`${url}/headers`, { handle: target });
    // A bare proxy that checks tokens gets the harness's base probes (no token, tampered, expired,
    // wrong issuer or audience refused; valid RS256 and ES256 forwarded with x-team/x-org), as
    // every JWT peer of npm run bench does: one that lets a bad token through is not measured.
    if (values['bare-verify']) {
      const verdict = probeVerdict(await baseProbes({ jwt: true }, url, probeTokens(keys)), []);
      if (!verdict.ok) throw new Error(`${values.target} --bare-verify failed its probes: ${verdict.reason}`);
    }
  }
  const metric = async (name) => (await proc.scrapeMetrics(adminUrl))?.[name] ?? 0;

  const load = await startLoad({ kind: rate > 0 ? 'open' : 'closed', rate: rate || undefined, procs: 1, connections: 64, url, path: '/headers', token, tokensFile, tokenCount: tokensFile ? 20_000 : 0, timeoutSec: 10 });
  // The machine's speed this moment (µs per system call, bench/lib/gauge.mjs): figures of two
  // sessions are comparable only where it is close.
  const gauge = syscallMicros();
  const bareOpts = bareProxy ? `${values.threads === '1' ? '' : ` --threads ${values.threads}`}${values['bare-verify'] ? ' --bare-verify' : ''}` : '';
  console.log(`${values.target}${bareOpts} ${values.scenario}${extra.length ? ' ' + extra.join(' ') : ''} (${path.relative(root, values.dist) || values.dist}), ${seconds} s per run, ${rate > 0 ? `fixed rate ${rate} req/s` : '64 connections'}, machine gauge ${gauge === null ? 'n/a (no dd)' : `${gauge.toFixed(2)} µs per system call`}`);
  console.log('run  req/s     main  other  total  upstream  (CPU µs per request)  total/upstream  pool items/task  cache hits');
  // Every response must have the scenario's status (its `expect` in lib/scenarios.mjs): a target
  // answering 502s or dropping connections would otherwise look cheap.
  const expected = String(scenarios({}).find((sc) => sc.name === values.scenario).expect);
  const unexpected = (r) => r.errors + Object.entries(r.statusCodes).reduce((n, [code, c]) => (code === expected ? n : n + c), 0);
  let bad = unexpected(await load.run(2));
  let missHits = 0;
  for (let run = 1; run <= Number(values.runs); run++) {
    const g0 = cpuOf(target);
    const u0 = proc.threadCpuSeconds(upstream.pid);
    const pooled0 = await metric('jwtgate_jwt_verifications_total{mode="pool"}');
    const tasks0 = await metric('jwtgate_verify_pool_tasks_total{result="ok"}');
    const hits0 = await metric('jwtgate_result_cache_total{outcome="hit"}');
    const misses0 = await metric('jwtgate_result_cache_total{outcome="miss"}');
    const r = await load.run(seconds);
    bad += unexpected(r);
    const g1 = cpuOf(target);
    const u1 = proc.threadCpuSeconds(upstream.pid);
    const pooled = (await metric('jwtgate_jwt_verifications_total{mode="pool"}')) - pooled0;
    const tasks = (await metric('jwtgate_verify_pool_tasks_total{result="ok"}')) - tasks0;
    const hits = (await metric('jwtgate_result_cache_total{outcome="hit"}')) - hits0;
    const misses = (await metric('jwtgate_result_cache_total{outcome="miss"}')) - misses0;
    let main = 0;
    let other = 0;
    for (const [tid, secs] of g1) {
      const d = secs - (g0.get(tid) ?? 0);
      if (tid === String(target.pid) && !target.group) main += d;
      else other += d;
    }
    let up = 0;
    for (const [tid, secs] of u1) up += secs - (u0.get(tid) ?? 0);
    const n = r.completed;
    const us = (secs) => ((secs * 1e6) / n).toFixed(1).padStart(6);
    // Over the cache's lookups, as npm run bench does: over completed responses it read more than
    // 100%, lookups also counting the requests cut when autocannon stops.
    const hitPct = adminUrl ? cacheHitPct(hits, misses) : undefined;
    console.log(`${String(run).padStart(3)}  ${String(Math.round(n / r.durationSec)).padStart(6)}  ${target.group ? '     -      -' : `${us(main)} ${us(other)}`} ${us(main + other)}  ${us(up)}  ${(up > 0 ? ((main + other) / up).toFixed(2) : '-').padStart(29)}  ${(tasks ? (pooled / tasks).toFixed(1) : '-').padStart(15)}  ${hitPct === undefined ? '-' : `${hitPct.toFixed(hitPct > 0 && hitPct < 1 ? 2 : 1)}%`}`);
    // A cache-miss figure that includes cache hits measures something cheaper than a miss.
    if (values.scenario.startsWith('cache-miss') && hitPct !== undefined && hitPct > 0.1) missHits++;
    r.histogram.destroy?.();
  }
  await load.close();
  await target.stop();
  if (bad > 0) log(`${bad} responses were errors or not ${expected}: these figures do not measure the scenario${softNote}`);
  if (missHits > 0) log(`${missHits} run(s) answered more than 0.1% of a cache-miss scenario from jwtgate's result cache: those figures do not measure cache misses`);
  process.exitCode = cpuExitCode({ target: values.target, peerSoftFail: values['peer-soft-fail'], bad, missHits });
} catch (err) {
  // A reference that fails to start or dies mid-run: reported, and with --peer-soft-fail exit 0.
  if (!soft) throw err;
  log(`${values.target} failed: ${err?.stack ?? err}${softNote}`);
  process.exitCode = 0;
} finally {
  proc.killAll('SIGTERM');
  await proc.sleep(300);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(process.exitCode ?? 0);

#!/usr/bin/env node
// jwtgate benchmark harness: jwtgate side by side with HAProxy (jwt_verify), fastify +
// @fastify/jwt (with and without its cache), nginx as a proxy without JWT and the upstream hit
// directly, all protecting the same cheap upstream with the same keys and claims.
//
//   node bench/run.mjs            full run (< 10 min on 2 cores), results in bench/results/
//   QUICK=1 node bench/run.mjs    ~2 min run, same scenarios, shorter measurements, no quiet waits
//   SMOKE=1 node bench/run.mjs    CI smoke: every scenario ~1 s against every available peer,
//                                 probes checked, results in a temp dir; exit 1 if jwtgate fails a probe
//
// Environment knobs (all optional) are listed in bench/README.md.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import os from 'node:os';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
// The jwtgate checkout measured: this one, or BENCH_JWTGATE_ROOT (e.g. another worktree to compare).
const root = path.resolve(env.BENCH_JWTGATE_ROOT ?? path.resolve(benchDir, '..'));
const SMOKE = env.SMOKE === '1' || env.SMOKE === 'true';
const QUICK = !SMOKE && (env.QUICK === '1' || env.QUICK === 'true');
const mode = SMOKE ? 'smoke' : QUICK ? 'quick' : 'full';
const t0 = Date.now();
const clock = () => {
  const s = Math.round((Date.now() - t0) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};
const log = (msg) => process.stdout.write(`[bench ${clock()}] ${msg}\n`);
const num = (v, d) => (v === undefined || v === '' ? d : Number(v));

// ---- 1. what the harness needs (node built-ins only until the dependencies are there) ----
const { ensureBenchDeps, ensureBuilt, ensureSystemPeers } = await import('./lib/setup.mjs');
if (!ensureBenchDeps(benchDir, log)) process.exit(1);
const wantsJwtgate = !env.BENCH_PEERS || env.BENCH_PEERS.split(',').some((p) => p.trim().startsWith('jwtgate'));
const built = wantsJwtgate ? ensureBuilt(root, log, { build: env.BENCH_NO_BUILD !== '1' }) : { ok: false, reason: 'not selected' };
if (wantsJwtgate && !built.ok) log(`jwtgate unavailable: ${built.reason}`);
ensureSystemPeers(log, { install: env.BENCH_NO_INSTALL !== '1' });

const proc = await import('./lib/proc.mjs');
const { makeKeys, mintMany, probeTokens, tamper } = await import('./lib/keys.mjs');
const { allPeers } = await import('./lib/peers.mjs');
const { scenarios: allScenarios } = await import('./lib/scenarios.mjs');
const { baseProbes, scenarioProbes, probeVerdict } = await import('./lib/probes.mjs');
const { startLoad, summarize } = await import('./lib/load.mjs');
const { writeReport, targets, summaryTable, sustained, keptRate, cacheHitPct } = await import('./lib/report.mjs');
const { describeTail } = await import('./lib/stalls.mjs');
const { overrides, runLabel, refreshesLatest } = await import('./lib/runinfo.mjs');
const { syscallMicros, pageTableIsolation } = await import('./lib/gauge.mjs');

// ---- 2. settings ----
// Durations and waits per mode, and the overrides of each: lib/timing.mjs.
const { timing, phases, estimateSec } = await import('./lib/timing.mjs');
const { durations, quietWait, quietBudget: quietBudgetSetting, retries: retrySetting } = timing(mode, env);
const tokenCount = num(env.BENCH_TOKENS, SMOKE ? 2000 : 20000);
const connections = num(env.BENCH_CONNECTIONS, 64);
const order = env.BENCH_ORDER ?? 'interleaved';
if (order !== 'interleaved' && order !== 'by-peer') {
  console.error(`BENCH_ORDER must be interleaved or by-peer, not ${JSON.stringify(order)}`);
  process.exit(2);
}
const openTraceDir = env.BENCH_OPEN_TRACE ? path.resolve(env.BENCH_OPEN_TRACE) : undefined;
if (openTraceDir) mkdirSync(openTraceDir, { recursive: true });
const loadProcs = num(env.BENCH_LOAD_PROCS, 1);
const upstreamProcs = num(env.BENCH_UPSTREAM_PROCS, 1);
const cores = os.availableParallelism?.() ?? os.cpus().length;

// CPU placement. shared (default): no pinning, every process may run on every core, as on a
// real 2-core host. split: peer + upstream on core 0, load generators on core 1 (taskset).
// BENCH_CPUS_PEER / _UPSTREAM / _LOAD override either (taskset -c lists).
const placement = env.BENCH_CPUS ?? 'shared';
const cpus = placement === 'split' ? { peer: '0', upstream: '0', load: String(Math.min(1, cores - 1)) } : { peer: undefined, upstream: undefined, load: undefined };
if (env.BENCH_CPUS_PEER) cpus.peer = env.BENCH_CPUS_PEER;
if (env.BENCH_CPUS_UPSTREAM) cpus.upstream = env.BENCH_CPUS_UPSTREAM;
if (env.BENCH_CPUS_LOAD) cpus.load = env.BENCH_CPUS_LOAD;
const pinned = cpus.peer || cpus.upstream || cpus.load;
if (pinned && !proc.tasksetAvailable()) log('taskset not available: CPU pinning requested but every process runs unpinned');
cpus.description =
  pinned && proc.tasksetAvailable()
    ? `pinned with taskset: peer on CPU ${cpus.peer ?? 'any'}, upstream on CPU ${cpus.upstream ?? 'any'}, load generators on CPU ${cpus.load ?? 'any'}`
    : `shared: no pinning, peer, upstream and load generator all scheduled by the OS over the ${cores} cores`;

const onlyPeers = env.BENCH_PEERS ? new Set(env.BENCH_PEERS.split(',').map((s) => s.trim())) : undefined;
const onlyScenarios = env.BENCH_SCENARIOS ? new Set(env.BENCH_SCENARIOS.split(',').map((s) => s.trim())) : undefined;
const peers = allPeers(env).filter((p) => !onlyPeers || onlyPeers.has(p.name));
const scenarios = allScenarios(env).filter((s) => !onlyScenarios || onlyScenarios.has(s.name));
const applicable = (peer, sc) => !sc.jwtOnly || peer.jwt;
if (peers.length === 0 || scenarios.length === 0) {
  log(`nothing to run: BENCH_PEERS=${env.BENCH_PEERS ?? ''} BENCH_SCENARIOS=${env.BENCH_SCENARIOS ?? ''} match ${peers.length} peers and ${scenarios.length} scenarios (peers: ${allPeers(env).map((p) => p.name).join(', ')}; scenarios: ${allScenarios(env).map((s) => s.name).join(', ')})`);
  process.exit(2);
}

const runs = peers.reduce((n, p) => n + scenarios.filter((s) => applicable(p, s)).length, 0);
// Seconds: each measurement, its warm-up and what it costs around them (lib/timing.mjs); waits for
// a quiet machine beyond the quiet gate's sample come on top (BENCH_QUIET_BUDGET).
const estimate = estimateSec({ durations, quietWait, tokenCount }, peers.map((p) => ({ peer: p.name, scenarios: scenarios.filter((s) => applicable(p, s)) })));
const about = estimate < 90 ? `${Math.round(estimate / 10) * 10} s` : `${Math.round(estimate / 30) / 2} min`;
// Any setting that changes what is measured makes this a "custom" run: it never refreshes
// latest.* (unless BENCH_LATEST=1), and its report lists the overrides.
const settingsOverridden = overrides(env);
const label = runLabel(mode, settingsOverridden);
const writesLatest = refreshesLatest(mode, env);
log(`${label} run${Object.keys(settingsOverridden).length ? ` (${Object.entries(settingsOverridden).map(([k, v]) => `${k}=${v}`).join(' ')})` : ''}: ${peers.length} peers, ${scenarios.length} scenarios, ${runs} measurements, about ${about} plus any wait for a quiet machine; ${cores} cores; ${cpus.description}`);

// ---- 3. temp dir, keys, tokens ----
const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-bench-'));
proc.installCleanup();
process.on('exit', () => {
  if (env.BENCH_KEEP_TMP !== '1') rmSync(dir, { recursive: true, force: true });
});

const keys = makeKeys(dir);
const tokens = probeTokens(keys);
const neededSets = new Set(scenarios.map((s) => s.tokens).filter(Boolean));
if (neededSets.size) {
  const m0 = Date.now();
  if (neededSets.has('rs256') || neededSets.has('rs256Tampered')) tokens.sets.rs256 = await mintMany(keys.RS256, tokenCount, { prefix: 'rot' });
  if (neededSets.has('es256')) tokens.sets.es256 = await mintMany(keys.ES256, tokenCount, { prefix: 'rot' });
  // The invalid set: the same valid tokens with one signature character changed (a cache keyed on
  // anything less than the whole token would let them through; the probes would catch it).
  if (neededSets.has('rs256Tampered')) tokens.sets.rs256Tampered = tokens.sets.rs256.map(tamper);
  for (const [k, list] of Object.entries(tokens.sets)) {
    tokens.files[k] = path.join(dir, `tokens-${k}.txt`);
    writeFileSync(tokens.files[k], list.join('\n') + '\n');
  }
  log(`minted ${Object.keys(tokens.sets).join(', ')} sets of ${tokenCount} tokens in ${((Date.now() - m0) / 1000).toFixed(1)} s`);
}

// ---- 4. the upstream ----
const upstream = proc.spawnChild('upstream', process.execPath, [path.join(benchDir, 'peers/upstream.mjs'), '--port', '0', '--procs', String(upstreamProcs)], { cpus: cpus.upstream });
const upstreamPort = Number((await proc.waitForLine(upstream, /listening (\d+)/))[1]);
log(`upstream on 127.0.0.1:${upstreamPort} (${upstreamProcs} process${upstreamProcs > 1 ? 'es' : ''})`);

// ---- 5. measurements ----
const ctx = { root, benchDir, dir, upstreamPort, keys, env, cpus, log };
const syscallStart = syscallMicros();
log(`machine gauge: ${syscallStart === null ? 'dd not available' : `${syscallStart} µs per system call`} (bench/lib/gauge.mjs)`);
const results = [];
const skipped = [];
const peerMeta = [];
let jwtgateFailed = false;

/** The CPUs this process may run on (taskset, a container's cpuset): /proc/self/status. */
function allowedCpus() {
  const line = readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:\s*(\S+)/m)?.[1];
  if (!line) return undefined;
  const out = new Set();
  for (const part of line.split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let c = a; c <= (b ?? a); c++) out.add(c);
  }
  return out;
}
const CPUS = allowedCpus();

function machineBusy() {
  // Per CPU: user nice system idle iowait irq softirq steal, in USER_HZ (1/100 s). Only idle (and
  // iowait) are exact: user/system are sampled at clock ticks, and short bursts of work (the
  // fixed-rate runs) go mostly unseen there. So busy time is wall time × CPUs minus idle time,
  // over the CPUs the harness may use (a taskset or cpuset mask: the others are not ours).
  let idle = 0;
  let cpus = 0;
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    if (CPUS && !CPUS.has(Number(m[1]))) continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    idle += f[3] + (f[4] ?? 0);
    cpus++;
  }
  return { idleSec: idle / 100, cpus, at: performance.now() / 1000 };
}

/** Busy time of those CPUs between two machineBusy() readings, in % of one core. */
function busyPct(a, b) {
  const wall = b.at - a.at;
  if (wall <= 0) return 0;
  return Math.max(0, Math.round(((b.cpus * wall - (b.idleSec - a.idleSec)) / wall) * 1000) / 10);
}

function delta(a, b) {
  if (!a || !b) return undefined;
  const out = {};
  for (const [k, v] of Object.entries(b)) if (v - (a[k] ?? 0) !== 0) out[k] = v - (a[k] ?? 0);
  return out;
}

// Waits (bounded) until the machine is quiet before a measurement: with the peer idle, the
// whole machine should be near 0% busy. BENCH_QUIET_WAIT seconds per measurement (default 20 in
// full runs, 0 quick and smoke), at most BENCH_QUIET_BUDGET seconds per run (default 90, 30 quick),
// shared with re-measuring disturbed runs (see measure()).
let quietBudget = quietBudgetSetting;
// Other processes above this % of a core during a measurement: flagged, and measured again.
const DISTURBED_PCT = 20;
async function quietGate() {
  const maxWait = quietWait;
  if (maxWait <= 0 || quietBudget <= 0) return undefined;
  const t = Date.now();
  let busy = 0;
  for (;;) {
    const a = machineBusy();
    await proc.sleep(500);
    const b = machineBusy();
    busy = Math.round(busyPct(a, b));
    const waited = (Date.now() - t) / 1000;
    if (busy <= 25 || waited >= maxWait || waited >= quietBudget) {
      quietBudget -= waited;
      if (waited >= 1) log(`  waited ${waited.toFixed(0)} s for other processes to go quiet (now ${busy}% busy)`);
      return busy;
    }
  }
}

/** Where the next load on a running peer starts in a token set (see lib/load-proc.mjs). */
const tokenStarts = new Map();

async function measureOnce(peer, running, sc) {
  const idleBusy = await quietGate();
  let m0;
  // Closed-loop positions count requests per connection, the open loop's the requests of its one
  // stream: two rotations, kept apart.
  const startKey = `${running.url}|${sc.tokens}|${sc.kind}`;
  const load = await startLoad({
    tokenStart: sc.tokens ? tokenStarts.get(startKey) : undefined,
    kind: sc.kind,
    procs: loadProcs,
    connections: sc.kind === 'open' ? Math.min(64, connections) : connections,
    maxConnections: 1024,
    rate: sc.rate,
    url: running.url,
    path: '/headers',
    token: sc.token ? tokens[sc.token] : undefined,
    tokensFile: sc.tokens ? tokens.files[sc.tokens] : undefined,
    tokenCount: sc.tokens ? tokens.sets[sc.tokens].length : undefined,
    cpus: cpus.load,
    timeoutSec: 10,
    traceFile: sc.kind === 'open' && openTraceDir ? path.join(openTraceDir, `${peer.name}-${sc.name}.tsv`) : undefined,
  });
  let r;
  let cpu;
  try {
    const [warmup, measured] = phases(durations, sc);
    if (warmup > 0) await load.run(warmup);
    // Metric deltas cover the measured run only, not the warm-up.
    m0 = await proc.scrapeMetrics(running.adminUrl);
    // The CPU meters start when the generator says its requests begin (after autocannon has built
    // its clients: ~0.2 s with 20,000 rotated tokens, in which nothing is sent) and stop when it is
    // done, so they cover the interval the requests are counted over.
    let meter;
    let s0;
    r = await load.run(measured, () => {
      meter = proc.cpuMeter({ peer: running.pid, upstream: upstream.pid });
      s0 = machineBusy();
    });
    if (sc.tokens && r.tokenStart !== undefined) tokenStarts.set(startKey, r.tokenStart);
    cpu = meter();
    const s1 = machineBusy();
    cpu.machine = busyPct(s0, s1);
  } finally {
    await load.close();
  }
  const m1 = await proc.scrapeMetrics(running.adminUrl);
  cpu.load = Math.round(r.loadCpuPct.reduce((a, b) => a + (b ?? 0), 0) * 10) / 10;
  cpu.other = Math.max(0, Math.round((cpu.machine - (cpu.peer ?? 0) - (cpu.upstream ?? 0) - cpu.load) * 10) / 10);
  return { r, cpu, idleBusy, m0, m1, procs: load.procs };
}

async function measure(peer, running, sc) {
  const base = { peer: peer.name, scenario: sc.name, kind: sc.kind, rate: sc.rate, expectStatus: sc.expect };
  const verdict = probeVerdict(await baseProbes(peer, running.url, tokens), await scenarioProbes(peer, running.url, sc, tokens));
  if (!verdict.ok) {
    // baseProbesFailed: the peer itself answers wrong, and is measured in no later scenario.
    return { ...base, status: 'probe-failed', reason: verdict.reason, probes: verdict.failed, ...(verdict.base ? { baseProbesFailed: true } : {}) };
  }
  // One measurement; repeated (up to BENCH_RETRY_DISTURBED times, default 1 in full runs, 0 quick
  // and smoke, within the quiet budget) when other processes took more than 20% of a core during it
  // (the level at which the report flags a figure as disturbed). The least disturbed attempt is kept.
  const retries = retrySetting;
  let best;
  for (let attempt = 0; ; attempt++) {
    const one = await measureOnce(peer, running, sc);
    if (!best || one.cpu.other < best.cpu.other) {
      best?.r.histogram.destroy?.();
      best = one;
    } else one.r.histogram.destroy?.();
    if (best.cpu.other <= DISTURBED_PCT || attempt >= retries || quietBudget <= 0 || proc.isStopping()) break;
    // Measuring again spends the same budget as waiting does.
    quietBudget -= phases(durations, sc).reduce((a, b) => a + b, 0);
    log(`  ${peer.name} ${sc.name}: disturbed (other processes used ${one.cpu.other}% CPU), measuring again`);
  }
  const { r, cpu, idleBusy, m0, m1, procs } = best;
  const expected = r.statusCodes[sc.expect] ?? 0;
  const non2xx = Object.entries(r.statusCodes).reduce((n, [k, v]) => n + (k.startsWith('2') ? 0 : v), 0);
  // Peer CPU per request (µs of CPU time per completed response): comparable even when the load
  // generator, not the peer, is the limit. The peer's CPU seconds over the meter's interval (from
  // the generator's start to its end, an open-loop run's drain of late answers included), over the
  // responses counted in that same interval.
  const meteredSec = cpu.seconds ?? r.durationSec;
  cpu.peerUsPerReq = cpu.peer !== undefined && r.completed > 0 ? Math.round(((cpu.peer / 100) * meteredSec * 1e6 * 10) / r.completed) / 10 : undefined;
  const latency = summarize(r.histogram, { curve: sc.kind === 'open' });
  r.histogram.destroy?.();
  const res = {
    ...base,
    status: 'ok',
    rps: Math.round((expected / r.durationSec) * 10) / 10,
    totalRps: Math.round((r.completed / r.durationSec) * 10) / 10,
    completed: r.completed,
    statusCodes: r.statusCodes,
    non2xx,
    unexpected: r.completed - expected,
    errors: r.errors,
    timeouts: r.timeouts,
    // The measured interval req/s divide by: closed loop, from autocannon's 'start' (its clients
    // built) to its end; open loop, from the first intended send to the last answer.
    durationSec: Math.round(r.durationSec * 1000) / 1000,
    // autocannon's own figure, which also counts building its clients (~0.2 s with rotated tokens).
    ...(r.autocannonDurationSec !== undefined ? { autocannonDurationSec: r.autocannonDurationSec } : {}),
    // The CPU meters' interval (the CPU columns' % are of it).
    cpuIntervalSec: cpu.seconds !== undefined ? Math.round(cpu.seconds * 1000) / 1000 : undefined,
    latency,
    cpu,
    load: {
      kind: sc.kind,
      procs,
      connections: sc.kind === 'open' ? r.extra.connections : connections,
      perProcessCpu: r.loadCpuPct,
      // ms from the start of the measured interval to the first response.
      ...(r.firstResponseMs !== undefined ? { firstResponseMs: r.firstResponseMs } : {}),
      ...r.extra,
      // Only the expected answers count as achieved work (a fast 503 is not throughput).
      ...(r.extra?.achievedRate !== undefined && r.completed > 0 ? { achievedRate: Math.round(((r.extra.achievedRate * expected) / r.completed) * 10) / 10 } : {}),
      ...(r.extra?.onScheduleRate !== undefined && r.completed > 0 ? { onScheduleRate: Math.round(((r.extra.onScheduleRate * expected) / r.completed) * 10) / 10 } : {}),
    },
    probes: `${verdict.count}/${verdict.count} passed`,
    metrics: delta(m0, m1),
    machineBusyBeforePct: idleBusy,
    notes: [],
  };
  if (res.unexpected > 0) res.notes.push(`${res.unexpected} responses with a status other than ${sc.expect}: ${JSON.stringify(r.statusCodes)}`);
  if (res.errors > 0) res.notes.push(`${res.errors} errors (${res.timeouts} timeouts)`);
  if (!sustained(res)) res.notes.push(`did not sustain ${sc.rate} req/s (${keptRate(res)} req/s answered within the schedule, ${res.load.achievedRate} in all): latency is queueing`);
  if (sc.kind === 'closed' && r.loadCpuPct.some((p) => p > 90)) res.notes.push(`load generator at ${r.loadCpuPct.join('/')}% CPU: it may be the limit (try BENCH_LOAD_PROCS=2)`);
  // Pauses explain a tail only where requests do not queue as a rule: with a p50 above 1 ms the
  // tail is the queue itself (the analysis stays in the JSON).
  if (sc.kind === 'open' && r.extra.tail && latency.p50 <= 1) res.notes.push(describeTail(r.extra.tail));
  if (cpu.other > DISTURBED_PCT) res.notes.push(`${cpu.other}% CPU used by other processes on the machine during the run: figures are disturbed`);
  const hits = res.metrics?.['jwtgate_result_cache_total{outcome="hit"}'] ?? 0;
  const misses = res.metrics?.['jwtgate_result_cache_total{outcome="miss"}'] ?? 0;
  if (sc.tokens && hits + misses > 0) {
    res.cacheHitPct = cacheHitPct(hits, misses);
    // A cache-miss figure that includes hits measures something cheaper than a miss (the same
    // rule, on the same rounded figure, as the report's verdict).
    res.notes.push(`jwtgate result cache: ${hits} hits, ${misses} misses (${res.cacheHitPct}% hits)${sc.name.startsWith('cache-miss') && res.cacheHitPct > 0.1 ? ': not a cache-miss figure' : ''}`);
  }
  return res;
}

async function startPeer(peer) {
  const isJwtgate = peer.name.startsWith('jwtgate');
  const check = peer.check(ctx);
  if (!check.ok) {
    log(`${peer.name}: skipped (${check.reason})`);
    skipped.push({ peer: peer.name, reason: check.reason });
    if (isJwtgate) jwtgateFailed = true;
    return undefined;
  }
  try {
    // A port taken between the harness picking it and the peer binding it is retried on new ports.
    const running = await proc.startRetryingPortClash(() => peer.start(ctx), {
      onRetry: (err, attempt) => log(`${peer.name}: a port it was given was taken before it could bind it (attempt ${attempt}); retrying on new ports`),
    });
    peerMeta.push({ name: peer.name, label: peer.label, version: running.version, config: running.config });
    log(`${peer.name} (${running.version}) on ${running.url}`);
    return running;
  } catch (err) {
    const reason = `failed to start: ${err.message.split('\n').slice(0, 12).join(' | ')}`;
    log(`${peer.name}: ${reason}`);
    skipped.push({ peer: peer.name, reason });
    if (isJwtgate) jwtgateFailed = true;
    return undefined;
  }
}

/**
 * Measures one scenario on one running peer; { out: reason } when the peer must not be measured
 * any more (it died, or failed a base probe).
 */
async function measureAndLog(peer, running, sc) {
  const isJwtgate = peer.name.startsWith('jwtgate');
  let res;
  try {
    res = await measure(peer, running, sc);
  } catch (err) {
    res = { peer: peer.name, scenario: sc.name, kind: sc.kind, rate: sc.rate, status: 'error', reason: err.message.split('\n').slice(0, 6).join(' | ') };
  }
  results.push(res);
  if (res.status === 'ok') {
    const fig = sc.kind === 'open' ? `${res.load.achievedRate} req/s achieved` : `${Math.round(res.rps).toLocaleString('en-US')} req/s`;
    log(`  ${peer.name} ${sc.name}: ${fig}, p50 ${res.latency.p50} ms, p99 ${res.latency.p99} ms, p99.9 ${res.latency.p999} ms; CPU peer ${res.cpu.peer ?? '–'}% upstream ${res.cpu.upstream}% load ${res.cpu.load}% other ${res.cpu.other}%${res.notes.length ? ` [${res.notes.join('; ')}]` : ''}`);
  } else {
    log(`  ${peer.name} ${sc.name}: ${res.status.toUpperCase()}: ${res.reason}`);
    skipped.push({ peer: peer.name, scenario: sc.name, reason: `${res.status}: ${res.reason}` });
    if (isJwtgate) jwtgateFailed = true;
  }
  if (peer.name !== 'upstream-direct' && running.pid && !existsSync(`/proc/${running.pid}`)) {
    log(`${peer.name} died:\n${running.output?.() ?? ''}`);
    if (isJwtgate) jwtgateFailed = true;
    const lastLine = (running.output?.() ?? '').trim().split('\n').pop()?.slice(0, 200);
    return { out: `${peer.name} died during ${sc.name}${lastLine ? ` (last output: ${lastLine})` : ''}` };
  }
  // A peer that failed a base probe answers wrong whatever the scenario: it is never measured.
  if (res.baseProbesFailed) return { out: `${peer.name} failed its base probes in ${sc.name}: ${res.reason}` };
  return {};
}

// Every peer is started first and stays up (idle) while the others are measured; then each
// scenario is measured on every peer in turn (BENCH_ORDER=interleaved, the default), so that the
// figures a ratio divides were taken within a minute of each other: this machine's speed drifts
// by 20% and more over the minutes of a full run, and measuring one peer's whole series after
// another's put that drift into the ratios. BENCH_ORDER=by-peer measures each peer's whole series
// in turn (the order of earlier runs). Either way a peer runs its scenarios in the same order, so
// its process state (caches, heap) at each scenario is the same. A peer taken out of the run (it
// died or failed a base probe) is listed in `skipped` for each scenario it then missed (lib/schedule.mjs).
const { runSchedule } = await import('./lib/schedule.mjs');
const outOfRun = await runSchedule({ peers, scenarios, order, applicable, start: startPeer, measure: measureAndLog, stopping: () => proc.isStopping(), skipped });
for (const [name, reason] of outOfRun) log(`${name}: not measured after that: ${reason}`);
await upstream.stop();
const syscallEnd = syscallMicros();

// ---- 6. report ----
if (proc.isStopping()) {
  // Interrupted: the results are incomplete; write nothing (the signal handler exits).
  await new Promise(() => {});
}
function gitInfo() {
  try {
    const sha = execFileSync('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return { sha, dirty };
  } catch {
    return { sha: 'unknown', dirty: false };
  }
}
const acVersion = JSON.parse(readFileSync(path.join(benchDir, 'node_modules/autocannon/package.json'), 'utf8')).version;
const stamp = new Date(t0).toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
const report = {
  meta: {
    timestamp: new Date(t0).toISOString(),
    mode,
    // "custom" when a measurement setting was overridden (listed in `overrides`).
    label,
    custom: Object.keys(settingsOverridden).length > 0,
    overrides: settingsOverridden,
    node: process.version,
    cores,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    // µs per system call (`dd`, bench/lib/gauge.mjs) at the start and the end of the run, and the
    // kernel's Meltdown mitigation: the machine's speed, which moves every figure between runs.
    syscallUs: { start: syscallStart, end: syscallEnd },
    meltdown: pageTableIsolation(),
    git: gitInfo(),
    jwtgateStale: built.stale ?? false,
    peers: peerMeta,
    skipped,
    durations,
    order,
    tokens: tokenCount,
    load: { autocannon: acVersion, procs: loadProcs, connections, openLoop: 'bench/lib/openloop-proc.mjs' },
    upstream: `bench/peers/upstream.mjs, node:http, ${upstreamProcs} process${upstreamProcs > 1 ? 'es' : ''}, keep-alive`,
    cpus,
    nice: env.BENCH_NICE ? Number(env.BENCH_NICE) : 0,
    env: Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('BENCH_') || k === 'QUICK' || k === 'SMOKE')),
    wallSec: Math.round((Date.now() - t0) / 1000),
  },
  scenarios: scenarios.map(({ name, kind, rate, expect, about }) => ({ name, kind, rate, expect, about })),
  results,
};
const outDir = env.BENCH_OUT ?? (SMOKE ? path.join(os.tmpdir(), `jwtgate-bench-smoke-${stamp}`) : path.join(benchDir, 'results'));
mkdirSync(outDir, { recursive: true });
const files = writeReport(report, outDir, stamp, { latest: writesLatest });
const scen = scenarios.map((s) => s.name).filter((n) => results.some((r) => r.scenario === n) || skipped.some((x) => x.scenario === n));
process.stdout.write(`\n${summaryTable(results, scen, skipped)}`);
process.stdout.write('\n');
log(`results: ${files.md}${files.svg ? `, ${path.basename(files.svg)}` : ''}, ${path.basename(files.json)}${files.latest ? ' (+ latest.md/latest.svg/latest.json)' : mode === 'full' && !env.BENCH_OUT && env.BENCH_NO_LATEST !== '1' ? ' (latest.* not refreshed: a custom run; BENCH_LATEST=1 would)' : ''}`);
if (!SMOKE) for (const t of targets(results, peers.find((p) => p.name.startsWith('jwtgate'))?.name).filter((t) => t.jwtgate || t.reference)) log(`  target ${t.target}: ${t.jwtgate ?? 'not measured'} vs ${t.reference ?? 'not measured'} ${t.note} ${t.pass === undefined ? (t.verdict === '–' ? '' : t.verdict) : t.pass ? 'MET' : 'NOT MET'}`);
log(`done in ${clock()}`);
if (jwtgateFailed && peers.some((p) => p.name.startsWith('jwtgate'))) {
  log('FAIL: jwtgate could not be measured or failed a probe (see above)');
  process.exit(1);
}
process.exit(0);

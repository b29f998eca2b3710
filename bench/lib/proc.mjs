// Child processes, free ports, readiness waits and CPU accounting for the harness.
// Every child is spawned in its own process group and remembered, so that killAll() (called on
// normal exit, on errors, on SIGINT/SIGTERM and from the 'exit' hook) can end it and everything it
// forked (nginx workers, cluster workers) by group id.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const children = new Set();
let hasTaskset;
let stopping = false;

export function tasksetAvailable() {
  if (hasTaskset === undefined) {
    try {
      execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
      hasTaskset = true;
    } catch {
      hasTaskset = false;
    }
  }
  return hasTaskset;
}

/**
 * Spawns `cmd args` (optionally pinned with `taskset -c cpus`) in its own process group.
 * Keeps the last `keep` bytes of stdout/stderr for error messages.
 * Returns a handle: { name, pid, child, output(), exited (promise of {code, signal}), stop() }.
 */
export function spawnChild(name, cmd, args, { env, cwd, cpus, ipc = false, keep = 16_384, onStdout } = {}) {
  if (stopping) throw new Error(`not starting ${name}: the harness is stopping`);
  let argv = [cmd, ...args];
  if (cpus !== undefined && cpus !== '' && tasksetAvailable()) argv = ['taskset', '-c', String(cpus), ...argv];
  // BENCH_NICE=-10 (root only below 0) runs every child at that priority, so that other work on a
  // shared machine disturbs the measurements less (and is slowed down in turn).
  if (process.env.BENCH_NICE) argv = ['nice', '-n', String(Number(process.env.BENCH_NICE)), ...argv];
  const child = spawn(argv[0], argv.slice(1), {
    cwd,
    env: { ...process.env, ...env },
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  const append = (d) => {
    out += d;
    if (out.length > keep * 2) out = out.slice(-keep);
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    append(d);
    onStdout?.(d);
  });
  child.stderr.on('data', append);
  const handle = {
    name,
    child,
    pid: child.pid,
    cmdline: argv.join(' '),
    exitedWith: undefined,
    output: () => out.slice(-keep),
    exited: new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        handle.exitedWith = { code, signal };
        children.delete(handle);
        resolve({ code, signal });
      });
      child.on('error', (err) => {
        append(`\n[spawn error] ${err.message}\n`);
        handle.exitedWith = { code: -1, signal: null, error: err };
        children.delete(handle);
        resolve({ code: -1, signal: null, error: err });
      });
    }),
    /** SIGTERM to the group, SIGKILL after `graceMs`. */
    async stop(graceMs = 3000) {
      if (handle.exitedWith) return handle.exitedWith;
      killGroup(child.pid, 'SIGTERM');
      const t = setTimeout(() => killGroup(child.pid, 'SIGKILL'), graceMs);
      const r = await handle.exited;
      clearTimeout(t);
      // Group members (nginx workers, cluster workers) may outlive the leader for a moment.
      killGroup(child.pid, 'SIGKILL');
      return r;
    },
  };
  children.add(handle);
  return handle;
}

function killGroup(pid, signal) {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** True once SIGINT/SIGTERM/SIGHUP was received: the run must not report. */
export function isStopping() {
  return stopping;
}

/** Synchronous: safe in 'exit' handlers. */
export function killAll(signal = 'SIGKILL') {
  for (const h of children) killGroup(h.pid, signal);
}

let cleanupInstalled = false;
/** Installs handlers so no child outlives the harness (normal exit, Ctrl-C, SIGTERM, crashes). */
export function installCleanup(onSignal) {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', () => killAll('SIGKILL'));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      stopping = true;
      process.stderr.write(`\n[bench] ${sig}: stopping every child process\n`);
      killAll('SIGTERM');
      try {
        onSignal?.(sig);
      } catch {
        /* ignore */
      }
      setTimeout(() => {
        killAll('SIGKILL');
        process.exit(130);
      }, 500).unref();
    });
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(`[bench] uncaught: ${err?.stack ?? err}\n`);
    killAll('SIGKILL');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`[bench] unhandled rejection: ${err?.stack ?? err}\n`);
    killAll('SIGKILL');
    process.exit(1);
  });
}

/** A port that was free a moment ago on 127.0.0.1 (bind to port 0, read it, close). */
export async function freePort(host = '127.0.0.1') {
  return (await freePorts(1, host))[0];
}

/**
 * `n` distinct ports that were free a moment ago: all n are held open at once, then closed. A
 * port can still be taken by another socket before the child binds it: start with
 * startRetryingPortClash.
 */
export async function freePorts(n, host = '127.0.0.1') {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      srv.unref();
      servers.push(srv);
      await new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, host, resolve);
      });
    }
    return servers.map((srv) => srv.address().port);
  } finally {
    await Promise.all(servers.map((srv) => new Promise((resolve) => (srv.listening ? srv.close(() => resolve()) : resolve()))));
  }
}

/** A start failure caused by a port another socket took between freePorts() and the child's bind. */
export function isPortClash(err) {
  return /EADDRINUSE|address (already )?in use/i.test(String(err?.message ?? err));
}

/**
 * Runs `start` (which picks its ports with freePorts) up to `attempts` times while it fails with
 * a port clash; any other failure, or the last clash, is thrown. `onRetry(err, attempt)` is told
 * of each retry.
 */
export async function startRetryingPortClash(start, { attempts = 3, onRetry = () => {} } = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= attempts || !isPortClash(err)) throw err;
      onRetry(err, attempt);
    }
  }
}

/** One plain HTTP request (no keep-alive), resolves { status, headers, body } or rejects on timeout. */
export function httpGet(url, { headers = {}, timeoutMs = 3000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { connection: 'close', ...headers }, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: GET ${url}`)));
    req.on('error', reject);
  });
}

/** jwtgate's /metrics as { 'name{labels}': value }, or undefined when the admin endpoint does not answer. */
export async function scrapeMetrics(adminUrl) {
  if (!adminUrl) return undefined;
  try {
    const r = await httpGet(`${adminUrl}/metrics`, { timeoutMs: 2000 });
    const out = {};
    for (const line of r.body.split('\n')) {
      const m = /^(jwtgate_\w+)(\{[^}]*\})?\s+([\d.eE+-]+)$/.exec(line);
      if (m) out[`${m[1]}${m[2] ?? ''}`] = Number(m[3]);
    }
    return out;
  } catch {
    return undefined;
  }
}

/**
 * Polls `url` until `accept(status)` (default: any HTTP answer) or the deadline; fails early if
 * `handle` exits. Returns the last response.
 */
export async function waitForHttp(url, { timeoutMs = 15_000, accept = () => true, handle, headers } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    if (handle?.exitedWith) {
      throw new Error(`${handle.name} exited (${JSON.stringify(handle.exitedWith)}) before ${url} answered:\n${handle.output()}`);
    }
    try {
      const r = await httpGet(url, { timeoutMs: 1000, headers });
      last = `HTTP ${r.status}`;
      if (accept(r.status)) return r;
    } catch (err) {
      last = err.message;
    }
    if (Date.now() > deadline) {
      throw new Error(`${url} not ready after ${timeoutMs} ms (last: ${last})${handle ? `\n--- ${handle.name} output ---\n${handle.output()}` : ''}`);
    }
    await sleep(100);
  }
}

/** Waits for a line on the child's stdout matching `re`; resolves the match. */
export function waitForLine(handle, re, timeoutMs = 15_000) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = handle.output().match(re);
      if (m) {
        done();
        resolve(m);
      }
    };
    const t = setTimeout(() => {
      done();
      reject(new Error(`${handle.name}: no line matching ${re} within ${timeoutMs} ms:\n${handle.output()}`));
    }, timeoutMs);
    const onExit = () => {
      done();
      reject(new Error(`${handle.name} exited (${JSON.stringify(handle.exitedWith)}):\n${handle.output()}`));
    };
    const done = () => {
      clearTimeout(t);
      handle.child.stdout.off('data', check);
      handle.child.off('exit', onExit);
    };
    handle.child.stdout.on('data', check);
    handle.child.once('exit', onExit);
    check();
  });
}

// ---- CPU accounting from /proc/<pid>/stat ----

let clkTck;
function ticksPerSecond() {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** Fields of a /proc `stat` file (a process's, or a thread's under /proc/<pid>/task/<tid>/). */
function readStat(file) {
  try {
    const s = readFileSync(file, 'utf8');
    // comm may contain spaces/parens: fields start after the last ')'.
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // rest[0] = state (field 3), so field N is rest[N - 3].
    return { pgrp: Number(rest[2]), utime: Number(rest[11]), stime: Number(rest[12]) };
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (user + system, all threads) used so far by every live process in the process group
 * `pgid` (the group leader and what it forked: nginx workers, cluster workers).
 */
export function groupCpuSeconds(pgid) {
  let ticks = 0;
  let pids;
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  let found = false;
  for (const p of pids) {
    const st = readStat(`/proc/${p}/stat`);
    if (st && (st.pgrp === pgid || Number(p) === pgid)) {
      ticks += st.utime + st.stime;
      found = true;
    }
  }
  return found ? ticks / ticksPerSecond() : undefined;
}

/** CPU seconds (user + system) used so far by each live thread of `pid`: Map tid -> seconds. */
export function threadCpuSeconds(pid) {
  const out = new Map();
  let tids;
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    const st = readStat(`/proc/${pid}/task/${tid}/stat`);
    if (st) out.set(tid, (st.utime + st.stime) / ticksPerSecond());
  }
  return out;
}

/** Samples several process groups at once: returns a function that, when called, returns % of one core each. */
export function cpuMeter(groups) {
  const t0 = process.hrtime.bigint();
  const start = Object.fromEntries(Object.entries(groups).filter(([, pid]) => pid).map(([k, pid]) => [k, groupCpuSeconds(pid)]));
  return () => {
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const out = {};
    for (const [k, pid] of Object.entries(groups)) {
      if (!pid) continue;
      const end = groupCpuSeconds(pid);
      if (end === undefined || start[k] === undefined) continue;
      out[k] = Math.round(((end - start[k]) / secs) * 1000) / 10;
    }
    // The interval the percentages cover (CPU per request = percentage × interval / requests).
    Object.defineProperty(out, 'seconds', { value: secs, enumerable: false });
    return out;
  };
}

export { sleep };

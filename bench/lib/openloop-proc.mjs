// Open-loop fixed-rate load generator (the "wrk2" method), on raw node:net sockets.
// Request i is *intended* at t0 + i/rate whatever happened to earlier requests; its latency is
// measured from that intended time, so when the target stalls, the queueing it causes is counted
// (no coordinated omission). Requests that find no idle connection wait in a FIFO (and more
// connections are opened, up to maxConnections); that wait is part of their latency.
//
// Started by lib/load.mjs with an IPC channel; BENCH_LOAD_CONFIG (JSON):
//   { url, path, rate, connections, maxConnections, drainSec, token? | tokensFile, tokenFrom, tokenTo,
//     tokenStart?, traceFile? }
// With several tokens, request i of a run carries token (start + i) mod N, the rotation going on
// across runs and processes (tokenStart in, tokenStart of the next run out).
// traceFile: each run writes one line per request there (intended ms from the run's start, send
// delay ms, service ms; '-' for a request that never completed) after a `# t0_monotonic_ms` line,
// the last run overwriting.
// After the last scheduled send, stragglers get drainSec (default 3 s); what is still unanswered
// then is counted as a timeout and enters the histogram with the time it had waited.
// Protocol as lib/load-proc.mjs: ready / run {duration} -> started, done {result} / exit.
// Reported: latency (from intended time, in the histogram sent back), and as summary figures the
// service time (from the actual write), the send delay (actual write - intended time: the
// generator's own scheduling delay plus any wait for a free connection, i.e. behind a target
// that holds every connection; part of the latency), and apart from it the generator's own delay
// (intended time -> handed to an idle connection or, with none idle, to the FIFO) and the share of
// requests that found no idle connection (queuedPct). The tail analysis's "generator late" uses
// the generator's own delay.
import net from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { tailEpisodes } from './stalls.mjs';

// Monotonic milliseconds on the same clock in every thread (nowMs() has a per-thread origin).
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

// ---- metronome thread ----
// libuv timers have 1 ms granularity, which would add up to ~1 ms of scheduling lag to every
// request. A persistent worker thread sleeps with Atomics.wait (futex, sub-ms) until the next
// intended send time and wakes the main thread with a message; a shared flag coalesces wake-ups,
// so at most one message is in flight and the main thread sends everything due when it handles it.
// Shared state: flags[0] wake-up pending, [1] stop current run, [2] run generation (-1 = quit);
// params[0] t0 (ms), [1] interval (ms), [2] number of requests.
async function metronomeThread({ flagsBuf, paramsBuf }) {
  const { parentPort } = await import('node:worker_threads');
  const f = new Int32Array(flagsBuf);
  const p = new Float64Array(paramsBuf);
  let gen = 0;
  for (;;) {
    Atomics.wait(f, 2, gen);
    gen = Atomics.load(f, 2);
    if (gen < 0) return;
    const t0 = p[0];
    const interval = p[1];
    const total = p[2];
    let next = 0;
    while (next < total && Atomics.load(f, 1) === 0) {
      const wait = t0 + next * interval - nowMs();
      if (wait > 0.01) Atomics.wait(f, 1, 0, wait);
      if (Atomics.load(f, 1) !== 0) break;
      if (Atomics.compareExchange(f, 0, 0, 1) === 0) parentPort.postMessage(gen);
      // Every send time already due is handled by the main thread on this wake-up.
      next = Math.max(next + 1, Math.floor((nowMs() - t0) / interval) + 1);
    }
  }
}

if (!isMainThread && workerData?.metronome) await metronomeThread(workerData);
else await main();

async function main() {
const require = createRequire(import.meta.url);
const hdr = require('hdr-histogram-js');

const cfg = JSON.parse(process.env.BENCH_LOAD_CONFIG ?? '{}');
const url = new URL(cfg.url);
const host = url.hostname;
const port = Number(url.port || 80);
const reqPath = cfg.path ?? '/headers';
const initialConns = Math.max(1, cfg.connections ?? 64);
const maxConns = Math.max(initialConns, cfg.maxConnections ?? 1024);

let tokens = [];
if (cfg.tokensFile) {
  const all = readFileSync(cfg.tokensFile, 'utf8').split('\n').filter(Boolean);
  tokens = all.slice(cfg.tokenFrom ?? 0, cfg.tokenTo ?? all.length);
} else if (cfg.token) {
  tokens = [cfg.token];
}
const requests = (tokens.length ? tokens : [null]).map((t) =>
  Buffer.from(`GET ${reqPath} HTTP/1.1\r\nHost: ${url.host}\r\nUser-Agent: jwtgate-bench-openloop\r\n${t ? `Authorization: Bearer ${t}\r\n` : ''}\r\n`, 'latin1'),
);

// Where the next run starts in the token rotation: each run (warm-up, measured run, a repeated
// measurement) continues where the last one stopped, and a new process at the `tokenStart` the
// last process reached, so tokens sent in the warm-up are not sent again (and answered from a
// cache) in the measured run.
let tokenBase = requests.length > 1 ? (cfg.tokenStart ?? 0) % requests.length : 0;

const newHist = () => hdr.build({ bitBucketSize: 64, lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3, autoResize: true });

// ---- per-run state ----
let run = null;

const conns = [];
const idle = [];
let connecting = 0;

class Conn {
  constructor() {
    this.sock = net.connect({ host, port, noDelay: true });
    this.sock.setNoDelay(true);
    this.ready = false;
    this.inflight = null; // { index, intended, dispatched, sent, run }
    this.buf = null;
    this.state = 0; // 0 headers, 1 body by length, 2 chunk size, 3 chunk data, 4 chunk trailer
    this.remaining = 0;
    this.status = 0;
    connecting++;
    conns.push(this);
    this.sock.on('connect', () => {
      connecting--;
      this.ready = true;
      this.release();
    });
    this.sock.on('data', (d) => this.onData(d));
    this.sock.on('error', () => {});
    this.sock.on('close', () => this.onClose());
  }

  send(item) {
    this.inflight = item;
    item.sent = nowMs();
    this.state = 0;
    this.buf = null;
    this.sock.write(requests[(item.run.tokenBase + item.index) % requests.length]);
  }

  release() {
    // Called when the connection becomes free: take the oldest waiting request, if any.
    const r = run;
    if (r && r.queue.length > r.qHead) {
      const item = r.queue[r.qHead];
      r.queue[r.qHead++] = undefined;
      if (r.qHead > 4096 && r.qHead * 2 > r.queue.length) {
        r.queue = r.queue.slice(r.qHead);
        r.qHead = 0;
      }
      this.send(item);
    } else {
      idle.push(this);
    }
  }

  onData(d) {
    let buf = this.buf ? Buffer.concat([this.buf, d]) : d;
    this.buf = null;
    let off = 0;
    while (off < buf.length) {
      if (this.state === 0) {
        const end = buf.indexOf('\r\n\r\n', off, 'latin1');
        if (end < 0) {
          this.buf = buf.subarray(off);
          return;
        }
        const head = buf.toString('latin1', off, end);
        this.status = Number(head.slice(9, 12));
        off = end + 4;
        const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
        if (cl) {
          this.remaining = Number(cl[1]);
          this.state = 1;
        } else if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) {
          this.state = 2;
        } else {
          this.remaining = 0;
          this.state = 1;
        }
        this.closeAfter = /\r\nconnection:[ \t]*close/i.test(head);
        if (this.state === 1 && this.remaining === 0) this.complete();
      } else if (this.state === 1) {
        const take = Math.min(this.remaining, buf.length - off);
        off += take;
        this.remaining -= take;
        if (this.remaining === 0) this.complete();
      } else if (this.state === 2 || this.state === 4) {
        const eol = buf.indexOf('\r\n', off, 'latin1');
        if (eol < 0) {
          this.buf = buf.subarray(off);
          return;
        }
        const line = buf.toString('latin1', off, eol);
        off = eol + 2;
        if (this.state === 4) {
          if (line === '') this.complete(); // end of trailers
          continue;
        }
        const size = parseInt(line, 16);
        if (size === 0) this.state = 4;
        else {
          this.remaining = size + 2; // data + CRLF
          this.state = 3;
        }
      } else if (this.state === 3) {
        const take = Math.min(this.remaining, buf.length - off);
        off += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = 2;
      }
    }
  }

  complete() {
    const item = this.inflight;
    this.inflight = null;
    this.state = 0;
    const now = nowMs();
    const r = item?.run;
    if (r && r === run) {
      r.completed++;
      r.lastDone = now;
      r.statusCodes[this.status] = (r.statusCodes[this.status] ?? 0) + 1;
      r.latency.recordValue(Math.max(1, Math.round((now - item.intended) * 1000)));
      r.service.recordValue(Math.max(1, Math.round((now - item.sent) * 1000)));
      r.lag.recordValue(Math.max(1, Math.round((item.sent - item.intended) * 1000)));
      r.genLag.recordValue(Math.max(1, Math.round(((item.dispatched || item.sent) - item.intended) * 1000)));
      r.sentAt[item.index] = item.sent;
      r.dispatchedAt[item.index] = item.dispatched || item.sent;
      r.doneAt[item.index] = now;
      if (r.completed + r.errors >= r.total) r.finish?.();
    }
    if (this.closeAfter) {
      this.sock.destroy();
      return;
    }
    this.release();
  }

  onClose() {
    if (!this.ready) connecting--;
    this.ready = false;
    const i = conns.indexOf(this);
    if (i >= 0) conns.splice(i, 1);
    const j = idle.indexOf(this);
    if (j >= 0) idle.splice(j, 1);
    const item = this.inflight;
    this.inflight = null;
    if (item && item.run === run && run) {
      // A request whose connection the peer closed enters the histogram with what it waited, as
      // a timed-out one does: a peer must not look faster by dropping connections.
      run.latency.recordValue(Math.max(1, Math.round((nowMs() - item.intended) * 1000)));
      run.errors++;
      if (run.completed + run.errors >= run.total) run.finish?.();
    }
    // Keep the pool at its initial size while a run is on.
    if (run && !run.done && conns.length < initialConns) new Conn();
  }
}

const flags = new Int32Array(new SharedArrayBuffer(12));
const params = new Float64Array(new SharedArrayBuffer(24));
let onTick = () => {};
const metronome = new Worker(new URL(import.meta.url), { workerData: { metronome: true, flagsBuf: flags.buffer, paramsBuf: params.buffer } });
metronome.on('message', (g) => onTick(g));
metronome.on('error', (err) => process.send({ type: 'error', message: `metronome: ${err?.stack ?? err}` }));
metronome.unref();

function dispatch(r, index, intended) {
  // dispatched: when a request that found no idle connection went into the FIFO (0: sent at once,
  // so its write time is when the generator handed it out).
  const item = { index, intended, dispatched: 0, sent: 0, run: r };
  // FIFO over idle connections: every connection stays in use (none sits idle long enough to hit
  // a server's keep-alive timeout and race a request against its close).
  const c = idle.shift();
  if (c) {
    c.send(item);
    return;
  }
  item.dispatched = nowMs();
  r.queued++;
  r.queue.push(item);
  r.maxQueue = Math.max(r.maxQueue, r.queue.length - r.qHead);
  if (conns.length < maxConns && connecting < 64) new Conn();
}

function runFor(durationSec) {
  return new Promise((resolve) => {
    const rate = cfg.rate;
    const total = Math.max(1, Math.round(rate * durationSec));
    const interval = 1000 / rate;
    const r = {
      total,
      tokenBase,
      completed: 0,
      errors: 0,
      statusCodes: {},
      latency: newHist(),
      service: newHist(),
      lag: newHist(),
      genLag: newHist(),
      queued: 0,
      queue: [],
      qHead: 0,
      maxQueue: 0,
      done: false,
      lastDone: 0,
      // Per request (by index): actual write time and completion time, for the tail analysis.
      sentAt: new Float64Array(total),
      doneAt: new Float64Array(total),
      dispatchedAt: new Float64Array(total),
    };
    run = r;
    const cpu0 = process.cpuUsage();
    const t0 = nowMs() + 5;
    // The parent starts its CPU meters on this (lib/load.mjs).
    process.send({ type: 'started' });
    let next = 0;
    let deadline;
    params[0] = t0;
    params[1] = interval;
    params[2] = total;
    Atomics.store(flags, 0, 0);
    Atomics.store(flags, 1, 0);
    const gen = Atomics.add(flags, 2, 1) + 1;
    Atomics.notify(flags, 2);
    const finish = () => {
      if (r.done) return;
      r.done = true;
      Atomics.store(flags, 1, 1);
      Atomics.notify(flags, 1);
      clearTimeout(deadline);
      const end = nowMs();
      const wall = (end - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const timeouts = r.total - r.completed - r.errors;
      // Answers in by the end of the schedule: a peer that kept the rate has answered nearly all it
      // was sent by then; one that fell behind has a backlog. (achievedRate waits for the late
      // answers, so a handful of answers a few tens of ms late already brought it under 98%.)
      const scheduleEnd = t0 + durationSec * 1000;
      let onTime = 0;
      for (let i = 0; i < next; i++) if (r.doneAt[i] > 0 && r.doneAt[i] <= scheduleEnd) onTime++;
      // Requests given up on (still queued or in flight, or never scheduled because the run was
      // cut short) enter the histogram with what they waited so far: a lower bound, so a
      // saturated peer cannot look better by leaving requests unanswered.
      for (let i = r.qHead; i < r.queue.length; i++) if (r.queue[i]) r.latency.recordValue(Math.max(1, Math.round((end - r.queue[i].intended) * 1000)));
      for (const c of conns) if (c.inflight?.run === r) r.latency.recordValue(Math.max(1, Math.round((end - c.inflight.intended) * 1000)));
      run = null;
      tokenBase = (tokenBase + next) % requests.length;
      const result = {
        ...(requests.length > 1 ? { tokenStart: tokenBase } : {}),
        completed: r.completed,
        sent: next,
        errors: r.errors + timeouts,
        timeouts,
        statusCodes: r.statusCodes,
        // The time the run took: the requested duration, or longer when the peer fell behind and
        // the answers came in late (req/s over the requested duration would overstate it).
        durationSec: Math.max(durationSec, (r.lastDone - t0) / 1000),
        wallSec: wall,
        cpuPct: Math.round(((cpu.user + cpu.system) / 1e6 / wall) * 1000) / 10,
        latency: hdr.encodeIntoCompressedBase64(r.latency),
        extra: {
          targetRate: rate,
          // Completions over the time it took to get them (a peer that falls behind finishes late).
          achievedRate: Math.round((r.completed / Math.max(durationSec, (r.lastDone - t0) / 1000)) * 10) / 10,
          // Answers per second that came in within the schedule: what "sustained" is judged on.
          onScheduleRate: Math.round((onTime / durationSec) * 10) / 10,
          givenUp: timeouts,
          connections: conns.length,
          maxQueue: r.maxQueue,
          serviceP50Ms: r.service.totalCount ? r.service.getValueAtPercentile(50) / 1000 : null,
          serviceP99Ms: r.service.totalCount ? r.service.getValueAtPercentile(99) / 1000 : null,
          sendLagP50Ms: r.lag.totalCount ? r.lag.getValueAtPercentile(50) / 1000 : null,
          sendLagP99Ms: r.lag.totalCount ? r.lag.getValueAtPercentile(99) / 1000 : null,
          // The generator's own delay, without the wait for a free connection.
          genLagP50Ms: r.genLag.totalCount ? r.genLag.getValueAtPercentile(50) / 1000 : null,
          genLagP99Ms: r.genLag.totalCount ? r.genLag.getValueAtPercentile(99) / 1000 : null,
          // % of the requests sent that found no idle connection and waited in the FIFO.
          queuedPct: next ? Math.round((1000 * r.queued) / next) / 10 : null,
          tail: tailEpisodes({ t0, interval, sent: r.dispatchedAt, done: r.doneAt, count: next }),
        },
      };
      if (cfg.traceFile) writeTrace(cfg.traceFile, t0, interval, r.sentAt, r.doneAt, next);
      // Requests still queued or in flight belong to no run any more: recycle busy sockets.
      for (const c of [...conns]) if (c.inflight) c.sock.destroy();
      resolve(result);
    };
    r.finish = finish;
    const tick = () => {
      if (r.done) return;
      Atomics.store(flags, 0, 0);
      const now = nowMs();
      while (next < total && t0 + next * interval <= now) {
        dispatch(r, next, t0 + next * interval);
        next++;
      }
      if (next >= total && !deadline) {
        // Everything is scheduled: wait for the stragglers, at most timeoutSec.
        deadline = setTimeout(finish, (cfg.drainSec ?? 3) * 1000);
        if (r.completed + r.errors >= r.total) finish();
      }
    };
    onTick = (g) => g === gen && tick();
    // Safety net in case a wake-up is lost: a coarse libuv timer also ticks.
    const backup = setInterval(() => (r.done ? clearInterval(backup) : tick()), 5);
  });
}

function writeTrace(file, t0, interval, sent, done, count) {
  // t0 on the monotonic clock (process.hrtime, ms), the same in every process on the machine, so
  // a peer's own event log (GC, …) can be lined up with the requests.
  const lines = [`# t0_monotonic_ms ${t0.toFixed(3)}`, 'intended_ms\tsend_delay_ms\tservice_ms'];
  for (let i = 0; i < count; i++) {
    const intended = t0 + i * interval;
    lines.push(done[i] > 0 ? `${(i * interval).toFixed(3)}\t${(sent[i] - intended).toFixed(3)}\t${(done[i] - sent[i]).toFixed(3)}` : `${(i * interval).toFixed(3)}\t-\t-`);
  }
  writeFileSync(file, lines.join('\n') + '\n');
}

async function warmConnections() {
  while (conns.length < initialConns) new Conn();
  const deadline = Date.now() + 5000;
  while (connecting > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

if (isMainThread) process.on('message', async (m) => {
  if (m?.type === 'run') {
    try {
      await warmConnections();
      process.send({ type: 'done', result: await runFor(m.duration) });
    } catch (err) {
      process.send({ type: 'error', message: err?.stack ?? String(err) });
    }
  } else if (m?.type === 'exit') {
    for (const c of conns) c.sock.destroy();
    process.exit(0);
  }
});
if (isMainThread) {
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'ready' });
}
}

// The one JWKS refresher thread of the process (compiled to dist/workers/jwks-refresher.js,
// started by src/jwks/refresher.ts): fetches every remote key set, imports it once, and posts the
// keys (KeyObjects clone to the one parent port) and every fetch outcome to the main thread,
// which assigns generations and publishes to the verify workers. Takes `configure` and `refetch`
// commands. Never logs (the main thread does, from the events); never throws out of a handler.

import { parentPort, workerData } from 'node:worker_threads';
import { RefreshScheduler } from '../src/jwks/refresh-scheduler.js';
import { fetchJwks } from '../src/jwks/remote-fetch.js';
import type { RefresherCommand, RefresherEvent } from '../src/types.js';
import { monotonicMs } from '../src/util/monotonic.js';

interface RefresherWorkerData {
  readonly kidMissCooldownMs?: number;
  readonly fetchTimeoutMs?: number;
}

const data = (workerData ?? {}) as RefresherWorkerData;
const port = parentPort!;

const scheduler = new RefreshScheduler({
  // Monotonic: a wall-clock step must not stretch the kid-miss cooldown or a restart's schedule.
  now: monotonicMs,
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
  random: Math.random,
  fetch: (spec) => fetchJwks(spec, { timeoutMs: data.fetchTimeoutMs }),
  emit: (ev: RefresherEvent) => port.postMessage(ev),
  kidMissCooldownMs: data.kidMissCooldownMs,
});

port.on('message', (cmd: RefresherCommand) => {
  try {
    scheduler.handle(cmd);
  } catch (err) {
    // A bad command must not take the thread down; the main thread logs it.
    port.postMessage({ type: 'fetch', id: '', url: '', outcome: 'internal', trigger: 'refresh', reason: `refresher: ${String(err)}`, attempts: 0, durationMs: 0, first: false, nextFetchInMs: 0 } satisfies RefresherEvent);
  }
});

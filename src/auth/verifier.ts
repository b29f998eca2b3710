// Main-thread side of signature verification: owns the piscina pool of verify workers, keeps
// the key sets they use (published over a BroadcastChannel, with a copy kept here), batches
// items into one task per worker, and verifies inline on the main thread when that is cheaper
// or when a worker cannot (key set not loaded yet, worker crash). Failures are values. Does not
// parse tokens, check claims or cache results (authenticator.ts and result-cache.ts do).

import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { workerExecArgv } from '../util/worker-exec-argv.js';
import type { Metrics } from '../observability/metrics.js';
import { ThrottledWarning, type Logger } from '../observability/log.js';
import { StartupError } from '../errors.js';
import { toWire, type KeySetWireMessage, type KeyWireMessage, type WireKey } from '../jwks/key-wire.js';
import { verifyWithKeySet, VERIFY_FAILURES } from '../jwks/verify-signature.js';
import {
  KEYSET_CHANNEL,
  VERIFY_PROGRESS_SLOTS,
  type KeyForWorker,
  type KeySetDropMessage,
  type VerifyItem,
  type VerifyItemResult,
  type VerifyTask,
  type VerifyTaskResult,
} from '../types.js';

export type VerifyMode = 'pool' | 'inline' | 'auto';

export interface VerifierOptions {
  /** Worker threads (default `os.availableParallelism()`); the pool is fixed-size. */
  threads?: number;
  /**
   * 'pool': every check goes to the workers (batched); 'inline': every check runs on the main
   * thread and no pool is started; 'auto' (default): inline while the pool is idle and fewer
   * than `inlinePerTick` checks ran inline in the current event-loop turn, pool otherwise.
   */
  mode?: VerifyMode;
  /** Items per task; a full batch is sent at once, a partial one on setImmediate (default 16). */
  batchSize?: number;
  /**
   * Tasks in flight per worker (piscina concurrentTasksPerWorker, default 2). Checks beyond
   * these wait in this thread's queue, where maxQueueMs sheds them: queued inside workers (8
   * tasks of 16 checks each, as before), slow checks waited there for over a minute.
   */
  tasksPerWorker?: number;
  /** Checks queued or in flight above which `verify` answers OVERLOADED (default 10000). */
  maxPending?: number;
  /**
   * A check still queued (not yet sent to a worker) after this long is answered OVERLOADED
   * instead (default 1000 ms): under a flood of tokens that need checking, a new request waits
   * at most about this long, not behind the whole queue (10,000 items: tens of seconds).
   */
  maxQueueMs?: number;
  /** 'auto' mode: inline checks allowed per event-loop turn while the pool is idle (default 2). */
  inlinePerTick?: number;
  /** Counts checks in `jwtgate_jwt_verifications_total{mode=pool|inline}` and tasks in `jwtgate_verify_pool_tasks_total{result=ok|failed|timeout}`. */
  metrics?: Pick<Metrics, 'inc'>;
  /**
   * A pool that has made no progress for this long (default 5000 ms) while tasks wait — a worker
   * running the same task without finishing a check, or no worker finishing any — has its tasks
   * given up (answered OVERLOADED) and is replaced (at most once per 10 s), so a worker stuck in a
   * loop, or workers that stopped starting, never leave a request unanswered. Progress is counted
   * per check, so slow checks are never taken for a stuck pool.
   */
  taskTimeoutMs?: number;
  /** At most one pool replacement per this many ms (default 10000; tests shorten it). */
  poolRestartIntervalMs?: number;
  /** The worker module (default dist/workers/verify.js; tests load a faulty one). */
  workerFile?: string;
  /** Worker failures and given-up tasks are logged here (at most one line per 10 s each, with a count). */
  log?: Logger;
}

export type VerifierResult = VerifyItemResult | { readonly ok: false; readonly code: 'OVERLOADED' };

export const OVERLOADED: VerifierResult = Object.freeze({ ok: false, code: 'OVERLOADED' });

export interface VerifierStats {
  /** Checks run on the main thread by choice (inline/auto mode). */
  inline: number;
  /** Checks answered by a worker. */
  pooled: number;
  /** Checks a worker could not do (key set not loaded, crash) that the main thread did. */
  fallbacks: number;
  overloaded: number;
  /** Piscina tasks sent. */
  tasks: number;
}

interface KeySetCopy {
  readonly generation: number;
  readonly keys: readonly KeyForWorker[];
  /** The same keys as sent to workers (see key-wire.ts), kept for republishing. */
  readonly wire: readonly WireKey[];
}

interface Pending {
  readonly item: VerifyItem;
  readonly resolve: (r: VerifierResult) => void;
  /** performance.now() when queued. */
  readonly queuedAt: number;
}

/** A task handed to the pool and not yet answered. */
interface InFlightTask {
  readonly batch: Pending[];
  /** Its number, which the worker running it shows in the progress array. */
  readonly seq: number;
  /** Given up by the watchdog: its checks were answered OVERLOADED, a late answer is dropped. */
  abandoned: boolean;
  /** The pool it went to (a pool replaced by the watchdog rejects its tasks: not a worker failure). */
  readonly pool: Piscina;
}

/** The watchdog's period: a lack of progress is noticed between taskTimeoutMs and taskTimeoutMs + 2 periods (a worker's start is seen up to one period late). */
const WATCHDOG_MS = 250;
/** Pool restarts after given-up tasks, and log lines about worker failures: at most one per this. */
const QUIET_MS = 10_000;

// Compiled layout: dist/src/auth/verifier.js -> dist/workers/verify.js.
const WORKER_FILE = fileURLToPath(new URL('../../workers/verify.js', import.meta.url));

let instances = 0;

/** False for answers given without a signature check (no key set, no usable key, no key for the kid/alg). */
function signatureChecked(r: VerifyItemResult): boolean {
  return r.ok || (r.code !== 'KEYSET_NOT_LOADED' && r.code !== 'JWKS_KID_ALG_MISMATCH' && r.code !== 'JWKS_NO_VALID_KEYS');
}

// piscina loads a task file with require() first. On Node >= 20.19 that succeeds for an ES
// module (require(esm)), and in a worker thread it intermittently aborts the whole process
// (SIGABRT: "Assertion failed: facade->InstantiateModule", seen in CI). With require(esm) off in
// the verify workers, require() throws ERR_REQUIRE_ESM and piscina falls back to import().
const NO_REQUIRE_ESM = '--no-experimental-require-module';
// The parent's node options are passed on, except those a Worker refuses (V8 heap sizes etc.).
let workerArgv: string[] | undefined;
function verifyWorkerExecArgv(): string[] {
  workerArgv ??= workerExecArgv(process.allowedNodeEnvironmentFlags.has(NO_REQUIRE_ESM) ? [NO_REQUIRE_ESM] : []);
  return workerArgv;
}

export class Verifier {
  readonly mode: VerifyMode;
  readonly threads: number;
  readonly stats: VerifierStats = { inline: 0, pooled: 0, fallbacks: 0, overloaded: 0, tasks: 0 };
  /** BroadcastChannel name this Verifier's workers listen on (undefined in inline mode). */
  readonly keySetChannel: string | undefined;
  private readonly batchSize: number;
  private readonly maxTasksInFlight: number;
  private readonly maxPending: number;
  private readonly maxQueueMs: number;
  private readonly inlinePerTick: number;
  private readonly metrics: Pick<Metrics, 'inc'> | undefined;
  private readonly keySets = new Map<string, KeySetCopy>();
  private pool: Piscina | undefined;
  private channel: BroadcastChannel | undefined;
  private queue: Pending[] = [];
  private tasksInFlight = 0;
  private itemsInFlight = 0;
  private flushScheduled = false;
  private inlineThisTick = 0;
  private tickResetScheduled = false;
  private republishScheduled = false;
  private closed = false;
  private readonly inFlight = new Set<InFlightTask>();
  private tick = 0;
  private readonly timeoutTicks: number;
  /** Per worker slot (see VERIFY_PROGRESS_SLOTS): checks done, and the task it runs (0: none). Workers write it. */
  private readonly progress = new Int32Array(new SharedArrayBuffer(VERIFY_PROGRESS_SLOTS * 2 * 4));
  /** What the watchdog last saw in each slot, and the tick it last changed. */
  private readonly seenProgress = new Int32Array(VERIFY_PROGRESS_SLOTS * 2);
  private readonly slotChangedTick = new Int32Array(VERIFY_PROGRESS_SLOTS);
  /** The last tick at which any worker progressed, or nothing was in flight. */
  private progressTick = 0;
  private taskSeq = 0;
  private readonly restartIntervalMs: number;
  private watchdog: NodeJS.Timeout | undefined;
  /** Worker failures and given-up tasks: one line per 10 s each at most, with a count. */
  private readonly workerFailed: ThrottledWarning | undefined;
  /** A worker has answered (ready() or a task): pool errors before that are ready()'s to report. */
  private answered = false;
  private readonly tasksGivenUp: ThrottledWarning | undefined;
  private readonly tasksPerWorker: number;
  private lastRestartMs = -Infinity;
  /** The last worker error piscina reported (a worker that could not start says why here). */
  private lastPoolError: string | undefined;
  private readonly workerFile: string;

  constructor(opts: VerifierOptions = {}) {
    this.mode = opts.mode ?? 'auto';
    this.threads = Math.max(1, opts.threads ?? os.availableParallelism());
    this.batchSize = Math.max(1, opts.batchSize ?? 16);
    const tasksPerWorker = Math.max(1, opts.tasksPerWorker ?? 2);
    this.maxTasksInFlight = this.threads * tasksPerWorker;
    this.maxPending = opts.maxPending ?? 10_000;
    this.maxQueueMs = opts.maxQueueMs ?? 1000;
    this.inlinePerTick = opts.inlinePerTick ?? 2;
    this.metrics = opts.metrics;
    if (opts.log) {
      this.workerFailed = new ThrottledWarning(opts.log, 'signature-check worker failed: its checks were done on the main thread', QUIET_MS);
      this.tasksGivenUp = new ThrottledWarning(opts.log, 'signature-check tasks given up: the worker pool made no progress; their checks were answered 503 (overloaded)', QUIET_MS);
    }
    this.workerFile = opts.workerFile ?? WORKER_FILE;
    this.tasksPerWorker = tasksPerWorker;
    this.restartIntervalMs = opts.poolRestartIntervalMs ?? QUIET_MS;
    this.timeoutTicks = Math.max(1, Math.ceil((opts.taskTimeoutMs ?? 5000) / WATCHDOG_MS));
    if (this.mode === 'inline') {
      this.keySetChannel = undefined;
      return;
    }

    // One channel per Verifier (its name goes to its workers), so two gateways in one process
    // (tests, a reload) never see each other's key sets.
    const channelName = `${KEYSET_CHANNEL}#${process.pid}.${++instances}`;
    this.keySetChannel = channelName;
    this.channel = new BroadcastChannel(channelName);
    this.channel.onmessage = (ev) => {
      const msg = ev.data as KeyWireMessage;
      if (msg?.type === 'keyset-request') this.scheduleRepublish();
    };
    this.channel.unref();
    this.pool = this.createPool();
    this.watchdog = setInterval(this.onWatchdog, WATCHDOG_MS);
    this.watchdog.unref();
  }

  private createPool(): Piscina {
    const pool = new Piscina({
      filename: this.workerFile,
      minThreads: this.threads,
      maxThreads: this.threads,
      // Fixed-size pool: workers never idle out (the largest timer Node accepts).
      idleTimeout: 2 ** 31 - 1,
      // Idle workers run their event loop (Atomics.waitAsync), so key sets published while there
      // is no signature work are taken in as they come. With 'sync' they parked in Atomics.wait
      // and every generation queued up until the next task (a rotating JWKS grew each idle
      // worker's memory without bound under light traffic, which auto mode keeps inline).
      atomics: 'async',
      concurrentTasksPerWorker: this.tasksPerWorker,
      workerData: { keySetChannel: this.keySetChannel, progress: this.progress.buffer },
      execArgv: verifyWorkerExecArgv(),
    });
    // A worker that dies with tasks rejects them (handled in dispatch) and piscina replaces it;
    // one that fails with none, or cannot start, is reported here (without a listener the
    // 'error' event would throw). piscina stops replacing workers that fail while starting:
    // their tasks are then given up by the watchdog.
    pool.on('error', (err: unknown) => {
      this.lastPoolError = errorText(err);
      // Before any worker has answered, the failure is ready()'s start-up error (no check ran).
      if (this.answered) this.workerFailed?.note({ err: this.lastPoolError });
    });
    return pool;
  }

  /**
   * Resolves once a worker has answered a task, so a pool whose workers cannot start (a missing
   * or broken dist/workers/verify.js) stops the start with a clear error instead of leaving every
   * request that needs a check to the watchdog.
   */
  async ready(timeoutMs = 10_000): Promise<void> {
    const pool = this.pool;
    if (!pool) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([pool.run({}, { name: 'keySetState' }), timeout]);
      this.answered = true;
    } catch (err) {
      const why = this.lastPoolError ?? errorText(err);
      throw new StartupError(`the signature-check worker threads could not start (${this.workerFile}): ${why}; run with --verify-mode inline to check signatures on the main thread instead`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Creates or replaces a key set; workers get it over the channel, this thread keeps a copy. */
  publishKeySet(id: string, generation: number, keys: readonly KeyForWorker[]): void {
    const copy: KeySetCopy = { generation, keys: Object.freeze([...keys]), wire: this.channel ? toWire(keys) : [] };
    this.keySets.set(id, copy);
    this.post({ type: 'keyset', id, generation, keys: copy.wire } satisfies KeySetWireMessage);
  }

  /** Forgets key sets no longer referenced by the running snapshot. */
  dropKeySets(ids: readonly string[]): void {
    for (const id of ids) this.keySets.delete(id);
    this.post({ type: 'keyset-drop', ids: [...ids] } satisfies KeySetDropMessage);
  }

  /** Keys of a published key set on this thread (0 when never published). */
  keyCount(id: string): number {
    return this.keySets.get(id)?.keys.length ?? 0;
  }

  /** Generation of a published key set and its key count; undefined when never published. */
  keySetInfo(id: string): { readonly generation: number; readonly keyCount: number } | undefined {
    const ks = this.keySets.get(id);
    return ks && { generation: ks.generation, keyCount: ks.keys.length };
  }

  /** Verifies one item; never rejects. */
  verify(item: VerifyItem): Promise<VerifierResult> {
    const r = this.verifyMaybeSync(item);
    return r instanceof Promise ? r : Promise.resolve(r);
  }

  /**
   * Like `verify`, but answers synchronously (no Promise) when the check runs inline, so a
   * caller on the hot path can stay synchronous.
   */
  verifyMaybeSync(item: VerifyItem): VerifierResult | Promise<VerifierResult> {
    if (!this.pool || this.closed) return this.inline(item, 'inline');
    const ks = this.keySets.get(item.keySetId);
    // Nothing for a worker to do: answered here without a round trip.
    if (!ks || ks.keys.length === 0 || ks.generation < item.generation) return this.inline(item, 'inline', ks);
    if (this.mode === 'auto' && this.queue.length === 0 && this.itemsInFlight === 0 && this.inlineThisTick < this.inlinePerTick) {
      this.inlineThisTick++;
      if (!this.tickResetScheduled) {
        this.tickResetScheduled = true;
        setImmediate(this.resetTick);
      }
      return this.inline(item, 'inline', ks);
    }
    if (this.queue.length + this.itemsInFlight >= this.maxPending) {
      this.stats.overloaded++;
      return OVERLOADED;
    }
    return new Promise<VerifierResult>((resolve) => {
      this.queue.push({ item, resolve, queuedAt: performance.now() });
      if (this.queue.length >= this.batchSize) this.flush(false);
      if (this.queue.length > 0 && !this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushPartial);
      }
    });
  }

  /**
   * What one verify worker (whichever takes the task) holds: the generation of each key set, the
   * channel messages it has applied and the key sets it has imported. Diagnostics and tests.
   */
  async workerKeySetState(): Promise<{ generations: Record<string, number>; messagesApplied: number; imports: number; keyImports: number } | undefined> {
    return this.pool?.run({}, { name: 'keySetState' });
  }

  /** Stops the workers and the channel; checks still queued are done inline. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    this.workerFailed?.flush();
    this.tasksGivenUp?.flush();
    this.channel?.close();
    this.channel = undefined;
    const queued = this.queue;
    this.queue = [];
    for (const p of queued) p.resolve(this.inline(p.item, 'fallback'));
    const pool = this.pool;
    this.pool = undefined;
    // Tasks still in flight reject and fall back inline (see dispatch).
    await pool?.destroy();
  }

  private readonly resetTick = (): void => {
    this.tickResetScheduled = false;
    this.inlineThisTick = 0;
  };

  private readonly flushPartial = (): void => {
    this.flushScheduled = false;
    this.flush(true);
  };

  /** Sends queued items as tasks while there is room; `partial` also sends a short last batch. */
  private flush(partial: boolean): void {
    this.shedStale();
    while (this.queue.length > 0 && this.tasksInFlight < this.maxTasksInFlight && this.pool) {
      if (!partial && this.queue.length < this.batchSize) return;
      // Spread a partial flush over the workers so a handful of items does not wait on one.
      const size = partial ? Math.min(this.batchSize, Math.ceil(this.queue.length / this.threads)) : this.batchSize;
      this.dispatch(this.pool, this.queue.splice(0, size));
    }
  }

  /** Answers OVERLOADED for the checks queued longer than maxQueueMs (the oldest are first). */
  private shedStale(): void {
    const q = this.queue;
    if (q.length === 0) return;
    const limit = performance.now() - this.maxQueueMs;
    if (q[0]!.queuedAt > limit) return;
    let n = 1;
    while (n < q.length && q[n]!.queuedAt <= limit) n++;
    const stale = q.splice(0, n);
    this.stats.overloaded += n;
    for (const p of stale) p.resolve(OVERLOADED);
  }

  private dispatch(pool: Piscina, batch: Pending[]): void {
    this.tasksInFlight++;
    this.itemsInFlight += batch.length;
    this.stats.tasks++;
    // Task numbers stay positive in an Int32 slot (0 means none).
    this.taskSeq = this.taskSeq === 0x7fffffff ? 1 : this.taskSeq + 1;
    const rec: InFlightTask = { batch, seq: this.taskSeq, abandoned: false, pool };
    this.inFlight.add(rec);
    const task: VerifyTask = { items: batch.map((p) => p.item), seq: rec.seq };
    pool.run(task).then(
      (res: VerifyTaskResult) => this.complete(rec, res?.results),
      (err: unknown) => {
        // A worker that died (exit, uncaught error, out of memory); a pool the watchdog replaced
        // rejects only tasks it gave up already, and close() its own.
        if (!rec.abandoned && !this.closed) this.workerFailed?.note({ err: errorText(err) });
        this.complete(rec, undefined);
      },
    );
  }

  /**
   * Gives up the pool's tasks when it stops making progress: a worker has run the same task
   * without finishing a check for taskTimeoutMs (stuck in a loop), or no worker has finished a
   * check for that long while tasks wait (workers that stopped starting). Progress is per check,
   * so a long queue of slow checks (many keys without a kid, a starved CPU) is never taken for a
   * stuck pool. The given-up checks are answered OVERLOADED (503, retry later), not done here:
   * done on the main thread, a pool's worth of slow checks would block the gateway.
   */
  private readonly onWatchdog = (): void => {
    this.tick++;
    const tick = this.tick;
    const pr = this.progress;
    const seen = this.seenProgress;
    let stuckSeq = 0;
    for (let s = 0; s < VERIFY_PROGRESS_SLOTS; s++) {
      const done = Atomics.load(pr, 2 * s);
      const running = Atomics.load(pr, 2 * s + 1);
      if (done !== seen[2 * s] || running !== seen[2 * s + 1]) {
        seen[2 * s] = done;
        seen[2 * s + 1] = running;
        this.slotChangedTick[s] = tick;
        this.progressTick = tick;
      } else if (running !== 0 && tick - this.slotChangedTick[s]! > this.timeoutTicks && this.runsOnCurrentPool(running)) {
        // Only a task still in flight on the current pool: a worker terminated mid-task with an
        // old pool leaves its slot showing that task forever.
        stuckSeq = running;
      }
    }
    if (this.inFlight.size === 0) {
      this.progressTick = tick;
      return;
    }
    const stalled = tick - this.progressTick > this.timeoutTicks;
    if (stuckSeq === 0 && !stalled) return;
    const now = Date.now();
    const restart = now - this.lastRestartMs >= this.restartIntervalMs && this.pool !== undefined && !this.closed;
    // Replacing the pool cuts every task on it: all are given up. Without a replacement (one in
    // the last 10 s), only the stuck task, or all when nothing progresses.
    let given = 0;
    let items = 0;
    for (const rec of [...this.inFlight]) {
      if (!restart && !stalled && rec.seq !== stuckSeq) continue;
      given++;
      items += rec.batch.length;
      rec.abandoned = true;
      this.metrics?.inc('jwtgate_verify_pool_tasks_total', 'timeout');
      this.finish(rec, undefined, false);
    }
    if (given === 0) return;
    this.progressTick = tick;
    if (stuckSeq !== 0) for (let s = 0; s < VERIFY_PROGRESS_SLOTS; s++) if (seen[2 * s + 1] === stuckSeq) this.slotChangedTick[s] = tick;
    this.tasksGivenUp?.note({ timeoutMs: this.timeoutTicks * WATCHDOG_MS, reason: stuckSeq !== 0 ? 'a worker made no progress on its task' : 'no worker made progress', tasks: given, checks: items, poolRestarted: restart });
    if (restart) {
      this.lastRestartMs = now;
      // The old pool's threads are terminated (new ones get new slots): clear what they showed.
      for (let s = 0; s < VERIFY_PROGRESS_SLOTS; s++) {
        if (seen[2 * s + 1] !== 0) {
          Atomics.store(pr, 2 * s + 1, 0);
          seen[2 * s + 1] = 0;
        }
      }
      const old = this.pool!;
      this.pool = this.createPool();
      old.destroy().catch(() => {});
    }
  };

  private runsOnCurrentPool(seq: number): boolean {
    for (const rec of this.inFlight) if (rec.seq === seq) return rec.pool === this.pool;
    return false;
  }

  private complete(rec: InFlightTask, results: readonly VerifyItemResult[] | undefined): void {
    // Given up by the watchdog (every task of a pool it replaces is): answered already.
    if (rec.abandoned) return;
    if (results) this.answered = true;
    this.metrics?.inc('jwtgate_verify_pool_tasks_total', results ? 'ok' : 'failed');
    this.finish(rec, results);
  }

  /** `results` undefined: the task failed; its checks are done here (`inline`), or answered OVERLOADED. */
  private finish(rec: InFlightTask, results: readonly VerifyItemResult[] | undefined, inline = true): void {
    const batch = rec.batch;
    this.inFlight.delete(rec);
    this.tasksInFlight--;
    this.itemsInFlight -= batch.length;
    let pooled = 0;
    let checked = 0;
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      const r = results?.[i];
      if (!r && !inline) {
        this.stats.overloaded++;
        p.resolve(OVERLOADED);
      } else if (!r || (!r.ok && r.code === 'KEYSET_NOT_LOADED')) {
        p.resolve(this.inline(p.item, 'fallback'));
      } else {
        pooled++;
        if (signatureChecked(r)) checked++;
        p.resolve(r);
      }
    }
    this.stats.pooled += pooled;
    if (checked > 0) this.metrics?.inc('jwtgate_jwt_verifications_total', 'pool', checked);
    if (this.queue.length > 0) this.flush(true);
  }

  /** `ks`: this thread's copy of the item's key set, when the caller has looked it up already. */
  private inline(item: VerifyItem, why: 'inline' | 'fallback', ks = this.keySets.get(item.keySetId)): VerifyItemResult {
    // Without the keys here either, nothing was answered: not counted. Without a key for the
    // token's kid/alg, it was answered here but no signature was checked: not a verification.
    const r = verifyWithKeySet(item, ks);
    if (r === VERIFY_FAILURES.KEYSET_NOT_LOADED) return r;
    if (why === 'inline') this.stats.inline++;
    else this.stats.fallbacks++;
    if (signatureChecked(r)) this.metrics?.inc('jwtgate_jwt_verifications_total', 'inline');
    return r;
  }

  private post(msg: KeyWireMessage): void {
    this.channel?.postMessage(msg);
  }

  private scheduleRepublish(): void {
    if (this.republishScheduled) return;
    this.republishScheduled = true;
    // Several workers starting together ask once each: answer them all with one republish.
    setImmediate(() => {
      this.republishScheduled = false;
      for (const [id, ks] of this.keySets) this.post({ type: 'keyset', id, generation: ks.generation, keys: ks.wire });
    }).unref();
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

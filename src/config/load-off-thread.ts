// loadManifests on a thread of its own, for reloads: the YAML parse then runs beside the requests
// instead of stopping them (a reload of 4,000 resources held the event loop for ~2 s, of which
// the parse took 1.8 s; the main thread now pays the compile and the copy of the result). One
// short-lived thread per reload.

import { fileURLToPath } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { loadManifests, type LoadResult } from './load.js';

const WORKER_FILE = fileURLToPath(new URL('../../workers/config-load.js', import.meta.url));

type Reply = { ok: true; result: LoadResult } | { ok: false; error: string };

export interface OffThreadOptions {
  /** The worker file (tests). */
  readonly workerFile?: string;
  /** The thread's heap limits (tests; by default V8's, as for the main thread). */
  readonly resourceLimits?: ResourceLimits;
  /**
   * Called when the thread could not do the load (it did not start, or failed before it posted a
   * result); the load then runs on the calling thread, so a reload is never lost to it.
   */
  readonly onFallback?: (reason: string) => void;
}

/** The same result as `loadManifests(paths)`, computed on a worker thread. */
export async function loadManifestsOffThread(paths: readonly string[], opts: OffThreadOptions = {}): Promise<LoadResult> {
  let reply: Reply | undefined;
  let failure: string | undefined;
  try {
    reply = await new Promise<Reply>((resolve, reject) => {
      const w = new Worker(opts.workerFile ?? WORKER_FILE, { workerData: { paths: [...paths] }, ...(opts.resourceLimits ? { resourceLimits: opts.resourceLimits } : {}) });
      let got: Reply | undefined;
      w.once('message', (m: Reply) => {
        got = m;
        resolve(m);
      });
      w.once('error', reject);
      w.once('exit', (code) => {
        if (!got) reject(new Error(`the thread exited with code ${code} before posting a result`));
      });
    });
  } catch (err) {
    // Out of memory: the same read on the main thread could take the process down with it.
    if ((err as NodeJS.ErrnoException)?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
      const where = paths.join(', ');
      return { resources: [], problems: [{ resource: where, path: '', severity: 'error', source: where, message: 'reading the configuration files ran out of memory (their thread was stopped; nothing was applied)' }] };
    }
    failure = String((err as Error)?.message ?? err);
  }
  if (reply?.ok) return reply.result;
  opts.onFallback?.(failure ?? (reply as { error: string }).error);
  return loadManifests(paths);
}

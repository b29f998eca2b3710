// The node options a worker thread can be given: the parent's own (process.execArgv) minus the ones
// Worker refuses. Passing an explicit execArgv to a Worker (piscina does, for the verify workers)
// makes Node validate every entry, and V8 or process-wide options such as --max-semi-space-size,
// --max-old-space-size, --expose-gc or --title make `new Worker` throw
// ERR_WORKER_INVALID_EXEC_ARGV: the gateway would not start under `node --max-semi-space-size=64`.
// Workers get those V8 settings from the process anyway, so they are only dropped here.
import { Worker } from 'node:worker_threads';

const accepted = new Map<string, boolean>();

/** True when `new Worker` accepts `args` as execArgv (an accepted probe thread is stopped at once). */
function workerAccepts(args: readonly string[]): boolean {
  const key = args.join('\0');
  const known = accepted.get(key);
  if (known !== undefined) return known;
  let ok: boolean;
  try {
    // Rejected options throw synchronously, before a thread exists.
    const probe = new Worker('', { eval: true, execArgv: [...args], stdout: true, stderr: true });
    probe.unref();
    void probe.terminate();
    ok = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw err;
    ok = false;
  }
  accepted.set(key, ok);
  return ok;
}

/**
 * `base` (default process.execArgv) without the options a Worker refuses, followed by `extra`
 * (each kept only if Worker accepts it). Options taking a separate value ("--title x") are kept or
 * dropped together with it.
 */
export function workerExecArgv(extra: readonly string[] = [], base: readonly string[] = process.execArgv): string[] {
  if (base.length === 0 && extra.length === 0) return [];
  const groups: string[][] = [];
  for (let i = 0; i < base.length; i++) {
    const arg = base[i]!;
    const next = base[i + 1];
    if (arg.startsWith('-') && !arg.includes('=') && next !== undefined && !next.startsWith('-')) {
      groups.push([arg, next]);
      i++;
    } else groups.push([arg]);
  }
  for (const arg of extra) groups.push([arg]);
  const all = groups.flat();
  if (workerAccepts(all)) return all;
  return groups.filter((g) => workerAccepts(g)).flat();
}

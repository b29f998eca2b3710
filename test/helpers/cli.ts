// Child processes for the end-to-end tests: the jwtgate CLI (or `npm start`'s command) with its
// output collected, and a wait for its admin endpoint's /ready.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './paths.js';

export const cliPath = path.join(repoRoot, 'dist', 'src', 'cli.js');

export interface RunningProcess {
  readonly child: ChildProcess;
  /** Exit code, or the signal name when killed by one. */
  readonly exited: Promise<number | string | null>;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  kill(): void;
}

/** Starts `cmd args` in the repository root with its output collected. */
export function startProcess(cmd: string, args: readonly string[], opts: SpawnOptions = {}): RunningProcess {
  const child = spawn(cmd, [...args], { cwd: repoRoot, ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | string | null>((r) => child.on('exit', (code, signal) => r(code ?? signal)));
  return { child, exited, output: () => out, kill: () => child.kill('SIGTERM') };
}

/** `node [nodeArgs] dist/src/cli.js args`. */
export function startCli(args: readonly string[], nodeArgs: readonly string[] = []): RunningProcess {
  return startProcess(process.execPath, [...nodeArgs, cliPath, ...args]);
}

/**
 * Polls `url` until it answers 200; throws after `timeoutMs`, or as soon as `proc` has exited,
 * with its output.
 */
export async function waitReady(url: string, timeoutMs: number, proc?: RunningProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fetch(url).then((r) => r.status === 200, () => false)) return;
    if (proc?.child.exitCode != null || proc?.child.signalCode != null) throw new Error(`exited before ${url} was ready:\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms${proc ? `:\n${proc.output()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Waits for the JSON log line `{"msg": msg, ...}` in `proc`'s output (a port-0 bind reports the
 * port it got this way) and returns it; throws after `timeoutMs` or once `proc` has exited, with
 * its output.
 */
export async function waitForLogLine(proc: RunningProcess, msg: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const line of proc.output().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const rec = JSON.parse(line) as Record<string, unknown>;
        if (rec.msg === msg) return rec;
      } catch {
        // a line still being written
      }
    }
    if (proc.child.exitCode != null || proc.child.signalCode != null) throw new Error(`exited before logging "${msg}":\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`no "${msg}" log line after ${timeoutMs} ms:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

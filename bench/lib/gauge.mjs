// A gauge of how fast this machine runs system calls at the moment, recorded with every run:
// the same build's CPU per request can double from one day to the next on this shared VM, and
// proxies (five system calls per proxied request) move more than the upstream they are divided by.
// `dd` copies /dev/zero to /dev/null one byte at a time, a read and a write per byte, so its wall
// time over 2 × count is the cost of one call (its start-up, ~1 ms, is noise at this count).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** µs per system call (1-byte read or write), or null when `dd` cannot run here. */
export function syscallMicros(count = 200_000, run = spawnSync) {
  const t0 = process.hrtime.bigint();
  const r = run('dd', ['if=/dev/zero', 'of=/dev/null', 'bs=1', `count=${count}`], { stdio: 'ignore' });
  const ns = Number(process.hrtime.bigint() - t0);
  if (r.error || r.status !== 0) return null;
  return Math.round((ns / 1000 / (2 * count)) * 1000) / 1000;
}

/** The kernel's Meltdown mitigation (`Mitigation: PTI`: every system call switches page tables), or null off Linux. */
export function pageTableIsolation(read = readFileSync) {
  try {
    return read('/sys/devices/system/cpu/vulnerabilities/meltdown', 'utf8').trim();
  } catch {
    return null;
  }
}

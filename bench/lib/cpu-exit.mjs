// bench/cpu.mjs's exit code. A run whose responses were not all the scenario's status, or (for
// jwtgate) that answered a cache-miss round from its cache, does not measure the scenario: exit 1.
// With --peer-soft-fail (what .ci/run passes), an external reference (HAProxy, nginx: programs this
// repository does not hold) is reported the same way but exits 0: CI never fails on another
// program's hiccup, nor on numbers. jwtgate and the bare uWS floors (this repository's code, which
// CI runs so it does not rot) still exit 1.

/** The targets that are other programs, whose failures --peer-soft-fail reports only. */
export const EXTERNAL_TARGETS = new Set(['haproxy', 'nginx-proxy']);

/** True when this target's failures are reported only (exit 0). */
export const softFails = (target, peerSoftFail) => Boolean(peerSoftFail) && EXTERNAL_TARGETS.has(target);

/** 0 or 1, from the count of bad responses and of cache-miss rounds with hits. */
export function cpuExitCode({ target, peerSoftFail = false, bad = 0, missHits = 0 }) {
  if (bad === 0 && missHits === 0) return 0;
  return softFails(target, peerSoftFail) ? 0 : 1;
}

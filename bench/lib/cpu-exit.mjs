// bench/cpu.mjs's exit code. A run whose responses were not all the scenario's status, or (for
// jwtgate) that answered a cache-miss round from its cache, does not measure the scenario: exit 1.
// With --peer-soft-fail (what .ci/run passes), a target other than jwtgate (HAProxy, nginx, the bare
// uWS floors) is reported the same way but exits 0: CI gates on jwtgate alone, never on a
// reference's hiccup, and never on numbers.

/** True when this target's failures are reported only (exit 0). */
export const softFails = (target, peerSoftFail) => Boolean(peerSoftFail) && target !== 'jwtgate';

/** 0 or 1, from the count of bad responses and of cache-miss rounds with hits. */
export function cpuExitCode({ target, peerSoftFail = false, bad = 0, missHits = 0 }) {
  if (bad === 0 && missHits === 0) return 0;
  return softFails(target, peerSoftFail) ? 0 : 1;
}

// Milliseconds on the monotonic clock (CLOCK_MONOTONIC through process.hrtime), the same in every
// thread of the process. For elapsed-time arithmetic (cooldowns, schedules) that must not move
// when the wall clock steps (NTP, a VM resumed); Date.now() stays for what is shown to people.

export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

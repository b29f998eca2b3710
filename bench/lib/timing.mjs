// How long each measurement lasts in each mode, the waits around it, and what a run should take.
//
//   full:  8 s measured (closed and fixed-rate), 2 s warm-up; wait up to 20 s before each
//          measurement for a quiet machine and re-measure a disturbed one once, within 90 s a run.
//   quick: 2 s measured, 1 s warm-up (0.5 s before a fixed-rate run: its connections are open
//          already and the peer warm from the closed-loop scenarios); no quiet wait, no
//          re-measuring (a disturbed row is still flagged): ~2 minutes on 2 cores.
//   smoke: 1 s measured, no warm-up, no waits.
// Environment variables override each (bench/README.md, "Knobs").

const num = (v, d) => (v === undefined || v === '' ? d : Number(v));

export function timing(mode, env = {}) {
  const base = {
    full: { closed: 8, open: 8, warmup: 2, openWarmup: 2, quietWait: 20, quietBudget: 90, retries: 1 },
    quick: { closed: 2, open: 2, warmup: 1, openWarmup: 0.5, quietWait: 0, quietBudget: 30, retries: 0 },
    smoke: { closed: 1, open: 1, warmup: 0, openWarmup: 0, quietWait: 0, quietBudget: 90, retries: 0 },
  }[mode];
  const warmup = num(env.BENCH_WARMUP, base.warmup);
  return {
    durations: {
      closed: num(env.BENCH_DURATION, base.closed),
      open: num(env.BENCH_OPEN_DURATION, num(env.BENCH_DURATION, base.open)),
      warmup,
      // BENCH_WARMUP sets both warm-ups.
      openWarmup: env.BENCH_WARMUP !== undefined && env.BENCH_WARMUP !== '' ? warmup : base.openWarmup,
    },
    quietWait: num(env.BENCH_QUIET_WAIT, base.quietWait),
    quietBudget: num(env.BENCH_QUIET_BUDGET, base.quietBudget),
    retries: num(env.BENCH_RETRY_DISTURBED, base.retries),
  };
}

/** Seconds of warm-up and measurement for one scenario. */
export const phases = (durations, sc) => (sc.kind === 'open' ? [durations.openWarmup ?? durations.warmup, durations.open] : [durations.warmup, durations.closed]);

// What a measurement costs beyond its warm-up and measured seconds, from runs on 2 cores: probes,
// starting and closing the load process, metric scrapes: ~0.26 s a measurement in smoke runs
// (46 s for 34 × 1 s); the quiet gate samples the machine for 0.5 s when it is on; autocannon
// builds a rotated-token load's 20,000 requests in ~0.25 s before each of its runs; starting a
// peer ~0.3 s; minting 20,000 RS256 + 20,000 ES256 tokens ~3.5 s; keys, upstream, report ~2 s.
export const COST = { perMeasurement: 0.3, quietSample: 0.5, rotatedSetup: 0.25, perPeer: 0.3, mintPer20k: 3.5, fixed: 2 };

/**
 * Expected seconds for a run without waits for a quiet machine beyond the quiet gate's sample, nor
 * re-measuring, nor drains of saturated fixed-rate runs. plan: [{ peer, scenarios: [{ kind, tokens? }] }].
 */
export function estimateSec({ durations, quietWait, tokenCount = 20000 }, plan) {
  let t = COST.fixed + COST.mintPer20k * (tokenCount / 20000);
  for (const { scenarios } of plan) {
    t += COST.perPeer;
    for (const sc of scenarios) {
      const [warm, measured] = phases(durations, sc);
      t += warm + measured + COST.perMeasurement + (quietWait > 0 ? COST.quietSample : 0);
      if (sc.kind === 'closed' && sc.tokens) t += COST.rotatedSetup * (warm > 0 ? 2 : 1);
    }
  }
  return t;
}

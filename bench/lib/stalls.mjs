// Where an open-loop run's tail comes from. The requests at or above the run's p99 are grouped
// into episodes: consecutive tail requests whose intended send times are at most `gapMs` apart.
// A tail made of episodes of several requests in a row is a pause (some process on the path was
// not running for a few ms: GC, a scheduler or hypervisor stall); a tail of isolated requests is
// per-request cost. An episode "began in the load generator" when its first request's generator
// delay (sent[i] - intended time) is more than half of that request's latency: the generator
// itself was not running, so the pause was not (only) the target's.
//
// Input per request i (0 <= i < count): intended = t0 + i * interval, sent[i] and done[i] in ms
// on the same clock (done[i] = 0 for a request that never completed; it is left out). sent[i] is
// when the generator handed the request out (lib/openloop-proc.mjs passes that, not the write
// time: a request that waited for a free connection behind a stalled target was written late,
// but not because the generator was).

export function tailEpisodes({ t0, interval, sent, done, count, gapMs = 5 }) {
  const latencies = [];
  for (let i = 0; i < count; i++) if (done[i] > 0) latencies.push(done[i] - (t0 + i * interval));
  if (latencies.length < 100) return null;
  const thresholdMs = p99Of(latencies);
  const episodes = [];
  let cur = null;
  for (let i = 0; i < count; i++) {
    if (!(done[i] > 0)) continue;
    const intended = t0 + i * interval;
    if (done[i] - intended < thresholdMs) continue;
    if (cur && intended - cur.lastIntended <= gapMs) {
      cur.requests++;
      cur.lastIntended = intended;
      cur.end = Math.max(cur.end, done[i]);
    } else {
      const lag = sent[i] - intended;
      cur = { requests: 1, start: intended, lastIntended: intended, end: done[i], generatorLate: lag > (done[i] - intended) / 2 };
      episodes.push(cur);
    }
  }
  const tailRequests = episodes.reduce((a, e) => a + e.requests, 0);
  const inRuns = episodes.filter((e) => e.requests >= 3).reduce((a, e) => a + e.requests, 0);
  const largest = episodes.reduce((a, e) => (e.requests > a.requests ? e : a), episodes[0]);
  return {
    thresholdMs: round(thresholdMs),
    tailRequests,
    episodes: episodes.length,
    /** Share of the tail requests that are in episodes of 3 or more. */
    inEpisodesOf3Pct: tailRequests ? Math.round((1000 * inRuns) / tailRequests) / 10 : 0,
    largestRequests: largest ? largest.requests : 0,
    largestMs: largest ? round(largest.end - largest.start) : 0,
    generatorLateEpisodes: episodes.filter((e) => e.generatorLate).length,
  };
}

/** The 99th percentile of `values` (the smallest value at or above 99% of them). */
export function p99Of(values) {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)];
}

/** One line for the report's notes. */
export function describeTail(s) {
  return (
    `p99 tail: ${s.tailRequests} requests at or above ${s.thresholdMs} ms, in ${s.episodes} episodes (tail requests ≤ 5 ms apart); ` +
    `${s.inEpisodesOf3Pct}% of them in episodes of 3 or more (largest ${s.largestRequests} requests over ${s.largestMs} ms); ` +
    `${s.generatorLateEpisodes} episodes began with the load generator itself late`
  );
}

const round = (x) => Math.round(x * 1000) / 1000;

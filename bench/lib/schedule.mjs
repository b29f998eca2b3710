// The order of the measurements, and which (peer, scenario) pairs are not measured and why.
//
// interleaved (default): every peer is started first and stays up; then each scenario is measured
// on every peer in turn. by-peer: each peer's whole series, one peer after another. Either way a
// peer runs its scenarios in the same order.
//
// A peer goes out of the run when it dies or fails one of its base correctness probes (see
// lib/probes.mjs): it is measured in no later scenario, and each (peer, scenario) it misses is
// recorded in `skipped` with the reason, so the report shows it.

/**
 * Runs the measurements. Callbacks:
 *   start(peer) -> running | undefined (could not start: the caller records why)
 *   measure(peer, running, sc) -> { out?: string }: `out` takes the peer out of the rest of the run
 *   stopping() -> true once interrupted
 * Returns the peers taken out: Map name -> reason.
 */
export async function runSchedule({ peers, scenarios, order = 'interleaved', applicable = () => true, start, measure, stopping = () => false, skipped }) {
  const out = new Map();
  const one = async (peer, running, sc) => {
    const reason = out.get(peer.name);
    if (reason) {
      skipped.push({ peer: peer.name, scenario: sc.name, reason: `not measured: ${reason}` });
      return;
    }
    const res = await measure(peer, running, sc);
    if (res?.out) out.set(peer.name, res.out);
  };
  if (order === 'by-peer') {
    for (const peer of peers) {
      if (stopping()) break;
      const running = await start(peer);
      if (!running) continue;
      try {
        for (const sc of scenarios.filter((s) => applicable(peer, s))) {
          if (stopping()) break;
          await one(peer, running, sc);
        }
      } finally {
        await running.stop();
      }
    }
  } else {
    const live = [];
    try {
      for (const peer of peers) {
        if (stopping()) break;
        const running = await start(peer);
        if (running) live.push({ peer, running });
      }
      for (const sc of scenarios) {
        for (const { peer, running } of live) {
          if (stopping()) break;
          if (applicable(peer, sc)) await one(peer, running, sc);
        }
      }
    } finally {
      for (const { running } of live) await running.stop();
    }
  }
  return out;
}

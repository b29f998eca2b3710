// node --test bench/test/: the open-loop generator's "send delay" (write time - intended time)
// includes the wait for a free connection, so behind a slow target it grows while the generator
// itself is on time. The generator's own delay (intended time -> handed to a connection or to the
// queue) is reported apart. Against a local node:http server answering after 10 ms, with one
// connection: every request but the first waits for it.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startLoad } from '../lib/load.mjs';

test('open loop: the wait for a free connection is in the send delay, not in the generator\'s own delay', async () => {
  const s = http.createServer((req, res) => setTimeout(() => res.end("{}"), 10));
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const load = await startLoad({ kind: 'open', rate: 200, procs: 1, connections: 1, maxConnections: 1, url: `http://127.0.0.1:${s.address().port}`, path: '/headers', token: 'x', timeoutSec: 10 });
  try {
    const r = await load.run(0.5);
    // 100 requests at 5 ms intervals over one connection busy 10+ ms each: the queue grows.
    assert.ok(r.extra.sendLagP99Ms > 100, `send delay p99 ${r.extra.sendLagP99Ms} ms includes the connection wait`);
    assert.ok(r.extra.genLagP99Ms < 50, `generator's own delay p99 ${r.extra.genLagP99Ms} ms`);
    assert.ok(r.extra.queuedPct > 90, `${r.extra.queuedPct}% of requests waited for a connection`);
    // The tail episodes are the target's: the generator handed every request out on time.
    assert.equal(r.extra.tail?.generatorLateEpisodes ?? 0, 0);
    // The target fell behind (one answer per 10 ms for one sent per 5 ms): by the end of the
    // schedule it had answered about half, whatever the late answers bring in afterwards.
    assert.ok(r.extra.onScheduleRate < 130, `answered within the schedule: ${r.extra.onScheduleRate} req/s of 200`);
  } finally {
    await load.close();
    s.close();
  }
});

// ThrottledWarning: a warning a flood repeats is written at most once per window, and the count
// of the ones held back is not lost (window end, or flush at stop).
import test from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, ThrottledWarning } from '../../src/observability/log.js';

function collect(): { lines: Record<string, unknown>[]; log: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  return { lines, log: createLogger('info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>)) };
}

test('first occurrence at once, the rest counted: their count (with the last one\'s fields) when the window ends', async () => {
  const { lines, log } = collect();
  const w = new ThrottledWarning(log, 'out of fds', 200);
  w.note({ endpoint: 'a:1' });
  w.note({ endpoint: 'b:2' });
  w.note({ endpoint: 'c:3' });
  assert.deepEqual(lines.map(({ level, msg, endpoint, alsoSinceLastLine }) => ({ level, msg, endpoint, alsoSinceLastLine })), [{ level: 'warn', msg: 'out of fds', endpoint: 'a:1', alsoSinceLastLine: undefined }]);
  await new Promise((r) => setTimeout(r, 350));
  assert.equal(lines.length, 2);
  assert.equal(lines[1]!.endpoint, 'c:3');
  assert.equal(lines[1]!.alsoSinceLastLine, 2);
  // A new window: the next one is written at once, without a count.
  await new Promise((r) => setTimeout(r, 250));
  w.note({ endpoint: 'd:4' });
  assert.equal(lines.length, 3);
  assert.equal(lines[2]!.alsoSinceLastLine, undefined);
  w.flush();
  assert.equal(lines.length, 3, 'nothing held back: flush writes nothing');
});

test('flush (at stop) writes the count held back, once', () => {
  const { lines, log } = collect();
  const w = new ThrottledWarning(log, 'out of fds', 60_000);
  w.note({ n: 1 });
  w.note({ n: 2 });
  w.flush();
  w.flush();
  assert.deepEqual(lines.map((l) => [l.n, l.alsoSinceLastLine]), [[1, undefined], [2, 1]]);
});

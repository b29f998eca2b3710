// The Prometheus text of the counters and of the request-duration histogram.
import test from 'node:test';
import assert from 'node:assert/strict';
import { DurationHistogram, DURATION_BUCKETS_MS, Metrics } from '../../src/observability/metrics.js';

test('a duration equal to a bucket bound is in that bucket (le is "at most"), larger ones in the next; beyond the last bound only +Inf', () => {
  const h = new DurationHistogram();
  h.observe(0);
  h.observe(0.5);
  h.observe(0.5001);
  h.observe(1);
  h.observe(7_200_000);
  const text = h.render('x', 'help');
  assert.match(text, /^x_bucket\{le="0.0005"\} 2$/m);
  assert.match(text, /^x_bucket\{le="0.001"\} 4$/m);
  assert.match(text, /^x_bucket\{le="3600"\} 4$/m);
  assert.match(text, /^x_bucket\{le="\+Inf"\} 5$/m);
  assert.match(text, /^x_count 5$/m);
  assert.equal(Number(/^x_sum (\S+)$/m.exec(text)![1]), (0.5 + 0.5001 + 1 + 7_200_000) / 1000);
  assert.equal(h.count, 5);
  assert.equal(h.countAtMost(1), 4);
});

test('buckets are cumulative and in increasing order, one line per bound plus +Inf', () => {
  const h = new DurationHistogram();
  for (const ms of [3, 30, 300, 3000]) h.observe(ms);
  const counts = [...h.render('x', 'h').matchAll(/^x_bucket\{le="([^"]+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])] as const);
  assert.equal(counts.length, DURATION_BUCKETS_MS.length + 1);
  for (let i = 1; i < counts.length; i++) assert.ok(counts[i]![1] >= counts[i - 1]![1]);
  assert.deepEqual(
    counts.filter(([le]) => ['0.001', '0.005', '0.05', '0.5', '5'].includes(le!)).map(([, n]) => n),
    [0, 1, 2, 3, 4],
  );
});

test('a new Metrics shows the histogram at zero, after the counters', () => {
  const text = new Metrics().render();
  assert.match(text, /^# TYPE jwtgate_request_duration_seconds histogram$/m);
  assert.match(text, /^jwtgate_request_duration_seconds_bucket\{le="\+Inf"\} 0$/m);
  assert.match(text, /^jwtgate_request_duration_seconds_sum 0$/m);
  assert.ok(text.indexOf('jwtgate_requests_total') < text.indexOf('jwtgate_request_duration_seconds'));
});

// node --test bench/test/ (run by .ci/run): the tail analysis of lib/stalls.mjs on synthetic runs.
import test from 'node:test';
import assert from 'node:assert/strict';
import { tailEpisodes, describeTail } from '../lib/stalls.mjs';

/** 1,000 requests every 0.5 ms answered in 0.3 ms, then `edit(i, intended)` -> [sent, done] overrides. */
function run(edit = () => undefined) {
  const count = 1000;
  const t0 = 1000;
  const interval = 0.5;
  const sent = new Float64Array(count);
  const done = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const intended = t0 + i * interval;
    const [s, d] = edit(i, intended) ?? [intended + 0.1, intended + 0.3];
    sent[i] = s;
    done[i] = d;
  }
  return { t0, interval, sent, done, count };
}

test('a 5 ms pause is one episode of consecutive requests; an isolated late send is flagged as the generator', () => {
  const r = run((i, intended) => {
    // Requests 100..109 (intended 1050..1054.5 ms) all complete when a 5 ms pause ends at 1055 ms.
    if (i >= 100 && i < 110) return [intended + 0.1, 1055];
    // Request 500 was written 9 ms late by the generator itself: latency 10 ms.
    if (i === 500) return [intended + 9, intended + 10];
    return undefined;
  });
  const s = tailEpisodes(r);
  // p99 of 1,000: the 990th smallest latency, i.e. the smallest of the 11 slow requests (0.5 ms).
  assert.equal(s.thresholdMs, 0.5);
  assert.equal(s.tailRequests, 11);
  assert.equal(s.episodes, 2);
  assert.equal(s.inEpisodesOf3Pct, 90.9);
  assert.equal(s.largestRequests, 10);
  assert.equal(s.largestMs, 5);
  assert.equal(s.generatorLateEpisodes, 1);
  assert.match(describeTail(s), /11 requests at or above 0\.5 ms, in 2 episodes/);
});

test('slow requests more than 5 ms apart are separate episodes; unanswered requests are left out', () => {
  const r = run((i, intended) => {
    if (i % 100 === 50) return [intended + 0.1, intended + 2]; // 10 isolated slow ones, 50 ms apart
    if (i === 7) return [intended + 0.1, 0]; // never answered
    return undefined;
  });
  const s = tailEpisodes(r);
  assert.equal(s.thresholdMs, 2);
  assert.equal(s.tailRequests, 10);
  assert.equal(s.episodes, 10);
  assert.equal(s.inEpisodesOf3Pct, 0);
  assert.equal(s.generatorLateEpisodes, 0);
});

test('fewer than 100 completed requests: no analysis', () => {
  const r = run((i, intended) => (i < 950 ? [intended, 0] : undefined));
  assert.equal(tailEpisodes(r), null);
});

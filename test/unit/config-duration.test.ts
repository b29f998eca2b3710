import test from 'node:test';
import assert from 'node:assert/strict';
import { CLOCK_SKEW_PATTERN, DURATION_PATTERN, parseClockSkew, parseDuration } from '../../src/config/duration.js';

test('duration: the examples from the CRDs and docs', () => {
  const cases: [string, number][] = [
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['5s', 5000],
    ['1h', 3_600_000],
    ['0s', 0],
    ['1m30s', 90_000],
    ['1s500ms', 1500],
    ['1ms5s', 5001],
    ['99999ms', 99_999],
    ['1h1h', 7_200_000], // groups are summed, like Go's time.ParseDuration
    ['1h2m3s4ms', 3_723_004],
  ];
  for (const [text, ms] of cases) {
    const r = parseDuration(text);
    assert.deepEqual(r, { ok: true, ms }, text);
  }
});

test('duration: rejected by ^([0-9]{1,5}(h|m|s|ms)){1,4}$', () => {
  for (const text of ['', '10', 'm', '1d', '1.5s', '-1s', '10 m', ' 10m', '10m ', '100000s', '1h2m3s4ms5s', '1H', '10mss', '1us', 'PT10M']) {
    const r = parseDuration(text);
    assert.equal(r.ok, false, JSON.stringify(text));
    if (!r.ok) assert.match(r.error, /invalid duration/);
  }
  assert.ok(DURATION_PATTERN.includes('ms'));
});

test('duration: a number or a non-string gets a hint', () => {
  const r = parseDuration(600);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.error, /must be a duration string .*write "600s"/);
  assert.equal(parseDuration(null).ok, false);
  assert.equal(parseDuration({}).ok, false);
});

test('duration: the error names the value and the pattern', () => {
  const r = parseDuration('10 minutes');
  assert.deepEqual(r, { ok: false, error: `invalid duration "10 minutes": e.g. 10m, 1h30m, 500ms (pattern ${DURATION_PATTERN})` });
});

test('clockSkew: ^([0-9]{1,5}(h|m|s)){1,3}$ in whole seconds', () => {
  assert.deepEqual(parseClockSkew('60s'), { ok: true, seconds: 60 });
  assert.deepEqual(parseClockSkew('2m'), { ok: true, seconds: 120 });
  assert.deepEqual(parseClockSkew('1h1m1s'), { ok: true, seconds: 3661 });
  assert.deepEqual(parseClockSkew('0s'), { ok: true, seconds: 0 });
  for (const bad of ['500ms', '1s500ms', '1h1m1s1h', '60', 'x']) {
    const r = parseClockSkew(bad);
    assert.equal(r.ok, false, bad);
    if (!r.ok) assert.ok(r.error.includes(CLOCK_SKEW_PATTERN) || r.error.includes('duration string'), r.error);
  }
});

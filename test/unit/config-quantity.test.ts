// Kubernetes quantities as kgateway reads TrafficPolicy buffer.maxRequestSize: Quantity.Value()
// (a fraction rounded up), the suffixes the API server takes, and its message for the others.
import test from 'node:test';
import assert from 'node:assert/strict';
import { quantityValue } from '../../src/config/quantity.js';

const value = (t: string): bigint => {
  const r = quantityValue(t);
  assert.ok(r.ok, t);
  return r.value;
};

test('binary and decimal suffixes, exponents, fractions rounded up', () => {
  assert.equal(value('1024'), 1024n);
  assert.equal(value('1Ki'), 1024n);
  assert.equal(value('1Mi'), 1048576n);
  assert.equal(value('512Ki'), 524288n);
  assert.equal(value('1.5Gi'), 1610612736n);
  assert.equal(value('100k'), 100000n);
  assert.equal(value('1M'), 1000000n);
  assert.equal(value('1e3'), 1000n);
  assert.equal(value('1E3'), 1000n);
  assert.equal(value('2E'), 2000000000000000000n);
  assert.equal(value('0.5'), 1n);
  assert.equal(value('1500m'), 2n);
  assert.equal(value('1m'), 1n);
  assert.equal(value('.5Ki'), 512n);
  assert.equal(value('1.'), 1n);
  assert.equal(value('+7'), 7n);
  assert.equal(value('12e-1'), 2n);
});

test('zero and negative values parse (the CRD rule refuses them), with their sign', () => {
  const zero = quantityValue('0Mi');
  assert.ok(zero.ok && !zero.positive && zero.value === 0n);
  const neg = quantityValue('-1Ki');
  assert.ok(neg.ok && !neg.positive && neg.value === -1024n);
  const tiny = quantityValue('0.001');
  assert.ok(tiny.ok && tiny.positive && tiny.value === 1n);
});

test("text the API server refuses gets its message", () => {
  for (const t of ['', '1 Mi', '1MB', '1mi', 'Mi', '1.2.3', '1e', '0x10', '1Ki2', 'ten']) {
    const r = quantityValue(t);
    assert.ok(!r.ok, t);
    assert.match(r.error, /^quantities must match the regular expression/);
  }
});

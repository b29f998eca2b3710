// The API server's decimal suffixes include n (1e-9) and u (1e-6) (apimachinery's quantitySuffixer);
// the CRD rule takes a positive one ("1u" > 0) and Value() rounds it up to 1 byte.
import test from 'node:test';
import assert from 'node:assert/strict';
import { quantityValue } from '../../src/config/quantity.js';

test('n and u suffixes parse, rounded up', () => {
  for (const [t, v] of [['1n', 1n], ['1u', 1n], ['2000000u', 2n], ['2500000000n', 3n], ['-1u', 0n]] as const) {
    const r = quantityValue(t);
    assert.ok(r.ok, t);
    assert.equal(r.value, v, t);
  }
  const neg = quantityValue('-1u');
  assert.ok(neg.ok && !neg.positive);
});

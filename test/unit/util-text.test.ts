import test from 'node:test';
import assert from 'node:assert/strict';
import { cutText } from '../../src/util/text.js';

test('cutText: whole up to max; past it the first `keep` units and "...", one fewer when the last kept is the first half of a surrogate pair', () => {
  assert.equal(cutText('abcd', 4, 2), 'abcd');
  assert.equal(cutText('abcde', 4, 2), 'ab...');
  assert.equal(cutText('a\u{1F600}cde', 4, 2), 'a...');
  assert.equal(cutText('ab\u{1F600}de', 4, 2), 'ab...');
  assert.equal(cutText('a\u{1F600}cde', 4, 3), 'a\u{1F600}...');
  // A lone low surrogate at the cut is kept as it came (nothing to re-pair).
  assert.equal(cutText('a\udc00cde', 4, 2), 'a\udc00...');
});

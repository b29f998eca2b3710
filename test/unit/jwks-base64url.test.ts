// base64url decoding (absl::WebSafeBase64Unescape rules): the fast path for plain strings and the
// general path must agree, and signatures get a buffer of their own.
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { decodeBase64Url, decodeBase64UrlOwn } from '../../src/jwks/base64url.js';

test('every length of random bytes round-trips, with and without padding, through both decoders', () => {
  for (let len = 0; len < 70; len++) {
    const bytes = crypto.randomBytes(len);
    const plain = bytes.toString('base64url');
    const padded = plain + '='.repeat((4 - (plain.length % 4)) % 4);
    for (const s of [plain, padded, ` ${plain}\n`]) {
      assert.deepEqual(Buffer.from(decodeBase64Url(s)!), bytes, `decodeBase64Url(${JSON.stringify(s)})`);
      const own = decodeBase64UrlOwn(s)!;
      assert.deepEqual(Buffer.from(own), bytes, `decodeBase64UrlOwn(${JSON.stringify(s)})`);
      assert.equal(own.byteLength, own.buffer.byteLength, 'an exact-size ArrayBuffer, not a view into the shared pool');
    }
  }
});

test('invalid input is refused by both decoders', () => {
  for (const s of ['a', 'abcde', 'ab+c', 'ab/c', 'ab$c', 'abc==', 'ab=', 'a=bc', 'ab==x', 'é']) {
    assert.equal(decodeBase64Url(s), undefined, s);
    assert.equal(decodeBase64UrlOwn(s), undefined, s);
  }
});

test("'.' is padding as '=' is (absl accepts both), with the same exact count", () => {
  // "ab" is YWI (one pad), "a" is YQ (two pads).
  for (const decode of [decodeBase64Url, decodeBase64UrlOwn]) {
    assert.equal(Buffer.from(decode('YWI.')!).toString(), 'ab');
    assert.equal(Buffer.from(decode('YQ..')!).toString(), 'a');
    assert.equal(decode('YWI..'), undefined, 'one pad too many');
    assert.equal(decode('YQ.'), undefined, 'one pad too few');
    assert.equal(decode('YW.I'), undefined, 'data after padding');
  }
});

test('whitespace among and after the padding is skipped, as absl skips it', () => {
  for (const s of ['YQ==\n', 'YQ= =', 'YQ=\t=\r\n', 'YWI= ']) {
    const want = s.startsWith('YWI') ? 'ab' : 'a';
    assert.equal(Buffer.from(decodeBase64Url(s) ?? []).toString(), want, JSON.stringify(s));
    assert.equal(Buffer.from(decodeBase64UrlOwn(s) ?? []).toString(), want, JSON.stringify(s));
  }
});

// Key sets cross threads as JWK data (KeyObjects cannot be broadcast to several workers).
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';
import { fromWire, toWire } from '../../src/jwks/key-wire.js';
import { verifyItemWithKeys } from '../../src/jwks/verify-signature.js';
import type { KeyForWorker } from '../../src/types.js';
import { keyPair } from '../fixtures/auth/keys.js';

const keys: KeyForWorker[] = [
  { kty: 'RSA', kid: 'r', alg: 'RS256', key: keyPair('rsa').publicKey },
  { kty: 'EC', crv: 'P-384', key: keyPair('ec', { namedCurve: 'P-384' }).publicKey },
  { kty: 'oct', alg: 'HS256', key: crypto.createSecretKey(crypto.randomBytes(32)) },
  { kty: 'OKP', crv: 'Ed25519', kid: 'e', key: keyPair('ed25519').publicKey },
];

test('toWire/fromWire round trip keeps kid, alg, kty, crv and the key itself', () => {
  const back = fromWire(structuredClone(toWire(keys)));
  assert.equal(back.length, keys.length);
  back.forEach((k, i) => {
    const orig = keys[i]!;
    assert.deepEqual([k.kid, k.alg, k.kty, k.crv], [orig.kid, orig.alg, orig.kty, orig.crv]);
    assert.ok(k.key.equals(orig.key), `key ${i}`);
  });
});

test('the wire form can be broadcast to several receivers; a KeyObject cannot (why key-wire exists)', () => {
  const sender = new BroadcastChannel('jwtgate-test-wire');
  const r1 = new BroadcastChannel('jwtgate-test-wire');
  const r2 = new BroadcastChannel('jwtgate-test-wire');
  try {
    assert.doesNotThrow(() => sender.postMessage({ keys: toWire(keys) }));
    assert.throws(() => sender.postMessage({ keys }), /could not be posted/);
  } finally {
    for (const c of [sender, r1, r2]) c.close();
  }
});

test('keys are imported when a check first reads them, once each; selection fields need no import', () => {
  let imports = 0;
  const back = fromWire(structuredClone(toWire(keys)), () => imports++);
  assert.deepEqual(back.map((k) => k.kid), keys.map((k) => k.kid));
  assert.equal(imports, 0, 'nothing imported before a key is read');
  assert.ok(back[3]!.key.equals(keys[3]!.key));
  assert.ok(back[3]!.key.equals(keys[3]!.key));
  assert.equal(imports, 1);
});

test('a wire key that does not import (never toWire output) throws when read: the check that tries it fails', () => {
  const [bad] = fromWire([{ kty: 'EC', crv: 'P-256', jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } }]);
  assert.equal(bad!.kty, 'EC');
  assert.throws(() => bad!.key);
  const item = { keySetId: 'ks', generation: 1, alg: 'ES256', kid: '', signingInput: 'a.b', signature: new Uint8Array(64) };
  assert.deepEqual(verifyItemWithKeys(item, [bad!]), { ok: false, code: 'JWT_VERIFICATION_FAIL' });
});

// Key rotation in the authenticator (jwtgate beyond Envoy): a remote key set without the token's
// kid asks for one early refetch; if the generation changed, the token is checked once more;
// if not (cooldown, same keys, failure), it fails with JWKS_KID_ALG_MISMATCH at once. Local key
// sets and known kids with a bad signature never refetch.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { Authenticator, type AuthOutcome, type KeySetRef } from '../../src/auth/authenticator.js';
import { ResultCache } from '../../src/auth/result-cache.js';
import { Verifier } from '../../src/auth/verifier.js';
import { importLocalJwks } from '../../src/jwks/import-keys.js';
import type { ImportedKey, RemoteKeySet } from '../../src/config/snapshot.js';
import { extension, provider, request } from '../fixtures/auth/builders.js';
import { mint } from '../helpers/tokens.js';
import { jwksOf, rsaSigningKey } from '../helpers/signing-keys.js';

const NOW = 1_800_000_000;
const OLD = rsaSigningKey('old');
const NEW = rsaSigningKey('new');
const verifiers: Verifier[] = [];
after(() => Promise.all(verifiers.map((v) => v.close())));

const REMOTE: RemoteKeySet = {
  kind: 'remote',
  id: 'ks',
  url: 'http://idp.test/keys',
  target: { host: '127.0.0.1', port: 1 },
  cacheDurationMs: 600_000,
  asyncFetch: true,
  fastListener: false,
  failedRefetchDurationMs: 1000,
  numRetries: 0,
  backOffBaseMs: 1000,
  backOffMaxMs: 10_000,
};

function keys(...k: ReturnType<typeof rsaSigningKey>[]): ImportedKey[] {
  const r = importLocalJwks(jwksOf(...k));
  assert.ok(r.ok);
  return r.keys;
}

function setup(onRefetch: (publish: (k: ImportedKey[]) => void) => Promise<boolean>, kind: 'remote' | 'local' = 'remote') {
  const verifier = new Verifier({ mode: 'inline', threads: 1 });
  verifiers.push(verifier);
  let ref: KeySetRef;
  const publish = (k: ImportedKey[]) => {
    const generation = (ref?.generation ?? 0) + 1;
    ref = { source: kind === 'remote' ? REMOTE : { kind: 'local', id: 'ks', keys: k }, generation };
    verifier.publishKeySet('ks', generation, k);
  };
  publish(keys(OLD));
  const calls: string[] = [];
  const auth = new Authenticator({
    verifier,
    cache: new ResultCache(),
    nowSeconds: () => NOW,
    keySet: () => ref,
    refetchKeySet: (id) => {
      calls.push(id);
      return onRefetch(publish);
    },
  });
  return { auth, calls, publish };
}

const P = provider({ name: 'idp', issuer: 'https://idp.test', keySetId: 'ks' });
const tok = (k: ReturnType<typeof rsaSigningKey>, kid = k.kid) => mint({ alg: 'RS256', key: k.privateKey, kid, payload: { iss: 'https://idp.test', exp: NOW + 600 } });
const run = async (auth: Authenticator, t: string): Promise<string> => {
  const o: AuthOutcome = await auth.authenticate(request({ headers: { authorization: `Bearer ${t}` } }), [extension([P])]);
  return o.ok ? 'OK' : o.code;
};

test('a new kid: one refetch, a new generation, the token passes; later requests need no refetch', async () => {
  const { auth, calls } = setup(async (publish) => {
    publish(keys(NEW, OLD));
    return true;
  });
  assert.equal(await run(auth, tok(NEW)), 'OK');
  assert.deepEqual(calls, ['ks']);
  assert.equal(await run(auth, tok(NEW)), 'OK');
  assert.equal(await run(auth, tok(OLD)), 'OK');
  assert.equal(calls.length, 1);
});

test('refetch without a new generation (cooldown, same keys, failure): JWKS_KID_ALG_MISMATCH, no second try', async () => {
  const { auth, calls } = setup(async () => false);
  assert.equal(await run(auth, tok(NEW)), 'JWKS_KID_ALG_MISMATCH');
  const same = setup(async (publish) => {
    publish(keys(OLD));
    return true;
  });
  assert.equal(await run(same.auth, tok(NEW)), 'JWKS_KID_ALG_MISMATCH', 'a new generation without the kid still fails');
  assert.equal(calls.length + same.calls.length, 2, 'one refetch each, no loop');
});

test('concurrent misses each ask (JwksRefresher.refetch coalesces them into one thread request); a known kid with a bad signature never refetches', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { auth, calls } = setup(async (publish) => {
    await gate;
    publish(keys(NEW, OLD));
    return true;
  });
  const pending = Array.from({ length: 5 }, () => run(auth, tok(NEW)));
  release();
  assert.deepEqual(await Promise.all(pending), ['OK', 'OK', 'OK', 'OK', 'OK']);
  assert.equal(calls.length, 5, 'each miss asks; JwksRefresher.refetch coalesces them into one thread request');
  const forged = tok(NEW, 'old');
  assert.equal(await run(auth, forged), 'JWT_VERIFICATION_FAIL');
  assert.equal(calls.length, 5);
});

test('local key sets never refetch (Envoy behaviour)', async () => {
  const { auth, calls } = setup(async () => true, 'local');
  assert.equal(await run(auth, tok(NEW)), 'JWKS_KID_ALG_MISMATCH');
  assert.deepEqual(calls, []);
});

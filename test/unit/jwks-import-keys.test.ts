// importLocalJwks / parseJwksDocument: kgateway's format order (PEM, JWKS, JWK), the PEM alg
// hard-coding, and every jwks.cc drop rule (spec §1.5, §4.6).
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { cutValue, importLocalJwks, parseJwksDocument, MAX_JWKS_INPUT_CHARS, QUOTED_VALUE_MAX_CHARS } from '../../src/jwks/import-keys.js';
import { SEED_JWKS, authFixture } from '../fixtures/auth/builders.js';
import { keyPair } from '../fixtures/auth/keys.js';

const rsa = keyPair('rsa');
const p256 = keyPair('ec', { namedCurve: 'P-256' });
const p384 = keyPair('ec', { namedCurve: 'P-384' });
const p521 = keyPair('ec', { namedCurve: 'P-521' });
const ed = keyPair('ed25519');
const jwkOf = (k: crypto.KeyObject) => k.export({ format: 'jwk' }) as Record<string, string>;
const rsaJwk = jwkOf(rsa.publicKey);

function ok(text: string) {
  const r = importLocalJwks(text);
  assert.equal(r.ok, true, r.ok ? '' : r.error);
  return r as Extract<typeof r, { ok: true }>;
}
const jwks = (...keys: unknown[]) => JSON.stringify({ keys });
/** A remote JWKS document read with jwks.cc's rules alone (each bad key dropped on its own). */
function remote(...keys: unknown[]) {
  const r = parseJwksDocument({ keys }, { allowX509Map: false });
  assert.equal(r.ok, true, r.ok ? '' : r.error);
  return r as Extract<typeof r, { ok: true }>;
}

test('seed inline JWKS: one RS256 key with its kid', () => {
  const r = ok(SEED_JWKS);
  assert.equal(r.format, 'jwks');
  assert.equal(r.keys.length, 1);
  assert.deepEqual(r.dropped, []);
  const k = r.keys[0]!;
  assert.equal(k.kid, 'solo-public-key-001');
  assert.equal(k.alg, 'RS256');
  assert.equal(k.kty, 'RSA');
  assert.equal(k.key.asymmetricKeyType, 'rsa');
});

test('PEM RSA, PKCS#1 and SPKI: alg hard-coded RS256, no kid', () => {
  for (const type of ['pkcs1', 'spki'] as const) {
    const r = ok(rsa.publicKey.export({ type, format: 'pem' }) as string);
    assert.equal(r.format, 'pem');
    assert.equal(r.keys.length, 1);
    assert.equal(r.keys[0]!.alg, 'RS256');
    assert.equal(r.keys[0]!.kid, undefined);
    assert.equal(r.keys[0]!.kty, 'RSA');
  }
});

test('PEM with text around the block is still found (Go pem.Decode)', () => {
  const r = ok(`my key:\n${rsa.publicKey.export({ type: 'spki', format: 'pem' })}\ntrailing`);
  assert.equal(r.format, 'pem');
  assert.equal(r.keys.length, 1);
});

test('PEM EC P-256 -> ES256; P-384 and P-521 PEM keys are dropped (ES256 vs curve, as in Envoy)', () => {
  const a = ok(p256.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  assert.equal(a.keys[0]!.alg, 'ES256');
  assert.equal(a.keys[0]!.crv, 'P-256');
  for (const k of [p384, p521]) {
    const r = ok(k.publicKey.export({ type: 'spki', format: 'pem' }) as string);
    assert.equal(r.format, 'pem');
    assert.deepEqual(r.keys, []);
    assert.equal(r.dropped.length, 1);
    assert.match(r.dropped[0]!, /does not agree with "alg" "ES256"/);
  }
});

test('PEM Ed25519 -> EdDSA', () => {
  const r = ok(ed.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  assert.equal(r.keys[0]!.alg, 'EdDSA');
  assert.equal(r.keys[0]!.kty, 'OKP');
  assert.equal(r.keys[0]!.crv, 'Ed25519');
});

test('PEM keys of other types, private keys and certificates are errors', () => {
  const bad = [
    keyPair('x25519').publicKey.export({ type: 'spki', format: 'pem' }) as string,
    keyPair('ed448').publicKey.export({ type: 'spki', format: 'pem' }) as string,
    keyPair('ec', { namedCurve: 'secp256k1' }).publicKey.export({ type: 'spki', format: 'pem' }) as string,
    rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    authFixture('google-x509-cert.pem'),
  ];
  for (const text of bad) {
    const r = importLocalJwks(text);
    assert.equal(r.ok, false);
    assert.match((r as { error: string }).error, /^cannot parse local jwks: PEM: /);
  }
});

test('single JWK JSON', () => {
  const r = ok(JSON.stringify({ ...rsaJwk, kid: 'one', alg: 'PS256' }));
  assert.equal(r.format, 'jwk');
  assert.equal(r.keys[0]!.kid, 'one');
  assert.equal(r.keys[0]!.alg, 'PS256');
});

test('single JWK that cannot be read is an error; one Envoy would drop is ok with no key', () => {
  const bad = importLocalJwks(JSON.stringify({ kty: 'RSA', e: 'AQAB' }));
  assert.equal(bad.ok, false);
  assert.match((bad as { error: string }).error, /JWK: "n" is missing/);
  const dropped = ok(JSON.stringify({ ...rsaJwk, alg: 'HS256' }));
  assert.equal(dropped.format, 'jwk');
  assert.deepEqual(dropped.keys, []);
  assert.match(dropped.dropped[0]!, /RS\* or PS\*/);
});

test('JWKS with zero keys is not a JWKS (kgateway: no keys in set) and not a JWK either', () => {
  const r = importLocalJwks('{"keys":[]}');
  assert.equal(r.ok, false);
  assert.match((r as { error: string }).error, /JWKS: no keys in set; JWK: "kty" is missing/);
});

test('garbage and over-long input are errors that never quote the input', () => {
  for (const text of ['not a key', '{', '[1,2]', 'null', '', '-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----']) {
    const r = importLocalJwks(text);
    assert.equal(r.ok, false, text);
    assert.match((r as { error: string }).error, /^cannot parse local jwks: /);
  }
  const secret = 'SECRET-MATERIAL-' + 'x'.repeat(40);
  const r = importLocalJwks(`{"keys": [${secret}`);
  assert.equal(r.ok, false);
  assert.doesNotMatch((r as { error: string }).error, /SECRET/);
  const big = importLocalJwks(' '.repeat(MAX_JWKS_INPUT_CHARS + 1));
  assert.equal(big.ok, false);
  assert.match((big as { error: string }).error, /larger than/);
});

test('JWKS drop rules (jwks.cc, remote key sets), each key dropped with a reason and no key material', () => {
  const oct = { kty: 'oct', k: Buffer.from('0123456789abcdef0123456789abcdef').toString('base64url') };
  const okp = jwkOf(ed.publicKey);
  const cases: [string, unknown, RegExp][] = [
    ['RSA alg not RS/PS', { ...rsaJwk, kid: 'a', alg: 'ES256' }, /must be RS\* or PS\*/],
    ['RSA without n', { kty: 'RSA', kid: 'b', e: 'AQAB' }, /"n" is missing/],
    ['RSA without e', { kty: 'RSA', kid: 'c', n: rsaJwk.n }, /"e" is missing/],
    ['RSA n not base64url', { kty: 'RSA', kid: 'd', n: rsaJwk.n!.replace(/-|_/g, '+') + '+', e: 'AQAB' }, /"n" is not base64url/],
    ['EC alg not ES', { ...jwkOf(p256.publicKey), alg: 'RS256' }, /must be ES\*/],
    ['EC crv disagrees with alg', { ...jwkOf(p384.publicKey), alg: 'ES256' }, /does not agree/],
    ['EC unknown crv', { ...jwkOf(p256.publicKey), crv: 'secp256k1' }, /not one of P-256/],
    ['EC without x', { kty: 'EC', crv: 'P-256', y: jwkOf(p256.publicKey).y }, /"x" is missing/],
    ['EC point not on curve', { ...jwkOf(p256.publicKey), y: jwkOf(p256.publicKey).x }, /not a point/],
    ['EC P-384 key claimed as P-256 (both absent -> P-256)', { kty: 'EC', x: jwkOf(p384.publicKey).x, y: jwkOf(p384.publicKey).y }, /not a point on P-256/],
    ['oct alg not HS', { ...oct, alg: 'RS256' }, /must be HS256\/384\/512/],
    ['oct without k', { kty: 'oct', alg: 'HS256' }, /"k" is missing or empty/],
    ['oct empty k', { kty: 'oct', k: '' }, /missing or empty/],
    ['oct k not base64url', { kty: 'oct', k: 'a+b' }, /"k" is not base64url/],
    ['OKP alg not EdDSA', { ...okp, alg: 'ES256' }, /must be EdDSA/],
    ['OKP crv not Ed25519', { ...jwkOf(keyPair('x25519').publicKey) }, /not Ed25519/],
    ['OKP x wrong length', { kty: 'OKP', crv: 'Ed25519', x: Buffer.alloc(31).toString('base64url') }, /32 bytes/],
    ['unknown kty', { kty: 'RSA-PSS', n: rsaJwk.n, e: 'AQAB' }, /not supported/],
    ['kty missing', { n: rsaJwk.n, e: 'AQAB' }, /"kty" is missing/],
    ['kid not a string', { ...rsaJwk, kid: 5 }, /"kid" is not a string/],
    ['not an object', 'a string', /not a JSON object/],
    ['RSA exponent 17', { ...rsaJwk, e: Buffer.from([17]).toString('base64url') }, /"e" is not 3 or 65537/],
    ['EC secp256k1', { ...jwkOf(p256.publicKey), crv: 'secp256k1' }, /not one of P-256/],
  ];
  const good = { ...rsaJwk, kid: 'good', alg: 'RS256' };
  for (const [name, key, reason] of cases) {
    const r = remote(key, good);
    assert.equal(r.keys.length, 1, name);
    assert.equal(r.keys[0]!.kid, 'good', name);
    assert.equal(r.dropped.length, 1, name);
    assert.match(r.dropped[0]!, /^keys\[0\]/, name);
    assert.match(r.dropped[0]!, reason, name);
    assert.doesNotMatch(r.dropped[0]!, new RegExp(rsaJwk.n!.slice(0, 20)), name);
  }
});

test('a JWKS of 300,000 unusable entries: ten reasons, then one line counting the rest (not 300,000 log lines)', () => {
  const good = { ...rsaJwk, kid: 'good', alg: 'RS256' };
  const r = parseJwksDocument({ keys: [good, ...Array.from({ length: 300_000 }, () => ({}))] }, { allowX509Map: false });
  assert.ok(r.ok);
  assert.deepEqual(r.keys.map((k) => k.kid), ['good']);
  assert.equal(r.dropped.length, 11);
  assert.match(r.dropped[0]!, /^keys\[1\]: "kty" is missing/);
  assert.match(r.dropped[9]!, /^keys\[10\]: /);
  assert.equal(r.dropped[10], 'and 299990 more entries dropped');
  // A local JWKS with many entries go-jose cannot read: the error names the first.
  const local = importLocalJwks(JSON.stringify({ keys: [good, ...Array.from({ length: 20 }, () => ({}))] }));
  assert.equal(local.ok, false);
  assert.match(!local.ok ? local.error : '', /keys\[1\]/);
});

test('a Google-style {kid: PEM} map of 5,000 unusable certificates: ten reasons, then one count (it logged one line per entry); a long kid is cut in the reason', () => {
  const map: Record<string, string> = { good: authFixture('google-x509-cert.pem') };
  for (let i = 0; i < 5000; i++) map[`bad${i}`] = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
  const r = parseJwksDocument(map, { allowX509Map: true });
  assert.ok(r.ok);
  assert.deepEqual(r.keys.map((k) => k.kid), ['good']);
  assert.equal(r.dropped.length, 11);
  assert.match(r.dropped[0]!, /^kid "bad0": /);
  assert.equal(r.dropped[10], 'and 4990 more entries dropped');
  const long = parseJwksDocument({ ['k'.repeat(5000)]: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }, { allowX509Map: true });
  assert.ok(long.ok);
  assert.ok(long.dropped[0]!.startsWith(`kid ${JSON.stringify('k'.repeat(100))}…(5000 characters): `), long.dropped[0]);
});

test('values from the document (alg, kty, crv, kid) are quoted cut to 100 characters with their length, in every drop reason (a 90,000-character alg made a 450 KB warning at every retry)', () => {
  const huge = (c: string) => c.repeat(90_000);
  const cut = (v: string) => `${JSON.stringify(v.slice(0, 100))}…(${v.length} characters)`;
  const okp = jwkOf(ed.publicKey);
  const oct = { kty: 'oct', k: Buffer.from('0123456789abcdef0123456789abcdef').toString('base64url') };
  const cases: [string, unknown, string][] = [
    ['RSA alg', { ...rsaJwk, alg: huge('A') }, `RSA key with "alg" ${cut(huge('A'))} (must be RS* or PS*)`],
    ['EC alg', { ...jwkOf(p256.publicKey), alg: huge('B') }, `EC key with "alg" ${cut(huge('B'))} (must be ES*)`],
    ['EC alg naming no curve', { kty: 'EC', x: jwkOf(p256.publicKey).x, y: jwkOf(p256.publicKey).y, alg: `ES${huge('C')}` }, `EC "alg" ${cut(`ES${huge('C')}`)} names no supported curve`],
    ['EC crv and alg disagree', { ...jwkOf(p384.publicKey), alg: `ES${huge('D')}` }, `EC "crv" "P-384" does not agree with "alg" ${cut(`ES${huge('D')}`)}`],
    ['oct alg', { ...oct, alg: huge('E') }, `oct key with "alg" ${cut(huge('E'))} (must be HS256/384/512)`],
    ['OKP alg', { ...okp, alg: huge('F') }, `OKP key with "alg" ${cut(huge('F'))} (must be EdDSA)`],
    ['kty', { kty: huge('G') }, `"kty" ${cut(huge('G'))} is not supported (RSA, EC, oct, OKP)`],
  ];
  for (const [name, key, reason] of cases) {
    const r = remote(key);
    assert.deepEqual(r.dropped, [`keys[0]: ${reason}`], name);
    assert.ok(r.dropped[0]!.length < 300, `${name}: ${r.dropped[0]!.length} characters`);
  }
  // A kid too, next to a cut alg; a value of exactly 100 characters is quoted whole.
  const both = remote({ ...rsaJwk, kid: huge('k'), alg: 'x'.repeat(100) });
  assert.deepEqual(both.dropped, [`keys[0] (kid ${cut(huge('k'))}): RSA key with "alg" ${JSON.stringify('x'.repeat(100))} (must be RS* or PS*)`]);
  // jwks.local goes through the same reasons (check and serve print them).
  const local = importLocalJwks(jwks({ ...rsaJwk, alg: huge('H') }));
  assert.ok(local.ok);
  assert.deepEqual(local.dropped, [`keys[0]: RSA key with "alg" ${cut(huge('H'))} (must be RS* or PS*)`]);
});

test('JWKS keys that survive: EC curves from alg or crv, P-256 assumed (remote), oct, OKP; order kept', () => {
  const noCrv = (k: Record<string, string>) => ({ kty: 'EC', x: k.x, y: k.y });
  const r = remote(
    { ...noCrv(jwkOf(p256.publicKey)), kid: 'ec-default' },
    { ...noCrv(jwkOf(p384.publicKey)), kid: 'ec-from-alg', alg: 'ES384' },
    { ...jwkOf(p521.publicKey), kid: 'ec-521', alg: 'ES512' },
    { kty: 'oct', kid: 'hmac', alg: 'HS384', k: Buffer.from('s3cr3t-s3cr3t-s3cr3t').toString('base64url') },
    { ...jwkOf(ed.publicKey), kid: 'ed', alg: 'EdDSA', use: 'enc' },
  );
  assert.deepEqual(r.dropped, []);
  assert.deepEqual(
    r.keys.map((k) => [k.kid, k.kty, k.crv, k.alg]),
    [
      ['ec-default', 'EC', 'P-256', undefined],
      ['ec-from-alg', 'EC', 'P-384', 'ES384'],
      ['ec-521', 'EC', 'P-521', 'ES512'],
      ['hmac', 'oct', undefined, 'HS384'],
      ['ed', 'OKP', 'Ed25519', 'EdDSA'],
    ],
  );
  assert.equal(r.keys[3]!.key.type, 'secret');
});

test('a JWKS whose every key is dropped is ok with no keys (runtime: JWKS_NO_VALID_KEYS)', () => {
  const r = ok(jwks({ ...rsaJwk, alg: 'HS256' }, { ...rsaJwk, e: Buffer.from([17]).toString('base64url') }, { kty: 'oct', k: '' }));
  assert.deepEqual(r.keys, []);
  assert.equal(r.dropped.length, 3);
  assert.equal(remote({ kty: 'XYZ' }, { ...rsaJwk, alg: 'HS256' }).dropped.length, 2);
});

test('jwks.local: one key go-jose cannot read fails the whole set (kgateway: cannot parse local jwks), as kgateway reads it before Envoy', () => {
  const good = { ...rsaJwk, kid: 'good', alg: 'RS256' };
  const noCrv = { kty: 'EC', x: jwkOf(p256.publicKey).x, y: jwkOf(p256.publicKey).y };
  const cases: [string, unknown, RegExp][] = [
    ['unknown kty', { kty: 'XYZ' }, /keys\[0\]: "kty" "XYZ" is not supported/],
    ['numeric kid', { ...rsaJwk, kid: 5 }, /keys\[0\]: "kid" is not a string/],
    ['EC without crv', noCrv, /keys\[0\]: EC "crv" is missing/],
    ['RSA without n', { kty: 'RSA', e: 'AQAB' }, /keys\[0\].*"n" is missing/],
    ['not an object', 7, /keys\[0\]: not a JSON object/],
  ];
  for (const [name, key, reason] of cases) {
    const r = importLocalJwks(jwks(key, good));
    assert.equal(r.ok, false, name);
    if (r.ok) continue;
    assert.match(r.error, /^cannot parse local jwks: /, name);
    assert.match(r.error, reason, name);
    assert.doesNotMatch(r.error, new RegExp(rsaJwk.n!.slice(0, 20)), name);
  }
  // What go-jose reads and only Envoy drops leaves the other keys in service.
  for (const key of [{ ...rsaJwk, alg: 'ES256' }, { ...jwkOf(p256.publicKey), crv: 'secp256k1' }, { kty: 'oct', k: '' }, { kty: 'OKP', crv: 'Ed25519', x: Buffer.alloc(31).toString('base64url') }]) {
    const r = ok(jwks(key, good));
    assert.deepEqual(r.keys.map((k) => k.kid), ['good'], JSON.stringify(key));
    assert.equal(r.dropped.length, 1);
  }
});

test('thumbprint: first 16 chars of the RFC 7638 thumbprint; oct keys get a keyed digest', async () => {
  const r = ok(jwks({ ...rsaJwk, kid: 'r' }, { ...jwkOf(p256.publicKey), kid: 'e' }, { kty: 'oct', k: 'c2VjcmV0' }));
  assert.equal(r.keys[0]!.thumbprint, (await calculateJwkThumbprint({ kty: 'RSA', n: rsaJwk.n!, e: rsaJwk.e! })).slice(0, 16));
  const ec = jwkOf(p256.publicKey);
  assert.equal(r.keys[1]!.thumbprint, (await calculateJwkThumbprint({ kty: 'EC', crv: ec.crv!, x: ec.x!, y: ec.y! })).slice(0, 16));
  assert.match(r.keys[2]!.thumbprint, /^oct-[A-Za-z0-9_-]{12}$/);
  assert.notEqual(r.keys[2]!.thumbprint, (await calculateJwkThumbprint({ kty: 'oct', k: 'c2VjcmV0' })).slice(0, 16));
});

test('parseJwksDocument: document shape errors', () => {
  assert.deepEqual(parseJwksDocument([], { allowX509Map: false }), { ok: false, error: 'JWKS is not a JSON object' });
  assert.deepEqual(parseJwksDocument({}, { allowX509Map: false }), { ok: false, error: 'JWKS has no "keys" member' });
  assert.deepEqual(parseJwksDocument({ keys: {} }, { allowX509Map: false }), { ok: false, error: 'JWKS "keys" is not an array' });
  const empty = parseJwksDocument({ keys: [] }, { allowX509Map: false });
  assert.deepEqual(empty, { ok: true, keys: [], dropped: [] });
});

test('parseJwksDocument: Google x509 map only when allowed; RSA certificates only', () => {
  const rsaCert = authFixture('google-x509-cert.pem');
  const ecCert = authFixture('ec-x509-cert.pem');
  const doc = { 'kid-rsa': rsaCert, 'kid-ec': ecCert };
  assert.equal(parseJwksDocument(doc, { allowX509Map: false }).ok, false);
  const r = parseJwksDocument(doc, { allowX509Map: true });
  assert.equal(r.ok, true);
  const ok2 = r as Extract<typeof r, { ok: true }>;
  assert.deepEqual(ok2.keys.map((k) => [k.kid, k.kty, k.alg]), [['kid-rsa', 'RSA', undefined]]);
  assert.ok(ok2.keys[0]!.key.equals(new crypto.X509Certificate(rsaCert).publicKey));
  assert.deepEqual(ok2.dropped, ['kid "kid-ec": certificate key is not RSA']);
  // Not every value is a certificate: not the x509 format.
  assert.equal(parseJwksDocument({ a: rsaCert, b: 'x' }, { allowX509Map: true }).ok, false);
});

// --- pinned by mutation testing (each assertion fails on a mutant of import-keys.ts) ------------

test('RSA exponent 3 is accepted as 65537 is (jwks.cc createRsaFromJwk takes both); 17 is not', () => {
  const e3 = keyPair('rsa', { publicExponent: 3 });
  assert.equal(e3.publicKey.asymmetricKeyDetails?.publicExponent, 3n);
  const r = remote({ ...jwkOf(e3.publicKey), kid: 'e3', alg: 'RS256' });
  assert.deepEqual(r.dropped, []);
  assert.deepEqual(r.keys.map((k) => [k.kid, k.kty, k.alg]), [['e3', 'RSA', 'RS256']]);
  assert.ok(r.keys[0]!.key.equals(e3.publicKey));
  const local = ok(jwks({ ...jwkOf(e3.publicKey), kid: 'e3' }));
  assert.deepEqual(local.keys.map((k) => k.kid), ['e3']);
});

test('oct keys: each of HS256, HS384, HS512 is kept with its alg; a k that decodes to zero bytes (whitespace only) is never a key', () => {
  const k = Buffer.from('0123456789abcdef0123456789abcdef').toString('base64url');
  const r = remote(...['HS256', 'HS384', 'HS512'].map((alg) => ({ kty: 'oct', kid: alg, alg, k })));
  assert.deepEqual(r.dropped, []);
  assert.deepEqual(r.keys.map((key) => [key.kid, key.kty, key.alg, key.key.symmetricKeySize]), [
    ['HS256', 'oct', 'HS256', 32],
    ['HS384', 'oct', 'HS384', 32],
    ['HS512', 'oct', 'HS512', 32],
  ]);
  // ' ' and '\n' pass as base64url (absl skips whitespace) but hold no byte: an empty HMAC
  // secret would let anyone sign. Remote: dropped; jwks.local: go-jose cannot read it.
  for (const blank of [' ', '\n']) {
    const good = { ...rsaJwk, kid: 'good', alg: 'RS256' };
    const d = remote({ kty: 'oct', kid: 'blank', alg: 'HS256', k: blank }, good);
    assert.deepEqual(d.keys.map((key) => key.kid), ['good'], JSON.stringify(blank));
    assert.deepEqual(d.dropped, ['keys[0] (kid "blank"): oct "k" is not non-empty base64url']);
    const l = importLocalJwks(jwks({ kty: 'oct', kid: 'blank', k: blank }, good));
    assert.equal(l.ok, false);
    assert.match(!l.ok ? l.error : '', /^cannot parse local jwks: PEM: no PEM block found; JWKS: keys\[0\] \(kid "blank"\): oct "k" is not non-empty base64url/);
  }
});

test('an "alg" that is not a string is an unreadable key (dropped from a remote set, fails jwks.local), never a crash', () => {
  const good = { ...rsaJwk, kid: 'good', alg: 'RS256' };
  for (const alg of [256, ['RS256'], { a: 1 }]) {
    const r = remote({ ...rsaJwk, kid: 'bad', alg }, good);
    assert.deepEqual(r.keys.map((k) => k.kid), ['good'], JSON.stringify(alg));
    assert.deepEqual(r.dropped, ['keys[0] (kid "bad"): "alg" is not a string'], JSON.stringify(alg));
    const l = importLocalJwks(jwks({ ...rsaJwk, alg }, good));
    assert.equal(l.ok, false);
    assert.match(!l.ok ? l.error : '', /keys\[0\]: "alg" is not a string/);
  }
});

test('parseJwksDocument: an empty object is not an (empty) x509 map even where the map is allowed', () => {
  assert.deepEqual(parseJwksDocument({}, { allowX509Map: true }), { ok: false, error: 'JWKS has no "keys" member' });
});

test('jwks.local: an unreadable key after ten Envoy-dropped keys still fails the whole set (the reason cap must not hide it)', () => {
  const good = { ...rsaJwk, kid: 'good', alg: 'RS256' };
  const droppedByEnvoy = Array.from({ length: 10 }, () => ({ ...rsaJwk, alg: 'HS256' }));
  const r = importLocalJwks(jwks(good, ...droppedByEnvoy, { kty: 'XYZ' }));
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.error : '', /^cannot parse local jwks: PEM: no PEM block found; JWKS: keys\[11\]: "kty" "XYZ" is not supported/);
  // Without the unreadable key the same set is served, its ten drops reported.
  const served = ok(jwks(good, ...droppedByEnvoy));
  assert.deepEqual(served.keys.map((k) => k.kid), ['good']);
  assert.equal(served.dropped.length, 10);
  // A remote set reads the same entries under the cap: ten reasons, then one count that takes in the unreadable key.
  const r2 = parseJwksDocument({ keys: [good, ...droppedByEnvoy, { kty: 'XYZ' }, { kty: 'XYZ' }] }, { allowX509Map: false });
  assert.ok(r2.ok);
  assert.deepEqual(r2.keys.map((k) => k.kid), ['good']);
  assert.equal(r2.dropped.length, 11);
  assert.match(r2.dropped[9]!, /^keys\[10\]: RSA key with "alg" "HS256"/);
  assert.equal(r2.dropped[10], 'and 2 more entries dropped');
});

test('PEM as Go pem.Decode reads it: RFC 1421 headers before a blank line are skipped; a body without its base64 padding is no PEM block', () => {
  const pem = p256.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const [begin, ...rest] = pem.split('\n');
  const withHeaders = [begin, 'Comment: the gateway key', 'Proc-Type: 4,TEST', '', ...rest].join('\n');
  const h = ok(withHeaders);
  assert.equal(h.format, 'pem');
  assert.ok(h.keys[0]!.key.equals(p256.publicKey));
  // A P-256 SPKI is 91 bytes: its base64 ends in "==". Go's StdEncoding refuses it unpadded.
  assert.match(pem, /==\n-----END PUBLIC KEY-----/);
  const unpadded = importLocalJwks(pem.replace('==\n-----END', '\n-----END'));
  assert.equal(unpadded.ok, false);
  assert.match(!unpadded.ok ? unpadded.error : '', /^cannot parse local jwks: PEM: no PEM block found;/);
});

test('input of exactly MAX_JWKS_INPUT_CHARS characters is read (only a longer one is refused unread)', () => {
  const atLimit = importLocalJwks(' '.repeat(MAX_JWKS_INPUT_CHARS));
  assert.equal(atLimit.ok, false);
  assert.doesNotMatch(!atLimit.ok ? atLimit.error : '', /larger than/);
  assert.match(!atLimit.ok ? atLimit.error : '', /PEM: no PEM block found/);
  const padded = ok(SEED_JWKS.padEnd(MAX_JWKS_INPUT_CHARS, ' '));
  assert.equal(padded.keys.length, 1);
});

test('a "kty" that is not a string is named as such (not quoted as if it were an unknown type)', () => {
  const good = { ...rsaJwk, kid: 'good', alg: 'RS256' };
  for (const kty of [5, true, ['RSA']]) {
    const r = remote({ ...rsaJwk, kty }, good);
    assert.deepEqual(r.keys.map((k) => k.kid), ['good']);
    assert.deepEqual(r.dropped, ['keys[0]: "kty" is not a string'], JSON.stringify(kty));
  }
});

test('an unreadable member (y, OKP crv, OKP x, a non-string n) is dropped from a remote set and fails a jwks.local set; only secp256k1 among unknown EC curves is a jwks.cc drop go-jose reads', () => {
  const good = { ...rsaJwk, kid: 'good', alg: 'RS256' };
  const ecJwk = jwkOf(p256.publicKey);
  const cases: [string, unknown, string][] = [
    ['EC without y', { kty: 'EC', crv: 'P-256', x: ecJwk.x }, '"y" is missing'],
    ['EC y not a string', { kty: 'EC', crv: 'P-256', x: ecJwk.x, y: 7 }, '"y" is not a string'],
    ['OKP without crv', { kty: 'OKP', x: jwkOf(ed.publicKey).x }, 'OKP "crv" is missing'],
    ['OKP without x', { kty: 'OKP', crv: 'Ed25519' }, '"x" is missing'],
    ['RSA n a number', { kty: 'RSA', n: 12345, e: 'AQAB' }, '"n" is not a string'],
    ['EC crv P-192', { ...ecJwk, crv: 'P-192' }, 'EC "crv" is not one of P-256, P-384, P-521'],
  ];
  for (const [name, key, reason] of cases) {
    const r = remote(key, good);
    assert.deepEqual(r.keys.map((k) => k.kid), ['good'], name);
    assert.deepEqual(r.dropped, [`keys[0]: ${reason}`], name);
    const local = importLocalJwks(jwks(good, key));
    assert.equal(local.ok, false, name);
    assert.match(!local.ok ? local.error : '', new RegExp(`JWKS: keys\\[1\\]: ${reason.replace(/[-"(),]/g, '\\$&')}`), name);
  }
  // secp256k1: go-jose reads it, so the local set is served without it.
  const served = ok(jwks(good, { ...ecJwk, crv: 'secp256k1' }));
  assert.deepEqual(served.keys.map((k) => k.kid), ['good']);
  assert.deepEqual(served.dropped, ['keys[1]: EC "crv" is not one of P-256, P-384, P-521']);
});

test('x509 map: eleven unreadable certificates are ten reasons and "1 more entry"', () => {
  const bad = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
  const map = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, bad]));
  const r = parseJwksDocument(map, { allowX509Map: true });
  assert.ok(r.ok);
  assert.equal(r.keys.length, 0);
  assert.equal(r.dropped.length, 11);
  assert.equal(r.dropped[9], 'kid "k9": not a parseable X.509 certificate');
  assert.equal(r.dropped[10], 'and 1 more entry dropped');
});

test('cutValue: a kid longer than QUOTED_VALUE_MAX_CHARS is cut with its length; a kid of exactly the limit is kept whole', () => {
  assert.equal(cutValue('k'.repeat(QUOTED_VALUE_MAX_CHARS + 50)), `${'k'.repeat(QUOTED_VALUE_MAX_CHARS)}…(${QUOTED_VALUE_MAX_CHARS + 50} characters)`);
  assert.equal(cutValue('k'.repeat(QUOTED_VALUE_MAX_CHARS)), 'k'.repeat(QUOTED_VALUE_MAX_CHARS));
});

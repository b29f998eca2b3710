// Authenticator semantics (spec §4.2, §4.7, §4.8) with the real parser, cache and an inline
// Verifier (one test uses the real pool for the asynchronous path and in-flight sharing).
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Authenticator, type AuthOutcome, type KeySetRef } from '../../src/auth/authenticator.js';
import { ResultCache } from '../../src/auth/result-cache.js';
import { Verifier } from '../../src/auth/verifier.js';
import { importLocalJwks } from '../../src/jwks/import-keys.js';
import type { ImportedKey, JwtExtension, JwtProvider } from '../../src/config/snapshot.js';
import { extension, headerValues, provider, request, SEED_JWKS, SEED_TOKEN } from '../fixtures/auth/builders.js';
import { mint } from '../helpers/tokens.js';
import { rsaKeySet } from '../fixtures/auth/keys.js';

const NOW = 1_800_000_000;
const keysA = rsaKeySet('a');
const keysB = rsaKeySet('b');

function imported(jwks: string): ImportedKey[] {
  const r = importLocalJwks(jwks);
  assert.ok(r.ok);
  return r.keys;
}

class CountingMetrics {
  readonly counts = new Map<string, number>();
  inc(name: string, label: string, by = 1): void {
    const k = `${name}{${label}}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + by);
  }
  get(name: string, label: string): number {
    return this.counts.get(`${name}{${label}}`) ?? 0;
  }
}

const verifiers: Verifier[] = [];
after(() => Promise.all(verifiers.map((v) => v.close())));

function setup(opts: { mode?: 'inline' | 'pool'; now?: () => number } = {}) {
  const verifier = new Verifier({ mode: opts.mode ?? 'inline', threads: 1 });
  verifiers.push(verifier);
  const cache = new ResultCache();
  const metrics = new CountingMetrics();
  const sets = new Map<string, KeySetRef>();
  const publish = (id: string, keys: ImportedKey[], kind: 'local' | 'remote' = 'local') => {
    const generation = (sets.get(id)?.generation ?? 0) + 1;
    const source =
      kind === 'local'
        ? { kind, id, keys }
        : { kind, id, url: 'http://jwks.test/keys', cacheDurationMs: 600_000, fastListener: false, failedRefetchDurationMs: 1000, numRetries: 1, backOffBaseMs: 1000, backOffMaxMs: 10_000 };
    sets.set(id, { source, generation } as KeySetRef);
    if (kind === 'local') verifier.publishKeySet(id, generation, keys);
  };
  publish('ks-a', imported(keysA.jwks));
  publish('ks-b', imported(keysB.jwks));
  publish('ks-seed', imported(SEED_JWKS));
  const auth = new Authenticator({ verifier, cache, metrics, nowSeconds: opts.now ?? (() => NOW), keySet: (id) => sets.get(id) });
  return { auth, cache, verifier, metrics, publish };
}

const A = provider({ name: 'a', issuer: 'https://a.test', keySetId: 'ks-a' });
const B = provider({ name: 'b', issuer: 'https://b.test', keySetId: 'ks-b' });
const tokA = (payload: Record<string, unknown> = {}, key = keysA.privateKey) =>
  mint({ alg: 'RS256', key, kid: 'a', payload: { iss: 'https://a.test', exp: NOW + 600, ...payload } });
const tokB = (payload: Record<string, unknown> = {}) => mint({ alg: 'RS256', key: keysB.privateKey, kid: 'b', payload: { iss: 'https://b.test', exp: NOW + 600, ...payload } });
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

async function run(auth: Authenticator, req: ReturnType<typeof request>, exts: JwtExtension[]): Promise<AuthOutcome> {
  return await auth.authenticate(req, exts);
}
const codeOf = (o: AuthOutcome) => (o.ok ? 'OK' : o.code);

test('the seed sample token verifies against the seed JWKS (no clock injected: real time, expires 2035)', async () => {
  const { auth } = setup({ now: () => Math.floor(Date.now() / 1000) });
  const seed = provider({ name: 'selfminted', issuer: 'solo.io', keySetId: 'ks-seed' });
  const req = request({ headers: bearer(SEED_TOKEN) });
  const out = await run(auth, req, [extension([seed])]);
  assert.deepEqual(codeOf(out), 'OK');
  assert.equal(out.ok && out.claims?.team, 'dev');
  assert.deepEqual(headerValues(req, 'authorization'), [], 'forwardToken unset: token removed');
});

test('inline verification and cache hits stay synchronous (no Promise)', () => {
  const { auth, metrics } = setup();
  const t = tokA();
  const first = auth.authenticate(request({ headers: bearer(t) }), [extension([A])]);
  assert.ok(!(first instanceof Promise));
  assert.equal(codeOf(first as AuthOutcome), 'OK');
  const second = auth.authenticate(request({ headers: bearer(t) }), [extension([A])]);
  assert.ok(!(second instanceof Promise));
  assert.equal(metrics.get('jwtgate_result_cache_total', 'miss'), 1);
  assert.equal(metrics.get('jwtgate_result_cache_total', 'hit'), 1);
});

test('requires_any: a token from issuer B passes through B; unknown issuer; bad signature for A', async () => {
  const { auth } = setup();
  const ext = extension([A, B]);
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tokB()) }), [ext])), 'OK');
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tokA({ iss: 'https://c.test' })) }), [ext])), 'JWT_UNKNOWN_ISSUER');
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tokA({}, keysB.privateKey)) }), [ext])), 'JWT_VERIFICATION_FAIL');
});

test('requires_any error precedence: first error that is neither missing nor unknown issuer, else unknown issuer, else missing', async () => {
  const { auth } = setup();
  const onlyX = (p: JwtProvider, h: string) => ({ ...p, headerLocations: [{ name: h, prefix: '' }], queryLocations: [] });
  const a = onlyX(A, 'x-a');
  const b = onlyX(B, 'x-b');
  const ext = extension([a, b]);
  // A: missing, B: expired -> expired.
  assert.equal(codeOf(await run(auth, request({ headers: { 'x-b': tokB({ exp: NOW - 3600 }) } }), [ext])), 'JWT_EXPIRED');
  // A: expired, B: bad signature -> the first one (A's).
  const badB = tokB().replace(/\.[^.]+$/, '.' + Buffer.alloc(256).toString('base64url'));
  assert.equal(codeOf(await run(auth, request({ headers: { 'x-a': tokA({ exp: NOW - 3600 }), 'x-b': badB } }), [ext])), 'JWT_EXPIRED');
  // A: unknown issuer, B: audience -> audience (403) wins over unknown issuer.
  const bAud = { ...b, audiences: ['api'] };
  assert.equal(codeOf(await run(auth, request({ headers: { 'x-a': tokB(), 'x-b': tokB({ aud: 'other' }) } }), [extension([a, bAud])])), 'JWT_AUDIENCE_NOT_ALLOWED');
  // A: unknown issuer, B: missing -> unknown issuer.
  assert.equal(codeOf(await run(auth, request({ headers: { 'x-a': tokB() } }), [ext])), 'JWT_UNKNOWN_ISSUER');
  // Both missing.
  assert.equal(codeOf(await run(auth, request(), [ext])), 'JWT_MISSING');
});

test('AllowMissing: no token passes (no claims); any other error still fails', async () => {
  const { auth } = setup();
  const ext = extension([A, B], { allowMissing: true });
  assert.deepEqual(await run(auth, request(), [ext]), { ok: true });
  assert.equal(codeOf(await run(auth, request({ headers: bearer('not-a-jwt') }), [ext])), 'JWT_BAD_FORMAT');
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tokA({ iss: 'https://c.test' })) }), [ext])), 'JWT_UNKNOWN_ISSUER');
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tokA()) }), [ext])), 'OK');
  // "bearer" in lowercase is not the prefix: the token is missing, so AllowMissing lets it through.
  assert.deepEqual(await run(auth, request({ headers: { authorization: `bearer ${tokA()}` } }), [ext]), { ok: true });
});

test('AllowMissingOrFailed (kgateway #14667, Envoy allow_missing_or_failed): a failed or missing token passes with no claims and stays in the request; a good one still adds claims and is removed', async () => {
  const { auth } = setup();
  const p = { ...A, claimsToHeaders: [{ claim: 'team', path: ['team'], header: 'x-team' }] };
  const ext = extension([p, B], { allowMissing: true, allowFailed: true, sanitizeHeaders: ['x-team'] });
  assert.deepEqual(await run(auth, request(), [ext]), { ok: true });
  for (const bad of ['not-a-jwt', tokA({ iss: 'https://c.test' }), tokA({ exp: 1 })]) {
    const req = request({ headers: [['authorization', `Bearer ${bad}`], ['x-team', 'spoofed']] });
    assert.deepEqual(await run(auth, req, [ext]), { ok: true }, bad);
    assert.deepEqual(headerValues(req, 'authorization'), [`Bearer ${bad}`], 'a failed token is forwarded untouched');
    assert.deepEqual(headerValues(req, 'x-team'), [], 'claim headers are still sanitized');
  }
  const good = request({ headers: bearer(tokA({ team: 'dev' })) });
  const out = await run(auth, good, [ext]);
  assert.equal(out.ok && out.claims?.team, 'dev');
  assert.deepEqual(headerValues(good, 'x-team'), ['dev']);
  assert.deepEqual(headerValues(good, 'authorization'), []);
});

test('two extensions are ANDed: the first strips the token, the second then reports JWT_MISSING', async () => {
  const { auth } = setup();
  const first = extension([A], { key: 'ns/gw', filterName: 'jwt/ns/gw' });
  const second = extension([{ ...A, name: 'a2', key: 'ext2_ns_a2' }], { key: 'ns/route', filterName: 'jwt/ns/route' });
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tokA()) }), [first, second])), 'JWT_MISSING');
  const forwarding = extension([{ ...A, forwardToken: true }]);
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tokA()) }), [forwarding, second])), 'OK');
  // A failing first extension stops there.
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tokA({ exp: 1 })) }), [forwarding, second])), 'JWT_EXPIRED');
});

test('claim headers: sanitized first whatever the outcome, then added lowercase and appended on success', async () => {
  const { auth } = setup();
  const p = {
    ...A,
    claimsToHeaders: [
      { claim: 'team', path: ['team'], header: 'x-team' },
      { claim: 'llms.openai', path: ['llms', 'openai'], header: 'x-llms' },
      { claim: 'score', path: ['score'], header: 'x-score' },
      { claim: 'missing', path: ['missing'], header: 'x-missing' },
      { claim: 'empty', path: ['empty'], header: 'x-empty' },
    ],
  };
  const ext = extension([p]);
  assert.deepEqual(ext.sanitizeHeaders, ['x-empty', 'x-llms', 'x-missing', 'x-score', 'x-team']);
  const spoofed = { 'x-team': 'admins', 'x-missing': 'spoof', 'x-empty': 'spoof', other: 'kept' };

  const good = request({ headers: { ...spoofed, ...bearer(tokA({ team: 'dev', llms: { openai: ['a', 'b'] }, score: 1.5, empty: '' })) } });
  assert.equal(codeOf(await run(auth, good, [ext])), 'OK');
  assert.deepEqual(headerValues(good, 'x-team'), ['dev']);
  assert.deepEqual(headerValues(good, 'x-llms'), ['WyJhIiwiYiJd']);
  assert.deepEqual(headerValues(good, 'x-score'), ['1.500000']);
  assert.deepEqual(headerValues(good, 'x-missing'), []);
  assert.deepEqual(headerValues(good, 'x-empty'), []);
  assert.deepEqual(headerValues(good, 'other'), ['kept']);
  assert.deepEqual(good.headers.slice(-6), ['x-team', 'dev', 'x-llms', 'WyJhIiwiYiJd', 'x-score', '1.500000']);

  const bad = request({ headers: { ...spoofed, ...bearer(tokA({ exp: 1 })) } });
  assert.equal(codeOf(await run(auth, bad, [ext])), 'JWT_EXPIRED');
  assert.deepEqual(headerValues(bad, 'x-team'), [], 'sanitized although the request failed');
  const none = request({ headers: spoofed });
  await run(auth, none, [extension([p], { allowMissing: true })]);
  assert.deepEqual(headerValues(none, 'x-team'), [], 'sanitized when no token is present');
});

test('requires_any: a provider sanitizes its own claim headers before it extracts, so a provider that added them and then failed does not forward them (Envoy ProviderVerifierImpl)', async () => {
  const { auth } = setup();
  const team = [{ claim: 'team', path: ['team'], header: 'x-user' }];
  // p1 (sorts first): default locations; p2: its own header. Both map team -> x-user.
  const p1 = { ...A, key: 'ext_ns_p1', claimsToHeaders: team };
  const p2 = { ...B, key: 'ext_ns_p2', headerLocations: [{ name: 'x-token', prefix: 'Tok ' }], queryLocations: [], claimsToHeaders: team };
  const badSig = tokA().replace(/\.[^.]+$/, '.' + Buffer.alloc(256).toString('base64url'));
  // p1 verifies its query token first (good: adds x-user admin), then fails on the header token.
  const req = request({ headers: { ...bearer(badSig), 'x-token': `Tok ${tokB({ team: 'guest' })}` }, query: `access_token=${tokA({ team: 'admin' })}` });
  const out = await run(auth, req, [extension([p1, p2])]);
  assert.equal(codeOf(out), 'OK');
  assert.deepEqual(headerValues(req, 'x-user'), ['guest'], 'only the passing provider\'s claim header');

  // A later provider with other header names leaves them (Envoy sanitizes only its own).
  const p3 = { ...p2, claimsToHeaders: [{ claim: 'team', path: ['team'], header: 'x-other' }] };
  const req3 = request({ headers: { ...bearer(badSig), 'x-token': `Tok ${tokB({ team: 'guest' })}`, 'x-user': 'forged' }, query: `access_token=${tokA({ team: 'admin' })}` });
  assert.equal(codeOf(await run(auth, req3, [extension([p1, p3])])), 'OK');
  assert.deepEqual(headerValues(req3, 'x-other'), ['guest']);
  assert.deepEqual(headerValues(req3, 'x-user'), ['admin'], 'the forged value is gone (extension-wide sanitize); p1\'s own stays, as in Envoy');
});

test('token removal: the whole header; a query parameter with the rest re-serialized sorted and decoded; forwardToken keeps it', async () => {
  const { auth } = setup();
  const t = tokA();
  const hdr = request({ headers: [['authorization', `Bearer ${t}`], ['x', '1'], ['authorization', 'Basic other']] });
  assert.equal(codeOf(await run(auth, hdr, [extension([A])])), 'OK');
  assert.deepEqual(hdr.headers, ['x', '1']);

  const q = request({ query: `z=1&access_token=${t}&b=%2Fslash&a=x` });
  assert.equal(codeOf(await run(auth, q, [extension([A])])), 'OK');
  assert.equal(q.query, 'a=x&b=/slash&z=1');

  const kept = request({ headers: bearer(t), query: `access_token=${t}&z=1` });
  assert.equal(codeOf(await run(auth, kept, [extension([{ ...A, forwardToken: true }])])), 'OK');
  assert.deepEqual(headerValues(kept, 'authorization'), [`Bearer ${t}`]);
  assert.equal(kept.query, `access_token=${t}&z=1`);
});

test('every token a provider finds must pass, verified last-extracted first', async () => {
  const { auth } = setup();
  const badSig = tokA().replace(/\.[^.]+$/, '.' + Buffer.alloc(256).toString('base64url'));
  // Header token bad, query token expired: the query token is checked first.
  assert.equal(codeOf(await run(auth, request({ headers: bearer(badSig), query: `access_token=${tokA({ exp: 1 })}` }), [extension([A])])), 'JWT_EXPIRED');
  assert.equal(codeOf(await run(auth, request({ headers: bearer(badSig), query: `access_token=${tokA()}` }), [extension([A])])), 'JWT_VERIFICATION_FAIL');
  const both = request({ headers: bearer(tokA({ n: 'header' })), query: `access_token=${tokA({ n: 'query' })}&k=v` });
  const out = await run(auth, both, [extension([A])]);
  assert.equal(codeOf(out), 'OK');
  assert.equal(out.ok && out.claims?.n, 'header', 'claims of the last verified token (the first extracted)');
  assert.deepEqual(headerValues(both, 'authorization'), []);
  assert.equal(both.query, 'k=v');
});

test('claims of the last extension that saw a token are returned', async () => {
  const { auth } = setup();
  const e1 = extension([{ ...A, forwardToken: true }]);
  const e2 = extension([{ ...A, name: 'a2' }], { key: 'ns/e2', allowMissing: true });
  const out = await run(auth, request({ headers: bearer(tokA({ who: 'x' })) }), [e1, e2]);
  assert.equal(out.ok && out.claims?.who, 'x');
});

test('key sets: local with no key -> JWKS_NO_VALID_KEYS; remote without keys -> JWKS_FETCH_FAILED; checks before keys', async () => {
  const { auth, publish } = setup();
  publish('ks-empty', []);
  publish('ks-remote', [], 'remote');
  const empty = { ...A, keySetId: 'ks-empty' };
  const remote = { ...A, keySetId: 'ks-remote' };
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tokA()) }), [extension([empty])])), 'JWKS_NO_VALID_KEYS');
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tokA()) }), [extension([remote])])), 'JWKS_FETCH_FAILED');
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tokA({ exp: 1 })) }), [extension([remote])])), 'JWT_EXPIRED');
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tokA({ aud: 'x' })) }), [extension([{ ...remote, audiences: ['api'] }])])), 'JWT_AUDIENCE_NOT_ALLOWED');
});

test('key set refs: no key set for the provider -> JWKS_NO_VALID_KEYS; a remote generation the verifier does not hold -> JWKS_FETCH_FAILED', async () => {
  const { auth, publish, verifier } = setup();
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tokA()) }), [extension([{ ...A, keySetId: 'ks-unknown' }])])), 'JWKS_NO_VALID_KEYS');
  // The verifier holds generation 1 of a remote set whose ref is already at generation 2: its
  // keys for that generation are not there (KEYSET_NOT_LOADED), which for a remote set is a fetch
  // that has not succeeded.
  verifier.publishKeySet('ks-lag', 1, imported(keysA.jwks));
  publish('ks-lag', [], 'remote');
  publish('ks-lag', [], 'remote');
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tokA()) }), [extension([{ ...A, keySetId: 'ks-lag' }])])), 'JWKS_FETCH_FAILED');
});

test('kid mismatch and bad signature codes come from the verifier', async () => {
  const { auth } = setup();
  const other = mint({ alg: 'RS256', key: keysA.privateKey, kid: 'rotated', payload: { iss: 'https://a.test' } });
  assert.equal(codeOf(await run(auth, request({ headers: bearer(other) }), [extension([A])])), 'JWKS_KID_ALG_MISMATCH');
  const hs = mint({ alg: 'HS256', key: crypto.createSecretKey(Buffer.from('x'.repeat(32))), payload: { iss: 'https://a.test' } });
  assert.equal(codeOf(await run(auth, request({ headers: bearer(hs) }), [extension([A])])), 'JWKS_KID_ALG_MISMATCH', 'RS256-only key set');
});

test('cache: hits re-check time with the clock; a replaced key set invalidates entries', async () => {
  let now = NOW;
  const { auth, publish, metrics } = setup({ now: () => now });
  const t = tokA({ exp: NOW + 100 });
  assert.equal(codeOf(await run(auth, request({ headers: bearer(t) }), [extension([A])])), 'OK');
  now = NOW + 160;
  assert.equal(codeOf(await run(auth, request({ headers: bearer(t) }), [extension([A])])), 'OK', 'exp + 60 s skew');
  now = NOW + 161;
  assert.equal(codeOf(await run(auth, request({ headers: bearer(t) }), [extension([A])])), 'JWT_EXPIRED');
  now = NOW;
  // Expired hits are evicted: this one is a miss again.
  assert.equal(codeOf(await run(auth, request({ headers: bearer(t) }), [extension([A])])), 'OK');
  assert.equal(metrics.get('jwtgate_result_cache_total', 'miss'), 2);
  // Rotation: the key set now only has B's key under kid "a": the cached success is not used.
  publish('ks-a', imported(JSON.stringify({ keys: [{ ...keysB.jwk, kid: 'a' }] })));
  assert.equal(codeOf(await run(auth, request({ headers: bearer(t) }), [extension([A])])), 'JWT_VERIFICATION_FAIL');
  // Audience is re-checked on hits too (different provider audiences, same key set).
  const withAud = { ...B, issuer: 'https://b.test', audiences: ['api'] };
  const tb = tokB({ aud: 'api' });
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tb) }), [extension([withAud])])), 'OK');
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tb) }), [extension([{ ...withAud, audiences: ['other'] }])])), 'JWT_AUDIENCE_NOT_ALLOWED');
});

test('pool mode: a miss returns a Promise; concurrent requests with the same token share one verification', async () => {
  const { auth, metrics, verifier } = setup({ mode: 'pool' });
  const t = tokA();
  const outs = [0, 1, 2].map(() => auth.authenticate(request({ headers: bearer(t) }), [extension([A])]));
  for (const o of outs) assert.ok(o instanceof Promise);
  assert.deepEqual((await Promise.all(outs)).map(codeOf), ['OK', 'OK', 'OK']);
  assert.equal(metrics.get('jwtgate_result_cache_total', 'miss'), 1);
  assert.equal(metrics.get('jwtgate_result_cache_total', 'shared'), 2);
  assert.equal(verifier.stats.pooled + verifier.stats.fallbacks, 1);
  const hit = auth.authenticate(request({ headers: bearer(t) }), [extension([A])]);
  assert.ok(!(hit instanceof Promise), 'cached: synchronous even in pool mode');
});

test('pool mode: requires_any precedence and AllowMissing hold when a provider fails after an asynchronous check', async () => {
  const { auth } = setup({ mode: 'pool' });
  const onlyX = (p: JwtProvider, h: string) => ({ ...p, headerLocations: [{ name: h, prefix: '' }], queryLocations: [] });
  const a = onlyX(A, 'x-a');
  const b = onlyX(B, 'x-b');
  const badA = tokA().replace(/\.[^.]+$/, '.' + Buffer.alloc(256).toString('base64url'));
  const badB = tokB().replace(/\.[^.]+$/, '.' + Buffer.alloc(256).toString('base64url'));
  // A: bad signature (found by a worker), B: missing -> A's error, even where missing is allowed.
  const pending = auth.authenticate(request({ headers: { 'x-a': badA } }), [extension([a, b])]);
  assert.ok(pending instanceof Promise);
  assert.equal(codeOf(await pending), 'JWT_VERIFICATION_FAIL');
  assert.equal(codeOf(await run(auth, request({ headers: { 'x-a': badA } }), [extension([a, b], { allowMissing: true })])), 'JWT_VERIFICATION_FAIL');
  // A: expired (no signature check), B: bad signature (a worker) -> the first error, A's.
  assert.equal(codeOf(await run(auth, request({ headers: { 'x-a': tokA({ exp: NOW - 3600 }), 'x-b': badB } }), [extension([a, b])])), 'JWT_EXPIRED');
  // A: bad signature (a worker), B: audience -> still A's.
  const bAud = { ...b, audiences: ['api'] };
  assert.equal(codeOf(await run(auth, request({ headers: { 'x-a': badA, 'x-b': tokB({ aud: 'other' }) } }), [extension([a, bAud])])), 'JWT_VERIFICATION_FAIL');
});

test('pool mode: every token a provider finds must pass; a bad header token fails even when the query token verifies', async () => {
  const { auth } = setup({ mode: 'pool' });
  const badSig = tokA({ n: 'bad' }).replace(/\.[^.]+$/, '.' + Buffer.alloc(256).toString('base64url'));
  const mixed = request({ headers: bearer(badSig), query: `access_token=${tokA({ n: 'query' })}` });
  const out = auth.authenticate(mixed, [extension([A])]);
  assert.ok(out instanceof Promise);
  assert.equal(codeOf(await out), 'JWT_VERIFICATION_FAIL');
  const both = request({ headers: bearer(tokA({ n: 'header' })), query: `access_token=${tokA({ n: 'query' })}&k=v` });
  const ok = await run(auth, both, [extension([A])]);
  assert.equal(ok.ok && ok.claims?.n, 'header', 'claims of the last verified token (the first extracted)');
  assert.deepEqual(headerValues(both, 'authorization'), []);
  assert.equal(both.query, 'k=v');
});

test('stopOnClear: the run stops right after an extension whose good token added claim headers (inline and after a worker check)', async () => {
  for (const mode of ['inline', 'pool'] as const) {
    const { auth } = setup({ mode });
    const withHeaders = extension([{ ...A, claimsToHeaders: [{ claim: 'team', path: ['team'], header: 'x-team' }] }], { key: 'ns/e1', filterName: 'jwt/ns/e1' });
    const second = extension([B], { key: 'ns/e2', filterName: 'jwt/ns/e2' });
    const req = request({ headers: bearer(tokA({ team: 'dev' })) });
    const out = await auth.authenticate(req, [withHeaders, second], true);
    assert.deepEqual(out, { ok: true, claims: { iss: 'https://a.test', exp: NOW + 600, team: 'dev' }, stoppedAt: 0 }, mode);
    assert.equal(req.clearRouteCache, true, mode);
    assert.deepEqual(headerValues(req, 'x-team'), ['dev'], mode);
    // Without claim headers nothing clears the route: the next extension runs (and finds no token).
    const plain = extension([A], { key: 'ns/e1', filterName: 'jwt/ns/e1' });
    assert.equal(codeOf(await auth.authenticate(request({ headers: bearer(tokA({ team: 'x' })) }), [plain, second], true)), 'JWT_MISSING', mode);
  }
});

test('a local key set whose generation the verifier does not hold yet: JWKS_NO_VALID_KEYS (no fetch to fail)', async () => {
  const verifier = new Verifier({ mode: 'inline', threads: 1 });
  verifiers.push(verifier);
  const keys = imported(keysA.jwks);
  verifier.publishKeySet('ks-a', 1, keys);
  const auth = new Authenticator({ verifier, cache: new ResultCache(), nowSeconds: () => NOW, keySet: () => ({ source: { kind: 'local', id: 'ks-a', keys }, generation: 2 }) as KeySetRef });
  assert.equal(codeOf(await run(auth, request({ headers: bearer(tokA()) }), [extension([A])])), 'JWKS_NO_VALID_KEYS');
});

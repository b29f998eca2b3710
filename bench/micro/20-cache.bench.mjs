// Signature-result cache (dist/src/auth/result-cache.js, keyed by the raw token): hit, miss,
// record with LRU eviction, in-flight sharing lookups; with the token as an already-hashed string
// and as a fresh string (as it arrives from a request: V8 must hash all ~600 characters).
import { fixture } from './fixtures.mjs';

export default async function (b) {
  b.section('signature-result cache lookup');
  const rs = fixture('RS256');
  // 20,000 distinct tokens shaped like the bench's (same length), cheap to make.
  const sig = rs.token.slice(rs.token.lastIndexOf('.') + 1);
  const base = rs.token.slice(0, rs.token.lastIndexOf('.') + 1);
  const tokens = Array.from({ length: 20_000 }, (_, i) => `${base}${String(i).padStart(6, '0')}${sig.slice(6)}`);
  const fresh = tokens.map((t) => Buffer.from(t, 'latin1'));

  b.sync('baseline: Buffer -> string (latin1), the fresh-key cost alone', (i) => fresh[i % 1000].toString('latin1'));
  const map = new Map(tokens.slice(0, 10_000).map((t, i) => [t, i]));
  b.sync('baseline: Map.get, hashed string key (hit)', (i) => map.get(tokens[i % 10_000]));
  b.sync('baseline: Map.get, fresh string key (hit)', (i) => map.get(fresh[i % 10_000].toString('latin1')));

  const mod = await b.dist('src/auth/result-cache.js');
  if (!mod?.ResultCache) {
    b.skip('ResultCache', b.why || 'ResultCache not exported');
    return;
  }
  const parse = (await b.dist('src/auth/jwt-parse.js'))?.parseJwt;
  const jwt = parse ? parse(rs.token) : { ok: true, alg: 'RS256', kid: '', iss: '', aud: [], nbf: 0, exp: 0, payload: {}, signingInput: '', signature: new Uint8Array(0), payloadContainers: 1 };
  const cache = new mod.ResultCache({ maxEntries: 10_000 });
  for (let i = 0; i < 10_000; i++) cache.record(tokens[i], jwt, 'bench', 1);
  if (!cache.lookup(tokens[5], 'bench', 1)) {
    b.skip('ResultCache', 'lookup after record missed (API changed?)');
    return;
  }
  b.sync('ResultCache.lookup hit (10k entries, hashed key)', (i) => cache.lookup(tokens[i % 10_000], 'bench', 1));
  b.sync('ResultCache.lookup hit (10k entries, fresh key string)', (i) => cache.lookup(fresh[i % 10_000].toString('latin1'), 'bench', 1));
  b.sync('ResultCache.lookup miss (not cached, fresh key string)', (i) => cache.lookup(fresh[10_000 + (i % 10_000)].toString('latin1'), 'bench', 1));
  b.sync('ResultCache.lookup, stale generation', (i) => cache.lookup(tokens[i % 10_000], 'bench', 2));
  if (cache.pending) b.sync('ResultCache.pending (nothing in flight)', (i) => cache.pending(tokens[i % 10_000], 'bench', 1));
  const churn = new mod.ResultCache({ maxEntries: 10_000 });
  b.sync('ResultCache.record with LRU eviction (20k tokens rotating through 10k entries)', (i) => churn.record(tokens[i % 20_000], jwt, 'bench', 1));
}

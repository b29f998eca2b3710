// crypto.verify per algorithm with an imported KeyObject (the floor for any signature check on
// this machine), then jwtgate's own verifySignature / verifyItemWithKeys (dist/src/jwks/verify-signature.js)
// on the same tokens, so the wrapper's overhead is visible.
import crypto from 'node:crypto';
import { fixture } from './fixtures.mjs';

function rawVerify(f) {
  const { alg, key, data, signature } = f;
  switch (alg) {
    case 'RS256':
      return () => crypto.verify('sha256', data, key, signature);
    case 'PS256':
      return () => crypto.verify('sha256', data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST }, signature);
    case 'ES256':
      return () => crypto.verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    case 'ES384':
      return () => crypto.verify('sha384', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    case 'EdDSA':
      return () => crypto.verify(null, data, key, signature);
    case 'HS256':
      return () => {
        const mac = crypto.createHmac('sha256', key).update(data).digest();
        return crypto.timingSafeEqual(mac, signature);
      };
  }
}

export default async function (b) {
  const algs = ['RS256', 'ES256', 'PS256', 'ES384', 'EdDSA', 'HS256'];
  const fx = Object.fromEntries(algs.map((a) => [a, fixture(a)]));

  b.section('crypto.verify with an imported KeyObject (node:crypto, main thread)');
  for (const a of algs) {
    const f = fx[a];
    const ok = rawVerify(f)();
    if (!ok) throw new Error(`fixture for ${a} does not verify`);
    b.sync(`crypto.verify ${a}`, rawVerify(f));
  }
  const rs = fx.RS256;
  b.sync('crypto.verify RS256, key as PEM string (no KeyObject)', () => crypto.verify('sha256', rs.data, rs.key.export({ format: 'pem', type: 'spki' }), rs.signature), {
    note: 'includes parsing the PEM each time: why keys are imported once',
  });

  b.section('jwtgate verifySignature / verifyItemWithKeys (dist/src/jwks/verify-signature.js)');
  const mod = await b.dist('src/jwks/verify-signature.js');
  if (!mod) {
    b.skip('verifySignature', b.why);
    return;
  }
  for (const a of ['RS256', 'ES256', 'EdDSA', 'HS256']) {
    const f = fx[a];
    if (mod.verifySignature(a, f.workerKey, f.data, f.signature) !== 'ok') {
      b.skip(`verifySignature ${a}`, 'fixture did not verify (API changed?)');
      continue;
    }
    b.sync(`verifySignature ${a}`, () => mod.verifySignature(a, f.workerKey, f.data, f.signature));
  }
  // A key set of 4 keys (RS256, ES256, EdDSA, HS256) and a token with a kid: candidate selection + verify.
  const keys = ['HS256', 'EdDSA', 'ES256', 'RS256'].map((a) => fx[a].workerKey);
  for (const a of ['RS256', 'ES256']) {
    const f = fx[a];
    const item = { keySetId: 'bench', generation: 1, alg: a, kid: `k-${a}`, signingInput: f.signingInput, signature: f.signature };
    const r = mod.verifyItemWithKeys(item, keys);
    if (!r.ok) {
      b.skip(`verifyItemWithKeys ${a}`, `did not verify: ${JSON.stringify(r)}`);
      continue;
    }
    b.sync(`verifyItemWithKeys ${a} (4-key set, kid match)`, () => mod.verifyItemWithKeys(item, keys));
    const noKid = { ...item, kid: '' };
    b.sync(`verifyItemWithKeys ${a} (4-key set, no kid)`, () => mod.verifyItemWithKeys(noKid, keys));
  }
  const bad = { keySetId: 'bench', generation: 1, alg: 'RS256', kid: 'k-RS256', signingInput: rs.signingInput, signature: Uint8Array.from(rs.signature, (v, i) => (i === 10 ? v ^ 1 : v)) };
  b.sync('verifyItemWithKeys RS256, bad signature', () => mod.verifyItemWithKeys(bad, keys));
}


// Token split/parse: jwtgate's parseJwt (dist/src/auth/jwt-parse.js) on RS256 and ES256 tokens
// and on the cheap failure paths, next to naive baselines (split; split + base64url + JSON.parse).
import { fixture } from './fixtures.mjs';

export default async function (b) {
  const rs = fixture('RS256');
  const es = fixture('ES256');
  const header = `Bearer ${rs.token}`;

  b.section('token split / parse');
  b.sync('baseline: Authorization header -> token (startsWith + slice)', () => (header.startsWith('Bearer ') ? header.slice(7) : ''));
  b.sync('baseline: token.split(".")', () => rs.token.split('.').length);
  b.sync('baseline: split + base64url decode + JSON.parse header & payload + signature bytes', () => {
    const [h, p, s] = rs.token.split('.');
    const hh = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
    const pp = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    return hh.alg.length + pp.exp + Buffer.from(s, 'base64url').length;
  });

  const mod = await b.dist('src/auth/jwt-parse.js');
  if (!mod?.parseJwt) {
    b.skip('parseJwt', b.why || 'parseJwt not exported');
    return;
  }
  const r = mod.parseJwt(rs.token);
  if (!r.ok) {
    b.skip('parseJwt', `fixture token rejected: ${r.code}`);
    return;
  }
  b.sync('parseJwt RS256 token (valid, 3 segments, kid, iss/aud/exp)', () => mod.parseJwt(rs.token));
  b.sync('parseJwt ES256 token', () => mod.parseJwt(es.token));
  b.sync('parseJwt failure: not three segments', () => mod.parseJwt('not-a-jwt'));
  b.sync('parseJwt failure: header not base64url', () => mod.parseJwt('@@@.eyJ.c2ln'));
  const b64 = await b.dist('src/jwks/base64url.js');
  if (b64?.decodeBase64Url) {
    const sig = rs.token.slice(rs.token.lastIndexOf('.') + 1);
    b.sync('decodeBase64Url RS256 signature (342 chars)', () => b64.decodeBase64Url(sig));
    b.sync("baseline: Buffer.from(sig, 'base64url')", () => Buffer.from(sig, 'base64url'));
  }
}

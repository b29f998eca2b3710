// Claim checks (dist/src/auth/claim-checks.js: issuer, nbf/exp with skew, audience) and the
// claim -> header conversion (dist/src/auth/claim-headers.js) for the bench's claims.
export default async function (b) {
  b.section('claim checks');
  const mod = await b.dist('src/auth/claim-checks.js');
  if (!mod?.checkClaims) {
    b.skip('checkClaims', b.why || 'checkClaims not exported');
  } else {
    const now = Math.floor(Date.now() / 1000);
    const jwt = { iss: 'https://issuer.bench.jwtgate.local', aud: ['bench-api'], nbf: 0, exp: now + 3600 };
    const policy = { issuer: 'https://issuer.bench.jwtgate.local', audiences: ['bench-api'], clockSkewSeconds: 60 };
    if (mod.checkClaims(jwt, policy, now) !== undefined) b.skip('checkClaims', `fixture rejected: ${mod.checkClaims(jwt, policy, now)}`);
    else {
      b.sync('checkClaims: issuer + time + audience all pass', () => mod.checkClaims(jwt, policy, now));
      const expired = { ...jwt, exp: now - 3600 };
      b.sync('checkClaims: expired', () => mod.checkClaims(expired, policy, now));
      const urlAud = { ...jwt, aud: ['https://other.example/', 'https://bench-api/'] };
      b.sync('checkClaims: 2 audiences, https:// and / normalized', () => mod.checkClaims(urlAud, policy, now));
      if (mod.systemNowSeconds) b.sync('systemNowSeconds (Math.floor(Date.now()/1000))', () => mod.systemNowSeconds());
    }
  }
  const ch = await b.dist('src/auth/claim-headers.js');
  if (ch?.lookupClaim && ch?.claimHeaderValue) {
    const payload = { iss: 'x', team: 'dev', org: 'solo.io', exp: 1999999999, nested: { a: { b: 1.5 } }, roles: ['a', 'b'] };
    b.sync('claimsToHeaders: team + org (lookupClaim + claimHeaderValue x2)', () => (ch.claimHeaderValue(ch.lookupClaim(payload, ['team'])) ?? '') + (ch.claimHeaderValue(ch.lookupClaim(payload, ['org'])) ?? ''));
    b.sync('claimsToHeaders: nested number a.b', () => ch.claimHeaderValue(ch.lookupClaim(payload, ['nested', 'a', 'b'])));
    b.sync('claimsToHeaders: array (base64 of JSON)', () => ch.claimHeaderValue(ch.lookupClaim(payload, ['roles'])));
  } else {
    b.skip('claimsToHeaders', b.why || 'claim-headers API not found');
  }
}

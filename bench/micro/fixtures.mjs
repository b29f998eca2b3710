// Shared fixtures for the micro-benchmarks: a key pair per algorithm and a signed token.
import crypto from 'node:crypto';

const b64url = (v) => Buffer.from(v).toString('base64url');

export function fixture(alg) {
  let pair;
  let sign;
  let jwkExtra = {};
  switch (alg) {
    case 'RS256':
      pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      sign = (d) => crypto.sign('sha256', d, pair.privateKey);
      break;
    case 'PS256':
      pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      sign = (d) => crypto.sign('sha256', d, { key: pair.privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
      break;
    case 'ES256':
      pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      sign = (d) => crypto.sign('sha256', d, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' });
      jwkExtra = { crv: 'P-256' };
      break;
    case 'ES384':
      pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
      sign = (d) => crypto.sign('sha384', d, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' });
      jwkExtra = { crv: 'P-384' };
      break;
    case 'EdDSA':
      pair = crypto.generateKeyPairSync('ed25519');
      sign = (d) => crypto.sign(null, d, pair.privateKey);
      break;
    case 'HS256': {
      const secret = crypto.randomBytes(32);
      const key = crypto.createSecretKey(secret);
      pair = { publicKey: key, privateKey: key };
      sign = (d) => crypto.createHmac('sha256', key).update(d).digest();
      break;
    }
  }
  const header = { alg, typ: 'JWT', kid: `k-${alg}` };
  const payload = { iss: 'https://issuer.bench', aud: 'bench-api', exp: Math.floor(Date.now() / 1000) + 3600, team: 'dev', org: 'solo.io', jti: 'x'.repeat(20) };
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const data = Buffer.from(signingInput, 'latin1');
  const signature = sign(data);
  const kty = { RS256: 'RSA', PS256: 'RSA', ES256: 'EC', ES384: 'EC', EdDSA: 'OKP', HS256: 'oct' }[alg];
  return { alg, token: `${signingInput}.${b64url(signature)}`, payload, header, key: pair.publicKey, data, signature: new Uint8Array(signature), signingInput, workerKey: { kid: `k-${alg}`, alg, kty, key: pair.publicKey, ...jwkExtra } };
}


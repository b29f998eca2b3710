// Each row of the spec §4.4 failure table against a real gateway: status, exact body,
// WWW-Authenticate, content-type, and that the upstream received nothing.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { b64url, mint, rsaKeys } from '../helpers/tokens.js';
import { keyPair } from '../fixtures/auth/keys.js';

const rsa = rsaKeys('rsa-1');
const ed = keyPair('ed25519');
const edJwk = { ...ed.publicKey.export({ format: 'jwk' }), kid: 'ed-1', alg: 'EdDSA' };
// An EC key whose curve contradicts its alg: Envoy drops it, leaving no valid key.
const badEc = { ...keyPair('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' }), alg: 'ES256', kid: 'bad' };

const manifests = [
  `
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: { name: table, namespace: kgateway-system }
spec:
  jwt:
    providers:
    - name: a-rsa
      issuer: https://issuer-a.test
      audiences: [api]
      jwks: { local: { inline: '${JSON.stringify({ keys: [rsa.jwk] })}' } }
    - name: b-ed25519
      issuer: https://issuer-b.test
      jwks: { local: { inline: '${JSON.stringify({ keys: [edJwk] })}' } }
    - name: c-no-valid-key
      issuer: https://issuer-c.test
      jwks: { local: { inline: '${JSON.stringify({ keys: [badEc] })}' } }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: jwt-policy, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http }]
  jwtAuth: { extensionRef: { name: table } }
`,
];

let h: Harness;
before(async () => {
  h = await startHarness({ manifests });
});
after(() => h.close());

const now = () => Math.floor(Date.now() / 1000);
const A = (payload: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  mint({ alg: 'RS256', key: rsa.privateKey, kid: 'rsa-1', header, payload: { iss: 'https://issuer-a.test', aud: 'api', exp: now() + 600, ...payload } });
const seg = (o: unknown) => b64url(JSON.stringify(o));
const okHeader = seg({ alg: 'RS256', kid: 'rsa-1' });
const okPayload = seg({ iss: 'https://issuer-a.test', aud: 'api' });

const rows: [string, string | undefined, number, string][] = [
  ['no token in any configured location', undefined, 401, 'Jwt is missing'],
  ['not 3 non-empty segments', 'abc.def', 401, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
  ['header not base64url', `a$b.${okPayload}.c2ln`, 401, 'Jwt header is an invalid Base64url encoded'],
  ['header not JSON', `${b64url('nope')}.${okPayload}.c2ln`, 401, 'Jwt header is an invalid JSON'],
  ['alg missing', `${seg({ kid: 'rsa-1' })}.${okPayload}.c2ln`, 401, 'Jwt header [alg] field is required and must be a string'],
  ['alg unsupported (none)', `${seg({ alg: 'none' })}.${okPayload}.c2ln`, 401, 'Jwt header [alg] is not supported'],
  ['kid not a string', `${seg({ alg: 'RS256', kid: 7 })}.${okPayload}.c2ln`, 401, 'Jwt header [kid] field is not a string'],
  ['payload not base64url', `${okHeader}.a$b.c2ln`, 401, 'Jwt payload is an invalid Base64url encoded'],
  ['payload not JSON', `${okHeader}.${b64url('[1')}.c2ln`, 401, 'Jwt payload is an invalid JSON'],
  ['iss wrong type', `${okHeader}.${seg({ iss: 1 })}.c2ln`, 401, 'Jwt payload [iss] field is not a string'],
  ['sub wrong type', `${okHeader}.${seg({ sub: [] })}.c2ln`, 401, 'Jwt payload [sub] field is not a string'],
  ['jti wrong type', `${okHeader}.${seg({ jti: {} })}.c2ln`, 401, 'Jwt payload [jti] field is not a string'],
  ['exp not a number', `${okHeader}.${seg({ exp: 'soon' })}.c2ln`, 401, 'Jwt payload [exp] field is not an integer'],
  ['exp negative', `${okHeader}.${seg({ exp: -1 })}.c2ln`, 401, 'Jwt payload [exp] field is not a positive 64 bit integer'],
  ['iat not a number', `${okHeader}.${seg({ iat: true })}.c2ln`, 401, 'Jwt payload [iat] field is not an integer'],
  ['nbf negative', `${okHeader}.${seg({ nbf: -5 })}.c2ln`, 401, 'Jwt payload [nbf] field is not a positive 64 bit integer'],
  ['aud wrong type', `${okHeader}.${seg({ aud: [1] })}.c2ln`, 401, 'Jwt payload [aud] field is not a string or string list'],
  ['signature not base64url', `${okHeader}.${okPayload}.a+b/`, 401, 'Jwt signature is an invalid Base64url encoded'],
  ['issuer mismatch', A({ iss: 'https://someone-else.test' }), 401, 'Jwt issuer is not configured'],
  ['nbf in the future', A({ nbf: now() + 3600 }), 401, 'Jwt not yet valid'],
  ['expired', A({ exp: now() - 3600 }), 401, 'Jwt is expired'],
  ['audience mismatch', A({ aud: ['other'] }), 403, 'Audiences in Jwt are not allowed'],
  ['no key with matching kid', A({}, { kid: 'rotated-away' }), 401, "Jwks doesn't have key to match kid or alg from Jwt"],
  ['a key matched but the signature is bad', A({}).replace(/\.[^.]+$/, '.' + b64url(crypto.randomBytes(256))), 401, 'Jwt verification fails'],
  ['Ed25519 signature not 64 bytes', `${seg({ alg: 'EdDSA', kid: 'ed-1' })}.${seg({ iss: 'https://issuer-b.test' })}.${b64url(Buffer.alloc(63))}`, 401, 'Jwt ED25519 signature is wrong length'],
  ['local JWKS has no usable key', mint({ alg: 'ES256', key: keyPair('ec', { namedCurve: 'P-256' }).privateKey, payload: { iss: 'https://issuer-c.test' } }), 401, "Jwks doesn't have any valid public key"],
  // Check order (spec 4.2): time and audience come before the signature.
  ['expired token with a bad signature reports expiry', A({ exp: now() - 3600 }).replace(/\.[^.]+$/, '.' + b64url('x')), 401, 'Jwt is expired'],
];

for (const [name, token, status, body] of rows) {
  test(`§4.4 ${name} -> ${status} ${body}`, async () => {
    const before = h.echo.received.length;
    const res = await request({ port: h.port, path: '/headers?x=1', headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    assert.equal(res.status, status);
    assert.equal(res.body, body);
    assert.equal(res.headers['content-type'], 'text/plain');
    const realm = 'Bearer realm="http://www.example.com:8080/headers?x=1"';
    assert.equal(res.headers['www-authenticate'], token === undefined ? realm : `${realm}, error="invalid_token"`);
    assert.equal(h.echo.received.length, before, 'the upstream received nothing');
  });
}

test('§4.4 a valid token for each working provider passes (requires_any)', async () => {
  const a = await request({ port: h.port, headers: { authorization: `Bearer ${A({})}` } });
  assert.equal(a.status, 200);
  const bTok = mint({ alg: 'EdDSA', key: ed.privateKey, kid: 'ed-1', payload: { iss: 'https://issuer-b.test' } });
  const b = await request({ port: h.port, headers: { authorization: `Bearer ${bTok}` } });
  assert.equal(b.status, 200);
});

test('denials are counted per code in jwtgate_requests_total', async () => {
  const m = h.gateway.metrics;
  const before = m.get('jwtgate_requests_total', 'JWT_EXPIRED');
  await request({ port: h.port, headers: { authorization: `Bearer ${A({ exp: now() - 3600 })}` } });
  assert.equal(m.get('jwtgate_requests_total', 'JWT_EXPIRED'), before + 1);
});

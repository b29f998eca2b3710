// Every section of the kgateway "Basic JWT policy" page (../shared/seed/manifests, all seven
// files), served by a real gateway in front of the real echo upstream, checked as the page
// describes it: status, exact body, WWW-Authenticate, and what the upstream received. The
// Remote JWKS section runs against a real OpenID provider (oidc-provider) on loopback.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, seedManifestsDir, sampleTokenPath } from '../helpers/paths.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { mint, rsaKeys } from '../helpers/tokens.js';
import { startOidcProvider } from '../helpers/oidc.js';
import { rsaSigningKey } from '../helpers/signing-keys.js';
import { freePort } from '../helpers/jwks-server.js';

const exec = promisify(execFile);
const cli = path.join(repoRoot, 'dist', 'src', 'cli.js');

const TOKEN = readFileSync(sampleTokenPath, 'utf8').trim();
const seed = (f: string) => path.join(seedManifestsDir, f);
const seedText = (f: string) => readFileSync(seed(f), 'utf8');
// 01-basic-jwt.yaml carries the TrafficPolicy the other sections keep using.
const TRAFFIC_POLICY = seedText('01-basic-jwt.yaml').split(/^---$/m)[1]!;
const REALM = 'Bearer realm="http://www.example.com:8080/headers"';
const INVALID = `${REALM}, error="invalid_token"`;

/** Header values the echo upstream received for the last request, by lowercase name. */
function lastReceived(h: Harness): Map<string, string[]> {
  const last = h.echo.received.at(-1);
  assert.ok(last, 'the upstream received a request');
  const out = new Map<string, string[]>();
  for (let i = 0; i < last.headers.length; i += 2) {
    const k = last.headers[i]!.toLowerCase();
    out.set(k, [...(out.get(k) ?? []), last.headers[i + 1]!]);
  }
  return out;
}

async function withSeed(files: string[], fn: (h: Harness) => Promise<void>, extra: string[] = []) {
  const h = await startHarness({ manifests: [...files.map(seedText), ...extra] });
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

test('01 basic JWT: no token -> 401 Jwt is missing, upstream untouched', () =>
  withSeed(['01-basic-jwt.yaml'], async (h) => {
    const res = await request({ port: h.port });
    assert.equal(res.status, 401);
    assert.equal(res.body, 'Jwt is missing');
    assert.equal(res.headers['www-authenticate'], REALM);
    assert.equal(res.headers['content-type'], 'text/plain');
    assert.equal(h.echo.received.length, 0);
  }));

test('01 basic JWT: sample token -> 200, token removed before the upstream', () =>
  withSeed(['01-basic-jwt.yaml'], async (h) => {
    const res = await request({ port: h.port, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    const got = lastReceived(h);
    assert.equal(got.has('authorization'), false, 'forwardToken unset: Authorization is removed');
    assert.equal(got.has('x-team'), false);
    assert.ok(JSON.parse(res.body).headers.Host);
  }));

test('01 basic JWT: tampered token -> 401 Jwt verification fails', () =>
  withSeed(['01-basic-jwt.yaml'], async (h) => {
    const parts = TOKEN.split('.');
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString());
    payload.team = 'admin';
    const tampered = `${parts[0]}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${parts[2]}`;
    const res = await request({ port: h.port, headers: { authorization: `Bearer ${tampered}` } });
    assert.equal(res.status, 401);
    assert.equal(res.body, 'Jwt verification fails');
    assert.equal(res.headers['www-authenticate'], INVALID);
    assert.equal(h.echo.received.length, 0);
  }));

test('02 claims to headers: X-Team and X-Org echoed as the page shows', () =>
  withSeed(['02-claims-to-headers.yaml'], async (h) => {
    const res = await request({ port: h.port, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    const body = JSON.parse(res.body);
    assert.deepEqual(body.headers['X-Team'], ['dev']);
    assert.deepEqual(body.headers['X-Org'], ['solo.io']);
  }, [TRAFFIC_POLICY]));

test('02 claims to headers: client-sent x-team/x-org are removed first (no spoofing)', () =>
  withSeed(['02-claims-to-headers.yaml'], async (h) => {
    const res = await request({ port: h.port, headers: { authorization: `Bearer ${TOKEN}`, 'x-team': 'admins', 'X-Org': 'evil' } });
    assert.equal(res.status, 200);
    const got = lastReceived(h);
    assert.deepEqual(got.get('x-team'), ['dev']);
    assert.deepEqual(got.get('x-org'), ['solo.io']);
    // Naming a claim header in Connection must not make the gateway drop it.
    await request({ port: h.port, headers: { authorization: `Bearer ${TOKEN}`, connection: 'x-team, x-org' } });
    assert.deepEqual(lastReceived(h).get('x-team'), ['dev']);
    assert.deepEqual(lastReceived(h).get('x-org'), ['solo.io']);
    const denied = await request({ port: h.port, headers: { 'x-team': 'admins' } });
    assert.equal(denied.status, 401);
    assert.equal(h.echo.received.length, 2, 'the denied request never reached the upstream');
  }, [TRAFFIC_POLICY]));

test('01 basic JWT: fields the client names in Connection are gone before the JWT check, as Envoy\'s codec removes them (Connection: authorization is a missing token); naming x-forwarded-for is refused 400 and closes the connection', () =>
  withSeed(['01-basic-jwt.yaml'], async (h) => {
    const res = await request({ port: h.port, headers: { authorization: `Bearer ${TOKEN}`, connection: 'authorization' } });
    assert.equal(res.status, 401);
    assert.equal(res.body, 'Jwt is missing');
    // Every Connection field counts: a name in the second one too.
    const ok = await request({ port: h.port, headers: { authorization: `Bearer ${TOKEN}`, connection: ['keep-alive', 'x-drop'], 'x-drop': 'secret', 'x-keep': 'k' } });
    assert.equal(ok.status, 200);
    assert.equal(lastReceived(h).has('x-drop'), false);
    assert.deepEqual(lastReceived(h).get('x-keep'), ['k']);
    for (const connection of ['x-forwarded-for', 'a,b,c,d,e,f,g,h,i,j']) {
      const bad = await request({ port: h.port, headers: { authorization: `Bearer ${TOKEN}`, connection } });
      assert.equal(bad.status, 400, connection);
      assert.equal(bad.body, 'Bad Request');
      assert.equal(bad.headers['connection'], 'close');
    }
    assert.equal(h.echo.received.length, 1, 'only the accepted request reached the upstream');
  }));

test('03 remote JWKS: the Keycloak-style manifest, filled in for a local OpenID provider, passes check and serves its tokens', async () => {
  const idp = await startOidcProvider([rsaSigningKey('realm-key')]);
  // $KEYCLOAK_URL/realms/master is the issuer, …/protocol/openid-connect/certs its JWKS.
  const filled = seedText('03-remote-jwks.yaml')
    .replaceAll('$HOST_KEYCLOAK', '127.0.0.1')
    .replaceAll('$PORT_KEYCLOAK', String(idp.port))
    .replaceAll('$KEYCLOAK_URL', idp.baseUrl);
  const h = await startHarness({ manifests: [filled, TRAFFIC_POLICY] });
  try {
    const { stdout } = await exec(process.execPath, [cli, 'check', '--config', h.dir]);
    assert.match(stdout, /GatewayExtension\/kgateway-system\/selfminted-jwt/);
    assert.match(stdout, /, 0 errors, /);
    assert.ok(!h.gateway.snapshot.problems.some((p) => /not supported yet/.test(p.message)), 'jwks.remote is supported');
    assert.equal(idp.jwksFetches(), 1);
    const res = await request({ port: h.port, headers: { authorization: `Bearer ${await idp.token()}` } });
    assert.equal(res.status, 200, res.body);
    assert.equal(lastReceived(h).has('authorization'), false);
    // The sample token's issuer is solo.io: refused for that, before any key is looked at.
    const wrongIssuer = await request({ port: h.port, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(wrongIssuer.status, 401);
    assert.equal(wrongIssuer.body, 'Jwt issuer is not configured');
    // Right issuer, a key the provider never published.
    const forged = mint({ alg: 'RS256', key: rsaSigningKey('test-rsa').privateKey, kid: 'test-rsa', payload: { iss: idp.issuer, exp: Math.floor(Date.now() / 1000) + 60 } });
    const res2 = await request({ port: h.port, headers: { authorization: `Bearer ${forged}` } });
    assert.equal(res2.status, 401);
    assert.equal(res2.body, "Jwks doesn't have key to match kid or alg from Jwt");
    assert.equal(res2.headers['www-authenticate'], INVALID);
  } finally {
    await h.close();
    await idp.close();
  }
});

test('03 remote JWKS: with the provider down, requests get 401 Jwks remote fetch is failed', async () => {
  const port = await freePort();
  const filled = seedText('03-remote-jwks.yaml')
    .replaceAll('$HOST_KEYCLOAK', '127.0.0.1')
    .replaceAll('$PORT_KEYCLOAK', String(port))
    .replaceAll('$KEYCLOAK_URL', `http://127.0.0.1:${port}`);
  const h = await startHarness({ manifests: [filled, TRAFFIC_POLICY] });
  try {
    const token = mint({ alg: 'RS256', key: rsaSigningKey('test-rsa').privateKey, kid: 'test-rsa', payload: { iss: `http://127.0.0.1:${port}/realms/master`, exp: Math.floor(Date.now() / 1000) + 60 } });
    const res = await request({ port: h.port, headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 401);
    assert.equal(res.body, 'Jwks remote fetch is failed');
    assert.equal(res.headers['www-authenticate'], INVALID);
    assert.equal(h.echo.received.length, 0);
  } finally {
    await h.close();
  }
});

test('04 validation mode Strict: no token 401, token 200', () =>
  withSeed(['04-validation-mode-Strict.yaml'], async (h) => {
    assert.equal((await request({ port: h.port })).status, 401);
    assert.equal((await request({ port: h.port, headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  }, [TRAFFIC_POLICY]));

test('04 validation mode AllowMissing: no token passes, a bad token is still rejected', () =>
  withSeed(['04-validation-mode-AllowMissing.yaml'], async (h) => {
    const res = await request({ port: h.port });
    assert.equal(res.status, 200);
    assert.equal(h.echo.received.length, 1);
    const bad = await request({ port: h.port, headers: { authorization: 'Bearer not-a-jwt' } });
    assert.equal(bad.status, 401);
    assert.equal(bad.body, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections');
    assert.equal(h.echo.received.length, 1);
    assert.equal((await request({ port: h.port, headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  }, [TRAFFIC_POLICY]));

test('05 audiences: the sample token (no aud) gets 403 Audiences in Jwt are not allowed', () =>
  withSeed(['05-audiences.yaml'], async (h) => {
    const res = await request({ port: h.port, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 403);
    assert.equal(res.body, 'Audiences in Jwt are not allowed');
    assert.equal(res.headers['www-authenticate'], INVALID);
    assert.equal(h.echo.received.length, 0);
  }, [TRAFFIC_POLICY]));

test('05 audiences: "a different token that carries a matching aud claim" passes', async () => {
  const keys = rsaKeys('solo-public-key-001');
  const manifest = seedText('05-audiences.yaml').replace(/inline: '.*'/, `inline: '${keys.jwks}'`);
  const h = await startHarness({ manifests: [manifest, TRAFFIC_POLICY] });
  try {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const good = mint({ alg: 'RS256', key: keys.privateKey, kid: 'solo-public-key-001', payload: { iss: 'solo.io', aud: ['other', 'https://my-api/'], exp } });
    assert.equal((await request({ port: h.port, headers: { authorization: `Bearer ${good}` } })).status, 200);
    const wrong = mint({ alg: 'RS256', key: keys.privateKey, kid: 'solo-public-key-001', payload: { iss: 'solo.io', aud: 'your-api', exp } });
    const res = await request({ port: h.port, headers: { authorization: `Bearer ${wrong}` } });
    assert.equal(res.status, 403);
    assert.equal(res.body, 'Audiences in Jwt are not allowed');
  } finally {
    await h.close();
  }
});

test('06 token source: x-jwt with Bearer prefix is read; Authorization is not', () =>
  withSeed(['06-token-source.yaml'], async (h) => {
    const ok = await request({ port: h.port, headers: { 'x-jwt': `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.equal(lastReceived(h).has('x-jwt'), false, 'the token header is removed');
    const res = await request({ port: h.port, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 401);
    assert.equal(res.body, 'Jwt is missing');
    const q = await request({ port: h.port, path: `/headers?access_token=${TOKEN}` });
    assert.equal(q.status, 401, 'with tokenSource set, the default access_token parameter is not read');
  }, [TRAFFIC_POLICY]));

test('07 forward token: the upstream receives the Authorization header', () =>
  withSeed(['07-forward-token.yaml'], async (h) => {
    const res = await request({ port: h.port, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    assert.deepEqual(lastReceived(h).get('authorization'), [`Bearer ${TOKEN}`]);
    assert.deepEqual(JSON.parse(res.body).headers.Authorization, [`Bearer ${TOKEN}`]);
  }, [TRAFFIC_POLICY]));

// Envoy keeps Authorization as one inline header: repeated fields arrive joined with ','.
const BASIC = 'Basic YWRtaW46YWRtaW4=';

test('07 forward token: repeated Authorization fields are one value, checked and forwarded as one field', () =>
  withSeed(['07-forward-token.yaml'], async (h) => {
    const joined = await request({ port: h.port, headers: { authorization: [BASIC, `Bearer ${TOKEN}`] } });
    assert.equal(joined.status, 200);
    assert.deepEqual(lastReceived(h).get('authorization'), [`${BASIC},Bearer ${TOKEN}`], 'one field: the Basic credential is not usable on its own');
    // The token then runs into the next field's text: its signature is not base64url.
    const behind = await request({ port: h.port, headers: { authorization: [`Bearer ${TOKEN}`, BASIC] } });
    assert.equal(behind.status, 401);
    assert.equal(behind.body, 'Jwt signature is an invalid Base64url encoded');
    assert.equal(h.echo.received.length, 1, 'the unchecked Basic credential never reached the upstream');
  }, [TRAFFIC_POLICY]));

test('07 forward token: an empty Authorization field adds nothing to the joined value (Envoy appendToHeader)', () =>
  withSeed(['07-forward-token.yaml'], async (h) => {
    const after = await request({ port: h.port, headers: { authorization: [`Bearer ${TOKEN}`, ''] } });
    assert.equal(after.status, 200, after.body);
    assert.deepEqual(lastReceived(h).get('authorization'), [`Bearer ${TOKEN}`]);
    const before = await request({ port: h.port, headers: { authorization: ['', `Bearer ${TOKEN}`] } });
    assert.equal(before.status, 200, before.body);
    assert.deepEqual(lastReceived(h).get('authorization'), [`Bearer ${TOKEN}`], 'no leading comma');
  }, [TRAFFIC_POLICY]));

test('01 basic JWT: the same token in two Authorization fields is one malformed token', () =>
  withSeed(['01-basic-jwt.yaml'], async (h) => {
    const res = await request({ port: h.port, headers: { authorization: [`Bearer ${TOKEN}`, `Bearer ${TOKEN}`] } });
    assert.equal(res.status, 401);
    assert.equal(res.body, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections');
    assert.equal(h.echo.received.length, 0);
  }));

test('default token sources: access_token query parameter works and is removed from the path', () =>
  withSeed(['01-basic-jwt.yaml'], async (h) => {
    const res = await request({ port: h.port, path: `/anything?b=2&access_token=${TOKEN}&a=1` });
    assert.equal(res.status, 200);
    assert.equal(h.echo.received.at(-1)!.url, '/anything?a=1&b=2');
  }));

test('a denial after a query token passed shows the URI as received in its realm (Envoy original_uri_)', () =>
  withSeed(['01-basic-jwt.yaml'], async (h) => {
    const parts = TOKEN.split('.');
    const bad = `${parts[0]}.${parts[1]}.${parts[2]!.slice(0, -4)}AAAA`;
    const res = await request({ port: h.port, path: `/headers?x=1&access_token=${TOKEN}&b=2`, headers: { authorization: `Bearer ${bad}` } });
    assert.equal(res.status, 401);
    assert.equal(res.body, 'Jwt verification fails');
    // The realm is truncated at 256 bytes of path and query, as Envoy's buildOriginalUri.
    const full = `http://www.example.com:8080/headers?x=1&access_token=${TOKEN}&b=2`;
    const prefix = 'http://www.example.com:8080';
    assert.equal(res.headers['www-authenticate'], `Bearer realm="${prefix}${full.slice(prefix.length, prefix.length + 256)}", error="invalid_token"`);
    assert.equal(h.echo.received.length, 0);
  }));

test('query token removal re-encodes only what cannot go on the wire', () =>
  withSeed(['01-basic-jwt.yaml'], async (h) => {
    const res = await request({ port: h.port, path: `/anything?q=hello%20w%C3%B6rld&access_token=${TOKEN}&x=%2F` });
    assert.equal(res.status, 200);
    assert.equal(h.echo.received.at(-1)!.url, '/anything?q=hello%20w%C3%B6rld&x=/');
  }));

test('query token removal keeps bytes that are not UTF-8 and sorts the names by bytes, as Envoy (std::string)', () =>
  withSeed(['01-basic-jwt.yaml'], async (h) => {
    // %E9 is Latin-1 é; %FF%80 is no UTF-8 at all: Envoy writes those bytes back, they are not U+FFFD.
    // ！ (EF BC 81) sorts before 😀 (F0 9F 98 80) by bytes, after it by UTF-16 units.
    const res = await request({ port: h.port, path: `/anything?%F0%9F%98%80=2&b=%E9&access_token=${TOKEN}&a=%FF%80&%EF%BC%81=1` });
    assert.equal(res.status, 200);
    assert.equal(h.echo.received.at(-1)!.url, '/anything?a=%FF%80&b=%E9&%EF%BC%81=1&%F0%9F%98%80=2');
  }));

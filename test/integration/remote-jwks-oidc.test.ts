// A real OpenID provider (oidc-provider, Keycloak-shaped URLs) on loopback issuing
// client_credentials JWT access tokens; the gateway verifies them with its JWKS fetched through
// a Static Backend. Keys are rotated while traffic flows: fresh-key tokens pass after one
// coalesced refetch, old tokens keep passing while their key is still published.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../helpers/paths.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { AUDIENCE, startOidcProvider, type OidcServer } from '../helpers/oidc.js';
import { captureLog, EXT_ID, remoteJwksManifests } from '../helpers/remote-jwks.js';
import { rsaSigningKey } from '../helpers/signing-keys.js';

const K1 = rsaSigningKey('realm-key-1');
const K2 = rsaSigningKey('realm-key-2');

function manifests(idp: OidcServer): string {
  return remoteJwksManifests({ url: idp.jwksUrl, backendPort: idp.port, issuer: idp.issuer, cacheDuration: '10m' }).replace(
    `      issuer: ${idp.issuer}\n`,
    `      issuer: ${idp.issuer}\n      audiences: [${AUDIENCE}]\n      claimsToHeaders: [{ name: client_id, header: x-client-id }]\n`,
  );
}

const call = (h: Harness, token: string) => request({ port: h.port, headers: { authorization: `Bearer ${token}` } });
const kidOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;

test('oidc-provider: client_credentials tokens verified through a Backend; rotation under traffic costs one coalesced refetch', async (t) => {
  const idp = await startOidcProvider([K1]);
  const log = captureLog();
  const h = await startHarness({ manifests: [manifests(idp)], gateway: { logger: log.logger } });
  try {
    assert.deepEqual(h.gateway.snapshot.problems.filter((p) => p.severity === 'error'), []);
    assert.equal(idp.jwksFetches(), 1, 'fetched once at start (the listener waited for it)');
    const t1 = await idp.token();
    assert.equal(kidOf(t1), 'realm-key-1');
    const first = await call(h, t1);
    assert.equal(first.status, 200, first.body);
    assert.deepEqual(JSON.parse(first.body).headers['X-Client-Id'], ['gateway-tests']);

    // Traffic with the old token keeps flowing during the rotation.
    let stop = false;
    const oldStatuses: number[] = [];
    const background = (async () => {
      while (!stop) {
        const batch = await Promise.all(Array.from({ length: 4 }, () => call(h, t1)));
        for (const r of batch) oldStatuses.push(r.status);
      }
    })();

    await idp.rotate([K2, K1]);
    const t2 = await idp.token();
    assert.equal(kidOf(t2), 'realm-key-2', 'new tokens are signed with the new key');
    // 60 requests with the fresh-key token, 20 at a time, the first wave racing the refetch.
    const fresh: number[] = [];
    for (let wave = 0; wave < 3; wave++) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => call(h, t2)));
      for (const r of batch) fresh.push(r.status);
    }
    const t2b = await idp.token();
    fresh.push((await call(h, t2b)).status);
    stop = true;
    await background;

    assert.deepEqual([...new Set(fresh)], [200], 'no fresh-key request failed');
    assert.ok(oldStatuses.length > 0);
    assert.deepEqual([...new Set(oldStatuses)], [200], 'old-key tokens kept passing while their key is published');
    assert.equal(idp.jwksFetches(), 2, 'the start fetch + one coalesced early refetch');
    const stats = h.gateway.jwksRefresher!.stats(EXT_ID)!;
    assert.equal(stats.earlyRefetches, 1);
    assert.equal(stats.changes, 2, 'two generations: before and after the rotation');
    assert.equal(log.find('remote JWKS changed').length, 1);
    t.diagnostic(
      `oidc rotation: ${fresh.length} fresh-key requests (all 200) and ${oldStatuses.length} old-key requests (all 200) during the rotation -> ${idp.jwksFetches()} JWKS fetches (1 at start + ${stats.earlyRefetches} coalesced refetch)`,
    );
    // Withdrawing the old key (its tokens then fail) is checked in remote-jwks.test.ts.
  } finally {
    await h.close();
    await idp.close();
  }
});

test('oidc-provider: a wrong audience or a bad signature is refused, and a known kid never triggers a refetch', async () => {
  const idp = await startOidcProvider([K1]);
  const h = await startHarness({ manifests: [manifests(idp)] });
  try {
    const tok = await idp.token();
    const [hdr, payload, sig] = tok.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    const wrongAud = `${hdr}.${Buffer.from(JSON.stringify({ ...claims, aud: 'https://other.example.com' })).toString('base64url')}.${sig}`;
    const res = await call(h, wrongAud);
    assert.equal(res.status, 403);
    assert.equal(res.body, 'Audiences in Jwt are not allowed');
    const tampered = `${hdr}.${Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url')}.${sig}`;
    const bad = await call(h, tampered);
    assert.equal(bad.status, 401);
    assert.equal(bad.body, 'Jwt verification fails');
    assert.equal(idp.jwksFetches(), 1, 'a known kid with a bad signature triggers no refetch');
  } finally {
    await h.close();
    await idp.close();
  }
});

test('README "Remote JWKS" example: the manifest, filled in for a local provider, passes check and serves its tokens', async () => {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Remote JWKS'));
  const m = /cat > remote-jwks\.yaml <<EOF\n([\s\S]*?)\nEOF\n/.exec(section);
  assert.ok(m, 'the README has the example');
  const idp = await startOidcProvider([K1]);
  const yaml = m[1]!.replaceAll('$HOST_KEYCLOAK', '127.0.0.1').replaceAll('$PORT_KEYCLOAK', String(idp.port)).replaceAll('$KEYCLOAK_URL', idp.baseUrl);
  assert.ok(!yaml.includes('$'), 'every variable filled in');
  const h = await startHarness({ manifests: [yaml] });
  try {
    // `check` as the README runs it: the default Gateway/HTTPRoute plus this file.
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'jwtgate-readme-')), 'remote-jwks.yaml');
    writeFileSync(file, yaml);
    const cli = path.join(repoRoot, 'dist', 'src', 'cli.js');
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'check', '--config', path.join(repoRoot, 'config', 'default', '00-gateway.yaml'), '--config', file]);
    rmSync(path.dirname(file), { recursive: true, force: true });
    assert.match(stdout, /, 0 errors, /);
    const res = await call(h, await idp.token());
    assert.equal(res.status, 200, res.body);
    assert.equal(idp.jwksFetches(), 1);
  } finally {
    await h.close();
    await idp.close();
  }
});

// Every manifest of the shared seed compiles (with the Gateway + HTTPRoute + Backend the page
// assumes, test/fixtures/config/seed-gateway.yaml) without errors and with the values the
// page describes; 03-remote-jwks.yaml keeps its $HOST_KEYCLOAK placeholders, so it gets the
// errors kgateway's API server would give (a port that is not a number, a URL that is not one).

import test from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { compileFiles } from '../../src/config/build.js';
import { formatCheckReport, hasErrors } from '../../src/config/report.js';
import type { JwtExtension, Snapshot } from '../../src/config/snapshot.js';
import type { GatewayRequest } from '../../src/http/exchange.js';
import { selectRoute } from '../../src/routing/match.js';
import { fixturesDir, seedManifestsDir } from '../helpers/paths.js';

const envFile = path.join(fixturesDir, 'config', 'seed-gateway.yaml');
const seedFiles = readdirSync(seedManifestsDir).filter((f) => f.endsWith('.yaml')).sort();

async function compileSeed(file: string): Promise<Snapshot> {
  return compileFiles([envFile, path.join(seedManifestsDir, file)], { generation: 1 });
}

function request(host: string, p: string): GatewayRequest {
  return { method: 'GET', path: p, query: '', host, authority: `${host}:8080`, headers: ['host', `${host}:8080`], remoteAddress: '127.0.0.1', scheme: 'http' };
}

function onlyExtension(s: Snapshot): JwtExtension {
  const ext = s.extensions.get('kgateway-system/selfminted-jwt');
  assert.ok(ext, 'extension kgateway-system/selfminted-jwt compiled');
  return ext;
}

test('the seed has the manifests this test expects', () => {
  assert.ok(seedFiles.length >= 8, seedFiles.join(', '));
  assert.ok(seedFiles.includes('01-basic-jwt.yaml'));
  assert.ok(seedFiles.includes('03-remote-jwks.yaml'));
});

for (const file of seedFiles.filter((f) => f !== '03-remote-jwks.yaml')) {
  test(`seed ${file} compiles without errors`, async () => {
    const s = await compileSeed(file);
    const errors = s.problems.filter((p) => p.severity === 'error');
    assert.deepEqual(errors, [], formatCheckReport(s));
    assert.equal(hasErrors(s), false);
    const ext = onlyExtension(s);
    assert.equal(ext.filterName, 'jwt/kgateway-system/selfminted-jwt');
    assert.equal(ext.providers.length, 1);
    const p = ext.providers[0]!;
    assert.equal(p.key, 'selfminted-jwt_kgateway-system_selfminted');
    assert.equal(p.issuer, 'solo.io');
    assert.equal(p.keySetId, 'GatewayExtension/kgateway-system/selfminted-jwt#selfminted');
    const ks = s.keySets.get(p.keySetId);
    assert.ok(ks && ks.kind === 'local');
    assert.equal(ks.keys.length, 1);
    assert.equal(ks.keys[0]!.kid, 'solo-public-key-001');
    assert.equal(ks.keys[0]!.alg, 'RS256');
    for (const st of s.statuses) {
      assert.equal(st.conditions.find((c) => c.type === 'Accepted')?.status, 'True', `${st.resource} accepted`);
    }
  });
}

test('seed 01: the Gateway-level policy protects the httpbin route', async () => {
  const s = await compileSeed('01-basic-jwt.yaml');
  const table = s.ports.get(8080);
  assert.ok(table);
  const sel = selectRoute(table, request('www.example.com', '/headers'));
  assert.ok(sel);
  assert.equal(sel.route.route, 'httpbin/httpbin');
  assert.deepEqual(sel.route.auth.jwt.map((e) => e.key), ['kgateway-system/selfminted-jwt']);
  assert.deepEqual(sel.route.auth.origins, ['TrafficPolicy/kgateway-system/jwt-policy@Gateway']);
  assert.equal(sel.route.auth.disabled, false);
  assert.deepEqual(sel.route.backends.map((b) => b.target?.key), ['Backend/httpbin/httpbin']);
  const p = sel.route.auth.jwt[0]!.providers[0]!;
  // tokenSource unset: Envoy's defaults, Authorization "Bearer " and access_token.
  assert.deepEqual(p.headerLocations, [{ name: 'authorization', prefix: 'Bearer ' }]);
  assert.deepEqual(p.queryLocations, ['access_token']);
  assert.equal(p.audiences, null);
  assert.equal(p.forwardToken, false);
  assert.equal(p.clockSkewSeconds, 60);
  const policy = s.statuses.find((x) => x.resource === 'TrafficPolicy/kgateway-system/jwt-policy');
  assert.deepEqual(policy?.conditions, [
    { type: 'Accepted', status: 'True', reason: 'Valid', message: 'Policy accepted' },
    { type: 'Attached', status: 'True', reason: 'Attached', message: 'Attached to all targets' },
  ]);
  assert.equal(selectRoute(table, request('other.example.com', '/headers')), undefined);
});

test('seed 02: claimsToHeaders become claim headers and sanitized headers', async () => {
  const ext = onlyExtension(await compileSeed('02-claims-to-headers.yaml'));
  assert.deepEqual(ext.providers[0]!.claimsToHeaders, [
    { claim: 'team', path: ['team'], header: 'x-team' },
    { claim: 'org', path: ['org'], header: 'x-org' },
  ]);
  assert.deepEqual(ext.sanitizeHeaders, ['x-org', 'x-team']);
});

test('seed 04: validation modes', async () => {
  assert.equal(onlyExtension(await compileSeed('04-validation-mode-AllowMissing.yaml')).allowMissing, true);
  assert.equal(onlyExtension(await compileSeed('04-validation-mode-Strict.yaml')).allowMissing, false);
});

test('seed 05/06/07: audiences, token source, forwardToken', async () => {
  assert.deepEqual(onlyExtension(await compileSeed('05-audiences.yaml')).providers[0]!.audiences, ['my-api']);
  const ts = onlyExtension(await compileSeed('06-token-source.yaml')).providers[0]!;
  assert.deepEqual(ts.headerLocations, [{ name: 'x-jwt', prefix: 'Bearer ' }]);
  assert.deepEqual(ts.queryLocations, []);
  assert.equal(onlyExtension(await compileSeed('07-forward-token.yaml')).providers[0]!.forwardToken, true);
});

test('seed 03 (remote JWKS with $HOST_KEYCLOAK placeholders): what kgateway would say', async () => {
  const s = await compileSeed('03-remote-jwks.yaml');
  const errors = s.problems.filter((p) => p.severity === 'error').map((p) => `${p.resource} ${p.path}: ${p.message}`);
  assert.ok(errors.some((e) => e.startsWith('Backend/kgateway-system/keycloak spec.static.hosts[0].port: Invalid value: string "$PORT_KEYCLOAK": must be of type integer')), errors.join('\n'));
  assert.ok(errors.some((e) => e.startsWith('GatewayExtension/kgateway-system/selfminted-jwt spec.jwt.providers[0].jwks.remote.url: Invalid value: "$KEYCLOAK_URL/')), errors.join('\n'));
  const warnings = s.problems.filter((p) => p.severity === 'warning').map((p) => `${p.path}: ${p.message}`);
  assert.ok(warnings.some((w) => w.startsWith('spec.static.hosts[0].host: contains $HOST_KEYCLOAK: an unexpanded shell variable?')), warnings.join('\n'));
  assert.ok(!warnings.some((w) => w.includes('not supported yet')), 'jwks.remote is supported: ' + warnings.join('\n'));
  assert.equal(s.extensions.size, 0);
  const report = formatCheckReport(s);
  assert.match(report, /Backend\/kgateway-system\/keycloak {2}\(.*03-remote-jwks\.yaml:2\)/);
  assert.match(report, /03-remote-jwks\.yaml:12\)\n {10}Invalid value: string "\$PORT_KEYCLOAK": must be of type integer/);
  assert.match(report, /\n5 resources, 3 errors, \d+ warnings\n$/);
});

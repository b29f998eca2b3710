// The error catalogue stays honest: unique bodies per JWT code, statuses as Envoy's jwt_authn
// (403 only for the audience mismatch), and every code documented in the README.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ERRORS } from '../../src/errors.js';
import { repoRoot } from '../helpers/paths.js';

test('every code has a status, a body and a description; bodies are unique (only the router\'s own replies have none, as Envoy\'s: no route, cluster not found; and ext auth\'s, whose body is the authorization server\'s or, on an error, empty; an unknown API key gets the missing key\'s body, as Envoy\'s api_key_auth answers both)', () => {
  const bodies = new Set<string>();
  assert.equal(ERRORS.API_KEY_UNKNOWN.body, ERRORS.API_KEY_MISSING.body);
  for (const [code, info] of Object.entries(ERRORS)) {
    if (code === 'API_KEY_UNKNOWN') continue;
    assert.ok(info.status >= 400 && info.status < 600, code);
    const empty = code === 'BACKEND_NOT_RESOLVED' || code === 'ROUTE_NOT_FOUND' || code === 'EXT_AUTHZ_DENIED' || code === 'EXT_AUTHZ_ERROR';
    assert.equal(info.body.length > 0, !empty, code);
    if (empty) continue;
    assert.ok(info.description.length > 0, code);
    assert.ok(!bodies.has(info.body), `duplicate body for ${code}`);
    bodies.add(info.body);
  }
});

test('basic-auth failures are 401 with a Basic challenge, API key failures 401 without one, as Envoy', () => {
  for (const [code, info] of Object.entries(ERRORS)) {
    if (code.startsWith('BASIC_AUTH_')) assert.deepEqual([info.status, info.wwwAuthenticate], [401, 'basic'], code);
    if (code.startsWith('API_KEY_')) assert.deepEqual([info.status, info.wwwAuthenticate], [401, 'none'], code);
  }
});

test('JWT failures are 401 except the audience mismatch (403), as Envoy', () => {
  for (const [code, info] of Object.entries(ERRORS)) {
    if (!code.startsWith('JWT') && !code.startsWith('JWKS')) continue;
    assert.equal(info.status, code === 'JWT_AUDIENCE_NOT_ALLOWED' ? 403 : 401, code);
    assert.equal(info.wwwAuthenticate, code === 'JWT_MISSING' ? 'missing' : 'invalid', code);
  }
});

test('every code is documented in the README', () => {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  for (const code of Object.keys(ERRORS)) assert.ok(readme.includes('`' + code + '`'), `README lacks ${code}`);
});

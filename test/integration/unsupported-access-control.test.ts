// A TrafficPolicy access-control field jwtgate does not implement yet (`oauth2`, `acl`) makes the policy invalid, so its routes fail closed with kgateway's 500 for an invalid
// policy (spec §2.5): ignoring it would let through requests that kgateway denies. So does an
// implemented one written wrong (a `basicAuth` whose users are not htpasswd lines). (`rbac`,
// `basicAuth`, `apiKeyAuth` and `extAuth` over HTTP are implemented: their configuration in
// test/unit/config-credentials.test.ts.)
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { sampleRoute, startHarness, type Harness, routePolicy } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';

let h: Harness;

const route = (name: string, prefix: string) => `---
${sampleRoute(name, prefix)}`;


before(async () => {
  h = await startHarness({
    manifests: [
      route('admin', '/admin') +
        routePolicy('admin-oauth2', 'admin', `  oauth2:\n    extensionRef: { name: oidc }`) +
        route('basic', '/basic') +
        routePolicy('basic-auth', 'basic', `  basicAuth:\n    users: [{ username: alice, password: secret }]`) +
        route('hash', '/anything/hash') +
        routePolicy('hash-only', 'hash', `  hashPolicies:\n  - header: { name: x-user }`) +
        route('strip', '/anything/strip') +
        routePolicy('strip-identity', 'strip', `  transformation:\n    request:\n      remove: [x-user-id]`) +
        route('limit', '/anything/limit') +
        routePolicy('size-limit', 'limit', `  buffer:\n    maxRequestSize: 1Ki`) +
        route('blocked', '/anything/blocked') +
        routePolicy('blocked', 'blocked', `  directResponse:\n    status: 403\n    body: blocked`),
    ],
  });
});
after(() => h.close());

test('an oauth2 policy fails closed: 500 with kgateway body, the upstream never sees the request, whatever the client sends', async () => {
  const n = h.echo.received.length;
  for (const headers of [{}, { 'x-role': 'admin' }] as Record<string, string>[]) {
    const res = await request({ port: h.port, path: '/admin/x', headers: { host: 'www.example.com', ...headers } });
    assert.equal(res.status, 500);
    assert.equal(res.body, 'invalid route configuration detected and replaced with a direct response.');
  }
  assert.equal(h.echo.received.length, n);
});

test('a basicAuth written in another product\'s shape (users as username/password objects, not htpasswd lines) fails closed the same way', async () => {
  const n = h.echo.received.length;
  const res = await request({ port: h.port, path: '/basic', headers: { host: 'www.example.com', authorization: 'Basic YWxpY2U6c2VjcmV0' } });
  assert.equal(res.status, 500);
  assert.equal(res.body, 'invalid route configuration detected and replaced with a direct response.');
  assert.equal(h.echo.received.length, n);
  const p = h.gateway.snapshot.problems.find((x) => x.resource === 'TrafficPolicy/httpbin/basic-auth');
  assert.equal(p?.path, 'spec.basicAuth.users[0]');
  assert.match(p?.message ?? '', /must be of type string/);
  assert.doesNotMatch(p?.message ?? '', /secret/, 'the password is not shown');
});

test('fields that deny, answer or change what reaches the upstream (a transformation removing an identity header, a directResponse) fail closed too: skipped, the upstream got the client\'s x-user-id, the blocked path; a buffer size limit is applied (413)', async () => {
  const n = h.echo.received.length;
  const limited = await request({ port: h.port, path: '/anything/limit', method: 'POST', body: 'x'.repeat(8192), headers: { host: 'www.example.com' } });
  assert.equal(limited.status, 413);
  assert.equal(limited.body, 'Payload Too Large');
  for (const [path, name] of [['/anything/strip', 'strip-identity'], ['/anything/blocked', 'blocked']] as const) {
    const res = await request({ port: h.port, path, method: 'POST', body: 'x'.repeat(8192), headers: { host: 'www.example.com', 'x-user-id': 'admin' } });
    assert.equal(res.status, 500, path);
    assert.equal(res.body, 'invalid route configuration detected and replaced with a direct response.');
    const p = h.gateway.snapshot.problems.find((x) => x.resource === `TrafficPolicy/httpbin/${name}`);
    assert.equal(p?.severity, 'error', name);
  }
  assert.equal(h.echo.received.length, n);
});

test('a field that grants nothing (hashPolicies) stays a warning: the route is served', async () => {
  const n = h.echo.received.length;
  const res = await request({ port: h.port, path: '/anything/hash', headers: { host: 'www.example.com' } });
  assert.equal(res.status, 200);
  assert.equal(h.echo.received.length, n + 1);
});

test('other routes are unaffected, and the problems name the policy and the field', async () => {
  const res = await request({ port: h.port, path: '/headers', headers: { host: 'www.example.com' } });
  assert.equal(res.status, 200);
  const problems = h.gateway.snapshot.problems;
  const oauth2 = problems.find((p) => p.resource === 'TrafficPolicy/httpbin/admin-oauth2');
  assert.equal(oauth2?.severity, 'error');
  assert.equal(oauth2?.path, 'spec.oauth2');
  assert.match(oauth2?.message ?? '', /oauth2 is not supported by this jwtgate version: the policy is rejected so that its routes fail closed \(500\)/);
  const hash = problems.find((p) => p.resource === 'TrafficPolicy/httpbin/hash-only');
  assert.equal(hash?.severity, 'warning');
  assert.equal(hash?.path, 'spec.hashPolicies');
});

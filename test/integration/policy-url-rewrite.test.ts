// TrafficPolicy `urlRewrite.pathRegex` end to end, from kgateway's "Path rewrites" page (Regex
// rewrite): the Envoy route's regex_rewrite rewrites the path sent upstream (the query kept, every
// match replaced) with x-envoy-original-path; the rule's own URLRewrite filter wins the path, its
// hostname goes with the policy's path; routing, the JWT check and a redirect see the path as
// received; a pattern RE2 refuses makes the policy's routes answer kgateway's 500.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { hostRoute, lastReceived, routePolicy, startHarness, type Harness, SAMPLE_TOKEN, SAMPLE_JWT_EXTENSION } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { configDumpText } from '../../src/config/dump.js';

const TOKEN = SAMPLE_TOKEN;
const jwtExtension = SAMPLE_JWT_EXTENSION;
const DOCS_REGEX = '  urlRewrite:\n    pathRegex:\n      pattern: "^/anything/stores/(.*)/entities"\n      substitution: "/anything/rewrite/path"';

let h: Harness;

before(async () => {
  h = await startHarness({
    manifests: [
      // The docs' in-cluster example: HTTPRoute httpbin-rewrite on rewrite.example, and the policy.
      hostRoute('httpbin-rewrite', 'rewrite.example') +
        routePolicy('httpbin-rewrite-regex', 'httpbin-rewrite', DOCS_REGEX) +
        // The docs' external-service example: the rule's URLRewrite sets the hostname, the policy the path.
        hostRoute('backend-rewrite', 'external-rewrite.example', '    filters: [{ type: URLRewrite, urlRewrite: { hostname: httpbin.org } }]\n') +
        routePolicy('external-rewrite-regex', 'backend-rewrite', DOCS_REGEX.replace('/anything/rewrite/path', '/anything')) +
        // The rule's URLRewrite rewrites the path: the policy's regex is skipped there.
        hostRoute('filtered', 'filtered.example', '    filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /anything/by-filter/ } } }]\n') +
        routePolicy('filtered-regex', 'filtered', '  urlRewrite: { pathRegex: { pattern: "^/", substitution: "/anything/by-policy/" } }') +
        // An empty ReplaceFullPath rewrites nothing (kgateway emits none): the policy's regex applies.
        hostRoute('empty-full', 'empty-full.example', '    filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: "" } } }]\n') +
        routePolicy('empty-full-regex', 'empty-full', '  urlRewrite: { pathRegex: { pattern: "^/old", substitution: "/anything/new" } }') +
        // Groups and a global replace, named by a rule's ExtensionRef filter (a policy without targets).
        `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: versions, namespace: httpbin }
spec:
  urlRewrite: { pathRegex: { pattern: "/v([0-9]+)/", substitution: "/anything/version-\\\\1/" } }
` +
        hostRoute('by-filter', 'versions.example', '    filters: [{ type: ExtensionRef, extensionRef: { group: gateway.kgateway.dev, kind: TrafficPolicy, name: versions } }]\n') +
        // A JWT check on the path as received, then the rewrite.
        `---\n${jwtExtension}\n` +
        hostRoute('guarded', 'guarded.example') +
        routePolicy('guarded', 'guarded', `  jwtAuth: { extensionRef: { name: selfminted-jwt } }\n${DOCS_REGEX}`) +
        // A redirect rule answers with the path as received.
        hostRoute('moved', 'moved.example', '    filters: [{ type: RequestRedirect, requestRedirect: { hostname: new.example, statusCode: 301 } }]\n') +
        routePolicy('moved-regex', 'moved', DOCS_REGEX) +
        // A pattern RE2 refuses: the policy is invalid, its route answers 500.
        hostRoute('broken', 'broken.example') +
        routePolicy('broken-regex', 'broken', '  urlRewrite: { pathRegex: { pattern: "^/(?!admin)", substitution: "/" } }'),
    ],
  });
});
after(() => h?.close());

const get = (host: string, p: string, headers: Record<string, string> = {}) => request({ port: h.port, path: p, headers: { host, ...headers } });
const lastUrl = () => h.echo.received.at(-1)!.url;

test("the docs' example: a matching path is rewritten with x-envoy-original-path; the others are sent as they are (with it too: Envoy sets it whenever the route rewrites)", async () => {
  const r = await get('rewrite.example', '/anything/stores/us/entities');
  assert.equal(r.status, 200);
  assert.equal((JSON.parse(r.body) as { url: string }).url, 'http://rewrite.example/anything/rewrite/path');
  assert.equal(lastUrl(), '/anything/rewrite/path');
  assert.deepEqual(lastReceived(h.echo, 'x-envoy-original-path'), ['/anything/stores/us/entities']);
  await get('rewrite.example', '/anything/stores/dummy/entities');
  assert.equal(lastUrl(), '/anything/rewrite/path');
  for (const p of ['/anything/stores/us/buildings', '/get/stores/us/entities']) {
    const n = h.echo.received.length;
    await get('rewrite.example', p);
    assert.equal(h.echo.received.length, n + 1);
    assert.equal(lastUrl(), p);
    assert.deepEqual(lastReceived(h.echo, 'x-envoy-original-path'), [p]);
  }
});

test('the query is kept and not searched; the part of the path after the match stays (Envoy replaces the match, not the whole path)', async () => {
  await get('rewrite.example', '/anything/stores/us/entities?x=1&next=/anything/stores/eu/entities');
  assert.equal(lastUrl(), '/anything/rewrite/path?x=1&next=/anything/stores/eu/entities');
  assert.deepEqual(lastReceived(h.echo, 'x-envoy-original-path'), ['/anything/stores/us/entities?x=1&next=/anything/stores/eu/entities']);
  await get('rewrite.example', '/anything/stores/us/entities/extra');
  assert.equal(lastUrl(), '/anything/rewrite/path/extra');
});

test("the docs' external-service example: the rule's URLRewrite hostname and the policy's path both apply", async () => {
  await get('external-rewrite.example', '/anything/stores/us/entities');
  assert.equal(lastUrl(), '/anything');
  assert.deepEqual(lastReceived(h.echo, 'host'), ['httpbin.org']);
});

test("a rule whose URLRewrite rewrites the path keeps its own rewrite (kgateway skips the policy's regex), and check says so", async () => {
  await get('filtered.example', '/x');
  assert.equal(lastUrl(), '/anything/by-filter/x');
  const w = h.gateway.snapshot.problems.filter((p) => p.resource === 'HTTPRoute/httpbin/filtered' && p.severity === 'warning');
  assert.deepEqual(
    w.map((p) => `${p.path}: ${p.message}`),
    ["spec.rules[0].filters: this rule's URLRewrite filter rewrites the path, so the urlRewrite of TrafficPolicy/httpbin/filtered-regex is not applied to it (kgateway applies the rule's filter and skips the policy's regex)"],
  );
});

test('a rule whose URLRewrite has an empty ReplaceFullPath rewrites no path: the policy\'s regex does, and check has nothing to say', async () => {
  await get('empty-full.example', '/old/x');
  assert.equal(lastUrl(), '/anything/new/x');
  assert.deepEqual(h.gateway.snapshot.problems.filter((p) => p.resource === 'HTTPRoute/httpbin/empty-full'), []);
});

test('groups and every match: a policy named by an ExtensionRef filter', async () => {
  await get('versions.example', '/api/v1/users/v2/x');
  assert.equal(lastUrl(), '/api/anything/version-1/users/anything/version-2/x');
});

test('the JWT check runs on the request as received; the rewrite only on what goes upstream', async () => {
  const n = h.echo.received.length;
  const denied = await get('guarded.example', '/anything/stores/us/entities');
  assert.equal(denied.status, 401);
  assert.equal(denied.headers['www-authenticate'], 'Bearer realm="http://guarded.example/anything/stores/us/entities"');
  assert.equal(h.echo.received.length, n);
  const ok = await get('guarded.example', '/anything/stores/us/entities', { authorization: `Bearer ${TOKEN}` });
  assert.equal(ok.status, 200);
  assert.equal(lastUrl(), '/anything/rewrite/path');
  assert.deepEqual(lastReceived(h.echo, 'x-team'), ['dev']);
});

test('a redirect rule is not rewritten (kgateway applies urlRewrite to routes that forward only)', async () => {
  const r = await get('moved.example', '/anything/stores/us/entities?a=1');
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, 'http://new.example/anything/stores/us/entities?a=1');
});

test("a pattern RE2 refuses makes the policy invalid: its route answers kgateway's 500 and nothing goes upstream", async () => {
  const n = h.echo.received.length;
  const r = await get('broken.example', '/admin');
  assert.equal(r.status, 500);
  assert.equal(r.body, 'invalid route configuration detected and replaced with a direct response.');
  assert.equal(h.echo.received.length, n);
  const errors = h.gateway.snapshot.problems.filter((p) => p.resource === 'TrafficPolicy/httpbin/broken-regex' && p.severity === 'error');
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.path, 'spec.urlRewrite.pathRegex.pattern');
  assert.match(errors[0]!.message, /lookaround assertions are not supported by RE2/);
});

test('/config_dump shows each route\'s rewrite and which policy it comes from', () => {
  const dump = JSON.parse(configDumpText(h.gateway.snapshot)) as { listeners: { routeDefs: Record<string, { rewrite?: unknown }> }[] };
  const defs = Object.assign({}, ...dump.listeners.map((l) => l.routeDefs)) as Record<string, { rewrite?: unknown }>;
  assert.deepEqual(defs['httpbin/backend-rewrite/0/0']!.rewrite, {
    hostname: 'httpbin.org',
    pathRegex: { pattern: '^/anything/stores/(.*)/entities', substitution: '/anything', from: 'TrafficPolicy/httpbin/external-rewrite-regex@HTTPRoute' },
  });
  assert.deepEqual(defs['httpbin/filtered/0/0']!.rewrite, { replacePrefixMatch: '/anything/by-filter/' });
  assert.deepEqual(defs['httpbin/by-filter/0/0']!.rewrite, { pathRegex: { pattern: '/v([0-9]+)/', substitution: '/anything/version-\\1/', from: 'TrafficPolicy/httpbin/versions@ExtensionRef' } });
  assert.equal(defs['httpbin/moved/0/0']!.rewrite, undefined);
});

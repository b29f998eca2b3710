// TrafficPolicy `basicAuth` and `apiKeyAuth` end to end, from the manifests of kgateway's "Basic
// auth" and "API key auth" pages: Envoy's basic_auth and api_key_auth answers (status, body,
// WWW-Authenticate), what the upstream receives (the Authorization header kept; the API key
// removed from its header, query or cookie; the client id header), the order of kgateway's
// authentication filters (API key, basic, then JWT), `disable` on a more specific level, an
// invalid user list failing closed, and the metrics.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { filteredRoute, lastReceived, sampleRoute, startHarness, type Harness, SAMPLE_TOKEN, SAMPLE_JWT_EXTENSION, requestsCounted } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { configDumpText } from '../../src/config/dump.js';

const TOKEN = SAMPLE_TOKEN;
// The default config's JWT GatewayExtension (claimsToHeaders team/org), in the routes' namespace.
const jwtExtension = SAMPLE_JWT_EXTENSION;

// kgateway's docs: `htpasswd -nbs user password`, and the API key of its Secret.
const USER_LINE = 'user:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=';
const DOCS_KEY = 'N2YwMDIxZTEtNGUzNS1jNzgzLTRkYjAtYjE2YzRkZGVmNjcy';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

const policy = (name: string, target: string, body: string, kind = 'HTTPRoute') => `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name}, namespace: httpbin }
spec:
  ${kind === 'none' ? '' : `targetRefs: [{ group: gateway.networking.k8s.io, kind: ${kind}, name: ${target} }]`}
${body}
`;
const route = (name: string, prefix: string, filters?: string) => `---\n${sampleRoute(name, prefix, filters)}`;

let h: Harness;
const count = (result: string) => requestsCounted(h, result);

before(async () => {
  h = await startHarness({
    manifests: [
      // Basic auth: the docs' user list; a Secret with two users, a comment and a password with a colon.
      route('basic', '/anything/basic') +
        policy('basic-users', 'basic', `  basicAuth:\n    users: ["${USER_LINE}"]`) +
        `---
apiVersion: v1
kind: Secret
metadata: { name: basic-auth-users, namespace: httpbin }
stringData:
  .htpasswd: |
    # the team
    admin:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=
    colon:{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=
` +
        route('basic-secret', '/anything/basic-secret') +
        policy('basic-secret', 'basic-secret', '  basicAuth:\n    secretRef: { name: basic-auth-users }') +
        // A rule that opts out through an ExtensionRef filter (more specific than the HTTPRoute's policy).
        route('basic-open', '/anything/basic-open', '[{ type: ExtensionRef, extensionRef: { group: gateway.kgateway.dev, kind: TrafficPolicy, name: basic-off } }]') +
        policy('basic-on', 'basic-open', `  basicAuth:\n    users: ["${USER_LINE}"]`) +
        policy('basic-off', '', '  basicAuth:\n    disable: {}', 'none') +
        // A bcrypt line (not a {SHA} hash): the policy is invalid and its route fails closed.
        route('basic-bcrypt', '/anything/basic-bcrypt') +
        policy('basic-bcrypt', 'basic-bcrypt', '  basicAuth:\n    users: ["user:$2y$05$abcdefghijklmnopqrstuuJ3T1Ojo0kE5dZ2xWb8GQhR8r8Wr5y6i"]') +
        // API keys: the docs' Secret and policy.
        `---
apiVersion: v1
kind: Secret
metadata: { name: apikey, namespace: httpbin, labels: { app: httpbin } }
type: extauth.solo.io/apikey
stringData:
  api-key: ${DOCS_KEY}
---
apiVersion: v1
kind: Secret
metadata: { name: team-keys, namespace: httpbin, labels: { app: httpbin } }
stringData:
  alice: alice-key-1
  bob: bob-key-2
` +
        route('key', '/anything/key') +
        policy('apikey-auth', 'key', '  apiKeyAuth:\n    secretRef: { name: apikey }') +
        // Three sources, a client id header, keys chosen by label.
        route('keys', '/anything/keys') +
        policy('apikey-sources', 'keys', '  apiKeyAuth:\n    secretSelector: { matchLabels: { app: httpbin } }\n    keySources: [{ header: X-API-KEY }, { query: api_key }, { cookie: auth_token }]\n    clientIdHeader: x-client-id') +
        route('keys-forwarded', '/anything/forwarded') +
        policy('apikey-forward', 'keys-forwarded', '  apiKeyAuth:\n    secretRef: { name: team-keys }\n    forwardCredential: true') +
        // API key, basic auth and JWT on one route each: kgateway runs api_key_auth, basic_auth, then jwt_authn.
        `---\n${jwtExtension}\n` +
        route('key-jwt', '/anything/key-jwt') +
        policy('key-jwt', 'key-jwt', '  apiKeyAuth:\n    secretRef: { name: team-keys }\n    keySources: [{ header: x-api-key }]\n    clientIdHeader: x-client-id\n  jwtAuth:\n    extensionRef: { name: selfminted-jwt }') +
        route('basic-jwt', '/anything/basic-jwt') +
        policy('basic-jwt', 'basic-jwt', `  basicAuth:\n    users: ["${USER_LINE}"]\n  jwtAuth:\n    extensionRef: { name: selfminted-jwt }`),
    ],
  });
});
after(() => h?.close());

const get = (p: string, headers: Record<string, string> = {}) => request({ port: h.port, path: p, headers: { host: 'www.example.com', ...headers } });

test("basicAuth (the docs' example): no credentials get Envoy's 401 with a Basic challenge for the request's URI; the upstream never sees it", async () => {
  const n = h.echo.received.length;
  const missing = count('BASIC_AUTH_MISSING');
  const r = await get('/anything/basic/headers?x=1');
  assert.equal(r.status, 401);
  assert.equal(r.body, 'User authentication failed. Missing username and password.');
  assert.equal(r.headers['www-authenticate'], 'Basic realm="http://www.example.com/anything/basic/headers?x=1"');
  assert.equal(r.headers['content-type'], 'text/plain');
  assert.equal(h.echo.received.length, n);
  assert.equal(count('BASIC_AUTH_MISSING') - missing, 1);
});

test('basicAuth: each malformed or wrong credential gets its own Envoy body', async () => {
  const n = h.echo.received.length;
  const cases: [string, string, string][] = [
    ['Bearer abc', "User authentication failed. Expected 'Basic' authentication scheme.", 'BASIC_AUTH_BAD_SCHEME'],
    [basic('user', 'password').replace('Basic', 'basic'), "User authentication failed. Expected 'Basic' authentication scheme.", 'BASIC_AUTH_BAD_SCHEME'],
    ['Basic !!!!', 'User authentication failed. Invalid basic credential format.', 'BASIC_AUTH_BAD_FORMAT'],
    [`Basic ${Buffer.from('user').toString('base64')}`, 'User authentication failed. Invalid basic credential format.', 'BASIC_AUTH_BAD_FORMAT'],
    ['Basic  ' + Buffer.from('user:password').toString('base64'), 'User authentication failed. Invalid basic credential format.', 'BASIC_AUTH_BAD_FORMAT'],
    [basic('user', 'wrong'), 'User authentication failed. Invalid username/password combination.', 'BASIC_AUTH_DENIED'],
    [basic('User', 'password'), 'User authentication failed. Invalid username/password combination.', 'BASIC_AUTH_DENIED'],
    [basic('nobody', 'password'), 'User authentication failed. Invalid username/password combination.', 'BASIC_AUTH_DENIED'],
  ];
  for (const [authorization, body, code] of cases) {
    const before0 = count(code);
    const r = await get('/anything/basic', { authorization });
    assert.equal(r.status, 401, authorization);
    assert.equal(r.body, body, authorization);
    assert.equal(r.headers['www-authenticate'], 'Basic realm="http://www.example.com/anything/basic"');
    assert.equal(count(code) - before0, 1, code);
  }
  assert.equal(h.echo.received.length, n);
});

test('basicAuth: the right password (unpadded base64 too) passes, and the upstream gets the Authorization header as sent', async () => {
  for (const authorization of [basic('user', 'password'), 'Basic dXNlcjpwYXNzd29yZA']) {
    const r = await get('/anything/basic/headers', { authorization });
    assert.equal(r.status, 200, authorization);
    assert.deepEqual(lastReceived(h.echo, 'authorization'), [authorization]);
  }
});

test("basicAuth from a Secret's .htpasswd: its users, a password holding a colon, the comment line skipped", async () => {
  assert.equal((await get('/anything/basic-secret', { authorization: basic('admin', 'password') })).status, 200);
  assert.equal((await get('/anything/basic-secret', { authorization: basic('colon', 'pa:ss') })).status, 200);
  assert.equal((await get('/anything/basic-secret', { authorization: basic('colon', 'pa') })).status, 401);
  assert.equal((await get('/anything/basic-secret', { authorization: basic('user', 'password') })).status, 401);
  assert.equal((await get('/anything/basic-secret', { authorization: basic('# the team', 'x') })).status, 401);
});

test('basicAuth disable on an ExtensionRef filter beats the HTTPRoute-wide policy: that rule needs no credentials', async () => {
  const r = await get('/anything/basic-open');
  assert.equal(r.status, 200);
});

test('a user list with a hash other than {SHA} makes the policy invalid: its route fails closed with 500, whatever the client sends', async () => {
  const n = h.echo.received.length;
  for (const authorization of [undefined, basic('user', 'password')]) {
    const r = await get('/anything/basic-bcrypt', authorization ? { authorization } : {});
    assert.equal(r.status, 500);
    assert.equal(r.body, 'invalid route configuration detected and replaced with a direct response.');
  }
  assert.equal(h.echo.received.length, n);
  const p = h.gateway.snapshot.problems.find((x) => x.resource === 'TrafficPolicy/httpbin/basic-bcrypt' && x.severity === 'error');
  assert.ok(p, 'an error names the policy');
  assert.ok(!p.message.includes('$2y$05$abcdefghijklmnopqrstuu'), 'the hash is not repeated in the message');
});

test("apiKeyAuth (the docs' example): no key gets Envoy's 401 without a challenge; the key in the api-key header, `Bearer ` removed, passes and is not sent upstream", async () => {
  const n = h.echo.received.length;
  const missing = count('API_KEY_MISSING');
  const r = await get('/anything/key');
  assert.equal(r.status, 401);
  assert.equal(r.body, 'Client authentication failed.');
  assert.equal(r.headers['www-authenticate'], undefined);
  assert.equal(r.headers['content-type'], 'text/plain');
  assert.equal(h.echo.received.length, n);
  assert.equal(count('API_KEY_MISSING') - missing, 1);
  const ok = await get('/anything/key', { 'api-key': `Bearer ${DOCS_KEY}` });
  assert.equal(ok.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'api-key'), []);
  const plain = await get('/anything/key', { 'api-key': DOCS_KEY });
  assert.equal(plain.status, 200);
});

test('apiKeyAuth: an unknown key, or one with a lowercase bearer, is refused with the same body', async () => {
  const unknown = count('API_KEY_UNKNOWN');
  for (const key of ['not-a-key', `bearer ${DOCS_KEY}`, `Bearer  ${DOCS_KEY}`]) {
    const r = await get('/anything/key', { 'api-key': key });
    assert.equal(r.status, 401, key);
    assert.equal(r.body, 'Client authentication failed.');
  }
  assert.equal(count('API_KEY_UNKNOWN') - unknown, 3);
});

test('apiKeyAuth sources in order (header, query, cookie): the key is found in each, the client id header is set over the client\'s, and every source\'s place is cleared', async () => {
  // In the header: the query is still rewritten as Envoy rewrites it (a query source is configured).
  // The cookie field is rebuilt as Envoy rebuilds it (a cookie source is configured too).
  let r = await get('/anything/keys?z=1&a=2', { 'x-api-key': 'alice-key-1', 'x-client-id': 'mallory', cookie: 'c="3";flag' });
  assert.equal(r.status, 200);
  let got = h.echo.received.at(-1)!;
  assert.equal(got.url, '/anything/keys?a=2&z=1');
  assert.deepEqual(lastReceived(h.echo, 'cookie'), ['c=3']);
  assert.deepEqual(lastReceived(h.echo, 'x-client-id'), ['alice']);
  assert.deepEqual(lastReceived(h.echo, 'x-api-key'), []);
  // In the query: removed from it.
  r = await get('/anything/keys?z=1&api_key=bob-key-2&a=2');
  assert.equal(r.status, 200);
  got = h.echo.received.at(-1)!;
  assert.equal(got.url, '/anything/keys?a=2&z=1');
  assert.deepEqual(lastReceived(h.echo, 'x-client-id'), ['bob']);
  // In a cookie (quoted): removed, the other cookies kept.
  r = await get('/anything/keys', { cookie: 'a=1; auth_token="alice-key-1"; b=2' });
  assert.equal(r.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'cookie'), ['a=1; b=2']);
  assert.deepEqual(lastReceived(h.echo, 'x-client-id'), ['alice']);
  // The docs' key is also selected by the label.
  r = await get('/anything/keys', { 'x-api-key': DOCS_KEY });
  assert.equal(r.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'x-client-id'), ['api-key']);
  // An empty header falls through to the next source; a key nowhere is missing.
  r = await get('/anything/keys?api_key=bob-key-2', { 'x-api-key': '' });
  assert.equal(r.status, 200);
  r = await get('/anything/keys', { cookie: 'other=1' });
  assert.equal(r.status, 401);
  // A refused request keeps nothing of a client id header: it never reaches the upstream.
});

test('apiKeyAuth forwardCredential: the key stays on the request', async () => {
  const r = await get('/anything/forwarded', { 'api-key': 'bob-key-2' });
  assert.equal(r.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'api-key'), ['bob-key-2']);
});

test('kgateway filter order: the API key is checked before the JWT, basic credentials before the JWT', async () => {
  // No key, a good token: the API key's 401.
  let r = await get('/anything/key-jwt', { authorization: `Bearer ${TOKEN}` });
  assert.equal(r.status, 401);
  assert.equal(r.body, 'Client authentication failed.');
  // A good key, no token: the JWT's 401.
  r = await get('/anything/key-jwt', { 'x-api-key': 'alice-key-1' });
  assert.equal(r.status, 401);
  assert.equal(r.body, 'Jwt is missing');
  // Both: the upstream gets the client id and the claim headers, not the key.
  r = await get('/anything/key-jwt', { 'x-api-key': 'alice-key-1', authorization: `Bearer ${TOKEN}` });
  assert.equal(r.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'x-client-id'), ['alice']);
  assert.deepEqual(lastReceived(h.echo, 'x-org'), ['solo.io']);
  assert.deepEqual(lastReceived(h.echo, 'x-api-key'), []);
  // Basic and JWT: no credentials get the basic-auth 401, not `Jwt is missing`.
  r = await get('/anything/basic-jwt');
  assert.equal(r.status, 401);
  assert.equal(r.body, 'User authentication failed. Missing username and password.');
  r = await get('/anything/basic-jwt', { authorization: `Bearer ${TOKEN}` });
  assert.equal(r.body, "User authentication failed. Expected 'Basic' authentication scheme.");
});

test('/config_dump shows each route\'s basicAuth and apiKeyAuth with where they come from, and no hash or key', async () => {
  const dump = configDumpText(h.gateway.snapshot);
  assert.match(dump, /basicAuth/);
  assert.match(dump, /apiKeyAuth/);
  assert.match(dump, /TrafficPolicy\/httpbin\/apikey-sources@HTTPRoute/);
  for (const secret of ['W6ph5Mm5Pz8GgiULbPgzG37mj9g=', DOCS_KEY, 'alice-key-1', 'bob-key-2']) assert.ok(!dump.includes(secret), 'the dump holds no secret');
});

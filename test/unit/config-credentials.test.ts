// TrafficPolicy basicAuth and apiKeyAuth, from manifests to the compiled route: the htpasswd lines
// (inline or a Secret's key) and the API keys (a Secret, or the Secrets a selector picks) as
// kgateway reads them, ReferenceGrants for other namespaces, duplicates, `disable`, the fold
// (the most specific level's whole), the 500 of an invalid policy, /config_dump and `check`,
// and that no hash, password or key is ever printed.

import test from 'node:test';
import assert from 'node:assert/strict';
import { KGW, gateway, md, route, type Doc } from '../fixtures/config/manifests.js';
import { compileText } from '../../src/config/build.js';
import { configDumpText } from '../../src/config/dump.js';
import { formatCheckReport } from '../../src/config/report.js';
import type { CompiledRoute, Snapshot } from '../../src/config/snapshot.js';
import type { GatewayRequest } from '../../src/http/exchange.js';
import { selectRoute } from '../../src/routing/match.js';
import { basicAuthDenial, basicAuthUserKey } from '../../src/auth/basic-auth.js';
import { apiKeyDenial } from '../../src/auth/api-key-auth.js';
import { checkHtpasswd, goTrimSpace } from '../../src/config/credentials.js';

const GW_TARGET = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' };
const ROUTE_TARGET = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'app' };
// `htpasswd -nbs alice password`, `htpasswd -nbs bob secret`.
const ALICE_HASH = 'W6ph5Mm5Pz8GgiULbPgzG37mj9g=';
const BOB_HASH = '5en6G6MezRroT3XKqkdPOmY/BfQ=';
const ALICE = `alice:{SHA}${ALICE_HASH}`;
const BOB = `bob:{SHA}${BOB_HASH}`;

const policy = (spec: Doc, name = 'pol', ns = 'default', target: Doc = GW_TARGET): Doc => ({ apiVersion: KGW, kind: 'TrafficPolicy', metadata: md(name, ns), spec: { targetRefs: [target], ...spec } });
const secret = (stringData: Doc, name: string, ns = 'default', labels?: Record<string, string>): Doc => ({ apiVersion: 'v1', kind: 'Secret', metadata: md(name, ns, labels ? { labels } : {}), stringData });
const grant = (ns: string, to: Doc = { group: '', kind: 'Secret' }, from: Doc = { group: 'gateway.kgateway.dev', kind: 'TrafficPolicy', namespace: 'default' }): Doc => ({
  apiVersion: 'gateway.networking.k8s.io/v1beta1',
  kind: 'ReferenceGrant',
  metadata: md(`allow-${ns}`, ns),
  spec: { from: [from], to: [to] },
});
/** HTTPRoute `app` with rules `public` (/public) and `private` (/private). */
const twoRules = route({
  rules: [
    { name: 'public', matches: [{ path: { type: 'PathPrefix', value: '/public' } }], backendRefs: [{ name: 'app', port: 80 }] },
    { name: 'private', matches: [{ path: { type: 'PathPrefix', value: '/private' } }], backendRefs: [{ name: 'app', port: 80 }] },
  ],
});

function build(docs: readonly Doc[]): Snapshot {
  return compileText(docs.map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 }, 'creds.yaml');
}

function errors(s: Snapshot): string[] {
  return s.problems.filter((p) => p.severity === 'error').map((p) => `${p.resource} ${p.path}: ${p.message}`);
}

function routeAt(s: Snapshot, path = '/'): CompiledRoute {
  const sel = selectRoute(s.ports.get(8080)!, req(path));
  assert.ok(sel, `a route for ${path}`);
  return sel.route;
}

function req(path: string, headers: string[] = [], query = ''): GatewayRequest {
  return { method: 'GET', path, query, host: 'h', authority: 'h', headers, remoteAddress: '127.0.0.1', scheme: 'http' };
}

const basic = (user: string, password: string): string[] => ['authorization', `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`];

test('basicAuth users: the {SHA} lines become the route\'s users (name as UTF-8 bytes, the 28 characters after {SHA}), from the Gateway-level policy; the route checks them as Envoy would', () => {
  const s = build([gateway(), route(), policy({ basicAuth: { users: [ALICE, '# a comment', '', `  ${BOB}\r`, 'zoë:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g='] } })]);
  assert.deepEqual(errors(s), []);
  const r = routeAt(s);
  assert.equal(r.invalid, undefined);
  const b = r.auth.basicAuth!;
  assert.equal(b.origin, 'TrafficPolicy/default/pol@Gateway');
  assert.deepEqual([...b.users], [
    ['alice', ALICE_HASH],
    ['bob', BOB_HASH],
    [basicAuthUserKey('zoë'), ALICE_HASH],
  ]);
  assert.equal(basicAuthDenial(b, basic('alice', 'password')), undefined);
  assert.equal(basicAuthDenial(b, basic('bob', 'secret')), undefined);
  assert.equal(basicAuthDenial(b, basic('bob', 'password')), 'BASIC_AUTH_DENIED');
  assert.equal(r.auth.apiKeyAuth, undefined);
});

test('basicAuth secretRef: the `.htpasswd` key by default or the key named, trimmed as kgateway trims it (CRLF, indentation, blank lines, comments); a Secret in another namespace needs a ReferenceGrant from TrafficPolicy in the policy\'s namespace to core Secret', () => {
  const text = `\n# team\r\n${ALICE}\r\n\t${BOB}  \n\n`;
  const same = build([gateway(), route(), policy({ basicAuth: { secretRef: { name: 'htpasswd' } } }), secret({ '.htpasswd': text }, 'htpasswd')]);
  assert.deepEqual(errors(same), []);
  assert.deepEqual([...routeAt(same).auth.basicAuth!.users.keys()], ['alice', 'bob']);

  const named = build([gateway(), route(), policy({ basicAuth: { secretRef: { name: 'htpasswd', key: 'users' } } }), secret({ users: BOB }, 'htpasswd')]);
  assert.deepEqual(errors(named), []);
  assert.deepEqual([...routeAt(named).auth.basicAuth!.users.keys()], ['bob']);

  const cross = [gateway(), route(), policy({ basicAuth: { secretRef: { name: 'htpasswd', namespace: 'auth' } } }), secret({ '.htpasswd': ALICE }, 'htpasswd', 'auth')];
  const without = build(cross);
  assert.deepEqual(errors(without), [
    'TrafficPolicy/default/pol spec.basicAuth.secretRef: basic auth: missing reference grant: Secret auth/htpasswd is in another namespace: a ReferenceGrant in namespace auth must allow from group gateway.kgateway.dev kind TrafficPolicy namespace default to group "" kind Secret',
  ]);
  // kgateway's 500 on every route of the Gateway: a Gateway-level policy's error replaces its virtual host.
  assert.equal(routeAt(without).invalid, 'TrafficPolicy/default/pol is invalid: basic auth: missing reference grant');
  assert.equal(routeAt(without).auth.basicAuth, undefined);
  const status = without.statuses.find((x) => x.resource === 'TrafficPolicy/default/pol')!.conditions[0];
  assert.deepEqual(status, { type: 'Accepted', status: 'False', reason: 'Invalid', message: 'basic auth: missing reference grant' });

  const granted = build([...cross, grant('auth')]);
  assert.deepEqual(errors(granted), []);
  assert.deepEqual([...routeAt(granted).auth.basicAuth!.users.keys()], ['alice']);
  // A grant for another Secret name, from another kind or namespace, or in another namespace does not apply.
  for (const g of [
    grant('auth', { group: '', kind: 'Secret', name: 'other' }),
    grant('auth', undefined, { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'default' }),
    grant('auth', undefined, { group: 'gateway.kgateway.dev', kind: 'TrafficPolicy', namespace: 'elsewhere' }),
    grant('default'),
  ]) {
    assert.match(routeAt(build([...cross, g])).invalid ?? '', /missing reference grant/, JSON.stringify(g));
  }
});

test('basicAuth: any line kgateway drops makes the whole policy invalid (kgateway\'s message, every bad line its own error); no user left is kgateway\'s other message; an empty user name is Envoy\'s refusal', () => {
  const invalidOf = (users: string[]): string | undefined => routeAt(build([gateway(), route(), policy({ basicAuth: { users } })])).invalid;
  assert.equal(invalidOf([ALICE, 'bob:$2y$05$c4WoMPo3SXsafkva.HHa6uXQZWr7oboPiC2bT/r7q1BB8I2s0BRqC', 'carol', ALICE]), 'TrafficPolicy/default/pol is invalid: basic auth: dropped 3 user(s) with invalid hash format (only {SHA} is supported) or duplicate usernames.');
  assert.equal(invalidOf(['bob:plain']), 'TrafficPolicy/default/pol is invalid: basic auth: no valid users with {SHA} hash format found');
  assert.equal(invalidOf([ALICE, `:{SHA}${BOB_HASH}`]), 'TrafficPolicy/default/pol is invalid: basic auth: empty user name or password');
  const s = build([gateway(), route(), policy({ basicAuth: { users: [ALICE, 'bob:plain', 'carol', ALICE] } })]);
  assert.deepEqual(
    s.problems.filter((p) => p.severity === 'error').map((p) => p.path),
    ['spec.basicAuth.users[1]', 'spec.basicAuth.users[2]', 'spec.basicAuth.users[3]'],
  );
  // An item holding several lines (a YAML block): each line is checked, and named.
  const block = build([gateway(), route(), policy({ basicAuth: { users: [`${ALICE}\nbob:plain`] } })]);
  assert.deepEqual(errors(block), ['TrafficPolicy/default/pol spec.basicAuth.users[0]: line 2 of users[0]: user "bob": a plain-text password or a hash of a kind this check does not name: only {SHA} hashes are supported (Envoy\'s basic_auth); generate one with `htpasswd -nbs USER PASSWORD` or `printf %s PASSWORD | openssl sha1 -binary | base64`']);
});

test('checkHtpasswd: kgateway\'s rules (Go\'s TrimSpace, SplitN at the first colon, a {SHA} hash of 33 bytes, the first of a user kept)', () => {
  const at = (text: string) => ({ text, path: 'p' });
  const r = checkHtpasswd([at(`\u00a0${ALICE}\u0085`), at(`\ufeff${BOB}`), at('  # x'), at(`dave:{SHA}${ALICE_HASH}`), at(`dave:{SHA}${BOB_HASH}`)]);
  // NBSP and NEL are Go spaces, a BOM is not: "\ufeffbob" is a user name of its own.
  assert.deepEqual([...r.users.keys()], ['alice', basicAuthUserKey('\ufeffbob'), 'dave']);
  assert.equal(r.dropped, 1, 'the second dave');
  assert.equal(r.users.get('dave'), ALICE_HASH, 'the first dave kept');
  assert.equal(goTrimSpace('\u2028 x \u3000'), 'x');
  assert.equal(goTrimSpace('\ufeffx'), '\ufeffx');
  // Go's len counts bytes: 14 two-byte characters pass the length check (and match no password),
  // 28 of them do not.
  const bytes = checkHtpasswd([at(`carol:{SHA}${'é'.repeat(14)}`), at(`erin:{SHA}${'é'.repeat(28)}`)]);
  assert.deepEqual([...bytes.users.keys()], ['carol']);
  assert.equal(bytes.dropped, 1);
  assert.deepEqual(bytes.problems.map((p) => `${p.severity}: ${p.message.slice(0, p.message.indexOf(';'))}`), [
    'warning: user "carol": the 28 characters after {SHA} are not the base64 of a SHA-1 digest: no password matches them',
    'error: user "erin": 56 characters after {SHA}, where a SHA-1 in base64 has 28',
  ]);
});

test('apiKeyAuth secretRef: every data key a client id, its value the key as written (UTF-8 bytes), empty values skipped; key sources as Envoy reads them (one place each, header names lowercase), credentials hidden unless forwarded, the client id header lowercase', () => {
  const s = build([
    gateway(),
    route(),
    policy({
      apiKeyAuth: {
        secretRef: { name: 'keys' },
        keySources: [{ header: 'X-API-KEY', query: 'ignored' }, { query: 'api_key' }, { cookie: 'Auth_Token' }],
        clientIdHeader: 'X-Client-ID',
      },
    }),
    secret({ alice: 'k-123', bob: 'ключ', carol: '' }, 'keys'),
  ]);
  assert.deepEqual(errors(s), []);
  const a = routeAt(s).auth.apiKeyAuth!;
  assert.equal(a.origin, 'TrafficPolicy/default/pol@Gateway');
  assert.deepEqual([...a.keys], [
    ['k-123', 'alice'],
    ['ключ', 'bob'],
  ]);
  assert.deepEqual(a.sources, [
    { kind: 'header', name: 'x-api-key' },
    { kind: 'query', name: 'api_key' },
    { kind: 'cookie', name: 'Auth_Token' },
  ]);
  assert.equal(a.hideCredentials, true);
  assert.equal(a.clientIdHeader, 'x-client-id');
  const ok = req('/', ['x-api-key', 'Bearer k-123']);
  assert.equal(apiKeyDenial(a, ok), undefined);
  assert.deepEqual(ok.headers, ['x-client-id', 'alice']);
  assert.equal(apiKeyDenial(a, req('/', ['x-api-key', 'k-999'])), 'API_KEY_UNKNOWN');

  // No keySources: kgateway's default header api-key; forwardCredential: true keeps the key.
  const d = build([gateway(), route(), policy({ apiKeyAuth: { secretRef: { name: 'keys' }, forwardCredential: true } }), secret({ alice: 'k-123' }, 'keys')]);
  const da = routeAt(d).auth.apiKeyAuth!;
  assert.deepEqual(da.sources, [{ kind: 'header', name: 'api-key' }]);
  assert.equal(da.hideCredentials, false);
  assert.equal(da.clientIdHeader, undefined);
  const empty = build([gateway(), route(), policy({ apiKeyAuth: { secretRef: { name: 'keys' }, keySources: [] } }), secret({ alice: 'k-123' }, 'keys')]);
  assert.deepEqual(routeAt(empty).auth.apiKeyAuth!.sources, [{ kind: 'header', name: 'api-key' }]);
});

test('apiKeyAuth secretRef in another namespace: with a ReferenceGrant its keys apply, without one the routes answer 500', () => {
  const docs = [gateway(), route(), policy({ apiKeyAuth: { secretRef: { name: 'keys', namespace: 'auth' } } }), secret({ alice: 'k-1' }, 'keys', 'auth')];
  assert.equal(routeAt(build(docs)).invalid, 'TrafficPolicy/default/pol is invalid: API key secret keys: missing reference grant');
  const s = build([...docs, grant('auth', { group: '', kind: 'Secret', name: 'keys' })]);
  assert.deepEqual(errors(s), []);
  assert.deepEqual([...routeAt(s).auth.apiKeyAuth!.keys.values()], ['alice']);
});

test('apiKeyAuth secretSelector: Secrets of the policy\'s namespace and of namespaces whose ReferenceGrant allows it, whose labels hold every matchLabels pair; a Secret without labels never (not even for {}); sorted by namespace/name', () => {
  const docs = [
    gateway(),
    route(),
    secret({ alice: 'k-a' }, 'a', 'default', { app: 'shop', tier: 'api' }),
    secret({ bob: 'k-b' }, 'b', 'default', { app: 'shop' }),
    secret({ carol: 'k-c' }, 'c', 'default', { app: 'other' }),
    secret({ dave: 'k-d' }, 'd', 'default'),
    secret({ erin: 'k-e' }, 'e', 'granted', { app: 'shop' }),
    secret({ frank: 'k-f' }, 'f', 'closed', { app: 'shop' }),
    grant('granted'),
  ];
  const clients = (matchLabels: Record<string, string>): string[] => {
    const s = build([...docs, policy({ apiKeyAuth: { secretSelector: { matchLabels } } })]);
    assert.deepEqual(errors(s), []);
    return [...routeAt(s).auth.apiKeyAuth!.keys.values()];
  };
  assert.deepEqual(clients({ app: 'shop' }), ['alice', 'bob', 'erin']);
  assert.deepEqual(clients({ app: 'shop', tier: 'api' }), ['alice']);
  assert.deepEqual(clients({}), ['alice', 'bob', 'carol', 'erin']);
  // Nothing selected (frank is in a namespace without a grant): kgateway's error, and a word on why.
  const s = build([...docs, policy({ apiKeyAuth: { secretSelector: { matchLabels: { app: 'shop', tier: 'closed' } } } }), secret({ gina: 'k-g' }, 'g', 'closed', { app: 'shop', tier: 'closed' })]);
  assert.deepEqual(errors(s), [
    'TrafficPolicy/default/pol spec.apiKeyAuth.secretSelector: failed to get secrets by selector: no Secrets matching "app=shop,tier=closed" in namespace "default" or in namespaces with a ReferenceGrant allowing Secrets to be referenced from group "gateway.kgateway.dev" kind "TrafficPolicy" in namespace "default": Secrets closed/g match in other namespaces: a ReferenceGrant in namespace their namespace must allow from group gateway.kgateway.dev kind TrafficPolicy namespace default to group "" kind Secret',
  ]);
  assert.match(routeAt(s).invalid ?? '', /^TrafficPolicy\/default\/pol is invalid: failed to get secrets by selector: no Secrets matching "app=shop,tier=closed"/);
});

test('apiKeyAuth duplicates: the same key under the same client in two Secrets is one credential; under two clients, kgateway\'s error (never the key) and the routes answer 500', () => {
  const same = build([
    gateway(),
    route(),
    policy({ apiKeyAuth: { secretSelector: { matchLabels: { app: 'shop' } } } }),
    secret({ alice: 'k-1', bob: 'k-2' }, 'keys', 'default', { app: 'shop' }),
    secret({ alice: 'k-1' }, 'keys', 'granted', { app: 'shop' }),
    grant('granted'),
  ]);
  assert.deepEqual(same.problems.map((p) => p.message), []);
  assert.deepEqual([...routeAt(same).auth.apiKeyAuth!.keys], [
    ['k-1', 'alice'],
    ['k-2', 'bob'],
  ]);
  const shared = build([
    gateway(),
    route(),
    policy({ apiKeyAuth: { secretSelector: { matchLabels: { app: 'shop' } } } }),
    secret({ zed: 'k-1', bob: 'k-2' }, 'z', 'default', { app: 'shop' }),
    secret({ alice: 'k-1', carl: 'k-2' }, 'a', 'default', { app: 'shop' }),
  ]);
  // In client order (alice, bob, carl, zed): alice's k-1 and bob's k-2 are the first, carl's and
  // zed's the repeats, reported as they come.
  assert.deepEqual(errors(shared), [
    'TrafficPolicy/default/pol spec.apiKeyAuth.secretSelector: duplicate API key value shared by client "bob" in secret default/z and client "carl" in secret default/a: the client id forwarded for that key would be ambiguous, so kgateway refuses the policy; give each client its own key',
    'TrafficPolicy/default/pol spec.apiKeyAuth.secretSelector: duplicate API key value shared by client "alice" in secret default/a and client "zed" in secret default/z: the client id forwarded for that key would be ambiguous, so kgateway refuses the policy; give each client its own key',
  ]);
  assert.equal(
    routeAt(shared).invalid,
    'TrafficPolicy/default/pol is invalid: errors processing API key secrets: duplicate API key value shared by client "bob" in secret default/z and client "carl" in secret default/a; duplicate API key value shared by client "alice" in secret default/a and client "zed" in secret default/z',
  );
});

test('the fold: a route-level basicAuth and apiKeyAuth replace the Gateway-level ones whole; disable at route level turns each off there only; a rule-level one beats the route\'s', () => {
  const docs = [
    gateway(),
    twoRules,
    secret({ alice: 'k-gw' }, 'gw-keys'),
    secret({ bob: 'k-route' }, 'route-keys'),
    policy({ basicAuth: { users: [ALICE] }, apiKeyAuth: { secretRef: { name: 'gw-keys' } } }, 'gw-auth'),
  ];
  const s = build([...docs, policy({ basicAuth: { users: [BOB] }, apiKeyAuth: { secretRef: { name: 'route-keys' }, keySources: [{ header: 'x-key' }] } }, 'route-auth', 'default', ROUTE_TARGET)]);
  assert.deepEqual(errors(s), []);
  for (const path of ['/public', '/private']) {
    const a = routeAt(s, path).auth;
    assert.deepEqual([...a.basicAuth!.users.keys()], ['bob']);
    assert.equal(a.basicAuth!.origin, 'TrafficPolicy/default/route-auth@HTTPRoute');
    assert.deepEqual([...a.apiKeyAuth!.keys.values()], ['bob']);
    assert.deepEqual(a.apiKeyAuth!.sources, [{ kind: 'header', name: 'x-key' }]);
  }
  // disable on the private rule: both checks off there, the public rule keeps the Gateway's.
  const d = build([...docs, policy({ basicAuth: { disable: {} }, apiKeyAuth: { disable: {} } }, 'off', 'default', { ...ROUTE_TARGET, sectionName: 'private' })]);
  assert.deepEqual(errors(d), []);
  assert.equal(routeAt(d, '/private').auth.basicAuth, undefined);
  assert.equal(routeAt(d, '/private').auth.apiKeyAuth, undefined);
  assert.equal(routeAt(d, '/public').auth.basicAuth!.origin, 'TrafficPolicy/default/gw-auth@Gateway');
  assert.deepEqual([...routeAt(d, '/public').auth.apiKeyAuth!.keys.values()], ['alice']);
  const attached = (name: string): string | undefined => d.statuses.find((x) => x.resource === `TrafficPolicy/default/${name}`)?.conditions.find((c) => c.type === 'Attached')?.reason;
  assert.equal(attached('gw-auth'), 'Attached');
  assert.equal(attached('off'), 'Attached');
  // The rule's basicAuth beats the route's; its route's apiKeyAuth stays (fields fold one by one).
  const r = build([
    ...docs,
    policy({ basicAuth: { users: [BOB] }, apiKeyAuth: { secretRef: { name: 'route-keys' } } }, 'route-auth', 'default', ROUTE_TARGET),
    policy({ basicAuth: { users: [`carol:{SHA}${ALICE_HASH}`] } }, 'rule-auth', 'default', { ...ROUTE_TARGET, sectionName: 'private' }),
  ]);
  assert.deepEqual([...routeAt(r, '/private').auth.basicAuth!.users.keys()], ['carol']);
  assert.equal(routeAt(r, '/private').auth.apiKeyAuth!.origin, 'TrafficPolicy/default/route-auth@HTTPRoute');
  assert.deepEqual([...routeAt(r, '/public').auth.basicAuth!.users.keys()], ['bob']);
});

test('an invalid route-level basicAuth answers 500 on that route only; the Gateway-level policy still applies to the others', () => {
  const s = build([gateway(), twoRules, policy({ basicAuth: { users: [ALICE] } }, 'gw-auth'), policy({ basicAuth: { users: ['bob:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/'] } }, 'bad', 'default', { ...ROUTE_TARGET, sectionName: 'private' })]);
  assert.equal(routeAt(s, '/private').invalid, 'TrafficPolicy/default/bad is invalid: basic auth: no valid users with {SHA} hash format found');
  assert.equal(routeAt(s, '/public').invalid, undefined);
  assert.deepEqual([...routeAt(s, '/public').auth.basicAuth!.users.keys()], ['alice']);
});

test('/config_dump shows each route\'s basicAuth (its number of users, or the policy that disables it) and apiKeyAuth (client ids, sources, forwarding), where they come from; check prints the policy\'s status', () => {
  const s = build([
    gateway(),
    twoRules,
    secret({ alice: 'k-123', bob: 'k-456' }, 'keys'),
    policy({ basicAuth: { users: [ALICE, BOB] }, apiKeyAuth: { secretRef: { name: 'keys' }, keySources: [{ header: 'X-Key' }, { query: 'key' }, { cookie: 'key' }], clientIdHeader: 'X-Client' } }),
    policy({ basicAuth: { disable: {} }, apiKeyAuth: { secretRef: { name: 'keys' }, forwardCredential: true } }, 'private', 'default', { ...ROUTE_TARGET, sectionName: 'private' }),
  ]);
  assert.deepEqual(errors(s), []);
  const dump = JSON.parse(configDumpText(s)) as { listeners: { routeDefs: Record<string, { auth: Record<string, unknown> }> }[] };
  const defs = dump.listeners[0]!.routeDefs;
  assert.deepEqual(defs['default/app/0/0']!.auth, {
    jwt: [],
    policies: [],
    disabled: false,
    apiKeyAuth: { clients: ['alice', 'bob'], sources: [{ header: 'x-key' }, { query: 'key' }, { cookie: 'key' }], forwardCredential: false, clientIdHeader: 'x-client', from: 'TrafficPolicy/default/pol@Gateway' },
    basicAuth: { users: 2, from: 'TrafficPolicy/default/pol@Gateway' },
  });
  assert.deepEqual(defs['default/app/1/0']!.auth, {
    jwt: [],
    policies: [],
    disabled: false,
    apiKeyAuth: { clients: ['alice', 'bob'], sources: [{ header: 'api-key' }], forwardCredential: true, from: 'TrafficPolicy/default/private@Rule' },
    basicAuth: { disabled: true, from: 'TrafficPolicy/default/private@Rule' },
  });
  const report = formatCheckReport({ statuses: s.statuses, problems: s.problems });
  assert.match(report, /TrafficPolicy\/default\/pol {2}\(creds\.yaml:\d+\)\n {2}status:\n {4}ancestors:/);
});

test('no hash, password or API key is ever printed: problems, statuses, the check report and /config_dump, for valid and invalid policies alike', () => {
  const bcrypt = '$2y$05$c4WoMPo3SXsafkva.HHa6uXQZWr7oboPiC2bT/r7q1BB8I2s0BRqC';
  const apr1 = '$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/';
  const plain = 'Tr0ub4dor&3';
  const keys = ['k-SECRET-1', 'k-SECRET-2', 'k-SHARED-3', 'k-NEWLINE-4'];
  const docs = [
    gateway(),
    twoRules,
    route({ parentRefs: [{ name: 'gw' }], hostnames: ['other.example'] }, 'other'),
    secret({ alice: keys[0], bob: keys[1] }, 'keys', 'default', { app: 'shop' }),
    secret({ carol: keys[2], dave: `${keys[3]}\n` }, 'more', 'default', { app: 'shop' }),
    secret({ erin: keys[2] }, 'dup', 'default', { app: 'dup' }),
    secret({ '.htpasswd': `${ALICE}\nbob:${apr1}\ncarol:${plain}\n${plain}\nbob:{SHA}${BOB_HASH}x` }, 'htpasswd'),
    policy({ basicAuth: { users: [ALICE, BOB, `carol:${bcrypt}`, plain, `:{SHA}${ALICE_HASH}`, `${ALICE}:x`] }, apiKeyAuth: { secretSelector: { matchLabels: {} } } }, 'bad', 'default', { ...ROUTE_TARGET, sectionName: 'public' }),
    policy({ basicAuth: { secretRef: { name: 'htpasswd' } } }, 'bad-secret', 'default', { ...ROUTE_TARGET, sectionName: 'private' }),
    policy({ basicAuth: { users: [ALICE, BOB] }, apiKeyAuth: { secretSelector: { matchLabels: { app: 'shop' } } } }, 'good', 'default', { ...ROUTE_TARGET, name: 'other' }),
  ];
  const s = build(docs);
  assert.ok(errors(s).length >= 8, errors(s).join('\n'));
  const texts = [
    JSON.stringify(s.problems),
    JSON.stringify(s.statuses),
    formatCheckReport({ statuses: s.statuses, problems: s.problems }),
    configDumpText(s),
  ];
  for (const t of texts) {
    for (const secretText of [ALICE_HASH, BOB_HASH, ALICE_HASH.slice(0, 12), BOB_HASH.slice(0, 12), bcrypt, bcrypt.slice(7, 20), apr1.slice(6), plain, ...keys]) {
      assert.ok(!t.includes(secretText), `${JSON.stringify(secretText)} printed in:\n${t.slice(0, 2000)}`);
    }
  }
  // The valid policy is served, and the dump says what it checks.
  const other = selectRoute(s.ports.get(8080)!, { ...req('/'), host: 'other.example', authority: 'other.example' })!.route;
  assert.equal(other.invalid, undefined);
  assert.deepEqual([...new Set(other.auth.apiKeyAuth!.keys.values())].sort(), ['alice', 'bob', 'carol', 'dave']);
  assert.match(configDumpText(s), /"clients": \[\n\s+"alice",\n\s+"bob",\n\s+"carol",\n\s+"dave"\n\s+\]/);
});

test('apiKeyAuth secretSelector: a matching Secret the API server would refuse is left out with a warning, the others\' keys serve; all of them refused: no valid keys', () => {
  const broken: Doc = { apiVersion: 'v1', kind: 'Secret', metadata: md('broken', 'default', { labels: { app: 'shop' } }), data: { mallory: 'not base64!' }, stringData: { eve: 'k-e' } };
  const s = build([gateway(), route(), policy({ apiKeyAuth: { secretSelector: { matchLabels: { app: 'shop' } } } }), secret({ alice: 'k-1' }, 'keys', 'default', { app: 'shop' }), broken]);
  assert.deepEqual(errors(s).filter((e) => e.startsWith('TrafficPolicy')), []);
  assert.deepEqual([...routeAt(s).auth.apiKeyAuth!.keys], [['k-1', 'alice']]);
  assert.ok(s.problems.some((p) => p.severity === 'warning' && p.path === 'spec.apiKeyAuth.secretSelector' && p.message.startsWith('Secret default/broken matches but is invalid')));
  const none = build([gateway(), route(), policy({ apiKeyAuth: { secretSelector: { matchLabels: { app: 'shop' } } } }), broken]);
  assert.match(routeAt(none).invalid ?? '', /no valid API keys found in secrets/);
});

test('one bad htpasswd line among good ones makes the whole policy invalid (kgateway refuses it): the route answers 500, it does not serve the good users', () => {
  const s = build([gateway(), route(), policy({ basicAuth: { users: [ALICE, 'bob:$2y$05$c4WoMPo3SXsafkva.HHa6uXQZWr7oboPiC2bT/r7q1BB8I2s0BRqC'] } })]);
  assert.equal(routeAt(s).invalid, 'TrafficPolicy/default/pol is invalid: basic auth: dropped 1 user(s) with invalid hash format (only {SHA} is supported) or duplicate usernames.');
  // A scheme in braces other than {SHA}, of a {SHA} line's length: not a {SHA} hash.
  // Every line bad: kgateway's "no valid users", one error per line and nothing else.
  const allBad = build([gateway(), route(), policy({ basicAuth: { users: ['bob:$2y$05$c4WoMPo3SXsafkva.HHa6uXQZWr7oboPiC2bT/r7q1BB8I2s0BRqC'] } })]);
  assert.equal(routeAt(allBad).invalid, 'TrafficPolicy/default/pol is invalid: basic auth: no valid users with {SHA} hash format found');
  assert.equal(errors(allBad).length, 1);
  const ssha = build([gateway(), route(), policy({ basicAuth: { users: [ALICE, `bob:{SSHA}${'A'.repeat(27)}`] } })]);
  assert.match(routeAt(ssha).invalid ?? '', /dropped 1 user\(s\)/);
  assert.deepEqual(errors(ssha), ['TrafficPolicy/default/pol spec.basicAuth.users[1]: user "bob": a {SSHA} hash: only {SHA} hashes are supported (Envoy\'s basic_auth); generate one with `htpasswd -nbs USER PASSWORD` or `printf %s PASSWORD | openssl sha1 -binary | base64`']);
});

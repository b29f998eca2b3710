// Configuration reload (Gateway.reload, SIGHUP in the CLI) through a real gateway, real echo
// upstream and a real JWKS server: what a reload applies (routes, policies, listeners, key sets),
// what it keeps (cached signature results of unchanged key sets, the running configuration when
// the new one cannot be applied), and that a request never sees half of each.
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { Gateway } from '../../src/gateway.js';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SAMPLE_GATEWAY, startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { freePort, startJwksServer } from '../helpers/jwks-server.js';
import { captureLog, EXT_ID, remoteJwksManifests, tokenFor } from '../helpers/remote-jwks.js';
import { jwksOf, rsaSigningKey, type SigningKey } from '../helpers/signing-keys.js';
import { mint } from '../helpers/tokens.js';
import { regexCacheState } from '../../src/auth/rbac.js';
import { configDumpText } from '../../src/config/dump.js';
import { startAdmin } from '../../src/observability/admin.js';

const K1 = rsaSigningKey('k1');
const K2 = rsaSigningKey('k2');
const ISSUER = 'https://idp.example.com';

/** The sample route's JWT policy: a GatewayExtension with a local JWKS of `keys`, on the Gateway. */
const jwtPolicy = (...keys: SigningKey[]) => `apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: { name: local-jwt, namespace: kgateway-system }
spec:
  jwt:
    providers:
    - name: idp
      issuer: ${ISSUER}
      claimsToHeaders: [{ name: team, header: x-team }]
      jwks: { local: { inline: '${jwksOf(...keys)}' } }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: jwt-policy, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http }]
  jwtAuth: { extensionRef: { name: local-jwt } }
`;

const token = (key: SigningKey, iss = ISSUER) => tokenFor(key, { iss });
const get = (h: Harness, o: { token?: string; port?: number; path?: string } = {}) =>
  request({ port: o.port ?? h.port, path: o.path ?? '/headers', headers: o.token ? { authorization: `Bearer ${o.token}` } : {} });
const write = (h: Harness, name: string, text: string) => writeFile(path.join(h.dir, name), text);
const reloads = (h: Harness, result: 'ok' | 'failed') => h.gateway.metrics.get('jwtgate_config_reloads_total', result);
const cache = (h: Harness, outcome: 'hit' | 'miss') => h.gateway.metrics.get('jwtgate_result_cache_total', outcome);

/** The sample Gateway with more listeners (each from All namespaces). */
const gatewayWith = (...ports: number[]) =>
  SAMPLE_GATEWAY.replace(/  listeners:\n.*\n/, `  listeners:\n${ports.map((p) => `  - { name: l${p}, protocol: HTTP, port: ${p}, allowedRoutes: { namespaces: { from: All } } }\n`).join('')}`);

test('a reload applies a new policy and its removal: 200, then 401 with claim headers upstream, then 200 again; the generation, /config_dump and the metrics follow', async () => {
  const log = captureLog();
  const h = await startHarness({ gateway: { logger: log.logger } });
  try {
    assert.equal((await get(h)).status, 200);
    await write(h, '10-jwt.yaml', jwtPolicy(K1));
    const r = await h.gateway.reload();
    assert.equal(r.ok, true);
    assert.equal(r.generation, 2);
    assert.deepEqual(r.problems.filter((p) => p.severity === 'error'), []);
    assert.deepEqual(r.ok && [r.listenersAdded, r.listenersRemoved], [[], []]);
    const missing = await get(h);
    assert.equal(missing.status, 401);
    assert.equal(missing.body, 'Jwt is missing');
    const withTeam = mint({ alg: 'RS256', key: K1.privateKey, kid: 'k1', payload: { iss: ISSUER, sub: 'x', team: 'dev', exp: Math.floor(Date.now() / 1000) + 600 } });
    const ok = await get(h, { token: withTeam });
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body).headers['X-Team'], ['dev']);
    assert.equal(h.gateway.snapshot.generation, 2);
    assert.match(configDumpText(h.gateway.snapshot), /"generation": 2/);
    assert.match(h.gateway.renderMetrics(), /\njwtgate_config_generation 2\n/);
    assert.match(h.gateway.renderMetrics(), /\njwtgate_config_reloads_total\{result="ok"\} 1\n/);
    assert.equal(h.gateway.lastReload?.ok, true);
    assert.equal(h.gateway.lastReload?.generation, 2);
    assert.match(configDumpText(h.gateway.snapshot, undefined, h.gateway.lastReload), /"lastReload": \{\n    "at": "[0-9T:.Z-]+",\n    "ok": true,\n    "generation": 2,\n    "errors": 0,\n    "warnings": [0-9]+\n  \}/);
    const line = log.find('configuration reloaded')[0]!;
    assert.equal(line['generation'], 2);
    assert.equal(line['errors'], 0);

    await rm(path.join(h.dir, '10-jwt.yaml'));
    assert.equal((await h.gateway.reload()).ok, true);
    assert.equal((await get(h)).status, 200, 'the policy is gone');
    assert.equal(reloads(h, 'ok'), 2);
    assert.equal(reloads(h, 'failed'), 0);
    assert.equal(h.gateway.snapshot.generation, 3);
  } finally {
    await h.close();
  }
});

test('requests are answered while a reload reads a large configuration (its YAML is parsed on a thread of its own; on the main thread it held every request up for the whole parse)', async () => {
  const h = await startHarness({});
  try {
    // 2,000 routes of their own hostnames (about 1 MB): the parse takes about a second here.
    const many = Array.from({ length: 2000 }, (_, i) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: many-${i}, namespace: kgateway-system }
spec:
  parentRefs: [{ name: http }]
  hostnames: [h${i}.example.net]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /p${i} } }, { headers: [{ name: x-n, value: "${i}" }] }]
    filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-r, value: "${i}" }] } }]
    backendRefs: [{ name: nowhere, port: 8000 }]
`).join('---\n');
    // The new configuration marks the sample route's answers, so an answer tells which one served it.
    const mark = `apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: mark, namespace: httpbin }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: httpbin }]
  headerModifiers: { response: { set: [{ name: x-config, value: new }] } }
`;
    await write(h, '50-many.yaml', `${mark}---\n${many}`);
    const reloading = h.gateway.reload();
    let done = false;
    void reloading.then(() => (done = true));
    // Requests one after another until the reload is done. While the parse held the main thread
    // only the few sent while the files were being read (4 to 7 here) were answered before the new
    // configuration was in place; on a thread of its own, about a thousand are.
    let old = 0;
    while (!done) {
      const res = await get(h);
      assert.equal(res.status, 200);
      if (res.headers['x-config'] === undefined) old++;
    }
    assert.ok(old >= 50, `${old} requests answered by the running configuration while the new one was read`);
    const r = await reloading;
    assert.equal(r.ok, true);
    assert.equal(h.gateway.snapshot.generation, 2);
    assert.equal((await get(h)).headers['x-config'], 'new');
  } finally {
    await h.close();
  }
});

test('a reload whose files do not load, or that --strict refuses, or that leaves no listener, keeps the running configuration and says why', async () => {
  const log = captureLog();
  const h = await startHarness({ manifests: [jwtPolicy(K1)], gateway: { logger: log.logger } });
  try {
    const good = token(K1);
    // A YAML error: the whole reload is refused (as at start), with the file and line logged.
    await write(h, '30-broken.yaml', 'kind: [\n');
    const broken = await h.gateway.reload();
    assert.equal(broken.ok, false);
    assert.equal(broken.generation, 1);
    assert.equal(!broken.ok && broken.reason, 'cannot load configuration (1 problem, logged above)');
    assert.match(broken.problems[0]!.message, /YAML syntax error/);
    // Where the unclosed `[` opens (line 1, column 7), not where the parser noticed it.
    assert.match(broken.problems[0]!.message, /the `\[` opened here is not closed/);
    assert.match(String(broken.problems[0]!.source), /30-broken\.yaml:1:7$/);
    assert.equal(log.find('config: YAML syntax error')[0]!['resource'], path.join(h.dir, '30-broken.yaml'));
    assert.equal(log.find('configuration reload failed, still serving generation 1')[0]!['level'], 'error');
    // /config_dump says why.
    const admin = await startAdmin(() => h.gateway, '127.0.0.1', 0);
    try {
      const dump = (await (await fetch(`http://127.0.0.1:${admin.port}/config_dump`)).json()) as { generation: number; lastReload: Record<string, unknown> };
      assert.equal(dump.generation, 1);
      assert.deepEqual({ ...dump.lastReload, at: typeof dump.lastReload['at'] }, { at: 'string', ok: false, generation: 1, reason: 'cannot load configuration (1 problem, logged above)', errors: 1, warnings: 0 });
    } finally {
      await admin.close();
    }
    assert.equal((await get(h)).status, 401, 'generation 1 still serves');
    assert.equal((await get(h, { token: good })).status, 200);
    await rm(path.join(h.dir, '30-broken.yaml'));

    // No Gateway left: refused (serve would exit 1 at start).
    await write(h, '00-base.yaml', '# nothing\n');
    const none = await h.gateway.reload();
    assert.equal(!none.ok && none.reason, 'no Gateway listener to serve: the configuration has no valid Gateway with an HTTP listener (run `jwtgate check`)');
    assert.equal((await get(h, { token: good })).status, 200);
    assert.equal(reloads(h, 'failed'), 2);
    assert.equal(reloads(h, 'ok'), 0);
    assert.equal(h.gateway.snapshot.generation, 1);
  } finally {
    await h.close();
  }
  // --strict: a resource with an error refuses the reload; without it, the valid parts are served.
  for (const strict of [true, false]) {
    const s = await startHarness({ manifests: [jwtPolicy(K1)], gateway: { strict } });
    try {
      await write(s, '10-test.yaml', jwtPolicy(K1).replace('issuer: https://idp.example.com', 'issuer: 42\n      bogus: 1'));
      const r = await s.gateway.reload();
      assert.equal(r.ok, !strict);
      assert.ok(r.problems.some((p) => p.severity === 'error' && p.resource === 'GatewayExtension/kgateway-system/local-jwt'), JSON.stringify(r.problems));
      if (!r.ok) assert.equal(r.reason, `the configuration has ${r.problems.length} error${r.problems.length === 1 ? '' : 's'} and --strict is set`);
      // Strict: generation 1 still checks tokens. Not strict: the invalid extension's routes answer 500, as at start.
      assert.equal((await get(s, { token: token(K1) })).status, strict ? 200 : 500);
    } finally {
      await s.close();
    }
  }
});

test('an unchanged local key set keeps its cached signature results across a reload; a changed one does not, and its old keys stop verifying', async () => {
  const h = await startHarness({ manifests: [jwtPolicy(K1)] });
  try {
    const t1 = token(K1);
    assert.equal((await get(h, { token: t1 })).status, 200);
    assert.equal(cache(h, 'miss'), 1);
    // Rewritten with the same keys (and another route added): the cached result still holds.
    await write(h, '10-test.yaml', jwtPolicy(K1) + '# touched\n');
    assert.equal((await h.gateway.reload()).ok, true);
    assert.equal((await get(h, { token: t1 })).status, 200);
    assert.deepEqual([cache(h, 'hit'), cache(h, 'miss')], [1, 1]);
    // K2 replaces K1: a K1 token's cached result is not honoured, and it fails.
    await write(h, '10-test.yaml', jwtPolicy(K2));
    assert.equal((await h.gateway.reload()).ok, true);
    const old = await get(h, { token: t1 });
    assert.equal(old.status, 401);
    assert.equal(old.body, "Jwks doesn't have key to match kid or alg from Jwt");
    assert.equal((await get(h, { token: token(K2) })).status, 200);
    assert.deepEqual([cache(h, 'hit'), cache(h, 'miss')], [1, 3]);
    assert.equal(h.echo.received.length, 3);
  } finally {
    await h.close();
  }
});

test('listeners: a new port is bound and served; a removed port stops accepting, and a connection already open on it is answered by its old routes with Connection: close, then closed', async () => {
  const h = await startHarness({ gateway: { portOverrides: new Map([[8080, 0], [9090, 0]]) } });
  try {
    const old = h.port;
    // A keep-alive connection to 8080, opened before the reload.
    const conn = await openConnection(old);
    assert.match(await conn.send('/anything/first'), /^HTTP\/1\.1 200 OK\r\n/);

    const base = await baseWith(h);
    await write(h, '00-base.yaml', base.replace(SAMPLE_GATEWAY, gatewayWith(9090)));
    const r = await h.gateway.reload();
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.deepEqual(r.ok && [r.listenersAdded, r.listenersRemoved], [[9090], [8080]]);
    const added = h.gateway.port(9090);
    assert.equal((await get(h, { port: added })).status, 200);
    assert.throws(() => h.gateway.port(8080), /no listener on port 8080/);

    // The open connection: still answered (by the removed listener's routes), told to close, closed.
    const answer = await conn.send('/anything/second');
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(answer, /\r\nconnection: close\r\n/i);
    await conn.closed;
    await assert.rejects(openConnection(old), /ECONNREFUSED/);
    assert.deepEqual(h.echo.received.map((r) => r.url), ['/anything/first', '/headers', '/anything/second']);

    // Back to 8080 (bound again, on a new ephemeral port).
    await write(h, '00-base.yaml', base);
    const back = await h.gateway.reload();
    assert.deepEqual(back.ok && [back.listenersAdded, back.listenersRemoved], [[8080], [9090]]);
    assert.equal((await get(h, { port: h.gateway.port(8080) })).status, 200);
  } finally {
    await h.close();
  }
});

test('a port removed and added back while its connections still drain binds again on the same port; the open connection goes on, on the new routes', async () => {
  const fixed = await freePort();
  const h = await startHarness({ gateway: { portOverrides: new Map([[8080, 0], [9090, fixed]]) } });
  try {
    const base = await baseWith(h);
    const both = base.replace(SAMPLE_GATEWAY, gatewayWith(8080, 9090));
    await write(h, '00-base.yaml', both);
    assert.equal((await h.gateway.reload()).ok, true);
    const conn = await openConnection(fixed);
    assert.match(await conn.send('/anything/one'), /^HTTP\/1\.1 200 OK\r\n/);
    await write(h, '00-base.yaml', base);
    assert.deepEqual((await h.gateway.reload()).ok, true);
    await assert.rejects(openConnection(fixed), /ECONNREFUSED/);
    // Back within the drain: bound on the same port while the old connection is open.
    await write(h, '00-base.yaml', both + '---\n' + jwtPolicy(K1));
    const back = await h.gateway.reload();
    assert.deepEqual(back.ok && back.listenersAdded, [9090]);
    assert.equal(h.gateway.port(9090), fixed);
    assert.equal((await get(h, { port: fixed })).status, 401, 'a new connection');
    const answer = await conn.send('/anything/two');
    assert.match(answer, /^HTTP\/1\.1 401 Unauthorized\r\n/, 'the old connection, on the new routes');
    assert.match(answer, /\r\nconnection: close\r\n/i, 'and still told to close');
    await conn.closed;
  } finally {
    await h.close();
  }
});

test('a new port that cannot be bound fails the reload and changes nothing: the new ports bound before it close again', async () => {
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const takenPort = (taken.address() as net.AddressInfo).port;
  const h = await startHarness({ gateway: { portOverrides: new Map([[8080, 0], [9090, 0], [9191, takenPort]]) } });
  try {
    await write(h, '00-base.yaml', (await baseWith(h)).replace(SAMPLE_GATEWAY, gatewayWith(8080, 9090, 9191)));
    await write(h, '10-jwt.yaml', jwtPolicy(K1));
    const r = await h.gateway.reload();
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, `cannot listen on 127.0.0.1:${takenPort} (Gateway listener port 9191): the port is in use or not permitted, or the address is not one of this machine's`);
    assert.equal((await get(h)).status, 200, 'generation 1 (no JWT policy) still serves');
    assert.equal(h.gateway.snapshot.generation, 1);
    assert.throws(() => h.gateway.port(9090), /no listener on port 9090/, 'bound for the reload, closed when it failed');
    assert.throws(() => h.gateway.port(9191), /no listener on port 9191/);
    // Once the port is free, the same files apply.
    await new Promise((r) => taken.close(r));
    const again = await h.gateway.reload();
    assert.equal(again.ok, true);
    assert.equal(again.generation, 2);
    assert.equal((await get(h)).status, 401);
    assert.equal((await get(h, { port: h.gateway.port(9090) })).status, 401);
    assert.equal((await get(h, { port: h.gateway.port(9191) })).status, 401);
  } finally {
    taken.close();
    await h.close();
  }
});

test('remote JWKS: a provider a reload adds is fetched before the swap (fastListener false), the old configuration serving meanwhile', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  const h = await startHarness({});
  try {
    idp.queue({ body: jwksOf(K1), delayMs: 400 });
    await write(h, '10-jwt.yaml', remoteJwksManifests({ url: `http://127.0.0.1:${idp.port}/keys`, backendPort: idp.port }));
    const reloading = h.gateway.reload();
    // During the warm-up: generation 1, no JWT.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await get(h)).status, 200);
    assert.equal(h.gateway.snapshot.generation, 1);
    const r = await reloading;
    assert.equal(r.ok, true);
    assert.equal(idp.fetches(), 1);
    // Swapped with its keys: a token verifies at once.
    assert.equal((await get(h, { token: tokenFor(K1) })).status, 200);
    assert.equal((await get(h)).status, 401);
    assert.equal(h.gateway.remoteState(EXT_ID)?.keys?.length, 1);
    // A reload that leaves it as it is: no new fetch, the keys kept.
    assert.equal((await h.gateway.reload()).ok, true);
    assert.equal(idp.fetches(), 1);
    assert.equal((await get(h, { token: tokenFor(K1) })).status, 200);
  } finally {
    await h.close();
    await idp.close();
  }
});

test('remote JWKS: a reload that fails after its warm-up (a port that cannot be bound) leaves no trace of the key set it fetched', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const takenPort = (taken.address() as net.AddressInfo).port;
  const h = await startHarness({ gateway: { portOverrides: new Map([[8080, 0], [9090, takenPort]]) } });
  try {
    await write(h, '00-base.yaml', (await baseWith(h)).replace(SAMPLE_GATEWAY, gatewayWith(8080, 9090)));
    await write(h, '10-jwt.yaml', remoteJwksManifests({ url: `http://127.0.0.1:${idp.port}/keys`, backendPort: idp.port }));
    const r = await h.gateway.reload();
    assert.equal(r.ok, false);
    assert.equal(idp.fetches(), 1, 'fetched in the warm-up');
    assert.equal(h.gateway.jwksRefresher!.stats(EXT_ID), undefined, 'the refresher does not have it');
    assert.equal(h.gateway.jwksRefresher!.stats(`reload-2:${EXT_ID}`), undefined, 'nor its warm-up under a staging id');
    assert.equal(h.gateway.remoteState(EXT_ID), undefined);
    assert.doesNotMatch(h.gateway.renderMetrics(), /selfminted-jwt/);
    assert.equal((await get(h)).status, 200);
  } finally {
    taken.close();
    await h.close();
    await idp.close();
  }
});

test('remote JWKS: a reload that points a provider at another URL uses that source\'s keys; if its first fetch fails, the old source\'s keys are withdrawn (401 Jwks remote fetch is failed)', async () => {
  const a = await startJwksServer({ jwks: jwksOf(K1) });
  const b = await startJwksServer({ jwks: jwksOf(K2) });
  const down = await freePort();
  const manifests = (port: number) => remoteJwksManifests({ url: `http://127.0.0.1:${port}/keys`, backendPort: port });
  const h = await startHarness({ manifests: [manifests(a.port)] });
  try {
    assert.equal((await get(h, { token: tokenFor(K1) })).status, 200);
    await write(h, '10-test.yaml', manifests(b.port));
    assert.equal((await h.gateway.reload()).ok, true);
    assert.equal(b.fetches(), 1);
    assert.equal(h.gateway.jwksRefresher!.stats(EXT_ID)!.fetches.ok, 2, "the counters go on: A's fetch and B's warm-up fetch");
    assert.equal(h.gateway.jwksRefresher!.stats(EXT_ID)!.url, `http://127.0.0.1:${b.port}/keys`);
    assert.equal((await get(h, { token: tokenFor(K2) })).status, 200);
    assert.equal((await get(h, { token: tokenFor(K1) })).status, 401, 'the old source\'s key is gone');

    await write(h, '10-test.yaml', manifests(down));
    assert.equal((await h.gateway.reload()).ok, true);
    const res = await get(h, { token: tokenFor(K2) });
    assert.equal(res.status, 401);
    assert.equal(res.body, 'Jwks remote fetch is failed');
    assert.equal(h.gateway.remoteState(EXT_ID)?.keys, undefined, 'no keys in use');
    assert.match(h.gateway.renderMetrics(), new RegExp(`\njwtgate_jwks_keys\\{provider="${EXT_ID}"\\} 0\n`));
  } finally {
    await h.close();
    await a.close();
    await b.close();
  }
});

/** remoteJwksManifests' GatewayExtension (selfminted-jwt, provider idp) and TrafficPolicy, with a local JWKS instead. */
const localAsRemoteId = (...keys: SigningKey[]) =>
  remoteJwksManifests({ url: 'http://127.0.0.1:1/keys', backendPort: 1 }).replace(/        remote:\n          url: .*\n          backendRef: .*\n/, `        local: { inline: '${jwksOf(...keys)}' }\n`);

test('remote JWKS: a provider switched from a local JWKS to a remote one verifies with the fetched keys at once; the warm-up fetch is its first, no second follows', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K2) });
  const h = await startHarness({ manifests: [localAsRemoteId(K1)] });
  try {
    assert.equal((await get(h, { token: tokenFor(K1) })).status, 200);
    await write(h, '10-test.yaml', remoteJwksManifests({ url: `http://127.0.0.1:${idp.port}/keys`, backendPort: idp.port }));
    assert.equal((await h.gateway.reload()).ok, true);
    assert.equal((await get(h, { token: tokenFor(K2) })).status, 200);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(idp.fetches(), 1);
    assert.equal(h.gateway.jwksRefresher!.stats(EXT_ID)?.fetches.ok, 1);
    assert.equal(h.gateway.ready, true);
    // The local key is gone (its kid is unknown: one early refetch, as for any unknown kid).
    assert.equal((await get(h, { token: tokenFor(K1) })).status, 401);
    assert.equal(idp.fetches(), 2);
  } finally {
    await h.close();
    await idp.close();
  }
});

test('remote JWKS: a reload that fails after fetching a re-pointed source leaves the running key set as it was (its last good keys, its source)', async () => {
  const a = await startJwksServer({ jwks: jwksOf(K1) });
  const b = await startJwksServer({ jwks: jwksOf(K2) });
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const takenPort = (taken.address() as net.AddressInfo).port;
  const manifests = (port: number) => remoteJwksManifests({ url: `http://127.0.0.1:${port}/keys`, backendPort: port, failedRefetchDuration: '100ms' });
  const h = await startHarness({ manifests: [manifests(a.port)], gateway: { portOverrides: new Map([[8080, 0], [9090, takenPort]]) } });
  try {
    assert.equal((await get(h, { token: tokenFor(K1) })).status, 200);
    // A fails from now on: the gateway serves its last good keys.
    a.always({ status: 503, body: 'down' });
    await write(h, '10-test.yaml', manifests(b.port));
    await write(h, '00-base.yaml', (await baseWith(h)).replace(SAMPLE_GATEWAY, gatewayWith(8080, 9090)));
    const r = await h.gateway.reload();
    assert.equal(r.ok, false);
    assert.equal(b.fetches(), 1, 'the warm-up fetched the new source');
    assert.equal((await get(h, { token: tokenFor(K2) })).status, 401, 'its keys were not used');
    assert.equal((await get(h, { token: tokenFor(K1) })).status, 200);
    // A's retries go on (every 100 ms), failing; the last good keys stay.
    const fetchesA = a.fetches();
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(a.fetches() > fetchesA);
    assert.equal((await get(h, { token: tokenFor(K1) })).status, 200);
    assert.equal(b.fetches(), 1);
    assert.equal(h.gateway.ready, true);
  } finally {
    taken.close();
    await h.close();
    await a.close();
    await b.close();
  }
});

test('remote JWKS: a reload that changes only cacheDuration neither fetches again nor loses the last good keys', async () => {
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  const manifests = (cacheDuration: string) => remoteJwksManifests({ url: `http://127.0.0.1:${idp.port}/keys`, backendPort: idp.port, cacheDuration });
  const h = await startHarness({ manifests: [manifests('300s')] });
  try {
    assert.equal((await get(h, { token: tokenFor(K1) })).status, 200);
    idp.always({ status: 503, body: 'down' });
    await write(h, '10-test.yaml', manifests('600s'));
    assert.equal((await h.gateway.reload()).ok, true);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(idp.fetches(), 1);
    assert.equal((await get(h, { token: tokenFor(K1) })).status, 200);
    assert.equal(h.gateway.ready, true);
  } finally {
    await h.close();
    await idp.close();
  }
});

test('a removed listener: a request in flight on it completes (not cut by the drain), and its open connection keeps its old policy and key set', async () => {
  const h = await startHarness({ manifests: [jwtPolicy(K1)], gateway: { portOverrides: new Map([[8080, 0], [9090, 0]]) } });
  try {
    const good = token(K1);
    const slow = request({ port: h.port, path: '/delay/1800', headers: { authorization: `Bearer ${good}` } });
    const conn = await openConnection(h.port);
    const connB = await openConnection(h.port);
    while (h.echo.received.length === 0) await new Promise((r) => setTimeout(r, 10));
    // 9090 instead of 8080, and no policy.
    await write(h, '00-base.yaml', (await baseWith(h)).replace(SAMPLE_GATEWAY, gatewayWith(9090)));
    await rm(path.join(h.dir, '10-test.yaml'));
    const r = await h.gateway.reload();
    assert.deepEqual(r.ok && r.listenersRemoved, [8080]);
    assert.equal((await get(h, { port: h.gateway.port(9090) })).status, 200, 'the new configuration has no policy');
    // The old connections: the old routes, their policy, their key set (which the new configuration does not have).
    assert.match(await conn.send('/anything/x'), /^HTTP\/1\.1 401 /);
    const withToken = await connB.send('/anything/y', { authorization: `Bearer ${good}` });
    assert.match(withToken, /^HTTP\/1\.1 200 /);
    assert.match(withToken, /\r\nconnection: close\r\n/i);
    const res = await slow;
    assert.equal(res.status, 200, 'the request in flight at the reload completed');
    assert.equal(JSON.parse(res.body).delayMs, 1800);
  } finally {
    await h.close();
  }
});

test('a reload asked for while one runs still runs when the one before failed unexpectedly', async () => {
  const h = await startHarness({});
  try {
    const gw = h.gateway as unknown as { reloadOnce(): Promise<unknown> };
    const real = gw.reloadOnce.bind(gw);
    let calls = 0;
    gw.reloadOnce = () => (calls++ === 0 ? new Promise((_, reject) => setTimeout(() => reject(new Error('boom')), 50)) : real());
    const first = h.gateway.reload();
    const second = h.gateway.reload();
    await assert.rejects(first, /boom/);
    const r = await second;
    assert.equal(r.ok, true);
    assert.equal(r.generation, 2);
  } finally {
    await h.close();
  }
});

test('a configuration read from a pipe cannot be read again: its reload is refused, saying so, and nothing waits on the pipe', async () => {
  const h = await startHarness({});
  const fifo = path.join(h.dir, '..', `${path.basename(h.dir)}.fifo`);
  execFileSync('mkfifo', [fifo]);
  try {
    // Started on the folder and the pipe (its writer closes after one document).
    const writing = writeFile(fifo, 'apiVersion: gateway.kgateway.dev/v1alpha1\nkind: Backend\nmetadata: { name: from-pipe, namespace: httpbin }\nspec: { static: { hosts: [{ host: 127.0.0.1, port: 1 }] } }\n');
    const g = await Gateway.start({ configPaths: [h.dir, fifo], host: '127.0.0.1', portOverrides: new Map([[8080, 0]]), verifyThreads: 1 });
    await writing;
    try {
      const reloading = g.reload();
      const r = await Promise.race([reloading, new Promise<'waiting'>((res) => setTimeout(res, 5000, 'waiting'))]);
      if (r === 'waiting') {
        // It opened the pipe and waits for a writer: one that closes at once ends the wait.
        await writeFile(fifo, '');
        await reloading;
        assert.fail('the reload read the pipe again and waited on it');
      }
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.reason, `${fifo} is not a regular file or folder (a pipe or device): it cannot be read again; restart the gateway to change its configuration`);
      assert.equal((await get(h, { port: g.port(8080) })).status, 200);
    } finally {
      await g.stop(0);
    }
  } finally {
    await rm(fifo, { force: true });
    await h.close();
  }
});

test('reloads asked for while one runs run once after it, however many were asked for', async () => {
  const h = await startHarness({});
  try {
    const [r1, r2, r3] = await Promise.all([h.gateway.reload(), h.gateway.reload(), h.gateway.reload()]);
    assert.deepEqual([r1.generation, r2.generation, r3.generation], [2, 3, 3]);
    assert.equal(reloads(h, 'ok'), 2);
    assert.equal((await h.gateway.reload()).generation, 4);
  } finally {
    await h.close();
  }
});

test('rbac: a reload keeps the regular expressions its own configuration writes and forgets those only the old one wrote; a failed reload adds none', async () => {
  const policy = (pattern: string) => `apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: rbac, namespace: httpbin }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: httpbin }]
  rbac:
    policy:
      matchExpressions: ["request.path.matches('${pattern}')"]
`;
  const h = await startHarness({ manifests: [policy('^/anything/reload-one$')] });
  try {
    assert.equal(regexCacheState('^/anything/reload-one$').isConstant, true);
    assert.equal((await get(h, { path: '/anything/reload-one' })).status, 200);
    assert.equal((await get(h, { path: '/anything/reload-two' })).status, 403);
    await write(h, '10-test.yaml', policy('^/anything/reload-two$'));
    assert.equal((await h.gateway.reload()).ok, true);
    assert.deepEqual([regexCacheState('^/anything/reload-one$').isConstant, regexCacheState('^/anything/reload-two$').isConstant], [false, true]);
    assert.equal((await get(h, { path: '/anything/reload-one' })).status, 403);
    assert.equal((await get(h, { path: '/anything/reload-two' })).status, 200);
    // Refused (no Gateway left): the pattern its compile added is not kept, the running one is.
    await write(h, '10-test.yaml', policy('^/anything/reload-three$'));
    const base = await baseWith(h);
    await write(h, '00-base.yaml', '# nothing\n');
    assert.equal((await h.gateway.reload()).ok, false);
    assert.deepEqual([regexCacheState('^/anything/reload-two$').isConstant, regexCacheState('^/anything/reload-three$').isConstant], [true, false]);
    assert.equal((await get(h, { path: '/anything/reload-two' })).status, 200);
    await write(h, '00-base.yaml', base);
    assert.equal((await h.gateway.reload()).ok, true);
    assert.deepEqual([regexCacheState('^/anything/reload-two$').isConstant, regexCacheState('^/anything/reload-three$').isConstant], [false, true]);
  } finally {
    await h.close();
  }
});

/** The harness's 00-base.yaml as written. */
async function baseWith(h: Harness): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return readFile(path.join(h.dir, '00-base.yaml'), 'utf8');
}

/** A raw keep-alive connection: `send` writes a GET and resolves with the whole answer (fixed length). */
function openConnection(port: number): Promise<{ send(path: string, headers?: Record<string, string>): Promise<string>; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = '';
    let waiting: ((s: string) => void) | undefined;
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      buf += d;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0 || !waiting) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      const answer = buf.slice(0, end + 4 + length);
      buf = buf.slice(end + 4 + length);
      const w = waiting;
      waiting = undefined;
      w(answer);
    });
    socket.once('error', reject);
    socket.once('connect', () =>
      resolve({
        send: (p: string, headers: Record<string, string> = {}) =>
          new Promise<string>((r) => {
            waiting = r;
            socket.write(`GET ${p} HTTP/1.1\r\nhost: www.example.com:8080\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
          }),
        closed,
      }),
    );
  });
}

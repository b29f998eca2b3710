// The admin endpoint on a real socket: /ready, /healthz, /config_dump (no secrets), /metrics
// with deltas that follow real requests.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { seedManifestsDir, sampleTokenPath } from '../helpers/paths.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { startAdmin, type AdminServer } from '../../src/observability/admin.js';

const TOKEN = readFileSync(sampleTokenPath, 'utf8').trim();
const claims = readFileSync(path.join(seedManifestsDir, '02-claims-to-headers.yaml'), 'utf8');
const policy = readFileSync(path.join(seedManifestsDir, '01-basic-jwt.yaml'), 'utf8').split(/^---$/m)[1]!;

let h: Harness;
let admin: AdminServer;
before(async () => {
  h = await startHarness({ manifests: [claims, policy] });
  admin = await startAdmin(() => h.gateway, '127.0.0.1', 0);
});
after(async () => {
  await admin.close();
  await h.close();
});

const get = (p: string) => fetch(`http://127.0.0.1:${admin.port}${p}`);

test('/ready and /healthz answer 200 once listeners and key sets are up', async () => {
  assert.equal((await get('/ready')).status, 200);
  assert.equal((await get('/healthz')).status, 200);
  assert.equal((await get('/nope')).status, 404);
});

test('/config_dump shows the compiled snapshot without key material', async () => {
  const res = await get('/config_dump');
  assert.equal(res.status, 200);
  const text = await res.text();
  const dump = JSON.parse(text);
  assert.ok(dump);
  assert.match(text, /selfminted-jwt/);
  assert.match(text, /solo-public-key-001/);
  assert.match(text, /x-team/);
  // The RSA modulus of the seed key must not appear, nor any token.
  assert.ok(!text.includes('AOfIaJMUm7564sWWNHaXt_hS8H0O1Ew59'), 'no key material in config_dump');
  assert.ok(!text.includes(TOKEN.slice(0, 40)));
});

test('/metrics counts requests by result', async () => {
  const before = await (await get('/metrics')).text();
  const count = (text: string, result: string) => Number(text.match(new RegExp(`jwtgate_requests_total\\{result="${result}"\\} (\\d+)`))?.[1] ?? 0);
  await request({ port: h.port });
  await request({ port: h.port, headers: { authorization: `Bearer ${TOKEN}` } });
  await request({ port: h.port, headers: { authorization: `Bearer ${TOKEN}` } });
  const after = await (await get('/metrics')).text();
  assert.equal(count(after, 'JWT_MISSING') - count(before, 'JWT_MISSING'), 1);
  assert.equal(count(after, 'OK') - count(before, 'OK'), 2);
  assert.match(after, /# TYPE jwtgate_requests_total counter/);
  // README: always shown, 0 without remote key sets (this configuration has only a local one).
  assert.match(after, /\n# TYPE jwtgate_jwks_refresher_restarts_total counter\njwtgate_jwks_refresher_restarts_total 0\n/);
  assert.ok(!/jwtgate_jwks_keys/.test(after), 'no per-key-set series without remote key sets');
});

test('/metrics shows every known label value from the start at 0, so a first failure is an increase', async () => {
  const other = await startHarness({ manifests: [claims, policy] });
  const adm = await startAdmin(() => other.gateway, '127.0.0.1', 0);
  try {
    const res = await fetch(`http://127.0.0.1:${adm.port}/metrics`);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    for (const line of [
      'jwtgate_requests_total{result="OK"} 0',
      'jwtgate_requests_total{result="JWT_MISSING"} 0',
      'jwtgate_requests_total{result="JWKS_FETCH_FAILED"} 0',
      'jwtgate_requests_total{result="UPSTREAM_UNAVAILABLE"} 0',
      'jwtgate_upstream_responses_total{class="5xx"} 0',
      'jwtgate_upstream_responses_total{class="other"} 0',
      'jwtgate_upstream_responses_total{class="UPSTREAM_TIMEOUT"} 0',
      'jwtgate_upstream_responses_total{class="CLIENT_CLOSED"} 0',
      'jwtgate_jwt_verifications_total{mode="pool"} 0',
      'jwtgate_verify_pool_tasks_total{result="failed"} 0',
      'jwtgate_result_cache_total{outcome="hit"} 0',
      'jwtgate_jwks_fetch_total{outcome="http_status"} 0',
      'jwtgate_jwks_fetch_total{outcome="internal"} 0',
    ])
      assert.ok(text.includes(`${line}\n`), line);
    assert.ok(!text.includes('class="1xx"'), 'a 1xx is never forwarded: no series for it');
    await request({ port: other.port });
    const after = await (await fetch(`http://127.0.0.1:${adm.port}/metrics`)).text();
    assert.ok(after.includes('jwtgate_requests_total{result="JWT_MISSING"} 1\n'));
    assert.equal(after.split('\n').filter((l) => l.startsWith('jwtgate_requests_total{result="JWT_MISSING"}')).length, 1, 'one series per label');
  } finally {
    await adm.close();
    await other.close();
  }
});

test('/ready turns 503 when the gateway stops', async () => {
  const other = await startHarness({ manifests: [claims, policy] });
  const adm = await startAdmin(() => other.gateway, '127.0.0.1', 0);
  try {
    assert.equal((await fetch(`http://127.0.0.1:${adm.port}/ready`)).status, 200);
    await other.gateway.stop(0);
    assert.equal((await fetch(`http://127.0.0.1:${adm.port}/ready`)).status, 503);
  } finally {
    await adm.close();
    await other.close();
  }
});

test('before the gateway exists (it is starting): /healthz 200, /ready, /config_dump and /metrics 503 starting', async () => {
  let gateway: Harness['gateway'] | undefined;
  const adm = await startAdmin(() => gateway, '127.0.0.1', 0);
  try {
    const at = (p: string) => fetch(`http://127.0.0.1:${adm.port}${p}`);
    assert.equal((await at('/healthz')).status, 200);
    for (const p of ['/ready', '/config_dump', '/metrics']) {
      const res = await at(p);
      assert.equal(res.status, 503, p);
      assert.equal(await res.text(), 'starting\n');
    }
    const nope = await at('/nope');
    assert.equal(nope.status, 404);
    assert.match(await nope.text(), /^not found/);
    gateway = h.gateway;
    assert.equal((await at('/ready')).status, 200, 'answers from the gateway once it exists');
  } finally {
    await adm.close();
  }
});

test('methods other than GET and HEAD: 405 with Allow', async () => {
  const res = await fetch(`http://127.0.0.1:${admin.port}/metrics`, { method: 'POST' });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'GET, HEAD');
});

test('a query string does not change the route (a Prometheus scrape with params), HEAD answers the headers alone, and no admin answer may be cached', async () => {
  const metrics = await get('/metrics?format=prometheus&x=1');
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /^# HELP jwtgate_requests_total /);
  const ready = await get('/ready?verbose');
  assert.equal(ready.status, 200);
  assert.equal(await ready.text(), 'ready\n');
  const head = await fetch(`http://127.0.0.1:${admin.port}/metrics`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  assert.equal(await head.text(), '');
  for (const p of ['/ready', '/healthz', '/metrics', '/config_dump', '/nope']) {
    const res = await get(p);
    await res.arrayBuffer();
    assert.equal(res.headers.get('cache-control'), 'no-store', p);
  }
});

test('a token whose kid matches no key is not counted as a signature check', async () => {
  const verifications = async () => Number((await (await get('/metrics')).text()).match(/jwtgate_jwt_verifications_total\{mode="inline"\} (\d+)/)?.[1] ?? 0);
  const before = await verifications();
  const [head, payload, signature] = TOKEN.split('.') as [string, string, string];
  const otherKid = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(head, 'base64url').toString()), kid: 'no-such-kid' })).toString('base64url');
  const res = await request({ port: h.port, headers: { authorization: `Bearer ${otherKid}.${payload}.${signature}` } });
  assert.equal(res.status, 401);
  assert.equal(res.body, "Jwks doesn't have key to match kid or alg from Jwt");
  assert.equal(await verifications(), before);
});

test('/config_dump lists each route once (routeDefs) and, per host, the ids in the order they are tried', async () => {
  const dump = await (await get('/config_dump')).json();
  const l = dump.listeners[0];
  const ids: string[] = l.routes.exact['www.example.com'];
  assert.ok(ids.length > 0);
  for (const id of ids) assert.ok(l.routeDefs[id], id);
  assert.equal(l.routeDefs[ids[0]!].route, 'httpbin/httpbin');
  assert.deepEqual(l.routeDefs[ids[0]!].auth.jwt, ['jwt/kgateway-system/selfminted-jwt']);
});

test('/config_dump of a large configuration: one at a time (a client that does not read holds it; others get 503 until it goes), each route once, values cut at 1,024 characters; a failing render answers 500 and the process goes on', async () => {
  const { compileText } = await import('../../src/config/build.js');
  const net = await import('node:net');
  const long = 'v'.repeat(4000);
  const hostnames = Array.from({ length: 16 }, (_, i) => `h${i}.example.com`);
  const rules = Array.from({ length: 16 }, (_, r) => ({ matches: Array.from({ length: 8 }, (_, m) => ({ path: { type: 'PathPrefix', value: `/r${r}/m${m}` }, headers: Array.from({ length: 8 }, (_, k) => ({ name: `x-h${k}`, value: long })) })), backendRefs: [{ name: 'app', port: 80 }] }));
  // Eight HTTPRoutes sharing one rules list through a YAML anchor (one List document).
  const gw = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'default' }, spec: { gatewayClassName: 'kgateway', listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] } };
  const routeText = (i: number) => `{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"r${i}","namespace":"default"},"spec":{"parentRefs":[{"name":"gw"}],"hostnames":${JSON.stringify(hostnames)},"rules":${i === 0 ? `&R ${JSON.stringify(rules)}` : '*R'}}}`;
  const text = `${JSON.stringify(gw)}\n---\n{"apiVersion":"v1","kind":"List","items":[${Array.from({ length: 8 }, (_, i) => routeText(i)).join(',')}]}`;
  const snapshot = compileText(text, { generation: 1 });
  assert.equal(snapshot.ports.size, 1, JSON.stringify(snapshot.problems.slice(0, 3)));
  let failWith: Error | undefined;
  const fake = { get snapshot() { if (failWith) throw failWith; return snapshot; }, remoteState: () => undefined, ready: true, renderMetrics: () => { throw new Error('metrics broke'); } };
  const a = await startAdmin(() => fake as never, '127.0.0.1', 0);
  try {
    const res = await fetch(`http://127.0.0.1:${a.port}/config_dump`);
    const body = await res.text();
    assert.equal(res.status, 200);
    const dump = JSON.parse(body);
    assert.equal(Object.keys(dump.listeners[0].routeDefs).length, 8 * 16 * 8, 'each route entry once, not once per hostname');
    assert.equal(dump.listeners[0].routes.exact['h3.example.com'].length, 8 * 16 * 8);
    const first = Object.values(dump.listeners[0].routeDefs)[0] as { match: { headers: { value: string }[] } };
    assert.equal(first.match.headers[0]!.value, `${'v'.repeat(1024)}…(4000 characters)`);
    assert.ok(body.length > 8_000_000, `large enough to fill the socket buffers: ${body.length}`);
    // A client that asks and does not read.
    const stuck = net.connect(a.port, '127.0.0.1');
    await new Promise((r) => stuck.once('connect', r));
    stuck.pause();
    stuck.write('GET /config_dump HTTP/1.1\r\nhost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 300));
    const busy = await fetch(`http://127.0.0.1:${a.port}/config_dump`);
    assert.equal(busy.status, 503);
    assert.equal(busy.headers.get('retry-after'), '1');
    assert.match(await busy.text(), /another \/config_dump is being sent/);
    stuck.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const again = await fetch(`http://127.0.0.1:${a.port}/config_dump`);
    assert.equal(again.status, 200, 'free again once that client went');
    assert.equal((await again.text()).length, body.length);
    // Past V8's string limit (simulated), and any other failure: 500, and the server goes on.
    failWith = new RangeError('Invalid string length');
    const big = await fetch(`http://127.0.0.1:${a.port}/config_dump`);
    assert.equal(big.status, 500);
    assert.match(await big.text(), /config_dump is too large to send \(Invalid string length\)/);
    const m = await fetch(`http://127.0.0.1:${a.port}/metrics`);
    assert.equal(m.status, 500);
    assert.match(await m.text(), /admin request failed: metrics broke/);
    assert.equal((await fetch(`http://127.0.0.1:${a.port}/healthz`)).status, 200);
  } finally {
    await a.close();
  }
});

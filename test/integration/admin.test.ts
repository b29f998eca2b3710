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

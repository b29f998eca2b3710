// The bundled echo upstream: go-httpbin shapes (canonical header case, array values), routes,
// recording, and the standalone entry point.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Pool } from 'undici';
import { patternBytes, startEchoUpstream, type EchoUpstream } from '../../src/upstream/echo.js';

let echo: EchoUpstream;
let pool: Pool;

before(async () => {
  echo = await startEchoUpstream({ port: 0 });
  pool = new Pool(echo.url, { connections: 8 });
});
after(async () => {
  await pool.close();
  await echo.close();
});

/** undici writes header strings as latin1: this sends the UTF-8 bytes of `s`. */
function utf8Bytes(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

async function get(p: string, init: { method?: string; headers?: string[]; body?: string | Buffer } = {}) {
  const res = await pool.request({ path: p, method: (init.method ?? 'GET') as 'GET', headers: init.headers ?? ['host', 'www.example.com:8080'], body: init.body ?? null });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body, text: body.toString('utf8') };
}

test('GET /headers: go-httpbin canonical names, array values, sorted keys, Host included', async () => {
  const res = await get('/headers', {
    headers: ['host', 'www.example.com:8080', 'x-team', 'dev', 'X-ORG', 'solo.io', 'authorization', 'Bearer abc', 'x-team', 'ops', 'user-agent', 'curl/8.5.0', 'x-forwarded-for', '1.2.3.4', 'x-name', utf8Bytes('José')],
  });
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = JSON.parse(res.text) as { headers: Record<string, string[]> };
  assert.deepEqual(body.headers['X-Team'], ['dev', 'ops']);
  assert.deepEqual(body.headers['X-Org'], ['solo.io']);
  assert.deepEqual(body.headers['Authorization'], ['Bearer abc']);
  assert.deepEqual(body.headers['User-Agent'], ['curl/8.5.0']);
  assert.deepEqual(body.headers['Host'], ['www.example.com:8080']);
  assert.deepEqual(body.headers['X-Forwarded-For'], ['1.2.3.4']);
  assert.deepEqual(body.headers['X-Name'], ['José'], 'UTF-8 header bytes shown as text');
  const keys = Object.keys(body.headers);
  assert.deepEqual(keys, [...keys].sort());
  for (const v of Object.values(body.headers)) assert.ok(Array.isArray(v));
  // Pretty-printed like go-httpbin's output in the kgateway docs.
  assert.match(res.text, /^\{\n {2}"headers": \{\n {4}"/);
});

test('/anything: method, url, args, data, json, form', async () => {
  const json = await get('/anything/x/y?a=1&a=2&b=', { method: 'PUT', headers: ['host', 'h.example:8080', 'content-type', 'application/json'], body: '{"k":[1,2]}' });
  const j = JSON.parse(json.text) as Record<string, unknown>;
  assert.equal(j['method'], 'PUT');
  assert.equal(j['url'], 'http://h.example:8080/anything/x/y?a=1&a=2&b=');
  assert.deepEqual(j['args'], { a: ['1', '2'], b: [''] });
  assert.equal(j['data'], '{"k":[1,2]}');
  assert.deepEqual(j['json'], { k: [1, 2] });
  const form = await get('/anything', { method: 'POST', headers: ['host', 'h', 'content-type', 'application/x-www-form-urlencoded'], body: 'x=1&y=%C3%A9' });
  assert.deepEqual((JSON.parse(form.text) as { form: unknown }).form, { x: ['1'], y: ['é'] });
  const xfp = await get('/anything', { headers: ['host', 'h', 'x-forwarded-proto', 'https', 'x-forwarded-for', '9.9.9.9, 10.0.0.1'] });
  const x = JSON.parse(xfp.text) as { url: string; origin: string };
  assert.equal(x.url, 'https://h/anything');
  assert.equal(x.origin, '9.9.9.9');
});

test('/get, /status/:code, 404', async () => {
  const g = await get('/get?q=1');
  assert.equal(g.status, 200);
  assert.deepEqual((JSON.parse(g.text) as { args: unknown }).args, { q: ['1'] });
  assert.equal((await get('/get', { method: 'POST', body: 'x' })).status, 405);
  assert.equal((await get('/status/418')).status, 418);
  assert.equal((await get('/status/503')).status, 503);
  const r = await get('/status/302');
  assert.equal(r.status, 302);
  assert.equal(r.headers['location'], '/redirect/1');
  assert.equal((await get('/status/99')).status, 400);
  assert.equal((await get('/status/abc')).status, 400);
  assert.equal((await get('/nope')).status, 404);
});

test('/delay/:ms waits (capped), /stream/:n sends n JSON lines, /bytes/:n sends the pattern, /stream-bytes/:n the same chunked', async () => {
  const started = process.hrtime.bigint();
  const d = await get('/delay/120');
  assert.equal(d.status, 200);
  assert.ok(Number(process.hrtime.bigint() - started) / 1e6 >= 100);
  assert.equal((JSON.parse(d.text) as { delayMs: number }).delayMs, 120);
  const s = await get('/stream/3');
  const lines = s.text.trimEnd().split('\n').map((l) => JSON.parse(l) as { id: number });
  assert.deepEqual(lines.map((l) => l.id), [0, 1, 2]);
  assert.equal((await get('/stream/1000')).text.trimEnd().split('\n').length, 100);
  const b = await get('/bytes/200000');
  assert.equal(b.headers['content-length'], '200000');
  assert.deepEqual(b.body, patternBytes(200000));
  assert.equal((await get(`/bytes/${20 * 1024 * 1024}`)).body.length, 10 * 1024 * 1024, 'capped at 10 MiB');
  const c = await get('/stream-bytes/200000');
  assert.equal(c.headers['content-length'], undefined);
  assert.equal(c.headers['transfer-encoding'], 'chunked');
  assert.deepEqual(c.body, patternBytes(200000));
});

test('/drip (go-httpbin): numbytes `*` bytes with their Content-Length, spread over duration after delay, status code; bad or too long values are 400', async () => {
  const started = performance.now();
  const d = await get('/drip?duration=0.3&delay=100ms&numbytes=7&code=201');
  const tookMs = performance.now() - started;
  assert.equal(d.status, 201);
  assert.equal(d.headers['content-length'], '7');
  assert.equal(d.headers['content-type'], 'application/octet-stream');
  assert.equal(d.text, '*******');
  assert.ok(tookMs >= 380, `took ${tookMs} ms: the delay and the duration`);
  const q = await get('/drip?duration=0&delay=0');
  assert.equal(q.text, '*'.repeat(10), 'numbytes defaults to 10');
  for (const bad of ['duration=11', 'duration=6&delay=5', 'delay=x', 'duration=-1', 'numbytes=0', `numbytes=${10 * 1024 * 1024 + 1}`, 'code=199', 'code=600', 'code=abc']) {
    const r = await get(`/drip?${bad}`);
    assert.equal(r.status, 400, bad);
  }
  assert.equal((await get('/drip/extra')).status, 404);
});

test('POST /echo streams the body back; /response-headers sets repeated headers', async () => {
  const body = Buffer.alloc(300_000, 'abc');
  const e = await get('/echo', { method: 'POST', headers: ['host', 'h', 'content-type', 'text/x-test'], body });
  assert.equal(e.status, 200);
  assert.equal(e.headers['content-type'], 'text/x-test');
  assert.deepEqual(e.body, body);
  const rh = await get('/response-headers?set-cookie=a%3D1&set-cookie=b%3D2&x-one=1');
  assert.deepEqual(rh.headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(rh.headers['x-one'], '1');
});

test('records method, url, raw header pairs, body length and connection; bounded to 1000', async () => {
  echo.clear();
  await get('/anything?z=1', { method: 'PATCH', headers: ['host', 'h', 'X-Mixed-Case', 'v', 'x-rep', '1', 'x-rep', '2'], body: 'hello' });
  const rec = echo.received.at(-1)!;
  assert.equal(rec.method, 'PATCH');
  assert.equal(rec.url, '/anything?z=1');
  assert.equal(rec.bodyLength, 5);
  assert.equal(rec.completed, true);
  assert.equal(rec.aborted, false);
  assert.ok(rec.connectionId >= 1);
  const pairs: string[] = [];
  for (let i = 0; i < rec.headers.length; i += 2) pairs.push(`${rec.headers[i]}: ${rec.headers[i + 1]}`);
  for (const want of ['host: h', 'X-Mixed-Case: v', 'x-rep: 1', 'x-rep: 2']) assert.ok(pairs.includes(want), want);
  echo.clear();
  await Promise.all(Array.from({ length: 1005 }, (_, i) => get(`/status/200?i=${i}`)));
  assert.equal(echo.received.length, 1000);
  const ids = echo.received.map((r) => r.id);
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
});

test('keeps connections alive', async () => {
  const e = await startEchoUpstream({ port: 0 });
  const p = new Pool(e.url, { connections: 1 });
  try {
    for (let i = 0; i < 5; i++) {
      const res = await p.request({ path: '/get', method: 'GET' });
      await res.body.dump();
      assert.match(String(res.headers['keep-alive']), /timeout=\d+/);
    }
    assert.equal(e.connections, 1);
  } finally {
    await p.close();
    await e.close();
  }
});

test('standalone: `node echo.js --port 0` prints the port and serves', async () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const script = path.resolve(here, '..', '..', 'src', 'upstream', 'echo.js');
  const child = spawn(process.execPath, [script, '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const line = out.split('\n')[0]!;
        if (out.includes('\n')) resolve(Number(line));
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    assert.ok(port > 0);
    const p = new Pool(`http://127.0.0.1:${port}`);
    const res = await p.request({ path: '/headers', method: 'GET' });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    await p.close();
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
});

test('a Host the URL parser refuses (empty, two ports) is answered, not an uncaught exception in the process that runs the echo upstream', async () => {
  for (const host of ['', 'www.example.com:8080:80']) {
    const r = await get('/headers', { headers: ['host', host] });
    assert.equal(r.status, 200, host);
    assert.deepEqual(JSON.parse(r.text).headers.Host, [host]);
    assert.equal((await get('/anything?a=1', { headers: ['host', host] })).status, 200);
  }
});

test('edges go-httpbin answers the same way: /status only 200..599, HEAD /get, 300 redirects too, extra path segments 404, over-long numbers refused, /echo keeps content-length, idle connections kept 65 s', async () => {
  for (const code of [100, 199, 600, 999]) assert.equal((await get(`/status/${code}`)).status, 400, String(code));
  for (const code of [200, 599]) assert.equal((await get(`/status/${code}`)).status, code, String(code));
  assert.equal((await get('/status/300')).headers['location'], '/redirect/1');
  assert.equal((await get('/status/0000000200')).status, 400, 'more than 9 digits');
  assert.equal((await get('/get', { method: 'HEAD' })).status, 200);
  assert.equal((await get('/headers/x')).status, 404);
  const e = await get('/echo', { method: 'POST', headers: ['host', 'h', 'content-type', 'text/plain'], body: 'hello' });
  assert.equal(e.headers['content-length'], '5');
  assert.equal(e.headers['transfer-encoding'], undefined);
  const h = await get('/headers', { headers: ['host', 'h'] });
  assert.match(String(h.headers['keep-alive']), /timeout=65\b/);
});

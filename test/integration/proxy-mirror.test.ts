// A route's mirrors through the Forwarder, against real upstream servers on real sockets: the
// copy's head (Envoy's shadow Host) and body, the client answered by the primary alone, a mirror
// that is down, slow or reads slowly, the sampling, and a client that leaves mid-body.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Forwarder, type ForwarderOptions } from '../../src/proxy/forwarder.js';
import type { MirrorResult, RouteMirror } from '../../src/proxy/mirror.js';
import { startEchoUpstream, type EchoUpstream } from '../../src/upstream/echo.js';
import { FakeExchange, gatewayRequest, target } from '../helpers/fake-exchange.js';

interface Copy {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  body: Buffer;
  ended: boolean;
}

/** A mirror backend: records what it gets; `mode` how it answers (or does not). */
async function mirrorServer(mode: 'answer' | 'hold' | 'no-read' = 'answer'): Promise<{ port: number; copies: Copy[]; close(): Promise<void> }> {
  const copies: Copy[] = [];
  const server = http.createServer((req, res) => {
    const c: Copy = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.alloc(0), ended: false };
    copies.push(c);
    if (mode === 'no-read') return;
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      c.body = Buffer.concat(chunks);
      c.ended = true;
      if (mode === 'answer') res.end('mirror answer');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    copies,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function setup(opts: ForwarderOptions = {}): Promise<{ fwd: Forwarder; echo: EchoUpstream; results: MirrorResult[] }> {
  const results: MirrorResult[] = [];
  const fwd = new Forwarder({ onMirror: (r) => results.push(r), ...opts });
  const echo = await startEchoUpstream({ port: 0 });
  cleanup.push(() => fwd.destroy(), () => echo.close());
  return { fwd, echo, results };
}

const mirror = (port: number, numerator = 100, denominator: 100 | 1_000_000 = 100): RouteMirror => ({ target: target(port), numerator, denominator });

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("a mirrored GET: the copy has the request's head with Envoy's shadow Host; the client gets the primary's answer", async () => {
  const { fwd, echo, results } = await setup();
  const m = await mirrorServer();
  cleanup.push(() => m.close());
  const fx = new FakeExchange();
  fwd.forward(gatewayRequest({ path: '/anything/a', query: 'x=1', headers: ['host', 'api.example.com:8080', 'x-custom', 'v'] }), target(echo.port), fx, undefined, undefined, { mirrors: [mirror(m.port)] });
  await fx.finished();
  assert.equal(fx.status, 200);
  assert.match(fx.bodyText, /"url": *"http:\/\/api\.example\.com:8080\/anything\/a\?x=1"/);
  await until(() => results.length === 1, 'the copy ended');
  assert.deepEqual(results, ['sent']);
  assert.equal(m.copies.length, 1);
  const c = m.copies[0]!;
  assert.equal(c.method, 'GET');
  assert.equal(c.url, '/anything/a?x=1');
  assert.equal(c.headers.host, 'api.example.com-shadow:8080');
  assert.equal(c.headers['x-custom'], 'v');
  // The same head the primary got otherwise: the edge headers the gateway sets.
  const primary = echo.received.at(-1)!;
  const pxff = primary.headers[primary.headers.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === 'x-forwarded-for') + 1];
  assert.equal(c.headers['x-forwarded-for'], pxff);
});

test('a mirrored body: both backends get it whole, framed as the client sent it', async () => {
  const { fwd, echo, results } = await setup();
  const m = await mirrorServer();
  cleanup.push(() => m.close());
  const body = randomBytes(300 * 1024);
  for (const chunked of [false, true]) {
    results.length = 0;
    m.copies.length = 0;
    const fx = new FakeExchange({ body, chunked, chunkSize: 16 * 1024 });
    const headers = ['host', 'h', ...(chunked ? ['transfer-encoding', 'chunked'] : ['content-length', String(body.length)])];
    fwd.forward(gatewayRequest({ method: 'POST', path: '/anything', headers }), target(echo.port), fx, undefined, undefined, { mirrors: [mirror(m.port)] });
    await fx.finished();
    assert.equal(fx.status, 200);
    assert.equal(echo.received.at(-1)!.bodyLength, body.length);
    await until(() => results.length === 1, 'the copy ended');
    assert.deepEqual(results, ['sent']);
    assert.ok(m.copies[0]!.body.equals(body));
    assert.equal(m.copies[0]!.headers['transfer-encoding'], chunked ? 'chunked' : undefined);
    assert.equal(m.copies[0]!.headers['content-length'], chunked ? undefined : String(body.length));
  }
});

test('a mirror that refuses connections or does not answer changes nothing for the client', async () => {
  const { fwd, echo, results } = await setup();
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const dead = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  const held = await mirrorServer('hold');
  cleanup.push(() => held.close());
  const fx = new FakeExchange();
  fwd.forward(gatewayRequest({ path: '/get' }), target(echo.port), fx, undefined, undefined, { mirrors: [mirror(dead), mirror(held.port)], timeouts: { requestMs: 1500, origins: [] } });
  await fx.finished();
  assert.equal(fx.status, 200);
  // The primary did not wait for the held copy, which ends only at the route timeout.
  assert.ok(!results.includes('failed') || results.length < 2, 'the primary answered before the held copy ended');
  // The held copy ends at the route timeout.
  await until(() => results.length === 2, 'both copies ended');
  assert.deepEqual(results, ['failed', 'failed']);
  assert.equal(held.copies.length, 1);
  // undici's pool counts the cut copy's connection until its close has gone through.
  await until(() => (fwd.stats().endpoints[`127.0.0.1:${held.port}`]?.running ?? 0) === 0, 'the held copy left its connection');
});

test('sampling: one draw per request for every mirror of the route; 0 mirrors nothing', async () => {
  const { fwd, echo, results } = await setup();
  const m = await mirrorServer();
  cleanup.push(() => m.close());
  const random = Math.random;
  try {
    const send = async (r: number, mirrors: RouteMirror[]): Promise<void> => {
      Math.random = () => r;
      const fx = new FakeExchange();
      fwd.forward(gatewayRequest({ path: '/get' }), target(echo.port), fx, undefined, undefined, { mirrors });
      Math.random = random;
      await fx.finished();
    };
    // draw 300000: 300000 % 100 = 0 < 25 (sent); 300000 < 250000 is not.
    await send(0.3, [mirror(m.port, 25), mirror(m.port, 250_000, 1_000_000)]);
    // draw 499999: 99 >= 25 (not sent); 499999 < 500000 (sent).
    await send(0.499999, [mirror(m.port, 25), mirror(m.port, 500_000, 1_000_000)]);
    await send(0, [mirror(m.port, 0)]);
    await until(() => results.length === 2, 'the copies ended');
    assert.equal(m.copies.length, 2);
  } finally {
    Math.random = random;
  }
});

test("a mirror that reads slower than the client sends is cut at 1 MiB buffered: the primary gets the whole body", async () => {
  const { fwd, echo, results } = await setup();
  const m = await mirrorServer('no-read');
  cleanup.push(() => m.close());
  const body = randomBytes(16 * 1024 * 1024);
  const fx = new FakeExchange({ body, chunkSize: 64 * 1024 });
  fwd.forward(gatewayRequest({ method: 'POST', path: '/anything', headers: ['host', 'h', 'content-length', String(body.length)] }), target(echo.port), fx, undefined, undefined, { mirrors: [mirror(m.port)] });
  await fx.finished();
  assert.equal(fx.status, 200);
  assert.equal(echo.received.at(-1)!.bodyLength, body.length);
  await until(() => results.length === 1, 'the copy ended');
  assert.deepEqual(results, ['abandoned']);
});

test('a client that leaves mid-body cuts the copies too', async () => {
  const { fwd, echo, results } = await setup();
  const m = await mirrorServer();
  cleanup.push(() => m.close());
  const fx = new FakeExchange({ body: randomBytes(256 * 1024), chunkSize: 16 * 1024 });
  // The client stops after its first chunk, then leaves.
  fx.holdBody();
  fwd.forward(gatewayRequest({ method: 'POST', path: '/anything', headers: ['host', 'h', 'content-length', String(256 * 1024)] }), target(echo.port), fx, undefined, undefined, { mirrors: [mirror(m.port)] });
  await until(() => m.copies.length === 1, 'the copy arrived');
  fx.abort();
  await until(() => results.length === 1, 'the copy ended');
  assert.deepEqual(results, ['abandoned']);
  assert.equal(m.copies[0]!.ended, false);
  assert.equal(fwd.inFlight, 0);
});

test('a mirror endpoint with --upstream-max-pending requests waiting gets no copy (overflow)', async () => {
  const { fwd, echo, results } = await setup({ connections: 1, maxPending: 0 });
  const m = await mirrorServer('hold');
  cleanup.push(() => m.close());
  // A request of its own holds the mirror endpoint's one connection.
  const busy = new FakeExchange();
  fwd.forward(gatewayRequest({ path: '/busy' }), target(m.port), busy);
  await until(() => m.copies.length === 1, 'the busy request arrived');
  const fx = new FakeExchange();
  fwd.forward(gatewayRequest({ path: '/get' }), target(echo.port), fx, undefined, undefined, { mirrors: [mirror(m.port)] });
  await fx.finished();
  assert.equal(fx.status, 200);
  assert.deepEqual(results, ['overflow']);
  assert.equal(m.copies.length, 1);
  busy.abort();
});

test('a copy counts on its endpoint while it is in flight, and not after', async () => {
  const { fwd, echo, results } = await setup({ connections: 1, maxPending: 0 });
  const m = await mirrorServer('hold');
  cleanup.push(() => m.close());
  const mirrored = async (): Promise<void> => {
    const fx = new FakeExchange();
    fwd.forward(gatewayRequest({ path: '/get' }), target(echo.port), fx, undefined, undefined, { mirrors: [mirror(m.port)], timeouts: { requestMs: 600, origins: [] } });
    await fx.finished();
    assert.equal(fx.status, 200);
  };
  await mirrored();
  await until(() => m.copies.length === 1, 'the first copy arrived');
  // The held copy takes the mirror endpoint's one place: the next copy is not sent.
  await mirrored();
  assert.deepEqual(results, ['overflow']);
  // At the route timeout the held copy ends, and its place is free again.
  await until(() => results.length === 2, 'the held copy ended');
  assert.deepEqual(results, ['overflow', 'failed']);
  await mirrored();
  await until(() => m.copies.length === 2, 'the third copy arrived');
  await until(() => results.length === 3, 'the third copy ended');
  assert.deepEqual(results, ['overflow', 'failed', 'failed']);
});

test("a copy on the primary's own endpoint goes after the primary: it never holds the primary back", async () => {
  const { fwd, results } = await setup({ connections: 1 });
  const m = await mirrorServer();
  cleanup.push(() => m.close());
  // One endpoint, one connection, for the primary and its copy; a body the copy waits for.
  const body = randomBytes(512 * 1024);
  const fx = new FakeExchange({ body, chunkSize: 64 * 1024 });
  fwd.forward(gatewayRequest({ method: 'POST', path: '/p', headers: ['host', 'h', 'content-length', String(body.length)] }), target(m.port), fx, undefined, undefined, { mirrors: [mirror(m.port)], timeouts: { requestMs: 2000, origins: [] } });
  await fx.finished();
  assert.equal(fx.status, 200);
  assert.equal(m.copies[0]!.headers.host, 'h');
  await until(() => results.length === 1, 'the copy ended');
  assert.deepEqual(results, ['sent']);
  assert.equal(m.copies[1]!.headers.host, 'h-shadow');
  assert.ok(m.copies[1]!.body.equals(body));
});

test("the route timeout bounds a copy's whole answer, and a closing forwarder cuts the copies in flight", async () => {
  // A mirror that answers a byte every 100 ms, for ever.
  const streaming = http.createServer((_req, res) => {
    res.writeHead(200);
    const t = setInterval(() => res.write('.'), 100);
    res.on('close', () => clearInterval(t));
  });
  await new Promise<void>((r) => streaming.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise<void>((r) => { streaming.closeAllConnections(); streaming.close(() => r()); }));
  const port = (streaming.address() as AddressInfo).port;
  const { fwd, echo, results } = await setup();
  const fx = new FakeExchange();
  fwd.forward(gatewayRequest({ path: '/get' }), target(echo.port), fx, undefined, undefined, { mirrors: [mirror(port)], timeouts: { requestMs: 500, origins: [] } });
  await fx.finished();
  await until(() => results.length === 1, 'the copy was cut at the route timeout', 3000);
  assert.deepEqual(results, ['failed']);
  // No route timeout (0s): the forwarder's close cuts it.
  const f2 = new Forwarder({ onMirror: (r) => results.push(r) });
  const fx2 = new FakeExchange();
  f2.forward(gatewayRequest({ path: '/get' }), target(echo.port), fx2, undefined, undefined, { mirrors: [mirror(port)], timeouts: { requestMs: 0, origins: [] } });
  await fx2.finished();
  await new Promise((r) => setTimeout(r, 300));
  const started = performance.now();
  await f2.close();
  assert.ok(performance.now() - started < 1000, 'close did not wait for the copy');
  assert.deepEqual(results, ['failed', 'failed']);
});

test('a request answered 413 on the body it had buffered is never sent: its copies are not either (abandoned)', async () => {
  // One place per endpoint: a copy's place not given back would make the next copy overflow.
  const { fwd, echo, results } = await setup({ maxRequestBodyBytes: 1000, connections: 1, maxPending: 0 });
  const m = await mirrorServer();
  cleanup.push(() => m.close());
  const fx = new FakeExchange({ body: randomBytes(2000), chunkSize: 500, chunked: true, bodyBuffered: true });
  fwd.forward(gatewayRequest({ method: 'POST', path: '/anything', headers: ['host', 'h', 'transfer-encoding', 'chunked'] }), target(echo.port), fx, undefined, undefined, { mirrors: [mirror(m.port)] });
  await fx.finished();
  assert.equal(fx.status, 413);
  assert.deepEqual(results, ['abandoned']);
  assert.equal(m.copies.length, 0);
  // Its place on the mirror endpoint was given back: the next copy is sent.
  const ok = new FakeExchange();
  fwd.forward(gatewayRequest({ path: '/get' }), target(echo.port), ok, undefined, undefined, { mirrors: [mirror(m.port)] });
  await ok.finished();
  await until(() => results.length === 2, 'the second copy ended');
  assert.deepEqual(results, ['abandoned', 'sent']);
});

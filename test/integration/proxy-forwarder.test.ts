// Forwarder against the real echo upstream on real sockets: what the upstream receives, what the
// client gets, streaming with backpressure both ways, aborts, limits, round robin, keep-alive.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Forwarder, type ForwarderOptions, type ProxyOutcome } from '../../src/proxy/forwarder.js';
import { startEchoUpstream, patternBytes, type EchoUpstream, type RecordedRequest } from '../../src/upstream/echo.js';
import { ERRORS } from '../../src/errors.js';
import { FakeExchange, forwardOnce, gatewayRequest, target } from '../helpers/fake-exchange.js';

const MiB = 1024 * 1024;
let echo: EchoUpstream;
let echo2: EchoUpstream;

before(async () => {
  echo = await startEchoUpstream({ port: 0 });
  echo2 = await startEchoUpstream({ port: 0 });
});
after(async () => {
  await echo.close();
  await echo2.close();
});

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Waits (loop turns, not time) until `cond` holds; fails instead of hanging. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100_000; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`timed out waiting until ${what}`);
}

function recordedHeaders(rec: RecordedRequest): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < rec.headers.length; i += 2) out.push([rec.headers[i]!.toLowerCase(), rec.headers[i + 1]!]);
  return out;
}

/** Resolves with the next upstream request that ends (completed or aborted) matching `pred`. */
function upstreamEnd(e: EchoUpstream, pred: (r: RecordedRequest) => boolean): Promise<RecordedRequest> {
  return new Promise((resolve) => {
    const on = (r: RecordedRequest): void => {
      if (!pred(r)) return;
      e.events.off('end', on);
      resolve(r);
    };
    e.events.on('end', on);
  });
}

function upstreamArrival(e: EchoUpstream, pred: (r: RecordedRequest) => boolean): Promise<RecordedRequest> {
  return new Promise((resolve) => {
    const on = (r: RecordedRequest): void => {
      if (!pred(r)) return;
      e.events.off('request', on);
      resolve(r);
    };
    e.events.on('request', on);
  });
}

/**
 * A Forwarder with one upstream connection (plus `opts`) in front of a fresh echo upstream, and
 * that connection busy: `first` (GET `firstPath`, a /delay/N) has reached the upstream when `fn`
 * runs. Both are closed afterwards.
 */
async function withBusyConnection(
  opts: ForwarderOptions,
  firstPath: string,
  fn: (t: { fwd: Forwarder; e: EchoUpstream; key: string; first: FakeExchange }) => Promise<void>,
): Promise<void> {
  const fwd = new Forwarder({ connections: 1, ...opts });
  const e = await startEchoUpstream({ port: 0 });
  try {
    const first = new FakeExchange();
    const arrived = upstreamArrival(e, (r) => r.url === firstPath);
    fwd.forward(gatewayRequest({ path: firstPath }), target(e.port), first);
    await arrived;
    await fn({ fwd, e, key: `127.0.0.1:${e.port}`, first });
  } finally {
    await fwd.close();
    await e.close();
  }
}

test('request headers: hop-by-hop dropped (te: trailers and trailer kept; Connection-named fields went when the request was read), X-Forwarded-* set/appended, host and repeats kept', async () => {
  const fwd = new Forwarder();
  try {
    const { fx, outcome } = await forwardOnce<ProxyOutcome>(fwd, target(echo.port), {
      path: '/headers',
      authority: 'api.example.com:8080',
      remoteAddress: '192.0.2.7',
      headers: [
        'host', 'api.example.com:8080',
        'connection', 'keep-alive',
        'keep-alive', 'timeout=5',
        'proxy-connection', 'keep-alive',
        'te', 'trailers',
        'upgrade', 'websocket',
        'trailer', 'x-sum',
        'proxy-authorization', 'Basic cHJveHk6cGFzcw==',
        'x-forwarded-for', '203.0.113.1',
        'x-forwarded-proto', 'https',
        'x-team', 'dev',
        'x-team', 'ops',
        'x-user', 'José',
        'user-agent', 'curl/8.5.0',
      ],
    });
    assert.equal(fx.status, 200);
    assert.equal(outcome.code, undefined);
    assert.equal(outcome.endpoint, `127.0.0.1:${echo.port}`);
    const rec = echo.received.at(-1)!;
    const got = recordedHeaders(rec);
    const names = got.map(([n]) => n);
    for (const hop of ['keep-alive', 'proxy-connection', 'upgrade', 'transfer-encoding']) assert.ok(!names.includes(hop), `${hop} was forwarded`);
    assert.deepEqual(got.filter(([n]) => n === 'te' || n === 'trailer'), [['te', 'trailers'], ['trailer', 'x-sum']], 'TE: trailers and Trailer are kept, as Envoy keeps them');
    const headers = (JSON.parse(fx.bodyText) as { headers: Record<string, string[]> }).headers;
    assert.deepEqual(headers['Host'], ['api.example.com:8080']);
    assert.deepEqual(headers['X-Forwarded-For'], ['203.0.113.1,192.0.2.7']);
    assert.deepEqual(headers['X-Forwarded-Proto'], ['http']);
    assert.equal(headers['X-Forwarded-Host'], undefined, 'no x-forwarded-host added (Envoy adds one only on a host rewrite)');
    assert.deepEqual(headers['X-Team'], ['dev', 'ops']);
    assert.deepEqual(headers['X-User'], ['José']);
    assert.deepEqual(headers['Proxy-Authorization'], ['Basic cHJveHk6cGFzcw==']);
    assert.deepEqual(headers['User-Agent'], ['curl/8.5.0']);
    // undici's own connection management header is the only Connection value upstream sees.
    assert.deepEqual(headers['Connection'], ['keep-alive']);
  } finally {
    await fwd.close();
  }
});

test('path and query are forwarded as received; method too', async () => {
  const fwd = new Forwarder();
  try {
    const { fx } = await forwardOnce<ProxyOutcome>(fwd, target(echo.port), { method: 'DELETE', path: '/anything/a%20b', query: 'x=1&x=2&y=%C3%A9' });
    assert.equal(fx.status, 200);
    const body = JSON.parse(fx.bodyText) as { method: string; args: Record<string, string[]> };
    assert.equal(body.method, 'DELETE');
    assert.deepEqual(body.args, { x: ['1', '2'], y: ['é'] });
    assert.equal(echo.received.at(-1)!.url, '/anything/a%20b?x=1&x=2&y=%C3%A9');
  } finally {
    await fwd.close();
  }
});

test('response headers: repeated set-cookie kept, hop-by-hop dropped, Connection-named passed (as through Envoy), UTF-8 values intact', async () => {
  const fwd = new Forwarder();
  try {
    const { fx } = await forwardOnce<ProxyOutcome>(fwd, target(echo.port), {
      path: '/response-headers',
      query: 'set-cookie=a%3D1&set-cookie=b%3D2&connection=x-internal&x-internal=secret&x-name=Jos%C3%A9',
    });
    assert.equal(fx.status, 200);
    assert.deepEqual(fx.headerValues('set-cookie'), ['a=1', 'b=2']);
    assert.equal(fx.header('x-name'), 'José');
    for (const hop of ['connection', 'keep-alive', 'transfer-encoding']) assert.equal(fx.header(hop), undefined, hop);
    assert.equal(fx.header('x-internal'), 'secret', 'a field the response names in Connection passes, as through Envoy');
    assert.equal(fx.header('content-length'), '3');
    assert.equal(fx.bodyText, '{}\n');
  } finally {
    await fwd.close();
  }
});

test('status, HEAD and 204 pass through', async () => {
  const fwd = new Forwarder();
  try {
    assert.equal((await forwardOnce<ProxyOutcome>(fwd, target(echo.port), { path: '/status/418' })).fx.status, 418);
    const no = await forwardOnce<ProxyOutcome>(fwd, target(echo.port), { path: '/status/204' });
    assert.equal(no.fx.status, 204);
    assert.equal(no.fx.state, 'ended');
    const head = await forwardOnce<ProxyOutcome>(fwd, target(echo.port), { method: 'HEAD', path: '/get' });
    assert.equal(head.fx.status, 200);
    assert.equal(head.fx.body.length, 0);
    assert.ok(Number(head.fx.header('content-length')) > 0);
    const missing = await forwardOnce<ProxyOutcome>(fwd, target(echo.port), { path: '/nope' });
    assert.equal(missing.fx.status, 404);
    assert.equal(missing.outcome.code, undefined, 'an upstream 404 is not a proxy failure');
  } finally {
    await fwd.close();
  }
});

test('10 MiB POST with content-length streams to the upstream intact, with backpressure on the client body', async () => {
  const fwd = new Forwarder();
  try {
    const body = randomBytes(10 * MiB);
    const { fx, outcome } = await forwardOnce<ProxyOutcome>(
      fwd,
      target(echo.port),
      { method: 'POST', path: '/echo', headers: ['host', 'www.example.com:8080', 'content-type', 'application/octet-stream', 'content-length', String(body.length)] },
      { body },
    );
    assert.equal(fx.status, 200);
    assert.equal(fx.state, 'ended');
    assert.equal(fx.body.length, body.length);
    assert.equal(sha(fx.body), sha(body));
    assert.equal(echo.received.at(-1)!.bodyLength, body.length);
    assert.ok(fx.bodyPauses > 0, 'the proxy paused the client body at least once');
    assert.equal(outcome.requestBodyBytes, body.length);
    assert.equal(outcome.responseBodyBytes, body.length);
    const sent = recordedHeaders(echo.received.at(-1)!);
    assert.deepEqual(sent.find(([n]) => n === 'content-length'), ['content-length', String(body.length)]);
  } finally {
    await fwd.close();
  }
});

test('chunked 10 MiB POST (no content-length) is sent chunked and arrives intact', async () => {
  const fwd = new Forwarder();
  try {
    const body = randomBytes(10 * MiB);
    const { fx } = await forwardOnce<ProxyOutcome>(
      fwd,
      target(echo.port),
      { method: 'POST', path: '/echo', headers: ['host', 'www.example.com:8080', 'transfer-encoding', 'chunked'] },
      { body, chunked: true, chunkSize: 100_000 },
    );
    assert.equal(fx.status, 200);
    assert.equal(sha(fx.body), sha(body));
    const sent = recordedHeaders(echo.received.at(-1)!);
    assert.deepEqual(sent.find(([n]) => n === 'transfer-encoding'), ['transfer-encoding', 'chunked']);
    assert.equal(sent.find(([n]) => n === 'content-length'), undefined);
  } finally {
    await fwd.close();
  }
});

test('10 MiB response streams intact to a slow client: the upstream is paused until the client drains', async () => {
  const fwd = new Forwarder();
  try {
    const n = 10 * MiB;
    const { fx, outcome } = await forwardOnce<ProxyOutcome>(fwd, target(echo.port), { path: `/bytes/${n}` }, { writeCapacity: 256 * 1024, drainAfterMs: 1 });
    assert.equal(fx.status, 200);
    assert.equal(fx.state, 'ended');
    assert.equal(fx.header('content-length'), String(n));
    assert.equal(fx.body.length, n);
    assert.equal(sha(fx.body), sha(patternBytes(n)));
    assert.ok(fx.writePauses > 5, `client backpressure happened (${fx.writePauses})`);
    assert.equal(fx.writesWhilePaused, 0, 'no write while the client asked to wait');
    assert.equal(outcome.responseBodyBytes, n);
  } finally {
    await fwd.close();
  }
});

test('client abort while waiting for the response cancels the upstream request', async () => {
  const fwd = new Forwarder();
  try {
    const fx = new FakeExchange();
    let outcome: ProxyOutcome | undefined;
    const arrived = upstreamArrival(echo, (r) => r.url === '/delay/5000');
    const ended = upstreamEnd(echo, (r) => r.url === '/delay/5000');
    fwd.forward(gatewayRequest({ path: '/delay/5000' }), target(echo.port), fx, (o) => (outcome = o));
    await arrived;
    fx.abort();
    const rec = await ended;
    assert.equal(rec.aborted, true, 'the upstream saw its connection close');
    assert.equal(rec.completed, false);
    assert.equal(fx.status, 0, 'nothing was sent to the aborted client');
    assert.equal(outcome?.clientAborted, true);
    assert.equal(outcome?.code, undefined);
    assert.equal(outcome?.status, 0);
    assert.equal(fwd.stats().inFlight, 0);
    assert.equal(fwd.stats().clientAborts, 1);
  } finally {
    await fwd.close();
  }
});

test('client abort mid-response (client stuck on backpressure) cancels the upstream transfer', async () => {
  const fwd = new Forwarder();
  try {
    const fx = new FakeExchange({ writeCapacity: 64 * 1024, manualDrain: true });
    const url = `/bytes/${10 * MiB}`;
    const ended = upstreamEnd(echo, (r) => r.url === url);
    let outcome: ProxyOutcome | undefined;
    fwd.forward(gatewayRequest({ path: url }), target(echo.port), fx, (o) => (outcome = o));
    await until(() => fx.writePauses > 0, 'the client pushed back');
    fx.abort();
    const rec = await ended;
    assert.equal(rec.aborted, true);
    assert.equal(outcome?.clientAborted, true);
    assert.equal(outcome?.responseStarted, true);
    assert.equal(outcome?.status, 200);
    assert.ok(fx.body.length < 10 * MiB);
  } finally {
    await fwd.close();
  }
});

test('client abort mid-upload cancels the upstream request', async () => {
  const fwd = new Forwarder();
  try {
    const body = Buffer.alloc(20 * MiB);
    const fx = new FakeExchange({ body, contentLength: body.length });
    const ended = upstreamEnd(echo, (r) => r.url === '/anything/upload');
    let outcome: ProxyOutcome | undefined;
    fwd.forward(gatewayRequest({ method: 'POST', path: '/anything/upload', headers: ['host', 'h', 'content-length', String(body.length)] }), target(echo.port), fx, (o) => (outcome = o));
    await until(() => fx.bodyBytesSent > 2 * MiB, 'part of the body was sent');
    fx.abort();
    const rec = await ended;
    assert.equal(rec.aborted, true);
    assert.ok(rec.bodyLength < body.length);
    assert.equal(outcome?.clientAborted, true);
    assert.ok(outcome!.requestBodyBytes < body.length);
  } finally {
    await fwd.close();
  }
});

test('more requests waiting for a connection than maxPending: 503 UPSTREAM_OVERFLOW at once, never sent; slots come back when exchanges end', () =>
  withBusyConnection({ maxPending: 1 }, '/delay/300', async ({ fwd, e, key, first: running }) => {
    const waiting = new FakeExchange();
    fwd.forward(gatewayRequest({ path: '/anything/waiting' }), target(e.port), waiting);
    assert.equal(fwd.stats().endpoints[key]!.queued, 1);

    // One connection busy, one request waiting: the next overflows, answered synchronously.
    const over = new FakeExchange();
    let overOutcome: ProxyOutcome | undefined;
    fwd.forward(gatewayRequest({ path: '/anything/over' }), target(e.port), over, (o) => (overOutcome = o));
    assert.equal(over.status, 503);
    assert.equal(over.bodyText, 'upstream connect error or disconnect/reset before headers. reset reason: overflow');
    assert.equal(over.bodyText, ERRORS.UPSTREAM_OVERFLOW.body);
    assert.equal(overOutcome?.code, 'UPSTREAM_OVERFLOW');
    assert.equal(overOutcome?.endpoint, key);

    // A waiting request whose client goes away keeps its place while undici still holds it in
    // its queue (it cannot be taken out), so abandoned requests and their bodies cannot pile up
    // there past maxPending: the next request still overflows.
    waiting.abort();
    assert.equal(await waiting.finished(), 'aborted');
    const refused = new FakeExchange();
    fwd.forward(gatewayRequest({ path: '/anything/refused' }), target(e.port), refused);
    assert.equal(refused.status, 503);
    assert.equal(fwd.stats().endpoints[key]!.queued, 1);

    // The running request ends; undici drops the abandoned one without sending it, and both
    // places come back: the endpoint takes a running and a waiting request again.
    assert.equal(await running.finished(), 'ended');
    await until(() => fwd.stats().endpoints[key]!.queued === 0 && fwd.stats().endpoints[key]!.running === 0, 'undici to drop the abandoned request');
    const again = await Promise.all([forwardOnce<ProxyOutcome>(fwd, target(e.port), { path: '/get' }), forwardOnce<ProxyOutcome>(fwd, target(e.port), { path: '/get' })]);
    assert.deepEqual(again.map((r) => r.fx.status), [200, 200]);
    assert.deepEqual(e.received.map((r) => r.url), ['/delay/300', '/get', '/get']);
    assert.deepEqual(fwd.stats().errors, { UPSTREAM_OVERFLOW: 2 });
    assert.equal(fwd.stats().inFlight, 0);
  }));

test("clients that give up while their requests wait: undici's queue stays within maxPending however many retry", () =>
  withBusyConnection({ maxPending: 4 }, '/delay/400', async ({ fwd, e, key, first: running }) => {
    let overflowed = 0;
    for (let i = 0; i < 200; i++) {
      const fx = new FakeExchange();
      fwd.forward(gatewayRequest({ path: '/anything/retry', method: 'POST', headers: ['host', 'h', 'content-length', '4'] }), target(e.port), fx);
      if (fx.status === 503) overflowed++;
      else fx.abort();
    }
    assert.equal(overflowed, 196);
    assert.ok(fwd.stats().endpoints[key]!.queued <= 4, `undici queue ${fwd.stats().endpoints[key]!.queued}`);
    assert.equal(await running.finished(), 'ended');
    await until(() => fwd.stats().endpoints[key]!.queued === 0 && fwd.stats().endpoints[key]!.running === 0, 'undici to drop the abandoned requests');
    const after = await Promise.all(Array.from({ length: 5 }, () => forwardOnce<ProxyOutcome>(fwd, target(e.port), { path: '/get' })));
    assert.deepEqual(after.map((r) => r.fx.status), [200, 200, 200, 200, 200], 'every place came back');
    assert.deepEqual(e.received.map((r) => r.url), ['/delay/400', '/get', '/get', '/get', '/get', '/get'], 'no abandoned request was sent');
    assert.equal(fwd.stats().inFlight, 0);
  }));

test('maxPending 0: a request that would have to wait for a connection overflows', () =>
  withBusyConnection({ maxPending: 0 }, '/delay/200', async ({ fwd, e, first: running }) => {
    const over = await forwardOnce<ProxyOutcome>(fwd, target(e.port), { path: '/get' });
    assert.equal(over.fx.status, 503);
    assert.equal(over.outcome.code, 'UPSTREAM_OVERFLOW');
    assert.equal(await running.finished(), 'ended');
    assert.equal((await forwardOnce<ProxyOutcome>(fwd, target(e.port), { path: '/get' })).fx.status, 200);
    assert.deepEqual(e.received.map((r) => r.url), ['/delay/200', '/get']);
  }));

test('time spent waiting for a pooled connection counts toward the route timeout, as Envoy\'s (README Timeouts): a request queued past a tick is answered 504 the route timeout after its dispatch', async () => {
  // One connection, a 1.2 s route timeout and two 900 ms answers: the second request waits
  // ~900 ms in the pool queue (a 0.5 s tick finds it there), so its answer, due ~1.8 s after its
  // dispatch, is cut at the route timeout counted from then. Before, it got its own full timeout
  // once on the connection, and a 200.
  await withBusyConnection({ timeoutMs: 1200 }, '/delay/900', async ({ fwd, e, key, first }) => {
    const dispatched = performance.now();
    const second = new FakeExchange();
    let outcome: ProxyOutcome | undefined;
    fwd.forward(gatewayRequest({ path: '/delay/900?n=2' }), target(e.port), second, (o) => (outcome = JSON.parse(JSON.stringify(o)) as ProxyOutcome));
    assert.equal(fwd.stats().endpoints[key]!.queued, 1);
    assert.equal(await first.finished(), 'ended');
    assert.equal(first.status, 200);
    assert.equal(await second.finished(), 'responded');
    const ms = performance.now() - dispatched;
    assert.equal(second.status, 504);
    assert.equal(second.bodyText, 'upstream request timeout');
    assert.equal(outcome?.code, 'UPSTREAM_TIMEOUT');
    assert.equal(outcome?.upstreamError, 'ROUTE_TIMEOUT');
    assert.ok(ms >= 1150 && ms < 1750, `answered ${Math.round(ms)} ms after its dispatch (the route timeout plus at most one 0.5 s tick)`);
  });
});

test('a request aborted while queued for a connection never reaches the upstream and does not cost the pooled connection', () =>
  withBusyConnection({}, '/delay/200', async ({ fwd, e, key, first }) => {
    const queued = new FakeExchange();
    let queuedOutcome: ProxyOutcome | undefined;
    fwd.forward(gatewayRequest({ path: '/anything/queued' }), target(e.port), queued, (o) => (queuedOutcome = o));
    assert.equal(fwd.stats().endpoints[key]!.queued, 1);
    queued.abort();
    assert.equal(queuedOutcome?.clientAborted, true);
    assert.equal(await first.finished(), 'ended');
    assert.equal(first.status, 200);
    // undici hands the queued (dropped) request to the connection a few loop turns later.
    await until(() => fwd.stats().endpoints[key]!.queued === 0 && fwd.stats().endpoints[key]!.free === 1, 'the pooled connection is free again');
    const third = await forwardOnce<ProxyOutcome>(fwd, target(e.port), { path: '/get' });
    assert.equal(third.fx.status, 200);
    assert.deepEqual(e.received.map((r) => r.url), ['/delay/200', '/get']);
    assert.equal(e.connections, 1, 'the keep-alive connection survived the aborted queued request');
  }));

test('declared content-length over maxRequestBodyBytes: 413 without contacting the upstream', async () => {
  const fwd = new Forwarder({ maxRequestBodyBytes: 1000 });
  const e = await startEchoUpstream({ port: 0 });
  try {
    const { fx, outcome } = await forwardOnce<ProxyOutcome>(
      fwd,
      target(e.port),
      { method: 'POST', path: '/echo', headers: ['host', 'h', 'content-length', '1001'] },
      { body: Buffer.alloc(1001) },
    );
    assert.equal(fx.status, 413);
    assert.equal(fx.bodyText, ERRORS.REQUEST_BODY_TOO_LARGE.body);
    assert.equal(fx.header('content-type'), 'text/plain');
    assert.equal(outcome.code, 'REQUEST_BODY_TOO_LARGE');
    assert.equal(e.received.length, 0);
    assert.equal(e.connections, 0);
    // At the limit is fine.
    const ok = await forwardOnce<ProxyOutcome>(fwd, target(e.port), { method: 'POST', path: '/echo', headers: ['host', 'h', 'content-length', '1000'] }, { body: Buffer.alloc(1000, 7) });
    assert.equal(ok.fx.status, 200);
    assert.equal(ok.fx.body.length, 1000);
  } finally {
    await fwd.close();
    await e.close();
  }
});

test('chunked body growing past maxRequestBodyBytes: 413 and the upstream request is aborted', async () => {
  const fwd = new Forwarder({ maxRequestBodyBytes: 256 * 1024 });
  const e = await startEchoUpstream({ port: 0 });
  try {
    const ended = upstreamEnd(e, () => true);
    const { fx, outcome } = await forwardOnce<ProxyOutcome>(
      fwd,
      target(e.port),
      { method: 'POST', path: '/anything', headers: ['host', 'h', 'transfer-encoding', 'chunked'] },
      { body: Buffer.alloc(MiB), chunked: true, chunkSize: 16 * 1024 },
    );
    assert.equal(fx.status, 413);
    assert.equal(fx.bodyText, ERRORS.REQUEST_BODY_TOO_LARGE.body);
    assert.equal(outcome.code, 'REQUEST_BODY_TOO_LARGE');
    assert.ok(outcome.requestBodyBytes > 256 * 1024);
    if (e.received.length > 0) {
      const rec = await ended;
      assert.equal(rec.aborted, true);
      assert.ok(rec.bodyLength <= 256 * 1024);
    }
  } finally {
    await fwd.close();
    await e.close();
  }
});

test('round robin across the endpoints of a backend', async () => {
  const fwd = new Forwarder();
  echo.clear();
  echo2.clear();
  try {
    const t = target(echo.port, echo2.port);
    const order: string[] = [];
    for (let i = 0; i < 10; i++) order.push((await forwardOnce<ProxyOutcome>(fwd, t, { path: '/get' })).outcome.endpoint);
    assert.deepEqual(order, Array.from({ length: 10 }, (_, i) => `127.0.0.1:${i % 2 === 0 ? echo.port : echo2.port}`));
    assert.equal(echo.received.length, 5);
    assert.equal(echo2.received.length, 5);
  } finally {
    await fwd.close();
  }
});

test('keep-alive: 50 sequential requests use one upstream connection', async () => {
  const fwd = new Forwarder();
  const e = await startEchoUpstream({ port: 0 });
  try {
    for (let i = 0; i < 50; i++) {
      const { fx } = await forwardOnce<ProxyOutcome>(fwd, target(e.port), { path: '/get', query: `i=${i}` });
      assert.equal(fx.status, 200);
    }
    assert.equal(e.received.length, 50);
    assert.equal(e.connections, 1);
    assert.deepEqual(new Set(e.received.map((r) => r.connectionId)), new Set([1]));
  } finally {
    await fwd.close();
    await e.close();
  }
});

test('200 concurrent requests all complete; connections stay within the pool limit', async () => {
  const fwd = new Forwarder({ connections: 16 });
  const e = await startEchoUpstream({ port: 0 });
  try {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => forwardOnce<ProxyOutcome>(fwd, target(e.port), { path: '/anything', query: `i=${i}` })));
    assert.ok(results.every((r) => r.fx.status === 200));
    assert.ok(e.connections <= 16, `${e.connections} connections`);
    const s = fwd.stats();
    assert.equal(s.requests, 200);
    assert.equal(s.completed, 200);
    assert.equal(s.inFlight, 0);
  } finally {
    await fwd.close();
    await e.close();
  }
});

test('no endpoints, or a closed forwarder: 503 no healthy upstream (Envoy\'s body)', async () => {
  const fwd = new Forwarder();
  const none = await forwardOnce<ProxyOutcome>(fwd, { key: 'Backend/x/empty', endpoints: [] });
  assert.equal(none.fx.status, 503);
  assert.equal(none.fx.bodyText, 'no healthy upstream');
  assert.equal(none.outcome.code, 'UPSTREAM_UNAVAILABLE');
  await fwd.close();
  const closed = await forwardOnce<ProxyOutcome>(fwd, target(echo.port), { path: '/get' });
  assert.equal(closed.fx.status, 503);
  assert.equal(closed.outcome.upstreamError, 'FORWARDER_CLOSED');
});

test('a client already gone when forward() is called: nothing is sent upstream', async () => {
  const fwd = new Forwarder();
  const e = await startEchoUpstream({ port: 0 });
  try {
    const fx = new FakeExchange();
    fx.abort();
    let outcome: ProxyOutcome | undefined;
    fwd.forward(gatewayRequest({ path: '/get' }), target(e.port), fx, (o) => (outcome = o));
    assert.equal(outcome?.clientAborted, true);
    assert.equal(e.connections, 0);
  } finally {
    await fwd.close();
    await e.close();
  }
});

test('retainOnly closes pools of endpoints no longer referenced; old targets get a fresh pool', async () => {
  const fwd = new Forwarder();
  try {
    const a = target(echo.port);
    const b = target(echo2.port);
    await forwardOnce<ProxyOutcome>(fwd, a, { path: '/get' });
    await forwardOnce<ProxyOutcome>(fwd, b, { path: '/get' });
    assert.deepEqual(Object.keys(fwd.stats().endpoints).sort(), [`127.0.0.1:${echo.port}`, `127.0.0.1:${echo2.port}`].sort());
    await fwd.retainOnly([b]);
    assert.deepEqual(Object.keys(fwd.stats().endpoints), [`127.0.0.1:${echo2.port}`]);
    const again = await forwardOnce<ProxyOutcome>(fwd, a, { path: '/get' });
    assert.equal(again.fx.status, 200);
  } finally {
    await fwd.close();
  }
});

test('an onDone callback that throws does not break the proxy', async () => {
  const fwd = new Forwarder();
  try {
    const fx = new FakeExchange();
    fwd.forward(gatewayRequest({ path: '/get' }), target(echo.port), fx, () => {
      throw new Error('logging bug');
    });
    assert.equal(await fx.finished(), 'ended');
    assert.equal(fx.status, 200);
    const next = await forwardOnce<ProxyOutcome>(fwd, target(echo.port), { path: '/get' });
    assert.equal(next.fx.status, 200);
  } finally {
    await fwd.close();
  }
});

test('the outcome serializes to its fields only', async () => {
  const fwd = new Forwarder();
  try {
    const fx = new FakeExchange();
    let json = '';
    fwd.forward(gatewayRequest({ path: '/get', headers: ['host', 'h', 'authorization', 'Bearer secret-token'] }), target(echo.port), fx, (o) => (json = JSON.stringify(o)));
    await fx.finished();
    assert.deepEqual(Object.keys(JSON.parse(json) as object).sort(), ['attempts', 'clientAborted', 'endpoint', 'requestBodyBytes', 'responseBodyBytes', 'responseStarted', 'startedAt', 'status', 'upstreamError'], '`code` is undefined on success');
    assert.ok(!json.includes('secret-token'));
  } finally {
    await fwd.close();
  }
});


test('requests undici would refuse are answered 400 REQUEST_INVALID and never dispatched; the connection stays usable', async () => {
  // One connection: before the check, each of these jammed it for good (undici's Pool marks the
  // connection it picked for a refused request as needing a drain that never comes).
  const fwd = new Forwarder({ connections: 1 });
  try {
    const n = echo.received.length;
    for (const req of [
      { path: '/a\x7fb' },
      { path: '/get', query: 'q=\x01' },
      { path: '/get', headers: ['host', 'h', 'x-a', 'a\x7fb'] },
      { path: '/get', headers: ['host', 'h', 'x-forwarded-for', '1.2.3.4\x7f'] },
      { path: '/get', method: 'POST', headers: ['host', 'h', 'content-length', 'abc'] },
    ]) {
      const { fx, outcome } = await forwardOnce<ProxyOutcome>(fwd, target(echo.port), req);
      assert.equal(fx.status, 400, JSON.stringify(req));
      assert.equal(fx.bodyText, ERRORS.REQUEST_INVALID.body);
      assert.equal(outcome.code, 'REQUEST_INVALID');
    }
    assert.equal(echo.received.length, n, 'nothing reached the upstream');
    assert.equal((await forwardOnce<ProxyOutcome>(fwd, target(echo.port), { path: '/get' })).fx.status, 200);
    assert.equal(fwd.stats().errors.REQUEST_INVALID, 5);
    assert.equal(fwd.stats().inFlight, 0);
  } finally {
    await fwd.close();
  }
});

test('a request undici refuses inside dispatch anyway (a header name that is not a token): 500, and the endpoint gets a new pool instead of a jammed connection', { timeout: 20_000 }, async () => {
  const fwd = new Forwarder({ connections: 1 });
  try {
    for (let i = 0; i < 3; i++) {
      const bad = await forwardOnce<ProxyOutcome>(fwd, target(echo.port), { path: '/get', headers: ['host', 'h', 'bad name', 'x'] });
      assert.equal(bad.fx.status, 500);
      assert.equal(bad.outcome.upstreamError, 'UND_ERR_INVALID_ARG');
      const good = await forwardOnce<ProxyOutcome>(fwd, target(echo.port), { path: '/get' });
      assert.equal(good.fx.status, 200, 'the endpoint still forwards');
    }
    assert.equal(fwd.stats().inFlight, 0);
  } finally {
    await fwd.close();
  }
});

test('a chunked body already over maxRequestBodyBytes when the forwarder takes it (chunks buffered during the auth check, handed over at once): 413, and nothing is sent upstream', async () => {
  // UwsExchange.onBody hands over what it buffered synchronously, inside the onBody call.
  class BufferedExchange extends FakeExchange {
    override onBody(cb: (chunk: Buffer, isLast: boolean) => void): void {
      cb(Buffer.alloc(600, 1), false);
      cb(Buffer.alloc(600, 2), false);
      super.onBody(cb);
    }
  }
  const fwd = new Forwarder({ maxRequestBodyBytes: 1000 });
  const e = await startEchoUpstream({ port: 0 });
  try {
    const fx = new BufferedExchange({ chunked: true, body: Buffer.alloc(100) });
    const outcomes: ProxyOutcome[] = [];
    fwd.forward(gatewayRequest({ method: 'POST', path: '/anything', headers: ['host', 'h', 'transfer-encoding', 'chunked'] }), target(e.port), fx, (o) => outcomes.push(o));
    await fx.finished();
    assert.equal(fx.status, 413);
    assert.equal(fx.bodyText, ERRORS.REQUEST_BODY_TOO_LARGE.body);
    // A request sent after it on the same forwarder is the first and only one the upstream sees.
    const { fx: next } = await forwardOnce<ProxyOutcome>(fwd, target(e.port), { path: '/get' });
    assert.equal(next.status, 200);
    assert.deepEqual(e.received.map((r) => r.url), ['/get']);
    assert.equal(outcomes.length, 1);
    assert.equal(outcomes[0]!.code, 'REQUEST_BODY_TOO_LARGE');
    assert.equal(fwd.stats().errors.REQUEST_BODY_TOO_LARGE, 1);
  } finally {
    await fwd.close();
    await e.close();
  }
});

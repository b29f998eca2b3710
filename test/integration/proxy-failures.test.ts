// Upstream misbehaviour on real sockets: refused, reset, garbage, silence, slowness, dying
// mid-response. Before the response head the client gets the catalogue reply (exact body,
// text/plain); after it the client connection is closed. Nothing here may crash the process.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Forwarder, type ForwarderOptions, type ProxyOutcome } from '../../src/proxy/forwarder.js';
import { ERRORS, type ErrorCode } from '../../src/errors.js';
import { FakeExchange, forwardOnce, gatewayRequest, target } from '../helpers/fake-exchange.js';
import { waitFor } from '../helpers/jwks-server.js';

const servers: net.Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

/** A raw TCP server; `onRequest` runs once the first request bytes arrived. */
async function tcpServer(onRequest: (socket: net.Socket) => void, onConnection?: (socket: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (onConnection) return onConnection(socket);
    socket.once('data', () => onRequest(socket));
  });
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  }) as typeof server.close;
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function expectLocalReply(port: number | { key: string; endpoints: { host: string; port: number }[] }, code: ErrorCode, opts: ForwarderOptions = {}, body = ERRORS[code].body): Promise<ProxyOutcome> {
  const fwd = new Forwarder(opts);
  try {
    const { fx, outcome } = await forwardOnce<ProxyOutcome>(fwd, typeof port === 'number' ? target(port) : port, { path: '/get' });
    assert.equal(fx.state, 'responded');
    assert.equal(fx.status, ERRORS[code].status);
    assert.equal(fx.bodyText, body);
    assert.deepEqual(fx.headers, ['content-type', 'text/plain']);
    assert.equal(outcome.code, code);
    assert.equal(outcome.status, ERRORS[code].status);
    assert.equal(outcome.responseStarted, false);
    assert.equal(fwd.stats().errors[code], 1);
    return outcome;
  } finally {
    await fwd.destroy();
  }
}

test('connection refused (closed port): 503 UPSTREAM_UNAVAILABLE, worded as Envoy words a refused connection', async () => {
  const outcome = await expectLocalReply(await closedPort(), 'UPSTREAM_UNAVAILABLE', {}, 'upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused');
  assert.equal(outcome.upstreamError, 'ECONNREFUSED');
});

test('reset right after accept: 503', async () => {
  const port = await tcpServer(() => {}, (socket) => socket.resetAndDestroy());
  await expectLocalReply(port, 'UPSTREAM_UNAVAILABLE');
});

test('reset after reading the request: 503', async () => {
  const port = await tcpServer((socket) => socket.resetAndDestroy());
  await expectLocalReply(port, 'UPSTREAM_UNAVAILABLE');
});

test('closed without a response: 503 reset reason: connection termination', async () => {
  const port = await tcpServer((socket) => socket.end());
  const outcome = await expectLocalReply(port, 'UPSTREAM_UNAVAILABLE');
  assert.equal(outcome.upstreamError, 'UND_ERR_SOCKET');
});

test('DNS failure: 503 no healthy upstream (Envoy: a backend without an address)', async () => {
  const outcome = await expectLocalReply({ key: 'Backend/x/dns', endpoints: [{ host: 'no-such-host.invalid', port: 80 }] }, 'UPSTREAM_UNAVAILABLE', {}, 'no healthy upstream');
  assert.match(outcome.upstreamError, /^(ENOTFOUND|EAI_AGAIN|EAI_FAIL|ESERVFAIL)$/);
});

/** A keep-alive upstream answering every request 200 "ok". */
async function okServer(): Promise<number> {
  return tcpServer(() => {}, (socket) => socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')));
}

test('a Backend host that is not an address (a port or a space in it) has no endpoint: left out of the rotation, 503 no healthy upstream when it is the only one, nothing left in flight (undici refused its origin: 500 with a stack trace per request, and shutdown waited 5 s for a count never released)', async () => {
  for (const host of ['127.0.0.1:41001', 'a b', '127.0.0.1/foo', 'x@127.0.0.1', '999.1.1.1', 'fe80::1%eth0', '1.2.3']) {
    const outcome = await expectLocalReply({ key: `Backend/x/${host}`, endpoints: [{ host, port: 80 }] }, 'UPSTREAM_UNAVAILABLE', {}, 'no healthy upstream');
    assert.equal(outcome.upstreamError, 'NO_ENDPOINTS');
  }
  const port = await okServer();
  const fwd = new Forwarder();
  try {
    // `[::1]` is not an address (a bracketed literal): it must not take the endpoint of `::1`.
    const v6 = net.createServer((s) => s.on('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')).on('error', () => {}));
    servers.push(v6);
    await new Promise<void>((r) => v6.listen(0, '::1', r));
    const v6port = (v6.address() as AddressInfo).port;
    const bracketed = { key: 'Backend/x/bracket', endpoints: [{ host: '[::1]', port: v6port }] };
    assert.equal((await forwardOnce<ProxyOutcome>(fwd, bracketed, { path: '/get' })).fx.bodyText, 'no healthy upstream');
    const plain = { key: 'Backend/x/v6', endpoints: [{ host: '::1', port: v6port }] };
    assert.equal((await forwardOnce<ProxyOutcome>(fwd, plain, { path: '/get' })).fx.status, 200);
    const mixed = { key: 'Backend/x/mixed', endpoints: [{ host: '127.0.0.1:41001', port: 80 }, { host: '127.0.0.1', port }] };
    for (let i = 0; i < 4; i++) {
      const { fx } = await forwardOnce<ProxyOutcome>(fwd, mixed, { path: '/get' });
      assert.equal(fx.status, 200, `request ${i}`);
    }
    assert.equal(fwd.inFlight, 0);
  } finally {
    await fwd.destroy();
  }
});

/**
 * Waits until the forwarder's lookups have found these endpoints' names missing (a fixed wait
 * lost the race to a slow resolver on a fresh CI machine). Reads the forwarder's private endpoint
 * table: the state the requests after it depend on, with no public accessor.
 */
async function lookedUp(fwd: Forwarder, keys: readonly string[]): Promise<void> {
  const table = (fwd as unknown as { endpoints: Map<string, { unresolved: boolean }> }).endpoints;
  for (let i = 0; i < 500 && !keys.every((k) => table.get(k)?.unresolved === true); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(keys.every((k) => table.get(k)?.unresolved === true), `not looked up in 10 s: ${keys.join(', ')}`);
}

test('a host name that does not resolve among several hosts is out of the rotation (Envoy\'s STRICT_DNS cluster has no endpoint for it), and stays out while it keeps not resolving; looked up when the configuration is installed, no request is lost to it', async () => {
  const port = await okServer();
  // Found by a request: that one gets 503, then the other host takes every request, across several refreshes.
  const fwd = new Forwarder({ dnsRefreshMs: 50 });
  try {
    const mixed = { key: 'Backend/x/dns-mixed', endpoints: [{ host: 'no-such-host.invalid', port: 80 }, { host: '127.0.0.1', port }] };
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      statuses.push((await forwardOnce<ProxyOutcome>(fwd, mixed, { path: '/get' })).fx.status!);
      await new Promise((r) => setTimeout(r, 30));
    }
    assert.equal(statuses[0], 503);
    assert.deepEqual(statuses.slice(1), Array(11).fill(200), JSON.stringify(statuses));
    // Only unresolved names are passed over: a host that refuses keeps its share (Envoy has no health checks here).
    const refused = { key: 'Backend/x/refused-mixed', endpoints: [{ host: '127.0.0.1', port: await closedPort() }, { host: '127.0.0.1', port }] };
    const r: number[] = [];
    for (let i = 0; i < 4; i++) r.push((await forwardOnce<ProxyOutcome>(fwd, refused, { path: '/get' })).fx.status!);
    assert.deepEqual(r, [503, 200, 503, 200]);
  } finally {
    await fwd.destroy();
  }
  // Looked up when prepared (a configuration installed): no request is drawn to it at all.
  const prepared = new Forwarder({ dnsRefreshMs: 50 });
  try {
    const mixed = { key: 'Backend/x/dns-prepared', endpoints: [{ host: 'no-such-host.invalid', port: 80 }, { host: '127.0.0.1', port }] };
    prepared.prepare([mixed]);
    await lookedUp(prepared, ['no-such-host.invalid:80']);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await forwardOnce<ProxyOutcome>(prepared, mixed, { path: '/get' })).fx.status!);
    assert.deepEqual(statuses, Array(6).fill(200));
    // Every host of a Backend unresolved: 503 no healthy upstream at once, no connect (and no lookup) per request.
    const gone = { key: 'Backend/x/gone', endpoints: [{ host: 'gone-1.invalid', port: 80 }, { host: 'gone-2.invalid', port: 80 }] };
    prepared.prepare([gone]);
    await lookedUp(prepared, ['gone-1.invalid:80', 'gone-2.invalid:80']);
    const { fx, outcome } = await forwardOnce<ProxyOutcome>(prepared, gone, { path: '/get' });
    assert.equal(fx.status, 503);
    assert.equal(fx.bodyText, 'no healthy upstream');
    assert.equal(outcome.upstreamError, 'NO_ENDPOINTS');
  } finally {
    await prepared.destroy();
  }
});

test('garbage instead of HTTP: 502 UPSTREAM_BAD_RESPONSE (reset reason: protocol error)', async () => {
  const port = await tcpServer((socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\nnot http at all\r\n\r\n'));
  const outcome = await expectLocalReply(port, 'UPSTREAM_BAD_RESPONSE');
  assert.match(outcome.upstreamError, /^(HPE_|HTTPParserError)/);
});

test('invalid header line: 502', async () => {
  const port = await tcpServer((socket) => socket.end('HTTP/1.1 200 OK\r\nbad header line\r\ncontent-length: 0\r\n\r\n'));
  await expectLocalReply(port, 'UPSTREAM_BAD_RESPONSE');
});

test('unsolicited 100 Continue: 502', async () => {
  const port = await tcpServer((socket) => socket.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'));
  await expectLocalReply(port, 'UPSTREAM_BAD_RESPONSE');
});

test('response head larger than maxResponseHeaderBytes: 502', async () => {
  const port = await tcpServer((socket) => socket.end(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(8192)}\r\ncontent-length: 0\r\n\r\n`));
  await expectLocalReply(port, 'UPSTREAM_BAD_RESPONSE', { maxResponseHeaderBytes: 4096 });
});

test('a response with more than 100 header fields: 502 UPSTREAM_BAD_RESPONSE, as Envoy\'s max_headers_count (default 100) resets it; 100 pass', async () => {
  const head = (fields: number) => `HTTP/1.1 200 OK\r\ncontent-length: 2\r\n${Array.from({ length: fields - 1 }, (_, i) => `x-f${i}: ${i}\r\n`).join('')}\r\nok`;
  const over = await tcpServer((socket) => socket.end(head(101)));
  const outcome = await expectLocalReply(over, 'UPSTREAM_BAD_RESPONSE');
  assert.equal(outcome.upstreamError, 'TOO_MANY_HEADERS');
  const fwd = new Forwarder({});
  try {
    const port = await tcpServer((socket) => socket.end(head(100)));
    const { fx } = await forwardOnce<ProxyOutcome>(fwd, target(port), { path: '/get' });
    assert.equal(fx.status, 200);
    assert.equal(fx.bodyText, 'ok');
    assert.equal(fx.headers.length, 200);
  } finally {
    await fwd.destroy();
  }
});

test('a transfer coding other than chunked (gzip, chunked): 502, the still-encoded body is not passed on as plain', async () => {
  for (const te of ['gzip, chunked', 'gzip', 'chunked, chunked']) {
    const body = te === 'gzip' ? 'GZIPPED' : '4\r\nGZIP\r\n0\r\n\r\n';
    const port = await tcpServer((socket) => socket.end(`HTTP/1.1 200 OK\r\ntransfer-encoding: ${te}\r\n\r\n${body}`));
    const outcome = await expectLocalReply(port, 'UPSTREAM_BAD_RESPONSE');
    assert.equal(outcome.upstreamError, 'UNSUPPORTED_TRANSFER_ENCODING', te);
  }
});

test('a transfer coding other than chunked: the upstream connection is closed at once (its body cannot be framed), not left open until the body timeout', async () => {
  let upstreamClosed: Promise<void> | undefined;
  const port = await tcpServer((socket) => {
    upstreamClosed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nGZIP');
  });
  const fwd = new Forwarder({});
  try {
    const { fx, outcome } = await forwardOnce<ProxyOutcome>(fwd, target(port), { path: '/get' });
    assert.equal(fx.status, 502);
    assert.equal(outcome.code, 'UPSTREAM_BAD_RESPONSE');
    assert.ok(upstreamClosed !== undefined);
    let timer: NodeJS.Timeout | undefined;
    const closedInTime = await Promise.race([upstreamClosed.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 2000)))]);
    clearTimeout(timer);
    assert.ok(closedInTime, 'the upstream connection was still open 2 s after the 502');
  } finally {
    await fwd.destroy();
  }
});

test('the head arrives, then the upstream stalls or closes before any body byte: never a local reply claiming "before headers" (a 503 a client may retry for a request the upstream acted on); the head goes out when it declares a length, then the connection closes, as Envoy forwards the head and resets', async () => {
  const cases: [string, (s: net.Socket) => void, ErrorCode, boolean][] = [
    ['stall', (s) => s.write('HTTP/1.1 201 Created\r\nlocation: /orders/42\r\ncontent-length: 10\r\n\r\n'), 'UPSTREAM_TIMEOUT', true],
    ['stall, chunked', (s) => s.write('HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n'), 'UPSTREAM_TIMEOUT', false],
    ['reset', (s) => { s.write('HTTP/1.1 201 Created\r\ncontent-length: 10\r\n\r\n'); setTimeout(() => s.resetAndDestroy(), 20); }, 'UPSTREAM_UNAVAILABLE', true],
    ['close, chunked', (s) => { s.write('HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n'); setTimeout(() => s.destroy(), 20); }, 'UPSTREAM_UNAVAILABLE', false],
  ];
  for (const [name, answer, code, headSent] of cases) {
    const port = await tcpServer(answer);
    const fwd = new Forwarder({ timeoutMs: 300 });
    try {
      const { fx, outcome } = await forwardOnce<ProxyOutcome>(fwd, target(port), { path: '/get' });
      assert.equal(fx.state, 'destroyed', name);
      assert.equal(fx.status, 201, name);
      assert.equal(fx.headWritten, headSent, name);
      assert.equal(fx.bodyText, '', name);
      assert.equal(outcome.code, code, name);
      assert.equal(outcome.status, 201, `${name}: the access log has the upstream's status`);
    } finally {
      await fwd.destroy();
    }
  }
});

test('never answers: 504 UPSTREAM_TIMEOUT after timeoutMs', async () => {
  const port = await tcpServer(() => {});
  const outcome = await expectLocalReply(port, 'UPSTREAM_TIMEOUT', { timeoutMs: 300 });
  assert.equal(outcome.upstreamError, 'UND_ERR_HEADERS_TIMEOUT');
});

test('answers slowly but within timeoutMs: 200', async () => {
  const port = await tcpServer((socket) => {
    setTimeout(() => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nslow'), 150);
  });
  const fwd = new Forwarder({ timeoutMs: 3000 });
  try {
    const { fx, outcome } = await forwardOnce<ProxyOutcome>(fwd, target(port), { path: '/slow' });
    assert.equal(fx.status, 200);
    assert.equal(fx.bodyText, 'slow');
    assert.equal(outcome.code, undefined);
  } finally {
    await fwd.destroy();
  }
});

test('an early 1xx (103 Early Hints) is not forwarded; the final response is', async () => {
  const port = await tcpServer((socket) => socket.write('HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-final: 1\r\n\r\nok'));
  const fwd = new Forwarder();
  try {
    const { fx } = await forwardOnce<ProxyOutcome>(fwd, target(port), { path: '/' });
    assert.equal(fx.status, 200);
    assert.equal(fx.header('x-final'), '1');
    assert.equal(fx.header('link'), undefined);
    assert.equal(fx.bodyText, 'ok');
  } finally {
    await fwd.destroy();
  }
});

test('interim answers do not restart the route timeout: a 103 every 200 ms without a final head ends in 504 upstream request timeout, and the upstream connection is closed', { timeout: 10_000 }, async () => {
  let closedAt = 0;
  const started = performance.now();
  const port = await tcpServer((socket) => {
    const t = setInterval(() => socket.write('HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n'), 200);
    socket.on('close', () => {
      clearInterval(t);
      closedAt = performance.now();
    });
  });
  const outcome = await expectLocalReply(port, 'UPSTREAM_TIMEOUT', { timeoutMs: 1000 });
  assert.equal(outcome.status, 504);
  assert.equal(outcome.upstreamError, 'UND_ERR_HEADERS_TIMEOUT');
  await waitFor(() => closedAt > 0, 'the upstream connection to close');
  // The bound counts from the first 103 (~200 ms in) and is checked at each later one.
  assert.ok(closedAt - started < 3000, `closed after ${Math.round(closedAt - started)} ms`);
});

/** An upstream that sends `interims` 103s `everyMs` apart, then a 200 with body `ok`. */
function interimsThenOk(interims: number, everyMs: number): Promise<number> {
  return tcpServer((socket) => {
    let n = 0;
    const t = setInterval(() => {
      if (n++ < interims) return void socket.write('HTTP/1.1 103 Early Hints\r\n\r\n');
      clearInterval(t);
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    }, everyMs);
    socket.on('close', () => clearInterval(t));
  });
}

test('interim answers within the route timeout: the final head that follows them is forwarded', { timeout: 10_000 }, async () => {
  const port = await interimsThenOk(3, 200);
  const fwd = new Forwarder({ timeoutMs: 1000 });
  try {
    const { fx, outcome } = await forwardOnce<ProxyOutcome>(fwd, target(port), { path: '/' });
    assert.equal(fx.status, 200);
    assert.equal(fx.bodyText, 'ok');
    assert.equal(outcome.code, undefined);
  } finally {
    await fwd.destroy();
  }
});

test('a route whose bound is its stream idle timeout (a gap timer): each interim answer restarts it, so 103s every 100 ms for 700 ms then the final head pass a 300 ms idle bound', { timeout: 10_000 }, async () => {
  const port = await interimsThenOk(7, 100);
  const fwd = new Forwarder();
  try {
    const fx = new FakeExchange();
    let outcome: ProxyOutcome | undefined;
    fwd.forward(gatewayRequest({ path: '/' }), target(port), fx, (o) => (outcome = o), undefined, { timeouts: { requestMs: 10_000, idleMs: 300, origins: [] } });
    await fx.finished();
    assert.equal(fx.status, 200);
    assert.equal(fx.bodyText, 'ok');
    assert.equal(outcome?.code, undefined);
  } finally {
    await fwd.destroy();
  }
});

test('an early 1xx and then a close before the final head: the 503 local reply (connection termination), as no response has started; the 1xx is never written', async () => {
  const port = await tcpServer((socket) => {
    socket.write('HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n');
    setTimeout(() => socket.end(), 20);
  });
  const outcome = await expectLocalReply(port, 'UPSTREAM_UNAVAILABLE');
  assert.equal(outcome.status, 503);
});

async function expectDestroyedAfterHead(port: number, codes: ErrorCode[], opts: ForwarderOptions = {}): Promise<ProxyOutcome> {
  const fwd = new Forwarder(opts);
  try {
    const { fx, outcome } = await forwardOnce<ProxyOutcome>(fwd, target(port), { path: '/' });
    assert.equal(fx.state, 'destroyed', 'the client connection is closed: the status cannot change any more');
    assert.equal(fx.status, 200);
    assert.equal(outcome.status, 200);
    assert.equal(outcome.responseStarted, true);
    assert.ok(codes.includes(outcome.code!), `code ${outcome.code}`);
    return outcome;
  } finally {
    await fwd.destroy();
  }
}

test('dies mid-body after the head: client connection destroyed', async () => {
  const port = await tcpServer((socket) => {
    socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
    setImmediate(() => socket.destroy());
  });
  await expectDestroyedAfterHead(port, ['UPSTREAM_UNAVAILABLE', 'UPSTREAM_BAD_RESPONSE']);
});

test('resets mid chunked body: client connection destroyed', async () => {
  const port = await tcpServer((socket) => {
    socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n');
    setImmediate(() => socket.resetAndDestroy());
  });
  await expectDestroyedAfterHead(port, ['UPSTREAM_UNAVAILABLE']);
});

test('stalls mid-body longer than timeoutMs: client connection destroyed, UPSTREAM_TIMEOUT', async () => {
  const port = await tcpServer((socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial'));
  const outcome = await expectDestroyedAfterHead(port, ['UPSTREAM_TIMEOUT'], { timeoutMs: 300 });
  // Two bounds run out together here: undici's gap between body chunks, and the route timeout
  // over the whole response (the gateway's own tick); either may be first.
  assert.ok(['UND_ERR_BODY_TIMEOUT', 'ROUTE_TIMEOUT'].includes(outcome.upstreamError), outcome.upstreamError);
});

/**
 * A raw upstream that answers 200 chunked and sends `count` one-byte chunks 100 ms apart, then
 * the last chunk; `cutEarly()`: its connection closed before the last one was sent.
 */
async function drippingUpstream(count: number): Promise<{ port: number; cutEarly: () => boolean }> {
  let cut = false;
  const port = await tcpServer((socket) => {
    socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
    let sent = 0;
    const tick = setInterval(() => {
      socket.write('1\r\nx\r\n');
      if (++sent === count) {
        clearInterval(tick);
        socket.write('0\r\n\r\n');
      }
    }, 100);
    socket.on('close', () => {
      clearInterval(tick);
      cut = sent < count;
    });
  });
  return { port, cutEarly: () => cut };
}

test('an answer that keeps sending past the route timeout (no gap near it) is cut there: client connection destroyed, UPSTREAM_TIMEOUT, the upstream request cut', async () => {
  const up = await drippingUpstream(50);
  const fwd = new Forwarder({ timeoutMs: 1000 });
  try {
    const { fx, outcome } = await forwardOnce<ProxyOutcome>(fwd, target(up.port), { path: '/' });
    assert.equal(fx.state, 'destroyed');
    assert.equal(outcome.code, 'UPSTREAM_TIMEOUT');
    assert.equal(outcome.upstreamError, 'ROUTE_TIMEOUT');
    assert.ok(fx.body.length > 0 && fx.body.length < 50, `${fx.body.length} of 50 body bytes`);
    await waitFor(up.cutEarly, 'the upstream connection closed before its last chunk', 3000);
  } finally {
    await fwd.destroy();
  }
});

test('with no route timeout (timeoutMs 0) the same answer is forwarded whole', async () => {
  const up = await drippingUpstream(15);
  const fwd = new Forwarder({ timeoutMs: 0 });
  try {
    const { fx, outcome } = await forwardOnce<ProxyOutcome>(fwd, target(up.port), { path: '/' });
    assert.equal(fx.state, 'ended');
    assert.equal(outcome.code, undefined);
    assert.equal(fx.bodyText, 'x'.repeat(15));
    assert.equal(up.cutEarly(), false);
  } finally {
    await fwd.destroy();
  }
});

test('more body than content-length: the declared body is forwarded, the connection is not reused', async () => {
  const port = await tcpServer((socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA-BYTES'));
  const fwd = new Forwarder();
  try {
    const { fx } = await forwardOnce<ProxyOutcome>(fwd, target(port), { path: '/' });
    assert.equal(fx.status, 200);
    assert.equal(fx.bodyText, 'ok');
  } finally {
    await fwd.destroy();
  }
});

test('upstream answers before reading the request body, then closes: the answer is forwarded', async () => {
  const port = await tcpServer((socket) => socket.end('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\nconnection: close\r\n\r\nnope'));
  const fwd = new Forwarder();
  try {
    const { fx, outcome } = await forwardOnce<ProxyOutcome>(
      fwd,
      target(port),
      { method: 'POST', path: '/upload', headers: ['host', 'h', 'content-length', String(4 * 1024 * 1024)] },
      { body: Buffer.alloc(4 * 1024 * 1024) },
    );
    assert.equal(fx.status, 413);
    assert.equal(fx.bodyText, 'nope');
    assert.equal(outcome.code, undefined);
  } finally {
    await fwd.destroy();
  }
});

test('upstream resets during the upload: 503', async () => {
  const port = await tcpServer((socket) => socket.resetAndDestroy());
  const fwd = new Forwarder();
  try {
    const { fx, outcome } = await forwardOnce<ProxyOutcome>(
      fwd,
      target(port),
      { method: 'POST', path: '/upload', headers: ['host', 'h', 'transfer-encoding', 'chunked'] },
      { body: Buffer.alloc(4 * 1024 * 1024), chunked: true },
    );
    assert.equal(fx.status, 503);
    assert.equal(fx.bodyText, ERRORS.UPSTREAM_UNAVAILABLE.body);
    assert.equal(outcome.code, 'UPSTREAM_UNAVAILABLE');
  } finally {
    await fwd.destroy();
  }
});

test('failures on one endpoint do not affect the other endpoints of the same forwarder', async () => {
  const healthy = await tcpServer((socket) => {
    const answer = (): boolean => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    answer();
    socket.on('data', answer);
  });
  const garbage = await tcpServer((socket) => socket.end('garbage\r\n\r\n'));
  const refused = await closedPort();
  const fwd = new Forwarder();
  try {
    const t = target(refused, garbage, healthy);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await forwardOnce<ProxyOutcome>(fwd, t, { path: '/' })).fx.status);
    assert.deepEqual(statuses, [503, 502, 200, 503, 502, 200]);
    const s = fwd.stats();
    assert.equal(s.completed, 2);
    assert.deepEqual(s.errors, { UPSTREAM_UNAVAILABLE: 2, UPSTREAM_BAD_RESPONSE: 2 });
    assert.equal(s.inFlight, 0);
  } finally {
    await fwd.destroy();
  }
});

test('a wait for a free connection counts toward the route timeout, as Envoy\'s: with one connection to an upstream that never answers, three requests each get 504 about timeoutMs after their own dispatch, not one after the other', { timeout: 20_000 }, async () => {
  const port = await tcpServer(() => {});
  const fwd = new Forwarder({ timeoutMs: 1000, connections: 1 });
  try {
    const started = performance.now();
    const runs = [0, 1, 2].map(async () => {
      const { fx, outcome } = await forwardOnce<ProxyOutcome>(fwd, target(port), { path: '/never' });
      return { status: fx.status, body: fx.bodyText, outcome, ms: performance.now() - started };
    });
    const done = await Promise.all(runs);
    for (const [i, r] of done.entries()) {
      assert.equal(r.status, 504, `request ${i}`);
      assert.equal(r.body, 'upstream request timeout', `request ${i}`);
      assert.equal(r.outcome.code, 'UPSTREAM_TIMEOUT', `request ${i}`);
      // 1 s plus the 0.5 s ticks (undici's and the gateway's); one after the other they took ~1, ~2 and ~3 s.
      assert.ok(r.ms < 1900, `request ${i} answered after ${Math.round(r.ms)} ms`);
    }
    // The first went on the connection at once (undici's own head timer); the others waited.
    assert.equal(done[0]!.outcome.upstreamError, 'UND_ERR_HEADERS_TIMEOUT');
    assert.deepEqual(done.slice(1).map((r) => r.outcome.upstreamError), ['ROUTE_TIMEOUT', 'ROUTE_TIMEOUT']);
    assert.equal(fwd.stats().errors.UPSTREAM_TIMEOUT, 3);
  } finally {
    await fwd.destroy();
  }
});

test('a request still waiting for a connection on a route whose streamIdle is the shorter bound gets Envoy\'s 504 stream timeout at that bound, not at the route timeout', { timeout: 20_000 }, async () => {
  const port = await tcpServer(() => {});
  const fwd = new Forwarder({ connections: 1 });
  try {
    const started = performance.now();
    const one = () =>
      new Promise<{ fx: FakeExchange; outcome: ProxyOutcome; ms: number }>((resolve) => {
        const fx = new FakeExchange();
        fwd.forward(gatewayRequest({ path: '/never' }), target(port), fx, (o) => {
          const outcome = JSON.parse(JSON.stringify(o)) as ProxyOutcome;
          void fx.finished().then(() => resolve({ fx, outcome, ms: performance.now() - started }));
        }, undefined, { timeouts: { requestMs: 5000, idleMs: 600, origins: [] } });
      });
    const [first, second] = await Promise.all([one(), one()]);
    for (const r of [first!, second!]) {
      assert.equal(r.fx.status, 504);
      assert.equal(r.fx.bodyText, 'stream timeout');
      assert.equal(r.outcome.code, 'STREAM_IDLE_TIMEOUT');
    }
    assert.equal(second!.outcome.upstreamError, 'ROUTE_TIMEOUT', 'the second waited for the connection and was bounded by the tick');
    // 600 ms plus the 0.5 s ticks (undici's and the gateway's), far from the 5 s route timeout.
    assert.ok(second!.ms < 1900, `answered after ${Math.round(second!.ms)} ms`);
  } finally {
    await fwd.destroy();
  }
});

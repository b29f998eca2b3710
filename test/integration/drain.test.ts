// Stopping under load (a rolling deploy behind a pooling load balancer): during the drain every
// answer says `Connection: close` (Envoy's drain), the connections close only once nothing has
// been in flight and no request has come for a while, so no request a keep-alive client already
// sent is lost; keys fetched during the drain are used; requests cut at its end are DRAIN_CLOSED.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startHarness } from '../helpers/harness.js';
import { seedManifestsDir } from '../helpers/paths.js';
import { request } from '../helpers/http-client.js';
import { captureLog, withSlowRotation } from '../helpers/remote-jwks.js';
import { waitFor } from '../helpers/jwks-server.js';

test('SIGTERM-style stop under keep-alive load: every request a client sent is answered (with Connection: close once draining), none is lost at the close', { timeout: 30_000 }, async () => {
  const h = await startHarness({});
  const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
  const counts = { ok: 0, closeHeader: 0, refused: 0, lost: 0 };
  let stopping = false;
  const once = () =>
    new Promise<void>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: h.port, path: '/anything', method: 'POST', agent, headers: { host: 'www.example.com', 'content-type': 'text/plain' } }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) counts.ok++;
          if (stopping && res.headers['connection'] === 'close') counts.closeHeader++;
          resolve();
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNREFUSED') counts.refused++;
        else counts.lost++;
        resolve();
      });
      req.end('x'.repeat(512));
    });
  const worker = async () => {
    // Until the listener refuses: a request after the stop goes out on a new connection then.
    for (let i = 0; i < 5000 && counts.refused === 0; i++) await once();
  };
  const workers = Array.from({ length: 20 }, worker);
  // Under load: 100 answered first (a fixed wait left too few on a busy machine).
  await waitFor(() => counts.ok >= 100, '100 requests answered before the stop', 10_000);
  stopping = true;
  const started = Date.now();
  await h.gateway.stop(5000);
  await Promise.all(workers);
  agent.destroy();
  await h.close();
  assert.ok(counts.ok > 100, `requests answered during the drain too: ${JSON.stringify(counts)}`);
  assert.equal(counts.lost, 0, `requests sent on a keep-alive connection and never answered: ${JSON.stringify(counts)}`);
  assert.ok(counts.closeHeader >= 1, `answers during the drain say Connection: close: ${JSON.stringify(counts)}`);
  assert.ok(Date.now() - started < 5000, 'the drain ended once it was quiet, before its deadline');
});

test('an idle gateway stops after the quiet period, not its whole drain period; stop(0) at once', { timeout: 30_000 }, async () => {
  const h = await startHarness({});
  const t0 = Date.now();
  await h.gateway.stop(5000);
  const took = Date.now() - t0;
  await h.close();
  assert.ok(took >= 900 && took < 3000, `stopped after ${took} ms`);
});

test('during the drain a kid-miss refetch that brings the new key is used (the token got 401 when keys fetched after the stop were thrown away)', { timeout: 30_000 }, async () => {
  // The IdP rotates in k2 and is slow to answer the refetch the k2 token sets off.
  await withSlowRotation(800, {}, async (h, _log, k2Token) => {
    const pending = request({ port: h.port, headers: { authorization: `Bearer ${k2Token}` } });
    await new Promise((r) => setTimeout(r, 200));
    const stopping = h.gateway.stop(5000);
    const res = await pending;
    assert.equal(res.status, 200, res.body);
    assert.equal(res.headers['connection'], 'close');
    await stopping;
  });
});

test('a JWT check that waits longer than the quiet period (a slow kid-miss refetch) keeps the drain open: the request is answered, not cut', { timeout: 30_000 }, async () => {
  // The refetch takes longer than the 1 s quiet period: nothing is at the upstream meanwhile.
  await withSlowRotation(1800, {}, async (h, log, k2Token) => {
    const pending = request({ port: h.port, headers: { authorization: `Bearer ${k2Token}` } }).catch((err: Error) => err);
    await new Promise((r) => setTimeout(r, 100));
    await h.gateway.stop(5000);
    const res = await pending;
    assert.ok(!(res instanceof Error), `cut by the drain: ${String(res)}`);
    assert.equal(res.status, 200, res.body);
    assert.equal(log.find('drain period over').length, 0);
  });
});

test('a request cut by the end of the drain while its JWT check waits (a kid-miss refetch) is DRAIN_CLOSED, not CLIENT_CLOSED', { timeout: 30_000 }, async () => {
  await withSlowRotation(3000, { accessLog: true }, async (h, log, k2Token) => {
    const pending = request({ port: h.port, headers: { authorization: `Bearer ${k2Token}` } }).catch((err: Error) => err);
    await new Promise((r) => setTimeout(r, 200));
    await h.gateway.stop(500);
    assert.ok((await pending) instanceof Error, 'the connection was closed under the request');
    for (let i = 0; i < 100 && !/jwtgate_requests_total\{result="DRAIN_CLOSED"\} 1\n/.test(h.gateway.renderMetrics()); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(h.gateway.renderMetrics(), /jwtgate_requests_total\{result="DRAIN_CLOSED"\} 1\n/);
    assert.match(h.gateway.renderMetrics(), /jwtgate_requests_total\{result="CLIENT_CLOSED"\} 0\n/);
    assert.equal(log.find('drain period over')[0]?.['requests'], 1);
    assert.deepEqual(log.lines.filter((l) => l['msg'] === 'request' && l['result'] !== 'OK').map((l) => [l['status'], l['result']]), [[499, 'DRAIN_CLOSED']]);
  });
});

test('requests that keep arriving on an open keep-alive connection keep the drain open: each is answered (with Connection: close) until the client stops sending', { timeout: 30_000 }, async () => {
  const h = await startHarness({});
  try {
    const sock = net.connect(h.port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    let got = '';
    sock.on('data', (d) => (got += d.toString('latin1')));
    sock.on('error', () => {});
    const answers = () => (got.match(/HTTP\/1\.1 /g) ?? []).length;
    const send = () => sock.write('GET /nope HTTP/1.1\r\nHost: unknown.example\r\n\r\n');
    send();
    for (let i = 0; i < 100 && answers() < 1; i++) await new Promise((r) => setTimeout(r, 10));
    const stopping = h.gateway.stop(5000);
    // One request every 250 ms for 2 s: longer than the 1 s quiet period, well within the 5 s deadline.
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 250));
      send();
    }
    await stopping;
    sock.destroy();
    assert.equal(answers(), 9, got);
    assert.equal((got.match(/\r\nconnection: close\r\n/gi) ?? []).length, 8, 'every answer during the drain says Connection: close');
  } finally {
    await h.close();
  }
});

test('requests still in flight at the end of the drain are DRAIN_CLOSED (metric and access log), with one warning; not CLIENT_CLOSED', { timeout: 30_000 }, async () => {
  const log = captureLog();
  const h = await startHarness({ gateway: { logger: log.logger, accessLog: true } });
  try {
    const slow = request({ port: h.port, path: '/delay/3000' }).catch((err: Error) => err);
    await new Promise((r) => setTimeout(r, 200));
    await h.gateway.stop(500);
    assert.ok((await slow) instanceof Error, 'the connection was closed under the request');
    const warn = log.find('drain period over');
    assert.equal(warn.length, 1);
    assert.equal(warn[0]!['requests'], 1);
    assert.match(h.gateway.renderMetrics(), /jwtgate_requests_total\{result="DRAIN_CLOSED"\} 1\n/);
    assert.match(h.gateway.renderMetrics(), /jwtgate_requests_total\{result="CLIENT_CLOSED"\} 0\n/);
    const access = log.lines.filter((l) => l['msg'] === 'request' && l['path'] === '/delay/3000');
    assert.deepEqual(access.map((l) => [l['status'], l['result']]), [[499, 'DRAIN_CLOSED']]);
  } finally {
    await h.close();
  }
});

test('during the drain, answers on open keep-alive connections carry exactly one Connection: close: a local 404, a proxied fixed-length answer and a proxied chunked stream (whose body stays intact)', { timeout: 30_000 }, async () => {
  const h = await startHarness({});
  const open = async () => {
    const sock = net.connect(h.port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const c = { sock, got: '' };
    sock.on('data', (d) => (c.got += d.toString('latin1')));
    sock.on('error', () => {});
    return c;
  };
  const waitFor = async (c: { got: string }, re: RegExp) => {
    for (let i = 0; i < 300 && !re.test(c.got); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(c.got, re);
  };
  // Three keep-alive connections, each used once before the stop.
  const conns = [await open(), await open(), await open()];
  for (const c of conns) {
    c.sock.write('GET /get HTTP/1.1\r\nHost: www.example.com\r\n\r\n');
    await waitFor(c, /\r\n\r\n\{/);
    await new Promise((r) => setTimeout(r, 50));
    c.got = '';
  }
  const stopping = h.gateway.stop(5000);
  const reqs = ['GET /get HTTP/1.1\r\nHost: nowhere.example\r\n\r\n', 'GET /get HTTP/1.1\r\nHost: www.example.com\r\n\r\n', 'GET /stream/3 HTTP/1.1\r\nHost: www.example.com\r\n\r\n'];
  conns.forEach((c, i) => c.sock.write(reqs[i]!));
  await waitFor(conns[0]!, /^HTTP\/1\.1 404 [\s\S]*\r\n\r\n$/);
  await waitFor(conns[1]!, /\r\n\r\n\{[\s\S]*\}\n$/);
  await waitFor(conns[2]!, /\r\n0\r\n\r\n$/);
  const answers = conns.map((c) => c.got);
  for (const c of conns) c.sock.destroy();
  await stopping;
  await h.close();
  for (const a of answers) assert.equal(a.match(/\r\nconnection: close\r\n/gi)?.length, 1, a);
  assert.match(answers[0]!, /^HTTP\/1\.1 404 /);
  assert.match(answers[1]!, /^HTTP\/1\.1 200 /);
  const chunked = answers[2]!;
  assert.match(chunked, /^HTTP\/1\.1 200 /);
  assert.match(chunked, /\r\ntransfer-encoding: chunked\r\n/i);
  assert.doesNotMatch(chunked.slice(chunked.indexOf('\r\n\r\n') + 4), /Connection: close/i, 'nothing written into the body');
});

test('during the drain, pipelined requests the gateway answers itself are all answered, each with Connection: close (a close per answer dropped them both)', { timeout: 30_000 }, async () => {
  const h = await startHarness({});
  const sock = net.connect(h.port, '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', () => r()));
  let got = '';
  sock.on('data', (d) => (got += d.toString('latin1')));
  sock.on('error', () => {});
  const stopping = h.gateway.stop(5000);
  sock.write('GET /a HTTP/1.1\r\nHost: nowhere.example\r\n\r\nGET /b HTTP/1.1\r\nHost: nowhere.example\r\n\r\n');
  for (let i = 0; i < 200 && (got.match(/HTTP\/1\.1 404/g)?.length ?? 0) < 2; i++) await new Promise((r) => setTimeout(r, 10));
  sock.destroy();
  await stopping;
  await h.close();
  assert.equal(got.match(/HTTP\/1\.1 404 Not Found\r\n/g)?.length, 2, got);
  assert.equal(got.match(/\r\nconnection: close\r\n/gi)?.length, 2, got);
});

test('an answer to a client that sent Connection: close says so (uWS writes its own header only when the client did not ask)', { timeout: 30_000 }, async () => {
  const h = await startHarness({});
  try {
    for (const req of ['GET /x HTTP/1.1\r\nHost: nowhere.example\r\nConnection: close\r\n\r\n', 'GET /get HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n']) {
      const got = await new Promise<string>((resolve) => {
        const s = net.connect(h.port, '127.0.0.1', () => s.write(req));
        let text = '';
        s.on('data', (d) => (text += d.toString('latin1')));
        s.on('error', () => {});
        s.on('close', () => resolve(text));
      });
      assert.equal(got.match(/\r\nconnection: close\r\n/gi)?.length, 1, got);
    }
  } finally {
    await h.close();
  }
});

test('a stop that starts while an early 401 lingers for the rest of its upload (a body that never comes) waits for it: the client gets its 401 with Connection: close, then the drain ends after its quiet period, not at its deadline', { timeout: 30_000 }, async () => {
  const h = await startHarness({ manifests: [readFileSync(path.join(seedManifestsDir, '01-basic-jwt.yaml'), 'utf8')] });
  try {
    const missing = () => h.gateway.metrics.get('jwtgate_requests_total', 'JWT_MISSING');
    const before = missing();
    let answeredAt = 0;
    const sock = net.connect(h.port, '127.0.0.1');
    const answer = new Promise<string>((resolve) => {
      let text = '';
      sock.on('data', (d) => {
        text += d.toString('latin1');
        answeredAt ||= Date.now();
      });
      sock.on('error', () => {});
      sock.on('close', () => resolve(text));
    });
    await new Promise((r) => sock.once('connect', r));
    // 3 of 100 body bytes, no token: the 401 is decided at once and lingers (~1 s) for the other 97, which never come.
    sock.write('POST /headers HTTP/1.1\r\nHost: www.example.com:8080\r\nContent-Length: 100\r\n\r\nabc');
    for (let i = 0; i < 200 && missing() === before; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(missing(), before + 1, 'the 401 was decided');
    const t0 = Date.now();
    await h.gateway.stop(5000);
    const stoppedAt = Date.now();
    const text = await answer;
    assert.match(text, /^HTTP\/1\.1 401 /, `the client got its 401, not a closed connection: ${JSON.stringify(text)}`);
    assert.match(text, /\r\nconnection: close\r\n/i);
    assert.ok(text.endsWith('\r\n\r\nJwt is missing'), text);
    assert.ok(answeredAt > 0 && answeredAt <= stoppedAt, 'answered before the stop ended');
    assert.ok(stoppedAt - t0 < 4000, `the drain ended after its quiet period, not at its 5 s deadline: ${stoppedAt - t0} ms`);
    assert.equal(h.echo.received.length, 0, 'the upstream never saw the request');
  } finally {
    await h.close();
  }
});

// The access log (--access-log): one JSON line per request, proxied or denied, with method, path,
// status and result code, and never the token.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { seedManifestsDir, sampleTokenPath } from '../helpers/paths.js';
import { startHarness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { createLogger } from '../../src/observability/log.js';

const TOKEN = readFileSync(sampleTokenPath, 'utf8').trim();
const basic = readFileSync(path.join(seedManifestsDir, '01-basic-jwt.yaml'), 'utf8');

test('access log lines for a proxied and a denied request, without the token', async () => {
  const lines: string[] = [];
  const h = await startHarness({ manifests: [basic], gateway: { accessLog: true, logger: createLogger('info', (l) => lines.push(l)) } });
  try {
    assert.equal((await request({ port: h.port, path: `/anything?access_token=${TOKEN}` })).status, 200);
    assert.equal((await request({ port: h.port, path: '/headers', headers: { authorization: 'Bearer a.b.c' } })).status, 401);
    // The proxied line is written when the upstream exchange completes.
    for (let i = 0; i < 50 && lines.filter((l) => l.includes('"msg":"request"')).length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    const entries = lines.map((l) => JSON.parse(l)).filter((e) => e.msg === 'request');
    const ok = entries.find((e) => e.status === 200);
    assert.ok(ok, 'a line for the proxied request');
    assert.equal(ok.method, 'GET');
    assert.equal(ok.path, '/anything');
    assert.equal(ok.result, 'OK');
    assert.match(ok.route, /^httpbin\/httpbin\//);
    const denied = entries.find((e) => e.status === 401);
    assert.ok(denied, 'a line for the denied request');
    assert.equal(denied.result, 'JWT_HEADER_PARSE_ERROR_BAD_BASE64');
    for (const l of lines) assert.ok(!l.includes(TOKEN.split('.')[2]!), 'no token material in any log line');
  } finally {
    await h.close();
  }
});

test('a client that goes away while its request waits for the upstream: one line, result CLIENT_CLOSED, status 499', async () => {
  const lines: string[] = [];
  const h = await startHarness({ manifests: [basic], gateway: { accessLog: true, logger: createLogger('info', (l) => lines.push(l)) } });
  try {
    const sock = net.connect(h.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write(`GET /delay/2000 HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
    for (let i = 0; i < 100 && h.echo.received.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    sock.destroy();
    const closed = () => lines.map((l) => JSON.parse(l)).filter((e) => e.msg === 'request' && e.result === 'CLIENT_CLOSED');
    for (let i = 0; i < 100 && closed().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(closed().length, 1);
    assert.equal(closed()[0].status, 499);
    assert.equal(closed()[0].path, '/delay/2000');
  } finally {
    await h.close();
  }
});

test('logged host and path: a fragment is never written (a token after #), and each is cut at 256 characters', async () => {
  const lines: string[] = [];
  const h = await startHarness({ manifests: [basic], gateway: { accessLog: true, logger: createLogger('info', (l) => lines.push(l)) } });
  try {
    const raw = async (head: string): Promise<string> => {
      const sock = net.connect(h.port, '127.0.0.1');
      let got = '';
      sock.on('data', (d) => (got += d.toString('latin1')));
      sock.write(head);
      for (let i = 0; i < 200 && !/\r\n\r\n/.test(got); i++) await new Promise((r) => setTimeout(r, 10));
      sock.destroy();
      return got;
    };
    assert.match(await raw(`GET /callback#access_token=${TOKEN} HTTP/1.1\r\nHost: www.example.com:8080\r\n\r\n`), /^HTTP\/1\.1 400 /);
    const longPath = `/anything/${'a'.repeat(3000)}`;
    const longHost = `${'h'.repeat(3000)}.example.com`;
    assert.match(await raw(`GET ${longPath} HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`), /^HTTP\/1\.1 200 /);
    assert.match(await raw(`GET /headers HTTP/1.1\r\nHost: ${longHost}\r\n\r\n`), /^HTTP\/1\.1 404 /);
    const entries = () => lines.map((l) => JSON.parse(l)).filter((e) => e.msg === 'request');
    for (let i = 0; i < 100 && entries().length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    const [frag, proxied, unknown] = entries();
    assert.equal(frag.status, 400);
    assert.equal(frag.path, '/callback');
    assert.equal(proxied.status, 200);
    assert.equal(proxied.path, `${longPath.slice(0, 256)}...`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.host, `${longHost.slice(0, 256)}...`);
    for (const l of lines) {
      assert.ok(!l.includes(TOKEN.split('.')[2]!), 'no token material in any log line');
      assert.ok(l.length < 1500, `a short line: ${l.length}`);
    }
  } finally {
    await h.close();
  }
});

test('logged host of an IPv6 literal: without a port it is kept whole ([::1], not cut at its last colon), with a port the port is cut ([::1]:8080 is [::1]), in lower case', async () => {
  const lines: string[] = [];
  const h = await startHarness({ manifests: [basic], gateway: { accessLog: true, logger: createLogger('info', (l) => lines.push(l)) } });
  try {
    const hosts = ['[::1]', '[::1]:8080', '[FE80::1]', '[FE80::1]:8080'];
    for (const host of hosts) {
      const res = await request({ port: h.port, path: '/headers', headers: { host } });
      assert.equal(res.status, 404, `${host}: no route for an IP literal`);
    }
    const entries = () => lines.map((l) => JSON.parse(l)).filter((e) => e.msg === 'request');
    for (let i = 0; i < 100 && entries().length < hosts.length; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(
      entries().map((e) => [e.host, e.status, e.result, e.path]),
      [
        ['[::1]', 404, 'ROUTE_NOT_FOUND', '/headers'],
        ['[::1]', 404, 'ROUTE_NOT_FOUND', '/headers'],
        ['[fe80::1]', 404, 'ROUTE_NOT_FOUND', '/headers'],
        ['[fe80::1]', 404, 'ROUTE_NOT_FOUND', '/headers'],
      ],
    );
  } finally {
    await h.close();
  }
});

test('request duration: durationMs in each access-log line and jwtgate_request_duration_seconds in /metrics, for proxied and local answers', async () => {
  const lines: string[] = [];
  const h = await startHarness({ manifests: [basic], gateway: { accessLog: true, logger: createLogger('info', (l) => lines.push(l)) } });
  try {
    const before = h.gateway.metrics.requestDuration.count;
    assert.equal((await request({ port: h.port, path: '/delay/300', headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
    assert.equal((await request({ port: h.port, path: '/headers' })).status, 401);
    const entries = () => lines.map((l) => JSON.parse(l)).filter((e) => e.msg === 'request');
    for (let i = 0; i < 100 && entries().length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    const proxied = entries().find((e) => e.status === 200);
    const denied = entries().find((e) => e.status === 401);
    assert.ok(proxied.durationMs >= 300 && proxied.durationMs < 10_000, `proxied durationMs ${proxied.durationMs}`);
    assert.ok(denied.durationMs >= 0 && denied.durationMs < proxied.durationMs, `denied durationMs ${denied.durationMs}`);
    const hist = h.gateway.metrics.requestDuration;
    assert.equal(hist.count - before, 2);
    // The delayed request is above the 250 ms bound, the 401 (on an idle machine) far below it.
    assert.equal(hist.countAtMost(250), 1);
    assert.equal(hist.countAtMost(10_000), 2);
    const text = h.gateway.renderMetrics();
    assert.match(text, /^# TYPE jwtgate_request_duration_seconds histogram$/m);
    assert.match(text, /^jwtgate_request_duration_seconds_bucket\{le="0.25"\} 1$/m);
    assert.match(text, /^jwtgate_request_duration_seconds_bucket\{le="\+Inf"\} 2$/m);
    assert.match(text, /^jwtgate_request_duration_seconds_count 2$/m);
    const sum = Number(/^jwtgate_request_duration_seconds_sum (\S+)$/m.exec(text)![1]);
    assert.ok(sum >= 0.3 && sum < 10, `sum ${sum} s`);
  } finally {
    await h.close();
  }
});

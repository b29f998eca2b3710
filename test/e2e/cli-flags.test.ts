// `serve` flags as a user types them: `--log-level=warn` (the = form) is honoured, a bad value is a
// usage error (exit 2), and bad flags are refused before anything is started.
import test from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../helpers/jwks-server.js';
import { cliPath, startCli as run, waitForLogLine, waitReady } from '../helpers/cli.js';
import { repoRoot } from '../helpers/paths.js';
import { spawn } from 'node:child_process';
import { request } from '../helpers/http-client.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

test('serve --log-level=warn: no info lines (the = form of the flag)', { timeout: 60_000 }, async () => {
  const [port, adminPort] = [await freePort(), await freePort()];
  const p = run(['serve', '--config', 'config/default', '--port-map', `8080=${port}`, '--host', '127.0.0.1', '--admin', `127.0.0.1:${adminPort}`, '--log-level=warn']);
  await waitReady(`http://127.0.0.1:${adminPort}/ready`, 20_000, p);
  p.kill();
  assert.equal(await p.exited, 0, p.output());
  assert.doesNotMatch(p.output(), /"level":"info"/);
});

test('serve --access-log with --log-level=warn: the access log is still written, one line per request, 431s included', { timeout: 60_000 }, async () => {
  const [port, adminPort] = [await freePort(), await freePort()];
  const p = run(['serve', '--config', 'config/default', '--port-map', `8080=${port}`, '--host', '127.0.0.1', '--admin', `127.0.0.1:${adminPort}`, '--log-level=warn', '--access-log', '--max-request-headers-bytes', '8192']);
  await waitReady(`http://127.0.0.1:${adminPort}/ready`, 20_000, p);
  const denied = await request({ port, path: '/headers?secret=1' });
  assert.equal(denied.status, 401);
  const big = await request({ port, path: '/headers', headers: { 'x-big': 'a'.repeat(9000) } });
  assert.equal(big.status, 431);
  await new Promise((r) => setTimeout(r, 200));
  p.kill();
  assert.equal(await p.exited, 0, p.output());
  const lines = p.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const access = lines.filter((e) => e.msg === 'request');
  assert.deepEqual(access.map((e) => [e.status, e.result, e.path, e.host]), [[401, 'JWT_MISSING', '/headers', 'www.example.com'], [431, 'REQUEST_HEADERS_TOO_LARGE', '/headers', 'www.example.com']]);
  assert.deepEqual(lines.filter((e) => e.level === 'info' && e.msg !== 'request'), [], 'other info lines stay silenced');
});

test('--echo-upstream on a port no Backend points at is warned about (the default Backend stays on 18000: every proxied request got 503, silently); on the Backend\'s port it is not', { timeout: 60_000 }, async () => {
  const [port, adminPort, echoPort] = [await freePort(), await freePort(), await freePort()];
  const p = run(['serve', '--config', 'config/default', '--port-map', `8080=${port}`, '--host', '127.0.0.1', '--admin', `127.0.0.1:${adminPort}`, '--echo-upstream', `127.0.0.1:${echoPort}`]);
  await waitReady(`http://127.0.0.1:${adminPort}/ready`, 20_000, p);
  p.kill();
  assert.equal(await p.exited, 0, p.output());
  const warned = p.output().split('\n').filter((l) => l.includes('--echo-upstream listens on a port no Backend'));
  assert.equal(warned.length, 1, p.output());
  assert.equal(JSON.parse(warned[0]!).port, echoPort);
  // The same with a configuration whose Backend is on the echo upstream's port: no warning.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-echo-'));
  try {
    for (const f of ['00-gateway.yaml', '10-jwt.yaml']) writeFileSync(path.join(dir, f), readFileSync(path.join(repoRoot, 'config/default', f), 'utf8').replace('port: 18000', `port: ${echoPort}`));
    const q = run(['serve', '--config', dir, '--port-map', `8080=${port}`, '--host', '127.0.0.1', '--admin', `127.0.0.1:${adminPort}`, '--echo-upstream', `127.0.0.1:${echoPort}`]);
    await waitReady(`http://127.0.0.1:${adminPort}/ready`, 20_000, q);
    q.kill();
    assert.equal(await q.exited, 0, q.output());
    assert.doesNotMatch(q.output(), /--echo-upstream listens on a port no Backend/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve --log-level=loud is a usage error', async () => {
  const p = run(['serve', '--config', 'config/default', '--log-level=loud']);
  assert.equal(await p.exited, 2);
  assert.match(p.output(), /--log-level must be debug, info, warn or error, got "loud"/);
});

test('a bad flag is refused before the echo upstream starts', async () => {
  const echoPort = await freePort();
  const p = run(['serve', '--config', 'config/default', '--echo-upstream', `127.0.0.1:${echoPort}`, '--verify-threads', '0']);
  assert.equal(await p.exited, 2);
  assert.match(p.output(), /--verify-threads/);
  assert.doesNotMatch(p.output(), /echo upstream listening/);
});

test('--upstream-max-connections and --upstream-max-pending: bad values are usage errors naming the flag', async () => {
  for (const [flag, value, expected] of [
    ['--upstream-max-connections', '0', /--upstream-max-connections expects a positive integer, got "0"/],
    ['--upstream-max-pending', '-1', /--upstream-max-pending expects an integer ≥ 0, got "-1"/],
    ['--upstream-max-pending', 'lots', /--upstream-max-pending expects an integer ≥ 0, got "lots"/],
  ] as const) {
    const p = run(['serve', '--config', 'config/default', `${flag}=${value}`]);
    assert.equal(await p.exited, 2, p.output());
    assert.match(p.output(), expected);
  }
});

test('--max-request-body-bytes: a declared or streamed body over it gets 413 request body too large, one within it is proxied; a bad value is a usage error naming the flag', { timeout: 60_000 }, async () => {
  const [port, adminPort, echoPort] = [await freePort(), await freePort(), await freePort()];
  const token = readFileSync(path.join(repoRoot, 'config', 'examples', 'sample-token.txt'), 'utf8').trim();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-body-'));
  for (const f of ['00-gateway.yaml', '10-jwt.yaml']) writeFileSync(path.join(dir, f), readFileSync(path.join(repoRoot, 'config/default', f), 'utf8').replace('port: 18000', `port: ${echoPort}`));
  const p = run(['serve', '--config', dir, '--port-map', `8080=${port}`, '--host', '127.0.0.1', '--admin', `127.0.0.1:${adminPort}`, '--echo-upstream', `127.0.0.1:${echoPort}`, '--max-request-body-bytes', '1000']);
  try {
    await waitReady(`http://127.0.0.1:${adminPort}/ready`, 20_000, p);
    const headers = { host: 'www.example.com', authorization: `Bearer ${token}` };
    const over = await request({ port, path: '/anything', method: 'POST', headers, body: 'x'.repeat(1001) });
    assert.equal(over.status, 413);
    assert.equal(over.body, 'request body too large');
    const streamed = await request({ port, path: '/anything', method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' }, body: 'x'.repeat(4096) });
    assert.equal(streamed.status, 413);
    const within = await request({ port, path: '/anything', method: 'POST', headers, body: 'x'.repeat(1000) });
    assert.equal(within.status, 200);
    assert.equal((JSON.parse(within.body) as { data: string }).data, 'x'.repeat(1000));
    // A chunked upload that passes the limit after the head (in later reads, the upstream request
    // already sent): 413, and the connection closes instead of reading the rest of an endless body.
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    sock.on('data', (d) => (got += d.toString('latin1')));
    const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
    sock.on('error', () => {});
    sock.write(`POST /anything HTTP/1.1\r\nHost: www.example.com\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = `${(600).toString(16)}\r\n${'y'.repeat(600)}\r\n`;
    const pump = setInterval(() => { if (!sock.destroyed) sock.write(chunk); }, 20);
    const open = await Promise.race([closed.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 15_000).unref())]);
    clearInterval(pump);
    sock.destroy();
    assert.equal(open, false, `the connection stayed open, reading the body (got: ${got.slice(0, 80)})`);
    assert.match(got, /^HTTP\/1\.1 413 /);
    assert.match(got, /request body too large$/);
    assert.match(got, /\r\nConnection: close\r\n/i);
  } finally {
    p.kill();
    await p.exited;
    rmSync(dir, { recursive: true, force: true });
  }
  for (const value of ['-1', '1k', '']) {
    const q = run(['serve', '--config', 'config/default', `--max-request-body-bytes=${value}`]);
    assert.equal(await q.exited, 2, q.output());
    assert.match(q.output(), /--max-request-body-bytes expects an integer ≥ 0/);
  }
});

test('an empty or non-decimal port in --port-map, --admin or --echo-upstream, a number flag that is not decimal digits, or an empty --host or --cluster-domain is a usage error, not "any free port"', async () => {
  for (const args of [
    ['--port-map', '8080='],
    ['--port-map', '=8080'],
    ['--port-map', '8080=0x10'],
    ['--port-map', '8080=1=2'],
    ['--admin', '127.0.0.1:'],
    ['--admin', '127.0.0.1:1e3'],
    ['--echo-upstream', '127.0.0.1:'],
    ['--verify-threads', '0x10'],
    ['--upstream-timeout-ms', '1e3'],
    ['--upstream-max-pending', ' 5'],
    ['--host', ''],
    ['--host', 'a b'],
    ['--cluster-domain', ''],
    ['--cluster-domain', 'a b'],
    ['--cluster-domain', 'ex:80'],
  ]) {
    const p = run(['serve', '--config', 'config/default', ...args]);
    assert.equal(await p.exited, 2, `${args.join(' ')}: ${p.output()}`);
    assert.match(p.output(), new RegExp(`${args[0]} expects`));
    assert.doesNotMatch(p.output(), /listening/);
  }
});

test('--host: a name that does not resolve is a usage error naming it; an address that is not this machine\'s says so', { timeout: 30_000 }, async () => {
  const p = run(['serve', '--config', 'config/default', '--host', 'no-such-host.invalid']);
  assert.equal(await p.exited, 2, p.output());
  assert.match(p.output(), /--host no-such-host\.invalid does not resolve \(ENOTFOUND\)/);
  assert.doesNotMatch(p.output(), /listening/);
  const q = run(['serve', '--config', 'config/default', '--host', '192.0.2.1', '--port-map', '8080=0']);
  assert.equal(await q.exited, 1, q.output());
  assert.match(q.output(), /cannot listen on 192\.0\.2\.1:0 \(Gateway listener port 8080\): the port is in use or not permitted, or the address is not one of this machine's/);
});

test('--log-level with a name Object.prototype has (constructor, toString) is a usage error', { timeout: 30_000 }, async () => {
  for (const level of ['constructor', 'toString', '__proto__']) {
    const p = run(['serve', '--config', 'config/default', `--log-level=${level}`]);
    assert.equal(await p.exited, 2, p.output());
    assert.match(p.output(), /--log-level must be debug, info, warn or error/);
  }
});

test('check writes its whole report to a pipe before exiting (a report over 64 KiB used to be cut, errors and all)', { timeout: 60_000 }, async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-bigcheck-'));
  const maps = Array.from({ length: 400 }, (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: map-${i}-${'x'.repeat(100)} }\ndata: { a: b }\n`);
  maps.push('apiVersion: gateway.kgateway.dev/v1alpha1\nkind: GatewayExtension\nmetadata: { name: broken }\nspec: { jwt: { providers: [{ name: p, jwks: { local: { inline: nope } } }] } }\n');
  maps.push('apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: gw }\nspec: { gatewayClassName: kgateway, listeners: [{ name: http, protocol: HTTP, port: 8080 }] }\n');
  writeFileSync(path.join(dir, 'all.yaml'), maps.join('---\n'));
  try {
    for (const output of ['text', 'json']) {
      const p = run(['check', '--config', dir, '--output', output]);
      assert.equal(await p.exited, 1);
      const out = p.output();
      assert.ok(out.length > 65_536, `${output}: ${out.length} bytes`);
      if (output === 'json') assert.equal(JSON.parse(out).problems.filter((x: { severity: string }) => x.severity === 'error').length, 1);
      else assert.match(out, /402 resources?, 1 error/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve --help and check --help print the usage and exit 0; --verify-threads above 256 is a usage error', async () => {
  for (const args of [['serve', '--help'], ['check', '-h']]) {
    const p = run(args);
    assert.equal(await p.exited, 0, args.join(' '));
    assert.match(p.output(), /^Usage:/);
  }
  const p = run(['serve', '--config', 'config/default', '--verify-threads', '100000']);
  assert.equal(await p.exited, 2);
  assert.match(p.output(), /--verify-threads must be at most 256/);
});

test('version and --version print package.json\'s version (exit 0); no command prints the usage and exits 2; an unknown command is a usage error naming it (exit 2)', async () => {
  const { version } = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  for (const args of [['version'], ['--version']]) {
    const p = run(args);
    assert.equal(await p.exited, 0, args.join(' '));
    assert.equal(p.output(), `${version}\n`);
  }
  const none = run([]);
  assert.equal(await none.exited, 2);
  assert.match(none.output(), /^Usage:/);
  const unknown = run(['serv', '--config', 'config/default']);
  assert.equal(await unknown.exited, 2);
  assert.match(unknown.output(), /^jwtgate: unknown command "serv"\n\nUsage:/);
});

test('an admin port already in use stops the start with a message naming it and the reason (exit 1), before any listener', async () => {
  const [adminPort, echoPort] = [await freePort(), await freePort()];
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(adminPort, '127.0.0.1', r));
  try {
    const p = run(['serve', '--config', 'config/default', '--port-map', '8080=0', '--echo-upstream', `127.0.0.1:${echoPort}`, '--admin', `127.0.0.1:${adminPort}`]);
    assert.equal(await p.exited, 1, p.output());
    assert.match(p.output(), new RegExp(`\\njwtgate: cannot start admin server on 127\\.0\\.0\\.1:${adminPort}: listen EADDRINUSE: address already in use`));
    assert.doesNotMatch(p.output(), /"msg":"listening"/);
  } finally {
    await new Promise((r) => holder.close(r));
  }
});

test('serve --strict refuses to start on an invalid resource (its error logged with path and source, exit 1); without --strict the valid parts are served; warnings alone do not stop --strict', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-strict-'));
  try {
    for (const f of ['00-gateway.yaml', '10-jwt.yaml']) writeFileSync(path.join(dir, f), readFileSync(path.join(repoRoot, 'config/default', f), 'utf8'));
    // A warning only: a TrafficPolicy field jwtgate does not apply.
    writeFileSync(path.join(dir, '20-warn.yaml'), 'apiVersion: gateway.kgateway.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: { name: cors-only, namespace: kgateway-system }\nspec:\n  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: nothing }]\n  cors: { allowOrigins: ["https://a.example"] }\n');
    const serve = async (strict: boolean) => {
      const [port, adminPort] = [await freePort(), await freePort()];
      const p = run(['serve', '--config', dir, '--port-map', `8080=${port}`, '--host', '127.0.0.1', '--admin', `127.0.0.1:${adminPort}`, ...(strict ? ['--strict'] : [])]);
      return { p, port, ready: () => waitReady(`http://127.0.0.1:${adminPort}/ready`, 20_000, p) };
    };
    const warned = await serve(true);
    await warned.ready();
    assert.match(warned.p.output(), /"level":"warn","msg":"config: /);
    warned.p.kill();
    assert.equal(await warned.p.exited, 0, warned.p.output());

    writeFileSync(path.join(dir, '30-bad.yaml'), 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: bad, namespace: kgateway-system }\nspec:\n  parentRefs: [{ name: http }]\n  rules:\n  - matches: [{ path: { type: Bogus, value: /x } }]\n    backendRefs: [{ name: httpbin, port: 8000 }]\n');
    const strict = await serve(true);
    assert.equal(await strict.p.exited, 1, strict.p.output());
    const out = strict.p.output();
    assert.match(out, /"level":"error","msg":"config: Unsupported value: \\"Bogus\\": supported values: \\"Exact\\", \\"PathPrefix\\", \\"RegularExpression\\"","resource":"HTTPRoute\/kgateway-system\/bad","path":"spec\.rules\[0\]\.matches\[0\]\.path\.type","source":"[^"]*30-bad\.yaml:7"/);
    assert.match(out, /\njwtgate: configuration has errors and --strict is set\n/);
    assert.doesNotMatch(out, /"msg":"listening"/);

    const lenient = await serve(false);
    await lenient.ready();
    const res = await request({ port: lenient.port, host: 'www.example.com:8080', path: '/headers' });
    assert.equal(res.status, 401, 'the valid route is served, with its JWT policy');
    lenient.p.kill();
    assert.equal(await lenient.p.exited, 0, lenient.p.output());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('check --output json still prints JSON when the configuration is refused whole (the route-entry limit)', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-entries-'));
  try {
    const hostnames = JSON.stringify(Array.from({ length: 16 }, (_, i) => `h${i}.example.com`));
    const rules = JSON.stringify(Array.from({ length: 16 }, (_, r) => ({ matches: Array.from({ length: 64 }, (_, m) => ({ path: { type: 'PathPrefix', value: `/r${r}/m${m}` } })), backendRefs: [{ name: 'app', port: 80 }] })));
    const routes = Array.from({ length: 31 }, (_, i) => `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: r${i} }\nspec: { parentRefs: [{ name: gw }], hostnames: ${hostnames}, rules: ${rules} }\n`);
    writeFileSync(path.join(dir, 'big.yaml'), ['apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: gw }\nspec: { gatewayClassName: kgateway, listeners: [{ name: http, protocol: HTTP, port: 8080 }] }\n', ...routes].join('---\n'));
    const p = run(['check', '--config', dir, '--output', 'json']);
    assert.equal(await p.exited, 1, p.output());
    const report = JSON.parse(p.output()) as { statuses: unknown[]; problems: { resource: string; message: string }[] };
    assert.deepEqual(report.statuses, []);
    assert.match(report.problems[0]!.message, /compiles to more than 500000 route entries/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('check exits 1 on what serve refuses after compiling: no Gateway listener to serve (an empty folder, only policies)', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-nogw-'));
  try {
    for (const output of ['text', 'json']) {
      const p = run(['check', '--config', dir, '--output', output]);
      assert.equal(await p.exited, 1, p.output());
      assert.match(p.output(), /no Gateway listener to serve/);
    }
    writeFileSync(path.join(dir, 'ext.yaml'), 'apiVersion: gateway.kgateway.dev/v1alpha1\nkind: GatewayExtension\nmetadata: { name: e }\nspec: { jwt: { providers: [{ name: p, jwks: { local: { inline: \'{"keys":[]}\' } } }] } }\n');
    const p = run(['check', '--config', dir]);
    assert.equal(await p.exited, 1, p.output());
    assert.match(p.output(), /error {3}\(configuration\)\n {10}no Gateway listener to serve: the configuration has no valid Gateway with an HTTP listener \(serve exits 1\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an admin endpoint bound beyond loopback is warned about (it has no authentication); on 127.0.0.1 it is not', { timeout: 60_000 }, async () => {
  for (const host of ['0.0.0.0', '127.0.0.1']) {
    const [port, adminPort] = [await freePort(), await freePort()];
    const p = run(['serve', '--config', 'config/default', '--port-map', `8080=${port}`, '--host', '127.0.0.1', '--admin', `${host}:${adminPort}`]);
    await waitReady(`http://127.0.0.1:${adminPort}/ready`, 20_000, p);
    p.kill();
    assert.equal(await p.exited, 0, p.output());
    const warned = /the admin endpoint listens beyond this machine/.test(p.output());
    assert.equal(warned, host === '0.0.0.0', `${host}: ${p.output()}`);
  }
});

test('--global-policy-namespace: a TrafficPolicy there attaches through targetSelectors to an HTTPRoute of another namespace (kgateway KGW_GLOBAL_POLICY_NAMESPACE); without it check says why nothing attaches; a bad name is a usage error', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-global-'));
  try {
    const gw = readFileSync('config/default/00-gateway.yaml', 'utf8').replace('  name: httpbin\n  namespace: httpbin\nspec:\n  parentRefs:', '  name: httpbin\n  namespace: httpbin\n  labels:\n    global-policy: jwt\nspec:\n  parentRefs:');
    const jwt = readFileSync('config/default/10-jwt.yaml', 'utf8').replace(/  targetRefs:\n  - group: gateway.networking.k8s.io\n    kind: Gateway\n    name: http\n/, '  targetSelectors:\n  - group: gateway.networking.k8s.io\n    kind: HTTPRoute\n    matchLabels:\n      global-policy: jwt\n');
    assert.match(gw, /global-policy: jwt/);
    assert.match(jwt, /targetSelectors/);
    writeFileSync(path.join(dir, '00-gateway.yaml'), gw);
    writeFileSync(path.join(dir, '10-jwt.yaml'), jwt);

    const without = run(['check', '--config', dir]);
    assert.equal(await without.exited, 0, without.output());
    assert.match(without.output(), /matchLabels select no HTTPRoute in namespace kgateway-system, only HTTPRoute httpbin\/httpbin in other namespaces: .*run jwtgate with --global-policy-namespace kgateway-system/);
    const withFlag = run(['check', '--config', dir, '--global-policy-namespace', 'kgateway-system']);
    assert.equal(await withFlag.exited, 0, withFlag.output());
    assert.doesNotMatch(withFlag.output(), /matchLabels select no/);

    const [port, echoPort] = [await freePort(), await freePort()];
    writeFileSync(path.join(dir, '00-gateway.yaml'), gw.replace('port: 18000', `port: ${echoPort}`));
    const p = run(['serve', '--config', dir, '--port-map', `8080=${port}`, '--host', '127.0.0.1', '--echo-upstream', `127.0.0.1:${echoPort}`, '--global-policy-namespace', 'kgateway-system']);
    try {
      await waitForLogLine(p, 'listening', 20_000);
      const denied = await request({ port, path: '/headers', headers: { host: 'www.example.com' } });
      assert.equal(denied.status, 401);
      assert.equal(denied.body, 'Jwt is missing');
      const token = readFileSync('config/examples/sample-token.txt', 'utf8').trim();
      const ok = await request({ port, path: '/headers', headers: { host: 'www.example.com', authorization: `Bearer ${token}` } });
      assert.equal(ok.status, 200, ok.body);
      assert.deepEqual(JSON.parse(ok.body).headers['X-Team'], ['dev']);
    } finally {
      p.kill();
      await p.exited;
    }

    const bad = run(['serve', '--config', dir, '--global-policy-namespace', 'Kgateway_System']);
    assert.equal(await bad.exited, 2);
    assert.match(bad.output(), /--global-policy-namespace expects a namespace name/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a stderr whose reader went away (EPIPE) does not end the gateway: lines are dropped and counted, requests are answered (a log line after it crashed the process)', { timeout: 60_000 }, async () => {
  const [port, adminPort] = [await freePort(), await freePort()];
  // A 431 head well under the ~64 KiB uWS takes whole in one loopback read.
  const p = run(['serve', '--config', 'config/default', '--port-map', `8080=${port}`, '--host', '127.0.0.1', '--admin', `127.0.0.1:${adminPort}`, '--access-log', '--max-request-headers-bytes', '8192']);
  try {
    await waitReady(`http://127.0.0.1:${adminPort}/ready`, 20_000, p);
    // The reader of the gateway's stderr (a log shipper, `| tee`) goes away.
    p.child.stderr!.destroy();
    for (let i = 0; i < 5; i++) {
      assert.equal((await request({ port, path: '/headers' })).status, 401);
      await new Promise((r) => setTimeout(r, 50));
    }
    // A warning too: an oversized head.
    assert.equal((await request({ port, path: '/headers', headers: { 'x-big': 'a'.repeat(10_000) } })).status, 431);
    const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    const dropped = Number(/^jwtgate_log_lines_dropped_total (\d+)$/m.exec(metrics)?.[1]);
    // Five 401s and a 431 logged (its warning and its access-log line): every line dropped, none lost unnoticed.
    assert.ok(dropped >= 7, `dropped ${dropped}`);
    p.kill();
    assert.equal(await p.exited, 0);
  } finally {
    p.kill();
  }
});

test('a stderr whose reader stops reading (a stalled log shipper) does not grow the gateway\'s memory: past an 8 MiB backlog lines are dropped and counted, requests are answered (every line was kept in memory, none counted); SIGTERM still ends it (it waited for the reader forever)', { timeout: 120_000 }, async () => {
  const [port, adminPort] = [await freePort(), await freePort()];
  // stderr is a pipe this test never reads: the kernel's pipe buffer fills, then Node's queue.
  const child = spawn(process.execPath, [cliPath, 'serve', '--config', 'config/default', '--port-map', `8080=${port}`, '--host', '127.0.0.1', '--admin', `127.0.0.1:${adminPort}`, '--access-log'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | string | null>((r) => child.on('exit', (code, signal) => r(code ?? signal)));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const get = (p: string) =>
    new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: p, headers: { host: 'www.example.com' }, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      }).on('error', reject);
    });
  const dropped = async () => Number(/^jwtgate_log_lines_dropped_total (\d+)$/m.exec(await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text())?.[1]);
  // `count` requests on 16 connections, each logging a ~400-byte access-log line (the path is logged up to 256 characters).
  const drive = async (count: number) => {
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next++ < count) assert.equal(await get(`/headers/${'a'.repeat(240)}`), 401);
    }));
  };
  try {
    await waitReady(`http://127.0.0.1:${adminPort}/ready`, 20_000);
    assert.equal(await dropped(), 0);
    // 8 MiB of ~400-byte lines is ~21,000 requests.
    let sent = 0;
    while ((await dropped()) === 0) {
      assert.ok(sent < 100_000, `no line dropped after ${sent} requests with an unread stderr`);
      await drive(5_000);
      sent += 5_000;
    }
    // Still nobody reads: from now on every line is dropped, none kept in memory.
    const before = await dropped();
    await drive(2_000);
    const after = await dropped();
    assert.ok(after - before >= 2_000, `dropped ${before} then ${after}`);
    assert.equal(child.exitCode, null, 'the gateway still runs');
    // It stops on SIGTERM, though its stderr is never read (it waited for that reader forever).
    agent.destroy();
    const stopAsked = Date.now();
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 20_000))]);
    assert.equal(code, 0);
    assert.ok(Date.now() - stopAsked < 15_000);
  } finally {
    agent.destroy();
    child.kill('SIGKILL');
    await exited;
  }
});

test('--host [::1]: the brackets are accepted (they were kept, and listening failed with a made-up address)', { timeout: 60_000 }, async () => {
  const p = run(['serve', '--config', 'config/default', '--port-map', '8080=0', '--host', '[::1]']);
  try {
    const port = (await waitForLogLine(p, 'listening', 20_000)).port as number;
    const status = await new Promise<number>((resolve, reject) => {
      http.get({ host: '::1', port, path: '/headers', headers: { host: 'www.example.com' }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject);
    });
    assert.equal(status, 401);
  } finally {
    p.kill();
    await p.exited;
  }
});

test('flag values at their limits: --verify-threads 256 is accepted (at most 256); --port-map from listener port 0, two listener ports onto one port, and an --admin port above 65535 are usage errors; no command at all is a usage error (exit 2)', { timeout: 60_000 }, async () => {
  const port = await freePort();
  // 256 threads, inline mode: no pool is started, so the limit itself is what is checked.
  const ok = run(['serve', '--config', 'config/default', '--port-map', `8080=${port}`, '--host', '127.0.0.1', '--verify-threads', '256', '--verify-mode', 'inline']);
  await waitForLogLine(ok, 'jwtgate ready', 20_000);
  ok.kill();
  assert.equal(await ok.exited, 0, ok.output());
  for (const [args, expected] of [
    [['--port-map', '0=8080'], /--port-map expects LISTENER=PORT, got "0=8080"/],
    [['--port-map', '8080=9000', '--port-map', '8443=9000'], /--port-map maps two listener ports to port 9000/],
    [['--admin', '127.0.0.1:70000'], /--admin expects HOST:PORT, got "127.0.0.1:70000"/],
    [['--echo-upstream', '127.0.0.1:65536'], /--echo-upstream expects HOST:PORT/],
  ] as const) {
    const p = run(['serve', '--config', 'config/default', ...args]);
    // A flag taken for valid starts serving: stopped, so the failure says so instead of hanging.
    const timer = setTimeout(() => p.kill(), 15_000);
    const code = await p.exited;
    clearTimeout(timer);
    assert.equal(code, 2, `${args.join(' ')}: ${p.output()}`);
    assert.match(p.output(), expected);
    assert.doesNotMatch(p.output(), /listening/);
  }
  const none = run([]);
  assert.equal(await none.exited, 2, none.output());
  assert.match(none.output(), /^Usage:/);
});

test('--upstream-timeout-ms 0 turns the default route timeout off (a usage error before); 1000 cuts a download still coming after 1 s', { timeout: 60_000 }, async () => {
  const token = readFileSync(path.join(repoRoot, 'config', 'examples', 'sample-token.txt'), 'utf8').trim();
  // One raw exchange: the status line, the declared length and the body bytes that came before the close.
  const drip = (port: number) =>
    new Promise<{ head: string; bytes: number; declared: number }>((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      let got = Buffer.alloc(0);
      sock.on('data', (d) => (got = Buffer.concat([got, d])));
      sock.on('error', reject);
      sock.on('close', () => {
        const text = got.toString('latin1');
        const end = text.indexOf('\r\n\r\n');
        resolve({ head: text.slice(0, text.indexOf('\r\n')), bytes: end < 0 ? -1 : got.length - end - 4, declared: Number(/\r\ncontent-length: *(\d+)/i.exec(text)?.[1]) });
      });
      sock.write(`GET /drip?duration=2.5&delay=0&numbytes=50 HTTP/1.1\r\nHost: www.example.com:8080\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
    });
  for (const [ms, whole] of [['0', true], ['1000', false]] as const) {
    const [port, adminPort, echoPort] = [await freePort(), await freePort(), await freePort()];
    const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-timeout-'));
    for (const f of ['00-gateway.yaml', '10-jwt.yaml']) writeFileSync(path.join(dir, f), readFileSync(path.join(repoRoot, 'config/default', f), 'utf8').replace('port: 18000', `port: ${echoPort}`));
    const p = run(['serve', '--config', dir, '--port-map', `8080=${port}`, '--host', '127.0.0.1', '--admin', `127.0.0.1:${adminPort}`, '--echo-upstream', `127.0.0.1:${echoPort}`, '--upstream-timeout-ms', ms]);
    try {
      await waitReady(`http://127.0.0.1:${adminPort}/ready`, 20_000, p);
      const r = await drip(port);
      assert.equal(r.head, 'HTTP/1.1 200 OK', `--upstream-timeout-ms ${ms}: ${p.output()}`);
      assert.equal(r.declared, 50);
      if (whole) assert.equal(r.bytes, 50, `--upstream-timeout-ms ${ms}: the whole body`);
      else assert.ok(r.bytes >= 0 && r.bytes < 50, `--upstream-timeout-ms ${ms}: cut, ${r.bytes} of 50 bytes`);
    } finally {
      p.kill();
      await p.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const bad = run(['serve', '--config', 'config/default', '--upstream-timeout-ms=-1']);
  assert.equal(await bad.exited, 2, bad.output());
  assert.match(bad.output(), /--upstream-timeout-ms expects an integer ≥ 0, got "-1"/);
});

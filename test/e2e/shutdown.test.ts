// SIGTERM as an orchestrator sends it: the gateway stops accepting, lets the requests in flight
// finish (up to 5 s), then exits 0; a second signal ends it at once. It used to close every
// connection 200 ms after the signal, cutting requests in flight.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { request } from '../helpers/http-client.js';
import { startCli, waitForLogLine } from '../helpers/cli.js';
import net from 'node:net';
import { SAMPLE_GATEWAY } from '../helpers/harness.js';
import { remoteJwksManifests } from '../helpers/remote-jwks.js';

/** An upstream that answers each request after `delayMs` (never, when Infinity). */
async function slowUpstream(delayMs: number): Promise<{ port: number; readonly seen: number; close(): void }> {
  let seen = 0;
  const server = http.createServer((req, res) => {
    seen++;
    if (delayMs !== Infinity) setTimeout(() => res.end(`slow answer to ${req.url}`), delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    get seen() {
      return seen;
    },
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

function config(upstreamPort: number): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-shutdown-'));
  writeFileSync(
    path.join(dir, 'app.yaml'),
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw }
spec:
  listeners: [{ name: http, protocol: HTTP, port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: slow }] }]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: slow }
spec: { type: Static, static: { hosts: [{ host: 127.0.0.1, port: ${upstreamPort} }] } }
`,
  );
  return dir;
}

test('SIGTERM with a request in flight: the request completes, then the process exits 0', { timeout: 30_000 }, async () => {
  const upstream = await slowUpstream(1500);
  const dir = config(upstream.port);
  const p = startCli(['serve', '--config', dir, '--port-map', '8080=0', '--host', '127.0.0.1']);
  try {
    const port = (await waitForLogLine(p, 'listening', 20_000)).port as number;
    const inFlight = request({ port, path: '/report', host: 'any.example' });
    await new Promise((r) => setTimeout(r, 300));
    p.child.kill('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 200, p.output());
    assert.equal(res.body, 'slow answer to /report');
    assert.equal(await p.exited, 0, p.output());
    assert.match(p.output(), /"msg":"shutting down","signal":"SIGTERM"/);
  } finally {
    p.kill();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const [first, second] of [['SIGTERM', 'SIGTERM'], ['SIGINT', 'SIGTERM'], ['SIGTERM', 'SIGINT']] as const) {
  test(`a second signal (${first}, then ${second}) while draining ends the process at once, exit 1`, { timeout: 30_000 }, async () => {
    const upstream = await slowUpstream(Infinity);
    const dir = config(upstream.port);
    const p = startCli(['serve', '--config', dir, '--port-map', '8080=0', '--host', '127.0.0.1']);
    try {
      const port = (await waitForLogLine(p, 'listening', 20_000)).port as number;
      const stuck = request({ port, path: '/never', host: 'any.example' }).catch((err: Error) => err);
      await new Promise((r) => setTimeout(r, 300));
      p.child.kill(first);
      await waitForLogLine(p, 'shutting down', 5_000);
      const t0 = Date.now();
      p.child.kill(second);
      assert.equal(await p.exited, 1, p.output());
      assert.ok(Date.now() - t0 < 2000, 'ended by the second signal, not by the 5 s drain');
      assert.ok((await stuck) instanceof Error, 'the stuck request was cut');
    } finally {
      p.kill();
      upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('SIGHUP reloads the configuration files without dropping a request in flight; one that does not load is logged and the running configuration stays; SIGUSR1 is caught and ignored (Node opened its inspector on 9229)', { timeout: 30_000 }, async () => {
  const upstream = await slowUpstream(300);
  const dir = config(upstream.port);
  const p = startCli(['serve', '--config', dir, '--port-map', '8080=0', '--host', '127.0.0.1']);
  try {
    const port = (await waitForLogLine(p, 'listening', 20_000)).port as number;
    const inFlight = request({ port, path: '/hup', host: 'any.example' });
    while (upstream.seen === 0) await new Promise((r) => setTimeout(r, 10));
    // The route now serves app.example only: any.example gets 404 once the reload is applied.
    const file = path.join(dir, 'app.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('parentRefs: [{ name: gw }]', 'parentRefs: [{ name: gw }]\n  hostnames: [app.example]'));
    p.child.kill('SIGHUP');
    await waitForLogLine(p, 'reloading the configuration', 5_000);
    const reloaded = await waitForLogLine(p, 'configuration reloaded', 5_000);
    assert.equal(reloaded.generation, 2);
    assert.equal(reloaded.errors, 0);
    assert.equal((await inFlight).status, 200, 'the request in flight during the reload completed');
    assert.equal((await request({ port, path: '/after', host: 'any.example' })).status, 404);
    assert.equal((await request({ port, path: '/after', host: 'app.example' })).status, 200);

    writeFileSync(path.join(dir, 'broken.yaml'), 'kind: [\n');
    p.child.kill('SIGHUP');
    const failed = await waitForLogLine(p, 'configuration reload failed, still serving generation 2: cannot load configuration (1 problem, logged above)', 5_000);
    assert.equal(failed.generation, 2);
    assert.match(p.output(), /"msg":"config: YAML syntax error[^"]*","resource":"[^"]*broken\.yaml"/);
    assert.equal((await request({ port, path: '/still', host: 'any.example' })).status, 404, 'generation 2 still serves');
    assert.equal((await request({ port, path: '/still', host: 'app.example' })).status, 200);

    p.child.kill('SIGUSR1');
    await waitForLogLine(p, 'caught and ignored SIGUSR1: jwtgate logs to stderr, it has no log file to reopen', 5_000);
    // Still serving, with no drain and no inspector.
    assert.equal((await request({ port, path: '/after', host: 'app.example' })).status, 200);
    assert.doesNotMatch(p.output(), /shutting down|Debugger listening/);
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0, p.output());
  } finally {
    p.kill();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--watch-config-ms: a changed file is reloaded once it has settled, without a signal; a broken one is refused once and not retried until it changes; one rewritten at every look is warned about and reloaded once it stops; bad values are usage errors', { timeout: 30_000 }, async () => {
  const upstream = await slowUpstream(0);
  const dir = config(upstream.port);
  const p = startCli(['serve', '--config', dir, '--port-map', '8080=0', '--host', '127.0.0.1', '--watch-config-ms', '100']);
  try {
    const port = (await waitForLogLine(p, 'listening', 20_000)).port as number;
    assert.equal((await request({ port, path: '/a', host: 'any.example' })).status, 200);
    const file = path.join(dir, 'app.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('parentRefs: [{ name: gw }]', 'parentRefs: [{ name: gw }]\n  hostnames: [app.example]'));
    assert.equal((await waitForLogLine(p, 'configuration reloaded', 5_000)).generation, 2);
    assert.match(p.output(), /"msg":"configuration files changed: reloading","watchConfigMs":100/);
    assert.equal((await request({ port, path: '/b', host: 'any.example' })).status, 404);

    writeFileSync(path.join(dir, 'broken.yaml'), 'kind: [\n');
    await waitForLogLine(p, 'configuration reload failed, still serving generation 2: cannot load configuration (1 problem, logged above)', 5_000);
    // Not retried while nothing changes.
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(p.output().split('configuration reload failed').length - 1, 1, p.output());
    rmSync(path.join(dir, 'broken.yaml'));
    await waitForLogLine(p, 'configuration reloaded', 5_000);
    for (const deadline = Date.now() + 5_000; !/"generation":3/.test(p.output()); ) {
      assert.ok(Date.now() < deadline, p.output());
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await request({ port, path: '/c', host: 'app.example' })).status, 200);

    // A file rewritten at every look never settles: one warning, and no reload until it stops.
    const text = readFileSync(file, 'utf8');
    const rewriting = setInterval(() => writeFileSync(file, text), 30);
    try {
      const warned = await waitForLogLine(p, 'configuration files change at every look: no reload until two looks in a row find them the same (is something rewriting them?)', 10_000);
      assert.equal(warned.looks, 20);
    } finally {
      clearInterval(rewriting);
    }
    for (const deadline = Date.now() + 5_000; !/"msg":"configuration reloaded","generation":4/.test(p.output()); ) {
      assert.ok(Date.now() < deadline, p.output());
      await new Promise((r) => setTimeout(r, 50));
    }
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0, p.output());
  } finally {
    p.kill();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [v, msg] of [
    ['50', /--watch-config-ms must be 0 \(off\) or at least 100, got "50"/],
    ['-1', /--watch-config-ms expects an integer ≥ 0, got "-1"/],
    ['2s', /--watch-config-ms expects an integer ≥ 0, got "2s"/],
  ] as const) {
    const q = startCli(['serve', '--config', 'config/default', `--watch-config-ms=${v}`]);
    assert.equal(await q.exited, 2, q.output());
    assert.match(q.output(), msg);
  }
});

test('a second gateway on a port already served fails to start (exit 1, one line, no stack) instead of sharing the port', { timeout: 30_000 }, async () => {
  const upstream = await slowUpstream(0);
  const dir = config(upstream.port);
  const a = startCli(['serve', '--config', dir, '--port-map', '8080=0', '--host', '127.0.0.1']);
  try {
    const port = (await waitForLogLine(a, 'listening', 20_000)).port as number;
    const b = startCli(['serve', '--config', dir, '--port-map', `8080=${port}`, '--host', '127.0.0.1']);
    assert.equal(await b.exited, 1, b.output());
    assert.match(b.output(), new RegExp(`jwtgate: cannot listen on 127\\.0\\.0\\.1:${port} \\(Gateway listener port 8080\\): the port is in use or not permitted, or the address is not one of this machine's\\n`));
    assert.doesNotMatch(b.output(), /\n\s+at /, 'no stack trace');
    assert.equal((await request({ port, path: '/x', host: 'any.example' })).status, 200, 'the first gateway still serves');
  } finally {
    a.kill();
    await a.exited;
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a configuration with no Gateway listener to serve: exit 1 with an error, not a clean exit 0', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-nolistener-'));
  writeFileSync(path.join(dir, 'route.yaml'), 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: app }\nspec: { parentRefs: [{ name: gw }] }\n');
  const p = startCli(['serve', '--config', dir, '--host', '127.0.0.1']);
  try {
    assert.equal(await p.exited, 1, p.output());
    assert.match(p.output(), /no Gateway listener to serve/);
  } finally {
    p.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGTERM while start-up waits for a first remote JWKS fetch: logged, exit 0 at once (it used to die by the signal, unlogged)', { timeout: 30_000 }, async () => {
  // An IdP that accepts connections and never answers: the start waits (fastListener false).
  const held: net.Socket[] = [];
  const idp = net.createServer((s) => held.push(s.on('error', () => {})));
  await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
  const idpPort = (idp.address() as AddressInfo).port;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-startup-'));
  writeFileSync(path.join(dir, 'app.yaml'), `${SAMPLE_GATEWAY}---\n${remoteJwksManifests({ url: `http://127.0.0.1:${idpPort}/keys`, backendPort: idpPort, fastListener: false })}`);
  const p = startCli(['serve', '--config', dir, '--port-map', '8080=0', '--host', '127.0.0.1', '--admin', '127.0.0.1:0']);
  try {
    await waitForLogLine(p, 'admin listening', 20_000);
    for (let i = 0; i < 100 && held.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(held.length > 0, 'the first fetch is in progress');
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0, p.output());
    assert.ok(Date.now() - t0 < 3000, `exited ${Date.now() - t0} ms after the signal (the start-up wait is 15 s)`);
    assert.match(p.output(), /"msg":"shutting down during start-up","signal":"SIGTERM"/);
    assert.doesNotMatch(p.output(), /jwtgate ready/);
  } finally {
    p.kill();
    for (const s of held) s.destroy();
    idp.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

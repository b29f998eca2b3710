// The gateway at its file-descriptor limit (`ulimit -n`), with a keep-alive client connected
// before idle connections took every fd: the client's proxied request needs a new upstream
// connection, whose connect fails with EMFILE. It used to get `… reset reason: connection
// termination` (the upstream's doing) and nothing was logged; it now gets Envoy's local-failure
// 503 naming the cause, and one warning tells the operator to raise the limit. Answers the
// gateway gives itself still go out on that connection.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { cliPath, startProcess, waitForLogLine } from '../helpers/cli.js';
import { SAMPLE_GATEWAY } from '../helpers/harness.js';
import { repoRoot } from '../helpers/paths.js';

// Enough for Node to start: its ESM loader opens the modules of an import level in parallel, and at
// 64 a start once failed with EMFILE reading one of them.
const FD_LIMIT = 128;
const LOCAL_FAILURE = 'upstream connect failed on this host (out of a local resource), not at the upstream';

function config(upstreamPort: number): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-fd-limit-'));
  // The default config's GatewayExtension (selfminted-jwt), on one of the two routes.
  const extension = readFileSync(path.join(repoRoot, 'config', 'default', '10-jwt.yaml'), 'utf8').split(/^---$/m)[0];
  writeFileSync(
    path.join(dir, 'app.yaml'),
    `${SAMPLE_GATEWAY}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: open, namespace: kgateway-system }
spec:
  parentRefs: [{ name: http }]
  hostnames: [open.example]
  rules: [{ backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: up }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: jwt, namespace: kgateway-system }
spec:
  parentRefs: [{ name: http }]
  hostnames: [jwt.example]
  rules: [{ backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: up }] }]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: up, namespace: kgateway-system }
spec: { static: { hosts: [{ host: 127.0.0.1, port: ${upstreamPort} }] } }
---
${extension}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: jwt-policy, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: jwt }]
  jwtAuth: { extensionRef: { name: selfminted-jwt } }
`,
  );
  return dir;
}

/** One request at a time on a kept-open connection; resolves with the status line and the body. */
function keepAliveClient(port: number): Promise<{ send(host: string, path: string): Promise<{ status: number; body: string }>; close(): void }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let waiting: (() => void) | null = null;
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      waiting?.();
    });
    socket.once('error', reject);
    socket.once('connect', () =>
      resolve({
        send: (host, p) =>
          new Promise((res, rej) => {
            buf = Buffer.alloc(0);
            const timer = setTimeout(() => rej(new Error(`no answer to ${host}${p}: ${JSON.stringify(buf.toString())}`)), 5000);
            waiting = () => {
              const end = buf.indexOf('\r\n\r\n');
              if (end < 0) return;
              const head = buf.subarray(0, end).toString();
              const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
              if (buf.length < end + 4 + length) return;
              clearTimeout(timer);
              waiting = null;
              res({ status: Number(head.split(' ')[1]), body: buf.subarray(end + 4, end + 4 + length).toString() });
            };
            socket.write(`GET ${p} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
          }),
        close: () => socket.destroy(),
      }),
    );
  });
}

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

function warnings(output: string, msg: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);
}

test(`at the fd limit (ulimit -n ${FD_LIMIT}), an open keep-alive connection's proxied request gets a local-failure 503 naming EMFILE, one warning is logged, and local answers still go out`, { skip: process.platform !== 'linux' && 'needs /proc and bash ulimit', timeout: 30_000 }, async () => {
  const upstream = http.createServer((req, res) => res.end(`upstream ${req.url}`));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  const dir = config(upstreamPort);
  // exec: the child is the gateway itself, whose fds /proc shows.
  const p = startProcess('bash', ['-c', `ulimit -n ${FD_LIMIT} && exec "$0" "$@"`, process.execPath, cliPath, 'serve', '--config', dir, '--port-map', '8080=0', '--host', '127.0.0.1', '--verify-threads', '1']);
  const idle: net.Socket[] = [];
  let client: Awaited<ReturnType<typeof keepAliveClient>> | undefined;
  try {
    const port = (await waitForLogLine(p, 'listening', 20_000)).port as number;
    client = await keepAliveClient(port);
    // More idle connections than fds are left: the gateway accepts until EMFILE, the rest wait in
    // its backlog and take any fd that frees.
    for (let i = 0; i < FD_LIMIT + 40; i++) idle.push(net.connect(port, '127.0.0.1').on('error', () => {}));
    const deadline = Date.now() + 10_000;
    while (fdCount(p.child.pid!) < FD_LIMIT) {
      assert.ok(Date.now() < deadline, `the gateway did not reach its fd limit: ${fdCount(p.child.pid!)} fds\n${p.output()}`);
      await new Promise((r) => setTimeout(r, 20));
    }

    const first = await client.send('open.example', '/a');
    assert.equal(first.status, 503, p.output());
    assert.equal(first.body, 'upstream connect error or disconnect/reset before headers. reset reason: local connection failure, transport failure reason: socket creation failure: Too many open files');
    assert.equal((await client.send('open.example', '/b')).status, 503);
    // Answered by the gateway itself: no fd needed.
    const local = await client.send('jwt.example', '/c');
    assert.deepEqual([local.status, local.body], [401, 'Jwt is missing']);

    await waitForLogLine(p, LOCAL_FAILURE, 5_000);
    const lines = warnings(p.output(), LOCAL_FAILURE);
    assert.equal(lines.length, 1, 'one line per 10 s, the second failure is counted');
    assert.equal(lines[0]!.level, 'warn');
    assert.equal(lines[0]!.errno, 'EMFILE');
    assert.equal(lines[0]!.endpoint, `127.0.0.1:${upstreamPort}`);
    assert.match(String(lines[0]!.hint), /ulimit -n.*LimitNOFILE=/);
  } finally {
    client?.close();
    for (const s of idle) s.destroy();
    // At its fd limit uWS busy-loops on accept: no drain to wait for.
    p.child.kill('SIGKILL');
    await p.exited;
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// End to end, as a newcomer does it: `npm start` in the background (the embedded default config
// in config/ in front of the bundled echo upstream), the seed page's curl requests, shutdown by
// SIGTERM; then `jwtgate check` on valid and invalid manifests.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../helpers/paths.js';
import { cliPath as cli, startProcess, waitReady } from '../helpers/cli.js';

const exec = promisify(execFile);
const TOKEN = readFileSync(path.join(repoRoot, 'config', 'examples', 'sample-token.txt'), 'utf8').trim();

async function curl(args: string[]): Promise<{ status: number; headers: string; body: string }> {
  const { stdout } = await exec('curl', ['-s', '-i', '--max-time', '10', ...args]);
  const split = stdout.indexOf('\r\n\r\n');
  const head = stdout.slice(0, split);
  return { status: Number(head.split(' ')[1]), headers: head, body: stdout.slice(split + 4) };
}

/** Why `port` cannot be bound on `host` (e.g. 'EADDRINUSE'), or '' when it can. */
function bindError(port: number, host: string): Promise<string> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    srv.listen(port, host, () => srv.close(() => resolve('')));
  });
}

test('npm start serves the seed page on 8080; the seed curl commands give what the page shows', { timeout: 60_000 }, async () => {
  // The ports `npm start` binds (gateway, echo upstream, admin). Taken, the test would talk to
  // whatever holds them (a second `npm start`?) and fail with a misleading message.
  for (const [port, host] of [[8080, '0.0.0.0'], [18000, '127.0.0.1'], [9901, '127.0.0.1']] as const) {
    const err = await bindError(port, host);
    assert.equal(err, '', `port ${port} on ${host} cannot be bound (${err}): this test runs \`npm start\` itself; stop any running \`npm start\` and run \`npm test\` again`);
  }
  // Exactly what `npm start` runs (npm itself would die by the signal and hide our exit code).
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const p = startProcess('sh', ['-c', `exec ${pkg.scripts.start}`], { detached: true });
  const { child, exited } = p;
  try {
    await waitReady('http://127.0.0.1:9901/ready', 20_000);
    const INGRESS_GW_ADDRESS = '127.0.0.1';
    // curl -vik http://$INGRESS_GW_ADDRESS:8080/headers -H "host: www.example.com:8080"
    const missing = await curl([`http://${INGRESS_GW_ADDRESS}:8080/headers`, '-H', 'host: www.example.com:8080']);
    assert.equal(missing.status, 401);
    assert.equal(missing.body, 'Jwt is missing');
    assert.match(missing.headers, /\r\nwww-authenticate: Bearer realm="http:\/\/www\.example\.com:8080\/headers"/i);
    // curl … --header "Authorization: Bearer $TOKEN"
    const ok = await curl([`http://${INGRESS_GW_ADDRESS}:8080/headers`, '-H', 'host: www.example.com:8080', '--header', `Authorization: Bearer ${TOKEN}`]);
    assert.equal(ok.status, 200);
    const echoed = JSON.parse(ok.body);
    assert.deepEqual(echoed.headers['X-Team'], ['dev']);
    assert.deepEqual(echoed.headers['X-Org'], ['solo.io']);
    assert.equal(echoed.headers.Authorization, undefined);
    assert.ok(!p.output().includes(TOKEN), 'the token never appears in the logs');
  } finally {
    process.kill(-child.pid!, 'SIGTERM');
  }
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
  assert.equal(code, 0, `npm start exits 0 on SIGTERM; logs:\n${p.output()}`);
});

test('jwtgate check: the default config and every example are valid', async () => {
  const { stdout } = await exec(process.execPath, [cli, 'check', '--config', path.join(repoRoot, 'config', 'default')]);
  assert.match(stdout, /TrafficPolicy\/kgateway-system\/jwt-policy/);
  assert.match(stdout, /type: Accepted\s+status: "True"\s+reason: Valid\s+message: Policy accepted/);
  assert.match(stdout, /0 errors, 0 warnings/);
});

test('jwtgate check: invalid manifests exit 1 and list every problem with resource and field path', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-check-'));
  const file = path.join(dir, 'bad.yaml');
  writeFileSync(
    file,
    `apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: { name: broken, namespace: default }
spec:
  jwt:
    validationMode: Sometimes
    providers:
    - name: p
      issuer: solo.io
      jwks: { local: { inline: 'not a key' } }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: elsewhere, namespace: default }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http }]
  jwtAuth: { extensionRef: { name: missing-ext } }
`,
  );
  const err = await exec(process.execPath, [cli, 'check', '--config', file]).then(
    () => assert.fail('check must exit non-zero'),
    (e: { code: number; stdout: string }) => e,
  );
  assert.equal(err.code, 1);
  assert.match(err.stdout, /GatewayExtension\/default\/broken/);
  assert.match(err.stdout, /spec\.jwt\.validationMode/);
  assert.match(err.stdout, /spec\.jwt\.providers\[0\]\.jwks\.local\.inline/);
  assert.match(err.stdout, /cannot parse local jwks/);
  assert.match(err.stdout, /default\/missing-ext: gateway extension not found/);
  assert.match(err.stdout, /type: Accepted\s+status: "False"\s+reason: Invalid/);
  // The silently-ignored case kgateway users hit: a policy whose target is not in its namespace.
  assert.match(err.stdout, /silently ignores/);
});

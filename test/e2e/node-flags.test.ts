// The gateway runs under node's V8 tuning flags (heap sizes are what an operator sets in
// production): they used to reach the verify workers' execArgv, where Worker refuses them, and the
// gateway did not start.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { freePort } from '../helpers/jwks-server.js';
import { request } from '../helpers/http-client.js';

const TOKEN = readFileSync(path.join(repoRoot, 'config', 'examples', 'sample-token.txt'), 'utf8').trim();

test('serve under --max-semi-space-size/--max-old-space-size/--expose-gc verifies tokens in the worker pool', { timeout: 60_000 }, async () => {
  // config/default's Backend is the echo upstream on 127.0.0.1:18000 (as `npm start`).
  const [port, echoPort, adminPort] = [await freePort(), 18000, await freePort()];
  const child = spawn(
    process.execPath,
    ['--max-semi-space-size=32', '--max-old-space-size=512', '--expose-gc', path.join(repoRoot, 'dist/src/cli.js'), 'serve', '--config', 'config/default',
      '--port-map', `8080=${port}`, '--host', '127.0.0.1', '--echo-upstream', `127.0.0.1:${echoPort}`, '--admin', `127.0.0.1:${adminPort}`, '--verify-mode', 'pool'],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let logs = '';
  child.stdout.on('data', (d) => (logs += d));
  child.stderr.on('data', (d) => (logs += d));
  const exited = new Promise<number | string | null>((r) => child.on('exit', (code, signal) => r(code ?? signal)));
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const up = await fetch(`http://127.0.0.1:${adminPort}/ready`).then((r) => r.status === 200, () => false);
      if (up) break;
      if (child.exitCode !== null || Date.now() > deadline) assert.fail(`gateway did not become ready:\n${logs}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const ok = await request({ port, headers: { host: 'www.example.com', authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200, logs);
    assert.deepEqual(JSON.parse(ok.body).headers['X-Team'], ['dev']);
    const missing = await request({ port, headers: { host: 'www.example.com' } });
    assert.equal(missing.status, 401);
    const metrics = await fetch(`http://127.0.0.1:${adminPort}/metrics`).then((r) => r.text());
    assert.match(metrics, /jwtgate_jwt_verifications_total\{mode="pool"\} [1-9]/);
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, logs);
  }
});

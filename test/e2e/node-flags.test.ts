// The gateway runs under node's V8 tuning flags (heap sizes are what an operator sets in
// production): they used to reach the verify workers' execArgv, where Worker refuses them, and the
// gateway did not start.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { startEchoUpstream } from '../../src/upstream/echo.js';
import { request } from '../helpers/http-client.js';
import { startCli, waitForLogLine, waitReady } from '../helpers/cli.js';

const TOKEN = readFileSync(path.join(repoRoot, 'config', 'examples', 'sample-token.txt'), 'utf8').trim();

test('serve under --max-semi-space-size/--max-old-space-size/--expose-gc verifies tokens in the worker pool', { timeout: 60_000 }, async () => {
  // config/default, with its Backend (the echo upstream on 127.0.0.1:18000, as `npm start`) moved
  // to an echo upstream on a port-0 bind, and the listener and admin endpoint on port 0 too, so
  // a running `npm start` cannot make this test fail and no port is picked before it is bound.
  const echo = await startEchoUpstream({ host: '127.0.0.1', port: 0 });
  const config = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-node-flags-'));
  for (const f of readdirSync(path.join(repoRoot, 'config', 'default'))) {
    const text = readFileSync(path.join(repoRoot, 'config', 'default', f), 'utf8');
    writeFileSync(path.join(config, f), text.replace(/^(\s+port:) 18000$/m, `$1 ${echo.port}`));
  }
  assert.match(readFileSync(path.join(config, '00-gateway.yaml'), 'utf8'), new RegExp(`port: ${echo.port}\n`));
  const p = startCli(
    ['serve', '--config', config, '--port-map', '8080=0', '--host', '127.0.0.1', '--admin', '127.0.0.1:0', '--verify-mode', 'pool'],
    ['--max-semi-space-size=32', '--max-old-space-size=512', '--expose-gc'],
  );
  try {
    const adminPort = (await waitForLogLine(p, 'admin listening', 20_000)).port as number;
    await waitReady(`http://127.0.0.1:${adminPort}/ready`, 20_000, p);
    const port = (await waitForLogLine(p, 'listening', 5_000)).port as number;
    const ok = await request({ port, headers: { host: 'www.example.com', authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200, p.output());
    assert.deepEqual(JSON.parse(ok.body).headers['X-Team'], ['dev']);
    assert.equal(echo.received.length, 1, 'the upstream got the one allowed request');
    const missing = await request({ port, headers: { host: 'www.example.com' } });
    assert.equal(missing.status, 401);
    const metrics = await fetch(`http://127.0.0.1:${adminPort}/metrics`).then((r) => r.text());
    // The check went to a worker, which ran and answered the task. (A worker that has not yet read
    // the key set from its channel hands the item back to be checked inline: a request right after
    // /ready may be counted inline.)
    assert.match(metrics, /jwtgate_verify_pool_tasks_total\{result="ok"\} [1-9]/);
    assert.match(metrics, /jwtgate_verify_pool_tasks_total\{result="failed"\} 0\n/);
  } finally {
    p.kill();
    const code = await p.exited;
    rmSync(config, { recursive: true, force: true });
    await echo.close();
    assert.equal(code, 0, p.output());
  }
});

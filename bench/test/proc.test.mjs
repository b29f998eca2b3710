// node --test bench/test/: lib/proc.mjs port picking, with real sockets on loopback.
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { freePorts, isPortClash, startRetryingPortClash } from '../lib/proc.mjs';

function listen(port) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}
const close = (srv) => new Promise((resolve) => srv.close(() => resolve()));

test('freePorts(n): n distinct ports, all free again once it returns', async () => {
  const ports = await freePorts(4);
  assert.equal(ports.length, 4);
  assert.equal(new Set(ports).size, 4);
  const servers = await Promise.all(ports.map(listen));
  assert.deepEqual(servers.map((s) => s.address().port), ports);
  await Promise.all(servers.map(close));
});

test('startRetryingPortClash: a port taken before the bind is retried on a new port; other failures are not', async () => {
  const blocker = await listen(0);
  const taken = blocker.address().port;
  try {
    // First attempt: the port another socket holds (a real EADDRINUSE); then a fresh one.
    const retries = [];
    let attempt = 0;
    const srv = await startRetryingPortClash(async () => listen(++attempt === 1 ? taken : (await freePorts(1))[0]), {
      onRetry: (err, n) => retries.push([err.code, n]),
    });
    assert.deepEqual(retries, [['EADDRINUSE', 1]]);
    assert.notEqual(srv.address().port, taken);
    await close(srv);

    // Every attempt clashes: the last clash is thrown after `attempts` tries.
    let tries = 0;
    await assert.rejects(startRetryingPortClash(() => (tries++, listen(taken)), { attempts: 3 }), { code: 'EADDRINUSE' });
    assert.equal(tries, 3);

    // A failure that is not a clash (here, a peer that exits with its own error) is not retried.
    tries = 0;
    await assert.rejects(
      startRetryingPortClash(async () => { tries++; throw new Error('haproxy -c rejected haproxy.cfg: unknown keyword'); }),
      /unknown keyword/,
    );
    assert.equal(tries, 1);
  } finally {
    await close(blocker);
  }
});

test('isPortClash: Node, nginx and HAProxy wordings of a taken port', () => {
  assert.ok(isPortClash(new Error('listen EADDRINUSE: address already in use 127.0.0.1:45147')));
  assert.ok(isPortClash(new Error('nginx exited: bind() to 127.0.0.1:40503 failed (98: Address already in use)')));
  assert.ok(isPortClash(new Error('[ALERT] : Starting frontend fe: cannot bind socket (Address already in use) [127.0.0.1:38733]')));
  assert.ok(!isPortClash(new Error('ECONNREFUSED 127.0.0.1:45147')));
});

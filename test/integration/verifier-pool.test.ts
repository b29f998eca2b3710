// The Verifier with a real piscina pool and the compiled worker (dist/workers/verify.js): pool,
// inline and auto modes, KEYSET_NOT_LOADED fallback, key set replacement, batching, overload.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { BroadcastChannel } from 'node:worker_threads';
import { Verifier, type VerifierOptions } from '../../src/auth/verifier.js';
import { Metrics } from '../../src/observability/metrics.js';
import { importLocalJwks } from '../../src/jwks/import-keys.js';
import { toWire } from '../../src/jwks/key-wire.js';
import type { ImportedKey } from '../../src/config/snapshot.js';
import type { VerifyItem } from '../../src/types.js';
import { SEED_JWKS, SEED_TOKEN } from '../fixtures/auth/builders.js';
import { sign } from '../helpers/tokens.js';
import { keyPair, rsaKeySet } from '../fixtures/auth/keys.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../src/observability/log.js';

const keysA = rsaKeySet('a');
const keysB = rsaKeySet('b');
const imported = (jwks: string): ImportedKey[] => {
  const r = importLocalJwks(jwks);
  assert.ok(r.ok);
  return r.keys;
};

function itemFor(token: string, keySetId: string, generation = 1): VerifyItem {
  const [h, p, s] = token.split('.');
  const header = JSON.parse(Buffer.from(h!, 'base64url').toString());
  return { keySetId, generation, alg: header.alg, kid: header.kid ?? '', signingInput: `${h}.${p}`, signature: Buffer.from(s!, 'base64url') };
}
function signed(privateKey: crypto.KeyObject, kid: string, n: number): VerifyItem {
  const input = `${Buffer.from(JSON.stringify({ alg: 'RS256', kid })).toString('base64url')}.${Buffer.from(JSON.stringify({ n })).toString('base64url')}`;
  return { keySetId: 'ks', generation: 1, alg: 'RS256', kid, signingInput: input, signature: sign('RS256', privateKey, input) };
}

const open: Verifier[] = [];
after(() => Promise.all(open.map((v) => v.close())));
function verifier(opts: VerifierOptions): Verifier {
  const v = new Verifier(opts);
  open.push(v);
  return v;
}

/** Waits until the pool answers (workers started and holding the key set). */
async function warm(v: Verifier, item: VerifyItem): Promise<void> {
  for (let i = 0; i < 250 && v.stats.pooled === 0; i++) {
    await v.verify(item);
    if (v.stats.pooled === 0) await sleep(20);
  }
  assert.ok(v.stats.pooled > 0, 'the pool answered');
}

test('pool mode: the seed token verifies in a worker (key set received via keyset-request republish)', async () => {
  const v = verifier({ mode: 'pool', threads: 2 });
  // Published before the workers have loaded: they ask for it with keyset-request when they start.
  v.publishKeySet('seed', 1, imported(SEED_JWKS));
  await warm(v, itemFor(SEED_TOKEN, 'seed'));
  const before = v.stats.pooled;
  assert.deepEqual(await v.verify(itemFor(SEED_TOKEN, 'seed')), { ok: true, keyIndex: 0 });
  const tampered = itemFor(SEED_TOKEN, 'seed');
  assert.deepEqual(await v.verify({ ...tampered, signingInput: tampered.signingInput + 'x' }), { ok: false, code: 'JWT_VERIFICATION_FAIL' });
  assert.equal(v.stats.pooled, before + 2);
  assert.equal(v.stats.inline, 0);
});

test('inline mode: no pool, answers synchronously through verifyMaybeSync', async () => {
  const v = verifier({ mode: 'inline' });
  assert.equal(v.keySetChannel, undefined);
  v.publishKeySet('seed', 1, imported(SEED_JWKS));
  const r = v.verifyMaybeSync(itemFor(SEED_TOKEN, 'seed'));
  assert.deepEqual(r, { ok: true, keyIndex: 0 });
  assert.deepEqual(await v.verify(itemFor(SEED_TOKEN, 'seed')), { ok: true, keyIndex: 0 });
  assert.equal(v.stats.inline, 2);
  assert.deepEqual(await v.verify(itemFor(SEED_TOKEN, 'unknown')), { ok: false, code: 'KEYSET_NOT_LOADED' });
});

test('KEYSET_NOT_LOADED from a worker falls back to the main thread copy', async () => {
  const v = verifier({ mode: 'pool', threads: 1 });
  v.publishKeySet('ks', 1, imported(keysA.jwks));
  const item = signed(keysA.privateKey, 'a', 1);
  await warm(v, item);
  // Make the workers forget the key set behind the Verifier's back.
  const ch = new BroadcastChannel(v.keySetChannel!);
  ch.postMessage({ type: 'keyset-drop', ids: ['ks'] });
  ch.close();
  const before = v.stats.fallbacks;
  assert.deepEqual(await v.verify(item), { ok: true, keyIndex: 0 });
  assert.equal(v.stats.fallbacks, before + 1);
});

test('the worker task module answers KEYSET_NOT_LOADED for a key set it does not hold', async () => {
  const worker = await import('../../workers/verify.js');
  const out = worker.default({ items: [signed(keysA.privateKey, 'a', 1)] });
  assert.deepEqual(out.results, [{ ok: false, code: 'KEYSET_NOT_LOADED' }]);
});

test('key set replacement: the new generation is used by the workers', async () => {
  const v = verifier({ mode: 'pool', threads: 2 });
  v.publishKeySet('ks', 1, imported(keysA.jwks));
  const a = signed(keysA.privateKey, 'a', 1);
  await warm(v, a);
  v.publishKeySet('ks', 2, imported(keysB.jwks));
  const pooled = v.stats.pooled;
  assert.deepEqual(await v.verify({ ...a, generation: 2 }), { ok: false, code: 'JWKS_KID_ALG_MISMATCH' });
  assert.deepEqual(await v.verify({ ...signed(keysB.privateKey, 'b', 2), generation: 2 }), { ok: true, keyIndex: 0 });
  // An item built for the old generation is checked against the newer keys.
  assert.deepEqual(await v.verify(a), { ok: false, code: 'JWKS_KID_ALG_MISMATCH' });
  assert.equal(v.stats.pooled, pooled + 3, 'answered by the workers, not inline');
  assert.deepEqual(v.keySetInfo('ks'), { generation: 2, keyCount: 1 });
  v.dropKeySets(['ks']);
  assert.equal(v.keySetInfo('ks'), undefined);
  assert.deepEqual(await v.verify({ ...a, generation: 2 }), { ok: false, code: 'KEYSET_NOT_LOADED' });
});

test('a batch of 100 concurrent verifies: every result right, sent as a few batched tasks', async () => {
  const metrics = new Metrics();
  const v = verifier({ mode: 'pool', threads: 2, batchSize: 16, metrics });
  v.publishKeySet('ks', 1, imported(JSON.stringify({ keys: [keysA.jwk, keysB.jwk] })));
  await warm(v, signed(keysA.privateKey, 'a', 0));
  const tasksBefore = v.stats.tasks;
  const okTasksBefore = metrics.get('jwtgate_verify_pool_tasks_total', 'ok');
  const pooledBefore = metrics.get('jwtgate_jwt_verifications_total', 'pool');
  const inlineBefore = metrics.get('jwtgate_jwt_verifications_total', 'inline');
  const items = Array.from({ length: 100 }, (_, i) => {
    if (i % 10 === 3) return { ...signed(keysA.privateKey, 'a', i), signingInput: 'tampered' };
    if (i % 10 === 7) return signed(keysA.privateKey, 'zzz', i);
    return i % 2 ? signed(keysB.privateKey, 'b', i) : signed(keysA.privateKey, 'a', i);
  });
  const results = await Promise.all(items.map((it) => v.verify(it)));
  results.forEach((r, i) => {
    if (i % 10 === 3) assert.deepEqual(r, { ok: false, code: 'JWT_VERIFICATION_FAIL' }, `item ${i}`);
    else if (i % 10 === 7) assert.deepEqual(r, { ok: false, code: 'JWKS_KID_ALG_MISMATCH' }, `item ${i}`);
    else assert.deepEqual(r, { ok: true, keyIndex: i % 2 ? 1 : 0 }, `item ${i}`);
  });
  const tasks = v.stats.tasks - tasksBefore;
  assert.ok(tasks >= 7 && tasks <= 13, `100 items in ${tasks} tasks`);
  // The metrics an operator reads batching from: pool verifications / tasks = items per task.
  assert.equal(metrics.get('jwtgate_verify_pool_tasks_total', 'ok') - okTasksBefore, tasks);
  // (A worker that has not seen the key set yet hands its items back; they are done inline.)
  const pooled = metrics.get('jwtgate_jwt_verifications_total', 'pool') - pooledBefore;
  assert.ok(pooled >= 16, `${pooled} verified in workers`);
  // The 10 with an unknown kid are answered without a signature check: not verifications.
  assert.equal(pooled + metrics.get('jwtgate_jwt_verifications_total', 'inline') - inlineBefore, 90);
  assert.equal(metrics.get('jwtgate_verify_pool_tasks_total', 'failed'), 0);
});

test('auto mode: inline while idle, the pool under a burst', async () => {
  const v = verifier({ mode: 'auto', threads: 2, inlinePerTick: 2 });
  v.publishKeySet('ks', 1, imported(keysA.jwks));
  const item = signed(keysA.privateKey, 'a', 1);
  assert.deepEqual(v.verifyMaybeSync(item), { ok: true, keyIndex: 0 }, 'idle: inline, synchronous');
  await new Promise((r) => setImmediate(r));
  const burst = await Promise.all(Array.from({ length: 40 }, () => v.verify(item)));
  assert.ok(burst.every((r) => r.ok));
  assert.equal(v.stats.inline, 1 + 2, 'inlinePerTick inline in the burst turn, the rest to the pool');
  assert.equal(v.stats.pooled + v.stats.fallbacks, 38);
  assert.ok(v.stats.tasks >= 3, 'batched tasks');
});

test('a bound on pending checks answers OVERLOADED instead of queueing without limit', async () => {
  const v = verifier({ mode: 'pool', threads: 1, maxPending: 5 });
  v.publishKeySet('ks', 1, imported(keysA.jwks));
  const item = signed(keysA.privateKey, 'a', 1);
  const results = await Promise.all(Array.from({ length: 12 }, () => v.verify(item)));
  assert.equal(results.filter((r) => !r.ok && r.code === 'OVERLOADED').length, 7);
  assert.equal(results.filter((r) => r.ok).length, 5);
  assert.equal(v.stats.overloaded, 7);
});

test('a check queued longer than maxQueueMs is answered OVERLOADED instead of waiting behind the whole queue', async () => {
  const v = verifier({ mode: 'pool', threads: 1, tasksPerWorker: 1, batchSize: 1, maxQueueMs: 200 });
  v.publishKeySet('ks', 1, imported(keysA.jwks));
  const item = signed(keysA.privateKey, 'a', 1);
  await warm(v, item);
  const before = v.stats.overloaded;
  // One check goes to the only worker slot at once; the other 19 queue behind it, and the main
  // thread is then busy for 260 ms, so they are all older than 200 ms when the slot frees.
  const pending = Array.from({ length: 20 }, () => v.verify(item));
  const until = performance.now() + 260;
  while (performance.now() < until);
  const results = await Promise.all(pending);
  assert.deepEqual(results[0], { ok: true, keyIndex: 0 });
  assert.equal(results.filter((r) => !r.ok && r.code === 'OVERLOADED').length, 19);
  assert.equal(v.stats.overloaded - before, 19);
  // Without the stall, checks are not shed.
  const fresh = await Promise.all(Array.from({ length: 20 }, () => v.verify(item)));
  assert.ok(fresh.every((r) => r.ok), JSON.stringify(fresh.filter((r) => !r.ok)));
});

test('close() with checks in flight: nothing rejects, they finish inline', async () => {
  const v = verifier({ mode: 'pool', threads: 1 });
  v.publishKeySet('ks', 1, imported(keysA.jwks));
  const item = signed(keysA.privateKey, 'a', 1);
  await warm(v, item);
  const pending = Array.from({ length: 30 }, () => v.verify(item));
  await v.close();
  const results = await Promise.all(pending);
  assert.ok(results.every((r) => r.ok), JSON.stringify(results.filter((r) => !r.ok)));
  // After close the verifier still answers, inline.
  assert.deepEqual(await v.verify(item), { ok: true, keyIndex: 0 });
});

test('an idle worker takes in key sets as they are published, and imports only the one it uses (a rotating JWKS under light traffic queued every generation in each parked worker)', async () => {
  const v = verifier({ mode: 'pool', threads: 1 });
  v.publishKeySet('ks', 1, imported(keysA.jwks));
  await warm(v, signed(keysA.privateKey, 'a', 0));
  const start = await v.workerKeySetState();
  assert.ok(start);
  // 30 generations while the pool has no signature work.
  for (let g = 2; g <= 31; g++) v.publishKeySet('ks', g, imported(g % 2 ? keysA.jwks : keysB.jwks));
  let state = await v.workerKeySetState();
  for (let i = 0; i < 100 && state!.messagesApplied - start.messagesApplied < 30; i++) {
    await sleep(20);
    state = await v.workerKeySetState();
  }
  // Taken in by the idle worker's event loop, not left queued for the next verify task.
  assert.equal(state!.messagesApplied - start.messagesApplied, 30);
  assert.equal(state!.generations['ks'], 31);
  assert.equal(state!.imports, start.imports, 'nothing imported before a check needs it');
  // The next check imports the newest set once; generation 31 holds keysA.
  assert.deepEqual(await v.verify({ ...signed(keysA.privateKey, 'a', 1), generation: 31 }), { ok: true, keyIndex: 0 });
  const after = await v.workerKeySetState();
  assert.equal(after!.imports, start.imports + 1);
});

test('a worker imports only the keys its checks try: one check with a kid against a 40-key set imports one key (a large JWKS stalled the first check of every worker for seconds)', async () => {
  const v = verifier({ mode: 'pool', threads: 1 });
  // P-256 keys for the 39 others: as many keys to import, without generating 39 RSA keys (9 s here).
  const others = Array.from({ length: 39 }, (_, i) => ({ ...keyPair('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid: `o${i}`, alg: 'ES256', use: 'sig' }));
  v.publishKeySet('ks', 1, imported(JSON.stringify({ keys: [...others, keysA.jwk] })));
  await v.ready();
  let start = await v.workerKeySetState();
  for (let i = 0; i < 100 && start!.generations['ks'] !== 1; i++) {
    await sleep(20);
    start = await v.workerKeySetState();
  }
  assert.equal(start!.generations['ks'], 1, 'the worker holds the key set');
  assert.deepEqual(await v.verify(signed(keysA.privateKey, 'a', 1)), { ok: true, keyIndex: 39 });
  const state = await v.workerKeySetState();
  assert.equal(v.stats.pooled, 1, 'checked in the worker');
  assert.equal(state!.keyImports - start!.keyImports, 1);
});

const FAULTY_WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'workers', 'faulty-verify.js');

/** A pool of the faulty worker (one thread, 500 ms task timeout unless `opts` says otherwise) with key set A published and warmed; its log lines and metrics collected. */
async function faultyPool(opts: Partial<VerifierOptions> = {}): Promise<{ v: Verifier; lines: Record<string, unknown>[]; metrics: Metrics }> {
  const lines: Record<string, unknown>[] = [];
  const metrics = new Metrics();
  const v = verifier({ mode: 'pool', threads: 1, taskTimeoutMs: 500, workerFile: FAULTY_WORKER, metrics, log: createLogger('info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>)), ...opts });
  v.publishKeySet('ks', 1, imported(keysA.jwks));
  await v.ready();
  await warm(v, signed(keysA.privateKey, 'a', 0));
  return { v, lines, metrics };
}

test('a worker stuck in a loop: after taskTimeoutMs without progress its task and those cut with the pool are answered OVERLOADED (not checked on the main thread), the pool is replaced and serves again; a warning and timeout counts', { timeout: 30_000 }, async () => {
  const { v, lines, metrics } = await faultyPool();
  const t0 = performance.now();
  const stuck = v.verify(signed(keysA.privateKey, 'hang', 1));
  // A second task, queued in the stuck worker behind it: cut with the pool.
  await sleep(300);
  const behind = v.verify(signed(keysA.privateKey, 'a', 9));
  assert.deepEqual(await stuck, { ok: false, code: 'OVERLOADED' });
  assert.ok(performance.now() - t0 >= 500, 'never given up before taskTimeoutMs');
  assert.deepEqual(await behind, { ok: false, code: 'OVERLOADED' });
  assert.equal(metrics.get('jwtgate_verify_pool_tasks_total', 'timeout'), 2);
  assert.equal(metrics.get('jwtgate_verify_pool_tasks_total', 'failed'), 0);
  assert.equal(v.stats.fallbacks, 0, 'nothing was checked on the main thread');
  const warned = lines.find((l) => l['msg'] === 'signature-check tasks given up: the worker pool made no progress; their checks were answered 503 (overloaded)');
  assert.ok(warned, JSON.stringify(lines));
  assert.deepEqual([warned['timeoutMs'], warned['reason'], warned['tasks'], warned['checks'], warned['poolRestarted']], [500, 'a worker made no progress on its task', 2, 2, true]);
  // The replaced pool answers (the stuck thread was terminated with the old pool).
  const pooled = v.stats.pooled;
  for (let i = 0; i < 200 && v.stats.pooled === pooled; i++) {
    assert.deepEqual(await v.verify(signed(keysA.privateKey, 'a', 3)), { ok: true, keyIndex: 0 });
    await sleep(10);
  }
  assert.ok(v.stats.pooled > pooled, 'the new pool answered');
  // The tasks the watchdog gave up reject when their pool is destroyed: not a worker failure.
  assert.equal(lines.filter((l) => String(l['msg']).startsWith('signature-check worker failed')).length, 0, JSON.stringify(lines));
});

test('a task no worker starts (no check done, none shown running): given up after taskTimeoutMs as "no worker made progress", answered OVERLOADED', { timeout: 30_000 }, async () => {
  const { v, lines, metrics } = await faultyPool();
  const t0 = performance.now();
  assert.deepEqual(await v.verify(signed(keysA.privateKey, 'stall', 1)), { ok: false, code: 'OVERLOADED' });
  assert.ok(performance.now() - t0 >= 500, 'never given up before taskTimeoutMs');
  assert.equal(metrics.get('jwtgate_verify_pool_tasks_total', 'timeout'), 1);
  const warned = lines.find((l) => String(l['msg']).startsWith('signature-check tasks given up'));
  assert.ok(warned, JSON.stringify(lines));
  assert.deepEqual([warned['reason'], warned['tasks'], warned['poolRestarted']], ['no worker made progress', 1, true]);
});

test('a stuck worker next to a healthy one: replacing the pool gives up every task on it, the healthy worker\'s too (OVERLOADED, counted as timeout, not as a failed worker whose checks are redone inline)', { timeout: 30_000 }, async () => {
  const { v, lines, metrics } = await faultyPool({ threads: 2, tasksPerWorker: 1 });
  const stuck = v.verify(signed(keysA.privateKey, 'hang', 1));
  // The other worker keeps progressing (300 ms checks, one task after another) until the give-up.
  const slow: Promise<unknown>[] = [];
  const stream = (async () => {
    // No new check once the give-up is counted: it would go to the new pool.
    for (let n = 0; metrics.get('jwtgate_verify_pool_tasks_total', 'timeout') === 0 && n < 50; n++) {
      const p = v.verify(signed(keysA.privateKey, 'slow', 100 + n));
      slow.push(p);
      await p;
    }
  })();
  assert.deepEqual(await stuck, { ok: false, code: 'OVERLOADED' });
  await stream;
  const results = await Promise.all(slow);
  assert.ok(results.length >= 2, 'slow checks ran before the give-up');
  assert.deepEqual(results.at(-1), { ok: false, code: 'OVERLOADED' }, 'the slow check in flight on the replaced pool was given up with it');
  // ('slow' is no kid of the key set: answered by the worker as a kid mismatch.)
  assert.ok(results.slice(0, -1).every((r) => (r as { code?: string }).code === 'JWKS_KID_ALG_MISMATCH'), `the checks before it were answered by the worker: ${JSON.stringify(results)}`);
  assert.equal(metrics.get('jwtgate_verify_pool_tasks_total', 'timeout'), 2);
  assert.equal(metrics.get('jwtgate_verify_pool_tasks_total', 'failed'), 0);
  assert.equal(v.stats.fallbacks, 0, 'nothing was checked on the main thread');
});

test('after a give-up, the terminated worker\'s slot is not taken for a stuck worker again: healthy slow checks go on being answered, no further give-up (it replaced the pool at every restart interval)', { timeout: 30_000 }, async () => {
  const metrics = new Metrics();
  const v = verifier({ mode: 'pool', threads: 2, taskTimeoutMs: 500, poolRestartIntervalMs: 1000, workerFile: FAULTY_WORKER, metrics });
  v.publishKeySet('ks', 1, imported(keysA.jwks));
  await v.ready();
  await warm(v, signed(keysA.privateKey, 'a', 0));
  assert.deepEqual(await v.verify(signed(keysA.privateKey, 'hang', 1)), { ok: false, code: 'OVERLOADED' });
  assert.equal(metrics.get('jwtgate_verify_pool_tasks_total', 'timeout'), 1);
  // 3.5 s of slow (300 ms) but progressing checks, always some in flight: three restart intervals.
  const end = performance.now() + 3500;
  let overloaded = 0;
  await Promise.all(
    [0, 1, 2, 3].map(async (k) => {
      for (let n = 0; performance.now() < end; n++) if ((await v.verify(signed(keysA.privateKey, 'slow', k * 1000 + n))).ok === false && metrics.get('jwtgate_verify_pool_tasks_total', 'timeout') > 1) overloaded++;
    }),
  );
  assert.equal(metrics.get('jwtgate_verify_pool_tasks_total', 'timeout'), 1, 'one give-up only');
  assert.equal(overloaded, 0);
});

test('a slow but progressing worker is never given up: a task of checks taking 300 ms each, 1.5 s in all, against a 500 ms taskTimeoutMs', { timeout: 30_000 }, async () => {
  const metrics = new Metrics();
  const v = verifier({ mode: 'pool', threads: 1, taskTimeoutMs: 500, workerFile: FAULTY_WORKER, metrics });
  v.publishKeySet('ks', 1, imported(keysA.jwks));
  await v.ready();
  await warm(v, signed(keysA.privateKey, 'a', 0));
  // One batch (a partial flush of 5 items on one thread): the kid `slow` is not in the key set.
  const results = await Promise.all(Array.from({ length: 5 }, (_, i) => v.verify(signed(keysA.privateKey, 'slow', i))));
  for (const r of results) assert.deepEqual(r, { ok: false, code: 'JWKS_KID_ALG_MISMATCH' });
  assert.equal(metrics.get('jwtgate_verify_pool_tasks_total', 'timeout'), 0);
  assert.ok(v.stats.pooled >= 5, 'answered by the worker');
});

test('a worker that dies (exit or uncaught error) with a task: the task\'s checks are done on the main thread, a warning names the failure, the pool goes on', { timeout: 30_000 }, async () => {
  for (const kid of ['exit', 'throw']) {
    const lines: Record<string, unknown>[] = [];
    const metrics = new Metrics();
    const v = verifier({ mode: 'pool', threads: 1, workerFile: FAULTY_WORKER, metrics, log: createLogger('info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>)) });
    v.publishKeySet('ks', 1, imported(keysA.jwks));
    await v.ready();
    await warm(v, signed(keysA.privateKey, 'a', 0));
    assert.deepEqual(await v.verify(signed(keysA.privateKey, kid, 1)), { ok: false, code: 'JWKS_KID_ALG_MISMATCH' }, kid);
    assert.equal(metrics.get('jwtgate_verify_pool_tasks_total', 'failed'), 1, kid);
    const warned = lines.find((l) => l['msg'] === 'signature-check worker failed: its checks were done on the main thread');
    assert.ok(warned, `${kid}: ${JSON.stringify(lines)}`);
    assert.match(String(warned['err']), kid === 'exit' ? /exited with code: 3/ : /injected fault/);
    const pooled = v.stats.pooled;
    for (let i = 0; i < 200 && v.stats.pooled === pooled; i++) {
      assert.deepEqual(await v.verify(signed(keysA.privateKey, 'a', 2)), { ok: true, keyIndex: 0 });
      await sleep(10);
    }
    assert.ok(v.stats.pooled > pooled, `${kid}: the pool answered again`);
  }
});

test('workers that cannot start (a missing worker file): ready() fails with a clear error instead of requests waiting on the pool, and no worker-failure warning (no check ran)', { timeout: 30_000 }, async () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger('info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const v = verifier({ mode: 'pool', threads: 2, workerFile: '/nonexistent/verify.js', log });
  // As in a gateway's start, the workers fail before ready() is called.
  await sleep(500);
  await assert.rejects(v.ready(5000), (err: Error) => {
    assert.equal(err.constructor.name, 'StartupError');
    assert.match(err.message, /^the signature-check worker threads could not start \(\/nonexistent\/verify\.js\): .*Cannot find module.*; run with --verify-mode inline/s);
    return true;
  });
  await v.close();
  assert.deepEqual(lines.map((l) => l['msg']), [], 'the start-up error says it all');
  // Inline mode has no pool to wait for.
  await verifier({ mode: 'inline' }).ready();
});

test('a worker keeps a generation it holds: a second publish of the same generation (other keys) changes nothing, and repeated checks import the set and its key once', async () => {
  const v = verifier({ mode: 'pool', threads: 1 });
  v.publishKeySet('ks', 1, imported(keysA.jwks));
  const a = signed(keysA.privateKey, 'a', 1);
  await warm(v, a);
  const start = (await v.workerKeySetState())!;
  for (let i = 0; i < 3; i++) assert.deepEqual(await v.verify(signed(keysA.privateKey, 'a', 10 + i)), { ok: true, keyIndex: 0 });
  const after3 = (await v.workerKeySetState())!;
  assert.equal(after3.imports, start.imports, 'the loaded set is reused, not rebuilt per check');
  assert.equal(after3.keyImports, start.keyImports, 'its key is not imported again');
  // The same generation again, with key B behind the Verifier's back: the worker keeps A.
  const ch = new BroadcastChannel(v.keySetChannel!);
  ch.postMessage({ type: 'keyset', id: 'ks', generation: 1, keys: toWire(imported(keysB.jwks)) });
  ch.close();
  let state = after3;
  for (let i = 0; i < 100 && state.messagesApplied === after3.messagesApplied; i++) {
    await sleep(20);
    state = (await v.workerKeySetState())!;
  }
  assert.equal(state.messagesApplied, after3.messagesApplied + 1, 'the worker read the message');
  const pooled = v.stats.pooled;
  assert.deepEqual(await v.verify(a), { ok: true, keyIndex: 0 });
  assert.deepEqual(await v.verify(signed(keysB.privateKey, 'b', 1)), { ok: false, code: 'JWKS_KID_ALG_MISMATCH' });
  assert.equal(v.stats.pooled, pooled + 2, 'answered by the worker');
  assert.equal((await v.workerKeySetState())!.imports, start.imports);
});

test('a stuck worker within poolRestartIntervalMs of the last replacement: only its task is given up (no restart), a healthy worker\'s task in flight is answered by the worker', { timeout: 30_000 }, async () => {
  // The slow checks go out as two tasks (a partial batch is spread over the threads) and only one
  // fits beside the stuck one: maxQueueMs 10 s, so the second is not shed as OVERLOADED while it
  // waits (at the default 1 s it was, once the first task's checks took longer on a busy
  // machine). taskTimeoutMs 1500: the replacement pool's second thread has that long to load.
  const { v, lines, metrics } = await faultyPool({ threads: 2, tasksPerWorker: 1, poolRestartIntervalMs: 60_000, taskTimeoutMs: 1500, maxQueueMs: 10_000 });
  // The first give-up replaces the pool and starts the restart interval.
  assert.deepEqual(await v.verify(signed(keysA.privateKey, 'hang', 1)), { ok: false, code: 'OVERLOADED' });
  const stuck = v.verify(signed(keysA.privateKey, 'hang', 2));
  // Ten 300 ms checks on the other worker (two tasks of five): in flight (and progressing) at the give-up.
  await sleep(50);
  const slow = Promise.all(Array.from({ length: 10 }, (_, i) => v.verify(signed(keysA.privateKey, 'slow', 10 + i))));
  assert.deepEqual(await stuck, { ok: false, code: 'OVERLOADED' });
  for (const r of await slow) assert.deepEqual(r, { ok: false, code: 'JWKS_KID_ALG_MISMATCH' }, 'answered by the healthy worker, not given up');
  assert.equal(metrics.get('jwtgate_verify_pool_tasks_total', 'timeout'), 2);
  const warned = lines.filter((l) => String(l['msg']).startsWith('signature-check tasks given up'));
  assert.deepEqual(warned.map((w) => [w['tasks'], w['checks'], w['poolRestarted']]), [[1, 1, true], [1, 1, false]].slice(0, warned.length));
  assert.deepEqual(warned.at(-1)!['reason'], 'a worker made no progress on its task');
});

test('a worker that fails while idle after the pool has answered: a worker-failure warning names the error', { timeout: 30_000 }, async () => {
  const { v, lines } = await faultyPool();
  assert.deepEqual(await v.verify(signed(keysA.privateKey, 'throw-later', 1)), { ok: false, code: 'JWKS_KID_ALG_MISMATCH' });
  for (let i = 0; i < 100 && !lines.some((l) => String(l['msg']).startsWith('signature-check worker failed')); i++) await sleep(20);
  const warned = lines.find((l) => l['msg'] === 'signature-check worker failed: its checks were done on the main thread');
  assert.ok(warned, JSON.stringify(lines));
  assert.match(String(warned['err']), /injected idle fault/);
});

test('workers that load but never answer: ready() fails after its timeout, saying so', { timeout: 30_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jwtgate-hung-worker-'));
  const file = path.join(dir, 'hung-verify.mjs');
  // Keeps its thread alive and never finishes loading: no pool error, no answer.
  fs.writeFileSync(file, 'setInterval(() => {}, 1000);\nawait new Promise(() => {});\nexport default () => ({ results: [] });\n');
  try {
    const v = verifier({ mode: 'pool', threads: 1, workerFile: file });
    await assert.rejects(v.ready(500), (err: Error) => {
      assert.equal(err.constructor.name, 'StartupError');
      assert.equal(err.message, `the signature-check worker threads could not start (${file}): no answer after 500 ms; run with --verify-mode inline to check signatures on the main thread instead`);
      return true;
    });
    await v.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

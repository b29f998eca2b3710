// The piscina round trip, so the hand-off cost is always visible next to the work it moves:
// a no-op task and a signature check, one task in flight (round-trip latency) and many in flight
// (throughput), single items and batches, with 1 and 2 threads. Uses bench/micro/workers/*.mjs
// (raw piscina + node:crypto), then jwtgate's own dist/workers/verify.js when it is built.
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixture } from './fixtures.mjs';
import { jwtgateWorker } from './jwtgate-worker.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

export default async function (b) {
  let Piscina;
  try {
    ({ Piscina } = await import('piscina'));
  } catch (err) {
    b.section('piscina round trip');
    b.skip('piscina', `piscina not installed (npm ci at the repo root): ${err.message.split('\n')[0]}`);
    return;
  }
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const fx = { RS256: fixture('RS256'), ES256: fixture('ES256') };
  const keys = { RS256: fx.RS256.key, ES256: fx.ES256.key };
  const item = (alg) => ({ alg, data: fx[alg].data, signature: fx[alg].signature });

  for (const threads of [...new Set([1, cores])]) {
    b.section(`piscina round trip, ${threads} thread${threads > 1 ? 's' : ''} (piscina ${(await import('piscina')).version ?? ''})`);
    const noop = new Piscina({ filename: path.join(here, 'workers/noop.mjs'), minThreads: threads, maxThreads: threads, idleTimeout: 60_000 });
    const verify = new Piscina({ filename: path.join(here, 'workers/verify.mjs'), minThreads: threads, maxThreads: threads, idleTimeout: 60_000, workerData: { keys } });
    try {
      await b.async('no-op task, 1 in flight (round-trip latency)', () => noop.run({ n: 1 }), { concurrency: 1 });
      await b.async('no-op task, 64 in flight', () => noop.run({ n: 1 }), { concurrency: 64 });
      for (const alg of ['RS256', 'ES256']) {
        const one = { items: [item(alg)] };
        const ok = await verify.run(one);
        if (!ok[0]) throw new Error(`worker verify ${alg} failed`);
        await b.async(`verify ${alg}, 1 item/task, 1 in flight`, () => verify.run(one), { concurrency: 1 });
        await b.async(`verify ${alg}, 1 item/task, 64 in flight`, () => verify.run(one), { concurrency: 64 });
        for (const batch of [8, 32]) {
          const many = { items: Array.from({ length: batch }, () => item(alg)) };
          await b.async(`verify ${alg}, ${batch} items/task, 8 in flight`, () => verify.run(many), { concurrency: 8, itemsPerOp: batch });
        }
      }
    } finally {
      await noop.destroy();
      await verify.destroy();
    }
  }
  b.sync('reference: crypto.verify RS256 inline (main thread)', () => crypto.verify('sha256', fx.RS256.data, fx.RS256.key, fx.RS256.signature));
  b.sync('reference: crypto.verify ES256 inline (main thread)', () => crypto.verify('sha256', fx.ES256.data, { key: fx.ES256.key, dsaEncoding: 'ieee-p1363' }, fx.ES256.signature));

  await jwtgateWorker(b, Piscina, fx, cores);
}

// jwtgate's own verify worker (dist/workers/verify.js) through piscina, fed exactly as the
// gateway feeds it: key sets published on a BroadcastChannel (a private channel name passed in
// workerData.keySetChannel), tasks = { items: VerifyItem[] } (src/types.ts).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
import { root } from './lib.mjs';

export async function jwtgateWorker(b, Piscina, fx, cores) {
  b.section('jwtgate verify worker (dist/workers/verify.js) through piscina');
  b.why = '';
  const file = path.join(root, 'dist/workers/verify.js');
  if (!existsSync(file)) {
    b.skip('jwtgate worker round trip', 'dist/workers/verify.js not built yet');
    return;
  }
  const channelName = `jwtgate-bench-keysets-${process.pid}`;
  const channel = new BroadcastChannel(channelName);
  const keys = ['RS256', 'ES256'].map((alg) => ({ kid: `k-${alg}`, alg, kty: alg === 'RS256' ? 'RSA' : 'EC', ...(alg === 'ES256' ? { crv: 'P-256' } : {}), key: fx[alg].key }));
  // The key set as the gateway publishes it: JWK data through key-wire.js's toWire when the build
  // has it (KeyObjects cannot be broadcast to two workers), else KeyObjects as in src/types.ts.
  const wire = await b.dist('src/jwks/key-wire.js');
  const keyset = { type: 'keyset', id: 'bench', generation: 1, keys: wire?.toWire ? wire.toWire(keys) : keys };
  // Node 20's BroadcastChannel refuses ("Message could not be posted.") a message holding a
  // KeyObject once two or more threads listen: remember the error so the skip says why.
  let postError;
  const publish = () => {
    try {
      channel.postMessage(keyset);
    } catch (err) {
      postError = err;
    }
  };
  channel.onmessage = (ev) => {
    if (ev.data?.type === 'keyset-request') publish();
  };
  const item = (alg) => ({ keySetId: 'bench', generation: 1, alg, kid: `k-${alg}`, signingInput: fx[alg].signingInput, signature: fx[alg].signature });
  try {
    for (const threads of [...new Set([1, cores])]) {
      const pool = new Piscina({ filename: file, minThreads: threads, maxThreads: threads, idleTimeout: 60_000, workerData: { keySetChannel: channelName } });
      try {
        // Wait until every worker has the key set (they ask for it when they start).
        const deadline = Date.now() + 5000;
        for (;;) {
          publish();
          const rs = await Promise.all(Array.from({ length: threads * 4 }, () => pool.run({ items: [item('RS256')] })));
          if (rs.every((r) => r.results?.[0]?.ok)) break;
          if (Date.now() > deadline) {
            throw new Error(`${threads} worker(s) never got the key set (${JSON.stringify(rs.find((r) => !r.results?.[0]?.ok))})${postError ? `: BroadcastChannel.postMessage(keyset with KeyObjects) threw "${postError.message}"` : ''}`);
          }
          await new Promise((r) => setTimeout(r, 20));
        }
        const t = `${threads} thread${threads > 1 ? 's' : ''}`;
        for (const alg of ['RS256', 'ES256']) {
          const one = { items: [item(alg)] };
          await b.async(`${t}: verify ${alg}, 1 item/task, 1 in flight`, () => pool.run(one), { concurrency: 1 });
          await b.async(`${t}: verify ${alg}, 1 item/task, 64 in flight`, () => pool.run(one), { concurrency: 64 });
          const many = { items: Array.from({ length: 16 }, () => item(alg)) };
          await b.async(`${t}: verify ${alg}, 16 items/task, 8 in flight`, () => pool.run(many), { concurrency: 8, itemsPerOp: 16 });
        }
      } finally {
        await pool.destroy();
      }
    }
  } catch (err) {
    b.skip('jwtgate worker round trip', `failed: ${err.message.split('\n')[0]}`);
    process.exitCode = 1;
  } finally {
    channel.close();
  }
}

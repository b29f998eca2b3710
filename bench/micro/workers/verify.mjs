// piscina verify task for the micro-benchmarks: `workerData.keys` maps alg -> public KeyObject
// (KeyObjects clone into workers); a task is { items: [{ alg, data (Uint8Array), signature }] }
// and returns one boolean per item, the shape of jwtgate's batched VerifyTask.
import crypto from 'node:crypto';
import { workerData } from 'node:worker_threads';

const keys = workerData.keys;

export default function verify(task) {
  const out = new Array(task.items.length);
  for (let i = 0; i < task.items.length; i++) {
    const it = task.items[i];
    const key = keys[it.alg];
    out[i] =
      it.alg === 'ES256'
        ? crypto.verify('sha256', it.data, { key, dsaEncoding: 'ieee-p1363' }, it.signature)
        : crypto.verify('sha256', it.data, key, it.signature);
  }
  return out;
}

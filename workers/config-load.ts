// Reads the configuration files for a reload (started by src/config/load-off-thread.ts): the YAML
// parse is most of a reload's work (1.8 s of 2.1 s for 4,000 resources on the 2-vCPU machine), and
// on the main thread it held up every request for that long. Posts the loader's result (plain
// data, a Map of lines per resource) once and ends; loadManifests never throws on bad input.

import { parentPort, workerData } from 'node:worker_threads';
import { loadManifests } from '../src/config/load.js';

const { paths } = workerData as { paths: string[] };
loadManifests(paths).then(
  (result) => parentPort!.postMessage({ ok: true, result }),
  (err: unknown) => parentPort!.postMessage({ ok: false, error: String((err as Error)?.stack ?? err) }),
);

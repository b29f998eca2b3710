// Loads the uWebSockets.js native addon, and only the native addon. The npm republish we install
// (`uWebSockets.js` aliased to @trufflesuite/uws-js-unofficial) silently falls back to a slow
// pure-JS server when its binary does not load; jwtgate refuses to run on that fallback, so the
// binary is required directly and a load failure stops the process with a clear message.

import { createRequire } from 'node:module';
import path from 'node:path';
import type * as UWS from 'uWebSockets.js';

export type Uws = typeof UWS;

let loaded: Uws | undefined;

export class UwsLoadError extends Error {
  override name = 'UwsLoadError';
}

/** The addon for this Node ABI; `binaryPath` overrides where it is looked for (tests). */
export function loadUws(binaryPath?: string): Uws {
  if (loaded && binaryPath === undefined) return loaded;
  const require = createRequire(import.meta.url);
  let pkgDir: string;
  try {
    pkgDir = path.dirname(require.resolve('uWebSockets.js/package.json'));
  } catch {
    throw new UwsLoadError('uWebSockets.js is not installed: run `npm ci` (it is installed as an npm alias of @trufflesuite/uws-js-unofficial)');
  }
  const file = binaryPath ?? path.join(pkgDir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  try {
    const uws = require(file) as Uws;
    if (binaryPath !== undefined) return uws;
    loaded = uws;
  } catch (err) {
    throw new UwsLoadError(
      `cannot load the uWebSockets.js native module for Node ${process.version} (ABI ${process.versions.modules}, ${process.platform}/${process.arch}) from ${file}: ` +
        `${(err as Error).message}. jwtgate does not fall back to a JS HTTP server. ` +
        'The installed build supports Node 20 (ABI 115) on glibc >= 2.34; use Node 20, or a uWebSockets.js build for your Node ABI.',
    );
  }
  return loaded;
}

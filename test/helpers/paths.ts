// Paths for tests that run from dist/test/**: fixtures and the shared seed live in the source tree.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { existsSync } from 'node:fs';

/** Repository root (tests run from dist/test/<dir>/x.test.js). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const fixturesDir = path.join(repoRoot, 'test', 'fixtures');
/**
 * ../shared/seed/manifests next to the checkout (read-only in CI); a clone without it uses the
 * byte-identical copy in config/examples, so `npm test` works for anyone.
 */
const sharedSeed = path.resolve(repoRoot, '..', 'shared', 'seed', 'manifests');
export const seedManifestsDir = existsSync(sharedSeed) ? sharedSeed : path.join(repoRoot, 'config', 'examples');
export const sampleTokenPath = path.join(seedManifestsDir, 'sample-token.txt');
